"""The camera's own alert log: alerts.jsonl in its memory folder."""
import json
import os
import threading
from collections import deque
from pathlib import Path

from stream.service.alerts import Alert


class LogSink:
    """alerts.jsonl: one JSON object a line, appended and fsynced, never rewritten. One per camera (its memory).
    Lines the disk refused (full) are held, up to `hold`, and written first by the next append or `retry`."""
    name = "log"

    def __init__(self, folder: str | Path, hold: int = 256):
        self.path = Path(folder) / "alerts.jsonl"
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
    """The alerts of a camera's alerts.jsonl, oldest first, each as last sent (an update replaces its alert's line);
    a torn or unreadable line is skipped (the log is never rewritten, so one bad line costs only itself)."""
    path = Path(folder) / "alerts.jsonl"
    alerts: dict[str, dict] = {}
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    for line in lines:
        try:
            a = json.loads(line)
        except ValueError:
            continue
        if isinstance(a, dict) and isinstance(a.get("id"), str):
            alerts[a["id"]] = alerts.get(a["id"], {}) | a
    return list(alerts.values())
