"""The model gate: encoding first, generations one at a time and yielding between steps; and an answer of the tiny
model sharing it with encodes."""
import threading

import numpy as np
import pytest
import torch

from models.backend import PromptClip
from stream.scheduler import ModelGate, ModelGateConfig

JOIN_S = 30.0       # a thread not done by then is deadlocked (everything here takes milliseconds)


def _thread(target) -> threading.Thread:
    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t


def _encoding_loop(gate, llm, steps, done: threading.Event, encodes: list) -> threading.Thread:
    """A thread that encodes `steps` through the gate, again and again, until `done`; each result into `encodes`."""
    def run():
        while not done.is_set():
            with gate.encoding():
                encodes.append(llm.encode(steps))
    return _thread(run)


def _joined(*threads: threading.Thread) -> None:
    for t in threads:
        t.join(JOIN_S)
        assert not t.is_alive(), "deadlock: a thread never got the model"


def _encoder(gate: ModelGate, order: list, name: str) -> threading.Thread:
    def run():
        with gate.encoding():
            order.append(name)
    return _thread(run)


def _generation(gate: ModelGate, order: list, name: str) -> threading.Thread:
    def run():
        turn = gate.generation()
        turn.enter()
        order.append(name)
        turn.leave()
    return _thread(run)


def test_waiting_encoders_go_before_a_generation_that_waited_longer():
    gate, order = ModelGate(), []
    holder = gate.generation()
    holder.enter()
    g = _generation(gate, order, "gen")
    assert gate.wait_for_waiters(generations=1, timeout=JOIN_S)
    e1 = _encoder(gate, order, "enc1")
    assert gate.wait_for_waiters(encoders=1, generations=1, timeout=JOIN_S)
    e2 = _encoder(gate, order, "enc2")
    assert gate.wait_for_waiters(encoders=2, generations=1, timeout=JOIN_S)
    assert order == []                      # nothing goes while the model is held
    holder.leave()
    _joined(g, e1, e2)
    assert order == ["enc1", "enc2", "gen"]
    s = gate.stats()
    assert s["encode"]["waits"] == 2 and s["generate"]["waits"] == 1 and s["generate"]["turns"] == 2
    assert s["generate"]["max_wait_s"] >= s["encode"]["max_wait_s"] > 0


def test_generations_wait_for_each_other_whole():
    gate, order = ModelGate(), []
    first = gate.generation()
    first.enter()
    g = _generation(gate, order, "second")
    assert gate.wait_for_waiters(generations=1, timeout=JOIN_S)
    first.between_steps()                    # no encoder waits: no yield, and never to another generation
    assert first.yields == 0 and first.steps == 1 and order == []
    first.leave()
    _joined(g)
    assert order == ["second"]


def test_between_steps_yields_only_when_an_encoder_waits_and_keeps_its_place():
    gate, order = ModelGate(), []
    turn = gate.generation()
    turn.enter()
    turn.between_steps()
    assert turn.yields == 0 and gate.held and gate.stats()["generate"]["yields"] == 0
    later = _generation(gate, order, "later generation")
    assert gate.wait_for_waiters(generations=1, timeout=JOIN_S)
    e = _encoder(gate, order, "enc")
    assert gate.wait_for_waiters(encoders=1, generations=1, timeout=JOIN_S)
    turn.between_steps()                     # returns once the encoder ran and the model is back
    order.append("step 2")
    assert turn.yields == 1 and turn.holding and gate.held
    _joined(e)
    assert order == ["enc", "step 2"]        # the later generation still waits: the turn kept its place
    turn.leave()
    _joined(later)
    assert order == ["enc", "step 2", "later generation"]
    assert gate.stats()["generate"]["yields"] == 1


def test_leave_releases_and_is_safe_to_repeat():
    gate = ModelGate()
    turn = gate.generation()
    turn.leave()                             # never entered (an answer that failed first): nothing to release
    turn.enter()
    with pytest.raises(RuntimeError):
        turn.enter()
    turn.leave()
    turn.leave()
    assert not gate.held
    order = []
    _joined(_encoder(gate, order, "enc"))
    assert order == ["enc"] and gate.stats()["encode"]["waits"] == 0


def test_a_generation_is_passed_by_at_most_max_passed_encodes():
    gate, order = ModelGate(ModelGateConfig(max_passed=2)), []
    holder = gate.generation()
    holder.enter()
    threads = [_generation(gate, order, "gen")]
    assert gate.wait_for_waiters(generations=1, timeout=JOIN_S)
    for i in range(3):
        threads.append(_encoder(gate, order, f"enc{i}"))
        assert gate.wait_for_waiters(encoders=i + 1, generations=1, timeout=JOIN_S)
    holder.leave()
    _joined(*threads)
    assert order == ["enc0", "enc1", "gen", "enc2"]
    with pytest.raises(ValueError):
        ModelGateConfig(max_passed=0)


