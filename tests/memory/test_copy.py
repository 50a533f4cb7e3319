"""Moving memories between folders and a shared store (memory.copy) on a real PostgreSQL: everything of every
camera arrives, a copy stopped midway finishes when run again, the way back gives folders `check` calls consistent,
a clip changed in the destination is found, and the source is never changed."""
import hashlib

import psycopg
import pytest

from memory.check import check_memory
from memory.clip import Evidence, Keyframe
from memory.copy import copy_memory
from memory.store import StreamLog
from memory.stores import open_store
from tests.memory.test_postgres_store import IDENTITY, log
from tests.memory.test_store import make_clip


def _root(tmp_path):
    """A memory root of two cameras, each with keyframes, a caption and its key, its record, alerts and a video;
    one clip of the door's has lost its tokens (marked missing)."""
    root = tmp_path / "root"
    for camera, n in (("door", 6), ("yard", 4)):
        store = open_store(str(root / camera), IDENTITY)
        ids = []
        for i in range(n):
            clip = make_clip(i, stream=camera)
            clip.keyframes = [Keyframe(clip.start + 1, 1.7e9 + i, b"kf%d" % i)]
            clip.wall_start, clip.wall_end = 1.7e9 + 8 * i, 1.7e9 + 8 * i + 7
            ids.append(store.add(clip, log(2 * i)))
        store.set_caption(ids[1], f"{camera}: someone walks by", make_clip(50).key)
        store.record(camera, StreamLog(steps=[], events=[], progress=('{"done": true}', b"\x07")))
        store.log_alert(camera, {"id": f"{camera}-a1", "camera": camera, "kind": "activity", "time": 9.0})
        store.add_evidence(Evidence(f"{camera}-a1", camera, 8.0, 20.0, b"\x00mp4" * 50, 12, 1.7e9 + 8))
        if camera == "door":
            store.mark_missing([ids[4]])
        store.close()
    return root


def _digest(path):
    return {p.relative_to(path): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*"))
            if p.is_file()}


def test_every_camera_goes_into_the_shared_store_and_comes_back_the_same(tmp_path, pg_url):
    root = _root(tmp_path)
    before = _digest(root)
    done = {c.camera: c for c in copy_memory(str(root), pg_url)}
    assert {k: (c.copied, c.present, c.lost, c.alerts, c.videos, c.problems) for k, c in done.items()} == {
        "door": (5, 0, 1, 1, 1, []), "yard": (4, 0, 0, 1, 1, [])}
    assert _digest(root) == before                                   # the source is only read
    shared = open_store(pg_url, None, readonly=True)
    folder = open_store(str(root / "door"), None, readonly=True)
    assert shared.streams() == {"door": 5, "yard": 4}
    assert [s.index for s in shared.steps("door")] == [s.index for s in folder.steps("door")]
    assert shared.events("door") == folder.events("door") and shared.progress("door") == folder.progress("door")
    assert shared.alerts("door") == folder.alerts("door") and shared.evidence("door-a1") == folder.evidence("door-a1")
    caption = next(c for c in shared.clips("door") if c.caption)
    assert shared.search(make_clip(50).key, 1, "door", kind="caption")[0][0] == caption.id   # its caption key too
    shared.close()
    folder.close()
    # Back into a new memory root: a folder per camera, each consistent, the same clips verified.
    back = tmp_path / "back"
    done = copy_memory(pg_url, str(back))
    assert [(c.camera, c.copied, c.problems) for c in done] == [("door", 5, []), ("yard", 4, [])]
    assert sorted(p.name for p in back.iterdir()) == ["door", "yard"]
    assert all(check_memory(back / cam).problems_left == [] for cam in ("door", "yard"))
    again = copy_memory(pg_url, str(back))                            # nothing left to copy: all verified
    assert [(c.copied, c.present, c.alerts, c.videos, c.problems) for c in again] == [(0, 5, 0, 0, []), (0, 4, 0, 0, [])]


def test_a_copy_stopped_midway_finishes_when_run_again(tmp_path, pg_url, monkeypatch):
    from memory.postgres_store import PostgresStore
    root = _root(tmp_path)
    real, calls = PostgresStore.add, [0]

    def dies(self, clip, log=None):
        calls[0] += 1
        if calls[0] == 4:
            raise KeyboardInterrupt                                  # Ctrl-C, or the process killed, midway
        return real(self, clip, log)

    monkeypatch.setattr(PostgresStore, "add", dies)
    with pytest.raises(KeyboardInterrupt):
        copy_memory(str(root), pg_url)
    monkeypatch.setattr(PostgresStore, "add", real)
    done = {c.camera: c for c in copy_memory(str(root), pg_url)}
    assert (done["door"].copied, done["door"].present, done["door"].problems) == (2, 3, [])
    assert (done["yard"].copied, done["yard"].present) == (4, 0)
    shared = open_store(pg_url, None, readonly=True)
    assert shared.streams() == {"door": 5, "yard": 4} and len(shared.alerts()) == 2
    shared.close()


def test_a_clip_changed_in_the_destination_is_a_problem(tmp_path, pg_url):
    root = _root(tmp_path)
    copy_memory(str(root), pg_url)
    with psycopg.connect(pg_url, autocommit=True) as db:             # a clip's key and keyframe changed by hand
        cid = db.execute("SELECT id FROM vigil_clips WHERE stream = 'yard' ORDER BY start LIMIT 1").fetchone()[0]
        db.execute("UPDATE vigil_keyframes SET jpeg = 'x' WHERE clip = %s", (cid,))
        db.execute("UPDATE vigil_clips SET key = %s WHERE id = %s", ("[" + ",".join(["0.35355339"] * 8) + "]", cid))
    done = {c.camera: c for c in copy_memory(str(root), pg_url)}
    assert done["door"].problems == [] and done["yard"].problems == ["clip at 0.0 s: keyframes, key differ"]


def test_a_store_of_other_models_or_the_same_memory_is_refused_in_one_line(tmp_path, pg_url):
    from memory.folder import StoreError
    from memory.store import StoreIdentity
    root = _root(tmp_path)
    open_store(pg_url, StoreIdentity(embedder="other", key_dim=8, llm="llm", token_dim=16)).close()
    with pytest.raises(StoreError, match="built with embedder 'other', this run uses 'emb'"):
        copy_memory(str(root), pg_url)
    with pytest.raises(StoreError, match="the same memory"):
        copy_memory(pg_url, pg_url)
