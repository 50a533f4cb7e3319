"""Faults through the CLI as a user meets them: bad values, a missing or foreign memory, native library noise, a
full disk, and the `check` command. Each ends in one `vigil: error:` line and exit 2, with nothing stored lost."""
import shutil
import socket
import sqlite3
import subprocess

import pytest

import run
from bench.soak import fill_disk
from tests.test_run import vigil


def one_error_line(r):
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.startswith("vigil: error:") and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


@pytest.mark.parametrize("args, message", [
    (["ingest", "x.mp4", "--memory", "m", "--fps", "nan"], "--fps: must be a finite number, got nan"),
    (["ingest", "x.mp4", "--memory", "m", "--fps", "inf"], "--fps: must be a finite number, got inf"),
    (["ingest", "x.mp4", "--memory", "m", "--fps", "0"], "--fps: must be more than 0 and at most 30, got 0"),
    (["ingest", "x.mp4", "--memory", "m", "--fps", "-1"], "--fps: must be more than 0"),
    (["ingest", "x.mp4", "--memory", "m", "--fps", "31"], "at most 30, got 31"),
    (["ingest", "x.mp4", "--memory", "m", "--clip-seconds", "nan"], "--clip-seconds: must be a finite number"),
    (["ingest", "x.mp4", "--memory", "m", "--clip-seconds", "0"], "--clip-seconds: must be more than 0"),
    (["ask", "q", "--memory", "m", "--budget", "0"], "--budget: must be more than 0"),
    (["ask", "q", "--memory", "m", "--budget", "1.5"], "--budget: not a number: '1.5'"),
    (["ingest", "x.mp4", "--memory", "m", "--max-clips", "-3"], "--max-clips: must be more than 0"),
    (["ask", "q", "--memory", "m", "--at", "nan"], "--at: not a time: 'nan'"),
    (["ask", "q", "--memory", "m", "--at", "-5"], "--at: not a time"),
    (["watch", "x.mp4", "--memory", "m", "--cooldown", "nan"], "--cooldown: must be a finite number"),
    (["watch", "x.mp4", "--memory", "m", "--cooldown", "-1"], "--cooldown: must be at least 0"),
    (["ui", "--port", "0"], "--port: must be at least 1 and at most 65535"),
    (["ui", "--port", "70000"], "--port: must be at least 1 and at most 65535"),
    (["ingest", "x.mp4"], "one of the arguments --memory --store is required"),
    (["check"], "one of the arguments --memory --store is required"),
])
def test_bad_values_are_refused_in_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as stop:
        run.parser().parse_args(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("vigil: error:") and err.count("\n") == 1, err
    assert message in err


def test_defaults_come_from_the_config_dataclasses():
    from memory.config import SelectConfig
    from models.config import ModelConfig
    from stream.config import AlertConfig, IngestConfig, SamplingConfig
    a = run.parser().parse_args(["watch", "x.mp4", "--memory", "m"])
    assert (a.fps, a.clip_seconds, a.budget, a.cooldown, a.model, a.device) == (
        SamplingConfig.fps, IngestConfig.clip_seconds, SelectConfig.token_budget, AlertConfig.cooldown,
        ModelConfig.llm, ModelConfig.device)


def test_devices_this_machine_lacks_and_unknown_ones_get_one_line(videos, tmp_path, cache_dir):
    import torch
    bikes = str(videos / "bikes.mp4")
    err = one_error_line(vigil("ingest", bikes, "--memory", str(tmp_path / "m"), "--model", "tiny", "--device",
                               "bogus", cache=cache_dir))
    assert "unknown device 'bogus'" in err
    if not torch.cuda.is_available():
        err = one_error_line(vigil("ingest", bikes, "--memory", str(tmp_path / "m"), "--model", "tiny", "--device",
                                   "cuda", cache=cache_dir))
        assert "device cuda is not available on this machine" in err
    assert not (tmp_path / "m").exists()               # refused before anything was created


def test_ask_errors_exit_2_with_one_line(videos, tmp_path, cache_dir):
    err = one_error_line(vigil("ask", "--memory", str(tmp_path / "none"), "--model", "tiny", "q", cache=cache_dir))
    assert "no memory at" in err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    err = one_error_line(vigil("ask", "--memory", str(tmp_path / "mine"), "--model", "tiny", "q", cache=cache_dir))
    assert "not a Vigil memory" in err and "the folder that ingest, watch or analyze wrote" in err   # a reader's hint
    mem = tmp_path / "mem"
    assert vigil("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny", "--stream", "demo",
                 cache=cache_dir).returncode == 0
    # No --stream: the folder's only stream answers; a stream it lacks is one line, naming what it holds.
    r = vigil("ask", "--memory", str(mem), "--model", "tiny", "q", cache=cache_dir)
    assert r.returncode == 0 and "clips used (" in r.stdout, r.stderr
    err = one_error_line(vigil("ask", "--memory", str(mem), "--model", "tiny", "--stream", "door", "q",
                               cache=cache_dir))
    assert "no clips for stream 'door'; it holds demo (" in err and "--stream NAME" in err
    err = one_error_line(vigil("ask", "--memory", str(mem), "--model", str(tmp_path / "no" / "model"), "q",
                               cache=cache_dir))
    assert f"no such folder: {tmp_path / 'no' / 'model'}. Give a local folder" in err and ".." not in err
    r = vigil("ask", "--memory", str(mem), "--model", "tiny", "--stream", "demo", "--at", "0.5", "q", cache=cache_dir)
    assert r.returncode == 0 and "clips used (0)" in r.stdout, r.stderr      # nothing had ended by then: no error
    (mem / "memory.sqlite").write_bytes(b"SQLite format 3\x00" + b"garbage" * 100)
    for args in (("ask", "--memory", str(mem), "--model", "tiny", "q"), ("check", "--memory", str(mem))):
        assert "vigil: error:" in one_error_line(vigil(*args, cache=cache_dir))


def test_native_library_noise_stays_off_stderr(odd_videos, tmp_path, cache_dir):
    with socket.socket() as s:                          # a port nobody listens on: a dead camera
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/live.ts"
    for source, message in ((dead, "cannot open stream"), ("7", "cannot open stream: 7")):
        err = one_error_line(vigil("ingest", source, "--memory", str(tmp_path / "m"), "--model", "tiny",
                                   cache=cache_dir))
        assert message in err
    # A file that breaks part way: stored up to the break, one warning line, exit 3 (as analyze)
    r = vigil("ingest", str(odd_videos["truncated"]), "--memory", str(tmp_path / "t"), "--model", "tiny",
              cache=cache_dir)
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and r.stderr.startswith("vigil: warning:"), r.stderr
    assert "breaks at" in r.stderr and "stored up to there" in r.stderr
    a = vigil("analyze", str(odd_videos["truncated"]), "--model", "tiny", "--out", str(tmp_path / "a"), cache=cache_dir)
    assert a.returncode == 3
    assert len(list((tmp_path / "t" / "tokens").iterdir())) == len(list((tmp_path / "a" / "memory" / "tokens").iterdir()))
    # -v lets FFmpeg speak: the damaged file's complaints come through
    r = vigil("ingest", str(odd_videos["truncated"]), "--memory", str(tmp_path / "v"), "--model", "tiny", "-v",
              cache=cache_dir)
    assert r.returncode == 3 and r.stderr.count("\n") > 1


def test_check_reports_then_repairs(videos, tmp_path, cache_dir):
    mem = tmp_path / "m"
    assert vigil("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny",
                 cache=cache_dir).returncode == 0
    r = vigil("check", "--memory", str(mem), cache=cache_dir)
    assert r.returncode == 0 and r.stdout.rstrip().endswith("consistent"), r.stdout
    (mem / "tokens" / "3.safetensors").unlink()
    r = vigil("check", "--memory", str(mem), cache=cache_dir)
    assert r.returncode == 1 and "clip 3 " in r.stdout and "token file missing [--repair: marked missing" in r.stdout
    r = vigil("check", "--memory", str(mem), "--repair", cache=cache_dir)
    assert r.returncode == 0 and "[repaired: marked missing" in r.stdout and "consistent after 1 repair" in r.stdout
    r = vigil("ask", "--memory", str(mem), "--model", "tiny", "what?", cache=cache_dir)
    assert r.returncode == 0 and "clips skipped" not in r.stdout       # a marked clip is no longer selected
    err = one_error_line(vigil("check", "--memory", str(tmp_path / "nothing"), cache=cache_dir))
    assert "no memory at" in err


def mounted_tmpfs(disk, size: str):
    """A tmpfs of `size` at `disk`: a real disk to fill. Mounting needs root (CAP_SYS_ADMIN); elsewhere the test is
    skipped."""
    disk.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({r.stderr.strip() or r.returncode}): the full-disk case needs "
                    f"root")
    return disk


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs, full after a few clips."""
    yield mounted_tmpfs(tmp_path / "disk", "3m")
    subprocess.run(["umount", "-l", str(tmp_path / "disk")], check=False)


@pytest.fixture
def roomy_disk(tmp_path):
    """A 32 MB tmpfs: room for minutes of tiny-model clips, until a test fills it."""
    yield mounted_tmpfs(tmp_path / "disk", "32m")
    subprocess.run(["umount", "-l", str(tmp_path / "disk")], check=False)


def _grow(disk):
    subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)


def test_a_full_disk_ends_in_one_line_and_leaves_nothing_half_written(videos, small_disk, cache_dir):
    import faiss
    mem = small_disk / "m"
    err = one_error_line(vigil("ingest", str(videos / "one-by-one-person-detection.mp4"), "--memory", str(mem),
                               "--model", "tiny", cache=cache_dir))
    assert f"in {mem}" in err and ("No space left on device" in err or "disk is full" in err)
    assert "what was stored before is intact" in err
    assert not [p for p in small_disk.rglob("*.tmp")]
    for name in ("index.faiss", "captions.faiss"):      # a cache may be missing or behind, never torn or empty
        if (mem / name).exists():
            assert (mem / name).stat().st_size > 0 and faiss.read_index(str(mem / name)).d > 0
    db = sqlite3.connect(mem / "memory.sqlite")
    stored = [r[0] for r in db.execute("SELECT id FROM clips ORDER BY id")]
    db.close()
    assert stored and sorted(p.name for p in (mem / "tokens").iterdir()) == [f"{i}.safetensors" for i in stored]
    _grow(small_disk)
    r = vigil("check", "--memory", str(mem), cache=cache_dir)
    assert "token file" not in r.stdout and "leftover" not in r.stdout, r.stdout   # at most the index is behind
    r = vigil("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny", cache=cache_dir)
    assert r.returncode == 0 and "continued" in r.stdout, r.stderr
    assert vigil("check", "--memory", str(mem), cache=cache_dir).returncode == 0


def test_analyze_on_a_full_disk_leaves_no_temporary_file_and_runs_once_there_is_room(videos, small_disk, cache_dir):
    filler = fill_disk(small_disk / "filler")
    out = small_disk / "report"
    err = one_error_line(vigil("analyze", str(videos / "bikes.mp4"), "--model", "tiny", "--out", str(out),
                               cache=cache_dir))
    assert "No space left on device" in err
    assert not [p for p in small_disk.rglob("*.tmp")] and not (out / "analysis.json").exists()
    filler.unlink()
    _grow(small_disk)
    r = vigil("analyze", str(videos / "bikes.mp4"), "--model", "tiny", "--out", str(out), cache=cache_dir)
    assert r.returncode == 0 and (out / "report.json").exists(), r.stderr
    shutil.rmtree(out)


def test_a_camera_on_a_full_disk_says_so_and_heals_on_its_own_once_there_is_room(videos, roomy_disk, tmp_path,
                                                                                    cache_dir):
    """`serve` with a camera whose memory is on a tmpfs: the disk is filled to the last byte while it runs
    (status `error`, said in one line of the serve log, no server path in the status), then freed: with no restart
    the camera is back (its status and the log say so, `last_error` cleared) and its clip count grows again."""
    import json
    import os
    import sys
    import time

    import httpx

    from tests.test_run import ROOT
    port = free_tcp_port()
    config = tmp_path / "vigil.toml"
    config.write_text(f'[server]\nport = {port}\nmemory = "{roomy_disk}"\n[model]\nname = "tiny"\n'
                      f'[[camera]]\nname = "room"\nsource = "{videos / "one-by-one-person-detection.mp4"}"\n'
                      f'loop = true\n')
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", "--config", str(config), "--fps", "2",
                             "--clip-seconds", "2"], env=dict(os.environ, VIGIL_CACHE=str(cache_dir)), stdout=log,
                            stderr=subprocess.STDOUT)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)

    def camera(until, within=120.0):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                cam = api.get("/api/v1/cameras").json()[0]
                if until(cam):
                    return cam
            except (httpx.HTTPError, ValueError, IndexError):
                pass
            time.sleep(0.3)
        raise AssertionError(f"no such state within {within} s: {(tmp_path / 'serve.log').read_text()[-2000:]}")

    filler = roomy_disk / "filler"
    try:
        camera(lambda c: c["figures"]["clips"] >= 2)
        fill_disk(filler)
        down = camera(lambda c: c["status"]["state"] == "error")
        assert "No space left on device" in down["status"]["last_error"] or "full" in down["status"]["last_error"]
        assert str(roomy_disk) not in json.dumps(down)              # no server path in what the API says
        held = down["figures"]["clips"]
        time.sleep(3.0)                                             # the stream goes on meanwhile
        assert camera(lambda c: True)["status"]["state"] == "error"
        filler.unlink()
        back = camera(lambda c: c["status"]["state"] == "playing" and c["figures"]["clips"] > held + 2)
        assert back["status"]["last_error"] is None
        time.sleep(2.0)                                             # the status monitor's next look logs it
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    lines = (tmp_path / "serve.log").read_text().splitlines()
    states = [line for line in lines if line.startswith("vigil: camera room: ")]
    said = [line.split(": ", 2)[2] for line in states[1:]]
    assert said[0] == "playing" and said[-1] == "playing", said
    assert all(a != b for a, b in zip(said, said[1:])), said      # a change of state, not of activity
    assert any(s.startswith("error (could not ") and "<memory>/room" in s for s in said), said
    assert vigil("check", "--memory", str(roomy_disk / "room"), cache=cache_dir).returncode == 0


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command", [["soak", "--minutes", "1"], ["bench", "--quick"], ["check", "--memory", "m"]])
def test_every_command_parses_the_flags_main_reads(command):
    """main() reads --verbose of every command: one without it (the soak's, before) crashed at start."""
    args = run.parser().parse_args(command)
    assert args.verbose is False
