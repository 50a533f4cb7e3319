"""/metrics through real HTTP, read back with prometheus_client's own parser as a Prometheus server would: every
camera figure equals what the API's camera list says, and an answer is counted with its time to the first piece."""
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.app.test_api import events
from tests.app.test_ui_api import wait_for


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    got = httpx.get(url + "metrics")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(got.text) for s in family.samples}


def test_metrics_give_each_camera_s_figures_and_the_answers(serve, videos):
    url, _ = serve(realtime_files=False)
    api = httpx.Client(base_url=url, timeout=60)
    before = scrape(url)
    assert before[("vigil_answers_total", ())] == 0 and not [k for k in before if k[0].startswith("vigil_camera")]
    for name, clip in (("room", "one-by-one-person-detection.mp4"), ("street", "vtest.avi")):
        assert api.post("/api/v1/cameras", json={"name": name, "source": str(videos / clip)}).status_code == 201
    cams = wait_for(lambda: (c := api.get("/api/v1/cameras").json()) and
                    all(x["status"]["state"] == "ended" for x in c) and c, timeout=300)
    with api.stream("POST", "/api/v1/cameras/room/ask", json={"question": "Who came in?"}) as s:
        assert [k for k, _ in events(s.iter_lines())][-1] == "done"
    m = scrape(url)
    for cam in cams:
        name, figures = cam["name"], cam["figures"]
        at = (("camera", name),)
        for k in ("frames", "steps", "clips", "alerts", "encodes_skipped", "frames_skipped"):
            assert m[(f"vigil_camera_{k}_total", at)] == figures[k], (name, k)
        kept, seen = m[("vigil_camera_tokens_kept_total", at)], m[("vigil_camera_tokens_seen_total", at)]
        assert 0 < kept < seen and abs(1 - kept / seen - figures["drop_ratio"]) < 1e-6
        assert m[("vigil_camera_state", (("camera", name), ("state", "ended")))] == 1
        assert m[("vigil_camera_state", (("camera", name), ("state", "live")))] == 0
        assert m[("vigil_camera_errors_total", (("camera", name), ("kind", "storage")))] == 0
        assert m[("vigil_camera_lag_seconds", at)] >= 0
    assert {c["name"] for c in cams} == {"room", "street"}
    assert m[("vigil_answers_total", ())] == 1
    assert m[("vigil_answer_first_piece_seconds_count", ())] == 1
    assert 0 < m[("vigil_answer_first_piece_seconds_sum", ())] < 60
    # Every encoded step went through the engine's batcher: the calls carried at least one step each.
    encoded = sum(c["figures"]["steps"] - c["figures"]["encodes_skipped"] for c in cams)
    assert m[("vigil_encoder_steps_total", ())] == encoded > 0
    assert 1 <= m[("vigil_encoder_calls_total", ())] <= encoded
    assert 0 <= m[("vigil_encoder_shared_calls_total", ())] <= m[("vigil_encoder_calls_total", ())]
