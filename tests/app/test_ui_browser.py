"""The live page in a real browser: Debian's Chromium with its fake webcam, driven by Playwright."""
import re

from tests.app.test_report import ARTIFACTS, browser
from stream.config import AlertConfig

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
        expect(page.locator("#figures")).to_contain_text("webcam (live)", timeout=30000)
        page.wait_for_function("() => /encodes skipped \\d+ of ([3-9]|\\d\\d)/.test("
                               "document.querySelector('#figures').innerText)", timeout=60000)
        first = timeline_points(page)
        page.screenshot(path=str(ARTIFACTS / "ui-webcam.png"), full_page=True)
        page.wait_for_function(f"() => (document.querySelector('#timeline-box polyline.drop')?.getAttribute('points')"
                               f" || '').trim().split(/\\s+/).length > {first}", timeout=30000)
        assert timeline_points(page) > first >= 3                         # the timeline moves
        watcher = handlers.registry.get("webcam")
        assert watcher.stats().frames >= 6 and watcher.stats().error is None
        page.wait_for_function("() => /clips [1-9]/.test(document.querySelector('#figures').innerText)", timeout=60000)
        page.fill("#question textarea", "What is in front of the camera?")
        page.click("#ask")
        expect(page.locator("#chat")).to_contain_text("Shown: ", timeout=60000)
        expect(page.locator("#chat")).to_contain_text("RANDOM WEIGHTS")
        expect(page.locator("#chat")).to_contain_text("What is in front of the camera?")
        page.screenshot(path=str(ARTIFACTS / "ui-answer.png"), full_page=True)
        page.locator("#stop").click()
        # The handler's reply, or the status tick that may replace it first on a busy machine: both say stopped.
        expect(page.locator("#status")).to_contain_text(re.compile(r"Stopped \*?\*?webcam|webcam is stopped"))
        b.close()
    assert (ARTIFACTS / "ui-answer.png").stat().st_size > 10000


