import numpy as np
import torch

from compression.config import CompactConfig
from stream.config import IngestConfig
from stream.ingest import ClipClosed, Ingestor, Step
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
    real = [s for s in steps if isinstance(s, Step)]
    assert len(real) == 6
    assert [s.encoded for s in real] == [True] + [False] * 5          # the pixel gate skips the tower
    assert real[0].kept == real[0].total and all(s.kept == 0 for s in real[1:])
    clips = [s.clip for s in steps if isinstance(s, ClipClosed)]
    assert [(c.start, c.end) for c in clips] == [(0.0, 3.0), (4.0, 7.0), (8.0, 11.0)]
    # later clips kept nothing but are filled with the scene as last seen, so they are not empty
    assert all(c.n_tokens == min(24, CompactConfig().clip_tokens) for c in clips)


def test_moving_region_keeps_its_tokens_at_their_positions(llm):
    ing = Ingestor(llm, IngestConfig(clip_seconds=100.0, compact=CompactConfig(clip_tokens=4096, fill_context=False)))
    state = ing.new_state("s")
    steps = list(ing.run(frames(8, moving=True), state))
    real = [s for s in steps if isinstance(s, Step)]
    for k, s in enumerate(real[1:], start=1):
        kept_cells = set(zip(*np.nonzero(s.keep_map)))
        # the square left cell (1, k-1) and entered (1, k): both changed, nothing else did
        assert kept_cells == {(1, k - 1), (1, k)}, (k, kept_cells)
    clip = [s.clip for s in steps if isinstance(s, ClipClosed)][-1]
    got = {tuple(p) for p in clip.positions.tolist() if p[0] > 0}
    assert got == {(k, 1, k - 1) for k in range(1, 4)} | {(k, 1, k) for k in range(1, 4)}


def test_clip_is_bounded_by_its_budget(llm):
    ing = Ingestor(llm, IngestConfig(clip_seconds=100.0, compact=CompactConfig(clip_tokens=10)))
    state = ing.new_state("s")
    clip = [s.clip for s in ing.run(frames(8, moving=True), state) if isinstance(s, ClipClosed)][0]
    assert clip.n_tokens == 10 and clip.kept > 10
    assert clip.tokens.dtype == torch.float16 and clip.positions.shape == (10, 3)


def test_a_cut_ends_the_step_and_clip_before_it_and_the_step_after_it_is_kept_whole(llm):
    """Frames every 0.5 s, scene A until 4.5 s, scene B from then: the cut is the second frame of the step that
    starts at 4 s, so that step is cut short (4 s alone); the clip ends before the cut and the next one opens with
    it, kept whole."""
    from stream.sources import Frame
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 255, (112, 168, 3), dtype=np.uint8) for _ in range(2))
    ing = Ingestor(llm, IngestConfig(clip_seconds=100.0))
    state = ing.new_state("s")
    frames = [Frame(a if i / 2 < 4.5 else b, i / 2) for i in range(20)]
    steps = list(ing.run(iter(frames), state))
    cuts = [e.time for s in steps for e in s.events if e.kind == "scene_change"]
    clips = [s.clip for s in steps if isinstance(s, ClipClosed)]
    assert cuts == [4.5]
    assert [(c.start, c.end) for c in clips] == [(0.0, 4.0), (4.5, 9.5)]
    after = next(s for s in steps if isinstance(s, Step) and s.time >= 4.5)
    assert after.time == 4.5 and after.kept == after.total                 # the new scene's first step: whole


def test_live_clips_record_the_wall_time_of_their_first_and_last_frames(llm):
    """Frames timestamped as a live or pushed source does (arrival times jitter about the stream clock): each clip
    carries the wall time of its first and last frame, a continued stream's shift leaves the wall clock alone, and
    a last step padded with its repeated frame ends at the last real frame's wall time."""
    wall0 = 1795356190.0
    for time_base in (0.0, 100.0):
        ing = Ingestor(llm, IngestConfig(clip_seconds=4.0))
        state = ing.new_state("cam")
        state.time_base = time_base
        walls = [wall0 + i + 0.01 * (i % 3) for i in range(11)]        # 11 frames: the last step is padded
        live = [Frame(f.image, f.time, wall=w) for f, w in zip(frames(11, moving=True), walls)]
        steps = list(ing.run(iter(live), state))
        clips = [s.clip for s in steps if isinstance(s, ClipClosed)]
        assert [(c.start - time_base, c.end - time_base) for c in clips] == [(0.0, 3.0), (4.0, 7.0), (8.0, 10.0)]
        assert [(c.wall_start, c.wall_end) for c in clips] == [(walls[0], walls[3]), (walls[4], walls[7]),
                                                               (walls[8], walls[10])]
        assert [s.wall for s in steps if isinstance(s, Step)] == [walls[1], walls[3], walls[5], walls[7], walls[9], walls[10]]
        assert [s.wall for s in steps if isinstance(s, ClipClosed)] == [c.wall_end for c in clips]
    state = ing.new_state("file")                                      # file frames: no wall time
    clips = [s.clip for s in ing.run(frames(8), state) if isinstance(s, ClipClosed)]
    assert clips and all(c.wall_start is None and c.wall_end is None for c in clips)


