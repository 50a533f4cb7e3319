"""A camera's own settings (the serve config's [[camera]] keys over [defaults]) on one shared engine: its sampling
rate, events only (no video LLM), the images it sends an answer server, its retention and the hours its alerts are
sent. The model is the tiny random one (its text is noise); the frames are the real clips."""
import time

import numpy as np
import pytest

from models.config import ModelConfig
from stream.engine import Engine, EngineConfig
from stream.service.watch import Watcher, WatchSpec


@pytest.fixture(scope="module")
def engine(llm, embedder):
    return Engine(EngineConfig(model=ModelConfig(llm="tiny", embedder="tiny")), llm=llm, embedder=embedder)


def _watch(engine, spec: WatchSpec, **kw) -> Watcher:
    w = Watcher(engine, spec, **kw).start()
    w.join(120)
    assert not w.running
    return w


def test_two_cameras_on_one_engine_sample_at_their_own_rates(engine, videos, tmp_path):
    clip = str(videos / "bottle-detection.mp4")              # 40 s of a fixed camera: no cut ends a step early
    fast = _watch(engine, WatchSpec(name="fast", source=clip, memory=str(tmp_path / "f"), realtime=False, fps=2.0))
    slow = _watch(engine, WatchSpec(name="slow", source=clip, memory=str(tmp_path / "s"), realtime=False, fps=0.5))
    per_step = engine.llm.frames_per_step
    for w, fps in ((fast, 2.0), (slow, 0.5)):
        steps = w.series()[0]
        starts = np.array([s.time for s in steps])
        assert w.stats().error is None and w.stats().frames == pytest.approx(40 * fps, abs=1)
        # A step every 1 s, and every 4 s (to a source frame: the clip is 17.9 fps); the last may be cut short.
        assert np.allclose(np.diff(starts)[:-1], per_step / fps, atol=0.1)
        clips = w.session.store.load(w.session.store.latest(w.spec.name, 100), tokens=False).clips
        assert clips and all(c.seconds_per_step == pytest.approx(per_step / fps) for c in clips)
        w.close()
    assert engine.ingestor.step_seconds == per_step / engine.config.ingest.sampling.fps       # the engine's own: 1 fps
    with pytest.raises(ValueError, match=r"fps must be in \(0, 30\]"):
        Watcher(engine, WatchSpec(name="x", source=clip, memory=str(tmp_path / "x"), fps=40.0))


def test_an_events_only_camera_never_runs_the_tower_yet_alerts_and_keeps_its_timeline(engine, videos, tmp_path,
                                                                                      monkeypatch):
    from stream.engine import EventsOnly
    from stream.service.feed import AlertFeed
    calls = []
    encode = engine.llm.encode
    monkeypatch.setattr(engine.llm, "encode", lambda pix: calls.append(len(pix)) or encode(pix))
    clip = str(videos / "bottle-detection.mp4")            # a hand moves bottles: activity
    feed = AlertFeed()
    w = _watch(engine, WatchSpec(name="shed", source=clip, memory=str(tmp_path / "e"), realtime=False,
                                 video_llm=False, sinks=[feed]))
    assert calls == [] and w.stats().error is None and w.stats().steps >= 19
    sent = feed.recent(camera="shed")
    assert any(a.kind.startswith("activity") for a in sent)                   # the detectors still alert
    assert all(a.description is None for a in sent)                          # nothing described them
    store = w.session.store
    assert len(store.steps("shed")) == w.stats().steps and store.events("shed")      # the timeline is stored
    clips = store.load(store.latest("shed", 100)).clips
    assert clips and all(c.n_tokens == 0 and c.keyframes and c.key is not None for c in clips)
    with pytest.raises(EventsOnly, match="events-only"):
        w.session.ask("What happened?")
    with pytest.raises(ValueError, match="events-only .* checked by the video LLM"):
        w.set_rules(["a person enters"])
    with pytest.raises(ValueError, match="checked by the video LLM"):
        Watcher(engine, WatchSpec(name="x", source=clip, memory=str(tmp_path / "x"), video_llm=False, rules=["r"]))
    full = _watch(engine, WatchSpec(name="full", source=str(videos / "bikes.mp4"), memory=str(tmp_path / "f"),
                                    realtime=False))
    assert calls                                                               # the counter counts a camera's tower
    answer = engine.ask_across([w.session, full.session], "What happened?")  # the events-only camera is left out
    assert answer.clips and {c.stream for c in answer.clips} == {"full"}
    answer.pieces.close()
    with pytest.raises(EventsOnly):
        engine.ask_across([w.session], "What happened?")
    w.close()
    full.close()


