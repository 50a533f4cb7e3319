"""The clip store: a memory folder with SQLite metadata, one safetensors file of tokens per clip, and vector indexes
(clip keys, and caption keys where captions were written) from the engine `StoreConfig.index` names (memory.index).

Beside the clips, SQLite keeps each stream's per-step series, its events and its resume point (a checkpoint of the
ingestion loop), written in the same transaction as the clip they lead up to: the store is the checkpoint, and an
interrupted run continues from its last stored clip. A later run of a stream continues its step indexes and clock
after what is stored (`extent`); stored rows are inserted, never replaced (the resume point aside, which is the
stream's latest by design).

Who may change what (see `memory.folder`): a writer holds the folder's lock; a reader (`readonly=True`) opens
SQLite read-only and never deletes, migrates or rewrites anything. The writer removes only files it can prove it
wrote and no row needs: the token file of a write that never committed (a committed reservation names its id and a
random nonce, and the file carries the same nonce in its header) and the files of clips it deleted (tombstones,
written in the deleting transaction). New ids start past every token file on disk, so a database restored from an
older backup never collides with, or removes, the files of clips stored after it.

Crash safety: a clip's id is reserved (committed), then its token file written (temporary file, fsync, hard link to
its name), then its row inserted in one SQLite transaction that also clears the reservation. SQLite is the source of
truth; the index files are caches, written through a checked temporary file and reconciled with SQLite on open.
The schema and its upgrades are in memory.schema.
"""
import hashlib
import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from memory.clip import TIME_EPSILON, Caption, ClipMemory, Evidence, Keyframe
from memory.config import StoreConfig
from memory import schema
from memory.alert_log import append_alert, read_alert_log
from memory.files import write_new
from memory.folder import (DATABASE, MARKER, TOKEN_FILE, TOKENS, FolderState, StorageFault, StoreError, WriterLock,
                           inspect, new_marker, read_marker, write_marker)
from memory.index import index_class
from memory.index.base import VectorIndex
from memory.when import TimeSpan

# kind -> (the cache file's stem, the clips column its keys come from)
INDEXES = {"visual": ("index", "key"), "caption": ("captions", "caption_key")}
_IDENTITY = ("embedder", "key_dim", "llm", "token_dim")

@dataclass(frozen=True)
class StoreIdentity:
    """The models a memory was built with: its keys and tokens mean nothing to others, so others are refused."""
    embedder: str
    key_dim: int
    llm: str | None             # None: any (a reader that never reads tokens: an answer server is shown keyframes)
    token_dim: int | None

    def meta(self) -> dict[str, str]:
        return {k: str(getattr(self, k)) for k in _IDENTITY if getattr(self, k) is not None}


@dataclass
class StepRecord:
    """One step of a stream's series, as stored."""
    index: int
    time: float
    end: float
    total: int             # tokens the step had
    kept: int              # tokens the drop kept
    encoded: bool          # False: the pixel gate skipped the vision tower
    frames_skipped: int    # live sample slots skipped before it
    tau: float | None = None   # the drop threshold in use (None: the pixel rule, before calibration)

    @property
    def drop_ratio(self) -> float:
        """Share of the step's tokens the drop dropped."""
        return 1.0 - self.kept / self.total if self.total else 1.0


@dataclass
class StreamLog:
    """What a stream recorded since its last stored clip, stored with the next clip (or on its own at the end)."""
    steps: list[StepRecord] = field(default_factory=list)
    events: list = field(default_factory=list)          # stream.events.Event
    progress: tuple[str, bytes] | None = None           # serialised checkpoint (JSON text, tensor bytes)


@dataclass
class StreamExtent:
    """Where a stream's stored record ends: a new run of it continues from here."""
    next_step: int                 # the index its next step gets
    end: float | None              # its latest stored time (step, clip or event), None when nothing is stored


@dataclass
class Found:
    """What a question's selection reads of one stream: its clips nearest the question by clip key and by caption
    key (each (id, score), best first), its newest clips (newest first), and of all of them (start, n_tokens) and,
    where asked, the clip key's inner product with the question. A clip deleted meanwhile is in none of them."""
    visual: list[tuple[int, float]]
    caption: list[tuple[int, float]]
    latest: list[int]
    meta: dict[int, tuple[float, int]]
    scores: dict[int, float] = field(default_factory=dict)


@dataclass
class Loaded:
    """Clips read with their tokens, and those whose token file could not be read (without tokens)."""
    clips: list[ClipMemory]
    unreadable: list[ClipMemory]


def over_bytes(clips: list[tuple[int, float, int]], videos: list[tuple[float, int]], max_bytes: int) -> list[int]:
    """Retention by bytes: the ids of a stream's clips past `max_bytes`, counting from the newest. `clips`: (id,
    start, bytes) newest first; `videos`: its alert videos' (start, bytes) newest first, each counted with the clip
    of its time (the newest clip that starts at or before it), so the bound holds for both."""
    out, total, v = [], 0, 0
    for cid, start, size in clips:
        total += size
        while v < len(videos) and videos[v][0] >= start:
            total, v = total + videos[v][1], v + 1
        if total > max_bytes:
            out.append(cid)
    return out


def reservation(meta: dict[str, str]) -> tuple[int, str] | None:
    """The write whose id was reserved (meta 'pending' = "id:nonce") and not yet committed, or None."""
    pending = meta.get("pending")
    if not pending or ":" not in pending:
        return None
    cid, nonce = pending.split(":", 1)
    return int(cid), nonce


def carries(path: Path, nonce: str) -> bool:
    """Whether a token file carries this write's nonce in its header: the proof that it is that write's own bytes.
    False for a missing file, or one torn before its header was whole."""
    from safetensors import safe_open
    try:
        with safe_open(str(path), "pt") as f:
            return (f.metadata() or {}).get("vigil_write") == nonce
    except Exception:          # safetensors raises several types for a missing or torn file
        return False


