"""Configuration of the clip store and of selection for a question."""
from dataclasses import dataclass


@dataclass
class StoreConfig:
    # Per stream, the oldest clips go once a stream holds more than this many (None: no limit).
    max_clips: int | None = None
    # Per stream, the oldest clips go once a stream's token files take more than this many bytes (None: no limit).
    max_bytes: int | None = None
    # The FAISS index is written to disk every this many added clips (and on close). SQLite is the truth; the index
    # file only saves rebuilding it on open, so writing it on every add would be wasted I/O.
    index_every: int = 64
    # Up to this many keys the index is exact (flat: 3 ms a question at 10^4, 19 ms at 10^5 on 2 cores); beyond it,
    # an inverted file of `ivf_lists` lists searched `ivf_probe` at a time (161 ms flat against 5 ms at 10^6).
    # Chosen when the store is opened.
    ivf_above: int = 50_000
    ivf_lists: int = 1024
    ivf_probe: int = 32

    def __post_init__(self):
        if self.max_clips is not None and self.max_clips < 1:
            raise ValueError(f"max_clips must be at least 1, got {self.max_clips}")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}")
        if self.index_every < 1:
            raise ValueError(f"index_every must be at least 1, got {self.index_every}")
        if self.ivf_above < 1000 or self.ivf_lists < 1 or not 1 <= self.ivf_probe <= self.ivf_lists:
            raise ValueError("need ivf_above >= 1000 and 1 <= ivf_probe <= ivf_lists")


@dataclass
class SelectConfig:
    # Visual tokens in one question's prompt, whatever the stream's length: this is what keeps a question's cost
    # flat. 2048 tokens at 256 per clip is 8 clips.
    token_budget: int = 2048
    # The newest clips always go in (what is happening now), newest first.
    latest_clips: int = 1
    # Clips taken from the index by key similarity before the budget is filled.
    candidates: int = 32
    # Where clips have captions, the caption ranking is fused with the visual one by reciprocal rank with this
    # constant; 60 is the usual choice (Cormack et al., 2009): it damps the weight of the very top ranks.
    fusion_k: float = 60.0
    # Selected clips whose token file turns out unreadable are passed over and the selection made again, at most
    # this many times: a few lost files cost nothing, and a wiped folder (thousands lost, until `vigil check
    # --repair` marks them) cannot make a question loop for minutes.
    reselect_rounds: int = 8

    def __post_init__(self):
        if self.token_budget < 1 or self.latest_clips < 0 or self.candidates < 1:
            raise ValueError("token_budget and candidates must be positive and latest_clips non-negative")
        if self.fusion_k <= 0:
            raise ValueError(f"fusion_k must be positive, got {self.fusion_k}")
        if self.reselect_rounds < 0:
            raise ValueError(f"reselect_rounds must be non-negative, got {self.reselect_rounds}")
