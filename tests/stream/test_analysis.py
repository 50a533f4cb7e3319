"""Offline analysis: questions files, resuming, events against the annotations, awkward files."""
import json

import numpy as np
import pytest

from app.report import render_html
from stream.analysis import Analysis, AnalysisConfig, AnalysisError, Question, parse_questions
from stream.engine import Engine, EngineConfig
from stream.sources import FileSource, SourceError

CLIPS = ["one-by-one-person-detection.mp4", "bottle-detection.mp4", "bikes.mp4", "flipping_a_pancake.mkv", "vtest.avi"]


@pytest.fixture(scope="module")
def engine(llm, embedder, model_config):
    return Engine(EngineConfig(model=model_config), llm=llm, embedder=embedder)


def analyse(engine, path, out, questions=(), config=None, stop_after=None):
    """Run an analysis as run.py does; with stop_after, stop (as Ctrl-C would) after that many steps."""
    a = Analysis(engine, FileSource(str(path), engine.config.ingest.sampling.fps), out, config or AnalysisConfig())
    try:
        for n, _ in enumerate(a.ingest()):
            if stop_after is not None and n >= stop_after:
                return None
        list(a.caption())
        report = a.report(a.answer(list(questions)), a.summarize())
        a.write(report, render_html(report, a.out))
        return report
    finally:
        a.close()


def without_timings(report: dict) -> dict:
    r = json.loads(json.dumps(report))
    del r["totals"]["seconds"]
    for a in r["answers"]:
        del a["seconds_to_first_token"], a["seconds_total"]
    return r


def test_parse_questions_lines_and_jsonl():
    qs = parse_questions('Who came in?\n\n# a comment\n{"question": "What now?", "at": "00:01:05"}\n{"question": "x"}\n')
    assert qs == [Question("Who came in?"), Question("What now?", 65.0), Question("x")]
    with pytest.raises(ValueError, match="line 2"):
        parse_questions('ok\n{"at": "00:00:01"}\n')
    with pytest.raises(ValueError, match="not a time"):
        parse_questions('{"question": "q", "at": "soon"}')


@pytest.fixture(scope="module")
def straight(engine, videos, tmp_path_factory):
    """Straight runs on every real clip (questions and captions on the fixed-camera one)."""
    reports = {}
    for name in CLIPS:
        config = AnalysisConfig(captions=True, summary=True) if name.startswith("one-by-one") else None
        questions = [Question("When did someone come in?"), Question("What is on the table?", 60.0)] \
            if name.startswith("one-by-one") else []
        reports[name] = analyse(engine, videos / name, tmp_path_factory.mktemp(name), questions, config)
    return reports


@pytest.mark.parametrize("name", CLIPS)
def test_every_real_clip_analyses(straight, name):
    r = straight[name]
    s, t = r["series"], r["totals"]
    assert len(s["time"]) == t["steps"] == len(s["drop_ratio"]) and t["steps"] > 0
    assert s["time"] == sorted(s["time"]) and s["time"][-1] <= r["video"]["duration"] + 1e-3
    assert t["encodes"] + t["encodes_skipped"] == t["steps"]
    assert 0 < t["tokens_kept"] <= t["tokens_total"] and t["frames_sampled"] <= t["frames_in_video"]
    assert [c["start"] for c in r["clips"]] == sorted(c["start"] for c in r["clips"])
    assert r["clips"][0]["start"] == 0.0 and r["clips"][-1]["end"] == pytest.approx(s["end"][-1])
    assert r["warning"] and "RANDOM WEIGHTS" in r["warning"] and r["video"]["broken_at"] is None


def test_captions_summary_and_answers_are_marked_random(straight, tmp_path):
    r = straight["one-by-one-person-detection.mp4"]
    assert all(c["caption"] is not None and c["caption_warning"] for c in r["clips"])
    assert r["summary"] and all(s["warning"] for s in r["summary"])
    first, asked_at_60 = r["answers"]
    assert first["warning"] and first["prompt_tokens"] > 0 and first["clips"]
    assert 0 < first["seconds_to_first_token"] <= first["seconds_total"]
    assert asked_at_60["at"] == 60.0 and all(c["end"] <= 60.0 for c in asked_at_60["clips"])


def test_events_match_annotations(straight, annotations):
    cuts = straight["bikes.mp4"]["scene_changes"]
    sampled = [c for c in annotations["bikes.mp4"]["cuts"] if c <= straight["bikes.mp4"]["series"]["end"][-1]]
    interval = 1.0 / 1.0                        # one sampling interval at 1 fps
    assert all(any(abs(c - t) <= interval for t in cuts) for c in sampled), (cuts, sampled)
    starts = [a["start"] for a in straight["one-by-one-person-detection.mp4"]["activity"]]
    visits = [s for s, _ in annotations["one-by-one-person-detection.mp4"]["events"]]
    found = sum(any(abs(v - s) <= 1.5 for s in starts) for v in visits)
    assert found >= 5, (starts, visits)


