"""Activity from pixels at frame rate: presence of a visitor standing still, a mover that leaves, lighting, noise,
the hold at 2 fps, the real fixed-camera clips, and independence from the vision tower."""
import numpy as np
import pytest

from bench.score import f1
from stream.analyzer import FrameAnalyzer
from stream.config import ActivityConfig, EventConfig
from tests.stream.scenery import feed, noisy, scene, with_box

FPS = 10.0


def clip(seconds: float, at):
    """(time, frame) pairs at FPS; `at(t)` draws the frame for time t."""
    return [(i / FPS, at(i / FPS)) for i in range(int(seconds * FPS))]


def starts_and_ends(events):
    return [(k, t) for k, t in events if k.startswith("activity")]


def test_a_visitor_who_stands_still_is_one_activity():
    bg = scene(0)

    def at(t):                                   # walks in from the left at 5 s, stands at x=140 from 7 s to 22 s,
        if t < 5 or t >= 24:                     # walks out by 24 s
            return bg
        x = 140 + (min(0, t - 7) + max(0, t - 22)) * 70
        return with_box(bg, int(np.clip(x, 0, 280)), 70)
    events = starts_and_ends(feed(FrameAnalyzer(EventConfig()), clip(34, at)))
    assert [k for k, _ in events] == ["activity_start", "activity_end"], events
    assert abs(events[0][1] - 5.0) <= 0.5 and 22 <= events[1][1] <= 25


def test_what_a_mover_left_behind_becomes_the_scene():
    bg = scene(0)
    moved = with_box(bg, 200, 120, side=20, colour=(200, 200, 40))          # a bottle put down

    def at(t):
        if t < 5:
            return bg
        if t < 7:                                    # a hand comes in from the top, puts the bottle, goes
            return with_box(moved if t > 6 else bg, 195, int(max(0, (t - 5) * 90)) if t < 6 else int((7 - t) * 90))
        if 12 <= t < 13.5:                           # and comes back later for a second event
            return with_box(moved, 150, int(30 * (t - 12)))
        return moved
    events = starts_and_ends(feed(FrameAnalyzer(EventConfig()), clip(20, at)))
    assert [k for k, _ in events] == ["activity_start", "activity_end"] * 2, events
    assert events[1][1] < 9.0 and abs(events[2][1] - 12.0) <= 0.5      # the first ended soon after the hand left


def test_a_long_visit_on_a_busy_scene_ends_when_it_ends():
    """Leaves flicker over part of the picture all day; a visitor stays 80 s (longer than the floors' window):
    the floors frozen during the visit must not expire, or the flicker alone would hold the activity forever."""
    bg, rng = scene(0), np.random.default_rng(0)

    def at(t):
        frame = bg.copy()
        frame[:40, :100] = rng.integers(0, 255, (40, 100, 3))          # flicker in a corner, every frame
        if 70 <= t < 150:
            frame = with_box(frame, int(140 + 40 * np.sin(t)), 90)     # someone there, moving a little
        return frame
    events = starts_and_ends(feed(FrameAnalyzer(EventConfig()), clip(200, at)))
    assert [k for k, _ in events] == ["activity_start", "activity_end"], events
    assert abs(events[0][1] - 70) <= 1.0 and 149 <= events[1][1] <= 152


def test_a_light_switched_is_a_lighting_change_not_activity():
    bg = scene(0)
    dim = (bg * 0.6).astype(np.uint8)
    events = feed(FrameAnalyzer(EventConfig()), clip(20, lambda t: bg if t < 10 else dim))
    assert not starts_and_ends(events) and [k for k, _ in events] == ["lighting_change"], events
    assert events[0][1] == 10.0
    fade = feed(FrameAnalyzer(EventConfig()),                       # dimming over 1.5 s: one change, one event
                clip(20, lambda t: (bg * float(np.clip(1.3 - 0.45 * (t - 10), 0.4, 1.0))).astype(np.uint8)))
    assert [k for k, _ in fade] == ["lighting_change"], fade


def test_a_noisy_camera_raises_its_own_bar():
    """Heavy sensor noise (grey levels jump by ~12 every frame) is no activity; a person walking through is."""
    bg, rng = scene(0), np.random.default_rng(0)
    quiet = FrameAnalyzer(EventConfig())
    assert not starts_and_ends(feed(quiet, clip(30, lambda t: noisy(bg, 12.0, rng))))
    c = quiet.config.activity
    assert c.noise_k * quiet.detector("activity").noise > c.min_diff     # its bar rose above the floor of min_diff
    walker = clip(30, lambda t: noisy(with_box(bg, int((t - 15) * 80), 60) if 15 <= t < 19 else bg, 12.0, rng))
    events = starts_and_ends(feed(FrameAnalyzer(EventConfig()), walker))
    assert [k for k, _ in events] == ["activity_start", "activity_end"] and abs(events[0][1] - 15.0) <= 0.5


