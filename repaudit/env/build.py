"""Build or reuse the interpreter the seeds run under (its fingerprint: fingerprint.py).

``venv``: a virtual environment from what the repository declares, in repo2docker's order (a
``binder/`` folder replaces the root; ``environment.yml`` alone is unsupported; ``requirements.txt``;
the project itself from ``pyproject.toml``/``setup.py``; then the spec's ``setup``), cached under
``<cache>/venvs/<hash>`` so the next audit of the same declarations spends no time here.

Every environment repaudit makes sees the auditor's own packages through a one-line .pth file that
``site.addsitedir``s the running interpreter's site folders *after* its own (rather than venv's
``--system-site-packages``, which would expose the base interpreter and miss the auditor's own venv):
the auditor's torch is reused unless the repository pins another version, which then lands in the
venv and wins. pip installs, because it counts those packages as installed; uv does not look past
the venv (astral-sh/uv#4466) and would download torch again, so uv only creates the venv.

``current``: the running interpreter; when the seed hook is needed, a tiny overlay venv with no
packages of its own (the same .pth) gives the hook a site-packages folder to live in, since the
auditor's own must not be written to.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

from repaudit.env.fingerprint import probe
from repaudit.errors import EnvSetupError
from repaudit.isolation import base_environment, detect_isolation
from repaudit.model import AuditSpec, Environment, EnvironmentKind
from repaudit.runner import run_contained

_RECIPE = "1"  # bump when the way environments are built changes: old cache entries are not reused
_INSTALL_TIMEOUT = 3600.0
_COMPLETE = ".repaudit-complete"
_PACKAGE_DIR = Path(__file__).parent.parent
_TORCH_ORIGIN = "import importlib.util as u; s = u.find_spec('torch'); print(s.origin if s else '')"


def prepare_environment(
    spec: AuditSpec, checkout_dir: Path, *, cache_dir: Path, log_path: Path
) -> Environment:
    """The environment the spec asks for, built or reused; EnvSetupError when it cannot be built."""
    isolation, note = detect_isolation()
    needs_hook = spec.seed_override or spec.deterministic
    if spec.environment is EnvironmentKind.CURRENT:
        python = Path(sys.executable)
        if needs_hook:
            overlay = cache_dir / "venvs" / f"current-{_digest(sys.executable, *_site_dirs())[:16]}"
            with _locked(overlay):
                if not (overlay / _COMPLETE).exists():
                    _create_venv(overlay, with_pip=False, log_path=log_path)
                    (overlay / _COMPLETE).write_text("{}")
            _install_hook(overlay)
            python = overlay / "bin" / "python"
        torch = importlib.util.find_spec("torch") is not None
        return Environment(
            kind=EnvironmentKind.CURRENT,
            python=python,
            bin_dir=python.parent,
            torch_from="system" if torch else "none",
            isolation=isolation,
            isolation_note=note,
        )
    steps, declared = _install_steps(spec, checkout_dir)
    key = _digest(_RECIPE, sys.version, os.path.realpath(sys.executable), *_site_dirs(), *declared)
    venv = cache_dir / "venvs" / key[:16]
    with _locked(venv):
        reused = (venv / _COMPLETE).exists()
        if not reused:
            shutil.rmtree(venv, ignore_errors=True)
            try:
                _build(venv, steps, checkout_dir, cache_dir, log_path)
            except BaseException:
                shutil.rmtree(venv, ignore_errors=True)  # a half-built venv is never reused
                raise
            origin = probe(venv / "bin" / "python", _TORCH_ORIGIN)
            torch_from = (
                "none"
                if not origin
                else "environment"
                if origin.startswith(str(venv))
                else "system"
            )
            (venv / _COMPLETE).write_text(json.dumps({"torch_from": torch_from}))
    _install_hook(venv)
    recorded = json.loads((venv / _COMPLETE).read_text())
    return Environment(
        kind=EnvironmentKind.VENV,
        python=venv / "bin" / "python",
        bin_dir=venv / "bin",
        cache_key=key,
        torch_from=recorded["torch_from"],
        reused=reused,
        isolation=isolation,
        isolation_note=note,
    )


def _install_steps(spec: AuditSpec, checkout_dir: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(label, shell command) per install step, and what the cache key must cover."""
    binder = next(
        (checkout_dir / d for d in ("binder", ".binder") if (checkout_dir / d).is_dir()), None
    )
    where = binder or checkout_dir
    pip = "python -m pip install --disable-pip-version-check --no-input"
    steps: list[tuple[str, str]] = []
    declared: list[str] = [f"setup={spec.setup!r}"]
    requirements = where / "requirements.txt"
    if requirements.is_file():
        steps.append(
            (
                str(requirements.relative_to(checkout_dir)),
                f"{pip} -r {shlex.quote(str(requirements))}",
            )
        )
        declared += _file_keys(requirements, checkout_dir)
    if binder is None and _is_project(checkout_dir):
        # Installed as a copy (not editable: each seed's checkout is a different, short-lived
        # folder), so the key covers the whole tree and a change to the code builds a fresh venv.
        steps.append(
            ("the project (pyproject.toml / setup.py)", f"{pip} {shlex.quote(str(checkout_dir))}")
        )
        declared.append(_tree_digest(checkout_dir))
    conda = next(
        (where / n for n in ("environment.yml", "environment.yaml") if (where / n).is_file()), None
    )
    if conda is not None and not steps and not spec.setup:
        raise EnvSetupError(
            f"{conda.relative_to(checkout_dir)} declares a conda environment, which repaudit cannot "
            "build: add a requirements.txt, set [run] setup to the install commands, or build it "
            "yourself and audit with --environment current"
        )
    if spec.setup:
        steps.append(("the spec's [run] setup", spec.setup))
    return steps, declared


