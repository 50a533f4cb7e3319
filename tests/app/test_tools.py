"""Vigil's tools for agents: `vigil mcp` driven by a real MCP client session over stdio (the SDK's own client
starting the process, as an agent does), against a running Vigil; and GET /api/v1/tools, the same tools in OpenAI's
format."""
import asyncio
import base64
import json
import sys

import httpx

from tests.app.test_ui_api import wait_for
from tests.test_run import ROOT


def test_an_mcp_client_asks_searches_sees_a_frame_and_sets_rules_through_vigil_mcp(serve, videos, tmp_path):
    from mcp import Client, StdioServerParameters
    url, _ = serve(realtime_files=False, auth=("admin", "s3cret"))
    api = httpx.Client(base_url=url, timeout=60, auth=("admin", "s3cret"))
    for name, clip in (("room", "one-by-one-person-detection.mp4"), ("street", "vtest.avi")):
        assert api.post("/api/v1/cameras", json={"name": name, "source": str(videos / clip)}).status_code == 201
    wait_for(lambda: all(c["status"]["state"] == "ended" for c in api.get("/api/v1/cameras").json()), timeout=300)
    openai = {t["function"]["name"]: t["function"] for t in api.get("/api/v1/tools").json()}

    async def session():
        params = StdioServerParameters(command=sys.executable, cwd=str(ROOT),
                                       args=[str(ROOT / "run.py"), "mcp", "--url", url, "--auth", "admin:s3cret"])
        async with Client(params) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            # The same tools both ways in: names, descriptions and arguments
            assert set(listed) == set(openai) >= {"ask", "search_clips", "recap", "live_frame", "set_rules", "list_cameras"}
            for name, tool in listed.items():
                assert tool.description == openai[name]["description"], name
                assert set(tool.input_schema["properties"]) == set(openai[name]["parameters"]["properties"]), name
                assert set(tool.input_schema.get("required", [])) == \
                    set(openai[name]["parameters"].get("required", [])), name

            def payload(result) -> object:
                """A tool's structured result (a list or a plain value comes wrapped as {"result": ...})."""
                assert not result.is_error, result.content
                got = result.structured_content
                if got is None:                  # a dict comes as one JSON text
                    return json.loads(result.content[0].text)
                return got["result"] if isinstance(got, dict) and set(got) == {"result"} else got
            cams = payload(await client.call_tool("list_cameras", {}))
            assert {c["name"] for c in cams} == {"room", "street"}
            answer = payload(await client.call_tool("ask", {"question": "Where did someone walk?"}))
            assert "RANDOM WEIGHTS" in answer["warning"] and answer["clips"]
            assert {c["camera"] for c in answer["clips"]} <= {"room", "street"}
            one = payload(await client.call_tool("ask", {"question": "What happened in the first 20 seconds?",
                                                         "cameras": ["room"]}))
            assert {c["camera"] for c in one["clips"]} == {"room"} and one["time_asked_about"]
            found = payload(await client.call_tool("search_clips", {"query": "a person", "cameras": ["street"],
                                                                    "limit": 3}))
            assert len(found) == 3 and {c["camera"] for c in found} == {"street"}
            # a bound as the clip labels read (a file's stream time): the tool took numbers only
            late = payload(await client.call_tool("search_clips", {"cameras": ["street"], "since": "00:00:20",
                                                                   "limit": 100}))
            assert late and all(c["end"] >= 20 for c in late)
            recap = payload(await client.call_tool("recap", {"when": "today"}))
            assert {c["camera"] for c in recap["cameras"]} == {"room", "street"} and "RANDOM WEIGHTS" in recap["warning"]
            room = next(c for c in recap["cameras"] if c["camera"] == "room")     # the six visits of the clip
            assert room["activity_spans"] >= 3 and sum(h["activity_seconds"] for h in room["hours"]) > 30, room
            only = payload(await client.call_tool("recap", {"cameras": ["street"]}))
            assert [c["camera"] for c in only["cameras"]] == ["street"]
            typo = await client.call_tool("recap", {"when": "sicne lunch"})
            assert typo.is_error and "422" in typo.content[0].text and "names no span" in typo.content[0].text
            frame = await client.call_tool("live_frame", {"camera": "street"})
            assert frame.content[0].type == "image" and frame.content[0].mime_type == "image/jpeg"
            assert base64.b64decode(frame.content[0].data)[:2] == b"\xff\xd8"
            rules = payload(await client.call_tool("set_rules", {"camera": "room", "rules": ["a dog appears"]}))
            assert rules == ["a dog appears"]
            refused = await client.call_tool("live_frame", {"camera": "nope"})
            assert refused.is_error and "404" in refused.content[0].text
    asyncio.run(session())
    assert [r["rule"] for r in api.get("/api/v1/cameras/room").json()["rules"]] == ["a dog appears"]


def test_vigil_mcp_over_streamable_http(serve, videos):
    """The HTTP transport: `vigil mcp --transport http` on a port, an MCP client connecting to it by URL."""
    import socket
    import subprocess
    import time

    from mcp import Client
    from models.served import free_port
    url, _ = serve(realtime_files=False)
    api = httpx.Client(base_url=url, timeout=60)
    assert api.post("/api/v1/cameras", json={"name": "room", "source": str(videos / "bikes.mp4")}).status_code == 201
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "mcp", "--url", url, "--transport", "http",
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)

        async def session():
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                assert "ask" in {t.name for t in (await client.list_tools()).tools}
                got = await client.call_tool("list_cameras", {})
                assert not got.is_error and got.structured_content["result"][0]["name"] == "room"
        asyncio.run(session())
    finally:
        proc.terminate()
        proc.wait(20)
