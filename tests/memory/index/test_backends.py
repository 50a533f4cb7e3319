"""Every registered vector-index engine against the seam's contract, and the store running on an engine that is not
FAISS (registered for the test), so a new engine is known to need nothing but its own file and registry line."""
from pathlib import Path

import numpy as np
import pytest

from memory import index as registry
from memory.config import StoreConfig
from memory.index.base import VectorIndex
from tests.memory.test_store import make_clip, open_store

DIM = 8


def unit(n: int, seed: int = 0) -> np.ndarray:
    keys = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return keys / np.linalg.norm(keys, axis=1, keepdims=True)


def engine_config(name: str, request) -> StoreConfig:
    """The store's settings for engine `name`: a server engine gets a database of its own on the suite's real
    PostgreSQL (tests/postgres.py)."""
    if name == "pgvector":
        return StoreConfig(index=name, index_url=request.getfixturevalue("pg_url"))
    return StoreConfig(index=name)


def fresh(name: str, path: Path, keys: np.ndarray, config: StoreConfig | None = None) -> VectorIndex:
    cls = registry.index_class(name)
    return cls.open(path, "m0_visual", DIM, len(keys), lambda n: keys[:n], config or StoreConfig(index=name))


@pytest.mark.parametrize("name", sorted(registry.BACKENDS))
def test_an_engine_adds_removes_searches_syncs_and_saves(tmp_path, name, request):
    keys = unit(20)
    config = engine_config(name, request)
    path = tmp_path / ("index" + registry.index_class(name).suffix)
    index = fresh(name, path, keys, config)
    assert len(index) == 0 and index.search(keys[0], 3) == []
    index.add(keys[:10], np.arange(100, 110))
    assert len(index) == 10 and sorted(index.ids().tolist()) == list(range(100, 110))
    best = index.search(keys[4], 3)
    assert best[0][0] == 104 and best[0][1] == pytest.approx(1.0, abs=1e-5) and len(best) == 3
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)
    within = index.search(keys[4], 5, within=np.array([101, 107, 999]))
    assert {i for i, _ in within} == {101, 107}                        # only among those, whatever is closer
    assert index.search(keys[4], 5, within=np.zeros(0, np.int64)) == []
    index.remove(np.array([104, 555]))                                  # an id not held is ignored
    assert 104 not in index.ids() and index.search(keys[4], 1)[0][0] != 104
    index.sync({100, 101, 150}, lambda ids: keys[[i - 140 for i in ids]])  # drop the extra, add the missing
    assert sorted(index.ids().tolist()) == [100, 101, 150] and index.search(keys[10], 1)[0][0] == 150
    if not index.suffix and not index.shared:
        return                                                          # an engine without a cache file
    other = "m1_visual"                                                 # another memory's index, never made
    assert "missing" in index.check(path.with_name("other"), other, DIM, {100}, config)
    assert index.check(path.with_name("other"), other, DIM, set(), config) is None   # nothing to hold: whole
    index.save()
    assert index.check(path, "m0_visual", DIM, {100, 101, 150}, config) is None
    assert "out of date (1 keys missing, 1 extra)" in index.check(path, "m0_visual", DIM, {100, 101, 151}, config)
    assert "dimensions" in index.check(path, "m0_visual", DIM * 2, {100, 101, 150}, config)
    index.close()
    again = fresh(name, path, keys, config)                             # the saved file, or the server's table
    assert sorted(again.ids().tolist()) == [100, 101, 150]
    again.close()
    if index.shared:
        return
    path.write_bytes(b"torn")
    assert "unreadable" in index.check(path, "m0_visual", DIM, {100}, config)
    assert len(fresh(name, path, keys)) == 0                            # a torn cache opens as a new index


def test_an_unknown_engine_is_refused_in_one_line():
    with pytest.raises(ValueError, match="unknown vector index 'milvus'; choose one of faiss"):
        StoreConfig(index="milvus")
    with pytest.raises(ValueError, match="unknown vector index"):
        registry.index_class("milvus")


class ExactIndex(VectorIndex):
    """Brute force in numpy with no cache file: the smallest engine, to prove the store needs nothing else."""
    suffix = ""

    def __init__(self, path, dim):
        super().__init__(path, dim)
        self.keys: dict[int, np.ndarray] = {}

    @classmethod
    def open(cls, path, name, dim, count, sample, config):
        return cls(path, dim)

    @classmethod
    def check(cls, path, name, dim, want, config):
        return None

    def ids(self):
        return np.array(sorted(self.keys), dtype=np.int64)

    def __len__(self):
        return len(self.keys)

    def add(self, keys, ids):
        self.keys.update(zip(ids.tolist(), keys))

    def remove(self, ids):
        for i in ids.tolist():
            self.keys.pop(i, None)

    def search(self, query, k, within=None):
        pool = self.keys if within is None else {i: self.keys[i] for i in within.tolist() if i in self.keys}
        return sorted(((i, float(v @ query)) for i, v in pool.items()), key=lambda h: -h[1])[:k]

    def save(self):
        pass


def test_the_store_runs_on_another_engine_registered_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.BACKENDS, "exact", (__name__, "ExactIndex"))
    config = StoreConfig(index="exact")
    store = open_store(tmp_path, config)
    clips = [make_clip(i) for i in range(6)]
    ids = [store.add(c) for c in clips]
    assert isinstance(store.index, ExactIndex) and store.search(clips[2].key, 1)[0][0] == ids[2]
    store.delete([ids[2]])
    assert ids[2] not in [i for i, _ in store.search(clips[2].key, 6)]
    store.mark_missing([ids[3]])
    assert sorted(store.index.ids().tolist()) == [ids[0], ids[1], ids[4], ids[5]]
    store.close()
    assert not list(tmp_path.glob("index*")) and not list(tmp_path.glob("captions*"))   # no FAISS file was written
    store = open_store(tmp_path, config)                     # rebuilt from SQLite on open
    assert sorted(store.index.ids().tolist()) == [ids[0], ids[1], ids[4], ids[5]]
    store.close()
