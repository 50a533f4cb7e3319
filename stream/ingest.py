"""The ingestion loop: sample -> pixel gate -> encode 2-frame steps -> differential drop -> clips.

`ingest` is a generator over `Step`s; all per-stream state lives in a `StreamState` passed in, so one loaded
model serves many streams. Storing closed clips is the caller's job (see `stream.engine`).
"""
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import cv2
import numpy as np
import torch

from compression.compact import compact
from compression.drop import distinctiveness, drop_mask, update_reference
from compression.gate import cell_change, changed_share, color_change, color_histogram
from memory.clip import ClipMemory
from stream.checkpoint import Checkpoint, capture
from stream.config import IngestConfig
from stream.events import Event, EventDetector
from stream.sources import Frame


@dataclass
class Step:
    """What happened to one step (frames_per_step sampled frames)."""
    index: int
    time: float                     # time of its first frame
    end: float                      # time of its last frame
    total: int                      # tokens the step has
    kept: int                       # tokens the drop kept
    encoded: bool                   # False when the pixel gate skipped the vision tower
    frames_skipped: int = 0         # live sources: sample slots skipped because the loop fell behind
    events: list[Event] = field(default_factory=list)
    clip: ClipMemory | None = None  # a clip that closed, on a Step of its own (total == 0) between two steps
    keep_map: np.ndarray | None = None  # [H, W] bool, which token cells were kept (for overlays)
    frame: np.ndarray | None = None     # the step's last frame, resized as the model sees it
    checkpoint: Checkpoint | None = None  # with a closed clip (total == 0): the resume point right after it

    @property
    def drop_ratio(self) -> float:
        return 1.0 - self.kept / self.total if self.total else 1.0


@dataclass
class _Draft:
    start: float
    end: float
    tokens: list = field(default_factory=list)
    positions: list = field(default_factory=list)
    novelty: list = field(default_factory=list)
    context: torch.Tensor | None = None     # [N, D] the reference when the clip opened
    thumb: np.ndarray | None = None
    thumb_score: int = -1
    steps: int = 0
    last_t: int = 0
    kept: int = 0
    total: int = 0


