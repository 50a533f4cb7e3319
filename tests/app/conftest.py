import socket

import pytest

from app.config import UIConfig
from app.handlers import Handlers
from app.ui import CSS, build
from stream.engine import Engine, EngineConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(llm, embedder, model_config, videos, tmp_path):
    """Launch the app in process; yields a function (checker=None, **config) -> (url, handlers)."""
    pages = []

    def start(checker=None, **overrides):
        engine = Engine(EngineConfig(model=model_config), llm=llm, embedder=embedder)
        config = UIConfig(port=free_port(), memory_root=str(tmp_path / "memory"),
                          media_roots=UIConfig().media_roots + [str(videos)], **overrides)
        handlers = Handlers(engine, config, checker=checker)
        page = build(handlers)
        page.launch(server_name=config.host, server_port=config.port, prevent_thread_lock=True, quiet=True, css=CSS)
        pages.append((page, handlers))
        return f"http://{config.host}:{config.port}/", handlers

    yield start
    for page, handlers in pages:
        handlers.registry.close_all()
        page.close()
