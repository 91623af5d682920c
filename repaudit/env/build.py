"""Build or reuse the interpreter the seeds run under: of the paper's era, with nothing of the host's.

``venv`` (docs/spec.md, [run] environment), cached under ``<cache>/venvs/<hash>`` (cache.py) by the Python, the
resolution date, the declarations and the setup command, so the next audit spends no time here:

1. the Python the repository declares, else the newest released before its commit (python.py);
2. an empty venv on it (uv, seeded with the pip/setuptools/wheel of the date, as a venv of that day);
3. the declared requirements in repo2docker's order (a ``binder/`` folder replaces the root;
   ``requirements.txt``; the project itself from ``pyproject.toml``/``setup.py``; an
   ``environment.yml`` alone is refused), resolved by uv as of the resolution date and installed
   exactly as resolved (resolve.py); the auditor's torch is reused when the resolution accepts it
   (auditor_torch.py), else torch is installed like any requirement;
4. the spec's ``[run] setup``.

``current``: the running interpreter, through a tiny overlay venv with no packages of its own (a
.pth adds the auditor's site folders) that gives the seed hook a site-packages folder to live in,
since the auditor's own must not be written to. The hook is in every environment: it observes the
seeding calls of every seed (and replaces them under seed_override).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import importlib.util
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uv import find_uv_bin

from repaudit.env import resolve
from repaudit.env.auditor_torch import AuditorTorch, find_auditor_torch
from repaudit.env.cache import hold, locked, read_record, venvs_dir, write_record
from repaudit.env.fingerprint import detect_gpus, probe
from repaudit.env.python import PythonChoice, choose_python
from repaudit.errors import EnvSetupError
from repaudit.model import AuditSpec, Environment, EnvironmentKind, Isolation, Source, TorchOrigin
from repaudit.run import base_environment

_RECIPE = "2"  # bump when the way environments are built changes: old cache entries are not reused
_INSTALL_TIMEOUT = 3600.0
_PACKAGE_DIR = Path(__file__).parent.parent
_TORCH_ORIGIN = "import importlib.util as u; s = u.find_spec('torch'); print(s.origin if s else '')"


@dataclass(frozen=True)
class _Plan:
    """What an environment is built from; ``key`` (its cache key) covers all of it."""

    python: PythonChoice
    as_of: datetime.date | None  # the resolution date; None: today's packages
    inputs: tuple[Path, ...]  # what uv resolves: requirements files, the project's metadata file
    project: Path | None  # the checkout itself, installed (not editable) when it is a project
    label: str  # the inputs in plain words, for messages
    setup: str | None
    auditor: AuditorTorch | None  # the auditor's torch, when its Python series matches
    cpu_torch: bool  # no GPU here: torch from PyTorch's CPU index
    notes: tuple[str, ...]
    key: str


def prepare_environment(
    spec: AuditSpec,
    source: Source,
    checkout_dir: Path,
    *,
    cache_dir: Path,
    log_path: Path,
    isolation: Isolation,
) -> Environment:
    """The environment the spec asks for, built or reused; EnvSetupError when it cannot be built.

    ``source`` gives the era: its commit date (and whether it was cloned, for resolve_as_of's
    default); ``checkout_dir`` holds the declarations; the build's steps run contained at
    ``isolation`` (the audit's level), with network."""
    if spec.environment is EnvironmentKind.CURRENT:
        return _current(cache_dir, log_path)
    plan = _plan(spec, source, checkout_dir)
    venv = venvs_dir(cache_dir) / plan.key[:16]
    with locked(venv):
        record = read_record(venv)
        if record is not None and not all(Path(p).exists() for p in record["readonly_paths"]):
            record = None  # its base interpreter or the auditor's torch is gone: build afresh
        reused = record is not None
        if record is None:
            shutil.rmtree(venv, ignore_errors=True)
            try:
                record = _build(venv, plan, checkout_dir, cache_dir, log_path, isolation)
            except BaseException:
                shutil.rmtree(venv, ignore_errors=True)  # a half-built venv is never reused
                raise
            write_record(venv, record)
        hold(venv)
        _install_hook(venv)
    return Environment(
        kind=EnvironmentKind.VENV,
        python=venv / "bin" / "python",
        bin_dir=venv / "bin",
        cache_key=plan.key,
        torch_from=TorchOrigin(record["torch_from"]),
        reused=reused,
        python_version=record["python_version"],
        python_reason=record["python_reason"],
        resolved_as_of=record["resolved_as_of"],
        readonly_paths=(venv, *(Path(p) for p in record["readonly_paths"])),
        notes=tuple(record["notes"]),
    )


# ---------------------------------------------------------------- planning


def _plan(spec: AuditSpec, source: Source, checkout_dir: Path) -> _Plan:
    committed = (
        datetime.datetime.fromisoformat(source.committed_at).date() if source.committed_at else None
    )
    asked = spec.resolve_as_of or ("commit" if source.url else "today")
    notes: list[str] = []
    if asked == "commit" and committed is None:
        notes.append(
            "no commit date to resolve packages as of (a snapshot of uncommitted files): "
            "packages were resolved as of the day the environment was built"
        )
    if asked == "today":
        as_of = None
    elif asked == "commit":
        as_of = committed
    else:
        as_of = datetime.date.fromisoformat(asked)  # the spec checked the format
    python = choose_python(checkout_dir, requested=spec.python, era=as_of or committed)
    inputs, project, declared, label = _declarations(spec, checkout_dir)
    auditor = find_auditor_torch(python.interpreter.series)
    cpu_torch = not detect_gpus()
    key = _digest(
        _RECIPE,
        str(python.interpreter.version),
        os.path.realpath(python.interpreter.path),
        f"as of {as_of or 'today'}",
        auditor.key if auditor else "",
        f"cpu torch={cpu_torch}",
        f"setup={spec.setup!r}",
        *declared,
    )
    return _Plan(
        python, as_of, inputs, project, label, spec.setup, auditor, cpu_torch, tuple(notes), key
    )


def _declarations(
    spec: AuditSpec, checkout_dir: Path
) -> tuple[tuple[Path, ...], Path | None, list[str], str]:
    """(requirement inputs, the project folder or None, what the cache key must cover, label)."""
    binder = next(
        (checkout_dir / d for d in ("binder", ".binder") if (checkout_dir / d).is_dir()), None
    )
    where = binder or checkout_dir
    inputs: list[Path] = []
    declared: list[str] = []
    requirements = where / "requirements.txt"
    if requirements.is_file():
        inputs.append(requirements)
        declared += _file_keys(requirements, checkout_dir)
    metadata = None if binder else _project_metadata(checkout_dir)
    if metadata is not None:
        inputs.append(metadata)
        # Installed as a copy (not editable: each seed's checkout is a different, short-lived
        # folder), so the key covers the whole tree and a change to the code builds a fresh venv.
        declared.append(_tree_digest(checkout_dir))
    conda = next(
        (where / n for n in ("environment.yml", "environment.yaml") if (where / n).is_file()), None
    )
    if conda is not None and not inputs and not spec.setup:
        raise EnvSetupError(
            f"{conda.relative_to(checkout_dir)} declares a conda environment, which repaudit cannot "
            "build: add a requirements.txt, set [run] setup to the install commands, or build it "
            "yourself and audit with --environment current"
        )
    label = " and ".join(
        [str(p.relative_to(checkout_dir)) for p in inputs[:1] if p.name == "requirements.txt"]
        + ([f"the project ({metadata.name})"] if metadata else [])
    )
    return tuple(inputs), checkout_dir if metadata else None, declared, label


def _project_metadata(checkout_dir: Path) -> Path | None:
    """The file uv reads the project's own requirements from; None when the checkout is no project."""
    pyproject = checkout_dir / "pyproject.toml"
    document = {}
    if pyproject.is_file():
        with contextlib.suppress(tomllib.TOMLDecodeError, UnicodeDecodeError):
            document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    if "project" in document:
        return pyproject
    if (checkout_dir / "setup.py").is_file():
        return checkout_dir / "setup.py"
    return pyproject if "build-system" in document else None  # not just [tool.*] settings


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


# ---------------------------------------------------------------- building


def _build(
    venv: Path,
    plan: _Plan,
    checkout_dir: Path,
    cache_dir: Path,
    log_path: Path,
    isolation: Isolation,
) -> dict[str, Any]:
    """Build the venv; return its record (cache.py)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    uv_cache = venvs_dir(cache_dir) / ".uv-cache"
    as_of = plan.as_of.isoformat() if plan.as_of else None
    _create_venv(venv, plan.python, uv_cache, plan.as_of, log_path)
    base = _base_paths(venv)
    with tempfile.TemporaryDirectory(prefix="repaudit-install-") as scratch:
        steps = resolve.Steps(
            isolation=isolation,
            checkout_dir=checkout_dir,
            log_path=log_path,
            scratch=Path(scratch),
            env={
                **base_environment(venv / "bin", network=True),
                "HOME": scratch,
                "VIRTUAL_ENV": str(venv),
                "UV_CACHE_DIR": str(uv_cache),
                "UV_PYTHON_DOWNLOADS": "never",
                # also for a setup command's `uv pip`
                **({"UV_EXCLUDE_NEWER": resolve.cutoff(plan.as_of)} if plan.as_of else {}),
            },
            # one writable folder holds uv's cache and the venv, so uv hard-links instead of copying
            writable=[venvs_dir(cache_dir), checkout_dir],
            readonly=[
                *base,
                *(plan.auditor.folders if plan.auditor else ()),
                Path(find_uv_bin()).parent,
            ],
        )
        torch_reused, notes = False, list(plan.notes)
        if plan.inputs:
            torch_reused, more = resolve.install(
                steps,
                venv,
                inputs=plan.inputs,
                project=plan.project,
                label=plan.label,
                as_of=plan.as_of,
                auditor=plan.auditor,
                cpu_torch=plan.cpu_torch,
            )
            notes += more
        links = (
            plan.auditor.link(venv, _site_packages(venv)) if plan.auditor and torch_reused else None
        )
        if plan.setup:
            steps.run("the spec's [run] setup", plan.setup)
    readonly = [*base, *(plan.auditor.folders if plan.auditor and torch_reused else ())]
    origin = probe(
        venv / "bin" / "python", _TORCH_ORIGIN, readonly=[venv, *readonly], isolation=isolation
    )
    if links is not None and origin.startswith(str(links)):
        torch_from = TorchOrigin.SYSTEM
    else:
        torch_from = TorchOrigin.ENVIRONMENT if origin else TorchOrigin.NONE
    return {
        "python_version": str(plan.python.interpreter.version),
        "python_reason": plan.python.reason,
        "resolved_as_of": as_of or datetime.date.today().isoformat(),
        "torch_from": torch_from.value,
        "readonly_paths": [str(p) for p in readonly],
        "notes": notes,
    }


def _create_venv(
    venv: Path, python: PythonChoice, uv_cache: Path, as_of: datetime.date | None, log_path: Path
) -> None:
    """An empty venv on the chosen interpreter, seeded with the pip, setuptools and wheel of the
    resolution date (what a venv made that day had; old code imports pkg_resources unasked)."""
    env = {**os.environ, "UV_CACHE_DIR": str(uv_cache), "UV_PYTHON_DOWNLOADS": "never"}
    if as_of:
        env["UV_EXCLUDE_NEWER"] = resolve.cutoff(as_of)
    command = [find_uv_bin(), "venv", "--no-config", "--no-project", "--seed"]
    _run_uv_venv([*command, "--python", str(python.interpreter.path), str(venv)], env, log_path)


def _run_uv_venv(command: Sequence[str], env: dict[str, str], log_path: Path) -> None:
    """`uv venv` runs outside the sandbox: it starts only the auditor's own interpreters."""
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"$ {shlex.join(command)}\n{done.stdout}{done.stderr}\n")
    if done.returncode != 0:
        raise EnvSetupError(
            f"cannot create a virtual environment at {command[-1]}: "
            f"{resolve.failure_reason(done.stderr)}; check that the folder is writable, or audit "
            f"with --environment current (full log: {log_path})"
        )


