"""The REST API through real HTTP (uvicorn on 127.0.0.1), as another program would use it: cameras, questions
streamed as server-sent events, clip search, alerts and their stream, auth."""
import json
import threading

import httpx

from tests.app.test_ui_api import wait_for


def events(lines):
    """(event, data) pairs of a server-sent event stream, as they arrive."""
    event = None
    for line in lines:
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, json.loads(line[6:])


def test_cameras_questions_clips_and_alerts_over_http(serve, videos):
    url, handlers = serve(realtime_files=False)
    api = httpx.Client(base_url=url, timeout=60)
    assert api.get("/health").json()["random_weights"] is True
    # Alerts streamed as they come: a listener connected before the camera starts receives its alerts.
    got, connected = [], threading.Event()

    def listen():
        try:
            with httpx.stream("GET", url + "api/v1/alerts/stream", timeout=120) as s:
                lines = s.iter_lines()
                if next(lines).startswith(": connected"):
                    connected.set()
                for kind, data in events(lines):
                    got.append(data)
        except httpx.HTTPError:         # the server stops at the test's end, mid-stream
            pass
    threading.Thread(target=listen, daemon=True).start()
    assert connected.wait(10)
    r = api.post("/api/v1/cameras", json={"name": "room", "source": str(videos / "one-by-one-person-detection.mp4"),
                                          "rules": ["a person enters"]})
    assert r.status_code == 201 and r.json()["status"]["state"] in ("playing", "ended")
    assert r.json()["source"] == "one-by-one-person-detection.mp4"          # no server path
    # Refusals: a name taken (409), a path outside the media folders (400, without the path), an unknown camera.
    again = api.post("/api/v1/cameras", json={"name": "room", "source": str(videos / "bikes.mp4")})
    assert again.status_code == 409 and "already running" in again.json()["detail"]
    outside = api.post("/api/v1/cameras", json={"name": "x", "source": "/etc/passwd"})
    assert outside.status_code == 400 and "/etc" not in outside.json()["detail"]
    assert api.get("/api/v1/cameras/nope/clips").status_code == 404

    cams = wait_for(lambda: [c for c in api.get("/api/v1/cameras").json() if c["status"]["state"] == "ended"])
    room = cams[0]
    assert room["figures"]["clips"] > 3 and room["rules"][0]["checks"] > 0
    recent = api.get("/api/v1/alerts").json()
    assert recent and {a["stream"] for a in recent} == {"room"}
    # Every alert raised reached the listener (descriptions may follow as updates of the same id).
    try:
        wait_for(lambda: {a["id"] for a in got} >= {a["id"] for a in recent}, timeout=20)
    except AssertionError:
        raise AssertionError(f"{[a['id'] for a in got]} {[a['id'] for a in recent]}")
    assert all(a["stream"] == "room" for a in got)

    # A question: pieces of the answer as `answer` events, then the clips used, then done.
    with api.stream("POST", "/api/v1/cameras/room/ask", json={"question": "When did someone come in?"}) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        stream = list(events(s.iter_lines()))
    kinds = [k for k, _ in stream]
    assert kinds[0] == "warning" and "RANDOM WEIGHTS" in stream[0][1]["text"]
    assert kinds.count("answer") >= 1 and kinds[-2:] == ["clips", "done"]
    used = stream[-2][1]
    assert used["clips"] and used["prompt_tokens"] > 0
    # Clips by time range and text; thumbnails are JPEGs.
    every = api.get("/api/v1/cameras/room/clips", params={"limit": 1000}).json()
    assert len(every) == room["figures"]["clips"]
    # A bound inside a clip: that clip is in (it spans the bound), and nothing that overlaps is missing.
    since = next(c for c in every if c["end"] - c["start"] > 1)
    since = (since["start"] + since["end"]) / 2
    clips = api.get("/api/v1/cameras/room/clips", params={"since": since, "until": since + 20}).json()
    want = {c["id"] for c in every if c["end"] >= since and c["start"] <= since + 20}
    assert {c["id"] for c in clips} == want and any(c["start"] < since < c["end"] for c in clips)
    ranked = api.get("/api/v1/cameras/room/clips", params={"q": "a person", "limit": 3}).json()
    assert len(ranked) == 3
    thumb = api.get(ranked[0]["thumbnail"])
    assert thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
    # Rules replaced on a running camera, then the camera removed.
    r = api.put("/api/v1/cameras/room/rules", json={"rules": ["a dog"]})
    assert [x["rule"] for x in r.json()["rules"]] == ["a dog"]
    assert api.delete("/api/v1/cameras/room").status_code == 200
    assert api.get("/api/v1/cameras").json() == []


