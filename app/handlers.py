"""The live UI's event handlers. `Handlers` holds what the whole app shares (the engine, loaded once; the registry of
browser sessions); everything per page lives in that page's `BrowserSession`. `app.ui` only wires these to
components."""
import html
import re
from pathlib import Path
from urllib.parse import urlparse

import gradio as gr
import numpy as np

from app.config import UIConfig
from app.overlay import overlay
from app.report import jpeg_data_uri
from app.sessions import BrowserSession, Registry
from app.timeline import timeline_svg
from stream.service.alerts import Checker
from stream.clock import clock_label
from stream.config import AlertConfig
from stream.engine import RANDOM_WEIGHTS_WARNING, Engine
from stream.events import activity_spans
from stream.ingest import decode_jpeg
from stream.sources import PushSource, SourceError
from stream.service.watch import Watcher, WatchSpec

MODEL_HELP = ("Start again with `--model PATH` (a Qwen2.5-VL hub id or a local folder with its weights), or with "
              "`--model tiny` for a smoke run with random weights.")


class Handlers:
    def __init__(self, engine: Engine | None, config: UIConfig, error: str | None = None,
                 checker: Checker | None = None):
        self.engine, self.config, self.error, self.checker = engine, config, error, checker
        self.registry = Registry()

    def _session(self, request: gr.Request) -> BrowserSession:
        return self.registry.get(request.session_hash)

    def banner(self) -> str:
        if self.engine is None:
            return f"# Vigil\n\n**The video LLM could not be loaded:** {self.error}\n\n{MODEL_HELP}"
        warn = f"\n\n**{RANDOM_WEIGHTS_WARNING}.** Every answer, caption and rule check is noise." \
            if self.engine.llm.random_weights else ""
        return f"# Vigil\nWatch a camera, a stream or a file; ask about it; get told when something happens.{warn}"

    # ---- sources ------------------------------------------------------------------------------------------
    def _start(self, s: BrowserSession, source, name: str, rules: str, scene: bool, activity: bool,
               webhook: str) -> str:
        if self.engine is None:
            raise gr.Error(f"No model loaded. {MODEL_HELP}")
        running = [n for n, w in s.watchers.items() if w.running]
        if len(running) >= self.config.max_streams:
            raise gr.Error(f"{len(running)} streams are running; stop one first (the limit is {self.config.max_streams})")
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip()).strip("-.") or "stream"
        taken = self.registry.names_in_use()
        base, k = name, 2
        while name in taken:
            name, k = f"{base}-{k}", k + 1
        spec = WatchSpec(name=name, source=source, memory=str(Path(self.config.memory_root) / name),
                         rules=[r for r in (rules or "").splitlines() if r.strip()],
                         alerts=AlertConfig(scene_changes=bool(scene), activity=bool(activity)),
                         webhook=(webhook or "").strip() or None, realtime=self.config.realtime_files)
        try:
            watcher = Watcher(self.engine, spec, checker=self.checker)
        except (SourceError, ValueError, OSError, RuntimeError) as e:
            raise gr.Error(str(e)) from e
        s.watchers[name] = watcher.start()
        s.current = name
        return name

    def _allowed(self, path: str) -> str:
        p = Path(path).expanduser().resolve()
        roots = [Path(r).resolve() for r in self.config.media_roots]
        if not any(p.is_relative_to(r) for r in roots):
            raise gr.Error(f"{path} is outside the folders this server may open ({', '.join(map(str, roots))}); "
                           f"start the UI with --media FOLDER to allow another")
        return str(p)

    def _reply(self, s: BrowserSession, name: str):
        s.shown_names = tuple(s.watchers)
        return f"Started **{name}**.", gr.update(choices=list(s.watchers), value=name)

    def start_demo(self, rules: str, scene: bool, activity: bool, webhook: str, request: gr.Request):
        s = self._session(request)
        return self._reply(s, self._start(s, self.config.demo_clip, "demo", rules, scene, activity, webhook))

    def start_file(self, path: str, upload: str | None, rules: str, scene: bool, activity: bool, webhook: str,
                   request: gr.Request):
        s = self._session(request)
        if upload:
            source = upload                      # Gradio's own upload folder
        elif path and path.strip():
            source = self._allowed(path.strip())
        else:
            raise gr.Error("Give a server path or upload a video file")
        return self._reply(s, self._start(s, source, Path(source).stem, rules, scene, activity, webhook))

    def start_url(self, url: str, rules: str, scene: bool, activity: bool, webhook: str, request: gr.Request):
        s = self._session(request)
        url = (url or "").strip()
        if not (url.isdigit() or urlparse(url).scheme in ("rtsp", "rtsps", "http", "https", "rtmp")):
            raise gr.Error("Give an rtsp://, http(s):// or rtmp:// URL, or a camera index on the server")
        name = urlparse(url).hostname or f"camera{url}"
        return self._reply(s, self._start(s, url, name, rules, scene, activity, webhook))

    def webcam_frame(self, image: np.ndarray | None, rules: str, scene: bool, activity: bool, webhook: str,
                     request: gr.Request):
        """A frame streamed from the browser's webcam; the first one starts the "webcam" stream."""
        if image is None or self.engine is None:
            return
        s = self._session(request)
        if s.webcam is not None and s.webcam.closed:
            ended = next((w for w in s.watchers.values() if w.source is s.webcam), None)
            if ended is not None and ended.stats().error:
                return                       # it stopped on an error (shown on the page): no silent restart
        if s.webcam is None or s.webcam.closed:
            s.webcam = PushSource(self.engine.config.ingest.sampling.max_side)
            self._start(s, s.webcam, "webcam", rules, scene, activity, webhook)
        s.webcam.push(np.ascontiguousarray(image[..., :3], dtype=np.uint8))

    def stop(self, name: str, request: gr.Request) -> str:
        s = self._session(request)
        w = s.watchers.get(name or "") or s.watchers.get(s.current or "")
        if w is None:
            return "Nothing to stop."
        w.stop()
        if s.webcam is not None and w.source is s.webcam:
            s.webcam = None
        return f"Stopped **{w.spec.name}**; its memory stays, ask away."

    def select(self, name: str, request: gr.Request) -> None:
        s = self._session(request)
        s.current, s.focus, s.shown_clips = name, None, -1

    # ---- questions ----------------------------------------------------------------------------------------
    def ask(self, question: str, history: list, name: str, request: gr.Request):
        """Streams the answer into the chat; then shows the clips it used."""
        s = self._session(request)
        history = list(history or [])
        question = (question or "").strip()
        w = s.watchers.get(name or s.current or "")
        if not question:
            yield history, gr.skip(), ""
            return
        if w is None:
            history += [{"role": "user", "content": question},
                        {"role": "assistant", "content": "Start a source first: there is no memory to ask about."}]
            yield history, [], ""
            return
        focus, s.focus = s.focus, None
        answer = w.session.ask(question, clip_ids=[focus] if focus is not None else None)
        if not answer.clips:
            history += [{"role": "user", "content": question},
                        {"role": "assistant", "content": "No clip is stored yet; ask again in a few seconds."}]
            yield history, [], ""
            return
        head = f"**{answer.warning}**\n\n" if answer.warning else ""
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": head}]
        yield history, gr.skip(), ""
        text = ""
        for piece in answer.pieces:
            text += piece
            history[-1] = {"role": "assistant", "content": head + text}
            yield history, gr.skip(), ""
        used = ", ".join(f"{clock_label(c.start)}-{clock_label(c.end)}" for c in answer.clips)
        lost = ", ".join(f"{clock_label(c.start)}-{clock_label(c.end)}" for c in answer.skipped)
        lost = f"; skipped, token file unreadable: {lost}" if lost else ""
        history[-1] = {"role": "assistant", "content": f"{head}{text}\n\n*Clips used: {used} "
                                                       f"({answer.prompt_tokens} prompt tokens){lost}*"}
        gallery = [(decode_jpeg(c.thumbnail), f"{clock_label(c.start)}-{clock_label(c.end)}") for c in answer.clips]
        yield history, gallery, ""

    def pick_clip(self, name: str, evt: gr.SelectData, request: gr.Request) -> tuple[str, str]:
        """A clip picked in the memory browser: the next question is about it."""
        s = self._session(request)
        w = s.watchers.get(name or "") or s.watchers.get(s.current or "")
        clips = self._newest(w) if w else []
        if not 0 <= evt.index < len(clips):
            return gr.skip(), gr.skip()
        c = clips[evt.index]
        s.focus = c.id
        return (f"Next question is about the clip {clock_label(c.start)}-{clock_label(c.end)}.",
                "What happens in this clip?")

    # ---- what the timer refreshes -------------------------------------------------------------------------
    def refresh(self, name: str, request: gr.Request):
        """Live frame with kept tokens, live figures, timeline, alert feed, memory browser, stream picker (when a
        stream started without a click, as the webcam does)."""
        s = self._session(request)
        picker = gr.skip()
        if tuple(s.watchers) != s.shown_names:
            s.shown_names = tuple(s.watchers)
            picker = gr.update(choices=list(s.watchers), value=s.current)
        w = s.watchers.get(name or "") or s.watchers.get(s.current or "")
        if w is None:
            return None, "No stream yet: start the demo, a file, a URL, or your webcam.", "", "", gr.skip(), picker
        st = w.stats()
        view = w.view()
        image = overlay(*view) if view is not None and view[1] is not None else None
        state = "running" if st.running else ("stopped: " + st.error if st.error else "stopped")
        tau = "calibrating" if st.tau is None else f"{st.tau:.2f}"
        figures = (f"**{w.spec.name}** ({state}) | sampled **{st.sampled_fps:.2f} fps** | tokens dropped "
                   f"**{st.drop_ratio:.1%}** (tau {tau}) | encodes skipped **{st.encodes_skipped} of {st.steps}** | "
                   f"lag behind live **{st.lag:.2f} s** | frames skipped {st.frames_skipped} | clips {st.clips} | "
                   f"alerts {st.alerts}")
        series, events = w.series()
        timeline = ""
        if series:
            now = series[-1][1]
            timeline = timeline_svg([x[0] for x in series], [x[1] for x in series], [x[2] for x in series],
                                    [x[3] for x in series], activity_spans(events, now),
                                    [e.time for e in events if e.kind == "scene_change"], now, series[0][0])
        feed = self._feed(w)
        gallery = gr.skip()
        if st.clips != s.shown_clips or w.spec.name != s.current:
            s.shown_clips, s.current = st.clips, w.spec.name
            clips = self._newest(w)
            gallery = [(decode_jpeg(c.thumbnail), f"{clock_label(c.start)}-{clock_label(c.end)}"
                        + (f" {c.caption}" if c.caption else "")) for c in clips]
        return image, figures, timeline, feed, gallery, picker

    def _newest(self, w: Watcher) -> list:
        """The memory browser's clips, newest first: read by index, not by loading the whole stream's clips."""
        store = w.session.store
        return store.get(store.latest(w.spec.name, self.config.gallery_clips))

    def _feed(self, w: Watcher) -> str:
        items = []
        for a in w.alerts()[:self.config.feed_alerts]:
            img = f'<img src="{jpeg_data_uri(a.thumbnail)}" style="height:54px;margin-right:8px;border-radius:4px">' \
                if a.thumbnail else ""
            reason = f"<br><i>{html.escape(a.reason)}</i>" if a.reason else ""
            items.append(f'<div class="alert" style="display:flex;align-items:center;padding:4px 0;'
                         f'border-bottom:1px solid #eee">{img}<div><b>{clock_label(a.time)}</b> {html.escape(a.kind)}: '
                         f'{html.escape(a.message)}{reason}</div></div>')
        return "".join(items) or "<i>No alerts yet.</i>"

    # ---- API-only -----------------------------------------------------------------------------------------
    def alerts(self, name: str, request: gr.Request) -> list[dict]:
        w = self._session(request).watchers.get(name or "")
        return [a.to_json() for a in w.alerts()] if w else []

    def status(self, request: gr.Request) -> dict:
        s = self._session(request)
        return {n: vars(w.stats()) for n, w in s.watchers.items()}

    def unload(self, request: gr.Request) -> None:
        self.registry.close(request.session_hash)
