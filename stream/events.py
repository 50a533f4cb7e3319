"""What happened in a stream, as records: scene changes, activity starts and ends, lighting changes. They are found
frame by frame from pixels (`stream.analyzer`), never from a model's features.
"""
from dataclasses import dataclass, field


@dataclass
class Event:
    kind: str            # "scene_change", "activity_start", "activity_end" or "lighting_change"
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
