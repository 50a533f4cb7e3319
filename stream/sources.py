"""Where frames come from: files (decord, OpenCV fallback), live streams (OpenCV), frames pushed from outside.

Every source yields `Frame`s: RGB uint8 and a time in seconds from the stream's start, taken from the
container's presentation times for files (variable frame rate gives true times) and the clock for live.

Given a `FrameAnalyzer`, a source analyses every frame it decodes, not only the sampled ones (cuts and activity
at frame rate, `stream.analyzer`), and hands the events found since the last sampled frame over with the next one.
"""
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

import cv2
import numpy as np

from stream.config import ReconnectConfig
from stream.events import Event


class SourceError(RuntimeError):
    """A source cannot be opened or read; the message is one line for the user."""


class VideoBreak(SourceError):
    """A file stops decoding part way (truncated or corrupt); every frame before `time` was delivered."""

    def __init__(self, path: str, time: float, cause: str):
        super().__init__(f"video breaks at {time:.2f}s: {path} ({cause})")
        self.time = time


@dataclass
class Frame:
    image: np.ndarray   # [H, W, 3] RGB uint8
    time: float         # seconds since the stream started
    # The events the source's analyzer found since the previous sampled frame (up to this one); None: the source
    # analyses nothing (a plain iterator of frames), and the loop analyses this frame itself.
    events: list | None = None
    # The analyzer's state right after this frame, for resume points (file sources, and frames the loop analysed);
    # None for live and pushed frames, which never resume.
    analysis: object = field(default=None, repr=False)
    # Wall-clock time (Unix seconds) the frame arrived, for live and pushed sources; None for files, whose clips are
    # told by stream time.
    wall: float | None = None


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    s = max_side / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def until_break(frames: Iterator[Frame], notes: dict) -> Iterator[Frame]:
    """A file's frames up to where it stops decoding (truncated, damaged): the loop then closes and stores what it
    has, as for a file read to its end. Where it broke goes in `notes["broken_at"]` (a stream state's notes, which
    its resume points keep)."""
    try:
        yield from frames
    except VideoBreak as e:
        notes["broken_at"] = e.time


def _sound_times(pts: np.ndarray) -> bool:
    """Presentation times that can be trusted: finite, starting near zero, never going back."""
    return bool(len(pts)) and bool(np.all(np.isfinite(pts))) and -1.0 <= pts[0] <= 60.0 and \
        bool(np.all(np.diff(pts) >= -1e-6))


def sample_indices(pts: np.ndarray, fps: float) -> np.ndarray:
    """Indices of the frames to take at `fps` from presentation times `pts` [n] (seconds, increasing):
    for each target time k/fps, the first frame shown at or after it; and the last frame."""
    if len(pts) == 0:
        return np.zeros(0, dtype=np.int64)
    targets = np.arange(0.0, pts[-1] + 1e-6, 1.0 / fps)
    idx = np.searchsorted(pts, targets - 1e-6)
    idx = np.unique(idx[idx < len(pts)])
    # The last frame too when it comes half a period or more after the last sample: the end of a recording (a
    # cut, someone leaving) would otherwise go unseen.
    if len(idx) and pts[-1] - pts[idx[-1]] >= 0.5 / fps:
        idx = np.append(idx, len(pts) - 1)
    return idx


