"""The light ingest mode's encode cost: SigLIP-base's vision tower (siglip-base-patch16-224's shape, random weights,
real compute) as `models.patches.PatchEncoder` runs it, on real frames resized to each size.

Encode = the encoder's normalisation + the tower's forward over both frames + their average, one 2-frame step a
call (a live stream encodes each step as it comes); decoding, event analysis and resizing are not in it. Each size
is warmed up (first calls allocate), then timed step by step. Real-time factor = seconds of stream per wall second:
a step is 2 / fps seconds of stream.
"""
import statistics
import time
from itertools import islice
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from models.patches import PatchEncoder
from models.preprocess import resize_frames
from stream.sources import FileSource

# google/siglip-base-patch16-224's vision config (its config.json).
SIGLIP_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                   patch_size=16, image_size=224)


def base_encoder(max_pixels: int | None = None, seed: int = 0) -> PatchEncoder:
    """A PatchEncoder over a random SigLIP-base vision tower on the CPU, float32. The stand-in embedder has only what
    the encoder reads (no text tower: it costs nothing here)."""
    from transformers import SiglipVisionConfig, SiglipVisionModel
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    torch.manual_seed(seed)
    config = SiglipVisionConfig(**SIGLIP_BASE)
    vision = SiglipVisionModel(config).eval()
    embedder = SimpleNamespace(model=SimpleNamespace(vision_model=vision, config=SimpleNamespace(vision_config=config)),
                               processor=SiglipImageProcessorPil(), device=torch.device("cpu"), dtype=torch.float32,
                               name="siglip-base-patch16-224-random", random_weights=True)
    return PatchEncoder(embedder, max_pixels=max_pixels)


def clip_steps(path: str, n: int, size: tuple[int, int], fps: float) -> list[np.ndarray]:
    """The first n 2-frame steps of a clip at `fps`, resized to `size` (h, w): [2, h, w, 3] uint8 each."""
    frames = np.stack([f.image for f in islice(FileSource(path, fps).frames(), 2 * n)])
    frames = resize_frames(frames, size)
    return [frames[i:i + 2] for i in range(0, len(frames) - 1, 2)]


