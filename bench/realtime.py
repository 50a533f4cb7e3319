"""Item 3: ingestion real-time factor with a real-size vision tower (random weights, Qwen2.5-VL's shape): Vigil's
loop (pixel gate, drop) against the same loop encoding every step and dropping nothing. Both decode the same
frames; real-time factor = stream seconds / wall seconds (above 1: faster than real time)."""
import time
from dataclasses import replace
from pathlib import Path

from compression.config import DropConfig, GateConfig
from models.config import ModelConfig
from models.loader import pick_device, pick_dtype
from models.qwen import QwenVideoLLM
from models.tiny import build_tiny_qwen
from stream.config import IngestConfig
from stream.ingest import Ingestor
from stream.sources import FileSource


def load_real_size(size: str, max_pixels: int, device: str, cache: Path) -> QwenVideoLLM:
    folder = build_tiny_qwen(cache / f"bench-qwen2_5_vl-vision-{size}-v1", size=size)
    config = ModelConfig(llm=str(folder), max_pixels=max_pixels, device=device)
    dev = pick_device(device)
    return QwenVideoLLM(str(folder), config, dev, pick_dtype("auto", dev), random_weights=True)


def realtime(llm, path: str, seconds: float) -> dict:
    frames = [f for f in FileSource(path, 1.0).frames() if f.time < seconds]
    stream_s = frames[-1].time - frames[0].time + 1.0
    base_cfg = IngestConfig()
    out = {}
    for name, cfg in (("vigil", base_cfg),
                      ("encode_all", replace(base_cfg, gate=GateConfig(enabled=False), drop=DropConfig(tau=1.0)))):
        ing = Ingestor(llm, cfg)
        ing.run(iter(frames[:4]), ing.new_state("warm")).__next__()      # warm-up: first call allocates
        state = ing.new_state(name)
        t0 = time.perf_counter()
        for _ in ing.run(iter(frames), state):
            pass
        wall = time.perf_counter() - t0
        out[name] = {"wall_s": round(wall, 2), "rtf": round(stream_s / wall, 3), "encodes": state.encoded,
                     "steps": state.steps, "sampled_fps": round(len(frames) / wall, 3),
                     "kept": round(state.kept_ratio, 4)}
    out["speedup"] = round(out["vigil"]["rtf"] / out["encode_all"]["rtf"], 3)
    out["stream_seconds"] = stream_s
    out["frame_size"] = list(llm.frame_size(*frames[0].image.shape[:2]))
    return out
