"""Streaming evaluation on StreamingBench and OVO-Bench files (`evaluation.benchmarks`): each video is ingested once, in
order, into its own stream of one memory folder; ingestion stops at each question's time, the question is asked as
of then (`session.ask(prompt, until=t)`), and ingestion goes on from there. The benchmarks' own scripts cut and
re-encode the video prefix for every question instead, so their cost grows with questions x video length.

    evaluation = Evaluation(engine, questions, "videos/", "out/", EvalConfig(format="ovobench"), "ovo.json")
    for row in evaluation.run(): ...          # one per answered probe; a rerun skips what results.json holds
    print(table(evaluation.results))

A question's time ends a segment of the stream: the clip open then is closed and stored (as at the end of a file), so
the question sees every sampled frame up to its time, as the prefix protocol does; the frame analyzer's open activity
span is closed there too. out/results.json is rewritten (atomically) after every answer and out/memory is the
store, which is also the checkpoint: a rerun skips the answered probes, and each video's stream continues from its
last stored resume point. There the frame analyzer re-sees at most one sample interval of frames it had seen (cuts
and activity only shape clip boundaries), and the live window (the newest steps whole, kept in RAM only) starts
empty, so the first question after a resume may be shown memory clips alone; neither shows it anything past its time.
"""
import hashlib
import json
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

from evaluation.benchmarks import Probe, Question
from evaluation.config import EvalConfig
from evaluation.protocol import PROTOCOLS, TIME_EPS, clips_for
from evaluation.scoring import OFFICIAL_RULES, judge, official, proactive, says_yes, score
from memory.files import write_atomic
from stream.analysis import ingest_identity
from stream.engine import RANDOM_WEIGHTS_WARNING, Engine, EngineConfig, Session, answered_by, with_defaults
from stream.sources import FileSource, Frame

RESULTS_VERSION = 1
RESULTS = "results.json"
MEMORY = "memory"
NAMES = {"streamingbench": "StreamingBench", "ovobench": "OVO-Bench"}


class EvaluationError(ValueError):
    """The evaluation cannot start or go on; the message is one line for the user. Nothing stored is lost."""


def engine_config(base: EngineConfig, config: EvalConfig) -> EngineConfig:
    """`base` with answers capped at `config.answer_tokens` (the video LLM reads it when it is loaded)."""
    return replace(base, model=replace(base.model, max_new_tokens=config.answer_tokens))


# ---- the harness -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ask:
    """One probe of one question, as the harness schedules it."""
    question: Question
    index: int               # its place in question.probes

    @property
    def probe(self) -> Probe:
        return self.question.probes[self.index]

    @property
    def key(self) -> str:    # its key in results.json
        return f"{self.question.id}#{self.index}"


def schedule(questions: list[Question]) -> dict[str, list[Ask]]:
    """Each video's probes in time order (file order among equal times); videos in order of first appearance."""
    out: dict[str, list[Ask]] = {}
    for q in questions:
        out.setdefault(q.video, []).extend(Ask(q, k) for k in range(len(q.probes)))
    return {v: sorted(asks, key=lambda a: a.probe.time) for v, asks in out.items()}


def video_paths(questions: list[Question], videos: str | Path) -> dict[str, Path]:
    """Where each question's video is: the file's path under `videos`, else its name directly in `videos`
    (StreamingBench writes "./videos/sample_416_real.mp4"). Raises with the first missing one."""
    root, out, missing = Path(videos), {}, {}
    if not root.is_dir():
        raise EvaluationError(f"videos folder not found: {root}")
    for q in questions:
        if q.video in out or q.video in missing:
            continue
        found = next((p for p in (root / q.video, root / Path(q.video).name) if p.is_file()), None)
        if found is None:
            missing[q.video] = (q, root / q.video)
        else:
            out[q.video] = found
    if missing:
        q, path = next(iter(missing.values()))
        more = f" (and {len(missing) - 1} more videos)" if len(missing) > 1 else ""
        raise EvaluationError(f"video of question {q.id} not found: {path}{more}; --videos is the folder the "
                              f"annotation file's video paths are relative to")
    return out


