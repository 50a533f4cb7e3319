"""The live app driven through its API with gradio_client, as another program would."""
import threading
import time

import pytest

from app.config import UIConfig
from app.handlers import Handlers


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
                               True, True, "", api_name="/start_file")
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
    job = client.submit("When did someone come in?", [], name, api_name="/ask")
    history, used, box = job.result()
    partial = [text_of(o[0][-1]) for o in job.outputs() if o[0]]
    assert len(partial) >= 3 and len(partial[1]) <= len(partial[-2])    # the answer arrived in pieces
    assert box == "" and [m["role"] for m in history] == ["user", "assistant"]
    assert text_of(history[0]) == "When did someone come in?"
    reply = text_of(history[1])
    assert "RANDOM WEIGHTS" in reply and "Clips used:" in reply and len(used) > 0
    log = (handlers.config.memory_root + f"/{name}/alerts.jsonl")
    assert open(log).read().count("\n") == len(every)


def test_page_opens_without_a_model_and_says_how_to_fix(tmp_path):
    h = Handlers(None, UIConfig(memory_root=str(tmp_path)), error="cannot load Qwen/Qwen2.5-VL-3B-Instruct: offline")
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
    import gradio as gr
    h = Handlers(None, UIConfig(memory_root=str(tmp_path), media_roots=[str(tmp_path / "media")]))
    with pytest.raises(gr.Error, match="outside the folders"):
        h._allowed("/etc/passwd")
    with pytest.raises(gr.Error, match="outside the folders"):
        h._allowed(str(tmp_path / "media" / ".." / "secret.mp4"))
    assert h._allowed(str(tmp_path / "media" / "a.mp4")).endswith("a.mp4")


def test_several_streams_each_with_its_memory_and_closing_the_page_stops_them(serve, videos):
    url, handlers = serve()

    class Req:
        session_hash = "page-1"

    class Other:
        session_hash = "page-2"
    handlers.start_demo("", True, True, "", Req())
    handlers.start_file(str(videos / "bikes.mp4"), None, "", True, True, "", Req())
    handlers.start_demo("", True, True, "", Other())                  # another page's demo: its own name and folder
    mine, theirs = handlers.registry.get("page-1").watchers, handlers.registry.get("page-2").watchers
    assert set(mine) == {"demo", "bikes"} and set(theirs) == {"demo-2"}
    folders = {w.spec.memory for w in [*mine.values(), *theirs.values()]}
    assert len(folders) == 3 and all(w.running for w in mine.values())
    handlers.unload(Req())
    assert not any(w.running for w in mine.values()) and theirs["demo-2"].running
    handlers.unload(Other())
    assert len(handlers.registry) == 0
    assert not any(t.name.startswith("vigil-watch") and t.is_alive() for t in threading.enumerate())


def test_a_stream_started_again_from_a_new_page_continues_its_memory(serve, videos):
    url, handlers = serve(realtime_files=False)
    bikes = str(videos / "bikes.mp4")

    class Page:
        def __init__(self, key):
            self.session_hash = key
    runs = []
    for page in (Page("first"), Page("second")):
        handlers.start_file(bikes, None, "", True, True, "", page)
        w = handlers.registry.get(page.session_hash).watchers["bikes"]
        wait_for(lambda: not w.running, timeout=60)
        assert w.stats().error is None
        runs.append(([s[0] for s in w.series()[0]], w.session.store.steps("bikes")))
        handlers.unload(page)                      # the page closes: its stream stops, its memory stays
    (first, _), (second, stored) = runs
    assert min(second) > max(first)                # the second page's stream goes on after the first's
    assert [s.index for s in stored] == list(range(len(first) + len(second)))
    assert [s.time for s in stored] == first + second
