"""What the benchmark suite runs, and at which sizes."""
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ("reduction", "realtime", "stream", "events", "selection")


@dataclass
class BenchConfig:
    # The real clips with ground truth.
    videos: str = str(ROOT.parent / "shared" / "videos")
    # Where the figures go: JSON of everything, and the markdown table kept in the repository.
    out_json: str = str(ROOT / "bench" / "results.json")
    out_md: str = str(ROOT / "bench" / "RESULTS.md")
    # Which items run (all of ITEMS by default).
    items: tuple[str, ...] = ITEMS
    # Sampling rates for token reduction (the first) and event accuracy (all).
    fps: tuple[float, ...] = (1.0, 2.0)
    # Real-time factor: the vision tower's shape ("3b" or "7b", random weights), the pixel budget per frame (the
    # real one is 448x448; a CPU run uses less so the suite fits in 15 minutes), and seconds of stream per loop.
    rtf_size: str = "3b"
    rtf_max_pixels: int = 224 * 224
    rtf_seconds: float = 24.0
    # Question cost and memory over a long stream (a real clip looped on a simulated clock): the minutes at which
    # they are measured, and the baseline's token cap (TimeChat-Online's demo feeds all kept tokens up to 8192).
    stream_minutes: tuple[int, ...] = (1, 10, 60)
    baseline_cap: int = 8192
    # Event accuracy: activity starts count within this many seconds; the MOG2 anchor's foreground share that
    # counts as activity, and the seconds it learns the background before it may report any.
    activity_tolerance: float = 1.5
    mog2_share: float = 0.01
    mog2_warmup: float = 2.0
    # Selection latency: store sizes (clips, random keys), key width (SigLIP base: 768), questions timed per size.
    selection_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    key_dim: int = 768
    questions: int = 50
    device: str = "auto"
    cache_dir: str | None = None

    def __post_init__(self):
        unknown = set(self.items) - set(ITEMS)
        if unknown:
            raise ValueError(f"unknown bench items {sorted(unknown)}; choose from {', '.join(ITEMS)}")
        if self.rtf_size not in ("3b", "7b"):
            raise ValueError(f"rtf_size must be 3b or 7b, got {self.rtf_size!r}")
        if not self.fps or min(self.fps) <= 0 or self.rtf_seconds <= 0 or self.questions < 1:
            raise ValueError("fps, rtf_seconds and questions must be positive")