def patch_encode_seconds(path: str, sizes: tuple = ((224, 224),), threads: int = 2, warmup: int = 2,
                         timed: int = 10, fps: float = 1.0) -> dict:
    """Seconds per 2-frame step of SigLIP-base patch encoding at each (h, w) in `sizes` (multiples of 16), with
    `threads` torch threads (0: torch's default). Mean and median over `timed` steps of `path`, after `warmup`."""
    all_threads = torch.get_num_threads()
    torch.set_num_threads(threads or all_threads)
    enc = base_encoder(max_pixels=max(h * w for h, w in sizes))
    rows = []
    try:
        for size in sizes:
            steps = clip_steps(path, warmup + timed, size, fps)
            for s in steps[:warmup]:
                enc.encode(s[None])
            seconds = []
            for s in steps[warmup:]:
                t0 = time.perf_counter()
                enc.encode(s[None])
                seconds.append(time.perf_counter() - t0)
            mean = statistics.mean(seconds)
            rows.append({"size": list(size), "tokens": (size[0] // enc.cell) * (size[1] // enc.cell),
                         "s_per_step": round(mean, 4), "median_s": round(statistics.median(seconds), 4),
                         "min_s": round(min(seconds), 4), "rtf": round(enc.frames_per_step / fps / mean, 2),
                         "steps": len(seconds)})
    finally:
        torch.set_num_threads(all_threads)
    return {"tower": "siglip-base-patch16-224 (random weights)", "token_dim": enc.token_dim, "fps": fps,
            "threads": threads or all_threads, "warmup": warmup, "rows": rows}


class BaseEmbedder:
    """siglip-base-patch16-224's shape with random weights, as `models.embedder.SiglipEmbedder` computes clip keys:
    both modes key their clips with it, and the light mode's PatchEncoder reads its vision tower."""

    def __init__(self, seed: int = 0):
        from transformers import SiglipConfig, SiglipModel
        from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

        torch.manual_seed(seed)
        self.model = SiglipModel(SiglipConfig(vision_config=SIGLIP_BASE)).eval()
        self.processor = SiglipImageProcessorPil()
        self.device, self.dtype = torch.device("cpu"), torch.float32
        self.name, self.random_weights = "siglip-base-patch16-224-random", True
        self.dim = int(self.embed_images([np.zeros((32, 32, 3), np.uint8)]).shape[1])   # what the key index holds

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        batch = self.processor(images=list(images), return_tensors="pt")
        with torch.inference_mode():
            out = self.model.get_image_features(pixel_values=batch["pixel_values"])
        out = out.pooler_output if hasattr(out, "pooler_output") else out
        return torch.nn.functional.normalize(out.float(), dim=-1).numpy()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError("the bench ingests only: no question is embedded")


def ingest_mode(engine, path: str, seconds: float, fps: float, folder: Path) -> dict:
    """Ingest the first `seconds` of a clip into a new memory and say what it cost: wall time, encode time, tokens
    kept, and what the memory holds per hour of stream: token files, keyframes, and all a clip stores (those, its
    thumbnail and key). The folder's fixed part (an empty database, the index) is not scaled up with the rest."""
    session = engine.open(str(folder), stream="bench")
    frames = (f for f in FileSource(path, fps).frames() if f.time < seconds)
    t0 = time.perf_counter()
    steps = [s for s in session.run(frames) if s.total]
    wall = time.perf_counter() - t0
    store, state = session.store, session.state
    clips = store.load(store.latest("bench", 10 ** 6))
    tokens = sum(store.token_path(c.id).stat().st_size for c in clips.clips)
    keyframes = sum(len(k.jpeg) for c in clips.clips for k in c.keyframes)
    rest = sum(len(c.thumbnail) + c.key.nbytes for c in clips.clips)
    session.close()
    stream_s = steps[-1].end - steps[0].time + 1 / fps
    per_hour = 3600 / stream_s / 2 ** 20
    return {"stream_s": round(stream_s, 1), "wall_s": round(wall, 2), "rtf": round(stream_s / wall, 2),
            "encode_s_per_step": round(state.timings["encode"] / max(1, state.encoded), 3),
            "steps": len(steps), "encodes": state.encoded, "tokens_a_step": steps[0].total,
            "kept": round(state.tokens_kept / max(1, state.tokens_total), 3), "clips": len(clips.clips),
            "token_dim": engine.llm.token_dim, "mb_per_hour": round((tokens + keyframes + rest) * per_hour, 1),
            "token_mb_per_hour": round(tokens * per_hour, 1), "keyframe_mb_per_hour": round(keyframes * per_hour, 1)}


def light_vs_full(paths: list[str], seconds: float, fps: float, full_pixels: int, workdir: Path, log=print) -> dict:
    """The light mode (SigLIP-base patches, the only model loaded) against the full local mode with the default
    model's vision tower (Qwen3-VL-2B, DeepStack stored with each token as models.qwen3 does), both at real shapes
    with random weights, over the first `seconds` of each clip: the same embedder keys both. Clip by clip the two
    modes run one after the other, so load from other work falls on both alike."""
    from models.config import ModelConfig
    from stream.config import IngestConfig, SamplingConfig
    from stream.engine import Engine, EngineConfig
    from bench.towers import Qwen3VisionTower

    embedder = BaseEmbedder()
    tower = Qwen3VisionTower(full_pixels, torch.device("cpu"), deepstack=True)
    ingest = IngestConfig(sampling=SamplingConfig(fps=fps))
    engines = {"full": Engine(EngineConfig(model=ModelConfig(), ingest=ingest), llm=tower, embedder=embedder),
               "light": Engine(EngineConfig(model=ModelConfig(light=True), ingest=ingest), embedder=embedder)}
    rows = []
    for path in paths:
        for mode, engine in engines.items():
            log(f"   {mode} mode on {Path(path).name} ...")
            rows.append({"clip": Path(path).name, "mode": mode,
                         **ingest_mode(engine, path, seconds, fps, workdir / f"{mode}-{Path(path).stem}")})
    by = {(r["clip"], r["mode"]): r for r in rows}
    ratios = [{"clip": Path(p).name,
               "speed": round(by[Path(p).name, "light"]["rtf"] / by[Path(p).name, "full"]["rtf"], 2),
               "memory": round(by[Path(p).name, "full"]["mb_per_hour"] / by[Path(p).name, "light"]["mb_per_hour"], 2)}
              for p in paths]
    return {"seconds": seconds, "fps": fps, "full_pixels": full_pixels, "light_pixels": engines["light"].llm.max_pixels,
            "threads": torch.get_num_threads(), "rows": rows, "ratios": ratios}
