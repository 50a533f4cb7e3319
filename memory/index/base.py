"""The vector-index seam: what the clip store asks of the engine that finds clips by key.

SQLite is the truth; an index holds (id, key) pairs copied from it, so it can always be rebuilt from the rows. The
store gives it its size and a sample of keys when it opens one (an engine may choose its layout from them), then
keeps it in step: `add` on a stored clip, `remove` on a deleted one, `sync` after opening or marking clips missing.
A new engine (Milvus, say) is one file here with one class below and one line in `memory.index.BACKENDS`.
An engine that keeps its keys in a server (`shared`) is reached by every process that opens the memory: only the
writer reconciles it with the rows, and it may fail (OSError) where a file engine cannot; the store then keeps its
rows and catches the index up on its next use.
"""
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np

# keys(ids) -> [len(ids), dim] float32, the rows' keys in the order of `ids`
Keys = Callable[[list[int]], np.ndarray]
# sample(n) -> [<= n, dim] float32, up to n keys drawn at random (for engines that train a layout)
Sample = Callable[[int], np.ndarray]


class VectorIndex(ABC):
    """Inner-product search over unit keys of `dim` floats, each under a clip id (int64)."""
    suffix: str = ""           # the cache file's ending ("index" + suffix); "" for an engine that keeps no file
    sync_chunk: int = 10_000   # keys read from SQLite at a time while syncing (bounded memory at 10^6 clips)
    shared: bool = False       # the keys live outside the process, the same for every process opening the memory

    def __init__(self, path: Path, dim: int):
        self.path, self.dim = path, dim

    @classmethod
    @abstractmethod
    def open(cls, path: Path, name: str, dim: int, count: int, sample: Sample, config) -> "VectorIndex":
        """The cached index at `path` if it is sound and fits `count` keys, else a new empty one, which the store's
        `sync` then fills from the rows (the rebuild: a torn, foreign or outgrown cache costs time, never data).
        `name` is the index's name where the engine keeps it outside the folder: the memory's id and the kind,
        the same wherever the folder is mounted. `config` is the store's StoreConfig (engine settings live there,
        with why-comments). OSError in one line when the engine cannot be reached."""

    @classmethod
    @abstractmethod
    def check(cls, path: Path, name: str, dim: int, want: set[int], config) -> str | None:
        """What is wrong with the cache at `path` for a memory whose index must hold `want`, in words naming the
        file, or None when it is whole (or there is no file and nothing to hold)."""

    @abstractmethod
    def ids(self) -> np.ndarray:
        """Every id held, int64 [n], in no order."""

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Hold keys [n, dim] float32 under ids [n] int64 (ids not held yet)."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> None:
        """Drop these ids; ids not held are ignored."""

    @abstractmethod
    def search(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Up to k (id, score) by inner product with query [dim], best first; `within` (int64 ids): only among
        those, exactly (a time span may hold few of many clips, which searching all and filtering after, or an
        approximate search of all, would miss)."""

    @abstractmethod
    def save(self) -> None:
        """Write the cache so that a failure leaves the previous file whole; raises OSError or RuntimeError."""

    def close(self) -> None:
        """Let go of what the engine holds open (a connection); nothing for an in-process engine."""

    def sync(self, want: set[int], keys: Keys) -> None:
        """Make the held ids exactly `want`: drop the extra, add the missing with keys read from the rows."""
        have = set(self.ids().tolist()) if len(self) else set()
        extra = np.array(sorted(have - want), dtype=np.int64)
        if len(extra):
            self.remove(extra)
        missing = sorted(want - have)
        for i in range(0, len(missing), self.sync_chunk):
            chunk = missing[i:i + self.sync_chunk]
            self.add(keys(chunk), np.array(chunk, dtype=np.int64))
