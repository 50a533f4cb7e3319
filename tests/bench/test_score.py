"""The benchmark's event scoring: one-to-one matching within a tolerance."""
from bench.score import f1


def test_each_truth_is_matched_once_nearest_first():
    r = f1([1.0, 1.2, 5.0, 9.0], [1.1, 5.9], tolerance=1.0)
    assert (r["hits"], r["predicted"], r["truth"]) == (2, 4, 2)
    assert r["precision"] == 0.5 and r["recall"] == 1.0 and r["f1"] == 0.667


def test_nearest_pairs_win_so_a_greedy_first_come_match_cannot_steal():
    # 2.0 is within tolerance of both truths; nearest-first pairs 2.0 with 2.4 and 1.0 with 1.5
    assert f1([1.0, 2.0], [1.5, 2.4], tolerance=1.0)["hits"] == 2
    assert f1([], [], 1.0)["f1"] == 1.0 and f1([3.0], [], 1.0)["f1"] == 0.0 and f1([], [3.0], 1.0)["f1"] == 0.0
