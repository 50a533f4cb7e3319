"""The ingestion loop: sample -> pixel gate -> encode 2-frame steps -> differential drop -> clips.

`Ingestor.run` is a generator over records, in stream order: a `Step` for each step, a `ClipClosed` for each clip
that closes, and a `StreamEnd` last. All per-stream state lives in a `StreamState` passed in, so one loaded model
serves many streams. Storing closed clips is the caller's job (see `stream.engine`).

Events (cuts, activity, lighting) come with the frames, found by the stream's `FrameAnalyzer` on every decoded frame
(or here, on the sampled ones, when a source analysed nothing); they never depend on the vision tower. A cut ends
the step and the clip before it, and the first step after it is kept whole as the new drop reference. A gap (a live
source lost its stream) does the same: no step or clip spans time with no video, and what comes after an outage is
not measured against what was seen before it.
"""
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np
import torch

from compression.calibrate import RunningQuantile
from compression.compact import compact
from compression.drop import distinctiveness, drop_mask, similarity, update_reference
from compression.gate import cell_change, changed_share
from memory.clip import ClipMemory, Keyframe
from memory.store import StepRecord
from stream.analyzer import FrameAnalyzer
from stream.checkpoint import Checkpoint, capture
from stream.config import IngestConfig
from stream.detectors.cuts import SCENE_CHANGE
from stream.batcher import EncodeBatcher
from stream.scheduler import ModelGate
from stream.events import SOURCE_GAP, Event
from stream.sources import Frame, shrink


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
    keep_map: np.ndarray | None = None  # [H, W] bool, which token cells were kept (for overlays)
    frame: np.ndarray | None = None     # the step's last frame, resized as the model sees it
    tau: float | None = None        # the drop threshold in use (None: not calibrated yet, the pixel rule decided)
    changed: int = 0                # token cells whose pixels changed since the last encoded step
    changed_kept: int = 0           # of those, the ones the drop kept
    # Wall-clock time (Unix seconds) its last frame arrived, for live and pushed streams; None for files. The time a
    # live step happened.
    wall: float | None = None
    # The source's clock when its last frame was handed out as live (None: a file read as fast as it decodes): what
    # a watcher measures its lag from.
    arrived: float | None = None

    def record(self) -> StepRecord:
        """The step as its stream's series stores it (and the live timeline shows it)."""
        return StepRecord(self.index, self.time, self.end, self.total, self.kept, self.encoded, self.frames_skipped,
                          self.tau)


@dataclass
class ClipClosed:
    """A clip that closed: between two steps (its length reached, a cut, a new frame size) or at the stream's end."""
    clip: ClipMemory
    resume: Checkpoint              # the resume point right after it, stored with it in one transaction
    thumb: np.ndarray               # [H, W, 3] RGB uint8, the raw frame its thumbnail shows: what its key embeds
    # Events found as it closed: at the stream's end, the end of an open activity; else none.
    events: list[Event] = field(default_factory=list)

    @property
    def end(self) -> float:
        return self.clip.end

    @property
    def wall(self) -> float | None:
        return self.clip.wall_end


@dataclass
class StreamEnd:
    """The end of the frames: the open activity and clip are closed (a clip in the ClipClosed before this)."""
    end: float                      # stream time of the end
    # Events found at the end that no ClipClosed carried (an activity's end when no clip was open).
    events: list[Event] = field(default_factory=list)
    # The final resume point (done), when no clip closed at the end to carry it; None when one did.
    resume: Checkpoint | None = None
    wall: float | None = None       # wall-clock time of the end (live sources: the last clip's end), None for files


Record = Step | ClipClosed | StreamEnd       # what the loop yields, in stream order


@dataclass
class WindowStep:
    """One step of the live window: every token of it, as encoded (or, where the gate skipped the encode because
    nothing changed, the last encoded step's)."""
    time: float                     # its first frame's stream time
    end: float                      # its last frame's
    tokens: torch.Tensor            # [h*w, D] float16, raster order
    grid: tuple[int, int]           # (h, w) tokens
    wall_start: float | None = None # wall-clock times of its first and last frames (live sources)
    wall_end: float | None = None
    # Its last raw frame as sampled ([H, W, 3] uint8, full size), for showing now to an image-only answer server;
    # bounded, as the window holds window_steps steps.
    frame: np.ndarray | None = None


