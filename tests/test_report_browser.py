"""The report in a real browser: headless Debian Chromium driven by Playwright, nothing installed.

Checks what a reviewer sees: the verdict is visible, the page requests nothing beyond its own
file, no console error occurs; at a phone's 390 px nothing scrolls sideways and plot text stays
readable; printed on A4 and Letter no heading is left at a page foot and the log tails are on
paper; the CSS-only "failed runs only" toggle filters the seed table; a failed audit's cause
stands under its verdict. Screenshots and PDFs land
in test-artifacts/ for CI to keep (and for a human to look at).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from repaudit import report, verdict
from repaudit.model import Audit, RunResult, RunStatus

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = os.environ.get("REPAUDIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Flags that work as root in a container, and keep Chromium itself from phoning home.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
AUDITS = ["sample_audit", "user_numbers_audit", "unbreakable_audit", "failed_audit"]

# Rendered size of every plot's text: font size times the scale from SVG units to CSS pixels.
SVG_TEXT_PX = """[...document.querySelectorAll("figure svg text")].map(text => {
    const m = text.getScreenCTM();
    return Math.hypot(m.a, m.b) * parseFloat(getComputedStyle(text).fontSize);
})"""
# Boxes that hide part of their content sideways, behind a scroll bar or a clipped edge.
CLIPPING = """[...document.querySelectorAll("main *")]
    .filter(box => getComputedStyle(box).overflowX !== "visible" && box.offsetParent !== null)
    .filter(box => box.scrollWidth > box.clientWidth + 1)
    .map(box => box.outerHTML.slice(0, 120))"""


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        message = f"no runnable Chromium at {CHROMIUM} (apt-get install chromium, or set REPAUDIT_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs it: a missing browser there is a broken job
        pytest.skip(message)
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def unbreakable_audit(sample_audit) -> Audit:
    """The sample audit with what breaks layouts: strings far wider than a phone with no place
    to break (a repository, a command, a package, a log line) and a failed run's 40-line log."""
    wide = "x" * 180
    long_log = "".join(f"log line {k:02d} {wide if k == 40 else ''}\n" for k in range(1, 41))
    source = dataclasses.replace(
        sample_audit.source,
        display_name=f"example-lab/{wide}",
        url=f"https://github.com/example-lab/{wide}.git",
    )
    spec = dataclasses.replace(
        sample_audit.spec,
        arms=tuple(
            dataclasses.replace(a, command=f"{a.command}--{wide}") for a in sample_audit.spec.arms
        ),
        setup=f"pip install {wide}==1.0",
    )
    fingerprint = dataclasses.replace(
        sample_audit.fingerprint, packages=(f"{wide}==1.0", *sample_audit.fingerprint.packages)
    )
    runs = tuple(
        dataclasses.replace(run, log_tail=long_log) if run.status is RunStatus.FAILED else run
        for run in sample_audit.runs
    )
    return dataclasses.replace(sample_audit, audit_id=f"example-lab-{wide}", source=source,
                               spec=spec, fingerprint=fingerprint, runs=runs,
                               rerun_command=f"repaudit check {source.url}@v1.0")  # fmt: skip


@pytest.fixture(scope="module")
def failed_audit(sample_audit) -> Audit:
    """An audit that could not run: every seed failed on a long, unbreakable log line."""
    line = "ModuleNotFoundError: No module named 'transformers_" + "x" * 120 + "'"
    runs = tuple(RunResult(r.key, RunStatus.FAILED, reason=f"exit code 1: {line}",
                           log_tail=f"Traceback (most recent call last):\n{line}\n")
                 for r in sample_audit.runs)  # fmt: skip
    results, overall, reason = verdict.evaluate(sample_audit.spec, runs)
    return dataclasses.replace(sample_audit, runs=runs, results=results, verdict=overall,
                               verdict_reason=reason)  # fmt: skip