def recorded_models(folder: str | Path) -> dict[str, str]:
    """The embedder and video LLM a memory folder was built with, as its database records them ({} when it records
    none, or is no memory): read-only, before any model loads, so `ask` can load the same ones."""
    db_path = Path(folder) / DATABASE
    if not db_path.is_file():
        return {}
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            meta = schema.read_meta(db)
        finally:
            db.close()
    except sqlite3.Error:
        return {}                       # the store's own open says what is wrong, in one line
    return {k: meta[k] for k in ("embedder", "llm") if meta.get(k)}


class ClipStore:
    shared = False             # one writer at a time, the folder's lock (memory.folder.WriterLock)

    def __init__(self, folder: str | Path, identity: StoreIdentity | None, config: StoreConfig | None = None,
                 readonly: bool = False):
        """Open the memory in `folder`. A writer creates it when the folder is new or empty. `identity` None takes
        the models from the memory itself (the consistency check, which loads no model)."""
        self.folder = Path(folder)
        self.where = str(folder)             # its location: stores of one location are one memory
        self.config = config or StoreConfig()
        self.backend = index_class(self.config.index)     # imported only now: an engine may be heavy
        self.readonly = readonly
        self._lock = threading.RLock()       # a session's loop and its questions share the store
        self._writer: WriterLock | None = None
        self.db = None
        self.indexes: dict[str, VectorIndex] = {}
        self._behind: set[str] = set()       # kinds whose index missed a change (a server out of reach)
        if self.folder.exists() and not self.folder.is_dir():
            raise StoreError(f"{self.folder} is not a folder; give a folder to --memory")
        try:
            if not readonly:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._writer = WriterLock(self.folder)
            state = inspect(self.folder, write=not readonly)
            self.db = self._connect()
            self._open_schema(state, identity)
            # Clips whose tokens are known to be lost are never selected (schema 2, read as it is, has no mark).
            self._present = "missing = 0" if "missing" in self._columns("clips") else "1"
            self._has_tau = "tau" in self._columns("clips")
            # Schema 4's wall-clock times: a schema-3 memory read as it is has none, and reads them as None.
            self._has_wall = {"wall_start", "wall_end"} <= self._columns("clips")
            # Schema 5's keyframes: an older memory read as it is has none, and shows its thumbnails instead.
            self._has_keyframes = "keyframes" in self._tables()
            # Schema 6's token-file checksums: an older memory read as it is has none, and is read unchecked.
            self._has_checksum = "checksum" in self._columns("clips")
            # Schema 7's alert videos: an older memory read as it is has none.
            self._has_evidence = "evidence" in self._tables()
            # The longest clip on each clock (stream, wall): a span's clips start no earlier than its start less
            # this, so a span's query walks a few index entries, not every clip before it (bench item 7).
            walls = "MAX(wall_end - wall_start)" if self._has_wall else "NULL"
            row = self.db.execute(f"SELECT MAX(end - start), {walls} FROM clips").fetchone()
            self._longest = {False: row[0] or 0.0, True: row[1] or 0.0}
            try:
                self.key_dim = int(self._meta()["key_dim"])
            except (KeyError, ValueError):
                raise StoreError(f"{self.folder / DATABASE} is not a whole Vigil database (no key dimension "
                                 f"recorded); restore it from a backup") from None
            if not readonly:
                (self.folder / TOKENS).mkdir(exist_ok=True)
                self._clean_leftovers()
                self._file_floor = max([0, *self._file_ids()]) + 1   # never hand out an id whose file is on disk
            for kind in INDEXES:
                self.indexes[kind] = self._open_index(kind)
        except (OSError, sqlite3.Error) as e:
            self._release()
            raise StoreError(f"cannot open memory at {self.folder}: {e}") from e
        except BaseException:
            self._release()
            raise
        self._added = 0

    @property
    def index(self) -> VectorIndex:
        """The index of clip keys."""
        return self.indexes["visual"]

    # ---- opening ------------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        path = self.folder / DATABASE
        if self.readonly:
            db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False,
                                 isolation_level=None)
        else:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def _start_writing(self) -> None:
        """After every check passed: WAL (readers never wait for the writer; it changes the file's header, so not
        before a refusal) and full syncs."""
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")

    def _meta(self) -> dict[str, str]:
        return schema.read_meta(self.db)

    def _columns(self, table: str) -> set[str]:
        return schema.columns(self.db, table)

    def _tables(self) -> set[str]:
        return schema.tables(self.db)

    def _open_schema(self, state: FolderState, identity: StoreIdentity | None) -> None:
        """Create, check and (writer only) upgrade the database. Every refusal comes before any change."""
        if state.new_database:
            if identity is None:
                raise StoreError(f"no memory at {self.folder}")
            self._start_writing()
            with self._transaction("create the memory"):
                schema.create(self.db, identity.meta() | {"memory_id": state.marker.id, "next_id": "1"})
            return
        if "meta" not in self._tables():
            raise StoreError(f"{self.folder / DATABASE} is not a Vigil database; give another --memory folder")
        have = self._meta()
        version = schema.refuse(self.folder, have, None if identity is None else identity.meta(),
                                None if state.marker is None else state.marker.id, self.readonly)
        if self.readonly:
            return
        self._start_writing()
        if not schema.current(self.db, version):
            with self._transaction("upgrade the memory"):
                schema.upgrade(self.db, self._file_ids())
        mid = have.get("memory_id")
        if mid is None:                      # made before markers: the database takes the marker's id, or a new one
            mid = state.marker.id if state.marker is not None else new_marker().id
            with self._transaction("record the memory's id"):
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('memory_id', ?)", (mid,))
        if state.marker is None:
            write_marker(self.folder, new_marker(mid))

    def _file_ids(self) -> list[int]:
        tokens = self.folder / TOKENS
        return [int(m.group(1)) for p in tokens.iterdir() if (m := TOKEN_FILE.match(p.name))] if tokens.is_dir() else []

    def next_id(self) -> int:
        """The id the next clip gets: past every id handed out (even to clips deleted since) and, for a writer, past
        every token file that was on disk when it opened."""
        floor = int(self._meta().get("next_id", "1"))
        return max(floor, getattr(self, "_file_floor", 1),
                   self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM clips").fetchone()[0])

    def _clean_leftovers(self) -> None:
        """Writer only: remove the token file of a reserved write that never committed (only if the file carries the
        reservation's nonce: this writer's own bytes, not a file that a restored older database does not know), the
        files of deleted clips (tombstones) and this store's own temporary files."""
        reserved = reservation(self._meta())
        if reserved:
            cid, nonce = reserved
            if not self._committed(cid):
                path = self.token_path(cid)
                path.with_suffix(".tmp").unlink(missing_ok=True)      # a temporary name no row can point to
                if carries(path, nonce):
                    path.unlink(missing_ok=True)
            with self._transaction("clear the reservation"):
                self.db.execute("DELETE FROM meta WHERE key = 'pending'")
        for path in (self.folder / MARKER, *(self.index_path(kind) for kind in INDEXES)):
            path.with_name(path.name + ".tmp").unlink(missing_ok=True)
        self._sweep_tombstones()

    def _sweep_tombstones(self) -> None:
        done = []
        for (cid,) in self.db.execute("SELECT id FROM tombstones").fetchall():
            try:
                self.token_path(cid).unlink(missing_ok=True)
                self.token_path(cid).with_suffix(".tmp").unlink(missing_ok=True)
                done.append(cid)
            except OSError:
                pass                          # tried again on the next open
        if done:
            try:
                with self._transaction("clear tombstones"):
                    self.db.executemany("DELETE FROM tombstones WHERE id = ?", [(c,) for c in done])
            except StoreError:
                pass                          # harmless: the files are gone, the rows are cleared next time

    def index_path(self, kind: str) -> Path:
        """Where the cache of the index of this kind is (or would be) kept."""
        return self.folder / (INDEXES[kind][0] + self.backend.suffix)

    def index_name(self, kind: str) -> str:
        """The name of the index of this kind for an engine that keeps it outside the folder: the memory's id (the
        same wherever the folder is mounted) and the kind."""
        mid = self._meta().get("memory_id")
        if mid is None:                      # an old memory read as it is: its marker's id, or its path's digest
            marker = read_marker(self.folder)
            mid = marker.id if marker is not None else hashlib.sha256(str(self.folder.resolve()).encode()).hexdigest()
        return f"{mid[:32]}_{kind}"

    def _open_index(self, kind: str) -> VectorIndex:
        """The cached index if it is sound and fits the clip count, else a new one; then reconciled with SQLite (the
        truth) in memory. A shared engine's index is reconciled by the writer alone: a reader's view of the rows
        may already be behind the writer's, and would undo its newest keys."""
        column = INDEXES[kind][1]
        want = set(self.indexed_ids(kind))

        def sample(n: int) -> np.ndarray:
            return np.stack([np.frombuffer(k, dtype=np.float32) for (k,) in self.db.execute(
                f"SELECT {column} FROM clips WHERE {column} IS NOT NULL ORDER BY RANDOM() LIMIT ?", (n,))])

        index = self.backend.open(self.index_path(kind), self.index_name(kind), self.key_dim, len(want), sample,
                                  self.config)
        if not (self.readonly and index.shared):
            try:
                index.sync(want, lambda ids: self._keys(column, ids))
            except BaseException:
                index.close()
                raise
        return index

    def _index_change(self, kind: str, change) -> None:
        """Apply `change(index)` to the index of this kind after its rows committed. An engine out of reach (a
        server) cannot fail the write: the rows are the truth, and the index catches up on its next use."""
        try:
            change(self.indexes[kind])
        except OSError:
            self._behind.add(kind)

    def _index_for(self, kind: str) -> VectorIndex:
        """The index of this kind, caught up with the rows first if it missed a change; OSError while its engine is
        out of reach."""
        index = self.indexes[kind]
        if kind in self._behind:
            index.sync(set(self.indexed_ids(kind)), lambda ids, c=INDEXES[kind][1]: self._keys(c, ids))
            self._behind.discard(kind)
        return index

    def _keys(self, column: str, ids: list[int]) -> np.ndarray:
        """The keys [len(ids), key_dim] float32 in `column` of these clips, in the order of `ids`."""
        q = ",".join("?" * len(ids))
        rows = dict(self.db.execute(f"SELECT id, {column} FROM clips WHERE id IN ({q})", ids).fetchall())
        return np.stack([np.frombuffer(rows[i], dtype=np.float32) for i in ids])

    def indexed_ids(self, kind: str) -> list[int]:
        """Ids the index of this kind must hold: clips with such a key whose tokens are not marked missing."""
        column = INDEXES[kind][1]
        if column not in self._columns("clips"):
            return []
        return [r[0] for r in self.db.execute(f"SELECT id FROM clips WHERE {column} IS NOT NULL AND {self._present}")]

    # ---- writing ------------------------------------------------------------------------------------------
    def token_path(self, cid: int) -> Path:
        """Where clip `cid`'s tokens are (or were) on disk."""
        return self.folder / TOKENS / f"{cid}.safetensors"

    def claim(self, stream: str) -> None:
        """A folder's writer holds the whole folder (its lock): every stream in it is this writer's already."""
        self._check_writer()

    def _check_writer(self) -> None:
        if self.readonly:
            raise StoreError(f"memory at {self.folder} is open read-only")

    @contextmanager
    def _transaction(self, what: str):
        """One write transaction; any failure rolls it back and becomes a one-line StoreError."""
        with self._lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                yield
                self.db.execute("COMMIT")
            except (OSError, sqlite3.Error) as e:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise StorageFault(f"could not {what} in {self.folder} ({e}); what was stored before is intact") from e
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def _write_log(self, stream: str, log: StreamLog | None) -> None:
        """Inside an open transaction. Steps are inserted, never replaced: a step index already stored is an error."""
        if log is None:
            return
        self.db.executemany("INSERT INTO steps (stream, idx, time, end, total, kept, encoded, skipped, tau)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [(stream, s.index, s.time, s.end, s.total, s.kept, int(s.encoded), s.frames_skipped,
                              s.tau) for s in log.steps])
        self.db.executemany("INSERT INTO events (stream, kind, time, detail) VALUES (?, ?, ?, ?)",
                            [(stream, e.kind, e.time, json.dumps(e.detail)) for e in log.events])
        if log.progress is not None:
            self.db.execute("INSERT OR REPLACE INTO progress VALUES (?, ?, ?)", (stream, *log.progress))

    def record(self, stream: str, log: StreamLog) -> None:
        """Store a stream's log with no clip (the end of a stream whose last clip is already stored)."""
        self._check_writer()
        with self._transaction("write the stream's log"):
            self._write_log(stream, log)

    def add(self, clip: ClipMemory, log: StreamLog | None = None) -> int:
        """Store a clip (its `key` must be set), its keyframes and the stream's log leading up to it, atomically;
        returns the clip's id. Its `bytes` counts the token file and the keyframes, so retention by bytes bounds
        both. Applies retention for its stream."""
        import secrets

        from safetensors.torch import save

        self._check_writer()
        if clip.key is None or clip.key.shape != (self.key_dim,):
            raise StoreError(f"clip key must be a vector of {self.key_dim} floats")
        key = np.ascontiguousarray(clip.key, dtype=np.float32)
        nonce = secrets.token_hex(8)
        data = save({"tokens": clip.tokens.to(torch.float16).contiguous(),
                     "positions": clip.positions.to(torch.int16).contiguous()}, metadata={"vigil_write": nonce})
        with self._lock:
            cid = self.next_id()
            path = self.token_path(cid)
            created = False
            with self._transaction("reserve a clip id"):      # the proof, should this write not commit, that the
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('pending', ?)", (f"{cid}:{nonce}",))  # file is ours
            path.with_suffix(".tmp").unlink(missing_ok=True)   # a temporary name is never a stored file
            try:
                with self._transaction("store a clip"):
                    self.db.execute(
                        "INSERT INTO clips (id, stream, start, end, n_tokens, bytes, grid, seconds_per_step, kept,"
                        " total, caption, key, thumbnail, tau, wall_start, wall_end, checksum)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (cid, clip.stream, clip.start, clip.end, clip.n_tokens,
                         len(data) + sum(len(k.jpeg) for k in clip.keyframes), json.dumps(list(clip.grid)),
                         clip.seconds_per_step, clip.kept, clip.total, clip.caption, key.tobytes(), clip.thumbnail,
                         clip.tau, clip.wall_start, clip.wall_end, hashlib.sha256(data).hexdigest()))
                    self.db.executemany("INSERT INTO keyframes (clip, idx, time, wall, jpeg) VALUES (?, ?, ?, ?, ?)",
                                        [(cid, i, k.time, k.wall, k.jpeg) for i, k in enumerate(clip.keyframes)])
                    try:
                        write_new(path, data, path.with_suffix(".tmp"))
                    except FileExistsError:
                        raise StoreError(f"a token file for clip {cid} is already in {self.folder / TOKENS}, and no "
                                         f"row describes it; run `vigil check --memory {self.folder}`") from None
                    except BaseException:
                        created = path.exists()
                        raise
                    created = True
                    self._write_log(clip.stream, log)
                    self.db.execute("INSERT OR REPLACE INTO meta VALUES ('next_id', ?)", (str(cid + 1),))
                    self.db.execute("DELETE FROM meta WHERE key = 'pending'")
            except BaseException:
                # The row was rolled back, so its file must go; unless the commit landed before an interrupt (Ctrl-C
                # right after COMMIT returns): then the row is there and needs the file.
                if created and not self._committed(cid):
                    path.unlink(missing_ok=True)
                raise
            self._index_change("visual", lambda index: index.add(key[None], np.array([cid], dtype=np.int64)))
            clip.id = cid
            self._retain(clip.stream)
            self._added += 1
            self._longest[False] = max(self._longest[False], clip.end - clip.start)
            if clip.wall_start is not None and clip.wall_end is not None:
                self._longest[True] = max(self._longest[True], clip.wall_end - clip.wall_start)
            if self._added % self.config.index_every == 0:
                self.save_index()
            return cid

    def _committed(self, cid: int) -> bool:
        try:
            return self.db.execute("SELECT 1 FROM clips WHERE id = ?", (cid,)).fetchone() is not None
        except sqlite3.Error:
            return True                       # cannot tell: keep the file (an orphan is harmless, a loss is not)

    def _retain(self, stream: str) -> None:
        """Drop the oldest clips of a stream beyond max_clips / max_bytes."""
        c = self.config
        doomed: list[int] = []
        if c.max_clips is not None:
            doomed += [r[0] for r in self.db.execute(
                "SELECT id FROM clips WHERE stream = ? ORDER BY start DESC, id DESC LIMIT -1 OFFSET ?",
                (stream, c.max_clips))]
        if c.max_bytes is not None:
            # An alert's video counts with the clip of its time (the newest clip that starts at or before it), so
            # the bytes bound both, and it goes when that clip does (`delete`).
            videos = self.db.execute("SELECT start, bytes FROM evidence WHERE stream = ? ORDER BY start DESC",
                                     (stream,)).fetchall() if self._has_evidence else []
            clips = self.db.execute("SELECT id, start, bytes FROM clips WHERE stream = ? ORDER BY start DESC, id DESC",
                                    (stream,)).fetchall()
            doomed += [cid for cid in over_bytes(clips, videos, c.max_bytes) if cid not in doomed]
        if doomed:
            self.delete(doomed, trim_steps=stream)

    def delete(self, ids: list[int], trim_steps: str | None = None) -> None:
        """Delete clips: rows and tombstones in one transaction, then their files (a crash in between leaves
        tombstones, and the next writer removes those files). `trim_steps`: also drop that stream's series before
        its oldest clip left (retention: it has nothing left to show)."""
        self._check_writer()
        with self._transaction("delete clips"):
            q = ",".join("?" * len(ids))       # only ids with a row: a file no row describes is never tombstoned
            ids = [r[0] for r in self.db.execute(f"SELECT id FROM clips WHERE id IN ({q})", ids)]
            self.db.executemany("DELETE FROM clips WHERE id = ?", [(c,) for c in ids])
            self.db.executemany("DELETE FROM keyframes WHERE clip = ?", [(c,) for c in ids])
            self.db.executemany("INSERT OR IGNORE INTO tombstones VALUES (?)", [(c,) for c in ids])
            if trim_steps is not None:
                self.db.execute("DELETE FROM steps WHERE stream = ?1 AND end < (SELECT MIN(start) FROM clips WHERE"
                                " stream = ?1)", (trim_steps,))
                if self._has_evidence:       # alerts' videos from before the oldest clip left: retention took them
                    self.db.execute("DELETE FROM evidence WHERE stream = ?1 AND start < (SELECT MIN(start) FROM clips"
                                    " WHERE stream = ?1)", (trim_steps,))
        with self._lock:
            for kind in self.indexes:
                self._index_change(kind, lambda index: index.remove(np.array(ids, dtype=np.int64)))
            self._sweep_tombstones()

    def add_evidence(self, video: Evidence) -> None:
        """Store an alert's video (one per alert: a second for the same alert replaces it), then apply retention for
        its stream: its bytes count with the clips'."""
        self._check_writer()
        with self._transaction("store an alert's video"):
            self.db.execute("INSERT OR REPLACE INTO evidence (alert, stream, start, end, wall_start, frames, bytes, mp4)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (video.alert, video.stream, video.start, video.end,
                                                                 video.wall_start, video.frames, len(video.mp4),
                                                                 video.mp4))
        with self._lock:
            self._retain(video.stream)

    def evidence(self, alert: str) -> Evidence | None:
        """An alert's video, or None when the memory has none for it (never made, not yet written, or retention
        deleted it)."""
        if not self._has_evidence:
            return None
        with self._lock:
            r = self.db.execute("SELECT alert, stream, start, end, mp4, frames, wall_start FROM evidence WHERE alert"
                                " = ?", (alert,)).fetchone()
        return None if r is None else Evidence(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6])

    def evidence_over(self, stream: str, start: float, end: float) -> Evidence | None:
        """The stored alert video of `stream` that overlaps the span [start, end] (stream seconds) the most, or None:
        what a clip an answer used can be played as."""
        if not self._has_evidence:
            return None
        with self._lock:
            r = self.db.execute("SELECT alert, stream, start, end, mp4, frames, wall_start FROM evidence WHERE stream = ?"
                                " AND start < ? AND end > ? ORDER BY MIN(end, ?) - MAX(start, ?) DESC, start LIMIT 1",
                                (stream, end, start, end, start)).fetchone()
        return None if r is None else Evidence(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6])

    def evidence_bytes(self, stream: str | None = None) -> tuple[int, int]:
        """(videos, their bytes) stored for a stream (None: all)."""
        if not self._has_evidence:
            return 0, 0
        where, args = ("WHERE stream = ?", (stream,)) if stream is not None else ("", ())
        with self._lock:
            n, size = self.db.execute(f"SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM evidence {where}", args).fetchone()
        return n, size

    def mark_missing(self, ids: list[int], missing: bool = True) -> None:
        """Mark clips whose token file is lost (or, with missing=False, back): marked clips stay listed with their
        times and thumbnails, and are no longer selected for questions."""
        self._check_writer()
        q = ",".join("?" * len(ids))
        with self._transaction("mark clips missing"):
            self.db.execute(f"UPDATE clips SET missing = ? WHERE id IN ({q})", [int(missing), *ids])
        with self._lock:
            for kind in self.indexes:
                self._index_change(kind, lambda index, k=kind: index.sync(
                    set(self.indexed_ids(k)), lambda i, c=INDEXES[k][1]: self._keys(c, i)))

    def orphan_keyframes(self) -> list[int]:
        """Ids that keyframe rows belong to but no clip row has (a database edited by hand: `delete` removes both in
        one transaction). Nothing can show them."""
        if not self._has_keyframes:
            return []
        with self._lock:
            return [r[0] for r in self.db.execute("SELECT DISTINCT clip FROM keyframes WHERE clip NOT IN (SELECT id"
                                                  " FROM clips) ORDER BY clip")]

    def remove_orphan_keyframes(self) -> None:
        """Delete the keyframe rows that no clip row has (`orphan_keyframes`)."""
        self._check_writer()
        with self._transaction("remove keyframes of deleted clips"):
            self.db.execute("DELETE FROM keyframes WHERE clip NOT IN (SELECT id FROM clips)")

    def set_caption(self, cid: int, caption: str, key: np.ndarray | None = None) -> None:
        """A clip's caption and, for retrieval by caption, the caption's text embedding [key_dim]."""
        self._check_writer()
        blob = None if key is None else np.ascontiguousarray(key, dtype=np.float32).tobytes()
        with self._transaction("store a caption"):
            self.db.execute("UPDATE clips SET caption = ?, caption_key = ? WHERE id = ?", (caption, blob, cid))

        def change(index: VectorIndex) -> None:
            index.remove(np.array([cid], dtype=np.int64))
            if key is not None:
                index.add(np.frombuffer(blob, dtype=np.float32)[None], np.array([cid], dtype=np.int64))

        with self._lock:
            self._index_change("caption", change)

    def save_index(self) -> None:
        """Write the index caches (writer only). Each goes through a checked temporary file, so a full disk leaves
        the previous file, never a torn or empty one; a failure is not an error (SQLite is the truth, and the next
        open reconciles the index with it)."""
        if self.readonly:
            return
        with self._lock:
            for index in self.indexes.values():
                try:
                    index.save()
                except (OSError, RuntimeError):
                    pass

    def close(self) -> None:
        """Save the index caches, close the database and release the folder. Never raises: what is stored is
        already committed."""
        with self._lock:
            if self.db is None:
                return
            self.save_index()
            if not self.readonly:
                try:   # readers of a closed memory then need no -wal/-shm files, so they create none
                    self.db.execute("PRAGMA journal_mode=DELETE")
                except sqlite3.Error:
                    pass                          # a reader is still connected: WAL stays, which is fine
            self._release()

    def _release(self) -> None:
        for index in self.indexes.values():
            index.close()
        self.indexes = {}
        if self.db is not None:
            self.db.close()
            self.db = None
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    # ---- reading ------------------------------------------------------------------------------------------
    @property
    def _cols(self) -> str:
        """The clip columns read; `tau` arrived with schema 3 (a schema-2 memory read as it is has none), the wall
        times with schema 4 (NULL, read as None, from an older memory opened read-only)."""
        return ("id, stream, start, end, n_tokens, grid, seconds_per_step, kept, total, caption, key, thumbnail, "
                + ("tau" if self._has_tau else "NULL")
                + (", wall_start, wall_end" if self._has_wall else ", NULL, NULL"))

    def _row(self, r) -> ClipMemory:
        cid, stream, start, end, n, grid, sps, kept, total, caption, key, thumb, tau, wall_start, wall_end = r
        return ClipMemory(stream=stream, start=start, end=end, tokens=torch.zeros(n, 0, dtype=torch.float16),
                          positions=torch.zeros(n, 3, dtype=torch.int16), grid=tuple(json.loads(grid)),
                          seconds_per_step=sps, thumbnail=thumb, key=np.frombuffer(key, dtype=np.float32).copy(),
                          caption=caption, kept=kept, total=total, tau=tau, wall_start=wall_start,
                          wall_end=wall_end, id=cid)

    def tokens(self, cid: int, n_tokens: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A clip's (tokens [n, D] float16, positions [n, 3] int16), read from disk only now. StoreError when the
        file is missing, torn, foreign, or not of the row's size."""
        from safetensors.torch import load
        path = self.token_path(cid)
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise StoreError(f"token file of clip {cid} in {self.folder} is unreadable: {e}") from e
        want = self._checksum(cid)
        if want is not None and hashlib.sha256(raw).hexdigest() != want:    # bytes the disk changed since
            raise StoreError(f"token file of clip {cid} in {self.folder} fails its checksum (its bytes changed "
                             f"after it was written: a bad disk or a copy gone wrong)")
        try:
            data = load(raw)
            tokens, positions = data["tokens"], data["positions"]
        except Exception as e:  # torn or foreign file: safetensors raises several types
            raise StoreError(f"token file of clip {cid} in {self.folder} is unreadable: {e}") from e
        if positions.shape != (tokens.shape[0], 3) or (n_tokens is not None and tokens.shape[0] != n_tokens):
            raise StoreError(f"token file of clip {cid} in {self.folder} does not match its row "
                             f"({tuple(tokens.shape)} tokens, {tuple(positions.shape)} positions)")
        return tokens, positions

    def _checksum(self, cid: int) -> str | None:
        """The SHA-256 (hex) recorded for clip `cid`'s token file; None where none was (before schema 6)."""
        if not self._has_checksum:
            return None
        with self._lock:
            row = self.db.execute("SELECT checksum FROM clips WHERE id = ?", (cid,)).fetchone()
        return row[0] if row else None

    def get(self, ids: list[int]) -> list[ClipMemory]:
        """Clips by id, in the order given, without their tokens or keyframes (times, thumbnail, key, caption)."""
        if not ids:
            return []
        q = ",".join("?" * len(ids))
        with self._lock:
            rows = {r[0]: r for r in self.db.execute(f"SELECT {self._cols} FROM clips WHERE id IN ({q})", list(ids))}
        return [self._row(rows[i]) for i in ids if i in rows]

    def keyframes(self, ids: list[int]) -> dict[int, list[Keyframe]]:
        """{id: keyframes in time order} of the clips of `ids` that exist. A clip stored without keyframes (before
        schema 5, or with keyframes off) gets one made from its thumbnail, timed at the clip's middle (its wall time
        too, where both wall times are known): older memories still answer through an image-only server."""
        if not ids:
            return {}
        out: dict[int, list[Keyframe]] = {}
        q = ",".join("?" * len(ids))
        with self._lock:
            if self._has_keyframes:
                for cid, t, wall, data in self.db.execute(
                        f"SELECT k.clip, k.time, k.wall, k.jpeg FROM keyframes k JOIN clips c ON c.id = k.clip"
                        f" WHERE k.clip IN ({q}) ORDER BY k.clip, k.idx", list(ids)):
                    out.setdefault(cid, []).append(Keyframe(t, wall, bytes(data)))
            rest = [i for i in ids if i not in out]
            walls = "wall_start, wall_end" if self._has_wall else "NULL, NULL"
            q = ",".join("?" * len(rest))
            rows = self.db.execute(f"SELECT id, start, end, {walls}, thumbnail FROM clips WHERE id IN ({q})",
                                   rest).fetchall() if rest else []
        for cid, start, end, wall_start, wall_end, thumb in rows:
            wall = None if wall_start is None or wall_end is None else (wall_start + wall_end) / 2
            out[cid] = [Keyframe((start + end) / 2, wall, bytes(thumb))]
        return out

    def load(self, ids: list[int], tokens: bool = True, keyframes: bool = True) -> Loaded:
        """Clips by id with their tokens and keyframes (each only where asked: a local video LLM reads tokens, an
        answer server keyframes); a clip whose token file cannot be read is returned apart, not raised."""
        out = Loaded([], [])
        clips = self.get(ids)
        frames = self.keyframes([c.id for c in clips]) if keyframes else {}
        for clip in clips:
            clip.keyframes = frames.get(clip.id, [])
            try:
                if tokens:
                    clip.tokens, clip.positions = self.tokens(clip.id, clip.n_tokens)
                out.clips.append(clip)
            except StoreError:
                out.unreadable.append(clip)
        return out

    def clips(self, stream: str | None = None) -> list[ClipMemory]:
        """All clips (without tokens) in time order."""
        with self._lock:
            rows = self.db.execute(f"SELECT {self._cols} FROM clips WHERE ?1 IS NULL OR stream = ?1 ORDER BY start, id",
                                   (stream,)).fetchall()
        return [self._row(r) for r in rows]

    def missing(self, stream: str | None = None) -> list[int]:
        """Ids of clips marked missing (their token file was lost)."""
        if "missing" not in self._columns("clips"):
            return []
        with self._lock:
            return [r[0] for r in self.db.execute("SELECT id FROM clips WHERE missing = 1 AND (?1 IS NULL OR stream"
                                                  " = ?1) ORDER BY id", (stream,))]

    def _where(self, stream: str | None, until: float | None, span: TimeSpan | None) -> tuple[str, list]:
        """The WHERE clause (and its arguments) of clips not marked missing, of `stream`, that ended by `until` and
        overlap `span` (on the stream times, or on the wall times for a wall span: clips without one are not in it).
        It holds only the filters given, so SQLite can walk the (stream, start) index."""
        where, args = [self._present], []
        if stream is not None:
            where.append("stream = ?")
            args.append(stream)
        if until is not None:
            where.append("end <= ?")
            args.append(until)
        if span is not None and span.wall and not self._has_wall:
            where.append("0")                          # an older memory, read as it is, recorded no wall times
        elif span is not None:
            first, last = ("wall_start", "wall_end") if span.wall else ("start", "end")
            if span.end is not None:
                where.append(f"{first} <= ?")
                args.append(span.end)
            if span.start is not None:
                where.append(f"{last} >= ? AND {first} >= ?")
                args += [span.start, span.start - self._longest[span.wall] - TIME_EPSILON]
        return " AND ".join(where), args

    def latest(self, stream: str | None, n: int, until: float | None = None,
               span: TimeSpan | None = None) -> list[int]:
        """Ids of the newest n clips not marked missing (that ended by `until`, that overlap `span`), newest first.
        SQLite walks the (stream, start) index backwards instead of sorting the table (9 ms -> 0.1 ms at 10^4
        clips)."""
        where, args = self._where(stream, until, span)
        with self._lock:
            return [r[0] for r in self.db.execute(f"SELECT id FROM clips WHERE {where} ORDER BY start DESC, id DESC"
                                                  " LIMIT ?", (*args, n))]

    def search(self, query: np.ndarray, k: int, stream: str | None = None, until: float | None = None,
               kind: str = "visual", span: TimeSpan | None = None) -> list[tuple[int, float]]:
        """Up to k (id, score) by inner product with the normalised query, best first, filtered by stream/time and
        to the clips overlapping `span`. kind: "visual" searches clip keys, "caption" the caption keys. StoreError
        in one line when the index's engine is out of reach."""
        try:
            return self._search(query, k, stream, until, kind, span)
        except OSError as e:
            raise StoreError(f"cannot search the clips: {e}; what is stored is intact") from None

    def _search(self, query: np.ndarray, k: int, stream: str | None, until: float | None, kind: str,
                span: TimeSpan | None) -> list[tuple[int, float]]:
        with self._lock:
            index = self._index_for(kind)
            if not len(index):
                return []
            if stream is None and until is None and span is None:
                return index.search(query, k)
            # Among the filter's clips only, exactly: a span may hold few of many clips ("at 3 pm" of a month), which
            # searching all and filtering after would miss. A stream filter on a memory of that stream alone (one
            # camera's memory asked about all of it, the common case) is no filter: the plain search, no id list.
            # Two seeks of the (stream, start) index tell, at any size.
            if until is None and span is None and not self.db.execute(
                    "SELECT EXISTS(SELECT 1 FROM clips WHERE stream < ?1) OR EXISTS(SELECT 1 FROM clips WHERE stream"
                    " > ?1)", (stream,)).fetchone()[0]:
                return index.search(query, k)
            where, args = self._where(stream, until, span)
            where += f" AND {INDEXES[kind][1]} IS NOT NULL"
            within = np.array([r[0] for r in self.db.execute(f"SELECT id FROM clips WHERE {where}", args)],
                              dtype=np.int64)
            if len(within) > self.config.exact_below:
                return index.search(query, k, within=within)
            if not len(within):
                return []
            scores = self._keys(INDEXES[kind][1], within.tolist()) @ np.asarray(query, dtype=np.float32)
            best = np.argsort(-scores, kind="stable")[:k]
            return [(int(within[i]), float(scores[i])) for i in best]

    def found(self, query: np.ndarray, k: int, stream: str | None, until: float | None, span: TimeSpan | None,
              latest: int, scores: bool = False) -> Found:
        """A question's candidates from this stream (Found): up to k by each key, the `latest` newest, their sizes,
        and with `scores` their clip keys' similarity to `query`."""
        visual = self.search(query, k, stream, until, "visual", span)
        caption = self.search(query, k, stream, until, "caption", span)
        newest = self.latest(stream, latest, until, span)
        ids = list(dict.fromkeys([i for i, _ in visual] + [i for i, _ in caption] + newest))
        meta = self.meta(ids)
        return Found(visual, caption, newest, meta, self.key_scores(list(meta), query) if scores else {})

    def found_across(self, query: np.ndarray, k: int, asks: list[tuple[str | None, TimeSpan | None]], latest: int,
                     scores: bool = False, until: float | None = None) -> list[Found]:
        """`found` for each (stream, span) of `asks`, in order."""
        return [self.found(query, k, stream, until, span, latest, scores) for stream, span in asks]

    def captions(self, stream: str, span: TimeSpan | None = None) -> list[Caption]:
        """The times and captions of a stream's clips overlapping `span` (all: None), oldest first: rows only, no
        tokens, keys or images, so a day of clips reads in milliseconds."""
        where, args = self._where(stream, None, span)
        walls = "wall_start, wall_end" if self._has_wall else "NULL, NULL"
        with self._lock:
            rows = self.db.execute(f"SELECT id, start, end, {walls}, caption FROM clips WHERE {where} ORDER BY start,"
                                   " id", args).fetchall()
        return [Caption(*r) for r in rows]

    def key_scores(self, ids: list[int], query: np.ndarray) -> dict[int, float]:
        """{id: inner product of its clip key with `query` [key_dim]} for the clips of `ids` that have a key: what a
        camera's candidates are ranked by across cameras, read without the rest of each row."""
        if not ids:
            return {}
        q = ",".join("?" * len(ids))
        with self._lock:
            rows = self.db.execute(f"SELECT id, key FROM clips WHERE id IN ({q}) AND key IS NOT NULL",
                                   list(ids)).fetchall()
        if not rows:
            return {}
        keys = np.stack([np.frombuffer(k, dtype=np.float32) for _, k in rows])       # [n, key_dim]
        return dict(zip((r[0] for r in rows), (keys @ np.asarray(query, dtype=np.float32)).tolist()))

    @property
    def identity(self) -> StoreIdentity:
        """The models the memory was built with (what a copy of it must be opened with)."""
        meta = self._meta()
        dim = meta.get("token_dim")
        return StoreIdentity(embedder=meta["embedder"], key_dim=self.key_dim, llm=meta.get("llm"),
                             token_dim=int(dim) if dim else None)

    def caption_keys(self, ids: list[int]) -> dict[int, np.ndarray]:
        """{id: its caption's text embedding [key_dim]} for the clips of `ids` that have one."""
        if not ids or "caption_key" not in self._columns("clips"):
            return {}
        q = ",".join("?" * len(ids))
        with self._lock:
            rows = self.db.execute(f"SELECT id, caption_key FROM clips WHERE id IN ({q}) AND caption_key IS NOT NULL",
                                   list(ids)).fetchall()
        return {i: np.frombuffer(k, dtype=np.float32).copy() for i, k in rows}

    def videos(self, stream: str) -> list[str]:
        """The alert ids of a stream's stored alert videos, oldest first."""
        if not self._has_evidence:
            return []
        with self._lock:
            return [r[0] for r in self.db.execute("SELECT alert FROM evidence WHERE stream = ? ORDER BY start, alert",
                                                  (stream,))]

    def meta(self, ids: list[int]) -> dict[int, tuple[float, int]]:
        """{id: (start, n_tokens)} for selection."""
        if not ids:
            return {}
        q = ",".join("?" * len(ids))
        with self._lock:
            return {r[0]: (r[1], r[2]) for r in self.db.execute(
                f"SELECT id, start, n_tokens FROM clips WHERE id IN ({q})", list(ids))}

    def alerts(self, stream: str | None = None) -> list[dict]:
        """The alerts of the folder's alert log (alerts.jsonl, written by the camera's log sink), oldest first, each
        as last sent; `stream`: only that camera's."""
        return [a for a in read_alert_log(self.folder)
                if stream is None or a.get("camera", a.get("stream")) == stream]

    def log_alert(self, stream: str, alert: dict) -> None:
        """Append an alert to the folder's alert log (what the camera's log sink writes; a copy of a memory too)."""
        self._check_writer()
        append_alert(self.folder, alert)

    def steps(self, stream: str) -> list[StepRecord]:
        """The stream's per-step series, in order."""
        with self._lock:
            tau = "tau" if "tau" in self._columns("steps") else "NULL"
            rows = self.db.execute(f"SELECT idx, time, end, total, kept, encoded, skipped, {tau} FROM steps WHERE"
                                   " stream = ? ORDER BY idx", (stream,)).fetchall()
        return [StepRecord(i, t, e, total, kept, bool(enc), sk, ta) for i, t, e, total, kept, enc, sk, ta in rows]

    def events(self, stream: str) -> list[tuple[str, float, dict]]:
        """The stream's events: (kind, time, detail), in order."""
        with self._lock:
            rows = self.db.execute("SELECT kind, time, detail FROM events WHERE stream = ? ORDER BY time, id",
                                   (stream,)).fetchall()
        return [(k, t, json.loads(d)) for k, t, d in rows]

    def extent(self, stream: str) -> StreamExtent:
        """Where the stream's stored record ends: its next step index and latest stored time."""
        with self._lock:
            n, step_end = self.db.execute("SELECT COALESCE(MAX(idx) + 1, 0), MAX(end) FROM steps WHERE stream = ?",
                                          (stream,)).fetchone()
            clip_end = self.db.execute("SELECT MAX(end) FROM clips WHERE stream = ?", (stream,)).fetchone()[0]
            event = self.db.execute("SELECT MAX(time) FROM events WHERE stream = ?", (stream,)).fetchone()[0]
        ends = [t for t in (step_end, clip_end, event) if t is not None]
        return StreamExtent(next_step=n, end=max(ends) if ends else None)

    def progress(self, stream: str) -> tuple[str, bytes] | None:
        """The stream's last resume point (JSON text, tensor bytes), or None."""
        with self._lock:
            row = self.db.execute("SELECT state, tensors FROM progress WHERE stream = ?", (stream,)).fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def streams(self) -> dict[str, int]:
        """Each stream's clip count."""
        with self._lock:
            return dict(self.db.execute("SELECT stream, COUNT(*) FROM clips GROUP BY stream ORDER BY stream"))

    def count(self, stream: str | None = None) -> int:
        with self._lock:
            return self.db.execute("SELECT COUNT(*) FROM clips WHERE ?1 IS NULL OR stream = ?1", (stream,)).fetchone()[0]

    def bytes(self, stream: str | None = None) -> int:
        with self._lock:
            return self.db.execute("SELECT COALESCE(SUM(bytes), 0) FROM clips WHERE ?1 IS NULL OR stream = ?1",
                                   (stream,)).fetchone()[0]
