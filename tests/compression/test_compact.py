import torch

from compression.compact import compact


def test_budget_keeps_most_novel_with_their_positions_sorted():
    tokens = torch.arange(10, dtype=torch.float32)[:, None].repeat(1, 4)
    positions = torch.tensor([[t, h, 0] for t in range(2) for h in range(5)])
    novelty = torch.tensor([0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.0, 0.6, 0.05, 0.5])
    out, pos = compact(tokens, positions, novelty, budget=4)
    assert out.shape[0] == 4
    assert sorted(out[:, 0].tolist()) == [1.0, 3.0, 5.0, 7.0]
    # every kept token still sits at its original position
    for tok, p in zip(out, pos):
        assert positions[int(tok[0])].tolist() == p.tolist()
    flat = (pos[:, 0] * 5 + pos[:, 1]).tolist()
    assert flat == sorted(flat)


def test_context_fills_the_rest_without_duplicating_positions():
    tokens = torch.ones(2, 4)
    positions = torch.tensor([[0, 0, 0], [0, 0, 1]])
    context = torch.zeros(6, 4)
    context_pos = torch.tensor([[0, h, w] for h in range(2) for w in range(3)])
    out, pos = compact(tokens, positions, torch.ones(2), budget=5, context=context, context_positions=context_pos)
    assert out.shape[0] == 5
    assert len({tuple(p) for p in pos.tolist()}) == 5
    assert out[:, 0].sum() == 2            # both kept tokens are in
    assert compact(tokens, positions, torch.ones(2), 8, context, context_pos)[0].shape[0] == 6


def test_tokens_given_out_of_order_come_back_sorted_by_position():
    positions = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 0, 0], [0, 0, 1]])
    tokens = torch.arange(4, dtype=torch.float32)[:, None]
    out, pos = compact(tokens, positions, torch.ones(4), budget=10)
    assert pos.tolist() == [[0, 0, 1], [0, 1, 0], [1, 0, 0], [1, 0, 1]]
    assert out[:, 0].tolist() == [3.0, 1.0, 2.0, 0.0]          # each token still at its own position
