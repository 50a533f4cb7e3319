"""A camera: a webcam index or an RTSP/HTTP URL read by OpenCV on a background thread that keeps only the latest
frame, reconnecting on its own after a drop."""
import math
import random
import threading
import time
from dataclasses import replace
from typing import Callable, Iterator

import cv2

from stream.config import ReconnectConfig
from stream.events import SOURCE_GAP, Event
from stream.sources.base import Frame, SourceError, SourceStatus, shrink
from stream.sources.slot import LatestFrame


def backoff_delay(attempt: int, config: ReconnectConfig, rand: float) -> float:
    """Seconds to wait before reconnection attempt `attempt` (1: the first after a failure): `initial` multiplied by
    `factor` for each failed attempt before it, at most `cap`, less up to a `jitter` share of it. `rand` is a uniform
    draw in [0, 1] that picks the share, so the schedule itself is pure."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    if not 0.0 <= rand <= 1.0:
        raise ValueError(f"rand must be a uniform draw in [0, 1], got {rand}")
    steps = attempt - 1
    if config.factor > 1.0:
        # Beyond this many steps the cap rules anyway; stopping the exponent there keeps a camera that is down for
        # days from overflowing a float.
        steps = min(steps, math.ceil(math.log(config.cap / config.initial, config.factor)))
    wait = min(config.cap, config.initial * config.factor ** steps)
    return wait * (1.0 - config.jitter * rand)


class LiveSource(LatestFrame):
    """A webcam index or an RTSP/HTTP URL read by OpenCV on a background thread that keeps only the latest frame,
    so a slow consumer never makes a backlog.

    A live stream comes back by itself: a failed read or open releases the capture, waits out a backoff
    (`ReconnectConfig`, on the stop event, so `stop()` ends the wait at once) and opens it again, for good unless
    `max_attempts` runs out (state "error"; the slot closes and the consumer ends). One reader thread serves the
    source's whole life. While it reconnects the slot stays open and readers time out, as between frames. Frame
    times are seconds since t0 on `clock`, so a drop shows as a jump in time; the first frame after one carries a
    "source_gap" event from the last frame before it (0 if none came) to itself. A URL to a video of known length
    (a file served over HTTP) ends at its end ("stopped"), as before.

    With `fail_fast` the first open happens here and a failure raises SourceError (the CLI: a mistyped URL is an
    immediate one-line error); without it (a service camera) a failed first open is retried like a drop."""

    def __init__(self, url: str | int, max_side: int = 1280, clock: Callable[[], float] = time.monotonic,
                 reconnect: ReconnectConfig | None = None, fail_fast: bool = True,
                 wall_clock: Callable[[], float] = time.time, fps: float = 1.0):
        super().__init__(clock)
        self.url, self.max_side, self.fps = url, max_side, fps
        self.reconnect = reconnect or ReconnectConfig()
        self.wall_clock = wall_clock
        self._last: float | None = None     # stream time of the newest frame delivered (reader thread only)
        self._delivered = 0                 # frames delivered so far (reader thread only)
        self._status_cond = threading.Condition()      # guards the status; notified on every change
        self._status = SourceStatus("connecting", wall_clock())
        # Jitter draws from a generator of its own: code that seeds the global one must not line cameras up again.
        self._random = random.Random()
        cap = None
        if fail_fast:
            cap, why = self._open()
            if cap is None:
                raise SourceError(why)
        self.t0 = clock()           # frame times are seconds since then
        self._thread = threading.Thread(target=self._reader, args=(cap,), name=f"vigil-reader-{url}", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, spec: str, options) -> "LiveSource":
        return cls(spec, options.max_side, reconnect=options.reconnect, fail_fast=options.fail_fast, fps=options.fps)

    # ---- status ---------------------------------------------------------------------------------------------
    def status(self) -> SourceStatus:
        with self._status_cond:
            return replace(self._status)

    def wait_for(self, until: str | Callable[[SourceStatus], bool], timeout: float | None = None) -> SourceStatus:
        """Block until the status is in state `until` (or `until(status)` is true), or the source ended ("stopped",
        "error": it will not change again), or `timeout` seconds passed; returns the status then (the caller checks
        it)."""
        ready = until if callable(until) else (lambda st: st.state == until)
        with self._status_cond:
            self._status_cond.wait_for(lambda: ready(self._status) or self._status.state in ("stopped", "error"),
                                       timeout)
            return replace(self._status)

    def _set(self, state: str, **changes) -> None:
        with self._status_cond:
            if state != self._status.state:
                self._status.state, self._status.since = state, self.wall_clock()
            for k, v in changes.items():
                setattr(self._status, k, v)
            self._status_cond.notify_all()

    # ---- reading --------------------------------------------------------------------------------------------
    def _open(self) -> tuple[object | None, str | None]:
        """(an open capture, None) or (None, why it failed in one line). URLs get the configured open and read
        timeouts (FFmpeg's own wait 30 s on a silent server); webcam indexes open as OpenCV likes."""
        why = f"cannot open stream: {self.url}"
        try:
            if str(self.url).isdigit():
                cap = cv2.VideoCapture(int(self.url))
            else:
                cfg = self.reconnect
                cap = cv2.VideoCapture(str(self.url), cv2.CAP_FFMPEG, [
                    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(cfg.open_timeout * 1000),
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(cfg.read_timeout * 1000)])
        except cv2.error as e:
            return None, f"{why} ({' '.join(str(e).split())})"
        if not cap.isOpened():
            cap.release()
            return None, why
        return cap, None

    def _lost(self) -> str:
        """Why reads stopped, in one line (OpenCV tells only that no frame came)."""
        if str(self.url).isdigit():
            return f"stream lost: {self.url} (the camera sent no frame)"
        return f"stream lost: {self.url} (it ended, or sent no frame within {self.reconnect.read_timeout:g} s)"

    def _pump(self, cap, gap: tuple[float, str] | None) -> str | None:
        """Deliver the capture's frames until a read fails (returns why) or the source stops (returns None). `gap`:
        (stream time frames stopped, why) when this capture follows a failure; its first frame reports it."""
        while not self._stop.is_set():
            try:
                ok, bgr = cap.read()      # blocks until the next frame or the read timeout: no busy loop
            except cv2.error as e:
                return f"{self._lost()}: {' '.join(str(e).split())}"
            if not ok:
                return self._lost()
            t = self.clock() - self.t0
            events = []
            if gap is not None:
                events.append(Event(SOURCE_GAP, gap[0], {"end": t, "reason": gap[1]}))
            first = gap is not None or self._delivered == 0      # frames flow (again) from this one
            frame = Frame(shrink(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.max_side), t, events,
                          wall=self.wall_clock())
            analyzer = self.analyzer       # frames read before a session attached it are not analysed (the
            if analyzer is not None:       # loop must not analyse them out of order with this thread)
                analyzer.see(bgr, frame.time)
                frame.events = events + analyzer.take()
            self._last, self._delivered = t, self._delivered + 1
            self.put(frame)
            if first:                      # after the put: whoever sees "live" finds this frame in the slot
                self._went_live()
                gap = None
        return None

    def _went_live(self) -> None:
        with self._status_cond:
            st = self._status
            st.reconnects += st.state == "reconnecting"      # frames again after a drop, not the first connection
            st.state, st.since, st.attempt = "live", self.wall_clock(), 0
            st.last_error = None           # live again: the failure is over (its gap event keeps the reason)
            self._status_cond.notify_all()

    def _reader(self, cap) -> None:
        cfg = self.reconnect
        gap: tuple[float, str] | None = None  # (stream time frames stopped, why) until they flow again
        failures, final = 0, "stopped"        # failed attempts in a row; the state the reader ends in
        try:
            while not self._stop.is_set():
                if cap is None:
                    cap, why = self._open()
                if cap is not None:
                    delivered = self._delivered
                    why = self._pump(cap, gap)
                    # A video of known length (a file behind the URL, not a live stream, whose count OpenCV gives as
                    # 0 or garbage below it) is over when its reads end: reopening would replay it from the start.
                    finite = cap.get(cv2.CAP_PROP_FRAME_COUNT) > 0
                    cap.release()           # before any reopen: one capture (socket, decoder) at a time
                    cap = None
                    if why is None or finite:       # stopped, or the video ended
                        break
                    if self._delivered > delivered:      # frames flowed on this capture: this is a new drop
                        failures, gap = 0, None
                if gap is None:
                    gap = (self._last if self._last is not None else 0.0, why)
                failures += 1
                if cfg.max_attempts is not None and failures > cfg.max_attempts:
                    final = "error"
                    self._set("error", last_error=why, attempt=failures)
                    break
                self._set("reconnecting" if self._last is not None else "connecting", last_error=why,
                          attempt=failures)
                if self._stop.wait(backoff_delay(failures, cfg, self._random.random())):
                    break
        except Exception as e:              # an analyzer fault: the status says why the stream ended, and the
            final = "error"                 # traceback still reaches threading's excepthook
            self._set("error", last_error=f"{type(e).__name__}: {' '.join(str(e).split())}")
            raise
        finally:
            if cap is not None:
                cap.release()
            if final == "stopped":
                self._set("stopped")
            self.close()                    # the consumer's read_latest returns and its sampler ends

    def frames(self, skip: int = 0) -> Iterator[Frame]:
        return self.sampled(self.fps)

    def close(self) -> None:
        """Stop the reader (one waiting out a backoff wakes at once: the slot's stop event) and wait for it."""
        super().close()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread is not threading.current_thread():
            # The reader notices the stop between frames; at worst it is inside one open or one read, each bounded
            # by its timeout (a webcam read has none of its own, hence the join's limit).
            thread.join(timeout=self.reconnect.open_timeout + self.reconnect.read_timeout)

    stop = close
