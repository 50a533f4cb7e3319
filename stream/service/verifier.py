"""The model work alerts need, on a thread of its own per stream so the ingest thread never waits for a generation:
watch-rule checks of the clips activity touched, and descriptions of automatic alerts (a title, a sentence or two
and a severity, as TimeChat-Online's proactive replies and NVR review summaries give).

An automatic alert is held until its clip is described, for at most `AlertConfig.describe_wait` seconds; then it
goes out plain and the description follows as an update of the same alert (same id). Jobs wait in a bounded queue;
when it is full the oldest is dropped and counted (its alert, if any, still goes out plain).
"""
import dataclasses
import re
import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

from memory.clip import ClipMemory
from stream.config import AlertConfig
from stream.detectors import alert_kinds
from stream.service.alerts import Alert, Alerter, Checker, parse_verdict

CHECK_PROMPT = "Does this clip show the following? {rule}\nAnswer yes or no, then give a one-line reason."
SEVERITIES = ("info", "notice", "warning", "critical")
DESCRIBE_PROMPT = ("This clip from a camera raised an alert ({what}). Reply in exactly three lines:\n"
                   "Title: <at most six words>\nDescription: <one or two sentences on what happens>\n"
                   f"Severity: <one of {', '.join(SEVERITIES)}>")
_FIELD = re.compile(r"^\s*(title|description|severity)\s*:\s*(.*)$", re.IGNORECASE)

Ask = Callable[[ClipMemory, str], str]      # (clip with tokens, prompt) -> the video LLM's short reply


@dataclass
class Description:
    title: str
    text: str
    severity: str


def parse_description(reply: str, max_title: int = 60) -> Description:
    """The model's three lines -> Description. A reply that ignores the format still gives something: its first
    line as the title, the rest as the text, severity "info". A severity outside SEVERITIES is "info"."""
    fields, loose = {}, []
    for line in reply.strip().splitlines():
        m = _FIELD.match(line)
        if m:
            fields[m.group(1).lower()] = " ".join(m.group(2).split())
        elif line.strip():
            loose.append(" ".join(line.split()))
    title = fields.get("title") or (loose.pop(0) if loose else "")
    text = fields.get("description") or " ".join(loose)
    severity = fields.get("severity", "").strip(" .").lower()
    return Description(title[:max_title], text, severity if severity in SEVERITIES else "info")


Describer = Callable[[str, ClipMemory], Description]   # (alert kind, clip with tokens) -> its description


def model_checker(ask: Ask) -> Checker:
    """Rules checked by the video LLM: a yes/no question with a reason."""
    return lambda rule, clip: parse_verdict(ask(clip, CHECK_PROMPT.format(rule=rule)))


def model_describer(ask: Ask) -> Describer:
    def describe(kind: str, clip: ClipMemory) -> Description:
        known = alert_kinds().get(kind)
        what = known[1].what if known else kind.replace("_", " ")
        return parse_description(ask(clip, DESCRIBE_PROMPT.format(what=what)))
    return describe


@dataclass
class _Held:
    alert: Alert
    timer: threading.Timer   # sends it plain at the deadline
    sent: bool = False


@dataclass
class _Job:
    kind: str                # "check", "describe" or "caption"
    clip: ClipMemory
    alert_id: str | None = None


