"""A recap of a span ("today", "since 8 am", "in the last 3 hours": the phrases memory.when reads) for one camera or
several: per camera its activity spans and alerts, and per hour the captions written in the background (clips that
activity touched) and a few sentences from the video LLM about that hour.

The facts (activity, alerts, captions, their times) need no model and read only rows, never tokens. The sentences
are the model's: noise with random weights, and labelled so.

    r = recap(engine, [session_a, session_b], "since 8 am")
    r.to_json()
"""
import bisect
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime

from memory.clip import Caption
from memory.when import TimeSpan, wall_only
from stream.clock import clock_label, span_text
from stream.events import Event, activity_spans
from stream.service.alerts import RECAP

HOUR = 3600.0
SUMMARY_PROMPT = ("These are the captions and alerts of one hour of one camera, each after its time. In two or three "
                  "sentences, say what happened in that hour.")


@dataclass
class RecapHour:
    start: float                   # on the recap's clock (Unix seconds, or stream seconds for a file)
    end: float
    label: str                     # "Tue 14:00-15:00", or "00:00:00-01:00:00" for a file
    activity_seconds: float        # seconds of activity within the hour
    activity_spans: int            # activity spans that began in it
    alerts: list[dict]             # the hour's alerts: {id, time, label, kind, title, description, video}
    captions: list[dict]           # {clip, time, label, text}
    summary: str | None = None     # the video LLM's sentences (None: summaries off, or nothing happened)


@dataclass
class CameraRecap:
    camera: str
    wall: bool                     # times are Unix seconds (a live camera); False: stream seconds (a file)
    start: float | None            # the span covered, on that clock
    end: float | None
    clips: int                     # clips in the span
    captioned: int                 # of those, the captioned ones
    activity: list[dict]           # {start, end, label}
    alerts: int
    hours: list[RecapHour] = field(default_factory=list)


@dataclass
class Recap:
    phrase: str                    # what was asked ("today")
    span: str                      # the span read from it, in words
    cameras: list[CameraRecap]
    warning: str | None            # set when the sentences are a random model's noise
    seconds: float                 # time taken

    def to_json(self) -> dict:
        return asdict(self)


def _hour_label(start: float, end: float, wall: bool) -> str:
    if not wall:
        return f"{clock_label(start)}-{clock_label(end)}"
    a, b = datetime.fromtimestamp(start), datetime.fromtimestamp(end)
    return f"{a:%a %H:%M}-{b:%H:%M}"


def _label(t: float, wall: bool) -> str:
    return f"{datetime.fromtimestamp(t):%a %H:%M:%S}" if wall else clock_label(t)


class _Clock:
    """Stream seconds -> the recap's clock: the wall clock of the nearest clip that began before (a live stream's
    offset changes only across restarts, each of which starts a new clip), or the stream's own."""

    def __init__(self, clips: list[Caption], wall: bool):
        self.wall = wall
        known = [(c.start, c.wall_start - c.start) for c in clips if c.wall_start is not None]
        self.starts, self.offsets = [s for s, _ in known], [o for _, o in known]

    def __call__(self, t: float) -> float | None:
        if not self.wall:
            return t
        if not self.starts:
            return None
        i = max(0, bisect.bisect_right(self.starts, t) - 1)
        return t + self.offsets[i]