def test_a_camera_s_image_cap_bounds_what_its_descriptions_and_questions_send(llm, embedder, videos, tmp_path,
                                                                              answer_server):
    """The requests the real OpenAI client builds, recorded on their way to a real server (`transformers serve`)."""
    import json

    import httpx
    import openai

    from models.config import ServerConfig
    from models.remote import ServerAnswerer
    from stream.service.verifier import model_describer
    from stream.sources import FileSource
    sent = []
    client = openai.OpenAI(base_url=answer_server.base_url, api_key="none", max_retries=0, http_client=httpx.Client(
        event_hooks={"request": [lambda r: sent.append(json.loads(r.read()))]}))
    server = ServerConfig(url=answer_server.base_url, model=answer_server.model, max_frames=16)
    engine = Engine(EngineConfig(model=ModelConfig(llm="tiny", embedder="tiny"), server=server), llm=llm,
                    embedder=embedder, answerer=ServerAnswerer(server, 8, client=client))

    def images() -> int:
        return sum(p["type"] == "image_url" for m in sent[-1]["messages"] if isinstance(m["content"], list)
                   for p in m["content"])
    for cap, memory in ((None, "whole"), (2, "capped")):
        session = engine.open(str(tmp_path / memory), stream="room", max_images=cap)
        for _ in session.run(f for f in FileSource(str(videos / "bottle-detection.mp4"), 1.0).frames() if f.time < 20):
            pass
        clip = max(session.load(session.store.latest("room", 10)).clips, key=lambda c: len(c.keyframes))
        assert len(clip.keyframes) == engine.config.ingest.keyframes > 2
        model_describer(session.about)("activity_start", clip)           # an alert's description, as the verifier asks
        assert images() == (len(clip.keyframes) if cap is None else cap)
        answer = session.ask("What happened?")
        answer.text()
        assert images() == answer.request.frames
        assert images() > 2 if cap is None else images() == cap                 # clips and the live window
        session.close()
    with pytest.raises(ValueError, match="max_images must be an integer >= 1"):
        engine.open(str(tmp_path / "bad"), stream="room", max_images=0)


def test_a_camera_s_byte_retention_bounds_its_memory(engine, videos, tmp_path):
    clip = str(videos / "bikes.mp4")
    whole = _watch(engine, WatchSpec(name="a", source=clip, memory=str(tmp_path / "a"), realtime=False))
    clips, total = whole.session.store.count("a"), whole.session.store.bytes("a")
    whole.close()
    bound = total // 2
    kept = _watch(engine, WatchSpec(name="b", source=clip, memory=str(tmp_path / "b"), realtime=False,
                                    max_bytes=bound))
    assert 0 < kept.session.store.count("b") < clips and kept.session.store.bytes("b") <= bound   # the oldest went
    assert kept.session.store.config.max_bytes == bound and kept.session.store.config.max_clips is None
    kept.close()


def _today(hour: int, minute: int) -> float:
    """Unix time of today at hour:minute, local time (as a schedule reads it)."""
    t = time.localtime()
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, hour, minute, 0, 0, 0, -1))


def test_alerts_outside_the_schedule_are_kept_but_not_sent(engine, videos, tmp_path):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from stream.service.feed import AlertFeed
    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass
    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # A file's alerts have no wall time of their own: each is sent by the clock's time when it is raised, the first
    # at 23:30 (in the night window), every later one at noon (outside it).
    times = iter([_today(23, 30)])
    feed = AlertFeed()
    try:
        w = _watch(engine, WatchSpec(name="yard", source=str(videos / "bottle-detection.mp4"),
                                     memory=str(tmp_path / "y"), realtime=False, video_llm=False, sinks=[feed],
                                     webhook=f"http://127.0.0.1:{server.server_port}/hook",
                                     schedule=["22:00-06:00"]), wall_clock=lambda: next(times, _today(12, 0)))
    finally:
        server.shutdown()
    raised = w.alerts()[::-1]                                          # oldest first
    assert len(raised) >= 2 and w.stats().error is None
    assert [g["id"] for g in got] == [raised[0].id]                    # only the one inside the window was sent
    assert [a.id for a in feed.recent(camera="yard")][::-1] == [a.id for a in raised]      # the API's feed: all
    logged = [json.loads(line)["id"] for line in (tmp_path / "y" / "alerts.jsonl").read_text().splitlines()]
    assert logged == [a.id for a in raised]                            # and the camera's alerts.jsonl: all
    w.close()
    with pytest.raises(ValueError, match="schedule window '25:00-06:00' must be \"HH:MM-HH:MM\""):
        Watcher(engine, WatchSpec(name="x", source=str(videos / "bikes.mp4"), memory=str(tmp_path / "x"),
                                  schedule=["25:00-06:00"]))


@pytest.mark.parametrize("windows, inside, outside", [
    (["22:00-06:00"], [(22, 0), (23, 59), (0, 0), (5, 59)], [(6, 0), (12, 0), (21, 59)]),
    (["08:00-12:00", "13:00-18:00"], [(8, 0), (11, 59), (17, 0)], [(7, 59), (12, 0), (12, 30), (18, 0)]),
    ([], [(0, 0), (12, 0)], []),
])
def test_a_schedule_reads_local_time_windows_across_midnight(windows, inside, outside):
    from stream.service.schedule import Schedule
    s = Schedule(windows)
    assert all(s.allows(_today(h, m)) for h, m in inside) and not any(s.allows(_today(h, m)) for h, m in outside)
