"""A video file: decord's index picks the sampled frames by presentation time, OpenCV decodes in order; read as
fast as it decodes (analyze, ingest), or played at its own speed as if it were a live camera (the page, a test
camera), optionally again and again."""
import os
import threading
import time
from dataclasses import replace
from typing import Callable, Iterator

import cv2
import numpy as np

from stream.sources.base import Frame, Source, SourceError, SourceStatus, VideoBreak, shrink


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


class FileSource(Source):
    """Sampled frames of a video file, read in order with only the sampled frames converted, so RAM does not grow
    with the file. Frames come upright (rotation metadata applied) and with square pixels (anamorphic video is
    stretched to its display aspect).

    `realtime`: played at its own speed as if live (frames released at their times; a consumer that falls behind
    has frames skipped, not queued); `loop` (with realtime): at its end it starts again, each pass going on in
    stream time after the last with the stream's analyzer reset (the jump back is a new start, not motion)."""
    finite = True

    def __init__(self, path: str, fps: float, max_side: int = 1280, realtime: bool = False, loop: bool = False,
                 clock: Callable[[], float] = time.monotonic):
        self.path, self.fps, self.max_side = str(path), fps, max_side
        self.live, self.loop, self.clock = realtime, loop and realtime, clock
        self._stop = threading.Event()          # set by close(): the frames end at the next one
        self._status = SourceStatus("playing", time.time())
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
            # decord gives float32 seconds (7.04 comes as 7.039999961853027): each is read back as the shortest
            # decimal that float32 holds, so times are float64 from here on and 0.04 s apart stays 0.04 s apart.
            self._pts = np.array([float(str(v)) for v in self._reader.get_frame_timestamp(np.arange(n))[:, 0]])
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

    @classmethod
    def open(cls, spec: str, options) -> "FileSource":
        return cls(spec, options.fps, options.max_side, realtime=options.realtime, loop=options.loop)

    def status(self) -> SourceStatus:
        return self._status

    def close(self) -> None:
        if not self._stop.is_set() and self._status.state == "playing":
            self._status = SourceStatus("stopped", time.time())
        self._stop.set()

    def frames(self, skip: int = 0) -> Iterator[Frame]:
        """The sampled frames in order, after the first `skip` of them (resuming). Raises VideoBreak where the file
        stops decoding, after yielding every frame before it. With an analyzer attached, every decoded frame after
        the last skipped sample is analysed, and each sampled frame carries its events and the analyzer's state.
        Played as live, frames come at their own times (and, looped, pass after pass)."""
        base = 0.0                                  # stream time of this pass's start
        while True:
            frames = self._decoded(skip, base)
            if self.live:
                frames = paced(frames, self.fps, self._stop, self.clock() - base, self.clock)
            for frame in frames:
                if self._stop.is_set():             # a close ends the decoding, not only the delivery
                    return
                yield frame
            if self._stop.is_set() or not self.loop:
                break
            base, skip = base + self.duration + 1.0 / self.fps, 0
            if self.analyzer is not None:
                self.analyzer.reset()
        if not self._stop.is_set():
            self._status = SourceStatus("ended", time.time())

    def _decoded(self, skip: int, base: float) -> Iterator[Frame]:
        if self._reader is not None:
            return self._frames_indexed(skip, self.analyzer, base)
        return self._frames_opencv(skip, self.analyzer, base)

    def _sampled(self, bgr: np.ndarray, t: float, analyzer) -> Frame:
        frame = Frame(self._display(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), t)
        if analyzer is not None:
            frame.events, frame.analysis = analyzer.take(), analyzer.snapshot()
        return frame

    def _frames_indexed(self, skip: int, analyzer, base: float = 0.0) -> Iterator[Frame]:
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
                    analyzer.see(bgr, base + float(self._pts[i]))
                if sampled:
                    yield self._sampled(bgr, base + float(self._pts[i]), analyzer)
                    k += 1
        finally:
            cap.release()

    def _frames_opencv(self, skip: int, analyzer, base: float = 0.0) -> Iterator[Frame]:
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
                    analyzer.see(bgr, base + t)
                if sampled:
                    yield self._sampled(bgr, base + t, analyzer)
            if self.duration and t + 2.0 / max(self.native_fps, 1.0) < self.duration - 1.0:
                raise VideoBreak(self.path, t, "stream ends early")
        finally:
            cap.release()


def paced(frames: Iterator[Frame], fps: float, stop: threading.Event, t0: float,
          clock: Callable[[], float] = time.monotonic) -> Iterator[Frame]:
    """A file played as if it were live: each frame is released at t0 + its time. A consumer that falls more than
    one sample period behind has frames skipped, not queued, as with a live source (`Frame.skipped` counts them),
    and each frame is stamped with the clock time it is due (`Frame.arrived`: t0 + its time)."""
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
        events = carried + (frame.events or []) if carried else frame.events
        yield replace(frame, events=events, skipped=skipped, arrived=t0 + frame.time)
        skipped, carried = 0, []
