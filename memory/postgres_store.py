"""The shared store: a memory in PostgreSQL, for many ingestion workers on many hosts and any number of readers.

Every camera's clips, steps, events, resume points, keyframes, alert videos and alerts are rows of one database
(`postgresql://...`), its clips' keys in pgvector columns with HNSW graphs, and its tokens in a table of their own
(`vigil_tokens`, bytea). Tokens live in the database rather than in a bucket: a clip's row, key, keyframes and tokens
then commit in one transaction, all or nothing, with nothing to sweep after a crash and one service to back up. The
price is the bytes through PostgreSQL's log: a camera-hour of 8-s clips at the full clip budget is some 200 MB at
token width 768 (light mode) and 1.9 GB at 8192 (Qwen3-VL-2B's full mode), bench item 17.

What the folder store guarantees, this keeps:
- a clip's row, key, tokens and keyframes, and the stream's log leading up to it, commit together or not at all;
- ids come from the database (an identity column) and are never reused;
- nothing is deleted that this store did not write (retention deletes a stream's own oldest clips);
- a write retried after its commit's answer was lost (the server died in between) is recognised, not stored twice:
  a clip is one per (stream, start), a step one per (stream, index).
A camera is written by one worker at a time: a writer takes the camera's lease (a row in `vigil_leases`, timed by
the server's clock, so hosts' clocks do not matter), renews it while it lives, and every write checks it in its own
transaction. A second worker is refused in one line; a dead worker's lease runs out and another may take the camera
and continue its stream after what is stored.

A database out of reach (down, restarted, the network gone) is a StorageFault on a write (a live stream holds what
it could not store and tries again) and a one-line StoreError on a read; the connection is made again on the next
use.
"""
import hashlib
import json
import os
import secrets
import socket
import threading
from contextlib import contextmanager

import numpy as np
import psycopg
import torch
from pgvector.psycopg import register_vector

from memory.clip import TIME_EPSILON, Caption, ClipMemory, Evidence, Keyframe
from memory.config import StoreConfig
from memory.folder import StorageFault, StoreError
from memory.index.pgvector_index import safe_url
from memory.store import Found, Loaded, StepRecord, StoreIdentity, StreamExtent, StreamLog, over_bytes
from memory.when import TimeSpan

SCHEMA_VERSION = 1
_CREATE_LOCK = 0x76696769          # pg_advisory_lock key while the tables are made ("vigi")
_KINDS = {"visual": "key", "caption": "caption_key"}

DDL = """
CREATE TABLE vigil_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE vigil_clips (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream text NOT NULL, start float8 NOT NULL,
    "end" float8 NOT NULL, n_tokens int NOT NULL, bytes bigint NOT NULL, grid text NOT NULL,
    seconds_per_step float8 NOT NULL, kept int NOT NULL, total int NOT NULL, caption text, key vector({dim}) NOT NULL,
    thumbnail bytea NOT NULL, caption_key vector({dim}), missing boolean NOT NULL DEFAULT false, tau float8,
    wall_start float8, wall_end float8, checksum text NOT NULL, worker text NOT NULL, UNIQUE (stream, start));
CREATE INDEX vigil_clips_stream_wall ON vigil_clips (stream, wall_start);
CREATE INDEX vigil_clips_key ON vigil_clips USING hnsw (key vector_ip_ops) WITH (m = {m}, ef_construction = {efc});
CREATE INDEX vigil_clips_caption_key ON vigil_clips USING hnsw (caption_key vector_ip_ops)
    WITH (m = {m}, ef_construction = {efc});
CREATE TABLE vigil_tokens (clip bigint PRIMARY KEY REFERENCES vigil_clips ON DELETE CASCADE, data bytea NOT NULL);
CREATE TABLE vigil_keyframes (clip bigint NOT NULL REFERENCES vigil_clips ON DELETE CASCADE, idx int NOT NULL,
    time float8 NOT NULL, wall float8, jpeg bytea NOT NULL, PRIMARY KEY (clip, idx));
CREATE TABLE vigil_steps (stream text NOT NULL, idx int NOT NULL, time float8 NOT NULL, "end" float8 NOT NULL,
    total int NOT NULL, kept int NOT NULL, encoded boolean NOT NULL, skipped int NOT NULL, tau float8,
    PRIMARY KEY (stream, idx));
CREATE TABLE vigil_events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream text NOT NULL,
    kind text NOT NULL, time float8 NOT NULL, detail text NOT NULL);
CREATE INDEX vigil_events_stream ON vigil_events (stream, time);
CREATE TABLE vigil_progress (stream text PRIMARY KEY, state text NOT NULL, tensors bytea NOT NULL);
CREATE TABLE vigil_evidence (alert text PRIMARY KEY, stream text NOT NULL, start float8 NOT NULL,
    "end" float8 NOT NULL, wall_start float8, frames int NOT NULL, bytes bigint NOT NULL, mp4 bytea NOT NULL);
CREATE INDEX vigil_evidence_stream ON vigil_evidence (stream, start);
CREATE TABLE vigil_alerts (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, stream text NOT NULL,
    alert text NOT NULL, body text NOT NULL);
CREATE INDEX vigil_alerts_stream ON vigil_alerts (stream, seq);
CREATE TABLE vigil_leases (stream text PRIMARY KEY, worker text NOT NULL, expires timestamptz NOT NULL);
ALTER TABLE vigil_tokens ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE vigil_keyframes ALTER COLUMN jpeg SET STORAGE EXTERNAL;
ALTER TABLE vigil_evidence ALTER COLUMN mp4 SET STORAGE EXTERNAL;
"""
# STORAGE EXTERNAL: float16 tokens, JPEGs and H.264 do not compress, and PostgreSQL would try (pglz) on every write.

