"""Item 7: selection latency of the store at growing sizes (random keys): what a question costs besides embedding
it and running the LLM. Rows are written straight into SQLite (no token files, which selection never reads); the
store is then opened as usual, which rebuilds its FAISS index from SQLite."""
import json
import statistics
import tempfile
import time

import numpy as np

from memory.config import SelectConfig
from memory.select import select_for_query
from memory.store import ClipStore, StoreIdentity


def _fill(store: ClipStore, n: int, dim: int, rng) -> None:
    def rows():
        for i in range(n):
            key = rng.standard_normal(dim).astype(np.float32)
            key /= np.linalg.norm(key)
            yield ("bench", 8.0 * i, 8.0 * i + 7, 256, 0, json.dumps([4, 16, 16]), 2.0, 256, 1024, None,
                   key.tobytes(), b"")
    store.db.execute("BEGIN")
    store.db.executemany("INSERT INTO clips (stream, start, end, n_tokens, bytes, grid, seconds_per_step, kept, total,"
                         " caption, key, thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows())
    store.db.execute("COMMIT")


def selection(sizes: tuple[int, ...], dim: int, questions: int) -> list[dict]:
    out, rng = [], np.random.default_rng(0)
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            identity = StoreIdentity(embedder="bench", key_dim=dim, llm="bench", token_dim=16)
            store = ClipStore(tmp, identity)
            t0 = time.perf_counter()
            _fill(store, n, dim, rng)
            fill = time.perf_counter() - t0
            store.close()
            t0 = time.perf_counter()
            store = ClipStore(tmp, identity)      # rebuilds the index from SQLite (the saved one is empty)
            opened = time.perf_counter() - t0
            queries = rng.standard_normal((questions, dim)).astype(np.float32)
            queries /= np.linalg.norm(queries, axis=1, keepdims=True)
            times = []
            for q in queries:
                t0 = time.perf_counter()
                chosen = select_for_query(store, q, "bench", None, SelectConfig())
                times.append(time.perf_counter() - t0)
            assert chosen
            span_ms, exact = _narrow_span(store, queries, n)
            store.close()
            times.sort()
            out.append({"clips": n, "median_ms": round(1000 * statistics.median(times), 2),
                        "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 2),
                        "open_s": round(opened, 2), "fill_s": round(fill, 2), "span_ms": span_ms,
                        "span_exact": exact})
    return out


def _narrow_span(store: ClipStore, queries: np.ndarray, n: int) -> tuple[float, bool]:
    """A narrow time span (a minute: 8 clips of n) searched through the index seam, against brute force over the
    span's own keys read from SQLite: (median ms, whether every query got exactly the brute-force ranking)."""
    from memory.when import TimeSpan
    mid = 8.0 * (n // 2)
    span = TimeSpan(mid, mid + 60.0, "a minute", False)
    rows = store.db.execute("SELECT id, key FROM clips WHERE start <= ? AND end >= ?", (span.end, span.start)).fetchall()
    ids = np.array([r[0] for r in rows])
    keys = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
    times, exact = [], True
    for q in queries:
        t0 = time.perf_counter()
        got = [i for i, _ in store.search(q, 5, stream="bench", span=span)]
        times.append(time.perf_counter() - t0)
        exact &= got == [int(i) for i in ids[np.argsort(-(keys @ q))[:5]]]
    return round(1000 * statistics.median(times), 2), bool(exact)
