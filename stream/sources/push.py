"""Frames pushed from outside (the browser's webcam): `push(image)` from any thread, sampled at the stream's fps."""
import time
from typing import Callable, Iterator

import cv2
import numpy as np

from stream.sources.base import Frame, SourceError, SourceStatus, shrink
from stream.sources.slot import LatestFrame


class PushSource(LatestFrame):
    """Frames pushed from outside (the browser webcam): `push(image)` from any thread."""

    def __init__(self, max_side: int = 1280, clock: Callable[[], float] = time.monotonic, fps: float = 1.0):
        super().__init__(clock)
        self.max_side, self.fps = max_side, fps
        self.t0 = clock()           # frame times are seconds since then
        self._since = time.time()   # wall-clock time of the current state (live from now, stopped from close)

    def close(self) -> None:
        if not self.closed:
            self._since = time.time()
        super().close()

    def status(self) -> SourceStatus:
        """"live" until closed, then "stopped": pushed frames never reconnect (the browser pushes again)."""
        return SourceStatus("stopped" if self.closed else "live", self._since)

    def frames(self, skip: int = 0) -> Iterator[Frame]:
        return self.sampled(self.fps)

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
