"""A memory folder is never damaged by opening it: markers, refusals, read-only opens, the writer lock, memories
made before markers, and the files the writer may remove."""
import json
import sqlite3

import pytest

from memory.folder import MARKER, StoreError
from memory.schema import SCHEMA_VERSION
from memory.store import StreamLog
from tests.memory.test_store import make_clip, open_store


def snapshot(folder) -> dict[str, bytes]:
    """Every file under `folder` with its bytes: what 'nothing was changed' means."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def filled(folder, n=4):
    store = open_store(folder)
    ids = [store.add(make_clip(i)) for i in range(n)]
    store.close()
    return ids


def test_a_new_memory_carries_a_marker_whose_id_the_database_records(tmp_path):
    filled(tmp_path / "m", 1)
    marker = json.loads((tmp_path / "m" / MARKER).read_text())
    assert marker["format"] == "vigil-memory" and marker["version"] == 1 and len(marker["id"]) == 32
    db = sqlite3.connect(tmp_path / "m" / "memory.sqlite")
    meta = dict(db.execute("SELECT key, value FROM meta"))
    assert meta["memory_id"] == marker["id"] and meta["schema"] == str(SCHEMA_VERSION)


def test_a_folder_that_is_not_a_memory_is_refused_and_untouched(tmp_path):
    user = tmp_path / "user"
    (user / "tokens").mkdir(parents=True)
    (user / "tokens" / "vocab.json").write_text("{}")
    (user / "tokens" / "1.txt").write_text("mine")
    (user / "notes.md").write_text("also mine")
    before = snapshot(user)
    for readonly in (False, True):
        with pytest.raises(StoreError, match="not empty and is not a Vigil memory"):
            open_store(user, readonly=readonly)
    assert snapshot(user) == before
    with pytest.raises(StoreError, match="no memory at"):
        open_store(tmp_path / "nowhere", readonly=True)
    assert not (tmp_path / "nowhere").exists()           # a reader creates nothing


@pytest.mark.parametrize("how, n", [("empty", 4), ("missing", 4), ("missing", 1)])
def test_a_lost_database_beside_token_files_is_refused_never_repaired_by_deletion(tmp_path, how, n):
    """Refused whatever the number of token files: one clip's tokens without their row are as unreadable as four."""
    filled(tmp_path, n)
    db = tmp_path / "memory.sqlite"
    if how == "empty":
        db.write_bytes(b"")
    else:
        db.unlink()
    before = snapshot(tmp_path)
    for readonly in (True, False):
        files = "1 token file" if n == 1 else f"{n} token files"
        with pytest.raises(StoreError, match=f"{files} but its database memory.sqlite is {how}.*restore"):
            open_store(tmp_path, readonly=readonly)
    assert snapshot(tmp_path) == before                  # the token files, the index, the marker: all still there


def test_a_read_only_open_changes_nothing_even_with_leftovers_to_clean(tmp_path):
    ids = filled(tmp_path)
    (tmp_path / "tokens" / "5.tmp").write_bytes(b"torn")          # files at the next id that no write reserved
    (tmp_path / "tokens" / "5.safetensors").write_bytes(b"torn")
    (tmp_path / "index.faiss").write_bytes(b"stale")
    before = snapshot(tmp_path)
    store = open_store(tmp_path, readonly=True)
    assert [c.id for c in store.load(ids).clips] == ids and len(store.index) == 4   # rebuilt in memory only
    with pytest.raises(StoreError, match="read-only"):
        store.add(make_clip(9))
    store.close()
    assert snapshot(tmp_path) == before and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["captions.faiss", "index.faiss", "memory.sqlite", MARKER, "tokens"])   # no -wal, no -shm either
    store = open_store(tmp_path)           # nothing reserved them: not provably the writer's, so kept, and passed
    assert store.add(make_clip(9)) == 6    # over: the new clip's id is past every file on disk
    store.close()
    assert (tmp_path / "tokens" / "5.tmp").read_bytes() == b"torn"
    assert (tmp_path / "tokens" / "5.safetensors").read_bytes() == b"torn"


def test_one_writer_at_a_time_while_readers_read(tmp_path):
    writer = open_store(tmp_path)
    writer.add(make_clip(0))
    with pytest.raises(StoreError, match="being written by another"):
        open_store(tmp_path)
    reader = open_store(tmp_path, readonly=True)
    writer.add(make_clip(1))
    assert reader.count() == 2                           # WAL: the reader sees commits as they land
    reader.close()
    writer.close()
    open_store(tmp_path).close()                         # released on close


