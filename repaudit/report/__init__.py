"""The audit's outputs: context(audit) -> dict -> templates (HTML, Markdown, text, JUnit), the plots,
and the comparison of two audits (`repaudit diff`). Reads audits; never runs or decides anything."""

from repaudit.report.context import context
from repaudit.report.diff import AuditDiff, diff_audits, render_diff
from repaudit.report.render import (
    append_step_summary,
    render_html,
    render_junit,
    render_markdown,
    render_text,
    write_outputs,
    write_report,
)
from repaudit.report.terminal import listing_row, render_listing

__all__ = [
    "AuditDiff",
    "append_step_summary",
    "context",
    "diff_audits",
    "listing_row",
    "render_diff",
    "render_html",
    "render_junit",
    "render_listing",
    "render_markdown",
    "render_text",
    "write_outputs",
    "write_report",
]