def test_events_on_real_clips(llm, videos, annotations):
    """Through the loop as the entry points run it (the source analyses every decoded frame)."""
    from stream.sources import FileSource
    ing = Ingestor(llm, IngestConfig())
    state = ing.new_state("b")
    steps = list(ing.run(FileSource(str(videos / "bikes.mp4"), 1.0).attach(state.analyzer).frames(), state))
    cuts = [e.time for s in steps for e in s.events if e.kind == "scene_change"]
    truth = annotations["bikes.mp4"]["cuts"]
    assert len(cuts) == len(truth) and all(abs(c - t) <= 0.1 for c, t in zip(cuts, truth)), cuts   # frame-accurate
    clips = [s.clip for s in steps if isinstance(s, ClipClosed)]
    assert not [(c.start, c.end, t) for c in clips for t in cuts if c.start < t <= c.end]   # no clip spans a cut
    state = ing.new_state("p")
    path = str(videos / "one-by-one-person-detection.mp4")
    steps = list(ing.run(FileSource(path, 1.0).attach(state.analyzer).frames(), state))
    starts = [e.time for s in steps for e in s.events if e.kind == "activity_start"]
    visits = [a for a, _ in annotations["one-by-one-person-detection.mp4"]["events"]]
    assert sum(any(abs(s - v) <= 1.5 for s in starts) for v in visits) == 6 and len(starts) == 6, starts
    assert not [e for s in steps for e in s.events if e.kind == "scene_change"]    # a fixed camera has no cuts
    real = [s for s in steps if isinstance(s, Step)]
    kept = sum(s.kept for s in real) / sum(s.total for s in real)
    assert kept < 0.25, f"fixed camera should drop most tokens, kept {kept:.1%}"
    # Every pixel-changed cell is kept by the default rule; the feature rule alone (keep_changed off) would drop
    # some on this tower, which is why the rule exists.
    from dataclasses import replace
    alone = Ingestor(llm, replace(IngestConfig(), gate=replace(IngestConfig().gate, keep_changed=False)))
    state = alone.new_state("f")
    feature = [s for s in alone.run(FileSource(path, 1.0).attach(state.analyzer).frames(), state) if isinstance(s, Step)]
    assert sum(s.changed_kept for s in feature) < 0.9 * sum(s.changed for s in feature)
    assert sum(s.changed_kept for s in real) == sum(s.changed for s in real) > 0


def test_a_gap_ends_the_step_and_clip_before_it_and_clears_the_live_window(llm):
    """A live source lost its stream from 4.5 s to 20 s (the first frame after the outage carries the gap event): no
    step and no clip spans the outage, the first step after it is kept whole (the scene is not measured against what
    was seen before it), and the live window holds nothing from before it."""
    from stream.events import SOURCE_GAP, Event
    rng = np.random.default_rng(2)
    scene = rng.integers(0, 255, (112, 168, 3), dtype=np.uint8)
    times = [i / 2 for i in range(10)] + [20 + i / 2 for i in range(10)]
    ing = Ingestor(llm, IngestConfig(clip_seconds=100.0, window_steps=8))
    state = ing.new_state("s")
    gap = Event(SOURCE_GAP, 4.5, {"end": 20.0, "reason": "stream lost"})
    out = list(ing.run(iter([Frame(scene, t, [gap] if t == 20 else []) for t in times]), state, final=False))
    steps = [s for s in out if isinstance(s, Step)]
    assert [(s.time, s.end) for s in steps] == [(0.0, 0.5), (1.0, 1.5), (2.0, 2.5), (3.0, 3.5), (4.0, 4.5),
                                                (20.0, 20.5), (21.0, 21.5), (22.0, 22.5), (23.0, 23.5), (24.0, 24.5)]
    assert [(c.clip.start, c.clip.end) for c in out if isinstance(c, ClipClosed)] == [(0.0, 4.5), (20.0, 24.5)]
    assert steps[5].kept == steps[5].total and steps[5].encoded            # after the outage: whole, a new reference
    assert [w.time for w in state.window] == [20.0, 21.0, 22.0, 23.0, 24.0]


