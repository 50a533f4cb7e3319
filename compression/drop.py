"""Differential token drop (TimeChat-Online, 2025), with a last-kept reference that catches slow drift."""
import torch


def similarity(tokens: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Cosine similarity per position. tokens, reference: [N, D] -> [N]."""
    return torch.nn.functional.cosine_similarity(tokens.float(), reference.float(), dim=-1)


def drop_mask(tokens: torch.Tensor, reference: torch.Tensor | None, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Which tokens of a step to keep.

    tokens: [N, D] one step in raster order; reference: [N, D] at the same positions, or None (keep all).
    Returns keep [N] bool (similarity <= tau) and novelty [N] float (1 - similarity, in [0, 2]).
    """
    if reference is None:
        return torch.ones(tokens.shape[0], dtype=torch.bool), torch.ones(tokens.shape[0])
    sim = similarity(tokens, reference)
    return sim <= tau, 1.0 - sim


def update_reference(reference: torch.Tensor | None, tokens: torch.Tensor, keep: torch.Tensor, rule: str) -> torch.Tensor:
    """Next reference. "last_kept": kept tokens replace theirs, dropped positions keep the old one (so change
    that creeps in below tau per step still adds up). "previous": the whole step (TimeChat-Online).
    reference, tokens: [N, D]; keep: [N] bool -> [N, D]."""
    if reference is None or rule == "previous":
        return tokens.clone()
    return torch.where(keep[:, None], tokens, reference)


def distinctiveness(tokens: torch.Tensor) -> torch.Tensor:
    """Novelty for a step kept whole (no reference): 1 - similarity to the step's mean token. [N, D] -> [N]."""
    return 1.0 - similarity(tokens, tokens.float().mean(0, keepdim=True).expand_as(tokens))
