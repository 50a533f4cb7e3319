"""Which backend serves a checkpoint: keyed by the `model_type` in its config.json.

A new model family is one backend file (a `VideoLLM`) and one line here.
"""
import importlib


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message says what to do. (Here, beneath the loader, because the registry
    is the first to refuse a checkpoint: an unsupported family.)"""

BACKENDS = {
    "qwen2_5_vl": "models.qwen:QwenVideoLLM",        # Qwen2.5-VL and its fine-tunes (TimeChat-Online)
    "qwen3_vl": "models.qwen3:Qwen3VideoLLM",        # Qwen3-VL 2B-32B dense
    "qwen3_vl_moe": "models.qwen3:Qwen3VideoLLM",    # Qwen3-VL 30B-A3B and 235B-A22B: the same vision path
    "qwen3_5": "models.qwen3:Qwen3VideoLLM",         # Qwen3.5: Qwen3-VL's vision path without DeepStack
    "qwen3_5_moe": "models.qwen3:Qwen3VideoLLM",
}


def model_type(path: str) -> str:
    """The checkpoint's family, from its config (a local folder or a hub id)."""
    from transformers import AutoConfig
    return AutoConfig.from_pretrained(path).model_type


def backend_for(path: str):
    """The `VideoLLM` class for a checkpoint; ModelLoadError (one line) for a family Vigil has no backend for."""
    kind = model_type(path)
    if kind not in BACKENDS:
        raise ModelLoadError(f"cannot load video LLM {path!r}: its family {kind!r} is not supported; "
                             f"supported: {', '.join(sorted(BACKENDS))}")
    module, name = BACKENDS[kind].split(":")
    return getattr(importlib.import_module(module), name)