class FrameFeed:
    """A video's sampled frames, handed out up to a time at a time: the first frame past it waits for the next."""

    def __init__(self, frames: Iterator[Frame]):
        self.frames, self.held = frames, None

    def has(self, t: float) -> bool:
        """Whether a frame at or before t is still to come."""
        if self.held is None:
            self.held = next(self.frames, None)
        return self.held is not None and self.held.time <= t + TIME_EPS

    def until(self, t: float) -> Iterator[Frame]:
        while self.has(t):
            frame, self.held = self.held, None
            yield frame


def verdicts(format: str, kind: str, expected: str, response: str | None, options: tuple[str, ...],
             time: float = 0.0, last: bool = False) -> dict:
    """A row's scoring fields: "correct" by the benchmark's own rule, "parsed" and "correct_parsed" by Vigil's. A
    proactive poll (asked at `time`; `last`: the question's last poll) also says whether it "counts": only the one
    that decides its question does."""
    if kind == "proactive":
        counts, correct = proactive(time, expected, response, last)
        return {"parsed": "yes" if says_yes(response) else "no", "correct": correct, "correct_parsed": correct,
                "counts": counts, "last_poll": last}
    verdict = judge(kind, expected, response or "", options)
    return {"parsed": verdict.parsed, "correct": official(format, kind, expected, response),
            "correct_parsed": verdict.correct}


def ask(session: Session, probe: Probe, question: Question, format: str, protocol: str = "streaming") -> dict:
    """Ask one probe of a question as of its time; the answer, what it used and its timings (a results row without its
    labels). A time in the question's own words limits what it sees; the prompt's options ("About 2 minutes") must
    not."""
    options, kind = question.options, question.kind
    shown = clips_for(protocol, session.store, session.stream, probe.time, session.engine.config.select.token_budget)
    t0 = time.perf_counter()
    answer = session.ask(probe.prompt, until=probe.time, when_text=question.prompt, clip_ids=shown)
    reply = answer.read(t0)
    text = reply.text
    last = probe is question.probes[-1]
    return {"time": probe.time, "seen_until": session.now, "expected": probe.answer, "response": text,
            **verdicts(format, kind, probe.answer, text, options, probe.time, last), "warning": answer.warning,
            "clips": [[c.start, c.end] for c in answer.clips],     # memory clips shown: [start, end] stream seconds
            "window": [answer.window.start, answer.window.end] if answer.window else None,   # the live window shown
            "prompt_tokens": answer.prompt_tokens,
            "seconds_to_first_token": reply.first_token_s,
            "seconds_total": round(reply.total_s, 4)}