def _legacy(folder, n=3, schema=2):
    """A memory as Vigil wrote it before markers (schema 2): made with today's store, then the marker removed and
    the database taken back to schema 2's shape."""
    ids = filled(folder, n)
    (folder / MARKER).unlink()
    db = sqlite3.connect(folder / "memory.sqlite")
    db.executescript(f"""DELETE FROM meta WHERE key IN ('memory_id', 'next_id');
        UPDATE meta SET value = '{schema}' WHERE key = 'schema'; DROP TABLE tombstones;
        ALTER TABLE clips DROP COLUMN missing; ALTER TABLE clips DROP COLUMN checksum;""")
    db.close()
    return ids


def test_a_memory_made_before_markers_is_read_as_it_is_and_adopted_by_its_first_writer(tmp_path):
    ids = _legacy(tmp_path)
    (tmp_path / "tokens" / "9.safetensors").write_bytes(b"a leftover of the old store")
    before = snapshot(tmp_path)
    reader = open_store(tmp_path, readonly=True)
    assert [c.id for c in reader.load(ids).clips] == ids and reader.latest(None, 1) == [ids[-1]]
    reader.close()
    assert snapshot(tmp_path) == before
    writer = open_store(tmp_path)
    assert (tmp_path / MARKER).exists() and writer.count() == 3
    assert writer.add(make_clip(5)) == 10                 # past every id on disk: the old leftover is not overwritten
    writer.close()
    assert (tmp_path / "tokens" / "9.safetensors").read_bytes() == b"a leftover of the old store"
    marker = json.loads((tmp_path / MARKER).read_text())
    meta = dict(sqlite3.connect(tmp_path / "memory.sqlite").execute("SELECT key, value FROM meta"))
    assert meta["memory_id"] == marker["id"] and meta["schema"] == str(SCHEMA_VERSION)


def test_a_database_from_another_memory_is_refused(tmp_path):
    filled(tmp_path / "a", 1)
    filled(tmp_path / "b", 1)
    (tmp_path / "a" / "memory.sqlite").write_bytes((tmp_path / "b" / "memory.sqlite").read_bytes())
    before = snapshot(tmp_path / "a")
    with pytest.raises(StoreError, match="belongs to another memory"):
        open_store(tmp_path / "a")
    assert snapshot(tmp_path / "a") == before


def test_a_token_file_is_never_overwritten(tmp_path):
    store = open_store(tmp_path)
    store.add(make_clip(0))
    (tmp_path / "tokens" / "2.safetensors").write_bytes(b"someone else's")   # lands after the open's clean-up
    with pytest.raises(StoreError, match="already in"):
        store.add(make_clip(1))
    assert (tmp_path / "tokens" / "2.safetensors").read_bytes() == b"someone else's" and store.count() == 1
    assert not list((tmp_path / "tokens").glob("*.tmp"))
    store.close()


def test_ids_are_never_reused_after_deletion(tmp_path):
    store = open_store(tmp_path)
    ids = [store.add(make_clip(i)) for i in range(3)]
    store.delete([ids[-1]])
    assert store.add(make_clip(7)) == ids[-1] + 1
    store.close()


def test_deleted_clips_files_go_even_after_a_crash_between_commit_and_unlink(tmp_path, monkeypatch):
    store = open_store(tmp_path)
    ids = [store.add(make_clip(i)) for i in range(3)]
    monkeypatch.setattr(type(store), "_sweep_tombstones", lambda self: None)    # "crash" before the unlink
    store.delete([ids[0]])
    assert (tmp_path / "tokens" / f"{ids[0]}.safetensors").exists()
    store.close()
    monkeypatch.undo()
    before = snapshot(tmp_path)
    open_store(tmp_path, readonly=True).close()
    assert snapshot(tmp_path) == before                  # a reader leaves the tombstoned file alone
    open_store(tmp_path).close()                         # the writer removes it
    assert sorted(p.name for p in (tmp_path / "tokens").iterdir()) == [f"{i}.safetensors" for i in ids[1:]]


def test_a_failed_commit_removes_the_token_file_it_wrote(tmp_path, monkeypatch):
    store = open_store(tmp_path)
    store.add(make_clip(0))

    def disk_full(*a, **k):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(type(store), "_write_log", disk_full)           # after the token file is in place
    with pytest.raises(StoreError, match="disk is full.*intact"):
        store.add(make_clip(1), StreamLog())
    monkeypatch.undo()
    assert store.count() == 1 and sorted(p.name for p in (tmp_path / "tokens").iterdir()) == ["1.safetensors"]
    assert store.add(make_clip(1)) == 2
    store.close()


