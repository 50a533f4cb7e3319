"""End to end: the CLI as a user runs it, in a fresh process."""
import os
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]


def vigil(*args, cache):
    env = dict(os.environ, VIGIL_CACHE=str(cache))
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_ingest_then_ask(videos, tmp_path, cache_dir):
    mem = tmp_path / "mem"
    r = vigil("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert "tokens kept" in r.stdout and "scene_change" in r.stdout and "clips stored" in r.stdout
    r = vigil("ask", "--memory", str(mem), "--model", "tiny", "What changed?", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("RANDOM WEIGHTS") == 2 and "clips used (" in r.stdout and "answer: " in r.stdout
    # No --model, no --embedder: the memory's own (before, the default model was fetched from the hub and failed)
    r = vigil("ask", "--memory", str(mem), "What changed?", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("RANDOM WEIGHTS") == 2 and "clips used (" in r.stdout
    # A span after the stream's end: said, and the model not asked (its noise is not printed)
    r = vigil("ask", "--memory", str(mem), "What happened after 5 minutes?", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert 'time asked about: "after 5 minutes" (from 00:05:00 on)' in r.stdout and "clips used (0)" in r.stdout
    assert "has not come yet" in r.stdout and "the model was not asked" in r.stdout and "RANDOM" not in r.stdout
    # A time of day asked of a file: refused in one line, not ignored
    r = vigil("ask", "--memory", str(mem), "What happened at 10 pm?", cache=cache_dir)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and '"at 10 pm" is a time of day' in r.stderr, r.stderr
    # Several memories (two cameras): one question over both, each clip named by its camera
    other = tmp_path / "other"
    r = vigil("ingest", str(videos / "vtest.avi"), "--memory", str(other), "--stream", "street", "--model", "tiny",
              cache=cache_dir)
    assert r.returncode == 0, r.stderr
    r = vigil("ask", "--memory", str(mem), "--memory", str(other), "What moved?", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert "cameras: default, street" in r.stdout and r.stdout.count("RANDOM WEIGHTS") == 2
    used = r.stdout.split("clips used (")[1].split("\n")[0]
    assert all(part.strip().split(" ")[0] in ("default", "street") for part in used.split("): ")[1].split(", "))
    r = vigil("ask", "--memory", str(mem), "--memory", str(tmp_path / "nothing"), "What moved?", cache=cache_dir)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    # A recap of the memory root: every camera in it, each with its clips over all it holds (a file's "today" is all of it)
    r = vigil("recap", "--memory", str(tmp_path), "--no-summaries", "--json", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    import json
    got = {c["camera"]: c for c in json.loads(r.stdout)["cameras"]}
    assert set(got) == {"default", "street"} and all(c["clips"] > 0 and c["end"] > c["start"] for c in got.values()), got
    r = vigil("recap", "--memory", str(tmp_path / "nothing"), cache=cache_dir)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no memory at" in r.stderr, r.stderr


@pytest.mark.parametrize("model", ["tiny-qwen3-vl", "tiny-qwen3.5"])
def test_the_qwen3_families_ingest_ask_and_analyze(model, videos, tmp_path, cache_dir):
    mem = tmp_path / "mem"
    r = vigil("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", model, cache=cache_dir)
    assert r.returncode == 0, r.stderr
    r = vigil("ask", "--memory", str(mem), "--model", model, "What happened in the first 4 seconds?", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("RANDOM WEIGHTS") == 2 and 'time asked about: "in the first 4 seconds"' in r.stdout
    used = r.stdout.split("clips used (")[1].split("\n")[0]
    assert "00:00:10" not in used                            # only clips of the first 4 seconds
    r = vigil("ask", "--memory", str(mem), "What changed?", cache=cache_dir)     # the memory names its model
    assert r.returncode == 0 and r.stdout.count("RANDOM WEIGHTS") == 2, r.stderr
    # a memory is read only by the model that wrote it: one given by hand that is another is refused
    r = vigil("ask", "--memory", str(mem), "--model", "tiny", "What changed?", cache=cache_dir)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    out = tmp_path / "report"
    r = vigil("analyze", str(videos / "bikes.mp4"), "--out", str(out), "--model", model, cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert (out / "report.html").exists() and "RANDOM WEIGHTS" in (out / "report.json").read_text()


def test_bad_input_gets_one_line_and_keeps_memory(videos, tmp_path, cache_dir):
    mem = tmp_path / "mem"
    assert vigil("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny",
                 cache=cache_dir).returncode == 0
    before = (mem / "memory.sqlite").read_bytes()
    corrupt = tmp_path / "broken.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000))
    for source in (str(corrupt), str(tmp_path / "missing.mp4")):
        r = vigil("ingest", source, "--memory", str(mem), "--model", "tiny", cache=cache_dir)
        assert r.returncode == 2
        assert r.stderr.startswith("vigil: error:") and r.stderr.count("\n") == 1, r.stderr
    assert (mem / "memory.sqlite").read_bytes() == before


def _steps(mem, stream="default"):
    import sqlite3
    db = sqlite3.connect(mem / "memory.sqlite")
    try:
        return db.execute("SELECT idx, time, end, total, kept FROM steps WHERE stream = ? ORDER BY idx",
                          (stream,)).fetchall()
    finally:
        db.close()


def test_ingest_run_again_continues_the_stream_and_replaces_no_row(videos, tmp_path, cache_dir):
    mem = tmp_path / "mem"
    args = ("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny")
    assert vigil(*args, cache=cache_dir).returncode == 0
    first = _steps(mem)
    r = vigil(*args, cache=cache_dir)
    assert r.returncode == 0 and f"steps are numbered from {len(first)}" in r.stdout, r.stdout
    both = _steps(mem)
    assert both[:len(first)] == first and [s[0] for s in both] == list(range(2 * len(first)))
    assert both[len(first)][1] == first[-1][2] + 1.0              # one sample period after the stored end


def test_watch_run_again_continues_its_alerts_clock(videos, tmp_path, cache_dir):
    import json
    mem = tmp_path / "m"
    args = ("watch", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny", "--cooldown", "0")
    runs = []
    for _ in range(2):
        r = vigil(*args, cache=cache_dir)
        assert r.returncode == 0, r.stderr
        runs.append([json.loads(line)["time"] for line in r.stdout.splitlines()])
    first, second = runs
    steps = _steps(mem)
    shift = steps[len(steps) // 2][1]                             # where the second run's clock started
    assert first and shift > max(first)
    assert second == pytest.approx([t + shift for t in first])    # the same cuts seen again, later on the clock
    assert [s[0] for s in steps] == list(range(len(steps)))       # and later step indexes


def _report_without_timings(path):
    import json
    r = json.loads(path.read_text())
    del r["totals"]["seconds"]
    for a in r["answers"]:
        del a["seconds_to_first_token"], a["seconds_total"]
    return r


def test_analyze_killed_then_run_again_gives_the_same_report(videos, tmp_path, cache_dir):
    import signal
    import sqlite3
    import time
    video = str(videos / "one-by-one-person-detection.mp4")
    questions = tmp_path / "q.txt"
    questions.write_text('When did someone come in?\n{"question": "Anyone at the table?", "at": "00:01:00"}\n')
    args = ["analyze", video, "--model", "tiny", "--questions", str(questions), "--captions"]
    r = vigil(*args, "--out", str(tmp_path / "straight"), cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert "RANDOM WEIGHTS" in r.stdout and "report:" in r.stdout
    assert r.stderr == ""                       # no progress bar when stderr is not a terminal

    out = tmp_path / "killed"
    env = dict(os.environ, VIGIL_CACHE=str(cache_dir))
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clips, deadline = 0, time.monotonic() + 120
    while clips < 6 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            with sqlite3.connect(out / "memory" / "memory.sqlite", timeout=5) as db:
                clips = db.execute("SELECT COUNT(*) FROM clips").fetchone()[0]
        except sqlite3.Error:
            pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 6 <= clips < 18 and not (out / "report.json").exists()
    r = vigil(*args, "--out", str(out), cache=cache_dir)
    assert r.returncode == 0, r.stderr
    straight = _report_without_timings(tmp_path / "straight" / "report.json")
    resumed = _report_without_timings(out / "report.json")
    assert resumed == straight


def test_analyze_bad_input_one_line_and_exit_code(odd_videos, videos, tmp_path, cache_dir):
    r = vigil("analyze", str(odd_videos["truncated"]), "--model", "tiny", "--out", str(tmp_path / "t"), cache=cache_dir)
    assert r.returncode == 3 and (tmp_path / "t" / "report.json").exists()
    assert r.stderr.startswith("vigil: warning:") and "breaks at" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    for source in (odd_videos["not_video"], odd_videos["zero"], tmp_path / "missing.mp4", tmp_path):
        r = vigil("analyze", str(source), "--model", "tiny", "--out", str(tmp_path / "x"), cache=cache_dir)
        assert r.returncode == 2 and r.stderr.startswith("vigil: error:") and r.stderr.count("\n") == 1, r.stderr
    (tmp_path / "file").write_text("")
    r = vigil("analyze", str(videos / "bikes.mp4"), "--model", "tiny", "--out", str(tmp_path / "file" / "o"),
              cache=cache_dir)
    assert r.returncode == 2 and "not writable" in r.stderr and r.stderr.count("\n") == 1, r.stderr
    (tmp_path / "q.txt").write_text('{"question": "q", "at": "later"}\n')
    r = vigil("analyze", str(videos / "bikes.mp4"), "--model", "tiny", "--questions", str(tmp_path / "q.txt"),
              cache=cache_dir)
    assert r.returncode == 2 and "not a time" in r.stderr


def test_watch_prints_activity_alerts_near_the_six_visits(videos, annotations, tmp_path, cache_dir):
    import json
    r = vigil("watch", str(videos / "one-by-one-person-detection.mp4"), "--memory", str(tmp_path / "m"), "--model",
              "tiny", "--rule", "a person enters the room", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    alerts = [json.loads(line) for line in r.stdout.splitlines()]
    starts = [a["time"] for a in alerts if a["kind"] == "activity_start"]
    visits = [s for s, _ in annotations["one-by-one-person-detection.mp4"]["events"]]
    assert sum(any(abs(v - t) <= 1.5 for t in starts) for v in visits) >= 5, starts
    assert len(starts) <= 2 * len(visits)
    assert "RANDOM WEIGHTS" in r.stderr
    logged = (tmp_path / "m" / "alerts.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in logged] == alerts
    assert f"steps, 18 clips stored, {len(alerts)} alerts" in r.stderr      # a closing line, even with no alert
    # The recap of that memory: its alerts, the captions written in the background, as text, JSON and a page
    r = vigil("recap", "--memory", str(tmp_path / "m"), "--no-summaries", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert "default: 18 clips (18 captioned), " in r.stdout and f"{len(alerts)} alerts\n" in r.stdout, r.stdout
    assert r.stdout.count("RANDOM WEIGHTS") == 2 and "summary:" not in r.stdout
    assert r.stdout.count("] activity_start: ") == len(starts)
    r = vigil("recap", "--memory", str(tmp_path / "m"), "--no-summaries", "--json", cache=cache_dir)
    cam = json.loads(r.stdout)["cameras"][0]
    assert [a["id"] for h in cam["hours"] for a in h["alerts"]] == [a["id"] for a in alerts]
    r = vigil("recap", "--memory", str(tmp_path / "m"), "--html", str(tmp_path / "recap.html"), cache=cache_dir)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "recap.html").read_text()
    assert "<h2>default</h2>" in page and "random weights" in page and page.count('class="alert"') == len(alerts)
    r = vigil("recap", "sicne lunch", "--memory", str(tmp_path / "m"), "--no-summaries", cache=cache_dir)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "names no span" in r.stderr, r.stderr


def test_ask_and_analyze_answer_through_a_real_answer_server(videos, tmp_path, cache_dir, answer_server):
    """A full-mode memory asked through `transformers serve` (a tiny LLaVA; no video LLM loaded for `ask`), and a
    report whose captions and answers come from it."""
    mem = tmp_path / "mem"
    assert vigil("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny",
                 cache=cache_dir).returncode == 0
    server = ["--answer-with", answer_server.base_url, "--answer-model", answer_server.model]
    r = vigil("ask", "--memory", str(mem), "--model", "tiny", *server, "What changed?", cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("RANDOM WEIGHTS") == 2                   # the served folder is a tiny build: labelled
    assert "frames, " in r.stdout and f"KB sent to {answer_server.model} at {answer_server.base_url}" in r.stdout
    assert r.stdout.split("answer: ")[1].split("\n")[0].strip()
    questions = tmp_path / "q.txt"
    questions.write_text("What changed?\n")
    out = tmp_path / "report"
    r = vigil("analyze", str(videos / "bikes.mp4"), "--out", str(out), "--model", "tiny", "--captions",
              "--questions", str(questions), *server, cache=cache_dir)
    assert r.returncode == 0, r.stderr
    import json
    report = json.loads((out / "report.json").read_text())
    assert report["answers"][0]["answer"] and "frames, " in report["answers"][0]["cost"]
    assert report["warning"] and all(c["caption"] for c in report["clips"])
    assert "KB sent" in (out / "report.html").read_text()


def test_light_ingest_then_ask_through_the_server_and_a_dead_server(videos, tmp_path, cache_dir, answer_server):
    mem = tmp_path / "mem"
    r = vigil("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny", "--light",
              cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert "scene_change" in r.stdout and "clips stored" in r.stdout
    r = vigil("ask", "--memory", str(mem), "--model", "tiny", "--light", "What changed?", cache=cache_dir)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--answer-with URL" in r.stderr, r.stderr
    r = vigil("ask", "--memory", str(mem), "--model", "tiny", "--answer-with", answer_server.base_url,
              "--answer-model", answer_server.model, "What changed?", cache=cache_dir)
    assert r.returncode == 0 and "frames, " in r.stdout, r.stderr
    r = vigil("ask", "--memory", str(mem), "--model", "tiny", "--answer-with", "http://127.0.0.1:9/v1",
              "--answer-model", "m", "What changed?", cache=cache_dir)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("vigil: error: answer server http://127.0.0.1:9/v1 is unreachable")
    r = vigil("ask", "--memory", str(mem), "--model", "tiny", "--answer-with", "http://127.0.0.1:9/v1",
              "What changed?", cache=cache_dir)
    assert r.returncode == 2 and "needs the model name" in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_serve_from_a_config_answers_through_its_answer_server(videos, tmp_path, cache_dir, answer_server):
    """`vigil serve --config` with an [answer] table: the camera's questions go to the server named there; and with
    an [mqtt] table (a shared sink from the registry) its status and every alert of its log reach a real broker."""
    import json
    import socket
    import time

    import httpx

    from tests.stream.service.test_sinks import Broker, Subscriber, mosquitto_or_skip
    mosquitto_or_skip()
    broker = Broker(tmp_path).start()
    sub = Subscriber(broker.port, ["vigil/#"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "vigil.toml"
    config.write_text(f'[server]\nport = {port}\nmemory = "{tmp_path / "mem"}"\n[model]\nname = "tiny"\n'
                      f'[answer]\nurl = "{answer_server.base_url}"\nmodel = "{answer_server.model}"\nmax_frames = 4\n'
                      f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
                      f'[[camera]]\nname = "bikes"\nsource = "{videos / "bikes.mp4"}"\nsinks = ["mqtt"]\n')
    bad = tmp_path / "bad.toml"
    bad.write_text(config.read_text().replace("max_frames = 4", "max_frame = 4"))
    r = vigil("serve", "--config", str(bad), cache=cache_dir)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "[answer]: unknown key 'max_frame'" in r.stderr
    env = dict(os.environ, VIGIL_CACHE=str(cache_dir))
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                cams = api.get("/api/v1/cameras").json()
                if cams and cams[0]["status"]["state"] == "ended":
                    break
            except (httpx.HTTPError, ValueError, KeyError, IndexError):
                pass
            time.sleep(0.5)
        else:
            raise AssertionError("the camera did not play to its end")
        with api.stream("POST", "/api/v1/cameras/bikes/ask", json={"question": "What changed?"}) as s:
            lines = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: ")]
        sent = next(x["sent"] for x in lines if "sent" in x)
        assert 1 <= sent["frames"] <= 4 and "RANDOM WEIGHTS" in lines[0]["text"]
        states = []
        while "ended" not in states:                   # retained status, in the order the camera went through them
            states.append(json.loads(sub.get("vigil/bikes/status").payload)["state"])
        logged = {json.loads(line)["id"] for line in (tmp_path / "mem" / "bikes" / "alerts.jsonl").read_text().splitlines()}
        got = set()
        while got != logged:                           # every alert of the camera's own log, on its alert topic
            got.add(json.loads(sub.get("vigil/bikes/alert").payload)["id"])
        assert logged, "bikes.mp4 raised no alert to compare"

        def home_assistant() -> set[str]:              # the retained discovery configs, as Home Assistant reads them
            ha = Subscriber(broker.port, ["homeassistant/#"])
            try:
                got = ha.drain()
                assert len(got) == 4 and all(json.loads(m.payload)["device"]["name"] == "bikes" for m in got)
                return {m.topic.split("/")[1] for m in got}
            finally:
                ha.close()
        entities = {"binary_sensor", "event", "sensor"}
        assert home_assistant() == entities
        proc.terminate()                               # a clean stop: the retained status says so
        proc.wait(30)
        while states[-1] != "stopped":
            states.append(json.loads(sub.get("vigil/bikes/status").payload)["state"])
        assert home_assistant() == entities            # a stop is not a removal: the device stays
    finally:
        proc.terminate()
        proc.wait(30)
        sub.close()
        broker.stop()


def test_serve_on_a_port_in_use_is_one_line_and_starts_no_camera(videos, tmp_path, cache_dir):
    import socket
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    config = tmp_path / "vigil.toml"
    config.write_text(f'[server]\nport = {port}\nmemory = "{tmp_path / "mem"}"\n[model]\nname = "tiny"\n'
                      f'[[camera]]\nname = "bikes"\nsource = "{videos / "bikes.mp4"}"\n')
    try:
        r = vigil("serve", "--config", str(config), cache=cache_dir)
    finally:
        taken.close()
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"vigil: error: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "camera bikes" not in r.stdout and "serving on" not in r.stdout
    assert not (tmp_path / "mem" / "bikes").exists()                  # no camera started, no memory made


def test_a_memory_whose_keys_are_in_postgresql_is_asked_and_checked_from_other_processes(videos, tmp_path, cache_dir,
                                                                                         pg_url):
    import psycopg
    mem, keys = tmp_path / "mem", ("--index", "pgvector", "--index-url", pg_url)
    r = vigil("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny", *keys, cache=cache_dir)
    assert r.returncode == 0, r.stderr
    assert not list(mem.glob("*.faiss"))                               # no index file: the keys are in the server
    r = vigil("check", "--memory", str(mem), *keys, cache=cache_dir)
    assert r.returncode == 0 and "consistent" in r.stdout, r.stdout + r.stderr
    clips = int(r.stdout.split(": ", 1)[1].split(" clip")[0])
    with psycopg.connect(pg_url) as db:
        tables = [t for (t,) in db.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'vigil_keys_%'")]
        assert len(tables) == 2 and any(t.endswith("_visual") for t in tables)
        visual = next(t for t in tables if t.endswith("_visual"))
        assert db.execute(f"SELECT count(*) FROM {visual}").fetchone()[0] == clips > 0
    r = vigil("ask", "--memory", str(mem), *keys, "What changed?", cache=cache_dir)
    assert r.returncode == 0 and "clips used (" in r.stdout, r.stderr
    dead = f"postgresql:///none?host={tmp_path}"                        # no server there
    r = vigil("ask", "--memory", str(mem), "--index", "pgvector", "--index-url", dead, "What changed?", cache=cache_dir)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "cannot use the PostgreSQL index" in r.stderr, r.stderr
