"""Events from the per-step token signals: scene changes, and activity spans.

Activity is presence, not motion: the share of a step's tokens that differ from the scene's background (the scene
as it was when it last settled). A visitor standing still stays present, so one visit is one activity; the motion
signal (tokens that changed since the last kept ones) only tells when the scene has settled, so that what stayed
(a moved chair, a missing bottle) becomes background. Both are read against the scene's own noise floor, measured
while nothing is going on.
"""
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from stream.config import EventConfig


@dataclass
class Event:
    kind: str            # "scene_change", "activity_start" or "activity_end"
    time: float          # seconds since the stream started
    detail: dict = field(default_factory=dict)


class EventDetector:
    """Per-stream state; fed one step at a time, in order."""

    def __init__(self, config: EventConfig, seconds_per_step: float = 2.0):
        self.config = config
        self.active = False
        self.last_active = 0.0
        self.quiet_since: float | None = None     # end of the last step that moved
        n = max(1, round(config.floor_window / seconds_per_step))
        self.presence_floor: deque[float] = deque(maxlen=n)   # presence and motion while inactive
        self.motion_floor: deque[float] = deque(maxlen=n)

    def is_cut(self, kept_share: float, color: float) -> bool:
        """Most tokens changed and so did the colours (see EventConfig.scene_color)."""
        return kept_share >= self.config.scene_keep and color >= self.config.scene_color

    def _threshold(self, floor: deque, least: float, margin: float) -> float:
        base = float(np.percentile(floor, self.config.floor_quantile)) if floor else 0.0
        return max(least, base + margin)

    def update(self, start: float, end: float, motion: float, presence: float, cut: bool,
               whole: bool = False) -> list[Event]:
        """Events for a step shown from `start` to `end` seconds. motion: share of its tokens the drop kept;
        presence: share that differ from the background. `whole`: kept whole for lack of a reference (stream
        start), which says nothing about change."""
        c, events = self.config, []
        if cut or whole:
            if cut:
                events.append(Event("scene_change", start, {"kept_share": round(motion, 4)}))
                events += self.finish()
            self.presence_floor.clear()
            self.motion_floor.clear()
            self.quiet_since = end
            return events
        if not self.active or not self.presence_floor:     # the floor learns only while nothing is going on
            self.presence_floor.append(presence)
            self.motion_floor.append(motion)
        present = presence >= self._threshold(self.presence_floor, c.presence_on, c.presence_margin)
        moving = motion >= self._threshold(self.motion_floor, c.activity_on, c.presence_margin / 2)
        if moving or self.quiet_since is None:
            self.quiet_since = end                        # still since the end of the last moving step
        if present:
            if not self.active:
                self.active = True
                events.append(Event("activity_start", start, {"presence": round(presence, 4)}))
            self.last_active = end
        elif self.active and start - self.last_active >= c.activity_hold:
            events += self.finish()
        return events

    def settled(self, now: float) -> bool:
        """No motion for EventConfig.settle seconds: what the scene shows now is its background."""
        return self.quiet_since is not None and now - self.quiet_since >= self.config.settle

    def finish(self) -> list[Event]:
        """End an open activity (at a cut or the end of the stream)."""
        if not self.active:
            return []
        self.active = False
        return [Event("activity_end", self.last_active)]

    def state(self) -> dict:
        """JSON-able state for a resume point."""
        return {"active": self.active, "last_active": self.last_active, "quiet_since": self.quiet_since,
                "presence_floor": list(self.presence_floor), "motion_floor": list(self.motion_floor)}

    def load(self, state: dict) -> None:
        self.active, self.last_active, self.quiet_since = state["active"], state["last_active"], state["quiet_since"]
        self.presence_floor.clear()
        self.presence_floor.extend(state["presence_floor"])
        self.motion_floor.clear()
        self.motion_floor.extend(state["motion_floor"])


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
