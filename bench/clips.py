"""Items 1, 2 and our side of 6: each real clip through the ingestion loop (tiny random-weight model, whose vision
tower follows pixel similarity) with the pixel gate and the feature drop on or off."""
from dataclasses import replace

from compression.config import GateConfig
from stream.config import IngestConfig, SamplingConfig
from stream.ingest import Ingestor
from stream.sources import FileSource


def run_clip(llm, path: str, fps: float, gate: bool = True) -> dict:
    cfg = IngestConfig(sampling=SamplingConfig(fps=fps))
    if not gate:
        cfg = replace(cfg, gate=GateConfig(enabled=False))
    ing = Ingestor(llm, cfg)
    state = ing.new_state("bench")
    events = [e for step in ing.run(FileSource(path, fps).attach(state.analyzer).frames(), state) for e in step.events]
    return {"steps": state.steps, "encodes": state.encoded, "kept": state.tokens_kept, "total": state.tokens_total,
            "cuts": [e.time for e in events if e.kind == "scene_change"],
            "starts": [e.time for e in events if e.kind == "activity_start"]}


def reduction(llm, videos: dict[str, str], fps: float) -> list[dict]:
    """Per clip: share of tokens kept by the pixel gate alone, the feature drop alone, and both; encodes skipped."""
    rows = []
    for name, path in videos.items():
        both = run_clip(llm, path, fps)
        drop_only = run_clip(llm, path, fps, gate=False)
        rows.append({"clip": name, "steps": both["steps"],
                     "kept_gate_only": round(both["encodes"] / both["steps"], 4),   # a skipped step drops all
                     "kept_drop_only": round(drop_only["kept"] / drop_only["total"], 4),
                     "kept_both": round(both["kept"] / both["total"], 4),
                     "encodes_skipped": both["steps"] - both["encodes"],
                     "skipped_share": round(1 - both["encodes"] / both["steps"], 4)})
    return rows
