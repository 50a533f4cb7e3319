"""Item 8: the drop rule on vision towers of different shape, random weights: the tiny test tower, Qwen2.5-VL-3B's
real vision tower and Qwen3-VL-2B's. On each, the fixed-camera clips go through the ingestion loop at 1 fps with:
today's fixed tau 0.9 (feature rule alone), the calibrated tau (feature rule alone), and the calibrated tau with
every pixel-changed cell kept (the default). Each tower encodes each step once; the rules share those tokens.

Figures per rule: the share of tokens dropped, and the share of cells whose pixels changed (above the gate's noise
threshold, the same for all rules) that were kept.
"""
import hashlib
import time
from dataclasses import replace

import numpy as np
import torch

from compression.config import DropConfig
from models.preprocess import patchify, resize_frames, smart_resize
from stream.analyzer import FrameAnalyzer
from stream.config import EventConfig, IngestConfig, SamplingConfig
from stream.ingest import Ingestor, Step
from stream.sources import FileSource

RULES = {"fixed tau 0.9": dict(tau=0.9, keep_changed=False),
         "calibrated tau": dict(tau=None, keep_changed=False),
         "calibrated + changed kept": dict(tau=None, keep_changed=True)}


class Qwen3VisionTower:
    """Qwen3-VL-2B's vision tower (24 blocks, width 1024, 16-pixel patches merged 2x2 into 2048-wide tokens, one per
    32x32 pixels per 2 frames), random weights, as the ingestion loop uses a vision tower. Bench only: the Qwen3-VL
    answering backend is its own piece of work. `deepstack`: each token carries its DeepStack features too, [2048 x 4],
    as models.qwen3 stores it (what a memory holds per token)."""

    def __init__(self, max_pixels: int, device: torch.device, deepstack: bool = False):
        from transformers.models.qwen3_vl.configuration_qwen3_vl import Qwen3VLVisionConfig
        from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLVisionModel
        torch.manual_seed(0)
        config = Qwen3VLVisionConfig(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16,
                                     out_hidden_size=2048, patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                                     num_position_embeddings=2304, deepstack_visual_indexes=[5, 11, 17])
        self.model = Qwen3VLVisionModel._from_config(config).to(device).eval()
        self.device, self.max_pixels = device, max_pixels
        self.patch, self.merge, self.frames_per_step = 16, 2, 2
        self.deepstack = deepstack
        self.cell, self.token_dim = 32, 2048 * (1 + len(config.deepstack_visual_indexes) * deepstack)
        self.name, self.random_weights = "bench-qwen3-vl-2b-vision", True

    def frame_size(self, height: int, width: int) -> tuple[int, int]:
        return smart_resize(height, width, self.cell, self.cell * self.cell, self.max_pixels)

    def preprocess(self, frames: np.ndarray) -> np.ndarray:
        return resize_frames(frames, self.frame_size(frames.shape[1], frames.shape[2]))

    def encode(self, steps: np.ndarray) -> torch.Tensor:
        """[B, 2, H, W, 3] uint8 -> [B, (H/32)*(W/32), 2048]; Qwen3-VL normalises with mean = std = 0.5."""
        b = steps.shape[0]
        pixels, thw = patchify(steps.reshape(-1, *steps.shape[2:]), self.patch, self.merge, self.frames_per_step,
                               mean=0.5, std=0.5)
        grid = torch.tensor([[1, thw[1], thw[2]]] * b, device=self.device)
        with torch.inference_mode():
            out = self.model(torch.from_numpy(pixels).to(self.device), grid)
        tokens = torch.cat([out.pooler_output, *out.deepstack_features], -1) if self.deepstack else out.pooler_output
        return tokens.float().cpu().reshape(b, -1, self.token_dim)


class CachedTower:
    """A tower whose encodes are remembered by the steps' pixels: the rules compared see the same tokens, and each
    step costs one encode."""

    def __init__(self, tower):
        self.tower, self.cache = tower, {}
        for k in ("frames_per_step", "cell", "token_dim", "name", "random_weights"):
            setattr(self, k, getattr(tower, k))
        self.encode_seconds = 0.0

    def preprocess(self, frames: np.ndarray) -> np.ndarray:
        return self.tower.preprocess(frames)

    def encode(self, steps: np.ndarray) -> torch.Tensor:
        keys = [hashlib.sha1(s.tobytes()).hexdigest() for s in steps]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            t0 = time.perf_counter()
            out = self.tower.encode(steps[todo])
            self.encode_seconds += time.perf_counter() - t0
            self.cache.update({keys[i]: out[j] for j, i in enumerate(todo)})
        return torch.stack([self.cache[k] for k in keys])


def drop_table(towers: dict, paths: dict[str, str]) -> list[dict]:
    """One row per tower and rule: tokens dropped and changed cells kept, per clip and over all of them."""
    rows = []
    for tower_name, tower in towers.items():
        cached = CachedTower(tower)
        # Sampled once, with the events the sources find at frame rate in production (no rule changes them).
        frames = {clip: list(FileSource(path, 1.0).attach(FrameAnalyzer(EventConfig())).frames())
                  for clip, path in paths.items()}
        for rule, r in RULES.items():
            cfg = IngestConfig(sampling=SamplingConfig(fps=1.0))
            cfg = replace(cfg, drop=DropConfig(tau=r["tau"]), gate=replace(cfg.gate, keep_changed=r["keep_changed"]))
            per = {}
            for clip, fr in frames.items():
                ing = Ingestor(cached, cfg)
                state = ing.new_state("bench")
                steps = [s for s in ing.run(iter(fr), state) if isinstance(s, Step)]
                changed = sum(s.changed for s in steps)
                taus = [s.tau for s in steps if s.tau is not None]
                per[clip] = {"dropped": round(state.drop_ratio, 4),
                             "changed_kept": round(sum(s.changed_kept for s in steps) / changed, 4) if changed else 1.0,
                             "tau": [round(min(taus), 3), round(max(taus), 3)] if taus else None,
                             "tokens": state.tokens_total}
            total = sum(p["tokens"] for p in per.values())
            rows.append({"tower": tower_name, "rule": rule, "clips": per,
                         "min_dropped": min(p["dropped"] for p in per.values()),
                         "min_changed_kept": min(p["changed_kept"] for p in per.values()),
                         "dropped": round(sum(p["dropped"] * p["tokens"] for p in per.values()) / total, 4)})
        rows[-1]["encode_s"] = round(cached.encode_seconds, 1)
    return rows
