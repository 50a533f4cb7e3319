"""The memory database's schema: its tables, the refusals before anything is changed, and the upgrades from older
versions (which add, never rewrite). Functions of an open SQLite connection; the store owns transactions."""
import sqlite3
from pathlib import Path

from memory.folder import DATABASE, StoreError

SCHEMA_VERSION = 7

DDL = """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE clips (
        id INTEGER PRIMARY KEY, stream TEXT NOT NULL, start REAL NOT NULL, end REAL NOT NULL,
        n_tokens INTEGER NOT NULL, bytes INTEGER NOT NULL, grid TEXT NOT NULL, seconds_per_step REAL NOT NULL,
        kept INTEGER NOT NULL, total INTEGER NOT NULL, caption TEXT, key BLOB NOT NULL, thumbnail BLOB NOT NULL,
        caption_key BLOB, missing INTEGER NOT NULL DEFAULT 0, tau REAL, wall_start REAL, wall_end REAL,
        checksum TEXT);
    CREATE INDEX clips_stream_start ON clips (stream, start);
    CREATE INDEX clips_stream_wall ON clips (stream, wall_start);
    CREATE TABLE steps (stream TEXT NOT NULL, idx INTEGER NOT NULL, time REAL NOT NULL, end REAL NOT NULL,
        total INTEGER NOT NULL, kept INTEGER NOT NULL, encoded INTEGER NOT NULL, skipped INTEGER NOT NULL,
        tau REAL, PRIMARY KEY (stream, idx));
    CREATE TABLE events (id INTEGER PRIMARY KEY, stream TEXT NOT NULL, kind TEXT NOT NULL, time REAL NOT NULL,
        detail TEXT NOT NULL);
    CREATE TABLE progress (stream TEXT PRIMARY KEY, state TEXT NOT NULL, tensors BLOB NOT NULL);
    CREATE TABLE tombstones (id INTEGER PRIMARY KEY);
    CREATE TABLE keyframes (clip INTEGER NOT NULL, idx INTEGER NOT NULL, time REAL NOT NULL, wall REAL,
        jpeg BLOB NOT NULL, PRIMARY KEY (clip, idx));
    CREATE TABLE evidence (alert TEXT PRIMARY KEY, stream TEXT NOT NULL, start REAL NOT NULL, end REAL NOT NULL,
        wall_start REAL, frames INTEGER NOT NULL, bytes INTEGER NOT NULL, mp4 BLOB NOT NULL);
    CREATE INDEX evidence_stream_start ON evidence (stream, start);
"""


def columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in db.execute(f"PRAGMA table_info({table})")}


def tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def read_meta(db: sqlite3.Connection) -> dict[str, str]:
    return dict(db.execute("SELECT key, value FROM meta").fetchall())


def create(db: sqlite3.Connection, meta: dict[str, str]) -> None:
    """Inside the caller's transaction: every table of this version, and `meta` (which gets the schema number)."""
    for statement in DDL.split(";"):
        if statement.strip():
            db.execute(statement)
    db.executemany("INSERT INTO meta VALUES (?, ?)", list((meta | {"schema": str(SCHEMA_VERSION)}).items()))


def refuse(folder: Path, have: dict[str, str], identity: dict[str, str] | None, marker_id: str | None,
           readonly: bool) -> int:
    """The stored schema number, after every refusal that must come before any change: a memory of other models
    (`identity`: the models this run uses, None for any), of a newer Vigil, of another folder (its marker's id), or
    too old to read without an upgrade."""
    for k, want in (identity or {}).items():
        if have.get(k) != want:
            raise StoreError(f"memory at {folder} was built with {k} {have.get(k)!r}, this run uses {want!r}; use "
                             f"the same model and embedder, or another --memory folder")
    schema = int(have.get("schema", "0"))
    if schema > SCHEMA_VERSION:
        raise StoreError(f"memory at {folder} has schema {schema}, this Vigil reads up to {SCHEMA_VERSION}; upgrade "
                         f"Vigil to open it")
    mid = have.get("memory_id")
    if marker_id is not None and mid is not None and mid != marker_id:
        raise StoreError(f"{DATABASE} in {folder} belongs to another memory (id {mid}, the folder's marker says "
                         f"{marker_id}); put back this folder's own {DATABASE}")
    if readonly and schema < 2:
        raise StoreError(f"memory at {folder} is from an older Vigil (schema {schema}); upgrade it once with "
                         f"`vigil check --memory {folder} --repair`")
    return schema


