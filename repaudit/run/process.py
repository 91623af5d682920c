"""Run one shell command as a contained process tree: wait for it, kill all of it at the timeout,
on Ctrl-C or past the memory limit, cap its logs, and measure its peak memory.

The isolation wrapper comes from isolation.py; the level is decided by the caller, once per audit.
Under every level the tree's first process is repaudit/reaper.py, so no process of it outlives the command or
repaudit. Watching a process tree (its members by parent id, their proportional set size) has no
library in the standard set, so it is read from /proc by hand.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from repaudit import reaper
from repaudit.model import Isolation
from repaudit.run.isolation import bwrap_argv, unshare_argv

#: Logs keep their first HEAD bytes and their last TAIL bytes; the cut is stated in the file.
LOG_HEAD_BYTES = 8 * 1024 * 1024
LOG_TAIL_BYTES = 2 * 1024 * 1024
#: How often a running tree's memory is sampled (its peak, and the limit of the whole tree).
MEMORY_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Outcome:
    """How a contained command ended."""

    returncode: int | None
    """Exit code; negative: killed by that signal."""
    seconds: float
    """Wall-clock duration."""
    timed_out: bool = False
    """Killed at the timeout."""
    interrupted: bool = False
    """Stopped by kill_all_running (Ctrl-C)."""
    memory_exceeded: bool = False
    """Killed because the whole tree used more than the limit."""
    peak_memory_bytes: int | None = None
    """The tree's peak, sampled; at least its largest process's."""
    log_problem: str | None = None
    """Why a log file could not be written whole (a full disk): the run says nothing then."""


class _Tree:
    """A running process tree, registered so kill_all_running can stop it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.timed_out = False
        self.interrupted = False
        self.memory_exceeded = False
        self.peak_memory = 0
        self._reaped = False
        self._lock = threading.Lock()  # the timer, the memory watcher and Ctrl-C may kill at once

    def kill(self) -> None:
        # The reaper and every descendant by parent id (the reaper, a subreaper, keeps detached
        # ones attached), and the session's process group. Once the reaper is reaped its id may be
        # reused, so then only the group (which pins the id) is signalled.
        with self._lock:
            pids = [] if self._reaped else [self.process.pid, *_descendants(self.process.pid)]
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def reaped(self) -> None:
        with self._lock:
            self._reaped = True


_RUNNING: dict[int, _Tree] = {}
_RUNNING_LOCK = threading.Lock()


def kill_all_running() -> None:
    """Kill every process tree this Python process started (Ctrl-C in the executor)."""
    with _RUNNING_LOCK:
        trees = list(_RUNNING.values())
    for tree in trees:
        tree.interrupted = True
        tree.kill()