_CLIP_COLS = ('id, stream, start, "end", n_tokens, grid, seconds_per_step, kept, total, caption, key, thumbnail, tau, '
              'wall_start, wall_end')


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


class LeaseLost(StoreError):
    """A camera's lease is another worker's: this one must not write the camera."""


class PostgresStore:
    """A memory in PostgreSQL (module docstring). The same verbs as the folder's ClipStore (memory.stores.Store)."""
    shared = True

    def __init__(self, url: str, identity: StoreIdentity | None, config: StoreConfig | None = None,
                 readonly: bool = False):
        self.url, self.folder = url, safe_url(url)      # `folder`: what messages name the memory by
        self.where = url                                 # its location: stores of one location are one memory
        self.config = config or StoreConfig()
        self.readonly = readonly
        self._lock = threading.RLock()       # one connection, shared by a session's loop and its questions
        self._db: psycopg.Connection | None = None
        # This process's name in the leases: host, pid and a random part (a pid is reused after a restart).
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._leases: set[str] = set()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        try:
            with self._server("open it", fault=StoreError):
                self._open_schema(identity)
        except BaseException:
            self._close_db()
            raise
        self._longest = self._longest_clips()

    @staticmethod
    def reach(url: str) -> None:
        """Raise, in one line, what connecting to the store's server would raise (before models load: minutes with
        real weights); changes nothing."""
        try:
            psycopg.connect(url, connect_timeout=10).close()
        except psycopg.Error as e:
            raise StoreError(f"shared store at {safe_url(url)}: could not open it: {_first_line(e)}") from None

    # ---- the connection ---------------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection:
        db = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        try:
            if self.readonly:
                db.execute("SET default_transaction_read_only = on")
            if db.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
                if self.readonly:
                    return db                # no pgvector, so no store here: opening says so in one line
                try:
                    db.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except psycopg.errors.UniqueViolation:
                    pass                     # another worker made it at the same moment (IF NOT EXISTS races)
            register_vector(db)
        except BaseException:
            db.close()
            raise
        return db

    @contextmanager
    def _server(self, what: str, fault: type[StoreError] = StorageFault):
        """The connection (made again after the server restarted or the network dropped it), under the lock. A
        server out of reach becomes `fault` (a write's StorageFault: tried again later; a read's StoreError), any
        other database error a StoreError; each one line."""
        with self._lock:
            try:
                if self._db is None or self._db.closed or self._db.broken:
                    self._close_db()
                    self._db = self._connect()
                yield self._db
            except (psycopg.OperationalError, psycopg.InterfaceError) as e:
                self._close_db()
                raise fault(f"shared store at {self.folder}: could not {what}: {_first_line(e)}; what was stored "
                            f"before is intact") from None
            except psycopg.Error as e:
                raise StoreError(f"shared store at {self.folder}: could not {what}: {_first_line(e)}") from None

    def _read(self, what: str):
        return self._server(what, fault=StoreError)

    def _close_db(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except psycopg.Error:
                pass
            self._db = None

    # ---- opening ------------------------------------------------------------------------------------------
    def _open_schema(self, identity: StoreIdentity | None) -> None:
        """Make the tables (the first writer, under an advisory lock so two workers starting at once make them
        once), then refuse a store of other models before anything is written."""
        with self._lock:
            db = self._db
            if db.execute("SELECT to_regclass('vigil_meta')").fetchone()[0] is None:
                if self.readonly or identity is None:
                    raise StoreError(f"no memory in the shared store at {self.folder}; run ingest, watch or serve "
                                     f"into it first")
                # The lock first, in a statement of its own: the check after it then runs in a new transaction,
                # which sees the tables another worker made meanwhile (a transaction's catalog view is its own).
                db.execute("SELECT pg_advisory_lock(%s)", (_CREATE_LOCK,))
                try:
                    if db.execute("SELECT to_regclass('vigil_meta')").fetchone()[0] is None:
                        with db.transaction():
                            c = self.config
                            for statement in DDL.format(dim=identity.key_dim, m=c.hnsw_m,
                                                        efc=c.hnsw_ef_construction).split(";"):
                                if statement.strip():
                                    db.execute(statement)
                            meta = identity.meta() | {"schema": str(SCHEMA_VERSION),
                                                      "memory_id": secrets.token_hex(16)}
                            db.cursor().executemany("INSERT INTO vigil_meta VALUES (%s, %s)", list(meta.items()))
                finally:
                    db.execute("SELECT pg_advisory_unlock(%s)", (_CREATE_LOCK,))
            have = dict(db.execute("SELECT key, value FROM vigil_meta").fetchall())
        for k, want in (identity.meta() if identity is not None else {}).items():
            if have.get(k) != want:
                raise StoreError(f"the shared store at {self.folder} was built with {k} {have.get(k)!r}, this run "
                                 f"uses {want!r}; use the same model and embedder, or another store")
        if int(have.get("schema", "0")) > SCHEMA_VERSION:
            raise StoreError(f"the shared store at {self.folder} has schema {have['schema']}, this Vigil reads up to "
                             f"{SCHEMA_VERSION}; upgrade Vigil to open it")
        self.key_dim, self.memory_id, self.schema = int(have["key_dim"]), have.get("memory_id"), int(have["schema"])
        self.models = {k: have[k] for k in ("embedder", "llm") if k in have}
        self._token_dim = have.get("token_dim")

    def _longest_clips(self) -> dict[bool, float]:
        """The longest clip on each clock (stream, wall): a span's clips start no earlier than its start less this,
        so a span's query walks the (stream, start) index from there, not from the stream's first clip."""
        with self._read("read the clips") as db:
            row = db.execute("SELECT MAX(\"end\" - start), MAX(wall_end - wall_start) FROM vigil_clips").fetchone()
        return {False: row[0] or 0.0, True: row[1] or 0.0}

    # ---- leases -------------------------------------------------------------------------------------------
    def claim(self, stream: str) -> None:
        """Take the camera's lease for this writer (renewed while the store is open); LeaseLost in one line while
        another worker holds it."""
        self._check_writer()
        with self._server("take the camera's lease", fault=StoreError) as db:
            self._take(db, stream)
        self._leases.add(stream)
        if self._renewer is None:
            self._renewer = threading.Thread(target=self._renew, name="vigil-store-lease", daemon=True)
            self._renewer.start()

    def _take(self, db, stream: str) -> None:
        """Inside the caller's use of the connection: the lease is this worker's now, or LeaseLost."""
        ttl = self.config.lease_seconds
        row = db.execute(
            "INSERT INTO vigil_leases VALUES (%s, %s, now() + make_interval(secs => %s)) ON CONFLICT (stream) DO "
            "UPDATE SET worker = EXCLUDED.worker, expires = EXCLUDED.expires WHERE vigil_leases.worker = "
            "EXCLUDED.worker OR vigil_leases.expires < now() RETURNING worker", (stream, self.worker, ttl)).fetchone()
        if row is None:
            other, left = db.execute("SELECT worker, EXTRACT(EPOCH FROM expires - now()) FROM vigil_leases WHERE "
                                     "stream = %s", (stream,)).fetchone()
            raise LeaseLost(f"camera {stream!r} in the shared store at {self.folder} is being written by worker "
                            f"{other} (its lease runs {float(left):.0f} s more, renewed while it lives); stop that "
                            f"one, or give this camera another name")

    def _renew(self) -> None:
        """Renew this worker's leases every third of their length until the store closes. A server out of reach
        is no error here: the next write takes the lease again, or is refused if another worker took it meanwhile."""
        while not self._stop.wait(self.config.lease_seconds / 3):
            try:
                with self._server("renew the leases") as db:
                    db.execute("UPDATE vigil_leases SET expires = now() + make_interval(secs => %s) WHERE worker = %s",
                               (self.config.lease_seconds, self.worker))
            except StoreError:
                pass

    def _fence(self, db, stream: str) -> None:
        """Inside a write's transaction: the camera's lease is still this worker's (taken again if it ran out and
        nobody took it: the server was away a while), else LeaseLost and the transaction rolls back."""
        if db.execute("UPDATE vigil_leases SET expires = now() + make_interval(secs => %s) WHERE stream = %s AND "
                      "worker = %s RETURNING 1", (self.config.lease_seconds, stream, self.worker)).fetchone():
            return                           # the row stays locked to the transaction's end: the lease is held
        self._take(db, stream)
        self._leases.add(stream)

    # ---- writing ------------------------------------------------------------------------------------------
    def _check_writer(self) -> None:
        if self.readonly:
            raise StoreError(f"the shared store at {self.folder} is open read-only")

    @contextmanager
    def _transaction(self, what: str, stream: str):
        """One write transaction of `stream` under its lease; yields the connection."""
        self._check_writer()
        with self._server(what) as db, db.transaction():
            self._fence(db, stream)
            yield db

    def _write_log(self, db, stream: str, log: StreamLog | None) -> None:
        if log is None:
            return
        with db.cursor() as cur:
            cur.executemany('INSERT INTO vigil_steps (stream, idx, time, "end", total, kept, encoded, skipped, tau) '
                            'VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)',
                            [(stream, s.index, s.time, s.end, s.total, s.kept, bool(s.encoded), s.frames_skipped,
                              s.tau) for s in log.steps])
            cur.executemany("INSERT INTO vigil_events (stream, kind, time, detail) VALUES (%s, %s, %s, %s)",
                            [(stream, e.kind, e.time, json.dumps(e.detail)) for e in log.events])
        if log.progress is not None:
            db.execute("INSERT INTO vigil_progress VALUES (%s, %s, %s) ON CONFLICT (stream) DO UPDATE SET state = "
                       "EXCLUDED.state, tensors = EXCLUDED.tensors", (stream, log.progress[0], log.progress[1]))

    @staticmethod
    def _stored_already(db, stream: str, log: StreamLog | None) -> bool:
        """Whether this log's first step is stored: its write committed before (the answer was lost), so a retry
        must not store it again."""
        return bool(log and log.steps) and db.execute(
            "SELECT 1 FROM vigil_steps WHERE stream = %s AND idx = %s", (stream, log.steps[0].index)).fetchone() \
            is not None

    def record(self, stream: str, log: StreamLog) -> None:
        """Store a stream's log with no clip (the end of a stream whose last clip is already stored)."""
        with self._transaction("write the stream's log", stream) as db:
            if not self._stored_already(db, stream, log):
                self._write_log(db, stream, log)

    def add(self, clip: ClipMemory, log: StreamLog | None = None) -> int:
        """Store a clip (its `key` set), its tokens, keyframes and the stream's log up to it in one transaction;
        returns its id (the id it already had, for a retry of a write that committed). Then retention."""
        from safetensors.torch import save
        if clip.key is None or clip.key.shape != (self.key_dim,):
            raise StoreError(f"clip key must be a vector of {self.key_dim} floats")
        key = np.ascontiguousarray(clip.key, dtype=np.float32)
        data = save({"tokens": clip.tokens.to(torch.float16).contiguous(),
                     "positions": clip.positions.to(torch.int16).contiguous()})
        with self._transaction("store a clip", clip.stream) as db:
            row = db.execute(
                'INSERT INTO vigil_clips (stream, start, "end", n_tokens, bytes, grid, seconds_per_step, kept, total, '
                'caption, key, thumbnail, tau, wall_start, wall_end, checksum, worker) VALUES (%s, %s, %s, %s, %s, '
                '%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (stream, start) DO NOTHING RETURNING id',
                (clip.stream, clip.start, clip.end, clip.n_tokens, len(data) + sum(len(k.jpeg) for k in clip.keyframes),
                 json.dumps(list(clip.grid)), clip.seconds_per_step, clip.kept, clip.total, clip.caption, key,
                 clip.thumbnail, clip.tau, clip.wall_start, clip.wall_end, hashlib.sha256(data).hexdigest(),
                 self.worker)).fetchone()
            if row is None:                  # this clip committed before: its answer was lost, not its rows
                cid = db.execute("SELECT id FROM vigil_clips WHERE stream = %s AND start = %s",
                                 (clip.stream, clip.start)).fetchone()[0]
            else:
                cid = row[0]
                db.execute("INSERT INTO vigil_tokens VALUES (%s, %b)", (cid, data))     # %b: bytes as binary
                with db.cursor() as cur:
                    cur.executemany("INSERT INTO vigil_keyframes VALUES (%s, %s, %s, %s, %s)",
                                    [(cid, i, k.time, k.wall, k.jpeg) for i, k in enumerate(clip.keyframes)])
                self._write_log(db, clip.stream, log)
        clip.id = cid
        self._longest[False] = max(self._longest[False], clip.end - clip.start)
        if clip.wall_start is not None and clip.wall_end is not None:
            self._longest[True] = max(self._longest[True], clip.wall_end - clip.wall_start)
        self._retain(clip.stream)
        return cid

    def _retain(self, stream: str) -> None:
        """Drop the stream's oldest clips beyond max_clips / max_bytes (an alert's video counts with the clip of its
        time, as in the folder store)."""
        c = self.config
        if c.max_clips is None and c.max_bytes is None:
            return
        with self._server("apply retention") as db:
            doomed: list[int] = []
            if c.max_clips is not None:
                doomed += [r[0] for r in db.execute("SELECT id FROM vigil_clips WHERE stream = %s ORDER BY start DESC,"
                                                    " id DESC OFFSET %s", (stream, c.max_clips))]
            if c.max_bytes is not None:
                videos = db.execute("SELECT start, bytes FROM vigil_evidence WHERE stream = %s ORDER BY start DESC",
                                    (stream,)).fetchall()
                clips = db.execute("SELECT id, start, bytes FROM vigil_clips WHERE stream = %s ORDER BY start DESC, "
                                   "id DESC", (stream,)).fetchall()
                doomed += [cid for cid in over_bytes(clips, videos, c.max_bytes) if cid not in doomed]
        if doomed:
            self.delete(doomed, trim_steps=stream)

    def delete(self, ids: list[int], trim_steps: str | None = None) -> None:
        """Delete clips (their tokens and keyframes go with them); `trim_steps`: also that stream's series and alert
        videos from before its oldest clip left. Only clips of streams this worker holds the lease of."""
        if not ids:
            return
        self._check_writer()
        with self._server("delete clips") as db, db.transaction():
            streams = [r[0] for r in db.execute("SELECT DISTINCT stream FROM vigil_clips WHERE id = ANY(%s)", (ids,))]
            for stream in streams:
                self._fence(db, stream)
            db.execute("DELETE FROM vigil_clips WHERE id = ANY(%s)", (ids,))
            if trim_steps is not None:
                db.execute('DELETE FROM vigil_steps WHERE stream = %(s)s AND "end" < (SELECT MIN(start) FROM '
                           'vigil_clips WHERE stream = %(s)s)', {"s": trim_steps})
                db.execute("DELETE FROM vigil_evidence WHERE stream = %(s)s AND start < (SELECT MIN(start) FROM "
                           "vigil_clips WHERE stream = %(s)s)", {"s": trim_steps})

    def add_evidence(self, video: Evidence) -> None:
        """Store an alert's video (a second for the same alert replaces it), then retention for its stream."""
        with self._transaction("store an alert's video", video.stream) as db:
            db.execute('INSERT INTO vigil_evidence VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (alert) DO '
                       'UPDATE SET start = EXCLUDED.start, "end" = EXCLUDED."end", wall_start = EXCLUDED.wall_start, '
                       'frames = EXCLUDED.frames, bytes = EXCLUDED.bytes, mp4 = EXCLUDED.mp4',
                       (video.alert, video.stream, video.start, video.end, video.wall_start, video.frames,
                        len(video.mp4), video.mp4))
        self._retain(video.stream)

    def log_alert(self, stream: str, alert: dict) -> None:
        """Append an alert (or an update of one: the same id) to the store's alert log. OSError while the server
        is out of reach, so the camera's log holds it and writes it later, as a full disk's would."""
        try:
            with self._transaction("log an alert", stream) as db:
                db.execute("INSERT INTO vigil_alerts (stream, alert, body) VALUES (%s, %s, %s)",
                           (stream, alert["id"], json.dumps(alert)))
        except StorageFault as e:
            raise OSError(str(e)) from None

    def mark_missing(self, ids: list[int], missing: bool = True) -> None:
        self._check_writer()
        with self._server("mark clips missing") as db:
            db.execute("UPDATE vigil_clips SET missing = %s WHERE id = ANY(%s)", (missing, ids))

    def set_caption(self, cid: int, caption: str, key: np.ndarray | None = None) -> None:
        """A clip's caption and its text embedding [key_dim] (for retrieval by caption)."""
        self._check_writer()
        vec = None if key is None else np.ascontiguousarray(key, dtype=np.float32)
        with self._server("store a caption") as db:
            db.execute("UPDATE vigil_clips SET caption = %s, caption_key = %s WHERE id = %s", (caption, vec, cid))

    def orphan_keyframes(self) -> list[int]:
        return []                          # a foreign key deletes a clip's keyframes with it

    def save_index(self) -> None:
        """Nothing to write: the keys' graphs are the database's, kept by each commit."""

    def close(self) -> None:
        """Give back this worker's leases (another worker may take its cameras at once) and disconnect. Never
        raises: what is stored is already committed."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        if self._leases and not self.readonly:
            try:
                with self._server("give back the leases") as db:
                    db.execute("DELETE FROM vigil_leases WHERE worker = %s", (self.worker,))
            except StoreError:
                pass                         # they run out on their own
        with self._lock:
            self._close_db()

    # ---- reading ------------------------------------------------------------------------------------------
    @staticmethod
    def _clip(r) -> ClipMemory:
        cid, stream, start, end, n, grid, sps, kept, total, caption, key, thumb, tau, wall_start, wall_end = r
        return ClipMemory(stream=stream, start=start, end=end, tokens=torch.zeros(n, 0, dtype=torch.float16),
                          positions=torch.zeros(n, 3, dtype=torch.int16), grid=tuple(json.loads(grid)),
                          seconds_per_step=sps, thumbnail=bytes(thumb), key=np.asarray(key.to_numpy(), dtype=np.float32),
                          caption=caption, kept=kept, total=total, tau=tau, wall_start=wall_start,
                          wall_end=wall_end, id=cid)

    def next_id(self) -> int:
        """A lower bound on the next clip's id (the database hands it out, never reusing one)."""
        with self._read("read the clips") as db:
            return db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM vigil_clips").fetchone()[0]

    def tokens(self, cid: int, n_tokens: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A clip's (tokens [n, D] float16, positions [n, 3] int16); StoreError when they are gone, changed since
        they were written (the checksum), or not of the row's size."""
        return self._unpack(cid, self._blobs([cid]).get(cid), n_tokens)

    def _blobs(self, ids: list[int]) -> dict[int, tuple[bytes, str]]:
        """{id: (its token bytes, their recorded SHA-256)} of the clips of `ids` that have tokens: one round trip."""
        with self._read("read the clips' tokens") as db:
            return {cid: (bytes(data), want) for cid, data, want in db.execute(
                "SELECT t.clip, t.data, c.checksum FROM vigil_tokens t JOIN vigil_clips c ON c.id = t.clip WHERE "
                "t.clip = ANY(%s)", (list(ids),))}

    def _unpack(self, cid: int, blob: tuple[bytes, str] | None, n_tokens: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        from safetensors.torch import load
        if blob is None:
            raise StoreError(f"tokens of clip {cid} are not in the shared store at {self.folder}")
        raw, want = blob
        if hashlib.sha256(raw).hexdigest() != want:
            raise StoreError(f"tokens of clip {cid} in the shared store at {self.folder} fail their checksum")
        data = load(raw)
        tokens, positions = data["tokens"], data["positions"]
        if positions.shape != (tokens.shape[0], 3) or (n_tokens is not None and tokens.shape[0] != n_tokens):
            raise StoreError(f"tokens of clip {cid} in the shared store at {self.folder} do not match its row")
        return tokens, positions

    def get(self, ids: list[int]) -> list[ClipMemory]:
        """Clips by id, in the order given, without their tokens or keyframes."""
        if not ids:
            return []
        with self._read("read the clips") as db:
            rows = {r[0]: r for r in db.execute(f"SELECT {_CLIP_COLS} FROM vigil_clips WHERE id = ANY(%s)",
                                                (list(ids),))}
        return [self._clip(rows[i]) for i in ids if i in rows]

    def keyframes(self, ids: list[int]) -> dict[int, list[Keyframe]]:
        """{id: keyframes in time order}; a clip stored without keyframes gets one made from its thumbnail."""
        if not ids:
            return {}
        out: dict[int, list[Keyframe]] = {}
        with self._read("read keyframes") as db:
            for cid, t, wall, data in db.execute("SELECT clip, time, wall, jpeg FROM vigil_keyframes WHERE clip = "
                                                 "ANY(%s) ORDER BY clip, idx", (list(ids),)):
                out.setdefault(cid, []).append(Keyframe(t, wall, bytes(data)))
            rest = [i for i in ids if i not in out]
            rows = db.execute('SELECT id, start, "end", wall_start, wall_end, thumbnail FROM vigil_clips WHERE id = '
                              'ANY(%s)', (rest,)).fetchall() if rest else []
        for cid, start, end, wall_start, wall_end, thumb in rows:
            wall = None if wall_start is None or wall_end is None else (wall_start + wall_end) / 2
            out[cid] = [Keyframe((start + end) / 2, wall, bytes(thumb))]
        return out

    def load(self, ids: list[int], tokens: bool = True, keyframes: bool = True) -> Loaded:
        """Clips by id with their tokens and keyframes (each where asked; the tokens of all in one round trip);
        unreadable tokens apart, not raised."""
        out = Loaded([], [])
        clips = self.get(ids)
        frames = self.keyframes([c.id for c in clips]) if keyframes else {}
        blobs = self._blobs([c.id for c in clips]) if tokens else {}
        for clip in clips:
            clip.keyframes = frames.get(clip.id, [])
            try:
                if tokens:
                    clip.tokens, clip.positions = self._unpack(clip.id, blobs.get(clip.id), clip.n_tokens)
                out.clips.append(clip)
            except StoreError:
                out.unreadable.append(clip)
        return out

    def clips(self, stream: str | None = None) -> list[ClipMemory]:
        with self._read("read the clips") as db:
            rows = db.execute(f"SELECT {_CLIP_COLS} FROM vigil_clips WHERE %(s)s::text IS NULL OR stream = %(s)s "
                              f"ORDER BY start, id", {"s": stream}).fetchall()
        return [self._clip(r) for r in rows]

    def missing(self, stream: str | None = None) -> list[int]:
        with self._read("read the clips") as db:
            return [r[0] for r in db.execute("SELECT id FROM vigil_clips WHERE missing AND (%(s)s::text IS NULL OR "
                                             "stream = %(s)s) ORDER BY id", {"s": stream})]

    def _where(self, stream: str | None, until: float | None, span: TimeSpan | None,
               tag: str = "") -> tuple[str, dict]:
        """The WHERE clause of clips not marked missing, of `stream`, ended by `until`, overlapping `span` (stream
        or wall times), with only the filters given, so the planner walks the (stream, start) index. `tag` ends
        its parameters' names (several clauses in one statement)."""
        where, args = ["NOT missing"], {}
        if stream is not None:
            where.append(f"stream = %(stream{tag})s")
            args[f"stream{tag}"] = stream
        if until is not None:
            where.append(f'"end" <= %(until{tag})s')
            args[f"until{tag}"] = until
        if span is not None:
            first, last = ("wall_start", "wall_end") if span.wall else ("start", '"end"')
            if span.end is not None:
                where.append(f"{first} <= %(span_end{tag})s")
                args[f"span_end{tag}"] = span.end
            if span.start is not None:
                where.append(f"{last} >= %(span_start{tag})s AND {first} >= %(span_floor{tag})s")
                args |= {f"span_start{tag}": span.start,
                         f"span_floor{tag}": span.start - self._longest[span.wall] - TIME_EPSILON}
        return " AND ".join(where), args

    def latest(self, stream: str | None, n: int, until: float | None = None,
               span: TimeSpan | None = None) -> list[int]:
        where, args = self._where(stream, until, span)
        with self._read("read the clips") as db:
            return [r[0] for r in db.execute(f"SELECT id FROM vigil_clips WHERE {where} ORDER BY start DESC, id DESC "
                                             f"LIMIT %(n)s", args | {"n": n})]

    def search(self, query: np.ndarray, k: int, stream: str | None = None, until: float | None = None,
               kind: str = "visual", span: TimeSpan | None = None) -> list[tuple[int, float]]:
        """Up to k (id, score) by inner product, best first. Unfiltered: the HNSW graph's walk (approximate,
        hnsw_ef_search candidates). Filtered by camera, time or span: exactly the filter's clips, scored in SQL
        and ordered by the score itself, which no index serves (pgvector's HNSW filters after its walk, and would
        miss a narrow span's few clips)."""
        column = _KINDS[kind]
        q = np.ascontiguousarray(query, dtype=np.float32)
        where, args = self._where(stream, until, span)
        args |= {"q": q, "k": k}
        with self._read("search the clips") as db, db.transaction():
            if stream is None and until is None and span is None:
                db.execute(f"SET LOCAL hnsw.ef_search = {int(max(k, self.config.hnsw_ef_search))}")
                db.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")   # missing clips filtered out
                rows = db.execute(f"SELECT id, score FROM (SELECT id, -({column} <#> %(q)s) AS score FROM "
                                  f"vigil_clips WHERE {where} AND {column} IS NOT NULL ORDER BY {column} <#> %(q)s "
                                  f"LIMIT %(k)s) best ORDER BY score DESC, id", args).fetchall()
            else:
                rows = db.execute(f"SELECT id, -({column} <#> %(q)s) AS score FROM vigil_clips WHERE {where} AND "
                                  f"{column} IS NOT NULL ORDER BY score DESC, id LIMIT %(k)s", args).fetchall()
        return [(int(i), float(s)) for i, s in rows]

    def found(self, query: np.ndarray, k: int, stream: str | None, until: float | None, span: TimeSpan | None,
              latest: int, scores: bool = False) -> Found:
        """As the folder's, in one round trip to the server when filtered (a camera, a span: a question across
        cameras asks each camera so), each key's search exact as in `search`; unfiltered, the graph's walks."""
        if stream is None and until is None and span is None:
            visual, caption = self.search(query, k, None, None, "visual"), self.search(query, k, None, None, "caption")
            newest = self.latest(None, latest)
            ids = list(dict.fromkeys([i for i, _ in visual] + [i for i, _ in caption] + newest))
            meta = self.meta(ids)
            return Found(visual, caption, newest, meta, self.key_scores(list(meta), query) if scores else {})
        return self.found_across(query, k, [(stream, span)], latest, scores, until)[0]

    def found_across(self, query: np.ndarray, k: int, asks: list[tuple[str | None, TimeSpan | None]], latest: int,
                     scores: bool = False, until: float | None = None) -> list[Found]:
        """`found` for several (camera, span) at once, in one statement: a question across the store's cameras
        costs one round trip, not one a camera. Each camera's searches exact, as `found`'s."""
        if not asks:
            return []
        args = {"q": np.ascontiguousarray(query, dtype=np.float32), "k": k, "n": latest}
        ctes, parts = [], []
        for i, (stream, span) in enumerate(asks):
            where, more = self._where(stream, until, span, tag=f"_{i}")
            args |= more
            ctes += [f"v{i} AS (SELECT id, -(key <#> %(q)s) AS score FROM vigil_clips WHERE {where} ORDER BY score "
                     f"DESC, id LIMIT %(k)s)",
                     f"c{i} AS (SELECT id, -(caption_key <#> %(q)s) AS score FROM vigil_clips WHERE {where} AND "
                     f"caption_key IS NOT NULL ORDER BY score DESC, id LIMIT %(k)s)",
                     f"n{i} AS (SELECT id, row_number() OVER (ORDER BY start DESC, id DESC) AS rank FROM vigil_clips "
                     f"WHERE {where} ORDER BY start DESC, id DESC LIMIT %(n)s)"]
            parts += [f"SELECT {i} AS ask, 0 AS kind, id, score, 0::bigint AS rank FROM v{i}",
                      f"SELECT {i}, 1, id, score, 0 FROM c{i}", f"SELECT {i}, 2, id, NULL, rank FROM n{i}"]
        with self._read("find the clips") as db:
            rows = db.execute(f"WITH {', '.join(ctes)}, w AS ({' UNION ALL '.join(parts)}) SELECT w.ask, w.kind, "
                              f"w.id, w.score, x.start, x.n_tokens, -(x.key <#> %(q)s) FROM w JOIN vigil_clips x ON "
                              f"x.id = w.id ORDER BY w.ask, w.kind, w.score DESC NULLS LAST, w.rank, w.id",
                              args).fetchall()
        out = [Found([], [], [], {}, {}) for _ in asks]
        for ask, kind, cid, s, start, n, key_score in rows:
            f = out[ask]
            (f.visual, f.caption, f.latest)[kind].append((cid, float(s)) if kind < 2 else cid)
            f.meta[cid] = (start, n)
            if scores:
                f.scores[cid] = float(key_score)
        return out

    def captions(self, stream: str, span: TimeSpan | None = None) -> list[Caption]:
        where, args = self._where(stream, None, span)
        with self._read("read the captions") as db:
            rows = db.execute(f'SELECT id, start, "end", wall_start, wall_end, caption FROM vigil_clips WHERE {where} '
                              f'ORDER BY start, id', args).fetchall()
        return [Caption(*r) for r in rows]

    def key_scores(self, ids: list[int], query: np.ndarray) -> dict[int, float]:
        """{id: inner product of its clip key with `query`}, computed by the server."""
        if not ids:
            return {}
        with self._read("score the clips") as db:
            rows = db.execute("SELECT id, -(key <#> %s) FROM vigil_clips WHERE id = ANY(%s)",
                              (np.ascontiguousarray(query, dtype=np.float32), list(ids))).fetchall()
        return {int(i): float(s) for i, s in rows}

    @property
    def identity(self) -> StoreIdentity:
        """The models the store was built with."""
        return StoreIdentity(embedder=self.models["embedder"], key_dim=self.key_dim, llm=self.models.get("llm"),
                             token_dim=int(self._token_dim) if self._token_dim else None)

    def caption_keys(self, ids: list[int]) -> dict[int, np.ndarray]:
        if not ids:
            return {}
        with self._read("read caption keys") as db:
            rows = db.execute("SELECT id, caption_key FROM vigil_clips WHERE id = ANY(%s) AND caption_key IS NOT NULL",
                              (list(ids),)).fetchall()
        return {int(i): np.asarray(k.to_numpy(), dtype=np.float32) for i, k in rows}

    def videos(self, stream: str) -> list[str]:
        with self._read("list the alert videos") as db:
            return [r[0] for r in db.execute("SELECT alert FROM vigil_evidence WHERE stream = %s ORDER BY start, alert",
                                             (stream,))]

    def meta(self, ids: list[int]) -> dict[int, tuple[float, int]]:
        if not ids:
            return {}
        with self._read("read the clips") as db:
            return {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, start, n_tokens FROM vigil_clips WHERE id = "
                                                           "ANY(%s)", (list(ids),))}

    def steps(self, stream: str) -> list[StepRecord]:
        with self._read("read the steps") as db:
            rows = db.execute('SELECT idx, time, "end", total, kept, encoded, skipped, tau FROM vigil_steps WHERE '
                              'stream = %s ORDER BY idx', (stream,)).fetchall()
        return [StepRecord(i, t, e, total, kept, bool(enc), sk, ta) for i, t, e, total, kept, enc, sk, ta in rows]

    def events(self, stream: str) -> list[tuple[str, float, dict]]:
        with self._read("read the events") as db:
            rows = db.execute("SELECT kind, time, detail FROM vigil_events WHERE stream = %s ORDER BY time, id",
                              (stream,)).fetchall()
        return [(k, t, json.loads(d)) for k, t, d in rows]

    def alerts(self, stream: str | None = None) -> list[dict]:
        """The alerts logged, oldest first, each as last sent (an update merged into its alert)."""
        out: dict[str, dict] = {}
        with self._read("read the alerts") as db:
            for alert, body in db.execute("SELECT alert, body FROM vigil_alerts WHERE %(s)s::text IS NULL OR stream = "
                                          "%(s)s ORDER BY seq", {"s": stream}):
                out[alert] = out.get(alert, {}) | json.loads(body)
        return list(out.values())

    def extent(self, stream: str) -> StreamExtent:
        with self._read("read the stream's extent") as db:
            n, step_end = db.execute('SELECT COALESCE(MAX(idx) + 1, 0), MAX("end") FROM vigil_steps WHERE stream = %s',
                                     (stream,)).fetchone()
            clip_end = db.execute('SELECT MAX("end") FROM vigil_clips WHERE stream = %s', (stream,)).fetchone()[0]
            event = db.execute("SELECT MAX(time) FROM vigil_events WHERE stream = %s", (stream,)).fetchone()[0]
        ends = [t for t in (step_end, clip_end, event) if t is not None]
        return StreamExtent(next_step=n, end=max(ends) if ends else None)

    def progress(self, stream: str) -> tuple[str, bytes] | None:
        with self._read("read the resume point") as db:
            row = db.execute("SELECT state, tensors FROM vigil_progress WHERE stream = %s", (stream,)).fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def streams(self) -> dict[str, int]:
        with self._read("read the clips") as db:
            return dict(db.execute("SELECT stream, COUNT(*) FROM vigil_clips GROUP BY stream ORDER BY stream"))

    def count(self, stream: str | None = None) -> int:
        with self._read("count the clips") as db:
            return db.execute("SELECT COUNT(*) FROM vigil_clips WHERE %(s)s::text IS NULL OR stream = %(s)s",
                              {"s": stream}).fetchone()[0]

    def bytes(self, stream: str | None = None) -> int:
        with self._read("count the clips' bytes") as db:
            return int(db.execute("SELECT COALESCE(SUM(bytes), 0) FROM vigil_clips WHERE %(s)s::text IS NULL OR stream "
                                  "= %(s)s", {"s": stream}).fetchone()[0])

    def evidence(self, alert: str) -> Evidence | None:
        with self._read("read an alert's video") as db:
            r = db.execute('SELECT alert, stream, start, "end", mp4, frames, wall_start FROM vigil_evidence WHERE alert '
                           '= %s', (alert,)).fetchone()
        return None if r is None else Evidence(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6])

    def evidence_over(self, stream: str, start: float, end: float) -> Evidence | None:
        with self._read("read an alert's video") as db:
            r = db.execute('SELECT alert, stream, start, "end", mp4, frames, wall_start FROM vigil_evidence WHERE '
                           'stream = %(s)s AND start < %(e)s AND "end" > %(b)s ORDER BY LEAST("end", %(e)s) - '
                           'GREATEST(start, %(b)s) DESC, start LIMIT 1', {"s": stream, "b": start, "e": end}).fetchone()
        return None if r is None else Evidence(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], r[6])

    def evidence_bytes(self, stream: str | None = None) -> tuple[int, int]:
        with self._read("count the alert videos") as db:
            n, size = db.execute("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM vigil_evidence WHERE %(s)s::text IS "
                                 "NULL OR stream = %(s)s", {"s": stream}).fetchone()
        return n, int(size)

    def leases(self) -> dict[str, str]:
        """{camera: the worker whose lease is live}."""
        with self._read("read the leases") as db:
            return dict(db.execute("SELECT stream, worker FROM vigil_leases WHERE expires > now() ORDER BY stream"))