def test_two_tabs_see_every_camera_rules_show_their_verdicts_and_a_switch_clears_the_chat(serve, videos):
    """The page fixes: shared cameras in every tab, each tab's demo its own; a rule added to a running camera shows
    with its last verdict; switching cameras shows that camera's chat; the timeline has a legend; alerts read as
    titles; a refused path shows no server path."""
    from playwright.sync_api import expect, sync_playwright

    def checker(rule, clip):
        return True, "someone is at the table"
    url, handlers = serve(checker=checker, feed_reviews=2)
    handlers.service.add("bikes", str(videos / "bikes.mp4"), checked=True, loop=True)
    handlers.service.add("people", str(videos / "one-by-one-person-detection.mp4"), checked=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = browser(p)
        one = b.new_context(viewport={"width": 1400, "height": 1100}).new_page()
        two = b.new_context(viewport={"width": 1400, "height": 1100}).new_page()
        for page in (one, two):
            page.goto(url)
            expect(page.locator("#figures")).to_contain_text("(playing)", timeout=30000)
        # Before a question: no "clips used" gallery (it showed a broken image); a neutral question placeholder.
        expect(one.locator("#used")).to_be_hidden()
        assert one.get_attribute("#question textarea", "placeholder") == "Ask about what this camera has seen"
        one.click("#demo")
        expect(one.locator("#status")).to_contain_text("demo", timeout=30000)
        expect(one.locator("#demo")).to_have_class(re.compile(r"\bsecondary\b"))      # it was the primary call
        # The figures name tau for what it is, and say what their terms mean.
        expect(one.locator("#figures")).to_contain_text("drop threshold (similarity)", timeout=30000)
        one.get_by_text("What these figures mean").click()
        expect(one.locator("#figures-help")).to_contain_text("cosine similarity")
        expect(one.locator("#figures-help")).to_contain_text("Encodes skipped")
        two.click("#demo")
        expect(two.locator("#status")).to_contain_text("demo-2", timeout=30000)
        assert handlers.registry.names(None) == ["bikes", "people"]
        # The picker of each tab: the shared cameras and its own demo only.
        one.click("#stream input")
        options = one.locator("ul[role=listbox] li").all_inner_texts()
        assert {o.replace("✓", "").strip() for o in options} == {"bikes", "people", "demo"}
        one.keyboard.press("Escape")
        # A rule typed while the demo runs takes effect at once, and shows its verdicts.
        one.get_by_text("Watch rules", exact=True).first.click()      # not a second "Alerts" beside the feed
        one.get_by_label("Watch rules, one a line").fill("a person sits down")
        one.click("#apply-rules")
        expect(one.locator("#status")).to_contain_text("now watches for 1 rule")
        expect(one.locator("#rules-view")).to_contain_text("a person sits down", timeout=30000)
        expect(one.locator("#rules-view")).to_contain_text("someone is at the table", timeout=90000)
        expect(one.locator("#feed")).to_contain_text("Activity", timeout=60000)
        assert "activity_start:" not in one.inner_text("#feed")
        # The feed shows review items: an activity span with the rule that fired on its clips, at most 2 of them.
        one.wait_for_function("() => [...document.querySelectorAll('#feed .review')].some(r => "
                              "/Activity/.test(r.innerText) && /Rule/.test(r.innerText))", timeout=60000)
        assert 1 <= one.locator("#feed .review").count() <= 2
        one.locator("#feed").scroll_into_view_if_needed()
        one.screenshot(path=str(ARTIFACTS / "ui-review-feed.png"), full_page=True)
        # Alert text wraps in its column however long its words (it ran off the page).
        from stream.service.alerts import Alert
        demo = handlers.registry.get("demo")
        newest = demo.series()[0][-1].end
        demo._deliver(Alert("scene_change", "demo", newest, "Scene changed", description="x" * 600 + " " + "y" * 300))
        expect(one.locator("#feed")).to_contain_text("xxxxxxxx", timeout=10000)
        assert one.evaluate("() => { const f = document.querySelector('#feed'); "
                            "return f.scrollWidth <= f.clientWidth + 1 }")
        # Clip labels in the memory browser are whole, not cut with an ellipsis.
        labels = one.locator("#memory .caption-label")
        expect(labels.first).to_be_visible(timeout=30000)
        assert one.evaluate("() => [...document.querySelectorAll('#memory .caption-label')].every("
                            "l => l.scrollWidth <= l.clientWidth + 1)")
        expect(one.locator("#timeline-box")).to_contain_text("activity", timeout=30000)   # the legend
        one.fill("#question textarea", "What happens?")
        one.click("#ask")
        expect(one.locator("#chat")).to_contain_text("Shown: ", timeout=60000)
        expect(one.locator("#used")).to_be_visible()
        one.screenshot(path=str(ARTIFACTS / "ui-cameras.png"), full_page=True)
        # Another camera: its own (empty) chat, no clips used of the last one.
        one.click("#stream input")
        one.locator("ul[role=listbox] li", has_text="bikes").click()
        expect(one.locator("#stream input")).to_have_value("bikes", timeout=10000)
        # The figures follow on the page's next tick; a loaded CI machine has taken over 30 s for it.
        expect(one.locator("#figures")).to_contain_text("bikes", timeout=90000)
        expect(one.locator("#chat")).not_to_contain_text("Shown: ", timeout=10000)
        # bikes' cuts, looped since the start: more items than the feed shows, the older ones counted, not drawn
        expect(one.locator("#feed .older")).to_contain_text("older item", timeout=60000)
        assert one.locator("#feed .review").count() == 2
        # A path outside the allowed folders: refused without naming server folders.
        one.get_by_role("tab", name="File").click()
        one.get_by_label("Video file on the server").fill("/etc/passwd")
        one.click("#start-file")
        expect(one.locator(".toast-body").first).to_contain_text("outside the folders", timeout=10000)
        assert "/etc" not in one.locator(".toast-body").first.inner_text()
        one.locator(".toast-body").first.click()
        # The tab names the allowed folders by name, not by their server paths.
        help_text = one.inner_text("#file-help")
        assert "assets" in help_text and videos.name in help_text and str(videos.parent) not in help_text
        # A relative path inside a media folder is found there; the camera takes the name given, checked.
        one.get_by_label("Video file on the server").fill("bikes.mp4")
        one.locator("#file-name textarea, #file-name input").first.fill("my street!")
        one.click("#start-file")
        expect(one.locator(".toast-body").last).to_contain_text("'my-street'", timeout=10000)
        one.locator("#file-name textarea, #file-name input").first.fill("street-2")
        one.click("#start-file")
        # The handler's reply, or the status tick that may replace it first on a busy machine (playing, or played to
        # its end): each says street-2 runs.
        expect(one.locator("#status")).to_contain_text(
            re.compile(r"Started street-2|Watching street-2|street-2 played to its end"), timeout=30000)
        assert "street-2" in handlers.registry.names(None)
        b.close()


def test_the_page_answers_through_a_real_answer_server(serve, videos, answer_server):
    """The page's question streams from `transformers serve` (a tiny LLaVA), and the chat says what went to it."""
    from playwright.sync_api import expect, sync_playwright

    from tests.app.test_api import _server_answerer
    url, handlers = serve(answerer=_server_answerer(answer_server.base_url, answer_server.model),
                          realtime_files=False)
    handlers.service.add("bikes", str(videos / "bikes.mp4"), checked=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = browser(p)
        page = b.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(url)
        expect(page.locator("#figures")).to_contain_text("bikes", timeout=30000)
        page.wait_for_function("() => /clips [1-9]/.test(document.querySelector('#figures').innerText)", timeout=60000)
        page.fill("#question textarea", "What changed?")
        page.click("#ask")
        expect(page.locator("#chat")).to_contain_text("KB sent", timeout=60000)
        chat = page.inner_text("#chat")
        assert "RANDOM WEIGHTS" in chat and re.search(r"\(\d+ frames, [\d.]+ KB sent\)", chat)
        page.screenshot(path=str(ARTIFACTS / "ui-answer-server.png"), full_page=True)
        b.close()


def test_an_alert_plays_its_video_in_the_feed_and_a_recap_shows_every_camera(serve, videos):
    from playwright.sync_api import expect, sync_playwright
    url, handlers = serve(realtime_files=False)
    handlers.service.add("room", str(videos / "one-by-one-person-detection.mp4"), checked=True,
                         alerts=AlertConfig(scene_changes=False, describe=False))
    handlers.service.add("bikes", str(videos / "bikes.mp4"), checked=True)
    room = handlers.registry.get("room")
    room.join(300)
    handlers.registry.get("bikes").join(120)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = browser(p)
        page = b.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(url)
        page.locator("#stream input").click()
        page.get_by_role("option", name="room").click()
        expect(page.locator("#figures")).to_contain_text("room (", timeout=30000)
        page.wait_for_timeout(1500)                       # the feed of the camera picked
        video = page.locator("#feed video.alert-video").first
        expect(video).to_be_attached(timeout=30000)
        assert "/api/v1/alerts/" in video.get_attribute("src")
        video.scroll_into_view_if_needed()
        video.evaluate("v => v.play()")
        # The browser decodes the MP4 and plays it: its clock moves and it knows the video's frame size.
        page.wait_for_function("() => { const v = document.querySelector('#feed video.alert-video');"
                               " return v && v.currentTime > 0.5 && v.videoWidth > 0; }", timeout=30000)
        size = video.evaluate("v => [v.videoWidth, v.videoHeight, v.duration]")
        assert size[0] == 480 and size[1] == 270 and size[2] > 4          # 768x432 at evidence side 480
        page.wait_for_timeout(1500)                       # a refresh in between does not restart it
        assert video.evaluate("v => v.currentTime") > 1.0
        page.screenshot(path=str(ARTIFACTS / "ui-alert-video.png"), full_page=True)
        # Older items fold their players away, one click from playing.
        assert page.locator("#feed video.alert-video").count() == len(room.alerts()) >= 5
        assert page.locator("#feed details video.alert-video").count() == len(room.alerts()) - 1
        # One question to every camera: its clips named by camera, each a link that plays.
        page.locator("#all-cameras input").check()
        page.fill("#question textarea", "Who came by?")
        page.click("#ask")
        expect(page.locator("#chat")).to_contain_text("Shown of 2 cameras: ", timeout=60000)
        links = page.locator("#chat a[href*='/clip.mp4']")
        expect(links.first).to_be_attached(timeout=10000)
        got = page.request.get(url.rstrip("/") + links.first.get_attribute("href"))
        assert got.status == 200 and got.headers["content-type"] == "video/mp4" and len(got.body()) > 1000
        page.locator("#chat").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "ui-all-cameras.png"), full_page=True)
        page.locator("#recap-box").get_by_text("Recap: what happened in a span").click()
        page.fill("#recap-when textarea", "")
        page.click("#recap-go")
        frame = page.frame_locator("#recap iframe")
        expect(frame.locator("h2", has_text="room")).to_be_visible(timeout=60000)
        expect(frame.locator("h2", has_text="bikes")).to_be_visible()
        expect(frame.locator(".warn")).to_contain_text("RANDOM WEIGHTS")
        assert frame.locator(".cam").count() == 2 and frame.locator("svg rect").count() >= 5
        page.locator("#recap").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "ui-recap.png"), full_page=True)
        b.close()
