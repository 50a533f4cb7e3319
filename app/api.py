"""The REST API, mounted on the page's server (Gradio runs on FastAPI): cameras, questions (answers streamed as
server-sent events), clips with text search and time range, alerts (recent, and streamed). Documented at /docs.
Same credentials as the page (HTTP Basic) when the page has them."""
import json
import math
import pathlib
import re
from dataclasses import dataclass
from datetime import datetime
import queue
import secrets
import time
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.config import API_PREFIX, CLIP_VIDEO_PATH, VIDEO_PATH
from app.service import Service, SourceRefused, VideoMissing
from memory.store import StoreError
from memory.when import clock_time
from stream.clock import clip_label, parse_clock, span_text
from models.remote import ServerError
from stream.engine import NoAnswerer
from stream.events import SOURCE_GAP
from stream.ingest import jpeg
from stream.config import AlertConfig, EvidenceConfig, SamplingConfig
from stream.service.daily import check_at
from stream.service.registry import RegistryError, checked_name
from stream.service.reviews import group, page, spans_of
from stream.service.schedule import Schedule
from stream.sources import SourceError, redact

PREFIX = API_PREFIX
ID_MAX = 2 ** 63 - 1          # SQLite's largest integer: a clip id past it names no clip
SECONDS = dict(allow_inf_nan=False, le=1e12)   # a time: finite, and short of year 33,000 as Unix time
UNIX_FROM = 1e9               # a time bound past this is Unix time (2001-09-09 on), not stream seconds


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be text (it holds a lone surrogate, which is no character)") from None
    return value


# Text that can be stored, tokenized and sent back. Pydantic refuses a lone surrogate ("\\ud800") in a string field
# of JSON but lets one through inside a list, where it would fail only when the answer is written.
Text = Annotated[str, AfterValidator(_text)]


def _rule(value: str) -> str:
    if not value.strip():
        raise ValueError("a rule must say something (to remove every rule, send an empty list)")
    return value


Rule = Annotated[Text, AfterValidator(_rule)]     # a watch rule: an empty one would silently clear the others
QuestionText = Annotated[str, Field(min_length=1, max_length=2000)]

# A clip search's parameters, the same for one camera and for several.
@dataclass(frozen=True)
class Bound:
    """A clip search's time bound, in the clocks it can be read in: `wall` (Unix seconds; a live clip is compared by
    its wall times) and `stream` (stream seconds; a file's clip, or any clip when no wall time is meant)."""
    wall: float | None
    stream: float | None


