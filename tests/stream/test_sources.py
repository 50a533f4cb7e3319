import numpy as np
import pytest

from stream.sources import FileSource, PushSource, SourceError, sample_indices, sample_live


def test_sampling_uses_presentation_times_for_variable_frame_rate():
    # 10 fps for 1 s, then 2 fps: a constant-rate assumption would put frame 12 at 1.2 s, it is shown at 2.0 s.
    pts = np.concatenate([np.arange(0, 1, 0.1), np.arange(1.0, 4.01, 0.5)])
    idx = sample_indices(pts, fps=1.0)
    assert pts[idx].tolist() == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])


def test_sampling_keeps_the_last_frame_when_the_grid_misses_the_end():
    pts = np.arange(0, 9.97, 0.04)                      # a 10 s clip at 25 fps: last frame at 9.96 s
    assert pts[sample_indices(pts, fps=1.0)][-2:].tolist() == pytest.approx([9.0, 9.96])
    assert pts[sample_indices(pts, fps=2.0)][-2:].tolist() == pytest.approx([9.52, 9.96])
    near = np.arange(0, 9.21, 0.04)                     # ends 0.2 s after a sample: nothing added
    assert pts[sample_indices(near, fps=1.0)][-1] == pytest.approx(9.0)


def test_file_source_times_and_size(videos):
    src = FileSource(str(videos / "bikes.mp4"), fps=2.0)
    frames = list(src.frames())
    times = [f.time for f in frames]
    assert len(frames) == 21 and times == sorted(times)
    assert all(abs(t - i * 0.5) < 0.05 for i, t in enumerate(times[:20])) and times[20] > 9.9   # and the last frame
    assert frames[0].image.shape == (272, 640, 3) and frames[0].image.dtype == np.uint8
    assert src.duration == pytest.approx(10.0, abs=0.1)


def test_frame_times_are_the_containers_decimals_not_float32_noise(videos):
    """decord gives float32 seconds; bikes.mp4's frames are 0.04 s apart, and a time must read as 7.04, not
    7.039999961853027 (two events 10 s apart once came out 9.9999995 s apart, under a 10 s cooldown)."""
    src = FileSource(str(videos / "bikes.mp4"), fps=25.0)
    times = [f.time for f in src.frames()]
    assert len(times) > 200 and all(t == round(t, 2) for t in times) and 7.04 in times
    assert all(abs((b - a) - 0.04) < 1e-9 for a, b in zip(times, times[1:]))


def test_mkv_and_avi_open(videos):
    for name in ("flipping_a_pancake.mkv", "vtest.avi"):
        frames = list(FileSource(str(videos / name), fps=0.5).frames())
        assert len(frames) >= 5


@pytest.mark.parametrize("content", [None, b"", b"this is not a video" * 100])
def test_bad_files_raise_one_line_errors(tmp_path, content):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError) as e:
        FileSource(str(path), fps=1.0)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_live_sampling_skips_slots_instead_of_queueing():
    now = [0.0]
    clock = lambda: now[0]
    src = PushSource(clock=clock)
    frames = sample_live(src, fps=1.0, clock=clock)
    a, b, c = (np.full((4, 4, 3), v, np.uint8) for v in (1, 2, 3))
    src.push(a)
    frame = next(frames)
    skipped = frame.skipped
    assert frame.image[0, 0, 0] == 1 and skipped == 0
    now[0] = 3.5                      # the consumer was busy for 3.5 periods; two frames came meanwhile
    src.push(b)
    src.push(c)
    frame = next(frames)
    skipped = frame.skipped
    assert frame.image[0, 0, 0] == 3 and skipped == 2   # only the latest frame, and the slots it missed
    src.close()
    assert next(frames, None) is None


def test_a_pushed_frame_carries_its_wall_time(monkeypatch):
    """When it arrived, by the wall clock (a live clip's local date and time), or when the pusher says it was
    taken; stream time stays the source's own clock."""
    import time
    src = PushSource(clock=lambda: 5.0)
    monkeypatch.setattr(time, "time", lambda: 1795356190.5)
    src.push(np.zeros((4, 4, 3), np.uint8))
    frame, _ = src.read_latest()
    assert frame.wall == 1795356190.5 and frame.time == 0.0
    src.push(np.zeros((4, 4, 3), np.uint8), t=2.0, wall=1795356100.0)
    frame, _ = src.read_latest()
    assert frame.wall == 1795356100.0 and frame.time == 2.0


def test_push_rejects_wrong_frames():
    with pytest.raises(SourceError):
        PushSource().push(np.zeros((4, 4), np.uint8))


def test_a_file_played_live_keeps_the_events_of_frames_it_skips():
    """A consumer that falls behind skips frames, not the events found on them (a cut must still close a clip)."""
    import threading
    from stream.events import Event
    from stream.sources import Frame, paced
    img = np.zeros((4, 4, 3), np.uint8)
    frames = [Frame(img, 0.0, []), Frame(img, 1.0, [Event("scene_change", 0.7)]), Frame(img, 2.0, [])]
    now = iter([0.0, 2.5, 2.5])                           # the loop is 1.5 s late when frame 1 is due
    out = list(paced(iter(frames), 1.0, threading.Event(), t0=0.0, clock=lambda: next(now)))
    assert [f.time for f in out] == [0.0, 2.0]
    assert [e.kind for e in out[1].events] == ["scene_change"] and out[1].skipped == 1
