import multiprocessing as mp
import os
import signal
import time

import numpy as np
import pytest
import torch

from memory.clip import ClipMemory
from memory.config import StoreConfig
from memory.store import ClipStore, StoreError, StoreIdentity

DIM, D = 8, 16


def make_clip(i: int, stream: str = "cam", n: int = 5) -> ClipMemory:
    g = torch.Generator().manual_seed(i)
    key = np.random.default_rng(i).normal(size=DIM).astype(np.float32)
    return ClipMemory(stream=stream, start=8.0 * i, end=8.0 * i + 7, tokens=torch.randn(n, D, generator=g).half(),
                      positions=torch.tensor([[0, j, 0] for j in range(n)], dtype=torch.int16), grid=(4, n, 1),
                      seconds_per_step=2.0, thumbnail=b"\xff\xd8jpeg", key=key / np.linalg.norm(key),
                      kept=n, total=4 * n)


def open_store(folder, config=None, embedder="emb", dim=DIM, readonly=False):
    return ClipStore(folder, StoreIdentity(embedder=embedder, key_dim=dim, llm="llm", token_dim=D), config, readonly)


def test_round_trip_after_reopen(tmp_path):
    store = open_store(tmp_path)
    clips = [make_clip(i) for i in range(5)]
    ids = [store.add(c) for c in clips]
    store.close()
    store = open_store(tmp_path)
    got = store.load(ids).clips
    assert [c.start for c in got] == [c.start for c in clips]
    for a, b in zip(got, clips):
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.positions, b.positions)
        assert a.grid == b.grid and a.thumbnail == b.thumbnail
    # the key finds its own clip first
    assert store.search(clips[3].key, 1)[0][0] == ids[3]
    assert store.latest("cam", 2) == [ids[4], ids[3]]
    assert store.search(clips[3].key, 5, until=20.0) and all(c <= ids[1] for c, _ in store.search(clips[3].key, 5, until=20.0))


def test_wall_times_of_live_clips_round_trip_and_file_clips_keep_none(tmp_path):
    store = open_store(tmp_path)
    live = make_clip(0)
    live.wall_start, live.wall_end = 1795356190.25, 1795356197.75
    ids = [store.add(live), store.add(make_clip(1))]          # the second as a file's clip: no wall time
    store.close()
    store = open_store(tmp_path, readonly=True)
    for got in (store.get(ids), store.load(ids).clips, store.clips("cam")):
        assert [(c.wall_start, c.wall_end) for c in got] == [(1795356190.25, 1795356197.75), (None, None)]
    assert [c.wall_start for c in store.get(store.latest("cam", 2))] == [None, 1795356190.25]
    store.close()


def test_index_is_rebuilt_when_its_file_is_stale_or_torn(tmp_path):
    store = open_store(tmp_path)
    ids = [store.add(make_clip(i)) for i in range(3)]
    store.close()
    stale = (tmp_path / "index.faiss").read_bytes()
    (tmp_path / "index.faiss").write_bytes(b"torn")
    store = open_store(tmp_path)
    assert len(store.index) == 3
    store.add(make_clip(3))
    store.close()
    (tmp_path / "index.faiss").write_bytes(stale)   # as if the process died before writing the index: behind SQLite
    store = open_store(tmp_path)
    assert len(store.index) == 4 and store.search(make_clip(3).key, 1)[0][0] == ids[-1] + 1


