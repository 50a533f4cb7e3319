#!/usr/bin/env python3
"""Vigil's command line: `ingest` a video or stream into a memory folder, `ask` questions about it, `check` a memory
folder, `watch` a stream for alerts, `recap` a span of memories, `analyze` a video file into a report, serve the
live page (`ui`) or a config's cameras (`serve`). Argument parsing lives here only; every default comes from the
config dataclasses."""
import argparse
import faulthandler
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path
from models.registry import BACKENDS
from models.config import DEFAULT_LLMS, LARGE_GPU_GIB
from models.tiny import TINY_LLMS

DEFAULT_STREAM = "default"     # the stream of a memory folder when none is named


def _engine_config(args):
    from compression.config import DropConfig
    from memory.config import SelectConfig, StoreConfig
    from models.config import ModelConfig, ServerConfig
    from stream.config import AnswerConfig, IngestConfig, SamplingConfig
    from stream.engine import EngineConfig
    # `ask` through a server needs no video LLM: the server is shown keyframes and the embedder picks the clips.
    light = args.light or (args.command == "ask" and args.answer_with is not None)
    return EngineConfig(
        model=ModelConfig(llm=args.model, embedder=args.embedder, device=args.device,
                          vision_speedup=args.vision_speedup, light=light),
        server=getattr(args, "server", None) or ServerConfig(url=args.answer_with, model=args.answer_model or "",
                                                             max_frames=args.answer_frames or ServerConfig.max_frames),
        ingest=IngestConfig(sampling=SamplingConfig(fps=args.fps), clip_seconds=args.clip_seconds,
                            drop=DropConfig(tau=args.tau)),
        store=StoreConfig(max_clips=getattr(args, "max_clips", None), index=args.index, index_url=args.index_url,
                          lease_seconds=getattr(args, "lease_seconds", StoreConfig.lease_seconds)),
        select=SelectConfig(token_budget=args.budget),
        answer=AnswerConfig(policy=args.answer_policy),
    )


def _location_args(p, required: bool = True, many: bool = False, memory_help: str = "memory folder",
                   memory_default=None) -> None:
    """--memory DIR or --store URL (both land in args.memory: a location, memory.stores.open_store picks its kind)."""
    action = "append" if many else "store"
    where = p.add_mutually_exclusive_group(required=required)
    where.add_argument("--memory", action=action, default=memory_default, help=memory_help)
    where.add_argument("--store", dest="memory", action=action, metavar="URL",
                       help="a shared store instead of a folder, postgresql://user@host/db: every camera's memory in "
                            "one PostgreSQL database with pgvector, written by several workers (each its own cameras) "
                            "and read by any process (the password from $PGPASSWORD or ~/.pgpass)")


def _shown(where: str) -> str:
    """A memory's location as output shows it: a folder as given, a shared store's URL without its password."""
    from memory.index.pgvector_index import safe_url
    from memory.stores import is_store_url
    return safe_url(where) if is_store_url(where) else where


def _where_flag(where: str) -> str:
    """The flag that names this memory again in a hint: --memory DIR or --store URL (no password)."""
    from memory.stores import is_store_url
    return f"--store {_shown(where)}" if is_store_url(where) else f"--memory {where}"


def _preflight(where: str, write: bool = True) -> None:
    """What opening the memory would refuse, before the models load (memory.stores.preflight)."""
    from memory.stores import preflight
    preflight(where, write)


def _answers_needed(args, what: str) -> None:
    """The light mode loads no video LLM: what must be answered needs a server, said before anything loads."""
    if args.light and args.answer_with is None and getattr(args, "server", None) is None:
        raise ValueError(f"{what} need something to answer them, and --light loads no video LLM: give an answer "
                         "server with --answer-with URL --answer-model NAME")


def cmd_ingest(args) -> int:
    from stream.engine import Engine
    from stream.ingest import Step
    from stream.sources import SourceOptions, open_source

    _preflight(args.memory)                              # these fail fast, before the models load
    config = _engine_config(args)
    sampling = config.ingest.sampling
    source = open_source(args.source, SourceOptions(args.fps, sampling.max_side, sampling.reconnect))
    with source:                                         # its threads and handles end with the command
        engine = Engine(config)
        session = engine.open(args.memory, stream=args.stream)
        if source.live:
            signal.signal(signal.SIGINT, lambda *_: source.close())   # Ctrl-C ends a live stream cleanly
        t0 = time.monotonic()
        events = []
        try:
            for record in session.ingest(source):
                for e in record.events:
                    events.append(e)
                    if args.verbose:
                        print(f"  {e.kind:15s} at {e.time:8.2f}s", flush=True)
                if args.verbose and isinstance(record, Step):
                    tau = "pixel rule" if record.tau is None else f"{record.tau:.3f}"
                    print(f"step {record.index:5d} t={record.time:8.2f}s kept {record.kept:4d}/{record.total} "
                          f"{'encoded' if record.encoded else 'skipped'} tau {tau}", flush=True)
            stored = session.store.count(args.stream)
        finally:
            session.close()
    s = session.state
    kept = s.kept_ratio
    skipped = s.steps - s.encoded
    print(f"ingested {args.source} into {_shown(args.memory)} (stream {args.stream!r}) in {time.monotonic() - t0:.1f}s")
    if s.index_base:
        print(f"  continued       the stored stream: this run's steps are numbered from {s.index_base} and its "
              f"stream time starts at {s.time_base:.2f}s")
    print(f"  frames sampled  {s.frames} at {args.fps:g} fps" + (f", {s.frames_skipped} skipped (behind live)" if s.frames_skipped else ""))
    print(f"  steps           {s.steps} of {engine.llm.frames_per_step} frames; encodes skipped by the pixel gate "
          f"{skipped} ({skipped / max(1, s.steps):.0%})")
    print(f"  tokens kept     {s.tokens_kept} of {s.tokens_total} ({kept:.1%}; {1 - kept:.1%} dropped)")
    print(f"  clips stored    {s.clips} (memory now holds {stored} for this stream)")
    kinds = {}
    for e in events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    print(f"  events          {len(events)}" + (" (" + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + ")" if kinds else ""))
    for e in events:
        print(f"    {e.kind:15s} {e.time:8.2f}s")
    broken = s.notes.get("broken_at")
    if broken is not None:
        print(f"vigil: warning: {args.source} breaks at {broken:.2f}s; ingested and stored up to there",
              file=sys.stderr)
        return 3
    return 0


