"""Every decoded frame of a stream, analysed where it is decoded (the file decoder, a live stream's reader thread)
on a small image by the registered detectors (`stream.detectors`: scene cuts, activity). Model-independent: the
same footage gives the same events whichever vision tower is loaded.

Events wait in the analyzer until the source hands them over with the next sampled frame (`take`), so the loop
sees every event with the step it belongs to, frame-accurate, even while the model is busy elsewhere.
"""
import threading
from dataclasses import dataclass, field

import numpy as np

from stream.config import EventConfig
from stream.detectors import Detector, Look, detector_classes
from stream.events import Event
from stream.sources import shrink


@dataclass
class AnalyzerState:
    """A copy of an analyzer's state, for a resume point (JSON-able values, arrays): each detector's under its name,
    its arrays as "<name>.<array>"."""
    values: dict
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


class FrameAnalyzer:
    def __init__(self, config: EventConfig):
        self.config = config
        self.detectors: list[Detector] = [cls(config) for cls in detector_classes()]
        self._pending: list[Event] = []
        self._lock = threading.Lock()            # a live source's reader thread feeds it; the loop takes from it

    def reset(self) -> None:
        """Forget the stream seen so far, as a new stream would (a looped file jumping back to its start: a cut,
        not motion). Events not taken yet are dropped with it."""
        with self._lock:
            self.detectors = [cls(self.config) for cls in detector_classes()]
            self._pending = []

    def detector(self, name: str) -> Detector:
        """The running detector registered as `name` (its state, for a test or a bench)."""
        return next(d for d in self.detectors if d.name == name)

    def small(self, bgr: np.ndarray) -> np.ndarray:
        """A frame [H, W, 3] at the analysis size (longest side `config.side`), area-filtered."""
        return shrink(bgr, self.config.side)

    def see(self, bgr: np.ndarray, t: float) -> None:
        """One decoded frame [H, W, 3] BGR uint8 at source time t (seconds, increasing)."""
        look = Look(self.small(bgr), t)
        with self._lock:
            new_scene = False
            for d in self.detectors:                 # a cut, found first, makes the others start over on this frame
                events = d.new_scene(look) if new_scene else d.see(look)
                new_scene = new_scene or (d.starts_scene and bool(events))
                self._pending += events

    def take(self) -> list[Event]:
        """The events found since the last take, in time order."""
        with self._lock:
            events, self._pending = self._pending, []
        return sorted(events, key=lambda e: e.time)

    def finish(self) -> list[Event]:
        """The end of the stream: what was not taken yet, and what the detectors close (an open activity)."""
        with self._lock:
            for d in self.detectors:
                self._pending += d.finish()
        return self.take()

    def snapshot(self) -> AnalyzerState:
        """The state now (events waiting to be taken are not part of it: take them first)."""
        values, arrays = {}, {}
        with self._lock:
            for d in self.detectors:
                v, a = d.state()
                values[d.name] = v
                arrays |= {f"{d.name}.{k}": x for k, x in a.items()}
        return AnalyzerState(values=values, arrays=arrays)

    def restore(self, state: AnalyzerState) -> None:
        """Continue from a snapshot; a detector registered since it was taken starts fresh."""
        with self._lock:
            for d in self.detectors:
                if d.name in state.values:
                    prefix = d.name + "."
                    d.restore(state.values[d.name],
                              {k[len(prefix):]: v for k, v in state.arrays.items() if k.startswith(prefix)})
            self._pending = []
