"""Where alerts go besides the page: an append-only JSON-lines log in the memory folder, and an optional webhook
(HTTP POST of the alert's JSON) retried with backoff on a background thread, so a dead endpoint never stalls
ingestion."""
import json
import os
import queue
import threading
import urllib.error
import urllib.request
from pathlib import Path

from stream.service.alerts import Alert
from stream.config import AlertConfig


class AlertLog:
    """alerts.jsonl: one JSON object a line, appended and fsynced, never rewritten."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / "alerts.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, alert: Alert) -> None:
        line = json.dumps(alert.to_json()) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue                 # a line torn by a crash mid-write: the others still count
        return out


class Webhook:
    """POSTs each alert as JSON to `url`; `send` never blocks and never raises."""

    def __init__(self, url: str, config: AlertConfig):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook must be an http:// or https:// URL, got {url!r}")
        self.url, self.config = url, config
        self._queue: queue.Queue = queue.Queue(maxsize=config.webhook_queue)
        self._closing = threading.Event()    # no more alerts: deliver what is queued, then end
        self._abort = threading.Event()      # give up now, retries included
        self.delivered = self.failed = self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="vigil-webhook", daemon=True)
        self._thread.start()

    def send(self, alert: Alert) -> None:
        while True:
            try:
                self._queue.put_nowait(alert.to_json())
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()            # drop the oldest
                    self.dropped += 1
                except queue.Empty:
                    pass

    def _post(self, body: bytes) -> None:
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "vigil"})
        with urllib.request.urlopen(req, timeout=self.config.webhook_timeout) as r:
            if r.status >= 300:
                raise urllib.error.HTTPError(self.url, r.status, "not 2xx", r.headers, None)

    def _run(self) -> None:
        while not self._abort.is_set():
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            body, wait = json.dumps(item).encode(), self.config.webhook_backoff
            for attempt in range(self.config.webhook_attempts):
                try:
                    self._post(body)
                    self.delivered += 1
                    break
                except (OSError, urllib.error.URLError, ValueError):
                    if attempt + 1 == self.config.webhook_attempts or self._abort.wait(wait):
                        self.failed += 1
                        break
                    wait *= 2

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (with its retries) for at most `timeout` seconds, then give up on the rest."""
        self._closing.set()
        self._thread.join(timeout)
        self._abort.set()
        self._thread.join(1.0)