class Verifier:
    def __init__(self, alerter: Alerter, checker: Checker, describer: Describer, deliver: Callable[[Alert], None],
                 config: AlertConfig, noise: bool = False, captioner: Callable[[ClipMemory], str] | None = None,
                 captions_per_hour: int = 60):
        self.alerter, self.checker, self.describer, self.deliver = alerter, checker, describer, deliver
        # Captions of the clips activity touched (for recaps), at most captions_per_hour per hour of stream.
        self.captioner, self.captions_per_hour = captioner, captions_per_hour
        self._captioned_at: deque[float] = deque()     # stream end times of the last hour's caption jobs
        self.captioned = 0
        self.config = config
        self.noise = noise
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._held: dict[str, _Held] = {}
        self._closing = False
        self.checks = self.described = self.dropped = self.failed = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"vigil-verify-{alerter.stream}", daemon=True)
        self._thread.start()

    # ---- from the ingest thread ---------------------------------------------------------------------------
    def raised(self, alert: Alert) -> None:
        """An automatic alert: held for its description (when descriptions are on), else delivered now. A timer,
        not the worker, sends it plain at the deadline: the worker may be busy with a slow generation."""
        if not self.config.describe:
            self.deliver(alert)
            return
        timer = threading.Timer(self.config.describe_wait, self._expire, [alert.id])
        timer.daemon = True
        with self._cond:
            self._held[alert.id] = _Held(alert, timer)
        timer.start()

    def _expire(self, alert_id: str) -> None:
        with self._cond:
            h = self._held.get(alert_id)
            if h is None or h.sent:
                return
            h.sent = True
        self._send(h.alert)

    def clip_closed(self, clip: ClipMemory) -> None:
        """A clip was stored: check it against the rules if activity touched it, and describe the held alerts
        it covers."""
        with self._cond:
            if self.alerter.candidate(clip):
                self._push(_Job("check", clip))
            if self.captioner is not None and self.alerter.touched(clip) and clip.id is not None:
                while self._captioned_at and self._captioned_at[0] <= clip.end - 3600.0:
                    self._captioned_at.popleft()
                # A caption waits behind checks and descriptions and never takes their place in a full queue.
                if len(self._captioned_at) < self.captions_per_hour and len(self._jobs) < self.config.verify_queue:
                    self._captioned_at.append(clip.end)
                    self._jobs.append(_Job("caption", clip))
            for h in self._held.values():
                if h.alert.time <= clip.end + 1e-6 and not any(j.alert_id == h.alert.id for j in self._jobs):
                    h.alert.clip = h.alert.clip or (clip.id, clip.start, clip.end)
                    self._push(_Job("describe", clip, h.alert.id))
            self._cond.notify_all()

    def _push(self, job: _Job) -> None:
        """Under the lock. A full queue drops its oldest job (a dropped description leaves its alert plain: its
        timer sends it)."""
        if len(self._jobs) >= self.config.verify_queue:
            self._jobs.popleft()
            self.dropped += 1
        self._jobs.append(job)

    # ---- the worker ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._closing:
                    self._cond.wait()
                if not self._jobs:
                    return
                job = next((j for j in self._jobs if j.kind != "caption"), self._jobs[0])   # captions last
                self._jobs.remove(job)
            self._do(job)

    def _do(self, job: _Job) -> None:
        try:
            if job.kind == "caption":
                self.captioner(job.clip)
                self.captioned += 1
                return
            if job.kind == "check":
                occurrence, rules = self.alerter.due(job.clip)
                for text in rules:
                    holds, reason = self.checker(text, job.clip)
                    self.checks += 1
                    alert = self.alerter.record(text, job.clip, occurrence, holds, reason)
                    if alert is not None:
                        self._send(alert)
                return
            with self._cond:
                h = self._held.get(job.alert_id)
            if h is None:
                return
            d = self.describer(h.alert.kind, job.clip)
            self.described += 1
            with self._cond:
                h = self._held.pop(job.alert_id, None)
                if h is not None:
                    h.timer.cancel()
            if h is None:
                return
            described = dataclasses.replace(h.alert, title=d.title or None, description=d.text or None,
                                            severity=d.severity, noise=self.noise, update=h.sent)
            self._send(described)
        except Exception as e:               # a failed generation costs this job, never the stream
            self.failed += 1
            self.last_error = f"{type(e).__name__}: {e}"
            if job.alert_id is not None:
                with self._cond:
                    h = self._held.pop(job.alert_id, None)
                if h is not None:
                    h.timer.cancel()
                if h is not None and not h.sent:
                    self._send(h.alert)

    def _send(self, alert: Alert) -> None:
        try:
            self.deliver(alert)
        except Exception as e:
            self.failed += 1
            self.last_error = f"{type(e).__name__}: {e}"

    def stats(self) -> dict:
        with self._cond:
            return {"checks": self.checks, "described": self.described, "captioned": self.captioned,
                    "dropped": self.dropped,
                    "failed": self.failed, "last_error": self.last_error, "queued": len(self._jobs),
                    "held": sum(not h.sent for h in self._held.values())}

    def close(self, timeout: float | None = None) -> None:
        """Finish the queued jobs (for at most `timeout` seconds), then deliver every alert still held, plain."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        with self._cond:
            self._jobs.clear()
            left = [h.alert for h in self._held.values() if not h.sent]
            for h in self._held.values():
                h.timer.cancel()
            self._held.clear()
        for alert in left:
            self._send(alert)
