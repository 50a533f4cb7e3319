"""The frame-detector seam: what the stream's FrameAnalyzer asks of each detector it runs on every decoded frame.

A detector is fed every decoded frame at the analysis size, where the frame is decoded: in the file decoder, in a
live source's reader thread, as frames are pushed. So `see` must be cheap (about a millisecond), must not block, and
must not touch the video LLM or the embedder: a reader thread that waits for the model drops frames. A detector
that needs a model (a person detector, a CLIP check) finds its candidates from pixels in `see` and hands the model
work to the engine, which runs it under its `stream.scheduler.ModelGate` between encodes and answers, as rule
checks do (`stream.service.verifier`); it never calls a model from here.

Its state must survive a restart: `state` gives JSON-able values and numpy arrays (stored in the stream's resume
point under the detector's `name`), `restore` takes them back, and a restored detector continues exactly.
"""
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from stream.events import Event


@dataclass
class Look:
    """One decoded frame as detectors see it."""
    small: np.ndarray       # [h, w, 3] BGR uint8, longest side EventConfig.side
    t: float                # source time, seconds, increasing

    @cached_property
    def grey(self) -> np.ndarray:
        """[h, w] float32, blurred against sensor noise; made once however many detectors read it."""
        return cv2.GaussianBlur(cv2.cvtColor(self.small, cv2.COLOR_BGR2GRAY).astype(np.float32), (3, 3), 0)


@dataclass(frozen=True)
class AlertKind:
    """An event kind that is an automatic alert, and how people are told of it."""
    title: str              # the alert's title ("Activity started")
    short: str              # its label in the page's alert feed ("Activity")
    what: str               # what the video LLM is asked to describe ("activity started")


class Detector:
    """Events from pixels, frame by frame. Subclasses set `name` and, for kinds that are automatic alerts, `alerts`;
    they take the stream's EventConfig and read their own part of it (or their own defaults)."""
    name: str = ""                                       # its key in resume points and in AlertConfig.enabled
    alerts: dict[str, AlertKind] = {}                    # event kind -> AlertKind (read only: a class constant)
    starts_scene: bool = False                           # True: its events begin a new scene (the cut detector)

    def see(self, look: Look) -> list[Event]:
        """The events this frame raises."""
        raise NotImplementedError

    def new_scene(self, look: Look) -> list[Event]:
        """This frame begins a new scene (a detector with `starts_scene` said so earlier in the same frame). By
        default just another frame; a detector that models the scene starts over on it."""
        return self.see(look)

    def finish(self) -> list[Event]:
        """The end of the stream: close what is open (an activity still going)."""
        return []

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able values, arrays) to continue from."""
        return {}, {}

    def restore(self, values: dict, arrays: dict[str, np.ndarray]) -> None:
        """Continue from what `state` gave."""