def written(audit: Audit, folder: Path) -> Path:
    html_path = folder / "report.html"
    report.write_report(audit, html_path)
    ARTIFACTS.mkdir(exist_ok=True)
    return html_path


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
    html_path = written(audit, tmp_path)
    page, foreign, errors = open_report(browser, html_path, DESKTOP)
    label = page.locator("#verdict .label")
    assert label.is_visible()
    assert label.inner_text() == report.context(audit, with_plots=False)["verdict"]["label"]
    assert page.locator("#verdict .reason").inner_text() == audit.verdict_reason
    assert page.locator("figure svg").first.is_visible()
    assert max(page.evaluate(SVG_TEXT_PX)) <= 16  # plots do not balloon on a wide screen
    assert page.evaluate(CLIPPING) == []  # every table fits a laptop's width
    page.screenshot(path=str(ARTIFACTS / f"{fixture}-desktop.png"), full_page=True)
    page.emulate_media(media="print")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
    page.close()
    assert foreign == [] and errors == []


@pytest.mark.parametrize("fixture", AUDITS)
def test_a_phone_never_scrolls_sideways(fixture, request, browser, tmp_path):
    html_path = written(request.getfixturevalue(fixture), tmp_path)
    page, foreign, errors = open_report(browser, html_path, PHONE)
    assert page.locator("#verdict .label").is_visible()
    page.screenshot(path=str(ARTIFACTS / f"{fixture}-phone.png"), full_page=True)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate("innerWidth")
    # Tables become stacked rows and long strings wrap: nothing is left to scroll in a box.
    assert page.evaluate(CLIPPING) == []
    assert page.locator("table.runs thead").is_hidden()
    assert page.locator("table.runs td[data-label=Duration]").first.is_visible()
    if fixture == "failed_audit":  # why it failed, under the verdict, before any table
        assert page.locator("#cause pre").is_visible()
        assert page.evaluate("document.querySelector('#cause').getBoundingClientRect().bottom") < (
            page.evaluate("document.querySelector('#seeds').getBoundingClientRect().top")
        )
    if fixture != "user_numbers_audit":  # the screen keeps a log's every line, behind <details>
        page.locator("#seeds details.screen-only summary").first.click()
        assert page.locator("#seeds details.screen-only pre").first.is_visible()
    page.close()
    assert foreign == [] and errors == []


@pytest.mark.parametrize("fixture", ["sample_audit", "user_numbers_audit"])
def test_plot_text_is_readable_on_a_phone(fixture, request, browser, tmp_path):
    html_path = written(request.getfixturevalue(fixture), tmp_path)
    page, _, _ = open_report(browser, html_path, PHONE)
    sizes = page.evaluate(SVG_TEXT_PX)
    page.close()
    assert len(sizes) > 20  # ticks, labels and keys of every plot were measured
    assert min(sizes) >= 10


def bottom_lines(pdf_path: Path) -> list[tuple[str, float]]:
    """Each page's lowest line of text and how high it sits (a fraction of the page height)."""
    pypdf = pytest.importorskip("pypdf")
    lines = []
    for page in pypdf.PdfReader(pdf_path).pages:
        pieces: list[tuple[float, float, str]] = []

        def visit(text, cm, tm, _font, _size, pieces=pieces):
            if text.strip():  # where it lands: the text matrix carried through the page's
                x, y = tm[4] * cm[0] + tm[5] * cm[2] + cm[4], tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                pieces.append((y, x, text.strip()))

        page.extract_text(visitor_text=visit)
        lowest = min(y for y, _, _ in pieces)
        line = " ".join(text for y, _, text in sorted(pieces, key=lambda p: p[1]) if y - lowest < 2)
        lines.append((line, lowest / float(page.mediabox.height)))
    return lines


def printed(browser, html_path: Path, paper: str) -> tuple[Path, list[str], str]:
    """The report printed to PDF on `paper`, with its headings' texts and the PDF's whole text."""
    pypdf = pytest.importorskip("pypdf")
    page, _, _ = open_report(browser, html_path, DESKTOP)
    headings = page.evaluate("[...document.querySelectorAll('h1, h2, h3')].map(h => h.innerText)")
    pdf_path = ARTIFACTS / f"{html_path.parent.name}-{paper}.pdf"
    page.pdf(path=str(pdf_path), format=paper)
    page.close()
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(pdf_path).pages)
    return pdf_path, [" ".join(h.split()) for h in headings], text


