"""What a benchmark run reads and how long its answers may be."""
from dataclasses import dataclass

from evaluation.benchmarks import FORMATS
from evaluation.protocol import PROTOCOLS


@dataclass
class EvalConfig:
    # The annotation file's format: "streamingbench" (questions_real_stream.json and its omni and sqa siblings) or
    # "ovobench" (ovo_bench_new.json).
    format: str = "streamingbench"
    # Only the first N questions of the file (None: all of them): a first look at a 2,500-question file, a smoke test.
    # A later run with a higher limit continues; the limit is not part of what a rerun must match.
    limit: int | None = None
    # Longest answer in tokens: the benchmarks' own Qwen wrappers allow 128, and an answer cut shorter can lose the
    # letter a model writes after its reasoning; ModelConfig's 256 would let a rambling model spend twice that on each
    # of thousands of questions.
    answer_tokens: int = 128
    # What a question is shown (evaluation.protocol.PROTOCOLS): "streaming" (Vigil's memory and live window),
    # "window-60s" (StreamingBench's main table) or "prefix" (OVO-Bench's offline models). Named in every score.
    protocol: str = "streaming"

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"unknown benchmark format {self.format!r}; use {' or '.join(FORMATS)}")
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)
                                       or self.limit < 1):
            raise ValueError(f"limit must be a positive number of questions or None, got {self.limit!r}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; use {', '.join(PROTOCOLS)}")
        if self.answer_tokens < 1:
            raise ValueError(f"answer_tokens must be at least 1, got {self.answer_tokens}")
