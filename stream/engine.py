"""The facade the entry points use: an `Engine` loads the models once; each stream gets its own `Session`.

    engine = Engine(EngineConfig())
    session = engine.open("memory/", stream="door")
    with open_source("door.mp4", SourceOptions(fps=1)) as source:
        for record in session.ingest(source):
            ...                               # Step, ClipClosed, StreamEnd records, as they happen
    answer = session.ask("When did someone come in?")
    for piece in answer.pieces: print(piece, end="")
"""
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from memory.clip import ClipMemory
from memory.config import SelectConfig, StoreConfig
from memory.folder import StorageFault
from memory.select import cameras_candidates, select_for_query, spread
from memory.store import StoreIdentity, StreamLog
from memory.stores import Store, open_store
from memory.when import TimeSpan, parse_when, wall_only
from models.backend import PromptClip, PromptFrame
from models.config import ModelConfig, ServerConfig
from models.remote import RequestSize, pick_frames
from stream.checkpoint import Checkpoint, restore
from stream.clock import clip_label, span_label, span_text, time_now, when_label
from stream.config import AnswerConfig, IngestConfig, RecapConfig
from stream.ingest import ClipClosed, Ingestor, Record, Step, StreamState, WindowStep, jpeg
from stream.batcher import EncodeBatcher
from stream.scheduler import ModelGate, ModelGateConfig
from stream.sources import Frame, Source, backoff_delay, until_break

RANDOM_WEIGHTS_WARNING = ("WARNING: the video LLM has RANDOM WEIGHTS (a tiny test model): the text below is noise, "
                          "not an answer")
CAPTION_PROMPT = "Describe what happens in this clip in one short sentence."


class EventsOnly(ValueError):
    """A question to an events-only stream (its vision tower never runs: no clip holds anything to answer from)."""


class NoAnswerer(ValueError):
    """Nothing can answer: the light mode loads no video LLM and no answer server was given (a setting to change,
    hence a ValueError: the entry points show it as one line)."""


@dataclass
class EngineConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    # How the one video LLM is shared between ingestion and answers (encoding first, answers yield between steps).
    gate: ModelGateConfig = field(default_factory=ModelGateConfig)
    # What a question is shown: the live window, memory clips, or both.
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    # An OpenAI-compatible server that answers (and captions, and checks watch rules) instead of the local video LLM.
    server: ServerConfig = field(default_factory=ServerConfig)
    # Background captions and the recap of a span (stream.service.recap).
    recap: RecapConfig = field(default_factory=RecapConfig)


def answered_by(config: EngineConfig) -> dict:
    """What answers, as an analysis or an evaluation records it: resumed with another, its answers would mix models."""
    from models.remote import public_url
    s = config.server
    return {"server": public_url(s.url) if s.url else None, "server_model": s.model or None,
            "light": config.model.light}


def with_defaults(have, defaults):
    """Settings recorded by an older Vigil, with each setting added since at its default (`defaults`, nested dicts):
    a resume is not refused for what the older run could not have recorded."""
    if not isinstance(have, dict) or not isinstance(defaults, dict):
        return have
    out = dict(have)
    for k, v in defaults.items():
        out[k] = v if k not in out else with_defaults(out[k], v)
    return out


def prompt_clip(clip: ClipMemory, note: str = "") -> PromptClip:
    """A stored clip (with tokens) as the video LLM sees it, labelled with its time span: local date and time for a
    live clip (so "this morning" or "at 14:00" can be answered), stream time for a file; `note` follows the span."""
    return PromptClip(label=f"[{clip_label(clip, ' - ')}{note}]", tokens=clip.tokens,
                      positions=clip.positions.long(), grid=clip.grid, seconds_per_step=clip.seconds_per_step,
                      start=clip.start, frames=[PromptFrame(when_label(k.time, k.wall), k.jpeg) for k in clip.keyframes])


@dataclass
class LiveWindow:
    """The newest steps of a running stream, whole, as a question is shown them."""
    start: float                  # stream time of its first frame
    end: float                    # and of its last
    wall_start: float | None      # wall-clock times (live sources)
    wall_end: float | None
    prompt: PromptClip            # every token of every step, positions (t, h, w) in the window's own grid

    @property
    def tokens(self) -> int:
        return int(self.prompt.tokens.shape[0])