def _descendants(root: int) -> list[int]:
    """Process ids below ``root``, from /proc's parent links."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def run_contained(
    command: str,
    *,
    isolation: Isolation,
    cwd: Path,
    env: Mapping[str, str],
    stdout_path: Path,
    stderr_path: Path,
    timeout_seconds: float,
    network: bool = False,
    writable: Sequence[Path] = (),
    readonly: Sequence[Path] = (),
    memory_bytes: int | None = None,
    devices: Sequence[str] = (),
    hidden: Sequence[Path] = (),
) -> Outcome:
    """Run the shell ``command`` under ``isolation``; wait, kill its tree at the timeout, and write
    its output to the two (size-capped) log files once every process of it is gone. ``readonly``
    paths are read-only to it (bubblewrap, unshare-net); ``hidden`` folders look empty under
    bubblewrap, and read-only under unshare-net, except for the ``writable`` paths inside them.
    Raises OSError only when the process cannot be started at all."""
    if memory_bytes:
        # RLIMIT_DATA (heap and private writable mappings), per process: unlike the address-space
        # limit it does not count the huge PROT_NONE reservations CUDA makes.
        command = f"ulimit -d {max(1, memory_bytes // 1024)} || exit 125\n{command}"
    argv = ["/bin/sh", "-c", command]
    if isolation is Isolation.BUBBLEWRAP:
        wrapper = bwrap_argv(
            cwd,
            network=network,
            writable=writable,
            readonly=readonly,
            devices=devices,
            hidden=hidden,
        )
        argv = [*wrapper, *argv]
    elif isolation is Isolation.UNSHARE_NET:
        argv = unshare_argv(
            command, network=network, writable=writable, readonly=readonly, hidden=hidden
        )
    # The reaper is the tree's first process at every level: nothing of the tree outlives it, and
    # it dies with repaudit, even on kill -9 (reaper.py).
    argv = reaper.wrap(argv)
    started = time.monotonic()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # Ctrl-C reaches repaudit, which stops the seeds itself
    )
    tree = _Tree(process)
    with _RUNNING_LOCK:
        _RUNNING[process.pid] = tree
    assert process.stdout is not None and process.stderr is not None
    logs = [_Log(process.stdout, stdout_path), _Log(process.stderr, stderr_path)]

    def on_timeout() -> None:
        tree.timed_out = True
        tree.kill()

    timer = threading.Timer(timeout_seconds, on_timeout)
    timer.daemon = True
    timer.start()
    stop_watching = threading.Event()
    watcher = threading.Thread(
        target=_watch_memory, args=(tree, memory_bytes, stop_watching), daemon=True
    )
    watcher.start()
    try:
        # wait4 rather than Popen.wait: its resource usage gives the tree's peak memory.
        _, status, usage = os.wait4(process.pid, 0)
        tree.reaped()
        process.returncode = os.waitstatus_to_exitcode(status)
    except BaseException:  # Ctrl-C while waiting (run_seed on a cluster node's main thread)
        tree.kill()
        process.wait()
        raise
    finally:
        timer.cancel()
        stop_watching.set()
        with _RUNNING_LOCK:
            _RUNNING.pop(process.pid, None)
        tree.kill()  # what the reaper could not reach (it was killed itself) goes too
        problems = [problem for log in logs if (problem := log.finish())]
    return Outcome(
        returncode=process.returncode,
        seconds=time.monotonic() - started,
        timed_out=tree.timed_out,
        interrupted=tree.interrupted,
        memory_exceeded=tree.memory_exceeded,
        peak_memory_bytes=max(usage.ru_maxrss * 1024, tree.peak_memory) or None,
        log_problem="; ".join(problems) or None,
    )


def _watch_memory(tree: _Tree, limit: int | None, stop: threading.Event) -> None:
    """Sample the tree's memory (its peak) and kill it when all its processes together pass ``limit``;
    the per-process RLIMIT_DATA stops one process at once, this stops a tree of forked workers."""
    while not stop.wait(MEMORY_POLL_SECONDS):
        used = _tree_memory(tree.process.pid)
        tree.peak_memory = max(tree.peak_memory, used)
        if limit and used > limit:
            tree.memory_exceeded = True
            tree.kill()
            return


def _tree_memory(root: int) -> int:
    """Proportional set size of ``root``'s descendants (the reaper itself is not the command), in
    bytes: pages shared between forked workers or libraries count once in total, not once per
    process as resident sizes would."""
    total = 0
    for pid in _descendants(root):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # already gone
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total


class _Log:
    """One output stream of a contained command, copied by a thread from its pipe and written to
    ``path`` in one rename once the command's tree is gone.

    Until then the head lives in an anonymous file (no name in any folder) and the tail in memory,
    so the audited code can neither empty the log nor append a line of its own to it (under the
    weaker levels it can reach the run folder): the file is what came through the pipe. The copy
    keeps the first LOG_HEAD_BYTES and the last LOG_TAIL_BYTES, with a line stating the cut (the tail
    matters: errors and the metric line come last).

    Meanwhile ``path`` itself shows the head as it arrives, unbuffered, so a long seed's progress
    can be watched (`tail -f`); it is a view only, opened before the command starts (no link the
    command makes later is followed), and the rename replaces it with the pipe's own copy.
    """

    def __init__(self, pipe: IO[bytes], path: Path) -> None:
        self.pipe = pipe
        self.path = path
        self.problem: str | None = None
        self.head: IO[bytes] | None = None
        try:
            self.head = tempfile.TemporaryFile(dir=path.parent)  # noqa: SIM115 (closed in finish)
        except OSError as error:  # still drain the pipe: a full pipe would block the command
            self.problem = f"cannot write {path}: {error.strerror}"
        self.live = _open_live(path)
        self.written = self.cut = 0
        self.tail = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._copy, daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        fd = self.pipe.fileno()
        while True:
            # A process that escaped the tree could hold the pipe open forever: finish() stops the
            # copy after a grace period instead of waiting for an end of file that never comes.
            if not select.select([fd], [], [], 0.2)[0]:
                if self._stop.is_set():
                    break
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            room = max(0, LOG_HEAD_BYTES - self.written)
            if room and self.head is not None and self.problem is None:
                try:
                    self.head.write(chunk[:room])
                except OSError as error:
                    self.problem = f"cannot write {self.path}: {error.strerror}"
            if room and self.live is not None:
                try:
                    os.write(self.live, chunk[:room])
                except OSError:  # the view only; the log itself is the head and tail
                    self._close_live()
            self.written += min(room, len(chunk))
            self.tail += chunk[room:]
            if len(self.tail) > LOG_TAIL_BYTES:
                self.cut += len(self.tail) - LOG_TAIL_BYTES
                del self.tail[: len(self.tail) - LOG_TAIL_BYTES]
        self.pipe.close()

    def finish(self, grace: float = 5.0) -> str | None:
        """Wait for the copy (at most ``grace`` seconds once the tree is gone), write the log file;
        return why it could not be written whole (a full disk), else None."""
        self._thread.join(grace)
        self._stop.set()
        self._thread.join()
        self._close_live()
        if self.head is None:
            return self.problem
        try:
            with self.head:
                self.head.seek(0)
                _replace(self.path, self.head, self.cut, bytes(self.tail))
        except OSError as error:
            self.problem = self.problem or f"cannot write {self.path}: {error.strerror}"
        return self.problem

    def _close_live(self) -> None:
        if self.live is not None:
            with contextlib.suppress(OSError):
                os.close(self.live)
            self.live = None


def _open_live(path: Path) -> int | None:
    """A fresh file at ``path`` for the live view, never through a link; None when it cannot be."""
    with contextlib.suppress(FileNotFoundError, IsADirectoryError, PermissionError):
        path.unlink()  # a log of an earlier attempt at this seed
    try:
        return os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666
        )
    except OSError:
        return None


def _replace(path: Path, head: IO[bytes], cut: int, tail: bytes) -> None:
    """Write head + the cut note + tail to a new file beside ``path`` and rename it over ``path``
    (whatever the command left there: a link, a folder, a file it appended to)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    # os.open with 0o666: the process umask decides the mode, as for any file the user writes.
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    try:
        with os.fdopen(fd, "wb") as log:
            shutil.copyfileobj(head, log)
            if cut:
                log.write(f"\n[repaudit: {cut} bytes cut here; the log is capped]\n".encode())
            log.write(tail)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def log_tail(stdout_path: Path, stderr_path: Path, lines: int = 40) -> str:
    """The last lines of stderr, or of stdout when stderr is empty; "" when both are empty.

    Reads only the end of the file: logs may be megabytes long."""
    for path in (stderr_path, stdout_path):
        if path.exists() and path.stat().st_size:
            with open(path, "rb") as log:
                log.seek(max(0, path.stat().st_size - 64 * 1024))
                text = log.read().decode("utf-8", "replace")
            return "\n".join(text.splitlines()[-lines:])
    return ""
