"""The one registry of running cameras, used by the page, the API, `serve` and `watch`: unique names, a limit, one
stream per memory folder, start and stop. Lock-guarded; a start reserves its name and folder under the lock, then
opens the source and the memory outside it (slow), so two concurrent starts of one name cannot both win.

Cameras are shared (owner None: configured ones, and those added from the API or the page's URL/file tabs) or
belong to one page session (its webcam and its demo), which sees them beside the shared ones.
"""
import re
import threading
from pathlib import Path
from typing import Callable

from memory.folder import StoreError
from memory.stores import is_store_url
from stream.engine import Engine
from stream.service.alerts import Checker
from stream.service.watch import Watcher, WatchSpec

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class RegistryError(ValueError):
    """A start refused (a name taken, the limit reached, a memory in use); the message is one line for the user."""


def clean_name(text: str, fallback: str = "camera") -> str:
    """A name usable as a folder and an MQTT topic level: letters, digits, '_', '.', '-'."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", (text or "").strip()).strip("-.")[:64]
    return name or fallback


def checked_name(value: str) -> str:
    """A name as a person gave it, refused (one-line ValueError) where `clean_name` would change it: the API and the
    page never rename a camera without a word."""
    if clean_name(value) != value:
        raise ValueError(f"a camera's name is letters, digits, '_', '.' and '-' (at most 64), as in "
                         f"{clean_name(value)!r}")
    return value


class Registry:
    def __init__(self, engine: Engine, root: str | Path, limit: int, checker: Checker | None = None,
                 status_interval: float = 1.0):
        self.engine, self.limit, self.checker = engine, limit, checker
        # A memory root folder (a memory folder per camera) or a shared store's URL (every camera in it).
        self.shared = is_store_url(root)
        self.root = str(root) if self.shared else Path(root)
        self._lock = threading.Lock()
        self._cameras: dict[str, Watcher | None] = {}      # None: reserved, starting
        self._memories: dict[str, str] = {}                 # resolved memory folder -> name
        self._listeners: list[Callable[[str, dict], None]] = []   # status changes (MQTT's retained status)
        self._last_status: dict[str, dict] = {}
        self._closing = threading.Event()
        self._status_interval = status_interval
        self._monitor = threading.Thread(target=self._watch_status, name="vigil-status", daemon=True)
        self._monitor.start()

    # ---- names and folders --------------------------------------------------------------------------------
    def free_name(self, base: str, fresh_memory: bool = False) -> str:
        """`base`, or `base-2`, `base-3`, ... : not running here, and with `fresh_memory` not a folder on disk
        either (the demo and the webcam start a new memory each time)."""
        base = clean_name(base)
        with self._lock:
            k, name = 2, base
            while name in self._cameras or (fresh_memory and self._stored(name)):
                name, k = f"{base}-{k}", k + 1
            return name

    def _stored(self, name: str) -> bool:
        """Whether a camera of that name has a memory already (a folder; in a shared store, clips)."""
        if not self.shared:
            return (self.root / name).exists()
        try:
            store = self.engine.open_store(self.root, readonly=True)
        except StoreError:
            return False                       # nothing stored yet (or the server away: opening will say)
        try:
            return store.count(name) > 0
        finally:
            store.close()

    def memory_of(self, name: str) -> str:
        """Where camera `name` keeps its memory: its folder under the root, or the shared store itself."""
        return self.root if self.shared else str(self.root / name)

    # ---- start and stop -----------------------------------------------------------------------------------
    def start(self, spec: WatchSpec) -> Watcher:
        """Open and start a camera. Raises RegistryError (name taken, limit, folder in use), or the source's or
        memory's own one-line error; nothing is left reserved after a failure."""
        if not NAME.match(spec.name):
            raise RegistryError(f"camera name {spec.name!r} must be 1-64 letters, digits, '_', '.' or '-'")
        # One writer a memory: a folder's, or a shared store's camera (other workers are held off by its lease).
        folder = f"{spec.memory}#{spec.name}" if is_store_url(spec.memory) else str(Path(spec.memory).resolve())
        with self._lock:                  # a stopped or ended camera of that name is replaced (and continues)
            old = self._cameras.get(spec.name)
            ended = old is not None and not old.running
        if ended:
            self.remove(spec.name)
        with self._lock:
            if spec.name in self._cameras:
                raise RegistryError(f"a camera named {spec.name!r} is already running; pick another name")
            if folder in self._memories:
                raise RegistryError(f"camera {self._memories[folder]!r} already writes that memory folder")
            running = sum(1 for w in self._cameras.values() if w is None or w.running)
            if running >= self.limit:
                raise RegistryError(f"{running} cameras are running; stop one first (the limit is {self.limit})")
            self._cameras[spec.name], self._memories[folder] = None, spec.name
        try:
            watcher = Watcher(self.engine, spec, checker=self.checker)
        except BaseException:
            with self._lock:
                self._cameras.pop(spec.name, None)
                self._memories.pop(folder, None)
            raise
        with self._lock:
            self._cameras[spec.name] = watcher
        return watcher.start()

    def stop(self, name: str) -> Watcher | None:
        """Stop a camera; it stays listed (stopped) with its memory open for questions."""
        w = self.get(name)
        if w is not None:
            w.stop()
        return w

    def remove(self, name: str, forget: bool = True) -> bool:
        """Stop a camera, close its memory and forget it (its folder stays on disk). `forget`: the listeners are told
        its state is "removed" (Home Assistant drops its device); False at shutdown, when it is only stopped."""
        with self._lock:
            w = self._cameras.get(name)
            if w is None:                          # unknown, or still starting
                return False
            del self._cameras[name]
            self._memories = {f: n for f, n in self._memories.items() if n != name}
            self._last_status.pop(name, None)
            listeners = list(self._listeners) if forget else []
        w.close()
        for listener in listeners:
            self._tell(listener, name, {"state": "removed"})
        return True

    def get(self, name: str) -> Watcher | None:
        with self._lock:
            return self._cameras.get(name)

    def cameras(self, owner: str | None = None) -> list[Watcher]:
        """The shared cameras and, given a page session, its own; in start order."""
        with self._lock:
            return [w for w in self._cameras.values() if w is not None and w.spec.owner in (None, owner)]

    def names(self, owner: str | None = None) -> list[str]:
        return [w.spec.name for w in self.cameras(owner)]

    def close_owner(self, owner: str) -> None:
        """A page went: its own cameras (webcam, demo) stop and are forgotten; shared ones keep running."""
        with self._lock:
            names = [n for n, w in self._cameras.items() if w is not None and w.spec.owner == owner]
        for n in names:
            self.remove(n)

    def close_all(self) -> None:
        self._closing.set()
        with self._lock:
            names = [n for n, w in self._cameras.items() if w is not None]
        for n in names:
            self.remove(n, forget=False)
        self._monitor.join(self._status_interval + 1.0)

    def __len__(self) -> int:
        with self._lock:
            return len(self._cameras)

    # ---- status changes -----------------------------------------------------------------------------------
    def on_status(self, listener: Callable[[str, dict], None]) -> None:
        """`listener(camera, status)` on every change of a camera's state (not its figures)."""
        with self._lock:
            self._listeners.append(listener)

    def _watch_status(self) -> None:
        """Once a status_interval: a camera whose state changed is announced (a reconnect happens inside the
        source's thread, which knows nothing of sinks)."""
        while not self._closing.wait(self._status_interval):
            for w in self._all():
                status = w.status()
                key = {k: status.get(k) for k in ("state", "since", "last_error", "activity")}
                with self._lock:
                    changed = self._last_status.get(w.spec.name) != key
                    self._last_status[w.spec.name] = key
                    listeners = list(self._listeners)
                if changed:
                    for listener in listeners:
                        self._tell(listener, w.spec.name, status)

    @staticmethod
    def _tell(listener, name: str, status: dict) -> None:
        try:
            listener(name, status)
        except Exception:
            pass                               # a listener's fault (a sink) is its own; it counts its failures

    def _all(self) -> list[Watcher]:
        with self._lock:
            return [w for w in self._cameras.values() if w is not None]
