"""Item 9: one video LLM shared by ingestion and answers. An encode loop on a steady schedule (the 2-frame steps of a
real clip, as a stream sends them) runs while answers stream back to back, under two policies side by side in one
run, in alternating rounds so both see the same machine load:

- "whole-answer lock": the policy QwenVideoLLM had, reproduced here with a plain lock held from the prompt to the
  last generated token;
- "gate": stream.scheduler.ModelGate, encoding first, answers yielding between generation steps.

Reported, in relative units (this runs on whatever device the suite runs on; absolute seconds are kept in the JSON):
how late each encode gets the model against its schedule, in schedule periods (a lag of 1 is one step behind), and
what the gate costs the answers (seconds to first token and in all, gate over lock)."""
import statistics
import threading
import time

import numpy as np
import torch

from models.backend import PromptClip
from models.preprocess import resize_frames, smart_resize
from stream.scheduler import ModelGate
from stream.sources import FileSource

QUESTION = "What happens in these clips?"
ALONE_REPEATS = 5       # the costs measured alone are medians of this many runs (one is at the mercy of the OS)


class _WholeAnswerLock:
    """The old policy as a generation turn: the lock is taken before the prompt and kept to the last step."""

    def __init__(self, lock: threading.Lock):
        self.lock, self.holding = lock, False

    def enter(self) -> None:
        self.lock.acquire()
        self.holding = True

    def between_steps(self) -> None:
        pass

    def leave(self) -> None:
        if self.holding:
            self.holding = False
            self.lock.release()


class _Clocked:
    """The policy's turn for an answer (None: nothing held), timing it: when it got the model, when its first token
    and its last came (the streamed pieces come at word ends, too late to time a first token by)."""

    def __init__(self, inner=None):
        self.inner = inner
        self.entered = self.first = self.last = None
        self.steps = 0

    def enter(self) -> None:
        if self.inner is not None:
            self.inner.enter()
        self.entered = time.perf_counter()

    def between_steps(self) -> None:
        self.last = time.perf_counter()
        self.first = self.first or self.last
        self.steps += 1
        if self.inner is not None:
            self.inner.between_steps()

    def leave(self) -> None:
        if self.inner is not None:
            self.inner.leave()


class _LockPolicy:
    name = "whole-answer lock"

    def __init__(self):
        self.lock = threading.Lock()

    def encoding(self):
        return self.lock

    def generation(self):
        return _WholeAnswerLock(self.lock)


class _GatePolicy:
    name = "gate"

    def __init__(self):
        self.gate = ModelGate()

    def encoding(self):
        return self.gate.encoding()

    def generation(self):
        return self.gate.generation()


def _steps(llm, path: str, fps: float, pixels: int) -> list[np.ndarray]:
    """The clip's sampled frames as 2-frame steps [1, F, H, W, 3], resized to about `pixels` each."""
    frames = [f.image for f in FileSource(path, fps).frames()]
    h, w = smart_resize(*frames[0].shape[:2], llm.cell, llm.cell * llm.cell, pixels)
    n = len(frames) // llm.frames_per_step * llm.frames_per_step
    pix = resize_frames(np.stack(frames[:n]), (h, w))
    return [pix[i:i + llm.frames_per_step][None] for i in range(0, n, llm.frames_per_step)]


def _prompt(llm, steps: list[np.ndarray], steps_per_clip: int, budget: int, seconds_per_step: float
            ) -> list[PromptClip]:
    """Clips of the stream's first steps, every token kept, as many as fit in the question's token budget."""
    clips, used = [], 0
    for i in range(0, len(steps) - steps_per_clip + 1, steps_per_clip):
        tokens = llm.encode(np.concatenate(steps[i:i + steps_per_clip]))          # [T, h*w, D]
        t, n, _ = tokens.shape
        if used + t * n > budget:
            break
        _, _, hh, ww, _ = steps[i].shape
        h, w = hh // llm.cell, ww // llm.cell
        positions = torch.tensor([[a, b, c] for a in range(t) for b in range(h) for c in range(w)])
        clips.append(PromptClip(f"[clip {len(clips)}]", tokens.reshape(t * n, -1), positions, (t, h, w),
                                seconds_per_step))
        used += t * n
    return clips


def _answer(llm, clips, tokens: int, turn) -> tuple[float, float, _Clocked]:
    """(seconds to the first token, seconds in all, its clock) of one answer, read as fast as it comes."""
    clock = _Clocked(turn)
    t0 = time.perf_counter()
    for _ in llm.answer(QUESTION, clips, max_new_tokens=tokens, turn=clock):
        pass
    return clock.first - t0, time.perf_counter() - t0, clock


