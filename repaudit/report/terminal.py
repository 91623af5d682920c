"""Tables for the terminal: every seed at the end of `check`, and the stored audits of `list`.

Columns are padded before they are coloured, since colour codes take no room on the screen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from repaudit.console import styled
from repaudit.model import Audit, Tone
from repaudit.report.context import audit_subject

#: The per-seed table's columns (pip-audit's table is the model: one row per item, its cause last).
SEED_COLUMNS = ("arm", "seed", "status", "value", "duration", "cause")
LIST_COLUMNS = ("created", "verdict", "audited", "commit", "folder")


def table(
    header: Sequence[str] | None,
    rows: Sequence[Sequence[str]],
    tones: Mapping[tuple[int, int], Tone] | None = None,
    *,
    colour: bool = False,
) -> str:
    """Columns padded to their widest cell, two spaces apart; the last column is never padded.

    ``tones`` colours single cells, keyed by (row, column) of ``rows``.
    """
    everything = ([list(header)] if header else []) + [list(r) for r in rows]
    widths = [max(len(row[c]) for row in everything) for c in range(len(everything[0]))]
    offset = 1 if header else 0
    lines = []
    for r, row in enumerate(everything):
        cells = []
        for c, cell in enumerate(row):
            padded = cell if c == len(row) - 1 else cell.ljust(widths[c])
            tone = (tones or {}).get((r - offset, c))
            cells.append(styled(padded, tone, colour=colour) if tone else padded)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def seed_table(runs: Sequence[Mapping[str, Any]], *, colour: bool = False) -> str:
    """Every run of the report context's ``runs``: arm, seed, status, value, duration, cause."""
    rows = [
        (run["arm"], run["seed"], run["status"], run["value"], run["duration"], _cause(run))
        for run in runs
    ]
    tones = {(r, 2): run["tone"] for r, run in enumerate(runs)}
    return table(SEED_COLUMNS, rows, tones, colour=colour)


def _cause(run: Mapping[str, Any]) -> str:
    """What went wrong: the error line the run's output ended with and the reason beside it
    ("ModuleNotFoundError: No module named 'x' (exit code 1)"), or the reason alone."""
    cause, reason = run["cause"], run["reason"]
    if not cause or cause == reason:
        return reason
    return f"{cause} ({reason})" if reason else cause


def listing_row(audit: Audit) -> dict[str, Any]:
    """One stored audit as `list` shows it (and `list --format json` prints it)."""
    return {
        "audit_id": audit.audit_id,
        "created_at": audit.created_at,
        "verdict": audit.verdict.value,
        "audited": audit_subject(audit),
        "commit": audit.source.commit if audit.source else None,
        "audit_dir": str(audit.audit_dir) if audit.audit_dir else None,
        "claims": [
            {
                "metric": r.claim.metric,
                "value": r.claim.value,
                "decisions": [
                    d.value
                    for d in (
                        r.reproduction.decision,
                        r.baseline_reproduction.decision if r.baseline_reproduction else None,
                        r.improvement.decision if r.improvement else None,
                    )
                    if d is not None
                ],
            }
            for r in audit.results
        ],
    }


def render_listing(rows: Sequence[Mapping[str, Any]], *, header: bool, claims: bool) -> str:
    """`list` as text: one line per audit under a header line; with ``claims`` each audit's
    claims and decisions beneath it."""
    cells = [
        (
            row["created_at"][:16].replace("T", " "),
            row["verdict"],
            row["audited"],
            (row["commit"] or "-")[:12],
            row["audit_dir"] or row["audit_id"],
        )
        for row in rows
    ]
    lines = table(LIST_COLUMNS if header else None, cells).splitlines()
    if not claims:
        return "\n".join(lines)
    out = lines[:1] if header else []
    for line, row in zip(lines[1:] if header else lines, rows, strict=True):
        out.append(line)
        out += [
            f"    {c['metric']} {c['value']:g}: {', '.join(c['decisions'])}" for c in row["claims"]
        ]
    return "\n".join(out)
