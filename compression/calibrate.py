"""Thresholds that calibrate themselves per stream (and, for tau, per model), from running quantiles kept in a
forgetting histogram (bounded memory, serialisable for resume points).

- The pixel gate's noise: a cell has changed when its mean absolute difference is above max(floor, noise_k * the
  stream's median cell change). A noisy camera moves every cell a little; that is not change.
- tau: the cells the gate saw unchanged show what "the same content" looks like in this model's features; tau is a
  low quantile of their step-to-step similarity, so nearly every unchanged cell is dropped, and a token less similar
  to its reference than that is kept.
"""
import numpy as np


class RunningQuantile:
    """Quantiles of a stream of values in [low, high], following the last ~`horizon` of them."""

    def __init__(self, low: float, high: float, bins: int, horizon: int, min_samples: int):
        self.low, self.high, self.horizon, self.min_samples = low, high, horizon, min_samples
        self.counts = np.zeros(bins, dtype=np.float64)

    def observe(self, values: np.ndarray) -> None:
        n = len(values)
        if n == 0:
            return
        self.counts *= max(0.0, 1.0 - n / self.horizon)          # forget: the estimate follows the stream
        span = self.high - self.low
        idx = ((np.asarray(values, np.float64) - self.low) / span * len(self.counts)).astype(np.int64)
        np.add.at(self.counts, np.clip(idx, 0, len(self.counts) - 1), 1.0)

    def quantile(self, q: float) -> float | None:
        """The q-quantile (the lower edge of its bin), or None until `min_samples` values were seen."""
        total = self.counts.sum()
        if total < self.min_samples:
            return None
        i = int(np.searchsorted(np.cumsum(self.counts), q * total))
        return float(self.low + (self.high - self.low) * i / len(self.counts))

    def state(self) -> np.ndarray:
        return self.counts.copy()

    def load(self, counts: np.ndarray) -> None:
        if counts.shape != self.counts.shape:
            raise ValueError(f"stored calibration has {counts.shape[0]} bins, this config {self.counts.shape[0]}")
        self.counts = counts.astype(np.float64).copy()
