"""Cross-camera batching (stream.batcher): steps of several streams that wait at once go in one vision-tower call,
and each stream's tokens are exactly what encoding its steps alone gives (tiny Qwen2.5-VL and SigLIP patch
encoders, random weights); a failed call reaches every stream in it; cameras on one engine share calls."""
import threading

import numpy as np
import pytest
import torch

from models.patches import PatchEncoder
from stream.batcher import EncodeBatcher
from stream.scheduler import ModelGate


def _steps(llm, n, h, w, seed):
    rng = np.random.default_rng(seed)
    fh, fw = llm.frame_size(h, w)
    return rng.integers(0, 255, (n, llm.frames_per_step, fh, fw, 3), dtype=np.uint8)


def _at_once(batcher, gate, requests):
    """Every request queued while the model is held elsewhere, then the model let go: they all wait at once."""
    out = [None] * len(requests)

    def stream(i):
        out[i] = batcher.encode(requests[i])[0]

    with gate.encoding():                       # an encode in progress: the streams' steps pile up behind it
        threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(requests))]
        for t in threads:
            t.start()
        assert gate.wait_for_waiters(encoders=len(requests), timeout=30)
    for t in threads:
        t.join()
    return out


@pytest.mark.parametrize("encoder", ["qwen2.5-vl", "siglip-patches"])
def test_steps_batched_across_streams_get_exactly_their_own_tokens(encoder, llm, embedder):
    model = llm if encoder == "qwen2.5-vl" else PatchEncoder(embedder, max_pixels=224 * 224)
    gate = ModelGate()
    batcher = EncodeBatcher(model, gate, max_steps=32)
    # Four cameras: three of one frame size (one of them with two steps waiting), one of another.
    requests = [_steps(model, 1, 270, 480, 0), _steps(model, 2, 270, 480, 1), _steps(model, 1, 270, 480, 2),
                _steps(model, 1, 480, 640, 3)]
    got = _at_once(batcher, gate, requests)
    for steps, tokens in zip(requests, got):
        alone = model.encode(steps)
        assert tokens.shape == alone.shape and torch.equal(tokens, alone)
    s = batcher.stats()
    # The first stream's turn encoded everything waiting: one call per frame size, one of them shared.
    assert (s.calls, s.steps, s.shared, s.largest) == (2, 5, 1, 4)


def test_a_batch_is_bounded_and_a_failed_call_reaches_every_stream_in_it(llm):
    gate = ModelGate()
    batcher = EncodeBatcher(llm, gate, max_steps=2)
    requests = [_steps(llm, 1, 270, 480, i) for i in range(5)]
    _at_once(batcher, gate, requests)
    s = batcher.stats()
    assert s.steps == 5 and s.largest == 2 and s.calls == 3                     # 2 + 2 + 1

    class Broken:
        frames_per_step = llm.frames_per_step

        def encode(self, steps):
            raise RuntimeError("CUDA out of memory")

    broken = EncodeBatcher(Broken(), gate, max_steps=8)
    errors = []

    def stream(steps):
        try:
            broken.encode(steps)
        except RuntimeError as e:
            errors.append(str(e))

    with gate.encoding():
        threads = [threading.Thread(target=stream, args=(r,)) for r in requests[:3]]
        for t in threads:
            t.start()
        assert gate.wait_for_waiters(encoders=3, timeout=30)
    for t in threads:
        t.join()
    assert errors == ["CUDA out of memory"] * 3


def test_cameras_on_one_engine_share_vision_tower_calls_and_store_what_they_would_alone(llm, embedder, tmp_path):
    """Three cameras ingesting at once on one engine: some calls carry several cameras' steps, and each camera's
    stored clips are the same as with batching off (the same frames, one camera at a time)."""
    from dataclasses import replace

    from models.config import ModelConfig
    from stream.engine import Engine, EngineConfig
    from tests.stream.test_ingest import frames

    def run(max_batch_steps, folder, at_once):
        cfg = EngineConfig(model=ModelConfig(llm="tiny"))
        cfg = replace(cfg, gate=replace(cfg.gate, max_batch_steps=max_batch_steps))
        engine = Engine(cfg, llm=llm, embedder=embedder)
        sessions = [engine.open(str(folder / f"cam{k}"), stream=f"cam{k}") for k in range(3)]
        work = [lambda s=s, k=k: list(s.run(frames(24, moving=True), batch=1)) for k, s in enumerate(sessions)]
        if at_once:
            threads = [threading.Thread(target=w) for w in work]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        else:
            for w in work:
                w()
        stored = [[(c.start, s.store.load([c.id]).clips[0].tokens) for c in s.store.clips()] for s in sessions]
        for s in sessions:
            s.close()
        return engine.encoder.stats(), stored

    shared_stats, batched = run(32, tmp_path / "a", at_once=True)
    alone_stats, alone = run(1, tmp_path / "b", at_once=False)
    assert alone_stats.shared == 0 and shared_stats.shared > 0 and shared_stats.calls < alone_stats.calls
    for x, y in zip(batched, alone):
        assert [t for t, _ in x] == [t for t, _ in y] and all(torch.equal(a, b) for (_, a), (_, b) in zip(x, y))
