import copy

import numpy as np
import pytest
import torch

from models.preprocess import patchify
from models.quantize import Int8Linear, speed_up
from models.tiny import SIZES

# Lowest cosine allowed of a sped-up tiny tower's token to its float32 token. Measured on these towers: bf16 >= 0.9999,
# int8 >= 0.9998 (tokens and DeepStack features alike); the real-size towers are in item 3.2 of the bench.
MIN_COSINE = 0.999


def _qwen3():
    from transformers.models.qwen3_vl.configuration_qwen3_vl import Qwen3VLVisionConfig
    from transformers.models.qwen3_vl.modeling_qwen3_vl import Qwen3VLVisionModel
    config = Qwen3VLVisionConfig(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                                 patch_size=16, spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                                 deepstack_visual_indexes=[0])
    return Qwen3VLVisionModel._from_config(config).eval(), 16, 0.5


def _qwen2_5():
    from transformers.models.qwen2_5_vl.configuration_qwen2_5_vl import Qwen2_5_VLVisionConfig
    from transformers.models.qwen2_5_vl.modeling_qwen2_5_vl import Qwen2_5_VisionTransformerPretrainedModel
    config = Qwen2_5_VLVisionConfig(**SIZES["tiny"][0], patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                                    window_size=112)
    return Qwen2_5_VisionTransformerPretrainedModel._from_config(config).eval(), 14, None


def _outputs(tower, patch, norm):
    """Two 2-frame steps of random frames through the tower -> [tokens, *DeepStack features], as the tower returns."""
    frames = np.random.default_rng(0).integers(0, 255, (4, 2 * 2 * patch, 3 * 2 * patch, 3), dtype=np.uint8)
    kw = dict(mean=norm, std=norm) if norm else {}
    pixels, thw = patchify(frames, patch, 2, 2, **kw)
    grid = torch.tensor([[1, thw[1], thw[2]]] * thw[0])        # each step its own video
    with torch.inference_mode():
        out = tower(torch.from_numpy(pixels), grid)
    return [out.pooler_output, *(getattr(out, "deepstack_features", None) or [])]


@pytest.fixture(scope="module", params=["qwen3", "qwen2_5"])
def tower(request):
    torch.manual_seed(0)
    return {"qwen3": _qwen3, "qwen2_5": _qwen2_5}[request.param]()


@pytest.mark.parametrize("mode", ["bf16", "int8"])
def test_speed_ups_keep_shapes_float32_and_tokens(tower, mode):
    module, patch, norm = tower
    ref = _outputs(module, patch, norm)
    fast = _outputs(speed_up(copy.deepcopy(module), mode), patch, norm)
    assert len(fast) == len(ref)
    for f, r in zip(fast, ref):
        assert f.shape == r.shape and f.dtype == torch.float32
        assert torch.nn.functional.cosine_similarity(f, r, dim=-1).min() > MIN_COSINE


def test_int8_swaps_every_linear(tower):
    fast = speed_up(copy.deepcopy(tower[0]), "int8")
    assert not any(isinstance(m, torch.nn.Linear) for m in fast.modules())
    assert any(isinstance(m, Int8Linear) for m in fast.modules())


def test_none_is_the_same_tower(tower):
    module, patch, norm = tower
    ref = _outputs(module, patch, norm)
    assert speed_up(module, "none") is module
    assert all(torch.equal(a, b) for a, b in zip(_outputs(module, patch, norm), ref))


def test_int8_linear_matches_linear_on_any_leading_shape():
    torch.manual_seed(0)
    for bias in (True, False):
        lin = torch.nn.Linear(48, 24, bias=bias)
        x = torch.randn(3, 5, 48)
        y, q = lin(x), Int8Linear(lin)(x)
        assert q.shape == y.shape and q.dtype == torch.float32
        assert torch.nn.functional.cosine_similarity(q, y, dim=-1).min() > MIN_COSINE
    assert torch.equal(Int8Linear(lin)(torch.zeros(2, 48)), torch.zeros(2, 24))     # an all-zero row stays zero


def test_unknown_mode_is_a_clear_error(tower):
    with pytest.raises(ValueError, match="unknown speed-up 'fp8'.*none, bf16, int8"):
        speed_up(copy.deepcopy(tower[0]), "fp8")


def test_the_loader_speeds_up_the_vision_tower_on_a_cpu(model_config):
    from dataclasses import replace

    from models.loader import load_llm
    plain = load_llm(replace(model_config, llm="tiny-qwen3-vl"))
    fast = load_llm(replace(model_config, llm="tiny-qwen3-vl", vision_speedup="int8"))
    assert any(isinstance(m, Int8Linear) for m in fast.model.model.visual.modules())
    assert not any(isinstance(m, Int8Linear) for m in fast.model.model.language_model.modules())
    steps = np.random.default_rng(0).integers(0, 255, (2, 2, 64, 96, 3), dtype=np.uint8)
    a, b = plain.encode(steps), fast.encode(steps)
    assert a.shape == b.shape and b.dtype == torch.float32
    assert torch.nn.functional.cosine_similarity(a.flatten(0, 1), b.flatten(0, 1), dim=-1).min() > 0.99
