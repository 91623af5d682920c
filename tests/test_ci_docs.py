"""docs/ci.md cannot rot: every `repaudit` command in its workflows runs on a small real repository."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import make_repo

pytestmark = pytest.mark.slow

DOC = Path(__file__).resolve().parent.parent / "docs" / "ci.md"


def documented_commands() -> dict[str, list[str]]:
    """Every `repaudit ...` line in docs/ci.md's code, keyed by block ("yaml", or "indented")."""
    commands: dict[str, list[str]] = {}
    fence = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else (line[3:].strip() or "text")
            continue
        if fence is None and not line.startswith("    "):
            continue  # prose
        command = re.sub(r"^\s*(?:-\s+)?", "", line)
        if command.startswith("repaudit "):
            commands.setdefault(fence or "indented", []).append(command)
    return commands


def documented_gitignore() -> str:
    return re.search(r"```gitignore\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)


def paper_repository(path: Path) -> Path:
    """A paper's repository set up as docs/ci.md says: a spec, and the documented .gitignore."""
    return make_repo(path, files={".gitignore": documented_gitignore()})


def test_both_workflows_are_documented():
    commands = documented_commands()
    assert len(commands["yaml"]) == 2  # GitHub Actions, GitLab CI
    assert all(c.startswith("repaudit check . ") for c in commands["yaml"])
    assert "repaudit list --store audits" in commands["indented"]
    text = DOC.read_text(encoding="utf-8")
    for needed in ("actions/cache/save@v4", "actions/upload-artifact@v4", "reports:", "junit:"):
        assert needed in text


def test_documented_commands_run_as_written(tmp_path):
    repository = paper_repository(tmp_path / "paper")
    step_summary = tmp_path / "step-summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(step_summary)}
    commands = list(dict.fromkeys(c for block in documented_commands().values() for c in block))
    for command in commands:
        argv = shlex.split(command)
        completed = subprocess.run(
            [sys.executable, "-m", "repaudit", *argv[1:]],
            cwd=repository,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        # 0 / 1 / 3 are verdicts; 2 (usage) or 4 (could not run) mean the docs are wrong.
        assert completed.returncode in (0, 1, 3), (command, completed.stdout, completed.stderr)
    reports = list((repository / "audits").glob("*/report.html"))
    assert len(reports) == 1  # the second workflow resumed the first one's audit
    assert "test_accuracy" in reports[0].read_text(encoding="utf-8")
    assert (repository / "summary.md").read_text(encoding="utf-8").startswith("## ")
    suite = ET.parse(repository / "repaudit-junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2"
    checks = sum(c.startswith("repaudit check ") for c in commands)
    appended = step_summary.read_text(encoding="utf-8")
    assert appended.count("repaudit: The claim") == checks  # one per check, appended
