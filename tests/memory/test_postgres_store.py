"""The shared store on a real PostgreSQL with pgvector (tests/postgres.py): the store interface both backends keep
(the same test on a folder and on the database), then what only the shared store has: ids from the database, a write
retried after its answer was lost, leases between workers, the server killed mid-write."""
import threading
import time

import psycopg
import pytest
import torch

from memory.check import check_memory
from memory.clip import Evidence, Keyframe
from memory.config import StoreConfig
from memory.folder import StorageFault, StoreError
from memory.postgres_store import LeaseLost, PostgresStore
from memory.store import StepRecord, StoreIdentity, StreamLog
from memory.stores import is_store_url, open_store, recorded_models
from memory.when import TimeSpan
from tests.memory.test_store import DIM, D, make_clip

IDENTITY = StoreIdentity(embedder="emb", key_dim=DIM, llm="llm", token_dim=D)


@pytest.fixture(params=["folder", "postgres"])
def where(request, tmp_path):
    """A memory's location: a folder, or a shared store (a database of its own)."""
    if request.param == "folder":
        return str(tmp_path / "m")
    return request.getfixturevalue("pg_url")


def log(first: int, n: int = 2, events: int = 1) -> StreamLog:
    from stream.events import Event
    return StreamLog(steps=[StepRecord(i, 2.0 * i, 2.0 * i + 2, 10, 4, True, 0, 0.9) for i in range(first, first + n)],
                     events=[Event("scene_change", 2.0 * first, {"score": 1.5})] * events,
                     progress=(f'{{"step": {first + n}}}', b"\x01\x02"))


def test_both_stores_keep_the_same_verbs(where):
    """Written, read back, searched (a span's search exact against brute force), kept within retention: the same
    answers from the folder and from PostgreSQL."""
    store = open_store(where, IDENTITY, StoreConfig(max_clips=6))
    clips = [make_clip(i, stream="a" if i % 2 else "b") for i in range(14)]
    clips[3].keyframes = [Keyframe(24.5, None, b"kf1"), Keyframe(26.0, None, b"kf2")]
    for i, c in enumerate(clips):
        store.claim(c.stream)
        store.add(c, log(2 * i))
    assert store.streams() == {"a": 6, "b": 6}                                   # retention per stream
    kept = store.clips()
    assert [c.start for c in kept] == sorted(c.start for c in clips[2:])
    ids = [c.id for c in kept]
    assert ids == sorted(ids)                                                    # ids grow with time
    loaded = store.load([clips[5].id]).clips[0]
    assert torch.equal(loaded.tokens, clips[5].tokens) and torch.equal(loaded.positions, clips[5].positions)
    assert store.keyframes([clips[3].id])[clips[3].id] == clips[3].keyframes
    assert store.keyframes([clips[5].id])[clips[5].id][0].jpeg == clips[5].thumbnail   # none stored: the thumbnail
    # A span's search scores exactly the span's clips: brute force over the same keys agrees.
    span = TimeSpan(start=40.0, end=80.0, wall=False, phrase="then")
    query = clips[7].key
    inside = [c for c in kept if c.stream == "a" and c.end >= 40.0 and c.start <= 80.0]
    brute = sorted(inside, key=lambda c: -float(c.key @ query))
    got = store.search(query, 2, stream="a", span=span)
    assert [i for i, _ in got] == [c.id for c in brute[:2]]
    assert abs(got[0][1] - float(brute[0].key @ query)) < 1e-5
    assert store.search(query, 1)[0][0] == clips[7].id                           # the walk finds its own clip
    assert store.latest("b", 2) == [clips[12].id, clips[10].id]
    assert store.key_scores([clips[7].id], query)[clips[7].id] == pytest.approx(1.0, abs=1e-5)
    store.set_caption(clips[9].id, "a bike passes", clips[9].key)
    assert store.search(clips[9].key, 1, kind="caption") == [(clips[9].id, pytest.approx(1.0, abs=1e-5))]
    assert [c.text for c in store.captions("a") if c.text] == ["a bike passes"]
    # Each stream's record: steps from its oldest clip left on (retention trims the rest), events, resume point.
    assert store.extent("b").next_step == 26
    assert store.progress("b") == ('{"step": 26}', b"\x01\x02")
    assert [s.index for s in store.steps("b")][-2:] == [24, 25]
    assert store.events("a")[-1] == ("scene_change", 52.0, {"score": 1.5})
    store.add_evidence(Evidence("al1", "a", 60.0, 70.0, b"mp4" * 10, 11))
    assert store.evidence("al1").mp4 == b"mp4" * 10 and store.evidence_over("a", 65.0, 90.0).alert == "al1"
    assert store.evidence_bytes("a") == (1, 30)
    store.mark_missing([clips[7].id])
    assert clips[7].id not in [i for i, _ in store.search(query, 14)] and store.missing() == [clips[7].id]
    store.close()
    reader = open_store(where, None, readonly=True)                              # another process's view
    assert reader.count() == 12 and reader.key_dim == DIM
    with pytest.raises(StoreError, match="read-only"):
        reader.add(make_clip(40))
    reader.close()
    assert recorded_models(where) == {"embedder": "emb", "llm": "llm"}


