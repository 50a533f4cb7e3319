"""What the live panel shows: the frame the model saw, with the token cells the drop discarded dimmed, so the
token dropping can be seen working (a still scene goes dark, whatever moves stays lit)."""
import numpy as np


def overlay(frame: np.ndarray, keep_map: np.ndarray, dim: float = 0.3, min_width: int = 0) -> np.ndarray:
    """frame [H, W, 3] uint8 (sides multiples of the cell), keep_map [h, w] bool, one cell per token ->
    [kH, kW, 3] uint8: dropped cells scaled by `dim`, kept cells as they are with a green edge; k, a whole number,
    the smallest that makes it at least `min_width` wide (pixels repeated: the cells stay sharp)."""
    k = max(1, -(-min_width // frame.shape[1]))
    if k > 1:
        frame = np.repeat(np.repeat(frame, k, 0), k, 1)
    h, w = keep_map.shape
    cell_h, cell_w = frame.shape[0] // h, frame.shape[1] // w
    keep = np.repeat(np.repeat(keep_map, cell_h, 0), cell_w, 1)[..., None]      # [H, W, 1]
    out = np.where(keep, frame, (frame * dim).astype(np.uint8))
    edge = np.zeros((cell_h, cell_w), bool)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    edges = np.tile(edge, (h, w)) & keep[..., 0]
    out[edges] = (0, 220, 90)
    return out