def test_interrupted_and_resumed_gives_the_same_report(engine, videos, straight, tmp_path):
    name = "one-by-one-person-detection.mp4"
    config = AnalysisConfig(captions=True, summary=True)
    questions = [Question("When did someone come in?"), Question("What is on the table?", 60.0)]
    assert analyse(engine, videos / name, tmp_path, questions, config, stop_after=23) is None
    assert analyse(engine, videos / name, tmp_path, questions, config, stop_after=41) is None   # twice
    resumed = analyse(engine, videos / name, tmp_path, questions, config)
    assert without_timings(resumed) | {"video": None} == without_timings(straight[name]) | {"video": None}
    again = analyse(engine, videos / name, tmp_path, questions, config)      # finished: nothing is redone
    assert without_timings(again) == without_timings(resumed)


def test_awkward_files(engine, odd_videos, videos, tmp_path):
    rot = FileSource(str(odd_videos["rotated"]), 1.0)
    assert rot.size == (640, 272)                                    # shown upright, as players show it
    upright = next(FileSource(str(videos / "bikes.mp4"), 1.0).frames()).image
    assert np.abs(next(rot.frames()).image.astype(int) - np.rot90(upright).astype(int)).mean() < 3
    ana = FileSource(str(odd_videos["anamorphic"]), 1.0)
    assert ana.size == (272, 640) and next(ana.frames()).image.shape == (272, 640, 3)
    # Frames 0.04 s apart for 3 s, then 0.12 s apart: each sample is the first frame shown at or after its time.
    vfr = [f.time for f in FileSource(str(odd_videos["vfr"]), 4.0).frames()]
    assert len(vfr) > 20
    for k, t in enumerate(vfr):
        gap = 0.04 if k / 4 < 3 else 0.12
        assert k / 4 - 1e-3 <= t < k / 4 + gap, (k, t)
    for bad, words in (("zero", "not a readable video"), ("not_video", "not a readable video")):
        with pytest.raises(SourceError, match=words):
            FileSource(str(odd_videos[bad]), 1.0)


def test_truncated_file_is_analysed_up_to_the_break(engine, odd_videos, tmp_path):
    r = analyse(engine, odd_videos["truncated"], tmp_path)
    broke = r["video"]["broken_at"]
    assert broke is not None and 5.0 < broke < 25.0
    assert r["series"]["end"][-1] < broke and r["clips"][-1]["end"] < broke
    assert analyse(engine, odd_videos["truncated"], tmp_path)["video"]["broken_at"] == broke   # known on a rerun


def test_refuses_unwritable_or_foreign_output_and_keeps_memory(engine, videos, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AnalysisError, match="not writable"):
        Analysis(engine, FileSource(str(videos / "bikes.mp4"), 1.0), blocker / "out", AnalysisConfig())
    out = tmp_path / "out"
    analyse(engine, videos / "bikes.mp4", out)
    before = (out / "memory" / "memory.sqlite").read_bytes()
    with pytest.raises(AnalysisError, match="another video"):
        Analysis(engine, FileSource(str(videos / "vtest.avi"), 1.0), out, AnalysisConfig())
    assert (out / "memory" / "memory.sqlite").read_bytes() == before


def test_an_older_analysis_resumes_but_another_answerer_is_refused(engine, llm, embedder, videos, tmp_path):
    """Settings added since (keyframes, what answers) read at their defaults in an older analysis.json; a run that
    would answer through a server is refused on a folder the local model analysed."""
    from dataclasses import replace

    from models.config import ServerConfig
    out = tmp_path / "out"
    analyse(engine, videos / "bikes.mp4", out)
    ident = json.loads((out / "analysis.json").read_text())
    del ident["answer"], ident["ingest"]["keyframes"], ident["ingest"]["keyframe_side"]    # as an older Vigil wrote it
    (out / "analysis.json").write_text(json.dumps(ident))
    assert analyse(engine, videos / "bikes.mp4", out)["totals"]["clips"] >= 4
    served = Engine(replace(engine.config, server=ServerConfig(url="http://127.0.0.1:9/v1", model="m")), llm=llm,
                    embedder=embedder)
    with pytest.raises(AnalysisError, match=r"\(answer differ\)"):
        Analysis(served, FileSource(str(videos / "bikes.mp4"), 1.0), out, AnalysisConfig())
