"""Item 10: what a streaming benchmark run costs. A real clip looped into one long stream (FFmpeg, stream copy) and
questions spread evenly over it, in StreamingBench's format; `vigil eval`'s harness (the video ingested once, each
question asked at its time) against the prefix protocol of the benchmarks' own scripts and TimeChat-Online's
evaluation (for each question a fresh session ingests the video from 0 to its time, then the question is asked).
Same tiny model, same questions, same answer length (EvalConfig.answer_tokens), same asking code.

The prefix protocol's cost grows as questions x stream length, so it is run for `measured` of the questions, spread
from the shortest prefix to the longest, and the others are estimated by the least-squares line of its wall time
against prefix length through those. Its cut of the prefix to a new file is not timed (here the prefix is read from
the whole file): that only flatters it.
"""
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from evaluation.benchmarks import Question, read_questions
from evaluation.config import EvalConfig
from evaluation.harness import Evaluation, FrameFeed, ask, engine_config
from stream.clock import clock_label
from stream.engine import Engine
from stream.sources import FileSource

# Questions about the looped room clip, in turn (the tiny model's answers are noise; only their cost is measured).
QUESTIONS = [("Counting", "How many people have come to the table so far?", ["None.", "One.", "Two.", "Three."]),
             ("Object Recognition", "What stands in the middle of the room right now?",
              ["A high table.", "A car.", "A bed.", "A piano."]),
             ("Action Recognition", "What is the person in the room doing right now?",
              ["Standing at the table.", "Swimming.", "Cooking.", "Nobody is there."])]


def looped(clip: str, seconds: float, folder: Path) -> Path:
    """`clip` played over and over for `seconds`, stream-copied (no re-encoding, so it takes a second)."""
    import imageio_ffmpeg
    out = folder / f"looped-{seconds:g}s.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1", "-i", clip, "-t",
                    f"{seconds:g}", "-c", "copy", str(out)], check=True, timeout=600)
    return out


def annotations(video: Path, seconds: float, n: int) -> Path:
    """A StreamingBench file of n questions on `video`, at seconds * k / n for k = 1..n."""
    entries = []
    for k in range(n):
        task, text, options = QUESTIONS[k % len(QUESTIONS)]
        entries.append({"task_type": task, "question": text, "time_stamp": clock_label(seconds * (k + 1) / n),
                        "options": [f"{'ABCD'[i]}. {o}" for i, o in enumerate(options)], "answer": "A"})
    path = video.with_name("questions.json")
    path.write_text(json.dumps([{"video_path": video.name, "questions": entries}], indent=1))
    return path


def _prefix(engine: Engine, video: Path, q: Question) -> dict:
    """The prefix protocol for one question: a fresh memory and session, the video from 0 to its time, the ask."""
    with tempfile.TemporaryDirectory() as mem:
        session = engine.open(mem, "prefix")
        try:
            feed = FrameFeed(session.frames(FileSource(str(video), engine.config.ingest.sampling.fps)))
            for _ in session.run(feed.until(q.time)):
                pass
            return ask(session, q.probes[0], q, "streamingbench")
        finally:
            session.close()


