"""The engine with an answer server: what a question sends, the light mode, and ingestion that never waits on a slow
or dead server (the faults come from tests/fault_server.py)."""
import base64
import threading
import time

import pytest

from models.config import ModelConfig, ServerConfig
from models.remote import ServerError
from stream.engine import Engine, EngineConfig, NoAnswerer
from stream.ingest import Step, decode_jpeg
from stream.sources import FileSource

CLIP = "one-by-one-person-detection.mp4"


def _frames(videos, start: float, end: float):
    return (f for f in FileSource(str(videos / CLIP), 1.0).frames() if start <= f.time < end)


def _engine(llm, embedder, url: str | None, light: bool = False, **server) -> Engine:
    cfg = EngineConfig(model=ModelConfig(llm="tiny", embedder="tiny", light=light),
                       server=ServerConfig(url=url, model="fake" if url else "", **server))
    return Engine(cfg, llm=None if light else llm, embedder=embedder)


def test_a_question_sends_keyframes_and_the_live_window_with_their_times(llm, embedder, videos, tmp_path, fault):
    s = fault(["ok"])
    engine = _engine(llm, embedder, s.url, max_frames=64)
    session = engine.open(str(tmp_path / "m"), stream="room")
    for _ in session.run(_frames(videos, 0, 20)):
        pass
    answer = session.ask("What happened?")
    assert answer.text() == "a person walks"
    assert answer.prompt_tokens is None and answer.warning is None     # the server's model is not a tiny build here
    body = s.faults.requests[0][1]
    parts = body["messages"][1]["content"]
    images = [p for p in parts if p["type"] == "image_url"]
    labels = [p["text"] for p in parts if p["type"] == "text" and p["text"].startswith("Frame at ")]
    # Every shown clip's keyframes, then the window's frames; each image after its time.
    stored = sum(len(c.keyframes) for c in answer.clips)
    assert answer.window is not None and stored >= len(answer.clips) >= 1
    assert len(images) == len(labels) == answer.request.frames == stored + len(answer.window.prompt.frames)
    assert len(answer.window.prompt.frames) == 2
    first = answer.clips[0].keyframes[0]
    assert labels[0] == f"Frame at 00:00:{round(first.time):02d}:"
    img = decode_jpeg(base64.b64decode(images[0]["image_url"]["url"].split(",", 1)[1]))
    assert max(img.shape[:2]) <= engine.config.ingest.keyframe_side
    assert "Question: What happened?" in parts[-1]["text"] and "Time now:" in parts[-1]["text"]
    assert f"{answer.request.frames} frames" in answer.cost()


def test_the_frame_budget_bounds_what_is_sent(llm, embedder, videos, tmp_path, fault):
    s = fault(["ok"])
    session = _engine(llm, embedder, s.url, max_frames=3).open(str(tmp_path / "m"), stream="room")
    for _ in session.run(_frames(videos, 0, 40)):
        pass
    answer = session.ask("What happened?")
    answer.text()
    assert answer.request.frames == 3
    assert sum(p["type"] == "image_url" for p in s.faults.requests[0][1]["messages"][1]["content"]) == 3


def test_ingestion_never_waits_on_a_hanging_server(llm, embedder, videos, tmp_path, fault):
    s = fault(["hang"], hang_s=60)
    engine = _engine(llm, embedder, s.url, retries=0, timeout=60)
    session = engine.open(str(tmp_path / "m"), stream="room")
    for _ in session.run(_frames(videos, 0, 10)):
        pass
    answer = session.ask("What happened?")
    failed = []

    def read():
        try:
            answer.text()
        except ServerError as e:
            failed.append(str(e))
    reader = threading.Thread(target=read)
    reader.start()
    while not s.faults.requests:                 # the question is at the server, which says nothing
        time.sleep(0.05)
    steps = [st for st in session.run(_frames(videos, 10, 30)) if isinstance(st, Step)]
    assert len(steps) == 10 and reader.is_alive()  # 20 s of stream ingested while the answer still hangs
    s.faults.release.set()                          # the server gives up without a word
    reader.join(10)
    assert not reader.is_alive() and failed and "\n" not in failed[0]


