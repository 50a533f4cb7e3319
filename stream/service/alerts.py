"""Proactive alerts: automatic ones from the engine's events (scene changes, activity starts), and watch rules,
standing conditions in words checked by the video LLM on the clips that activity proposes (most clips never reach
the LLM, which is what makes rules affordable; NVR products verify detections the same way).

`Alerter` is per-stream state fed one `Step` at a time; the checker is passed in, so tests use a stub.
"""
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from memory.clip import ClipMemory
from stream.clock import clock_label
from stream.config import AlertConfig

Checker = Callable[[str, ClipMemory], tuple[bool, str]]   # (rule, clip) -> (holds, one-line reason)


@dataclass
class Alert:
    kind: str                      # "scene_change", "activity_start" or "rule"
    stream: str
    time: float                    # stream seconds
    message: str
    rule: str | None = None
    reason: str | None = None
    clip: tuple[int, float, float] | None = None    # (id, start, end) of the clip it is about
    wall: float = field(default_factory=time.time)  # when it was raised (Unix time)
    thumbnail: bytes | None = None                  # JPEG, for the page; not in the JSON
    # Unique and stable: a later update of the same alert (its description) carries the same id.
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def to_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "stream": self.stream, "time": round(self.time, 3), "clock": clock_label(self.time),
                "message": self.message, "rule": self.rule, "reason": self.reason,
                "clip": None if self.clip is None else {"id": self.clip[0], "start": self.clip[1], "end": self.clip[2]},
                "wall": round(self.wall, 3)}


@dataclass
class _RuleState:
    text: str
    last_fired: float = float("-inf")      # stream seconds
    fired: list[float] = field(default_factory=list)   # stream times of the last hour's alerts
    occurrence: int = -1                    # the activity occurrence it last fired in


class Alerter:
    def __init__(self, stream: str, config: AlertConfig, rules: list[str] = (), checker: Checker | None = None):
        if rules and checker is None:
            raise ValueError("watch rules need a checker")
        self.stream, self.config, self.checker = stream, config, checker
        self.rules = [_RuleState(r.strip()) for r in rules if r.strip()]
        self._last = {"scene_change": float("-inf"), "activity_start": float("-inf")}
        self.occurrence = 0                 # counts activity starts and scene changes
        self.active = False
        self.span = (float("inf"), float("-inf"))    # the current or last activity span (start, end)
        self.checks = 0                     # clips sent to the checker

    def update(self, step) -> list[Alert]:
        """Alerts raised by one Step (its events, and a clip it closed)."""
        out = []
        for e in step.events:
            if e.kind in ("activity_start", "scene_change"):
                self.occurrence += 1
            if e.kind == "activity_start":
                self.active, self.span = True, (e.time, e.time)
            elif e.kind == "activity_end":
                self.active, self.span = False, (self.span[0], e.time)
            enabled = {"scene_change": self.config.scene_changes, "activity_start": self.config.activity}.get(e.kind)
            if enabled and e.time - self._last[e.kind] >= self.config.cooldown:
                self._last[e.kind] = e.time
                what = "scene change" if e.kind == "scene_change" else "activity started"
                out.append(Alert(e.kind, self.stream, e.time, f"{what} at {clock_label(e.time)}"))
        if step.clip is not None and self.rules and self._candidate(step.clip):
            out += self._check(step.clip)
        return out

    def _candidate(self, clip: ClipMemory) -> bool:
        """A clip that activity touched: it overlaps the current or last activity span."""
        start, end = self.span
        return clip.end >= start and (self.active or clip.start <= end)

    def _check(self, clip: ClipMemory) -> list[Alert]:
        c, out = self.config, []
        for rule in self.rules:
            rule.fired = [t for t in rule.fired if clip.end - t < 3600.0]
            if (rule.occurrence == self.occurrence or clip.end - rule.last_fired < c.rule_cooldown
                    or len(rule.fired) >= c.rule_per_hour):
                continue
            self.checks += 1
            holds, reason = self.checker(rule.text, clip)
            if holds:
                rule.occurrence, rule.last_fired = self.occurrence, clip.end
                rule.fired.append(clip.end)
                out.append(Alert("rule", self.stream, clip.start, f"{rule.text} ({clock_label(clip.start)})",
                                 rule=rule.text, reason=reason, clip=(clip.id, clip.start, clip.end),
                                 thumbnail=clip.thumbnail))
        return out


def parse_verdict(text: str) -> tuple[bool, str]:
    """A checker's reply "yes, because ..." / "No. ..." -> (holds, reason). Anything but a leading yes is no."""
    words = text.strip().split(None, 1)
    first = words[0].strip(".,:;!").lower() if words else ""
    reason = " ".join((words[1] if len(words) > 1 else "").split()).lstrip(".,:;- ")
    return first == "yes", reason
