"""The hours a camera's alerts are sent: local-time windows such as "08:00-18:00" or "22:00-06:00" (across midnight).
Outside them an alert is still raised and kept (the camera's feed, its alerts.jsonl, the API's feed); it is only not
sent to the camera's sinks (MQTT, webhook).

    Schedule(["22:00-06:00"]).allows(time.time())   # True at night, local time
"""
import re
import time
from dataclasses import dataclass, field

_WINDOW = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")
DAY = 24 * 60          # minutes


def _window(text) -> tuple[int, int]:
    """"HH:MM-HH:MM" -> (start, end) minutes of the day; ValueError (one line) for anything else."""
    m = _WINDOW.match(text) if isinstance(text, str) else None
    h1, m1, h2, m2 = (int(g) for g in m.groups()) if m else (99, 99, 99, 99)
    if max(h1, h2) > 23 or max(m1, m2) > 59:
        raise ValueError(f'schedule window {text!r} must be "HH:MM-HH:MM" in local time (00:00 to 23:59), as in '
                         '"22:00-06:00"')
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"schedule window {text!r} starts and ends at the same minute (for always, give no schedule)")
    return start, end


@dataclass
class Schedule:
    # "HH:MM-HH:MM" local-time windows, start included, end not; an end before its start crosses midnight. Empty:
    # always.
    windows: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not isinstance(self.windows, list):
            raise ValueError(f'schedule must be a list of "HH:MM-HH:MM" windows, got {self.windows!r}')
        self._spans = [_window(w) for w in self.windows]

    def allows(self, wall: float) -> bool:
        """Whether Unix time `wall` falls in a window (local time of this machine); always without windows."""
        if not self._spans:
            return True
        t = time.localtime(wall)
        minute = t.tm_hour * 60 + t.tm_min
        return any(a <= minute < b if a < b else (minute >= a or minute < b) for a, b in self._spans)
