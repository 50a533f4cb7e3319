"""Offline analysis of one video file: ingest it into a memory folder that is also the checkpoint, caption the
clips, summarise them, answer a list of questions, and gather it all into a report (a JSON-able dict; the page is
drawn by `app.report`).

    analysis = Analysis(engine, FileSource("day.mp4", fps=1), "out/", AnalysisConfig(captions=True))
    for seconds_done in analysis.ingest(): ...     # resumes from the last stored clip
    for _ in analysis.caption(): ...
    report = analysis.report(analysis.answer(questions), analysis.summarize())
"""
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from memory.files import write_atomic
from stream.clock import clock_label, parse_clock
from stream.engine import Engine, EngineConfig, Session, answered_by, with_defaults
from stream.events import Event, activity_spans
from stream.ingest import Step
from stream.sources import FileSource

REPORT_VERSION = 1
STREAM = "video"
SUMMARY_PROMPT = ("These are captions of consecutive clips of a video, each after its time span. Write a short "
                  "timeline of what happens in this part, one line per distinct moment, with its time.")


def ingest_identity(cfg: EngineConfig) -> dict:
    """The ingest settings an analysis or an evaluation records. How a live source reconnects says nothing of a
    file's analysis: left out, so changing it (or an analysis made before it existed) is not "other settings"."""
    return {**asdict(cfg.ingest), "sampling": {k: v for k, v in asdict(cfg.ingest.sampling).items()
                                               if k != "reconnect"}}


class AnalysisError(RuntimeError):
    """The analysis cannot go on; the message is one line for the user. Nothing stored is lost."""


@dataclass
class AnalysisConfig:
    # A one-line caption per clip from the video LLM: stored with the clip, used for retrieval, shown in the report.
    captions: bool = False
    # A timeline summary of the whole video, built from the captions (so it turns captions on).
    summary: bool = False
    # Captions per summary chunk: each chunk is summarised on its own, so the prompt stays small on a long video.
    summary_chunk: int = 16

    def __post_init__(self):
        if self.summary_chunk < 1:
            raise ValueError(f"summary_chunk must be at least 1, got {self.summary_chunk}")
        if self.summary:
            self.captions = True


@dataclass
class Question:
    text: str
    at: float | None = None     # stream seconds: the question sees only memories up to then; None: the whole video


