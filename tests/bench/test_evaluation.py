"""Item 10's prefix protocol (a fresh session per question, the video from 0 to its time) asks through the same
harness code as `vigil eval`, so its rows are scored the same way."""
from bench.evaluation import _prefix
from evaluation.benchmarks import read_questions
from tests.evaluation.test_harness import SB, _engine


def test_the_prefix_protocol_asks_and_scores_as_the_harness(llm, embedder, model_config, videos):
    q = read_questions(SB, "streamingbench")[0]                  # bottle-detection at 4 s
    row = _prefix(_engine(llm, embedder, model_config), videos / "bottle-detection.mp4", q)
    assert row["time"] == 4.0 and row["seen_until"] <= 4.0 and (row["clips"] or row["window"])
    assert row["correct"] == (bool(row["response"]) and row["response"][0] == q.answer)   # the official rule
    assert set(row) >= {"parsed", "correct_parsed", "prompt_tokens", "seconds_total"}
