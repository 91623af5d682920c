"""The audit's outputs: the HTML report, the Markdown summary, the terminal verdict and JUnit XML.

``context(audit) -> dict`` (context.py) holds every string the templates print, already formatted,
so the templates in ``templates/`` only loop and print. The timestamp comes from the audit itself:
the same audit always renders the same bytes.
"""

from __future__ import annotations

import os
import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import jinja2

from repaudit.model import Audit, Tone, Verdict
from repaudit.report.context import IMPROVEMENT_WORDS, REPRODUCTION_WORDS, context
from repaudit.store import AuditPaths, write_text_atomic

#: GitHub rejects a step summary file over 1 MiB; ours stays under it with room to spare.
STEP_SUMMARY_LIMIT = 1024 * 1024
#: How each tone is marked in Markdown.
MARKS = {Tone.GOOD: "✅", Tone.WARN: "⚠️", Tone.BAD: "❌"}


def template_dir() -> Path:
    """``repaudit/templates`` in an installed wheel, else the checkout's top-level ``templates/``."""
    installed = Path(__file__).parent.parent / "templates"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[2] / "templates"


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        autoescape=jinja2.select_autoescape(["html.j2", "xml.j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined,  # a misspelt key fails the render, not the reader
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["md"] = _markdown_text
    environment.filters["code_block"] = _code_block
    environment.filters["wrap"] = _terminal_lines
    return environment


def _terminal_lines(text: str) -> str:
    """Wrapped at 100 columns; continuation lines indented under the text, not the label."""
    margin = len(text) - len(text.lstrip())
    indent = " " * (margin + 4 if margin else 0)
    return textwrap.fill(text, width=100, subsequent_indent=indent, break_on_hyphens=False)


def _markdown_text(text: object) -> str:
    """Plain text safe inside Markdown (and its table cells): GitHub renders raw HTML, so escape it."""
    escaped = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("|", "\\|").replace("\n", " ")


def _code_block(text: object, language: str = "") -> str:
    """A fenced Markdown code block holding ``text`` whole: the fence is longer than any run of
    backticks in the text (CommonMark), so no line of it (a newline and ``` in --command) can close
    the block and put Markdown or HTML after it."""
    longest = max((len(run) for run in re.findall(r"`+", str(text))), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


# ---------------------------------------------------------------- renderers


def render_html(audit: Audit) -> str:
    """The self-contained report: inline CSS and SVG, no script, nothing fetched."""
    return _environment().get_template("report.html.j2").render(context(audit))


def render_markdown(audit: Audit) -> str:
    """summary.md for CI step summaries; drops the seed table rather than pass the 1 MiB cap."""
    template = _environment().get_template("summary.md.j2")
    values = {**context(audit, with_plots=False), "marks": MARKS}
    text = template.render(values, compact=False)
    if len(text.encode()) > STEP_SUMMARY_LIMIT // 2:
        text = template.render(values, compact=True)
    return _clip(text, STEP_SUMMARY_LIMIT // 2)


def render_text(audit: Audit) -> str:
    """The short verdict `check` and `stats` print in the terminal."""
    return (
        _environment()
        .get_template("verdict.txt.j2")
        .render(context(audit, with_plots=False) | {"audit_dir": str(audit.audit_dir or "")})
        .rstrip("\n")  # click.echo ends the line
    )


def render_junit(audit: Audit) -> str:
    """JUnit XML: one test case per decision of every claim; a failed decision is a failure."""
    cases = []
    for result in audit.results:
        rep, imp = result.reproduction, result.improvement
        name = f"{result.claim.metric} {result.claim.value:g}"
        cases.append(
            _case(
                name + " reproduces",
                rep.decision.value,
                REPRODUCTION_WORDS[rep.decision][1],
                rep.reason,
            )
        )
        base = result.baseline_reproduction
        if base is not None:
            cases.append(
                _case(
                    name + " baseline number reproduces",
                    base.decision.value,
                    REPRODUCTION_WORDS[base.decision][1],
                    base.reason,
                )
            )
        if imp is not None:
            cases.append(
                _case(
                    name + " improvement clears seed noise",
                    imp.decision.value,
                    IMPROVEMENT_WORDS[imp.decision][1],
                    imp.reason,
                )
            )
    if audit.verdict is Verdict.ERROR:
        cases.append(_case("the audit runs", "error", None, audit.verdict_reason))
    subject = audit.source.display_name if audit.source else audit.audit_id
    suite = ET.Element(
        "testsuite",
        name=f"repaudit {subject}",
        tests=str(len(cases)),
        timestamp=audit.created_at.rstrip("Z"),
        time="0",
    )
    for attribute, outcome in (
        ("failures", "failure"),
        ("errors", "error"),
        ("skipped", "skipped"),
    ):
        suite.set(attribute, str(sum(c.find(outcome) is not None for c in cases)))
    suite.extend(cases)
    ET.SubElement(suite, "system-out").text = audit.verdict_reason
    root = ET.Element("testsuites", name="repaudit")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _case(name: str, decision: str, tone: Tone | None, reason: str) -> ET.Element:
    """A test case that fails on a failing decision, errs when the audit could not run (no tone),
    and is skipped (a warning) when inconclusive."""
    case = ET.Element("testcase", classname="repaudit", name=name, time="0")
    if tone is None:
        ET.SubElement(case, "error", message=reason, type="error").text = reason
    elif tone is Tone.BAD:
        ET.SubElement(case, "failure", message=f"{decision}: {reason}", type=decision).text = reason
    elif decision == "inconclusive":
        ET.SubElement(case, "skipped", message=f"inconclusive: {reason}")
    return case


def write_report(audit: Audit, path: Path) -> None:
    """Render report.html and write it atomically; a failed render leaves no partial file."""
    write_text_atomic(path, render_html(audit))


def write_outputs(audit: Audit, paths: AuditPaths) -> None:
    """report.html and summary.md beside audit.json (after `check`, and by `repaudit report`)."""
    write_report(audit, paths.report_html)
    write_text_atomic(paths.summary_md, render_markdown(audit))


def append_step_summary(markdown: str) -> None:
    """Append to $GITHUB_STEP_SUMMARY when set, clipped so the file stays within GitHub's 1 MiB."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    path = Path(target)
    used = path.stat().st_size if path.exists() else 0
    room = STEP_SUMMARY_LIMIT - used - 1
    if room <= 0:
        return
    with path.open("a", encoding="utf-8") as file:
        file.write(_clip(markdown, room) + "\n")


def _clip(markdown: str, limit: int) -> str:
    """Cut at a line boundary so the text's UTF-8 size stays within limit bytes, and say so."""
    if len(markdown.encode()) <= limit:
        return markdown
    note = "\n\n_(truncated to fit the step summary's size limit; the full report is in report.html)_\n"
    if limit < len(note.encode()):
        return ""
    kept = markdown.encode()[: limit - len(note.encode())].decode(errors="ignore")
    return kept.rsplit("\n", 1)[0] + note
