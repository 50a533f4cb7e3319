"""What the page, the API and `serve` share: the engine, the registry of cameras, the alert feed, the shared sinks,
and the rules for adding a camera from user input (which sources are allowed, which names)."""
from pathlib import Path

from typing import Callable
from urllib.parse import urlencode

from app.config import API_PREFIX, VIDEO_PATH, UIConfig
from stream.config import AlertConfig
from stream.engine import Engine
from stream.service.alerts import Checker
from stream.service.daily import SPAN as DAY
from stream.service.feed import AlertFeed
from stream.service.registry import Registry, RegistryError, clean_name
from stream.service.watch import Watcher, WatchSpec
from stream.sources import kind_of

# The URL schemes a user may add a camera by (a subset of what the sources open: no raw udp/tcp/srt from a form).
URL_SCHEMES = ("rtsp", "rtsps", "http", "https", "rtmp")


class SourceRefused(ValueError):
    """A source the server will not open; the message is one line and names no server path."""


class VideoMissing(LookupError):
    """No video for an alert (yet): the message is one line for the user."""


class Service:
    def __init__(self, engine: Engine | None, config: UIConfig, checker: Checker | None = None,
                 sinks: list | None = None, engine_error: str | None = None):
        self.engine, self.config, self.engine_error = engine, config, engine_error
        self.feed = AlertFeed()
        # request -> the page's logged-in user or None (set by app.server once the page is mounted): the API takes
        # the page's login as it takes its credentials.
        self.page_user: Callable[[object], str | None] | None = None
        self.sinks = [self.feed] + list(sinks or [])        # every camera sends to these
        self.registry = Registry(engine, config.memory_root, config.max_cameras, checker) if engine else None
        if self.registry is not None:
            for sink in self.sinks:
                self.registry.on_status(sink.status)

    def public(self, text: str) -> str:
        """A message as the API gives it: the server's memory root and media folders are named, not given."""
        roots = [(self.config.memory_root, "<memory>")] + [(r, "<media>") for r in self.config.media_roots]
        pairs = {(p, label) for root, label in roots for p in (str(root), str(Path(root).expanduser().resolve()))
                 if p not in ("", ".", "/")}
        for path, label in sorted(pairs, key=lambda x: len(x[0]), reverse=True):
            text = text.replace(path, label)
        return text

    def media_names(self) -> list[str]:
        """The media folders as people may name them: by their basename (never the server's absolute path)."""
        return list(dict.fromkeys(Path(r).resolve().name for r in self.config.media_roots))

    def allowed_file(self, path: str) -> str:
        """A server path under the media folders, resolved; refused otherwise (the message names no server path).
        A relative path is read inside each media folder ("bikes.mp4", or "videos/bikes.mp4" by the folder's
        name), then against the working folder."""
        roots = [Path(r).resolve() for r in self.config.media_roots]
        given = Path(path).expanduser()
        tries = [given] if given.is_absolute() else \
            [r / given for r in roots] + [r / Path(*given.parts[1:]) for r in roots
                                          if len(given.parts) > 1 and given.parts[0] == r.name] + [given]
        inside = [p for p in (t.resolve() for t in tries) if any(p.is_relative_to(r) for r in roots)]
        if not inside:
            raise SourceRefused(f"{given.name} is outside the folders this server may open "
                                f"({', '.join(self.media_names())}); start it with --media FOLDER to allow another")
        found = next((p for p in inside if p.is_file()), None)
        if found is None:
            raise SourceRefused(f"no such video file: {given.name}")
        return str(found)

    def check_source(self, source: str) -> str:
        source = (source or "").strip()
        if not source:
            raise SourceRefused("give a source: an rtsp:// or http(s):// URL, a camera index, or a file")
        kind = kind_of(source)
        if kind == "webcam" or kind in URL_SCHEMES:
            return source
        if kind != "file":
            raise SourceRefused(f"unsupported URL scheme {kind!r}: use rtsp, http(s) or rtmp")
        return self.allowed_file(source)

    def add(self, name: str, source, rules: list[str] = (), alerts: AlertConfig | None = None,
            webhook: str | None = None, owner: str | None = None, fresh: bool = False, fail_fast: bool = False,
            sinks: list | None = None, max_clips: int | None = None, checked: bool = False,
            delete_after: bool = False, loop: bool = False, fps: float | None = None,
            video_llm: bool = True, max_images: int | None = None, max_bytes: int | None = None,
            schedule: list[str] = (), daily_recap: str | None = None) -> Watcher:
        """Start a camera. `fresh`: a new memory folder (the demo, the webcam) rather than continuing one.
        `source` is checked (allowed schemes and folders) unless `checked` or it is a pushed source."""
        if self.registry is None:
            raise RegistryError("no model is loaded")
        if isinstance(source, str) and not checked:
            source = self.check_source(source)
        name = self.registry.free_name(name, fresh_memory=True) if fresh else clean_name(name)
        spec = WatchSpec(name=name, source=source, memory=self.registry.memory_of(name),
                         rules=[r.strip() for r in rules if r and r.strip()], alerts=alerts or AlertConfig(),
                         webhook=webhook or None, realtime=self.config.realtime_files,
                         sinks=self.sinks + list(sinks or []), fail_fast=fail_fast, owner=owner, max_clips=max_clips,
                         delete_after=delete_after, loop=loop, fps=fps, video_llm=video_llm,
                         max_images=max_images, max_bytes=max_bytes, schedule=list(schedule),
                         video_url=self.config.base_url + VIDEO_PATH, daily_recap=daily_recap,
                         recap_url=f"{self.config.base_url}{API_PREFIX}/recap.html?"
                                   f"{urlencode({'camera': name, 'when': DAY})}")
        return self.registry.start(spec)

    def video(self, alert: str):
        """An alert's stored video (memory.clip.Evidence). The camera the feed names is asked first, then every
        running camera (an alert older than the feed holds). VideoMissing says why there is none."""
        cameras = self.registry.cameras() if self.registry is not None else []
        known = self.feed.get(alert)
        if known is not None:
            cameras.sort(key=lambda w: w.spec.name != known.stream)
        for w in cameras:
            if w.evidence is not None and w.evidence.pending(alert):
                raise VideoMissing(f"the video of alert {alert} is still being recorded: it is written a few seconds "
                                   f"after its span ends")
            video = w.video(alert)
            if video is not None:
                return video
        if known is not None and known.video is None:
            raise VideoMissing(f"alert {alert} has no video (its camera makes none)")
        raise VideoMissing(f"no video of alert {alert}: no running camera has one (unknown, its camera stopped, or "
                           f"retention deleted it)")

    def close(self) -> None:
        if self.registry is not None:
            self.registry.close_all()
        for sink in self.sinks:
            sink.close(timeout=2.0)
