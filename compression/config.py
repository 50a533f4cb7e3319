"""Configuration of the pixel gate, the differential token drop and clip compaction."""
from dataclasses import dataclass


@dataclass
class DropConfig:
    # A token is dropped when its cosine similarity with the reference token at the same (h, w) is above tau.
    # None: tau calibrates itself per stream and model (CalibrationConfig), since the similarity scale depends on
    # the weights (TimeChat-Online: 0.25-0.5 with real Qwen2.5-VL features; 0.9 suits the tiny random tower). A
    # number fixes it (--tau).
    tau: float | None = None
    # "last_kept": compare with the last kept token at each position, so slow drift adds up and is caught.
    # "previous": TimeChat-Online's rule (compare with the previous step), kept for comparison.
    reference: str = "last_kept"

    def __post_init__(self):
        if self.tau is not None and not -1.0 <= self.tau <= 1.0:      # false for nan too
            raise ValueError(f"tau is a cosine similarity in [-1, 1], got {self.tau}")
        if self.reference not in ("last_kept", "previous"):
            raise ValueError(f"reference must be 'last_kept' or 'previous', got {self.reference!r}")


@dataclass
class CalibrationConfig:
    # tau is this quantile of the unchanged cells' step-to-step similarity: about 1 - quantile of them are dropped (98%).
    # Chosen on the tiny tower over the fixed-camera clips (0.05 dropped 74-78% of tokens, 0.01 about what 0.02
    # does), not held out; the bench's item 8 shows it on two real-size towers it was not chosen on.
    quantile: float = 0.02
    # Values are counted in this many bins and forgotten gradually, so each estimate follows the recent `horizon`
    # observations (cells) in bounded memory (16 kB).
    bins: int = 2000
    horizon: int = 20000
    # Until this many unchanged cells were seen (a step or two of a camera), only cells that changed in pixels are
    # kept: a rule that needs no weights.
    min_samples: int = 100

    def __post_init__(self):
        if not 0.0 < self.quantile < 0.5:
            raise ValueError(f"quantile must be in (0, 0.5), got {self.quantile}")
        if self.bins < 10 or self.horizon < 1 or self.min_samples < 1:
            raise ValueError("bins must be at least 10, horizon and min_samples positive")


@dataclass
class GateConfig:
    # Skip the vision tower when no token cell changed in pixels since the last encoded step.
    enabled: bool = True
    # A cell (the pixels under one token) has changed when its mean absolute difference, on a 0-1 scale, is above
    # max(cell_threshold, noise_k * the stream's median cell change): compression noise on a still, clean camera
    # stays near 0.01 (the floor rules), a noisy one moves every cell a little (its own median rules; bottle-
    # detection's is 0.03). Both set by reasoning (the floor from the earlier gate; 3x the median of mostly still
    # cells), not fit.
    cell_threshold: float = 0.04
    noise_k: float = 3.0
    # Encode when more than this share of cells changed; 0 means any changed cell wakes the tower.
    min_changed: float = 0.0
    # A token whose cell changed in pixels is kept whatever its features say: a vision tower's features can move
    # less than its pixels (the tiny random tower keeps 99% similarity for a tenth of changed cells), and a change
    # that the drop loses is lost for good. The feature threshold decides among the rest (drift against the last
    # kept token, which the step-to-step pixel gate cannot see).
    keep_changed: bool = True

    def __post_init__(self):
        if not 0.0 < self.cell_threshold < 1.0:
            raise ValueError(f"cell_threshold must be in (0, 1), got {self.cell_threshold}")
        if not 0.0 <= self.min_changed < 1.0:
            raise ValueError(f"min_changed must be in [0, 1), got {self.min_changed}")
        if not (0.0 <= self.noise_k < 100.0):
            raise ValueError(f"noise_k must be in [0, 100), got {self.noise_k}")


@dataclass
class CompactConfig:
    # Visual tokens stored per clip: bounds disk and what one clip can take of a question's budget.
    clip_tokens: int = 256
    # Fill a clip that kept fewer tokens than that with the reference tokens it did not keep (the scene as last
    # seen), so every clip is self-contained: a still scene's clip still shows the scene.
    fill_context: bool = True

    def __post_init__(self):
        if self.clip_tokens < 1:
            raise ValueError(f"clip_tokens must be positive, got {self.clip_tokens}")
