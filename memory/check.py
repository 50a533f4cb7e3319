"""The consistency check of a memory folder (`vigil check`): what the database says against what is on disk, and,
with repair, only the fixes that lose nothing.

    report = check_memory("vigil-memory/door", repair=True)
    for f in report.findings: print(f.line())

A survey is read-only. Repair opens the memory as its writer (which adds the marker to a memory made before markers,
upgrades its schema and removes leftovers of interrupted writes), marks clips whose token file is lost as missing
(their rows, times and thumbnails stay), unmarks those whose file is back, removes temporary files and keyframe
rows whose clip row is gone, and rewrites the index caches; then a second survey says what is left. Files that no row describes are never removed: they are
reported, and a person decides.
"""
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from memory.config import StoreConfig
from memory.folder import DATABASE, MARKER, TEMP_FILE, TOKEN_FILE, TOKENS, inspect, read_marker
from memory.schema import SCHEMA_VERSION
from memory.store import INDEXES, ClipStore, StoreError, carries, reservation


@dataclass
class Finding:
    key: tuple                  # identifies the finding across the surveys before and after a repair
    problem: bool               # False: a note, nothing is inconsistent
    text: str                   # one line
    fix: str | None = None      # what --repair does about it; None: nothing it can do without losing data
    fixed: bool = False

    def line(self, repair: bool) -> str:
        """One line for the user: what is wrong and what --repair does (or did) about it."""
        head = "problem" if self.problem else "note"
        if self.fix is None:
            return f"{head}: {self.text}"
        if self.fixed:
            return f"{head}: {self.text} [repaired: {self.fix}]"
        return f"{head}: {self.text} [" + ("NOT repaired" if repair else f"--repair: {self.fix}") + "]"


@dataclass
class CheckReport:
    folder: Path | str          # a memory folder, or a shared store's URL (no password)
    memory_id: str | None
    schema: int
    streams: dict[str, int]
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems_left(self) -> list[Finding]:
        return [f for f in self.findings if f.problem and not f.fixed]


