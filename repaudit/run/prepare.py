"""`prepare`: run once per audit with network, in its own checkout; share what it made with every seed.

Its outputs are the files and folders it creates or changes inside that checkout (found by comparing
the tree before and after; no tool records this for an arbitrary command, so it is done by hand).
Each seed's checkout gets a symlink to each output, and the prepared checkout is mounted read-only
(bubblewrap, unshare-net); under isolation none each seed gets its own copy instead. Either way no
seed can alter what the others read. A manifest in the prepared folder records the
outputs, the command and the commit, which lets a resumed audit reuse a finished prepare.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from repaudit import formatting
from repaudit import source as source_module
from repaudit.errors import EnvSetupError
from repaudit.model import Environment, Isolation, Source
from repaudit.run.isolation import base_environment
from repaudit.run.process import log_tail, run_contained

_MANIFEST = ".repaudit-prepared.json"
_TAIL_LINES = 40


def run_prepare(
    command: str,
    *,
    source: Source,
    environment: Environment,
    isolation: Isolation,
    work_dir: Path,
    log_dir: Path,
    timeout_seconds: float,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Run the spec's ``prepare`` once per audit, with network, in its own checkout at ``work_dir``;
    return that checkout's audited folder (the seeds' ``prepared_dir``).

    The files and folders prepare creates or changes inside the checkout are its outputs: each seed's
    checkout gets a symlink to each, read-only (a copy under isolation none). A finished prepare of the same
    command and commit is reused (resume). Raises EnvSetupError when it fails.
    """
    folder = work_dir / source.subdirectory
    manifest = folder / _MANIFEST
    if manifest.exists():
        record = json.loads(manifest.read_text())
        if record.get("command") == command and record.get("commit") == source.commit:
            return folder
    shutil.rmtree(work_dir, ignore_errors=True)
    home = work_dir.with_name(work_dir.name + "-home")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    folder = source_module.checkout(source, work_dir)
    before = _files(work_dir)
    stdout, stderr = log_dir / "prepare.stdout.log", log_dir / "prepare.stderr.log"
    try:
        outcome = run_contained(
            command,
            isolation=isolation,
            cwd=folder,
            env={
                **base_environment(environment.bin_dir, network=True),
                "HOME": str(home),
                **(env or {}),
            },
            stdout_path=stdout,
            stderr_path=stderr,
            timeout_seconds=timeout_seconds,
            network=True,
            writable=[work_dir, home],
            readonly=environment.readonly_paths,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if outcome.returncode != 0 or outcome.timed_out:
        what = (
            f"timed out after {formatting.limit(timeout_seconds)}"
            if outcome.timed_out
            else f"failed with exit code {outcome.returncode}"
        )
        raise EnvSetupError(
            f"prepare command {command!r} {what}; fix the spec's [run] prepare and re-run "
            f"(full logs: {stderr} and {stdout}). Last lines:\n{log_tail(stdout, stderr, _TAIL_LINES) or '(no output)'}"
        )
    outputs = _new_entries(before, _files(work_dir))
    manifest.write_text(
        json.dumps(
            {
                "command": command,
                "commit": source.commit,
                "root": str(work_dir.absolute()),
                "outputs": outputs,
            }
        )
    )
    return folder


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``root``: relative path -> (size, mtime) for files, (-1, 0) for folders."""
    entries: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            stat = os.lstat(path)
            key = os.path.relpath(path, root)
            entries[key] = (
                (-1, 0)
                if name in dirs and not os.path.islink(path)
                else (stat.st_size, stat.st_mtime_ns)
            )
    return entries


def _new_entries(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> list[str]:
    """What prepare made: new or changed files, and new folders as a whole (not their contents)."""
    outputs: list[str] = []
    new_folders: set[Path] = set()
    for path in sorted(after):
        if new_folders.intersection(Path(path).parents):
            continue
        if before.get(path) != after[path]:
            outputs.append(path)
            if after[path] == (-1, 0):
                new_folders.add(Path(path))
    return outputs


def link_prepared(prepared_dir: Path, work_dir: Path, *, copy: bool = False) -> Path:
    """Put prepare's outputs into a seed's checkout; return the prepared checkout's root.

    Symlinks, where the sandbox mounts the prepared checkout read-only; with ``copy`` (isolation
    none, where nothing can be made read-only) a copy per seed, so that a seed writing into the data
    changes only its own."""
    record = json.loads((prepared_dir / _MANIFEST).read_text())
    root = Path(record["root"])
    for relative in record["outputs"]:
        target = work_dir / relative
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        source = root / relative
        if not copy or source.is_symlink():
            target.symlink_to(source)
        elif source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
    return root
