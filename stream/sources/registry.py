"""Which source kind opens a source given as text: by its URL scheme, a webcam index, or else a file path.

A new kind (an ONVIF camera, a folder of images, a WebRTC peer) is one file under `stream/sources/` with a class
that follows `stream.sources.base.Source` and has `open(spec, options)`, and one line below.
"""
import threading

from stream.sources.base import Source, SourceError, SourceOptions
from stream.sources.file import FileSource
from stream.sources.live import LiveSource

# Kind -> the class that opens it. "file": a path; "webcam": an index ("0"); anything else: a URL scheme.
KINDS: dict[str, type] = {
    "file": FileSource,
    "webcam": LiveSource,
    **dict.fromkeys(("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt"), LiveSource),  # FFmpeg reads them
}
_lock = threading.Lock()     # guards KINDS against a register() while a source is being opened


def register(kind: str, cls: type) -> None:
    """Add a source kind at run time (a plug-in, a test); the module-level table is the usual place."""
    with _lock:
        KINDS[kind] = cls


def kind_of(spec: str) -> str:
    """The kind a source spec names: "webcam" for an index, the scheme of a URL, else "file" (a path). A file://
    URL is "file-url", never taken for a path: the server's folder checks apply to paths only."""
    spec = str(spec)
    if spec.isdigit():
        return "webcam"
    if "://" in spec:
        scheme = spec.split("://", 1)[0].lower()
        return "file-url" if scheme == "file" else scheme
    return "file"


def redact(source: str) -> str:
    """A source as shown to users: a URL without its password; a file by its name only."""
    from pathlib import Path
    from urllib.parse import urlparse, urlunparse
    kind = kind_of(source)
    if kind == "file":
        return Path(source).name
    if kind != "webcam":
        u = urlparse(source)
        if u.password:
            netloc = f"{u.username}:***@{u.hostname}" + (f":{u.port}" if u.port else "")
            return urlunparse(u._replace(netloc=netloc))
    return source


def open_source(spec: "str | Source", options: SourceOptions) -> Source:
    """The source a spec names, opened with `options` (a Source given as it is, e.g. pushed frames, is returned
    as it is). One line when the kind is unknown or the source cannot be opened."""
    if isinstance(spec, Source):
        return spec
    kind = kind_of(spec)
    with _lock:
        cls = KINDS.get(kind)
        known = sorted(k for k in KINDS if k not in ("file", "webcam"))
    if cls is None:
        raise SourceError(f"unknown source kind {kind!r} in {spec}: give a video file, a webcam index or a URL "
                          f"({', '.join(s + '://' for s in known)})")
    return cls.open(str(spec), options)
