"""What the rest of Vigil needs from a video LLM and an embedder, independent of the model family."""
from dataclasses import dataclass, field
from typing import Iterator, Protocol

import numpy as np
import torch


@dataclass
class PromptFrame:
    """One frame of a clip as an image-taking answer server is shown it."""
    label: str                  # its time as people read it: "00:01:04" (stream time) or "2026-11-22 14:03:12"
    jpeg: bytes                 # JPEG, at most a few hundred pixels a side (IngestConfig.keyframe_side)


@dataclass
class PromptClip:
    """One clip memory as the video LLM sees it in a prompt."""
    label: str                  # text put before the clip, e.g. "[00:01:04 - 00:01:12]"
    tokens: torch.Tensor        # [n, D] kept visual tokens as stored (the model's `token_dim`)
    positions: torch.Tensor     # [n, 3] long: (t, h, w) of each token in the clip's full token grid
    grid: tuple[int, int, int]  # (T, H, W) of the clip's full token grid: T temporal steps of H x W tokens
    seconds_per_step: float     # seconds between temporal steps (frames per grid / sampling fps)
    start: float = 0.0          # stream time of its first step (models that write each step's time as text)
    frames: list[PromptFrame] = field(default_factory=list)   # its keyframes, in time order (answer servers)


class VideoLLM(Protocol):
    """A model holds no lock: callers share it through the engine's `stream.scheduler.ModelGate`, encoding inside
    `gate.encoding()` and answering with a generation turn (so ingestion runs between an answer's steps)."""
    name: str              # what the store records, so memories are never read by another model
    token_dim: int         # D, the width of a stored visual token (Qwen3-VL: LLM width x (1 + DeepStack levels))
    frames_per_step: int   # frames that make one temporal step (Qwen2.5-VL and Qwen3-VL: 2)
    cell: int              # pixels per token side in the resized frame (Qwen2.5-VL: 28, Qwen3-VL: 32)
    random_weights: bool   # True for test models: their output is noise

    def frame_size(self, height: int, width: int) -> tuple[int, int]:
        """Resized (height, width) for frames of this size; multiples of `cell`."""

    def preprocess(self, frames: np.ndarray) -> np.ndarray:
        """Raw uint8 frames [T, H, W, 3] -> [T, h, w, 3] resized to this model's grid (`frame_size`), what `encode`
        takes: the ingestion loop calls it once per step."""

    def encode(self, steps: np.ndarray) -> torch.Tensor:
        """Resized uint8 frames [B, frames_per_step, H, W, 3] -> visual tokens [B, (H/cell)*(W/cell), D] (float32,
        on the CPU, raster order). The caller holds the model (`with gate.encoding():`)."""

    def answer(self, question: str, clips: list[PromptClip], context: str = "",
               max_new_tokens: int | None = None, turn=None) -> Iterator[str]:
        """Stream the answer text, piece by piece, for a question about the given clips (in time order).
        `turn` (a `GenerationTurn` of the gate): entered before the prompt is built, `between_steps()` after every
        decoding step, left as soon as generation ends (not when the reader is done). None: the caller has the model
        to itself."""

    def prompt_size(self, question: str, clips: list[PromptClip], context: str = "") -> int:
        """Number of tokens the prompt for this question and these clips takes (the tokenizer only: no turn needed)."""


class Embedder(Protocol):
    name: str
    dim: int
    random_weights: bool

    def embed_images(self, images: list[np.ndarray]) -> np.ndarray:
        """RGB uint8 images -> [N, dim] float32, L2-normalised."""

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> [N, dim] float32, L2-normalised, comparable with image embeddings."""
