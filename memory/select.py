"""Selection of clip memories for a question under a fixed visual-token budget."""
from memory.when import TimeSpan


def fuse_rankings(rankings: list[list[int]], k: float) -> list[int]:
    """Reciprocal-rank fusion: one ranking from several (each best first), by the sum of 1 / (k + rank). Ranks, not
    scores, are fused because image-text and text-text similarities are on different scales."""
    score: dict[int, float] = {}
    for ranking in rankings:
        for rank, cid in enumerate(ranking):
            score[cid] = score.get(cid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(score, key=lambda c: (-score[c], c))


def select_clips(ranked: list[int], latest: list[int], n_tokens: dict[int, int], start: dict[int, float],
                 budget: int) -> list[int]:
    """Clip ids for the prompt, in time order.

    ranked: candidate ids, best first (by key similarity); latest: the newest clip ids, newest first, always tried
    first; n_tokens / start: each id's token count and start time. Clips are taken greedily while their tokens fit
    in `budget`; a clip that does not fit is passed over for smaller ones further down.
    """
    chosen, used = [], 0
    for cid in list(latest) + list(ranked):
        if cid in chosen or used + n_tokens[cid] > budget:
            continue
        chosen.append(cid)
        used += n_tokens[cid]
    return sorted(chosen, key=lambda c: (start[c], c))


def select_for_query(store, query, stream: str | None, until: float | None, config,
                     exclude: frozenset[int] = frozenset(), span: TimeSpan | None = None) -> list[int]:
    """The clips a question with embedding `query` [dim] gets: candidates from the clip keys and, where clips have
    captions, the caption keys (fused by rank), plus the newest clips, within `config.token_budget`; time order.
    Clips in `exclude` (their tokens could not be read) are passed over, so the budget goes to others. With a `span`
    (the time the question asks about), only clips overlapping it, the newest of them first: none when it has none."""
    rankings = [[cid for cid, _ in store.search(query, config.candidates + len(exclude), stream, until, kind, span)
                 if cid not in exclude] for kind in ("visual", "caption")]
    ranked = fuse_rankings([r for r in rankings if r], config.fusion_k)[:config.candidates]
    latest = [c for c in store.latest(stream, config.latest_clips + len(exclude), until, span)
              if c not in exclude][:config.latest_clips]
    meta = store.meta(ranked + latest)
    # A writer may delete a clip (retention) between these reads: what has no row any more is not a candidate.
    ranked, latest = [c for c in ranked if c in meta], [c for c in latest if c in meta]
    return select_clips(ranked, latest, {c: m[1] for c, m in meta.items()}, {c: m[0] for c, m in meta.items()},
                        config.token_budget)
