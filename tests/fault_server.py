"""A hand-written OpenAI-style server for FAULT INJECTION ONLY (500s, 429s, hangs, a stream dropped mid-answer, a
refusal of images). Real answers in tests come from a real server (models/served.py)."""
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Faults:
    """What the server does to each request, in order; the last entry repeats. Entries: "ok" (streams `pieces`),
    an int (that HTTP status), "hang" (reads the request, then says nothing for `hang_s`), "drop" (streams one piece,
    then closes the connection), "refuse_images" (400 saying the model takes no images)."""
    plan: list = field(default_factory=lambda: ["ok"])
    pieces: tuple = ("a ", "person ", "walks")
    hang_s: float = 30.0
    requests: list = field(default_factory=list)        # (time, parsed body) of each request
    release: threading.Event = field(default_factory=threading.Event)   # ends a hang early


def _chunk(text: str | None, finish: str | None = None) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake",
            "choices": [{"index": 0, "delta": {"content": text} if text else {}, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


class FaultServer:
    def __init__(self, faults: Faults):
        self.faults = faults
        faults_ = faults

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                n = len(faults_.requests)
                faults_.requests.append((time.monotonic(), body))
                what = faults_.plan[min(n, len(faults_.plan) - 1)]
                if isinstance(what, int):
                    self._json(what, {"error": {"message": f"injected HTTP {what}", "type": "server_error"}})
                elif what == "refuse_images":
                    self._json(400, {"error": {"message": "this model does not support image input",
                                               "type": "invalid_request_error"}})
                elif what == "hang":
                    faults_.release.wait(faults_.hang_s)
                    self.close_connection = True
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    pieces = faults_.pieces[:1] if what == "drop" else faults_.pieces
                    for p in pieces:
                        self.wfile.write(_chunk(p))
                        self.wfile.flush()
                    if what == "drop":             # no finish, no [DONE]: the connection just ends
                        self.close_connection = True
                        return
                    self.wfile.write(_chunk(None, "stop") + b"data: [DONE]\n\n")
                    self.close_connection = True

            def _json(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Retry-After", getattr(faults_, "retry_after", "0"))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self.faults.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
