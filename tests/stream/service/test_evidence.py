"""Alerts' videos: the ring is bounded by time, a video covers its alert's span with `before` and `after`, keeps
each frame's own time, is written off the caller's thread, and a watched camera stores one per alert."""
import io
import threading

import av
import numpy as np
import pytest

from stream.config import AlertConfig, EvidenceConfig
from stream.detectors.activity import START as ACTIVITY_START
from stream.service.alerts import Alert
from memory.clip import Keyframe
from stream.service.evidence import EvidenceRecorder, FrameRing, keyframes_mp4, small


def frames_of(mp4: bytes) -> list[tuple[float, np.ndarray]]:
    """(seconds from the start, RGB frame) of each decoded frame."""
    with av.open(io.BytesIO(mp4)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        return [(float(f.pts * f.time_base), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def frame(i: int, h: int = 360, w: int = 640) -> np.ndarray:
    """A frame whose brightness says which it is (i * 10)."""
    return np.full((h, w, 3), min(250, i * 10), np.uint8)


def test_small_keeps_the_aspect_and_even_sides():
    assert small(frame(0, 721, 1281), 480).shape == (270, 480, 3)
    assert small(frame(0, 100, 64), 480).shape == (100, 64, 3)        # never enlarged


def test_a_clips_keyframes_play_at_their_own_times():
    import cv2
    keyframes = [Keyframe(t, None, cv2.imencode(".jpg", frame(i, 240, 320))[1].tobytes())
                 for i, t in enumerate([10.0, 11.5, 14.0, 17.0], start=3)]
    got = frames_of(keyframes_mp4(keyframes, EvidenceConfig(side=160)))
    assert [round(t, 2) for t, _ in got] == [0.0, 1.5, 4.0, 7.0]
    assert got[0][1].shape == (120, 160, 3)
    assert [round(float(f.mean()) / 10) for _, f in got] == [3, 4, 5, 6]     # each keyframe, in order


def test_a_stored_clip_plays_as_the_alert_video_over_it_else_as_its_keyframes(tmp_path):
    import cv2

    from memory.clip import Evidence
    from stream.service.evidence import clip_video
    from tests.memory.test_store import make_clip, open_store
    store = open_store(tmp_path)
    jpeg = cv2.imencode(".jpg", frame(5, 240, 320))[1].tobytes()
    ids = []
    for i in range(3):                          # clips at 0-7, 8-15, 16-23 s, two keyframes each
        c = make_clip(i)
        c.keyframes = [Keyframe(c.start + 1, None, jpeg), Keyframe(c.start + 4, None, jpeg)]
        ids.append(store.add(c))
    store.add_evidence(Evidence("a1", "cam", 5.0, 13.0, b"mp4 of a1", 8))
    clips = store.get(ids)
    config = EvidenceConfig(side=160)
    first, second, third = (clip_video(store, c, config) for c in clips)
    assert (first.alert, first.mp4, first.offset) == ("a1", b"mp4 of a1", 0.0)       # 2 s of it over 0-7
    assert (second.alert, second.offset) == ("a1", 3.0)                              # starts 3 s into it
    assert third.alert is None and [round(t, 2) for t, _ in frames_of(third.mp4)] == [0.0, 3.0]


def test_the_ring_holds_only_its_seconds():
    ring = FrameRing(seconds=10.0, side=64)
    for t in range(30):
        ring.push(float(t), None, frame(t))
    assert [f.time for f in ring.between(0, 100)] == [float(t) for t in range(19, 30)]
    assert ring.nbytes() == 11 * 36 * 64 * 3                          # 11 frames of 36 x 64 (from 360 x 640)


class Store:
    def __init__(self):
        self.videos, self.threads, self.written = {}, set(), threading.Event()

    def __call__(self, video):
        self.threads.add(threading.current_thread().name)
        self.videos[video.alert] = video
        self.written.set()


def test_an_activity_alerts_video_runs_from_before_its_start_to_after_its_end():
    store = Store()
    rec = EvidenceRecorder("door", EvidenceConfig(before=3, after=2, side=64), store)
    alert = Alert(ACTIVITY_START, "door", 10.0, "Activity started")
    for t in range(0, 30):
        rec.push(t * 0.5, 1e9 + t * 0.5, frame(t))          # 2 fps, 0-14.5 s
        if t * 0.5 == 10.0:
            rec.raised(alert)
    assert not store.written.wait(0.3) and rec.pending(alert.id)    # the span is still open: nothing yet
    rec.span_ended(12.0)
    for t in range(30, 34):
        rec.push(t * 0.5, None, frame(t))                   # up to 16.5 s: past 12 + 2
    assert store.written.wait(10)
    video = store.videos[alert.id]
    assert (video.start, video.end, video.frames) == (7.0, 14.0, 15) and video.wall_start == 1e9 + 7.0
    got = frames_of(video.mp4)
    assert [t for t, _ in got] == [i * 0.5 for i in range(15)]     # each frame at its own time
    assert abs(float(got[0][1].mean()) - 140) < 8 and abs(float(got[-1][1].mean()) - 250) < 8   # frames 14 and 28
    assert store.threads == {"vigil-evidence-door"} and rec.stats().written == 1
    rec.close()


def test_a_gap_keeps_its_time_and_close_writes_what_waits_with_the_frames_there_are():
    store = Store()
    rec = EvidenceRecorder("cam", EvidenceConfig(before=1, after=60, max_seconds=120, side=64), store)
    for t in [0, 1, 2, 6, 7]:                               # 3 s with no frame (a reconnect)
        rec.push(float(t), None, frame(t))
    rec.raised(Alert("scene_change", "cam", 1.0, "Scene changed"))
    rec.close()                                             # the stream ended before 1 + 60
    (video,) = store.videos.values()
    assert [t for t, _ in frames_of(video.mp4)] == [0.0, 1.0, 2.0, 6.0, 7.0]


def test_a_full_queue_drops_the_oldest_and_an_empty_span_writes_nothing():
    store = Store()
    rec = EvidenceRecorder("cam", EvidenceConfig(queue=2, side=64), store)
    alerts = [Alert(ACTIVITY_START, "cam", float(t), "Activity started") for t in (100, 101, 102)]
    for a in alerts:
        rec.raised(a)                                       # no frame yet: all wait
    assert rec.stats().dropped == 1 and not rec.pending(alerts[0].id) and rec.pending(alerts[2].id)
    rec.close()                                             # nothing in the ring for them
    assert store.videos == {} and rec.stats().empty == 2


def test_a_store_that_refuses_costs_the_video_not_the_recorder():
    def refuse(video):
        raise OSError(28, "No space left on device")
    rec = EvidenceRecorder("cam", EvidenceConfig(before=0, after=0, side=64), refuse)
    rec.push(0.0, None, frame(0))
    rec.raised(Alert("scene_change", "cam", 0.0, "Scene changed"))
    rec.close()
    st = rec.stats()
    assert st.failed == 1 and "No space left" in st.last_error and st.written == 0


def test_a_watched_camera_stores_a_video_for_each_activity_alert(llm, embedder, model_config, videos, tmp_path):
    from stream.engine import Engine, EngineConfig
    from stream.service.watch import Watcher, WatchSpec
    engine = Engine(EngineConfig(model=model_config), llm=llm, embedder=embedder)
    spec = WatchSpec(name="room", source=str(videos / "one-by-one-person-detection.mp4"), memory=str(tmp_path / "m"),
                     realtime=False, alerts=AlertConfig(scene_changes=False, describe=False,
                                                        evidence=EvidenceConfig(before=2, after=2, max_seconds=30)),
                     video_url="http://vigil.local/api/v1/alerts/{id}/clip.mp4")
    w = Watcher(engine, spec).start()
    w.join(300)
    alerts = [a for a in w.alerts() if a.kind == ACTIVITY_START]
    assert len(alerts) >= 5                                 # six visits (annotations.json)
    spans = []
    for a in alerts:
        assert a.video == f"http://vigil.local/api/v1/alerts/{a.id}/clip.mp4" and a.to_json()["video"] == a.video
        video = w.video(a.id)
        assert video is not None and video.start <= a.time - 1.0 and video.end <= a.time + 30 + 1e-6
        got = frames_of(video.mp4)
        assert len(got) == video.frames and got[-1][0] == pytest.approx(video.end - video.start, abs=0.01)
        spans.append((video.start, video.end))
    # Each visit's video lasts past its start by more than `after`: it runs to the end of the visit.
    assert all(end - start > 2 + 2 + 1 for start, end in spans)
    st = w.evidence.stats()
    assert st.written == len(alerts) and st.failed == 0
    assert w.session.store.evidence_bytes("room") == (len(alerts), st.bytes)
    w.close()
