"""Tiny random-weight models of the real architectures, built in code and saved to a folder.

No model hub is reachable where Vigil is developed and tested, so tests and offline smoke runs use these.
Their output is noise: every folder built here carries a RANDOM_WEIGHTS marker that the loaders turn into
a loud label on every answer.
"""
import json
from pathlib import Path

RANDOM_WEIGHTS_MARKER = "RANDOM_WEIGHTS"
# Bump when the tiny architecture changes so cached folders are rebuilt.
TINY_VERSION = 1

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                  "<|image_pad|>", "<|video_pad|>"]
# Qwen's chat layout, reduced to string contents (that is all Vigil sends).
CHAT_TEMPLATE = (
    "{%- for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _byte_tokenizer():
    """A byte-level BPE with no merges (one token per byte) plus the Qwen special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=CHAT_TEMPLATE)


def _mark(folder: Path, kind: str) -> None:
    (folder / RANDOM_WEIGHTS_MARKER).write_text(json.dumps({"kind": kind, "version": TINY_VERSION}))


def _is_built(folder: Path) -> bool:
    try:
        return json.loads((folder / RANDOM_WEIGHTS_MARKER).read_text()).get("version") == TINY_VERSION
    except (OSError, ValueError):
        return False


# Vision towers (and the text width they feed) by size. "3b" and "7b" are the real shapes of Qwen2.5-VL-3B and
# -7B's vision towers (with a 2-layer text model of the matching width): random weights, real compute, for speed
# and memory benchmarks.
_REAL_VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, fullatt_block_indexes=[7, 15, 23, 31])
SIZES = {
    "tiny": (dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, fullatt_block_indexes=[1]),
             dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2,
                  mrope_section=[2, 3, 3])),
    "3b": (dict(_REAL_VISION, out_hidden_size=2048),
           dict(hidden_size=2048, intermediate_size=256, num_attention_heads=16, num_key_value_heads=2,
                mrope_section=[16, 24, 24])),
    "7b": (dict(_REAL_VISION, out_hidden_size=3584),
           dict(hidden_size=3584, intermediate_size=256, num_attention_heads=28, num_key_value_heads=4,
                mrope_section=[16, 24, 24])),
}


def build_tiny_qwen(folder: str | Path, seed: int = 0, size: str = "tiny") -> Path:
    """Save a random Qwen2.5-VL with its tokenizer: "tiny" (2 vision blocks, 2 decoder layers, width 64), or a real
    vision tower ("3b", "7b") before a 2-layer text model."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    folder = Path(folder)
    if _is_built(folder):
        return folder
    vision, text = SIZES[size]
    text = dict(text)
    mrope = text.pop("mrope_section")
    tokenizer = _byte_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer), num_hidden_layers=2, max_position_embeddings=32768, **text,
            rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": mrope},
            bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        ),
        vision_config=dict(
            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=112, tokens_per_second=2,
            **vision,
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).eval()
    return _save(folder, model, tokenizer, ids, "qwen2_5_vl" if size == "tiny" else f"qwen2_5_vl-vision-{size}")


def _save(folder: Path, model, tokenizer, ids: dict, kind: str) -> Path:
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    _mark(folder, kind)
    return folder


# Qwen3-VL-shaped tiny towers: 16-pixel patches, a learned 8x8 position grid, DeepStack from both blocks (so two
# feature levels travel with every token, as the real model's three do).
_QWEN3_VISION = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=16,
                     spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64)
_QWEN3_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=16, max_position_embeddings=32768)


def build_tiny_qwen3(folder: str | Path, family: str = "qwen3_vl", seed: int = 0) -> Path:
    """Save a random tiny Qwen3-VL ("qwen3_vl": DeepStack, interleaved M-RoPE) or Qwen3.5 ("qwen3_5": the same
    vision path without DeepStack, a hybrid linear/full-attention text model) with its tokenizer."""
    import torch
    from transformers import AutoModelForImageTextToText, Qwen3_5Config, Qwen3VLConfig

    folder = Path(folder)
    if _is_built(folder):
        return folder
    tokenizer = _byte_tokenizer()
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    rope = {"rope_type": "default", "rope_theta": 5e6, "mrope_section": [2, 3, 3], "mrope_interleaved": True}
    text = dict(_QWEN3_TEXT, vocab_size=len(tokenizer), rope_parameters=rope, bos_token_id=ids["<|endoftext|>"],
                eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    tokens = dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                  vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    if family == "qwen3_vl":
        config = Qwen3VLConfig(text_config=text, vision_config=dict(_QWEN3_VISION, deepstack_visual_indexes=[0, 1]),
                               **tokens)
    elif family == "qwen3_5":
        text.update(layer_types=["linear_attention", "full_attention"], linear_key_head_dim=8,
                    linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4)
        config = Qwen3_5Config(text_config=text, vision_config=dict(_QWEN3_VISION), **tokens)
    else:
        raise ValueError(f"no tiny build for {family!r}")
    torch.manual_seed(seed)
    return _save(folder, AutoModelForImageTextToText.from_config(config).eval(), tokenizer, ids, family)


def build_tiny_siglip(folder: str | Path, seed: int = 0) -> Path:
    """Save a random tiny SigLIP (64x64 images, width 32) with a byte-level tokenizer and PIL image processor."""
    import torch
    from transformers import SiglipConfig, SiglipModel
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    folder = Path(folder)
    if _is_built(folder):
        return folder
    tokenizer = _byte_tokenizer()
    config = SiglipConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=64,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id),
        vision_config=dict(image_size=64, patch_size=16, hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2),
    )
    torch.manual_seed(seed)
    model = SiglipModel(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    SiglipImageProcessorPil(size={"height": 64, "width": 64}).save_pretrained(folder)
    _mark(folder, "siglip")
    return folder


# The tiny video LLMs `--model` accepts, each a builder of a folder. "tiny" stays Qwen2.5-VL: memories recorded
# with it keep their model name.
TINY_LLMS = {
    "tiny": build_tiny_qwen,
    "tiny-qwen3-vl": lambda folder: build_tiny_qwen3(folder, "qwen3_vl"),
    "tiny-qwen3.5": lambda folder: build_tiny_qwen3(folder, "qwen3_5"),
}


def is_random(folder: str | Path) -> bool:
    """True for a folder built here: its models' output must never be shown as an answer."""
    return (Path(folder) / RANDOM_WEIGHTS_MARKER).exists()
