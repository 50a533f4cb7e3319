"""The light ingest mode's encoder: SigLIP patch tokens through the ingestion loop (tiny random-weight SigLIP:
64x64 trained images, 16-pixel patches, width 32)."""
import threading
from itertools import islice

import numpy as np
import pytest
import torch

from models.patches import PatchEncoder

# A 224x224 budget on the tiny tower (trained at 64x64): grids like the real model's default, interpolated.
BUDGET = 224 * 224


@pytest.fixture(scope="module")
def enc(embedder):
    return PatchEncoder(embedder, max_pixels=BUDGET)


def scene(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_protocol_attributes(embedder, enc):
    vc = embedder.model.config.vision_config
    assert (enc.frames_per_step, enc.cell, enc.token_dim) == (2, vc.patch_size, vc.hidden_size)
    assert enc.name == f"patches:{embedder.name}" and enc.random_weights is embedder.random_weights is True
    assert PatchEncoder(embedder).max_pixels == vc.image_size ** 2      # default budget: the trained size


def test_frame_size_keeps_aspect_within_budget(enc):
    for h, w in [(432, 768), (720, 1280), (576, 768), (272, 640), (1080, 1920), (3000, 20)]:
        fh, fw = enc.frame_size(h, w)
        assert fh % enc.cell == 0 and fw % enc.cell == 0 and fh >= enc.cell and fw >= enc.cell
        assert fh * fw <= BUDGET
        assert abs(fw / fh - w / h) / (w / h) < 0.2 or min(fh, fw) == enc.cell, (h, w, fh, fw)
    assert enc.frame_size(720, 1280) == (160, 288)                      # 16:9 -> 10x18 = 180 tokens
    assert enc.frame_size(224, 224) == (224, 224)
    assert enc.frame_size(100, 100) == (96, 96)                         # small frames are not grown


def test_preprocess_and_encode_shapes(enc):
    raw = np.stack([scene(720, 1280, s) for s in range(2)])
    pix = enc.preprocess(raw)
    assert pix.shape == (2, 160, 288, 3) and pix.dtype == np.uint8
    tokens = enc.encode(np.stack([pix, pix[::-1]]))
    assert tokens.shape == (2, 10 * 18, enc.token_dim)
    assert tokens.dtype == torch.float32 and tokens.device.type == "cpu" and torch.isfinite(tokens).all()
    with pytest.raises(ValueError):
        enc.encode(pix[None, :, :150])                                  # not a multiple of the cell


def test_normalisation_equals_the_pil_processor(embedder, enc):
    """On a frame at the processor's own size (no resize): the same pixel values (to float32 rounding), and a step of
    that frame twice gives the tower's own last hidden state for it."""
    frame = scene(64, 64)
    ref = embedder.processor(images=[frame], return_tensors="pt")["pixel_values"]
    ours = enc.pixels(frame[None]).cpu()
    assert ours.shape == ref.shape and torch.allclose(ours, ref, atol=1e-6, rtol=0)
    with torch.inference_mode():
        hidden = embedder.model.vision_model(pixel_values=ref).last_hidden_state
    assert torch.allclose(enc.encode(np.stack([frame, frame])[None])[0], hidden[0], atol=1e-5)


def test_interpolation_is_the_identity_at_the_trained_size(embedder, enc):
    """SigLIP's trained position grid is used as is at its square size; any other grid is interpolated to its
    shape (so a 16:9 frame encodes to its own grid, not the trained one)."""
    size = embedder.model.config.vision_config.image_size
    x = enc.pixels(np.stack([scene(size, size, s) for s in range(2)]))
    vision = embedder.model.vision_model
    with torch.inference_mode():
        a = vision(pixel_values=x, interpolate_pos_encoding=True).last_hidden_state
        b = vision(pixel_values=x, interpolate_pos_encoding=False).last_hidden_state
    assert torch.equal(a, b)
    wide = enc.pixels(scene(48, 96)[None])
    with pytest.raises(Exception):                                      # without interpolation: a size mismatch
        with torch.inference_mode():
            vision(pixel_values=wide, interpolate_pos_encoding=False)


def test_identical_frames_give_identical_tokens_and_a_painted_block_changes_its_cells(enc):
    base = scene(224, 224)
    step = np.stack([base, base])
    a, b = enc.encode(np.stack([step, step]))
    assert torch.equal(a, b)
    assert torch.equal(enc.encode(step[None])[0], enc.encode(step[None])[0])
    painted = base.copy()
    rows, cols = slice(3 * 16, 5 * 16), slice(8 * 16, 11 * 16)          # cells (3..4, 8..10): 6 of 196
    painted[rows, cols] = 255
    c = enc.encode(np.stack([painted, painted])[None])[0]
    change = (1 - torch.nn.functional.cosine_similarity(a, c, dim=-1)).view(14, 14)
    block = np.zeros((14, 14), bool)
    block[3:5, 8:11] = True
    top = set(zip(*np.unravel_index(np.argsort(-change.numpy(), axis=None)[:6], (14, 14))))
    assert top == set(zip(*np.nonzero(block)))                          # the 6 most changed cells are the block's
    assert change[~torch.from_numpy(block)].max() < change[torch.from_numpy(block)].min()


def test_encode_holds_the_lock(embedder):
    """Given the engine's embed lock, an encode waits while a text is embedded under it."""
    lock = threading.Lock()
    enc = PatchEncoder(embedder, lock=lock)
    step = np.stack([scene(64, 64)] * 2)[None]
    done = threading.Event()
    with lock:
        t = threading.Thread(target=lambda: (enc.encode(step), done.set()))
        t.start()
        assert not done.wait(0.5)                                       # blocked behind the embedding
        embedder.embed_texts(["a person at the table"])
    t.join(5)
    assert done.is_set()


def test_ingest_loop_on_a_fixed_camera_clip(enc, videos):
    """The real loop over the first 40 s of a fixed camera on a room (a person enters about 6 s in): clips close
    with tokens of width D, and the drop keeps fewer tokens than the steps had."""
    from stream.config import IngestConfig
    from stream.ingest import ClipClosed, Ingestor, Step
    from stream.sources import FileSource

    ing = Ingestor(enc, IngestConfig())
    state = ing.new_state("light")
    source = FileSource(str(videos / "one-by-one-person-detection.mp4"), 1.0)
    steps = list(ing.run(islice(source.attach(state.analyzer).frames(), 40), state))
    clips = [s.clip for s in steps if isinstance(s, ClipClosed)]
    real = [s for s in steps if isinstance(s, Step)]
    assert len(real) == 20 and len(clips) == 5                          # 2-frame steps at 1 fps, 8 s clips
    h, w = enc.frame_size(*source.size)
    assert all(s.total == (h // enc.cell) * (w // enc.cell) for s in real)
    assert all(c.tokens.shape[1] == enc.token_dim and c.n_tokens > 0 for c in clips)
    assert all(c.grid[1:] == (h // enc.cell, w // enc.cell) for c in clips)
    kept, total = sum(s.kept for s in real), sum(s.total for s in real)
    assert kept < 0.35 * total, f"a fixed camera should drop most tokens, kept {kept}/{total}"
