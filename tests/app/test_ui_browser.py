"""The live page in a real browser: Debian's Chromium with its fake webcam, driven by Playwright."""
import re

from tests.app.test_report import ARTIFACTS, browser

FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def steps_shown(page) -> int:
    m = re.search(r"encodes skipped \d+ of (\d+)", page.inner_text("#figures"))
    return int(m.group(1)) if m else 0


def timeline_points(page) -> int:
    points = page.get_attribute("#timeline-box polyline.drop", "points") if page.locator("#timeline-box polyline").count() else ""
    return len((points or "").split())


def test_webcam_frames_reach_the_engine_answer_streams_timeline_moves(serve):
    from playwright.sync_api import expect, sync_playwright
    url, handlers = serve()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = browser(p, extra=FAKE_CAMERA)
        context = b.new_context(viewport={"width": 1400, "height": 1000}, permissions=["camera"])
        page = context.new_page()
        page.goto(url)
        expect(page.locator("#banner")).to_contain_text("RANDOM WEIGHTS")
        page.get_by_role("tab", name="Webcam").click()
        page.get_by_text("Click to Access Webcam").click()
        page.locator("#webcam button.capture-button").click()            # Record
        expect(page.locator("#figures")).to_contain_text("webcam (running)", timeout=30000)
        page.wait_for_function("() => /encodes skipped \\d+ of ([3-9]|\\d\\d)/.test("
                               "document.querySelector('#figures').innerText)", timeout=60000)
        first = timeline_points(page)
        page.screenshot(path=str(ARTIFACTS / "ui-webcam.png"), full_page=True)
        page.wait_for_function(f"() => (document.querySelector('#timeline-box polyline.drop')?.getAttribute('points')"
                               f" || '').trim().split(/\\s+/).length > {first}", timeout=30000)
        assert timeline_points(page) > first >= 3                         # the timeline moves
        watcher = next(iter(handlers.registry._sessions.values())).watchers["webcam"]
        assert watcher.stats().frames >= 6 and watcher.stats().error is None
        page.wait_for_function("() => /clips [1-9]/.test(document.querySelector('#figures').innerText)", timeout=60000)
        page.fill("#question textarea", "What is in front of the camera?")
        page.click("#ask")
        expect(page.locator("#chat")).to_contain_text("Clips used", timeout=60000)
        expect(page.locator("#chat")).to_contain_text("RANDOM WEIGHTS")
        expect(page.locator("#chat")).to_contain_text("What is in front of the camera?")
        page.screenshot(path=str(ARTIFACTS / "ui-answer.png"), full_page=True)
        page.locator("#stop").click()
        expect(page.locator("#status")).to_contain_text("Stopped")
        b.close()
    assert (ARTIFACTS / "ui-answer.png").stat().st_size > 10000
