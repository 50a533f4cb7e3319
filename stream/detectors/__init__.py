"""The detectors every stream's FrameAnalyzer runs on each decoded frame, in order (a detector whose events begin a
scene comes before those that start over on one). A new detector is one file in this folder holding a
`stream.detectors.base.Detector` and one line here; the alerts it raises (its `alerts`) reach the alerter, the
verifier and the page from here, and its state rides in resume points under its name."""
import importlib
import threading

from stream.detectors.base import AlertKind, Detector, Look

# name -> (module, class), in the order they see a frame
DETECTORS = {
    "cuts": ("stream.detectors.cuts", "CutDetector"),
    "activity": ("stream.detectors.activity", "ActivityDetector"),
}
_lock = threading.Lock()
_loaded: dict[str, type] = {}

__all__ = ["DETECTORS", "AlertKind", "Detector", "Look", "alert_kinds", "detector_classes"]


def detector_classes() -> list[type[Detector]]:
    """The registered detector classes, in order."""
    with _lock:
        for name, (module, cls) in DETECTORS.items():
            if name not in _loaded:
                _loaded[name] = getattr(importlib.import_module(module), cls)
        return [_loaded[name] for name in DETECTORS]


def alert_kinds() -> dict[str, tuple[str, AlertKind]]:
    """Every event kind that is an automatic alert: kind -> (the detector's name, how it is told)."""
    return {kind: (cls.name, how) for cls in detector_classes() for kind, how in cls.alerts.items()}