def _base_paths(venv: Path) -> list[Path]:
    """The installation of the venv's base interpreter: the seeds must see it (a pyenv Python lives
    in the auditor's home, which the sandbox hides)."""
    config = (venv / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    home = next(line.split("=", 1)[1].strip() for line in config if line.startswith("home"))
    executable = Path(os.path.realpath(venv / "bin" / "python"))
    return list(
        dict.fromkeys([Path(home).parent, Path(home).resolve().parent, executable.parent.parent])
    )


def _site_packages(venv: Path) -> Path:
    return next(venv.glob("lib/python*/site-packages"))


def _install_hook(venv: Path) -> None:
    """Copy the seed hook into the venv (every time: a cached venv gets this version's hook)."""
    target = _site_packages(venv)
    for source in (
        _PACKAGE_DIR / "run" / "hook" / "repaudit_seed_hook.py",
        _PACKAGE_DIR / "run" / "hook" / "repaudit_seed_hook.pth",
    ):
        content = source.read_bytes()
        destination = target / source.name
        if not destination.exists() or destination.read_bytes() != content:
            destination.write_bytes(content)


# ---------------------------------------------------------------- the current interpreter


def _current(cache_dir: Path, log_path: Path) -> Environment:
    """The running interpreter, through the overlay venv that holds the seed hook (cached)."""
    overlay = venvs_dir(cache_dir) / f"current-{_digest(sys.executable, *_site_dirs())[:16]}"
    with locked(overlay):
        if read_record(overlay) is None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            command = [find_uv_bin(), "venv", "--no-config", "--no-project", "--python"]
            _run_uv_venv([*command, sys.executable, str(overlay)], dict(os.environ), log_path)
            lines = [f"import site; site.addsitedir({folder!r})" for folder in _site_dirs()]
            (_site_packages(overlay) / "repaudit_base.pth").write_text("\n".join(lines) + "\n")
            write_record(overlay, {"python_version": platform.python_version()})
        hold(overlay)
        _install_hook(overlay)
    python = overlay / "bin" / "python"
    torch = importlib.util.find_spec("torch") is not None
    return Environment(
        kind=EnvironmentKind.CURRENT,
        python=python,
        bin_dir=python.parent,
        torch_from=TorchOrigin.SYSTEM if torch else TorchOrigin.NONE,
        python_version=platform.python_version(),
        python_reason="the interpreter running repaudit (environment = current)",
        readonly_paths=(python.parent.parent,),
    )


def _site_dirs() -> list[str]:
    """The running interpreter's site folders, in its own sys.path order."""
    import site

    folders = [*site.getsitepackages(), site.getusersitepackages()]
    return [p for p in sys.path if p in folders and os.path.isdir(p)]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()
