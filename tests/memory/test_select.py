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
