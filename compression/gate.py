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
