"""A memory folder's identity and ownership.

A folder is a Vigil memory when it carries the marker file `vigil-memory.json` (format, version, id); the database
records the same id. One process at a time writes a memory: the writer holds an exclusive lock on the folder for as
long as its store is open, and only the writer of a marked folder ever removes a file in it. Readers (`ask`, a
check without --repair) take no lock and change nothing.

Memories made before markers existed (a valid Vigil database, no marker) are read as they are and get their marker
from the first writer that opens them.
"""
import fcntl
import json
import os
import re
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from memory.files import write_atomic

MARKER = "vigil-memory.json"
DATABASE = "memory.sqlite"
TOKENS = "tokens"
FORMAT = "vigil-memory"
VERSION = 1                                    # of the folder layout and marker
TOKEN_FILE = re.compile(r"^(\d+)\.safetensors$")   # tokens/<clip id>.safetensors
TEMP_FILE = re.compile(r"^(\d+)\.tmp$")            # tokens/<clip id>.tmp, a token file being written


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message is one line for the user. Nothing stored is lost."""


class StorageFault(StoreError):
    """The disk or the database refused a write (full, read-only, gone, locked): a fault of the machine, not of the
    request, that may clear on its own; a live stream holds what it could not store and tries again."""


@dataclass
class Marker:
    id: str            # the memory's id, also in the database's meta table
    version: int       # VERSION of the layout that wrote it
    created: str       # ISO time, for people reading the file

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": self.version, "id": self.id, "created": self.created}


def new_marker(memory_id: str | None = None) -> Marker:
    return Marker(id=memory_id or uuid.uuid4().hex, version=VERSION,
                  created=time.strftime("%Y-%m-%dT%H:%M:%S%z"))


def read_marker(folder: Path) -> Marker | None:
    """The folder's marker, None where it has none; StoreError for a marker that is not ours or not readable."""
    path = folder / MARKER
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise StoreError(f"the marker {path} is unreadable ({e}); restore it from a backup, or give another "
                         f"--memory folder") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("id"), str):
        raise StoreError(f"{path} is not a Vigil memory marker; give another --memory folder")
    if not isinstance(data.get("version"), int) or data["version"] > VERSION:
        raise StoreError(f"memory at {folder} was made by a newer Vigil (layout {data.get('version')!r}, this one "
                         f"reads up to {VERSION}); upgrade Vigil to open it")
    return Marker(id=data["id"], version=data["version"], created=str(data.get("created", "")))


def write_marker(folder: Path, marker: Marker) -> None:
    write_atomic(folder / MARKER, (json.dumps(marker.to_json(), indent=1) + "\n").encode())


def token_files(folder: Path) -> list[Path]:
    """tokens/<id>.safetensors files, whatever the database says."""
    tokens = folder / TOKENS
    if not tokens.is_dir():
        return []
    return [p for p in tokens.iterdir() if TOKEN_FILE.match(p.name)]


def is_vigil_database(path: Path) -> bool:
    """A non-empty SQLite file with Vigil's meta table (read without changing it)."""
    try:
        if path.stat().st_size == 0:
            return False
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            keys = {r[0] for r in db.execute("SELECT key FROM meta")}
        finally:
            db.close()
    except (OSError, sqlite3.Error):
        return False
    return {"embedder", "llm", "schema"} <= keys


@dataclass
class FolderState:
    """What opening found: the marker (None for a memory made before markers), and whether the database must be
    created (a new memory)."""
    marker: Marker | None
    new_database: bool


def _database_gone(folder: Path, db: Path, n_files: int) -> StoreError:
    what = "missing" if not db.exists() else "empty (0 bytes)"
    files = "1 token file" if n_files == 1 else f"{n_files} token files"
    return StoreError(f"memory at {folder} has {files} but its database {DATABASE} is {what}: restore {DATABASE} "
                      f"from a backup, or move the folder away to start a new memory; nothing was changed")


