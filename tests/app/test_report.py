"""The report page, opened in a real browser (Debian's Chromium driven by Playwright)."""
import json
import os
from pathlib import Path

import pytest

from app.report import render_html
from stream.analysis import Analysis, AnalysisConfig, Question
from stream.engine import Engine, EngineConfig
from stream.sources import FileSource

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("VIGIL_TEST_ARTIFACTS", ROOT / "test-artifacts"))


def browser(p, extra=()):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (scripts/test.sh installs it)")
    return p.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", *extra])


def test_report_page_shows_timeline_thumbnails_and_linked_answers(llm, embedder, model_config, videos, tmp_path):
    from playwright.sync_api import sync_playwright
    engine = Engine(EngineConfig(model=model_config), llm=llm, embedder=embedder)
    a = Analysis(engine, FileSource(str(videos / "one-by-one-person-detection.mp4"), 1.0), tmp_path,
                 AnalysisConfig(captions=True))
    try:
        list(a.ingest())
        list(a.caption())
        report = a.report(a.answer([Question("When did someone come in?")]), None)
        _, page_path = a.write(report, render_html(report, a.out))
    finally:
        a.close()
    assert json.loads((tmp_path / "report.json").read_text()) == report
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = browser(p)
        page = b.new_page(viewport={"width": 1200, "height": 900})
        page.goto(page_path.as_uri())
        assert "RANDOM WEIGHTS" in page.inner_text(".warn")
        points = page.get_attribute("#timeline polyline.drop", "points").split()
        assert len(points) == report["totals"]["steps"]
        assert page.locator("#timeline rect.activity").count() == len(report["activity"])
        assert page.locator(".clip img").count() == len(report["clips"])
        widths = page.eval_on_selector_all(".clip img", "els => els.map(e => e.naturalWidth)")
        assert min(widths) > 0                                  # every thumbnail decoded from its inline JPEG
        links = page.locator(".qa a.t")
        assert links.count() == len(report["answers"][0]["clips"])
        assert float(page.get_attribute("#band", "width")) == 0
        last = report["answers"][0]["clips"][-1]
        links.nth(links.count() - 1).click()
        assert page.get_attribute(f"#clip-{last['id']}", "class") == "clip hit"
        assert float(page.get_attribute("#band", "width")) > 0
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        b.close()
    assert (ARTIFACTS / "report.png").stat().st_size > 10000