class FileSource:
    """Sampled frames of a video file, read in order with only the sampled frames converted, so RAM does not grow
    with the file. Frames come upright (rotation metadata applied) and with square pixels (anamorphic video is
    stretched to its display aspect)."""

    def __init__(self, path: str, fps: float, max_side: int = 1280):
        self.path, self.fps, self.max_side = str(path), fps, max_side
        if os.path.isdir(self.path):
            raise SourceError(f"not a video file but a folder: {self.path}")
        if not os.path.exists(self.path):
            raise SourceError(f"no such video file: {self.path}")
        if os.path.getsize(self.path) == 0:
            raise SourceError(f"video file is empty: {self.path}")
        self._reader, self._pts, self.backend = None, None, "decord"
        self.sar, self.codec = self._probe_cv2()
        h, w, n = self._probe()
        self.frame_count = n
        self.size = (h, round(w * self.sar))        # as displayed
        self.duration = float(self._pts[-1]) if self._pts is not None else (n / self.native_fps if self.native_fps else 0.0)
        if self._pts is not None:
            self._samples = sample_indices(self._pts, fps)

    def _probe_cv2(self) -> tuple[float, str]:
        """(sample aspect ratio, codec fourcc) from OpenCV; decord exposes neither."""
        cap = cv2.VideoCapture(self.path)
        try:
            if not cap.isOpened():
                return 1.0, "unknown"
            num, den = cap.get(cv2.CAP_PROP_SAR_NUM), cap.get(cv2.CAP_PROP_SAR_DEN)
            sar = num / den if num > 0 and den > 0 else 1.0
            code = int(cap.get(cv2.CAP_PROP_FOURCC))
            codec = "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip("\x00 ") or "unknown"
            return sar, codec
        finally:
            cap.release()

    def _display(self, image: np.ndarray) -> np.ndarray:
        if abs(self.sar - 1.0) > 1e-3:
            h, w = image.shape[:2]
            image = cv2.resize(image, (max(1, round(w * self.sar)), h), interpolation=cv2.INTER_AREA if self.sar < 1
                               else cv2.INTER_LINEAR)
        return shrink(image, self.max_side)

    def _probe(self) -> tuple[int, int, int]:
        """Open with decord, or OpenCV where decord cannot read the container; returns (height, width, frames)."""
        try:
            import decord
            self._reader = decord.VideoReader(self.path, ctx=decord.cpu(0), num_threads=1)
            n = len(self._reader)
            if n == 0:
                raise SourceError(f"video has no frames: {self.path}")
            self._pts = self._reader.get_frame_timestamp(np.arange(n))[:, 0].astype(np.float64)
            self.native_fps = float(self._reader.get_avg_fps())
            if not _sound_times(self._pts) and self.native_fps > 0:
                # Some AVIs give decord garbage times (Megamind.avi: -3.8e17 s for 182 of its 270 frames): such a
                # file is timed by frame index at its average rate instead.
                self._pts = np.arange(n, dtype=np.float64) / self.native_fps
            h, w = self._reader[0].shape[:2] if n else (0, 0)
        except SourceError:
            raise
        except Exception:
            self._reader, self.backend = None, "opencv"
            cap = cv2.VideoCapture(self.path)
            ok = cap.isOpened() and cap.grab()
            if not ok:
                raise SourceError(f"not a readable video: {self.path}")
            h, w = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            self.native_fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.release()
        return h, w, n

    def frames(self, skip: int = 0, analyzer=None) -> Iterator[Frame]:
        """The sampled frames in order, after the first `skip` of them (resuming). Raises VideoBreak where the file
        stops decoding, after yielding every frame before it. With an analyzer, every decoded frame after the last
        skipped sample is analysed, and each sampled frame carries its events and the analyzer's state."""
        if self._reader is not None:
            yield from self._frames_indexed(skip, analyzer)
        else:
            yield from self._frames_opencv(skip, analyzer)

    def _sampled(self, bgr: np.ndarray, t: float, analyzer) -> Frame:
        frame = Frame(self._display(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), t)
        if analyzer is not None:
            frame.events, frame.analysis = analyzer.take(), analyzer.snapshot()
        return frame

    def _frames_indexed(self, skip: int, analyzer) -> Iterator[Frame]:
        """decord's index says which frames to take (by presentation time); OpenCV decodes the file in order and
        converts only those. Decoding through decord's get_batch grew the process by gigabytes over an hour of
        video when the vision tower ran beside it; sequential OpenCV decoding stays flat and was no slower (it
        decodes from the last keyframe either way)."""
        want = self._samples[skip:]
        if len(want) == 0:
            return
        first = self._samples[skip - 1] + 1 if skip else 0     # the analyzer has seen every frame before this one
        last = len(self._pts) - 1 if analyzer is not None else want[-1]
        cap = cv2.VideoCapture(self.path)
        try:
            if not cap.isOpened():
                raise VideoBreak(self.path, float(self._pts[want[0]]), "OpenCV cannot open it")
            i, k = -1, 0                  # index of the frame just grabbed; next wanted sample
            while i < last:
                ok = cap.grab()
                if not ok:
                    if k == len(want):           # past the last sample: only the analysis misses the tail
                        return
                    raise VideoBreak(self.path, float(self._pts[want[k]]), "stream ends early")
                i += 1
                sampled = k < len(want) and i == want[k]
                analysed = analyzer is not None and i >= first
                if not (sampled or analysed):
                    continue
                ok, bgr = cap.retrieve()
                if not ok:
                    if not sampled:
                        continue
                    raise VideoBreak(self.path, float(self._pts[want[k]]), "undecodable frame")
                if analysed:
                    analyzer.see(bgr, float(self._pts[i]))
                if sampled:
                    yield self._sampled(bgr, float(self._pts[i]), analyzer)
                    k += 1
        finally:
            cap.release()

    def _frames_opencv(self, skip: int, analyzer) -> Iterator[Frame]:
        cap = cv2.VideoCapture(self.path)
        try:
            next_t, n, t = 0.0, 0, 0.0
            while True:
                if not cap.grab():
                    break
                t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                sampled = t + 1e-6 >= next_t
                if sampled:
                    next_t = (np.floor(t * self.fps + 1e-6) + 1) / self.fps
                    n += 1
                if n < skip or (n == skip and sampled) or not (sampled or analyzer is not None):
                    continue              # before the resume point (the analyzer has seen up to sample `skip`)
                ok, bgr = cap.retrieve()
                if not ok:
                    if not sampled:
                        continue
                    raise VideoBreak(self.path, t, "undecodable frame")
                if analyzer is not None:
                    analyzer.see(bgr, t)
                if sampled:
                    yield self._sampled(bgr, t, analyzer)
            if self.duration and t + 2.0 / max(self.native_fps, 1.0) < self.duration - 1.0:
                raise VideoBreak(self.path, t, "stream ends early")
        finally:
            cap.release()


