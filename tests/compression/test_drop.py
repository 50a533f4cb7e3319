import torch

from compression.drop import drop_mask, update_reference


def _run(steps, tau=0.9, rule="last_kept"):
    """Feed [N, D] steps through drop + reference update; returns the keep masks."""
    ref, masks = None, []
    for s in steps:
        keep, _ = drop_mask(s, ref, tau)
        ref = update_reference(ref, s, keep, rule)
        masks.append(keep)
    return masks


def test_identical_steps_drop_everything_but_the_first():
    step = torch.randn(16, 8)
    masks = _run([step.clone() for _ in range(5)])
    assert masks[0].all()
    assert all(not m.any() for m in masks[1:])


def test_changed_region_keeps_exactly_its_tokens():
    torch.manual_seed(0)
    a = torch.randn(16, 8)
    b = a.clone()
    changed = torch.tensor([3, 7, 12])
    b[changed] = torch.randn(3, 8)
    masks = _run([a, b])
    assert masks[1].nonzero().squeeze(1).tolist() == changed.tolist()


def test_slow_drift_is_caught_by_last_kept_but_not_by_previous():
    torch.manual_seed(0)
    base = torch.randn(4, 8)
    target = torch.randn(4, 8)
    # 40 small steps from base to target: each step is nearly the same as the one before.
    steps = [base + (target - base) * i / 40 for i in range(41)]
    drifted_last = _run(steps, tau=0.95, rule="last_kept")
    drifted_prev = _run(steps, tau=0.95, rule="previous")
    assert not any(m.any() for m in drifted_prev[1:]), "previous-step rule never sees the drift"
    assert any(m.any() for m in drifted_last[1:]), "last-kept rule must catch accumulated drift"


def test_reference_keeps_old_tokens_where_dropped():
    ref = torch.zeros(3, 2)
    new = torch.ones(3, 2)
    keep = torch.tensor([True, False, True])
    out = update_reference(ref, new, keep, "last_kept")
    assert out[:, 0].tolist() == [1.0, 0.0, 1.0]
    assert update_reference(ref, new, keep, "previous").eq(1).all()