# ---- the tiny model's answers at the gate -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip_and_steps(llm):
    steps = np.random.default_rng(0).integers(0, 255, (1, 2, 56, 84, 3), dtype=np.uint8)
    tokens = llm.encode(steps)[0]
    h, w = 56 // llm.cell, 84 // llm.cell
    positions = torch.tensor([[0, y, x] for y in range(h) for x in range(w)])
    return PromptClip("[00:00:00 - 00:00:02]", tokens, positions, (1, h, w), 2.0), steps


LONG = 2000     # tokens: the tiny model runs on for all of them (no end token), long enough to overlap an encode


def test_an_encode_finishes_while_an_answer_is_still_generating(llm, clip_and_steps):
    clip, steps = clip_and_steps
    gate = ModelGate()
    turn = gate.generation()
    first_piece, encoded = threading.Event(), threading.Event()
    seen = {}

    def encode():
        first_piece.wait(JOIN_S)
        with gate.encoding():
            seen["tokens"] = llm.encode(steps)
        seen["steps_at_encode"] = turn.steps     # decoding steps the answer had made when the encode returned
        encoded.set()

    e = _thread(encode)
    pieces, pieces_after = [], 0
    for piece in llm.answer("what happens?", [clip], max_new_tokens=LONG, turn=turn):
        pieces.append(piece)
        first_piece.set()
        pieces_after += encoded.is_set()
    _joined(e)
    assert encoded.is_set() and seen["tokens"].shape == (1, 6, llm.token_dim)
    # The encode went between two steps of the answer, which then went on generating (under a lock held for the
    # whole answer, it would have returned only after the last step).
    assert turn.yields >= 1 and seen["steps_at_encode"] < turn.steps - 1 and pieces_after > 0
    assert not gate.held and not turn.holding
    assert gate.stats()["generate"]["yields"] == turn.yields


def test_answers_are_the_same_with_encodes_between_their_steps(llm, clip_and_steps):
    clip, steps = clip_and_steps
    n = 400
    alone = "".join(llm.answer("describe the clip", [clip], max_new_tokens=n))
    gate = ModelGate()
    assert "".join(llm.answer("describe the clip", [clip], max_new_tokens=n, turn=gate.generation())) == alone
    done, encodes = threading.Event(), []
    e = _encoding_loop(gate, llm, steps, done, encodes)
    turn = gate.generation()
    shared = "".join(llm.answer("describe the clip", [clip], max_new_tokens=n, turn=turn))
    done.set()
    _joined(e)
    assert len(alone) > 100 and shared == alone
    assert turn.yields >= 1 and len(encodes) >= 2          # the encodes really came between its steps
    assert all(torch.equal(t, encodes[0]) for t in encodes)


def test_an_abandoned_answer_frees_the_model_while_encoders_wait(llm, clip_and_steps):
    clip, steps = clip_and_steps
    gate = ModelGate()
    done, encodes = threading.Event(), []
    e = _encoding_loop(gate, llm, steps, done, encodes)
    turn = gate.generation()
    gen = llm.answer("describe", [clip], max_new_tokens=LONG, turn=turn)
    next(gen)
    next(gen)
    closer = _thread(gen.close)               # the reader gives up midway, while encodes keep coming
    _joined(closer)
    assert not turn.holding and turn.steps < LONG
    done.set()
    _joined(e)
    assert not gate.held and encodes
    with gate.encoding():                      # and a fresh user gets the model at once
        pass
    assert "".join(llm.answer("describe", [clip], max_new_tokens=5, turn=gate.generation()))


def test_the_engine_puts_every_encode_and_answer_through_its_one_gate(llm, embedder, model_config, tmp_path):
    from stream.engine import Engine, EngineConfig
    from stream.sources import Frame

    engine = Engine(EngineConfig(model=model_config), llm=llm, embedder=embedder)
    assert engine.ingestor.gate is engine.gate
    session = engine.open(str(tmp_path))
    rng = np.random.default_rng(1)
    frames = [Frame(rng.integers(0, 255, (56, 84, 3), dtype=np.uint8), float(t)) for t in range(8)]
    steps = list(session.run(frames))
    encodes = engine.gate.stats()["encode"]["turns"]
    assert encodes >= 1 and any(s.encoded for s in steps)
    answer = session.ask("what happened?")
    assert answer.clips and answer.text()
    stats = engine.gate.stats()
    assert stats["generate"]["turns"] == 1 and stats["encode"]["turns"] == encodes and not engine.gate.held
    session.close()