@dataclass
class StreamState:
    stream: str
    pending: list = field(default_factory=list)      # frames waiting to fill a step
    skipped: int = 0                                  # sample slots skipped since the last step
    size: tuple[int, int] | None = None               # resized frame (H, W) in pixels
    ref_tokens: torch.Tensor | None = None            # [N, D]
    ref_frame: np.ndarray | None = None               # [H, W, 3] last frame of the last encoded step
    last_hist: np.ndarray | None = None               # colour histogram of the last sampled frame (cuts)
    background: torch.Tensor | None = None            # [N, D] the scene as it last settled (presence)
    presence: float = 0.0                             # share of the last encoded step's tokens unlike the background
    draft: _Draft | None = None
    detector: EventDetector | None = None
    steps: int = 0                                    # steps taken by this run (or since its resumed start)
    # Where the stream's stored record ended when this run started: its steps are numbered from index_base and its
    # frame times shifted by time_base, so a stream run again continues after what is stored instead of over it.
    index_base: int = 0
    time_base: float = 0.0
    # Totals for the summary.
    frames: int = 0
    encoded: int = 0
    tokens_total: int = 0
    tokens_kept: int = 0
    clips: int = 0
    events: int = 0
    frames_skipped: int = 0
    timings: dict = field(default_factory=lambda: {"encode": 0.0, "drop": 0.0})   # seconds spent, per stage
    notes: dict = field(default_factory=dict)    # JSON-able facts a resume must remember (where a file broke)


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes (a stored thumbnail) -> [H, W, 3] RGB uint8."""
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def jpeg(image: np.ndarray, side: int) -> bytes:
    h, w = image.shape[:2]
    s = min(1.0, side / max(h, w))
    small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes()


class Ingestor:
    """The loop's logic, bound to a shared model and a config; holds no per-stream state."""

    def __init__(self, llm, config: IngestConfig):
        self.llm, self.config = llm, config
        self.step_seconds = llm.frames_per_step / config.sampling.fps

    def new_state(self, stream: str) -> StreamState:
        return StreamState(stream=stream, detector=EventDetector(self.config.events, self.step_seconds))

    # -- the generator -----------------------------------------------------------------------------------
    def run(self, frames: Iterable, state: StreamState, batch: int | None = None) -> Iterator[Step]:
        """Consume frames (or (frame, skipped) pairs from a live sampler) and yield one Step per step.
        At the end of the frames the open clip is closed and reported on a last Step."""
        batch = batch or self.config.encode_batch
        group: list[tuple[np.ndarray, list[Frame], int]] = []
        for item in frames:
            frame, skipped = item if isinstance(item, tuple) else (item, 0)
            if state.time_base:
                frame = Frame(frame.image, frame.time + state.time_base)
            state.frames += 1
            state.skipped += skipped
            state.frames_skipped += skipped
            state.pending.append(frame)
            if len(state.pending) == self.llm.frames_per_step:
                group.append(self._take(state))
                if len(group) >= batch:
                    yield from self._process(group, state)
                    group = []
        if state.pending:  # an odd last frame: repeat it to fill the step, as Qwen's processor does
            while len(state.pending) < self.llm.frames_per_step:
                state.pending.append(state.pending[-1])
            group.append(self._take(state))
        if group:
            yield from self._process(group, state)
        yield from self.finish(state)

    def finish(self, state: StreamState) -> Iterator[Step]:
        """Close the open activity and clip; the last Step carries them and the final resume point (done)."""
        events = state.detector.finish()
        clip = self._close(state)
        state.events += len(events)
        t = clip.end if clip else (events[0].time if events else 0.0)
        ckpt = capture(state, state.size, state.ref_frame, self.llm.frames_per_step, done=True)
        yield Step(index=state.index_base + state.steps, time=t, end=t, total=0, kept=0, encoded=False, events=events,
                   clip=clip, checkpoint=ckpt)

    # -- internals ---------------------------------------------------------------------------------------
    def _take(self, state: StreamState):
        frames, state.pending = state.pending, []
        raw = np.stack([f.image for f in frames]) if len({f.image.shape for f in frames}) == 1 else \
            np.stack([cv2.resize(f.image, frames[0].image.shape[1::-1]) for f in frames])
        skipped, state.skipped = state.skipped, 0
        return self.llm.preprocess(raw), frames, skipped

    def _process(self, group, state: StreamState) -> Iterator[Step]:
        cfg, cell = self.config, self.llm.cell
        # 1. Pixel gate, in order: each step is compared with the last step that will be encoded. Planned for the
        # whole batch before encoding, so each plan entry keeps the gate state it saw (for resume points).
        plan, size, gate = [], state.size, state.ref_frame
        for pix, frames, skipped in group:
            reset = pix.shape[1:3] != size   # first step, or the source changed resolution: start over
            if reset:
                size, gate = pix.shape[1:3], None
            encode = True
            if cfg.gate.enabled and gate is not None:
                encode = changed_share(cell_change(pix, gate, cell), cfg.gate.cell_threshold) > cfg.gate.min_changed
            plan.append((pix, frames, skipped, encode, reset, gate))
            if encode:
                gate = pix[-1]
        state.ref_frame = gate
        # 2. One vision-tower call for every step that needs it.
        todo = [p[0] for p in plan if p[3]]
        t0 = time.perf_counter()
        tokens = iter(self.llm.encode(np.stack(todo))) if todo else iter(())
        state.timings["encode"] += time.perf_counter() - t0
        # 3. Drop, events and clips, in order.
        for pix, frames, skipped, encode, reset, gate_before in plan:
            if reset and state.draft is not None:
                yield self._close_step(state, gate_before)
            if reset:
                state.size, state.ref_tokens = pix.shape[1:3], None
            yield from self._step(state, pix, frames, next(tokens) if encode else None, skipped, gate_before)

    def _close_step(self, state: StreamState, gate_before) -> Step:
        """Close the open clip between two steps; the Step carries it and the resume point right after it."""
        clip = self._close(state)
        ckpt = capture(state, state.size, gate_before, self.llm.frames_per_step)
        return Step(index=state.index_base + state.steps, time=clip.end, end=clip.end, total=0, kept=0, encoded=False,
                    clip=clip, checkpoint=ckpt)

    def _step(self, state: StreamState, pix: np.ndarray, frames: list[Frame], tokens, skipped: int,
              gate_before) -> Iterator[Step]:
        cfg = self.config
        t0 = time.perf_counter()
        h, w = pix.shape[1] // self.llm.cell, pix.shape[2] // self.llm.cell
        n = h * w
        start, end = frames[0].time, frames[-1].time
        hists = [color_histogram(f) for f in pix]
        color = max(color_change(a, b) for a, b in zip([state.last_hist if state.last_hist is not None
                                                         else hists[0]] + hists[:-1], hists))
        cut = whole = False
        if tokens is not None:
            whole = state.ref_tokens is None
            keep, novelty = drop_mask(tokens, state.ref_tokens, cfg.drop.tau)
            cut = not whole and state.detector.is_cut(float(keep.float().mean()), color)
        d = state.draft
        if d is not None and (cut or start >= d.start + cfg.clip_seconds - 1e-6):
            state.timings["drop"] += time.perf_counter() - t0
            yield self._close_step(state, gate_before)     # before this step changes any state
            t0 = time.perf_counter()
        if tokens is not None:
            if whole or cut:
                keep = torch.ones(n, dtype=torch.bool)
                novelty = distinctiveness(tokens)
                state.ref_tokens = tokens.clone()
                state.background, state.presence = tokens.clone(), 0.0
            else:
                state.ref_tokens = update_reference(state.ref_tokens, tokens, keep, cfg.drop.reference)
                unlike, _ = drop_mask(tokens, state.background, cfg.drop.tau)
                state.presence = float(unlike.float().mean())
            kept = int(keep.sum())
        else:                       # the gate saw no change: nothing moved, and what is present stays
            keep, novelty, kept = torch.zeros(n, dtype=torch.bool), None, 0
        events = state.detector.update(start, end, kept / n, state.presence, cut, whole)
        if state.detector.settled(end) and state.ref_tokens is not None:
            state.background = state.ref_tokens.clone()      # what stayed is part of the scene now
        state.last_hist = hists[-1]

        if state.draft is None:
            # The scene as last seen, to fill the clip if it keeps few tokens (a step kept whole needs none).
            known = None if (whole or cut or state.ref_tokens is None) else state.ref_tokens.clone()
            state.draft = _Draft(start=start, end=end, context=known)
        d = state.draft
        t = int(round((start - d.start) / self.step_seconds))
        d.end, d.steps, d.last_t, d.total, d.kept = end, d.steps + 1, t, d.total + n, d.kept + kept
        if kept:
            idx = keep.nonzero().squeeze(1)
            d.tokens.append(tokens[idx].half())
            d.positions.append(torch.stack([torch.full_like(idx, t), idx // w, idx % w], 1))
            d.novelty.append(novelty[idx].float())
        if kept > d.thumb_score:
            d.thumb, d.thumb_score = frames[-1].image, kept

        state.steps += 1
        state.encoded += tokens is not None
        state.tokens_total += n
        state.tokens_kept += kept
        state.events += len(events)
        state.timings["drop"] += time.perf_counter() - t0
        yield Step(index=state.index_base + state.steps - 1, time=start, end=end, total=n, kept=kept,
                   encoded=tokens is not None, frames_skipped=skipped, events=events,
                   keep_map=keep.view(h, w).numpy(), frame=pix[-1])

    def _close(self, state: StreamState) -> ClipMemory | None:
        d, state.draft = state.draft, None
        if d is None or d.steps == 0:
            return None
        h, w = state.size[0] // self.llm.cell, state.size[1] // self.llm.cell
        dim = self.llm.token_dim
        tokens = torch.cat(d.tokens) if d.tokens else torch.zeros(0, dim, dtype=torch.float16)
        positions = torch.cat(d.positions) if d.positions else torch.zeros(0, 3, dtype=torch.long)
        novelty = torch.cat(d.novelty) if d.novelty else torch.zeros(0)
        context = context_pos = None
        if self.config.compact.fill_context and d.context is not None:
            idx = torch.arange(h * w)
            context = d.context.half()
            context_pos = torch.stack([torch.zeros_like(idx), idx // w, idx % w], 1)
        tokens, positions = compact(tokens, positions, novelty, self.config.compact.clip_tokens, context, context_pos)
        state.clips += 1
        return ClipMemory(stream=state.stream, start=d.start, end=d.end, tokens=tokens.half(),
                          positions=positions.to(torch.int16), grid=(d.last_t + 1, h, w),
                          seconds_per_step=self.step_seconds, thumbnail=jpeg(d.thumb, self.config.thumb_side),
                          kept=d.kept, total=d.total)
