"""Each alert's video: a short H.264 MP4 of its span with a few seconds before and after, cut from a bounded ring of
small frames the camera keeps in RAM, encoded on a thread of its own (never the ingest thread) and stored in the
camera's memory with its clips (retention counts it and deletes it with them).

    rec = EvidenceRecorder("door", EvidenceConfig(), store.add_evidence)
    rec.push(time, wall, image)     # the ingest thread, every sampled frame
    rec.raised(alert)               # an alert: its video is written once its span has ended and `after` has passed
    rec.span_ended(time)            # the activity span ended (or the video stopped)
    rec.close()                     # the stream ended: what is still waiting is written with the frames there are

The encoder is PyAV (FFmpeg's libraries in-process, libx264 in its wheels): frames go from numpy arrays to an MP4
with no subprocess per alert and no frames piped through a pipe, and FFmpeg's own muxer writes the MP4 a browser
plays (`+faststart`: the index first, so playback starts before the whole file has arrived).
"""
import os
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import cv2
import numpy as np

from memory.clip import ClipMemory, Evidence, Keyframe
from memory.store import ClipStore
from stream.config import EvidenceConfig
from stream.detectors.activity import START as ACTIVITY_START
from stream.service.alerts import Alert

# Milliseconds: the video's time base, so frames keep their own times (a camera that skipped a frame, a reconnect)
MS = Fraction(1, 1000)


@dataclass
class RingFrame:
    time: float                    # stream seconds
    wall: float | None             # Unix time (live cameras)
    image: np.ndarray              # [h, w, 3] RGB uint8, at most `side` on its longest side, even sides


def small(image: np.ndarray, side: int) -> np.ndarray:
    """The frame scaled so its longest side is at most `side`, both sides even (H.264's 4:2:0 needs them so)."""
    h, w = image.shape[:2]
    scale = min(1.0, side / max(h, w))
    nh, nw = max(2, int(h * scale) // 2 * 2), max(2, int(w * scale) // 2 * 2)
    return image if (nh, nw) == (h, w) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)


class FrameRing:
    """The camera's last `seconds` of small frames (a deque bounded by time: its RAM is seconds x fps x a small
    frame). Pushed by the ingest thread, read by the recorder's."""

    def __init__(self, seconds: float, side: int):
        self.seconds, self.side = seconds, side
        self._frames: deque[RingFrame] = deque()
        self._lock = threading.Lock()

    def push(self, t: float, wall: float | None, image: np.ndarray) -> None:
        frame = RingFrame(t, wall, np.ascontiguousarray(small(image, self.side)))
        with self._lock:
            self._frames.append(frame)
            while self._frames and self._frames[0].time < t - self.seconds:
                self._frames.popleft()

    def newest(self) -> float | None:
        with self._lock:
            return self._frames[-1].time if self._frames else None

    def between(self, start: float, end: float) -> list[RingFrame]:
        with self._lock:
            return [f for f in self._frames if start <= f.time <= end]

    def nbytes(self) -> int:
        with self._lock:
            return sum(f.image.nbytes for f in self._frames)


def encode_mp4(frames: list[RingFrame], config: EvidenceConfig) -> bytes:
    """An H.264 MP4 (yuv420p, browser-playable) of the frames, each shown from its own time until the next's; the
    last for the median frame interval. Every frame takes the first one's size."""
    import av                                  # PyAV: only a camera that makes videos loads FFmpeg

    h, w = frames[0].image.shape[:2]
    times = [f.time for f in frames]
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    fd, path = tempfile.mkstemp(suffix=".mp4")   # the MP4 muxer's faststart rewrites the file: it needs a real one
    os.close(fd)
    try:
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=max(1, round(1 / step)) if step > 0 else 1)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.time_base = MS
            # One encoder thread: its CPU is this thread's (the figure `seconds` reports), and a camera's videos
            # never take the cores the vision tower needs.
            stream.options = {"crf": str(config.crf), "preset": config.preset, "threads": "1"}
            last = -1
            for f in frames:
                image = f.image if f.image.shape[:2] == (h, w) else cv2.resize(f.image, (w, h))
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = max(last + 1, int(round((f.time - times[0]) * 1000)))   # strictly increasing
                frame.time_base = MS
                last = frame.pts
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        with open(path, "rb") as fh:
            return fh.read()
    finally:
        os.unlink(path)


@dataclass
class ClipVideo:
    """What a stored clip plays as (an answer's clips, a search's): the alert video that overlaps it most, real
    video with a few seconds around it, or else its keyframes shown at their times."""
    mp4: bytes
    alert: str | None              # the alert whose video it is; None: made of the clip's keyframes
    offset: float                  # seconds into the video where the clip starts (0 for keyframes)


def keyframes_mp4(keyframes: list[Keyframe], config: EvidenceConfig) -> bytes:
    """An H.264 MP4 of a clip's keyframes (JPEGs), each shown from its time until the next's."""
    frames = []
    for k in keyframes:
        bgr = cv2.imdecode(np.frombuffer(k.jpeg, np.uint8), cv2.IMREAD_COLOR)
        frames.append(RingFrame(k.time, k.wall, small(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), config.side)))
    return encode_mp4(frames, config)


