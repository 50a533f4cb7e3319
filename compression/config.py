"""Configuration of the pixel gate, the differential token drop and clip compaction."""
from dataclasses import dataclass


@dataclass
class DropConfig:
    # A token is dropped when its cosine similarity with the reference token at the same (h, w) is above tau.
    # TimeChat-Online uses 0.25-0.5 with real Qwen2.5-VL features. Calibrated here on random-weight towers,
    # whose features track pixel similarity; re-check with real weights.
    tau: float = 0.9
    # "last_kept": compare with the last kept token at each position, so slow drift adds up and is caught.
    # "previous": TimeChat-Online's rule (compare with the previous step), kept for comparison.
    reference: str = "last_kept"

    def __post_init__(self):
        if not -1.0 <= self.tau <= 1.0:
            raise ValueError(f"tau is a cosine similarity in [-1, 1], got {self.tau}")
        if self.reference not in ("last_kept", "previous"):
            raise ValueError(f"reference must be 'last_kept' or 'previous', got {self.reference!r}")


@dataclass
class GateConfig:
    # Skip the vision tower when no token cell changed in pixels since the last encoded step.
    enabled: bool = True
    # A cell (the 28x28 pixels under one token) has changed when its mean absolute difference, on a 0-1 scale,
    # is above this. Compression noise on still footage stays near 0.01.
    cell_threshold: float = 0.04
    # Encode when more than this share of cells changed; 0 means any changed cell wakes the tower.
    min_changed: float = 0.0

    def __post_init__(self):
        if not 0.0 < self.cell_threshold < 1.0:
            raise ValueError(f"cell_threshold must be in (0, 1), got {self.cell_threshold}")
        if not 0.0 <= self.min_changed < 1.0:
            raise ValueError(f"min_changed must be in [0, 1), got {self.min_changed}")


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