def inspect(folder: Path, write: bool, create: bool = True) -> FolderState:
    """Decide whether `folder` may be opened, and how. The writer (holding the lock) creates the marker of a new
    memory, unless `create` is False (a dry run). Raises StoreError, having changed nothing, for a folder that is
    not a memory or has lost its database."""
    if not folder.exists():
        if write:
            raise StoreError(f"{folder} does not exist")          # the writer creates it before locking
        raise StoreError(f"no memory at {folder}; run ingest, watch or analyze into it first")
    if not folder.is_dir():
        raise StoreError(f"{folder} is not a folder; give a folder to --memory")
    marker = read_marker(folder)
    db = folder / DATABASE
    has_db = db.exists() and db.stat().st_size > 0
    n_files = len(token_files(folder))
    if marker is None:
        if has_db and is_vigil_database(db):
            return FolderState(marker=None, new_database=False)    # made before markers
        if n_files and not has_db:
            raise _database_gone(folder, db, n_files)
        if any(folder.iterdir()):
            hint = "give an empty or new folder to --memory" if write else \
                "give --memory the folder that ingest, watch or analyze wrote"
            raise StoreError(f"{folder} is not empty and is not a Vigil memory (no {MARKER}); {hint}")
        if not write:
            raise StoreError(f"no memory at {folder} (the folder is empty); run ingest, watch or analyze into it first")
        marker = new_marker()
        if create:
            write_marker(folder, marker)
        return FolderState(marker=marker, new_database=True)
    if not has_db:
        if n_files:
            raise _database_gone(folder, db, n_files)
        if not write:
            raise StoreError(f"memory at {folder} holds nothing yet; run ingest, watch or analyze into it first")
        return FolderState(marker=marker, new_database=True)
    return FolderState(marker=marker, new_database=False)


def find_memory(folder: Path, stream: str | None) -> tuple[Path, str | None]:
    """The memory folder a question means: `folder` itself when it is a memory, else its sub-folder named `stream`
    (a memory root, as `ui` and `serve` keep one memory per camera), else its only sub-folder memory. Returns
    (memory folder, stream or None when not given). StoreError with the choices when it is ambiguous."""
    if (folder / MARKER).exists() or (folder / DATABASE).exists():
        return folder, stream
    subs = sorted(p for p in folder.iterdir() if (p / MARKER).exists()) if folder.is_dir() else []
    if not subs:
        return folder, stream                    # not a memory: inspect() says so in one line
    named = [p for p in subs if p.name == stream]
    if named:
        return named[0], stream
    if stream is None and len(subs) == 1:
        return subs[0], None
    choices = ", ".join(p.name for p in subs[:12]) + (" ..." if len(subs) > 12 else "")
    what = f"no memory for stream {stream!r}" if stream else "several memories"
    raise StoreError(f"{folder} is a memory root with {what}: give --stream NAME (one of {choices}) or "
                     f"--memory {folder}/NAME")


def memories_in(folder: Path) -> list[Path]:
    """`folder` when it is a memory, else the memories right under it (a memory root of `ui` or `serve`, one per
    camera), by name; [folder] when it holds none, so inspect() says in one line what it is instead."""
    if (folder / MARKER).exists() or (folder / DATABASE).exists() or not folder.is_dir():
        return [folder]
    return sorted(p for p in folder.iterdir() if (p / MARKER).exists()) or [folder]


def preflight(folder: Path) -> None:
    """Raise what opening `folder` for writing would raise (not a memory, a lost database, another writer), before
    the models load (minutes with real weights); changes nothing."""
    if folder.exists():
        inspect(folder, write=True, create=False)
        WriterLock(folder).release()


class WriterLock:
    """An exclusive lock on the folder itself (flock on its directory), held while a store writes it: a second
    writer, in this process or another, is refused instead of racing the first one's files."""

    def __init__(self, folder: Path):
        self.fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise StoreError(f"memory at {folder} is being written by another Vigil process or stream; stop that "
                             f"one first (`ask` can read it meanwhile)") from None

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)          # closing the descriptor releases the lock
            self.fd = -1
