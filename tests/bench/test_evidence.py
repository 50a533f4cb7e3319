"""Item 15: each alert's video cut from the ring and written by the real recorder, its figures from what was
written."""
from bench.evidence import evidence_cost
from stream.config import EvidenceConfig


def test_a_longer_alert_makes_a_bigger_video_and_the_ring_is_its_frames(videos):
    config = EvidenceConfig(before=2.0, after=2.0, max_seconds=15.0, side=160)
    x = evidence_cost(str(videos / "bottle-detection.mp4"), [(3.0, 4.0), (10.0, 36.0)], 1, 1.0, config)
    assert (x["alerts"], x["written"], x["empty"], x["failed"], x["dropped"]) == (2, 2, 0, 0, 0)
    short, long = x["rows"]
    assert (short["span_s"], long["span_s"]) == (1.0, 26.0)
    # The clip's samples at 1 fps fall at 1.01, 2.01, ... 6.0, ... 24.0, 25.01 s: [1, 6] s holds 6 of them (before,
    # span, after); the long video stops at max_seconds after its alert, [8, 25] s, 17 frames.
    assert short["frames"] == 6 and long["frames"] == 17
    assert 0 < short["bytes"] < long["bytes"] and x["bytes_max"] == long["bytes"]
    assert x["bytes_per_hour_continuous"] == round((short["bytes"] + long["bytes"]) / 23 * 3600)
    assert x["cpu_s"] > 0 and x["cpu_s_per_video_hour"] > 0
    # The ring holds ring_seconds of frames at the rate, each at most `side` on its longest side.
    assert x["ring_frames"] == config.ring_seconds + 1 and max(x["ring_h"], x["ring_w"]) == config.side
    assert x["ring_bytes"] == x["ring_nbytes"] == x["ring_frames"] * x["ring_h"] * x["ring_w"] * 3