def current(db: sqlite3.Connection, schema: int) -> bool:
    """Whether the database is this version whole (schema 3 grew its `tau` columns before it was released, so the
    number alone does not say)."""
    return schema == SCHEMA_VERSION \
        and {"caption_key", "missing", "tau", "wall_start", "wall_end", "checksum"} <= columns(db, "clips") \
        and {"steps", "events", "progress", "tombstones", "keyframes", "evidence"} <= tables(db) \
        and "tau" in columns(db, "steps")


def upgrade(db: sqlite3.Connection, file_ids: list[int]) -> None:
    """Inside the caller's transaction. Schema 1 -> 2: caption keys, per-step series, events, resume points. 2 -> 3:
    clips marked missing, the drop threshold of clips and steps, tombstones, the next id. 3 -> 4: the wall-clock
    times of live clips (NULL for the clips stored before, whose wall time was never recorded). 4 -> 5: keyframes
    (none for the clips stored before: they are shown by their thumbnail). 5 -> 6: the SHA-256 of each token file,
    recorded at write time (NULL for the clips stored before: theirs were never recorded). 6 -> 7: alerts' videos
    (none for the alerts raised before). Adds whatever is missing whatever the
    schema number says. `file_ids`: the token files on disk, so the next id is past every one of them."""
    cols = columns(db, "clips")
    if "caption_key" not in cols:
        db.execute("ALTER TABLE clips ADD COLUMN caption_key BLOB")
    if "missing" not in cols:
        db.execute("ALTER TABLE clips ADD COLUMN missing INTEGER NOT NULL DEFAULT 0")
    if "tau" not in cols:
        db.execute("ALTER TABLE clips ADD COLUMN tau REAL")
    for column in ("wall_start", "wall_end"):
        if column not in cols:
            db.execute(f"ALTER TABLE clips ADD COLUMN {column} REAL")
    if "checksum" not in cols:
        db.execute("ALTER TABLE clips ADD COLUMN checksum TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS clips_stream_wall ON clips (stream, wall_start)")
    db.execute("CREATE TABLE IF NOT EXISTS steps (stream TEXT NOT NULL, idx INTEGER NOT NULL, time REAL NOT NULL,"
               " end REAL NOT NULL, total INTEGER NOT NULL, kept INTEGER NOT NULL, encoded INTEGER NOT NULL, skipped"
               " INTEGER NOT NULL, PRIMARY KEY (stream, idx))")
    db.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, stream TEXT NOT NULL, kind TEXT NOT NULL,"
               " time REAL NOT NULL, detail TEXT NOT NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS progress (stream TEXT PRIMARY KEY, state TEXT NOT NULL, tensors BLOB NOT"
               " NULL)")
    db.execute("CREATE TABLE IF NOT EXISTS tombstones (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE IF NOT EXISTS keyframes (clip INTEGER NOT NULL, idx INTEGER NOT NULL, time REAL NOT"
               " NULL, wall REAL, jpeg BLOB NOT NULL, PRIMARY KEY (clip, idx))")
    db.execute("CREATE TABLE IF NOT EXISTS evidence (alert TEXT PRIMARY KEY, stream TEXT NOT NULL, start REAL NOT"
               " NULL, end REAL NOT NULL, wall_start REAL, frames INTEGER NOT NULL, bytes INTEGER NOT NULL, mp4 BLOB"
               " NOT NULL)")
    db.execute("CREATE INDEX IF NOT EXISTS evidence_stream_start ON evidence (stream, start)")
    if "tau" not in columns(db, "steps"):
        db.execute("ALTER TABLE steps ADD COLUMN tau REAL")
    # Never hand out an id whose token file is already on disk (an old store's leftovers).
    top = max([db.execute("SELECT COALESCE(MAX(id), 0) FROM clips").fetchone()[0], *file_ids,
               int(read_meta(db).get("next_id", "1")) - 1])
    db.execute("INSERT OR REPLACE INTO meta VALUES ('next_id', ?)", (str(top + 1),))
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