def _line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """(a, b) of the least-squares line wall = a + b * seconds."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def eval_cost(base: Engine, clip: str, minutes: float, questions: int, measured: int, log=print) -> dict:
    config = EvalConfig(format="streamingbench")
    # The engine `vigil eval` builds: answers capped at answer_tokens (the LLM reads that when it loads).
    from models.loader import load_llm
    cfg = engine_config(base.config, config)
    engine = Engine(cfg, llm=load_llm(cfg.model), embedder=base.embedder)
    seconds = minutes * 60.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = looped(clip, seconds, folder)
        path = annotations(video, seconds, questions)
        qs = read_questions(path, config.format)
        _prefix(engine, video, qs[0])      # warm-up: the first encodes and generate call pay one-off set-up costs
        t0 = time.perf_counter()
        ev = Evaluation(engine, qs, folder, folder / "eval", config, path)
        try:
            rows = list(ev.run())
        finally:
            ev.close()
        vigil_wall = time.perf_counter() - t0
        totals = json.loads((folder / "eval" / "results.json").read_text())["totals"]
        log(f"   vigil eval: {len(rows)} questions in {vigil_wall:.1f} s; prefix protocol on {measured} of them ...")
        # Spread from the shortest prefix to the longest, so the line interpolates rather than extrapolates.
        picks = sorted({round(i * (len(qs) - 1) / (measured - 1)) for i in range(measured)})
        points, first = [], []
        for q in (qs[i] for i in picks):
            t0 = time.perf_counter()
            row = _prefix(engine, video, q)
            points.append((q.time, time.perf_counter() - t0))
            first.append(row["seconds_to_first_token"])
    prefix_seconds = sum(q.time for q in qs)
    measured_wall = sum(w for _, w in points)
    if len(picks) == len(qs):
        a = b = None
        prefix_wall = measured_wall
    else:
        a, b = _line(points)
        prefix_wall = measured_wall + sum(a + b * q.time for i, q in enumerate(qs) if i not in picks)
    return {"minutes": minutes, "questions": len(qs), "clip": Path(clip).name,
            "vigil": {"wall_s": round(vigil_wall, 2), "stream_seconds": totals["stream_seconds"],
                      "ingest_speed": totals["ingest_speed"], "first_token_median_s": totals["first_token_median_s"],
                      "steps": totals["steps"], "encoded": totals["encoded"]},
            "prefix": {"measured": [k + 1 for k in picks], "measured_stream_seconds": round(sum(t for t, _ in points), 1),
                       "measured_wall_s": round(measured_wall, 2), "stream_seconds": round(prefix_seconds, 1),
                       "fit_intercept_s": None if a is None else round(a, 3),
                       "fit_s_per_stream_s": None if b is None else round(b, 5),
                       "wall_s": round(prefix_wall, 2), "extrapolated": len(picks) < len(qs),
                       "first_token_median_s": round(statistics.median(first), 4)},
            "ratio": round(prefix_wall / vigil_wall, 2),
            "stream_seconds_ratio": round(prefix_seconds / totals["stream_seconds"], 2)}


def markdown(e: dict) -> list[str]:
    v, p = e["vigil"], e["prefix"]
    how = (f"measured on questions {', '.join(map(str, p['measured']))} ({p['measured_stream_seconds']:g} s of "
           f"prefixes, {p['measured_wall_s']} s); the other {e['questions'] - len(p['measured'])} estimated by the "
           f"least-squares line through those ({p['fit_intercept_s']} s + {p['fit_s_per_stream_s']} s per stream "
           f"second)") if p["extrapolated"] else "measured on every question"
    return [f"### 10. Streaming evaluation cost (tiny model, {e['clip']} looped to {e['minutes']:g} min, "
            f"{e['questions']} questions spread evenly)", "",
            "| protocol | stream seconds ingested | wall s | first token (median) | how |", "|---|---|---|---|---|",
            f"| `vigil eval`: the video ingested once, each question at its time | {v['stream_seconds']:.0f} | "
            f"{v['wall_s']} | {v['first_token_median_s']} s | measured ({v['encoded']} of {v['steps']} steps "
            f"encoded, {v['ingest_speed']} stream s per wall s) |",
            f"| prefix protocol: a fresh session per question, 0 to its time | {p['stream_seconds']:.0f} | "
            f"{p['wall_s']} | {p['first_token_median_s']} s | {how} |", "",
            f"Prefix protocol / `vigil eval`: **{e['ratio']}x** wall time ({e['stream_seconds_ratio']}x the stream "
            f"seconds ingested). Model loading is in neither; the prefix protocol's cutting of each prefix to a new "
            f"file is not timed.", ""]
