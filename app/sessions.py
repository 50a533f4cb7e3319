"""Per-browser-session state, kept in a registry keyed by Gradio's session hash and closed when the page goes:
no stream, thread or store outlives its page."""
import threading
from dataclasses import dataclass, field

from stream.sources import PushSource
from stream.service.watch import Watcher


@dataclass
class BrowserSession:
    watchers: dict[str, Watcher] = field(default_factory=dict)   # running or stopped streams, by name
    current: str | None = None          # the stream the page shows and asks about
    focus: int | None = None            # a clip picked in the memory browser: the next question is about it
    webcam: PushSource | None = None    # where the browser's webcam frames go
    shown_clips: int = -1               # clips in the memory browser when it was last drawn
    shown_names: tuple = ()             # streams in the picker when it was last drawn

    def close(self) -> None:
        for w in self.watchers.values():
            w.close()
        self.watchers.clear()
        self.webcam = None


class Registry:
    def __init__(self):
        self._sessions: dict[str, BrowserSession] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> BrowserSession:
        with self._lock:
            return self._sessions.setdefault(key, BrowserSession())

    def close(self, key: str) -> None:
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        for key in list(self._sessions):
            self.close(key)

    def names_in_use(self) -> set[str]:
        with self._lock:
            return {n for s in self._sessions.values() for n, w in s.watchers.items()}

    def __len__(self) -> int:
        return len(self._sessions)