class LatestFrame:
    """A one-frame slot: writers replace, readers wait for a frame newer than the one they had. No queue."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._stamp = 0.0        # clock() when the frame arrived
        self._seq = 0
        self._read = 0           # sequence number of the last frame a reader took
        self._closed = False

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._closed:
                return                   # nobody will read it (a stopped stream): keep nothing
            if self._frame is not None and self._seq > self._read and self._frame.events and frame.events is not None:
                frame.events = self._frame.events + frame.events     # a frame nobody read: keep its events
            self._frame, self._stamp, self._seq = frame, self.clock(), self._seq + 1
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def read_latest(self, after: int = 0, max_age: float | None = None, timeout: float | None = None
                    ) -> tuple[Frame | None, int]:
        """The newest frame with sequence number > `after` and at most `max_age` seconds old, waiting up to
        `timeout` seconds. Returns (frame or None, its sequence number)."""
        deadline = None if timeout is None else self.clock() + timeout
        with self._cond:
            while True:
                fresh = self._seq > after and (max_age is None or self.clock() - self._stamp <= max_age)
                if fresh:
                    self._read = self._seq
                    return self._frame, self._seq
                if self._closed:
                    return None, self._seq
                wait = None if deadline is None else deadline - self.clock()
                if wait is not None and wait <= 0:
                    return None, self._seq
                self._cond.wait(wait)


@dataclass
class SourceStatus:
    """Where a live source stands, for the page and the service's health checks."""
    state: str                       # "connecting", "live", "reconnecting", "stopped" or "error"
    since: float                     # wall-clock time (Unix seconds) the state began
    reconnects: int = 0              # times frames flowed again after a drop
    last_error: str | None = None    # the latest failure, one line (kept after a recovery: what went wrong last)
    attempt: int = 0                 # failed attempts in a row; 0 while frames flow


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


