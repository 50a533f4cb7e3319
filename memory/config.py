"""Configuration of the clip store and of selection for a question."""
from dataclasses import dataclass, field


@dataclass
class StoreConfig:
    # Per stream, the oldest clips go once a stream holds more than this many (None: no limit).
    max_clips: int | None = None
    # Per stream, the oldest clips go once a stream's token files take more than this many bytes (None: no limit).
    max_bytes: int | None = None
    # The vector-index engine that finds clips by key (memory.index.BACKENDS). "faiss": in process, its cache a file
    # beside the database; "pgvector": a table with an HNSW graph in the PostgreSQL server at `index_url`, one for
    # every process that opens the memory (none rebuilds it on open). The rows in SQLite stay the truth either way.
    index: str = "faiss"
    # pgvector: the server's URL (postgresql://user:password@host/db, or postgresql:///db?host=/run/postgresql for a
    # local socket); required with index = "pgvector", unused otherwise.
    index_url: str | None = None
    # pgvector's HNSW graph: links a key (m) and candidates while inserting (ef_construction), pgvector's own
    # defaults; candidates a search walks (ef_search, at least k): recall against speed. On 10^5 random 768-d keys
    # (the hardest case for a graph; bench item 7's questions, k = 32, 2 cores) a question's own clip was in the top 5
    # for 46% at ef 40 (6.4 ms), 74% at 100 (9.8 ms), 84% at 200 (15.7 ms).
    hnsw_m: int = 16
    hnsw_ef_construction: int = 64
    hnsw_ef_search: int = 100
    # pgvector: an empty table given at least this many keys at once (a big memory's first open on a server) is
    # loaded first and its graph built after (97 s for 10^5 768-d keys on 2 cores); fewer go in key by key.
    hnsw_bulk_above: int = 10_000
    # pgvector: PostgreSQL's maintenance_work_mem while building the graph; a graph that fits builds much faster
    # (pgvector's README).
    hnsw_build_memory: str = "1GB"
    # A shared store (PostgreSQL): a worker's lease on a camera lasts this many seconds (server time), renewed every
    # third of it while the worker lives; a worker that dies gives the camera up to another this long after.
    lease_seconds: float = 30.0
    # The index cache is written to disk every this many added clips (and on close). SQLite is the truth; the index
    # file only saves rebuilding it on open, so writing it on every add would be wasted I/O.
    index_every: int = 64
    # FAISS: up to this many keys the index is exact (flat: 3 ms a question at 10^4, 19 ms at 10^5 on 2 cores); beyond it,
    # an inverted file of `ivf_lists` lists searched `ivf_probe` at a time (161 ms flat against 5 ms at 10^6).
    # Chosen when the store is opened.
    ivf_above: int = 50_000
    ivf_lists: int = 1024
    ivf_probe: int = 32
    # A filtered search (a time span, a stream among others) over at most this many clips scores their keys, read
    # from SQLite, directly: exact, and at a minute's span of 10^6 clips 700 ms faster than an inverted file probing
    # every list under an id filter (bench item 7). More clips than this go through the index's filtered search.
    exact_below: int = 4096

    def __post_init__(self):
        from memory.index import BACKENDS     # names only: no engine is imported
        if self.index not in BACKENDS:
            raise ValueError(f"unknown vector index {self.index!r}; choose one of {', '.join(sorted(BACKENDS))}")
        if self.index == "pgvector" and not (self.index_url or "").startswith(("postgresql://", "postgres://")):
            raise ValueError("the pgvector index needs its server's URL, postgresql://... (--index-url, or index_url in "
                             "the service config's [store])")
        if self.hnsw_m < 2 or self.hnsw_ef_construction < 2 * self.hnsw_m or self.hnsw_ef_search < 1:
            raise ValueError("need hnsw_m >= 2, hnsw_ef_construction >= 2 * hnsw_m and hnsw_ef_search >= 1")
        if self.hnsw_bulk_above < 1:
            raise ValueError(f"hnsw_bulk_above must be at least 1, got {self.hnsw_bulk_above}")
        if self.max_clips is not None and self.max_clips < 1:
            raise ValueError(f"max_clips must be at least 1, got {self.max_clips}")
        if self.max_bytes is not None and self.max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}")
        if not self.lease_seconds >= 1.0:
            raise ValueError(f"lease_seconds must be at least 1, got {self.lease_seconds}")
        if self.index_every < 1:
            raise ValueError(f"index_every must be at least 1, got {self.index_every}")
        if self.ivf_above < 1000 or self.ivf_lists < 1 or not 1 <= self.ivf_probe <= self.ivf_lists:
            raise ValueError("need ivf_above >= 1000 and 1 <= ivf_probe <= ivf_lists")
        if self.exact_below < 0:
            raise ValueError(f"exact_below must be 0 or more, got {self.exact_below}")


@dataclass
class WhenConfig:
    """How a time in a question ("at 3 pm", "10 minutes ago", "this morning") becomes a span of stream."""
    # "at 3 pm": a clock time is said rounded to 5 or 15 minutes, so it gets a window this wide (seconds) around it.
    clock_window: float = 600.0
    # A moment read to the second ("at 2:30" into a file, "at 90 seconds", "10 seconds ago") still gets a window this
    # wide: about a clip's length, so the clip that holds the moment overlaps it.
    second_window: float = 10.0
    # "N ago" is as rough as N is round: it gets a window of this fraction of N around it (10 minutes ago: from 12.5
    # to 7.5 minutes ago), never narrower than `second_window`.
    ago_fraction: float = 0.5
    # The parts of the day, by the local hour each begins at: morning until the afternoon, and so on; the night runs
    # to the next morning, and "tonight" is the evening and the night.
    morning_from: int = 5
    afternoon_from: int = 12
    evening_from: int = 17
    night_from: int = 21

    def __post_init__(self):
        if self.clock_window <= 0 or self.second_window <= 0 or self.ago_fraction <= 0:
            raise ValueError("clock_window, second_window and ago_fraction must be positive")
        if not 0 <= self.morning_from < self.afternoon_from < self.evening_from < self.night_from <= 24:
            raise ValueError("need 0 <= morning_from < afternoon_from < evening_from < night_from <= 24")


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
    # How times in a question ("since this morning", "in the first 30 seconds") are read (memory.when).
    when: WhenConfig = field(default_factory=WhenConfig)

    def __post_init__(self):
        if self.token_budget < 1 or self.latest_clips < 0 or self.candidates < 1:
            raise ValueError("token_budget and candidates must be positive and latest_clips non-negative")
        if self.fusion_k <= 0:
            raise ValueError(f"fusion_k must be positive, got {self.fusion_k}")
        if self.reselect_rounds < 0:
            raise ValueError(f"reselect_rounds must be non-negative, got {self.reselect_rounds}")
