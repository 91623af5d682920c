"""The first process of every contained command: it starts the command, and no process of the
command's tree outlives either the command or repaudit.

    python -I -S reaper.py <repaudit's pid> -- argv...

It makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so every process of the tree that is
orphaned, even one that detached with setsid or a double fork, becomes its child instead of init's;
and it asks for SIGTERM when repaudit dies (PR_SET_PDEATHSIG), even by kill -9. When the command's
first process exits, or repaudit dies, it kills everything left below it, waits for all of it, and
exits as the command did (same code, or killed by the same signal).

Run by path with ``-I -S``: standard library only, no repaudit import, a few milliseconds to start.
The kernel offers these two settings only through prctl(2), which Python's standard library does not
wrap, hence ctypes. It is what tini(1) does with -s and -p, without asking the auditor to install it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


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


def on_parent_death(number: int, frame: object) -> None:
    """repaudit died (or asked this tree to stop): take the whole tree down with it."""
    kill_everything()
    os._exit(128 + number)


def main(argv: list[str]) -> None:
    parent, separator, command = int(argv[1]), argv[2], argv[3:]
    assert separator == "--" and command, "usage: reaper.py PARENT_PID -- COMMAND..."
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, on_parent_death)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # repaudit died before the signal was asked for
        os._exit(128 + signal.SIGTERM)
    first = os.fork()
    if first == 0:
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        try:
            os.execvp(command[0], command)
        except OSError as error:
            os.write(2, f"repaudit: cannot run {command[0]}: {error.strerror}\n".encode())
            os._exit(127)
    while True:
        pid, status = os.waitpid(-1, 0)
        if pid == first:
            # Block the signals while cleaning up, so a late SIGTERM does not cut the exit short.
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGHUP})
            kill_everything()
            exit_like(status)


if __name__ == "__main__":
    main(sys.argv)
