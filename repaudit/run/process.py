"""Run one shell command as a contained process tree: wait for it, kill all of it at the timeout,
on Ctrl-C or past the memory limit, cap its logs, and measure its peak memory.

The isolation wrapper comes from isolation.py; the level is decided by the caller, once per audit. Watching a process tree (its members by parent id,
their proportional set size) has no library in the standard set, so it is read from /proc by hand.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from repaudit.model import Isolation
from repaudit.run.isolation import bwrap_argv, unshare_prefix

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
        # The PID-namespace wrappers take their whole tree with them; for plain runs, the session's
        # process group plus every descendant still attached by parent id. Once the first process
        # is reaped its id may be reused, so then only the group (which pins the id) is signalled.
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
    """Run the shell ``command`` under ``isolation``; wait, kill its tree at the
    timeout, and write its output to the two (size-capped) log files. Under bubblewrap, ``hidden``
    folders look empty except for the ``writable`` and ``readonly`` paths inside them. Raises
    OSError only when the process cannot be started at all."""
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
        prefix = unshare_prefix() or ()
        argv = [*prefix, *(() if network else ("--net",)), *argv]
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
    readers = [
        threading.Thread(target=_copy_capped, args=(stream, path), daemon=True)
        for stream, path in ((process.stdout, stdout_path), (process.stderr, stderr_path))
    ]
    for reader in readers:
        reader.start()

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
    seconds = time.monotonic() - started
    tree.kill()  # background processes the command left behind go with it
    for reader in readers:
        reader.join(timeout=5)
    return Outcome(
        returncode=process.returncode,
        seconds=seconds,
        timed_out=tree.timed_out,
        interrupted=tree.interrupted,
        memory_exceeded=tree.memory_exceeded,
        peak_memory_bytes=max(usage.ru_maxrss * 1024, tree.peak_memory) or None,
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
    """Proportional set size of ``root`` and its descendants, in bytes: pages shared between forked
    workers or libraries count once in total, not once per process as resident sizes would."""
    total = 0
    for pid in (root, *_descendants(root)):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # already gone
        for line in rollup.splitlines():
            if line.startswith("Pss:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def _copy_capped(stream: object, path: Path) -> None:
    """Copy a pipe to ``path``: the first LOG_HEAD_BYTES, then only the last LOG_TAIL_BYTES, with a
    line stating how much was cut (the tail matters: errors and the metric line come last)."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    written, cut, tail = 0, 0, bytearray()
    # Unbuffered: each chunk reaches the file as it arrives, so a running seed's log can be read
    # (a buffered writer held a slow printer's lines back for minutes).
    with open(path, "wb", buffering=0) as log:
        while chunk := os.read(fd, 65536):
            room = max(0, LOG_HEAD_BYTES - written)
            log.write(chunk[:room])
            written += min(room, len(chunk))
            tail += chunk[room:]
            if len(tail) > LOG_TAIL_BYTES:
                cut += len(tail) - LOG_TAIL_BYTES
                del tail[: len(tail) - LOG_TAIL_BYTES]
        if cut:
            log.write(f"\n[repaudit: {cut} bytes cut here; the log is capped]\n".encode())
        log.write(tail)
    stream.close()  # type: ignore[attr-defined]


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
