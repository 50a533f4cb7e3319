"""What every source gives the loop: `Frame`s, a status, and one protocol (`Source`) that the loop, the engine and
the service use without asking which kind of source they hold.

A source is opened by the registry (`stream.sources.registry.open_source`), is told the stream's analyzer
(`attach`), hands out its frames (`frames`) and is closed once (`close`, or `with source:`), which releases its
threads and handles.
"""
from dataclasses import dataclass, field
from typing import Iterator

import cv2
import numpy as np

from stream.config import ReconnectConfig


class SourceError(RuntimeError):
    """A source cannot be opened or read; the message is one line for the user."""


class VideoBreak(SourceError):
    """A file stops decoding part way (truncated or corrupt); every frame before `time` was delivered."""

    def __init__(self, path: str, time: float, cause: str):
        super().__init__(f"video breaks at {time:.2f}s: {path} ({cause})")
        self.time = time


@dataclass
class Frame:
    image: np.ndarray   # [H, W, 3] RGB uint8
    time: float         # seconds since the stream started
    # The events the source's analyzer found since the previous sampled frame (up to this one); None: the source
    # analyses nothing (a plain iterator of frames), and the loop analyses this frame itself.
    events: list | None = None
    # The analyzer's state right after this frame, for resume points (file sources, and frames the loop analysed);
    # None for live and pushed frames, which never resume.
    analysis: object = field(default=None, repr=False)
    # Wall-clock time (Unix seconds) the frame arrived, for live and pushed sources; None for files, whose clips are
    # told by stream time.
    wall: float | None = None
    # Sample slots skipped just before this frame because the consumer fell behind (live sources and files played
    # as live: frames are skipped, never queued).
    skipped: int = 0
    # The source's clock (time.monotonic, or a test's) when the frame was handed out as live: what the loop's lag is
    # measured from. None for a file read as fast as it decodes, which has no lag.
    arrived: float | None = None


@dataclass
class SourceStatus:
    """Where a source stands, for the page, the API and the service's health checks."""
    state: str                       # "connecting", "live", "reconnecting", "playing", "ended", "stopped" or "error"
    since: float                     # wall-clock time (Unix seconds) the state began
    reconnects: int = 0              # times frames flowed again after a drop
    last_error: str | None = None    # the current failure, one line; None again once frames flow (the gap event
                                     # of the outage keeps its reason)
    attempt: int = 0                 # failed attempts in a row; 0 while frames flow


@dataclass
class SourceOptions:
    """How to open a source, whatever its kind; each kind reads what applies to it."""
    fps: float                                  # frames per second to sample
    max_side: int = 1280                        # longest frame side kept (bigger frames are shrunk at once)
    reconnect: ReconnectConfig = field(default_factory=ReconnectConfig)   # live sources: how they come back
    fail_fast: bool = True                      # live sources: a failed first open raises (the CLI) or is retried
    realtime: bool = False                      # files: played at their own speed as if live (the page, a camera)
    loop: bool = False                          # files played as live: start again at the end (a test camera)


class Source:
    """The protocol of every source kind (files, cameras, pushed frames; a new kind is one file under
    `stream/sources/` and one line in its registry).

    live: frames arrive on their own clock (a camera, pushed frames, a file played as if live): the loop encodes a
    step as soon as it has one (batch 1) and measures its lag. False: frames come as fast as they decode (a file).
    finite: the source has an end (a file); reaching it is "ended", not "stopped".
    """
    live: bool = False
    finite: bool = False
    analyzer = None          # the stream's FrameAnalyzer, set by `attach`

    def attach(self, analyzer) -> "Source":
        """Analyse every frame the source decodes with the stream's analyzer (cuts, activity at frame rate), in the
        thread that decodes it; frames decoded before this are not analysed. Returns the source."""
        self.analyzer = analyzer
        return self

    def frames(self, skip: int = 0) -> Iterator[Frame]:
        """The sampled frames, after the first `skip` of them (a file resuming; live sources ignore it), until the
        source ends or is closed (from any thread)."""
        raise NotImplementedError

    def status(self) -> SourceStatus:
        raise NotImplementedError

    def close(self) -> None:
        """Stop reading and release threads and handles; idempotent."""

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def shrink(image: np.ndarray, max_side: int) -> np.ndarray:
    """[H, W, C] -> the same image with its long side at most `max_side` (area filter; never enlarged)."""
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image
    s = max_side / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def until_break(frames: Iterator[Frame], notes: dict) -> Iterator[Frame]:
    """A file's frames up to where it stops decoding (truncated, damaged): the loop then closes and stores what it
    has, as for a file read to its end. Where it broke goes in `notes["broken_at"]` (a stream state's notes, which
    its resume points keep)."""
    try:
        yield from frames
    except VideoBreak as e:
        notes["broken_at"] = e.time