def _is_project(checkout_dir: Path) -> bool:
    if (checkout_dir / "setup.py").is_file():
        return True
    pyproject = checkout_dir / "pyproject.toml"
    if not pyproject.is_file():
        return False
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return "project" in document or "build-system" in document  # not just [tool.*] settings


def _file_keys(requirements: Path, checkout_dir: Path) -> list[str]:
    """The requirements file and the files it includes with -r / -c, by content."""
    keys, seen, queue = [], set(), [requirements]
    while queue:
        path = queue.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        keys.append(f"{os.path.relpath(path, checkout_dir)}:{_digest(path.read_bytes().hex())}")
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] in ("-r", "-c", "--requirement", "--constraint"):
                queue.append((path.parent / words[1]).resolve())
    return keys


def _tree_digest(root: Path) -> str:
    hasher = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            path = Path(folder, name)
            hasher.update(str(path.relative_to(root)).encode() + b"\0")
            with contextlib.suppress(OSError):
                hasher.update(hashlib.sha256(path.read_bytes()).digest())
    return hasher.hexdigest()


def _build(
    venv: Path, steps: list[tuple[str, str]], checkout_dir: Path, cache_dir: Path, log_path: Path
) -> None:
    _create_venv(venv, with_pip=True, log_path=log_path)
    pip_cache = cache_dir / "pip"
    pip_cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="repaudit-install-") as scratch:
        home = Path(scratch, "home")
        home.mkdir()
        env = {
            **base_environment(venv / "bin", network=True),
            "HOME": str(home),
            "VIRTUAL_ENV": str(venv),
            "PIP_CACHE_DIR": str(pip_cache),
        }
        for label, command in steps:
            out, err = Path(scratch, "out"), Path(scratch, "err")
            outcome = run_contained(
                command,
                cwd=checkout_dir,
                env=env,
                stdout_path=out,
                stderr_path=err,
                timeout_seconds=_INSTALL_TIMEOUT,
                network=True,
                writable=[venv, checkout_dir, pip_cache, home],
            )
            text = out.read_text(errors="replace") + err.read_text(errors="replace")
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"$ {command}\n{text}\n[exit code {outcome.returncode}]\n")
            if outcome.returncode != 0:
                tail = "\n".join(text.splitlines()[-15:])
                raise EnvSetupError(
                    f"installing {label} failed (`{command}`, exit code {outcome.returncode}); "
                    "fix the declaration or the spec's [run] setup, or audit with --environment "
                    f"current. Full log: {log_path}. Last lines:\n{tail}"
                )


def _create_venv(venv: Path, *, with_pip: bool, log_path: Path) -> None:
    """An empty venv that also sees the auditor's site folders (after its own), with the seed hook."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The auditor's pip (visible through the .pth below) serves the venv through two shims, which
    # saves ensurepip's seconds; without one, the venv gets its own pip.
    shims = with_pip and importlib.util.find_spec("pip") is not None
    own_pip = ["--seed"] if with_pip and not shims else []
    if shutil.which("uv"):
        command = ["uv", "venv", "--python", sys.executable, *own_pip, str(venv)]
    else:
        command = [sys.executable, "-m", "venv", *([] if own_pip else ["--without-pip"]), str(venv)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(command)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise EnvSetupError(
            f"cannot create a virtual environment at {venv} ({done.stderr.strip()[-300:]}); "
            f"check that the folder is writable, or audit with --environment current. Log: {log_path}"
        )
    lines = [f"import site; site.addsitedir({folder!r})" for folder in _site_dirs()]
    (_site_packages(venv) / "repaudit_base.pth").write_text("\n".join(lines) + "\n")
    for name in ("pip", "pip3") if shims else ():
        # `pip install` in a setup command must install into this venv, never the auditor's.
        shim = venv / "bin" / name
        shim.write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
        shim.chmod(0o755)


def _install_hook(venv: Path) -> None:
    """Copy the seed hook into the venv (every time: a cached venv gets this version's hook)."""
    target = _site_packages(venv)
    for source in (
        _PACKAGE_DIR / "hook" / "repaudit_seed_hook.py",
        _PACKAGE_DIR / "repaudit_seed_hook.pth",
    ):
        content = source.read_bytes()
        destination = target / source.name
        if not destination.exists() or destination.read_bytes() != content:
            destination.write_bytes(content)


def _site_packages(venv: Path) -> Path:
    return (
        venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    )


def _site_dirs() -> list[str]:
    """The running interpreter's site folders, in its own sys.path order."""
    import site

    folders = [*site.getsitepackages(), site.getusersitepackages()]
    return [p for p in sys.path if p in folders and os.path.isdir(p)]


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Two audits building the same environment at once: the second waits, then reuses it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
