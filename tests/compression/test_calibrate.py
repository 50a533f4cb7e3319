import numpy as np

from compression.calibrate import RunningQuantile


def test_quantiles_match_numpy_within_a_bin_and_wait_for_enough_samples():
    rq = RunningQuantile(-1.0, 1.0, bins=2000, horizon=100_000, min_samples=100)
    assert rq.quantile(0.5) is None
    x = np.random.default_rng(0).uniform(0.6, 1.0, 5000)
    rq.observe(x[:50])
    assert rq.quantile(0.5) is None                      # 50 < min_samples
    rq.observe(x[50:])
    for q in (0.02, 0.5, 0.9):
        assert abs(rq.quantile(q) - np.quantile(x, q)) <= 2.0 / 2000 + 1e-3


def test_it_forgets_so_it_follows_the_stream():
    rq = RunningQuantile(0.0, 1.0, bins=1000, horizon=2000, min_samples=10)
    rq.observe(np.full(5000, 0.1))
    assert abs(rq.quantile(0.5) - 0.1) < 0.01
    for _ in range(20):                                   # the scene becomes noisier
        rq.observe(np.full(500, 0.3))
    assert abs(rq.quantile(0.5) - 0.3) < 0.01


def test_state_round_trip():
    a = RunningQuantile(0.0, 1.0, 100, 1000, 1)
    a.observe(np.linspace(0, 1, 300))
    b = RunningQuantile(0.0, 1.0, 100, 1000, 1)
    b.load(a.state())
    assert b.quantile(0.3) == a.quantile(0.3)
