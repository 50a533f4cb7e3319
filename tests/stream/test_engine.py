from collections import deque

import pytest

from memory.config import SelectConfig
from models.config import ModelConfig
from stream.config import IngestConfig
from stream.engine import Engine, EngineConfig
from stream.sources import FileSource, Frame


@pytest.fixture(scope="module")
def engine(llm, embedder):
    return Engine(EngineConfig(model=ModelConfig(llm="tiny"), ingest=IngestConfig(), select=SelectConfig()),
                  llm=llm, embedder=embedder)


def test_ingest_reopen_ask(engine, videos, tmp_path):
    session = engine.open(str(tmp_path), stream="room")
    steps = list(session.run(FileSource(str(videos / "one-by-one-person-detection.mp4"), 1.0).frames()))
    stored = session.store.count("room")
    assert stored == sum(1 for s in steps if s.clip) > 10
    session.close()
    session = engine.open(str(tmp_path), stream="room")          # a new process would see the same
    answer = session.ask("When did the second person come in?")
    assert answer.warning and "RANDOM WEIGHTS" in answer.warning
    starts = [c.start for c in answer.clips]
    assert starts == sorted(starts) and max(starts) == max(c.start for c in session.store.clips("room"))
    assert sum(c.n_tokens for c in answer.clips) <= engine.config.select.token_budget
    assert isinstance(answer.text(), str)
    early = session.ask("what happened?", until=30.0)
    assert early.clips and all(c.end <= 30.0 for c in early.clips)
    session.close()


def _looped(videos, seconds):
    """The fixed-camera clip looped to `seconds` of stream at 1 fps (a simulated long stream)."""
    base = list(FileSource(str(videos / "one-by-one-person-detection.mp4"), 1.0).frames())
    period = base[-1].time + 1.0
    for i in range(int(seconds)):
        f = base[i % len(base)]
        yield Frame(f.image, (i // len(base)) * period + f.time)


def test_question_cost_does_not_grow_with_stream_length(engine, videos, tmp_path):
    sizes = {}
    for minutes in (1, 10):
        session = engine.open(str(tmp_path / f"m{minutes}"))
        deque(session.run(_looped(videos, 60 * minutes)), maxlen=0)    # drain the loop, keep no steps
        answer = session.ask("Is anyone at the table?")
        sizes[minutes] = answer.prompt_tokens
        visual = sum(c.n_tokens for c in answer.clips)
        assert visual <= engine.config.select.token_budget
        answer.pieces.close()
        session.close()
    assert sizes[10] <= sizes[1] * 1.05, sizes
