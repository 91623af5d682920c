"""The first process of every command repaudit starts (seeds, prepare, installs, git): it starts the
command, and no process of the command's tree outlives either the command or repaudit.

    wrap(argv) = python -I -S reaper.py <repaudit's pid> -- argv...

It makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so every process of the tree that is
orphaned, even one that detached with setsid or a double fork, becomes its child instead of init's;
and it asks for SIGTERM when repaudit dies (PR_SET_PDEATHSIG), even by kill -9. When the command's
first process exits, it kills everything left below it; when repaudit dies or sends SIGTERM, it
gives the command GRACE_SECONDS to end (git removes its lock files), then kills everything below
it. It waits for all of it and exits as the command did (same code, or killed by the same signal).

Run by path with ``-I -S``: standard library only, no repaudit import, a few milliseconds to start,
and importable by any stage (it imports nothing of repaudit). The kernel offers the two settings only
through prctl(2), which Python's standard library does not wrap, hence ctypes. It is what tini(1)
does with -s and -p, without asking the auditor to install it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
#: How long the command gets to end on SIGTERM before everything below the reaper is killed.
GRACE_SECONDS = 2.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
_first = 0  # the command's first process, once started


def wrap(argv: list[str]) -> list[str]:
    """``argv`` started through the reaper, on behalf of this (repaudit's) process."""
    return [sys.executable, "-I", "-S", __file__, str(os.getpid()), "--", *argv]


def descendants() -> list[int]:
    """Every process below this one, from /proc's parent links."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(name))
    found, stack = [], [os.getpid()]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def kill_everything() -> None:
    """SIGKILL every process below this one and reap them; orphans of the killed ones become this
    process's children (subreaper), so repeat until none is left."""
    while True:
        for pid in descendants():
            with contextlib.suppress(OSError):  # already gone
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def exit_like(status: int) -> None:
    """Exit with ``status`` (a wait status): the same exit code, or death by the same signal."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the command's crash, not ours to dump
        if number not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def on_stop(number: int, frame: object) -> None:
    """repaudit died or asked the tree to stop: a grace period for the command, then everything
    below goes."""
    if _first:
        with contextlib.suppress(OSError):
            os.kill(_first, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline:
            try:
                if os.waitpid(_first, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                break
            time.sleep(0.05)
    kill_everything()
    os._exit(128 + number)


def main(argv: list[str]) -> None:
    parent, separator, command = int(argv[1]), argv[2], argv[3:]
    assert separator == "--" and command, "usage: reaper.py PARENT_PID -- COMMAND..."
    global _first
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    for number in _STOP_SIGNALS:
        signal.signal(number, on_stop)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # repaudit died before the signal was asked for
        os._exit(128 + signal.SIGTERM)
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)  # until _first is known
    first = os.fork()
    if first == 0:
        for number in _STOP_SIGNALS:
            signal.signal(number, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
        try:
            os.execvp(command[0], command)
        except OSError as error:
            os.write(2, f"repaudit: cannot run {command[0]}: {error.strerror}\n".encode())
            os._exit(127)
    _first = first
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == first:
            # Block the signals while cleaning up, so a late SIGTERM does not cut the exit short.
            signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
            kill_everything()
            exit_like(status)


if __name__ == "__main__":
    main(sys.argv)
