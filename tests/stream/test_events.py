from stream.config import EventConfig
from stream.events import EventDetector


def feed(series, colors=None, cfg=EventConfig()):
    d, out = EventDetector(cfg), []
    colors = colors or [0.0] * len(series)
    for i, (share, color) in enumerate(zip(series, colors)):
        cut = i > 0 and d.is_cut(share, color)
        out += [(e.kind, e.time) for e in d.update(2.0 * i, 2.0 * i + 1, share, cut, whole=(i == 0))]
    return out + [(e.kind, e.time) for e in d.finish()]


def test_activity_hysteresis_and_hold():
    ev = feed([1.0, 0.0, 0.1, 0.05, 0.0, 0.0, 0.2, 0.0])
    assert ev == [("activity_start", 4.0), ("activity_end", 7.0), ("activity_start", 12.0), ("activity_end", 13.0)]


def test_cuts_in_a_row_are_each_found_and_busy_scenes_are_not_cuts():
    assert [t for k, t in feed([1.0, 0.9, 0.85, 0.9], [0, 0.8, 0.6, 0.7]) if k == "scene_change"] == [2.0, 4.0, 6.0]
    busy = feed([1.0, 0.9, 0.95, 0.6, 0.5, 0.62], [0, 0.3, 0.4, 0.2, 0.1, 0.3])      # tokens change, colours stay
    assert not [e for e in busy if e[0] == "scene_change"]
    dark = feed([1.0, 0.3, 0.2], [0, 0.9, 0.8])                                         # colours change, few tokens
    assert not [e for e in dark if e[0] == "scene_change"]