def live_window(steps: list[WindowStep], step_seconds: float, frame_side: int | None = None) -> LiveWindow | None:
    """The window's steps (oldest first, one frame size) as one prompt clip at full resolution; with `frame_side`,
    each step's last frame too, as a JPEG of that long side (for an answer server, which reads images)."""
    if not steps:
        return None
    h, w = steps[0].grid
    idx = torch.arange(h * w)
    positions = torch.cat([torch.stack([torch.full_like(idx, t), idx // w, idx % w], 1) for t in range(len(steps))])
    first, last = steps[0], steps[-1]
    label = f"[{span_label(first.time, last.end, first.wall_start, last.wall_end, ' - ')}, live, every token]"
    frames = [PromptFrame(when_label(s.end, s.wall_end), jpeg(s.frame, frame_side)) for s in steps
              if frame_side is not None and s.frame is not None]
    prompt = PromptClip(label=label, tokens=torch.cat([s.tokens for s in steps]), positions=positions,
                        grid=(len(steps), h, w), seconds_per_step=step_seconds, start=first.time, frames=frames)
    return LiveWindow(first.time, last.end, first.wall_start, last.wall_end, prompt)


def _within(window: LiveWindow | ClipMemory, span: TimeSpan) -> bool:
    """Whether the live window (or the open clip) overlaps a question's time span (on the wall clock for a wall
    span)."""
    a, b = (window.wall_start, window.wall_end) if span.wall else (window.start, window.end)
    if a is None or b is None:
        return False
    return (span.start is None or b >= span.start) and (span.end is None or a <= span.end)


def _span_note(span: TimeSpan) -> str:
    """What the model is told of the time a question asks about: the span it is shown (shown nothing, it is not
    asked: `Answer.nothing_shown`)."""
    return f'Shown: clips from {span_text(span)} (the question asks "{span.phrase}").'


@dataclass
class Reply:
    """An answer read to its end, with its timings."""
    text: str
    first_token_s: float          # seconds from the question to its first piece (to its end if it had none)
    total_s: float                # seconds from the question to its end


@dataclass
class Answer:
    question: str
    clips: list[ClipMemory]        # the clips the prompt used, in time order (tokens included)
    prompt_tokens: int | None      # the local video LLM's prompt length; None from a server (its tokenizer counts)
    pieces: Iterator[str]          # the answer text, streamed
    warning: str | None = None     # set when the answer cannot be trusted (random weights)
    skipped: list[ClipMemory] = field(default_factory=list)   # selected, but their token files are unreadable
    span: TimeSpan | None = None   # the time the question asks about ("since this morning"), None: all of it
    window: LiveWindow | None = None   # the live window shown whole (hybrid and window policies, a running stream)
    # The clip still being recorded, its steps before the live window, compacted as a stored clip is (hybrid and
    # memory policies, a running stream): with the window, the prompt sees the stream up to the question.
    opened: ClipMemory | None = None
    request: RequestSize | None = None  # what was sent to an answer server (None: the local video LLM answered)
    now_label: str = ""            # "now" as the question saw it (the stream's newest time), for what it is told

    def text(self) -> str:
        return "".join(self.pieces)

    def read(self, started: float) -> "Reply":
        """Read the whole answer, timing it from `started` (time.perf_counter() when the question was asked)."""
        first, pieces = None, []
        for piece in self.pieces:
            if first is None:
                first = time.perf_counter() - started
            pieces.append(piece)
        total = time.perf_counter() - started
        return Reply("".join(pieces).strip(), round(first if first is not None else total, 4), total)

    def nothing_shown(self) -> str | None:
        """Why the model was shown nothing (then its text would be about nothing, and is not worth asking for), or
        None when it was shown clips or the live window."""
        if self.clips or self.window is not None or self.opened is not None:
            return None
        if self.span is not None and self.span.later:
            return f"That time ({span_text(self.span)}) has not come yet: the stream runs up to {self.now_label}."
        if self.span is not None and not self.span.wall and self.span.end is not None and self.span.end < 0:
            return f"That time ({self.span.phrase}) is before the stream began."
        if self.span is not None:
            return f"Nothing was stored in that time ({span_text(self.span)})."
        return "No clip is stored yet; ask again in a few seconds."

    def cost(self) -> str:
        """What the question cost, as people read it: the local prompt's tokens, or what went to the server."""
        if self.request is None:
            return f"{self.prompt_tokens} prompt tokens"
        return f"{self.request.frames} frames, {self.request.bytes / 1024:.1f} KB sent"

    def shown(self) -> str:
        """What the model was shown, as people read it: the clips' spans, then the live window."""
        parts = [clip_label(c) for c in self.clips]
        if self.opened is not None:
            parts.append(f"{clip_label(self.opened)} (still recording)")
        if self.window is not None:
            w = self.window
            parts.append(f"live window {span_label(w.start, w.end, w.wall_start, w.wall_end)} (every token)")
        return ", ".join(parts)


class Engine:
    """Loads the video LLM and the embedder once; they are shared by every session. The engine owns the order of
    work on the LLM: one `ModelGate`, through which every encode and every answer goes."""

    def __init__(self, config: EngineConfig, llm=None, embedder=None, answerer=None):
        from models.loader import load_answerer, load_embedder, load_llm
        self.config = config
        self._embed_lock = threading.Lock()
        if llm is None and not config.model.light:  # the video LLM first: a wrong --model is the likelier mistake
            llm = load_llm(config.model)
        self.embedder = embedder if embedder is not None else load_embedder(config.model)
        if llm is None:                             # light: no video LLM, the drop runs on the embedder's patches
            from models.patches import PatchEncoder
            llm = PatchEncoder(self.embedder, lock=self._embed_lock)
        # `llm` encodes the frames (a video LLM's vision tower, or the light mode's patch encoder); `answerer` answers
        # (that video LLM, an answer server, or None: a light engine without a server only ingests).
        self.llm = llm
        self.answerer = answerer if answerer is not None else load_answerer(config.server, config.model, self.llm)
        self.gate = ModelGate(config.gate)
        # Every stream's encodes go through one batcher: steps of streams waiting at once share a vision-tower call.
        self.encoder = EncodeBatcher(self.llm, self.gate, config.gate.max_batch_steps)
        self.ingestor = Ingestor(self.llm, config.ingest, self.gate, self.encoder)
        self.answers = AnswerTally()

    @property
    def noise(self) -> bool:
        """Whether what answers has random weights (a tiny test model): its text must be labelled as noise."""
        return bool(getattr(self.answerer if self.answerer is not None else self.llm, "random_weights", False))

    @property
    def remote(self) -> bool:
        """Whether answers come from a server (they then take no turn on the model gate)."""
        return getattr(self.answerer, "remote", False)

    def require_answerer(self, what: str) -> None:
        """NoAnswerer (one line, beginning with `what`) when nothing can answer."""
        if self.answerer is None:
            raise NoAnswerer(f"{what}: the light mode has no video LLM; give an answer server (--answer-with URL "
                             "--answer-model NAME, or [answer] in the service config)")

    def generate(self, question: str, clips: list[PromptClip], context: str = "",
                 max_new_tokens: int | None = None) -> Iterator[str]:
        """The answer's pieces from whatever answers: the local video LLM in a turn on the gate (encodes go between
        its steps), or the server with no turn (ingestion never waits on it). NoAnswerer when nothing can answer."""
        self.require_answerer("nothing can answer")
        turn = None if self.remote else self.gate.generation()
        return self.answerer.answer(question, clips, context, max_new_tokens=max_new_tokens, turn=turn)

    def ask_across(self, sessions: list["Session"], question: str, strict: bool = False) -> Answer:
        """A question asked of several cameras at once. Each camera proposes its clips as for a question of its own
        (in the time the question names, read on that camera's clock), and the one token budget is spread over all
        of them by relevance (memory.select.spread); each clip is labelled with its camera. Live windows are not
        shown (one per camera would fill the budget many times over): a camera's live view is asked of it alone.
        A wall-clock phrase ("at 10 pm") leaves out the cameras that play files; if all do, it is refused as for
        one (`strict`)."""
        started = time.perf_counter()
        self.require_answerer("nothing can answer")
        asked = [s for s in sessions if s.video_llm]       # an events-only camera has nothing to answer from
        if sessions and not asked:
            raise EventsOnly("every camera asked is events-only (video_llm = false): none keeps video to answer from")
        if not asked:
            raise ValueError("no camera to ask")
        sessions = asked
        config = self.config.select
        query = self.embed_texts([question])[0]
        newest_all, spans, refused = [], [], []
        asked: dict[str, list[tuple["Session", TimeSpan | None]]] = {}    # by memory: a shared store's cameras
        for s in sessions:
            newest = s.store.get(s.store.latest(s.stream, 1))
            newest_all += newest
            try:
                span = s.span_of(question, max([s.now] + [c.end for c in newest]), s.window(), newest, strict)
            except ValueError as e:           # a time of day asked of a file camera: that camera has no such time
                refused.append(e)
                continue
            spans.append(span)
            asked.setdefault(s.store.where if s.store.shared else f"{id(s)}", []).append((s, span))
        if refused and len(refused) == len(sessions):
            raise refused[0]
        # The cameras of one memory propose their candidates at once (a shared store: one round trip for them all).
        pool = [c for group in asked.values() for c in cameras_candidates(
            group[0][0].store, query, [(s.stream, span) for s, span in group], config)]
        chosen = spread(pool, config.token_budget)
        clips, skipped = [], []
        for group in asked.values():          # and their chosen clips are read at once
            ids = [c.id for c in chosen if c.camera in {s.stream for s, _ in group}]
            if ids:
                loaded = group[0][0].load(sorted(ids))
                clips += loaded.clips
                skipped += loaded.unreadable
        clips.sort(key=lambda c: (c.wall_start if c.wall_start is not None else c.start, c.stream, c.id))
        prompt = [prompt_clip(c, f", camera {c.stream}") for c in clips]
        walled = [c for c in newest_all if c.wall_end is not None]
        ref = max(walled, key=lambda c: c.wall_end, default=None)
        now_label = time_now(max([ref.end] + [s.now for s in sessions if s.stream == ref.stream]), [ref]) \
            if ref is not None else ""
        span = next((x for x in spans if x is not None), None)
        context = f"Clips from {len(sessions)} cameras, each labelled with its camera."
        if now_label:
            context = f"Time now: {now_label}. " + context
        if span is not None and prompt:
            context += " " + _span_note(span)
        pieces = self.answers.timed(self.generate(question, prompt, context), started) if prompt else \
            (p for p in ())
        return Answer(question=question, clips=clips, prompt_tokens=self.answerer.prompt_size(question, prompt, context),
                      pieces=pieces, warning=RANDOM_WEIGHTS_WARNING if self.noise else None, skipped=skipped,
                      span=span, now_label=now_label,
                      request=self.answerer.request_size(question, prompt, context) if self.remote else None)

    @property
    def identity(self) -> StoreIdentity:
        return StoreIdentity(embedder=self.embedder.name, key_dim=self.embedder.dim, llm=self.llm.name,
                             token_dim=self.llm.token_dim)

    def open_store(self, memory_dir: str, readonly: bool = False) -> Store:
        """The memory at `memory_dir`: a folder, or a shared store's postgresql:// URL."""
        identity = self.identity
        # A server is shown keyframes, never tokens, and a light engine reads none (`recap --no-summaries`): any
        # video LLM's memory will do; the embedder must still match, since its keys are searched.
        if readonly and (self.remote or self.config.model.light):
            identity = replace(identity, llm=None, token_dim=None)
        return open_store(memory_dir, identity, self.config.store, readonly=readonly)

    def open(self, memory_dir: str, stream: str = "default", store: Store | None = None,
             readonly: bool = False, ingest: IngestConfig | None = None,
             max_images: int | None = None) -> "Session":
        """A session on a stream of a memory folder. `readonly`: for questions only (`ask`); nothing is written, and
        a writer elsewhere may keep ingesting meanwhile. `ingest`: this stream's own ingestion settings (a camera
        sampled at its own fps); None: the engine's. The models stay the engine's either way. `max_images`: the
        most images one request about this stream sends an answer server (None: the server's max_frames)."""
        return Session(self, store or self.open_store(memory_dir, readonly), stream, ingest=ingest,
                       max_images=max_images)

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        with self._embed_lock:
            return self.embedder.embed_images(images)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        with self._embed_lock:
            return self.embedder.embed_texts(texts)


class AnswerTally:
    """Questions answered since start, and seconds from the question to its first piece of text (the figures an
    operator graphs: /metrics). Shared by every session's thread, hence the lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self.asked = 0              # questions put to what answers
        self.first_count = 0        # of those, the ones that gave a first piece
        self.first_sum = 0.0        # seconds, summed over those

    def timed(self, pieces: Iterator[str], started: float) -> Iterator[str]:
        """`pieces`, counted, with the time of the first one from `started` (time.perf_counter()) tallied."""
        with self._lock:
            self.asked += 1
        first = True
        for piece in pieces:
            if first:
                first = False
                with self._lock:
                    self.first_count += 1
                    self.first_sum += time.perf_counter() - started
            yield piece

    def snapshot(self) -> tuple[int, int, float]:
        """(asked, first pieces, their seconds summed)."""
        with self._lock:
            return self.asked, self.first_count, self.first_sum


@dataclass
class _Held:
    """A write the store refused (a closed clip, or the end's log), held to try again: `write(log)`."""
    write: object
    log: StreamLog
    clip: ClipMemory | None = None


class Session:
    """One stream's state: its ingestion state, its store, its questions."""

    def __init__(self, engine: Engine, store: Store, stream: str, clock=time.monotonic,
                 ingest: IngestConfig | None = None, max_images: int | None = None):
        self.engine, self.store, self.stream = engine, store, stream
        # Images per request to an answer server for this stream's questions, descriptions and rule checks (None:
        # the server's max_frames, which also bounds this: a cap only lowers it). The local video LLM reads tokens.
        if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int)
                                       or max_images < 1):
            raise ValueError(f"max_images must be an integer >= 1, got {max_images!r}")
        self.max_images = max_images
        # The loop's logic for this stream: the engine's, or one of its own where its settings differ (its fps), on
        # the engine's model and gate (one model, one order of work on it, however many settings).
        self.ingestor = engine.ingestor if ingest is None or ingest == engine.config.ingest else \
            Ingestor(engine.llm, ingest, engine.gate, engine.encoder)
        self.clock = clock              # when a refused write is tried again (tests pass a fake)
        # A live stream's writes the store refused, oldest first, and when to try again; `fault` says why (one line,
        # None while writes succeed), `lost` counts held clips let go past hold_clips.
        self._held: deque[_Held] = deque()
        self._retry_at, self._failures, self.fault, self.lost = 0.0, 0, None, 0
        self.faults = 0                 # writes the store refused since this session began (for /metrics)
        # False: an events-only stream (the vision tower never runs on it); it keeps events, steps and keyframes, and
        # refuses questions.
        self.video_llm = self.ingestor.config.encode
        self.state: StreamState = self.ingestor.new_state(stream)
        self.state.timings["store"] = 0.0
        self.now = 0.0                  # stream time of the newest step seen
        self.done = False               # the stored run read its source to its end (resume: nothing left to ingest)
        self._log = StreamLog()         # steps and events since the last stored clip
        if not store.readonly:          # a shared store's camera is written by one worker at a time (its lease)
            store.claim(stream)
        # A stream run again continues after what is stored: the next step index, one sample after the latest time.
        stored = store.extent(stream)
        if stored.end is not None:
            self.state.index_base = stored.next_step
            self.state.time_base = stored.end + 1.0 / self.ingestor.config.sampling.fps
            self.now = stored.end

    def resume(self) -> Checkpoint | None:
        """Put this session where the stream's last stored resume point left it (an interrupted file run continues
        from there: `frames(source, resume=True)` does this). None when nothing was stored."""
        saved = self.store.progress(self.stream)
        if saved is None:
            return None
        ckpt = Checkpoint.loads(*saved)
        restore(self.state, ckpt)
        self.done = ckpt.done
        self.state.timings.setdefault("store", 0.0)
        last = self.store.latest(self.stream, 1)
        self.now = max([self.now] + [c.end for c in self.store.get(last)])
        return ckpt

    def frames(self, source: Source, resume: bool = False) -> Iterator[Frame]:
        """A source's frames for `run`, every decoded frame analysed by this stream's analyzer (cuts, activity), up to
        where a file stops decoding (noted in the state's notes, which resume points keep). `resume`: continue an
        interrupted run of the same file from the stream's stored resume point (analyze, eval: nothing if it was
        read to its end); otherwise the stream's clock goes on after what is stored (ingest, watch)."""
        ckpt = self.resume() if resume else None
        if self.done:
            return iter(())
        source.attach(self.state.analyzer)
        return self._timed(until_break(source.frames(skip=ckpt.samples if ckpt else 0), self.state.notes))

    def _timed(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        """The frames, with the time spent waiting for each (decoding a file) added to the state's "decode"."""
        timings = self.state.timings
        timings.setdefault("decode", 0.0)
        while True:
            t0 = time.perf_counter()
            try:
                frame = next(frames)
            except StopIteration:
                return
            finally:
                timings["decode"] += time.perf_counter() - t0
            yield frame

    def ingest(self, source: Source, resume: bool = False,
               on_frame: Callable[[Frame], None] | None = None) -> Iterator[Record]:
        """Ingest a source to its end (or until it is closed): `run` over `frames(source, resume)`, a step at a time
        for a live source (the loop encodes as frames arrive). Nothing when a resumed run had read it to its end."""
        frames = self.frames(source, resume)
        return iter(()) if self.done else self.run(frames, batch=1 if source.live else None, heal=source.live,
                                                   on_frame=on_frame)

    def run(self, frames: Iterable[Frame], batch: int | None = None, final: bool = True,
            heal: bool = False, on_frame: Callable[[Frame], None] | None = None) -> Iterator[Record]:
        """Ingest frames. Every closed clip is keyed and stored, with the steps and events before it and the resume
        point after it, before it is yielded; the end's resume point is stored before the StreamEnd is. `final`:
        as in `Ingestor.run` (False: more frames of this stream follow, in this run or a resumed one). A write the
        store refuses (StorageFault) ends the run with it; with `heal` (a live stream) the run goes on, holds what it
        could not store (`fault` says why) and tries again with backoff, and at the end a write still refused
        raises."""
        for record in self.ingestor.run(frames, self.state, batch, final, on_frame):
            self.now = max(self.now, record.end)
            self._log.events += record.events
            if isinstance(record, Step):
                self._log.steps.append(record.record())
                if self._held and self.clock() >= self._retry_at:
                    self._flush(heal)
            elif isinstance(record, ClipClosed):
                clip, thumb = record.clip, record.thumb
                self._commit(lambda log, c=clip, t=thumb: self._store(c, t, log), record.resume, heal, clip)
            elif record.resume is not None:
                self._commit(lambda log: self.store.record(self.stream, log), record.resume, heal)
            yield record
        if self._held:
            self._flush(heal=False)           # the end: what is still refused is the caller's one line

    def _commit(self, write, resume: Checkpoint, heal: bool, clip: ClipMemory | None = None) -> None:
        """Write what the stream logged since its last stored clip, with the resume point after it, in one go (after
        any writes held before it, in order)."""
        self._log.progress = resume.dumps()
        self._held.append(_Held(write, self._log, clip))
        self._log = StreamLog()
        self._flush(heal)

    def _flush(self, heal: bool) -> None:
        """Try the held writes, oldest first. A refusal raises (not `heal`), or is kept for the next try after a
        backoff; past hold_clips the oldest held clip is let go, its steps and events passed on to the next write."""
        t0 = time.perf_counter()
        try:
            while self._held:
                held = self._held[0]
                try:
                    held.write(held.log)
                except StorageFault as e:
                    if not heal:
                        raise
                    retry = self.ingestor.config.store_retry
                    self._failures += 1
                    self.faults += 1
                    self.fault = str(e)
                    self._retry_at = self.clock() + backoff_delay(self._failures, retry, random.random())
                    while sum(h.clip is not None for h in self._held) > retry.hold_clips:
                        gone = self._held.popleft()
                        nxt = self._held[0].log
                        nxt.steps[:0], nxt.events[:0] = gone.log.steps, gone.log.events
                        self.lost += 1
                    return
                self._held.popleft()
            self.fault, self._failures = None, 0
        finally:
            self.state.timings["store"] += time.perf_counter() - t0

    def _store(self, clip: ClipMemory, thumb: np.ndarray, log: StreamLog) -> None:
        if clip.key is None:                  # a retried clip keeps the key it was given
            clip.key = self.engine.embed_images([thumb])[0]
        self.store.add(clip, log)

    def caption(self, clip: ClipMemory) -> str:
        """Have the video LLM write a one-line caption for a stored clip; it is stored with the clip, with its text
        embedding for retrieval. `clip` needs its tokens (store.load)."""
        line = " ".join(self.about(clip, CAPTION_PROMPT).split())
        self.store.set_caption(clip.id, line, self.engine.embed_texts([line])[0] if line else None)
        return line

    def about(self, clip: ClipMemory, prompt: str) -> str:
        """The video LLM's short reply (caption_tokens at most) to a prompt about one clip (with tokens)."""
        return "".join(self.engine.generate(prompt, self.capped([prompt_clip(clip)]), "",
                                            max_new_tokens=self.engine.config.model.caption_tokens))

    def capped(self, prompt: list[PromptClip]) -> list[PromptClip]:
        """The prompt's clips with at most `max_images` frames among them, chosen as the server chooses within its
        max_frames (evenly over time, the newest kept); unchanged without a cap."""
        if self.max_images is None:
            return prompt
        return [replace(c, frames=f) for c, f in zip(prompt, pick_frames(prompt, self.max_images))]

    def window(self, until: float | None = None, budget: int | None = None) -> LiveWindow | None:
        """The stream's live window as of `until` (stream seconds; None: now): its newest steps that ended by then, as
        many as fit in `budget` tokens; None when the stream is not running here (a stored memory asked from `ask`)
        or was asked about an earlier time."""
        steps = list(self.state.window)                # a snapshot: the ingest thread appends meanwhile
        if until is not None:                          # those the question's time had seen (none: it moved past)
            steps = [s for s in steps if s.end <= until + 1e-6]
        while budget is not None and steps and sum(s.tokens.shape[0] for s in steps) > budget:
            steps = steps[1:]                          # the oldest goes first
        side = self.engine.config.server.frame_side if self.engine.remote else None
        return live_window(steps, self.ingestor.step_seconds, side)

    def open_clip(self, window: LiveWindow | None, until: float | None, span: TimeSpan | None,
                  budget: int) -> ClipMemory | None:
        """The clip being recorded, up to where the live window starts (or to `until`), if it lies in the question's
        span and fits the `budget` tokens; None otherwise, and when the stream is not running here."""
        opened = self.ingestor.open_clip(self.state, window.start if window is not None else None, until)
        if opened is None or opened.n_tokens > budget or (span is not None and not _within(opened, span)):
            return None
        return opened

    def load(self, ids: list[int]):
        """Clips as what answers reads them: tokens for the local video LLM, keyframes for a server."""
        remote = self.engine.remote
        return self.store.load(ids, tokens=not remote, keyframes=remote)

    def _gather(self, question: str, until: float | None, span: TimeSpan | None = None,
                budget: int | None = None) -> tuple[list[ClipMemory], list[ClipMemory]]:
        """(clips with tokens, clips passed over), of `span` only where given, within `budget` tokens (None: the
        whole budget): selection is repeated without the clips whose token files cannot be read, so a lost file costs
        its own clip and the budget goes to others."""
        query = self.engine.embed_texts([question])[0]
        config = self.engine.config.select
        if budget is not None:
            config = replace(config, token_budget=budget)
        bad: dict[int, ClipMemory] = {}
        for _ in range(config.reselect_rounds + 1):
            ids = select_for_query(self.store, query, self.stream, until, config, frozenset(bad), span)
            loaded = self.load(ids)
            bad.update((c.id, c) for c in loaded.unreadable)
            if not loaded.unreadable:
                break
        return loaded.clips, sorted(bad.values(), key=lambda c: (c.start, c.id))

    def span_of(self, said: str, now: float, live: LiveWindow | None, newest: list[ClipMemory],
                strict: bool) -> TimeSpan | None:
        """The time span `said` asks about, read at stream time `now`; a phrase only a wall clock can place, asked
        of a file, is refused (ValueError, one line) when `strict` and ignored otherwise."""
        # "Now" on the wall clock: the live window's own, else by the newest clip's offset as `time_now` reads it
        # (after a restart only the window knows the wall clock of now); a file has no wall clock.
        ref = live if live is not None and live.wall_end is not None else (newest[0] if newest else None)
        wall_now = ref.wall_end + (now - ref.end) if ref is not None and ref.wall_end is not None else None
        when = self.engine.config.select.when
        span = parse_when(said, now, wall_now, config=when)
        # Only a file question with no span of its own can hold such a phrase: no second reading otherwise.
        phrase = wall_only(said, now, when) if strict and wall_now is None and span is None else None
        if phrase is not None:
            raise ValueError(f'"{phrase}" is a time of day, and a recorded file has no clock of day: ask by its '
                             f'own time ("at 2:30", "in the first minute", "after 90 seconds")')
        return span

    def ask(self, question: str, until: float | None = None, clip_ids: list[int] | None = None,
            policy: str | None = None, when_text: str | None = None, strict: bool = False) -> Answer:
        """Answer from the live window and the selected memories, as the answer policy says (`policy`, else the
        engine's: hybrid, window or memory); `until` answers as of that stream time (clips that ended by then).
        `clip_ids` asks about those clips instead (a clip picked in the memory browser). Clips whose token files
        cannot be read are left out and listed in `Answer.skipped`. A time in the question ("10 minutes ago", "since
        this morning", "in the first 30 seconds": memory.when) limits the clips to that span, and the live window is
        shown only if it lies in it; the model is told the span it is shown (or that it has no clips), and
        `Answer.span` holds it. `when_text`: where to read that time, if not the whole question (a benchmark's prompt
        lists options such as "About 2 minutes", which are no time the question asks about). `strict`: a phrase only
        a wall clock can place, asked of a file, is refused (ValueError, one line) instead of ignored (a person asks:
        the CLI and the API; a benchmark's wording is left as it is)."""
        started = time.perf_counter()
        if not self.video_llm:
            raise EventsOnly(f"camera {self.stream!r} is events-only (video_llm = false): it keeps events and "
                             "alerts, no video to answer from")
        policy = policy or self.engine.config.answer.policy
        newest = self.store.get(self.store.latest(self.stream, 1, until))
        now = until if until is not None else max([self.now] + [c.end for c in newest])
        span = window = opened = None
        if clip_ids is not None:             # these clips and no others (none: a benchmark protocol's empty span)
            loaded = self.load(sorted(clip_ids))
            clips, skipped = loaded.clips, loaded.unreadable
        else:
            budget = self.engine.config.select.token_budget
            live = self.window(until, budget) if policy != "memory" else None
            span = self.span_of(question if when_text is None else when_text, now, live, newest, strict)
            window = live if live is None or span is None or _within(live, span) else None
            clips, skipped = [], []
            budget -= window.tokens if window else 0
            if policy != "window":
                opened = self.open_clip(window, until, span, budget)
                budget -= opened.n_tokens if opened is not None else 0
            if policy != "window" and budget > 0:
                # Memory covers what the window does not, in the budget it leaves: clips that began before it (the
                # one it cuts into too, whose earlier frames only it holds).
                clips, skipped = self._gather(question, until, span, budget)
                if window is not None:
                    clips = [c for c in clips if c.start < window.start]
        prompt = self.capped([prompt_clip(c) for c in clips] + ([prompt_clip(opened, ", still recording")] if opened
                                                                  else []) + ([window.prompt] if window else []))
        now = until if until is not None else max([now] + [c.end for c in clips + ([opened] if opened else [])] +
                                                  ([window.end] if window else []))
        context = f"Time now: {time_now(now, clips + newest)}."
        if span is not None and prompt:
            context += " " + _span_note(span)
        engine = self.engine
        # Shown nothing (no clip in the span, none stored yet): the model is not asked, and the caller says why
        # (`nothing_shown`). Clips named by the caller are asked about even when none is (a benchmark's empty span).
        asked = bool(prompt) or clip_ids is not None
        pieces = engine.answers.timed(engine.generate(question, prompt, context), started) if asked else \
            (p for p in ())
        answerer = engine.answerer
        return Answer(question=question, clips=clips, prompt_tokens=answerer.prompt_size(question, prompt, context),
                      pieces=pieces, warning=RANDOM_WEIGHTS_WARNING if engine.noise else None,
                      skipped=skipped, span=span, window=window, opened=opened, now_label=time_now(now, newest),
                      request=answerer.request_size(question, prompt, context) if engine.remote else None)

    def close(self) -> None:
        self.store.close()
