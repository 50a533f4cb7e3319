"""Proactive alerts: automatic ones from the engine's events (scene changes, activity starts), and watch rules,
standing conditions in words checked by the video LLM on the clips that activity proposes (most clips never reach
the LLM, which is what makes rules affordable; NVR products verify detections the same way).

`Alerter` is per-stream state fed one `Step` at a time; the checker is passed in, so tests use a stub.
"""
import threading
from datetime import datetime
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from memory.clip import ClipMemory
from stream.clock import TIME_EPSILON, clock_label, when_label
from stream.config import AlertConfig
from stream.detectors import alert_kinds
from stream.detectors.activity import END as ACTIVITY_END
from stream.detectors.activity import START as ACTIVITY_START

Checker = Callable[[str, ClipMemory], tuple[bool, str]]   # (rule, clip) -> (holds, one-line reason)


# The kind of the alert a daily recap is sent as (stream.service.daily): a summary, not an event; a recap leaves
# it out of the alerts it counts.
RECAP = "recap"


@dataclass
class Alert:
    kind: str                      # an alert kind of a detector (stream.detectors.alert_kinds) or "rule"
    stream: str
    time: float                    # stream seconds
    message: str                   # a short title ("Activity started", or the rule's words)
    rule: str | None = None
    reason: str | None = None
    clip: tuple[int, float, float] | None = None    # (id, start, end) of the clip it is about
    wall: float = field(default_factory=time.time)  # when it was raised (Unix time)
    thumbnail: bytes | None = None                  # JPEG, for the page; not in the JSON
    # Unique and stable: a later update of the same alert (its description) carries the same id.
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    # Wall-clock time of the moment it is about (live cameras); None for files, told by stream time.
    wall_time: float | None = None
    # The video LLM's description of its clip (proactive alerts): a title, one or two sentences, a severity from
    # SEVERITIES. `noise` is set when the model has random weights: the words are not an answer.
    title: str | None = None
    description: str | None = None
    severity: str | None = None
    noise: bool = False
    update: bool = False           # a later send of the same alert (same id), carrying its description
    # Where its video (an MP4 of its span) is served, once written (a few seconds after its span ends); None: no
    # video is made for it.
    video: str | None = None
    # A page about it: a daily recap's HTML page (None for any other alert).
    link: str | None = None

    def to_json(self) -> dict:
        local = None if self.wall_time is None else \
            datetime.fromtimestamp(self.wall_time).astimezone().isoformat(timespec="seconds")
        return {"id": self.id, "kind": self.kind, "camera": self.stream, "stream": self.stream, "time": round(self.time, 3),
                "clock": clock_label(self.time), "wall_time": self.wall_time, "local_time": local, "message": self.message, "rule": self.rule,
                "reason": self.reason,
                "clip": None if self.clip is None else {"id": self.clip[0], "start": self.clip[1], "end": self.clip[2]},
                "title": self.title, "description": self.description, "severity": self.severity, "noise": self.noise,
                "update": self.update, "video": self.video, "link": self.link, "wall": round(self.wall, 3)}

    def headline(self) -> str:
        """One line for people: when (local date and time for live cameras), what (the model's title if any)."""
        return f"{when_label(self.time, self.wall_time)} {self.title or self.message}"


@dataclass
class Verdict:
    """A watch rule's last check: what the video LLM said about which clip."""
    holds: bool
    reason: str
    clip: tuple[int, float, float]                   # (id, start, end) of the clip it looked at
    wall: float = field(default_factory=time.time)   # when it answered


@dataclass
class _RuleState:
    text: str
    last_fired: float = float("-inf")      # stream seconds
    fired: list[float] = field(default_factory=list)   # stream times of the last hour's alerts
    occurrence: int = -1                    # the activity occurrence it last fired in
    checks: int = 0
    last: Verdict | None = None


@dataclass
class RuleView:
    """A rule as the page and the API show it."""
    text: str
    checks: int
    fired: int                               # alerts in the last hour of stream
    last: Verdict | None