@pytest.mark.parametrize("gap, activities", [(0.5, 1), (3.0, 2)])
def test_the_hold_bites_at_2_fps_through_the_loop(llm, gap, activities):
    """Through the ingestion loop at 2 fps (the loop analyses the sampled frames itself): two crossings with an
    empty pause shorter than `hold` between them are one activity, with a longer pause two."""
    from stream.config import IngestConfig, SamplingConfig
    from stream.ingest import Ingestor
    from stream.sources import Frame
    cfg = IngestConfig(sampling=SamplingConfig(fps=2.0), events=EventConfig(activity=ActivityConfig(hold=1.0)))
    bg = scene(0)[..., ::-1].copy()                  # RGB, as sources give it

    def at(t):                                       # crosses left to right in 4 s, and again after `gap` seconds
        for start in (5.0, 9.0 + gap):
            if start <= t < start + 4.0:
                return with_box(bg, int((t - start) * 80), 70)
        return bg
    ing = Ingestor(llm, cfg)
    state = ing.new_state("s")
    frames = (Frame(at(i / 2.0), i / 2.0) for i in range(50))
    starts = [e.time for s in ing.run(frames, state) for e in s.events if e.kind == "activity_start"]
    assert len(starts) == activities, starts


def test_activity_on_the_real_fixed_camera_clips(videos, annotations):
    import cv2
    hits = truth = false = 0
    for name in ("one-by-one-person-detection.mp4", "bottle-detection.mp4"):
        cap, frames, i = cv2.VideoCapture(str(videos / name)), [], 0
        fps = cap.get(cv2.CAP_PROP_FPS)
        while cap.grab():
            frames.append((i / fps, cap.retrieve()[1]))
            i += 1
        starts = [t for k, t in feed(FrameAnalyzer(EventConfig()), frames) if k == "activity_start"]
        score = f1(starts, [s for s, _ in annotations[name]["events"]], 1.5)
        hits, truth, false = hits + score["hits"], truth + score["truth"], false + score["predicted"] - score["hits"]
        if name.startswith("one-by-one"):
            assert score["hits"] == 6 and score["predicted"] == 6, starts     # every visit, once
    assert hits >= 10 and false <= 1, (hits, truth, false)


def test_the_same_footage_gives_the_same_events_whichever_tower(videos, model_config, tmp_path):
    """Two different random vision towers: different tokens, identical events (they come from pixels)."""
    from models.loader import load_llm
    from models.tiny import build_tiny_qwen
    from dataclasses import replace
    from stream.config import IngestConfig
    from stream.ingest import Ingestor, Step
    from stream.sources import FileSource
    other = load_llm(replace(model_config, llm=str(build_tiny_qwen(tmp_path / "other", seed=1))))
    first = load_llm(model_config)
    path = str(videos / "bottle-detection.mp4")
    runs = []
    for llm in (first, other):
        ing = Ingestor(llm, IngestConfig())
        state = ing.new_state("s")
        steps = list(ing.run(FileSource(path, 1.0).attach(state.analyzer).frames(), state))
        runs.append(([(e.kind, e.time) for s in steps for e in s.events], [s.kept for s in steps if isinstance(s, Step)]))
    assert runs[0][0] == runs[1][0] and runs[0][0]
    assert runs[0][1] != runs[1][1]                  # the towers do differ


def test_on_a_quiet_scene_the_start_margin_still_holds_a_flicker_of_motion_back():
    """A still, noiseless scene (its motion floor and spread are 0) with a small thing drifting (under 1% of the
    picture): below the start margin, no activity; the same footage with the margin lowered starts one. So the
    margin, not the floor, is the bar on a quiet scene."""
    bg = scene(0)

    def at(t):
        return with_box(bg, int(20 + 10 * t), 80, side=14) if 5 <= t < 15 else bg
    frames = clip(20, at)
    quiet = starts_and_ends(feed(FrameAnalyzer(EventConfig()), frames))
    assert quiet == [], quiet
    low = EventConfig(activity=ActivityConfig(start_margin=0.001))
    assert [k for k, _ in starts_and_ends(feed(FrameAnalyzer(low), frames))][:1] == ["activity_start"]
