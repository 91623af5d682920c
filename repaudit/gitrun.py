"""Running git for source.py: one safe way to start a git command, and repaudit's own repositories
in the cache (created under a temporary name, locked while updated).

Every git command starts under repaudit/reaper.py (it and its helpers die with repaudit, even on
kill -9, and stop on Ctrl-C), with fsmonitor, hooks and external protocol helpers switched off on
its command line, and, unless ``auditor_config`` is asked for, without the system and global git
configuration: only the config of repaudit's own repository counts, so no filter driver exists for a
``.gitattributes`` line to name. Written by hand because gitpython runs git in the repository it
opens, with the repository's own config, which is what this must never do.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from repaudit import reaper

# On every git command line: no fsmonitor, no hooks, no external protocol helper. Command-line
# settings outrank every config file, and reach the upload-pack that reads a local repository.
_SAFE_OPTIONS = (
    *("-c", "core.fsmonitor=false"),
    *("-c", "core.hooksPath=/dev/null"),
    *("-c", "protocol.ext.allow=never"),
)
# Never ask for a password or a host key: an unreachable repository fails fast with git's message.
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh") + " -o BatchMode=yes",
    "LC_ALL": "C",  # git's messages are matched and quoted in English
}
# Only the config of repaudit's own repository counts (see the module docstring).
_NO_AUDITOR_CONFIG = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_ATTR_NOSYSTEM": "1",
}
# Variables that point git at another repository or index (set when repaudit itself runs inside a
# git hook); `git rev-parse --local-env-vars` lists them.
_REPOSITORY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
    "GIT_CONFIG_PARAMETERS",
)


class GitFailed(Exception):
    """A git command exited non-zero; the message is git's whole reason, on one line."""


def private_repository(path: Path, *, head: str) -> Path:
    """A bare repository of repaudit's own at ``path``, created if missing, its HEAD naming the
    ref ``head``."""
    if not path.exists():
        partial = temporary_name(path)
        try:
            git("init", "--quiet", "--bare", str(partial))
            git("symbolic-ref", "HEAD", head, git_dir=partial)
            place(partial, path)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return path.resolve()


def temporary_name(final: Path) -> Path:
    """A temporary name beside ``final`` that says which process writes it; removes the partial
    folders of processes on this host that died before renaming theirs (kill -9, power loss)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    for entry in final.parent.glob(".*.partial-*"):
        owner, _, pid = entry.name.rpartition(".partial-")[2].rpartition("-")
        if owner == host and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
    return final.with_name(f".{final.name}.partial-{host}-{os.getpid()}")


def place(partial: Path, final: Path) -> None:
    """Rename a finished ``partial`` to ``final`` (the caller removes it when another audit placed
    one first, or when it was never finished)."""
    with contextlib.suppress(OSError):  # another audit finished the same folder first: use that one
        partial.rename(final)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def exclusive(repository: Path) -> Iterator[None]:
    """One audit at a time updates a cached repository (two fetches would race for its refs)."""
    with open(repository / "repaudit.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # waits; Ctrl-C interrupts the wait
        yield


@contextlib.contextmanager
def private_index() -> Iterator[dict[str, str]]:
    """The environment of a git command that uses a throw-away index file of its own."""
    with tempfile.TemporaryDirectory(prefix="repaudit-index-") as scratch:
        yield {"GIT_INDEX_FILE": str(Path(scratch) / "index")}


def git(
    *args: str,
    git_dir: Path | None = None,
    work_tree: Path | None = None,
    env: Mapping[str, str] | None = None,
    auditor_config: bool = False,
) -> str:
    """Run one git command and return its stdout, stripped; GitFailed with git's reason otherwise.

    ``git_dir`` is always one of repaudit's own repositories and ``work_tree`` (also the working
    directory, so pathspecs are relative to it) a folder git only reads or a fresh checkout.
    ``auditor_config`` keeps the auditor's system and global git configuration (remote clones).
    """
    output = git_bytes(
        *args, git_dir=git_dir, work_tree=work_tree, env=env, auditor_config=auditor_config
    )
    return output.decode("utf-8", "replace").strip()


def git_bytes(
    *args: str,
    git_dir: Path | None = None,
    work_tree: Path | None = None,
    env: Mapping[str, str] | None = None,
    auditor_config: bool = False,
    stdin: bytes = b"",
) -> bytes:
    """``_git`` with bytes in (``stdin``) and out."""
    command = ["git", *_SAFE_OPTIONS]
    if git_dir is not None:
        command.append(f"--git-dir={git_dir}")
    if work_tree is not None:
        command.append(f"--work-tree={work_tree}")
    environment = {k: v for k, v in os.environ.items() if k not in _REPOSITORY_VARIABLES}
    environment.update(_GIT_ENV)
    if not auditor_config:
        environment.update(_NO_AUDITOR_CONFIG)
    environment.update(env or {})
    # Through the reaper: git and its helpers (ssh, index-pack) die with repaudit, even on kill -9.
    process = subprocess.Popen(
        reaper.wrap([*command, *args]),
        cwd=work_tree or git_dir or "/",
        env=environment,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # Ctrl-C reaches repaudit, which stops git itself
    )
    try:
        stdout, stderr = process.communicate(stdin)
    except BaseException:  # Ctrl-C: the reaper gives git a moment (its lock files), then kills all
        process.terminate()
        try:
            process.wait(timeout=reaper.GRACE_SECONDS + 5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    if process.returncode != 0:
        raise GitFailed(_git_reason(stderr.decode("utf-8", "replace"), process.returncode))
    return stdout


def _git_reason(stderr: str, returncode: int) -> str:
    """git's whole complaint on one line: each message (``fatal:``, ``error:``, a paragraph of
    advice) once, its wrapped lines joined, the prefixes dropped."""
    messages: list[str] = []
    joining = False
    for line in stderr.splitlines():
        line = line.strip()
        if not line:
            joining = False
            continue
        prefix = re.match(r"^(fatal|error|warning|hint|remote): ?", line)
        text = line[prefix.end() :] if prefix else line
        if joining and not prefix:
            messages[-1] = f"{messages[-1]} {text}"
        elif text:
            messages.append(text)
        joining = True
    reasons = [m.rstrip(".") for m in dict.fromkeys(messages)]
    return "; ".join(reasons) or f"git exited with code {returncode}"


@functools.cache
def auditor_excludes() -> tuple[str, ...]:
    """``-c core.excludesFile=...`` naming the auditor's own global ignore file (set in the global
    config, else git's default place): honoured although the rest of that config is switched off,
    so files the auditor ignores everywhere (editor folders) are never "uncommitted changes"."""
    try:
        configured = git(
            "config", "--global", "--path", "--get", "core.excludesFile", auditor_config=True
        )
    except GitFailed:  # not set
        configured = ""
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    path = Path(configured) if configured else xdg / "git" / "ignore"
    return ("-c", f"core.excludesFile={path}") if path.is_file() else ()


def has_object(repository: Path, name: str) -> bool:
    try:
        git("cat-file", "-e", name, git_dir=repository)
    except GitFailed:
        return False
    return True