def camera_recap(engine, session, phrase: str) -> CameraRecap:
    """One camera's recap of the span `phrase` names (the whole memory when it names none a file can have)."""
    store, stream, cfg = session.store, session.stream, engine.config.recap
    newest = store.get(store.latest(stream, 1))
    span = session.span_of(phrase, session.now, None, newest, strict=False) if phrase.strip() else None
    if span is None and phrase.strip() and wall_only(phrase, session.now, engine.config.select.when) is None:
        # Neither a span nor a time of day a file lacks (a file's recap of "today" is all of it): a typo, and a
        # recap of everything would hide it.
        raise ValueError(f'"{phrase}" names no span: say "today", "since 8 am", "in the last 3 hours", "yesterday", '
                         f'or "" for all that is stored')
    wall = span.wall if span is not None else False
    clips = store.captions(stream, span)
    clock = _Clock(store.captions(stream) if wall else clips, wall)
    lo = span.start if span is not None and span.start is not None else (clock(clips[0].start) if clips else None)
    hi = span.end if span is not None and span.end is not None else (clock(session.now) if clips else None)

    def inside(t: float | None) -> bool:
        return t is not None and (lo is None or t >= lo) and (hi is None or t <= hi)

    events = [Event(k, t, d) for k, t, d in store.events(stream)]
    activity = []
    for a in activity_spans(events, now=session.now):
        s, e = clock(a["start"]), clock(a["end"])
        if s is not None and e is not None and (lo is None or e >= lo) and (hi is None or s <= hi):
            s, e = max(s, lo) if lo is not None else s, min(e, hi) if hi is not None else e
            activity.append({"start": s, "end": e, "label": f"{_label(s, wall)}-{_label(e, wall)}"})
    alerts = []
    for a in store.alerts(stream):
        if a.get("kind") == RECAP:
            continue
        t = a.get("wall_time") if wall else a.get("time")
        if inside(t):
            alerts.append({"id": a["id"], "time": t, "label": _label(t, wall), "kind": a.get("kind"),
                           "title": a.get("title") or a.get("message"), "description": a.get("description"),
                           "video": a.get("video")})
    alerts.sort(key=lambda a: a["time"])
    out = CameraRecap(camera=stream, wall=wall, start=lo, end=hi, clips=len(clips),
                      captioned=sum(c.text is not None for c in clips), activity=activity, alerts=len(alerts))
    if lo is None or hi is None:
        return out
    first = lo - (datetime.fromtimestamp(lo).minute * 60 + datetime.fromtimestamp(lo).second if wall else lo % HOUR)
    t = first
    while t < hi:
        end = t + HOUR
        captions = [{"clip": c.clip, "time": clock(c.start), "label": _label(clock(c.start), wall), "text": c.text}
                    for c in clips if c.text and clock(c.start) is not None and t <= clock(c.start) < end]
        said = [a for a in alerts if t <= a["time"] < end]
        busy = [(max(a["start"], t), min(a["end"], end)) for a in activity if a["start"] < end and a["end"] > t]
        if captions or said or busy:
            hour = RecapHour(start=t, end=end, label=_hour_label(t, end, wall),
                             activity_seconds=round(sum(e - s for s, e in busy), 1),
                             activity_spans=sum(t <= a["start"] < end for a in activity), alerts=said,
                             captions=captions)
            lines = [f"[{c['label']}] {c['text']}" for c in captions] + \
                [f"[{a['label']}] alert: {a['title']}" + (f". {a['description']}" if a["description"] else "")
                 for a in said]
            if cfg.summaries and lines and engine.answerer is not None:
                text = "".join(engine.generate(SUMMARY_PROMPT, [], "\n".join(lines[-cfg.lines_per_hour:]),
                                               max_new_tokens=engine.config.model.caption_tokens * 2))
                hour.summary = " ".join(text.split()) or None
            out.hours.append(hour)
        t = end
    return out


def recap(engine, sessions: list, phrase: str | None = None) -> Recap:
    """The recap of every session's camera over the span `phrase` names (RecapConfig.default_span when None)."""
    t0 = time.perf_counter()
    phrase = engine.config.recap.default_span if phrase is None else phrase
    cameras = [camera_recap(engine, s, phrase) for s in sessions]
    said = next((c for c in cameras if c.start is not None), None)
    if said is None:
        words = "nothing recorded"
    else:
        words = span_text(TimeSpan(said.start, said.end, phrase, said.wall))
    noisy = engine.noise and any(h.summary for c in cameras for h in c.hours)
    return Recap(phrase=phrase, span=words, cameras=cameras,
                 warning="RANDOM WEIGHTS (a tiny test model): every caption and summary here is noise" if noisy or (
                     engine.noise and any(c.captioned for c in cameras)) else None,
                 seconds=round(time.perf_counter() - t0, 4))
