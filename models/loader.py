"""Loading the shared models once: resolves "tiny", the device and the dtype, and reports failures in one line."""
import os
from pathlib import Path

import torch

from models.config import DEFAULT_LLMS, LARGE_GPU_GIB, ModelConfig, ServerConfig
from models import tiny
from models.registry import ModelLoadError, backend_for


def pick_device(name: str) -> torch.device:
    """The torch device for a config's device name; ValueError (one line) for one this machine does not have."""
    if name != "auto":
        device = torch.device(name)
        mps = getattr(torch.backends, "mps", None)
        available = {"cpu": lambda: True, "cuda": torch.cuda.is_available,
                     "mps": lambda: mps is not None and mps.is_available(),
                     "xpu": lambda: hasattr(torch, "xpu") and torch.xpu.is_available()}
        if not available.get(device.type, lambda: True)():
            raise ValueError(f"device {name} is not available on this machine; use --device cpu (or auto)")
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name} does not exist: this machine has {torch.cuda.device_count()} CUDA devices")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        return torch.float32 if device.type == "cpu" else torch.bfloat16
    return getattr(torch, name)


def cache_dir(config: ModelConfig) -> Path:
    base = config.cache_dir or os.environ.get("VIGIL_CACHE") or Path.home() / ".cache" / "vigil"
    return Path(base)


def default_llm(device: torch.device) -> str:
    """What `--model auto` loads on this device: the large default on a GPU with room for it, else the small one."""
    if device.type == "cuda":
        gib = torch.cuda.get_device_properties(device).total_memory / 2**30
        if gib >= LARGE_GPU_GIB:
            return DEFAULT_LLMS["large"]
    return DEFAULT_LLMS["small"]


def resolve_llm(name: str, config: ModelConfig) -> str:
    """A hub id or folder as given; a tiny name ("tiny", "tiny-qwen3-vl", ...) becomes a locally built random-weight
    folder."""
    if name not in tiny.TINY_LLMS:
        return name
    kind = "qwen2_5_vl" if name == "tiny" else name.removeprefix("tiny-")
    return str(tiny.TINY_LLMS[name](cache_dir(config) / f"tiny-{kind}-v{tiny.TINY_VERSION}"))


def resolve_embedder(name: str, config: ModelConfig) -> str:
    if name != "tiny":
        return name
    return str(tiny.build_tiny_siglip(cache_dir(config) / f"tiny-siglip-v{tiny.TINY_VERSION}"))


def spec_name(name: str) -> str:
    """The name a store records: what the user asked for (a tiny build is named with its version, not its path)."""
    return f"{name}-v{tiny.TINY_VERSION}" if name in tiny.TINY_LLMS else name


def spec_of(recorded: str) -> str:
    """The `--model` that loads what a store recorded (`spec_name`'s inverse): a tiny build's name without its
    version (a build of another version is not that model: its recorded name is kept, and refused as unknown)."""
    base, _, version = recorded.rpartition("-v")
    return base if base in tiny.TINY_LLMS and version == str(tiny.TINY_VERSION) else recorded


def _quiet_transformers():
    """transformers' and huggingface_hub's own logging (download retries offline, progress bars) would bury the
    one line that says what went wrong."""
    import logging

    from transformers.utils import logging as hf_logging
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    for name in ("huggingface_hub.utils._http", "huggingface_hub.file_download"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _looks_like_path(name: str) -> bool:
    """A local folder, not a hub id ("owner/name" has exactly one slash)."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1


def _load_error(what: str, name: str, flag: str, e: Exception) -> "ModelLoadError":
    """One line: what failed and why (the first line of the library's message, its trailing period not doubled)."""
    if _looks_like_path(name) and not Path(name).expanduser().exists():
        why = f"no such folder: {name}"
    else:
        why = (str(e).splitlines()[0] if str(e) else type(e).__name__).rstrip(". ")
    return ModelLoadError(f"cannot load {what} {name!r}: {why}. Give a local folder with {flag} PATH, or {flag} tiny "
                          "for a smoke run")


def load_llm(config: ModelConfig):
    _quiet_transformers()
    device = pick_device(config.device)
    name = default_llm(device) if config.llm == "auto" else config.llm
    path = resolve_llm(name, config)
    try:
        backend = backend_for(path)
        llm = backend(path, config, device, pick_dtype(config.dtype, device), random_weights=tiny.is_random(path))
    except ModelLoadError:
        raise
    except Exception as e:  # transformers raises many types for a bad path, a bad config or no network
        raise _load_error("video LLM", name, "--model", e) from e
    if device.type == "cpu" and config.vision_speedup != "none":
        from models.quantize import speed_up
        speed_up(llm.model.model.visual, config.vision_speedup)
    llm.name = spec_name(name)
    return llm


def load_embedder(config: ModelConfig):
    from models.embedder import SiglipEmbedder
    _quiet_transformers()
    device = pick_device(config.device)
    path = resolve_embedder(config.embedder, config)
    try:
        emb = SiglipEmbedder(path, device, pick_dtype(config.dtype, device), random_weights=tiny.is_random(path))
    except Exception as e:
        raise _load_error("embedder", config.embedder, "--embedder", e) from e
    emb.name = spec_name(config.embedder)
    return emb


def load_answerer(server: ServerConfig, config: ModelConfig, llm):
    """What answers: the answer server where one is configured, else the local video LLM (`llm`, when it can answer;
    None for the light mode's patch encoder). A server is not contacted here: it may start after Vigil does."""
    if server.url is None:
        return llm if hasattr(llm, "answer") else None
    from models.remote import ServerAnswerer
    return ServerAnswerer(server, config.max_new_tokens, random_weights=tiny.is_random(server.model))
