"""Synthetic footage for the frame analysers: a textured still scene (BGR uint8) with things drawn into it."""
import cv2
import numpy as np


def scene(seed: int = 0, size=(180, 320)) -> np.ndarray:
    """A smooth random texture [H, W, 3]: enough structure for a background, nothing that moves."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 215, (size[0] // 10, size[1] // 10, 3), dtype=np.uint8)
    return cv2.resize(small, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)


def with_box(image: np.ndarray, x: int, y: int, side: int = 40, colour=(20, 20, 20)) -> np.ndarray:
    out = image.copy()
    out[y:y + side, x:x + side] = colour
    return out


def noisy(image: np.ndarray, sigma: float, rng) -> np.ndarray:
    return np.clip(image.astype(np.float32) + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def feed(analyzer, frames):
    """Feed (time, frame) pairs; returns every event as (kind, time)."""
    out = []
    for t, frame in frames:
        analyzer.see(frame, t)
        out += [(e.kind, round(e.time, 2)) for e in analyzer.take()]
    return out + [(e.kind, round(e.time, 2)) for e in analyzer.finish()]
