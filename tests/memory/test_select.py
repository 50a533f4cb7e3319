from memory.select import select_clips


def test_budget_latest_first_and_time_order():
    n = {1: 100, 2: 100, 3: 300, 4: 50, 5: 100}
    start = {1: 0.0, 2: 8.0, 3: 16.0, 4: 24.0, 5: 32.0}
    chosen = select_clips(ranked=[3, 1, 2, 4], latest=[5], n_tokens=n, start=start, budget=450)
    assert 5 in chosen                                      # the newest clip is always in
    assert sum(n[c] for c in chosen) <= 450
    assert chosen == sorted(chosen, key=start.get)
    assert chosen == [3, 4, 5]              # 5 (latest), 3 (best): 400; 1 and 2 do not fit, 4 fills to 450
    assert select_clips([1, 2], [], n, start, budget=50) == []


def test_same_size_however_many_candidates():
    n = {i: 256 for i in range(10_000)}
    start = {i: float(i) for i in range(10_000)}
    small = select_clips(list(range(8)), [7], n, start, 2048)
    large = select_clips(list(range(0, 10_000, 300)), [9_999], n, start, 2048)
    assert sum(n[c] for c in small) == sum(n[c] for c in large) == 2048


def test_the_newest_clip_quota_is_filled_past_excluded_clips(tmp_path):
    """Three newest clips are asked for and the two newest of all cannot be read (excluded): the three newest of
    the others come, not one (the quota is counted after the exclusions)."""
    from dataclasses import replace

    import numpy as np

    from memory.config import SelectConfig
    from memory.select import select_for_query
    from tests.memory.test_store import DIM, make_clip, open_store
    store = open_store(tmp_path)
    ids = [store.add(make_clip(i)) for i in range(10)]
    config = replace(SelectConfig(), latest_clips=3, candidates=1, token_budget=10_000)
    query = np.zeros(DIM, dtype=np.float32)
    query[0] = 1.0
    chosen = select_for_query(store, query, "cam", None, config, exclude=frozenset(ids[-2:]))
    assert set(ids[-5:-2]) <= set(chosen) and not set(ids[-2:]) & set(chosen)
    store.close()


def test_the_budget_is_spread_over_cameras_by_relevance():
    from memory.select import Candidate, spread
    hall = [Candidate("hall", i, 0.9 - 0.01 * i, 100, float(i)) for i in range(5)]
    yard = [Candidate("yard", i, 0.5 - 0.01 * i, 100, float(i)) for i in range(5)]
    # The relevant camera takes the budget; the other gets what is left of it, best first.
    assert [(c.camera, c.id) for c in spread(hall + yard, 600)] == \
        [("hall", i) for i in range(5)] + [("yard", 0)]
    # Equally relevant cameras share it (ties by name, then id); a clip too big is passed over for a smaller one.
    even = [Candidate(cam, i, 0.7 - 0.1 * i, 100, 0.0) for cam in ("a", "b") for i in range(3)]
    assert [(c.camera, c.id) for c in spread(even, 400)] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    big = [Candidate("a", 0, 0.9, 500, 0.0), Candidate("b", 0, 0.1, 50, 0.0)]
    assert [c.camera for c in spread(big, 300)] == ["b"]
    assert spread([], 2048) == []


def test_a_camera_proposes_its_clips_scored_by_their_keys_on_one_scale(tmp_path):
    """Each camera's candidates carry the inner product of their key with the question, so two stores' candidates
    rank together: the camera whose clip key is the question's direction comes first."""
    import numpy as np

    from memory.config import SelectConfig
    from memory.select import camera_candidates, spread
    from tests.memory.test_store import DIM, make_clip, open_store
    query = np.zeros(DIM, dtype=np.float32)
    query[0] = 1.0
    stores = {}
    for cam in ("hall", "yard"):
        stores[cam] = open_store(tmp_path / cam)
        for i in range(6):
            stores[cam].add(make_clip(i, stream=cam))
    target = make_clip(99, stream="yard")
    target.key = query.copy()
    best = stores["yard"].add(target)
    pool = [c for cam, s in stores.items() for c in camera_candidates(s, query, cam, SelectConfig())]
    assert {c.camera for c in pool} == {"hall", "yard"}
    for c in pool:                       # the score is the key's inner product with the question
        key = stores[c.camera].get([c.id])[0].key
        assert abs(c.score - float(key @ query)) < 1e-6 and c.tokens == 5
    top = spread(pool, 5)
    assert [(c.camera, c.id) for c in top] == [("yard", best)]
    for s in stores.values():
        s.close()
