"""The live app driven through its API with gradio_client, as another program would."""
import threading
import time

import pytest

from app.config import UIConfig
from app.handlers import Handlers
from app.service import Service, SourceRefused


def text_of(message: dict) -> str:
    """A chat message's text: Gradio 6 sends content as a list of typed parts."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def wait_for(fn, timeout=120.0, every=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_file_source_question_and_rule_alert_through_the_api(serve, videos):
    from gradio_client import Client
    asked = []
    lock = threading.Lock()

    def checker(rule, clip):            # a stub only here: random weights cannot say yes meaningfully
        with lock:
            asked.append((rule, clip.start))
        return True, "a person is standing at the table"

    url, handlers = serve(checker=checker, realtime_files=False)
    client = Client(url, verbose=False)
    status, _ = client.predict(str(videos / "one-by-one-person-detection.mp4"), None, "a person enters the room",
                               True, True, "", "", api_name="/start_file")     # the last: no camera name
    assert "one-by-one-person-detection" in status
    name = "one-by-one-person-detection"
    alerts = wait_for(lambda: [a for a in client.predict(name, api_name="/alerts") if a["kind"] == "rule"])
    rule = alerts[-1]
    assert rule["rule"] == "a person enters the room" and rule["reason"] == "a person is standing at the table"
    assert rule["clip"]["start"] >= 0 and rule["clip"]["end"] > rule["clip"]["start"]
    wait_for(lambda: not client.predict(api_name="/status")[name]["running"])
    stats = client.predict(api_name="/status")[name]
    assert stats["error"] is None and stats["clips"] > 0 and stats["steps"] == 70
    # Only clips that activity touched reach the checker, and each occurrence fires at most once.
    assert 0 < len(asked) < stats["clips"]
    every = client.predict(name, api_name="/alerts")
    assert len([a for a in every if a["kind"] == "rule"]) <= len([a for a in every if a["kind"] == "activity_start"]) + 1
    job = client.submit("When did someone come in?", [], name, False, api_name="/ask")
    history, used, box = job.result()
    used = used["value"]
    partial = [text_of(o[0][-1]) for o in job.outputs() if o[0]]
    assert len(partial) >= 3 and len(partial[1]) <= len(partial[-2])    # the answer arrived in pieces
    assert box == "" and [m["role"] for m in history] == ["user", "assistant"]
    assert text_of(history[0]) == "When did someone come in?"
    reply = text_of(history[1])
    assert "RANDOM WEIGHTS" in reply and "Shown: " in reply and len(used) > 0
    assert "live window" in reply            # the stream ran here: its newest steps are shown whole
    log = (handlers.config.memory_root + f"/{name}/alerts.jsonl")
    assert open(log).read().count("\n") == len(every)
    # "Ask all cameras": a second camera, one question over both, each clip named by its camera
    client.predict(str(videos / "vtest.avi"), None, "", True, True, "", "", api_name="/start_file")
    wait_for(lambda: not client.predict(api_name="/status")["vtest"]["running"], timeout=300)
    history, used, _ = client.predict("Where did someone walk?", [], name, True, api_name="/ask")
    assert used["visible"] is True              # the gallery is shown once it has clips (hidden while empty)
    used = used["value"]
    reply = text_of(history[1])
    assert "RANDOM WEIGHTS" in reply and "Shown of 2 cameras: " in reply and "live window" not in reply
    shown = reply.split("Shown of 2 cameras: ")[1].split(" (")[0].split(", ")
    assert shown and all(s.split(" ")[0] in (name, "vtest") for s in shown)
    assert [u["caption"].split(" ")[0] for u in used] == [s.split(" ")[0] for s in shown]
    # each clip used, playable: a link to its video under its own camera
    import re
    links = re.findall(r"\]\(/api/v1/cameras/([^/]+)/clips/(\d+)/clip\.mp4\)", reply)
    assert [camera for camera, _ in links] == [s.split(" ")[0] for s in shown]


def test_page_opens_without_a_model_and_says_how_to_fix(tmp_path):
    error = "cannot load Qwen/Qwen2.5-VL-3B-Instruct: offline"
    h = Handlers(Service(None, UIConfig(memory_root=str(tmp_path)), engine_error=error), error=error)
    banner = h.banner()
    assert "could not be loaded" in banner and "offline" in banner and "--model tiny" in banner
    import gradio as gr

    class Req:
        session_hash = "x"
    with pytest.raises(gr.Error, match="--model tiny"):
        h.start_demo("", True, True, "", Req())


def test_config_and_paths_are_checked(tmp_path):
    with pytest.raises(ValueError, match="--auth"):
        UIConfig(host="0.0.0.0")
    assert UIConfig(host="0.0.0.0", auth=("a", "b")).auth == ("a", "b")
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "a.mp4").write_bytes(b"x")
    s = Service(None, UIConfig(memory_root=str(tmp_path), media_roots=[str(tmp_path / "media")]))
    for outside in ("/etc/passwd", str(tmp_path / "media" / ".." / "secret.mp4")):
        with pytest.raises(SourceRefused, match="outside the folders") as e:
            s.allowed_file(outside)
        assert str(tmp_path) not in str(e.value) and "/etc" not in str(e.value)     # no server path shown
    assert s.allowed_file(str(tmp_path / "media" / "a.mp4")).endswith("a.mp4")
    # A relative path is read inside the media folders (it was read against the working folder: "outside")
    want = str((tmp_path / "media" / "a.mp4").resolve())
    assert s.allowed_file("a.mp4") == s.allowed_file("media/a.mp4") == want
    for outside in ("../secret.mp4", "media/../../secret.mp4"):
        with pytest.raises(SourceRefused, match=r"outside the folders this server may open \(media\)"):
            s.allowed_file(outside)
    with pytest.raises(SourceRefused, match="no such video file: b.mp4"):
        s.allowed_file("b.mp4")
    assert s.media_names() == ["media"]
    with pytest.raises(SourceRefused, match="unsupported URL scheme"):
        s.check_source("file:///etc/passwd")


def test_every_tab_sees_shared_cameras_and_only_its_own_demo(serve, videos):
    url, handlers = serve()

    class Req:
        session_hash = "page-1"

    class Other:
        session_hash = "page-2"
    handlers.start_demo("", True, True, "", Req())
    handlers.start_file(str(videos / "bikes.mp4"), None, "", True, True, "", Req())     # shared: every tab sees it
    handlers.start_demo("", True, True, "", Other())                  # another tab's demo: its own name and folder
    reg = handlers.registry
    assert reg.names("page-1") == ["demo", "bikes"] and reg.names("page-2") == ["bikes", "demo-2"]
    folders = {w.spec.memory for w in reg.cameras("page-1") + reg.cameras("page-2")}
    assert len(folders) == 3 and all(w.running for w in reg.cameras("page-1"))
    demo = reg.get("demo")
    handlers.unload(Req())                     # its demo stops and goes; the shared file and the other demo stay
    assert not demo.running and reg.get("demo") is None and reg.get("demo-2").running and reg.get("bikes")
    handlers.start_demo("", True, True, "", Other())                  # a demo again: a fresh memory, not demo's
    assert reg.names("page-2")[-1] == "demo-3"
    handlers.unload(Other())
    assert reg.names("page-2") == ["bikes"]
    reg.close_all()
    assert len(reg) == 0
    assert not any(t.name.startswith(("vigil-watch", "vigil-verify")) and t.is_alive() for t in threading.enumerate())


def test_concurrent_starts_of_one_name_and_one_folder_have_one_winner(serve, videos):
    url, handlers = serve()
    reg, service = handlers.registry, handlers.service
    results, barrier = [], threading.Barrier(8)

    def start(k):
        barrier.wait()
        try:
            service.add("cam", str(videos / "vtest.avi"), checked=True)
            results.append("ok")
        except Exception as e:
            results.append(type(e).__name__)
    threads = [threading.Thread(target=start, args=(k,)) for k in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results.count("ok") == 1 and results.count("RegistryError") == 7
    assert reg.names() == ["cam"]
    # Another name on the same folder is refused too; a limit holds under concurrent starts.
    from stream.service.registry import RegistryError
    from stream.service.watch import WatchSpec
    with pytest.raises(RegistryError, match="already writes that memory folder"):
        reg.start(WatchSpec(name="cam2", source=str(videos / "vtest.avi"), memory=reg.memory_of("cam")))
    reg.limit = 3
    results.clear()
    barrier = threading.Barrier(6)
    threads = [threading.Thread(target=start_named, args=(service, videos, f"c{k}", results, barrier))
               for k in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert results.count("ok") == 2 and len(reg.names()) == 3


def start_named(service, videos, name, results, barrier):
    barrier.wait()
    try:
        service.add(name, str(videos / "vtest.avi"), checked=True)
        results.append("ok")
    except Exception as e:
        results.append(type(e).__name__)


def test_a_stream_started_again_from_a_new_page_continues_its_memory(serve, videos):
    url, handlers = serve(realtime_files=False)
    bikes = str(videos / "bikes.mp4")

    class Page:
        def __init__(self, key):
            self.session_hash = key
    runs = []
    for page in (Page("first"), Page("second")):
        handlers.start_file(bikes, None, "", True, True, "", page)
        w = handlers.registry.get("bikes")
        wait_for(lambda: not w.running, timeout=60)
        assert w.stats().error is None
        runs.append(([s.time for s in w.series()[0]], w.session.store.steps("bikes")))
        handlers.unload(page)                      # the page closes: its stream stops, its memory stays
    (first, _), (second, stored) = runs
    assert min(second) > max(first)                # the second page's stream goes on after the first's
    assert [s.index for s in stored] == list(range(len(first) + len(second)))
    assert [s.time for s in stored] == first + second


def test_a_stopped_webcam_is_not_restarted_by_the_frames_the_browser_still_sends(serve, monkeypatch):
    """Stop on the webcam's stream while the browser keeps streaming: no second webcam camera; once the browser
    pauses for webcam_idle (its own stop) and streams again, a new stream starts."""
    import numpy as np

    import app.handlers
    url, handlers = serve()
    now = [1000.0]
    monkeypatch.setattr(app.handlers.time, "monotonic", lambda: now[0])   # a fake clock: no waiting out the idle time

    class Req:
        session_hash = "page-cam"
    frame = np.zeros((64, 64, 3), np.uint8)
    handlers.webcam_frame(frame, "", True, True, "", Req())
    reg = handlers.registry
    assert reg.names("page-cam") == ["webcam"]
    assert "Stopped" in handlers.stop("webcam", Req())
    for _ in range(5):                               # the browser goes on sending, a frame every 0.5 s
        now[0] += 0.5
        handlers.webcam_frame(frame, "", True, True, "", Req())
    assert reg.names("page-cam") == ["webcam"] and not reg.get("webcam").running
    now[0] += handlers.config.webcam_idle + 1        # it paused (the widget's stop), then the user streams again
    handlers.webcam_frame(frame, "", True, True, "", Req())
    assert reg.names("page-cam") == ["webcam", "webcam-2"] and reg.get("webcam-2").running
    handlers.unload(Req())
