"""Configuration of the model backends."""
import math
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
    # Light ingest mode, for machines without a local video LLM: no video LLM is loaded; the drop runs on the
    # embedder's patch features (models/patches.py), keys and events are computed as always, and questions, captions
    # and watch rules go to an answer server (ServerConfig). Its memories hold patch features, not LLM tokens, so a
    # local video LLM never reads them (the store refuses), while a server reads their keyframes.
    light: bool = False

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


@dataclass
class ServerConfig:
    """An OpenAI-compatible chat-completions server that answers instead of the local video LLM (vLLM, Ollama,
    llama.cpp's server, `transformers serve`, a cloud API). It is shown each clip's keyframes with their times."""
    # Base URL of the server's OpenAI API, e.g. http://127.0.0.1:8000/v1 (vLLM), http://127.0.0.1:11434/v1 (Ollama).
    # None: the local video LLM answers.
    url: str | None = None
    # The model name the server serves (vLLM: the --served-model-name or checkpoint; Ollama: e.g. "qwen2.5vl:7b").
    model: str = ""
    # Environment variable holding the API key; its value is never stored or printed. Local servers need none.
    api_key_env: str = "VIGIL_ANSWER_API_KEY"
    # Images per question: each costs the server a few hundred tokens (Qwen2.5-VL: about 250 for a 448x252 frame),
    # so the budget, like the token budget of local answers, keeps a question's cost flat however long the stream.
    max_frames: int = 16
    # Long side in pixels of a live-window frame sent (stored keyframes are already this small: IngestConfig).
    frame_side: int = 448
    # Seconds to connect, and seconds without a byte of the answer before the request fails (a first token on a
    # loaded server can take tens of seconds, so the read timeout is generous; a dead host fails at connect).
    connect_timeout: float = 5.0
    timeout: float = 60.0
    # Retries of a request refused with 429 or 5xx, or whose connection failed, with the client's exponential
    # backoff (0.5 s doubling, at most 8 s, honouring Retry-After): a busy server gets room instead of a storm.
    retries: int = 2
    # The first retry waits about `backoff` seconds, each next one twice as long, none more than `backoff_max` (nor
    # does a server's Retry-After make it wait longer): a busy server gets room, a question is not held for minutes.
    backoff: float = 0.5
    backoff_max: float = 8.0

    def __post_init__(self):
        for name in ("max_frames", "frame_side", "retries"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be a whole number, got {getattr(self, name)!r}")
        for name in ("connect_timeout", "timeout", "backoff", "backoff_max"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {v!r}")
        if self.url is None and self.model:
            raise ValueError("an answer model needs its server: give --answer-with URL too")
        if self.url is not None:
            if not re.match(r"^https?://[^/\s]+", self.url):
                raise ValueError(f"answer server URL must start with http:// or https://, got {self.url!r}")
            if not self.model:
                raise ValueError("an answer server needs the model name it serves (--answer-model NAME)")
        if self.max_frames < 1 or self.frame_side < 32:
            raise ValueError(f"need max_frames >= 1 and frame_side >= 32, got {self.max_frames}, {self.frame_side}")
        if self.retries < 0:
            raise ValueError(f"retries must be 0 or more, got {self.retries}")
