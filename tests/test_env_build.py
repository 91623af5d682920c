"""prepare_environment (current, overlay, cached venv, failures), fingerprint and GPU detection."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repaudit.env import prepare_environment
from repaudit.errors import EnvSetupError
from repaudit.isolation import detect_isolation
from repaudit.model import ArmSpec, AuditSpec, Claim, EnvironmentKind, Isolation


def spec(**fields: object) -> AuditSpec:
    return AuditSpec(
        claims=(Claim("acc", 0.5),), arms=(ArmSpec("method", "python train.py {seed}"),), seeds=(1,),
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_current_is_the_running_interpreter(tmp_path: Path) -> None:
    env = prepare_environment(spec(), tmp_path, cache_dir=tmp_path / "c", log_path=tmp_path / "l")
    assert env.kind is EnvironmentKind.CURRENT and env.python == Path(sys.executable)
    assert env.torch_from == "system" and env.cache_key is None
    assert env.isolation is detect_isolation()[0] and env.isolation_note
    assert not (tmp_path / "c").exists()  # nothing built


def test_conda_only_repositories_are_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "environment.yml").write_text("dependencies: [numpy]\n")
    with pytest.raises(
        EnvSetupError, match="conda environment.*requirements.txt.*--environment current"
    ):
        prepare_environment(
            spec(environment=EnvironmentKind.VENV),
            tmp_path,
            cache_dir=tmp_path / "c",
            log_path=tmp_path / "l",
        )


@pytest.mark.slow
def test_venv_is_built_once_reuses_the_auditors_torch_and_carries_the_hook(tmp_path: Path) -> None:
    checkout = tmp_path / "paper"
    checkout.mkdir()
    (checkout / "requirements.txt").write_text("numpy\n")  # already satisfied: nothing downloaded
    # settings only, not a project; and a conda file that requirements.txt overrides
    (checkout / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    (checkout / "environment.yml").write_text("dependencies: [numpy]\n")
    venv_spec = spec(environment=EnvironmentKind.VENV, setup="python -c \"open('setup-ran', 'w')\"")
    log = tmp_path / "audit" / "environment.log"
    env = prepare_environment(venv_spec, checkout, cache_dir=tmp_path / "cache", log_path=log)
    assert env.kind is EnvironmentKind.VENV and not env.reused
    assert env.python.parent == env.bin_dir and str(env.python).startswith(
        str(tmp_path / "cache" / "venvs")
    )
    assert env.torch_from == "system"
    assert "Requirement already satisfied: numpy" in log.read_text()
    assert (checkout / "setup-ran").exists()
    site_packages = next(env.bin_dir.parent.glob("lib/python*/site-packages"))
    assert {"repaudit_seed_hook.py", "repaudit_seed_hook.pth"} <= {
        p.name for p in site_packages.iterdir()
    }
    started = time.monotonic()
    again = prepare_environment(venv_spec, checkout, cache_dir=tmp_path / "cache", log_path=log)
    assert again.reused and again.python == env.python and time.monotonic() - started < 2
    # `pip` in a setup command installs into the venv, never into the auditor's interpreter
    assert shutil.which("pip", path=str(env.bin_dir)) == str(env.bin_dir / "pip")
    prefix = subprocess.run(
        [env.python, "-c", "import sys; print(sys.prefix)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert prefix.stdout.strip() == str(env.bin_dir.parent)


@pytest.mark.slow
def test_failed_install_shows_the_tail_keeps_the_log_and_leaves_no_venv(tmp_path: Path) -> None:
    checkout = tmp_path / "paper"
    checkout.mkdir()
    (checkout / "requirements.txt").write_text("numpy===!!not-a-version\n")
    log = tmp_path / "environment.log"
    with pytest.raises(EnvSetupError) as error:
        prepare_environment(
            spec(environment=EnvironmentKind.VENV),
            checkout,
            cache_dir=tmp_path / "cache",
            log_path=log,
        )
    message = str(error.value)
    assert "installing requirements.txt failed" in message and str(log) in message
    assert "not-a-version" in message.split("Last lines:")[1]
    assert "not-a-version" in log.read_text()
    assert [p for p in (tmp_path / "cache" / "venvs").iterdir() if p.is_dir()] == []


def test_isolation_level_can_be_lowered_but_never_overstated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REPAUDIT_ISOLATION", "none")
    level, note = detect_isolation()
    assert level is Isolation.NONE and "WITHOUT isolation" in note and "bubblewrap" in note
