"""Resolve the declared requirements with uv as of a date, then install exactly that resolution.

Two steps, so that the resolution is a file (``repaudit-requirements.txt`` in the venv, every
version pinned) before anything is installed:

    uv pip compile   the inputs, --exclude-newer <date>: what the index offered on that day
    uv pip install   --no-deps: that file (less what the auditor's torch provides) and the project

The auditor's torch is offered first (auditor_torch.py): resolved with the repository's requirements
at its installed versions. When the resolver refuses (the repository, or a package it needs, wants
another torch), the inputs are resolved without it and torch is installed like any requirement. On a
machine without a GPU, torch and its family are then resolved once more from PyTorch's CPU index
(uv's --torch-backend cpu) at the versions of the date; that index carries no upload dates, so the
date's versions come from the first resolution on PyPI. When it cannot be reached, PyPI's build is
installed and a note says so.

Every step runs contained like a seed, at the audit's isolation level, but with network (run/).
"""

from __future__ import annotations

import datetime
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from uv import find_uv_bin

from repaudit.env.auditor_torch import AuditorTorch
from repaudit.errors import EnvSetupError
from repaudit.formatting import limit
from repaudit.model import Isolation
from repaudit.run import run_contained

_TIMEOUT = 3600.0
#: The packages uv's --torch-backend fetches from PyTorch's own index.
TORCH_FAMILY = frozenset(
    {
        "torch",
        "torchvision",
        "torchaudio",
        "torchtext",
        "torchdata",
        "torcharrow",
        "torchcsprng",
        "torchdistx",
        "torchserve",
        "pytorch-triton",
    }
)
# uv builds every source distribution in isolation, and setuptools 40.8.0 (2019-02-05) is the
# oldest that can build a setup.py-only one that way: older dates get setuptools as of this one.
_SETUPTOOLS_FLOOR = datetime.date(2019, 2, 6)
_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


