"""Item 13: what verifying token-file checksums costs a question. A question reads the clips its budget holds; each
file is hashed (SHA-256) before it is parsed. Measured side by side at a real model's token width, against the
whole of a question asked of the tiny model, which is far faster than any real one: the share is an upper bound."""
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from memory.clip import ClipMemory
from memory.config import SelectConfig, StoreConfig
from memory.store import ClipStore, StoreIdentity
from compression.config import CompactConfig


def _clip(i: int, n: int, dim: int, key_dim: int) -> ClipMemory:
    g = torch.Generator().manual_seed(i)
    c = ClipMemory(stream="cam", start=8.0 * i, end=8.0 * i + 7.0, tokens=torch.randn(n, dim, generator=g).half(),
                   positions=torch.zeros(n, 3, dtype=torch.int16), grid=(4, 16, 16), seconds_per_step=2.0,
                   thumbnail=b"\xff\xd8", kept=n, total=n)
    c.key = np.random.default_rng(i).standard_normal(key_dim).astype(np.float32)
    return c


def checksum_cost(folder: Path, token_dim: int, rounds: int, session=None, question: str = "what happened?") -> dict:
    """Read one question's clips (token_budget / clip_tokens of them, at `token_dim`) with the checksum checked and
    without, interleaved `rounds` times; and, given a `session` with a memory, the time of a whole question there."""
    n, budget = CompactConfig().clip_tokens, SelectConfig().token_budget
    k = max(1, budget // n)
    store = ClipStore(folder, StoreIdentity(embedder="bench", key_dim=8, llm="bench", token_dim=token_dim),
                      StoreConfig())
    ids = [store.add(_clip(i, n, token_dim, 8)) for i in range(k)]
    times = {"checked": [], "unchecked": []}
    for _ in range(rounds):
        for mode in times:
            store._has_checksum = mode == "checked"       # the one switch between the two reads
            t0 = time.perf_counter()
            loaded = store.load(ids, keyframes=False)
            times[mode].append(time.perf_counter() - t0)
            assert len(loaded.clips) == k
    store._has_checksum = True
    mb = sum(store.token_path(i).stat().st_size for i in ids) / 2**20
    store.close()
    ms = {m: round(statistics.median(v) * 1000, 2) for m, v in times.items()}
    out = {"clips": k, "token_dim": token_dim, "mb_read": round(mb, 1), "checked_ms": ms["checked"],
           "unchecked_ms": ms["unchecked"], "cost_ms": round(ms["checked"] - ms["unchecked"], 2)}
    if session is not None:
        asked = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            session.ask(question).read(t0)
            asked.append(time.perf_counter() - t0)
        out["question_ms"] = round(statistics.median(asked) * 1000, 1)
        out["share"] = round(max(0.0, out["cost_ms"]) / out["question_ms"], 4)
    return out
