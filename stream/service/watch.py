"""A stream being watched (a camera): its source, its session, its alerts and its live figures, run on a thread of
its own. The registry (`stream.service.registry`) holds the running ones for the page, the API and `serve`;
`run.py watch` runs one in the foreground. Rule checks and alert descriptions run on the stream's verifier thread,
never on this one.

    w = Watcher(engine, WatchSpec(name="door", source="rtsp://...", memory="mem/door", rules=["a person enters"]))
    w.start(); ...; w.stats(); w.alerts(); w.stop()
"""
from pathlib import Path
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from memory.store import StoreError
from memory.stores import open_store
from stream.config import AlertConfig
from memory.clip import Evidence
from stream.service.alerts import RECAP, Alert, Alerter, Checker, RuleView
from stream.service.daily import SPAN as DAY, DailyRecap, check_at, digest
from stream.service.evidence import ClipVideo, EvidenceRecorder, clip_video
from stream.service.recap import camera_recap
from stream.service.schedule import Schedule
from stream.service.sinks import LogSink, WebhookSink
from stream.service.sinks.log import StoreLogSink
from stream.service.verifier import Describer, Verifier, model_checker, model_describer
from memory.store import StepRecord
from stream.engine import Engine, Session
from stream.detectors.activity import END as ACTIVITY_END, START as ACTIVITY_START
from stream.events import SOURCE_GAP, Event
from stream.ingest import ClipClosed, Step, jpeg
from stream.sources import Source, SourceError, SourceOptions, kind_of, open_source, redact


@dataclass
class WatchSpec:
    name: str                              # the stream's name (unique among running streams)
    source: str | Source                   # a file path, an rtsp/http URL, a webcam index, or a source (pushed frames)
    memory: str                            # the stream's own memory folder
    rules: list[str] = field(default_factory=list)   # watch rules in words
    alerts: AlertConfig = field(default_factory=AlertConfig)
    webhook: str | None = None
    realtime: bool = True                  # play a file as if live (the UI); False: as fast as it decodes
    history: int = 3600                    # steps kept for the live timeline
    # Shared sinks (MQTT, the API's feed) besides the stream's own log and webhook; the watcher does not close them.
    sinks: list = field(default_factory=list)
    # A URL that cannot be opened at start: True fails at once (the CLI: a mistyped URL), False keeps retrying
    # (a configured camera that is not up yet).
    fail_fast: bool = True
    owner: str | None = None               # a page session that started it (the webcam, the demo); None: shared
    max_clips: int | None = None           # retention: clips kept for this stream (None: the store's default)
    max_bytes: int | None = None           # retention: bytes of clips kept for this stream (None: the store's default)
    delete_after: bool = False             # an uploaded file: deleted once played or stopped (it is a copy)
    loop: bool = False                     # a file played as live starts again at its end (a test camera)
    # Where an alert's video is served, "{id}" for the alert's id (the API's route, with the server's address):
    # put in each alert the sinks send. None: no link (the video is still made, per alerts.evidence).
    video_url: str | None = None
    fps: float | None = None               # frames sampled per second for this stream (None: the engine's)
    # False: events only. The vision tower never runs on its frames; the detectors' alerts go out undescribed, and
    # watch rules (checked by the video LLM) are refused.
    video_llm: bool = True
    # Images per request to an answer server for this stream (descriptions, rule checks, questions); None: the
    # server's max_frames, which bounds it either way.
    max_images: int | None = None
    # "HH:MM-HH:MM" local-time windows (stream.service.schedule) when alerts are sent to the sinks; outside them
    # they are raised and kept (the feed, the log) but not sent. Empty: always.
    schedule: list[str] = field(default_factory=list)
    # "HH:MM": each day at this local time the camera's recap of the last 24 hours goes to its sinks as an alert of
    # kind "recap" (stream.service.daily); None: no daily recap. `recap_url`: its page, put in the alert as `link`.
    daily_recap: str | None = None
    recap_url: str | None = None


