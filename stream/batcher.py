"""The vision tower shared by every stream, encoding the steps of several streams that wait at once in one call.

Each stream's loop asks for its steps' tokens (`encode`) and waits its turn on the model at the engine's gate
(stream.scheduler: encoding first, answers between). The stream whose turn comes encodes every step then waiting,
its own first and other streams' after it in the order they came, up to `max_steps`, one call for each frame size;
each stream gets exactly its own tokens. A stream whose steps went in another's call finds them done when its own
turn comes, and gives the turn back at once. So the more cameras wait on a busy model, the bigger its batches, which
is what a GPU does best; with the model idle a step is encoded alone, as before.

A step's tokens do not depend on what it was batched with: each step is its own sequence to the tower (Qwen's
`grid_thw` row per step, SigLIP's batch row), so a batch is the same computation as the steps one by one.
"""
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from stream.scheduler import ModelGate


@dataclass
class _Request:
    steps: np.ndarray                      # [B, frames_per_step, H, W, 3] uint8, one stream's steps
    out: torch.Tensor | None = None        # [B, N, D] once encoded
    error: BaseException | None = None
    done: bool = False
    seconds: float = 0.0                   # the call that encoded them (not the wait for the model)


@dataclass
class BatchStats:
    calls: int = 0                 # vision-tower calls
    steps: int = 0                 # steps encoded in them
    shared: int = 0                # calls that carried the steps of more than one stream
    largest: int = 0               # the most steps in one call


class EncodeBatcher:
    def __init__(self, llm, gate: ModelGate, max_steps: int):
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {max_steps}")
        self.llm, self.gate, self.max_steps = llm, gate, max_steps
        self._cond = threading.Condition()
        self._waiting: list[_Request] = []
        self._stats = BatchStats()

    def encode(self, steps: np.ndarray) -> tuple[torch.Tensor, float]:
        """[B, frames_per_step, H, W, 3] uint8 (resized) -> ([B, N, D] float32, seconds of the call that encoded
        them): this stream's steps' tokens, encoded in its own turn on the model or in another stream's."""
        req = _Request(steps)
        with self._cond:
            self._waiting.append(req)
        with self.gate.encoding():
            with self._cond:
                batch = [] if req.done else self._take(req)
            if batch:
                self._run(batch)
        if req.error is not None:
            raise req.error
        return req.out, req.seconds

    def _take(self, first: _Request) -> list[_Request]:
        """Under the lock: `first` and the requests waiting after it, in order, while their steps fit max_steps."""
        batch, n = [first], len(first.steps)
        self._waiting.remove(first)
        for r in list(self._waiting):
            if n + len(r.steps) > self.max_steps:
                break
            batch.append(r)
            n += len(r.steps)
            self._waiting.remove(r)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        """Holding the model: one call per frame size, each request given its own rows."""
        try:
            for shape in dict.fromkeys(r.steps.shape[1:] for r in batch):
                group = [r for r in batch if r.steps.shape[1:] == shape]
                t0 = time.perf_counter()
                tokens = self.llm.encode(np.concatenate([r.steps for r in group]))
                took, at = time.perf_counter() - t0, 0
                for r in group:
                    r.out, r.seconds, at = tokens[at:at + len(r.steps)], took, at + len(r.steps)
                with self._cond:
                    s = self._stats
                    s.calls, s.steps = s.calls + 1, s.steps + len(tokens)
                    s.shared += len(group) > 1
                    s.largest = max(s.largest, len(tokens))
        except BaseException as e:           # every stream in the call learns of it, not only the one that ran it
            for r in batch:
                if r.out is None:
                    r.error = e
            raise
        finally:
            with self._cond:
                for r in batch:
                    r.done = True

    def stats(self) -> BatchStats:
        with self._cond:
            return BatchStats(**vars(self._stats))
