from stream.config import EventConfig
from stream.events import EventDetector


def feed(motion, presence=None, colors=None, cfg=EventConfig()):
    """Steps 2 s apart (1 s shown each); returns (kind, time) of every event."""
    d, out = EventDetector(cfg, seconds_per_step=2.0), []
    presence = presence or [0.0] * len(motion)
    colors = colors or [0.0] * len(motion)
    for i, (m, p, color) in enumerate(zip(motion, presence, colors)):
        cut = i > 0 and d.is_cut(m, color)
        out += [(e.kind, e.time) for e in d.update(2.0 * i, 2.0 * i + 1, m, p, cut, whole=(i == 0))]
    return out + [(e.kind, e.time) for e in d.finish()]


def test_activity_is_presence_so_a_visitor_standing_still_is_one_activity():
    motion = [1.0, 0.0, 0.2, 0.3, 0.0, 0.0, 0.0, 0.2, 0.0, 0.0]
    presence = [0.0, 0.0, 0.2, 0.3, 0.3, 0.3, 0.3, 0.2, 0.0, 0.0]    # enters, stands still, leaves
    assert feed(motion, presence) == [("activity_start", 4.0), ("activity_end", 15.0)]


def test_a_noisy_camera_raises_the_bar_to_its_floor():
    noise = [0.0] + [0.12, 0.14, 0.11, 0.13] * 3
    quiet = feed([0.1] * len(noise), noise)
    assert quiet == []                                               # 0.14 is noise here, though above 0.05
    hand = feed([0.1] * 15, noise + [0.35, 0.12])
    assert hand == [("activity_start", 26.0), ("activity_end", 27.0)]


def test_a_scene_settles_after_stillness():
    d = EventDetector(EventConfig(settle=20.0), seconds_per_step=2.0)
    d.update(0, 1, 1.0, 0.0, cut=False, whole=True)
    for i in range(1, 12):
        d.update(2.0 * i, 2.0 * i + 1, 0.0, 0.3, cut=False)
        assert d.settled(2.0 * i + 1) == (2.0 * i + 1 - 1.0 >= 20.0)      # still since the first step ended
    d.update(24, 25, 0.5, 0.3, cut=False)                            # motion again: not settled
    assert not d.settled(25)


def test_cuts_in_a_row_are_each_found_and_busy_scenes_are_not_cuts():
    cuts = feed([1.0, 0.9, 0.85, 0.9], colors=[0, 0.8, 0.6, 0.7])
    assert [t for k, t in cuts if k == "scene_change"] == [2.0, 4.0, 6.0]
    busy = feed([1.0, 0.9, 0.95, 0.6, 0.5, 0.62], colors=[0, 0.3, 0.4, 0.2, 0.1, 0.3])   # tokens change, colours stay
    assert not [e for e in busy if e[0] == "scene_change"]
    dark = feed([1.0, 0.3, 0.2], colors=[0, 0.9, 0.8])                                    # colours change, few tokens
    assert not [e for e in dark if e[0] == "scene_change"]
