"""Item 11: the light ingest mode against the full local mode, at real shapes with random weights.

The light mode encodes with SigLIP-base's vision tower (siglip-base-patch16-224's shape) as
`models.patches.PatchEncoder` runs it; the full mode with the default model's vision tower (bench.towers). Both go
through the real ingestion loop and store, so the figures are the whole loop's: decode, gate, encode, drop, key,
store. Real-time factor = seconds of stream per wall second.
"""
import time
from pathlib import Path

import numpy as np
import torch

from models.embedder import SiglipEmbedder
from stream.ingest import Step
from stream.sources import FileSource

# google/siglip-base-patch16-224's vision config (its config.json).
SIGLIP_BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                   patch_size=16, image_size=224)


class BaseEmbedder(SiglipEmbedder):
    """siglip-base-patch16-224's shape with random weights, built here (no hub), keying clips as `SiglipEmbedder`
    does: both modes key their clips with it, and the light mode's PatchEncoder reads its vision tower."""

    def __init__(self, seed: int = 0):
        from transformers import SiglipConfig, SiglipModel
        from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

        torch.manual_seed(seed)
        self.model = SiglipModel(SiglipConfig(vision_config=SIGLIP_BASE)).eval()
        self.processor = SiglipImageProcessorPil()
        self.device, self.dtype = torch.device("cpu"), torch.float32
        self.name, self.random_weights = "siglip-base-patch16-224-random", True
        self.dim = int(self.embed_images([np.zeros((32, 32, 3), np.uint8)]).shape[1])   # what the key index holds

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError("the bench ingests only: no question is embedded (it has no tokenizer)")


def ingest_mode(engine, path: str, seconds: float, fps: float, folder: Path) -> dict:
    """Ingest the first `seconds` of a clip into a new memory and say what it cost: wall time, encode time, tokens
    kept, and what the memory holds per hour of stream: token files, keyframes, and all a clip stores (those, its
    thumbnail and key). The folder's fixed part (an empty database, the index) is not scaled up with the rest."""
    session = engine.open(str(folder), stream="bench")
    frames = (f for f in FileSource(path, fps).frames() if f.time < seconds)
    t0 = time.perf_counter()
    steps = [s for s in session.run(frames) if isinstance(s, Step)]
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
            "kept": round(state.kept_ratio, 3), "clips": len(clips.clips),
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
