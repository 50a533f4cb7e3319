"""The camera's own alert log: alerts.jsonl in its memory folder."""
import json
import os
import threading
from pathlib import Path

from stream.service.alerts import Alert


class LogSink:
    """alerts.jsonl: one JSON object a line, appended and fsynced, never rewritten. One per camera (its memory)."""
    name = "log"

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / "alerts.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()        # one line at a time: two threads' writes must not interleave
        self.delivered = self.failed = 0
        self.error: str | None = None

    def append(self, alert: Alert) -> None:
        """Append one line; raises OSError when the disk refuses (send() counts it instead)."""
        line = json.dumps(alert.to_json()) + "\n"
        with self._lock:
            try:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as e:
                self.failed += 1
                self.error = f"alert log: {e}"
                raise
            self.delivered += 1

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