def test_a_short_gap_inside_a_step_still_ends_it(llm):
    """The outage is shorter than a step (frames 0.5 s apart, the gap between 2.5 and 3.0 s): the step that was
    filling ends at the last frame before it, and the window starts again, though the clock did not jump."""
    from stream.events import SOURCE_GAP, Event
    scene = np.random.default_rng(3).integers(0, 255, (112, 168, 3), dtype=np.uint8)
    ing = Ingestor(llm, IngestConfig(clip_seconds=100.0, window_steps=8))
    state = ing.new_state("s")
    gap = Event(SOURCE_GAP, 2.5, {"end": 3.0, "reason": "stream lost"})
    out = list(ing.run(iter([Frame(scene, i / 2, [gap] if i == 6 else []) for i in range(11)]), state,
                       final=False))
    assert [(s.time, s.end) for s in out if isinstance(s, Step)] == [(0.0, 0.5), (1.0, 1.5), (2.0, 2.5),
                                                                     (3.0, 3.5), (4.0, 4.5), (5.0, 5.0)]
    assert [(c.clip.start, c.clip.end) for c in out if isinstance(c, ClipClosed)] == [(0.0, 2.5), (3.0, 5.0)]
    assert [w.time for w in state.window] == [3.0, 4.0, 5.0]


def test_a_cut_steps_pixel_change_is_not_taken_for_the_cameras_noise(llm):
    """The gate learns the camera's noise from the pixel change of ordinary steps; a scene change is change, not
    noise, so the step that starts a new scene leaves the noise estimate as it was."""
    rng = np.random.default_rng(4)
    a, b = (rng.integers(0, 255, (112, 168, 3), dtype=np.uint8) for _ in range(2))
    ing = Ingestor(llm, IngestConfig(clip_seconds=100.0))
    state = ing.new_state("s")
    before_cut = [Frame(a, float(i)) for i in range(6)]
    list(ing.run(iter(before_cut), state, final=False))
    noise = state.noise_cal.state().copy()
    out = list(ing.run(iter([Frame(b, 6.0), Frame(b, 7.0)]), state, final=False))
    assert any(e.kind == "scene_change" for r in out if isinstance(r, Step) for e in r.events)
    assert np.array_equal(state.noise_cal.state(), noise)
    list(ing.run(iter([Frame(b, 8.0), Frame(b, 9.0)]), state, final=False))   # an ordinary step: observed
    assert not np.array_equal(state.noise_cal.state(), noise)


def test_a_clips_thumbnail_is_its_step_with_most_pixel_change(llm):
    """A still scene where a bright square shows in one step only (frames 4-5): the thumbnail shows the square. The
    thumbnail was the step that kept most tokens: the first, kept whole, which shows no square; and which step keeps
    most depends on the model's weights, the pixel change does not."""
    def shown():
        for f in frames(12):
            if 4 <= f.time <= 5:
                f.image[28:56, 56:84] = 255
            yield f
    ing = Ingestor(llm, IngestConfig(clip_seconds=100.0))
    records = list(ing.run(shown(), ing.new_state("s")))
    closed = [r for r in records if isinstance(r, ClipClosed)]
    assert len(closed) == 1
    assert closed[0].thumb[28:56, 56:84].min() == 255          # the frame with the square
    first = [r for r in records if isinstance(r, Step)][0]
    assert first.kept == first.total                             # the step the old rule picked


def test_a_clip_with_no_pixel_change_known_takes_the_step_that_kept_most(llm):
    """A stream's first step has no pixel change to compare: a clip of it alone falls back to its kept tokens."""
    ing = Ingestor(llm, IngestConfig(clip_seconds=100.0))
    records = list(ing.run(frames(2), ing.new_state("s")))
    clip = [r for r in records if isinstance(r, ClipClosed)][0]
    assert (clip.thumb == next(frames(2)).image).all() and clip.clip.thumbnail