def _survey_database(folder: Path) -> tuple[int, set[int], tuple[int, str] | None]:
    """(schema, tombstoned ids, the reserved write (id, nonce) if one never committed) straight from SQLite,
    read-only: what a writer's open would act on."""
    try:
        db = sqlite3.connect((folder / DATABASE).resolve().as_uri() + "?mode=ro", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta"))
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            tomb = {r[0] for r in db.execute("SELECT id FROM tombstones")} if "tombstones" in tables else set()
        finally:
            db.close()
        schema = int(meta.get("schema", "0"))
    except (sqlite3.Error, ValueError) as e:
        raise StoreError(f"{folder / DATABASE} cannot be read as a Vigil database ({e}); restore it from a "
                         f"backup") from e
    return schema, tomb, reservation(meta)


def _writer_active(folder: Path) -> bool:
    from memory.folder import WriterLock
    try:
        WriterLock(folder).release()
        return False
    except StoreError:
        return True


def _survey(folder: Path, config: StoreConfig) -> CheckReport:
    """Everything a check reports, changing nothing."""
    inspect(folder, write=False)                       # refuses what is not a memory, as any reader does
    marker = read_marker(folder)
    schema, tomb, reserved = _survey_database(folder)
    found: list[Finding] = []
    writing = _writer_active(folder)
    if writing:
        found.append(Finding(("writer",), False, "a writer has this memory open: a clip being stored right now may "
                             "show as a leftover below; --repair waits for it to stop"))
    if marker is None:
        found.append(Finding(("marker",), True, f"no {MARKER} (a memory made before markers)", "written"))
    if schema < SCHEMA_VERSION:
        found.append(Finding(("schema",), True, f"schema {schema} (this Vigil writes {SCHEMA_VERSION})",
                             f"upgraded to schema {SCHEMA_VERSION}"))
    store = ClipStore(folder, None, config, readonly=True) if schema >= 2 else None
    report = CheckReport(folder=folder, memory_id=marker.id if marker else None, schema=schema,
                         streams=store.streams() if store else {})
    if store is None:
        report.findings = found
        return report
    try:
        rows = _clip_findings(store, found, lambda c, e: "missing" if not store.token_path(c.id).exists()
                              else f"unreadable ({e})")
        orphans = store.orphan_keyframes()
        if orphans:                       # no row to show them with: rows only, so removing them loses nothing
            found.append(Finding(("keyframes",), True, f"keyframes of {len(orphans)} clip(s) that no row describes "
                                 f"(ids {', '.join(map(str, orphans[:10]))}{', ...' if len(orphans) > 10 else ''})",
                                 "removed"))
        tokens = folder / TOKENS
        for p in sorted(tokens.iterdir()) if tokens.is_dir() else []:
            m, t = TOKEN_FILE.match(p.name), TEMP_FILE.match(p.name)
            name = f"{TOKENS}/{p.name}"
            if m and int(m.group(1)) not in rows:
                cid = int(m.group(1))
                if cid in tomb:
                    found.append(Finding(("tomb", cid), True, f"{name}: file of a deleted clip", "removed"))
                elif reserved is not None and cid == reserved[0] and carries(p, reserved[1]):
                    found.append(Finding(("torn", cid), True, f"{name}: leftover of a write that never committed",
                                         "removed"))
                else:
                    found.append(Finding(("orphan", cid), True, f"{name}: token file that no row describes (kept; "
                                         f"move it out of {TOKENS}/ if it is not needed)"))
            elif t:
                found.append(Finding(("tmp", p.name), True, f"{name}: temporary file of an interrupted write",
                                     "removed"))
            elif not m:
                found.append(Finding(("foreign", p.name), False, f"{name}: not a Vigil file (left as it is)"))
        for kind in INDEXES:
            text = store.backend.check(store.index_path(kind), store.index_name(kind), store.key_dim,
                                       set(store.indexed_ids(kind)), store.config)
            if text and writing:          # the writer keeps it in memory and saves it as it goes
                found.append(Finding(("index", kind), False, f"{text} while a writer has it open"))
            elif text:                    # a cache, not data: a kill before a clean stop leaves it behind
                found.append(Finding(("index", kind), False, f"{text}: a cache of the database's keys, rebuilt "
                                     f"from it on the next open; questions still work", "rewritten"))
    finally:
        store.close()
    report.findings = found
    return report


def _clip_findings(store, found: list[Finding], why: Callable, noun: str = "token file") -> dict[int, object]:
    """Each clip's tokens read back (whole, of the row's size, their checksum): findings for those lost and not
    marked missing, and for those marked but readable again. `why(clip, error)`: the lost tokens' state in words.
    Returns {id: clip}."""
    lost = set(store.missing())
    rows = {}
    for c in store.clips():
        rows[c.id] = c
        try:
            store.tokens(c.id, c.n_tokens)
            ok, text = True, ""
        except StoreError as e:
            ok, text = False, why(c, e)
        where = f"clip {c.id} ({c.start:.1f}-{c.end:.1f} s of stream {c.stream})"
        if not ok and c.id not in lost:
            found.append(Finding(("lost", c.id), True, f"{where}: {noun} {text}",
                                 "marked missing (row, times and thumbnail kept; no longer selected)"))
        elif ok and c.id in lost:
            found.append(Finding(("back", c.id), True, f"{where}: marked missing but its {noun} is readable",
                                 "unmarked (selected again)"))
        elif not ok:
            found.append(Finding(("marked", c.id), False, f"{where}: marked missing (its {noun} is lost)"))
    return rows


def _survey_shared(url: str, config: StoreConfig) -> CheckReport:
    """A shared store's check, changing nothing: its clips' tokens, and who writes which camera. The database keeps
    the rest consistent itself (one transaction a clip, foreign keys, an index kept by each commit)."""
    from memory.postgres_store import PostgresStore
    store = PostgresStore(url, None, config, readonly=True)
    try:
        found: list[Finding] = []
        report = CheckReport(folder=store.folder, memory_id=store.memory_id, schema=store.schema,
                             streams=store.streams())
        _clip_findings(store, found, lambda c, e: "fail their checksum" if "checksum" in str(e) else "missing",
                       noun="tokens")
        for camera, worker in store.leases().items():
            found.append(Finding(("lease", camera), False, f"camera {camera} is being written by worker {worker}"))
    finally:
        store.close()
    report.findings = found
    return report


def _repair_shared(url: str, before: CheckReport, config: StoreConfig) -> None:
    from memory.postgres_store import PostgresStore
    store = PostgresStore(url, None, config)
    try:
        keys = [f.key for f in before.findings if f.problem]
        for kind, missing in (("lost", True), ("back", False)):
            ids = [k[1] for k in keys if k[0] == kind]
            if ids:
                store.mark_missing(ids, missing=missing)
    finally:
        store.close()


def _repair(folder: Path, before: CheckReport, config: StoreConfig) -> None:
    """Apply the fixes that lose nothing; the writer's own open does the marker, schema and leftovers."""
    store = ClipStore(folder, None, config)
    try:
        keys = [f.key for f in before.findings if f.problem]
        lost = [k[1] for k in keys if k[0] == "lost"]
        back = [k[1] for k in keys if k[0] == "back"]
        if lost:
            store.mark_missing(lost)
        if back:
            store.mark_missing(back, missing=False)
        if ("keyframes",) in keys:
            store.remove_orphan_keyframes()
        for k in keys:
            if k[0] == "tmp":
                (folder / TOKENS / k[1]).unlink(missing_ok=True)
        store.save_index()
    finally:
        store.close()


def check_memory(folder: str | Path, repair: bool = False, config: StoreConfig | None = None) -> CheckReport:
    """Survey a memory folder (or a shared store, postgresql://...); with `repair`, fix what can be fixed without losing data, and survey again."""
    from memory.stores import is_store_url
    config = config or StoreConfig()
    if is_store_url(folder):
        survey, fix = _survey_shared, _repair_shared
    else:
        folder, survey, fix = Path(folder), _survey, _repair
    before = survey(folder, config)
    if not repair or not any(f.fix for f in before.findings):
        return before
    fix(folder, before, config)
    after = survey(folder, config)
    left = {f.key for f in after.findings if f.problem or f.fix}
    for f in before.findings:
        f.fixed = f.fix is not None and f.key not in left
    seen = {f.key for f in before.findings}
    before.findings += [f for f in after.findings if f.problem and f.key not in seen]   # what an old schema hid
    before.memory_id, before.schema, before.streams = after.memory_id, after.schema, after.streams
    return before
