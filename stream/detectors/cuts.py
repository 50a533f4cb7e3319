"""Scene cuts, frame by frame, from PySceneDetect's ContentDetector (a well-kept library: it scores HSV distance
between consecutive frames, and tells a cut from a fade or a focus pull better than our own colour-jump rule did).

Fed every decoded frame at the analysis size, so a cut's time is the time of the first frame of the new scene,
not a sampling interval later. The library's minimum-scene filter counts frames; ours counts seconds, so a live
camera at a varying frame rate behaves the same.
"""
import math

import numpy as np
from scenedetect.common import FrameTimecode
from scenedetect.detectors.content_detector import ContentDetector

from stream.config import EventConfig
from stream.detectors.base import AlertKind, Detector, Look
from stream.events import Event

SCENE_CHANGE = "scene_change"

_RATE = 1000.0   # frame numbers only tie the library's calls in order; times are ours


class CutDetector(Detector):
    name = "cuts"
    alerts = {SCENE_CHANGE: AlertKind("Scene change", "Scene change", "scene change")}
    starts_scene = True

    def __init__(self, config: EventConfig):
        self.config = config.cuts
        self._detector: ContentDetector | None = None
        self._last: np.ndarray | None = None        # the last frame seen [h, w, 3] BGR uint8: all the state it needs
        self._n = 0
        self.last_cut = -math.inf

    def _dark(self, bgr: np.ndarray) -> bool:
        return float(bgr.max(axis=2).mean()) < self.config.dark     # HSV value = max(B, G, R)

    def see(self, look: Look) -> list[Event]:
        """A scene change when a cut happens at this frame (it is the first frame of a new scene)."""
        small_bgr, t = look.small, look.t
        if self._last is not None and self._last.shape != small_bgr.shape:
            self._detector = None                   # the source changed size: start over, not a cut
        dark = self._last is not None and (self._dark(self._last) or self._dark(small_bgr))
        if self._detector is None:
            self._detector = ContentDetector(threshold=self.config.threshold, min_scene_len=0)
            self.last_cut = t                       # the first frame starts a scene (as the library's filter has it)
        cut = self._detector.process_frame(FrameTimecode(self._n, _RATE), small_bgr)
        self._n += 1
        self._last = small_bgr
        if cut and not dark and t - self.last_cut >= self.config.min_scene:
            self.last_cut = t
            return [Event(SCENE_CHANGE, t)]
        return []

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {"last_cut": None if math.isinf(self.last_cut) else self.last_cut}, \
            ({"last": self._last.copy()} if self._last is not None else {})

    def restore(self, values: dict, arrays: dict[str, np.ndarray]) -> None:
        """Where `state` was taken: a new detector primed with the last frame holds exactly what the old one did."""
        self.last_cut = -math.inf if values["last_cut"] is None else values["last_cut"]
        self._detector, self._last, self._n = None, None, 0
        if "last" in arrays:
            self._detector = ContentDetector(threshold=self.config.threshold, min_scene_len=0)
            self._detector.process_frame(FrameTimecode(0, _RATE), arrays["last"])
            self._last, self._n = arrays["last"], 1
