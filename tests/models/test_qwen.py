import numpy as np
import pytest
import torch

from models.backend import PromptClip
from models.preprocess import patchify
from tests.models.decode import decode_by_hand


@pytest.fixture(scope="module")
def clip_inputs(llm):
    """A 2-step clip encoded as one video the normal way, and its PromptClip with nothing dropped."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (4, 56, 84, 3), dtype=np.uint8)
    pv, thw = patchify(frames)
    grid_thw = torch.tensor([thw])
    pixels = torch.from_numpy(pv)
    with torch.inference_mode():
        tokens = llm.model.model.get_video_features(pixels, grid_thw, return_dict=True).pooler_output[0]
    t, h, w = thw[0], thw[1] // 2, thw[2] // 2
    positions = torch.tensor([[a, b, c] for a in range(t) for b in range(h) for c in range(w)])
    clip = PromptClip("[00:00:00 - 00:00:03]", tokens, positions, (t, h, w), 2.0)
    return clip, pixels, grid_thw


def test_embeds_with_positions_equal_the_normal_forward(llm, clip_inputs):
    clip, pixels, grid_thw = clip_inputs
    inputs = llm.build_inputs("what happened?", [clip])
    ids = inputs["input_ids"]
    with torch.inference_mode():
        llm.model.model.rope_deltas = None
        normal = llm.model(input_ids=ids, pixel_values_videos=pixels, video_grid_thw=grid_thw,
                           mm_token_type_ids=(ids == llm.video_token_id).int() * 2,
                           second_per_grid_ts=torch.tensor([2.0])).logits
        llm.model.model.rope_deltas = None
        ours = llm.model(inputs_embeds=inputs["inputs_embeds"], position_ids=inputs["position_ids"],
                         attention_mask=inputs["attention_mask"]).logits
    torch.testing.assert_close(ours, normal, rtol=1e-4, atol=1e-4)


def test_dropped_tokens_keep_their_full_layout_positions(llm, clip_inputs):
    clip = clip_inputs[0]
    full = llm.build_inputs("q", [clip])
    keep = torch.tensor([0, 5, 6, 11])
    part = llm.build_inputs("q", [PromptClip(clip.label, clip.tokens[keep], clip.positions[keep], clip.grid, 2.0)])
    vid_full = (full["input_ids"][0] == llm.video_token_id).nonzero().squeeze(1)
    vid_part = (part["input_ids"][0] == llm.video_token_id).nonzero().squeeze(1)
    assert len(vid_part) == 4
    assert torch.equal(part["position_ids"][:, 0, vid_part], full["position_ids"][:, 0, vid_full[keep]])
    # the text after the clip keeps the positions it has in the full layout
    assert torch.equal(part["position_ids"][:, 0, -5:], full["position_ids"][:, 0, -5:])
    assert torch.equal(part["inputs_embeds"][0, vid_part], clip.tokens[keep].to(part["inputs_embeds"].dtype))


def test_generate_continues_positions_after_the_prompt(llm, clip_inputs):
    clip = clip_inputs[0]
    inputs = llm.build_inputs("what is new?", [clip])
    n = 6
    with torch.inference_mode():
        llm.model.model.rope_deltas = None
        gen = llm.model.generate(inputs_embeds=inputs["inputs_embeds"], position_ids=inputs["position_ids"],
                                 attention_mask=inputs["attention_mask"], do_sample=False, max_new_tokens=n,
                                 min_new_tokens=n)
        # the same decode by hand, positions continuing from the last prompt position
        out = llm.model(inputs_embeds=inputs["inputs_embeds"], position_ids=inputs["position_ids"], use_cache=True)
        ids = decode_by_hand(llm.model, out, int(inputs["position_ids"][0, 0, -1]), inputs["input_ids"].shape[1], n)
    assert gen[0, -n:].tolist() == ids


def test_answer_streams_text_and_releases_the_gate(llm, clip_inputs):
    from stream.scheduler import ModelGate
    gate = ModelGate()
    turn = gate.generation()
    pieces = list(llm.answer("describe", [clip_inputs[0]], max_new_tokens=5, turn=turn))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert not gate.held and not turn.holding and gate.stats()["generate"]["turns"] == 1
    # a consumer that stops early ends the generation and frees the model
    gen = llm.answer("describe", [clip_inputs[0]], max_new_tokens=200, turn=gate.generation())
    next(gen, None)
    gen.close()
    assert not gate.held
    with gate.encoding():                       # and the model can be had at once
        pass


def test_encode_gives_one_token_per_cell_in_raster_order(llm):
    steps = np.zeros((3, 2, 56, 84, 3), np.uint8)
    steps[1, :, :28, :28] = 255                                # a change in the top-left cell of step 1
    tokens = llm.encode(steps)
    assert tokens.shape == (3, 6, llm.token_dim)
    diff = (tokens[1] - tokens[0]).norm(dim=-1)
    assert int(diff.argmax()) == 0 and torch.equal(tokens[0], tokens[2])