class Alerter:
    """Per-stream alert state. `update` runs on the ingest thread (events are cheap); rule checks run elsewhere
    (`stream.service.verifier`): `due` says which rules a clip should be checked against, `record` turns a verdict
    into an alert. Rules may be replaced while the stream runs (`set_rules`); a lock guards the rule state."""

    def __init__(self, stream: str, config: AlertConfig, rules: list[str] = (), checker: Checker | None = None):
        self.stream, self.config, self.checker = stream, config, checker
        self._lock = threading.Lock()
        self.rules = [_RuleState(r.strip()) for r in rules if r.strip()]
        self.kinds = alert_kinds()          # event kind -> (detector, AlertKind): the automatic alerts
        self._last = {kind: float("-inf") for kind in self.kinds}
        self.occurrence = 0                 # counts the events that are automatic alerts (activity starts, cuts)
        self.active = False
        self.span = (float("inf"), float("-inf"))    # the current or last activity span (start, end)
        self.checks = 0                     # clips sent to the checker

    def set_rules(self, texts: list[str]) -> None:
        """Replace the rules; a rule kept keeps its history (cooldown, verdicts)."""
        with self._lock:
            old = {r.text: r for r in self.rules}
            self.rules = [old.get(t.strip()) or _RuleState(t.strip()) for t in dict.fromkeys(texts) if t.strip()]

    def view(self) -> list[RuleView]:
        with self._lock:
            return [RuleView(r.text, r.checks, len(r.fired), r.last) for r in self.rules]

    def update(self, step) -> list[Alert]:
        """Automatic alerts raised by one Step's events."""
        out = []
        for e in step.events:
            if e.kind in self.kinds:
                self.occurrence += 1
            started_open = self.active       # a start while a span is open repeats it
            if e.kind == ACTIVITY_START:     # the span that rule checks look at
                self.active, self.span = True, (e.time, e.time)
            elif e.kind == ACTIVITY_END:
                self.active, self.span = False, (self.span[0], e.time)
            if e.kind not in self.kinds:
                continue
            detector, how = self.kinds[e.kind]
            # A new activity span is news however soon it follows the last (three cars 10 s apart are three
            # alerts); the cooldown holds back repeats: a cut storm, a start inside a span still open. Times are
            # float64 seconds, compared to the microsecond, so 10 s apart is never 9.9999995 s.
            new_span = e.kind == ACTIVITY_START and not started_open
            if self.config.enabled(detector) and (new_span or e.time - self._last[e.kind] >= self.config.cooldown
                                                  - TIME_EPSILON):
                self._last[e.kind] = e.time
                out.append(Alert(e.kind, self.stream, e.time, how.title))
        return out

    def touched(self, clip: ClipMemory) -> bool:
        """Activity touched the clip: it overlaps the current or last activity span."""
        start, end = self.span
        return clip.end >= start and (self.active or clip.start <= end)

    def candidate(self, clip: ClipMemory) -> bool:
        """A clip worth checking rules on: rules exist and activity touched it."""
        return bool(self.rules) and self.touched(clip)

    def due(self, clip: ClipMemory) -> tuple[int, list[str]]:
        """(the occurrence the clip belongs to, the rules to check it against): not those that fired in this
        occurrence, in their cooldown, or at their hourly limit."""
        c = self.config
        with self._lock:
            out = []
            for rule in self.rules:
                rule.fired = [t for t in rule.fired if clip.end - t < 3600.0]
                if (rule.occurrence == self.occurrence or clip.end - rule.last_fired < c.rule_cooldown
                        or len(rule.fired) >= c.rule_per_hour):
                    continue
                out.append(rule.text)
            return self.occurrence, out

    def record(self, text: str, clip: ClipMemory, occurrence: int, holds: bool, reason: str) -> Alert | None:
        """A verdict on a clip; the alert when the rule fires (once per occurrence, even if two checks said yes)."""
        with self._lock:
            rule = next((r for r in self.rules if r.text == text), None)
            if rule is None:                    # removed while it was being checked
                return None
            self.checks += 1
            rule.checks += 1
            rule.last = Verdict(holds, reason, (clip.id, clip.start, clip.end))
            if not holds or rule.occurrence == occurrence or clip.end - rule.last_fired < self.config.rule_cooldown:
                return None
            rule.occurrence, rule.last_fired = occurrence, clip.end
            rule.fired.append(clip.end)
        return Alert("rule", self.stream, clip.start, text, rule=text, reason=reason,
                     clip=(clip.id, clip.start, clip.end), thumbnail=clip.thumbnail,
                     wall_time=clip.wall_start if hasattr(clip, "wall_start") else None)

    def check(self, clip: ClipMemory) -> list[Alert]:
        """Check a candidate clip against the due rules here and now, with this alerter's checker."""
        occurrence, rules = self.due(clip)
        out = []
        for text in rules:
            holds, reason = self.checker(text, clip)
            alert = self.record(text, clip, occurrence, holds, reason)
            if alert is not None:
                out.append(alert)
        return out


def parse_verdict(text: str) -> tuple[bool, str]:
    """A checker's reply "yes, because ..." / "No. ..." -> (holds, reason). Anything but a leading yes is no."""
    words = text.strip().split(None, 1)
    first = words[0].strip(".,:;!").lower() if words else ""
    reason = " ".join((words[1] if len(words) > 1 else "").split()).lstrip(".,:;- ")
    return first == "yes", reason
