"""Resolving and installing with uv: the failure in uv's own words on one line, and the choices
install() makes (the auditor's torch, PyTorch's CPU index) against a scripted resolver, since the
CPU index cannot be reached from every test machine and torch is gigabytes."""

from __future__ import annotations

import datetime
import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from repaudit.env.auditor_torch import AuditorTorch, Package, find_auditor_torch
from repaudit.env.resolve import cutoff, failure_reason, install
from repaudit.errors import EnvSetupError

# uv 0.13's own output for four kinds of failure, as the build log keeps it
UNSATISFIABLE = """\
error: No solution found when resolving dependencies
  cause: Because you require networkx==1.11 and networkx>=2, we can conclude that your requirements are unsatisfiable.
"""
DERIVATION = """\
Resolved 3 packages in 20ms
error: No solution found when resolving dependencies
  cause: Because torchvision==0.15.2 depends on torch==2.0.1 and you require torch==2.13.0, we can conclude that torchvision==0.15.2 cannot be used.
         And because only torchvision<=0.15.2 is available and you require torchvision, we can conclude that your requirements are unsatisfiable.

hint: `torch` was filtered by `exclude-newer` to only include packages uploaded before 2023-06-02T00:00:00Z. The latest version satisfying the requirement is v2.13.0.
"""
BUILD = """\
Using Python 3.12.1 environment at: v312
Resolved 1 package in 222ms
   Building numpy==1.16.0
error: Failed to build `numpy==1.16.0`
  cause: The build backend returned an error
  cause: Call to `setuptools.build_meta:__legacy__.get_requires_for_build_wheel` failed (exit status: 1)

         [stderr]
         Traceback (most recent call last):
           File "<string>", line 8, in <module>
         ModuleNotFoundError: No module named 'distutils'

hint: `distutils` was removed from the standard library in Python 3.12. Consider adding a constraint (like `numpy >1.16.0`) to avoid building a version of `numpy` that depends on `distutils`.
"""
PARSE = """\
error: Couldn't parse requirement in `requirements.txt` at position 0
  cause: no such comparison operator "===!!", must be one of ~= == != <= >= < > ===
         numpy===!!not-a-version
              ^^^^^^^^^^^^^^^^^^
"""
UNREACHABLE = """\
warning: Failed to hardlink files; falling back to full copy.
error: Request failed after 3 retries in 6.4s
  cause: Failed to fetch: https://download.pytorch.org/whl/cpu/torch/
  cause: error sending request for url (https://download.pytorch.org/whl/cpu/torch/)
  cause: dns error
"""


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        (UNSATISFIABLE, "No solution found when resolving dependencies: Because you require networkx==1.11 and networkx>=2, we can conclude that your requirements are unsatisfiable"),
        (DERIVATION, "No solution found when resolving dependencies: Because torchvision==0.15.2 depends on torch==2.0.1 and you require torch==2.13.0, we can conclude that torchvision==0.15.2 cannot be used: And because only torchvision<=0.15.2 is available and you require torchvision, we can conclude that your requirements are unsatisfiable (hint: `torch` was filtered by `exclude-newer` to only include packages uploaded before 2023-06-02T00:00:00Z.)"),
        (BUILD, "Failed to build `numpy==1.16.0`: The build backend returned an error: Call to `setuptools.build_meta:__legacy__.get_requires_for_build_wheel` failed (exit status: 1): ModuleNotFoundError: No module named 'distutils' (hint: `distutils` was removed from the standard library in Python 3.12.)"),
        (PARSE, "Couldn't parse requirement in `requirements.txt` at position 0: no such comparison operator \"===!!\", must be one of ~= == != <= >= < > ===: numpy===!!not-a-version"),
        (UNREACHABLE, "Request failed after 3 retries in 6.4s: Failed to fetch: https://download.pytorch.org/whl/cpu/torch/: error sending request for url (https://download.pytorch.org/whl/cpu/torch/): dns error"),
        ("Collecting x\nERROR: x has no wheel\n", "x has no wheel"),
        ("building...\nSystemExit: setup failed\n", "SystemExit: setup failed"),
    ],
)  # fmt: skip
def test_failure_reason_is_uvs_own_words_on_one_line(output: str, reason: str) -> None:
    assert failure_reason(output) == reason


def test_the_resolution_date_ends_with_its_day_in_utc() -> None:
    assert cutoff(datetime.date(2019, 6, 1)) == "2019-06-02T00:00:00Z"


class ScriptedSteps:
    """Answers each command in turn from a script; a successful compile writes its --output-file."""

    def __init__(self, *answers: tuple[int, str]) -> None:
        self.answers = list(answers)
        self.commands: list[list[str]] = []
        self.log_path = Path("environment.log")

    def attempt(self, command: Sequence[str]) -> tuple[int, str]:
        self.commands.append(list(command))
        code, text = self.answers.pop(0)
        if code == 0 and "compile" in command:
            Path(command[command.index("--output-file") + 1]).write_text(text)
        return code, text

    def run(self, label: str, command: Sequence[str]) -> str:
        code, text = self.attempt(command)
        if code:
            raise EnvSetupError(f"installing {label} failed: {failure_reason(text)}")
        return text

    def log(self, text: str) -> None:
        pass


