"""A live stream into the shared store (PostgreSQL, tests/postgres.py) through the database's death: the camera says
why, keeps its frames' record, retries on its backoff, and when the server is back stores every held clip in order:
nothing lost, nothing twice."""
from memory.stores import open_store
from models.config import ModelConfig
from stream.config import IngestConfig, StoreRetryConfig
from stream.engine import Engine, EngineConfig
from stream.ingest import ClipClosed
from tests.stream.test_ingest import frames


def test_a_live_stream_rides_out_a_database_restart_with_nothing_lost_or_twice(llm, embedder, postgres, pg_url):
    cfg = EngineConfig(model=ModelConfig(llm="tiny"),
                       ingest=IngestConfig(store_retry=StoreRetryConfig(hold_clips=16, initial=4.0, cap=8.0)))
    engine = Engine(cfg, llm=llm, embedder=embedder)
    now = [0.0]
    session = engine.open(pg_url, stream="cam")
    session.clock = lambda: now[0]
    faults, closed, down = [], [], False
    try:
        for record in session.run(frames(100, moving=True), batch=1, heal=True):
            now[0] = record.end                      # the session's clock follows the stream
            if isinstance(record, ClipClosed):
                closed.append(record.clip.start)
            if not down and record.end >= 16:
                postgres.kill()                      # the database dies mid-stream ...
                down = True
            elif down and 50 <= record.end < 52:
                postgres.start()                     # ... and is back 34 stream seconds later
            faults.append((record.end, session.fault))
    finally:
        postgres.start()
    during = [f for t, f in faults if f]
    assert during and all("shared store at postgresql://" in f and "\n" not in f for f in during)
    assert faults[-1][1] is None and session.fault is None and session.lost == 0    # healed on its own
    reader = open_store(pg_url, None, readonly=True)
    stored = [c.start for c in reader.clips("cam")]
    assert stored == closed == [float(s) for s in range(0, 100, 8)]                  # every clip, once, in order
    assert [s.time for s in reader.steps("cam")] == [float(t) for t in range(0, 100, 2)]
    assert reader.progress("cam") is not None
    reader.close()
    session.close()


def test_a_question_across_a_shared_stores_cameras_chooses_what_folders_would(llm, embedder, videos, tmp_path,
                                                                             pg_url):
    """Two cameras' real clips, once in a folder each and once in one shared store: the question across them picks
    the same clips (the shared store's in one statement for both cameras), each labelled with its camera."""
    from collections import deque

    from stream.sources import FileSource
    engine = Engine(EngineConfig(model=ModelConfig(llm="tiny")), llm=llm, embedder=embedder)
    engine.generate = lambda question, clips, context="", **options: iter(["ok"])
    answers = []
    for where in ("folder", "shared"):
        sessions = []
        for cam, clip in (("room", "one-by-one-person-detection.mp4"), ("street", "vtest.avi")):
            s = engine.open(pg_url if where == "shared" else str(tmp_path / cam), stream=cam)
            deque(s.run(FileSource(str(videos / clip), 1.0).frames()), maxlen=0)
            s.close()
            sessions.append(engine.open(pg_url if where == "shared" else str(tmp_path / cam), stream=cam,
                                        readonly=True))
        answer = engine.ask_across(sessions, "Who walks past?")
        answers.append([(c.stream, c.start, c.n_tokens) for c in answer.clips])
        for s in sessions:
            s.close()
    assert answers[0] == answers[1] and answers[0]
