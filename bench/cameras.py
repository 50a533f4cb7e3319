"""Item 18: cameras per worker at 1 fps, with and without cross-camera batching (stream.batcher).

N cameras on one engine, each its own thread and session, as `serve` runs them. Each is fed a real clip as a live
camera would be: at every pull it gets the newest frame of its wall clock (frames the loop was too slow for are
skipped, never queued, as the live sources do), the clips' start times staggered so the cameras are not in step.
A step's lag is the wall time from its last frame's arrival to its record leaving the loop (encoded, dropped,
stored). A worker keeps up with N cameras when the lag's p95 stays under `max_lag` seconds. Batching on and off run
the same cameras side by side (max_batch_steps 32 and 1), light mode (SigLIP-base patches) and full mode (the
default model's vision tower) at real shapes with random weights."""
import statistics
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from stream.ingest import Step
from stream.sources import FileSource, Frame


def _live(frames: list[np.ndarray], fps: float, t0: float, offset: int, seconds: float, wall_of: dict):
    """The clip as a live camera: the newest frame at each pull (looping, from `offset`), until `seconds`."""
    last = -1
    while True:
        now = time.monotonic()
        i = int((now - t0) * fps)
        if i >= seconds * fps:
            return
        if i == last:
            time.sleep(max(0.0, t0 + (i + 1) / fps - now))
            continue
        skipped, last = max(0, i - last - 1), i
        wall_of[float(i) / fps] = t0 + i / fps            # when the frame "arrived"
        yield Frame(frames[(offset + i) % len(frames)], i / fps, wall=time.time(), skipped=skipped)


def _run(engine, frames, n: int, fps: float, seconds: float, warmup: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        sessions = [engine.open(str(Path(tmp) / f"cam{k}"), stream=f"cam{k}") for k in range(n)]
        lags, skipped, steps = [], [0], [0]
        lock = threading.Lock()
        t0 = time.monotonic() + 0.5
        before = engine.encoder.stats()

        def camera(k, session):
            wall_of = {}
            for rec in session.run(_live(frames, fps, t0, k * len(frames) // max(1, n), seconds, wall_of),
                                   batch=1):
                if isinstance(rec, Step):
                    with lock:
                        steps[0] += 1
                        skipped[0] += rec.frames_skipped
                        if rec.end >= warmup:
                            lags.append(time.monotonic() - wall_of[rec.end])

        threads = [threading.Thread(target=camera, args=(k, s)) for k, s in enumerate(sessions)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for s in sessions:
            s.close()
        after = engine.encoder.stats()
    calls = after.calls - before.calls
    lags.sort()
    return {"cameras": n, "lag_p50_s": round(statistics.median(lags), 2) if lags else None,
            "lag_p95_s": round(lags[int(0.95 * (len(lags) - 1))], 2) if lags else None,
            "lag_max_s": round(lags[-1], 2) if lags else None, "steps": steps[0],
            "frames_skipped": skipped[0], "calls": calls,
            "steps_a_call": round((after.steps - before.steps) / calls, 2) if calls else 0.0,
            "shared_calls": after.shared - before.shared}


def cameras_per_worker(path: str, modes: dict[str, tuple[int, ...]], fps: float, seconds: float, warmup: float,
                       max_lag: float, full_pixels: int, log=print) -> dict:
    """For each mode and camera count, batching off then on (side by side): lag and calls."""
    import torch

    from bench.light import BaseEmbedder
    from bench.towers import Qwen3VisionTower
    from models.config import ModelConfig
    from stream.config import IngestConfig, SamplingConfig
    from stream.engine import Engine, EngineConfig

    embedder = BaseEmbedder()
    frames = [f.image for f in FileSource(path, fps).frames()]
    ingest = IngestConfig(sampling=SamplingConfig(fps=fps))
    rows = []
    for mode, counts in modes.items():
        base = EngineConfig(model=ModelConfig(light=mode == "light"), ingest=ingest)
        tower = Qwen3VisionTower(full_pixels, torch.device("cpu"), deepstack=True) if mode == "full" else None
        for n in counts:
            for steps in (1, 32):
                engine = Engine(replace(base, gate=replace(base.gate, max_batch_steps=steps)), llm=tower,
                                embedder=embedder)
                row = {"mode": mode, "batching": steps > 1, **_run(engine, frames, n, fps, seconds, warmup)}
                log(f"   {mode}, {n} cameras, batching {'on' if steps > 1 else 'off'}: lag p95 {row['lag_p95_s']} s, "
                    f"{row['steps_a_call']} steps a call")
                rows.append(row)
    keeps = {}
    for mode in modes:
        for on in (False, True):
            ok = [r["cameras"] for r in rows if r["mode"] == mode and r["batching"] == on
                  and r["lag_p95_s"] is not None and r["lag_p95_s"] < max_lag]
            keeps[f"{mode}_{'on' if on else 'off'}"] = max(ok, default=0)
    return {"clip": Path(path).name, "fps": fps, "seconds": seconds, "warmup": warmup, "max_lag": max_lag,
            "full_pixels": full_pixels, "threads": torch.get_num_threads(), "rows": rows, "keeps_up": keeps}
