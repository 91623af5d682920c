"""run_contained directly: exit codes, logs, and the duration words used in reasons."""

from __future__ import annotations

from pathlib import Path

from repaudit import runner


def test_format_duration() -> None:
    assert [runner.format_duration(s) for s in (2, 90, 1800, 7200)] == ["2s", "90s", "30m", "2h"]


def test_run_contained_writes_logs_and_reports_the_exit(tmp_path: Path) -> None:
    outcome = runner.run_contained(
        "echo out; echo err >&2; exit 4",
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        stdout_path=tmp_path / "o",
        stderr_path=tmp_path / "e",
        timeout_seconds=10,
        writable=[tmp_path],
    )
    assert outcome.returncode == 4 and not outcome.timed_out and not outcome.interrupted
    assert (tmp_path / "o").read_text() == "out\n" and (tmp_path / "e").read_text() == "err\n"
