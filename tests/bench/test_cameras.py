"""Bench item 18's measuring loop on the tiny model: cameras fed as live, every step's lag measured, batching's
calls counted, and its table."""
import numpy as np

from bench.cameras import _live, _run
from bench.suite import _cameras_md
from models.config import ModelConfig
from stream.engine import Engine, EngineConfig


def test_a_live_feed_gives_the_newest_frame_and_counts_the_skipped(monkeypatch):
    clock = iter([0.0, 0.1, 2.5, 2.6, 9.0])          # pulls at these wall times (t0 = 0, 1 fps, 5 s)
    monkeypatch.setattr("bench.cameras.time.monotonic", lambda: next(clock))
    monkeypatch.setattr("bench.cameras.time.sleep", lambda s: None)
    frames = [np.full((4, 4, 3), i, np.uint8) for i in range(3)]
    wall_of = {}
    got = list(_live(frames, 1.0, 0.0, 1, 5.0, wall_of))
    assert [(f.time, f.skipped, int(f.image[0, 0, 0])) for f in got] == [(0.0, 0, 1), (2.0, 1, 0)]
    assert wall_of == {0.0: 0.0, 2.0: 2.0}


def test_cameras_on_one_engine_are_timed_step_by_step(llm, embedder, videos):
    from stream.sources import FileSource
    engine = Engine(EngineConfig(model=ModelConfig(llm="tiny")), llm=llm, embedder=embedder)
    frames = [f.image for f in FileSource(str(videos / "vtest.avi"), 1.0).frames()][:8]
    row = _run(engine, frames, n=2, fps=2.0, seconds=3.0, warmup=0.0)
    assert row["cameras"] == 2 and row["steps"] >= 4 and row["lag_p95_s"] >= row["lag_p50_s"] > 0
    assert row["calls"] >= 1 and row["steps_a_call"] >= 1
    table = "\n".join(_cameras_md({"fps": 2.0, "clip": "vtest.avi", "seconds": 3.0, "warmup": 0.0, "full_pixels": 1,
                                   "threads": 2, "max_lag": 2.0, "rows": [{"mode": "light", "batching": True, **row}],
                                   "keeps_up": {"light_off": 0, "light_on": 2}}))
    assert "| light | 2 | on |" in table and "light: **0** without batching, **2** with" in table
