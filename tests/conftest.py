import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VIDEOS = ROOT.parent / "shared" / "videos"


def videos_or_skip() -> Path:
    if not (VIDEOS / "annotations.json").exists():
        pytest.skip(f"real clips not found at {VIDEOS} (the shared/videos folder beside the checkout)")
    return VIDEOS


@pytest.fixture(scope="session")
def videos() -> Path:
    return videos_or_skip()


@pytest.fixture(scope="session")
def annotations(videos) -> dict:
    return json.loads((videos / "annotations.json").read_text())


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
