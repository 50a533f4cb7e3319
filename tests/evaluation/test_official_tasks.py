"""StreamingBench's Sequential QA and Proactive Output end to end. Proactive Output as its own script runs it: a
yes/no poll each second from a second after the question's time to 4 s past the ground truth, the question itself
asked on the first yes, and that time scored within 2 s of the ground truth (count.py); polls after the deciding one
are never asked, and a resume does not ask again."""
import json

from evaluation.benchmarks import read_questions
from evaluation.config import EvalConfig
from evaluation.harness import Evaluation, rescore
from evaluation.scoring import proactive
from tests.evaluation.test_harness import _engine


def po_file(tmp_path, truth="00:00:10"):
    path = tmp_path / "questions_proactive.json"
    path.write_text(json.dumps([{"time": "[0:00:00 - 0:00:30]", "video_path": "./videos/bottle-detection.mp4",
                                 "questions": [{"task_type": "Proactive Output", "question": "When a hand takes a "
                                                "bottle, output \"taken\".", "time_stamp": "00:00:05",
                                                "ground_truth_time_stamp": truth, "ground_truth_output": "taken"}]}]))
    return path


def run(engine, questions, videos, out, path):
    """An evaluation of `path` in `out`, run to its end: (the evaluation, its rows)."""
    ev = Evaluation(engine, questions, videos, out, EvalConfig(format="streamingbench"), path)
    try:
        return ev, list(ev.run())
    finally:
        ev.close()


def test_the_polls_and_the_window_are_the_official_ones(tmp_path):
    (q,) = read_questions(po_file(tmp_path), "streamingbench")
    assert q.kind == "proactive" and q.group == "contextual" and q.answer == "10"
    assert [p.time for p in q.probes] == [float(t) for t in range(6, 15)]          # 6 .. 10 + 4
    assert 'Is it the right time to output "taken"? You can only answer yes or no.' in q.probes[0].prompt
    assert q.follow_up.endswith('output "taken".\n\nThe answer is:\n')
    assert proactive(8.0, "10", "Yes.", False) == (True, True) and proactive(13.0, "10", "yes", False) == (True, False)
    assert proactive(7.0, "10", "No", False) == (False, False) and proactive(14.0, "10", "no", True) == (True, False)


class Scripted:
    """The tiny video LLM, made to say yes on its fourth poll (its own answer still runs, then is replaced)."""

    def __init__(self, llm):
        self.llm, self.polls, self.asked = llm, 0, []

    def __getattr__(self, name):
        return getattr(self.llm, name)

    def answer(self, question, *args, **kwargs):
        for _ in self.llm.answer(question, *args, **kwargs):
            pass
        self.asked.append(question)
        if "right time" in question:
            self.polls += 1
            yield "Yes." if self.polls == 4 else "No."
        else:
            yield "taken"


def test_a_proactive_question_runs_end_to_end(llm, embedder, model_config, videos, tmp_path):
    path = po_file(tmp_path)
    scripted = Scripted(llm)
    engine = _engine(scripted, embedder, model_config)
    questions = read_questions(path, "streamingbench")
    ev, rows = run(engine, questions, videos, tmp_path / "out", path)
    assert [r["time"] for r in rows] == [6.0, 7.0, 8.0, 9.0]                  # no poll after the yes
    assert [r["counts"] for r in rows] == [False, False, False, True] and rows[-1]["correct"]
    assert rows[-1]["output"] == "taken" and scripted.polls == 4 and len(scripted.asked) == 5
    s = ev.results["scores"]
    assert s["tasks"]["Proactive Output"]["asked"] == 1 and s["tasks"]["Proactive Output"]["accuracy"] == 1.0
    _, again = run(engine, questions, videos, tmp_path / "out", path)
    assert again == [] and scripted.polls == 4                                 # decided: nothing asked again
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    results["answers"]["1.1#0"]["response"] = "yes"                            # rescored: the 6 s poll decides,
    rescore(results, questions)                                                # 4 s early: wrong
    decided = [r for r in results["answers"].values() if r["counts"]]
    assert [r["time"] for r in decided] == [6.0] and not decided[0]["correct"]
    results["answers"]["1.1#0"]["response"], results["answers"]["1.1#2"]["response"] = "no", "Yes"
    rescore(results, questions)                                                # the 8 s poll: within 2 s of 10 s
    decided = [r for r in results["answers"].values() if r["counts"]]
    assert [r["time"] for r in decided] == [8.0] and decided[0]["correct"]


def test_a_sequential_qa_file_runs_end_to_end(llm, embedder, model_config, videos, tmp_path):
    """questions_sqa.json's own shape through the harness: each question is asked at its time with the earlier ones
    and their answers in its prompt, and scored by StreamingBench's rule."""
    from tests.evaluation.test_harness import Counting
    sqa = lambda q, t, answer: {"task_type": "Sequential Question Answering", "question": q,  # noqa: E731
                                "time_stamp": t, "answer": answer, "options": ["One.", "Two.", "Three.", "Four."]}
    path = tmp_path / "questions_sqa.json"
    path.write_text(json.dumps([[
        {"video_path": "./videos/bottle-detection.mp4", "questions": [sqa("How many bottles stand now?", "00:00:04",
                                                                          "C")]},
        {"video_path": "./videos/bottle-detection.mp4", "questions": [sqa("How many of those are left now?",
                                                                          "00:00:12", "B")]}]]))
    counting = Counting(llm)
    engine = _engine(counting, embedder, model_config)
    questions = read_questions(path, "streamingbench")
    ev, rows = run(engine, questions, videos, tmp_path / "out", path)
    assert [r["time"] for r in rows] == [4.0, 12.0] and len(counting.asked) == 2
    assert "occurred" not in counting.asked[0]
    assert "Question: How many bottles stand now?; Options: A. One., B. Two., C. Three., D. Four.; Answer: C; " \
        in counting.asked[1]
    assert [r["correct"] for r in rows] == [bool(r["response"]) and r["response"][0] == a
                                            for r, a in zip(rows, "CB")]
    assert ev.results["scores"]["tasks"]["Sequential Question Answering"]["asked"] == 2
