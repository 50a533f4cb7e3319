"""Vector-index engines behind the clip store, by name (`StoreConfig.index`). Each is one module holding one
`memory.index.base.VectorIndex`, imported only when a store opens with it (FAISS is heavy)."""
import importlib
import threading

# name -> (module, class). A new engine is one file in this folder and one line here.
BACKENDS = {
    "faiss": ("memory.index.faiss_index", "FaissIndex"),
    "pgvector": ("memory.index.pgvector_index", "PgvectorIndex"),
}
_lock = threading.Lock()
_loaded: dict[str, type] = {}


def index_class(name: str) -> type:
    """The VectorIndex class of engine `name`; ValueError in one line for an unknown one."""
    if name not in BACKENDS:
        raise ValueError(f"unknown vector index {name!r}; choose one of {', '.join(sorted(BACKENDS))}")
    with _lock:
        if name not in _loaded:
            module, cls = BACKENDS[name]
            _loaded[name] = getattr(importlib.import_module(module), cls)
        return _loaded[name]