def test_a_store_of_other_models_is_refused_in_one_line_and_left_as_it_was(postgres, pg_url):
    open_store(pg_url, IDENTITY).close()
    with pytest.raises(StoreError, match="built with embedder 'emb', this run uses 'other'") as e:
        open_store(pg_url, StoreIdentity(embedder="other", key_dim=DIM, llm="llm", token_dim=D))
    assert "\n" not in str(e.value)
    with pytest.raises(StoreError, match="no memory in the shared store"):
        open_store(postgres.new_database(), None, readonly=True)


def test_ids_come_from_the_database_and_a_retried_write_is_not_stored_twice(pg_url):
    store = open_store(pg_url, IDENTITY, StoreConfig(max_clips=2))
    store.claim("cam")
    first = [store.add(make_clip(i), log(2 * i)) for i in range(4)]
    assert first == sorted(first) and len(set(first)) == 4 and store.count() == 2       # two deleted by retention
    later = store.add(make_clip(9), log(18))
    assert later > max(first)                                                    # never a deleted clip's id
    again = make_clip(9)                                                        # its commit's answer was lost:
    assert store.add(again, log(18)) == later and store.count() == 2            # the same clip, stored once
    store.record("cam", log(30))
    store.record("cam", log(30))                                                 # a log retried likewise
    assert [s.index for s in store.steps("cam")].count(30) == 1
    store.close()


def test_a_camera_is_written_by_one_worker_and_a_dead_workers_lease_runs_out(pg_url):
    config = StoreConfig(lease_seconds=1.0)
    a, b = open_store(pg_url, IDENTITY, config), open_store(pg_url, IDENTITY, config)
    a.claim("door")
    b.claim("yard")                                                              # other cameras: both workers write
    with pytest.raises(LeaseLost, match="camera 'door' .* is being written by worker .*; stop that one") as e:
        b.claim("door")
    assert "\n" not in str(e.value)
    time.sleep(1.5)                    # longer than the lease: a's renewal keeps it
    with pytest.raises(LeaseLost):
        b.claim("door")
    a.add(make_clip(0, stream="door"))
    a._stop.set()                      # a's process hangs: nothing renews its lease any more
    a._renewer.join()
    deadline = time.monotonic() + 10
    while True:                        # the lease runs out (server time), then b takes the camera
        try:
            b.claim("door")
            break
        except LeaseLost:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert b.extent("door").end == make_clip(0).end                              # and continues after what is stored
    b.add(make_clip(1, stream="door"))
    with pytest.raises(LeaseLost, match="camera 'door'"):                        # a, back, is fenced off
        a.add(make_clip(2, stream="door"))
    assert b.streams() == {"door": 2}
    b.close()                                                                    # b gives its cameras back
    c = open_store(pg_url, IDENTITY, config)
    c.claim("door")
    assert set(c.leases()) == {"door"}
    c.close()
    a.close()


