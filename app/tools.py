"""What an agent can do with a Vigil server, as tools: ask (one camera or all), search clips, recent alerts, a recap of
a span, the cameras and their status, a camera's live frame, its watch rules. One definition serves both ways in:
`vigil mcp` registers these methods as MCP tools (app/mcp_server.py), and `GET /api/v1/tools` gives the same names,
descriptions and argument schemas in OpenAI's function-calling format. Each tool is a call of the REST API, so an
agent sees exactly what the API allows (credentials, refusals, the random-weights warning)."""
import inspect
import json
from typing import Annotated

import httpx
from pydantic import Field, create_model

Cameras = Annotated[list[str] | None, Field(description="camera names (none: every camera)")]
Camera = Annotated[str, Field(description="a camera's name, as list_cameras gives it")]


class ToolError(ValueError):
    """The server refused a call (the API's own message, one line)."""


class VigilTools:
    """The tools, bound to one Vigil server's API (`url`, the page's credentials when it has them)."""
    NAMES = ("list_cameras", "ask", "search_clips", "recent_alerts", "recap", "live_frame", "set_rules")

    def __init__(self, url: str, auth: tuple[str, str] | None = None, timeout: float = 300.0):
        self.http = httpx.Client(base_url=url.rstrip("/"), auth=auth, timeout=timeout)

    def _get(self, path: str, **params) -> httpx.Response:
        return self._checked(self.http.get(path, params={k: v for k, v in params.items() if v is not None}))

    @staticmethod
    def _checked(r: httpx.Response) -> httpx.Response:
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise ToolError(f"vigil refused ({r.status_code}): {detail if isinstance(detail, str) else json.dumps(detail)}")
        return r

    def list_cameras(self) -> list[dict]:
        """The cameras this Vigil watches: name, state (live, reconnecting, error, ...), figures and watch rules."""
        return [{"name": c["name"], "state": c["status"]["state"], "last_error": c["status"]["last_error"],
                 "clips": c["figures"]["clips"], "rules": [r["rule"] for r in c["rules"]]}
                for c in self._get("/api/v1/cameras").json()]

    def ask(self, question: Annotated[str, Field(description="the question in words; a time in it (\"since 8 am\", "
                                                         "\"10 minutes ago\") limits what is looked at")],
            cameras: Cameras = None) -> dict:
        """Ask what the cameras have seen. One camera: its live view and its memory; several or all: the clips most
        like the question from any of them. Returns the answer, the clips it was shown (camera, times) and a
        warning when the model has random weights (its text is then noise, not an answer)."""
        body = {"question": question}
        if cameras and len(cameras) == 1:
            path = f"/api/v1/cameras/{cameras[0]}/ask"
        else:
            path, body["cameras"] = "/api/v1/ask", cameras
        got = self._checked(self.http.post(path, json=body, headers={"Accept": "application/json"})).json()
        return {"answer": got["answer"], "warning": got["warning"], "error": got["error"],
                "time_asked_about": got["span"]["text"] if got["span"] else None,
                "clips": [{k: c[k] for k in ("camera", "id", "label", "start", "end", "local_start", "caption")}
                          for c in got["clips"]]}

    def search_clips(self, query: Annotated[str | None, Field(description="what to look for, in words")] = None,
                     cameras: Cameras = None,
                     since: Annotated[float | str | None, Field(description="stream seconds, Unix time for live "
                                                                            "cameras, or a clock time HH:MM[:SS] as "
                                                                            "clip labels read")] = None,
                     until: Annotated[float | str | None, Field(description="as since")] = None,
                     limit: Annotated[int, Field(ge=1, le=100)] = 10) -> list[dict]:
        """Stored clips, best match to `query` first (else newest first), with their camera, times and caption."""
        params = [("camera", c) for c in cameras or []] + [(k, v) for k, v in (("q", query), ("since", since),
                                                                               ("until", until), ("limit", limit))
                                                          if v is not None]
        clips = self._checked(self.http.get("/api/v1/clips", params=params)).json()
        return [{k: c[k] for k in ("camera", "id", "label", "start", "end", "local_start", "caption")} for c in clips]

    def recent_alerts(self, camera: Annotated[str | None, Field(description="one camera's (none: all)")] = None,
                      limit: Annotated[int, Field(ge=1, le=100)] = 10) -> list[dict]:
        """The newest alerts: kind, camera, when, title and the model's description."""
        return [{k: a[k] for k in ("id", "kind", "camera", "clock", "local_time", "message", "title",
                                   "description", "severity", "noise")}
                for a in self._get("/api/v1/alerts", camera=camera, limit=limit).json()]

    def recap(self, when: Annotated[str | None, Field(description='the span: "today" (default), "since 8 am", "in the '
                                                             'last 3 hours", "yesterday"')] = None,
              cameras: Cameras = None) -> dict:
        """What happened in a span, per camera: activity, alerts, and per hour its alerts, captions and a few
        sentences. Built from stored facts (no video is re-read); a warning when the model has random weights."""
        params = [("camera", c) for c in cameras or []] + ([("when", when)] if when is not None else [])
        r = self._checked(self.http.get("/api/v1/recap", params=params)).json()
        return {"span": r["span"], "warning": r["warning"],
                "cameras": [{"camera": c["camera"], "clips": c["clips"], "activity_spans": len(c["activity"]),
                             "alerts": c["alerts"],
                             "hours": [{"label": h["label"], "activity_seconds": h["activity_seconds"],
                                        "alerts": [f'{a["label"]} {a["kind"]}: {a["title"]}' for a in h["alerts"]],
                                        "captions": [f'{c["label"]} {c["text"]}' for c in h["captions"]],
                                        "summary": h["summary"]} for h in c["hours"]]}
                            for c in r["cameras"]]}

    def live_frame(self, camera: Camera) -> bytes:
        """The camera's newest sampled frame, a JPEG image."""
        return self._get(f"/api/v1/cameras/{camera}/frame.jpg").content

    def set_rules(self, camera: Camera,
                  rules: Annotated[list[str], Field(description="every watch rule of the camera, in words (\"tell "
                                                               "me when a person enters\"); [] removes them all")]
                  ) -> list[str]:
        """Replace a camera's watch rules (checked by the video LLM on clips with activity); returns them."""
        got = self._checked(self.http.put(f"/api/v1/cameras/{camera}/rules", json={"rules": rules})).json()
        return [r["rule"] for r in got["rules"]]

    def close(self) -> None:
        self.http.close()


def parameters(fn) -> dict:
    """A tool's arguments as JSON schema, from its signature (types, defaults, descriptions)."""
    fields = {n: (p.annotation, ... if p.default is inspect.Parameter.empty else p.default)
              for n, p in inspect.signature(fn).parameters.items() if n != "self"}
    schema = create_model(fn.__name__, **fields).model_json_schema()
    schema.pop("title", None)
    return schema


def description(fn) -> str:
    """A tool's description: its docstring as one paragraph."""
    return " ".join(inspect.getdoc(fn).split())


def openai_tools() -> list[dict]:
    """Every tool in OpenAI's function-calling format."""
    return [{"type": "function", "function": {"name": name, "description": description(getattr(VigilTools, name)),
                                              "parameters": parameters(getattr(VigilTools, name))}}
            for name in VigilTools.NAMES]