class PushSource(LatestFrame):
    """Frames pushed from outside (the browser webcam): `push(image)` from any thread."""

    def __init__(self, max_side: int = 1280, clock: Callable[[], float] = time.monotonic):
        super().__init__(clock)
        self.max_side = max_side
        self.t0 = clock()           # frame times are seconds since then
        self.analyzer = None        # set by the stream's session: every pushed frame is analysed
        self._since = time.time()   # wall-clock time of the current state (live from now, stopped from close)

    def close(self) -> None:
        if not self.closed:
            self._since = time.time()
        super().close()

    def status(self) -> SourceStatus:
        """"live" until closed, then "stopped": pushed frames never reconnect (the browser pushes again)."""
        return SourceStatus("stopped" if self.closed else "live", self._since)

    def push(self, image: np.ndarray, t: float | None = None, wall: float | None = None) -> None:
        """`t`: stream time (default: seconds since the source opened); `wall`: when the frame was taken, Unix seconds
        (default: now, as it arrives; a pusher that knows the capture time, or a test, gives it)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise SourceError(f"pushed frames must be RGB uint8 [H, W, 3], got {image.dtype} {image.shape}")
        frame = Frame(shrink(image, self.max_side), self.clock() - self.t0 if t is None else t, [],
                      wall=time.time() if wall is None else wall)
        analyzer = self.analyzer
        if analyzer is not None:
            analyzer.see(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR), frame.time)
            frame.events = analyzer.take()
        self.put(frame)


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
                 wall_clock: Callable[[], float] = time.time):
        super().__init__(clock)
        self.url, self.max_side = url, max_side
        self.reconnect = reconnect or ReconnectConfig()
        self.wall_clock = wall_clock
        self.analyzer = None        # set by the stream's session: the reader thread analyses every frame it reads
        self._stop = threading.Event()
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
                events.append(Event("source_gap", gap[0], {"end": t, "reason": gap[1]}))
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
            self.close()                    # the consumer's read_latest returns and sample_live ends

    def close(self) -> None:
        self._stop.set()                    # a reader waiting out a backoff wakes at once
        super().close()

    def stop(self) -> None:
        self.close()
        if self._thread is not threading.current_thread():
            # The reader notices the stop between frames; at worst it is inside one open or one read, each bounded
            # by its timeout (a webcam read has none of its own, hence the join's limit).
            self._thread.join(timeout=self.reconnect.open_timeout + self.reconnect.read_timeout)


def sample_live(slot: LatestFrame, fps: float, stop: threading.Event | None = None,
                clock: Callable[[], float] | None = None) -> Iterator[tuple[Frame, int]]:
    """Take the latest frame every 1/fps seconds. Yields (frame, sample slots skipped since the last one): when
    the consumer falls behind, slots are skipped, never queued. Ends when the source closes or `stop` is set."""
    clock = clock or slot.clock
    stop = stop or threading.Event()
    period = 1.0 / fps
    due, seq = clock(), 0
    while not stop.is_set():
        wait = due - clock()
        if wait > 0 and stop.wait(wait):
            break
        frame, seq2 = slot.read_latest(after=seq, timeout=max(period, 1.0))
        if frame is None:
            if slot.closed:
                break
            continue
        seq = seq2
        late = clock() - due
        skipped = max(0, int(late / period))
        due += (skipped + 1) * period
        yield frame, skipped


def paced(frames: Iterator[Frame], fps: float, stop: threading.Event, t0: float,
          clock: Callable[[], float] = time.monotonic) -> Iterator[tuple[Frame, int]]:
    """A file played as if it were live: each frame is released at t0 + its time. A consumer that falls more than
    one sample period behind has frames skipped, not queued, as with a live source. Yields (frame, skipped)."""
    period, skipped, carried = 1.0 / fps, 0, []
    for frame in frames:
        wait = t0 + frame.time - clock()
        if wait > 0 and stop.wait(wait):
            return
        if stop.is_set():
            return
        if -wait > period:
            skipped += 1
            carried += frame.events or []          # a skipped frame's events (a cut) still reach the loop
            continue
        if carried:
            frame = Frame(frame.image, frame.time, carried + (frame.events or []), frame.analysis)
        yield frame, skipped
        skipped, carried = 0, []


def open_source(spec: str, fps: float, max_side: int = 1280, reconnect: ReconnectConfig | None = None,
                fail_fast: bool = True):
    """A FileSource for a path, a LiveSource for a URL (rtsp://, http(s)://) or a webcam index (`reconnect` and
    `fail_fast` as for LiveSource)."""
    if str(spec).isdigit() or "://" in str(spec):
        return LiveSource(spec, max_side, reconnect=reconnect, fail_fast=fail_fast)
    return FileSource(spec, fps, max_side)