def _models_of_memory(args, folder) -> None:
    """--model and --embedder not given: the ones the memory was built with (a flag given still wins, and a
    mismatch is refused by the store as before). The light mode loads no video LLM, so its --model stays."""
    from memory.stores import recorded_models
    from models.loader import spec_of
    recorded = recorded_models(folder)
    if isinstance(args.model, _Default) and not args.light and "llm" in recorded:
        args.model = spec_of(recorded["llm"])
    if isinstance(args.embedder, _Default) and "embedder" in recorded:
        args.embedder = spec_of(recorded["embedder"])


def cmd_ask(args) -> int:
    from pathlib import Path

    from memory.folder import find_memory
    from memory.store import StoreError
    from memory.stores import is_store_url
    from stream.clock import clip_label
    from stream.engine import Engine

    _answers_needed(args, "questions")
    if args.answer_policy == "window":
        raise ValueError("ask reads a stored memory, which has no live window: use --answer-policy hybrid or memory "
                         "(the window is for running streams: ui, serve, eval)")
    if len(args.memory) > 1:
        return _ask_across(args)
    args.memory = args.memory[0]
    # --stream left at its default: the folder's only stream, or in a memory root the only camera's memory.
    stream = None if args.stream == DEFAULT_STREAM else args.stream
    if not is_store_url(args.memory):
        folder, stream = find_memory(Path(args.memory), stream)    # a memory root and a camera's name work too
        args.memory = str(folder)
    _preflight(args.memory, write=False)               # not a memory: one line, before the models load
    _models_of_memory(args, args.memory)
    engine = Engine(_engine_config(args))
    session = engine.open(args.memory, stream=stream or "default", readonly=True)
    try:
        streams = session.store.streams()
        if stream is None and len(streams) > 1 and session.store.shared:    # a shared store: every camera in it
            session.close()
            return _ask_cameras(args, engine, [args.memory])
        if stream is None and len(streams) == 1:       # one stream in the folder: no --stream needed
            stream = next(iter(streams))
            session.close()
            session = engine.open(args.memory, stream=stream, readonly=True)
        args.stream = stream or "default"
        if session.store.count(args.stream) == 0:
            streams = session.store.streams()
            held = ("; it holds " + ", ".join(f"{n} ({k} clips)" for n, k in streams.items()) + ": give --stream NAME"
                    ) if streams else ""
            raise StoreError(f"memory at {_shown(args.memory)} has no clips for stream {args.stream!r}{held}")
        answer = session.ask(args.question, until=args.at, strict=True)
        spans = lambda clips: ", ".join(clip_label(c) for c in clips)  # noqa: E731  (live: local date and time)
        if not answer.clips and answer.skipped:
            raise StoreError(f"none of the clips selected for this question can be read (token files of "
                             f"{len(answer.skipped)} clips unreadable); run `vigil check {_where_flag(args.memory)}`")
        print(f"question: {args.question}")
        _print_answer(answer, spans, engine, f"; `vigil check {_where_flag(args.memory)} --repair` marks them missing")
    finally:
        session.close()
    return 0


def _print_answer(answer, spans, engine, repair: str = "") -> None:
    """What `ask` prints of an answer: the span asked about, the clips used and skipped (`spans` labels them), the
    cost, then the answer streamed (or why the model was not asked)."""
    from stream.clock import span_text
    if answer.span is not None:
        print(f"time asked about: \"{answer.span.phrase}\" ({span_text(answer.span)})")
    print(f"clips used ({len(answer.clips)}): {spans(answer.clips)}")
    if answer.skipped:
        print(f"clips skipped ({len(answer.skipped)}, token file unreadable): {spans(answer.skipped)}{repair}")
    print(f"prompt: {answer.cost()}" + (f" to {engine.answerer.name} at {engine.answerer.url}"
                                        if answer.request else ""))
    if answer.nothing_shown():               # the model was not asked: say why instead
        print(f"answer: {answer.nothing_shown()} (the model was not asked)")
        return
    if answer.warning:
        print(answer.warning)
    print("answer: ", end="", flush=True)
    for piece in answer.pieces:
        print(piece, end="", flush=True)
    print()
    if answer.warning:
        print(answer.warning)


def _ask_across(args) -> int:
    """`ask` with several --memory: one question over every camera's memory (each its folder's only stream), the
    budget spread over them by relevance."""
    from pathlib import Path

    from memory.folder import find_memory
    from memory.stores import is_store_url
    from stream.engine import Engine

    if args.stream != DEFAULT_STREAM:
        raise ValueError("--stream names one stream; with several --memory each folder's own stream is asked")
    folders = [m if is_store_url(m) else find_memory(Path(m), None)[0] for m in dict.fromkeys(args.memory)]
    for folder in folders:
        _preflight(str(folder), write=False)           # not a memory: one line, before the models load
    _models_of_memory(args, folders[0])
    return _ask_cameras(args, Engine(_engine_config(args)), folders)


def _ask_cameras(args, engine, folders) -> int:
    """One question over every camera of `folders` (a folder's only stream; a shared store's every camera)."""
    from memory.stores import is_store_url
    from stream.clock import clip_label
    sessions = []
    try:
        sessions += _camera_sessions(engine, folders, every_stream=any(is_store_url(f) for f in folders))
        answer = engine.ask_across(sessions, args.question, strict=True)
        spans = lambda clips: ", ".join(f"{c.stream} {clip_label(c)}" for c in clips)  # noqa: E731
        print(f"question: {args.question}")
        print(f"cameras: {', '.join(s.stream for s in sessions)}")
        _print_answer(answer, spans, engine)
    finally:
        for s in sessions:
            s.close()
    return 0


def _camera_sessions(engine, folders, every_stream: bool) -> list:
    """A read-only session per camera of `folders`: each folder's only stream, or with `every_stream` each of its
    streams (a folder `ingest --stream` filled with several). A folder of several streams without it: one line."""
    from memory.store import StoreError
    sessions = []
    try:
        for folder in folders:
            probe = engine.open_store(str(folder), readonly=True)
            streams = probe.streams()
            probe.close()
            if len(streams) != 1 and not every_stream:
                raise StoreError(f"memory at {folder} holds {len(streams)} streams ({', '.join(streams) or 'none'}): "
                                 f"ask it alone with --stream NAME")
            sessions += [engine.open(str(folder), stream=name, readonly=True) for name in streams]
    except BaseException:
        for s in sessions:
            s.close()
        raise
    return sessions