def test_a_caption_through_a_dead_server_fails_in_one_line(llm, embedder, videos, tmp_path):
    session = _engine(llm, embedder, "http://127.0.0.1:9/v1", retries=0).open(str(tmp_path / "m"), stream="room")
    for _ in session.run(_frames(videos, 0, 10)):
        pass
    clip = session.store.load(session.store.latest("room", 1)).clips[0]
    with pytest.raises(ServerError, match="unreachable"):
        session.caption(clip)
    assert session.store.get([clip.id])[0].caption is None       # nothing stored from a failed caption


def test_light_mode_loads_no_video_llm_and_answers_through_the_server(embedder, videos, tmp_path, fault):
    from models.patches import PatchEncoder
    s = fault(["ok"])
    engine = _engine(None, embedder, s.url, light=True)
    assert isinstance(engine.llm, PatchEncoder)
    session = engine.open(str(tmp_path / "m"), stream="room")
    steps = [st for st in session.run(_frames(videos, 0, 30)) if isinstance(st, Step)]
    assert sum(st.kept for st in steps) < sum(st.total for st in steps)      # the drop works on patch features
    answer = session.ask("What happened?")
    assert answer.text() == "a person walks" and answer.request.frames >= 2


def test_light_mode_without_a_server_ingests_but_cannot_answer(embedder, videos, tmp_path):
    engine = _engine(None, embedder, None, light=True)
    assert engine.answerer is None
    session = engine.open(str(tmp_path / "m"), stream="room")
    for _ in session.run(_frames(videos, 0, 10)):
        pass
    assert session.store.count("room") >= 1
    with pytest.raises(NoAnswerer, match="--answer-with URL"):
        session.ask("What happened?")


def test_a_server_reads_a_memory_of_another_video_llm(llm, embedder, videos, tmp_path, fault):
    """`ask` through a server loads no video LLM: the memory's tokens are never read, so its model need not match."""
    local = _engine(llm, embedder, None).open(str(tmp_path / "m"), stream="room")
    for _ in local.run(_frames(videos, 0, 10)):
        pass
    local.close()
    s = fault(["ok"])
    engine = _engine(None, embedder, s.url, light=True)
    with pytest.raises(Exception, match="was built with llm"):
        engine.open(str(tmp_path / "m"), stream="room")           # a writer must match
    session = engine.open(str(tmp_path / "m"), stream="room", readonly=True)
    for f in (tmp_path / "m" / "tokens").iterdir():      # a server is shown keyframes: lost tokens cost it nothing
        f.unlink()
    answer = session.ask("What happened?")
    assert answer.text() == "a person walks" and answer.clips and not answer.skipped
    assert answer.request.frames == sum(len(c.keyframes) for c in answer.clips)


def test_rules_need_something_to_check_them_and_failed_checks_show_in_the_status(llm, embedder, videos, tmp_path):
    from stream.service.watch import Watcher, WatchSpec
    light = _engine(None, embedder, None, light=True)
    spec = WatchSpec(name="cam", source=str(videos / "bikes.mp4"), memory=str(tmp_path / "a"), realtime=False,
                     rules=["a person enters"])
    with pytest.raises(ValueError, match="cannot check watch rules: the light mode has no video LLM"):
        Watcher(light, spec)
    w = Watcher(light, WatchSpec(name="cam", source=str(videos / "bikes.mp4"), memory=str(tmp_path / "b"),
                                 realtime=False))
    with pytest.raises(ValueError, match="cannot check watch rules"):
        w.set_rules(["a person enters"])
    w.close()
    dead = _engine(llm, embedder, "http://127.0.0.1:9/v1", retries=0)   # scene-change alerts are described by it
    w = Watcher(dead, WatchSpec(name="cam", source=str(videos / "bikes.mp4"), memory=str(tmp_path / "c"),
                                realtime=False))
    w.start()
    w.join(120)
    w.close()
    status = w.status()
    assert status["state"] == "ended" and w.stats().clips >= 4                     # the stream went on regardless
    assert status["checks_failed"] >= 1 and "unreachable" in status["check_error"]