@dataclass
class LiveStats:
    frames: int = 0            # frames sampled
    steps: int = 0
    encodes_skipped: int = 0
    frames_skipped: int = 0    # sample slots skipped because the loop fell behind
    drop_ratio: float = 0.0    # share of tokens dropped so far
    tokens_seen: int = 0       # visual tokens the vision tower gave (encoded steps)
    tokens_kept: int = 0       # of those, the ones the drop kept
    sampled_fps: float = 0.0   # over the last few seconds
    lag: float = 0.0           # seconds between a frame's arrival and the end of its processing (last step)
    clips: int = 0
    alerts: int = 0
    tau: float | None = None   # the drop threshold in use (None: not calibrated yet)
    active: bool = False       # an activity span is open (the last activity event was a start)
    running: bool = False
    error: str | None = None
    ended: bool = False        # a file played to its end (not stopped, not failed)


class Watcher:
    def __init__(self, engine: Engine, spec: WatchSpec, checker: Checker | None = None,
                 on_alert: Callable[[Alert], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 describer: Describer | None = None, wall_clock: Callable[[], float] = time.time):
        self.engine, self.spec, self.clock, self.on_alert = engine, spec, clock, on_alert
        self.schedule = Schedule(spec.schedule)      # a bad window: one line, before the source opens
        if spec.daily_recap is not None:
            check_at(spec.daily_recap)
        # The time an alert with no wall time of its own (a file's) is sent by (tests pass a fixed one).
        self.wall_clock = wall_clock
        self._held_back: deque[str] = deque(maxlen=1000)   # ids of alerts raised outside the schedule (their updates too)
        self._model_checks = checker is None        # rules checked by what answers (else by a given checker)
        self._can_check(spec.rules)
        ingest = engine.config.ingest
        if spec.fps is not None:               # SamplingConfig bounds it (a one-line ValueError)
            ingest = replace(ingest, sampling=replace(ingest.sampling, fps=spec.fps))
        if not spec.video_llm:
            ingest = replace(ingest, encode=False)
        sampling = ingest.sampling
        self.source: Source = open_source(spec.source, SourceOptions(
            sampling.fps, sampling.max_side, sampling.reconnect, fail_fast=spec.fail_fast, realtime=spec.realtime,
            loop=spec.loop))
        try:
            store = None
            retention = {k: v for k, v in (("max_clips", spec.max_clips), ("max_bytes", spec.max_bytes)) if v is not None}
            if retention:                      # this stream's own retention; the rest as the engine's store
                store = open_store(spec.memory, engine.identity, replace(engine.config.store, **retention))
            self.session: Session = engine.open(spec.memory, spec.name, store=store, ingest=ingest,
                                                max_images=spec.max_images)
        except BaseException:                  # a refused memory: the source's reader thread must not outlive us
            self.source.close()
            raise
        alerts = spec.alerts if spec.video_llm else replace(spec.alerts, describe=False)   # nothing to describe
        self.alerter = Alerter(spec.name, alerts, spec.rules)
        ask = self.session.about
        recap = engine.config.recap
        captioner = self.session.caption if spec.video_llm and recap.captions and engine.answerer is not None else None
        self.verifier = Verifier(self.alerter, checker or model_checker(ask), describer or model_describer(ask),
                                 self._deliver, alerts, noise=engine.noise, captioner=captioner,
                                 captions_per_hour=recap.captions_per_hour)
        self.evidence = EvidenceRecorder(spec.name, spec.alerts.evidence, self.session.store.add_evidence) \
            if spec.alerts.evidence.enabled else None
        self.log = StoreLogSink(self.session.store, spec.name) if self.session.store.shared else LogSink(spec.memory)
        self.webhook = WebhookSink(spec.webhook, spec.alerts) if spec.webhook else None
        self.sinks = list(spec.sinks)
        self._stopped_by_user = False
        self._log_fault: str | None = None       # the alert log's last write failed (cleared by the next that works)
        self._sink_fault: str | None = None      # the last alert a sink refused to take, for the status
        self.sink_faults = 0                     # alerts a sink refused since start (for /metrics)
        self.started_wall = time.time()
        self._lock = threading.Lock()           # guards what the page reads
        self._clip_videos: OrderedDict[int, ClipVideo] = OrderedDict()   # clip id -> its video, newest last
        self._alerts: deque[Alert] = deque(maxlen=200)
        self._series: deque[StepRecord] = deque(maxlen=spec.history)     # the live timeline
        self._events: deque[Event] = deque(maxlen=spec.history)
        self._sampled: deque[float] = deque(maxlen=64)  # clock() of recent samples
        self._view: tuple[np.ndarray, np.ndarray] | None = None      # latest (frame, keep map)
        self._stats = LiveStats()
        self._thread: threading.Thread | None = None
        self.daily = DailyRecap(spec.daily_recap, self.daily_alert, self._deliver, wall_clock,
                                name=f"vigil-daily-{spec.name}") if spec.daily_recap else None

    # ---- control ------------------------------------------------------------------------------------------
    def start(self) -> "Watcher":
        self._thread = threading.Thread(target=self._run, name=f"vigil-watch-{self.spec.name}", daemon=True)
        self._stats.running = True
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop reading and finish the open clip; its memory stays open for questions. Idempotent."""
        self._stopped_by_user = True
        self.source.close()                     # its frames end; the loop closes the open clip and stores it
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop, and close the stream's store: on return its folder is released (a new camera may write it). The
        loop ends once its source is closed (every wait in it is bounded), so this waits for it whole."""
        self.stop(timeout=None)
        if self.daily is not None:
            self.daily.close()
        self.session.close()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- the loop -----------------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            keep = (lambda f: self.evidence.push(f.time, f.wall, f.image)) if self.evidence else None
            for record in self.session.ingest(self.source, on_frame=keep):
                self._observe(record)
                if self.evidence and any(e.kind in (ACTIVITY_END, SOURCE_GAP) for e in record.events):
                    self.evidence.span_ended(next(e.time for e in record.events
                                                  if e.kind in (ACTIVITY_END, SOURCE_GAP)))
                for alert in self.alerter.update(record):
                    if alert.thumbnail is None and isinstance(record, Step):
                        alert.thumbnail = jpeg(record.frame, self.session.ingestor.config.thumb_side)
                    alert.wall_time = self._wall_of(alert.time, record)
                    self._record_video(alert)
                    self.verifier.raised(alert)
                if isinstance(record, ClipClosed):
                    self.verifier.clip_closed(record.clip)
            broken = self.session.state.notes.get("broken_at")
            if broken is not None:           # a file that stops decoding: stored up to there, and said
                self._stats.error = f"{self.spec.name}: the video breaks at {broken:.2f}s; stored up to there"
            self._stats.ended = not self._stopped_by_user and self.source.status().state == "ended"
        except (StoreError, SourceError) as e:    # expected faults: their message is the user's one line
            self._stats.error = str(e)
        except Exception as e:           # shown on the page / printed by the CLI; the store keeps what it had
            self._stats.error = f"{type(e).__name__}: {e}"
        finally:
            self.source.close()                # pushed frames stop here: nobody will read them
            if self.spec.delete_after and isinstance(self.spec.source, str):
                Path(self.spec.source).unlink(missing_ok=True)
            self.verifier.close(timeout=self.spec.alerts.describe_wait + 5.0)   # checks and descriptions queued
            if self.evidence:                  # the videos still waiting, with the frames there are
                self.evidence.close()
            if self.webhook:
                self.webhook.close()
            self._stats.running = False

    def _observe(self, record) -> None:
        if isinstance(record, Step) and self._log_fault and self.log.retry():   # alert lines a full disk refused
            self._log_fault = None
        now = self.clock()
        s = self.session.state
        with self._lock:
            if isinstance(record, Step):
                self._series.append(record.record())
                self._view = (record.frame, record.keep_map)
                self._sampled.append(now)
                if record.arrived is not None:     # handed out as live: the lag is from then to now
                    self._stats.lag = max(0.0, now - record.arrived)
            self._events.extend(record.events)
            st = self._stats
            for e in record.events:
                if e.kind in (ACTIVITY_START, ACTIVITY_END, SOURCE_GAP):     # no video: no activity seen
                    st.active = e.kind == ACTIVITY_START
            st.frames, st.steps, st.encodes_skipped = s.frames, s.steps, s.steps - s.encoded
            st.frames_skipped, st.clips, st.tau = s.frames_skipped, s.clips, s.tau
            st.drop_ratio, st.tokens_seen, st.tokens_kept = s.drop_ratio, s.tokens_total, s.tokens_kept
            if len(self._sampled) > 1 and self._sampled[-1] > self._sampled[0]:
                st.sampled_fps = (len(self._sampled) - 1) * self.engine.llm.frames_per_step / \
                    (self._sampled[-1] - self._sampled[0])

    @staticmethod
    def _wall_of(t: float, record) -> float | None:
        """The wall-clock time of stream second `t`, from the record's last frame (live sources); None for files."""
        return None if record.wall is None else record.wall - (record.end - t)

    def _record_video(self, alert: Alert) -> None:
        """Ask for the alert's video, and put its link in the alert."""
        if self.evidence is None:
            return
        self.evidence.raised(alert)
        if self.spec.video_url:
            alert.video = self.spec.video_url.format(id=alert.id)

    def video(self, alert: str) -> Evidence | None:
        """An alert's stored video, or None."""
        return self.session.store.evidence(alert)

    def clip_video(self, clip_id: int) -> ClipVideo | None:
        """A stored clip of this camera as a video (stream.service.evidence.clip_video), or None: no such clip, or
        nothing to play. The last few are kept: a player asks for a video again, range by range."""
        with self._lock:
            if clip_id in self._clip_videos:
                self._clip_videos.move_to_end(clip_id)
                return self._clip_videos[clip_id]
        got = [c for c in self.session.store.get([clip_id]) if c.stream == self.spec.name]
        made = clip_video(self.session.store, got[0], self.spec.alerts.evidence) if got else None
        if made is not None:
            with self._lock:
                self._clip_videos[clip_id] = made
                while len(self._clip_videos) > self.spec.alerts.evidence.played:
                    self._clip_videos.popitem(last=False)
        return made

    def daily_alert(self) -> Alert:
        """The camera's recap of the last 24 hours as an alert of kind "recap" (what the daily recap sends)."""
        r = camera_recap(self.engine, self.session, DAY)
        return Alert(kind=RECAP, stream=self.spec.name, time=self.session.now, message="Recap of the last 24 hours",
                     title=f"{self.spec.name}: the last 24 hours", description=digest(r), wall_time=self.wall_clock(),
                     noise=self.engine.noise and any(h.summary for h in r.hours), link=self.spec.recap_url)

    def _deliver(self, alert: Alert) -> None:
        """Called from the stream's threads (the loop, the verifier): the feed, the log, the sinks."""
        if alert.kind == "rule" and not alert.update:     # a rule's alert: its video is of the clip it checked
            self._record_video(alert)
        with self._lock:
            if alert.update:                   # its description: replace the alert in the feed
                self._alerts = deque((alert if a.id == alert.id else a for a in self._alerts), maxlen=self._alerts.maxlen)
            else:
                self._alerts.appendleft(alert)
                self._stats.alerts += 1
        try:
            self.log.append(alert)
            self._log_fault = None
        except OSError as e:                   # a full disk: the alert still reaches the feed and the sinks
            self._log_fault = f"could not write the alert log ({e.strerror or e})"
        if alert.update:
            sends = alert.id not in self._held_back          # a description goes where its alert went
        else:
            # a daily recap goes at the time it was asked for, whatever hours alerts are sent in
            sends = alert.kind == RECAP or \
                self.schedule.allows(alert.wall_time if alert.wall_time is not None else self.wall_clock())
            if not sends:
                self._held_back.append(alert.id)
        for sink in ([self.webhook] if self.webhook else []) + self.sinks:
            if not sends and not getattr(sink, "local", False):    # outside the schedule: kept here, not sent
                continue
            try:
                sink.send(alert)
            except Exception as e:             # a sink's own fault must not stop the stream, nor mark it failed
                self._sink_fault = f"alert sink {getattr(sink, 'name', type(sink).__name__)}: {e}"
                self.sink_faults += 1
        if self.on_alert:
            self.on_alert(alert)

    # ---- rules ---------------------------------------------------------------------------------------------
    def _can_check(self, rules: list[str]) -> None:
        if rules and not self.spec.video_llm:
            raise ValueError(f"camera {self.spec.name!r} is events-only (video_llm = false): watch rules are checked "
                             "by the video LLM")
        if rules and self._model_checks:
            self.engine.require_answerer(f"camera {self.spec.name!r} cannot check watch rules")

    def set_rules(self, texts: list[str]) -> None:
        """Takes effect at once: the next clip activity touches is checked against these. ValueError (one line) when
        nothing can check them."""
        self._can_check(texts)
        self.alerter.set_rules(texts)

    def rules(self) -> list[RuleView]:
        return self.alerter.view()

    def status(self) -> dict:
        """The camera's state for the page and the API: connecting, live, reconnecting, playing (a file), ended,
        stopped or error; since when (Unix time); reconnects; the last error (one line)."""
        st = self.stats()
        if st.error:
            out = {"state": "error", "since": None, "last_error": st.error, "reconnects": 0}
        elif not st.running:
            out = {"state": "ended" if st.ended else "stopped", "since": None, "last_error": None, "reconnects": 0}
        else:
            src = self.source.status()
            # A source that ran out while the loop still stores its tail is still playing: "ended" means all stored.
            state = "playing" if src.state == "ended" else src.state
            out = {"state": state, "since": src.since, "last_error": src.last_error, "reconnects": src.reconnects}
            fault = self.session.fault or self._log_fault
            if fault:                           # the store refuses writes: the stream goes on and retries
                out.update(state="error", last_error=fault)
        v = self.verifier.stats()   # rule checks and descriptions that failed (a dead answer server) say so here
        out["checks_failed"], out["check_error"] = v["failed"], v["last_error"]
        out["sink_error"] = self._sink_fault
        out["activity"] = st.active and out["state"] in ("live", "playing")
        for k in ("last_error", "check_error", "sink_error"):
            out[k] = self.public(out[k])
        return out

    def public(self, text: str | None) -> str | None:
        """A message as the API, the page and the sinks show it: the server's path of this camera's memory folder
        (and of a file it plays) is named, not given."""
        if not text:
            return text
        folder = Path(self.spec.memory)
        for path in sorted({str(folder.resolve()), str(folder)}, key=len, reverse=True):
            text = text.replace(path, f"<memory>/{folder.name}")
        if isinstance(self.spec.source, str) and kind_of(self.spec.source) != "webcam":
            text = text.replace(self.spec.source, redact(self.spec.source))       # a file's name, a URL's no password
        return text

    # ---- what the page reads ------------------------------------------------------------------------------
    def stats(self) -> LiveStats:
        with self._lock:
            return LiveStats(**vars(self._stats))

    def alerts(self) -> list[Alert]:
        """Newest first."""
        with self._lock:
            return list(self._alerts)

    def series(self) -> tuple[list[StepRecord], list[Event]]:
        with self._lock:
            return list(self._series), list(self._events)

    def view(self) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            return self._view