@dataclass
class _Candidate:
    """A step that may become one of its clip's keyframes: its last raw frame, held until the clip closes."""
    order: int                      # the step's place in its clip (0: the first)
    kept: int                       # tokens the drop kept in it
    frame: np.ndarray               # [H, W, 3] uint8, as sampled
    time: float                     # stream time of that frame
    wall: float | None              # its wall-clock time (None for files)


def offer(held: list[_Candidate], new: _Candidate, k: int) -> list[_Candidate]:
    """The k candidates that kept the most tokens among `held` and `new` (ties: the earlier step wins), in the order
    they came. Folded over a clip's steps, it never holds more than k frames, however long the clip."""
    pool = [*held, new] if k > 0 else []
    if len(pool) > k:
        pool.remove(min(pool, key=lambda c: (c.kept, -c.order)))
    return pool


@dataclass
class _Draft:
    start: float
    end: float
    tokens: list = field(default_factory=list)
    positions: list = field(default_factory=list)
    novelty: list = field(default_factory=list)
    context: torch.Tensor | None = None     # [N, D] the reference when the clip opened
    thumb: np.ndarray | None = None
    # The thumbnail's step: the one whose pixels changed most (the activity; the gate's change, weight-independent),
    # as (change known, amount); a step with no change known (a stream's first) scores by the tokens it kept.
    thumb_score: tuple[bool, float] = (False, -1.0)
    # Keyframe candidates: the first step's, and the best others so far (`offer`), at most `keyframes` in all.
    first: _Candidate | None = None
    best: list = field(default_factory=list)
    steps: int = 0
    last_t: int = 0
    kept: int = 0
    total: int = 0
    # (t, end, wall_end) of each step so far: where a question can cut the open clip (`Ingestor.open_clip`)
    ends: list = field(default_factory=list)
    # Wall-clock times of its first and last frames (live and pushed sources; None for files): the clip's wall times.
    wall_start: float | None = None
    wall_end: float | None = None


@dataclass
class _Planned:
    """A step taken from the frames, with what the gate decided before the batch was encoded."""
    pix: np.ndarray                 # [F, H, W, 3] resized frames
    frames: list[Frame]
    skipped: int                    # live sample slots skipped before it
    events: list[Event]             # found with its frames
    cut: bool                       # a scene change or a gap (a live source's outage) starts with this step
    analysis: object                # the analyzer's state after its last frame (file sources), or None
    sampled: int = 0                # sampled frames it consumed (a step cut short repeats its last one)
    encode: bool = True
    reset: bool = False             # first step at this frame size
    change: np.ndarray | None = None   # [H/cell, W/cell] pixel change against the last encoded frame
    threshold: float = 0.0          # the pixel change above which a cell has changed, for this step
    gate_before: "GateState | None" = None   # the gate as it was before this step (for resume points)


@dataclass
class GateState:
    """What the pixel gate carries from one step to the next."""
    size: tuple[int, int] | None    # resized frame (H, W)
    frame: np.ndarray | None        # [H, W, 3] last frame of the last encoded step
    noise: np.ndarray               # the stream's cell-change histogram (RunningQuantile counts)


@dataclass
class StreamState:
    stream: str
    analyzer: FrameAnalyzer
    tau_cal: RunningQuantile                          # unchanged cells' similarity -> tau
    noise_cal: RunningQuantile                        # cells' pixel change -> the gate's noise threshold
    pending: list = field(default_factory=list)      # frames waiting to fill a step
    pending_events: list = field(default_factory=list)  # their events
    skipped: int = 0                                  # sample slots skipped since the last step
    cut_next: bool = False                            # a scene change starts the next step
    size: tuple[int, int] | None = None               # resized frame (H, W) in pixels
    ref_tokens: torch.Tensor | None = None            # [N, D] the last kept token at each position
    prev_tokens: torch.Tensor | None = None           # [N, D] the last encoded step (calibration)
    ref_frame: np.ndarray | None = None               # [H, W, 3] last frame of the last encoded step
    analysis: object = None                           # the analyzer's state at the last step boundary
    tau: float | None = None                          # the drop threshold in use at the last step
    draft: _Draft | None = None
    window: deque = field(default_factory=deque)      # WindowStep: the newest steps whole (RAM only, bounded)
    steps: int = 0                                    # steps taken by this run (or since its resumed start)
    samples_done: int = 0                             # sampled frames those steps consumed (a file resumes after)
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

    @property
    def kept_ratio(self) -> float:
        """Share of the tokens seen so far that the drop kept (0.0 before any)."""
        return self.tokens_kept / self.tokens_total if self.tokens_total else 0.0

    @property
    def drop_ratio(self) -> float:
        """Share of the tokens seen so far that the drop dropped (0.0 before any: nothing dropped yet)."""
        return 1.0 - self.kept_ratio if self.tokens_total else 0.0