def test_api_asks_for_the_page_credentials_when_it_has_them(serve):
    url, handlers = serve(auth=("admin", "s3cret"))
    assert httpx.get(url + "api/v1/cameras").status_code == 401
    assert httpx.get(url + "api/v1/cameras", auth=("admin", "wrong")).status_code == 401
    assert httpx.get(url + "api/v1/cameras", auth=("admin", "s3cret")).json() == []
    assert httpx.get(url + "health", auth=("admin", "s3cret")).status_code == 200
    for doc in ("openapi.json", "docs", "redoc", "metrics"):     # the schema, its viewers and the metrics too
        assert httpx.get(url + doc).status_code == 401, doc
        assert httpx.get(url + doc, auth=("admin", "s3cret")).status_code == 200, doc
    assert "/api/v1/cameras" in httpx.get(url + "openapi.json", auth=("admin", "s3cret")).json()["paths"]
    # A browser logged in to the page passes with its login cookie (the page's video players fetch the API).
    with httpx.Client(base_url=url) as page:
        assert page.post("login", data={"username": "admin", "password": "wrong"}).status_code >= 400
        assert page.get("api/v1/cameras").status_code == 401
        assert page.post("login", data={"username": "admin", "password": "s3cret"}).status_code == 200
        assert page.cookies and page.get("api/v1/cameras").json() == []
        page.cookies.set(next(iter(page.cookies.keys())), "forged")
        assert page.get("api/v1/cameras").status_code == 401


def test_the_api_docs_open_without_credentials_when_the_page_has_none(serve):
    url, _ = serve()
    assert "/api/v1/cameras" in httpx.get(url + "openapi.json").json()["paths"]
    assert "swagger-ui" in httpx.get(url + "docs").text and "redoc" in httpx.get(url + "redoc").text


