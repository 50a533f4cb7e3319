"""Item 15: what each alert's video costs. A real clip, decoded by the repository's own source at the camera's sampling
rate and looped, feeds a camera's evidence recorder (stream.service.evidence: the ring of small frames in RAM, the
H.264 writer on its own thread); an activity alert is raised at each annotated visit's start and its span ended at
the visit's end, so every video is the span of a real alert with the configured seconds before and after. Figures:
bytes per alert, bytes per camera-hour, encoder CPU seconds per hour of video and the ring's RAM."""
import statistics
import time

from stream.config import EvidenceConfig
from stream.detectors.activity import START as ACTIVITY_START
from stream.service.alerts import Alert
from stream.service.evidence import EvidenceRecorder
from stream.sources import FileSource

HOUR = 3600.0
# How often the feeder looks whether the recorder has written what is due: a live camera's next frame comes a
# whole sampling interval later, so the feeder waits for the writer as a camera's clock would.
POLL_S = 0.002


def evidence_cost(path: str, events: list[tuple[float, float]], loops: int, fps: float,
                  config: EvidenceConfig) -> dict:
    """Feed `loops` passes of the clip at `path` (sampled at `fps`) to a recorder, one activity alert per span of
    `events` (stream seconds of one pass); returns the per-alert rows and the totals."""
    source = FileSource(path, fps)
    frames = [(f.time, f.image) for f in source.frames()]
    source.close()
    period = source.duration + 1.0 / fps                 # as a looped FileSource goes on: one sample after its end
    videos = []
    rec = EvidenceRecorder("bench", config, videos.append)
    raised: list[Alert] = []
    spans: dict[str, float] = {}                         # alert id -> its activity span's seconds
    open_ends: dict[str, float] = {}                     # alerts whose span has not ended yet -> when it ends
    for k in range(loops):
        base = k * period
        starts = sorted((base + s, base + e) for s, e in events)
        for t, image in frames:
            t += base
            while starts and starts[0][0] <= t:           # the visit began: its alert, span still open
                s, e = starts.pop(0)
                alert = Alert(kind=ACTIVITY_START, stream="bench", time=s, message="Activity started")
                rec.raised(alert)
                raised.append(alert)
                spans[alert.id], open_ends[alert.id] = e - s, e
            rec.push(t, None, image)
            for a, e in [(a, e) for a, e in open_ends.items() if e <= t]:   # visits ended by this frame
                rec.span_ended(e)
                del open_ends[a]
            # The videos whose last frame has come (the recorder's rule: `after` past the span's end, at most
            # max_seconds past the alert), for the feeder to wait on.
            due = [a for a in raised if min(a.time + config.max_seconds, a.time + spans[a.id] + config.after
                                            if a.id not in open_ends else float("inf")) <= t]
            _wait_for_due(rec, raised, due)
    ring = rec.ring.between(float("-inf"), float("inf"))
    h, w = ring[0].image.shape[:2]
    rec.close(timeout=None)
    stats = rec.stats()
    rows = [{"alert": v.alert, "span_s": round(spans[v.alert], 2), "video_s": round(v.frames / fps, 2),
             "frames": v.frames, "bytes": len(v.mp4)} for v in videos]
    video_s = sum(r["video_s"] for r in rows)
    stream_s = loops * period
    return {"clip": path.rsplit("/", 1)[-1], "fps": fps, "side": config.side, "crf": config.crf,
            "preset": config.preset, "before": config.before, "after": config.after,
            "max_seconds": config.max_seconds, "loops": loops, "stream_s": round(stream_s, 1),
            "alerts": len(raised), "written": stats.written, "empty": stats.empty, "failed": stats.failed,
            "dropped": stats.dropped, "rows": rows,
            "bytes_median": statistics.median(r["bytes"] for r in rows), "bytes_max": max(r["bytes"] for r in rows),
            "video_s_median": statistics.median(r["video_s"] for r in rows),
            "bytes_per_video_s": round(stats.bytes / video_s, 1),
            # Extrapolated: the camera's every second in some alert video, encoded at the measured bytes a second.
            "bytes_per_hour_continuous": round(stats.bytes / video_s * HOUR),
            # Measured: this clip's own alerts (its visits, looped) per hour of its stream, overlaps encoded twice.
            "bytes_per_hour_at_clip_rate": round(stats.bytes / stream_s * HOUR),
            "cpu_s": round(stats.seconds, 3),
            "cpu_s_per_video_hour": round(stats.seconds / video_s * HOUR, 1),
            "cpu_s_per_hour_at_clip_rate": round(stats.seconds / stream_s * HOUR, 1),
            "ring_frames": len(ring), "ring_h": h, "ring_w": w,
            "ring_bytes": len(ring) * h * w * 3, "ring_nbytes": sum(f.image.nbytes for f in ring)}


def _wait_for_due(rec: EvidenceRecorder, raised: list[Alert], due: list[Alert]) -> None:
    """Until every due video is taken off the recorder's queue and written (or counted empty, failed or dropped):
    the ring then never loses a video's frames to a feeder that runs ahead of the camera's clock."""
    while True:
        s = rec.stats()
        taken = sum(not rec.pending(a.id) for a in raised)
        if not any(rec.pending(a.id) for a in due) and taken <= s.written + s.empty + s.failed + s.dropped:
            return
        time.sleep(POLL_S)