class Evaluation:
    """An evaluation in `out`: memory/ (one stream per video; the checkpoint) and results.json (what is answered,
    and what it was run on, so a rerun with another file or other settings is refused)."""

    def __init__(self, engine: Engine, questions: list[Question], videos: str | Path, out: str | Path,
                 config: EvalConfig, annotations: str | Path):
        self.engine, self.config = engine, config
        self.questions = questions[:config.limit] if config.limit else list(questions)
        self.paths = video_paths(self.questions, videos)
        self.out = Path(out)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise EvaluationError(f"cannot create the output folder {self.out}: {e.strerror or e}") from e
        self.results = self._claim(Path(annotations))
        self.store = engine.open_store(str(self.out / MEMORY))
        self.broken: dict[str, float] = {}     # video -> where it stops decoding, for this run's videos

    def _identity(self, annotations: Path) -> dict:
        cfg = self.engine.config
        return {"format": self.config.format, "protocol": self.config.protocol,
                "annotations_sha256": hashlib.sha256(annotations.read_bytes()).hexdigest(),
                **self._settings(cfg)}

    @staticmethod
    def _settings(cfg: EngineConfig) -> dict:
        return {"model": {"llm": cfg.model.llm, "embedder": cfg.model.embedder, "min_pixels": cfg.model.min_pixels,
                          "max_pixels": cfg.model.max_pixels, "max_new_tokens": cfg.model.max_new_tokens,
                          "dtype": cfg.model.dtype, "vision_speedup": cfg.model.vision_speedup},
                "ingest": ingest_identity(cfg), "select": asdict(cfg.select), "answer": asdict(cfg.answer),
                "answered_by": answered_by(cfg)}

    def _claim(self, annotations: Path) -> dict:
        want = json.loads(json.dumps(self._identity(annotations)))    # as it reads back from JSON
        path = self.out / RESULTS
        fresh = {"vigil_eval": RESULTS_VERSION, "benchmark": NAMES[self.config.format], "annotations": str(annotations),
                 "identity": want, "warning": None, "answers": {}, "videos": {}}
        if not path.exists():
            if any(self.out.iterdir()):
                raise EvaluationError(f"{self.out} is not empty and holds no {RESULTS}; give an empty or new --out")
            self.results = fresh
            self._write()            # before anything is ingested: a rerun after a crash knows the folder as its own
            return fresh
        have = read_results(path, "; move it away to start again", "; use another --out")
        # Settings added since an older run are read at their default (as that run could not record them).
        have["identity"] = with_defaults(have.get("identity"), json.loads(json.dumps(self._settings(EngineConfig()))))
        have["identity"].setdefault("protocol", "streaming")     # runs before protocols were a choice
        if have.get("identity") != want:
            old = have.get("identity") or {}
            diff = [k for k in want if old.get(k) != want[k]]
            raise EvaluationError(f"{self.out} holds an evaluation of another annotation file or with other settings "
                                  f"({', '.join(diff)} differ); use another --out or delete that folder")
        rescore(have, self.questions)      # rows of an older run get both readings, by today's rules
        return have

    def _write(self) -> None:
        r = self.results
        scored(r)
        r["totals"] = totals(r)
        write_results(self.out / RESULTS, r)

    def asks(self) -> list[Ask]:
        return [a for asks in schedule(self.questions).values() for a in asks]

    def pending(self) -> int:
        """Probes not answered yet."""
        return sum(a.key not in self.results["answers"] for a in self.asks())

    def run(self) -> Iterator[dict]:
        """Answer every probe not answered yet, video by video; yields each results row once it is written."""
        for video, asks in schedule(self.questions).items():
            todo = [a for a in asks if a.key not in self.results["answers"]]
            if todo:
                yield from self._video(video, todo)

    def _video(self, video: str, asks: list[Ask]) -> Iterator[dict]:
        session = self.engine.open(str(self.out / MEMORY), stream=video, store=self.store)
        source = FileSource(str(self.paths[video]), self.engine.config.ingest.sampling.fps)
        feed = FrameFeed(session.frames(source, resume=True))
        stats = self.results["videos"].setdefault(video, {"ingest_seconds": 0.0})
        # Proactive questions already decided (their first yes, or their last poll): no later poll is asked.
        decided = {r["id"] for r in self.results["answers"].values() if r["kind"] == "proactive" and r["counts"]}
        for a in asks:
            if a.question.id in decided:
                continue
            if feed.has(a.probe.time):
                t0 = time.perf_counter()
                # Each piece closes its clip (the question sees it stored) but not the stream: a rerun continues it.
                for _ in session.run(feed.until(a.probe.time), final=False):
                    pass                     # what each step kept is counted in session.state (and its checkpoints)
                stats["ingest_seconds"] = round(stats["ingest_seconds"] + time.perf_counter() - t0, 4)
            q = a.question
            row = {"id": q.id, "probe": a.index, "video": video, "task": q.task, "group": q.group, "kind": q.kind,
                   **ask(session, a.probe, q, self.config.format, self.config.protocol)}
            ended = feed.held is None and not feed.has(a.probe.time)     # the video ran out before the question
            if ended and a.probe.time > session.now + 1.0 / self.engine.config.ingest.sampling.fps:
                row["past_end"] = (f"asked at {a.probe.time:g} s, after the video ends at {session.now:g} s: "
                                   f"answered from the video up to its end")
            s = session.state
            stats.update(stream_seconds=session.now, frames=s.frames, steps=s.steps, encoded=s.encoded,
                         tokens_kept=s.tokens_kept, tokens_total=s.tokens_total,
                         broken_at=s.notes.get("broken_at"))
            if stats["broken_at"] is not None:
                self.broken[video] = stats["broken_at"]
            if q.kind == "proactive" and row["counts"]:
                decided.add(q.id)
                if row["parsed"] == "yes":        # the official script then asks the question itself; kept, not scored
                    row["output"] = session.ask(q.follow_up, until=a.probe.time).read(time.perf_counter()).text
            self.results["answers"][a.key] = row
            self.results["warning"] = self.results["warning"] or row["warning"]
            self._write()
            yield row

    def close(self) -> None:
        self.store.close()