def test_retention_by_count_and_bytes_drops_oldest_per_stream(tmp_path):
    store = open_store(tmp_path, StoreConfig(max_clips=3))
    for i in range(6):
        store.add(make_clip(i, "a"))
    other = store.add(make_clip(100, "b"))
    assert [c.start for c in store.clips("a")] == [24.0, 32.0, 40.0]
    assert store.count("b") == 1 and store.get([other])
    assert len(list((tmp_path / "tokens").iterdir())) == 4
    assert len(store.index) == 4
    store.close()
    one = os.path.getsize(next((tmp_path / "tokens").iterdir()))
    store = open_store(tmp_path / "b", StoreConfig(max_bytes=2 * one + one // 2))
    for i in range(5):
        store.add(make_clip(i, "a"))
    assert store.count("a") == 2 and store.bytes("a") <= 2 * one + one // 2
    per_clip = store.bytes("a") // 2                 # every clip here is the same size
    store.close()
    # A budget of exactly three clips' bytes keeps three: retention drops what exceeds it, not what reaches it.
    store = open_store(tmp_path / "c", StoreConfig(max_bytes=3 * per_clip))
    for i in range(5):
        store.add(make_clip(i, "a"))
    assert [c.start for c in store.clips("a")] == [16.0, 24.0, 32.0] and store.bytes("a") == store.config.max_bytes


def test_refuses_another_embedder_and_changes_nothing(tmp_path):
    store = open_store(tmp_path)
    store.add(make_clip(0))
    store.close()
    before = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(StoreError, match="embedder"):
        open_store(tmp_path, embedder="other")
    with pytest.raises(StoreError, match="key_dim"):
        open_store(tmp_path, dim=DIM * 2)
    assert {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_full_disk_loses_nothing(tmp_path, monkeypatch):
    store = open_store(tmp_path)
    ids = [store.add(make_clip(i)) for i in range(3)]

    def no_space(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr("memory.store.write_new", no_space)
    with pytest.raises(StoreError, match="intact"):
        store.add(make_clip(3))
    monkeypatch.undo()
    assert store.count() == 3 and [c.id for c in store.get(ids)] == ids
    assert not list((tmp_path / "tokens").glob("*.tmp"))
    store.add(make_clip(4))
    assert store.count() == 4


def _writer(folder, started):
    store = open_store(folder)
    i = 0
    while True:
        store.add(make_clip(i, n=2000))     # big enough that a kill often lands mid-write
        i += 1
        started.set()


def test_crash_mid_write_then_reopen_and_continue(tmp_path):
    ctx = mp.get_context("spawn")
    for attempt in range(3):
        started = ctx.Event()
        child = ctx.Process(target=_writer, args=(tmp_path, started))
        child.start()
        assert started.wait(60), "writer did not start"
        time.sleep(0.05 + 0.07 * attempt)
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        store = open_store(tmp_path)
        rows = store.clips()
        assert rows, "clips committed before the crash must survive"
        for c in rows:                                           # every committed clip is whole
            tokens, positions = store.tokens(c.id)
            assert tokens.shape == (2000, D) and positions.shape == (2000, 3)
        files = sorted(p.name for p in (tmp_path / "tokens").iterdir())
        assert files == sorted(f"{c.id}.safetensors" for c in rows)   # no orphan or temporary file left
        assert len(store.index) == len(rows)
        store.add(make_clip(10_000 + attempt, n=2000))           # and it continues
        store.close()


def test_a_large_store_switches_to_an_inverted_file_index_and_stays_consistent(tmp_path):
    import faiss
    config = StoreConfig(ivf_above=1000, ivf_lists=16, ivf_probe=16)
    store = open_store(tmp_path, config)
    rng = np.random.default_rng(0)
    keys = rng.normal(size=(1500, DIM)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    store.db.execute("BEGIN")
    store.db.executemany("INSERT INTO clips (stream, start, end, n_tokens, bytes, grid, seconds_per_step, kept, total,"
                         " key, thumbnail) VALUES ('cam', ?, ?, 5, 0, '[4, 5, 1]', 2.0, 5, 20, ?, x'')",
                         [(8.0 * i, 8.0 * i + 7, k.tobytes()) for i, k in enumerate(keys)])
    store.db.execute("COMMIT")
    store.close()
    store = open_store(tmp_path, config)
    assert isinstance(store.index.index, faiss.IndexIVF) and len(store.index) == 1500
    assert store.search(keys[700], 1)[0][0] == 701                     # ids are SQLite's, probing all lists
    store.delete([701])
    new = store.add(make_clip(1))
    store.close()
    store = open_store(tmp_path, config)                               # the saved IVF index is reused, reconciled
    assert isinstance(store.index.index, faiss.IndexIVF) and len(store.index) == 1500
    assert store.search(keys[700], 1)[0][0] != 701 and store.search(make_clip(1).key, 1)[0][0] == new


def test_a_filtered_search_of_an_inverted_file_is_exact(tmp_path):
    """An IVF that probes 1 list of 32: an unfiltered search is approximate, but a narrow time span, a stream with
    few of the clips and an `until` bound each get exactly what a brute-force search over their clips gives (before,
    the span's clips outside the probed list were missed, and a stream filter fetched 8x and dropped the rest)."""
    from dataclasses import replace

    from memory.when import TimeSpan
    config = StoreConfig(ivf_above=1000, ivf_lists=32, ivf_probe=1)
    store = open_store(tmp_path, config)
    rng = np.random.default_rng(1)
    keys = rng.normal(size=(3000, DIM)).astype(np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    streams = ["few" if i % 100 == 0 else "many" for i in range(3000)]
    store.db.execute("BEGIN")
    store.db.executemany("INSERT INTO clips (stream, start, end, n_tokens, bytes, grid, seconds_per_step, kept, total,"
                         " key, thumbnail) VALUES (?, ?, ?, 5, 0, '[4, 5, 1]', 2.0, 5, 20, ?, x'')",
                         [(s, 8.0 * i, 8.0 * i + 7, k.tobytes()) for i, (s, k) in enumerate(zip(streams, keys))])
    store.db.execute("COMMIT")
    store.close()
    ids = np.arange(1, 3001)                          # SQLite's ids, in insert order
    query = rng.normal(size=DIM).astype(np.float32)
    query /= np.linalg.norm(query)

    def brute(mask, k):
        scores = keys[mask] @ query
        order = np.argsort(-scores)[:k]
        return [int(i) for i in ids[mask][order]]
    starts = 8.0 * np.arange(3000)
    span = TimeSpan(8000.0, 8040.0, "a narrow span", False)          # 6 clips of 3000
    in_span = (starts <= span.end) & (starts + 7 >= span.start)
    few = np.array([s == "few" for s in streams])
    early = starts + 7 <= 800.0
    for exact_below in (4096, 0):                     # the rows' keys scored directly; the index's own filter
        store = open_store(tmp_path, replace(config, exact_below=exact_below))
        assert [i for i, _ in store.search(query, 10, span=span)] == brute(in_span, 10) and in_span.sum() == 6
        assert [i for i, _ in store.search(query, 30, stream="few")] == brute(few, 30)       # all 30 of them
        assert [i for i, _ in store.search(query, 5, until=800.0)] == brute(early, 5)
        store.close()


def test_a_span_finds_a_long_clip_that_began_well_before_it(tmp_path):
    """The span's query starts its index walk the longest clip's length before the span: a 200-s clip (a still
    scene, one clip) that began long before a narrow span inside it is in, as are the short ones that overlap."""
    from memory.when import TimeSpan
    store = open_store(tmp_path)
    short = [store.add(make_clip(i)) for i in range(3)]              # 0-7, 8-15, 16-23
    long = make_clip(3)
    long.start, long.end = 24.0, 224.0
    long_id = store.add(long)
    span = TimeSpan(150.0, 160.0, "a narrow span", False)
    assert store.latest("cam", 5, span=span) == [long_id]
    assert [i for i, _ in store.search(long.key, 5, stream="cam", span=span)] == [long_id]
    store.close()
    store = open_store(tmp_path, readonly=True)                       # its length is read back on open
    assert store.latest("cam", 5, span=TimeSpan(20.0, 30.0, "s", False)) == [long_id, short[2]]
    store.close()
