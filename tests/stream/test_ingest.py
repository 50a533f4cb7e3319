import numpy as np
import torch

from compression.config import CompactConfig
from stream.config import IngestConfig
from stream.ingest import Ingestor
from stream.sources import Frame


def frames(n, moving=False, size=(112, 168)):
    """n frames at 1 fps of a textured still scene; with `moving`, a bright square walks right by one cell a step."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
    for i in range(n):
        img = base.copy()
        if moving:
            x = 28 * ((i // 2) % (size[1] // 28))
            img[28:56, x:x + 28] = 255
        yield Frame(img, float(i))


def test_still_scene_encodes_once_and_keeps_only_the_first_step(llm):
    ing = Ingestor(llm, IngestConfig(clip_seconds=4.0))
    state = ing.new_state("s")
    steps = list(ing.run(frames(12), state))
    real = [s for s in steps if s.total]
    assert len(real) == 6
    assert [s.encoded for s in real] == [True] + [False] * 5          # the pixel gate skips the tower
    assert real[0].kept == real[0].total and all(s.kept == 0 for s in real[1:])
    clips = [s.clip for s in steps if s.clip]
    assert [(c.start, c.end) for c in clips] == [(0.0, 3.0), (4.0, 7.0), (8.0, 11.0)]
    # later clips kept nothing but are filled with the scene as last seen, so they are not empty
    assert all(c.n_tokens == min(24, CompactConfig().clip_tokens) for c in clips)


def test_moving_region_keeps_its_tokens_at_their_positions(llm):
    ing = Ingestor(llm, IngestConfig(clip_seconds=100.0, compact=CompactConfig(clip_tokens=4096, fill_context=False)))
    state = ing.new_state("s")
    steps = list(ing.run(frames(8, moving=True), state))
    real = [s for s in steps if s.total]
    for k, s in enumerate(real[1:], start=1):
        kept_cells = set(zip(*np.nonzero(s.keep_map)))
        # the square left cell (1, k-1) and entered (1, k): both changed, nothing else did
        assert kept_cells == {(1, k - 1), (1, k)}, (k, kept_cells)
    clip = steps[-1].clip
    got = {tuple(p) for p in clip.positions.tolist() if p[0] > 0}
    assert got == {(k, 1, k - 1) for k in range(1, 4)} | {(k, 1, k) for k in range(1, 4)}


def test_clip_is_bounded_by_its_budget(llm):
    ing = Ingestor(llm, IngestConfig(clip_seconds=100.0, compact=CompactConfig(clip_tokens=10)))
    state = ing.new_state("s")
    clip = [s.clip for s in ing.run(frames(8, moving=True), state) if s.clip][0]
    assert clip.n_tokens == 10 and clip.kept > 10
    assert clip.tokens.dtype == torch.float16 and clip.positions.shape == (10, 3)


def test_events_on_real_clips(llm, videos, annotations):
    from stream.sources import FileSource
    ing = Ingestor(llm, IngestConfig())
    # bikes.mp4: every cut that a 1 fps sample can see is found within one sampling interval
    steps = list(ing.run(FileSource(str(videos / "bikes.mp4"), 1.0).frames(), ing.new_state("b")))
    cuts = [e.time for s in steps for e in s.events if e.kind == "scene_change"]
    last_sample = max(s.end for s in steps if s.total)
    truth = [c for c in annotations["bikes.mp4"]["cuts"] if c < last_sample]
    assert truth and all(any(0 <= c - t <= 1.0 for c in cuts) for t in truth), cuts
    assert len(cuts) == len(truth)
    # one-by-one: at least 5 of the 6 visits start an activity within 1.5 s
    steps = list(ing.run(FileSource(str(videos / "one-by-one-person-detection.mp4"), 1.0).frames(), ing.new_state("p")))
    starts = [e.time for s in steps for e in s.events if e.kind == "activity_start"]
    visits = [a for a, _ in annotations["one-by-one-person-detection.mp4"]["events"]]
    assert sum(any(abs(s - v) <= 1.5 for s in starts) for v in visits) >= 5, starts
    assert not [e for s in steps for e in s.events if e.kind == "scene_change"]    # a fixed camera has no cuts
    kept = sum(s.kept for s in steps) / sum(s.total for s in steps)
    assert kept < 0.2, f"fixed camera should drop most tokens, kept {kept:.1%}"
