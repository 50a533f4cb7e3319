"""The live page's event handlers. `Handlers` holds what the whole app shares (the service: engine, cameras, alert
feed); what one page shows lives in its `PageState`. `app.ui` only wires these to components.

Every running camera shows in every tab; a tab's webcam and demo are its own and start a fresh memory each time."""
import html
import os
import time
from pathlib import Path
from urllib.parse import urlparse

import gradio as gr
import numpy as np

from app.config import CLIP_VIDEO_PATH, VIDEO_PATH
from app.overlay import overlay
from app.report import jpeg_data_uri
from app.service import Service, SourceRefused
from app.sessions import PageState, Pages
from app.timeline import timeline_svg
from stream.detectors import alert_kinds
from memory.store import StoreError
from stream.clock import clip_label, span_label, span_text, when_label
from stream.config import AlertConfig
from models.remote import ServerError
from stream.engine import RANDOM_WEIGHTS_WARNING, EventsOnly, NoAnswerer
from stream.events import activity_spans, gap_spans
from stream.ingest import decode_jpeg
from stream.service.registry import RegistryError, checked_name
from stream.service.reviews import group, spans_of
from stream.service.watch import Watcher
from stream.sources import PushSource, SourceError, kind_of

MODEL_HELP = ("Start again with `--model PATH` (a Qwen2.5-VL hub id or a local folder with its weights), or with "
              "`--model tiny` for a smoke run with random weights.")
FIGURES_HELP = ("*Tokens dropped*: visual tokens nearly the same as the last kept one at their place, not stored. "
                "*Drop threshold (similarity)*: tau, the cosine similarity (-1 to 1) above which a token counts as "
                "the same and is dropped; measured per stream from this model's features, so with random weights it "
                "may be near 0 or below (a cell whose pixels changed is kept whatever it is). *Encodes skipped*: "
                "steps the pixel gate found unchanged, so the vision tower did not run. *Lag*: seconds from a "
                "frame's arrival to the end of its step's processing.")
SEVERITY_COLOURS = {"info": "#607d8b", "notice": "#1565c0", "warning": "#ef6c00", "critical": "#c62828"}


def refuse(message: str) -> gr.Error:
    """An expected refusal: shown on the page, no traceback in the server log."""
    return gr.Error(message, print_exception=False)


