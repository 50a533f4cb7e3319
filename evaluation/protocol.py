"""What a benchmark question is shown: the protocol of an evaluation, named in every score it produces.

- "streaming" (Vigil's own, the default): the engine's selection, relevant memory clips and the live window, under
  the token budget, as a user's question gets.
- "window-60s" (StreamingBench's main table): only the last `window_seconds` before the question, the newest clips
  first, under the same budget.
- "prefix" (OVO-Bench's offline models): the whole prefix up to the question, clips sampled uniformly over it to fit
  the budget.
The harness stores every clip up to the question's time before asking, so each protocol sees all of its span.
"""
from memory.when import TimeSpan

# Clip ends come from frame times as floats: a clip that ends at the question's time belongs to it.
TIME_EPS = 1e-6
WINDOW_SECONDS = 60.0     # the benchmark's own definition of its main table (StreamingBench), not a setting

PROTOCOLS = {
    "streaming": "Vigil's memory and live window: clips chosen by relevance and recency under the token budget",
    "window-60s": "the last 60 s before the question only (StreamingBench's main table)",
    "prefix": "the whole prefix up to the question, clips sampled uniformly to the token budget (OVO-Bench's "
              "offline models)",
}


def newest_within(n_tokens: list[int], budget: int) -> int:
    """How many of the newest clips (token counts given newest first) fit in `budget`: they are taken in order and
    the first that does not fit ends the run (a window has no holes)."""
    used = 0
    for k, n in enumerate(n_tokens):
        if used + n > budget:
            return k
        used += n
    return len(n_tokens)


def uniform(n_tokens: list[int], budget: int) -> list[int]:
    """Indices of clips (token counts in time order) spread evenly over all of them, as many as fit in `budget`; the
    first and the last are among them whenever two fit."""
    for k in range(len(n_tokens), 0, -1):
        picks = sorted({round(i * (len(n_tokens) - 1) / (k - 1)) for i in range(k)} if k > 1 else {len(n_tokens) - 1})
        if sum(n_tokens[i] for i in picks) <= budget:
            return picks
    return []


def clips_for(protocol: str, store, stream: str, t: float, budget: int) -> list[int] | None:
    """The clip ids a question at stream time `t` is shown under `protocol`, in time order; None for "streaming"
    (the engine selects)."""
    if protocol == "streaming":
        return None
    if protocol == "window-60s":
        span = TimeSpan(start=t - WINDOW_SECONDS, end=t, phrase=f"the last {WINDOW_SECONDS:g} s", wall=False)
        ids = store.latest(stream, store.count(stream), until=t + TIME_EPS, span=span)      # newest first
        sizes = store.meta(ids)
        ids = ids[:newest_within([sizes[i][1] for i in ids], budget)]
        return sorted(ids, key=lambda i: (sizes[i][0], i))
    if protocol == "prefix":
        lost = set(store.missing(stream))
        ids = [c.id for c in store.clips(stream) if c.end <= t + TIME_EPS and c.id not in lost]
        sizes = store.meta(ids)
        return [ids[i] for i in uniform([sizes[i][1] for i in ids], budget)]
    raise ValueError(f"unknown protocol {protocol!r}; use {', '.join(PROTOCOLS)}")
