"""The cameras and settings `vigil serve --config FILE` runs, read from TOML (stdlib tomllib). An example with every
key is `vigil.example.toml`. Unknown keys and wrong types are one-line errors naming the file and the key.
A `[defaults]` table holds any `[[camera]]` key but name and source; a camera's own key wins."""
import copy
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from memory.config import StoreConfig
from stream.config import SamplingConfig
from stream.service.registry import NAME
from stream.service.daily import check_at
from stream.service.schedule import Schedule
from stream.service.sinks import SHARED, sink_class

BUILT_IN = ("server", "model", "store", "defaults", "camera", "answer")    # the tables besides one per shared sink (SHARED)
OWN = ("name", "source")           # the [[camera]] keys [defaults] cannot give: each camera has its own


@dataclass
class CameraConfig:
    # Unique name: the memory folder under the root, the MQTT topic level, the API path.
    name: str
    # An rtsp:// or http(s):// URL, a webcam index on this machine, or a video file played as if live.
    source: str
    # Watch rules in words, checked by the video LLM on clips that activity touched.
    rules: list[str] = field(default_factory=list)
    # Automatic alerts; each can be switched off per camera (a busy street needs no activity alerts).
    scene_alerts: bool = True
    activity_alerts: bool = True
    # The video LLM describes each automatic alert's clip (title, sentence, severity).
    describe: bool = True
    # Each alert keeps a short video of its span (stream.service.evidence); off, the camera keeps no ring of frames
    # in RAM and spends no encoder CPU (a camera whose alerts need no video, or a memory on a small disk).
    alert_video: bool = True
    # Shared sinks besides the camera's own alerts.jsonl, by name (stream.service.sinks.SHARED: "mqtt", set in the
    # [mqtt] table). A webhook is its own key.
    sinks: list[str] = field(default_factory=list)
    webhook: str | None = None
    # A video file source starts again at its end (a test camera); live sources ignore it.
    loop: bool = False
    # Retention: clips kept for this camera, and bytes of them (token files and keyframes), oldest deleted first
    # whichever bound is reached (None: the store's default). A disk shared by many cameras needs max_bytes.
    max_clips: int | None = None
    max_bytes: int | None = None
    # Frames sampled per second (None: the engine's, --fps): a doorway needs more than a parking lot, and each
    # frame costs the one shared vision tower. Bounded as SamplingConfig bounds it.
    fps: float | None = None
    # False: events only. The vision tower never runs on this camera's frames (they cost the shared model nothing);
    # scene and activity alerts still go out, undescribed, and its clips keep keyframes and keys for clip search but
    # no tokens, so questions to it are refused. Rules need the video LLM, so they are an error here.
    video_llm: bool = True
    # Images per request to the [answer] server for this camera's descriptions, rule checks and questions: fewer
    # cost less per alert on a paid API (None: [answer] max_frames, which this may not exceed).
    max_images: int | None = None
    # "HH:MM-HH:MM" local-time windows when alerts are sent to this camera's sinks (MQTT, webhook), e.g.
    # ["22:00-06:00"] for nights only; outside them alerts are still raised and kept in the feed and alerts.jsonl.
    # Empty: always.
    schedule: list[str] = field(default_factory=list)
    # "HH:MM": each day at this local time the camera's recap of the last 24 hours goes to its sinks (MQTT, the
    # webhook) as an alert of kind "recap", with its page as the link; None: none. A summary a day in the
    # notifications people already read.
    daily_recap: str | None = None

    def __post_init__(self):
        for k in ("scene_alerts", "activity_alerts", "describe", "alert_video", "loop", "video_llm"):
            if not isinstance(getattr(self, k), bool):
                raise ValueError(f"{k} must be true or false, got {getattr(self, k)!r}")
        for k in ("rules", "sinks", "schedule"):
            v = getattr(self, k)
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ValueError(f"{k} must be a list of strings, got {v!r}")
        if self.webhook is not None and not isinstance(self.webhook, str):
            raise ValueError(f"webhook must be a URL, got {self.webhook!r}")
        for k in ("max_clips", "max_bytes", "max_images"):
            v = getattr(self, k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{k} must be an integer of at least 1, got {v!r}")
        if self.fps is not None:
            if isinstance(self.fps, bool) or not isinstance(self.fps, (int, float)):
                raise ValueError(f"fps must be a number, got {self.fps!r}")
            SamplingConfig(fps=float(self.fps))           # its own bounds, its own one-line message
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise ValueError(f"name {self.name!r} must be 1-64 letters, digits, '_', '.' or '-'")
        if not isinstance(self.source, str) or not self.source.strip():
            raise ValueError("source must be a URL, a webcam index or a file path")
        if self.daily_recap is not None:
            check_at(self.daily_recap)
        if not self.video_llm and self.rules:
            raise ValueError("rules are checked by the video LLM: an events-only camera (video_llm = false) has none")
        Schedule(self.schedule)               # each window checked: a one-line ValueError naming it
        for name in self.sinks:
            sink_class(name)                  # a one-line ValueError naming the sinks there are


@dataclass
class ServerSection:
    # None: the page's own default (app/config.py UIConfig), so a default is written once.
    host: str | None = None
    port: int | None = None
    auth: str | None = None            # "user:password"; required when host is not loopback
    memory: str | None = None          # the root: each camera's memory is a folder in it
    media: list[str] = field(default_factory=list)   # more folders the page and the API may open files from
    public_url: str | None = None      # the address others reach the server at, for video links in alerts


@dataclass
class ModelSection:
    # A hub id, a local folder, or "tiny" (random weights: every answer and description is noise).
    name: str | None = None
    device: str | None = None
    # No video LLM on this machine: the drop runs on the embedder's patch features; answers need an [answer] server.
    light: bool = False


@dataclass
class StoreSection:
    # Where the cameras' clip keys are searched (memory.index.BACKENDS): "faiss" in this process, "pgvector" in the
    # PostgreSQL server at index_url (every process that opens a camera's memory then searches the same index).
    index: str = StoreConfig.index
    index_url: str | None = StoreConfig.index_url
    # A shared store (postgresql://...): every camera's memory in one PostgreSQL database instead of a folder each
    # under [server] memory, so several `serve` processes (each its own cameras) write it and any process with the
    # URL asks, searches and recaps all of them (memory.postgres_store). None: a folder per camera.
    url: str | None = None
    # A shared store: seconds a worker's lease on a camera lasts unless renewed (memory.config.StoreConfig): how
    # soon another worker may take the cameras of one that died.
    lease_seconds: float = StoreConfig.lease_seconds

    def __post_init__(self):
        StoreConfig(index=self.index, index_url=self.index_url, lease_seconds=self.lease_seconds)   # its checks
        from memory.stores import is_store_url
        if self.url is not None and not is_store_url(self.url):
            raise ValueError(f"url must be postgresql://... (a shared store), got {self.url!r}")


@dataclass
class ServiceConfig:
    server: ServerSection = field(default_factory=ServerSection)
    model: ModelSection = field(default_factory=ModelSection)
    store: StoreSection = field(default_factory=StoreSection)
    # Each shared sink's settings, read from its table ([mqtt]: stream.service.sinks.mqtt.MqttConfig).
    sinks: dict[str, object] = field(default_factory=dict)
    cameras: list[CameraConfig] = field(default_factory=list)
    answer: dict | None = None         # the [answer] table, as models.config.ServerConfig takes it (an answer server)

    def __post_init__(self):
        names = [c.name for c in self.cameras]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup:
            raise ValueError(f"two cameras are named {dup!r}")
        for cam in self.cameras:
            for name in cam.sinks:
                if name not in self.sinks:
                    raise ValueError(f"camera {cam.name!r} sends to {name!r} but there is no [{name}] table")

    def used_sinks(self) -> dict[str, object]:
        """The shared sinks some camera sends to, with their settings: only those are opened."""
        return {n: c for n, c in self.sinks.items() if any(n in cam.sinks for cam in self.cameras)}


def _check_keys(cls, table, where: str, exclude: tuple[str, ...] = ()) -> None:
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    known = {f.name for f in fields(cls)} - set(exclude)
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    for k, v in table.items():
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{where}: {k} must be a finite number")


def _build(cls, table, where: str):
    _check_keys(cls, table, where)
    try:
        return cls(**table)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None


def _cameras(cams, defaults) -> list[CameraConfig]:
    """The [[camera]] tables, each over [defaults] (its own keys win). The defaults are checked alone first, as a
    camera of their own, so that a bad default is named as [defaults], not as each camera that inherits it."""
    if not isinstance(cams, list):
        raise ValueError("cameras are [[camera]] tables")
    _check_keys(CameraConfig, defaults, "[defaults]", exclude=OWN)
    _build(CameraConfig, {"name": "defaults", "source": "defaults", **defaults}, "[defaults]")
    return [_build(CameraConfig, {**copy.deepcopy(defaults), **c} if isinstance(c, dict) else c,
                   f"[[camera]] {i + 1}") for i, c in enumerate(cams)]


def load(path: str | Path) -> ServiceConfig:
    """Read and check a config file. Raises ValueError with a one-line message naming the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"no such config file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read config file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML ({e})") from None
    try:
        known = (*BUILT_IN, *sorted(SHARED))
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown table [{unknown[0]}] (known: {', '.join(known)})")
        cameras = _cameras(data.get("camera", []), data.get("defaults", {}))
        sinks = {name: _build(sink_class(name).config_class, data[name], f"[{name}]")
                 for name in sorted(SHARED) if data.get(name) is not None}
        if data.get("answer") is not None:
            from models.config import ServerConfig
            most = _build(ServerConfig, data["answer"], "[answer]").max_frames
            for i, cam in enumerate(cameras):
                if cam.max_images is not None and cam.max_images > most:
                    raise ValueError(f"[[camera]] {i + 1}: max_images ({cam.max_images}) exceeds [answer] max_frames "
                                     f"({most})")
        return ServiceConfig(server=_build(ServerSection, data.get("server", {}), "[server]"),
                             model=_build(ModelSection, data.get("model", {}), "[model]"),
                             store=_build(StoreSection, data.get("store", {}), "[store]"),
                             sinks=sinks, cameras=cameras, answer=data.get("answer"))
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None
