"""The report in a real browser: headless Debian Chromium driven by Playwright, nothing installed.

Checks what a reviewer sees: the verdict is visible, the page requests nothing beyond its own
file, no console error occurs, it fits a phone's width, and the print stylesheet applies.
Screenshots land in test-artifacts/ for CI to keep (and for a human to look at).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from repaudit import report

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("REPAUDIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Flags that work as root in a container, and keep Chromium itself from phoning home.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set REPAUDIT_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing browser there is a broken job
        pytest.skip(message)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def open_report(browser, html_path: Path, viewport: dict):
    """A page showing the report, recording every request it makes and every console error."""
    page = browser.new_page(viewport=viewport)
    own, foreign, errors = html_path.as_uri(), [], []

    def route(request_route):
        url = request_route.request.url
        if url == own or url.startswith(("data:", "about:")):
            request_route.continue_()
        else:
            foreign.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(own, wait_until="load")
    return page, foreign, errors


@pytest.mark.parametrize("fixture", ["sample_audit", "user_numbers_audit"])
def test_report_in_chromium(fixture, request, browser, tmp_path):
    audit = request.getfixturevalue(fixture)
    html_path = tmp_path / "report.html"
    report.write_report(audit, html_path)
    ARTIFACTS.mkdir(exist_ok=True)
    name = "report" if fixture == "sample_audit" else "report-user-numbers"

    page, foreign, errors = open_report(browser, html_path, DESKTOP)
    label = page.locator("#verdict .label")
    assert label.is_visible()
    assert label.inner_text() == report.context(audit, with_plots=False)["verdict"]["label"]
    assert page.locator("#verdict .reason").inner_text() == audit.verdict_reason
    assert page.locator("figure svg").first.is_visible()
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    page.close()

    phone, phone_foreign, phone_errors = open_report(browser, html_path, PHONE)
    assert phone.locator("#verdict .label").is_visible()
    # Nothing wider than the phone: tables scroll inside their own box, plots scale down.
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
    phone.close()

    assert foreign + phone_foreign == []
    assert errors + phone_errors == []


def test_the_harness_sees_a_fetch(browser, tmp_path):
    """Guard the guard: a page that fetches is caught (by the route, and by CSP as an error)."""
    leaky = tmp_path / "leaky.html"
    leaky.write_text('<img src="https://example.invalid/pixel.png"><p>x</p>', encoding="utf-8")
    page, foreign, _ = open_report(browser, leaky, DESKTOP)
    page.close()
    assert foreign == ["https://example.invalid/pixel.png"]

    blocked = tmp_path / "blocked.html"
    csp = '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
    blocked.write_text(csp + '<img src="https://example.invalid/pixel.png">', encoding="utf-8")
    page, foreign, errors = open_report(browser, blocked, DESKTOP)
    page.close()
    assert foreign == [] and any("Content Security Policy" in e for e in errors)