def _round(llm, policy, steps, clips, tokens: int, period: float, seconds: float) -> tuple[list, int, list]:
    """Encodes on a schedule against back-to-back answers for `seconds`: (lags in seconds, steps skipped, answer
    timings)."""
    stop, lags, skipped = threading.Event(), [], [0]

    def encode_loop():
        t0, k = time.perf_counter(), 0
        while True:
            if stop.wait(max(0.0, t0 + k * period - time.perf_counter())):   # sleeps until the step is due
                break
            # As a live source does, the loop takes the latest step: those that came due while it waited are skipped.
            latest = int((time.perf_counter() - t0) // period)
            skipped[0] += max(0, latest - k)
            k = max(k, latest)
            with policy.encoding():
                started = time.perf_counter()
                llm.encode(steps[k % len(steps)])
            lags.append(started - (t0 + k * period))
            k += 1

    encoder = threading.Thread(target=encode_loop, name="bench-encoder", daemon=True)
    encoder.start()
    answers, end = [], time.perf_counter() + seconds
    while time.perf_counter() < end:
        answers.append(_answer(llm, clips, tokens, policy.generation()))
    stop.set()
    encoder.join()
    return lags, skipped[0], answers


def _lag_figures(lags: list[float], skipped: int, period: float) -> dict:
    x = np.asarray(lags) / period
    return {"encodes": len(lags), "skipped": skipped, "skipped_share": round(skipped / (skipped + len(lags)), 4),
            "mean": round(float(x.mean()), 3), "p95": round(float(np.percentile(x, 95)), 3),
            "max": round(float(x.max()), 3), "mean_s": round(float(np.mean(lags)), 5)}


def sharing(llm, path: str, fps: float, pixels: int, tokens: int, encodes_per_answer: float, seconds: float,
            rounds: int, steps_per_clip: int, budget: int) -> dict:
    steps = _steps(llm, path, fps, pixels)
    clips = _prompt(llm, steps, steps_per_clip, budget, llm.frames_per_step / fps)
    # Costs alone (after a warm-up: the first calls allocate), to set the schedule and say what the run was like.
    llm.encode(steps[0])
    _answer(llm, clips, tokens, None)
    encode_s = statistics.median(_timed(lambda: llm.encode(steps[1])) for _ in range(ALONE_REPEATS))
    alone = [_answer(llm, clips, tokens, None) for _ in range(ALONE_REPEATS)]
    first_s = statistics.median(a[0] for a in alone)
    answer_s = statistics.median(a[1] for a in alone)
    prefill_s = statistics.median(c.first - c.entered for _, _, c in alone)     # the prompt and the first token
    step_s = statistics.median((c.last - c.first) / (c.steps - 1) for _, _, c in alone)
    period = answer_s / encodes_per_answer
    if encode_s >= period:
        raise ValueError(f"an encode ({encode_s:.3f} s) takes longer than the schedule's period ({period:.3f} s): "
                         f"lower the pixels or encodes_per_answer")

    policies = [_LockPolicy(), _GatePolicy()]
    runs = {p.name: ([], [0], []) for p in policies}
    for _ in range(rounds):
        for p in policies:
            lags, skipped, answers = _round(llm, p, steps, clips, tokens, period, seconds / rounds)
            runs[p.name][0].extend(lags)
            runs[p.name][1][0] += skipped
            runs[p.name][2].extend(answers)
    out = {"frame_size": list(steps[0].shape[2:4]), "prompt_tokens": llm.prompt_size(QUESTION, clips),
           "answer_tokens": tokens, "period_s": round(period, 5), "seconds_per_policy": seconds, "rounds": rounds,
           "alone": {"encode_s": round(encode_s, 5), "step_s": round(step_s, 6), "prefill_s": round(prefill_s, 5),
                     "first_token_s": round(first_s, 5), "answer_s": round(answer_s, 5),
                     "encode_in_steps": round(encode_s / step_s, 2),
                     "prefill_in_encodes": round(prefill_s / encode_s, 2)},
           "policies": {}}
    for name, (lags, skipped, answers) in runs.items():
        out["policies"][name] = {"lag": _lag_figures(lags, skipped[0], period), "answers": len(answers),
                                 "first_token_s": round(statistics.median(a[0] for a in answers), 5),
                                 "answer_s": round(statistics.median(a[1] for a in answers), 5)}
    old, new = out["policies"]["whole-answer lock"], out["policies"]["gate"]
    out["ratios"] = {"lag_mean": _ratio(old["lag"]["mean"], new["lag"]["mean"]),
                     "lag_p95": _ratio(old["lag"]["p95"], new["lag"]["p95"]),
                     "lag_max": _ratio(old["lag"]["max"], new["lag"]["max"]),
                     "first_token": round(new["first_token_s"] / old["first_token_s"], 3),
                     "answer": round(new["answer_s"] / old["answer_s"], 3)}
    stats = policies[1].gate.stats()
    out["gate"] = {**stats, "yields_per_answer": round(stats["generate"]["yields"] / max(1, new["answers"]), 2)}
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _ratio(a: float, b: float) -> float | None:
    """a / b, or None where b is zero (no lag at all)."""
    return round(a / b, 2) if b > 0 else None
