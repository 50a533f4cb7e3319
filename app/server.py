"""One HTTP server for the page and the API: FastAPI with the API routes, the Gradio page mounted at `/`, run by
uvicorn. `serve` runs it in the foreground; tests start it on a thread (`Server.start`) and stop it."""
import signal
import socket
import threading

import gradio as gr
import uvicorn
from starlette.routing import Mount

from app.api import app_with_api
from app.handlers import Handlers
from app.service import Service
from app.ui import CSS, build


def build_app(service: Service, handlers: Handlers):
    page = build(handlers)
    app = app_with_api(service)
    c = service.config
    app = gr.mount_gradio_app(app, page, path="/", auth=c.auth, css=CSS, footer_links=["api"],
                              max_file_size=f"{c.max_upload_mb}mb", server_name=c.host, server_port=c.port)
    mounted = next(r.app for r in app.routes if isinstance(r, Mount) and hasattr(r.app, "tokens"))
    service.page_user = lambda request: page_user(mounted, request)
    return app


def page_user(page_app, request) -> str | None:
    """The user a request's Gradio login cookie names, or None. Gradio keeps logins in its app's `tokens`, keyed by
    the cookie `access-token-{cookie_id}` (or its `-unsecure-` twin on plain HTTP): gradio.routes.get_current_user."""
    token = request.cookies.get(f"access-token-{page_app.cookie_id}") or \
        request.cookies.get(f"access-token-unsecure-{page_app.cookie_id}")
    return page_app.tokens.get(token) if token else None


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, as uvicorn binds one; a port in use is a one-line ValueError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror or e}; is another server using the port? "
                         f"give another with --port") from None
    sock.set_inheritable(True)
    return sock


class Server:
    def __init__(self, service: Service, handlers: Handlers, port: int | None = None):
        """Binds the port now, so that a port in use fails before any camera starts."""
        self.service = service
        c = service.config
        self._socket = listen(c.host, port or c.port)
        try:
            self.app = build_app(service, handlers)
        except BaseException:
            self._socket.close()
            raise
        self._server = uvicorn.Server(uvicorn.Config(self.app, host=c.host, port=port or c.port, log_level="warning",
                                                     timeout_graceful_shutdown=2))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        c = self._server.config
        return f"http://{c.host}:{c.port}"

    def run(self) -> None:
        """In the foreground until Ctrl-C (uvicorn handles the signal), then every camera stops and keeps its memory."""
        def stop(signum, frame):
            raise KeyboardInterrupt
        # uvicorn stops on SIGTERM and then raises it again with the handler that was there before: the default one
        # would end the process before the cameras stop and the sinks say so; this one unwinds like Ctrl-C.
        before = signal.signal(signal.SIGTERM, stop)
        try:
            self._server.run(sockets=[self._socket])
        finally:
            signal.signal(signal.SIGTERM, before)
            self.service.close()

    def start(self, timeout: float = 30.0) -> "Server":
        self._thread = threading.Thread(target=self._server.run, args=([self._socket],), name="vigil-http",
                                        daemon=True)
        self._thread.start()
        ready = threading.Event()
        # uvicorn sets `started` once it listens; poll it on a short wait (no callback exists for it)
        for _ in range(int(timeout / 0.05)):
            if self._server.started or ready.wait(0.05) or not self._thread.is_alive():
                break
        if not self._server.started:
            raise RuntimeError(f"the server did not start on {self.url}")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.service.close()
