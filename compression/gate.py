"""Pixel-level change gate: decide before the vision tower whether a step can have changed at all."""
import numpy as np


def cell_change(frames: np.ndarray, reference: np.ndarray, cell: int) -> np.ndarray:
    """Per-token-cell change of a step against a reference frame.

    frames: [F, H, W, 3] uint8, reference: [H, W, 3] uint8 (H, W multiples of `cell`).
    Returns [H/cell, W/cell] float32: the largest, over the F frames, mean absolute difference in the cell (0-1).
    """
    f, h, w, c = frames.shape
    diff = np.abs(frames.astype(np.int16) - reference.astype(np.int16)).astype(np.float32)
    diff = diff.reshape(f, h // cell, cell, w // cell, cell, c).mean(axis=(2, 4, 5)) / 255.0
    return diff.max(axis=0)


def changed_share(change: np.ndarray, cell_threshold: float) -> float:
    """Share of cells whose change is above the threshold."""
    return float((change > cell_threshold).mean())


def color_histogram(frame: np.ndarray, bins: tuple[int, int, int] = (16, 8, 8)) -> np.ndarray:
    """[H, W, 3] RGB uint8 -> normalised HSV histogram [prod(bins)] float32: what a scene's colours are, whatever
    moves in it."""
    import cv2
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(bins), [0, 180, 0, 256, 0, 256]).ravel()
    return (hist / max(hist.sum(), 1.0)).astype(np.float32)


def color_change(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two colour histograms, in [0, 1]: 0 same colours, 1 none shared."""
    return 0.5 * float(np.abs(a - b).sum())
