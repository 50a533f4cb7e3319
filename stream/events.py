"""What happened in a stream, as records: scene changes, activity starts and ends, lighting changes. They are found
frame by frame from pixels (`stream.analyzer`), never from a model's features.
"""
from dataclasses import dataclass, field

SOURCE_GAP = "source_gap"    # a live source had no video from the event's time to detail["end"]


@dataclass
class Event:
    # "scene_change", "activity_start", "activity_end", "lighting_change" or "source_gap" (a live source lost its
    # stream from `time` to detail["end"], detail["reason"] says why)
    kind: str
    time: float          # seconds since the stream started
    detail: dict = field(default_factory=dict)


def activity_spans(events: list[Event], now: float | None = None) -> list[dict]:
    """Pair activity starts with their ends: [{start, end}]. An activity still open ends at `now` (or is left out)."""
    spans, open_at = [], None
    for e in events:
        if e.kind == "activity_start":
            open_at = e.time
        elif e.kind == "activity_end" and open_at is not None:
            spans.append({"start": open_at, "end": e.time})
            open_at = None
    if open_at is not None and now is not None:
        spans.append({"start": open_at, "end": max(open_at, now)})
    return spans


def gap_spans(events: list[Event]) -> list[tuple[float, float]]:
    """(from, to) stream seconds of each "source_gap" event: where a live source had no video."""
    return [(e.time, e.detail["end"]) for e in events if e.kind == SOURCE_GAP]