def _bound(text: str) -> Bound:
    """A bound as given: a number (stream seconds, or Unix time past 1e9), a clock time "HH:MM[:SS]" as the page's
    labels read (a live clip's: today's local time, the latest not in the future; a file's: its stream time), or a
    local date and time "YYYY-MM-DD HH:MM[:SS]"."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None:
        if not math.isfinite(value) or abs(value) > SECONDS["le"]:
            raise ValueError("must be a finite number of seconds (at most 1e12), HH:MM[:SS] or YYYY-MM-DD HH:MM:SS")
        return Bound(value, None) if value > UNIX_FROM else Bound(None, value)
    wall = clock_time(text, time.time())
    if wall is None:
        raise ValueError("must be seconds, a clock time HH:MM[:SS] or a local date and time YYYY-MM-DD HH:MM:SS")
    dated = not re.fullmatch(r"\s*\d{1,2}:[\d:.]+\s*", text)
    return Bound(wall, None if dated else parse_clock(text))


BOUND = ("stream seconds (Unix time past 1e9 for live cameras), or a clock time HH:MM[:SS] as the page labels clips "
         "(a live camera's: today's local time, the latest not in the future; a file's: its stream time), or a local "
         "date and time YYYY-MM-DD HH:MM:SS")
# Typed as text for the schema (a query parameter); the route gets the Bound.
Since = Annotated[str | None, Query(description="clips that end at or after this: " + BOUND, max_length=40),
                  AfterValidator(lambda v: v if v is None else _bound(v))]
Until = Annotated[str | None, Query(description="clips that start at or before this: " + BOUND, max_length=40),
                  AfterValidator(lambda v: v if v is None else _bound(v))]
Search = Annotated[str | None, Query(description="text to search for", max_length=2000)]
Limit = Annotated[int, Query(ge=1, le=1000)]



class Strict(BaseModel):
    # A field the API does not know ("frame_rate": 2) is refused (422), not dropped without a word.
    model_config = ConfigDict(extra="forbid")


def _schedule(value: list[str]) -> list[str]:
    Schedule(value)                        # each window checked: a one-line message naming the bad one
    return value


class CameraIn(Strict):
    name: Annotated[str, AfterValidator(checked_name)] = Field(description="unique name: letters, digits, '_', '.', '-'")
    source: str = Field(description="rtsp:// or http(s):// URL, a camera index, or a file under the media folders")
    rules: list[Rule] = Field(default_factory=list, description="watch rules in words")
    scene_alerts: bool = True
    activity_alerts: bool = True
    describe: bool = True
    alert_video: bool = Field(default=True, description="each alert keeps a short video of its span")
    daily_recap: Annotated[str, AfterValidator(check_at)] | None = Field(
        default=None, description='"HH:MM": each day then, the camera\'s recap of the last 24 hours goes to its sinks')
    webhook: str | None = None
    # The serve config's per-camera settings (stream.service.config.CameraConfig), same meanings and bounds.
    fps: float | None = Field(default=None, gt=0, le=SamplingConfig.max_fps, description="frames sampled per second "
                              "(default: the server's)")
    video_llm: bool = Field(default=True, description="false: events only (no vision tower, no rules, no questions)")
    max_images: int | None = Field(default=None, ge=1, description="images per request to the answer server "
                                   "(default and ceiling: its max_frames)")
    schedule: Annotated[list[Text], AfterValidator(_schedule)] = Field(
        default_factory=list, max_length=48, description='local-time windows when alerts are sent to the sinks, as '
        '"22:00-06:00" (default: always)')


class Question(Strict):
    question: QuestionText
    at: float | None = Field(default=None, ge=0, description="answer as of this stream second (default: now)",
                             **SECONDS)


class HouseQuestion(Strict):
    question: QuestionText
    cameras: list[str] | None = Field(default=None, max_length=256,
                                      description="the cameras to ask (default: every camera)")


class Rules(Strict):
    rules: list[Rule]


class AlertOut(BaseModel):
    """An alert as the API, the stream and the webhook give it (more fields may come: they are kept)."""
    model_config = ConfigDict(extra="allow")
    id: str = Field(description="unique; an update of the alert carries the same id")
    kind: str = Field(description="scene_change, activity_start, lighting_change... (a detector's), rule, or "
                                  "recap (a camera's daily recap: its digest as the description, its page as `link`)")
    camera: str
    time: float = Field(description="stream seconds of the moment it is about")
    local_time: str | None = Field(description="that moment on the local wall clock (ISO 8601; live cameras)")
    message: str = Field(description="a short title: the kind's, or the rule's words")
    rule: str | None = Field(description="the watch rule that fired (kind rule)")
    reason: str | None = Field(description="the video LLM's one-line reason for a rule")
    title: str | None = Field(description="the video LLM's title of the clip (scene-change and activity alerts)")
    description: str | None = Field(description="its sentence or two about the clip")
    severity: str | None = Field(description="info, notice, warning or critical")
    noise: bool = Field(description="true when the model has random weights: the words are noise")
    update: bool = Field(description="true: a later message for an alert already sent (same id) that replaces it, "
                                     "carrying the description the video LLM had not finished when the alert went "
                                     "out (after `describe_wait` seconds)")
    video: str | None = Field(None, description="where its video is served (an MP4 of its span with a few seconds "
                                                "before and after: GET /api/v1/alerts/{id}/clip.mp4), once written a "
                                                "few seconds after the span ends; null: its camera makes none")
    wall_time: float | None = Field(None, description="`time` as Unix seconds (live cameras)")
    link: str | None = Field(None, description="a page about it: a daily recap's HTML page (null otherwise)")


def sse(event: str, data) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t).astimezone().isoformat(timespec="seconds")


def clip_json(c, name: str | None = None) -> dict:
    """A clip as the API gives it; `name`: its camera (default: the stream it was recorded as)."""
    name = name or c.stream
    wall = getattr(c, "wall_start", None)
    return {"id": c.id, "camera": name, "start": round(c.start, 3), "end": round(c.end, 3), "label": clip_label(c),
            "wall_start": wall, "wall_end": getattr(c, "wall_end", None),
            # the wall times as people and scripts read them: local ISO 8601 with the offset
            "local_start": iso(wall), "local_end": iso(getattr(c, "wall_end", None)), "caption": c.caption,
            "tokens": c.n_tokens if c.tokens is not None else None,
            "thumbnail": f"{PREFIX}/cameras/{name}/clips/{c.id}/thumbnail.jpg",
            "video": CLIP_VIDEO_PATH.format(name=name, clip_id=c.id)}


def settings_json(w) -> dict:
    """The camera's settings in effect: its own, else the server's."""
    engine, session = w.engine, w.session
    most = engine.config.server.max_frames if engine.remote else None     # images go to an answer server only
    return {"fps": session.ingestor.config.sampling.fps, "video_llm": session.video_llm,
            "describe": w.verifier.config.describe, "alert_video": w.evidence is not None,
            "daily_recap": w.spec.daily_recap,
            "max_images": None if most is None else min(most, session.max_images or most),
            "schedule": list(w.schedule.windows), "max_clips": session.store.config.max_clips,
            "max_bytes": session.store.config.max_bytes}


def review_json(x) -> dict:
    top = x.top
    kinds: dict[str, int] = {}
    for a in x.alerts:
        kinds[a.kind] = kinds.get(a.kind, 0) + 1
    return {"id": x.id, "camera": x.camera, "start": round(x.start, 3), "end": round(x.end, 3), "activity": x.span,
            "wall_start": x.wall(x.start), "wall_end": x.wall(x.end), "local_start": iso(x.wall(x.start)),
            "local_end": iso(x.wall(x.end)), "severity": x.severity, "title": top.title or top.message,
            "description": top.description, "noise": any(a.noise for a in x.alerts), "kinds": kinds,
            "alerts": [a.id for a in x.alerts],
            "thumbnail": f"{PREFIX}/reviews/{x.id}/thumbnail.jpg" if x.thumbnail else None}


def camera_json(w) -> dict:
    st = w.stats()
    return {"name": w.spec.name, "source": redact(w.spec.source) if isinstance(w.spec.source, str) else "webcam",
            "status": w.status(), "shared": w.spec.owner is None, "settings": settings_json(w),
            "figures": {k: getattr(st, k) for k in ("frames", "steps", "clips", "alerts", "drop_ratio", "sampled_fps",
                                                   "lag", "frames_skipped", "encodes_skipped", "tau")},
            # Spans with no video (a live source's outages, a stop of the loop on a full disk): not watched.
            "not_watched": [{"start": e.time, "end": e.detail["end"], "reason": w.public(e.detail.get("reason"))}
                            for e in w.series()[1] if e.kind == SOURCE_GAP],
            "rules": [{"rule": r.text, "checks": r.checks, "fired_last_hour": r.fired,
                       "last": None if r.last is None else {"holds": r.last.holds, "reason": r.last.reason,
                                                            "clip": r.last.clip[0], "at": r.last.wall}}
                      for r in w.rules()]}


def answer_stream(answer, name: str | None = None, plain: bool = False):
    """An answer as the API sends it: server-sent events (`warning`, `answer` pieces or one `error`, `clips`, `done`)
    or, `plain` (the client asked for application/json), one JSON object with the whole text and the same fields
    as the `clips` event. `name`: the camera asked (None: each clip names its own)."""
    def pieces():
        if answer.nothing_shown():
            answer.pieces.close()
            yield "answer", answer.nothing_shown()
            return
        try:
            for piece in answer.pieces:
                yield "answer", piece
        except ServerError as e:     # the answer server failed: said once, in the stream already open
            yield "error", str(e)

    def used() -> dict:
        w, span, o = answer.window, answer.span, answer.opened
        return {"clips": [clip_json(c, name) for c in answer.clips],
                "open": None if o is None else {"start": o.start, "end": o.end, "wall_start": o.wall_start,
                                                "wall_end": o.wall_end, "tokens": o.n_tokens},
                "skipped": [clip_json(c, name) for c in answer.skipped],
                "window": None if w is None else {"start": w.start, "end": w.end, "wall_start": w.wall_start,
                                                  "wall_end": w.wall_end, "tokens": w.tokens},
                "span": None if span is None else {"phrase": span.phrase, "start": span.start, "end": span.end,
                                                   "wall": span.wall, "text": span_text(span)},
                "prompt_tokens": answer.prompt_tokens, "warning": answer.warning,
                "sent": None if answer.request is None else {"frames": answer.request.frames,
                                                             "bytes": answer.request.bytes}}

    if plain:
        got = list(pieces())
        errors = [text for kind, text in got if kind == "error"]
        return JSONResponse({"answer": "".join(text for kind, text in got if kind == "answer").strip(),
                             "error": errors[0] if errors else None, "asked": answer.nothing_shown() is None,
                             **used()})

    def events():
        if answer.warning:
            yield sse("warning", {"text": answer.warning})
        for kind, text in pieces():
            yield sse(kind, {"text": text})
        yield sse("clips", used())
        yield sse("done", {})
    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def ranged(data: bytes, header: str | None, media_type: str) -> Response:
    """The bytes, or the one range `bytes=a-b` (a-, -n) a player asks for (206; 416 for a range outside them): a
    browser's video element seeks by ranges."""
    size = len(data)
    head = {"Accept-Ranges": "bytes"}
    if not header or not header.startswith("bytes=") or "," in header:
        return Response(data, media_type=media_type, headers=head)
    first, _, last = header[6:].strip().partition("-")
    try:
        if first:
            a, b = int(first), (int(last) if last else size - 1)
        else:
            a, b = max(0, size - int(last)), size - 1
    except ValueError:
        return Response(data, media_type=media_type, headers=head)
    b = min(b, size - 1)
    if a > b or a >= size:
        return Response(status_code=416, headers=head | {"Content-Range": f"bytes */{size}"})
    return Response(data[a:b + 1], status_code=206, media_type=media_type,
                    headers=head | {"Content-Range": f"bytes {a}-{b}/{size}"})