def scored(results: dict) -> None:
    """Set results' "scores" (the benchmark's own rule), "scores_parsed" (Vigil's parser) and "scoring" (which rule
    each is) from its rows."""
    fmt, rows = results["identity"]["format"], list(results["answers"].values())
    results["scores"] = asdict(score(rows, fmt))
    results["scores_parsed"] = asdict(score(rows, fmt, key="correct_parsed"))
    results["scoring"] = {"scores": OFFICIAL_RULES[fmt],
                          "scores_parsed": "right when Vigil's letter parser reads the answer's letter (not the "
                                           "benchmark's rule: not comparable to published numbers)"}


def read_results(path: Path, unreadable: str = "", foreign: str = "") -> dict:
    """A results.json as it was written; EvaluationError in one line (with the hint given) when it cannot be read or
    is not a Vigil evaluation of this version."""
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise EvaluationError(f"cannot read {path}: {e.strerror if isinstance(e, OSError) else e}{unreadable}") \
            from None
    if not isinstance(results, dict) or results.get("vigil_eval") != RESULTS_VERSION:
        raise EvaluationError(f"{path} is not a Vigil evaluation of this version{foreign}")
    return results


def write_results(path: Path, results: dict) -> None:
    """Replace results.json atomically; EvaluationError in one line when the disk refuses."""
    try:
        write_atomic(path, json.dumps(results, indent=1).encode())
    except OSError as e:
        raise EvaluationError(f"cannot write {path}: {e.strerror or e}") from e


def rescore(results: dict, questions: list[Question]) -> None:
    """Score every stored row again from its raw response, by today's rules (official and parsed), without asking
    anything. A row whose question is not in `questions` is left as it is."""
    fmt = results["identity"]["format"]
    by_id = {q.id: q for q in questions}
    for row in results["answers"].values():
        q = by_id.get(row["id"])
        if q is not None:
            row.update(verdicts(fmt, q.kind, row["expected"], row["response"], q.options, row["time"],
                                row["probe"] == len(q.probes) - 1))
    polls: dict[str, list[dict]] = {}
    for row in results["answers"].values():
        if row["kind"] == "proactive":
            polls.setdefault(row["id"], []).append(row)
    for rows in polls.values():         # only a question's first deciding poll scores (later ones were not asked then)
        first = next((r for r in sorted(rows, key=lambda r: r["time"]) if r["counts"]), None)
        for r in rows:
            r["counts"] = r is first


def rescore_folder(out: str | Path, annotations: str | Path | None = None) -> dict:
    """`vigil eval --rescore OUT`: the results.json in `out` scored again from its stored responses and written back
    (atomically); the annotation file is the one it names unless given, and must be the one it was run on."""
    from evaluation.benchmarks import read_questions
    path = Path(out) / RESULTS
    results = read_results(path)
    source = Path(annotations or results["annotations"])
    try:
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
    except OSError as e:
        raise EvaluationError(f"cannot read the annotation file {source}: {e.strerror or e}; give it with "
                              f"--annotations") from None
    if digest != results["identity"]["annotations_sha256"]:
        raise EvaluationError(f"{source} is not the annotation file {path} was run on (its SHA-256 differs)")
    fmt = results["identity"]["format"]
    rescore(results, read_questions(source, fmt))
    scored(results)
    write_results(path, results)
    return results


