"""The camera's own alert log: alerts.jsonl in its memory folder, or a table of its shared store."""
import json
import os
import threading
from collections import deque
from pathlib import Path

from memory.alert_log import ALERT_LOG, read_alert_log
from stream.service.alerts import Alert


class LogSink:
    """alerts.jsonl: one JSON object a line, appended and fsynced, never rewritten. One per camera (its memory).
    Lines the disk refused (full) are held, up to `hold`, and written first by the next append or `retry`."""
    name = "log"

    def __init__(self, folder: str | Path, hold: int = 256):
        self.path = Path(folder) / ALERT_LOG
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()        # one line at a time: two threads' writes must not interleave
        self._unwritten: deque[str] = deque(maxlen=hold)
        self.delivered = self.failed = 0
        self.error: str | None = None

    def append(self, alert: Alert) -> None:
        """Append one line (after any held ones); raises OSError when the disk refuses (send() counts it instead)."""
        with self._lock:
            self._unwritten.append(json.dumps(alert.to_json()) + "\n")
            self._write()

    def retry(self) -> bool:
        """Write the held lines, if any; True when none is left."""
        with self._lock:
            if self._unwritten:
                try:
                    self._write()
                except OSError:
                    return False
            return True

    def _write(self) -> None:
        """Under the lock. A line a full disk tore off midway is ended first, so it costs no other line."""
        try:
            with open(self.path, "a+b") as f:
                if f.seek(0, os.SEEK_END) > 0:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        f.write(b"\n")
                f.write("".join(self._unwritten).encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            self.failed += 1
            self.error = f"alert log: {e}"
            raise
        self.delivered += len(self._unwritten)
        self._unwritten.clear()
        self.error = None

    def send(self, alert: Alert) -> None:
        # On the caller's thread: an fsync on a local disk takes milliseconds, and the line is then on disk before
        # the alert goes anywhere else.
        try:
            self.append(alert)
        except OSError:
            pass                             # counted by append()

    def status(self, camera: str, state: dict) -> None:
        pass                                 # the log keeps alerts only

    def close(self, timeout: float | None = None) -> None:
        pass                                 # every line is on disk when send() returns

    def stats(self) -> dict:
        with self._lock:
            return {"delivered": self.delivered, "failed": self.failed, "dropped": 0, "error": self.error}

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


def read_log(folder: str | Path) -> list[dict]:
    """The alerts of a camera's alerts.jsonl, oldest first, each as last sent (memory.alert_log)."""
    return read_alert_log(folder)


class StoreLogSink(LogSink):
    """The camera's alert log in a shared store (a table, so every process with the store's URL sees every camera's
    alerts). Lines the database refused (out of reach) are held, up to `hold`, and written first by the next append
    or `retry`, as a full disk's are."""

    def __init__(self, store, camera: str, hold: int = 256):
        self.store, self.camera, self.path = store, camera, None
        self._lock = threading.Lock()
        self._unwritten: deque[dict] = deque(maxlen=hold)
        self.delivered = self.failed = 0
        self.error: str | None = None

    def append(self, alert: Alert) -> None:
        with self._lock:
            self._unwritten.append(alert.to_json())
            self._write()

    def _write(self) -> None:
        while self._unwritten:
            try:
                self.store.log_alert(self.camera, self._unwritten[0])
            except OSError as e:
                self.failed += 1
                self.error = f"alert log: {e}"
                raise
            self._unwritten.popleft()
            self.delivered += 1
        self.error = None

    def read(self) -> list[dict]:
        return self.store.alerts(self.camera)