def orphans(lines: list[tuple[str, float]], headings: list[str]) -> list[str]:
    """Headings (or a wrapped heading's first line) that end a page."""
    return [line for line, _ in lines
            if any(h == line or h.startswith(line + " ") for h in headings)]  # fmt: skip


@pytest.mark.parametrize("paper", ["A4", "Letter"])
@pytest.mark.parametrize("fixture", AUDITS)
def test_print_keeps_headings_with_their_text(paper, fixture, request, browser, tmp_path):
    folder = tmp_path / fixture
    folder.mkdir()
    audit = request.getfixturevalue(fixture)
    pdf_path, headings, text = printed(browser, written(audit, folder), paper)
    lines = bottom_lines(pdf_path)
    assert orphans(lines, headings) == []
    # Page 1 is filled to its lower quarter, not half blank; a later page may end early where a
    # plot (about a quarter page) or a table row moved whole to the next.
    heights = [height for _, height in lines]
    assert heights[0] <= 0.25 or len(lines) == 1
    assert [height for height in heights[1:-1] if height > 0.35] == []
    unbroken = "".join(text.split())  # lines wrap on paper: compare without any white space
    for run in audit.runs:  # log tails print open; a failed run's trimmed to its last 12 lines
        tail = run.log_tail.splitlines()[-12 if run.status is not RunStatus.OK else -3 :]
        assert all("".join(line.split()) in unbroken for line in tail)
    if fixture == "unbreakable_audit":
        assert "log line 29" in text and "log line 28" not in text


def test_the_orphan_check_sees_an_orphan(browser, tmp_path):
    """Guard the guard: a heading pushed to a page foot, without the report's CSS, is found."""
    folder = tmp_path / "orphan"
    folder.mkdir()
    html_path = folder / "report.html"
    # 24 px lines on a 277 mm page: the heading fits in the last 36 px, its text does not.
    style = "@page { margin: 10mm } body { margin: 0 } * { margin: 0; font: 20px/24px serif }"
    html_path.write_text(f"<style>{style}</style><p>intro</p>"
                         '<div style="height: calc(277mm - 60px)"></div>'
                         "<h2>Stranded heading</h2><p>its text</p>", encoding="utf-8")  # fmt: skip
    pdf_path, headings, _ = printed(browser, html_path, "A4")
    assert orphans(bottom_lines(pdf_path), headings) == ["Stranded heading"]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_failed_only_toggle_hides_finished_runs(viewport, sample_audit, browser, tmp_path):
    page, _, _ = open_report(browser, written(sample_audit, tmp_path), viewport)
    rows = page.locator("#seeds tbody tr")
    failed = [f["label"] for f in report.context(sample_audit, with_plots=False)["failures"]]
    assert rows.count() == len(sample_audit.runs) and len(failed) == 2
    assert all(rows.nth(k).is_visible() for k in range(rows.count()))
    page.click("label[for=failed-only]")
    assert page.is_checked("#failed-only")
    visible = [rows.nth(k).locator("th").inner_text() for k in range(rows.count())
               if rows.nth(k).is_visible()]  # fmt: skip
    assert visible == failed
    page.screenshot(path=str(ARTIFACTS / f"failed-only-{viewport['width']}.png"), full_page=True)
    page.emulate_media(media="print")  # paper keeps the filter, and says so instead of a checkbox
    assert page.locator("label[for=failed-only]").is_visible()
    assert page.locator("#failed-only").is_hidden() and rows.first.is_hidden()
    page.emulate_media(media="screen")
    page.click("label[for=failed-only]")
    assert page.locator("#seeds tbody tr.good").first.is_visible()
    page.close()


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
