"""Start and stop a real OpenAI-compatible server (`transformers serve`) for tests that answer through one.

The server is transformers' own CLI, run as a subprocess with this interpreter, pinned to one model folder (see
models/served.py), on a free port of 127.0.0.1, offline. Its output goes to a log file, not a pipe: a pipe nobody
reads fills up and stalls the server; the file's tail is what a failed start reports.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunningServer:
    base_url: str                 # "http://127.0.0.1:PORT/v1", for openai.OpenAI(base_url=...)
    model: str                    # the `model` every request must name: the server is pinned to this folder
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        """End the server's whole process group: SIGTERM, then SIGKILL if it has not gone in 10 s."""
        if self.process.poll() is None:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.process.pid, sig)
                    self.process.wait(wait)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_folder: str | Path, timeout: float = 120.0, log: Path | None = None) -> RunningServer:
    """Launch `transformers serve MODEL_FOLDER` and return once `/health` answers (the model is loaded before the
    server listens, so that means ready; `/v1/models` is no probe: it scans the hub cache, and answers 500 where
    there is none). Raises RuntimeError with the server's log tail if it dies or is not up in `timeout` seconds."""
    model = str(Path(model_folder).resolve())
    if "@" in model:      # the server reads `name@revision`
        raise ValueError(f"the server cannot load a folder whose path holds '@': {model}")
    port = _free_port()
    log = Path(log) if log else Path(tempfile.mkstemp(prefix="answer-server-", suffix=".log")[1])
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_UPDATE_CHECK="1")
    # The server loads with a device_map whatever --device says, so it needs `accelerate` (transformers[serving]).
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", model,
               "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, start_new_session=True)   # its own process group, for stop()
    server = RunningServer(f"http://127.0.0.1:{port}/v1", model, process, log)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"transformers serve exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"transformers serve not up after {timeout:.0f} s:\n{server.log_tail()}")
        time.sleep(0.25)
