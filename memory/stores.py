"""The store as an interface: what sessions, selection, `check`, the API and the recap call, and where a memory is.

A memory's location is a folder (the default: `memory.store.ClipStore`, SQLite and token files, embedded) or a
PostgreSQL URL (`memory.postgres_store.PostgresStore`, a shared store that many workers write and any process reads).
`open_store` picks the one the location names; the callers see only the verbs below.
"""
from typing import Protocol

import numpy as np
import torch

from memory.clip import Caption, ClipMemory, Evidence, Keyframe
from memory.config import StoreConfig
from memory.folder import StoreError
from memory.store import ClipStore, Loaded, StepRecord, StoreIdentity, StreamExtent, StreamLog
from memory.when import TimeSpan


SCHEMES = ("postgresql://", "postgres://")


def is_store_url(where) -> bool:
    """Whether a memory's location names a shared store (a PostgreSQL URL) rather than a folder."""
    return str(where).startswith(SCHEMES)


class Store(Protocol):
    """A memory's clips and each stream's record. Writes raise StorageFault (memory.folder) for a fault that may
    clear (a full disk, a database out of reach), StoreError for a refusal; reads raise StoreError, one line."""
    config: StoreConfig
    readonly: bool
    key_dim: int
    identity: StoreIdentity     # the models it was built with
    folder: object              # what messages name the memory by: its folder, or its URL without a password
    shared: bool                # several processes may write it, each its own cameras (leases)

    # writing (a writer only)
    def claim(self, stream: str) -> None: ...
    def add(self, clip: ClipMemory, log: StreamLog | None = None) -> int: ...
    def record(self, stream: str, log: StreamLog) -> None: ...
    def delete(self, ids: list[int], trim_steps: str | None = None) -> None: ...
    def add_evidence(self, video: Evidence) -> None: ...
    def set_caption(self, cid: int, caption: str, key: np.ndarray | None = None) -> None: ...
    def mark_missing(self, ids: list[int], missing: bool = True) -> None: ...
    def log_alert(self, stream: str, alert: dict) -> None: ...
    def save_index(self) -> None: ...
    def close(self) -> None: ...

    # reading
    def get(self, ids: list[int]) -> list[ClipMemory]: ...
    def load(self, ids: list[int], tokens: bool = True, keyframes: bool = True) -> Loaded: ...
    def tokens(self, cid: int, n_tokens: int | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...
    def keyframes(self, ids: list[int]) -> dict[int, list[Keyframe]]: ...
    def clips(self, stream: str | None = None) -> list[ClipMemory]: ...
    def latest(self, stream: str | None, n: int, until: float | None = None,
               span: TimeSpan | None = None) -> list[int]: ...
    def search(self, query: np.ndarray, k: int, stream: str | None = None, until: float | None = None,
               kind: str = "visual", span: TimeSpan | None = None) -> list[tuple[int, float]]: ...
    def key_scores(self, ids: list[int], query: np.ndarray) -> dict[int, float]: ...
    def meta(self, ids: list[int]) -> dict[int, tuple[float, int]]: ...
    def captions(self, stream: str, span: TimeSpan | None = None) -> list[Caption]: ...
    def missing(self, stream: str | None = None) -> list[int]: ...
    def caption_keys(self, ids: list[int]) -> dict[int, np.ndarray]: ...
    def videos(self, stream: str) -> list[str]: ...
    def steps(self, stream: str) -> list[StepRecord]: ...
    def events(self, stream: str) -> list[tuple[str, float, dict]]: ...
    def alerts(self, stream: str | None = None) -> list[dict]: ...
    def extent(self, stream: str) -> StreamExtent: ...
    def progress(self, stream: str) -> tuple[str, bytes] | None: ...
    def streams(self) -> dict[str, int]: ...
    def count(self, stream: str | None = None) -> int: ...
    def bytes(self, stream: str | None = None) -> int: ...
    def evidence(self, alert: str) -> Evidence | None: ...
    def evidence_over(self, stream: str, start: float, end: float) -> Evidence | None: ...
    def evidence_bytes(self, stream: str | None = None) -> tuple[int, int]: ...


def recorded_models(where) -> dict[str, str]:
    """The embedder and video LLM a memory was built with ({} when it records none, is no memory, or cannot be
    read now: opening it says why, in one line), read before any model loads."""
    if not is_store_url(where):
        from memory.store import recorded_models as of_folder
        return of_folder(where)
    from memory.postgres_store import PostgresStore
    try:
        store = PostgresStore(str(where), None, readonly=True)
    except StoreError:
        return {}
    store.close()
    return store.models


def preflight(where, write: bool) -> None:
    """What opening the memory would refuse, said before any model loads (minutes with real weights), changing
    nothing: a folder's refusals (not a memory, a lost database, another writer), a shared store's server out of
    reach, or (to read) no store there yet."""
    if not is_store_url(where):
        from memory.folder import inspect, preflight as folder_preflight
        from pathlib import Path
        folder_preflight(Path(where)) if write else inspect(Path(where), write=False)
    elif write:
        from memory.postgres_store import PostgresStore
        PostgresStore.reach(str(where))
    else:
        open_store(where, None, readonly=True).close()


def open_store(where: str, identity: StoreIdentity | None, config: StoreConfig | None = None,
               readonly: bool = False) -> Store:
    """The memory at `where`: a PostgreSQL URL's shared store, or a folder's."""
    if is_store_url(where):
        from memory.postgres_store import PostgresStore
        return PostgresStore(str(where), identity, config, readonly=readonly)
    return ClipStore(where, identity, config, readonly=readonly)
