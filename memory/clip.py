"""A clip memory: a bounded set of visual tokens for a few seconds of stream, with what finds and shows it."""
from dataclasses import dataclass, field

import numpy as np
import torch


# Seconds below which two stream times are one moment: times are float64 seconds from the container or the clock,
# and a comparison against a cooldown or a span edge must not turn on a last-digit rounding.
TIME_EPSILON = 1e-6

@dataclass
class Keyframe:
    """One frame of a clip as a small JPEG: what an answer server that takes only images (an OpenAI-compatible VLM)
    is shown of the clip."""
    time: float                      # stream time of the frame
    wall: float | None               # wall-clock time it arrived (Unix seconds); None for files
    jpeg: bytes


@dataclass
class ClipMemory:
    stream: str                      # which stream it belongs to
    start: float                     # seconds since that stream started
    end: float
    tokens: torch.Tensor             # [n, D] float16, n <= CompactConfig.clip_tokens
    positions: torch.Tensor          # [n, 3] int16: (t, h, w) in the clip's full token grid
    grid: tuple[int, int, int]       # (T, H, W) of that full grid
    seconds_per_step: float          # seconds between temporal steps
    thumbnail: bytes                 # JPEG
    key: np.ndarray | None = None    # [dim] float32, L2-normalised embedding of the thumbnail
    caption: str | None = None
    kept: int = 0                    # tokens the drop kept in this clip, before compaction
    total: int = 0                   # tokens the clip had before any dropping
    tau: float | None = None         # the drop threshold in use when it closed (None: the pixel rule, uncalibrated)
    # Wall-clock times (Unix seconds) its first and last frames arrived, for live and pushed streams: stream time
    # restarts with every run of a camera, the wall clock says when it was. None for files (when they were recorded
    # is unknown) and for clips stored before these were kept.
    wall_start: float | None = None
    wall_end: float | None = None
    id: int | None = None            # assigned by the store
    # A few frames in time order (the first step and the steps that kept the most tokens), for image-only answer
    # servers. Empty when not loaded (`ClipStore.get` leaves them out to stay cheap) or with keyframes off.
    keyframes: list[Keyframe] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return int(self.tokens.shape[0])


@dataclass
class Evidence:
    """An alert's video: a short H.264 MP4 of its span with a little before and after, kept in the memory with the
    clips (retention counts its bytes, and deletes it with the clips of its time)."""
    alert: str                     # the alert's id
    stream: str
    start: float                   # stream seconds of its first and last frame
    end: float
    mp4: bytes
    frames: int                    # frames in it
    wall_start: float | None = None   # Unix time of its first frame (live cameras); None for files


@dataclass
class Caption:
    """A clip's times and caption, without its blobs: what a recap reads of a span's clips."""
    clip: int
    start: float                   # stream seconds
    end: float
    wall_start: float | None       # Unix seconds (live cameras)
    wall_end: float | None
    text: str | None               # None: not captioned
