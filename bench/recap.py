"""Item 16: a recap of 24 hours of several cameras against one. Each camera's memory holds a day of clips on a live
camera's wall clock, a visit every so often (its activity events stored with the clip it falls in, an activity alert
in the camera's alerts.jsonl, a caption on each clip it touched, up to the hour's cap), as a camera's ingest, alerter
and captioner leave them. The recap is stream.service.recap's, called as the API calls it (engine and the cameras'
sessions), summaries off: the facts alone, no video LLM. Measured side by side, interleaved rounds, medians."""
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from memory.clip import ClipMemory
from memory.config import StoreConfig
from memory.store import ClipStore, StoreIdentity, StreamLog
from stream.detectors.activity import END as ACTIVITY_END, START as ACTIVITY_START
from stream.engine import Engine
from stream.events import Event
from stream.service.daily import SPAN

HOUR = 3600.0
# A clip's stored tokens, their width and its key's width: the recap reads rows only, never tokens or keys, so the
# smallest a store takes keeps a day's build fast without changing what is timed.
TOKENS, TOKEN_DIM, KEY_DIM = 2, 8, 8


def _day(folder: Path, camera: str, hours: float, clip_s: float, visit_every: float, visit_s: float,
         captions_per_hour: int, wall_end: float) -> ClipStore:
    """A camera's memory of `hours` ending at `wall_end` (Unix seconds); stream second 0 is its first clip."""
    store = ClipStore(folder / camera, StoreIdentity(embedder="bench", key_dim=KEY_DIM, llm="bench",
                                                     token_dim=TOKEN_DIM), StoreConfig())
    base = wall_end - hours * HOUR
    key = np.full(KEY_DIM, 1 / np.sqrt(KEY_DIM), np.float32)
    visits = [v for v in np.arange(visit_every / 2, hours * HOUR, visit_every)]
    captioned: dict[int, int] = {}                       # hour -> captions written in it
    alerts = []
    for i in range(int(hours * HOUR / clip_s)):
        start, end = i * clip_s, (i + 1) * clip_s
        inside = [v for v in visits if start <= v < end]
        events = [e for v in inside for e in (Event(ACTIVITY_START, float(v), {}),
                                              Event(ACTIVITY_END, float(v + visit_s), {}))]
        c = ClipMemory(stream=camera, start=start, end=end, tokens=torch.zeros(TOKENS, TOKEN_DIM).half(),
                       positions=torch.zeros(TOKENS, 3, dtype=torch.int16), grid=(1, 1, TOKENS),
                       seconds_per_step=clip_s, thumbnail=b"\xff\xd8", key=key, kept=TOKENS, total=TOKENS,
                       wall_start=base + start, wall_end=base + end)
        cid = store.add(c, StreamLog(events=events))
        hour = int(start // HOUR)
        touched = any(v < end and v + visit_s > start for v in visits)
        if touched and captioned.get(hour, 0) < captions_per_hour:
            store.set_caption(cid, f"a person crosses the view of {camera}")
            captioned[hour] = captioned.get(hour, 0) + 1
        alerts += [{"id": f"{camera}-{v:.0f}", "camera": camera, "kind": ACTIVITY_START, "time": float(v),
                    "wall_time": base + float(v), "message": "Activity started"} for v in inside]
    (folder / camera / "alerts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in alerts))
    return store


def recap_cost(folder: Path, engine: Engine, cameras: tuple[int, ...], hours: float, clip_s: float,
               visit_every: float, visit_s: float, rounds: int, phrase: str = SPAN) -> dict:
    """Seconds of a recap of `phrase` (the daily recap's "in the last 24 hours") of each camera count, interleaved
    over `rounds`, summaries off; and what the recaps hold, to show they read the whole day."""
    from stream.service.recap import recap
    light = Engine(replace(engine.config, recap=replace(engine.config.recap, summaries=False)), llm=engine.llm,
                   embedder=engine.embedder, answerer=engine.answerer)
    wall_end = time.time()
    t0 = time.perf_counter()
    sessions = []
    for k in range(max(cameras)):
        store = _day(folder, f"cam{k}", hours, clip_s, visit_every, visit_s,
                     light.config.recap.captions_per_hour, wall_end)
        session = light.open(str(folder / f"cam{k}"), stream=f"cam{k}", store=store)
        sessions.append(session)
    build_s = time.perf_counter() - t0
    times: dict[int, list[float]] = {m: [] for m in cameras}
    last = {}
    for i in range(rounds):
        for m in (cameras if i % 2 == 0 else cameras[::-1]):      # the order alternates: neither goes first always
            t0 = time.perf_counter()
            last[m] = recap(light, sessions[:m], phrase)
            times[m].append(time.perf_counter() - t0)
    for s in sessions:
        s.store.close()
    base = statistics.median(times[cameras[0]])
    rows = []
    for m in cameras:
        r = last[m]
        rows.append({"cameras": m, "named": sorted(c.camera for c in r.cameras),
                     "clips": sum(c.clips for c in r.cameras), "captions": sum(c.captioned for c in r.cameras),
                     "alerts": sum(c.alerts for c in r.cameras),
                     "activity_spans": sum(len(c.activity) for c in r.cameras),
                     "hours": min(len(c.hours) for c in r.cameras),
                     "hours_cover_s": min(c.hours[-1].end - c.hours[0].start for c in r.cameras if c.hours),
                     "summaries": sum(h.summary is not None for c in r.cameras for h in c.hours),
                     "s": round(statistics.median(times[m]), 4),
                     "spread_s": [round(min(times[m]), 4), round(max(times[m]), 4)],
                     "ratio": round(statistics.median(times[m]) / base, 2)})
    return {"phrase": phrase, "hours": hours, "clip_s": clip_s, "visit_every_s": visit_every, "visit_s": visit_s,
            "captions_per_hour": light.config.recap.captions_per_hour, "rounds": rounds,
            "build_s": round(build_s, 1), "rows": rows}