def shifted(e: Event, base: float) -> Event:
    """An event moved `base` seconds on in stream time (a continued stream), with the end of a gap it spans."""
    detail = {**e.detail, "end": e.detail["end"] + base} if "end" in e.detail else e.detail
    return Event(e.kind, e.time + base, detail)


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes (a stored thumbnail) -> [H, W, 3] RGB uint8."""
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def jpeg(image: np.ndarray, side: int) -> bytes:
    """[H, W, 3] RGB uint8 -> JPEG bytes, its long side at most `side`."""
    small = cv2.cvtColor(shrink(image, side), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return buf.tobytes()


class Ingestor:
    """The loop's logic, bound to a shared model and a config; holds no per-stream state."""

    def __init__(self, llm, config: IngestConfig, gate: ModelGate | None = None, encoder: EncodeBatcher | None = None):
        self.llm, self.config = llm, config
        # The model is shared: every encode holds the gate, which puts encoding ahead of answers (the engine passes
        # its one gate; alone, an Ingestor has a gate of its own), through the engine's batcher, which encodes the
        # steps of streams waiting at once in one call (alone: one of its own, batching this loop's steps only).
        self.gate = gate if gate is not None else ModelGate()
        self.encoder = encoder if encoder is not None else EncodeBatcher(llm, self.gate, max_steps=1)
        self.step_seconds = llm.frames_per_step / config.sampling.fps

    def new_state(self, stream: str) -> StreamState:
        c = self.config.calibration
        return StreamState(stream=stream, analyzer=FrameAnalyzer(self.config.events),
                           tau_cal=RunningQuantile(-1.0, 1.0, c.bins, c.horizon, c.min_samples),
                           noise_cal=RunningQuantile(0.0, 1.0, c.bins, c.horizon, c.min_samples),
                           window=deque(maxlen=self.config.window_steps))

    def threshold(self, state: StreamState) -> float:
        """The pixel change above which a cell has changed: the floor, or the stream's own noise if higher."""
        median = state.noise_cal.quantile(0.5)
        g = self.config.gate
        return g.cell_threshold if median is None else max(g.cell_threshold, g.noise_k * median)

    def gate_state(self, state: StreamState) -> GateState:
        return GateState(state.size, state.ref_frame, state.noise_cal.state())

    # -- the generator -----------------------------------------------------------------------------------
    def run(self, frames: Iterable[Frame], state: StreamState, batch: int | None = None,
            final: bool = True, on_frame: Callable[[Frame], None] | None = None) -> Iterator[Record]:
        """Consume frames and yield a Step per step and a ClipClosed per clip that closes, in stream order. At the end
        of the frames the open clip is closed, and a StreamEnd comes last. `final`: these frames end the stream (its
        resume point says done); False for a stream fed in pieces (eval: a piece up to each question), which the next
        piece continues, also after a restart. `on_frame`: called with each frame on the stream's clock as it is
        taken, before the step it is part of (an alert's video keeps the frames)."""
        batch = batch or self.config.encode_batch
        group: list[_Planned] = []
        for frame in frames:
            events, skipped = frame.events, frame.skipped
            if events is None:               # the source analysed nothing: analyse the sampled frame here
                state.analyzer.see(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), frame.time)
                events = state.analyzer.take()
                frame = replace(frame, events=events, analysis=state.analyzer.snapshot())
            if state.time_base:              # a continued stream: its clock goes on after what is stored
                events = [shifted(e, state.time_base) for e in events]
                # Only stream time is shifted: the wall clock already goes on across runs.
                frame = replace(frame, time=frame.time + state.time_base, events=events)
            if on_frame is not None:
                on_frame(frame)
            if any(e.kind in (SCENE_CHANGE, SOURCE_GAP) for e in events):
                if state.pending:
                    group.append(self._take(state, pad=True))  # the step before the cut or gap ends before it
                state.cut_next = True
            state.frames += 1
            state.skipped += skipped
            state.frames_skipped += skipped
            state.pending.append(frame)
            state.pending_events += events
            if len(state.pending) == self.llm.frames_per_step:
                group.append(self._take(state))
            if len(group) >= batch:
                yield from self._process(group, state)
                group = []
        if state.pending:  # an odd last frame: repeat it to fill the step, as Qwen's processor does
            group.append(self._take(state, pad=True))
        if group:
            yield from self._process(group, state)
        yield from self.finish(state, final)

    def finish(self, state: StreamState, final: bool = True) -> Iterator[ClipClosed | StreamEnd]:
        """Close the open activity and clip: a ClipClosed carries them and the last resume point (done if `final`),
        then a StreamEnd; with no clip open, the StreamEnd carries both."""
        events = [shifted(e, state.time_base) for e in state.analyzer.finish()]
        draft = state.draft
        clip = self._close(state)
        state.events += len(events)
        t = clip.end if clip else (events[0].time if events else state.time_base)
        state.analysis = state.analyzer.snapshot()
        ckpt = capture(state, self.gate_state(state), done=final)
        if clip is None:
            yield StreamEnd(t, events, ckpt)
            return
        yield ClipClosed(clip, ckpt, draft.thumb, events)
        yield StreamEnd(t, wall=clip.wall_end)

    # -- internals ---------------------------------------------------------------------------------------
    def _take(self, state: StreamState, pad: bool = False) -> _Planned:
        frames, state.pending = state.pending, []
        sampled = len(frames)
        while pad and len(frames) < self.llm.frames_per_step:
            frames.append(frames[-1])        # a step cut short (a scene change, the end): its last frame repeats
        raw = np.stack([f.image for f in frames]) if len({f.image.shape for f in frames}) == 1 else \
            np.stack([cv2.resize(f.image, frames[0].image.shape[1::-1]) for f in frames])
        skipped, state.skipped = state.skipped, 0
        events, state.pending_events = state.pending_events, []
        cut, state.cut_next = state.cut_next, False
        return _Planned(self.llm.preprocess(raw), frames, skipped, events, cut, frames[-1].analysis, sampled=sampled)

    def _process(self, group: list[_Planned], state: StreamState) -> Iterator[Record]:
        cfg, cell = self.config, self.llm.cell
        # 1. Pixel gate, in order: each step is compared with the last step that will be encoded, against the
        # stream's noise as it stood before the step. Planned for the whole batch before encoding, so each plan
        # entry keeps the gate state it saw (for resume points).
        size, gate = state.size, state.ref_frame
        for p in group:
            p.gate_before = GateState(size, gate, state.noise_cal.state())
            p.reset = p.pix.shape[1:3] != size   # first step, or the source changed resolution: start over
            if p.reset:
                size, gate = p.pix.shape[1:3], None
            p.threshold = self.threshold(state)
            if gate is not None:
                p.change = cell_change(p.pix, gate, cell)
                if not p.cut:                  # a new scene is change, not the camera's noise
                    state.noise_cal.observe(p.change.reshape(-1))
            if cfg.gate.enabled and p.change is not None and not p.cut:
                p.encode = changed_share(p.change, p.threshold) > cfg.gate.min_changed
            p.encode = p.encode and cfg.encode        # an events-only stream: no step is ever encoded
            if p.encode:
                gate = p.pix[-1]
        state.ref_frame = gate
        # 2. One vision-tower call for every step that needs it.
        todo = [p.pix for p in group if p.encode]
        tokens = iter(())
        if todo:
            out, seconds = self.encoder.encode(np.stack(todo))
            tokens = iter(out)
            state.timings["encode"] += seconds        # the encode itself, not the wait for the model
        # 3. Drop and clips, in order.
        for p in group:
            if p.reset and state.draft is not None:
                yield self._close_step(state, p.gate_before)
            if p.reset:
                state.size, state.ref_tokens, state.prev_tokens = p.pix.shape[1:3], None, None
            yield from self._step(state, p, next(tokens) if p.encode else None)

    def _close_step(self, state: StreamState, gate_before: GateState) -> ClipClosed:
        """Close the open clip between two steps, with the resume point right after it."""
        draft = state.draft
        clip = self._close(state)
        return ClipClosed(clip, capture(state, gate_before), draft.thumb)

    def _keep(self, state: StreamState, tokens: torch.Tensor, changed: torch.Tensor | None
              ) -> tuple[torch.Tensor, torch.Tensor, float | None]:
        """Which tokens of an encoded step to keep against the reference: (keep [N] bool, novelty [N], tau).
        changed: [N] bool, cells whose pixels changed since the last encoded step (None: not known). The cells
        that did not calibrate tau first."""
        cfg = self.config
        if state.prev_tokens is not None and changed is not None:
            state.tau_cal.observe(similarity(tokens, state.prev_tokens)[~changed].numpy())
        tau = cfg.drop.tau if cfg.drop.tau is not None else state.tau_cal.quantile(cfg.calibration.quantile)
        if tau is None:                      # not calibrated yet: keep what changed in pixels (no weights needed)
            novelty = 1.0 - similarity(tokens, state.ref_tokens)
            keep = changed.clone() if changed is not None else torch.ones_like(novelty, dtype=torch.bool)
            return keep, novelty, None
        keep, novelty = drop_mask(tokens, state.ref_tokens, tau)
        if cfg.gate.keep_changed and changed is not None:
            keep |= changed
        return keep, novelty, tau

    def _step(self, state: StreamState, p: _Planned, tokens) -> Iterator[Record]:
        cfg = self.config
        t0 = time.perf_counter()
        h, w = p.pix.shape[1] // self.llm.cell, p.pix.shape[2] // self.llm.cell
        n = h * w
        start, end = p.frames[0].time, p.frames[-1].time
        d = state.draft
        if d is not None and (p.cut or start >= d.start + cfg.clip_seconds - 1e-6):
            state.timings["drop"] += time.perf_counter() - t0
            yield self._close_step(state, p.gate_before)     # before this step changes any state
            t0 = time.perf_counter()
        whole = tokens is not None and (p.cut or state.ref_tokens is None)
        tau = state.tau
        changed = torch.from_numpy(p.change.reshape(-1) > p.threshold) if p.change is not None else None
        if whole:                            # a new scene or a first step: every token, the new reference
            keep, novelty = torch.ones(n, dtype=torch.bool), distinctiveness(tokens)
            state.ref_tokens = tokens.clone()
        elif tokens is not None:
            keep, novelty, tau = self._keep(state, tokens, changed)
            state.ref_tokens = update_reference(state.ref_tokens, tokens, keep, cfg.drop.reference)
        else:                                # the gate saw no change: nothing to keep
            keep, novelty = torch.zeros(n, dtype=torch.bool), None
        if tokens is not None:
            state.prev_tokens = tokens
        if state.window.maxlen and state.prev_tokens is not None:
            after_gap = any(e.kind == SOURCE_GAP for e in p.events)
            if state.window and (after_gap or state.window[-1].grid != (h, w)
                                 or start > state.window[-1].end + self.step_seconds):
                state.window.clear()         # a new frame size, or a gap (steps lost, a reconnect): not one window
            state.window.append(WindowStep(start, end, state.prev_tokens.half(), (h, w), p.frames[0].wall,
                                           p.frames[-1].wall, p.frames[-1].image))
        state.tau = tau
        kept = int(keep.sum())

        if state.draft is None:
            # The scene as last seen, to fill the clip if it keeps few tokens (a step kept whole needs none).
            known = None if (whole or state.ref_tokens is None) else state.ref_tokens.clone()
            state.draft = _Draft(start=start, end=end, context=known, wall_start=p.frames[0].wall)
        d = state.draft
        t = int(round((start - d.start) / self.step_seconds))
        d.end, d.steps, d.last_t, d.total, d.kept = end, d.steps + 1, t, d.total + n, d.kept + kept
        d.wall_end = p.frames[-1].wall       # a step cut short repeats its last frame, so this is its last real one
        d.ends.append((t, end, d.wall_end))
        if kept:
            idx = keep.nonzero().squeeze(1)
            d.tokens.append(tokens[idx].half())
            d.positions.append(torch.stack([torch.full_like(idx, t), idx // w, idx % w], 1))
            d.novelty.append(novelty[idx].float())
        if p.change is not None and not p.cut:      # a cut's change is the new scene, not activity in it
            score = (True, float(p.change[p.change > p.threshold].sum()))
        else:
            score = (False, float(kept))
        if score > d.thumb_score:
            d.thumb, d.thumb_score = p.frames[-1].image, score
        if cfg.keyframes:                    # the first step always (even one the gate skipped), then the best
            c = _Candidate(d.steps - 1, kept, p.frames[-1].image, end, p.frames[-1].wall)
            if d.first is None:
                d.first = c
            else:
                d.best = offer(d.best, c, cfg.keyframes - 1)

        state.steps += 1
        state.samples_done += p.sampled
        state.encoded += tokens is not None
        state.tokens_total += n
        state.tokens_kept += kept
        state.events += len(p.events)
        state.analysis = p.analysis
        state.timings["drop"] += time.perf_counter() - t0
        yield Step(index=state.index_base + state.steps - 1, time=start, end=end, total=n, kept=kept,
                   encoded=tokens is not None, frames_skipped=p.skipped, events=p.events,
                   keep_map=keep.view(h, w).numpy(), frame=p.pix[-1], tau=tau,
                   changed=int(changed.sum()) if changed is not None else 0,
                   changed_kept=int((changed & keep).sum()) if changed is not None else 0, wall=p.frames[-1].wall,
                   arrived=p.frames[-1].arrived)

    def open_clip(self, state: StreamState, before: float | None = None, until: float | None = None
                  ) -> ClipMemory | None:
        """The clip still being recorded, as it would be stored if it closed now (compacted the same way, no id, no
        key), made of its steps that began before `before` (stream seconds; a question's live window starts there
        and shows the later steps whole) and ended by `until`; None when no clip is open or none of its steps is
        left. Reads a snapshot: the ingest thread may append a step meanwhile, and that step is left out."""
        d = state.draft
        if d is None or state.size is None:
            return None
        ends = [e for e in list(d.ends) if (before is None or d.start + e[0] * self.step_seconds < before - 1e-6)
                and (until is None or e[1] <= until + 1e-6)]
        if not ends:
            return None
        last_t, end, wall_end = ends[-1]
        n = min(len(d.tokens), len(d.positions), len(d.novelty))      # appended one after the other
        chunks = [i for i in range(n) if int(d.positions[i][0, 0]) <= last_t]
        cut = replace(d, tokens=[d.tokens[i] for i in chunks], positions=[d.positions[i] for i in chunks],
                      novelty=[d.novelty[i] for i in chunks], end=end, wall_end=wall_end, last_t=last_t,
                      best=[c for c in list(d.best) if c.time <= end + 1e-6], ends=ends)
        return self._build(state, cut)

    def _close(self, state: StreamState) -> ClipMemory | None:
        d, state.draft = state.draft, None
        if d is None or d.steps == 0:
            return None
        state.clips += 1
        return self._build(state, d)

    def _build(self, state: StreamState, d: _Draft) -> ClipMemory:
        """A draft's steps as one clip: its kept tokens compacted to the clip budget, its keyframes, its thumbnail."""
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
        keyframes = [Keyframe(c.time, c.wall, jpeg(c.frame, self.config.keyframe_side))
                     for c in ([d.first] if d.first else []) + d.best]      # `offer` keeps the order they came
        return ClipMemory(stream=state.stream, start=d.start, end=d.end, tokens=tokens.half(),
                          positions=positions.to(torch.int16), grid=(d.last_t + 1, h, w),
                          seconds_per_step=self.step_seconds, thumbnail=jpeg(d.thumb, self.config.thumb_side),
                          kept=d.kept, total=d.total, tau=state.tau, wall_start=d.wall_start, wall_end=d.wall_end,
                          keyframes=keyframes)
