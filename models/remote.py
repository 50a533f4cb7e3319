"""Answers from an OpenAI-compatible chat-completions server (vLLM, Ollama, llama.cpp's server, `transformers serve`,
a cloud API) instead of the local video LLM.

A server takes images, not Vigil's stored tokens: each clip is sent as its keyframes (small JPEGs kept with it), each
after its time as text, all in one streamed request. The model lives in another process or machine, so an answer
takes no turn on the engine's model gate: ingestion never waits on a server, however slow or dead it is.
"""
import base64
import json
import os
import random
import re
import time
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from models.backend import PromptClip, PromptFrame
from models.config import ServerConfig

SYSTEM_PROMPT = ("You are Vigil, an assistant that watches a video stream. You are shown frames from your memory of "
                 "the stream, grouped by clip; each clip comes after its time span and each frame after its time. "
                 "Answer the question about what you saw.")
# Sent as the key when none is set: local servers (vLLM, Ollama, llama.cpp) take any, the client insists on one.
NO_KEY = "none"
ERROR_CHARS = 200                   # a server's own message, cut to keep Vigil's error one readable line
RETRIED_STATUS = (408, 409, 429)    # and every 5xx: the server is busy or failing, not refusing this request


class ServerError(RuntimeError):
    """The answer server failed; the message is one line that says what to do."""


@dataclass
class RequestSize:
    """What one question sends a server."""
    frames: int                     # images in the request
    bytes: int                      # the request body (JSON with base64 images)


def pick_frames(clips: list[PromptClip], max_frames: int) -> list[list[PromptFrame]]:
    """Each clip's frames to send, at most `max_frames` in all: evenly spaced over all frames in time order (so a
    long span is covered, not its start), the newest always among them. [clips] lists of frames, some maybe empty."""
    flat = [(i, f) for i, c in enumerate(clips) for f in c.frames]
    if len(flat) <= max_frames:
        chosen = set(range(len(flat)))
    elif max_frames == 1:
        chosen = {len(flat) - 1}
    else:
        chosen = set(np.unique(np.linspace(0, len(flat) - 1, max_frames).round().astype(int)).tolist())
    out: list[list[PromptFrame]] = [[] for _ in clips]
    for j, (i, f) in enumerate(flat):
        if j in chosen:
            out[i].append(f)
    return out