def clip_video(store: ClipStore, clip: ClipMemory, config: EvidenceConfig) -> ClipVideo | None:
    """The clip as a video (ClipVideo), or None when the memory has neither an alert video over it nor keyframes."""
    video = store.evidence_over(clip.stream, clip.start, clip.end)
    if video is not None:
        return ClipVideo(video.mp4, video.alert, max(0.0, clip.start - video.start))
    keyframes = store.keyframes([clip.id]).get(clip.id, [])
    return ClipVideo(keyframes_mp4(keyframes, config), None, 0.0) if keyframes else None


@dataclass
class _Request:
    alert: str
    start: float                   # stream seconds: the video's first frame is at or after this
    end: float | None              # its last frame; None while the alert's activity span is still open
    limit: float                   # the latest `end` may be (max_seconds after start)


@dataclass
class EvidenceStats:
    written: int = 0               # videos stored
    bytes: int = 0                 # their bytes
    frames: int = 0                # their frames
    dropped: int = 0               # requests dropped: the queue was full
    failed: int = 0                # videos that could not be encoded or stored
    empty: int = 0                 # alerts whose span the ring held no frame of
    seconds: float = 0.0           # CPU seconds of the encoder's thread, summed (what a camera's videos cost)
    last_error: str | None = None


class EvidenceRecorder:
    def __init__(self, stream: str, config: EvidenceConfig, store: Callable[[Evidence], None]):
        self.stream, self.config, self._store = stream, config, store
        self.ring = FrameRing(config.ring_seconds, config.side)
        self._pending: deque[_Request] = deque()
        self._closing = False
        self._cond = threading.Condition()
        self._stats = EvidenceStats()
        self._written: deque[str] = deque(maxlen=config.queue * 32)    # ids of the latest videos stored
        self._thread = threading.Thread(target=self._run, name=f"vigil-evidence-{stream}", daemon=True)
        self._thread.start()

    # ---- the ingest thread (and the verifier's, for rule alerts) --------------------------------------------
    def push(self, t: float, wall: float | None, image: np.ndarray) -> None:
        self.ring.push(t, wall, image)
        with self._cond:
            if self._pending:
                self._cond.notify()

    def raised(self, alert: Alert) -> None:
        """Make this alert's video: from `before` ahead of its moment (a rule's: of its clip) to `after` past the end
        of its activity span (an activity start), of its clip (a rule), or of its moment (anything else)."""
        c = self.config
        start = (alert.clip[1] if alert.clip else alert.time) - c.before
        limit = start + c.before + c.max_seconds
        if alert.clip:
            end = min(alert.clip[2] + c.after, limit)
        elif alert.kind == ACTIVITY_START:
            end = None
        else:
            end = alert.time + c.after
        with self._cond:
            if len(self._pending) >= c.queue:
                self._pending.popleft()
                self._stats.dropped += 1
            self._pending.append(_Request(alert.id, start, end, limit))
            self._cond.notify()

    def span_ended(self, t: float) -> None:
        """The activity span (or the video) ended at stream second `t`: the videos waiting for it end `after` it."""
        with self._cond:
            for r in self._pending:
                if r.end is None:
                    r.end = min(t + self.config.after, r.limit)
            self._cond.notify()

    def ready(self, alert: str) -> bool:
        """Whether this alert's video was stored by this recorder (one of its latest): the page shows a player."""
        with self._cond:
            return alert in self._written

    def pending(self, alert: str) -> bool:
        with self._cond:
            return any(r.alert == alert for r in self._pending)

    def stats(self) -> EvidenceStats:
        with self._cond:
            return EvidenceStats(**vars(self._stats))

    def close(self, timeout: float | None = 30.0) -> None:
        """The stream ended: every waiting video is written with the frames the ring has, then the thread ends."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)

    # ---- the recorder's thread ------------------------------------------------------------------------------
    def _due(self) -> _Request | None:
        """The oldest request whose last frame has arrived (or all of them, closing)."""
        newest = self.ring.newest()
        for r in self._pending:
            end = r.limit if r.end is None else r.end
            if self._closing or (newest is not None and newest >= end):
                self._pending.remove(r)
                if r.end is None:
                    r.end = min(newest if newest is not None else r.start, r.limit)
                return r
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                while (r := self._due()) is None:
                    if self._closing:
                        return
                    self._cond.wait()
            self._write(r)

    def _write(self, r: _Request) -> None:
        frames = self.ring.between(r.start, r.end)
        if not frames:
            with self._cond:
                self._stats.empty += 1
            return
        t0 = time.thread_time()
        try:
            mp4 = encode_mp4(frames, self.config)
            spent = time.thread_time() - t0
            self._store(Evidence(alert=r.alert, stream=self.stream, start=frames[0].time, end=frames[-1].time,
                                 mp4=mp4, frames=len(frames), wall_start=frames[0].wall))
        except Exception as e:            # a full disk, a broken encoder: this video is lost, the camera goes on
            with self._cond:
                self._stats.failed += 1
                self._stats.last_error = f"alert video {r.alert}: {e}"
            return
        with self._cond:
            s = self._stats
            s.written, s.bytes, s.frames, s.seconds = s.written + 1, s.bytes + len(mp4), s.frames + len(frames), \
                s.seconds + spent
            self._written.append(r.alert)
