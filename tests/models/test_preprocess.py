import numpy as np
import pytest
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from models.preprocess import patchify, resize_frames, smart_resize
from stream.sources import FileSource


@pytest.fixture(scope="module")
def frame(videos):
    return next(FileSource(str(videos / "one-by-one-person-detection.mp4"), fps=1).frames(skip=10)).image


def _pil(image, min_pixels, max_pixels):
    proc = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    out = proc.preprocess([image], return_tensors="np")
    return out["pixel_values"], tuple(out["image_grid_thw"][0])


def test_identical_to_pil_processor_where_no_resize_happens(frame):
    image = np.ascontiguousarray(frame[:308, :588])           # multiples of 28: no resize
    ref, ref_thw = _pil(image, 56 * 56, 308 * 588)
    ours, thw = patchify(np.stack([image, image]))             # a still image is two equal frames
    assert thw == ref_thw == (1, 22, 42)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


def test_close_to_pil_processor_after_smart_resize(frame):
    ref, ref_thw = _pil(frame, 56 * 56, 448 * 448)
    size = smart_resize(*frame.shape[:2], 28, 56 * 56, 448 * 448)
    ours, thw = patchify(resize_frames(np.stack([frame, frame]), size))
    assert thw == ref_thw
    # Different resampling filters (area vs PIL bicubic): close, not equal. Values are in CLIP-normalised units.
    assert np.abs(ours - ref).mean() < 0.05


def test_video_steps_put_each_frame_in_its_temporal_slot():
    a = np.zeros((28, 28, 3), np.uint8)
    b = np.full((28, 28, 3), 255, np.uint8)
    pv, thw = patchify(np.stack([a, b, b, a]))
    assert thw == (2, 2, 2)
    rows = pv.reshape(2, 4, 3, 2, 14, 14)                       # (step, patch, C, frame, ph, pw)
    assert (rows[0, :, :, 0] < rows[0, :, :, 1]).all() and (rows[1, :, :, 0] > rows[1, :, :, 1]).all()


def test_smart_resize_matches_transformers():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as reference
    for h, w in [(432, 768), (360, 640), (240, 426), (576, 768), (272, 640), (2160, 3840), (20, 30), (1000, 10)]:
        assert smart_resize(h, w, 28, 56 * 56, 448 * 448) == reference(h, w, 28, 56 * 56, 448 * 448)


def test_smart_resize_rules():
    h, w = smart_resize(10, 1000, 28, 56 * 56, 448 * 448)
    assert h % 28 == 0 and w % 28 == 0 and h * w >= 56 * 56
    with pytest.raises(ValueError):
        smart_resize(1, 500)
