"""Selection of clip memories for a question under a fixed visual-token budget, from one camera's memory or
spread over several cameras' by relevance."""
from dataclasses import dataclass

import numpy as np

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


def _candidates(store, query, stream: str | None, until: float | None, config, exclude: frozenset[int],
                span: TimeSpan | None, scores: bool = False) -> tuple[list[int], list[int], dict, dict[int, float]]:
    """(ranked, latest, meta, scores): candidates from the clip keys and the caption keys fused by rank, best first;
    the newest clips, newest first; {id: (start, n_tokens)} of both; with `scores`, {id: clip key . query}. Clips in
    `exclude` and clips a writer deleted meanwhile (retention) are not candidates."""
    found = store.found(query, config.candidates + len(exclude), stream, until, span,
                        config.latest_clips + len(exclude), scores)
    return (*_ranked(found, config, exclude), found.meta, found.scores)


def _ranked(found, config, exclude: frozenset[int] = frozenset()) -> tuple[list[int], list[int]]:
    """(ranked, latest) of what a store found: the key and caption rankings fused, the newest clips; none excluded."""
    rankings = [[cid for cid, _ in hits if cid not in exclude] for hits in (found.visual, found.caption)]
    ranked = fuse_rankings([r for r in rankings if r], config.fusion_k)[:config.candidates]
    latest = [c for c in found.latest if c not in exclude][:config.latest_clips]
    return [c for c in ranked if c in found.meta], [c for c in latest if c in found.meta]


def select_for_query(store, query, stream: str | None, until: float | None, config,
                     exclude: frozenset[int] = frozenset(), span: TimeSpan | None = None) -> list[int]:
    """The clips a question with embedding `query` [dim] gets: candidates from the clip keys and, where clips have
    captions, the caption keys (fused by rank), plus the newest clips, within `config.token_budget`; time order.
    Clips in `exclude` (their tokens could not be read) are passed over, so the budget goes to others. With a `span`
    (the time the question asks about), only clips overlapping it, the newest of them first: none when it has none."""
    ranked, latest, meta, _ = _candidates(store, query, stream, until, config, exclude, span)
    return select_clips(ranked, latest, {c: m[1] for c, m in meta.items()}, {c: m[0] for c, m in meta.items()},
                        config.token_budget)


@dataclass
class Candidate:
    """A clip one camera proposes for a question asked of several."""
    camera: str          # the camera (its memory's stream)
    id: int              # the clip's id in that camera's store
    score: float         # its key's similarity to the question
    tokens: int          # its visual tokens
    start: float         # stream seconds


def camera_candidates(store, query: np.ndarray, camera: str, config, exclude: frozenset[int] = frozenset(),
                      span: TimeSpan | None = None) -> list[Candidate]:
    """What one camera proposes: the candidates it would take for the question alone (key and caption rankings
    fused, and its newest clips), each scored by its clip key's inner product with the question. Every camera of an
    engine keys its clips with the one embedder, so these scores compare across cameras (the fused ranks do not:
    each camera's best has the same rank)."""
    ranked, latest, meta, scores = _candidates(store, query, camera, None, config, exclude, span, scores=True)
    return _proposed(camera, ranked, latest, meta, scores)


def cameras_candidates(store, query: np.ndarray, asks: list[tuple[str, TimeSpan | None]],
                       config) -> list[Candidate]:
    """`camera_candidates` of several cameras of one memory (a shared store), each with its own span, read at once
    (store.found_across: one round trip for all of them in the shared store)."""
    out = []
    for (camera, _), found in zip(asks, store.found_across(query, config.candidates, asks, config.latest_clips,
                                                           scores=True)):
        out += _proposed(camera, *_ranked(found, config), found.meta, found.scores)
    return out


def _proposed(camera: str, ranked: list[int], latest: list[int], meta: dict, scores: dict) -> list[Candidate]:
    ids = list(dict.fromkeys(latest + ranked))   # scored by their keys alone: a camera's rows are not read whole
    return [Candidate(camera, i, scores[i], meta[i][1], meta[i][0]) for i in ids if i in scores]


def spread(candidates: list[Candidate], budget: int) -> list[Candidate]:
    """The budget spread over the cameras by relevance: every camera's candidates in one ranking by score (ties: the
    camera's name, then the clip id, so the choice is reproducible), taken greedily while their tokens fit; a clip
    that does not fit is passed over for smaller ones further down. A camera whose clips match the question gets
    much of the budget, one with nothing relevant little or none; the cost is the one budget however many cameras."""
    chosen, used = [], 0
    for c in sorted(candidates, key=lambda c: (-c.score, c.camera, c.id)):
        if used + c.tokens > budget:
            continue
        chosen.append(c)
        used += c.tokens
    return chosen
