"""Alerts of every camera in one place, for the API: the recent ones, and a subscription per listener (the
server-sent event stream). A listener that does not read is cut off at its queue's limit, never the cameras."""
import queue
import threading
from collections import OrderedDict

from stream.service.alerts import Alert


class AlertFeed:
    def __init__(self, recent: int = 500, per_listener: int = 1000):
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, Alert] = OrderedDict()   # by id: an update replaces its alert in place
        self._limit, self._per_listener = recent, per_listener
        self._listeners: set[queue.Queue] = set()
        self.delivered = 0
        self.name = "feed"
        self.local = True           # kept on this machine, not sent: a camera's schedule holds nothing back from it

    # The Sink interface (stream.service.sinks): cameras send every alert here too.
    def send(self, alert: Alert) -> None:
        with self._lock:
            self._recent[alert.id] = alert
            self._recent.move_to_end(alert.id)
            while len(self._recent) > self._limit:
                self._recent.popitem(last=False)
            self.delivered += 1
            listeners = list(self._listeners)
        for q in listeners:
            try:
                q.put_nowait(alert)
            except queue.Full:             # a stalled listener: end its stream rather than grow without bound
                self.unsubscribe(q)
                q.queue.clear()
                q.put_nowait(None)

    def status(self, camera: str, state: dict) -> None:
        pass

    def stats(self) -> dict:
        return {"delivered": self.delivered, "failed": 0, "dropped": 0}

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            listeners, self._listeners = list(self._listeners), set()
        for q in listeners:
            q.put(None)

    def recent(self, limit: int | None = 100, camera: str | None = None, before: str | None = None) -> list[Alert]:
        """Newest first (by when last sent: an alert's description moves it up); `before`: only those after the
        alert of that id in this order, the next page. `limit` None: all it holds. KeyError for an id the feed does
        not hold."""
        with self._lock:
            items = [a for a in reversed(self._recent.values()) if camera is None or a.stream == camera]
        if before is not None:
            at = next((i for i, a in enumerate(items) if a.id == before), None)
            if at is None:
                raise KeyError(before)
            items = items[at + 1:]
        return items[:limit]

    def get(self, alert: str) -> Alert | None:
        """The alert of that id, as last sent, while the feed holds it."""
        with self._lock:
            return self._recent.get(alert)

    def subscribe(self) -> "queue.Queue[Alert | None]":
        """A queue of alerts from now on; None ends it (the feed closed, or the listener fell behind)."""
        q: queue.Queue = queue.Queue(maxsize=self._per_listener)
        with self._lock:
            self._listeners.add(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            self._listeners.discard(q)
