"""Recaps: background captions of the clips activity touched (bounded per hour, off the ingest thread), and the recap
of a span built from them, the activity and the alerts, on a file's clock and on a live camera's wall clock."""
import json
from datetime import datetime

import numpy as np
import torch

from memory.clip import ClipMemory
from stream.config import AlertConfig, EvidenceConfig, RecapConfig
from stream.engine import Engine, EngineConfig
from stream.service.recap import recap


def test_a_watched_file_is_captioned_where_activity_was_and_recapped(llm, embedder, model_config, videos, tmp_path):
    from stream.service.watch import Watcher, WatchSpec
    engine = Engine(EngineConfig(model=model_config, recap=RecapConfig(captions_per_hour=5)), llm=llm,
                    embedder=embedder)
    spec = WatchSpec(name="room", source=str(videos / "one-by-one-person-detection.mp4"), memory=str(tmp_path / "m"),
                     realtime=False, alerts=AlertConfig(scene_changes=False, describe=False,
                                                        evidence=EvidenceConfig(enabled=False)))
    w = Watcher(engine, spec).start()
    w.join(300)
    assert w.verifier.stats()["captioned"] == 5               # the hour's cap, though more clips had activity
    r = recap(engine, [w.session], "")                        # a file: its whole memory, on its own clock
    (cam,) = r.cameras
    assert cam.camera == "room" and not cam.wall and cam.captioned == 5 and cam.clips > 10
    visits = json.loads((videos / "annotations.json").read_text())["one-by-one-person-detection.mp4"]["events"]
    assert len(cam.activity) >= 5 and all(any(s - 3 <= a["start"] <= e for s, e in visits) for a in cam.activity)
    (hour,) = cam.hours                                       # 139 s: one hour
    assert hour.label == "00:00:00-01:00:00" and len(hour.captions) == 5 and len(hour.alerts) == cam.alerts >= 5
    spans = sum(a["end"] - a["start"] for a in cam.activity)
    assert abs(hour.activity_seconds - spans) < 0.2 and hour.activity_spans == len(cam.activity)
    # Captioned clips are ones activity touched.
    assert all(any(a["start"] - 16 <= c["time"] <= a["end"] for a in cam.activity) for c in hour.captions)
    assert hour.summary and r.warning and "RANDOM WEIGHTS" in r.warning
    json.dumps(r.to_json())
    w.close()


def _clip(llm, embedder, start: float, wall: float) -> ClipMemory:
    key = np.random.default_rng(int(start)).normal(size=embedder.dim).astype(np.float32)
    return ClipMemory(stream="door", start=start, end=start + 8, tokens=torch.zeros(2, llm.token_dim).half(),
                      positions=torch.zeros(2, 3, dtype=torch.int16), grid=(4, 1, 2), seconds_per_step=2.0,
                      thumbnail=b"\xff\xd8", key=key / np.linalg.norm(key), kept=2, total=8, wall_start=wall,
                      wall_end=wall + 8)


def test_a_live_cameras_recap_is_by_local_hour_and_keeps_to_its_span(llm, embedder, model_config, tmp_path):
    from memory.store import StreamLog
    from stream.events import Event
    engine = Engine(EngineConfig(model=model_config, recap=RecapConfig(summaries=False)), llm=llm, embedder=embedder)
    session = engine.open(str(tmp_path / "door"), stream="door")
    today = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    base = today - 1800.0                          # stream 0 s is 23:30 yesterday: the recap of today starts at 1800 s
    at = [100.0, 1900.0, 5500.0, 5600.0]           # yesterday 23:31, today 00:01, 01:01, 01:03
    for i, t in enumerate(at):
        log = StreamLog(events=[Event("activity_start", t + 1, {}), Event("activity_end", t + 5, {})])
        session.store.add(_clip(llm, embedder, t, base + t), log)
        session.store.set_caption(i + 1, f"caption {i}")
    session.now = 5800.0
    with open(tmp_path / "door" / "alerts.jsonl", "w") as f:
        for i, t in enumerate(at):
            f.write(json.dumps({"id": f"a{i}", "camera": "door", "kind": "activity_start", "time": t + 1,
                                "wall_time": base + t + 1, "message": "Activity started"}) + "\n")
        f.write(json.dumps({"id": "a3", "update": True, "description": "Someone at the door."}) + "\n")
        f.write("{torn\n")
    r = recap(engine, [session], "today")
    (cam,) = r.cameras
    assert cam.wall and cam.clips == 3 and cam.alerts == 3 and [a["start"] for a in cam.activity] == \
        [base + 1901, base + 5501, base + 5601]
    assert [h.label for h in cam.hours] == [_hours(today, 0), _hours(today, 1)]
    first, second = cam.hours
    assert [c["text"] for c in first.captions] == ["caption 1"] and [c["text"] for c in second.captions] == \
        ["caption 2", "caption 3"]
    assert second.alerts[-1]["description"] == "Someone at the door." and second.activity_seconds == 8.0
    assert all(h.summary is None for h in cam.hours)            # summaries off: facts only
    session.close()


def _hours(day: float, h: int) -> str:
    a, b = datetime.fromtimestamp(day + h * 3600), datetime.fromtimestamp(day + (h + 1) * 3600)
    return f"{a:%a %H:%M}-{b:%H:%M}"
