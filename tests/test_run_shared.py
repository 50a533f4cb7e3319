"""End to end, the shared store: two `serve` workers, each with its own cameras, write one PostgreSQL store (the
first runs the example config's cameras with `--store URL`, the second its own config's `[store] url`); third
processes ask, recap and check across both; a worker's camera is refused to another while it lives, and taken and
continued once it has stopped, or been killed mid-clip and its lease has run out."""
import json
import os
import socket
import subprocess
import sys
import time

import httpx
import psycopg

from tests.test_run import ROOT, vigil


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(args, cache, log):
    env = dict(os.environ, VIGIL_CACHE=str(cache))
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", *args], env=env, stdout=log,
                            stderr=subprocess.STDOUT)


def _until(what, test, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if test():
                return
        except (httpx.HTTPError, psycopg.Error, ValueError, KeyError, IndexError):   # not up yet
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {seconds} s")


def test_two_workers_write_one_shared_store_and_any_process_asks_across_both(videos, tmp_path, cache_dir, pg_url):
    clips = lambda camera: psycopg.connect(pg_url).execute(                      # noqa: E731
        "SELECT count(*) FROM vigil_clips WHERE stream = %s", (camera,)).fetchone()[0]
    one, two = _port(), _port()
    config = tmp_path / "worker2.toml"
    config.write_text(f'[server]\nport = {two}\n[model]\nname = "tiny"\n[store]\nurl = "{pg_url}"\nlease_seconds = 3\n'
                      f'[[camera]]\nname = "bikes"\nsource = "{videos / "bikes.mp4"}"\nloop = true\n')
    logs = [open(tmp_path / f"worker{k}.log", "w") for k in (1, 2)]
    first = _serve(["--config", str(ROOT / "vigil.example.toml"), "--store", pg_url, "--port", str(one)], cache_dir,
                   logs[0])
    second = _serve(["--config", str(config)], cache_dir, logs[1])
    try:
        api = httpx.Client(base_url=f"http://127.0.0.1:{two}", timeout=30)
        _until("worker 2's camera storing clips", lambda: clips("bikes") >= 4)
        _until("worker 1's camera storing clips", lambda: clips("room") >= 3)
        assert not (tmp_path / "vigil-memory").exists() and not (ROOT / "vigil-memory" / "room").exists()
        # A third process asks across both workers' cameras, from the store alone.
        r = vigil("ask", "--store", pg_url, "What moved?", cache=cache_dir)
        assert r.returncode == 0, r.stderr
        assert "cameras: bikes, room" in r.stdout and r.stdout.count("RANDOM WEIGHTS") == 2
        used = r.stdout.split("clips used (")[1].split("\n")[0].split("): ")[1].split(", ")
        assert {u.split(" ")[0] for u in used} <= {"bikes", "room"}
        r = vigil("ask", "--store", pg_url, "--stream", "bikes", "What changed?", cache=cache_dir)
        assert r.returncode == 0 and "clips used (" in r.stdout, r.stderr
        r = vigil("recap", "--store", pg_url, "", "--no-summaries", "--json", cache=cache_dir)
        assert r.returncode == 0, r.stderr
        got = {c["camera"]: c for c in json.loads(r.stdout)["cameras"]}
        assert set(got) == {"bikes", "room"} and all(c["clips"] > 0 for c in got.values())
        assert got["bikes"]["alerts"] > 0                                         # its alerts, in the store's log
        # Worker 2's API answers about its own camera from the store too.
        with api.stream("POST", "/api/v1/cameras/bikes/ask", json={"question": "What changed?"}) as s:
            lines = [json.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: ")]
        assert "RANDOM WEIGHTS" in lines[0]["text"]
        # The room is worker 1's while it lives: another writer is refused in one line.
        r = vigil("ingest", str(ROOT / "assets" / "demo-room.mp4"), "--store", pg_url, "--stream", "room",
                  "--model", "tiny", cache=cache_dir)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "camera 'room' in the shared store" in r.stderr and "is being written by worker" in r.stderr
        first.terminate()                             # worker 1 stops (its leases given back) ...
        first.wait(60)
        stored = clips("room")
        r = vigil("ingest", str(ROOT / "assets" / "demo-room.mp4"), "--store", pg_url, "--stream", "room",
                  "--model", "tiny", cache=cache_dir)
        assert r.returncode == 0, r.stderr                # ... and another takes the camera, after what is stored
        assert "continued       the stored stream" in r.stdout and clips("room") > stored
        r = vigil("check", "--store", pg_url, cache=cache_dir)
        assert r.returncode == 0 and "consistent" in r.stdout, r.stdout + r.stderr
        assert "camera bikes is being written by worker" in r.stdout                # worker 2 still holds its own
        # Worker 2 killed mid-stream (no clean stop, its lease not given back): once the lease runs out (3 s, server
        # time), another takes its camera and continues after the last committed clip; no clip is half there.
        second.kill()
        second.wait(30)
        stored = clips("bikes")
        time.sleep(4)
        r = vigil("ingest", str(videos / "bikes.mp4"), "--store", pg_url, "--stream", "bikes", "--model", "tiny",
                  cache=cache_dir)
        assert r.returncode == 0 and "continued       the stored stream" in r.stdout, r.stderr
        assert clips("bikes") > stored
        r = vigil("check", "--store", pg_url, cache=cache_dir)
        assert r.returncode == 0 and "consistent" in r.stdout and "being written" not in r.stdout, r.stdout
        # The database gone: a question is one line.
        r = vigil("ask", "--store", f"postgresql:///none?host={tmp_path}", "What moved?", cache=cache_dir)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "could not open it" in r.stderr, r.stderr
    finally:
        for proc in (first, second):
            proc.terminate()
            proc.wait(60)
        for log in logs:
            log.close()


def test_analyze_into_a_shared_store_keeps_the_report_local_and_resumes(videos, tmp_path, cache_dir, pg_url):
    out = tmp_path / "bikes.vigil"
    r = vigil("analyze", str(videos / "bikes.mp4"), "--out", str(out), "--store", pg_url, "--model", "tiny",
              cache=cache_dir)
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "report.json").read_text())
    assert not (out / "memory").exists()                             # the clips went to the store
    with psycopg.connect(pg_url) as db:
        stored = db.execute("SELECT count(*) FROM vigil_clips WHERE stream = 'bikes'").fetchone()[0]
    assert stored == report["totals"]["clips"] > 0
    r = vigil("analyze", str(videos / "bikes.mp4"), "--out", str(out), "--store", pg_url, "--model", "tiny",
              cache=cache_dir)                                       # run again: resumes, stores nothing twice
    assert r.returncode == 0, r.stderr
    with psycopg.connect(pg_url) as db:
        assert db.execute("SELECT count(*) FROM vigil_clips WHERE stream = 'bikes'").fetchone()[0] == stored
    r = vigil("ask", "--store", pg_url, "What changed?", cache=cache_dir)
    assert r.returncode == 0 and "clips used (" in r.stdout, r.stderr
    r = vigil("analyze", str(videos / "bikes.mp4"), "--stream", "x", cache=cache_dir)
    assert r.returncode == 2 and "give --store URL too" in r.stderr


def test_watch_into_a_shared_store_logs_its_alerts_there(videos, tmp_path, cache_dir, pg_url):
    r = vigil("watch", str(videos / "bikes.mp4"), "--store", pg_url, "--stream", "door", "--model", "tiny",
              cache=cache_dir)
    assert r.returncode == 0, r.stderr
    printed = [json.loads(line)["id"] for line in r.stdout.splitlines() if line.startswith("{")]
    assert printed and "(log: the shared store)" in r.stderr and not (tmp_path / "alerts.jsonl").exists()
    with psycopg.connect(pg_url) as db:
        logged = {a for (a,) in db.execute("SELECT alert FROM vigil_alerts WHERE stream = 'door'")}
        clips = db.execute("SELECT count(*) FROM vigil_clips WHERE stream = 'door'").fetchone()[0]
    assert logged == set(printed) and clips > 0
