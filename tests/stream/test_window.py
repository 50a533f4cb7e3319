"""The live window: the newest steps whole, and what each answer policy shows a question."""
import pytest
import torch

from memory.config import SelectConfig
from models.config import ModelConfig
from stream.config import AnswerConfig, IngestConfig
from stream.engine import Engine, EngineConfig
from stream.sources import FileSource
from stream.ingest import Step


def _engine(llm, embedder, policy="hybrid", **select):
    return Engine(EngineConfig(model=ModelConfig(llm="tiny"), ingest=IngestConfig(), select=SelectConfig(**select),
                               answer=AnswerConfig(policy=policy)), llm=llm, embedder=embedder)


@pytest.fixture(scope="module")
def ran(llm, embedder, videos, tmp_path_factory):
    """One 30-second run of the fixed-camera clip: the session (still open: its window is in RAM) and its steps. The
    budget holds every clip it stores (4 of 256 tokens) but not those and the window (2 steps of 252)."""
    engine = _engine(llm, embedder, token_budget=1200)
    session = engine.open(str(tmp_path_factory.mktemp("window")), stream="room")
    frames = (f for f in FileSource(str(videos / "one-by-one-person-detection.mp4"), 1.0).frames() if f.time < 30)
    steps = [s for s in session.run(frames) if isinstance(s, Step)]
    return engine, session, steps


def test_the_window_holds_the_newest_steps_whole(ran):
    engine, session, steps = ran
    window = session.window()
    n = engine.config.ingest.window_steps
    per_step = steps[-1].total
    assert window.prompt.grid[0] == n and window.tokens == n * per_step      # every token, not the kept ones
    assert sum(s.kept for s in steps[-n:]) < n * per_step                    # (the drop did drop some)
    assert window.start == steps[-n].time and window.end == steps[-1].end
    assert torch.equal(window.prompt.positions[:per_step, 1:], window.prompt.positions[per_step:, 1:])
    # as of an earlier time: only the steps that had ended by then; long before: none
    assert session.window(until=steps[-1].end - 0.5).end == steps[-2].end
    assert session.window(until=5.0) is None


def test_window_steps_zero_keeps_none(llm, embedder, videos, tmp_path):
    engine = Engine(EngineConfig(model=ModelConfig(llm="tiny"), ingest=IngestConfig(window_steps=0)),
                    llm=llm, embedder=embedder)
    session = engine.open(str(tmp_path))
    list(session.run(f for f in FileSource(str(videos / "bikes.mp4"), 1.0).frames()))
    assert session.window() is None


def test_hybrid_shows_the_window_whole_and_memory_before_it_in_the_rest_of_the_budget(ran):
    engine, session, _ = ran
    answer = session.ask("what is on the table?")
    window, budget = answer.window, engine.config.select.token_budget
    assert window is not None and answer.clips
    assert all(c.start < window.start for c in answer.clips)         # the one the window cuts into too
    assert max(c.end for c in answer.clips) >= window.start - engine.config.ingest.clip_seconds
    assert sum(c.n_tokens for c in answer.clips) <= budget - window.tokens
    memory = session.ask("what is on the table?", policy="memory")
    assert memory.window is None and sum(c.n_tokens for c in memory.clips) > sum(c.n_tokens for c in answer.clips)
    # the prompt counts the window's tokens: hybrid's prompt minus its memory clips is the window and the text
    assert answer.prompt_tokens - sum(c.n_tokens for c in answer.clips) >= window.tokens
    for a in (answer, memory):
        a.pieces.close()


def test_window_policy_shows_only_the_newest_frames(ran):
    _, session, steps = ran
    answer = session.ask("what is happening now?", policy="window")
    assert answer.clips == [] and answer.window.end == steps[-1].end
    answer.pieces.close()


def test_a_question_about_earlier_gets_no_window(ran):
    _, session, _ = ran
    answer = session.ask("what happened in the first 10 seconds?")
    assert answer.span is not None and answer.window is None
    assert answer.clips and all(c.start <= 10.0 for c in answer.clips)
    answer.pieces.close()


def test_a_stored_memory_has_no_window_and_answers_from_memory(llm, embedder, videos, tmp_path):
    engine = _engine(llm, embedder)
    session = engine.open(str(tmp_path), stream="s")
    list(session.run(FileSource(str(videos / "bikes.mp4"), 1.0).frames()))
    session.close()
    reopened = engine.open(str(tmp_path), stream="s", readonly=True)
    answer = reopened.ask("what happened?")
    assert answer.window is None and answer.clips
    answer.pieces.close()
    reopened.close()


def test_qwen3_answers_with_the_window_and_memory(model_config, embedder, videos, tmp_path):
    from dataclasses import replace
    from models.loader import load_llm
    llm3 = load_llm(replace(model_config, llm="tiny-qwen3-vl"))
    session = _engine(llm3, embedder).open(str(tmp_path))
    list(session.run(f for f in FileSource(str(videos / "bikes.mp4"), 1.0).frames()))
    answer = session.ask("what is happening?")
    assert answer.window is not None and answer.window.prompt.tokens.shape[1] == llm3.token_dim
    assert "RANDOM WEIGHTS" in answer.warning and isinstance(answer.text(), str)


def test_the_window_fits_the_budget_oldest_steps_first(ran):
    _, session, steps = ran
    per_step = steps[-1].total
    assert session.window(budget=per_step + 1).prompt.grid[0] == 1
    assert session.window(budget=per_step + 1).end == steps[-1].end
    assert session.window(budget=per_step - 1) is None


def test_options_of_a_benchmark_prompt_are_no_time(ran):
    _, session, _ = ran
    prompt = "How long did the person stay?\nA. About 2 minutes ago\nB. 10 seconds ago"
    assert session.ask(prompt).span is not None                      # read as a time, it would narrow the clips
    answer = session.ask(prompt, when_text="How long did the person stay?")
    assert answer.span is None and answer.window is not None
    answer.pieces.close()
