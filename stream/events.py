"""Events from the per-step kept-token share: scene changes and activity spans (hysteresis, hold time)."""
from dataclasses import dataclass, field

from stream.config import EventConfig


@dataclass
class Event:
    kind: str            # "scene_change", "activity_start" or "activity_end"
    time: float          # seconds since the stream started
    detail: dict = field(default_factory=dict)


class EventDetector:
    """Per-stream state; fed one step at a time, in order."""

    def __init__(self, config: EventConfig):
        self.config = config
        self.active = False
        self.last_active = 0.0

    def is_cut(self, kept_share: float, color: float) -> bool:
        """Most tokens changed and so did the colours (see EventConfig.scene_color)."""
        return kept_share >= self.config.scene_keep and color >= self.config.scene_color

    def update(self, start: float, end: float, kept_share: float, cut: bool, whole: bool = False) -> list[Event]:
        """Events for a step shown from `start` to `end` seconds. `whole`: kept whole for lack of a reference
        (stream start), which says nothing about change."""
        c, events = self.config, []
        if cut:
            events.append(Event("scene_change", start, {"kept_share": round(kept_share, 4)}))
        moving = not cut and not whole and kept_share >= c.activity_on
        if moving:
            if not self.active:
                self.active = True
                events.append(Event("activity_start", start, {"kept_share": round(kept_share, 4)}))
            self.last_active = end
        elif self.active and (cut or start - self.last_active >= c.activity_hold):
            events += self.finish()
        return events

    def finish(self) -> list[Event]:
        """End an open activity (at a cut or the end of the stream)."""
        if not self.active:
            return []
        self.active = False
        return [Event("activity_end", self.last_active)]


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
