"""The latest-frame slot that live and pushed sources share, and the sampler that reads it at the stream's fps.

A reader thread (a camera) or a pusher (the browser) replaces the one frame in the slot; the loop takes the newest
frame every 1/fps seconds. Nothing queues: a slow consumer skips sample slots and is told how many.
"""
import threading
import time
from dataclasses import replace
from typing import Callable, Iterator

from stream.sources.base import Frame, Source


class LatestFrame(Source):
    """A one-frame slot: writers replace, readers wait for a frame newer than the one they had. No queue."""
    live = True

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._stamp = 0.0        # clock() when the frame arrived
        self._seq = 0
        self._read = 0           # sequence number of the last frame a reader took
        self._closed = False
        self._stop = threading.Event()   # set at close: a sampler waiting for its next slot wakes at once

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._closed:
                return                   # nobody will read it (a stopped stream): keep nothing
            if self._frame is not None and self._seq > self._read and self._frame.events and frame.events is not None:
                frame.events = self._frame.events + frame.events     # a frame nobody read: keep its events
            self._frame, self._stamp, self._seq = frame, self.clock(), self._seq + 1
            self._cond.notify_all()

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def read_latest(self, after: int = 0, max_age: float | None = None, timeout: float | None = None
                    ) -> tuple[Frame | None, int]:
        """The newest frame with sequence number > `after` and at most `max_age` seconds old, waiting up to
        `timeout` seconds. Returns (frame or None, its sequence number). The frame carries `arrived`, the clock
        time it was put."""
        deadline = None if timeout is None else self.clock() + timeout
        with self._cond:
            while True:
                fresh = self._seq > after and (max_age is None or self.clock() - self._stamp <= max_age)
                if fresh:
                    self._read = self._seq
                    return replace(self._frame, arrived=self._stamp), self._seq
                if self._closed:
                    return None, self._seq
                wait = None if deadline is None else deadline - self.clock()
                if wait is not None and wait <= 0:
                    return None, self._seq
                self._cond.wait(wait)

    def sampled(self, fps: float) -> Iterator[Frame]:
        """This slot's frames at `fps` until it closes (`sample_live`)."""
        return sample_live(self, fps, self._stop)


def sample_live(slot: LatestFrame, fps: float, stop: threading.Event | None = None,
                clock: Callable[[], float] | None = None) -> Iterator[Frame]:
    """Take the latest frame every 1/fps seconds, each with the sample slots skipped since the last one
    (`Frame.skipped`): when the consumer falls behind, slots are skipped, never queued. Ends when the source closes
    or `stop` is set."""
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
        yield replace(frame, skipped=skipped)
