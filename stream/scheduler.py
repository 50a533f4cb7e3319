"""One video LLM shared by every stream and every question: encoding first, answers yield between generation steps.

Ingestion encodes each stream's frames with the model; questions, captions and watch-rule checks generate with it.
A lock held for a whole answer stalls the ingestion of every stream for as long as the answer runs (up to
max_new_tokens steps). The `ModelGate` has one holder at a time, of one of two classes of work:

- encoding (a batch of steps through the vision tower), `with gate.encoding(): ...`, comes first: a waiting encoder
  goes before a waiting generation.
- generation (an answer), `turn = gate.generation()`, holds the model for its prompt, then for one decoding step at a
  time while encoders wait: `turn.between_steps()` lets them run and takes the model back, ahead of every other
  generation. Generations never interleave: the model keeps an answer's state between its steps (Qwen's
  rope_deltas), so a second answer must not start until the first has left.

Strict priority would starve answers when streams keep the model encoding non-stop, so a waiting generation lets at
most `ModelGateConfig.max_passed` encodes go ahead of it before it takes its turn.

The gate is not owned by a thread: an answer enters and leaves in its generate thread while its reader is elsewhere,
and nothing here assumes the thread that acquired is the one that releases.
"""
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

ENCODE, GENERATE = "encode", "generate"


@dataclass
class ModelGateConfig:
    # Encodes that may go ahead of a waiting generation (a new answer, or one between two steps) before it takes
    # its turn anyway. Encoding comes first so live streams keep up; but with streams enough to keep the model
    # encoding all the time, strict priority would never answer a question or check a watch rule. A stream has one
    # encode outstanding at a time, so this lets up to this many streams each encode once before every step.
    max_passed: int = 8
    # Steps of several streams waiting for the vision tower at once go in one call, up to this many (stream.batcher):
    # a GPU's throughput grows with the batch, so cameras a worker keeps up with grow with it. 1: a stream's steps
    # alone, as before cross-camera batching.
    max_batch_steps: int = 32

    def __post_init__(self):
        if self.max_passed < 1:
            raise ValueError(f"max_passed must be at least 1, got {self.max_passed}")
        if self.max_batch_steps < 1:
            raise ValueError(f"max_batch_steps must be at least 1, got {self.max_batch_steps}")


@dataclass
class ClassStats:
    """How one class of work fared at the gate (for benches and the service's figures)."""
    turns: int = 0              # times it got the model (a generation: its entry, and each return after a yield)
    waits: int = 0              # of those, times it found the model taken and waited
    wait_s: float = 0.0         # seconds waited, in all
    max_wait_s: float = 0.0     # the longest single wait
    yields: int = 0             # generation only: times it let encoders run between two steps


class ModelGate:
    def __init__(self, config: ModelGateConfig | None = None, clock: Callable[[], float] = time.perf_counter):
        self.config = config or ModelGateConfig()
        self._clock = clock
        self._cond = threading.Condition()
        self._held = False
        self._encoders: deque = deque()           # waiting encoders, first come first served
        self._generations: deque = deque()        # waiting generations; one between its steps is put first
        self._passed = 0                          # encodes granted while a generation waited
        self._stats = {ENCODE: ClassStats(), GENERATE: ClassStats()}

    @contextmanager
    def encoding(self) -> Iterator[None]:
        """Hold the model for one encode (the vision tower on a batch of steps)."""
        self._acquire(ENCODE, object())
        try:
            yield
        finally:
            self._release()

    def generation(self) -> "GenerationTurn":
        """A turn for one answer: enter() before building its prompt, between_steps() after each decoding step,
        leave() when it ends."""
        return GenerationTurn(self)

    @property
    def held(self) -> bool:
        with self._cond:
            return self._held

    @property
    def encoders_waiting(self) -> int:
        with self._cond:
            return len(self._encoders)

    @property
    def generations_waiting(self) -> int:
        with self._cond:
            return len(self._generations)

    def wait_for_waiters(self, encoders: int = 0, generations: int = 0, timeout: float | None = None) -> bool:
        """Block until at least this many encoders and generations wait for the model (tests and benches set up a
        contention this way); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._encoders) >= encoders and
                                       len(self._generations) >= generations, timeout)

    def stats(self) -> dict[str, dict]:
        """A copy of the counters, per class of work."""
        with self._cond:
            return {kind: asdict(s) for kind, s in self._stats.items()}

    # ---- internals, all under self._cond ------------------------------------------------------------------
    def _due(self, kind: str, ticket) -> bool:
        """Whether this waiter takes the model now."""
        if self._held:
            return False
        generation_first = bool(self._generations) and (not self._encoders or self._passed >= self.config.max_passed)
        if kind == ENCODE:
            return self._encoders[0] is ticket and not generation_first
        return self._generations[0] is ticket and generation_first

    def _wait_turn(self, kind: str, ticket, first: bool = False) -> None:
        queue = self._encoders if kind == ENCODE else self._generations
        queue.appendleft(ticket) if first else queue.append(ticket)
        self._cond.notify_all()       # for wait_for_waiters
        t0, waited = self._clock(), False
        while not self._due(kind, ticket):
            waited = True
            self._cond.wait()
        queue.popleft()
        self._held = True
        if kind == ENCODE:
            self._passed += bool(self._generations)
        else:
            self._passed = 0
        s = self._stats[kind]
        s.turns += 1
        if waited:
            wait = self._clock() - t0
            s.waits += 1
            s.wait_s += wait
            s.max_wait_s = max(s.max_wait_s, wait)
        # The next in line may be due once this one is done; it learns so at the release.

    def _acquire(self, kind: str, ticket) -> None:
        with self._cond:
            self._wait_turn(kind, ticket)

    def _release(self) -> None:
        with self._cond:
            self._held = False
            self._cond.notify_all()

    def _yield(self, turn: "GenerationTurn") -> bool:
        """Between two steps of the holding generation: if encoders wait, let them run, then take the model back
        before any other generation. True when it yielded."""
        with self._cond:
            if not self._encoders:
                return False
            self._held = False
            self._stats[GENERATE].yields += 1
            self._cond.notify_all()
            # Under the same hold of the condition: first in line among generations, behind the waiting encoders
            # (they are due: encoders wait, and a generation just went, so nothing was passed yet).
            self._wait_turn(GENERATE, turn, first=True)
            return True


class GenerationTurn:
    """One answer's use of the gate. Used by the answer's generate thread; enter() and leave() pair, leave() is safe to
    call when not holding (an answer that failed before it entered)."""

    def __init__(self, gate: ModelGate):
        self.gate = gate
        self.holding = False
        self.steps = 0          # decoding steps seen by between_steps
        self.yields = 0         # of those, times it let encoders run

    def enter(self) -> None:
        if self.holding:
            raise RuntimeError("this generation turn already holds the model")
        self.gate._acquire(GENERATE, self)
        self.holding = True

    def between_steps(self) -> None:
        """After a decoding step: let waiting encoders run first (the model is taken back before this returns)."""
        if not self.holding:
            raise RuntimeError("between_steps outside enter() / leave()")
        self.steps += 1
        self.yields += self.gate._yield(self)

    def leave(self) -> None:
        if self.holding:
            self.holding = False
            self.gate._release()

    def __enter__(self) -> "GenerationTurn":
        self.enter()
        return self

    def __exit__(self, *exc) -> None:
        self.leave()
