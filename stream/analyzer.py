"""Every decoded frame of a stream, analysed where it is decoded (the file decoder, a live stream's reader thread)
on a small image: scene cuts (`stream.scenes`) and activity (`stream.activity`). Model-independent: the same
footage gives the same events whichever vision tower is loaded.

Events wait in the analyzer until the source hands them over with the next sampled frame (`take`), so the loop
sees every event with the step it belongs to, frame-accurate, even while the model is busy elsewhere.
"""
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from stream.activity import ActivityDetector
from stream.config import EventConfig
from stream.events import Event
from stream.scenes import CutDetector
from stream.sources import shrink


@dataclass
class AnalyzerState:
    """A copy of an analyzer's state, for a resume point (JSON-able values, arrays)."""
    values: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class FrameAnalyzer:
    def __init__(self, config: EventConfig):
        self.config = config
        self.cuts = CutDetector(config.cuts)
        self.activity = ActivityDetector(config.activity)
        self._pending: list[Event] = []
        self._lock = threading.Lock()            # a live source's reader thread feeds it; the loop takes from it

    def reset(self) -> None:
        """Forget the stream seen so far, as a new stream would (a looped file jumping back to its start: a cut,
        not motion). Events not taken yet are dropped with it."""
        with self._lock:
            self.cuts = CutDetector(self.config.cuts)
            self.activity = ActivityDetector(self.config.activity)
            self._pending = []

    def small(self, bgr: np.ndarray) -> np.ndarray:
        """A frame [H, W, 3] at the analysis size (longest side `config.side`), area-filtered."""
        return shrink(bgr, self.config.side)

    def see(self, bgr: np.ndarray, t: float) -> None:
        """One decoded frame [H, W, 3] BGR uint8 at source time t (seconds, increasing)."""
        small = self.small(bgr)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32), (3, 3), 0)
        with self._lock:
            if self.cuts.see(small, t):
                self._pending += [Event("scene_change", t)] + self.activity.finish()
                self.activity.reset(grey, t)            # a new scene: a new background and new floors
            else:
                self._pending += self.activity.see(grey, t)

    def take(self) -> list[Event]:
        """The events found since the last take, in time order."""
        with self._lock:
            events, self._pending = self._pending, []
        return sorted(events, key=lambda e: e.time)

    def finish(self) -> list[Event]:
        """The end of the stream: what was not taken yet, and the end of an open activity."""
        with self._lock:
            self._pending += self.activity.finish()
        return self.take()

    def snapshot(self) -> AnalyzerState:
        """The state now (events waiting to be taken are not part of it: take them first)."""
        with self._lock:
            cv, ca = self.cuts.state()
            av, aa = self.activity.state()
        return AnalyzerState(values={"cuts": cv, "activity": av},
                             arrays={**{f"cuts.{k}": v for k, v in ca.items()},
                                     **{f"activity.{k}": v for k, v in aa.items()}})

    def restore(self, state: AnalyzerState) -> None:
        part = lambda prefix: {k.split(".", 1)[1]: v for k, v in state.arrays.items() if k.startswith(prefix)}  # noqa
        with self._lock:
            self.cuts.load(state.values["cuts"], part("cuts."))
            self.activity.load(state.values["activity"], part("activity."))
            self._pending = []
