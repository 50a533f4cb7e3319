"""Configuration of the model backends."""
import re
from dataclasses import dataclass

# The devices Vigil runs on: "auto", the CPU, Apple's GPU, or an NVIDIA / Intel GPU with an optional index.
DEVICE = re.compile(r"^(auto|cpu|mps|(cuda|xpu)(:\d+)?)$")


# The video LLM "auto" loads, by where it runs. Qwen3-VL is the family people run now (Frigate's GenAI docs recommend
# it) and beats Qwen2.5-VL at each size. 2B on a CPU or a small GPU: about 4.3 GB of bf16 weights (8.5 GB as float32
# on a CPU), the largest that answers in seconds there. 8B on a GPU with room for it (about 17 GB of bf16 weights
# plus the KV cache): SimpleStream's strong real-time result is Qwen3-VL-8B's.
DEFAULT_LLMS = {"small": "Qwen/Qwen3-VL-2B-Instruct", "large": "Qwen/Qwen3-VL-8B-Instruct"}
LARGE_GPU_GIB = 24        # GPU memory from which "auto" takes the large default


@dataclass
class ModelConfig:
    # Video LLM: a hub id or local folder of a supported family (models/registry.py), "auto" (DEFAULT_LLMS by the
    # device), or a tiny random-weight model built locally for smoke runs and tests ("tiny", "tiny-qwen3-vl", ...).
    # TimeChat-Online's checkpoint (a Qwen2.5-VL fine-tune, trained for the drop) is a folder or hub id like any other.
    llm: str = "auto"
    # Embedder for clip keys and questions: a SigLIP hub id, a local folder, or "tiny".
    embedder: str = "google/siglip-base-patch16-224"
    # "auto" picks cuda, then mps, then cpu; any torch device string is accepted.
    device: str = "auto"
    # "auto" is bfloat16 on an accelerator (half the memory, same quality) and float32 on a CPU (bf16 is slow there).
    dtype: str = "auto"
    # Speed-up of the vision tower on a CPU (models.quantize; ignored on an accelerator, where `dtype` rules): "int8"
    # (int8 weights and activations in its linear layers), "bf16", or "none". Bench item 3.2 (2-core AVX-512 CPU,
    # 448x448): int8 encodes 5.0x as fast as float32 on Qwen2.5-VL-3B's tower and 3.4x on Qwen3-VL-2B's, token
    # cosine to float32 >= 0.996; bf16 2.8x at 0.9999, slow on CPUs without bf16 instructions. "none" by default
    # until int8 is checked on trained weights, whose activation outliers random weights lack.
    vision_speedup: str = "none"
    # Pixel budget per frame after the smart resize; TimeChat-Online streams at 448x448.
    min_pixels: int = 56 * 56
    max_pixels: int = 448 * 448
    # Longest answer in tokens: an answer is streamed, but answers take the model one at a time (encodes go between
    # their steps), so an unbounded one would keep every other question waiting forever.
    max_new_tokens: int = 256
    # Longest clip caption in tokens: one line is asked for, and a caption runs once per clip over a whole video.
    caption_tokens: int = 48
    # Where "tiny" models are built and kept; None means ~/.cache/vigil.
    cache_dir: str | None = None

    def __post_init__(self):
        if not DEVICE.match(self.device):
            raise ValueError(f"unknown device {self.device!r}: use auto, cpu, mps, cuda or cuda:N")
        if self.min_pixels <= 0 or self.max_pixels < self.min_pixels:
            raise ValueError(f"need 0 < min_pixels <= max_pixels, got {self.min_pixels}, {self.max_pixels}")
        if self.max_pixels < 28 * 28:
            raise ValueError(f"max_pixels must be at least 784 (one 28x28 token), got {self.max_pixels}")
        if self.max_new_tokens < 1 or self.caption_tokens < 1:
            raise ValueError(f"max_new_tokens and caption_tokens must be positive, got {self.max_new_tokens}, "
                             f"{self.caption_tokens}")
        if self.vision_speedup not in ("none", "bf16", "int8"):
            raise ValueError(f"vision_speedup must be none, bf16 or int8, got {self.vision_speedup!r}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")
