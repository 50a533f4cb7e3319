"""Moving a memory between a folder and a shared store (`vigil store copy --from DIR --to URL`, and back), so a
single-machine user can grow into the shared store, or take a camera's memory home.

Every clip is copied with its tokens, keyframes, thumbnail, key, caption and caption key, then each camera's steps,
events and resume point, its alert log and its alerts' videos. A copy is resumable: what the destination already
holds of a camera (a clip is one per camera and start time) is not copied again, so a copy stopped midway is run
again to finish. Then it is verified clip for clip against the source (times, the tokens' checksums, keyframes,
captions, keys): a difference is a problem, and nothing in the source is ever changed.

The destination's ids are its own (a shared store hands them out); clips are matched by camera and start time.
A folder destination is a memory root, one memory per camera (the layout `serve` and `ui` keep)."""
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memory.config import StoreConfig
from memory.folder import StoreError, memories_in
from memory.store import StreamLog
from memory.stores import Store, is_store_url, open_store


@dataclass
class CameraCopy:
    camera: str
    copied: int = 0              # clips written by this run
    present: int = 0             # clips the destination held already (an earlier, interrupted run)
    lost: int = 0                # clips whose tokens the source had lost (marked missing): not copied
    alerts: int = 0              # alerts and alert videos copied by this run
    videos: int = 0
    problems: list[str] = field(default_factory=list)    # verification: one line each


def _digest(tokens, positions) -> str:
    """The tokens' checksum as stored (float16 and int16 bytes), whatever the backend's file format."""
    h = hashlib.sha256(tokens.half().contiguous().numpy().tobytes())
    h.update(positions.short().contiguous().numpy().tobytes())
    return h.hexdigest()


def sources(where: str) -> list[str]:
    """The memories a --from names: a shared store, or a memory folder or memory root (each camera's memory)."""
    return [where] if is_store_url(where) else [str(p) for p in memories_in(Path(where))]


def _destination(to: str, camera: str) -> str:
    return to if is_store_url(to) else str(Path(to) / camera)


def _copy_camera(src: Store, dst: Store, camera: str, out: CameraCopy, batch: int) -> None:
    dst.claim(camera)
    have = {c.start for c in dst.clips(camera)}
    lost = set(src.missing(camera))
    todo = [c for c in src.clips(camera) if c.start not in have]
    out.present = len(have)
    for i in range(0, len(todo), batch):
        part = todo[i:i + batch]
        out.lost += sum(c.id in lost for c in part)
        ids = [c.id for c in part if c.id not in lost]
        loaded = src.load(ids)
        captions = src.caption_keys(ids)
        for clip in loaded.clips:
            sid = clip.id
            clip.id = None
            cid = dst.add(clip, None)
            if clip.caption is not None:
                dst.set_caption(cid, clip.caption, captions.get(sid))
            out.copied += 1
        for clip in loaded.unreadable:
            out.problems.append(f"clip at {clip.start:.1f} s: its tokens cannot be read in the source; not copied "
                                f"(run `vigil check` on it)")
    if not dst.steps(camera) and not dst.events(camera) and dst.progress(camera) is None:
        # The stream's record, in one transaction: steps, events (as the loop logged them) and its resume point.
        events = [_Event(k, t, d) for k, t, d in src.events(camera)]
        dst.record(camera, StreamLog(steps=src.steps(camera), events=events, progress=src.progress(camera)))
    logged = {a.get("id") for a in dst.alerts(camera)}
    for alert in src.alerts(camera):
        if alert.get("id") not in logged:
            dst.log_alert(camera, alert)
            out.alerts += 1
    stored = set(dst.videos(camera))
    for alert in src.videos(camera):
        if alert not in stored:
            dst.add_evidence(src.evidence(alert))
            out.videos += 1


@dataclass
class _Event:
    """An event as the store writes it (stream.events.Event's fields)."""
    kind: str
    time: float
    detail: dict


def _verify(src: Store, dst: Store, camera: str, out: CameraCopy, batch: int) -> None:
    """Every copyable clip of the source against the destination's clip of that camera and start time."""
    theirs = {c.start: c for c in dst.clips(camera)}
    lost = set(src.missing(camera))
    mine = [c for c in src.clips(camera) if c.id not in lost]
    for i in range(0, len(mine), batch):
        part = mine[i:i + batch]
        a = {c.start: c for c in src.load([c.id for c in part]).clips}
        b = {c.start: c for c in dst.load([theirs[c.start].id for c in part if c.start in theirs]).clips}
        ka = src.caption_keys([c.id for c in a.values()])
        kb = dst.caption_keys([c.id for c in b.values()])
        for start, x in a.items():
            y = b.get(start)
            where = f"clip at {start:.1f} s"
            if y is None:
                out.problems.append(f"{where}: not in the destination")
                continue
            diffs = [name for name, same in (
                ("times", (x.end, x.wall_start, x.wall_end) == (y.end, y.wall_start, y.wall_end)),
                ("tokens", _digest(x.tokens, x.positions) == _digest(y.tokens, y.positions)),
                ("keyframes", [(k.time, k.wall, k.jpeg) for k in x.keyframes] ==
                 [(k.time, k.wall, k.jpeg) for k in y.keyframes]),
                ("thumbnail", x.thumbnail == y.thumbnail),
                ("key", np.array_equal(x.key, y.key)),
                ("caption", x.caption == y.caption and (x.id in ka) == (y.id in kb)
                 and (x.id not in ka or np.array_equal(ka[x.id], kb[y.id]))),
                ("shape", (x.grid, x.seconds_per_step, x.kept, x.total, x.tau) ==
                 (y.grid, y.seconds_per_step, y.kept, y.total, y.tau))) if not same]
            if diffs:
                out.problems.append(f"{where}: {', '.join(diffs)} differ")


def copy_memory(frm: str, to: str, config: StoreConfig | None = None, batch: int = 64,
                log=lambda line: None) -> list[CameraCopy]:
    """Copy every camera of `frm` (a memory folder or root, or a shared store) into `to` (a shared store, or a
    memory root), then verify it; resumable. Returns each camera's figures; StoreError in one line for a source
    or destination that cannot be opened (the source is only ever read)."""
    if str(frm) == str(to):
        raise StoreError("--from and --to are the same memory")
    out = []
    for where in sources(frm):
        src = open_store(where, None, config, readonly=True)
        try:
            for camera in src.streams():
                dst = open_store(_destination(to, camera), src.identity, config)
                try:
                    done = CameraCopy(camera)
                    _copy_camera(src, dst, camera, done, batch)
                    _verify(src, dst, camera, done, batch)
                finally:
                    dst.close()
                log(done)
                out.append(done)
        finally:
            src.close()
    return out