def test_a_server_killed_mid_write_loses_nothing_and_writes_go_on_when_it_is_back(postgres, pg_url):
    store = open_store(pg_url, IDENTITY)
    store.claim("cam")
    reader = open_store(pg_url, None, readonly=True)
    ids = [store.add(make_clip(i), log(2 * i)) for i in range(3)]
    stop = threading.Event()
    refused, written = [], [3]

    def writer():                      # a stream that keeps writing through the outage, as a live camera's loop does
        while not stop.is_set():
            try:
                store.add(make_clip(written[0]), log(2 * written[0]))
                written[0] += 1
            except StorageFault as e:
                refused.append(str(e))
            time.sleep(0.02)

    t = threading.Thread(target=writer)
    t.start()
    while written[0] < 6:
        time.sleep(0.01)
    postgres.kill()
    time.sleep(0.5)
    with pytest.raises(StoreError, match="shared store at postgresql://.*: could not .*what was stored") as e:
        reader.count()
    assert "\n" not in str(e.value)
    postgres.start()
    back = written[0]
    while written[0] < back + 3:       # writes go on once the server is back
        time.sleep(0.01)
    stop.set()
    t.join()
    assert refused and all("\n" not in r for r in refused)
    clips = reader.clips()
    starts = [c.start for c in clips]
    assert starts == [8.0 * i for i in range(len(clips))]                        # none lost, none twice
    steps = [s.index for s in reader.steps("cam")]
    assert steps == list(range(2 * len(clips)))
    assert [c.id for c in clips][:3] == ids
    for c in clips:
        assert torch.equal(reader.tokens(c.id, c.n_tokens)[0], make_clip(int(c.start // 8)).tokens)
    store.close()
    reader.close()


def test_the_check_of_a_shared_store_finds_changed_tokens_and_marks_them(pg_url):
    store = open_store(pg_url, IDENTITY)
    store.claim("cam")
    ids = [store.add(make_clip(i)) for i in range(3)]
    store.close()
    assert is_store_url(pg_url) and check_memory(pg_url).problems_left == []
    with psycopg.connect(pg_url, autocommit=True) as db:               # a bad disk under the database flips bytes
        db.execute("UPDATE vigil_tokens SET data = overlay(data placing '\\x00'::bytea from 200) WHERE clip = %s",
                   (ids[1],))
    report = check_memory(pg_url)
    assert [f.key for f in report.problems_left] == [("lost", ids[1])]
    assert "fail their checksum" in report.problems_left[0].text
    fixed = check_memory(pg_url, repair=True)
    assert fixed.problems_left == [] and all(f.fixed for f in fixed.findings if f.problem)
    reader = open_store(pg_url, None, readonly=True)
    assert reader.missing() == [ids[1]] and len(reader.load(ids).unreadable) == 1
    reader.close()


def test_an_unreachable_server_is_one_line_that_never_shows_the_password(tmp_path):
    with pytest.raises(StoreError, match="shared store at postgresql://.*: could not open it: ") as e:
        open_store(f"postgresql:///none?host={tmp_path}", IDENTITY)
    assert "\n" not in str(e.value)
    for fail in (lambda url: open_store(url, IDENTITY), lambda url: open_store(url, None, readonly=True),
                 lambda url: PostgresStore.reach(url)):
        with pytest.raises(StoreError) as e:
            fail("postgresql://vigil:sekret@127.0.0.1:1/vigil")        # nothing listens on port 1
        assert "sekret" not in str(e.value) and "postgresql://vigil:***@127.0.0.1:1/vigil" in str(e.value)


def test_workers_starting_at_once_make_the_store_once(postgres):
    """Eight workers open a new store at the same moment: one makes the extension and the tables, all open it."""
    url = postgres.new_database()
    opened, errors = [], []

    def worker():
        try:
            opened.append(open_store(url, IDENTITY))
        except StoreError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(opened) == 8 and len({s.memory_id for s in opened}) == 1
    for s in opened:
        s.close()


def test_a_questions_candidates_come_the_same_from_both_stores_in_one_round_trip(tmp_path, pg_url):
    """`found`, which selection reads: the same ids, scores and sizes from a folder and from PostgreSQL (where it is
    one statement), for a camera, a span, and with clips deleted."""
    stores = [open_store(str(tmp_path / "m"), IDENTITY), open_store(pg_url, IDENTITY)]
    for store in stores:
        for i in range(20):
            c = make_clip(i, stream="a" if i % 3 else "b")
            store.claim(c.stream)
            cid = store.add(c)
            if i % 4 == 0:
                store.set_caption(cid, "x", make_clip(100 + i).key)
        store.delete([store.latest("a", 1)[0]])
    query = make_clip(7).key
    span = TimeSpan(start=30.0, end=120.0, wall=False, phrase="then")
    for args in (("a", None, None), ("a", None, span), ("b", 90.0, None)):
        got = [s.found(query, 5, *args, latest=2, scores=True) for s in stores]
        ids = [{c.id: i for i, c in enumerate(s.clips())} for s in stores]    # ids differ: compare by position
        a, b = ([(ids[k][x] if isinstance(x, int) else (ids[k][x[0]], round(x[1], 5))) for x in lst]
                for k, lst in enumerate((got[0].visual, got[1].visual)))
        assert a == b and 1 <= len(a) <= 5
        for f, m in zip(got, ids):
            assert set(f.meta) == set(f.scores) >= {i for i, _ in f.visual} | set(f.latest)
        assert [ids[0][i] for i in got[0].latest] == [ids[1][i] for i in got[1].latest]
        assert [ids[0][i] for i, _ in got[0].caption] == [ids[1][i] for i, _ in got[1].caption]
    for s in stores:
        s.close()


def test_a_shared_stores_cameras_are_found_at_once_as_one_by_one(pg_url):
    """found_across: every camera's candidates in one statement, the same as asking each camera alone."""
    store = open_store(pg_url, IDENTITY)
    for i in range(30):
        c = make_clip(i, stream=f"cam{i % 3}")
        store.claim(c.stream)
        cid = store.add(c)
        if i % 5 == 0:
            store.set_caption(cid, "x", make_clip(200 + i).key)
    query = make_clip(11).key
    asks = [("cam0", None), ("cam1", TimeSpan(start=40.0, end=160.0, wall=False, phrase="then")), ("cam2", None)]
    at_once = store.found_across(query, 4, asks, 2, scores=True)
    alone = [store.found(query, 4, cam, None, span, 2, scores=True) for cam, span in asks]
    assert at_once == alone and all(f.visual for f in at_once)
    store.close()