def totals(results: dict) -> dict:
    """Tokens kept (kept / total over every step of every video), seconds to first token, and ingest speed
    (stream seconds ingested per wall second spent ingesting: decode, events, encode, drop, store)."""
    rows, videos = list(results["answers"].values()), list(results["videos"].values())
    kept, total = sum(v.get("tokens_kept", 0) for v in videos), sum(v.get("tokens_total", 0) for v in videos)
    stream, wall = sum(v.get("stream_seconds", 0.0) for v in videos), sum(v["ingest_seconds"] for v in videos)
    first = [r["seconds_to_first_token"] for r in rows]
    return {"answered": len(rows), "videos": len(videos), "tokens_kept": kept, "tokens_total": total,
            "kept_ratio": round(kept / total, 4) if total else None,
            "first_token_median_s": round(statistics.median(first), 4) if first else None,
            "first_token_mean_s": round(statistics.fmean(first), 4) if first else None,
            "stream_seconds": round(stream, 3), "ingest_seconds": round(wall, 3),
            "ingest_speed": round(stream / wall, 3) if wall else None,
            "frames": sum(v.get("frames", 0) for v in videos), "steps": sum(v.get("steps", 0) for v in videos),
            "encoded": sum(v.get("encoded", 0) for v in videos)}


def table(results: dict) -> str:
    """The scores as a markdown table, headed by the random-weights warning where it applies."""
    s, t = results["scores"], results["totals"]
    lines = []
    if results["warning"]:
        lines += [f"!!! {RANDOM_WEIGHTS_WARNING} !!!", "!!! every answer is noise, and so is every score below !!!", ""]
    p, ident = results["scores_parsed"], results["identity"]
    rule = OFFICIAL_RULES[ident["format"]]
    protocol = ident.get("protocol", "streaming")
    lines += [f"{results['benchmark']}: {t['answered']} probes answered over {t['videos']} videos "
              f"({results['annotations']}); accuracy {s['averaging']}",
              f"protocol: {protocol} ({PROTOCOLS[protocol]}); model {ident['model']['llm']}; answers capped at "
              f"{ident['model']['max_new_tokens']} tokens",
              f"accuracy: the benchmark's own rule, {rule}; parsed: Vigil's letter parser, a second reading that "
              f"published numbers do not use", "",
              "| group | task | asked | correct | unparsed | accuracy | parsed |", "|---|---|---|---|---|---|---|"]
    for task, x in s["tasks"].items():
        lines.append(f"| {s['task_group'][task]} | {task} | {x['asked']} | {x['correct']} | {x['unparsed']} | "
                     f"{x['accuracy']:.1%} | {p['tasks'][task]['accuracy']:.1%} |")
    for group, x in s["groups"].items():
        lines.append(f"| **{group}** | all | {x['asked']} | {x['correct']} | {x['unparsed']} | **{x['accuracy']:.1%}** "
                     f"| {p['groups'][group]['accuracy']:.1%} |")
    o = s["overall"]
    lines.append(f"| **overall** | | {o['asked']} | {o['correct']} | {o['unparsed']} | **{o['accuracy']:.1%}** | "
                 f"{p['overall']['accuracy']:.1%} |")
    kept = f"{t['kept_ratio']:.1%} ({t['tokens_kept']} of {t['tokens_total']})" if t["kept_ratio"] is not None else "-"
    speed = f"{t['ingest_speed']:.2f}" if t["ingest_speed"] is not None else "-"
    first = f"{t['first_token_median_s']:.3f} s" if t["first_token_median_s"] is not None else "-"
    late = sum(1 for r in results["answers"].values() if r.get("past_end"))
    if late:
        lines += ["", f"{late} probes were asked after their video's end (answered from the video up to its end; "
                      f"a truncated download or a typo in the file's times): see \"past_end\" in results.json"]
    lines += ["", f"tokens kept {kept}; first token median {first}; ingest {speed} stream s per wall s "
                  f"({t['stream_seconds']:.0f} s of video, each ingested once: {t['frames']} frames, "
                  f"{t['encoded']} of {t['steps']} steps encoded)"]
    return "\n".join(lines)