class Handlers:
    def __init__(self, service: Service, error: str | None = None):
        self.service, self.config, self.error = service, service.config, error
        self.engine = service.engine
        self.pages = Pages()

    @property
    def registry(self):
        return self.service.registry

    def _page(self, request: gr.Request) -> PageState:
        return self.pages.get(request.session_hash)

    def _watcher(self, p: PageState, name: str | None, request: gr.Request) -> Watcher | None:
        """A camera this page may see: shared, or its own."""
        if self.registry is None:
            return None
        w = self.registry.get(name or p.current or "")
        return w if w is not None and w.spec.owner in (None, request.session_hash) else None

    def banner(self) -> str:
        if self.engine is None:
            return f"# Vigil\n\n**The video LLM could not be loaded:** {self.error}\n\n{MODEL_HELP}"
        warn = f"\n\n**{RANDOM_WEIGHTS_WARNING}.** Every answer, description and rule check is noise." \
            if self.engine.noise else ""
        a = self.engine.answerer
        via = f" Answers come from **{a.name}** at {a.url}." if self.engine.remote else ""
        if a is None:
            return ("# Vigil\nWatch a camera, a stream or a file; get told when something happens. **Light mode without "
                    "an answer server:** frames are remembered and events alerted, but questions, alert descriptions "
                    "and watch rules need a server (`--answer-with URL`, or `[answer]` in the service config).")
        return f"# Vigil\nWatch a camera, a stream or a file; ask about it; get told when something happens.{via}{warn}"

    # ---- sources ------------------------------------------------------------------------------------------
    def _start(self, p: PageState, request: gr.Request, source, name: str, rules: str, scene: bool,
               activity: bool, webhook: str, own: bool = False, fail_fast: bool = True,
               delete_after: bool = False) -> Watcher:
        if self.engine is None:
            raise refuse(f"No model loaded. {MODEL_HELP}")
        try:
            w = self.service.add(name, source, (rules or "").splitlines(),
                                 AlertConfig(scene_changes=bool(scene), activity=bool(activity)),
                                 webhook=(webhook or "").strip() or None,
                                 owner=request.session_hash if own else None, fresh=own, fail_fast=fail_fast,
                                 checked=True, delete_after=delete_after)
        except (RegistryError, SourceRefused, SourceError, StoreError, ValueError, OSError, RuntimeError) as e:
            text = str(e)
            if isinstance(source, str) and kind_of(source) == "file":
                text = text.replace(source, Path(source).name)      # never show a server path
            raise refuse(text) from None
        p.current = w.spec.name
        return w

    def _reply(self, p: PageState, w: Watcher, request: gr.Request):
        names = self.registry.names(request.session_hash)
        p.shown_names = tuple(names)
        return f"Started **{w.spec.name}**.", gr.update(choices=names, value=w.spec.name)

    def file_help(self) -> str:
        """What the File tab may open: the media folders by name, never by their path on the server."""
        names = self.service.media_names()
        return (f"Allowed: video files in the server's media folders **{', '.join(names)}** (a file name such as "
                f"`demo-room.mp4`, or `{names[-1]}/NAME`); `--media FOLDER` allows another.")

    @staticmethod
    def _named(name: str, fallback: str) -> str:
        """The camera name given on the page (checked as the API checks it), or the source's own."""
        name = (name or "").strip()
        if not name:
            return fallback
        try:
            return checked_name(name)
        except ValueError as e:
            raise refuse(str(e)) from None

    def start_demo(self, rules: str, scene: bool, activity: bool, webhook: str, request: gr.Request):
        p = self._page(request)
        w = self._start(p, request, self.config.demo_clip, "demo", rules, scene, activity, webhook, own=True)
        p.demo, p.demo_variant = w.spec.name, "secondary"
        return (*self._reply(p, w, request), gr.update(variant="secondary"))

    def start_file(self, path: str, upload: str | None, rules: str, scene: bool, activity: bool, webhook: str,
                   request: gr.Request, name: str = ""):
        p = self._page(request)
        if upload:
            size = os.path.getsize(upload) if os.path.exists(upload) else 0
            if size > self.config.max_upload_mb * 2 ** 20:
                Path(upload).unlink(missing_ok=True)
                raise refuse(f"upload is {size / 2 ** 20:.0f} MB; the limit is {self.config.max_upload_mb} MB")
            try:               # an upload is deleted once played, or now if it is refused
                w = self._start(p, request, upload, self._named(name, Path(upload).stem), rules, scene, activity,
                                webhook, delete_after=True)
            except gr.Error:
                Path(upload).unlink(missing_ok=True)
                raise
        elif path and path.strip():
            try:
                source = self.service.allowed_file(path.strip())
            except SourceRefused as e:
                raise refuse(str(e)) from None
            w = self._start(p, request, source, self._named(name, Path(source).stem), rules, scene, activity,
                            webhook)
        else:
            raise refuse("Give a server path or upload a video file")
        return self._reply(p, w, request)

    def start_url(self, url: str, rules: str, scene: bool, activity: bool, webhook: str, request: gr.Request,
                  name: str = ""):
        p = self._page(request)
        url = (url or "").strip()
        try:
            url = self.service.check_source(url) if url and kind_of(url) != "file" else ""
        except SourceRefused as e:
            raise refuse(str(e)) from None
        if not url:
            raise refuse("Give an rtsp://, http(s):// or rtmp:// URL, or a camera index on the server")
        name = self._named(name, urlparse(url).hostname or f"camera{url}")
        return self._reply(p, self._start(p, request, url, name, rules, scene, activity, webhook), request)

    def webcam_frame(self, image: np.ndarray | None, rules: str, scene: bool, activity: bool, webhook: str,
                     request: gr.Request):
        """A frame streamed from the browser's webcam; the first one starts a "webcam" stream with a fresh memory."""
        if image is None or self.engine is None:
            return
        p = self._page(request)
        with p.lock:                       # frames of one page arrive concurrently: one start only
            now = time.monotonic()
            if p.webcam_stopped:
                if now - p.last_push <= self.config.webcam_idle:
                    p.last_push = now
                    return                 # the browser still streams after Stop: not a new start
                p.webcam_stopped = False   # it paused and began again: the user started it anew
            if p.webcam is not None and p.webcam.closed:
                ended = self.registry.get(p.webcam_name or "")
                if ended is not None and ended.stats().error:
                    return                 # it stopped on an error (shown on the page): no silent restart
            if p.webcam is None or p.webcam.closed:
                sampling = self.engine.config.ingest.sampling
                p.webcam = PushSource(sampling.max_side, fps=sampling.fps)
                w = self._start(p, request, p.webcam, "webcam", rules, scene, activity, webhook, own=True)
                p.webcam_name = w.spec.name
            p.last_push = now
            p.webcam.push(np.ascontiguousarray(image[..., :3], dtype=np.uint8))

    def stop(self, name: str, request: gr.Request) -> str:
        p = self._page(request)
        w = self._watcher(p, name, request)
        if w is None:
            return "Nothing to stop."
        if w.spec.name == p.webcam_name:
            with p.lock:
                p.webcam_stopped = True
                p.last_push = time.monotonic()
        w.stop()
        return f"Stopped **{w.spec.name}**; its memory stays, ask away."

    def select(self, name: str, request: gr.Request):
        """Another camera picked: its own chat, no clips used yet, its memory browser drawn afresh."""
        p = self._page(request)
        p.current, p.focus, p.shown_key, p.shown_state = name, None, (), ()
        return p.chats.get(name, []), self._used([]), gr.update(value=[], selected_index=None)

    def apply_rules(self, rules: str, request: gr.Request) -> str:
        p = self._page(request)
        w = self._watcher(p, None, request)
        if w is None:
            return "No camera to apply the rules to; they apply to the next one you start."
        texts = [r.strip() for r in (rules or "").splitlines() if r.strip()]
        try:
            w.set_rules(texts)
        except ValueError as e:          # nothing can check rules (the light mode without an answer server)
            return f"**{e}**"
        return f"**{w.spec.name}** now watches for {len(texts)} rule{'s' * (len(texts) != 1)}."

    # ---- questions ----------------------------------------------------------------------------------------
    def ask(self, question: str, history: list, name: str, everywhere: bool, request: gr.Request):
        """Streams the answer into the chat; then shows the clips it used. `everywhere`: the question goes to every
        camera this page sees (Engine.ask_across), each clip named by its camera."""
        p = self._page(request)
        history = list(history or [])
        question = (question or "").strip()
        w = self._watcher(p, name, request)
        if not question:
            yield history, gr.skip(), ""
            return
        if w is None:
            history += [{"role": "user", "content": question},
                        {"role": "assistant", "content": "Start a source first: there is no memory to ask about."}]
            yield history, self._used([]), ""
            return
        focus, p.focus = p.focus, None
        cameras = self.registry.cameras(request.session_hash) if everywhere else [w]
        try:
            if everywhere:
                answer = self.service.engine.ask_across([c.session for c in cameras], question)
            else:
                answer = w.session.ask(question, clip_ids=[focus] if focus is not None else None)
        except (NoAnswerer, EventsOnly) as e:
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": f"**{e}**"}]
            yield history, self._used([]), ""
            return
        if answer.nothing_shown():
            answer.pieces.close()
            history += [{"role": "user", "content": question},
                        {"role": "assistant", "content": answer.nothing_shown()}]
            p.chats[w.spec.name] = history
            yield history, self._used([]), ""
            return
        head = f"**{answer.warning}**\n\n" if answer.warning else ""
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": head}]
        yield history, gr.skip(), ""
        text = ""
        try:
            for piece in answer.pieces:
                text += piece
                history[-1] = {"role": "assistant", "content": head + text}
                yield history, gr.skip(), ""
        except ServerError as e:          # the answer server failed: said in the chat, the page goes on
            text += f"\n\n**The answer server failed:** {e}"
        if not text.strip():              # an answer of nothing (a model that ended at once) still reads as one
            text = "*(the model's answer was empty)*"
        label = (lambda c: f"{c.stream} {clip_label(c)}") if everywhere else clip_label  # noqa: E731
        lost = ", ".join(label(c) for c in answer.skipped)
        lost = f"; skipped, token file unreadable: {lost}" if lost else ""
        asked = f'; the question asks "{answer.span.phrase}": {span_text(answer.span)}' if answer.span else ""
        shown = ", ".join(label(c) for c in answer.clips) if everywhere else answer.shown()
        where = f" of {len(cameras)} cameras" if everywhere else ""
        play = " · ".join(f"[{label(c)}]({CLIP_VIDEO_PATH.format(name=c.stream, clip_id=c.id)})" for c in answer.clips)
        play = f"\n\nPlay the clips it used: {play}" if play else ""
        history[-1] = {"role": "assistant", "content": f"{head}{text}\n\n*Shown{where}: {shown} "
                                                       f"({answer.cost()}){asked}{lost}*{play}"}
        p.chats[w.spec.name] = history
        yield history, self._used([(decode_jpeg(c.thumbnail), label(c)) for c in answer.clips]), ""

    @staticmethod
    def _used(gallery: list):
        """The clips an answer used; an empty gallery is hidden (it would show a broken-image placeholder)."""
        return gr.update(value=gallery, visible=bool(gallery))

    def pick_clip(self, name: str, evt: gr.SelectData, request: gr.Request) -> tuple[str, str]:
        """A clip picked in the memory browser: the next question is about it. The index is read against the ids
        as the browser was last drawn, so clips arriving since cannot shift it."""
        p = self._page(request)
        w = self._watcher(p, name, request)
        if w is None or not 0 <= evt.index < len(p.shown_ids):
            return gr.skip(), gr.skip()
        got = w.session.store.get([p.shown_ids[evt.index]])
        if not got:
            return "That clip is no longer stored.", gr.skip()
        p.focus = got[0].id
        return f"Next question is about the clip {clip_label(got[0])}.", "What happens in this clip?"

    # ---- what the timer refreshes -------------------------------------------------------------------------
    def refresh(self, name: str, request: gr.Request):
        """Live frame with kept tokens, live figures, timeline, alert feed, memory browser, camera picker (every
        running camera, and this page's own), status line, rules."""
        p = self._page(request)
        self._idle_webcam(p)
        picker = gr.skip()
        names = self.registry.names(request.session_hash) if self.registry else []
        if tuple(names) != p.shown_names:
            p.shown_names = tuple(names)
            if p.current not in names:
                p.current = names[-1] if names else None
            picker = gr.update(choices=names, value=p.current)
        w = self._watcher(p, name if name in names else None, request)
        if w is None:
            return (None, "No stream yet: start the demo, a file, a URL, or your webcam.", "", "", gr.skip(), picker,
                    gr.skip(), "", self._demo_button(p))
        st, status = w.stats(), w.status()
        view = w.view()
        image = overlay(*view, min_width=self.config.view_width) if view is not None and view[1] is not None else None
        tau = "calibrating" if st.tau is None else f"{st.tau:+.2f}"
        figures = (f"**{w.spec.name}** ({self._state(status)}) | sampled **{st.sampled_fps:.2f} fps** | tokens "
                   f"dropped **{st.drop_ratio:.1%}** (drop threshold (similarity) {tau}) | "
                   f"encodes skipped **{st.encodes_skipped} of {st.steps}** | lag behind live **{st.lag:.2f} s** | "
                   f"frames skipped {st.frames_skipped} | clips {st.clips} | alerts {st.alerts}")
        series, events = w.series()
        timeline = ""
        if series:
            now = series[-1].end
            timeline = timeline_svg([x.time for x in series], [x.end for x in series],
                                    [x.drop_ratio for x in series], [x.encoded for x in series],
                                    activity_spans(events, now), [e.time for e in events if e.kind == "scene_change"],
                                    now, series[0].time, gaps=gap_spans(events))
        gallery = gr.skip()
        if (w.spec.name, st.clips) != p.shown_key:
            p.shown_key = (w.spec.name, st.clips)
            clips = self._newest(w)
            p.shown_ids = [c.id for c in clips]
            noise = self.service.engine.noise        # a random model's captions are noise: said, not shown
            gallery = gr.update(value=[(decode_jpeg(c.thumbnail), clip_label(c) + (
                "" if not c.caption else " (caption: noise, random weights)" if noise else f" {c.caption}"))
                for c in clips], selected_index=None)
        state = gr.skip()
        if (w.spec.name, status["state"]) != p.shown_state:
            p.shown_state = (w.spec.name, status["state"])
            state = self._status_line(w, status)
        feed = self._feed(w)
        if feed == p.shown_feed:
            feed = gr.skip()
        else:
            p.shown_feed = feed
        return image, figures, timeline, feed, gallery, picker, state, self._rules(w), self._demo_button(p)

    def _demo_button(self, p: PageState):
        """The demo button is the page's call to action until the demo runs; then it steps back (secondary)."""
        w = self.registry.get(p.demo) if p.demo and self.registry else None
        variant = "secondary" if w is not None and w.running else "primary"
        if variant == p.demo_variant:
            return gr.skip()
        p.demo_variant = variant
        return gr.update(variant=variant)

    def _idle_webcam(self, p: PageState) -> None:
        """The webcam widget's own stop sends nothing: a webcam stream with no frame for a while stops itself."""
        if p.webcam is not None and not p.webcam.closed and \
                time.monotonic() - p.last_push > self.config.webcam_idle:
            w = self.registry.get(p.webcam_name or "")
            if w is not None:
                w.stop(timeout=0)
            p.webcam.close()

    @staticmethod
    def _state(status: dict) -> str:
        s = status["state"]
        if s == "reconnecting" and status.get("since"):
            return f"reconnecting since {time.strftime('%H:%M:%S', time.localtime(status['since']))}"
        if s == "error":
            return f"stopped: {status.get('last_error')}"
        return s

    def _status_line(self, w: Watcher, status: dict) -> str:
        s = status["state"]
        if s == "ended":
            return f"**{w.spec.name}** played to its end; its memory stays, ask away."
        if s == "stopped":
            return f"**{w.spec.name}** is stopped; its memory stays, ask away."
        if s == "error":
            return f"**{w.spec.name}** stopped: {html.escape(status.get('last_error') or '')}"
        return f"Watching **{w.spec.name}** ({self._state(status)})."

    def _rules(self, w: Watcher) -> str:
        rules = w.rules()
        if not rules:
            return "*No watch rules on this camera.*"
        rows = []
        for r in rules:
            last = "not checked yet" if r.last is None else \
                f"{'**yes**' if r.last.holds else 'no'} at {time.strftime('%H:%M:%S', time.localtime(r.last.wall))}" \
                + (f": {html.escape(r.last.reason)}" if r.last.reason else "")
            rows.append(f"- *{html.escape(r.text)}*: {r.checks} checks, {r.fired} fired in the last hour; last: {last}")
        return "**Watch rules**\n" + "\n".join(rows)

    def _newest(self, w: Watcher) -> list:
        """The memory browser's clips, newest first: read by index, not by loading the whole stream's clips."""
        store = w.session.store
        return store.get(store.latest(w.spec.name, self.config.gallery_clips))

    def _feed(self, w: Watcher) -> str:
        """The camera's review items (its alerts grouped per activity span), newest first: the newest
        `feed_reviews`, then a count of the older ones (paged over the API)."""
        items = group(w.alerts(), spans_of([w]))
        shown = items[:self.config.feed_reviews]
        cards = [self._review(x, w, newest=i == 0) for i, x in enumerate(shown)]
        older = len(items) - len(shown)
        if older:
            cards.append(f'<div class="older" style="color:#667;font-size:12px;padding:4px 0">and {older} older '
                         f'item{"s" * (older != 1)}: <code>GET /api/v1/reviews?camera={html.escape(w.spec.name)}'
                         f'&amp;before={shown[-1].id}</code></div>')
        return "".join(cards) or "<i>No alerts yet.</i>"

    @staticmethod
    def _kind(a) -> str:
        known = alert_kinds().get(a.kind)
        return known[1].short if known else "Rule" if a.kind == "rule" else a.kind

    def _review(self, x, w: Watcher, newest: bool = False) -> str:
        """One review item: its span, what it holds, its top severity and thumbnail, then each alert on a line, and
        a player of the video of its first alert whose video is written."""
        img = f'<img src="{jpeg_data_uri(x.thumbnail)}" style="height:54px;margin-right:8px;border-radius:4px;' \
              f'flex:none">' if x.thumbnail else ""
        sev = ""
        if x.severity:
            sev = (f'<span style="background:{SEVERITY_COLOURS.get(x.severity, "#607d8b")};color:#fff;'
                   f'border-radius:3px;padding:0 4px;font-size:11px;margin-left:6px">{x.severity}</span>')
        counts: dict[str, int] = {}
        for a in x.alerts:
            counts[self._kind(a)] = counts.get(self._kind(a), 0) + 1
        holds = ", ".join(k + (f" x{n}" if n > 1 else "") for k, n in counts.items())
        noise = ' <span style="color:#c62828;font-size:11px">(noise: random weights)</span>' \
            if any(a.noise for a in x.alerts) else ""
        top = x.top
        text = f"<br>{html.escape(top.description)}" if top.description else ""
        lines = []
        for a in x.alerts:
            reason = f": <i>{html.escape(a.reason)}</i>" if a.reason else ""
            if a is not top and a.description:       # the top alert's words are shown above
                reason += f" ({html.escape(a.description)})"
            lines.append(f"<li>{when_label(a.time, a.wall_time)[-8:]} {self._kind(a)}: "
                         f"{html.escape(a.title or a.message)}{reason}</li>")
        span = span_label(x.start, x.end, x.wall(x.start), x.wall(x.end))
        filmed = next((a for a in x.alerts if w.evidence is not None and w.evidence.ready(a.id)), None)
        player = "" if filmed is None else (
            f'<video class="alert-video" controls muted playsinline preload="metadata" '
            f'src="{VIDEO_PATH.format(id=filmed.id)}" style="width:100%;max-width:420px;margin-top:4px;'
            f'border-radius:4px;background:#000"></video>')
        if player and not newest:                 # older items fold their player away: the feed stays short
            player = f'<details><summary style="font-size:12px;cursor:pointer">video</summary>{player}</details>'
        return (f'<div class="review" data-alerts="{len(x.alerts)}" style="display:flex;align-items:flex-start;'
                f'padding:4px 0;border-bottom:1px solid #eee">{img}<div class="review-text" style="min-width:0;flex:1;'
                f'overflow-wrap:anywhere;white-space:normal"><b>{span}</b> <span style="color:#667">{holds}</span>'
                f'{sev}<br>{html.escape(top.title or top.message)}{noise}{text}'
                f'<ul style="margin:2px 0 0 16px;padding:0;font-size:12px;color:#445">{"".join(lines)}</ul>'
                f'{player}</div></div>')

    def recap_default(self) -> str:
        return self.service.engine.config.recap.default_span if self.service.engine else ""

    def recap(self, when: str, everywhere: bool, name: str, request: gr.Request) -> str:
        """The recap of the span `when` names (this camera, or every camera), as its page in a frame."""
        from app.recap import render_recap_html
        from stream.service.recap import recap
        if self.registry is None:
            raise refuse(self.service.engine_error or "no model is loaded")
        if everywhere:
            watchers = self.registry.cameras()
        else:
            w = self._watcher(self._page(request), name, request)
            watchers = [w] if w is not None else []
        if not watchers:
            raise refuse("no camera yet: start the demo, a file, a URL or your webcam")
        page = render_recap_html(recap(self.service.engine, [w.session for w in watchers], when).to_json())
        return (f'<iframe title="recap" srcdoc="{html.escape(page, quote=True)}" '
                f'style="width:100%;height:640px;border:1px solid #dde;border-radius:8px"></iframe>')

    # ---- API-only -----------------------------------------------------------------------------------------
    def alerts(self, name: str, request: gr.Request) -> list[dict]:
        w = self._watcher(self._page(request), name, request)
        return [a.to_json() for a in w.alerts()] if w else []

    def status(self, request: gr.Request) -> dict:
        if self.registry is None:
            return {}
        return {w.spec.name: vars(w.stats()) for w in self.registry.cameras(request.session_hash)}

    def unload(self, request: gr.Request) -> None:
        """The page went: its webcam and demo streams stop and are forgotten; shared cameras keep running."""
        p = self.pages.pop(request.session_hash)
        if p is not None and p.webcam is not None:
            p.webcam.close()
        if self.registry is not None:
            self.registry.close_owner(request.session_hash)