AUDITOR = AuditorTorch(
    (
        Package("torch", "2.13.0+cpu", ("filelock",), ">=3.10", (Path("/a/torch-2.13.0+cpu.dist-info"), Path("/a/torch"))),
        Package("filelock", "4.3.1", (), None, (Path("/a/filelock-4.3.1.dist-info"), Path("/a/filelock"))),
    )
)  # fmt: skip


def run_install(tmp_path: Path, steps: ScriptedSteps, **options: object) -> tuple[bool, list[str]]:
    arguments: dict = {
        "inputs": [tmp_path / "requirements.txt"], "project": None, "label": "requirements.txt",
        "as_of": datetime.date(2023, 6, 1), "auditor": None, "cpu_torch": False, **options,
    }  # fmt: skip
    return install(steps, tmp_path, **arguments)  # type: ignore[arg-type]


def test_the_auditors_torch_is_offered_pinned_and_left_out_of_the_install(tmp_path: Path) -> None:
    lock = (
        "--index-url https://pypi.org/simple\nfilelock==4.3.1\nsix==1.16.0\ntorch==2.13.0\n-e .\n"
    )
    steps = ScriptedSteps((0, lock), (0, "installed"))
    assert run_install(tmp_path, steps, auditor=AUDITOR, cpu_torch=True) == (True, [])
    offered, installed = steps.commands
    assert "--config-file" in offered and "--exclude-newer-package=torch=false" in offered
    assert (
        tmp_path / "repaudit-auditor-torch.txt"
    ).read_text() == "torch==2.13.0\nfilelock==4.3.1\n"
    assert (
        'version = "2.13.0"\nrequires-dist = ["filelock"]'
        in (tmp_path / "repaudit-uv.toml").read_text()
    )
    # only what the auditor does not provide is installed; an editable line becomes a copy
    assert (tmp_path / "repaudit-install.txt").read_text() == (
        "--index-url https://pypi.org/simple\nsix==1.16.0\n.\n"
    )
    assert installed[2:4] == ["install", "--python"] and "--no-deps" in installed


def test_a_refused_auditor_torch_is_installed_like_any_requirement_cpu_build_preferred(
    tmp_path: Path,
) -> None:
    era_lock = "torch==2.0.1\ntorchvision==0.15.2\nnvidia-cublas-cu11==11.10.3.66\n"
    cpu_lock = "torch==2.0.1+cpu\ntorchvision==0.15.2+cpu\n"
    steps = ScriptedSteps((1, DERIVATION), (0, era_lock), (0, cpu_lock), (0, "installed"))
    assert run_install(tmp_path, steps, auditor=AUDITOR, cpu_torch=True) == (False, [])
    _, plain, cpu, installed = steps.commands
    assert "--config-file" not in plain and "--torch-backend" not in plain
    assert cpu[cpu.index("--torch-backend") + 1] == "cpu"
    assert "--exclude-newer-package=torchvision=false" in cpu  # that index has no upload dates
    assert (tmp_path / "repaudit-torch.txt").read_text() == "torch==2.0.1\ntorchvision==0.15.2\n"
    assert (tmp_path / "repaudit-install.txt").read_text() == cpu_lock
    assert "--torch-backend" in installed


def test_an_unreachable_cpu_index_keeps_pypis_build_and_says_so(tmp_path: Path) -> None:
    era_lock = "torch==2.0.1\n"
    steps = ScriptedSteps((0, era_lock), (1, UNREACHABLE), (0, "installed"))
    reused, notes = run_install(tmp_path, steps, cpu_torch=True)
    assert not reused and (tmp_path / "repaudit-install.txt").read_text() == era_lock
    (note,) = notes
    assert note.startswith("no GPU here, but the CPU build of torch 2.0.1 could not be resolved")
    assert "dns error" in note and "--torch-backend" not in steps.commands[-1]


def test_with_a_gpu_torch_comes_from_pypi_as_resolved(tmp_path: Path) -> None:
    steps = ScriptedSteps((0, "torch==2.0.1\n"), (0, "installed"))
    assert run_install(tmp_path, steps, cpu_torch=False, as_of=None) == (False, [])
    assert not any("--exclude-newer" in " ".join(c) for c in steps.commands)  # today: no date


def test_the_auditors_torch_is_found_with_its_own_dependencies_only() -> None:
    try:  # its metadata, not the module: importing torch takes seconds
        version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("torch is not installed here")
    found = find_auditor_torch(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert found is not None and found.version == version
    assert "torch" in found.names and "filelock" in found.names and "click" not in found.names
    assert all(e.exists() for p in found.packages for e in p.entries)
    assert find_auditor_torch("2.7") is None  # another Python series cannot load it
