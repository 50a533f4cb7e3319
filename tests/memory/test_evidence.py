"""Alerts' videos in the memory: stored and read back whole, counted in retention by bytes, deleted with the clips
of their time, and absent from an older memory read as it is."""
from memory.clip import Evidence
from memory.config import StoreConfig
from tests.memory.test_store import make_clip, open_store


def video(alert: str, start: float, size: int = 1000, stream: str = "cam") -> Evidence:
    return Evidence(alert=alert, stream=stream, start=start, end=start + 10, mp4=bytes([7]) * size, frames=10,
                    wall_start=1_800_000_000.0 + start)


def test_a_video_is_read_back_whole_after_reopen(tmp_path):
    store = open_store(tmp_path)
    store.add(make_clip(0))
    store.add_evidence(video("a1", 2.0))
    store.close()
    store = open_store(tmp_path, readonly=True)
    got = store.evidence("a1")
    assert got == video("a1", 2.0)
    assert store.evidence("nope") is None
    assert store.evidence_bytes("cam") == (1, 1000) and store.evidence_bytes("other") == (0, 0)
    store.close()


def test_retention_by_count_deletes_the_videos_of_deleted_clips(tmp_path):
    store = open_store(tmp_path, StoreConfig(max_clips=2))
    for i in range(3):                         # clips at 0, 8, 16 s; a video in each
        store.add(make_clip(i))
        store.add_evidence(video(f"v{i}", 8.0 * i + 1))
    store.add(make_clip(3))                    # keeps clips 16 and 24: the videos at 1 and 9 s go
    assert [c.start for c in store.clips("cam")] == [16.0, 24.0]
    assert [store.evidence(f"v{i}") is not None for i in range(3)] == [False, False, True]


def test_retention_by_bytes_counts_the_videos(tmp_path):
    probe = open_store(tmp_path / "probe")
    probe.add(make_clip(0))
    one = probe.bytes("cam")                   # one clip's bytes
    probe.close()
    # Room for three clips' bytes: two clips and a video of a clip's size leave no room for a third clip.
    store = open_store(tmp_path / "m", StoreConfig(max_bytes=3 * one))
    store.add(make_clip(0))
    store.add(make_clip(1))
    store.add_evidence(video("big", 9.0, size=one))
    assert len(store.clips("cam")) == 2
    store.add(make_clip(2))
    assert [c.start for c in store.clips("cam")] == [8.0, 16.0]       # the oldest clip went, not the video's
    assert store.evidence("big") is not None
    store.add(make_clip(3))                    # the clip at 8 s goes, and the video of its time with it
    assert [c.start for c in store.clips("cam")] == [16.0, 24.0] and store.evidence("big") is None


def test_the_video_over_a_span_is_the_one_that_overlaps_it_most(tmp_path):
    store = open_store(tmp_path)
    store.add(make_clip(0))
    store.add_evidence(video("early", 0.0))                # 0-10 s
    store.add_evidence(video("late", 6.0))                 # 6-16 s
    store.add_evidence(video("other", 6.0, stream="yard"))
    assert store.evidence_over("cam", 8.0, 14.0).alert == "late"     # 2 s of early, 6 s of late
    assert store.evidence_over("cam", 1.0, 7.0).alert == "early"
    assert store.evidence_over("cam", 16.0, 20.0) is None            # touching is not overlapping
    assert store.evidence_over("yard", 0.0, 5.0) is None