def wants_json(request: Request) -> bool:
    """The client asked for one JSON reply (`Accept: application/json`) rather than the event stream."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/event-stream" not in accept


def guard(service: Service):
    """The dependency that asks for the page's credentials (HTTP Basic) when the page has them. A browser logged in
    to the page passes too (its login cookie, `Service.page_user`): the page's own players fetch alert videos and
    clips from the API, and a video element cannot send Basic credentials it was never given."""
    basic = HTTPBasic(auto_error=False)

    def auth(request: Request, credentials: HTTPBasicCredentials | None = Depends(basic)) -> None:
        need = service.config.auth
        if need is None:
            return
        if service.page_user is not None and service.page_user(request) is not None:
            return
        ok = credentials is not None and secrets.compare_digest(credentials.username, need[0]) and \
            secrets.compare_digest(credentials.password, need[1])
        if not ok:
            raise HTTPException(401, "give the page's user and password (HTTP Basic)",
                                headers={"WWW-Authenticate": "Basic"})
    return auth


def router(service: Service) -> APIRouter:
    r = APIRouter(dependencies=[Depends(guard(service))])

    def registry():
        if service.registry is None:
            raise HTTPException(503, f"no model is loaded: {service.engine_error or 'see the server log'}")
        return service.registry

    def camera(name: str):
        w = registry().get(name)
        if w is None:
            raise HTTPException(404, f"no camera named {name!r}")
        return w

    @r.get("/health", tags=["service"], summary="Is the server up, and what answers")
    def health() -> dict:
        """`status` ("ok", or "no model" when the video LLM could not load), the number of cameras, the model that
        answers, and `random_weights` (true: every answer and description is noise)."""
        e = service.engine
        return {"status": "ok" if e is not None else "no model", "cameras": len(registry()) if e else 0,
                "model": None if e is None else (e.answerer or e.llm).name.rsplit("/", 1)[-1],   # what answers
                "random_weights": None if e is None else e.noise}

    @r.get(PREFIX + "/cameras", tags=["cameras"], summary="Every camera: its status, figures and rules")
    def cameras() -> list[dict]:
        """Each running or stopped camera as `GET /api/v1/cameras/{name}` gives it."""
        return [camera_json(w) for w in registry().cameras()]

    @r.post(PREFIX + "/cameras", status_code=201, tags=["cameras"], summary="Add a camera and start watching it")
    def add(body: CameraIn) -> dict:
        """Starts the camera at once (its memory continues if one of that name exists) and returns it as `GET
        /api/v1/cameras/{name}` does. 409: the name is taken or the server runs its most cameras; 400: a source it
        will not open (a file outside the media folders, an unknown scheme); 422: a field it does not know."""
        registry()
        try:
            w = service.add(body.name, body.source, body.rules,
                            AlertConfig(scene_changes=body.scene_alerts, activity=body.activity_alerts,
                                        describe=body.describe, evidence=EvidenceConfig(enabled=body.alert_video)),
                            webhook=body.webhook, fps=body.fps,
                            video_llm=body.video_llm, max_images=body.max_images, schedule=body.schedule,
                            daily_recap=body.daily_recap)
        except RegistryError as e:
            raise HTTPException(409 if "already" in str(e) or "limit" in str(e) else 400, service.public(str(e)))
        except (SourceRefused, SourceError, StoreError, ValueError, OSError) as e:
            raise HTTPException(400, service.public(str(e)))
        return camera_json(w)

    @r.get(PREFIX + "/cameras/{name}", tags=["cameras"], summary="One camera: its status, figures and rules")
    def one(name: str) -> dict:
        """`status` (state: connecting, live, playing, reconnecting, ended, stopped, error), `figures` (frames, steps,
        clips, alerts, share of tokens dropped, sampled fps, lag, encodes skipped by the pixel gate, `tau`: the drop's
        cosine-similarity threshold), spans `not_watched` (outages), and each watch rule with its last verdict."""
        return camera_json(camera(name))

    @r.delete(PREFIX + "/cameras/{name}", tags=["cameras"], summary="Stop a camera and forget it (its memory stays)")
    def remove(name: str) -> dict:
        """Returns once the camera has stopped and released its memory folder, so it can be added again at once."""
        camera(name)
        registry().remove(name)
        return {"removed": name}

    @r.put(PREFIX + "/cameras/{name}/rules", tags=["cameras"], summary="Replace a camera's watch rules")
    def set_rules(name: str, body: Rules) -> dict:
        """Rules in words ("tell me when a person enters"), checked by the video LLM on clips that activity touched;
        they take effect at once, a rule kept keeps its history. An empty list removes every rule."""
        w = camera(name)
        try:
            w.set_rules(body.rules)
        except ValueError as e:          # nothing can check rules (the light mode without an answer server)
            raise HTTPException(400, str(e)) from None
        return camera_json(w)

    @r.post(PREFIX + "/cameras/{name}/ask", tags=["questions"], summary="Ask a camera about what it has seen",
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "events: `answer` ({text}) pieces as they come (`error` ({text}) if "
                                            "the answer server fails), then `clips` (the clips used and skipped, "
                                            "the clip still being recorded (`open`), the live window shown whole, "
                                            "the time span the question asks about, "
                                            "prompt tokens or what went to the answer server, warning), then "
                                            "`done`"}})
    def ask(name: str, body: Question, request: Request):
        """Answered from the camera's memory clips and its live window under a fixed token budget; a time in the
        question ("since 14:00", "10 minutes ago") limits the clips to that span. Server-sent events, or one JSON
        object with `Accept: application/json`. 422: a time of day asked of a file; 503: nothing can answer."""
        w = camera(name)
        try:
            answer = w.session.ask(body.question, until=body.at, strict=True)
        except NoAnswerer as e:
            raise HTTPException(503, str(e)) from None
        except ValueError as e:          # a time of day asked of a file
            raise HTTPException(422, str(e)) from None

        return answer_stream(answer, name, plain=wants_json(request))

    def found_clips(watchers: list, since: Bound | None, until: Bound | None, q: str | None, limit: int) -> list[dict]:
        """The cameras' clips in a time range, newest first, or ranked by `q` (captions that hold its words first,
        then by key similarity to it: one embedder keyed every camera's clips, so the ranking spans cameras)."""
        def within(c) -> bool:
            """Each bound read in the clip's clock: its wall times where the bound has one and the clip was recorded
            live, else its stream times; a clip with neither clock of the bound is out."""
            wall = getattr(c, "wall_start", None)
            for b, later in ((since, True), (until, False)):
                if b is None:
                    continue
                if b.wall is not None and wall is not None:
                    lo, hi, at = wall, getattr(c, "wall_end", None) or wall, b.wall
                elif b.stream is not None:
                    lo, hi, at = c.start, c.end, b.stream
                else:
                    return False
                if (hi < at) if later else (lo > at):
                    return False
            return True
        found = []
        for w in watchers:
            store = w.session.store
            ids = store.latest(w.spec.name, service.config.api_scan)        # newest first; rows only, no tokens
            found += [c for k in range(0, len(ids), 500) for c in store.get(ids[k:k + 500]) if within(c)]
        # Newest first across cameras: by the wall clock where clips have one, else by stream time.
        found.sort(key=lambda c: (c.wall_end if c.wall_end is not None else c.end), reverse=True)
        if q:
            words = q.lower().split()
            text_hit = [c for c in found if c.caption and all(x in c.caption.lower() for x in words)]
            query = service.engine.embed_texts([q])[0]
            keyed = [c for c in found if c.key is not None and c not in text_hit]
            keyed.sort(key=lambda c: -float(np.dot(c.key, query)))
            found = text_hit + keyed
        return [clip_json(c) for c in found[:limit]]

    def bounds(since: Bound | None, until: Bound | None) -> None:
        if since is None or until is None:
            return
        # By the wall clock where both have one ("23:00" to "01:00" crosses midnight), else by stream time.
        a, b = (since.wall, until.wall) if since.wall is not None and until.wall is not None else \
            (since.stream, until.stream)
        if a is not None and b is not None and a > b:
            raise HTTPException(422, f"since ({a:g}) is after until ({b:g})")

    @r.get(PREFIX + "/cameras/{name}/clips", tags=["clips"], summary="A camera's clips, by time range or text")
    def clips(name: str, since: Since = None, until: Until = None, q: Search = None, limit: Limit = 50) -> list[dict]:
        """Newest first, or ranked by `q` (captions holding its words first, then by key similarity). Each clip has
        its times (stream seconds; wall and local times for live cameras), caption, stored tokens and thumbnail."""
        w = camera(name)
        bounds(since, until)
        return found_clips([w], since, until, q, limit)

    @r.get(PREFIX + "/clips", tags=["clips"], summary="Clips of several cameras (default: all)")
    def house_clips(camera: list[str] | None = Query(None, description="a camera to search (repeat for several; "
                                                                         "none: every camera)", max_length=256),
                    since: Since = None, until: Until = None, q: Search = None, limit: Limit = 50) -> list[dict]:
        """As a camera's clips, over the cameras named (each clip names its `camera`), newest first by wall clock
        where clips have one; `q` ranks across cameras (one embedder keyed them all)."""
        bounds(since, until)
        return found_clips(chosen(camera), since, until, q, limit)

    def chosen(names: list[str] | None) -> list:
        """The watchers of `names` (404 for one not running), or every camera."""
        if not names:
            return registry().cameras()
        return [camera(n) for n in dict.fromkeys(names)]

    @r.post(PREFIX + "/ask", tags=["questions"], summary="Ask several cameras at once (default: all)",
            responses={200: {"content": {"text/event-stream": {}, "application/json": {}},
                             "description": "as a camera's ask: `answer` pieces, then `clips` (each names its "
                                            "camera), then `done`; one JSON object with `Accept: application/json`. "
                                            "The token budget is spread over the cameras by relevance; live windows "
                                            "are not shown (ask a camera for its live view)"}})
    def house_ask(body: HouseQuestion, request: Request):
        """One token budget spread over the cameras by relevance: each proposes its candidate clips, all are ranked
        by similarity to the question and taken best first while they fit."""
        watchers = chosen(body.cameras)
        if not watchers:
            raise HTTPException(404, "no camera is running: add one first")
        try:
            answer = service.engine.ask_across([w.session for w in watchers], body.question, strict=True)
        except NoAnswerer as e:
            raise HTTPException(503, str(e)) from None
        except ValueError as e:          # a time of day asked of files only
            raise HTTPException(422, str(e)) from None
        return answer_stream(answer, plain=wants_json(request))

    def made_recap(camera: list[str] | None, when: str | None) -> dict:
        from stream.service.recap import recap
        watchers = chosen(camera)
        if not watchers:
            raise HTTPException(404, "no camera is running: add one first")
        try:
            return recap(service.engine, [w.session for w in watchers], when).to_json()
        except ValueError as e:          # a phrase that names no span
            raise HTTPException(422, str(e)) from None

    Cameras = Annotated[list[str] | None, Query(description="a camera to recap (repeat for several; none: every "
                                                            "camera)", max_length=256)]
    When = Annotated[str | None, Query(max_length=200, description='the span: "today", "since 8 am", "in the last 3 '
                                                                   'hours", "yesterday" (default: today; "" for all '
                                                                   'that is stored)')]

    @r.get(PREFIX + "/recap", tags=["recap"], summary="What happened in a span, per camera",
           description="Per camera: its activity spans, its alerts and, per hour, the captions written in the "
                       "background (clips activity touched) and a few sentences from the video LLM (noise with "
                       "random weights: `warning` says so). The facts need no model.")
    def recap_json(camera: Cameras = None, when: When = None) -> dict:
        return made_recap(camera, when)

    @r.get(PREFIX + "/recap.html", tags=["recap"], response_class=Response, summary="The recap as a page",
           responses={200: {"content": {"text/html": {}}}})
    def recap_html(camera: Cameras = None, when: When = None):
        """The same recap as one self-contained HTML page: a timeline per camera (activity in orange, alerts in
        red), then per hour its facts, the video LLM's sentences, the alerts with links to their videos, and the
        captions."""
        from app.recap import render_recap_html
        return Response(render_recap_html(made_recap(camera, when)), media_type="text/html")

    @r.get(PREFIX + "/cameras/{name}/clips/{clip_id}/thumbnail.jpg", tags=["clips"], summary="A clip's thumbnail",
           response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
    def thumbnail(name: str, clip_id: int = Path(ge=0, le=ID_MAX)):
        """A JPEG of the clip's frame whose pixels changed most (what its key embeds). 404: no such clip."""
        w = camera(name)
        got = [c for c in w.session.store.get([clip_id]) if c.stream == name]
        if not got:
            raise HTTPException(404, f"camera {name!r} has no clip {clip_id}")
        return Response(got[0].thumbnail, media_type="image/jpeg")

    @r.get(CLIP_VIDEO_PATH, tags=["clips"], response_class=Response,
           summary="A clip as a video",
           description="An H.264 MP4 to play the clip by (each clip's `video` link; an answer's clips have it): the "
                       "alert video that overlaps it most (real video with a few seconds around the alert; the "
                       "header `X-Vigil-Clip-Offset` gives the seconds into it where the clip starts, "
                       "`X-Vigil-Alert` the alert), else the clip's keyframes shown at their times (`X-Vigil-Alert` "
                       "absent). Byte ranges are served. 404: no such clip, or nothing stored to play.",
           responses={200: {"content": {"video/mp4": {}}}, 206: {"content": {"video/mp4": {}}}})
    def clip_video(request: Request, name: str, clip_id: int = Path(ge=0, le=ID_MAX)):
        w = camera(name)
        try:
            made = w.clip_video(clip_id)
        except Exception as e:                     # a keyframe that will not decode, an encoder that fails
            raise HTTPException(500, service.public(f"could not make the video of clip {clip_id}: {e}")) from None
        if made is None:
            if not [c for c in w.session.store.get([clip_id]) if c.stream == name]:
                raise HTTPException(404, f"camera {name!r} has no clip {clip_id}")
            raise HTTPException(404, f"clip {clip_id} has no video and no keyframes to play")
        r = ranged(made.mp4, request.headers.get("range"), "video/mp4")
        r.headers["X-Vigil-Clip-Offset"] = f"{made.offset:.3f}"
        if made.alert is not None:
            r.headers["X-Vigil-Alert"] = made.alert
        return r

    @r.get(PREFIX + "/cameras/{name}/frame.jpg", tags=["cameras"], summary="The camera's newest sampled frame",
           response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
    def frame(name: str, side: int = Query(640, ge=64, le=4096, description="its long side at most, pixels")):
        """A JPEG of the frame the model saw last, scaled to `side`; not cached. 404: no frame yet."""
        view = camera(name).view()
        if view is None:
            raise HTTPException(404, f"camera {name!r} has no frame yet")
        return Response(jpeg(view[0], side), media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @r.get(PREFIX + "/tools", tags=["service"], summary="What an agent can do here, as OpenAI-format tools")
    def tools() -> list[dict]:
        """The abilities `vigil mcp` serves over MCP, as OpenAI function-calling definitions (app.tools)."""
        from app.tools import openai_tools
        return openai_tools()

    @r.get(PREFIX + "/alerts", tags=["alerts"], summary="Recent alerts, newest first, paged",
           response_model=list[AlertOut])
    def alerts(limit: int = Query(100, ge=1, le=500), camera: str | None = None,
               before: str | None = Query(None, max_length=64, description="an alert's id: the alerts after it, "
                                          "newest first (the next page)")) -> list[dict]:
        """The server keeps the last 500. An alert whose description came later (`update: true`) is listed once,
        with the description, where it was last sent. 404: an unknown camera, or an id no longer held."""
        if camera is not None and registry().get(camera) is None and not service.feed.recent(1, camera):
            raise HTTPException(404, f"no camera named {camera!r} (and no alert of one)")
        try:
            return [a.to_json() for a in service.feed.recent(limit, camera, before)]
        except KeyError:
            raise HTTPException(404, f"no recent alert with id {before!r}") from None

    @r.get(VIDEO_PATH.replace("{id}", "{alert_id}"), tags=["alerts"], response_class=Response,
           summary="An alert's video",
           description="An H.264 MP4 of the alert's span with a few seconds before and after (the `video` link of "
                       "the alert). It is written a few seconds after the span ends: until then a 404 says so. "
                       "Byte ranges are served, so a player can seek.",
           responses={200: {"content": {"video/mp4": {}}}, 206: {"content": {"video/mp4": {}}}})
    def alert_video(request: Request, alert_id: str = Path(pattern=r"^[0-9a-f]{1,64}$")):
        try:
            data = service.video(alert_id).mp4
        except VideoMissing as e:
            raise HTTPException(404, str(e)) from None
        return ranged(data, request.headers.get("range"), "video/mp4")

    def reviewed(camera: str | None) -> list:
        if camera is not None and registry().get(camera) is None and not service.feed.recent(1, camera):
            raise HTTPException(404, f"no camera named {camera!r} (and no alert of one)")
        return group(service.feed.recent(None, camera), spans_of(registry().cameras()))

    @r.get(PREFIX + "/reviews", tags=["alerts"], summary="Alerts grouped per activity span, newest first, paged")
    def reviews(limit: int = Query(20, ge=1, le=500), camera: str | None = None,
                before: str | None = Query(None, max_length=64, description="an item's id: the items after it, "
                                           "newest first (the next page)")) -> list[dict]:
        """Review items (Frigate's model): one per activity span of a camera, holding the alerts raised in it (its
        start, the rules that fired on its clips, cuts inside it); alerts outside any span join the item before
        them when close. Each has its span (`start`, `end` in stream seconds; local times for live cameras), the
        top `severity` of its alerts' descriptions, the alert that speaks for it (`title`, `description`), the ids
        of its `alerts` (oldest first; see GET /api/v1/alerts) and a thumbnail. An open span's end grows."""
        try:
            return [review_json(x) for x in page(reviewed(camera), limit, before)]
        except KeyError:
            raise HTTPException(404, f"no recent review item with id {before!r}") from None

    @r.get(PREFIX + "/reviews/{review_id}/thumbnail.jpg", tags=["alerts"], summary="A review item's thumbnail",
           response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
    def review_thumbnail(review_id: str = Path(max_length=64)):
        """A JPEG of the frame its most telling alert was raised on. 404: no such item, or it has no picture."""
        got = [x for x in reviewed(None) if x.id == review_id and x.thumbnail]
        if not got:
            raise HTTPException(404, f"no recent review item with id {review_id!r} and a thumbnail")
        return Response(got[0].thumbnail, media_type="image/jpeg")

    @r.get(PREFIX + "/alerts/stream", tags=["alerts"], summary="Alerts as they are raised (server-sent events)",
           responses={200: {"content": {"text/event-stream": {}},
                            "description": "`alert` events as they are raised (an update of an alert, its "
                                           "description, has the same id and update: true); a comment every 15 s"}})
    def alert_stream(request: Request):
        """Every camera's alerts from now on, each as an `alert` event with the fields of `GET /api/v1/alerts`. An
        alert sent before its description was ready is sent again with the same id and `update: true`: the second
        replaces the first. A listener that falls behind by 1000 alerts is cut off."""
        q = service.feed.subscribe()
        keepalive = service.config.sse_keepalive

        def events():
            try:
                yield ": connected\n\n"
                while True:
                    try:
                        alert = q.get(timeout=keepalive)
                    except queue.Empty:
                        yield f": keepalive {time.time():.0f}\n\n"
                        continue
                    if alert is None:
                        return
                    yield sse("alert", alert.to_json())
            finally:
                service.feed.unsubscribe(q)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return r


def app_with_api(service: Service) -> FastAPI:
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import FileResponse, JSONResponse

    # The schema and its two viewers are behind the same credentials as the API (FastAPI's own routes have none).
    app = FastAPI(title="Vigil", version="1", description="Cameras, questions, clips and alerts of a Vigil server. "
                  "The live page is at /.", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router(service))

    @app.exception_handler(RequestValidationError)
    async def invalid(request, exc):
        # FastAPI's own 422 echoes the input, and an input that is no text (a lone surrogate) cannot be encoded: the
        # reason and where, never the input.
        return JSONResponse(status_code=422, content={"detail": [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]})

    docs = APIRouter(dependencies=[Depends(guard(service))], include_in_schema=False)
    docs.get("/openapi.json")(lambda: app.openapi())

    @docs.get("/metrics")
    def metrics():
        """Prometheus' text format (app.metrics): scrape with the page's credentials when it has them."""
        from app.metrics import CONTENT_TYPE, metrics_text
        return Response(metrics_text(service), media_type=CONTENT_TYPE)
    # The viewers' scripts and styles from Vigil, not a CDN: /docs works on a machine without internet.
    assets = docs_assets()
    docs.get("/docs")(lambda: get_swagger_ui_html(
        openapi_url="/openapi.json", title="Vigil API", swagger_js_url=DOCS_ASSETS + "/swagger-ui-bundle.js",
        swagger_css_url=DOCS_ASSETS + "/swagger-ui.css", swagger_favicon_url=DOCS_ASSETS + "/favicon.png"))
    docs.get("/redoc")(lambda: get_redoc_html(openapi_url="/openapi.json", title="Vigil API",
                                              redoc_js_url=DOCS_ASSETS + "/redoc.standalone.js",
                                              redoc_favicon_url=DOCS_ASSETS + "/favicon.png", with_google_fonts=False))

    @docs.get(DOCS_ASSETS + "/{name}")
    def asset(name: str):
        if name not in assets:
            raise HTTPException(404, f"no such file: {name}")
        return FileResponse(assets[name], headers={"Cache-Control": "max-age=86400"})
    app.include_router(docs)
    return app


DOCS_ASSETS = "/docs-assets"


def docs_assets() -> dict[str, pathlib.Path]:
    """The Swagger UI and ReDoc files, by name, from the fastapi-offline package (its app is not used)."""
    import fastapi_offline
    folder = pathlib.Path(fastapi_offline.__file__).parent / "static"
    return {p.name: p for p in folder.iterdir() if p.suffix in (".js", ".css", ".png")}
