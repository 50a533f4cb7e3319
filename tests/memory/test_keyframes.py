"""Keyframes of stored clips (schema 5): stored with the clip, deleted with it, counted in retention, and a thumbnail
stand-in for clips stored before them, in a writer's upgraded memory and in an older memory read as it is."""
import sqlite3

from memory.check import check_memory
from memory.clip import Keyframe
from memory.config import StoreConfig
from memory.schema import SCHEMA_VERSION
from tests.memory.test_folder import snapshot
from tests.memory.test_store import make_clip, open_store


def with_keyframes(i: int, n: int = 3, size: int = 100, stream: str = "cam"):
    """make_clip(i) with n keyframes of `size` bytes each, spread over the clip, with wall times."""
    clip = make_clip(i, stream)
    clip.wall_start, clip.wall_end = 1795356190.0 + clip.start, 1795356190.0 + clip.end
    clip.keyframes = [Keyframe(clip.start + 2.0 * k, clip.wall_start + 2.0 * k, bytes([i, k]) * (size // 2))
                      for k in range(n)]
    return clip


def test_keyframes_round_trip_in_order_and_get_stays_without_them(tmp_path):
    store = open_store(tmp_path)
    clips = [with_keyframes(i, n=i + 1) for i in range(3)]
    ids = [store.add(c) for c in clips]
    store.close()
    store = open_store(tmp_path, readonly=True)
    got = store.load(ids[::-1]).clips
    assert [c.id for c in got] == ids[::-1]
    for clip, want in zip(got, clips[::-1]):
        assert clip.keyframes == want.keyframes and len(clip.keyframes) == len(want.keyframes)
    assert store.keyframes(ids) == {cid: c.keyframes for cid, c in zip(ids, clips)}
    assert all(c.keyframes == [] for c in store.get(ids))                 # get stays cheap
    assert store.keyframes([]) == {} and store.keyframes([999]) == {}
    store.close()


def test_delete_and_retention_remove_keyframes_with_their_clips(tmp_path):
    store = open_store(tmp_path)
    ids = [store.add(with_keyframes(i)) for i in range(3)]
    store.delete([ids[0]])
    db = sqlite3.connect(tmp_path / "memory.sqlite")
    assert sorted({r[0] for r in db.execute("SELECT clip FROM keyframes")}) == ids[1:]
    assert store.keyframes([ids[0]]) == {}
    store.close()
    store = open_store(tmp_path / "r", StoreConfig(max_clips=2))
    for i in range(4):
        store.add(with_keyframes(i))
    db = sqlite3.connect(tmp_path / "r" / "memory.sqlite")
    assert db.execute("SELECT COUNT(DISTINCT clip), COUNT(*) FROM keyframes").fetchone() == (2, 6)
    store.close()


def test_retention_by_bytes_counts_keyframe_bytes(tmp_path):
    """The same clips with and without 20 KB of keyframes each, under one byte cap: the cap holds every plain clip
    and, counting the keyframes, only some of the others."""
    plain = open_store(tmp_path / "plain")
    plain.add(make_clip(0))
    token_bytes = plain.bytes()
    plain.close()
    cap = 4 * (token_bytes + 20_000)
    plain = open_store(tmp_path / "plain2", StoreConfig(max_bytes=cap))
    heavy = open_store(tmp_path / "heavy", StoreConfig(max_bytes=cap))
    for i in range(8):
        plain.add(make_clip(i))
        heavy.add(with_keyframes(i, n=4, size=5_000))
    assert plain.count() == 8
    assert heavy.count() == 4 and heavy.bytes() == 4 * (token_bytes + 20_000) <= cap
    assert [c.start for c in heavy.clips()] == [8.0 * i for i in range(4, 8)]    # the oldest went
    plain.close()
    heavy.close()


def schema_4(folder):
    """A memory as schema 4 wrote it: today's store, its keyframes table dropped and its schema set back to 4."""
    db = sqlite3.connect(folder / "memory.sqlite")
    db.executescript("DROP TABLE keyframes; UPDATE meta SET value = '4' WHERE key = 'schema';")
    db.close()


def test_a_schema_4_memory_is_read_with_thumbnail_keyframes_and_its_writer_adds_the_table(tmp_path):
    store = open_store(tmp_path)
    old = [make_clip(0), make_clip(1)]
    old[1].wall_start, old[1].wall_end = 1795356190.0, 1795356197.0
    ids = [store.add(c) for c in old]
    store.close()
    schema_4(tmp_path)
    before = snapshot(tmp_path)
    reader = open_store(tmp_path, readonly=True)                   # read as it is: no table, thumbnails stand in
    loaded = reader.load(ids).clips
    assert [c.id for c in loaded] == ids
    assert [c.keyframes for c in loaded] == [[Keyframe(3.5, None, old[0].thumbnail)],
                                              [Keyframe(11.5, 1795356193.5, old[1].thumbnail)]]
    assert reader.keyframes(ids) == {c.id: c.keyframes for c in loaded}
    reader.close()
    assert snapshot(tmp_path) == before                            # the reader changed nothing
    writer = open_store(tmp_path)                                  # the writer adds the table, keeps the clips
    new = writer.add(with_keyframes(5))
    writer.close()
    db = sqlite3.connect(tmp_path / "memory.sqlite")
    assert dict(db.execute("SELECT key, value FROM meta"))["schema"] == str(SCHEMA_VERSION)
    assert len(dict(db.execute("SELECT id, checksum FROM clips"))[new]) == 64     # schema 6: its checksum
    db.close()
    store = open_store(tmp_path, readonly=True)
    got = store.load([*ids, new]).clips
    assert [len(c.keyframes) for c in got] == [1, 1, 3]
    assert got[0].keyframes[0].jpeg == old[0].thumbnail and got[2].keyframes == with_keyframes(5).keyframes
    store.close()


def test_check_reports_and_repair_removes_keyframes_whose_clip_row_is_gone(tmp_path):
    store = open_store(tmp_path)
    ids = [store.add(with_keyframes(i)) for i in range(2)]
    store.close()
    db = sqlite3.connect(tmp_path / "memory.sqlite")
    db.execute("DELETE FROM clips WHERE id = ?", (ids[0],))        # a database edited by hand
    db.commit()
    db.close()
    report = check_memory(tmp_path)
    assert [f.key for f in report.problems_left if f.key[0] == "keyframes"] == [("keyframes",)]
    report = check_memory(tmp_path, repair=True)
    assert [f.key for f in report.findings if f.fixed and f.key[0] == "keyframes"] == [("keyframes",)]
    db = sqlite3.connect(tmp_path / "memory.sqlite")
    assert {r[0] for r in db.execute("SELECT clip FROM keyframes")} == {ids[1]}
    db.close()
