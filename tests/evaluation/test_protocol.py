"""The protocols a benchmark question can be asked under: which clips each shows, and that a run names its own."""
import json

import pytest

from evaluation.benchmarks import read_questions
from evaluation.config import EvalConfig
from evaluation.harness import Evaluation, EvaluationError, table
from evaluation.protocol import clips_for, newest_within, uniform
from tests.evaluation.test_harness import SB, _engine
from tests.memory.test_store import make_clip, open_store


def test_uniform_spreads_over_the_whole_prefix_and_fits_the_budget():
    assert uniform([10] * 10, 40) == [0, 3, 6, 9]
    assert uniform([10] * 10, 1000) == list(range(10))
    assert uniform([10] * 10, 10) == [9] and uniform([10] * 3, 5) == [] and uniform([], 50) == []
    picks = uniform([5, 50, 5, 5, 5], 20)
    assert sum([5, 50, 5, 5, 5][i] for i in picks) <= 20 and picks[-1] == 4


def test_newest_within_takes_a_window_without_holes():
    assert newest_within([5, 5, 50, 5], 20) == 2 and newest_within([], 10) == 0 and newest_within([30], 10) == 0


def test_each_protocol_shows_its_own_clips(tmp_path):
    store = open_store(tmp_path)
    ids = [store.add(make_clip(i)) for i in range(25)]          # clips of 5 tokens at 8 s each: 0-7, 8-15, ... 192-199
    t = 150.0
    assert clips_for("streaming", store, "cam", t, 1000) is None
    window = store.get(clips_for("window-60s", store, "cam", t, 1000))
    assert [c.start for c in window] == [88.0 + 8 * k for k in range(7)]      # overlaps 90-150 s, ended by 150 s
    assert [c.start for c in store.get(clips_for("window-60s", store, "cam", t, 15))] == [120.0, 128.0, 136.0]
    prefix = store.get(clips_for("prefix", store, "cam", t, 20))
    assert len(prefix) == 4 and prefix[0].start == 0.0 and prefix[-1].end <= t and prefix[-1].start == 136.0
    store.mark_missing([ids[0]])                                # a clip whose tokens are lost is never shown
    assert store.get(clips_for("prefix", store, "cam", t, 20))[0].start == 8.0
    store.close()
    with pytest.raises(ValueError, match="unknown protocol"):
        EvalConfig(protocol="oracle")


def test_a_run_names_its_protocol_warns_past_the_end_and_refuses_another(llm, embedder, model_config, videos,
                                                                          tmp_path):
    data = json.loads(SB.read_text())[:1]                       # bottle-detection, three questions
    late = dict(data[0]["questions"][0], time_stamp="00:09:00")  # nine minutes into a video shorter than one
    data[0]["questions"].append(late)
    path = tmp_path / "late.json"
    path.write_text(json.dumps(data))
    questions = read_questions(path, "streamingbench")
    engine = _engine(llm, embedder, model_config)
    config = EvalConfig(format="streamingbench", protocol="prefix")
    ev = Evaluation(engine, questions, videos, tmp_path / "out", config, path)
    try:
        rows = list(ev.run())
    finally:
        ev.close()
    assert len(rows) == 4 and [bool(r.get("past_end")) for r in rows] == [False, False, False, True]
    assert "after the video ends" in rows[-1]["past_end"]
    first = rows[2]                                              # at 30 s: the prefix from the start
    assert first["clips"][0][0] == 0.0 and first["window"] is None and first["clips"][-1][1] <= 30.0 + 1e-6
    results = ev.results
    assert results["identity"]["protocol"] == "prefix"
    text = table(results)
    assert "protocol: prefix (the whole prefix" in text and f"answers capped at {engine.config.model.max_new_tokens} tokens" in text
    assert "1 probes were asked after their video's end" in text
    with pytest.raises(EvaluationError, match="protocol"):      # a rerun under another protocol is another run
        Evaluation(engine, questions, videos, tmp_path / "out", EvalConfig(format="streamingbench"), path)