def cmd_recap(args) -> int:
    """What happened in a span, per camera: activity, alerts, the captions written in the background, and (unless
    --no-summaries) a few sentences an hour from the video LLM. Text, --json (the API's shape) or an --html page."""
    import dataclasses
    import json
    from pathlib import Path

    from app.recap import render_recap_html
    from memory.folder import memories_in
    from memory.store import StoreError
    from memory.stores import is_store_url
    from stream.engine import Engine
    from stream.service.recap import recap

    folders = list(dict.fromkeys(f for m in args.memory for f in ([m] if is_store_url(m) else memories_in(Path(m)))))
    for folder in folders:
        _preflight(str(folder), write=False)           # not a memory: one line, before the models load
    if not args.no_summaries:
        _answers_needed(args, "a recap's summaries (or --no-summaries)")
    else:
        args.light = True                              # the facts need no video LLM: none loads
    _models_of_memory(args, folders[0])
    config = _engine_config(args)
    engine = Engine(dataclasses.replace(config, recap=dataclasses.replace(config.recap,
                                                                          summaries=not args.no_summaries)))
    sessions = _camera_sessions(engine, folders, every_stream=True)
    try:
        if not sessions:
            raise StoreError(f"no camera has clips in {', '.join(map(str, folders))}")
        r = recap(engine, sessions, args.when)
    finally:
        for s in sessions:
            s.close()
    if args.json:
        print(json.dumps(r.to_json()))
        return 0
    if args.html:
        Path(args.html).write_text(render_recap_html(r.to_json()), encoding="utf-8")
        print(f"recap of \"{r.phrase}\" ({r.span}): {args.html}")
        return 0
    _print_recap(r)
    return 0


def _print_recap(r) -> None:
    """The recap as text: the span, then per camera its counts and each hour's activity, alerts, captions, summary."""
    if r.warning:
        print(r.warning)
    print(f"recap of \"{r.phrase}\" ({r.span})")
    for cam in r.cameras:
        print(f"\n{cam.camera}: {cam.clips} clips ({cam.captioned} captioned), {len(cam.activity)} activity spans, "
              f"{cam.alerts} alerts")
        for h in cam.hours:
            print(f"  {h.label}: {h.activity_seconds:g} s of activity in {h.activity_spans} spans, "
                  f"{len(h.alerts)} alerts")
            for a in h.alerts:
                print(f"    [{a['label']}] {a['kind']}: {a['title']}" + (f". {a['description']}"
                                                                        if a["description"] else ""))
            for c in h.captions:
                print(f"    [{c['label']}] {c['text']}")
            if h.summary:
                print(f"    summary: {h.summary}")
    if r.warning:
        print(r.warning)


def cmd_mcp(args) -> int:
    from app.config import McpConfig
    from app.mcp_server import serve
    serve(McpConfig(url=args.url, transport=args.transport, host=args.host, port=args.port), _auth(args.auth))
    return 0


def cmd_check(args) -> int:
    """Exit 0: consistent (after --repair, if given); 1: problems remain; 2: not a memory or cannot be opened."""
    from memory.check import check_memory

    from memory.config import StoreConfig
    report = check_memory(args.memory, repair=args.repair,
                          config=StoreConfig(index=args.index, index_url=args.index_url))

    def count(n: int, what: str) -> str:
        return f"{n} {what}" + ("" if n == 1 else "s")
    n = sum(report.streams.values())
    streams = ", ".join(f"{s} {k}" for s, k in report.streams.items()) or "none"
    print(f"memory {report.folder}: {count(n, 'clip')} (streams: {streams}); schema {report.schema}; "
          f"id {report.memory_id or '-'}")
    for f in report.findings:
        print(f.line(args.repair))
    left, fixed = report.problems_left, [f for f in report.findings if f.fixed]
    if not left:
        print("consistent" + (f" after {count(len(fixed), 'repair')}" if fixed else ""))
        return 0
    fixable = [f for f in left if f.fix is not None]
    hint = f"; `vigil check {_where_flag(args.memory)} --repair` fixes {len(fixable)}" \
        if fixable and not args.repair else ""
    print(count(len(left), "problem") + (f" left after {count(len(fixed), 'repair')}" if fixed else "") + hint)
    return 1


def cmd_store(args) -> int:
    """`store copy`: every camera of a memory (folder or root) into a shared store, or back; resumable, verified clip
    for clip. Exit 0: copied and verified; 1: a clip differs (each one line); 2: cannot open either side."""
    from memory.config import StoreConfig
    from memory.copy import copy_memory
    from memory.store import StoreError

    def show(c) -> None:
        lost = f", {c.lost} not copied (their tokens are lost in the source)" if c.lost else ""
        check = "verified clip for clip" if not c.problems else f"{len(c.problems)} problems"
        print(f"camera {c.camera}: {c.copied} clips copied, {c.present} there already{lost}, {c.alerts} alerts and "
              f"{c.videos} alert videos copied; {check}", flush=True)
        for p in c.problems[:20]:
            print(f"  problem: {p}")
    done = copy_memory(args.source, args.target, StoreConfig(index=args.index, index_url=args.index_url), log=show)
    if not done:
        raise StoreError(f"no camera has clips in {args.source}")
    return 1 if any(c.problems for c in done) else 0


