"""FAISS as the store's vector index: exact (flat) search up to `ivf_above` keys; beyond it an inverted file trained
on a sample of the keys, so a question stays in milliseconds at a million clips. The file beside the database is a
cache, written through a checked temporary file (memory.files.write_atomic)."""
from pathlib import Path

import faiss
import numpy as np

from memory.files import write_atomic
from memory.index.base import Sample, VectorIndex

TRAIN_PER_LIST = 39        # FAISS warns below 39 training points per list
SAMPLE_PER_LIST = 64       # keys drawn per list to train it


class FaissIndex(VectorIndex):
    suffix = ".faiss"

    def __init__(self, path: Path, dim: int, index, probe: int):
        super().__init__(path, dim)
        self.index = index                    # faiss.IndexIDMap2(IndexFlatIP) or faiss.IndexIVFFlat
        self.probe = probe
        if self.ivf:
            index.nprobe = probe

    @property
    def ivf(self) -> bool:
        return isinstance(self.index, faiss.IndexIVF)

    @staticmethod
    def _read(path: Path):
        """The FAISS index in the file, or None for a torn or foreign file."""
        try:
            return faiss.read_index(str(path))
        except RuntimeError:
            return None

    @classmethod
    def open(cls, path: Path, name: str, dim: int, count: int, sample: Sample, config) -> "FaissIndex":
        ivf = count > config.ivf_above
        index = cls._read(path) if path.exists() else None
        if index is not None:
            is_ivf = isinstance(index, faiss.IndexIVF)
            # A flat index may keep serving down to half the threshold (no rebuild back and forth).
            if index.d != dim or (ivf and not is_ivf) or (is_ivf and count < config.ivf_above // 2):
                index = None
        if index is None:
            index = cls._new(dim, count, sample, config) if ivf else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        return cls(path, dim, index, config.ivf_probe)

    @staticmethod
    def _new(dim: int, count: int, sample: Sample, config):
        """An IVF index over inner product, its lists trained on a sample of the keys."""
        lists = min(config.ivf_lists, max(1, count // TRAIN_PER_LIST))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(sample(SAMPLE_PER_LIST * lists))
        return index

    @classmethod
    def check(cls, path: Path, name: str, dim: int, want: set[int], config) -> str | None:
        if not path.exists():
            return f"{path.name} is missing" if want else None
        index = cls._read(path)
        if index is None:
            return f"{path.name} is unreadable"
        if index.d != dim:
            return f"{path.name} has keys of {index.d} dimensions, the memory {dim}"
        have = set(cls._ids_of(index).tolist()) if index.ntotal else set()
        if have != want:
            return f"{path.name} is out of date ({len(want - have)} keys missing, {len(have - want)} extra)"
        return None

    @staticmethod
    def _ids_of(index) -> np.ndarray:
        if isinstance(index, faiss.IndexIVF):
            lists = faiss.extract_index_ivf(index).invlists
            parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
                     for i in range(lists.nlist) if lists.list_size(i)]
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return faiss.vector_to_array(index.id_map)

    def ids(self) -> np.ndarray:
        return self._ids_of(self.index)

    def __len__(self) -> int:
        return self.index.ntotal

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        self.index.add_with_ids(np.ascontiguousarray(keys, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> None:
        self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def search(self, query: np.ndarray, k: int, within: np.ndarray | None = None) -> list[tuple[int, float]]:
        if not self.index.ntotal or k < 1:
            return []
        q = np.ascontiguousarray(query, dtype=np.float32)[None]
        if within is None:
            scores, ids = self.index.search(q, min(k, self.index.ntotal))
        else:
            if not len(within):
                return []
            selector = faiss.IDSelectorBatch(np.asarray(within, dtype=np.int64))
            # Filtered, an inverted file probes every list: the few clips of a narrow span may sit in lists the
            # nearest `probe` would skip. Exact, as flat is; the selector keeps the distances to those clips alone.
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=faiss.extract_index_ivf(self.index).nlist)
                      if self.ivf else faiss.SearchParameters(sel=selector))
            scores, ids = self.index.search(q, min(k, len(within)), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def save(self) -> None:
        write_atomic(self.path, lambda f: faiss.write_index(self.index, faiss.PyCallbackIOWriter(f.write)))
