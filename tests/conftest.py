import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VIDEOS = ROOT.parent / "shared" / "videos"


def videos_or_skip() -> Path:
    """The real clips; a developer's checkout without them skips the tests that need them, CI fails (a run that
    silently skipped every real-clip test would prove nothing)."""
    if not (VIDEOS / "annotations.json").exists():
        message = f"real clips not found at {VIDEOS} (the shared/videos folder beside the checkout)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI needs them", pytrace=False)
        pytest.skip(message)
    return VIDEOS


@pytest.fixture(scope="session")
def videos() -> Path:
    return videos_or_skip()


@pytest.fixture(scope="session")
def annotations(videos) -> dict:
    return json.loads((videos / "annotations.json").read_text())


@pytest.fixture(scope="session")
def postgres(tmp_path_factory):
    """One real PostgreSQL with pgvector for the suite (tests/postgres.py), started in about a second."""
    from tests.postgres import Postgres
    server = Postgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres) -> str:
    """A database of its own for one test, on the suite's server."""
    return postgres.new_database()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vigil-cache")
    os.environ["VIGIL_CACHE"] = str(path)     # for subprocesses (run.py) too
    return path


@pytest.fixture(scope="session")
def model_config(cache_dir):
    from models.config import ModelConfig
    return ModelConfig(llm="tiny", embedder="tiny", cache_dir=str(cache_dir))


@pytest.fixture(scope="session")
def llm(model_config):
    from models.loader import load_llm
    return load_llm(model_config)


@pytest.fixture(scope="session")
def embedder(model_config):
    from models.loader import load_embedder
    return load_embedder(model_config)


@pytest.fixture(scope="session")
def odd_videos(videos, tmp_path_factory) -> dict[str, Path]:
    """Awkward files cut from the real clips with FFmpeg (imageio-ffmpeg's binary): rotation metadata, anamorphic
    pixels, variable frame rate, a truncated file, a zero-length file, and a file that is not video."""
    import subprocess

    import imageio_ffmpeg
    ff, out = imageio_ffmpeg.get_ffmpeg_exe(), tmp_path_factory.mktemp("odd")
    bikes, room = str(videos / "bikes.mp4"), str(videos / "one-by-one-person-detection.mp4")
    x264 = ["-c:v", "libx264", "-preset", "ultrafast"]
    jobs = {
        "rotated": ["-display_rotation", "90", "-i", bikes, "-t", "4", "-c", "copy"],
        "anamorphic": ["-i", bikes, "-t", "4", "-vf", "scale=320:272,setsar=2", *x264],
        # 25 fps for 3 s, then every frame shown 3x longer: 8.33 fps
        "vfr": ["-i", bikes, "-t", "6", "-vf", "setpts='if(lt(T,3),PTS,3/TB+(PTS-3/TB)*3)'", "-fps_mode", "vfr", *x264],
        "whole": ["-i", room, "-t", "30", "-c", "copy", "-movflags", "+faststart"],
        "zero": ["-i", bikes, "-frames:v", "0"],
    }
    paths = {}
    for name, args in jobs.items():
        paths[name] = out / f"{name}.mp4"
        subprocess.run([ff, "-v", "error", "-y", *args, str(paths[name])], check=True, timeout=120)
    paths["truncated"] = out / "truncated.mp4"      # index up front, data cut at half: breaks about mid-file
    data = paths["whole"].read_bytes()
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["not_video"] = out / "notes.mp4"
    paths["not_video"].write_text("these are not frames\n" * 100)
    return paths


@pytest.fixture(scope="session")
def answer_server(cache_dir):
    """A real OpenAI-compatible server (`transformers serve`) on 127.0.0.1, pinned to a tiny random LLaVA that reads
    base64 `image_url` parts; stopped when the session ends."""
    from models.served import build_tiny_served_vlm, start_server
    from models.tiny import TINY_VERSION

    folder = build_tiny_served_vlm(cache_dir / f"tiny-served-vlm-v{TINY_VERSION}")
    server = start_server(folder, log=cache_dir / "answer-server.log")
    yield server
    server.stop()


@pytest.fixture
def fault():
    """A function (plan, **Faults fields) -> a running FaultServer (tests/fault_server.py: fault injection only),
    closed after the test."""
    from tests.fault_server import FaultServer, Faults
    servers = []

    def make(plan, **kw):
        s = FaultServer(Faults(plan=plan, **kw))
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()
