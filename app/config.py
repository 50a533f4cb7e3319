"""Configuration of the live UI and the API (app/)."""
from dataclasses import dataclass, field
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
API_PREFIX = "/api/v1"                              # the REST API's routes (app/api.py)
VIDEO_PATH = API_PREFIX + "/alerts/{id}/clip.mp4"   # an alert's video, linked from the alerts the sinks send
CLIP_VIDEO_PATH = API_PREFIX + "/cameras/{name}/clips/{clip_id}/clip.mp4"   # a stored clip played (an answer's)


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
    # The live panel's frame is the one the model saw: the light mode's is small (SigLIP sees about 224x224), so it
    # is enlarged by a whole factor (cells stay sharp) to at least this width in pixels.
    view_width: int = 448
    # Cameras running at once on this server (configured, added from the API or a page, webcams, demos): each
    # costs threads and a share of the model, which encodes them one after another.
    max_cameras: int = 8
    # Uploads larger than this are refused (and deleted): a camera clip to try, not an archive.
    max_upload_mb: int = 200
    # Newest clips of a camera the API's clip search looks through (a day at 8 s clips is 10,800).
    api_scan: int = 20000
    # Seconds between keep-alive comments on an idle alert stream (SSE), so proxies do not close it.
    sse_keepalive: float = 15.0
    # A browser webcam that sends no frame for this many seconds (its own stop button) stops its stream.
    webcam_idle: float = 5.0
    # Newest clips shown in the memory browser, and review items (a span's alerts) in the feed; older items are
    # counted under it and paged over the API (GET /api/v1/reviews).
    gallery_clips: int = 48
    feed_reviews: int = 8
    # The address other machines reach this server at (a reverse proxy's, say), for the links to alerts' videos
    # in MQTT and webhook payloads; None: http://host:port.
    public_url: str | None = None

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def __post_init__(self):
        if self.host not in LOOPBACK and self.auth is None:
            raise ValueError(f"--host {self.host} exposes the page beyond this machine: give --auth user:password")
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be in 1..65535, got {self.port}")
        if self.refresh <= 0 or self.max_cameras < 1 or self.gallery_clips < 1 or self.feed_reviews < 1 \
                or self.max_upload_mb < 1 or self.webcam_idle <= 0:
            raise ValueError("refresh, max_cameras, max_upload_mb, webcam_idle, gallery_clips and feed_reviews must be "
                             "positive")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ValueError(f"public_url must be an http(s):// address, got {self.public_url!r}")


@dataclass
class McpConfig:
    """`vigil mcp`: Vigil's tools for agents, over MCP (app/mcp_server.py)."""
    # The Vigil server whose REST API the tools call (`serve` or `ui` on its default address).
    url: str = f"http://{UIConfig.host}:{UIConfig.port}"
    # "stdio": an agent starts `vigil mcp` itself (Claude Desktop, most MCP clients); "http": streamable HTTP on
    # host:port for clients that connect to a running server.
    transport: str = "stdio"
    host: str = "127.0.0.1"     # loopback: the tools act on the cameras with the server's credentials
    port: int = 8765
    # Seconds a tool call may take (a question to a slow model answers in tens of seconds).
    timeout: float = 300.0

    def __post_init__(self):
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"--url must be the Vigil server's http(s):// address, got {self.url!r}")
        if self.transport not in ("stdio", "http"):
            raise ValueError(f"--transport must be stdio or http, got {self.transport!r}")
        if not 0 < self.port < 65536 or self.timeout <= 0:
            raise ValueError("port must be in 1..65535 and timeout positive")
