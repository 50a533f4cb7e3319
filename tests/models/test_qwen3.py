"""Golden tests of the Qwen3-VL backend (DeepStack, timestamps, interleaved M-RoPE) on a tiny random model, and of
Qwen3.5's (the same vision path without DeepStack)."""
import numpy as np
import pytest
import torch

from models.backend import PromptClip
from models.preprocess import patchify
from tests.models.decode import decode_by_hand


@pytest.fixture(scope="module", params=["tiny-qwen3-vl", "tiny-qwen3.5"])
def llm3(request, model_config):
    from dataclasses import replace
    from models.loader import load_llm
    return load_llm(replace(model_config, llm=request.param))


@pytest.fixture(scope="module")
def clip3(llm3):
    """A 3-step clip (6 frames of 64x96 pixels: 2x3 tokens a step) encoded by the backend, step by step, with
    nothing dropped; and the pixels as the model's own forward takes them (one video)."""
    frames = np.random.default_rng(0).integers(0, 255, (6, 64, 96, 3), dtype=np.uint8)
    tokens = llm3.encode(frames.reshape(3, 2, 64, 96, 3))                  # [3, 6, token_dim]
    t, h, w = 3, 2, 3
    positions = torch.tensor([[a, b, c] for a in range(t) for b in range(h) for c in range(w)])
    clip = PromptClip("[00:00:10 - 00:00:16]", tokens.reshape(-1, llm3.token_dim), positions, (t, h, w), 2.0,
                      start=10.0)
    pixels, thw = patchify(frames, llm3.patch, llm3.merge, 2, mean=llm3.mean, std=llm3.std)
    return clip, torch.from_numpy(pixels), torch.tensor([thw])


def _forward(llm3, inputs):
    with torch.inference_mode():
        return llm3.model(**llm3.generate_inputs(inputs)).logits


def test_tokens_carry_every_deepstack_level(llm3):
    width = llm3.model.config.vision_config.out_hidden_size
    levels = len(llm3.model.config.vision_config.to_dict().get("deepstack_visual_indexes") or [])
    assert llm3.levels == levels and llm3.token_dim == width * (1 + levels) and llm3.cell == 32


def test_with_nothing_dropped_the_forward_equals_the_models_own(llm3, clip3):
    clip, pixels, grid = clip3
    inputs = llm3.build_inputs("what happened?", [clip])
    ids = inputs["input_ids"]
    with torch.inference_mode():
        llm3.model.model.rope_deltas = None
        normal = llm3.model(input_ids=ids, pixel_values_videos=pixels, video_grid_thw=grid,
                            mm_token_type_ids=(ids == llm3.video_token_id).int() * 2).logits
    torch.testing.assert_close(_forward(llm3, inputs), normal, rtol=1e-4, atol=1e-4)
    # the prompt is the processor's layout: each step's time (mean of its 2 frames) before its tokens
    text = llm3.tokenizer.decode(ids[0])
    assert "<10.5 seconds><|vision_start|>" in text and "<14.5 seconds><|vision_start|>" in text


def test_deepstack_features_reach_the_decoder(llm3, clip3):
    if not llm3.levels:
        pytest.skip("Qwen3.5 has no DeepStack")
    clip = clip3[0]
    width = llm3.model.config.vision_config.out_hidden_size
    flat = clip.tokens.clone()
    flat[:, width:] = 0                                    # the merged features alone
    plain = PromptClip(clip.label, flat, clip.positions, clip.grid, 2.0, start=10.0)
    a, b = _forward(llm3, llm3.build_inputs("q", [clip])), _forward(llm3, llm3.build_inputs("q", [plain]))
    assert (a - b).abs().max() > 1e-3