@dataclass(frozen=True)
class Steps:
    """Runs the build's commands contained, with network, appending each to the build log."""

    isolation: Isolation
    """The audit's isolation level (decided once, in audit.plan_audit)."""
    checkout_dir: Path
    """The working directory of every step (relative paths in requirements are relative to it)."""
    log_path: Path
    """The build log (audits/<id>/environment.log)."""
    scratch: Path
    """A private folder for the output of each step (also HOME)."""
    env: dict[str, str]
    """The allow-listed variables, with the venv's and uv's."""
    writable: list[Path]
    """The venv and uv's cache, the checkout."""
    readonly: list[Path]
    """The base interpreter, uv, the auditor's torch: what the sandbox must show besides."""

    def attempt(self, command: str | Sequence[str]) -> tuple[int, str]:
        """Run ``command`` (a shell line, or argv); return its exit code and output."""
        line = command if isinstance(command, str) else shlex.join(command)
        out, err = self.scratch / "out", self.scratch / "err"
        outcome = run_contained(
            line,
            isolation=self.isolation,
            cwd=self.checkout_dir,
            env=self.env,
            stdout_path=out,
            stderr_path=err,
            timeout_seconds=_TIMEOUT,
            network=True,
            writable=[*self.writable, self.scratch],
            readonly=self.readonly,
        )
        text = out.read_text(errors="replace") + err.read_text(errors="replace")
        if outcome.timed_out:
            text += f"\nerror: no result after {limit(_TIMEOUT)}; killed\n"
        code = outcome.returncode if outcome.returncode is not None else -1
        self.log(f"$ {line}\n{text}\n[exit code {code}]\n")
        return (1 if outcome.timed_out else code), text

    def run(self, label: str, command: str | Sequence[str]) -> str:
        """Like attempt, but a failure is an EnvSetupError naming ``label`` and the reason."""
        code, text = self.attempt(command)
        if code != 0:
            raise EnvSetupError(
                f"installing {label} failed: {failure_reason(text)}; fix the declaration or the "
                f"spec's [run] setup, or audit with --environment current (full log: {self.log_path})"
            )
        return text

    def log(self, text: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(text)


def install(
    steps: Steps,
    venv: Path,
    *,
    inputs: Sequence[Path],
    project: Path | None,
    label: str,
    as_of: datetime.date | None,
    auditor: AuditorTorch | None,
    cpu_torch: bool,
) -> tuple[bool, list[str]]:
    """Resolve ``inputs`` as of ``as_of`` (None: today) and install the result and ``project`` into
    ``venv``; return (whether the auditor's torch was taken, notes for the report)."""
    python = str(venv / "bin" / "python")
    lock = venv / "repaudit-requirements.txt"
    options = ["--no-config", *_dated(as_of)]
    reused = False
    if auditor is not None:
        config = _write(venv / "repaudit-uv.toml", auditor.uv_config())
        pins = _write(venv / "repaudit-auditor-torch.txt", auditor.constraints())
        code, text = steps.attempt(
            [
                *_compile(inputs, python, lock),
                "--config-file",
                str(config),
                "-c",
                str(pins),
                *_dated(as_of),
                *_undated(auditor.names, as_of),
            ]
        )
        reused = code == 0
        if not reused:
            steps.log(
                f"# the auditor's torch {auditor.version} does not fit: {failure_reason(text)}\n"
            )
    if not reused:
        steps.run(label, [*_compile(inputs, python, lock), *options])
    notes = []
    family = {n: v for n, v in _pins(lock.read_text()).items() if n in TORCH_FAMILY}
    if family and cpu_torch and not reused:
        cpu = [*options, "--torch-backend", "cpu", *_undated(family, as_of)]
        pins = _write(
            venv / "repaudit-torch.txt", "".join(f"{n}=={v}\n" for n, v in family.items())
        )
        cpu_lock = venv / "repaudit-requirements-cpu.txt"
        code, text = steps.attempt([*_compile(inputs, python, cpu_lock), *cpu, "-c", str(pins)])
        if code == 0:
            cpu_lock.replace(lock)
            options = cpu
        else:
            notes.append(
                f"no GPU here, but the CPU build of torch {family.get('torch', '')} could not be "
                f"resolved from PyTorch's CPU index ({failure_reason(text)}): PyPI's build was "
                "installed instead (larger, with CUDA libraries)"
            )
    provided = auditor.names if auditor and reused else frozenset()
    wanted = _write(venv / "repaudit-install.txt", _installable(lock.read_text(), provided))
    target = [str(project)] if project else []
    steps.run(
        label,
        [
            find_uv_bin(),
            "pip",
            "install",
            "--python",
            python,
            "--no-deps",
            "-r",
            str(wanted),
            *target,
            *options,
        ],
    )
    return reused, notes


def _compile(inputs: Sequence[Path], python: str, output: Path) -> list[str]:
    return [
        find_uv_bin(),
        "pip",
        "compile",
        *map(str, inputs),
        "--python",
        python,
        "--no-header",
        "--no-annotate",
        "--emit-index-url",
        "--emit-find-links",
        "--output-file",
        str(output),
    ]


def cutoff(day: datetime.date) -> str:
    """The end of ``day`` in UTC, as uv's --exclude-newer takes it (a bare date would be read in
    the machine's time zone)."""
    return f"{day + datetime.timedelta(days=1)}T00:00:00Z"


def _dated(as_of: datetime.date | None) -> list[str]:
    """The resolver options that make it see the index as it was at the end of ``as_of``."""
    if as_of is None:
        return []
    options = ["--exclude-newer", cutoff(as_of)]
    if as_of < _SETUPTOOLS_FLOOR:
        options += [f"--exclude-newer-package=setuptools={cutoff(_SETUPTOOLS_FLOOR)}"]
    return options


def _undated(names: Iterable[str], as_of: datetime.date | None) -> list[str]:
    """Exempt the packages ``names`` from the resolution date."""
    return [f"--exclude-newer-package={n}=false" for n in sorted(names)] if as_of else []


def _pins(lock: str) -> dict[str, str]:
    """name -> version of every ``name==version`` line of a compiled requirements file."""
    return {
        canonicalize_name(match[1]): match[2]
        for line in lock.splitlines()
        if (match := _PIN.match(line.strip()))
    }


def _installable(lock: str, provided: frozenset[str]) -> str:
    """The compiled requirements less the ``provided`` packages, editable ones made copies: each
    seed runs in its own short-lived checkout, so an editable install would point at a folder that
    is gone by then."""
    lines = []
    for line in lock.splitlines():
        match = _PIN.match(line.strip())
        if match and canonicalize_name(match[1]) in provided:
            continue
        lines.append(re.sub(r"^(-e|--editable)\s+", "", line))
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def failure_reason(text: str) -> str:
    """uv's own words for why a step failed, on one line: its error, the first line of each cause
    (and the last line of a longer one: a derivation's conclusion, a build's exception), and its
    hint's first sentence. For other tools' output, the last line."""
    blocks: list[list[str]] = []
    for line in text.splitlines():
        word = line.strip().split(":", 1)[0].lower()
        if word in ("error", "cause", "caused by", "hint", "warning") and ":" in line:
            blocks.append([line.strip()])
        elif blocks and line.strip() and not re.fullmatch(r"[\s^~]+", line):
            blocks[-1].append(line.strip())  # continued; a line of carets only marks a column
    words: list[str] = []
    hint = ""
    for block in blocks:
        kind, first = (part.strip() for part in block[0].split(":", 1))
        if kind.lower() == "warning":
            continue
        if kind.lower() == "hint":
            sentence = re.split(r"(?<=\.)\s", first, maxsplit=1)[0]
            hint = hint or f" (hint: {sentence})"
            continue
        words.append(first)
        if len(block) > 1 and block[-1] not in ("[stderr]", "[stdout]"):
            words.append(block[-1])
    if not words:
        last = [line.strip() for line in text.splitlines() if line.strip()]
        return last[-1][:500] if last else "no output"
    reason = ": ".join(w.rstrip(".:") for w in dict.fromkeys(words)) + hint
    return reason if len(reason) <= 900 else reason[:900] + "…"
