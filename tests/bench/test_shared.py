"""Bench item 17 on a few small clips: both stores written by the same cameras, every clip in each, two worker
processes on one store, and its table."""
from bench.shared import shared_writes
from bench.suite import _shared_md


def test_both_stores_take_every_cameras_clips_and_two_workers_share_one_store(postgres):
    out = shared_writes(cameras=2, clips=3, rounds=1, widths=(16,), tokens=8, keyframes=1, clip_seconds=8.0,
                        workers=2, pg_url=None)
    row = out["rows"][0]
    assert row["folder_clips_per_s"] > 0 and row["shared_clips_per_s"] > 0
    assert row["ratio"] == round(row["shared_clips_per_s"] / row["folder_clips_per_s"], 2)
    # A clip's bytes in each: at least its tokens, keyframe and thumbnail.
    assert min(row["folder_bytes_per_clip"], row["shared_bytes_per_clip"]) > 8 * 16 * 2 + 7000 + 6000
    assert out["workers_row"]["clips_per_s"] > 0 and len(out["workers_row"]["worker_walls"]) == 2
    table = "\n".join(_shared_md(out))
    assert "| 16 |" in table and "2 worker processes" in table
