"""Keyframes of clip memories: the first step and the steps that kept the most tokens, as small JPEGs of the raw
frames, chosen with at most `keyframes` frames held per open clip."""
from dataclasses import replace

import numpy as np
import pytest

from stream.config import IngestConfig
from stream.ingest import ClipClosed, Ingestor, Step, _Candidate, decode_jpeg, offer
from stream.sources import FileSource


def rule(kept: list[int], count: int) -> list[int]:
    """The spec, written out over a whole clip: the first step, then the others by most kept (ties: earlier), at
    most `count` in all, in time order."""
    if count == 0:
        return []
    rest = sorted(range(1, len(kept)), key=lambda i: (-kept[i], i))[:count - 1]
    return sorted([0, *rest])


def choose(kept: list[int], count: int) -> list[int]:
    """The loop's way: the first step held apart, the rest folded through `offer`; checks the bound as it goes."""
    if count == 0:
        return []
    first, best = 0, []
    for order, k in enumerate(kept[1:], start=1):
        best = offer(best, _Candidate(order, k, np.zeros((1, 1, 3), np.uint8), float(order), None), count - 1)
        assert len(best) <= count - 1                  # never more than count frames with the first
    return sorted([first, *(c.order for c in best)])


def test_offer_keeps_the_first_and_the_most_kept_steps_earlier_first_on_ties():
    kept = [0, 5, 3, 5, 9, 1, 9, 5]
    assert choose(kept, 4) == [0, 1, 4, 6]             # 9, 9, then the earlier of the 5s (step 1, not 3 or 7)
    assert choose(kept, 3) == [0, 4, 6]
    assert choose(kept, 2) == [0, 4]                   # of two 9s, the earlier
    assert choose(kept, 1) == [0] and choose(kept, 0) == []
    assert choose(kept, 20) == list(range(len(kept)))  # a short clip: every step, once
    assert choose([7], 4) == [0]
    rng = np.random.default_rng(0)
    for _ in range(200):
        kept = rng.integers(0, 4, rng.integers(1, 12)).tolist()   # few values: many ties
        count = int(rng.integers(0, 6))
        assert choose(kept, count) == rule(kept, count), (kept, count)


def run_clip(llm, path, config):
    """Ingest a file; yield (clip, its steps) and check the draft's bound after every step."""
    ing = Ingestor(llm, config)
    state = ing.new_state("k")
    steps, out = [], []
    for s in ing.run(FileSource(str(path), 1.0).attach(state.analyzer).frames(), state):
        d = state.draft
        if d is not None:
            assert (d.first is not None) + len(d.best) <= config.keyframes
        if isinstance(s, ClipClosed):
            out.append((s.clip, steps))
            steps = []
        elif isinstance(s, Step):
            steps.append(s)
    assert not steps
    return out, state


# An 8 s clip at 1 fps is 4 steps: the default count keeps them all (a fixed camera whose gate skips steps), 2 makes
# the choice matter (pedestrians all along).
@pytest.mark.parametrize("name,count", [("bottle-detection.mp4", 4), ("vtest.avi", 2)])
def test_real_clips_keep_their_first_step_and_most_kept_steps_as_small_jpegs(llm, videos, name, count):
    config = replace(IngestConfig(), keyframes=count)
    clips, state = run_clip(llm, videos / name, config)
    assert len(clips) >= 4
    skipped_first = 0
    for clip, steps in clips:
        kf = clip.keyframes
        assert 1 <= len(kf) <= config.keyframes
        times = [k.time for k in kf]
        assert times == sorted(set(times)) and clip.start <= times[0] and times[-1] <= clip.end
        assert times[0] == steps[0].end                 # the clip's first step (its last frame)
        assert times == [steps[i].end for i in rule([s.kept for s in steps], config.keyframes)]
        assert all(k.wall is None for k in kf)          # a file: no wall clock
        skipped_first += steps[0].kept == 0
        for k in kf:
            image = decode_jpeg(k.jpeg)
            assert image.ndim == 3 and max(image.shape[:2]) == config.keyframe_side   # the raw frame, shrunk
    if name == "bottle-detection.mp4":
        assert skipped_first                             # a first step the gate skipped is still the first keyframe
    raw = next(FileSource(str(videos / name), 1.0).frames()).image
    window = state.window[-1]                            # the live window's step holds its raw frame, as sampled
    assert window.frame.dtype == np.uint8 and window.frame.shape == raw.shape


def test_keyframe_count_and_side_follow_the_config(llm, videos):
    path = videos / "bikes.mp4"
    none, _ = run_clip(llm, path, replace(IngestConfig(), keyframes=0))
    assert none and all(c.keyframes == [] for c, _ in none)
    one, _ = run_clip(llm, path, replace(IngestConfig(), keyframes=1, keyframe_side=64))
    assert all([k.time for k in c.keyframes] == [steps[0].end] for c, steps in one)
    assert all(max(decode_jpeg(k.jpeg).shape[:2]) == 64 for c, _ in one for k in c.keyframes)
    for bad in ({"keyframes": -1}, {"keyframes": 2.5}, {"keyframe_side": 32}):
        with pytest.raises(ValueError):
            IngestConfig(**bad)
