"""Item 14: a question across cameras against a question of one. Each camera's memory holds the same number of
clips; a question of N cameras searches each camera's index, spreads the one token budget over their candidates by
relevance (memory.select.spread) and reads the chosen clips' tokens. Measured side by side, interleaved: the prompt's
visual tokens and Vigil's own time (selection and reads; the question's embedding and the model's answer are the
same for any number of cameras and left out)."""
import statistics
import time
from pathlib import Path

import numpy as np

from bench.checksum import _clip
from memory.config import SelectConfig, StoreConfig
from memory.select import cameras_candidates, select_for_query, spread
from memory.store import StoreIdentity
from memory.stores import open_store
from compression.config import CompactConfig


def house_cost(folder: Path, cameras: tuple[int, ...], clips_per_camera: int, token_dim: int, key_dim: int,
               rounds: int, url: str | None = None) -> list[dict]:
    """One row per camera count: prompt tokens and Vigil's own milliseconds (median over `rounds`), and the ratio
    of both to one camera. `url`: every camera in that shared store (each camera its own connection, as each
    camera's session has), instead of a memory folder each."""
    n, config = CompactConfig().clip_tokens, SelectConfig()
    identity = StoreIdentity(embedder="bench", key_dim=key_dim, llm="bench", token_dim=token_dim)
    stores = []
    for k in range(max(cameras)):
        store = open_store(url or str(folder / f"cam{k}"), identity, StoreConfig())
        store.claim(f"cam{k}")
        for i in range(clips_per_camera):
            c = _clip(k * clips_per_camera + i, n, token_dim, key_dim)
            c.stream, c.key = f"cam{k}", c.key / np.linalg.norm(c.key)
            store.add(c)
        stores.append(store)
    rng = np.random.default_rng(0)
    queries = [q / np.linalg.norm(q) for q in rng.standard_normal((rounds, key_dim)).astype(np.float32)]

    def one(q) -> int:                       # the single-camera path (Session._gather)
        ids = select_for_query(stores[0], q, "cam0", None, config)
        return sum(c.n_tokens for c in stores[0].load(ids, keyframes=False).clips)

    def across(q, m: int) -> int:            # Engine.ask_across's selection and reads
        if url:                              # one memory: its cameras' candidates at once, their clips at once
            chosen = spread(cameras_candidates(stores[0], q, [(f"cam{k}", None) for k in range(m)], config),
                            config.token_budget)
            return sum(c.n_tokens for c in stores[0].load(sorted(x.id for x in chosen), keyframes=False).clips)
        chosen = spread([c for k in range(m) for c in cameras_candidates(stores[k], q, [(f"cam{k}", None)], config)],
                        config.token_budget)
        return sum(c.n_tokens for k in range(m)
                   for c in stores[k].load(sorted(x.id for x in chosen if x.camera == f"cam{k}"),
                                           keyframes=False).clips)
    times: dict[int, list[float]] = {m: [] for m in cameras}
    tokens: dict[int, list[int]] = {m: [] for m in cameras}
    for q in queries:
        for m in cameras:
            t0 = time.perf_counter()
            got = one(q) if m == 1 else across(q, m)
            times[m].append(time.perf_counter() - t0)
            tokens[m].append(got)
    for s in stores:
        s.close()
    base_ms, base_tokens = statistics.median(times[cameras[0]]) * 1000, statistics.median(tokens[cameras[0]])
    return [{"store": "shared" if url else "folder", "cameras": m, "clips": m * clips_per_camera, "prompt_tokens": statistics.median(tokens[m]),
             "ms": round(statistics.median(times[m]) * 1000, 2),
             "tokens_ratio": round(statistics.median(tokens[m]) / base_tokens, 3),
             "ms_ratio": round(statistics.median(times[m]) * 1000 / base_ms, 2)} for m in cameras]
