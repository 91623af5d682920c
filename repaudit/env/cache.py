"""The environments cache, ``<cache>/venvs``: where each environment lives, its lock and its record;
`repaudit cache list` and `repaudit cache prune`.

An environment is complete once its record (``.repaudit-complete``, JSON) is written; a folder
without one is a build that crashed, never reused, and pruned. Each reuse touches the record, so
its modification time says when the environment was last used.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

COMPLETE = ".repaudit-complete"
_IN_USE: dict[Path, IO[bytes]] = {}  # environments this process uses, each with its shared lock


@dataclass(frozen=True)
class CachedEnvironment:
    """One folder under <cache>/venvs."""

    path: Path
    """<cache>/venvs/<first 16 hex digits of its key>."""
    size_bytes: int
    """Disk use (files hard-linked from uv's cache count in full)."""
    last_used: float
    """POSIX time of the last build or reuse."""
    python: str
    """e.g. "3.10.13"; "" for an incomplete build."""
    resolved_as_of: str | None
    """The resolution date; None for the overlay of the current interpreter."""
    complete: bool
    """False for a build that crashed (prune removes it)."""


def default_cache_dir() -> Path:
    """Clones and virtual environments, shared by all audits of this user: $REPAUDIT_CACHE, else
    $XDG_CACHE_HOME/repaudit, else ~/.cache/repaudit."""
    if os.environ.get("REPAUDIT_CACHE"):
        return Path(os.environ["REPAUDIT_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "repaudit"


def venvs_dir(cache_dir: Path) -> Path:
    """Where the environments live (and uv's cache, .uv-cache, beside them)."""
    return cache_dir / "venvs"


def read_record(venv: Path) -> dict[str, Any] | None:
    """The record of a complete environment, or None."""
    try:
        return json.loads((venv / COMPLETE).read_text())
    except (OSError, ValueError):
        return None


def write_record(venv: Path, record: dict[str, Any]) -> None:
    """Mark ``venv`` complete, with what prepare_environment needs to describe it on reuse."""
    (venv / COMPLETE).write_text(json.dumps(record, indent=1))


def hold(venv: Path) -> None:
    """Mark ``venv`` used now (prune --older-than counts from the last use) and keep prune away
    from it while this process lives: a shared lock on its record, which prune must lock alone."""
    if venv in _IN_USE:
        return
    with contextlib.suppress(OSError):
        os.utime(venv / COMPLETE)
        handle = open(venv / COMPLETE, "rb")  # noqa: SIM115 (held open until the process ends)
        fcntl.flock(handle, fcntl.LOCK_SH)
        _IN_USE[venv] = handle


def _in_use(venv: Path) -> bool:
    try:
        with open(venv / COMPLETE, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


@contextlib.contextmanager
def locked(folder: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold ``folder``'s lock: two audits building the same environment at once, the second waits,
    then reuses it. With ``wait=False``, yields False at once when another process holds it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def list_environments(cache_dir: Path) -> list[CachedEnvironment]:
    """Every environment under <cache>/venvs, least recently used first."""
    found = []
    root = venvs_dir(cache_dir)
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        if not folder.is_dir() or folder.name.startswith("."):  # .uv-cache: uv's downloads
            continue
        record = read_record(folder)
        marker = folder / COMPLETE if record is not None else folder
        found.append(
            CachedEnvironment(
                path=folder,
                size_bytes=_disk_use(folder),
                last_used=marker.stat().st_mtime,
                python=(record or {}).get("python_version", ""),
                resolved_as_of=(record or {}).get("resolved_as_of"),
                complete=record is not None,
            )
        )
    return sorted(found, key=lambda e: e.last_used)


def prune_environments(
    cache_dir: Path, *, older_than_seconds: float | None = None, max_size_bytes: int | None = None
) -> list[CachedEnvironment]:
    """Remove incomplete builds, environments unused for longer than ``older_than_seconds``, then the
    least recently used until all of them fit in ``max_size_bytes``; return what was removed.
    An environment a running audit builds or uses (see hold) is never removed."""
    environments = list_environments(cache_dir)
    now = time.time()
    total = sum(e.size_bytes for e in environments)
    removed = []
    for environment in environments:  # least recently used first
        stale = older_than_seconds is not None and now - environment.last_used > older_than_seconds
        too_big = max_size_bytes is not None and total > max_size_bytes
        if not (stale or too_big or not environment.complete):
            continue
        with locked(environment.path, wait=False) as free:
            if not free or _in_use(environment.path):
                continue
            # The empty .lock file stays: deleting it could let two audits lock two different files.
            shutil.rmtree(environment.path, ignore_errors=True)
        removed.append(environment)
        total -= environment.size_bytes
    return removed


def _disk_use(folder: Path) -> int:
    """Bytes allocated under ``folder`` (links not followed), like `du -s`."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total
