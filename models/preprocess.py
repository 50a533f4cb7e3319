"""Video preprocessing for Qwen2.5-VL in numpy (transformers' video processors need torchvision).

Frames are RGB uint8 arrays. A *grid* is `temporal_patch_size` (2) consecutive sampled frames: the vision
tower turns it into one temporal step of tokens, one token per `merge x merge` patches of `patch x patch`
pixels, so one token covers a 28x28 pixel cell of the resized frame.
"""
import math

import cv2
import numpy as np

# CLIP statistics, as Qwen2VLImageProcessor uses them.
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)


def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56,
                 max_pixels: int = 448 * 448) -> tuple[int, int]:
    """Target (height, width): multiples of `factor`, area within [min_pixels, max_pixels], aspect kept.

    The same rule as transformers' Qwen2-VL `smart_resize`, so our grids match the model's training.
    """
    if min(height, width) <= 0:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio must be under 200, got {height}x{width}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[T, H, W, 3] uint8 -> [T, h, w, 3] uint8. Area filter when shrinking (no aliasing), cubic when growing."""
    h, w = size
    if frames.shape[1:3] == (h, w):
        return frames
    shrink = h * w < frames.shape[1] * frames.shape[2]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    return np.stack([cv2.resize(f, (w, h), interpolation=interp) for f in frames])


def patchify(frames: np.ndarray, patch: int = 14, merge: int = 2, temporal: int = 2, mean=CLIP_MEAN,
             std=CLIP_STD) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Resized uint8 frames [T, H, W, 3] (T a multiple of `temporal`) -> (pixel_values, grid_thw).

    pixel_values: float32 [gt*gh*gw, 3*temporal*patch*patch], normalised with `mean`/`std` (Qwen2.5-VL: CLIP's;
    Qwen3-VL: 0.5 and 0.5), rows in the
    order Qwen2VLImageProcessor uses (t, h-block, w-block, h-in-block, w-in-block) so that each run of
    merge*merge rows is one LLM token. grid_thw = (gt, gh, gw) in patches.
    """
    t, height, width, c = frames.shape
    if t % temporal or height % (patch * merge) or width % (patch * merge):
        raise ValueError(f"frames {frames.shape} do not tile into {temporal}x{patch * merge}x{patch * merge} patches")
    x = (frames.astype(np.float32) / 255.0 - np.float32(mean)) / np.float32(std)    # [T, H, W, C]
    gt, gh, gw = t // temporal, height // patch, width // patch
    x = x.reshape(gt, temporal, gh // merge, merge, patch, gw // merge, merge, patch, c)
    # -> (gt, gh/m, gw/m, m, m, C, temporal, patch, patch)
    x = x.transpose(0, 2, 5, 3, 6, 8, 1, 4, 7)
    return np.ascontiguousarray(x.reshape(gt * gh * gw, c * temporal * patch * patch)), (gt, gh, gw)
