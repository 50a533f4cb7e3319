"""The daily recap: at a local time each day, a camera's recap of the day before it (stream.service.recap) goes to
the camera's sinks as an alert of kind "recap": a digest of it as the description, its HTML page as the link. A
daily summary in the notifications people already get (MQTT, Home Assistant, a webhook), not a page to remember.

    daily = DailyRecap("07:30", make=lambda: ..., deliver=watcher_deliver)   # a thread that waits, never polls
    daily.send_now()                                                          # what it does when the time comes
    daily.close()
"""
import re
import threading
import time
from datetime import datetime, timedelta
from typing import Callable

from stream.service.recap import CameraRecap

SPAN = "in the last 24 hours"         # what a daily recap covers (memory.when reads it)
AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def check_at(at: str) -> str:
    """`at` as given when it is a local time "HH:MM"; ValueError (one line) otherwise."""
    if not isinstance(at, str) or not AT.match(at):
        raise ValueError(f"daily_recap must be a local time HH:MM (e.g. \"07:30\"), got {at!r}")
    return at


def next_due(now: float, at: str) -> float:
    """The Unix time of the next local `at` ("HH:MM") strictly after `now`; a day with a clock change keeps its
    wall-clock time (datetime arithmetic on the local date, not + 86400 s)."""
    h, m = (int(x) for x in check_at(at).split(":"))
    today = datetime.fromtimestamp(now).replace(hour=h, minute=m, second=0, microsecond=0)
    due = today if today.timestamp() > now else (today + timedelta(days=1)).replace(hour=h, minute=m)
    return due.timestamp()


def digest(r: CameraRecap) -> str:
    """A camera's recap in a few lines: the facts first, then each hour's
    sentences from the video LLM where there are any."""
    busy = sum(a["end"] - a["start"] for a in r.activity)
    facts = (f"{len(r.activity)} activity span{'s' * (len(r.activity) != 1)} ({busy / 60:.0f} min), "
             f"{r.alerts} alert{'s' * (r.alerts != 1)}, {r.clips} clips ({r.captioned} captioned).")
    said = [f"{h.label}: {h.summary}" for h in r.hours if h.summary]
    return "\n".join([facts, *said])


class DailyRecap:
    """Sends `make()`'s alert through `deliver` each day at local `at`. The thread sleeps on an event until the time
    is due (or close() sets it). `clock`: Unix seconds (a test's fake clock)."""

    def __init__(self, at: str, make: Callable[[], object], deliver: Callable[[object], None],
                 clock: Callable[[], float] = time.time, name: str = "vigil-daily-recap"):
        self.at, self.make, self.deliver, self.clock = check_at(at), make, deliver, clock
        self.sent = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def send_now(self):
        """Make the recap and deliver it; returns the alert, or None when it could not be made (last_error says
        why: a memory that cannot be read must not end the thread)."""
        try:
            alert = self.make()
        except Exception as e:
            self.last_error = f"could not make the daily recap: {e}"
            return None
        self.deliver(alert)
        self.sent += 1
        self.last_error = None
        return alert

    def _run(self) -> None:
        due = next_due(self.clock(), self.at)
        while not self._stop.wait(max(0.0, due - self.clock())):
            if self.clock() < due:             # woken a little early: the same recap must not go twice
                continue
            self.send_now()
            due = next_due(max(self.clock(), due), self.at)

    def close(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
