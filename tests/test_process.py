"""run_contained directly: exit codes and logs."""

from __future__ import annotations

from pathlib import Path

from repaudit.model import Isolation
from repaudit.run import process


def test_run_contained_writes_logs_and_reports_the_exit(tmp_path: Path) -> None:
    outcome = process.run_contained(
        "echo out; echo err >&2; exit 4",
        isolation=Isolation.NONE,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        stdout_path=tmp_path / "o",
        stderr_path=tmp_path / "e",
        timeout_seconds=10,
        writable=[tmp_path],
    )
    assert outcome.returncode == 4 and not outcome.timed_out and not outcome.interrupted
    assert (tmp_path / "o").read_text() == "out\n" and (tmp_path / "e").read_text() == "err\n"
