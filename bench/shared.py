"""Item 17: the shared store's writes against the folder's. Several cameras write clips of a real clip's size (the
clip token budget at a model's token width, keyframes, the steps and events before each) at once, as a worker's
cameras do: into a memory folder each, then into one PostgreSQL store, in interleaved rounds; then the same cameras
split over two worker processes writing the one store. Also the bytes a clip takes in each, and so a camera-hour.
What is timed is the store alone (the clips are made before the clock starts): the part of ingestion that changes
with the backend."""
import multiprocessing as mp
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

from memory.clip import ClipMemory, Keyframe
from memory.config import StoreConfig
from memory.store import StepRecord, StoreIdentity, StreamLog
from memory.stores import open_store

KEY_DIM = 768                          # SigLIP-base's keys


def _clips(camera: str, n: int, tokens: int, width: int, keyframes: int, clip_seconds: float,
           seed: int) -> list[tuple[ClipMemory, StreamLog]]:
    """A camera's n clips, each with the steps (one every 2 s) and an event since the one before."""
    from stream.events import Event
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        key = rng.standard_normal(KEY_DIM).astype(np.float32)
        t = clip_seconds * i
        clip = ClipMemory(stream=camera, start=t, end=t + clip_seconds - 0.5,
                          tokens=torch.from_numpy(rng.standard_normal((tokens, width), dtype=np.float32)).half(),
                          positions=torch.zeros(tokens, 3, dtype=torch.int16), grid=(4, 16, 16), seconds_per_step=2.0,
                          thumbnail=rng.bytes(6000), key=key / np.linalg.norm(key), kept=tokens, total=4 * tokens,
                          keyframes=[Keyframe(t + k, None, rng.bytes(7000)) for k in range(keyframes)])
        steps = int(clip_seconds // 2)
        log = StreamLog(steps=[StepRecord(i * steps + j, t + 2 * j, t + 2 * j + 2, 1024, 200, True, 0, 0.9)
                               for j in range(steps)], events=[Event("activity_start", t, {"share": 0.1})],
                        progress=('{"step": %d}' % ((i + 1) * steps), b"\x00" * 64))
        out.append((clip, log))
    return out


def _write(where: dict[str, str], work: dict[str, list]) -> float:
    """Each camera's clips written by its own thread into its location, all at once; wall seconds."""
    identity = StoreIdentity(embedder="bench", key_dim=KEY_DIM, llm="bench", token_dim=None)
    stores = {cam: open_store(where[cam], identity, StoreConfig()) for cam in work}
    for cam, store in stores.items():
        store.claim(cam)
    start = threading.Barrier(len(work) + 1)

    def camera(cam):
        start.wait()
        for clip, log in work[cam]:
            stores[cam].add(clip, log)

    threads = [threading.Thread(target=camera, args=(cam,)) for cam in work]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    for store in stores.values():
        store.close()
    return wall


def _worker(url: str, cameras: list[str], n: int, sizes: tuple, go, done) -> None:
    """A worker process: its cameras' clips made, then written when told (the parent's clock)."""
    torch.set_num_threads(1)
    work = {cam: _clips(cam, n, *sizes, seed=int(cam[3:])) for cam in cameras}
    done.put("ready")
    go.wait()
    done.put(_write({cam: url for cam in cameras}, work))


def _folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _store_bytes(url: str) -> int:
    import psycopg
    with psycopg.connect(url) as db:
        return int(db.execute("SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE relname LIKE 'vigil_%' AND "
                          "relkind = 'r'").fetchone()[0])


def shared_writes(cameras: int, clips: int, rounds: int, widths: tuple[int, ...], tokens: int, keyframes: int,
                  clip_seconds: float, workers: int, pg_url: str | None = None, log=print) -> dict:
    server = None
    if pg_url is None:
        from tests.postgres import Postgres
        server = Postgres(Path(tempfile.mkdtemp(prefix="vigil-bench-pg-")))
    new_db = server.new_database if server else (lambda: pg_url)
    names = [f"cam{k}" for k in range(cameras)]
    out = {"cameras": cameras, "clips": clips, "rounds": rounds, "tokens": tokens, "keyframes": keyframes,
           "clip_seconds": clip_seconds, "workers": workers, "rows": []}
    try:
        for width in widths:
            work = {cam: _clips(cam, clips, tokens, width, keyframes, clip_seconds, seed=k)
                    for k, cam in enumerate(names)}
            times = {"folder": [], "shared": []}
            sizes = {}
            for r in range(rounds):
                for kind in ("folder", "shared") if r % 2 == 0 else ("shared", "folder"):
                    with tempfile.TemporaryDirectory() as tmp:
                        url = new_db() if kind == "shared" else None
                        where = {cam: url or str(Path(tmp) / cam) for cam in names}
                        times[kind].append(_write(where, work))
                        sizes[kind] = _store_bytes(url) if url else _folder_bytes(Path(tmp))
                log(f"  width {width}, round {r + 1}: folder {times['folder'][-1]:.2f} s, shared "
                    f"{times['shared'][-1]:.2f} s")
            total = cameras * clips
            rate = {k: total / statistics.median(v) for k, v in times.items()}
            per_clip = {k: sizes[k] / total for k in sizes}
            hour = 3600.0 / clip_seconds
            out["rows"].append({"width": width, "token_bytes": tokens * width * 2,
                                "folder_clips_per_s": round(rate["folder"], 1),
                                "shared_clips_per_s": round(rate["shared"], 1),
                                "ratio": round(rate["shared"] / rate["folder"], 2),
                                "folder_bytes_per_clip": round(per_clip["folder"]),
                                "shared_bytes_per_clip": round(per_clip["shared"]),
                                "folder_mb_per_camera_hour": round(per_clip["folder"] * hour / 2**20, 1),
                                "shared_mb_per_camera_hour": round(per_clip["shared"] * hour / 2**20, 1)})
        # The cameras split over `workers` processes on the one store, against one process with them all.
        width = widths[0]
        url = new_db()
        ctx = mp.get_context("spawn")
        go, done = ctx.Event(), ctx.Queue()
        per = [names[k::workers] for k in range(workers)]
        procs = [ctx.Process(target=_worker, args=(url, cams, clips, (tokens, width, keyframes, clip_seconds), go,
                                                   done)) for cams in per]
        for p in procs:
            p.start()
        for _ in procs:
            done.get(timeout=600)
        t0 = time.perf_counter()
        go.set()
        walls = [done.get(timeout=600) for _ in procs]
        wall = time.perf_counter() - t0
        for p in procs:
            p.join()
        rate = cameras * clips / wall
        one = out["rows"][0]["shared_clips_per_s"]
        out["workers_row"] = {"width": width, "clips_per_s": round(rate, 1), "one_process_clips_per_s": one,
                              "ratio": round(rate / one, 2), "worker_walls": [round(w, 2) for w in walls]}
    finally:
        if server is not None:
            server.stop()
    out["cpu"] = os.cpu_count()
    return out


def ingest_throughput(path: str, cameras: int, seconds: float, fps: float, rounds: int, pg_url: str | None = None,
                      log=print) -> dict:
    """The whole loop, not the store alone: `cameras` threads on one light-mode engine (SigLIP-base patches at real
    shape, random weights) each ingest the first `seconds` of a real clip as fast as it goes, into a memory folder
    each, then into one shared store (rounds interleaved). Throughput: stream seconds ingested per wall second."""
    from bench.light import BaseEmbedder
    from models.config import ModelConfig
    from stream.config import IngestConfig, SamplingConfig
    from stream.engine import Engine, EngineConfig
    from stream.sources import FileSource

    server = None
    if pg_url is None:
        from tests.postgres import Postgres
        server = Postgres(Path(tempfile.mkdtemp(prefix="vigil-bench-pg-")))
    engine = Engine(EngineConfig(model=ModelConfig(light=True), ingest=IngestConfig(sampling=SamplingConfig(fps=fps))),
                    embedder=BaseEmbedder())
    frames = [f for f in FileSource(path, fps).frames() if f.time < seconds]
    rates = {"folder": [], "shared": []}
    try:
        for r in range(rounds):
            for kind in ("folder", "shared") if r % 2 == 0 else ("shared", "folder"):
                with tempfile.TemporaryDirectory() as tmp:
                    url = (server.new_database() if server else pg_url) if kind == "shared" else None
                    sessions = [engine.open(url or str(Path(tmp) / f"cam{k}"), stream=f"cam{k}")
                                for k in range(cameras)]
                    threads = [threading.Thread(target=lambda s=s: list(s.run(iter(frames))))
                               for s in sessions]
                    t0 = time.perf_counter()
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    wall = time.perf_counter() - t0
                    for s in sessions:
                        s.close()
                rates[kind].append(cameras * seconds / wall)
                log(f"  ingest, {kind}, round {r + 1}: {rates[kind][-1]:.2f} stream s a wall s")
    finally:
        if server is not None:
            server.stop()
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"clip": Path(path).name, "cameras": cameras, "seconds": seconds, "rounds": rounds,
            "folder_rate": round(med["folder"], 2), "shared_rate": round(med["shared"], 2),
            "ratio": round(med["shared"] / med["folder"], 2)}
