"""prepare_environment with the real interpreters and the package index: the current interpreter, a
cached venv of the paper's era (its Python, its packages as of its commit), the auditor's torch, a
failed build in one line, and nothing of the host's leaking in.

Builds need uv's index (PyPI) and pyenv's interpreters; without them these tests skip with the reason.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_repo

from repaudit.env import prepare_environment
from repaudit.env.python import installed_interpreters
from repaudit.errors import EnvSetupError
from repaudit.model import Arm, ArmSpec, AuditSpec, Claim, Environment, EnvironmentKind, Source
from repaudit.run import detect_isolation
from repaudit.source import resolve_source


def spec(**fields: object) -> AuditSpec:
    return AuditSpec(
        claims=(Claim("acc", 0.5),),
        arms=(ArmSpec(Arm.METHOD, "python train.py {seed}"),),
        seeds=(1,),
        **fields,  # type: ignore[arg-type]
    )


def local(folder: Path, committed_at: str | None = None) -> Source:
    """A local source (resolve_as_of defaults to today) for a plain folder of declarations."""
    return Source(str(folder), folder.name, folder, "0" * 40, committed_at=committed_at)


def series(env: Environment) -> str:
    return ".".join(env.python_version.split(".")[:2])


def needs(*wanted: str) -> None:
    """Skip unless the interpreters ``wanted`` ("3.10") are installed and PyPI answers."""
    found = {i.series for i in installed_interpreters()}
    missing = [s for s in wanted if s not in found]
    if missing:
        pytest.skip(f"Python {', '.join(missing)} not installed (pyenv install {missing[0]})")
    index = subprocess.run(
        [sys.executable, "-c", "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/six/', timeout=10)"],
        capture_output=True, check=False,
    )  # fmt: skip
    if index.returncode != 0:
        pytest.skip("the package index (https://pypi.org) cannot be reached")


def imports(env: Environment, *modules: str) -> dict[str, bool]:
    """Which ``modules`` the environment's interpreter can import."""
    found = {}
    for module in modules:
        done = subprocess.run(  # not from here: `python -c` would find ./repaudit
            [env.python, "-c", f"import {module}"],
            cwd=env.bin_dir,
            capture_output=True,
            check=False,
        )
        found[module] = done.returncode == 0
    return found