def test_dropped_tokens_keep_full_layout_positions_and_each_steps_time(llm3, clip3):
    clip = clip3[0]
    full = llm3.build_inputs("q", [clip])
    keep = torch.tensor([0, 5, 13, 17])                    # step 1 (tokens 6-11) loses every token
    part = llm3.build_inputs("q", [PromptClip(clip.label, clip.tokens[keep], clip.positions[keep], clip.grid, 2.0,
                                              start=10.0)])
    vid_full = (full["input_ids"][0] == llm3.video_token_id).nonzero().squeeze(1)
    vid_part = (part["input_ids"][0] == llm3.video_token_id).nonzero().squeeze(1)
    assert len(vid_part) == 4 and full["input_ids"].shape[1] - part["input_ids"].shape[1] == 18 - 4
    assert torch.equal(part["position_ids"][:, 0, vid_part], full["position_ids"][:, 0, vid_full[keep]])
    assert torch.equal(part["position_ids"][:, 0, -5:], full["position_ids"][:, 0, -5:])
    # the features given for the video slots are the kept ones, every level with the same mask
    for level, chunk in zip(part["video"], clip.tokens[keep].split(llm3.model.config.vision_config.out_hidden_size,
                                                                   -1)):
        torch.testing.assert_close(level.float(), chunk.float())
    # the emptied step keeps its time and its (empty) vision block
    assert "<12.5 seconds><|vision_start|><|vision_end|>" in llm3.tokenizer.decode(part["input_ids"][0])
    assert llm3.prompt_size("q", [PromptClip(clip.label, clip.tokens[keep], clip.positions[keep], clip.grid, 2.0,
                                             start=10.0)]) == part["input_ids"].shape[1]


def test_generate_equals_a_hand_written_decode_loop(llm3, clip3):
    clip = clip3[0]
    keep = torch.arange(0, 18, 2)
    inputs = llm3.build_inputs("what is new?", [PromptClip(clip.label, clip.tokens[keep], clip.positions[keep],
                                                           clip.grid, 2.0, start=10.0)])
    gen_inputs = llm3.generate_inputs(inputs)
    n = 6
    with torch.inference_mode():
        llm3.model.model.rope_deltas = None
        gen = llm3.model.generate(**gen_inputs, do_sample=False, max_new_tokens=n, min_new_tokens=n)
        out = llm3.model(**gen_inputs, use_cache=True)
        ids = decode_by_hand(llm3.model, out, int(inputs["position_ids"][0, 0, -1]), inputs["input_ids"].shape[1], n)
    assert gen[0, -n:].tolist() == ids


def test_answer_streams_only_the_new_text(llm3, clip3):
    pieces = list(llm3.answer("describe", [clip3[0]], max_new_tokens=4))
    assert pieces and "Question" not in "".join(pieces) and "seconds>" not in "".join(pieces)


def test_two_clips_with_the_same_label_keep_their_own_tokens(llm3, clip3):
    clip = clip3[0]
    other = PromptClip(clip.label, clip.tokens.flip(0), clip.positions, clip.grid, 2.0, start=10.0)
    inputs = llm3.build_inputs("q", [clip, other])
    merged = inputs["video"][0].float()
    width = llm3.model.config.vision_config.out_hidden_size
    torch.testing.assert_close(merged[:18], clip.tokens[:, :width].float())
    torch.testing.assert_close(merged[18:], clip.tokens.flip(0)[:, :width].float())


def test_the_registry_picks_the_backend_by_model_type(tmp_path, model_config):
    import json
    from dataclasses import replace

    from models.loader import ModelLoadError, load_llm, resolve_llm
    from models.qwen import QwenVideoLLM
    from models.qwen3 import Qwen3VideoLLM
    from models.registry import backend_for
    assert backend_for(resolve_llm("tiny", model_config)) is QwenVideoLLM
    assert backend_for(resolve_llm("tiny-qwen3-vl", model_config)) is Qwen3VideoLLM
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(ModelLoadError, match="family 'gpt2' is not supported; supported: qwen2_5_vl"):
        load_llm(replace(model_config, llm=str(tmp_path)))