def test_the_api_docs_load_every_asset_from_vigil_so_they_work_offline(serve):
    """Swagger UI and ReDoc: every script, style and icon their pages name is served by Vigil (none from a CDN),
    behind the page's credentials like the rest; and the page renders in a real browser with no network."""
    import re
    url, _ = serve(auth=("admin", "s3cret"))
    auth = ("admin", "s3cret")
    for page in ("docs", "redoc"):
        html = httpx.get(url + page, auth=auth).text
        refs = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert refs and all(r.startswith("/docs-assets/") for r in refs), refs
        for ref in refs:
            got = httpx.get(url + ref.lstrip("/"), auth=auth)
            assert got.status_code == 200 and len(got.content) > 100, ref
            assert httpx.get(url + ref.lstrip("/")).status_code == 401
    assert httpx.get(url + "docs-assets/../../etc/passwd", auth=auth).status_code == 404
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-proxy-server"])
        context = browser.new_context(http_credentials={"username": "admin", "password": "s3cret"})
        page = context.new_page()
        page.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())   # no internet
        page.goto(url + "docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
        assert "Vigil" in page.inner_text(".swagger-ui .info .title")
        assert page.locator(".opblock").count() >= 5                    # the API's routes, drawn
        browser.close()


def test_a_qwen3_camera_answers_with_a_time_and_the_live_window(serve, videos, model_config):
    from dataclasses import replace

    from models.loader import load_llm
    url, _ = serve(model=load_llm(replace(model_config, llm="tiny-qwen3-vl")), realtime_files=False)
    api = httpx.Client(base_url=url, timeout=60)
    assert api.post("/api/v1/cameras", json={"name": "bikes", "source": str(videos / "bikes.mp4")}).status_code == 201
    wait_for(lambda: [c for c in api.get("/api/v1/cameras").json() if c["status"]["state"] == "ended"])

    def ask(question):
        with api.stream("POST", "/api/v1/cameras/bikes/ask", json={"question": question}) as s:
            stream = list(events(s.iter_lines()))
        assert [k for k, _ in stream][-2:] == ["clips", "done"] and "RANDOM WEIGHTS" in stream[-2][1]["warning"]
        return stream[-2][1]
    early = ask("What happened in the first 4 seconds?")
    assert early["span"]["phrase"] == "in the first 4 seconds" and early["clips"]
    assert all(c["start"] <= 4.0 for c in early["clips"]) and early["window"] is None    # the window is later
    now = ask("What is happening?")                  # the stream ran here: its newest steps are shown whole
    assert now["span"] is None and now["window"]["tokens"] > 0
    assert all(c["start"] < now["window"]["start"] for c in now["clips"])


def _server_answerer(url: str, model: str, **config):
    from models.config import ServerConfig
    from models.remote import ServerAnswerer
    from models.tiny import is_random
    return ServerAnswerer(ServerConfig(url=url, model=model, **config), 16, random_weights=is_random(model))


def test_a_camera_answers_through_a_real_answer_server(serve, videos, answer_server):
    """`transformers serve` with a tiny LLaVA answers: the keyframes go as images, the answer streams as pieces."""
    url, _ = serve(answerer=_server_answerer(answer_server.base_url, answer_server.model), realtime_files=False)
    api = httpx.Client(base_url=url, timeout=60)
    assert api.post("/api/v1/cameras", json={"name": "bikes", "source": str(videos / "bikes.mp4")}).status_code == 201
    wait_for(lambda: [c for c in api.get("/api/v1/cameras").json() if c["status"]["state"] == "ended"])
    with api.stream("POST", "/api/v1/cameras/bikes/ask", json={"question": "What changed?"}) as s:
        stream = list(events(s.iter_lines()))
    kinds = [k for k, _ in stream]
    assert kinds[0] == "warning" and "RANDOM WEIGHTS" in stream[0][1]["text"]    # the served folder is a tiny build
    assert kinds.count("answer") >= 2 and "".join(d["text"] for k, d in stream if k == "answer").strip()
    clips = stream[-2][1]
    assert kinds[-2:] == ["clips", "done"] and clips["prompt_tokens"] is None
    assert clips["sent"]["frames"] >= len(clips["clips"]) >= 1 and clips["sent"]["bytes"] > 1000


def test_a_dead_answer_server_is_one_line_in_the_stream_and_ingestion_goes_on(serve, videos):
    url, handlers = serve(answerer=_server_answerer("http://127.0.0.1:9/v1", "m", retries=0))   # played as live
    api = httpx.Client(base_url=url, timeout=60)
    handlers.service.add("bikes", str(videos / "bikes.mp4"), checked=True, loop=True)
    wait_for(lambda: handlers.registry.get("bikes").stats().clips >= 1)
    with api.stream("POST", "/api/v1/cameras/bikes/ask", json={"question": "What changed?"}) as s:
        stream = list(events(s.iter_lines()))
    errors = [d["text"] for k, d in stream if k == "error"]
    assert len(errors) == 1 and "http://127.0.0.1:9/v1 is unreachable" in errors[0] and "\n" not in errors[0]
    assert [k for k, _ in stream][-2:] == ["clips", "done"]
    clips = handlers.registry.get("bikes").stats().clips
    wait_for(lambda: handlers.registry.get("bikes").stats().clips > clips, timeout=60)     # the camera goes on


def test_odd_input_is_a_422_never_a_500(serve, videos):
    """A lone surrogate, NaN, an infinity, a huge id: each is refused at the API's edge with a reason."""
    url, handlers = serve()
    api = httpx.Client(base_url=url.rstrip("/"), timeout=60)
    assert api.post("/api/v1/cameras", json={"name": "bikes", "source": str(videos / "bikes.mp4")}).status_code == 201
    for body in ('{"question": "\\ud800 what"}', '{"question": "what?", "at": NaN}', '{"question": "what?", "at": 1e400}',
                 '{"question": "what?", "at": -Infinity}', '{"question": "what?", "at": 1e300}'):
        r = api.post("/api/v1/cameras/bikes/ask", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.text)
    r = api.post("/api/v1/cameras/bikes/ask", content='{"question": "\\ud800 what"}',
                 headers={"content-type": "application/json"})
    assert "unicode string" in r.text and r.json()["detail"][0]["loc"] == ["body", "question"]
    for cid in (2 ** 63, 10 ** 30, -1):
        assert api.get(f"/api/v1/cameras/bikes/clips/{cid}/thumbnail.jpg").status_code == 422, cid
    assert api.get("/api/v1/cameras/bikes/clips/9223372036854775807/thumbnail.jpg").status_code == 404
    assert api.get("/api/v1/cameras/bikes/clips", params={"since": "nan"}).status_code == 422
    assert api.put("/api/v1/cameras/bikes/rules", content='{"rules": ["\\udfff"]}',
                   headers={"content-type": "application/json"}).status_code == 422
    for rules in ([""], ["a dog", "   "]):                      # an empty rule would clear every rule silently
        r = api.put("/api/v1/cameras/bikes/rules", json={"rules": rules})
        assert r.status_code == 422 and "a rule must say something" in r.text, rules
    assert api.put("/api/v1/cameras/bikes/rules", json={"rules": []}).json()["rules"] == []   # cleared on purpose
    api.delete("/api/v1/cameras/bikes")


def test_a_deleted_camera_can_be_added_again_at_once_and_no_message_names_a_server_path(serve, videos, tmp_path):
    """DELETE returns once the camera's memory folder is released, so the same camera can be added back at once
    (it continues its memory); refusals name no server path (the memory root, the media folders)."""
    url, _ = serve()
    api = httpx.Client(base_url=url, timeout=60)
    room = {"name": "room", "source": str(videos / "one-by-one-person-detection.mp4")}
    for _ in range(3):
        r = api.post("/api/v1/cameras", json=room)
        assert r.status_code == 201, r.text
        wait_for(lambda: api.get("/api/v1/cameras").json()[0]["figures"]["steps"] >= 1, timeout=60)
        assert api.delete("/api/v1/cameras/room").status_code == 200
    r = api.post("/api/v1/cameras", json=room)
    assert r.status_code == 201, r.text
    r = api.post("/api/v1/cameras", json={**room, "name": "room"})          # the name is taken: refused
    assert r.status_code == 409 and str(tmp_path) not in r.text
    bad = api.post("/api/v1/cameras", json={"name": "x", "source": str(tmp_path / "nothing.mp4")})
    assert bad.status_code == 400 and str(tmp_path) not in bad.text, bad.text
    listed = api.get("/api/v1/cameras").text
    assert str(tmp_path) not in listed and str(videos) not in listed


def test_a_question_and_a_clip_search_across_cameras(serve, videos):
    """POST /api/v1/ask and GET /api/v1/clips over two cameras: the answer's clips name their cameras and stay in
    one budget; a JSON reply for scripts; the clip search spans cameras, filtered by camera and time."""
    url, _ = serve(realtime_files=False)
    api = httpx.Client(base_url=url, timeout=60)
    for name, clip in (("room", "one-by-one-person-detection.mp4"), ("street", "vtest.avi")):
        assert api.post("/api/v1/cameras", json={"name": name, "source": str(videos / clip)}).status_code == 201
    wait_for(lambda: all(c["status"]["state"] == "ended" for c in api.get("/api/v1/cameras").json()), timeout=300)
    assert api.get("/api/v1/cameras/street").json()["name"] == "street"
    assert api.get("/api/v1/cameras/nope").status_code == 404

    with api.stream("POST", "/api/v1/ask", json={"question": "Where did someone walk?"}) as s:
        stream = list(events(s.iter_lines()))
    assert [k for k, _ in stream][-2:] == ["clips", "done"] and "RANDOM WEIGHTS" in stream[0][1]["text"]
    used = stream[-2][1]
    assert used["clips"] and {c["camera"] for c in used["clips"]} <= {"room", "street"}
    assert sum(c["tokens"] for c in used["clips"]) <= 2048 and used["window"] is None
    for c in used["clips"]:                    # each clip's thumbnail under its own camera
        assert c["thumbnail"].startswith(f"/api/v1/cameras/{c['camera']}/clips/")
        assert api.get(c["thumbnail"]).status_code == 200
    plain = api.post("/api/v1/ask", json={"question": "Where did someone walk?", "cameras": ["street"]},
                     headers={"Accept": "application/json"})
    assert plain.headers["content-type"].startswith("application/json")
    got = plain.json()
    assert got["asked"] and got["answer"] and {c["camera"] for c in got["clips"]} == {"street"}
    assert api.post("/api/v1/ask", json={"question": "hi", "cameras": ["nope"]}).status_code == 404
    assert api.post("/api/v1/ask", json={"question": "what happened at 10 pm?"}).status_code == 422

    every = api.get("/api/v1/clips", params={"limit": 1000}).json()
    per = {n: api.get(f"/api/v1/cameras/{n}/clips", params={"limit": 1000}).json() for n in ("room", "street")}
    assert sorted((c["camera"], c["id"]) for c in every) == \
        sorted((n, c["id"]) for n, clips in per.items() for c in clips)
    only = api.get("/api/v1/clips", params=[("camera", "street"), ("limit", 1000)]).json()
    assert [c["id"] for c in only] == [c["id"] for c in per["street"]]
    early = api.get("/api/v1/clips", params={"until": 10, "limit": 1000}).json()
    assert {(c["camera"], c["id"]) for c in early} == {(c["camera"], c["id"]) for c in every if c["start"] <= 10}
    # The page's labels as bounds: a file's clips by their stream time "HH:MM:SS" (before: a 422)
    assert api.get("/api/v1/clips", params={"until": "00:00:10", "limit": 1000}).json() == early
    late = api.get("/api/v1/clips", params={"since": "00:00:20", "limit": 1000}).json()
    assert {c["id"] for c in late} == {c["id"] for c in every if c["end"] >= 20} and late
    assert api.get("/api/v1/clips", params={"since": "00:00:20", "until": "00:00:10"}).status_code == 422
    bad = api.get("/api/v1/clips", params={"since": "noonish"})
    assert bad.status_code == 422 and "HH:MM" in bad.text and "noonish" not in bad.text
    ranked = api.get("/api/v1/clips", params={"q": "a person walking", "limit": 5}).json()
    assert len(ranked) == 5
    assert api.get("/api/v1/clips", params={"since": 20, "until": 10}).status_code == 422
    assert api.get("/api/v1/clips", params={"camera": "nope"}).status_code == 404
    assert api.get("/api/v1/alerts", params={"camera": "nope"}).status_code == 404


def test_the_api_refuses_what_it_would_drop_and_pages_the_alerts(serve, videos):
    """An unknown field, a name it would change: 422 (before: dropped or renamed without a word). Alerts page by
    `before`, name their camera, and an unknown camera is a 404 (before: [])."""
    url, _ = serve(realtime_files=False, checker=lambda rule, clip: (True, "someone is there"))
    api = httpx.Client(base_url=url, timeout=60)
    src = str(videos / "one-by-one-person-detection.mp4")
    r = api.post("/api/v1/cameras", json={"name": "room", "source": src, "frame_rate": 2})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "frame_rate"
    r = api.post("/api/v1/cameras", json={"name": "my cam!", "source": src})
    assert r.status_code == 422 and "'my-cam'" in r.json()["detail"][0]["msg"]
    assert api.post("/api/v1/cameras", json={"name": "room", "source": src,
                                              "rules": ["a person is at the table"]}).status_code == 201
    wait_for(lambda: api.get("/api/v1/cameras/room").json()["status"]["state"] == "ended", timeout=120)
    every = api.get("/api/v1/alerts").json()
    assert len(every) >= 3 and all(a["camera"] == "room" for a in every)
    pages, before = [], None
    while True:
        page = api.get("/api/v1/alerts", params={"limit": 2, **({"before": before} if before else {})}).json()
        if not page:
            break
        pages.append(page)
        before = page[-1]["id"]
    assert [a["id"] for p in pages for a in p] == [a["id"] for a in every] and all(len(p) <= 2 for p in pages)
    assert api.get("/api/v1/alerts", params={"before": "nope"}).status_code == 404
    assert api.get("/api/v1/alerts", params={"camera": "nope"}).status_code == 404
    assert api.get("/api/v1/alerts", params={"camera": "room"}).json() == every
    clip = api.get("/api/v1/cameras/room/clips").json()[0]
    assert clip["camera"] == "room" and clip["local_start"] is None        # a file has no wall clock

    # Review items: one per activity span, holding its start and the rules that fired on its clips; paged the same.
    items = api.get("/api/v1/reviews", params={"limit": 500}).json()
    held = [i for x in items for i in x["alerts"]]
    assert sorted(held) == sorted(a["id"] for a in every)                 # each alert in exactly one item
    assert any(a["kind"] == "rule" for a in every) and len(items) < len(every)
    both = [x for x in items if set(x["kinds"]) == {"activity_start", "rule"}]
    assert both and all(x["activity"] and x["start"] <= x["end"] for x in both)
    by_id = {a["id"]: a for a in every}
    for x in both:                         # the span holds its alerts' moments
        assert all(x["start"] - 1e-3 <= (by_id[i]["clip"] or {"end": by_id[i]["time"]})["end"] and
                   by_id[i]["time"] <= x["end"] + 1e-3 for i in x["alerts"]), (x, [by_id[i] for i in x["alerts"]])
    assert [x["start"] for x in items] == sorted((x["start"] for x in items), reverse=True)
    first = api.get("/api/v1/reviews", params={"limit": 2}).json()
    rest = api.get("/api/v1/reviews", params={"limit": 500, "before": first[-1]["id"]}).json()
    assert [x["id"] for x in first + rest] == [x["id"] for x in items]
    shot = api.get(items[0]["thumbnail"])
    assert shot.status_code == 200 and shot.content[:2] == b"\xff\xd8"
    assert api.get("/api/v1/reviews", params={"before": "nope"}).status_code == 404
    assert api.get("/api/v1/reviews", params={"camera": "nope"}).status_code == 404
    assert api.get("/api/v1/reviews/nope/thumbnail.jpg").status_code == 404


def test_a_clock_time_bound_is_todays_local_time_for_live_clips_and_stream_time_for_files():
    import time as clock
    from datetime import datetime, timedelta

    from app.api import _bound
    from memory.when import clock_time
    past = datetime.now() - timedelta(minutes=5)
    b = _bound(past.strftime("%H:%M:%S"))
    assert abs(b.wall - past.replace(microsecond=0).timestamp()) < 1e-6 and b.wall <= clock.time()
    assert b.stream == past.hour * 3600 + past.minute * 60 + past.second
    assert _bound(past.strftime("%Y-%m-%d %H:%M:%S")).stream is None                # a date: the wall clock only
    assert _bound("75").stream == 75 and _bound("75").wall is None
    assert _bound("1764000000").wall == 1764000000 and _bound("1764000000").stream is None
    assert _bound("00:00:10").wall == clock_time("00:00:10", clock.time())


def test_every_operation_of_the_openapi_schema_says_what_it_does(tmp_path):
    """/openapi.json as /docs loads it: each operation has a summary and a description (before: most had neither),
    and an alert's `update` says what it means."""
    from starlette.testclient import TestClient

    from app.api import app_with_api
    from app.config import UIConfig
    from app.service import Service
    spec = TestClient(app_with_api(Service(None, UIConfig(memory_root=str(tmp_path))))).get("/openapi.json").json()
    ops = [(m, path, op) for path, item in spec["paths"].items() for m, op in item.items()]
    assert len(ops) >= 15
    for method, path, op in ops:
        assert op.get("summary", "").strip() and op.get("description", "").strip(), (method, path)
    update = spec["components"]["schemas"]["AlertOut"]["properties"]["update"]
    assert "replaces" in update["description"]
    alerts = spec["paths"]["/api/v1/alerts"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert alerts["items"]["$ref"].endswith("/AlertOut")


def test_a_camera_added_with_its_own_settings_shows_them_and_an_events_only_one_refuses_questions(serve, videos):
    url, handlers = serve(realtime_files=False)
    api = httpx.Client(base_url=url.rstrip("/"), timeout=60)
    bikes = str(videos / "bikes.mp4")
    r = api.post("/api/v1/cameras", json={"name": "drive", "source": bikes, "fps": 2, "video_llm": False,
                                          "schedule": ["22:00-06:00"], "alert_video": False,
                                          "daily_recap": "07:30"})
    assert r.status_code == 201, r.text
    assert r.json()["settings"] == {"fps": 2.0, "video_llm": False, "describe": False, "alert_video": False,
                                    "daily_recap": "07:30", "max_images": None, "schedule": ["22:00-06:00"], "max_clips": None,
                                    "max_bytes": None}
    plain = api.post("/api/v1/cameras", json={"name": "room", "source": bikes}).json()["settings"]
    assert (plain["fps"], plain["video_llm"], plain["describe"], plain["alert_video"], plain["schedule"]) == \
        (1.0, True, True, True, [])
    assert api.get("/api/v1/cameras/drive").json()["settings"]["fps"] == 2.0
    wait_for(lambda: api.get("/api/v1/cameras/drive").json()["status"]["state"] == "ended")
    quiet = api.get("/api/v1/alerts", params={"camera": "drive"}).json()
    assert quiet and all(a["video"] is None for a in quiet)            # alert_video = false: no video, no link
    assert "makes none" in api.get(f"/api/v1/alerts/{quiet[0]['id']}/clip.mp4").json()["detail"]
    r = api.post("/api/v1/cameras/drive/ask", json={"question": "What happened?"})
    assert r.status_code == 422 and "events-only" in r.json()["detail"] and "\n" not in r.json()["detail"]
    for body, status, said in (({"fps": 40}, 422, "less than or equal to 30"),
                               ({"schedule": ["25:00-06:00"]}, 422, "schedule window '25:00-06:00'"),
                               ({"max_images": 0}, 422, "greater than or equal to 1"),
                               ({"daily_recap": "7am"}, 422, "daily_recap must be a local time HH:MM"),
                               ({"video_llm": False, "rules": ["a person enters"]}, 400, "checked by the video LLM")):
        r = api.post("/api/v1/cameras", json={"name": "x", "source": bikes, **body})
        assert r.status_code == status and said in r.text, (body, r.status_code, r.text)


def test_an_alerts_video_is_served_linked_and_seekable(serve, videos):
    import io

    import av
    url, handlers = serve(realtime_files=False, public_url="https://vigil.example.net/")
    api = httpx.Client(base_url=url, timeout=60)
    r = api.post("/api/v1/cameras", json={"name": "room", "source": str(videos / "one-by-one-person-detection.mp4"),
                                          "scene_alerts": False})
    assert r.status_code == 201
    wait_for(lambda: api.get("/api/v1/cameras/room").json()["status"]["state"] == "ended", timeout=300)
    alerts = [a for a in api.get("/api/v1/alerts", params={"camera": "room"}).json() if not a["update"]]
    assert len(alerts) >= 5
    for a in alerts:            # the link the sinks send: the public address, the API's route
        assert a["video"] == f"https://vigil.example.net/api/v1/alerts/{a['id']}/clip.mp4"
    path = f"/api/v1/alerts/{alerts[0]['id']}/clip.mp4"
    whole = wait_for(lambda: (lambda g: g if g.status_code == 200 else None)(api.get(path)), timeout=30)
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    with av.open(io.BytesIO(whole.content)) as c:
        decoded = sum(1 for _ in c.decode(video=0))
        assert c.streams.video[0].codec_context.name == "h264" and decoded >= 5
    part = api.get(path, headers={"Range": "bytes=10-99"})
    assert part.status_code == 206 and part.content == whole.content[10:100]
    assert part.headers["content-range"] == f"bytes 10-99/{len(whole.content)}"
    tail = api.get(path, headers={"Range": "bytes=-16"})
    assert tail.status_code == 206 and tail.content == whole.content[-16:]
    assert api.get(path, headers={"Range": f"bytes={len(whole.content)}-"}).status_code == 416
    # An answer's clips play: by the alert video over them (the same bytes, the clip's offset in it), else their
    # keyframes as a short video.
    plain = api.post("/api/v1/ask", json={"question": "who came in?"}, headers={"Accept": "application/json"}).json()
    assert plain["clips"] and all(c["video"] == f"/api/v1/cameras/room/clips/{c['id']}/clip.mp4"
                                  for c in plain["clips"])
    kinds = set()
    for c in api.get("/api/v1/cameras/room/clips", params={"limit": 1000}).json():
        got = api.get(c["video"])
        assert got.status_code == 200 and got.headers["content-type"] == "video/mp4"
        if "x-vigil-alert" in got.headers:
            assert got.content == api.get(f"/api/v1/alerts/{got.headers['x-vigil-alert']}/clip.mp4").content
            assert float(got.headers["x-vigil-clip-offset"]) >= 0
            kinds.add("alert")
        else:
            with av.open(io.BytesIO(got.content)) as v:
                assert sum(1 for _ in v.decode(video=0)) >= 1
            kinds.add("keyframes")
    assert "alert" in kinds             # (keyframes: tests/stream/service/test_evidence.py)
    assert api.get("/api/v1/cameras/room/clips/999999/clip.mp4").status_code == 404
    missing = api.get("/api/v1/alerts/0123abcd/clip.mp4")
    assert missing.status_code == 404 and "no video of alert 0123abcd" in missing.json()["detail"]
    assert api.get("/api/v1/alerts/..%2Fx/clip.mp4").status_code in (404, 422)


def test_a_recap_over_http_as_json_and_as_a_page(serve, videos):
    url, handlers = serve(realtime_files=False)
    api = httpx.Client(base_url=url, timeout=120)
    for name, clip in (("room", "one-by-one-person-detection.mp4"), ("bikes", "bikes.mp4")):
        assert api.post("/api/v1/cameras", json={"name": name, "source": str(videos / clip)}).status_code == 201
    wait_for(lambda: all(c["status"]["state"] == "ended" for c in api.get("/api/v1/cameras").json()), timeout=300)
    whole = api.get("/api/v1/recap", params={"when": ""}).json()       # files: all that is stored
    by = {c["camera"]: c for c in whole["cameras"]}
    assert set(by) == {"room", "bikes"} and len(by["room"]["activity"]) >= 5
    assert by["room"]["alerts"] == sum(len(h["alerts"]) for h in by["room"]["hours"]) >= 5
    assert "RANDOM WEIGHTS" in whole["warning"]
    one = api.get("/api/v1/recap", params={"when": "", "camera": "room"}).json()
    assert [c["camera"] for c in one["cameras"]] == ["room"]
    page = api.get("/api/v1/recap.html", params={"when": "", "camera": "room"})
    assert page.headers["content-type"].startswith("text/html") and "<h2>room</h2>" in page.text
    assert "random weights: noise" in page.text and page.text.count('class="hour"') == len(one["cameras"][0]["hours"])
    assert api.get("/api/v1/recap", params={"camera": "nope"}).status_code == 404
    # A file has no day: its recap of "today" is all of it; a phrase that names no span is refused, not read as all.
    today = api.get("/api/v1/recap", params={"camera": "room"}).json()
    assert today["cameras"][0]["clips"] == one["cameras"][0]["clips"] > 0
    typo = api.get("/api/v1/recap", params={"when": "sicne lunch"})
    assert typo.status_code == 422 and '"sicne lunch" names no span' in typo.json()["detail"]