def cmd_analyze(args) -> int:
    from tqdm import tqdm

    from app.report import render_html
    from stream.analysis import STREAM, Analysis, AnalysisConfig, parse_questions
    from stream.clock import clock_label
    from stream.engine import Engine
    from stream.sources import FileSource

    questions = []
    if args.questions:
        try:
            questions = parse_questions(open(args.questions, encoding="utf-8").read())
        except OSError as e:
            raise ValueError(f"cannot read questions file {args.questions}: {e.strerror}") from e
    if args.captions or args.summary or questions:
        _answers_needed(args, "captions, summaries and questions")
    if args.stream and not args.store:
        raise ValueError("--stream names the video's stream in a shared store: give --store URL too")
    source = FileSource(args.video, args.fps)                       # fails fast, before the models load
    if args.store:
        _preflight(args.store)
    config = AnalysisConfig(captions=args.captions, summary=args.summary)
    out = args.out or f"{args.video}.vigil"
    engine = Engine(_engine_config(args))
    # In a shared store the video is a stream of its own, named by --stream or after the file.
    stream = (args.stream or Path(args.video).stem) if args.store else STREAM
    analysis = Analysis(engine, source, out, config, memory=args.store, stream=stream)
    try:
        # tqdm: rate and time left in video seconds; disable=None turns it off when stderr is not a terminal.
        with tqdm(total=round(source.duration, 1), unit="s", desc="analysing", disable=None, leave=False,
                  bar_format="{desc} {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s video "
                             "[{elapsed}<{remaining}, {rate_fmt}]") as bar:
            for done in analysis.ingest():
                bar.update(round(min(done, source.duration), 1) - bar.n)
        if config.captions:
            with tqdm(desc="captions", unit="clip", disable=None, leave=False) as bar:
                for n, total in analysis.caption():
                    bar.total = total
                    bar.update(n - bar.n)
        summary = analysis.summarize()
        answers = analysis.answer(questions)
        report = analysis.report(answers, summary)
        json_path, html_path = analysis.write(report, render_html(report, analysis.out))
    finally:
        analysis.close()
    t, v = report["totals"], report["video"]
    if report["warning"]:
        print(f"WARNING: {report['warning']}")
    print(f"analysed {v['name']} ({clock_label(v['duration'])}) into {out}")
    print(f"  frames sampled  {t['frames_sampled']} of {t['frames_in_video']}; encodes skipped {t['encodes_skipped']} "
          f"of {t['steps']} steps")
    print(f"  tokens kept     {t['tokens_kept']} of {t['tokens_total']} ({t['kept_ratio']:.1%})")
    print(f"  clips {t['clips']}, scene changes {len(report['scene_changes'])}, activity spans {len(report['activity'])}")
    for a in answers:
        print(f"  Q: {a['question']}  ({len(a['clips'])} clips, {a.get('cost') or a['prompt_tokens']})")
    print(f"  report: {json_path}  page: {html_path}")
    if v["broken_at"] is not None:
        print(f"vigil: warning: {v['name']} breaks at {v['broken_at']:.2f}s; analysed up to there", file=sys.stderr)
        return 3
    return 0


def cmd_eval(args) -> int:
    """A streaming benchmark: each video ingested once, each question asked at its time; resumable."""
    from tqdm import tqdm

    from evaluation.benchmarks import read_questions
    from evaluation.config import EvalConfig
    from evaluation.harness import Evaluation, engine_config, rescore_folder, table, video_paths
    from stream.engine import Engine

    if args.rescore is not None:
        results = rescore_folder(args.rescore, args.annotations)
        print(table(results))
        print(f"results: {Path(args.rescore) / 'results.json'} (scored again; nothing was asked)")
        return 0
    missing = [f"--{k}" for k in ("annotations", "videos", "out") if getattr(args, k) is None]
    if missing:
        raise ValueError(f"eval needs {', '.join(missing)} (or --rescore OUT to score an earlier run again)")
    _answers_needed(args, "a benchmark's questions")
    config = EvalConfig(format=args.format, limit=args.limit, protocol=args.protocol, answer_tokens=args.answer_tokens)
    questions = read_questions(args.annotations, config.format)      # these fail fast, before the models load
    video_paths(questions[:config.limit] if config.limit else questions, args.videos)
    engine = Engine(engine_config(_engine_config(args), config))
    evaluation = Evaluation(engine, questions, args.videos, args.out, config, args.annotations)
    try:
        with tqdm(total=evaluation.pending(), unit="probe", desc="evaluating", disable=None, leave=False) as bar:
            for _ in evaluation.run():
                bar.update(1)
    except KeyboardInterrupt:
        print(f"vigil: interrupted with {evaluation.pending()} probes left; what was answered and stored is kept; "
              f"run the same command again to continue", file=sys.stderr)
        return 130
    finally:
        evaluation.close()
    print(table(evaluation.results))
    print(f"results: {Path(args.out) / 'results.json'}")
    for video, at in evaluation.broken.items():
        print(f"vigil: warning: {video} breaks at {at:.2f}s; its later questions saw it up to there", file=sys.stderr)
    return 3 if evaluation.broken else 0


def cmd_watch(args) -> int:
    import json

    from memory.stores import is_store_url
    from stream.config import AlertConfig
    from stream.engine import Engine
    from stream.service.watch import Watcher, WatchSpec

    _preflight(args.memory)                             # fails fast, before the models load
    if args.rule:
        _answers_needed(args, "watch rules")
    alerts = AlertConfig(scene_changes=not args.no_scene_alerts, activity=not args.no_activity_alerts,
                         cooldown=args.cooldown)
    spec = WatchSpec(name=args.stream, source=args.source, memory=args.memory, rules=args.rule, alerts=alerts,
                     webhook=args.webhook, realtime=args.realtime)
    engine = Engine(_engine_config(args))
    print_lock = threading.Lock()

    def show(alert):
        with print_lock:
            print(json.dumps(alert.to_json()), flush=True)

    watcher = Watcher(engine, spec, on_alert=show)
    if engine.noise and spec.rules:
        print("vigil: warning: RANDOM WEIGHTS (a tiny test model): watch rules are checked by noise", file=sys.stderr)
    signal.signal(signal.SIGINT, lambda *_: watcher.stop(timeout=0))   # Ctrl-C: stop reading, keep what is stored
    watcher.start()
    try:
        while watcher.running:
            watcher.join(0.5)
    finally:
        watcher.close()
    st = watcher.stats()
    if st.error:
        print(f"vigil: error: {st.error}", file=sys.stderr)
        return 2
    v = watcher.verifier.stats()
    if v["failed"]:
        print(f"vigil: warning: {v['failed']} rule checks or alert descriptions failed; the last: {v['last_error']}",
              file=sys.stderr)
    print(f"vigil: watched {args.source}: {st.steps} steps, {st.clips} clips stored, {st.alerts} alerts "
          f"(log: {'the shared store' if is_store_url(args.memory) else Path(args.memory) / 'alerts.jsonl'})",
          file=sys.stderr)
    return 0