def parse_questions(text: str) -> list[Question]:
    """One question a line, or JSON lines {"question": ..., "at": "00:05:00"}; blank lines and # comments skipped."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                item = json.loads(line)
                q, at = item["question"], item.get("at")
                out.append(Question(str(q), None if at is None else parse_clock(str(at))))
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f"questions line {n}: {e}") from e
        else:
            out.append(Question(line))
    return out


class Analysis:
    """One video's analysis in `out`: memory/ (the store, which is the checkpoint), analysis.json (what is being
    analysed, so a second run with another video or other settings is refused), and the report files."""

    def __init__(self, engine: Engine, source: FileSource, out: str | Path, config: AnalysisConfig,
                 memory: str | None = None, stream: str = STREAM):
        """`memory`: where the clips go instead of out/memory (a shared store's URL), as stream `stream`; the
        report and analysis.json stay in `out`."""
        self.engine, self.source, self.config = engine, source, config
        self.out = Path(out)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            write_atomic(self.out / ".write-test", b"")
            (self.out / ".write-test").unlink()
        except OSError as e:
            raise AnalysisError(f"output folder {self.out} is not writable: {e.strerror or e}") from e
        self._claim()
        self.session: Session = engine.open(memory or str(self.out / "memory"), stream)
        self.broken_at: float | None = None
        self.started = time.perf_counter()

    def _identity(self) -> dict:
        cfg = self.engine.config
        s = self.source
        return {"video": {"name": Path(s.path).name, "bytes": os.path.getsize(s.path), "frames": s.frame_count,
                          "duration": round(s.duration, 3)},
                "model": {"llm": cfg.model.llm, "embedder": cfg.model.embedder, "min_pixels": cfg.model.min_pixels,
                          "max_pixels": cfg.model.max_pixels},
                "ingest": ingest_identity(cfg), "answer": answered_by(cfg)}

    def _claim(self) -> None:
        path, want = self.out / "analysis.json", self._identity()
        if path.exists():
            try:
                have = json.loads(path.read_text())
            except ValueError:
                have = None
            defaults = EngineConfig()
            have = with_defaults(have, {"ingest": ingest_identity(defaults), "answer": answered_by(defaults)})
            if have != want:
                diff = [k for k in want if not have or have.get(k) != want[k]]
                raise AnalysisError(f"{self.out} holds an analysis of another video or with other settings "
                                    f"({', '.join(diff) or 'unreadable analysis.json'} differ); use another --out "
                                    f"or delete that folder")
            return
        try:
            write_atomic(path, json.dumps(want, indent=1).encode())
        except OSError as e:
            raise AnalysisError(f"cannot write to {self.out}: {e.strerror or e}") from e

    # ---- the verbs ----------------------------------------------------------------------------------------
    def ingest(self) -> Iterator[float]:
        """Ingest the video from where the last run stopped; yields the stream seconds done after each step. A file
        that breaks part way is analysed up to the break (`broken_at`, remembered for later runs too)."""
        for record in self.session.ingest(self.source, resume=True):
            if isinstance(record, Step):
                yield record.end
        self.broken_at = self.session.state.notes.get("broken_at")
        yield self.source.duration if self.broken_at is None else self.broken_at

    def caption(self) -> Iterator[tuple[int, int]]:
        """Caption every clip that has no caption yet (resumable too); yields (done, total). A clip whose token file
        cannot be read keeps no caption (the check command reports it)."""
        if not self.config.captions:
            return
        store = self.session.store
        clips = store.clips(self.session.stream)
        lost = set(store.missing(self.session.stream))
        todo = [c.id for c in clips if c.caption is None and c.id not in lost]
        done = len(clips) - len(todo)
        t0 = time.perf_counter()
        for cid in todo:
            for clip in self.session.load([cid]).clips:
                self.session.caption(clip)
            done += 1
            yield done, len(clips)
        self.session.state.timings["caption"] = time.perf_counter() - t0

    def summarize(self) -> list[dict] | None:
        """A timeline summary, one entry per chunk of captioned clips: {start, end, text}."""
        if not self.config.summary:
            return None
        clips = [c for c in self.session.store.clips(self.session.stream) if c.caption]
        out, n = [], self.config.summary_chunk
        for i in range(0, len(clips), n):
            chunk = clips[i:i + n]
            lines = "\n".join(f"[{clock_label(c.start)} - {clock_label(c.end)}] {c.caption}" for c in chunk)
            text = "".join(self.engine.generate(SUMMARY_PROMPT, [], lines))
            out.append({"start": chunk[0].start, "end": chunk[-1].end, "text": text.strip(),
                        "warning": "random weights: noise" if self.engine.noise else None})
        return out

    def answer(self, questions: list[Question]) -> list[dict]:
        """Answer each question from the memory as of its time; with timings."""
        out = []
        for q in questions:
            t0 = time.perf_counter()
            # Memory alone: a report reads the same however many runs made it, and the live window lives only in
            # the run that saw the last frames (a resumed run that had nothing left to ingest has none).
            a = self.session.ask(q.text, until=q.at, policy="memory")
            reply = a.read(t0)
            out.append({"question": q.text, "at": q.at, "answer": reply.text, "warning": a.warning,
                        "clips": [{"id": c.id, "start": c.start, "end": c.end} for c in a.clips],
                        "skipped": [{"id": c.id, "start": c.start, "end": c.end} for c in a.skipped],
                        "prompt_tokens": a.prompt_tokens, "cost": a.cost(),
                        "seconds_to_first_token": reply.first_token_s,
                        "seconds_total": round(reply.total_s, 4)})
        return out

    # ---- the report ---------------------------------------------------------------------------------------
    def report(self, answers: list[dict], summary: list[dict] | None) -> dict:
        """Everything in one JSON-able dict (schema in the README); thumbnails are written to out/thumbs/."""
        store, state, src = self.session.store, self.session.state, self.source
        warning = noise = None
        if self.engine.noise:
            warning = "RANDOM WEIGHTS (a tiny test model): every caption, summary and answer in this report is noise"
            noise = "random weights: noise"
        steps = store.steps(self.session.stream)
        stored = [Event(k, t, d) for k, t, d in store.events(self.session.stream)]
        events = [{"kind": e.kind, "time": e.time, "detail": e.detail} for e in stored]
        activity = activity_spans(stored)
        lost = set(store.missing(self.session.stream))
        clips = []
        try:
            (self.out / "thumbs").mkdir(exist_ok=True)
            for c in store.clips(self.session.stream):
                name = f"thumbs/clip-{c.id:06d}.jpg"
                write_atomic(self.out / name, c.thumbnail)
                clips.append({"id": c.id, "start": c.start, "end": c.end, "thumbnail": name, "caption": c.caption,
                              "caption_warning": noise if c.caption is not None else None,
                              "tokens": c.n_tokens, "kept": c.kept, "total": c.total, "missing": c.id in lost,
                              "tau": None if c.tau is None else round(c.tau, 4)})
        except OSError as e:
            raise AnalysisError(f"cannot write thumbnails to {self.out}: {e.strerror or e}") from e
        t = dict(state.timings)
        return {
            "vigil_report": REPORT_VERSION,
            "warning": warning,
            "video": {"path": str(src.path), "name": Path(src.path).name, "duration": round(src.duration, 3),
                      "fps": round(src.native_fps, 3), "frames": src.frame_count,
                      "width": src.size[1], "height": src.size[0], "codec": src.codec, "decoder": src.backend,
                      "broken_at": self.broken_at},
            "config": {"engine": asdict(self.engine.config), "analysis": asdict(self.config)},
            "series": {"time": [s.time for s in steps], "end": [s.end for s in steps],
                       "drop_ratio": [round(s.drop_ratio, 4) for s in steps],
                       "encoded": [s.encoded for s in steps],
                       "tau": [None if s.tau is None else round(s.tau, 4) for s in steps]},
            "events": events,
            "activity": activity,
            "scene_changes": [e["time"] for e in events if e["kind"] == "scene_change"],
            "clips": clips,
            "summary": summary,
            "answers": answers,
            "totals": {"frames_in_video": src.frame_count, "frames_sampled": state.frames, "steps": state.steps,
                       "encodes": state.encoded, "encodes_skipped": state.steps - state.encoded,
                       "tokens_total": state.tokens_total, "tokens_kept": state.tokens_kept,
                       "kept_ratio": round(state.kept_ratio, 4),
                       "clips": len(clips), "events": len(events),
                       "seconds": {k: round(t.get(k, 0.0), 3) for k in ("decode", "encode", "drop", "store", "caption")}
                       | {"answer": round(sum(a["seconds_total"] for a in answers), 3),
                          "wall_this_run": round(time.perf_counter() - self.started, 3)}},
        }

    def write(self, report: dict, page: str) -> tuple[Path, Path]:
        """report.json and report.html (`page`: the report drawn by the entry point, `app.report.render_html`) in
        the output folder, atomically: a crash leaves the previous ones."""
        try:
            write_atomic(self.out / "report.json", json.dumps(report, indent=1).encode())
            write_atomic(self.out / "report.html", page.encode())
        except OSError as e:
            raise AnalysisError(f"cannot write the report to {self.out}: {e.strerror or e}") from e
        return self.out / "report.json", self.out / "report.html"

    def close(self) -> None:
        self.session.close()