@pytest.mark.parametrize("fault", ["raises", "silent"])
def test_a_failed_index_write_leaves_the_previous_index_whole(tmp_path, monkeypatch, fault):
    store = open_store(tmp_path)
    store.add(make_clip(0))
    store.save_index()
    good = (tmp_path / "index.faiss").read_bytes()
    store.add(make_clip(1))
    import faiss
    real = faiss.PyCallbackIOWriter

    def full_disk(write):
        def out(data):
            if fault == "raises":                    # half of it lands, then the disk is full
                write(data[: len(data) // 2])
                raise OSError(28, "No space left on device")
            return len(data)                         # what FAISS's own file writer does on a full disk: nothing
        return real(out)
    monkeypatch.setattr(faiss, "PyCallbackIOWriter", full_disk)
    store.close()                                    # never raises: the index is a cache
    monkeypatch.undo()
    assert (tmp_path / "index.faiss").read_bytes() == good and not list(tmp_path.glob("*.tmp"))
    assert len(open_store(tmp_path).index) == 2    # reconciled with SQLite on open


def test_an_unreadable_token_file_is_reported_apart_not_raised(tmp_path):
    ids = filled(tmp_path)
    (tmp_path / "tokens" / f"{ids[1]}.safetensors").unlink()
    (tmp_path / "tokens" / f"{ids[2]}.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00torn")
    store = open_store(tmp_path, readonly=True)
    loaded = store.load(ids)
    assert [c.id for c in loaded.clips] == [ids[0], ids[3]] and [c.id for c in loaded.unreadable] == ids[1:3]
    assert loaded.clips[0].tokens.shape == (5, 16) and loaded.unreadable[0].tokens.numel() == 0


def test_preflight_finds_what_a_writer_would_refuse_and_changes_nothing(tmp_path):
    from memory.folder import preflight
    preflight(tmp_path / "new")                          # nothing there yet: fine, and still nothing there
    assert not (tmp_path / "new").exists()
    (tmp_path / "empty").mkdir()
    preflight(tmp_path / "empty")
    assert not list((tmp_path / "empty").iterdir())     # no marker written by a dry run
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "a.txt").write_text("x")
    with pytest.raises(StoreError, match="not a Vigil memory"):
        preflight(tmp_path / "mine")
    writer = open_store(tmp_path / "busy")
    with pytest.raises(StoreError, match="being written by another"):
        preflight(tmp_path / "busy")
    writer.close()
    preflight(tmp_path / "busy")


def test_an_interrupt_right_after_commit_keeps_the_committed_clips_file(tmp_path):
    store = open_store(tmp_path)
    store.add(make_clip(0))
    real = store.db

    class InterruptAfterCommit:            # Ctrl-C lands just after the clip's COMMIT returned
        def __init__(self):
            self.commits = 0

        def __getattr__(self, name):
            return getattr(real, name)

        def execute(self, sql, *args):
            out = real.execute(sql, *args)
            if sql == "COMMIT":
                self.commits += 1
                if self.commits == 2:       # the first commits the id's reservation, the second the clip
                    raise KeyboardInterrupt
            return out
    store.db = InterruptAfterCommit()
    with pytest.raises(KeyboardInterrupt):
        store.add(make_clip(1))
    store.db = real
    assert store.count() == 2 and not store.load([1, 2]).unreadable     # the committed clip kept its file
    store.close()


def test_a_database_restored_from_an_older_backup_loses_no_newer_file(tmp_path):
    store = open_store(tmp_path)
    [store.add(make_clip(i)) for i in range(2)]
    store.close()
    backup = (tmp_path / "memory.sqlite").read_bytes()
    store = open_store(tmp_path)
    [store.add(make_clip(i)) for i in range(2, 5)]              # clips 3, 4, 5: only their files will know them
    store.close()
    newer = {p.name: p.read_bytes() for p in (tmp_path / "tokens").iterdir()}
    (tmp_path / "memory.sqlite").write_bytes(backup)             # the user restores the older database
    store = open_store(tmp_path)
    assert store.add(make_clip(9)) == 6                          # past every file on disk: no collision
    store.close()
    assert all((tmp_path / "tokens" / n).read_bytes() == b for n, b in newer.items())
    from memory.check import check_memory
    orphans = sorted(f.key[1] for f in check_memory(tmp_path, repair=True).problems_left)
    assert orphans == [3, 4, 5] and all((tmp_path / "tokens" / n).read_bytes() == b for n, b in newer.items())


def test_a_reserved_write_that_never_committed_is_removed_only_if_it_is_that_write(tmp_path, monkeypatch):
    store = open_store(tmp_path)
    store.add(make_clip(0))

    def crash(*a, **k):
        raise KeyboardInterrupt                  # dies after the file is in place, before the row commits
    monkeypatch.setattr(type(store), "_write_log", crash)
    with pytest.raises(KeyboardInterrupt):
        store.add(make_clip(1), StreamLog())
    monkeypatch.undo()
    # the rollback already removed its file; put back a file of that write, as a kill would have left it
    reserved = dict(store.db.execute("SELECT key, value FROM meta"))["pending"]
    store.close()
    from safetensors.torch import save
    cid, nonce = reserved.split(":")
    leftover = tmp_path / "tokens" / f"{cid}.safetensors"
    leftover.write_bytes(save({"tokens": make_clip(1).tokens}, metadata={"vigil_write": "another write"}))
    open_store(tmp_path).close()
    assert leftover.exists()                     # not this write's nonce: not provably ours, kept
    store = open_store(tmp_path)
    nid = store.next_id()
    store.db.execute("INSERT OR REPLACE INTO meta VALUES ('pending', ?)", (f"{nid}:{nonce}",))
    (tmp_path / "tokens" / f"{nid}.safetensors").write_bytes(save({"tokens": make_clip(1).tokens},
                                                                  metadata={"vigil_write": nonce}))
    store.close()
    open_store(tmp_path).close()
    assert not (tmp_path / "tokens" / f"{nid}.safetensors").exists()      # its own bytes: removed


def test_selection_survives_a_clip_deleted_while_it_reads(tmp_path, monkeypatch):
    from memory.config import SelectConfig
    from memory.select import select_for_query
    ids = filled(tmp_path, 4)
    store = open_store(tmp_path, readonly=True)
    real = store.meta
    monkeypatch.setattr(store, "meta", lambda wanted: {k: v for k, v in real(wanted).items() if k != ids[0]})
    chosen = select_for_query(store, make_clip(0).key, "cam", None, SelectConfig())
    assert ids[0] not in chosen and chosen


def test_a_schema_3_memory_is_read_as_it_is_and_its_writer_adds_the_wall_times(tmp_path):
    """Schema 4 records when live clips were taken: a schema-3 memory (no wall columns) reads its clips with no wall
    time, unchanged by a reader; its first writer adds the columns and keeps every clip as it was."""
    ids = filled(tmp_path, 3)
    db = sqlite3.connect(tmp_path / "memory.sqlite")
    db.executescript("""DROP INDEX clips_stream_wall; ALTER TABLE clips DROP COLUMN wall_start; ALTER TABLE clips DROP COLUMN wall_end;
        UPDATE meta SET value = '3' WHERE key = 'schema';""")
    db.close()
    before = snapshot(tmp_path)
    reader = open_store(tmp_path, readonly=True)
    old = reader.load(ids).clips
    assert [c.id for c in old] == ids and all(c.wall_start is None and c.wall_end is None for c in old)
    assert [c.id for c in reader.clips()] == ids and reader.latest(None, 1) == [ids[-1]]
    reader.close()
    assert snapshot(tmp_path) == before
    writer = open_store(tmp_path)
    live = make_clip(7)
    live.wall_start, live.wall_end = 1795356190.5, 1795356197.5
    new = writer.add(live)
    writer.close()
    db = sqlite3.connect(tmp_path / "memory.sqlite")
    assert dict(db.execute("SELECT key, value FROM meta"))["schema"] == str(SCHEMA_VERSION) == "7"
    db.close()
    store = open_store(tmp_path, readonly=True)
    got = store.load([*ids, new]).clips
    assert [(c.start, c.end, c.wall_start, c.wall_end) for c in got] == \
        [(c.start, c.end, None, None) for c in old] + [(live.start, live.end, 1795356190.5, 1795356197.5)]
    assert all(a.tokens.equal(b.tokens) for a, b in zip(got, old))       # the old clips' tokens untouched
    store.close()


def test_a_schema_3_memory_without_the_tau_columns_is_completed_on_open(tmp_path):
    """Schema 3 grew its tau columns before release: a memory written before them takes new clips."""
    ids = filled(tmp_path, 2)
    db = sqlite3.connect(tmp_path / "memory.sqlite")
    db.executescript("ALTER TABLE clips DROP COLUMN tau; ALTER TABLE steps DROP COLUMN tau;")
    db.close()
    store = open_store(tmp_path)
    assert store.add(make_clip(5)) == ids[-1] + 1 and store.count() == 3
    store.close()