def test_current_is_the_running_interpreter_through_the_hook_overlay(tmp_path: Path) -> None:
    """The overlay holds only the seed hook (it observes every seed's seeding calls) and sees the
    auditor's own packages; it is made once per interpreter and cached."""
    env = prepare_environment(
        spec(),
        local(tmp_path),
        tmp_path,
        cache_dir=tmp_path / "c",
        log_path=tmp_path / "l",
        isolation=detect_isolation(),
    )
    assert env.kind is EnvironmentKind.CURRENT and env.python.parent.parent.name.startswith(
        "current-"
    )
    same = subprocess.run(
        [env.python, "-c", "import sys, numpy; print(sys.base_prefix, numpy.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert same[0] == sys.base_prefix and same[1].startswith(sys.prefix)
    hook = list(env.python.parent.parent.glob("lib/python*/site-packages/repaudit_seed_hook.pth"))
    assert hook, "the seed hook is installed in the overlay"
    assert env.torch_from == "system" and env.cache_key is None
    assert env.python_version == sys.version.split()[0] and env.resolved_as_of is None


def test_conda_only_repositories_are_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "environment.yml").write_text("dependencies: [numpy]\n")
    with pytest.raises(
        EnvSetupError, match="conda environment.*requirements.txt.*--environment current"
    ):
        prepare_environment(
            spec(environment=EnvironmentKind.VENV),
            local(tmp_path),
            tmp_path,
            cache_dir=tmp_path / "c",
            log_path=tmp_path / "l",
            isolation=detect_isolation(),
        )


@pytest.mark.slow
def test_a_venv_is_built_once_sees_only_what_it_installed_and_carries_the_hook(
    tmp_path: Path,
) -> None:
    needs("3.11")
    checkout = tmp_path / "paper"
    checkout.mkdir()
    (checkout / "requirements.txt").write_text("six\n")
    # settings only, not a project; and a conda file that requirements.txt overrides
    (checkout / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n")
    (checkout / "environment.yml").write_text("dependencies: [numpy]\n")
    venv_spec = spec(
        environment=EnvironmentKind.VENV, python="3.11", setup="python -c \"open('ran', 'w')\""
    )
    log = tmp_path / "audit" / "environment.log"
    env = prepare_environment(
        venv_spec,
        local(checkout),
        checkout,
        cache_dir=tmp_path / "cache",
        log_path=log,
        isolation=detect_isolation(),
    )
    assert env.kind is EnvironmentKind.VENV and not env.reused and series(env) == "3.11"
    assert env.python_reason == '[run] python = "3.11"'
    assert env.python.parent == env.bin_dir and env.bin_dir.parent in env.readonly_paths
    assert (checkout / "ran").exists() and "+ six==" in log.read_text()
    # the auditor's packages (click, numpy, repaudit itself) stay out; what it installed is in
    assert imports(env, "six", "click", "numpy", "repaudit") == {
        "six": True, "click": False, "numpy": False, "repaudit": False,
    }  # fmt: skip
    site_packages = next(env.bin_dir.parent.glob("lib/python*/site-packages"))
    assert {"repaudit_seed_hook.py", "repaudit_seed_hook.pth"} <= {
        p.name for p in site_packages.iterdir()
    }
    started = time.monotonic()
    again = prepare_environment(
        venv_spec,
        local(checkout),
        checkout,
        cache_dir=tmp_path / "cache",
        log_path=log,
        isolation=detect_isolation(),
    )
    assert again.reused and again.python == env.python and time.monotonic() - started < 2
    assert again.resolved_as_of == env.resolved_as_of and again.python_version == env.python_version
    # another resolution date is another environment
    dated = prepare_environment(
        dataclasses.replace(venv_spec, resolve_as_of="2020-01-01"),
        local(checkout),
        checkout,
        cache_dir=tmp_path / "cache",
        log_path=log,
        isolation=detect_isolation(),
    )
    assert dated.cache_key != env.cache_key and dated.resolved_as_of == "2020-01-01"
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
def test_a_failed_build_names_the_requirement_and_the_resolvers_reason_in_one_line(
    tmp_path: Path,
) -> None:
    needs("3.11")
    checkout = tmp_path / "paper"
    checkout.mkdir()
    (checkout / "requirements.txt").write_text("six==1.12.0\nsix>=1.16\n")
    log = tmp_path / "environment.log"
    with pytest.raises(EnvSetupError) as error:
        prepare_environment(
            spec(environment=EnvironmentKind.VENV, python="3.11"),
            local(checkout),
            checkout,
            cache_dir=tmp_path / "cache",
            log_path=log,
            isolation=detect_isolation(),
        )
    message = str(error.value)
    assert "\n" not in message and error.value.exit_code == 4
    assert message.startswith("installing requirements.txt failed: No solution found")
    assert "you require six==1.12.0 and six>=1.16" in message and str(log) in message
    assert "six>=1.16" in log.read_text()
    assert [p.name for p in (tmp_path / "cache" / "venvs").iterdir() if p.is_dir()] == [".uv-cache"]


@pytest.mark.slow
def test_requires_python_below_3_11_gets_3_10(tmp_path: Path) -> None:
    needs("3.10", "3.11")
    checkout = tmp_path / "paper"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text(
        '[project]\nname = "paper"\nversion = "1.0"\nrequires-python = "<3.11"\n'
    )
    env = prepare_environment(
        spec(environment=EnvironmentKind.VENV),
        local(checkout),
        checkout,
        cache_dir=tmp_path / "cache",
        log_path=tmp_path / "env.log",
        isolation=detect_isolation(),
    )
    assert series(env) == "3.10"
    assert env.python_reason.startswith(
        "pyproject.toml requires-python <3.11; the newest installed"
    )
    installed = subprocess.run(
        [env.python, "-c", "import importlib.metadata as m; print(m.version('paper'))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert installed.stdout.strip() == "1.0"  # the project itself, from its pyproject.toml


@pytest.mark.slow
def test_an_old_commit_gets_its_eras_python_and_packages(tmp_path: Path) -> None:
    """networkx 1.11 imports only below Python 3.9 (fractions.gcd), and six resolves to the release
    current on the commit's day (1.12.0, 2018-12-09; 1.13.0 came 2019-11-01)."""
    needs("3.7", "3.9")
    files = {"requirements.txt": "networkx==1.11\nsix\n"}
    repo = make_repo(tmp_path / "paper", files=files, date="2019-06-01T12:00:00+0000")
    source = resolve_source(str(repo), cache_dir=tmp_path / "cache")
    assert source.committed_at == "2019-06-01T12:00:00Z"
    # a cloned repository defaults to resolve_as_of = "commit"; a local one is told so
    env = prepare_environment(
        spec(environment=EnvironmentKind.VENV, resolve_as_of="commit"),
        source,
        repo,
        cache_dir=tmp_path / "cache",
        log_path=tmp_path / "env.log",
        isolation=detect_isolation(),
    )
    assert series(env) == "3.7" and env.resolved_as_of == "2019-06-01"
    assert (
        env.python_reason == "no Python declared; the newest installed released before 2019-06-01"
    )
    versions = subprocess.run(
        [env.python, "-c", "import networkx, six; networkx.Graph(); print(networkx.__version__, six.__version__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert versions.stdout.split() == ["1.11", "1.12.0"]


@pytest.mark.slow
def test_the_auditors_torch_is_reused_with_exactly_its_own_dependencies(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    needs(host)
    checkout = tmp_path / "paper"
    checkout.mkdir()
    (checkout / "requirements.txt").write_text("torch\n")
    env = prepare_environment(
        spec(environment=EnvironmentKind.VENV, python=host),
        local(checkout),
        checkout,
        cache_dir=tmp_path / "cache",
        log_path=tmp_path / "env.log",
        isolation=detect_isolation(),
    )
    assert env.torch_from == "system"
    import torch

    found = subprocess.run(
        [env.python, "-c", "import torch, sympy; print(torch.__version__)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert found.stdout.strip() == torch.__version__
    assert imports(env, "click", "numpy") == {"click": False, "numpy": False}
