import pytest

from app.config import UIConfig
from app.handlers import Handlers
from app.server import Server
from app.service import Service
from models.served import free_port
from stream.engine import Engine, EngineConfig


@pytest.fixture
def serve(llm, embedder, model_config, videos, tmp_path):
    """Start the page and the API in process; yields a function (checker=None, sinks=None, model=None (another video
    LLM than the tiny Qwen2.5-VL), answerer=None (an answer server's client), **config) -> (url, handlers)."""
    servers = []

    def start(checker=None, sinks=None, model=None, answerer=None, **overrides):
        engine = Engine(EngineConfig(model=model_config), llm=model or llm, embedder=embedder, answerer=answerer)
        config = UIConfig(port=free_port(), memory_root=str(tmp_path / "memory"),
                          media_roots=UIConfig().media_roots + [str(videos)], **overrides)
        service = Service(engine, config, checker=checker, sinks=sinks)
        handlers = Handlers(service)
        servers.append(Server(service, handlers).start())
        return f"http://{config.host}:{config.port}/", handlers

    yield start
    for server in servers:
        server.stop()