def public_url(url: str) -> str:
    """The URL without any user:password in it, for messages and pages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))


def _image(jpeg: bytes) -> dict:
    return {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()}}


def _one_line(e: BaseException) -> str:
    """A server's or client's message as one short line."""
    body = getattr(e, "body", None)
    # OpenAI's servers put it in {"error": {"message"}} (the client hands over the inner dict), FastAPI-based ones
    # (`transformers serve`) in {"detail"}.
    text = (body.get("message") or body.get("detail") or body.get("error")) if isinstance(body, dict) else None
    text = str(text or e or type(e).__name__)
    text = re.sub(r"^\[Errno -?\d+\] ", "", " ".join(text.split())).rstrip(". ")   # "Connection refused" is enough
    return text[:ERROR_CHARS] + ("..." if len(text) > ERROR_CHARS else "")


class ServerAnswerer:
    """Answers, captions and rule checks from a server; the same `answer` as a local `VideoLLM`."""
    remote = True

    def __init__(self, config: ServerConfig, max_new_tokens: int, random_weights: bool = False, client=None):
        import openai

        self.config, self.max_new_tokens = config, max_new_tokens
        self.name, self.url = config.model, public_url(config.url)
        # The server's weights are not ours to see: True only when the model named is a tiny test build on this disk.
        self.random_weights = random_weights
        self.client = client or openai.OpenAI(
            # Retries are `_open`'s: the client's own would retry a read timeout too, each costing the whole timeout.
            base_url=config.url, api_key=os.environ.get(config.api_key_env) or NO_KEY, max_retries=0,
            timeout=openai.Timeout(config.timeout, connect=config.connect_timeout))

    def messages(self, question: str, clips: list[PromptClip], context: str = "") -> list[dict]:
        """The chat messages for a question: the clips' labels, each sent frame after its time, then the question."""
        content: list[dict] = []
        for clip, frames in zip(clips, pick_frames(clips, self.config.max_frames)):
            if not frames:
                continue
            content.append({"type": "text", "text": f"Clip {clip.label}:"})
            for f in frames:
                content += [{"type": "text", "text": f"Frame at {f.label}:"}, _image(f.jpeg)]
        content.append({"type": "text", "text": (f"{context}\n" if context else "") + f"Question: {question.strip()}"})
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]

    def request_size(self, question: str, clips: list[PromptClip], context: str = "") -> RequestSize:
        messages = self.messages(question, clips, context)
        frames = sum(p["type"] == "image_url" for p in messages[1]["content"])
        return RequestSize(frames, len(json.dumps({"model": self.config.model, "messages": messages})))

    def prompt_size(self, question: str, clips: list[PromptClip], context: str = "") -> int | None:
        """Unknown here: the server's tokenizer counts a prompt's tokens (images included), not ours."""
        return None

    def _open(self, **request):
        """The streamed request, retried with exponential backoff and jitter (honouring a server's Retry-After up to
        the cap) when it may succeed later: a connection that failed or timed out at connect, 408, 409, 429, 5xx.
        A server that connected and then said nothing for `timeout` is not asked again: its one line comes then."""
        import openai

        c = self.config
        for attempt in range(c.retries + 1):
            last = attempt == c.retries
            wait = None
            try:
                return self.client.chat.completions.create(**request)
            except openai.APIStatusError as e:
                if last or not (e.status_code in RETRIED_STATUS or e.status_code >= 500):
                    raise
                try:
                    wait = float(e.response.headers.get("retry-after", ""))
                except ValueError:
                    pass
            except openai.APITimeoutError as e:
                if last or type(e.__cause__).__name__ != "ConnectTimeout":
                    raise
            except openai.APIConnectionError:
                if last:
                    raise
            backoff = min(c.backoff_max, c.backoff * 2 ** attempt) * random.uniform(0.75, 1.0)
            time.sleep(min(c.backoff_max, wait) if wait and wait > 0 else backoff)

    def answer(self, question: str, clips: list[PromptClip], context: str = "",
               max_new_tokens: int | None = None, turn=None) -> Iterator[str]:
        """Stream the answer text. `turn` is ignored: the model is the server's, not the engine's. ServerError (one
        line) when the server is down, slow, busy after the retries, refuses the request, or breaks the stream."""
        import openai

        url, model = self.url, self.config.model
        try:
            stream = self._open(model=model, messages=self.messages(question, clips, context), stream=True,
                                temperature=0, max_tokens=max_new_tokens or self.max_new_tokens)
        except openai.APITimeoutError as e:
            if type(e.__cause__).__name__ == "ConnectTimeout":
                raise ServerError(f"answer server {url} is unreachable (no connection within "
                                  f"{self.config.connect_timeout:g} s) after {self.config.retries} retries; is it "
                                  "running?") from None
            raise ServerError(f"answer server {url} did not answer within {self.config.timeout:g} s") from None
        except openai.APIConnectionError as e:
            raise ServerError(f"answer server {url} is unreachable ({_one_line(e.__cause__ or e)}) after "
                              f"{self.config.retries} retries; is it running?") from None
        except openai.AuthenticationError as e:
            raise ServerError(f"answer server {url} refused the API key ({_one_line(e)}); set it in "
                              f"${self.config.api_key_env}") from None
        except openai.NotFoundError as e:
            if "model" in _one_line(e).lower():
                raise ServerError(f"answer server {url} has no model {model!r} ({_one_line(e)}); give the name it "
                                  "serves with --answer-model") from None
            raise ServerError(f"answer server {url} has no chat-completions endpoint there ({_one_line(e)}); is the "
                              "URL right? It usually ends in /v1") from None
        except openai.APIStatusError as e:
            if e.status_code == 429 or e.status_code >= 500:
                raise ServerError(f"answer server {url} is busy or failing (HTTP {e.status_code}: {_one_line(e)}) "
                                  f"after {self.config.retries} retries") from None
            image = "image" in str(e).lower() or "multimodal" in str(e).lower() or "vision" in str(e).lower()
            hint = f"; is {model!r} a vision model?" if image else ""
            raise ServerError(f"answer server {url} refused the request (HTTP {e.status_code}: {_one_line(e)})"
                              f"{hint}") from None
        pieces, finished = 0, False
        try:
            with stream:
                for chunk in stream:
                    for choice in chunk.choices or []:
                        text = choice.delta.content if choice.delta is not None else None
                        finished = finished or choice.finish_reason is not None
                        if text:
                            pieces += 1
                            yield text
        except openai.APIError as e:            # an error event in the stream
            raise ServerError(f"answer server {url} failed mid-answer after {pieces} pieces: {_one_line(e)}") from None
        except Exception as e:                  # the connection dropped or timed out mid-stream (httpx's own types)
            raise ServerError(f"answer stream from {url} broke after {pieces} pieces ({type(e).__name__}: "
                              f"{_one_line(e)})") from None
        if not finished:                        # the connection closed before the server said the answer ended
            raise ServerError(f"answer stream from {url} broke after {pieces} pieces (it ended without finishing)")
