"""Items 4 and 5: a real clip looped into a long stream on a simulated clock (frame times run on; nothing waits).
At each mark: the prompt tokens and seconds to first token of Vigil's budgeted selection and of the baseline that
feeds all kept tokens up to a cap, newest first (TimeChat-Online's demo); the process's RSS; the memory folder's
bytes."""
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

from stream.engine import Engine, prompt_clip
from stream.sources import FileSource, Frame

QUESTION = "When did someone come in?"
REPEATS = 5             # first-token times are medians of this many runs (one run is at the mercy of the OS)


def rss_mb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _looped(frames: list[Frame], period: float, until: float):
    k = 0
    while True:
        for f in frames:
            t = k * period + f.time
            if t >= until:
                return
            yield Frame(f.image, t)
        k += 1


def _first_token(pieces, t0: float) -> float:
    """Seconds from t0 to the first piece of an answer; the generation is then stopped."""
    for _ in pieces:
        break
    elapsed = time.perf_counter() - t0
    pieces.close()
    return elapsed


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def long_stream(engine: Engine, path: str, minutes: tuple[int, ...], cap: int) -> list[dict]:
    src = FileSource(path, engine.config.ingest.sampling.fps)
    frames = list(src.frames())
    period = frames[-1].time + 1.0 / engine.config.ingest.sampling.fps
    marks = sorted(m * 60.0 for m in minutes)
    rows = []
    _first_token(engine.llm.answer("warm up", []), time.perf_counter())   # the first generate call pays set-up
    with tempfile.TemporaryDirectory() as tmp:
        session = engine.open(tmp, "loop")
        for step in session.run(_looped(frames, period, marks[-1] + 1e-3)):
            if not marks or step.end < marks[0]:
                continue
            mark = marks.pop(0)
            times = []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                answer = session.ask(QUESTION)                 # selection included in the time to first token
                times.append(_first_token(answer.pieces, t0))
            vigil_ttft = statistics.median(times)
            # The baseline: every kept token, newest first, up to the cap; stored clips stand in for them.
            want, clips, have = min(cap, session.state.tokens_kept), [], 0
            for c in session.store.load(session.store.latest("loop", session.store.count("loop"))).clips:
                take = min(c.n_tokens, want - have)
                if take <= 0:
                    break
                c.tokens, c.positions = c.tokens[-take:], c.positions[-take:]
                clips.insert(0, prompt_clip(c))
                have += take
            llm = engine.llm
            times = []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                times.append(_first_token(llm.answer(QUESTION, clips), t0))
            base_ttft = statistics.median(times)
            rows.append({"minutes": round(mark / 60), "vigil_prompt_tokens": answer.prompt_tokens,
                         "vigil_clips": len(answer.clips), "vigil_ttft_s": round(vigil_ttft, 4),
                         "baseline_prompt_tokens": llm.prompt_size(QUESTION, clips), "baseline_ttft_s": round(base_ttft, 4),
                         "kept_tokens_so_far": session.state.tokens_kept, "rss_mb": round(rss_mb(), 1),
                         "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                         "memory_bytes": _folder_bytes(Path(tmp)), "clips": session.store.count("loop")})
            if not marks:
                break
        session.close()
    return rows


def question_cost(engine: Engine, path: str, minutes: tuple[int, ...], rounds: int) -> list[dict]:
    """Question cost under the engine's answer policy (hybrid by default: the live window whole plus memory) at each
    stream length, measured interleaved: one memory per length is built first and kept open (its live window in RAM),
    then each round asks every length once, in an order that rotates, so one busy moment of the machine lands on one
    measure of one length, never on a whole length. Seconds to first token are medians over the rounds."""
    src = FileSource(path, engine.config.ingest.sampling.fps)
    frames = list(src.frames())
    period = frames[-1].time + 1.0 / engine.config.ingest.sampling.fps
    _first_token(engine.llm.answer("warm up", []), time.perf_counter())
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for m in minutes:
            sessions[m] = engine.open(str(Path(tmp) / f"m{m}"), "loop")
            for _ in sessions[m].run(_looped(frames, period, m * 60.0)):
                pass
        times = {m: [] for m in minutes}
        tokens, window = {}, {}
        for r in range(rounds):
            order = list(minutes[r % len(minutes):]) + list(minutes[:r % len(minutes)])
            for m in order:
                t0 = time.perf_counter()
                answer = sessions[m].ask(QUESTION)
                times[m].append(_first_token(answer.pieces, t0))
                tokens[m], window[m] = answer.prompt_tokens, answer.window.tokens if answer.window else 0
        rows = [{"minutes": m, "policy": engine.config.answer.policy, "prompt_tokens": tokens[m],
                 "window_tokens": window[m], "ttft_s": round(statistics.median(times[m]), 4),
                 "ttft_spread_s": [round(min(times[m]), 4), round(max(times[m]), 4)], "rounds": rounds}
                for m in minutes]
        for s in sessions.values():
            s.close()
    return rows
