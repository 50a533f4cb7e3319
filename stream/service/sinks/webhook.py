"""A camera's webhook: each alert POSTed as JSON, retried with backoff on a background thread."""
import json
import threading
import urllib.error
import urllib.request
from collections import deque

from stream.config import AlertConfig
from stream.service.alerts import Alert


class WebhookSink:
    """POSTs each alert as JSON to `url` from a background thread, retrying with backoff; `send` never blocks and
    never raises. One per camera (its spec names the URL)."""
    name = "webhook"
    # Seconds close() gives queued alerts when not told: a stopping stream waits this long for its last alerts.
    close_timeout = 5.0

    def __init__(self, url: str, config: AlertConfig):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook must be an http:// or https:// URL, got {url!r}")
        self.url, self.config = url, config
        self._queue: deque[dict] = deque()
        self._cond = threading.Condition()   # guards the queue, the counters and _closing; wakes the worker
        self._closing = False                # no more alerts: deliver what is queued, then end
        self._abort = threading.Event()      # give up now, retries included (an Event: the backoff waits on it)
        self.delivered = self.failed = self.dropped = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="vigil-webhook", daemon=True)
        self._thread.start()

    def send(self, alert: Alert) -> None:
        item = alert.to_json()
        with self._cond:
            if self._closing:
                self.failed += 1             # nobody will post it
                return
            if len(self._queue) >= self.config.webhook_queue:
                self._queue.popleft()        # the oldest goes: the newest alert is the one worth having
                self.dropped += 1
            self._queue.append(item)
            self._cond.notify()

    def status(self, camera: str, state: dict) -> None:
        pass                                 # webhooks receive alerts only

    def _post(self, body: bytes) -> None:
        req = urllib.request.Request(self.url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "vigil"})
        with urllib.request.urlopen(req, timeout=self.config.webhook_timeout) as r:
            if r.status >= 300:
                raise urllib.error.HTTPError(self.url, r.status, "not 2xx", r.headers, None)

    def _attempts(self, item: dict) -> str | None:
        """Posts one alert with its retries; None when delivered, else the last error."""
        body, wait = json.dumps(item).encode(), self.config.webhook_backoff
        for attempt in range(self.config.webhook_attempts):
            try:
                self._post(body)
                return None
            except (OSError, ValueError) as e:        # URLError and HTTPError are OSErrors
                if attempt + 1 == self.config.webhook_attempts or self._abort.wait(wait):
                    return f"webhook {self.url}: {e}"
                wait *= 2
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing)
                if not self._queue or self._abort.is_set():
                    return
                item = self._queue.popleft()
            error = self._attempts(item)
            with self._cond:
                if error is None:
                    self.delivered += 1
                else:
                    self.failed += 1
                    self.error = error

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is queued (with its retries) for at most `timeout` seconds, then give up on the rest."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(self.close_timeout if timeout is None else timeout)
        self._abort.set()                    # a POST in progress ends by its own timeout; no new one starts
        with self._cond:
            self.failed += len(self._queue)
            self._queue.clear()
            self._cond.notify()

    def stats(self) -> dict:
        with self._cond:
            return {"delivered": self.delivered, "failed": self.failed, "dropped": self.dropped,
                    "queued": len(self._queue), "error": self.error}


