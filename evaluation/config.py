"""What a benchmark run reads and how long its answers may be."""
from dataclasses import dataclass

from evaluation.benchmarks import FORMATS


@dataclass
class EvalConfig:
    # The annotation file's format: "streamingbench" (questions_real_stream.json and its omni and sqa siblings) or
    # "ovobench" (ovo_bench_new.json).
    format: str = "streamingbench"
    # Only the first N questions of the file (None: all of them): a first look at a 2,500-question file, a smoke test.
    # A later run with a higher limit continues; the limit is not part of what a rerun must match.
    limit: int | None = None
    # Longest answer in tokens: every prompt asks for a letter, a number, or yes or no; ModelConfig's default (256)
    # would let a model that rambles spend 256 decoding steps on each of thousands of questions.
    answer_tokens: int = 16

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"unknown benchmark format {self.format!r}; use {' or '.join(FORMATS)}")
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)
                                       or self.limit < 1):
            raise ValueError(f"limit must be a positive number of questions or None, got {self.limit!r}")
        if self.answer_tokens < 1:
            raise ValueError(f"answer_tokens must be at least 1, got {self.answer_tokens}")
