"""Configuration of the live UI."""
from dataclasses import dataclass, field
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass
class UIConfig:
    # Loopback by default: a camera feed is private; any other host must come with a password.
    host: str = "127.0.0.1"
    port: int = 7860
    # (user, password) for the page; required when host is not loopback.
    auth: tuple[str, str] | None = None
    # Each stream's memory is a folder under this one, named by the stream.
    memory_root: str = "vigil-memory"
    # Server-side video files may only be opened under these folders (the page is not a file browser).
    media_roots: list[str] = field(default_factory=lambda: [str(ASSETS)])
    # The demo source offered as one click: a short real clip shipped in assets/.
    demo_clip: str = str(ASSETS / "demo-room.mp4")
    # Play video files as if they were live (at their own speed), as a camera would arrive; False plays them as fast
    # as they decode (tests).
    realtime_files: bool = True
    # Seconds between refreshes of the live panel, timeline, alerts and memory browser.
    refresh: float = 1.0
    # Streams one browser session may run at once: each costs a thread and a share of the model.
    max_streams: int = 4
    # Newest clips shown in the memory browser, and alerts in the feed.
    gallery_clips: int = 48
    feed_alerts: int = 30

    def __post_init__(self):
        if self.host not in LOOPBACK and self.auth is None:
            raise ValueError(f"--host {self.host} exposes the page beyond this machine: give --auth user:password")
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port}")
        if self.refresh <= 0 or self.max_streams < 1 or self.gallery_clips < 1 or self.feed_alerts < 1:
            raise ValueError("refresh, max_streams, gallery_clips and feed_alerts must be positive")
