"""Real `repaudit check` processes stopped from outside: Ctrl-C in every phase and kill -9 leave no
process of the audit behind, no half-written clone, and a resumable audit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TOY_SPEC, ToyRepo, interruptible

from repaudit.model import Isolation
from repaudit.run import isolation

pytestmark = pytest.mark.slow

LEVEL = isolation.detect_isolation()
LEVELS = [
    level for level in Isolation if list(Isolation).index(level) >= list(Isolation).index(LEVEL)
]
SLEEPER = "import sys, time; time.sleep(300)"


def alive(marker: str) -> list[str]:
    """Command lines of live processes that carry ``marker``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # not this test process (its own command line may name the test); the seeds' interpreter
        # lives under tmp_path, whose name contains "pytest", so the name cannot tell them apart
        if marker in text and cmdline.parent.name != str(os.getpid()):
            found.append(f"{cmdline.parent.name}: {text}")
    return found


def start(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "REPAUDIT_CACHE": str(tmp_path / "cache"), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "repaudit", "check", *args, "--quiet"],
        cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=interruptible,
    )  # fmt: skip


def wait_for(marker: str, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not alive(marker):
        if process.poll() is not None:
            raise AssertionError(f"repaudit ended first: {process.communicate()}")
        assert time.monotonic() < deadline, f"{marker} never started"
        time.sleep(0.2)


def gone(marker: str, timeout: float = 15) -> list[str]:
    """What still carries ``marker`` after ``timeout`` seconds (the kernel needs a moment)."""
    deadline = time.monotonic() + timeout
    while alive(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive(marker)


def phase_spec(phase: str, marker: str) -> str:
    """The toy spec with a step that sleeps (carrying ``marker``) in ``phase``."""
    sleeper = f'python -c \\"{SLEEPER}\\" {marker}'
    if phase == "environment":
        return TOY_SPEC.replace(
            'environment = "current"', f'environment = "venv"\nsetup = "{sleeper}"'
        )
    if phase == "prepare":
        return TOY_SPEC.replace("[run]", f'[run]\nprepare = "{sleeper}"')
    return TOY_SPEC.replace("python train.py --seed", f"{sleeper}; python train.py --seed")


@pytest.mark.parametrize("phase", ["environment", "prepare", "seeds"])
def test_ctrl_c_in_every_phase_stops_everything_at_once(
    tmp_path: Path, toy_repo: ToyRepo, phase: str
) -> None:
    marker = f"repaudit-phase-{phase}-{os.getpid()}"
    toy_repo(spec=phase_spec(phase, marker))
    process = start(tmp_path, "paper")
    wait_for(marker, process)
    stopped = time.monotonic()
    process.send_signal(signal.SIGINT)  # to repaudit alone: its children are in their own sessions
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert time.monotonic() - stopped < 20
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert gone(marker) == []


def fake_ssh(tmp_path: Path, marker: str) -> dict[str, str]:
    """GIT_SSH_COMMAND for an ssh that connects nowhere and waits: a clone that never finishes."""
    script = tmp_path / "slow-ssh"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -c "{SLEEPER}" {marker}\n')
    script.chmod(0o755)
    return {"GIT_SSH_COMMAND": str(script)}


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_a_stopped_clone_leaves_no_git_running_and_no_partial_clone(
    tmp_path: Path, toy_repo: ToyRepo, how: signal.Signals
) -> None:
    marker = f"repaudit-clone-{how.name}-{os.getpid()}"
    process = start(tmp_path, "ssh://git.example.invalid/paper.git", **fake_ssh(tmp_path, marker))
    wait_for(marker, process)
    process.send_signal(how)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == (130 if how is signal.SIGINT else -9), stderr
    assert gone(marker) == []
    assert not any("git" in line and "clone" in line for line in alive("example.invalid"))
    clones = tmp_path / "cache" / "clones"
    if how is signal.SIGINT:
        assert list(clones.glob(".*partial*")) == []  # removed on the way out
    else:  # git removed it on its SIGTERM from the reaper, or the next audit does
        toy_repo()
        done = subprocess.run(
            [sys.executable, "-m", "repaudit", "check", (tmp_path / "paper").as_uri(),
             "--seeds", "2", "--environment", "current", "--quiet"],
            cwd=tmp_path, env={**os.environ, "REPAUDIT_CACHE": str(tmp_path / "cache")},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode in (0, 1, 3), done.stderr
        assert list(clones.glob(".*partial*")) == []


@pytest.mark.sandbox
@pytest.mark.parametrize(
    ("level", "how"),
    [*((level, signal.SIGKILL) for level in LEVELS), (Isolation.NONE, signal.SIGTERM)],
    ids=lambda x: x.name if isinstance(x, signal.Signals) else str(x),
)
def test_kill_9_of_repaudit_takes_its_seeds_along(
    tmp_path: Path, toy_repo: ToyRepo, level: Isolation, how: signal.Signals
) -> None:
    """No orphans at any level: the seed, and a grandchild that left its session, die with
    repaudit even when repaudit gets no chance to clean up (kill -9, or SIGTERM, which Python
    does not catch)."""
    marker = f"repaudit-orphan-{level}-{how.name}-{os.getpid()}"
    detach = (
        "import subprocess, sys, time; "
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)', '{marker}-detached'],"
        " start_new_session=True); time.sleep(300)"
    )
    toy_repo(files={"train.py": detach})
    process = start(tmp_path, "paper", REPAUDIT_ISOLATION=level.value)
    wait_for(f"{marker}-detached", process)
    process.send_signal(how)
    process.communicate(timeout=60)
    assert gone(marker) == []
