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
    r = vigil("ask", "--memory", str(tmp_path / "none"), "--model", "tiny", "q", cache=cache_dir)
    assert r.returncode != 0 and "no memory" in r.stderr
    r = vigil("ingest", str(videos / "bikes.mp4"), "--memory", str(mem), "--model", "tiny", "--fps", "-1",
              cache=cache_dir)
    assert r.returncode == 2 and "must be positive" in r.stderr