def _auth(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth must be user:password")
    return user, password


def _status_log():
    """A status listener printing one line of the serve log per change of a camera's state or error (`vigil: camera
    door: error (could not ...)`); other changes (activity starting and ending) are not the log's."""
    import threading
    last: dict[str, str] = {}
    lock = threading.Lock()

    def log(camera: str, status: dict) -> None:
        why = f" ({status['last_error']})" if status.get("last_error") else ""
        line = f"vigil: camera {camera}: {status['state']}{why}"
        with lock:
            if last.get(camera) == line:
                return
            last[camera] = line
        print(line, flush=True)
    return log


def _serve(args, config, cameras=(), sinks=None) -> int:
    """The page and the API on one server, with `cameras` (stream.service.config.CameraConfig) started first and the
    shared sinks they send to (`sinks`: {name: its config}, stream.service.sinks)."""
    from app.handlers import Handlers
    from app.server import Server
    from app.service import Service
    from models.loader import ModelLoadError
    from stream.config import AlertConfig, EvidenceConfig
    from stream.engine import Engine

    engine, error = None, None
    try:
        engine = Engine(_engine_config(args))
    except ModelLoadError as e:        # the page still opens, and says what went wrong and how to fix it
        error = str(e)
        print(f"vigil: error: {e}", file=sys.stderr)
    from stream.service.sinks import open_shared
    shared = open_shared(sinks or {})
    service = Service(engine, config, engine_error=error)
    server = Server(service, Handlers(service, error))      # before the cameras: a taken port fails first
    if service.registry is not None:                    # every change of a camera's state is a line of the log
        service.registry.on_status(_status_log())
    if shared and service.registry is not None:        # each sink gets the status of its own cameras only
        sends_to = {c.name: [shared[n] for n in c.sinks] for c in cameras}
        service.registry.on_status(lambda cam, st: [sink.status(cam, st) for sink in sends_to.get(cam, [])])
    if engine is not None:
        for cam in cameras:
            service.add(cam.name, cam.source, cam.rules,
                        AlertConfig(scene_changes=cam.scene_alerts, activity=cam.activity_alerts,
                                    describe=cam.describe, evidence=EvidenceConfig(enabled=cam.alert_video)),
                        webhook=cam.webhook, fail_fast=False, checked=True, max_clips=cam.max_clips, loop=cam.loop,
                        sinks=[shared[n] for n in cam.sinks], fps=cam.fps, video_llm=cam.video_llm,
                        max_images=cam.max_images, max_bytes=cam.max_bytes, schedule=cam.schedule,
                        daily_recap=cam.daily_recap)
            print(f"vigil: camera {cam.name}: {cam.source}", flush=True)
    print(f"vigil: serving on http://{config.host}:{config.port} (API docs at /docs; Ctrl-C to stop)", flush=True)
    try:
        server.run()
    finally:
        import time
        stopped = {"state": "stopped", "since": time.time(), "last_error": None, "reconnects": 0}
        for cam in cameras:            # the retained status must not say "playing" after the process has gone
            for n in cam.sinks:
                shared[n].status(cam.name, stopped)
        for sink in shared.values():
            sink.close(timeout=2.0)
    return 0


def cmd_ui(args) -> int:
    from app.config import UIConfig
    defaults = UIConfig()
    config = UIConfig(host=args.host, port=args.port, auth=_auth(args.auth), memory_root=args.memory,
                      media_roots=defaults.media_roots + list(args.media))
    return _serve(args, config)


def cmd_serve(args) -> int:
    """Cameras from a TOML file, watched from start-up whether or not a page is open."""
    from dataclasses import replace

    from app.config import UIConfig
    from memory.config import StoreConfig
    from stream.service.config import load
    from stream.sources import kind_of

    cfg = load(args.config)
    s, d = cfg.server, UIConfig()
    config = UIConfig(host=args.host or s.host or d.host, port=args.port or s.port or d.port,
                      auth=_auth(args.auth or s.auth),
                      memory_root=args.memory or cfg.store.url or s.memory or d.memory_root,
                      media_roots=d.media_roots + list(s.media) + list(args.media), public_url=s.public_url)
    if cfg.model.name:
        args.model = cfg.model.name
        if args.embedder in (None, "tiny") or cfg.model.name in TINY_LLMS:
            from models.config import ModelConfig
            args.embedder = "tiny" if cfg.model.name in TINY_LLMS else ModelConfig.embedder
    if cfg.model.device:
        args.device = cfg.model.device
    args.light = args.light or cfg.model.light
    if args.index == StoreConfig.index and args.index_url is None:      # the [store] table, unless the flags said
        args.index, args.index_url = cfg.store.index, cfg.store.index_url
    args.lease_seconds = cfg.store.lease_seconds
    if cfg.answer is not None:        # the [answer] server; --answer-with/--answer-model/--answer-frames win
        from models.config import ServerConfig
        given = {"url": args.answer_with, "model": args.answer_model,
                 "max_frames": args.answer_frames}
        args.server = ServerConfig(**(cfg.answer | {k: v for k, v in given.items() if v is not None}))
    from memory.stores import is_store_url
    if is_store_url(config.memory_root):
        _preflight(config.memory_root)                 # the store's server out of reach: one line, before models load
    base = Path(args.config).resolve().parent
    cameras = [c if kind_of(c.source) != "file" or Path(c.source).is_absolute()
               else replace(c, source=str(base / c.source)) for c in cfg.cameras]   # files relative to the config
    return _serve(args, config, cameras, cfg.used_sinks())


def cmd_soak(args) -> int:
    from bench.config import SoakConfig
    from bench.soak import soak
    return soak(SoakConfig(minutes=args.minutes, ask_every=args.ask_every, outages=args.outages,
                           outage_seconds=args.outage_seconds, fault_seconds=args.fault_seconds))


def cmd_bench(args) -> int:
    import json
    from dataclasses import replace

    from bench.config import ITEMS, BenchConfig
    from bench.suite import markdown, run

    config = BenchConfig(device=args.device)
    if args.only:
        config = replace(config, items=tuple(args.only))
    if args.quick:            # a smoke run of the suite itself: small sizes, a few seconds each
        config = replace(config, selection_sizes=(1000, 10_000), stream_minutes=(1, 3), rtf_seconds=6.0, questions=10,
                         towers=("tiny",), activity_grid={"start_margin": (0.01,), "spread_k": (1.5,),
                                                          "min_duration": (0.3,), "hold": (0.5,)},
                         cut_thresholds=(27.0,), mog2_shares=(0.01,), sharing_seconds=6.0,
                         vision_side=224, vision_rounds=1, vision_clips=1, vision_timed_steps=1,
                         eval_minutes=1.0, eval_questions=4, eval_prefix_measured=2, light_seconds=6.0,
                         light_full_pixels=224 * 224, serving_concurrency=(1, 2), serving_seconds=3.0,
                         evidence_loops=1, recap_clip_seconds=600.0, recap_rounds=3, shared_clips=4, shared_rounds=1,
                         shared_widths=(64,), shared_ingest_seconds=6.0, cameras_counts={"light": (2,)}, cameras_seconds=8.0,
                         cameras_warmup=2.0)
    config = replace(config, rtf_size=args.rtf_size, rtf_max_pixels=args.rtf_pixels or config.rtf_max_pixels)
    from pathlib import Path
    if not (Path(config.videos) / "annotations.json").exists():
        raise ValueError(f"the real clips are not at {config.videos} (the shared/videos folder beside the checkout)")
    results = run(config, log=lambda m: print(m, file=sys.stderr, flush=True))
    table = markdown(results)
    print(table)
    out_json = Path(config.out_json)
    if args.quick or set(config.items) != set(ITEMS):     # partial runs never overwrite the full run's figures
        out_json = out_json.with_name("results-partial.json")
    out_json.write_text(json.dumps(results, indent=1))
    if not args.quick and set(config.items) == set(ITEMS):
        Path(config.out_md).write_text("# Benchmark results\n\nWritten by `python -m bench`; the latest full run.\n\n"
                                       + table + "\n")
    return 0


def _time(text: str) -> float:
    from stream.clock import parse_clock
    try:
        return parse_clock(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _number(kind, low: float, inclusive: bool = False, high: float | None = None):
    """An argparse type: a finite number of `kind` above `low` (at least, with `inclusive`), and at most `high`."""
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if v < low or (v == low and not inclusive) or (high is not None and v > high):
            bound = (f"at least {low:g}" if inclusive else f"more than {low:g}") + \
                (f" and at most {high:g}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return v
    return parse


_positive_float, _positive_int = _number(float, 0), _number(int, 0)


class _Default(str):
    """A flag's default, told apart from the same value given by hand (`ask` then reads the memory's own model)."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (the usage is one `--help` away)."""

    def error(self, message):
        self.exit(2, f"vigil: error: {message} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    from app.config import McpConfig, UIConfig
    from bench.config import ITEMS as BENCH_ITEMS
    from compression.config import DropConfig
    from memory.config import SelectConfig, StoreConfig
    from models.config import ModelConfig, ServerConfig
    from stream.config import ANSWER_POLICIES, AlertConfig, AnswerConfig, IngestConfig, RecapConfig, SamplingConfig

    p = _Parser(prog="vigil", description="Watch video, remember it compactly, answer questions about it.")
    sub = p.add_subparsers(dest="command", required=True)
    base = _Parser(add_help=False)
    base.add_argument("-v", "--verbose", action="store_true",
                      help="more output: every step and event (ingest), and what native libraries print (FFmpeg)")
    index = _Parser(add_help=False)            # every command that opens a memory
    from memory.index import BACKENDS as INDEXES
    index.add_argument("--index", choices=sorted(INDEXES), default=StoreConfig.index,
                       help="where the memory's clip keys are searched: faiss (in this process, a cache file in the "
                            "memory folder) or pgvector (a PostgreSQL server, --index-url; every process that opens "
                            "the memory searches the same index)")
    index.add_argument("--index-url", default=StoreConfig.index_url, metavar="URL",
                       help="with --index pgvector: the server, e.g. postgresql://vigil@db.lan/vigil (the password "
                            "from $PGPASSWORD or ~/.pgpass, as psql takes it)")
    models = _Parser(add_help=False, parents=[base, index])
    models.add_argument("--model", default=_Default(ModelConfig.llm),
                        help="video LLM: hub id or local folder of a supported family (" + ", ".join(sorted(BACKENDS))
                        + "); auto: " + " on a CPU or small GPU, ".join(DEFAULT_LLMS.values()) + f" on a GPU with "
                        f"{LARGE_GPU_GIB} GB or more; or a random-weight model for smoke runs: " + ", ".join(TINY_LLMS))
    models.add_argument("--embedder", default=None, help="SigLIP hub id or folder ('tiny' with a tiny --model)")
    models.add_argument("--device", default=ModelConfig.device, help="auto, cpu, cuda, cuda:1, mps")
    models.add_argument("--vision-speedup", choices=("none", "bf16", "int8"), default=ModelConfig.vision_speedup,
                        help="on a CPU: int8 (or bf16) linear layers in the vision tower, several times faster; "
                             "tokens within a cosine of 0.996 of float32 (measured with random weights)")
    models.add_argument("--fps", type=_number(float, 0, high=SamplingConfig.max_fps), default=SamplingConfig.fps,
                        help="frames sampled per second")
    models.add_argument("--clip-seconds", type=_positive_float, default=IngestConfig.clip_seconds,
                        help="seconds per clip memory")
    models.add_argument("--budget", type=_positive_int, default=SelectConfig.token_budget,
                        help="visual tokens per question")
    models.add_argument("--tau", type=_number(float, -1.0, inclusive=True, high=1.0), default=DropConfig.tau,
                        help="fixed drop threshold (cosine similarity); default: calibrated per stream and model")
    models.add_argument("--answer-policy", choices=list(ANSWER_POLICIES), default=AnswerConfig.policy,
                        help="what a question is shown: " + "; ".join(f"{k}: {v}" for k, v in ANSWER_POLICIES.items()))
    models.add_argument("--answer-with", default=ServerConfig.url, metavar="URL",
                        help="answer (and caption, and check rules) with an OpenAI-compatible server, e.g. "
                             "http://127.0.0.1:8000/v1 (vLLM), http://127.0.0.1:11434/v1 (Ollama); the API key, if "
                             f"any, from ${ServerConfig.api_key_env}")
    models.add_argument("--answer-model", default=None, metavar="NAME", help="the model name the answer server serves")
    models.add_argument("--answer-frames", type=_positive_int, default=None,
                        help=f"images sent to the answer server per question (default {ServerConfig.max_frames}, or "
                             "the service config's)")
    models.add_argument("--light", action="store_true", default=ModelConfig.light,
                        help="no local video LLM: the drop runs on the embedder's patch features; answers need "
                             "--answer-with")
    common = _Parser(add_help=False, parents=[models])
    _location_args(common, memory_help="memory folder (created if missing)")
    common.add_argument("--stream", default=DEFAULT_STREAM, help="stream name inside the memory folder")
    common.add_argument("--max-clips", type=_positive_int, default=StoreConfig.max_clips,
                        help="keep at most this many clips per stream")
    i = sub.add_parser("ingest", parents=[common], help="watch a video file, URL or webcam into memory")
    i.add_argument("source", help="video file, rtsp:// or http:// URL, or webcam index")
    a = sub.add_parser("ask", parents=[models], help="ask a question about what is in memory (reads, never writes)")
    _location_args(a, many=True, memory_help="memory folder (or a memory root with --stream); repeat it to ask "
                                              "several cameras at once (a shared store: all its cameras, or --stream)")
    a.add_argument("--stream", default=DEFAULT_STREAM, help="stream name inside the memory folder")
    a.add_argument("question")
    a.add_argument("--at", type=_time, default=None, help="answer as of this stream time (seconds or HH:MM:SS)")
    w = sub.add_parser("watch", parents=[common], help="watch a stream or file and print each alert as a JSON line")
    w.add_argument("source", help="video file, rtsp:// or http:// URL, or webcam index")
    w.add_argument("--rule", action="append", default=[], help='a watch rule in words, e.g. "a person enters the room" '
                                                                "(repeatable); checked by the video LLM on clips with activity")
    w.add_argument("--webhook", default=None, help="POST each alert as JSON to this URL (retried with backoff)")
    w.add_argument("--no-scene-alerts", action="store_true", help="no automatic alerts on scene changes")
    w.add_argument("--no-activity-alerts", action="store_true", help="no automatic alerts on activity starts")
    w.add_argument("--cooldown", type=_number(float, 0, inclusive=True), default=AlertConfig.cooldown,
                   help="stream seconds between automatic alerts of one kind (each new activity span alerts)")
    w.add_argument("--realtime", action="store_true", help="play a file at its own speed, as if it were live")
    c = sub.add_parser("check", parents=[base, index], help="check a memory folder for inconsistencies (--repair fixes what "
                                                     "it can without losing data)")
    _location_args(c)
    c.add_argument("--repair", action="store_true", help="mark clips whose token file is lost as missing, remove "
                                                         "leftovers of interrupted writes, rebuild the index")
    st = sub.add_parser("store", parents=[base], help="move memories between folders and a shared store")
    moves = st.add_subparsers(dest="store_command", required=True)
    cp = moves.add_parser("copy", parents=[base, index], help="copy every camera of a memory folder or root into a "
                          "shared store (or back into a memory root); resumable, verified clip for clip")
    cp.add_argument("--from", dest="source", required=True, metavar="DIR|URL",
                    help="a memory folder, a memory root (every camera in it), or a shared store postgresql://...")
    cp.add_argument("--to", dest="target", required=True, metavar="URL|DIR",
                    help="a shared store postgresql://..., or a memory root (a memory folder per camera)")
    u = sub.add_parser("ui", parents=[models], help="the live page: watch sources, ask, get alerts")
    u.add_argument("--host", default=UIConfig.host, help="address to serve on (not loopback: --auth is required)")
    u.add_argument("--port", type=_number(int, 1, inclusive=True, high=65535), default=UIConfig.port)
    u.add_argument("--auth", default=None, help="user:password for the page")
    _location_args(u, required=False, memory_default=UIConfig.memory_root,
                   memory_help="folder holding each stream's memory folder")
    u.add_argument("--media", action="append", default=[], help="a server folder whose videos the page may open "
                                                                 "(repeatable; assets/ always)")
    v = sub.add_parser("serve", parents=[models], help="run the cameras of a config file as a service: page, REST API, "
                                                       "alerts to MQTT and webhooks")
    v.add_argument("--config", required=True, help="TOML file: [server], [model], [mqtt], [[camera]] (see "
                                                   "vigil.example.toml)")
    # The page's options; given here they win over the config file, which wins over UIConfig's defaults.
    v.add_argument("--host", default=None, help=f"address to serve on (default: the config's, else {UIConfig.host})")
    v.add_argument("--port", type=_number(int, 1, inclusive=True, high=65535), default=None,
                   help=f"default: the config's, else {UIConfig.port}")
    v.add_argument("--auth", default=None, help="user:password for the page and the API")
    _location_args(v, required=False, memory_help=f"memory root (default: the config's [store] url or [server] memory, "
                                                  f"else {UIConfig.memory_root})")
    v.add_argument("--media", action="append", default=[], help="a server folder whose videos may be opened")
    r = sub.add_parser("recap", parents=[models], help="what happened in a span (today, since 8 am, ...) per camera: "
                                                       "activity, alerts, captions, a few sentences an hour")
    r.add_argument("when", nargs="?", default=RecapConfig.default_span,
                   help='the span: "today", "since 8 am", "in the last 3 hours", "yesterday"; "" for all stored')
    _location_args(r, many=True, memory_help="a camera's memory folder, or a memory root (every camera in it); "
                                             "repeatable")
    out = r.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the recap as JSON (the shape of GET /api/v1/recap)")
    out.add_argument("--html", metavar="FILE", default=None, help="write the recap as one HTML page")
    r.add_argument("--no-summaries", action="store_true", default=not RecapConfig.summaries,
                   help="the facts alone (activity, alerts, captions): no sentences, no video LLM loaded")
    m = sub.add_parser("mcp", parents=[base], help="Vigil's tools for agents (ask, search clips, alerts, recap, live "
                                                   "frame, watch rules) as an MCP server, calling a running Vigil's API")
    m.add_argument("--url", default=McpConfig.url, help="the Vigil server (serve or ui)")
    m.add_argument("--auth", default=None, help="user:password of that server's page and API")
    m.add_argument("--transport", choices=("stdio", "http"), default=McpConfig.transport)
    m.add_argument("--host", default=McpConfig.host, help="address of the http transport")
    m.add_argument("--port", type=_number(int, 1, inclusive=True, high=65535), default=McpConfig.port)
    b = sub.add_parser("bench", parents=[base], help="run the benchmark suite: prints a markdown table, writes "
                                                     "bench/results.json and bench/RESULTS.md")
    b.add_argument("--only", action="append", choices=list(BENCH_ITEMS), help="run only this item (repeatable)")
    b.add_argument("--quick", action="store_true", help="small sizes: checks the suite runs (RESULTS.md untouched)")
    b.add_argument("--rtf-size", default="3b", choices=["3b", "7b"], help="vision tower shape for the real-time factor")
    b.add_argument("--rtf-pixels", type=_positive_int, default=None, help="pixels per frame for the real-time factor "
                                                                          "(default 224*224 on a CPU; 448*448 is real)")
    b.add_argument("--device", default=ModelConfig.device, help="auto, cpu, cuda")
    from bench.config import SoakConfig
    k = sub.add_parser("soak", parents=[base], help="the service soak (python -m bench.soak): 4 cameras, outages, questions over the "
                                    "API and MQTT for as long as told; prints a table")
    k.add_argument("--minutes", type=_positive_float, default=SoakConfig.minutes)
    k.add_argument("--ask-every", type=_positive_float, default=SoakConfig.ask_every,
                   help="seconds between questions over the API")
    k.add_argument("--outages", type=_number(int, 0, inclusive=True), default=SoakConfig.outages,
                   help="times the killed camera's server goes down")
    k.add_argument("--outage-seconds", type=_positive_float, default=SoakConfig.outage_seconds)
    k.add_argument("--fault-seconds", type=_positive_float, default=SoakConfig.fault_seconds,
                   help="seconds the memory's disk stays full midway (where a tmpfs can be mounted)")
    z = sub.add_parser("analyze", parents=[models], help="analyse a video file into report.json and report.html "
                                                           "(resumable: run it again after an interruption)")
    z.add_argument("video", help="video file")
    z.add_argument("--out", default=None, help="output folder (default: VIDEO.vigil); holds the memory and the report")
    z.add_argument("--store", default=None, metavar="URL", help="put the clips in a shared store, postgresql://..., "
                                                               "as a stream of their own (the report stays in --out)")
    z.add_argument("--stream", default=None, help="with --store: the stream's name (default: the video's name)")
    z.add_argument("--questions", default=None, help="file of questions: one a line, or JSON lines "
                                                     '{"question": ..., "at": "00:05:00"}')
    z.add_argument("--captions", action="store_true", help="a one-line caption per clip from the video LLM")
    z.add_argument("--summary", action="store_true", help="a timeline summary built from the captions (implies --captions)")
    from evaluation.benchmarks import FORMATS
    from evaluation.config import EvalConfig
    from evaluation.protocol import PROTOCOLS
    e = sub.add_parser("eval", parents=[models], help="score a streaming benchmark (StreamingBench, OVO-Bench): each "
                                                      "video ingested once, each question asked at its time "
                                                      "(resumable: run it again after an interruption)")
    e.add_argument("--format", choices=FORMATS, default=EvalConfig.format, help="the annotation file's format")
    e.add_argument("--annotations", help="questions_real_stream.json (StreamingBench) or ovo_bench_new.json "
                                         "(OVO-Bench); with --rescore, the file the run used if it has moved")
    e.add_argument("--videos", help="folder the annotation file's video paths are relative to")
    e.add_argument("--out", help="output folder: results.json and the memory (one stream per video)")
    e.add_argument("--rescore", metavar="OUT", default=None,
                   help="score an earlier run's results.json again from its stored responses (official rule and "
                        "parsed letter); loads no model and asks nothing")
    e.add_argument("--limit", type=_positive_int, default=EvalConfig.limit, help="only the first N questions")
    e.add_argument("--protocol", choices=PROTOCOLS, default=EvalConfig.protocol,
                   help="what a question is shown: " + "; ".join(f"{k}: {v}" for k, v in PROTOCOLS.items()))
    e.add_argument("--answer-tokens", type=_positive_int, default=EvalConfig.answer_tokens,
                   help="longest answer in tokens (the benchmarks' own Qwen wrappers allow 128)")
    return p


def _native_stderr_off() -> None:
    """Native libraries (FFmpeg inside OpenCV and decord, OpenCV's own log, FAISS) write straight to file descriptor
    2. Python's stderr moves to a copy of it and descriptor 2 goes to /dev/null, so a user sees Vigil's own lines
    (errors, warnings, tracebacks, progress) and none of theirs; -v keeps both."""
    sys.stderr.flush()
    python_err = os.dup(2)
    sys.stderr = os.fdopen(python_err, "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    faulthandler.enable(sys.stderr)      # a crash in native code still says where, on the user's stderr


def _os_message(e: OSError) -> str:
    where = f": {e.filename}" if e.filename else ""
    return f"{e.strerror or e}{where}"


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    if not args.verbose:
        _native_stderr_off()
    if getattr(args, "embedder", "") is None:
        from models.config import ModelConfig
        args.embedder = _Default("tiny" if args.model in TINY_LLMS else ModelConfig.embedder)
    from memory.store import StoreError
    from models.loader import ModelLoadError
    from models.remote import ServerError
    from stream.analysis import AnalysisError
    from stream.engine import NoAnswerer
    from stream.sources import SourceError
    try:
        return {"ingest": cmd_ingest, "ask": cmd_ask, "analyze": cmd_analyze, "watch": cmd_watch, "check": cmd_check,
                "ui": cmd_ui, "serve": cmd_serve, "bench": cmd_bench, "soak": cmd_soak, "eval": cmd_eval,
                "mcp": cmd_mcp, "recap": cmd_recap, "store": cmd_store}[args.command](args)
    except (SourceError, StoreError, ModelLoadError, AnalysisError, ServerError, NoAnswerer, ValueError) as e:
        print(f"vigil: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:       # the reader of our output went away (`| head`): nothing to say, nothing lost
        sys.stdout = None
        return 141
    except OSError as e:          # a full disk or a vanished folder outside the store's own writes
        print(f"vigil: error: {_os_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        again = "; run the same command again to continue" if args.command in ("analyze", "store") else ""
        print(f"vigil: interrupted; what was stored is kept{again}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
