"""Compaction of a clip's kept tokens to a fixed budget, keeping every token's original position."""
import torch


def compact(tokens: torch.Tensor, positions: torch.Tensor, novelty: torch.Tensor, budget: int,
            context: torch.Tensor | None = None, context_positions: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Bound a clip to `budget` tokens.

    tokens: [n, D] kept tokens; positions: [n, 3] long (t, h, w); novelty: [n] (higher = more worth keeping).
    context: [m, D] optional filler (the scene as last seen) with context_positions [m, 3]; used, evenly spread,
    only to fill what the kept tokens leave of the budget, and never at a position a kept token has.
    Returns (tokens [k, D], positions [k, 3]) with k <= budget, sorted by (t, h, w).
    """
    if tokens.shape[0] > budget:
        top = torch.topk(novelty, budget).indices
        tokens, positions = tokens[top], positions[top]
    room = budget - tokens.shape[0]
    if room > 0 and context is not None and context.shape[0] > 0:
        taken = {tuple(p) for p in positions.tolist()}
        free = torch.tensor([tuple(p) not in taken for p in context_positions.tolist()], dtype=torch.bool)
        context, context_positions = context[free], context_positions[free]
        if context.shape[0] > room:
            pick = torch.linspace(0, context.shape[0] - 1, room).round().long()
            context, context_positions = context[pick], context_positions[pick]
        tokens = torch.cat([tokens, context.to(tokens.dtype)])
        positions = torch.cat([positions, context_positions])
    if tokens.shape[0] == 0:
        return tokens, positions
    span = positions.max(0).values + 1
    order = torch.argsort((positions[:, 0] * span[1] + positions[:, 1]) * span[2] + positions[:, 2])
    return tokens[order], positions[order]
