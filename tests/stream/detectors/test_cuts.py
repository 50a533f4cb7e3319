"""Scene cuts from PySceneDetect, frame by frame: frame-accurate on the real edited clips, none on the others; a fade
is not a cut; a restored detector continues exactly."""
import cv2
import numpy as np

from bench.score import f1
from stream.analyzer import FrameAnalyzer
from stream.config import CutConfig, EventConfig
from stream.detectors import Look
from stream.detectors.cuts import CutDetector
from tests.stream.scenery import feed, scene

FPS = 25.0


def test_a_hard_cut_is_found_at_its_frame_and_a_fade_is_not_a_cut():
    a, b = scene(1), scene(2)
    frames = [(i / FPS, a) for i in range(50)] + [(i / FPS, b) for i in range(50, 100)]
    cuts = [t for k, t in feed(FrameAnalyzer(EventConfig()), frames) if k == "scene_change"]
    assert cuts == [2.0]
    black = np.zeros_like(a)                              # fade in from black over a second, then hold
    fade = [(i / FPS, cv2.addWeighted(a, min(1.0, i / FPS), black, 1 - min(1.0, i / FPS), 0)) for i in range(75)]
    assert not [k for k, _ in feed(FrameAnalyzer(EventConfig()), fade) if k == "scene_change"]


def test_cuts_closer_than_the_minimum_scene_are_one_transition():
    a, b, c = scene(1), scene(2), scene(3)
    frames = [(i / FPS, a) for i in range(25)] + [(25 / FPS, b)] + [(i / FPS, c) for i in range(26, 60)]
    cuts = [t for k, t in feed(FrameAnalyzer(EventConfig(cuts=CutConfig(min_scene=0.5))), frames)
            if k == "scene_change"]
    assert cuts == [1.0]                                 # the one-frame flash of b does not make a second cut


def test_no_cut_within_the_minimum_scene_of_the_first_frame():
    """The stream's first frame starts a scene: a change 0.2 s into it (a camera settling) is no cut, one at 2 s
    is."""
    a, b, c = scene(1), scene(2), scene(3)
    frames = [(i / FPS, a) for i in range(5)] + [(i / FPS, b) for i in range(5, 50)] + \
        [(i / FPS, c) for i in range(50, 75)]
    cuts = [t for k, t in feed(FrameAnalyzer(EventConfig(cuts=CutConfig(min_scene=0.5))), frames)
            if k == "scene_change"]
    assert cuts == [2.0]


def test_a_restored_detector_continues_exactly():
    a, b = scene(1), scene(2)
    frames = [(i / FPS, a if i < 40 or 41 < i < 60 else b) for i in range(100)]
    whole = CutDetector(EventConfig())
    expect = [t for t, f in frames if whole.see(Look(cv2.resize(f, (160, 90)), t))]
    first = CutDetector(EventConfig())
    got = [t for t, f in frames[:30] if first.see(Look(cv2.resize(f, (160, 90)), t))]
    second = CutDetector(EventConfig())
    second.restore(*first.state())
    got += [t for t, f in frames[30:] if second.see(Look(cv2.resize(f, (160, 90)), t))]
    assert got == expect and len(expect) == 2


def test_cuts_on_the_real_clips(videos, annotations):
    for name, truth in annotations.items():
        if name.startswith("_"):
            continue
        cap, analyzer, frames = cv2.VideoCapture(str(videos / name)), FrameAnalyzer(EventConfig()), []
        fps = cap.get(cv2.CAP_PROP_FPS)
        i = 0
        while cap.grab():
            frames.append((i / fps, cap.retrieve()[1]))
            i += 1
        cuts = [t for k, t in feed(analyzer, frames) if k == "scene_change"]
        score = f1(cuts, truth["cuts"], 0.1)             # frame-accurate: within 0.1 s
        if truth["camera"] == "edited":
            assert score["f1"] == 1.0, (name, cuts)
        else:
            assert cuts == [], (name, cuts)              # a fixed or handheld camera has no cut


def test_fading_through_black_is_not_a_cut_anywhere_in_a_stream():
    """Not only at the start: out of a scene to black and back into another, and a hold on black."""
    a, b = scene(1), scene(2)
    black = np.zeros_like(a)
    frames = [(i / FPS, a) for i in range(100)]                              # 4 s of a scene
    frames += [(i / FPS, cv2.addWeighted(a, 1 - (i - 100) / 12, black, (i - 100) / 12, 0)) for i in range(100, 112)]
    frames += [(i / FPS, black) for i in range(112, 137)]                    # a second of black
    frames += [(i / FPS, cv2.addWeighted(b, (i - 137) / 12, black, 1 - (i - 137) / 12, 0)) for i in range(137, 150)]
    frames += [(i / FPS, b) for i in range(150, 200)]
    assert not [t for k, t in feed(FrameAnalyzer(EventConfig()), frames) if k == "scene_change"]


def test_a_dark_noisy_camera_reports_no_cuts():
    rng = np.random.default_rng(0)
    frames = [(i / FPS, np.clip(rng.normal(4, 3, (90, 160, 3)), 0, 255).astype(np.uint8)) for i in range(250)]
    assert not [t for k, t in feed(FrameAnalyzer(EventConfig()), frames) if k == "scene_change"]
