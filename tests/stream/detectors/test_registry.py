"""The detector seam: a detector registered in one line runs on every frame after the built-in ones, starts over on
a cut, rides in resume points under its name, and its alert kind reaches the alerter with its own title."""
import numpy as np

from stream import detectors
from stream.analyzer import FrameAnalyzer
from stream.config import AlertConfig, EventConfig
from stream.detectors import AlertKind, Detector, Look
from stream.events import Event
from stream.service.alerts import Alerter
from tests.stream.scenery import feed, scene

FPS = 10.0


class DarkDetector(Detector):
    """The scene goes dark (mean grey under 30): the smallest detector with an alert and a state."""
    name = "dark"
    alerts = {"dark": AlertKind("Lights out", "Dark", "the lights went out")}

    def __init__(self, config: EventConfig):
        self.dark, self.scenes = False, 0

    def see(self, look: Look) -> list[Event]:
        dark = float(look.grey.mean()) < 30
        went, self.dark = dark and not self.dark, dark
        return [Event("dark", look.t)] if went else []

    def new_scene(self, look: Look) -> list[Event]:
        self.scenes += 1
        return self.see(look)

    def state(self):
        return {"dark": self.dark, "scenes": self.scenes}, {"last": np.array([self.scenes])}

    def restore(self, values, arrays):
        self.dark, self.scenes = values["dark"], int(arrays["last"][0])


def registered(monkeypatch):
    monkeypatch.setitem(detectors.DETECTORS, "dark", (__name__, "DarkDetector"))


def test_a_new_detector_runs_after_the_cut_and_starts_over_on_it(monkeypatch):
    registered(monkeypatch)
    a, black = scene(1), np.zeros_like(scene(1))
    frames = [(i / FPS, a if i < 30 else scene(2) if i < 60 else black) for i in range(90)]
    analyzer = FrameAnalyzer(EventConfig())
    events = feed(analyzer, frames)
    assert [d.name for d in analyzer.detectors] == ["cuts", "activity", "dark"]
    assert ("scene_change", 3.0) in events and ("dark", 6.0) in events
    assert analyzer.detector("dark").scenes == 1          # the cut at 3 s, not the fade to black at 6 s


def test_its_state_rides_in_the_resume_point_and_an_older_one_leaves_it_fresh(monkeypatch):
    old = FrameAnalyzer(EventConfig())
    feed(old, [(i / FPS, scene(1)) for i in range(10)])
    before = old.snapshot()                                # taken before the detector was registered
    registered(monkeypatch)
    analyzer = FrameAnalyzer(EventConfig())
    analyzer.restore(before)                               # no "dark" in it: it starts fresh, the others continue
    assert analyzer.detector("dark").scenes == 0 and analyzer.detector("activity").background is not None
    analyzer.detector("dark").scenes, analyzer.detector("dark").dark = 4, True
    snap = analyzer.snapshot()
    assert snap.values["dark"] == {"dark": True, "scenes": 4} and "dark.last" in snap.arrays
    again = FrameAnalyzer(EventConfig())
    again.restore(snap)
    assert again.detector("dark").scenes == 4 and again.detector("dark").dark


def test_its_alert_kind_reaches_the_alerter(monkeypatch):
    registered(monkeypatch)
    assert detectors.alert_kinds()["dark"] == ("dark", DarkDetector.alerts["dark"])

    class At:                                             # a step as the alerter reads it: its events
        def __init__(self, *events):
            self.events = list(events)
    alerter = Alerter("cam", AlertConfig(scene_changes=False))
    out = alerter.update(At(Event("dark", 5.0), Event("scene_change", 5.0), Event("dark", 8.0)))
    assert [(a.kind, a.message) for a in out] == [("dark", "Lights out")]   # cuts off, the second within cooldown
    assert alerter.occurrence == 3
