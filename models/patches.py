"""The light ingest mode: visual tokens from the SigLIP embedder's patch features, for machines with no local video
LLM. One model is loaded: the same `SiglipEmbedder` computes the clip keys.

`PatchEncoder` is the part of `VideoLLM` that the ingestion loop uses (frames_per_step, cell, token_dim, name,
random_weights, frame_size, preprocess, encode); it cannot answer. A token is one SigLIP patch (16x16 pixels for
patch16) of the resized frame: the vision tower's last hidden state (after its final layer norm; SigLIP has no CLS
token, so every row is a patch, in raster order), averaged over the step's two frames.
"""
import threading
from contextlib import nullcontext

import numpy as np
import torch

from models.preprocess import resize_frames, smart_resize

# Frames a step takes, as Qwen's 2-frame temporal patch: steps, step times and clips mean the same in both modes.
FRAMES_PER_STEP = 2


class PatchEncoder:
    """SigLIP patch tokens for the ingestion loop, from an already-loaded `SiglipEmbedder`.

    Thread safety: concurrent inference on one torch module is safe here (the weights are only read, inference mode
    is per thread, transformers' output capture keeps its state per context and installs its hooks under a lock, and
    the text tower shares no module with the vision tower), but on a CPU two threads fight over the same cores and
    on a GPU over its memory. `lock` (the engine's embed lock) makes an encode and an embedding take turns; None:
    no lock, e.g. when nothing else uses the embedder.
    """

    frames_per_step = FRAMES_PER_STEP

    def __init__(self, embedder, max_pixels: int | None = None, lock: "threading.Lock | None" = None):
        self.embedder, self.lock = embedder, lock
        self.vision = embedder.model.vision_model
        vc = embedder.model.config.vision_config
        self.cell = vc.patch_size
        self.token_dim = vc.hidden_size
        # Default budget: the size the tower was trained at (224x224: a 14x14 token grid for siglip-base-patch16-224).
        self.max_pixels = max_pixels or vc.image_size ** 2
        if self.max_pixels < self.cell ** 2:
            raise ValueError(f"max_pixels must hold at least one {self.cell}x{self.cell} cell, got {self.max_pixels}")
        self.name = f"patches:{embedder.name}"     # what the store records: a Qwen model never reads these tokens
        self.random_weights = embedder.random_weights
        # The image processor's own rescale and normalisation (SigLIP: 1/255, mean 0.5, std 0.5), applied here to
        # frames already resized by `preprocess` (no PIL round trip). Shapes [3, 1, 1] to broadcast over [.., 3, H, W].
        p = embedder.processor
        self._scale = float(p.rescale_factor) if p.do_rescale else 1.0
        mean, std = (p.image_mean, p.image_std) if p.do_normalize else ([0.0] * 3, [1.0] * 3)
        self._mean = torch.tensor(mean, dtype=torch.float32, device=embedder.device).view(3, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32, device=embedder.device).view(3, 1, 1)

    def frame_size(self, height: int, width: int) -> tuple[int, int]:
        """Aspect kept, sides multiples of `cell`, area within `max_pixels`, at least one cell a side (Qwen's rule;
        small frames are not grown: upscaling adds tokens, not detail)."""
        return smart_resize(height, width, self.cell, self.cell ** 2, self.max_pixels)

    def preprocess(self, frames: np.ndarray) -> np.ndarray:
        """uint8 [T, H, W, 3] -> [T, h, w, 3] at `frame_size` (area filter when shrinking)."""
        return resize_frames(frames, self.frame_size(frames.shape[1], frames.shape[2]))

    def pixels(self, frames: np.ndarray) -> torch.Tensor:
        """Resized uint8 frames [N, H, W, 3] -> normalised float32 [N, 3, H, W] on the embedder's device."""
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.embedder.device)   # uint8: a quarter the copy
        x = x.permute(0, 3, 1, 2).float() * self._scale
        return (x - self._mean) / self._std

    def encode(self, steps: np.ndarray) -> torch.Tensor:
        """Resized uint8 frames [B, 2, H, W, 3] -> tokens [B, (H/cell)*(W/cell), D] float32 on the CPU, raster order:
        each frame's patch features, the step's two frames averaged."""
        b, f, h, w, _ = steps.shape
        if f != self.frames_per_step or h % self.cell or w % self.cell:
            raise ValueError(f"steps {steps.shape} are not [B, {self.frames_per_step}, H, W, 3] with H and W "
                             f"multiples of {self.cell}")
        x = self.pixels(steps.reshape(b * f, h, w, 3)).to(self.embedder.dtype)
        with self.lock if self.lock is not None else nullcontext(), torch.inference_mode():
            # Position embeddings interpolated to this grid (bicubic); at the trained square size they are used as is.
            out = self.vision(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state   # [B*2, N, D]
        # Averaged in float32: a bf16 mean would round the small differences the drop compares.
        return out.float().view(b, f, -1, self.token_dim).mean(1).cpu()

