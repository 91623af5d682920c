"""Process control for audited code: the allow-listed environment, the isolation wrapper, and one
contained run (timeout that kills the whole tree, memory limit, size-capped logs, peak memory).

Three levels, strongest first (model.Isolation):

    bubblewrap   bwrap: system read-only, private /tmp, auditor's home hidden, only the listed folders
                 writable, no network interfaces, own PID namespace (the tree dies with its first process)
    unshare-net  util-linux unshare: no network interfaces and an own PID namespace; filesystem shared
    none         a plain subprocess in its own session: network and filesystem reachable

No library does this for subprocesses (bubblewrap and unshare are the tools; this module only
builds their command lines), so it is written by hand.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from repaudit.model import Isolation

# Names passed through from the auditor's environment to audited code; everything else is dropped.
_ALLOWED = {"PATH", "LANG", "LANGUAGE", "TERM", "TZ", "USER", "LOGNAME", "SHELL"}
_ALLOWED_PREFIXES = ("LC_", "CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH", "NVIDIA_")
# Only for the phases that may use the network (environment build, prepare): proxies and CA bundles.
_NETWORK_ALLOWED = {
    *(f"{name}_proxy" for name in ("http", "https", "no", "all")),
    *(f"{name}_PROXY" for name in ("HTTP", "HTTPS", "NO", "ALL")),
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
}
# Dropped even when allow-listed: names that look like credentials, and URLs carrying user:password@.
_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|(^|_)(API|ACCESS)?_?KEY($|_)|PRIVATE|AUTH|COOKIE|SESSION"
    r"|^AWS_|^AZURE_|^GOOGLE_|^GCP_|^GCLOUD|^GH_|^GITHUB_|^HF_|^HUGGING|^WANDB_|^NETRC|^SSH_",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"://[^/@\s]+@")

#: Logs keep their first HEAD bytes and their last TAIL bytes; the cut is stated in the file.
LOG_HEAD_BYTES = 8 * 1024 * 1024
LOG_TAIL_BYTES = 2 * 1024 * 1024
#: How often a running tree's memory is sampled (its peak, and the limit of the whole tree).
MEMORY_POLL_SECONDS = 0.5


def is_secret(name: str, value: str = "") -> bool:
    """True for variables that must never reach audited code or the stored fingerprint."""
    return bool(_SECRET_NAME.search(name) or _URL_USERINFO.search(value))


def base_environment(bin_dir: Path, *, network: bool = False) -> dict[str, str]:
    """The auditor's environment through the allow-list, with ``bin_dir`` first on PATH."""
    allowed = _ALLOWED | (_NETWORK_ALLOWED if network else set())
    env = {
        name: value
        for name, value in os.environ.items()
        if (name in allowed or name.startswith(_ALLOWED_PREFIXES)) and not is_secret(name, value)
    }
    path = [str(bin_dir), *env.get("PATH", os.defpath).split(os.pathsep)]
    env["PATH"] = os.pathsep.join(dict.fromkeys(p for p in path if p))
    return env


# ---------------------------------------------------------------- which isolation is available


def _works(argv: Sequence[str]) -> bool:
    try:
        done = subprocess.run([*argv, "true"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.cache
def _unshare_prefix() -> tuple[str, ...] | None:
    """unshare's options that work here (root, or an unprivileged user namespace), or None."""
    if shutil.which("unshare") is None:
        return None
    base = ("unshare", "--pid", "--fork", "--kill-child")
    for extra in ((), ("--user", "--map-root-user")):
        if _works([*base, *extra, "--net"]):
            return (*base, *extra)
    return None


def detect_isolation() -> tuple[Isolation, str]:
    """The strongest isolation this machine offers, and plain words on what it does and does not do.

    REPAUDIT_ISOLATION=unshare-net or none asks for a weaker level (e.g. where bubblewrap cannot
    run); a stronger level than the machine offers is never claimed.
    """
    requested = os.environ.get("REPAUDIT_ISOLATION", Isolation.BUBBLEWRAP.value)
    order = list(Isolation)
    allowed = order[order.index(Isolation(requested)) :] if requested in order else order
    return _strongest(tuple(allowed))


@functools.cache
def _strongest(allowed: tuple[Isolation, ...]) -> tuple[Isolation, str]:
    if (
        Isolation.BUBBLEWRAP in allowed
        and shutil.which("bwrap")
        and _works(_bwrap_argv(Path("/"), network=False))
    ):
        return Isolation.BUBBLEWRAP, (
            "seeds ran under bubblewrap: no network, system read-only, the auditor's home hidden, "
            "a private /tmp, only the seed's checkout and output folders writable; it is not a "
            "virtual machine (same kernel), so run hostile code inside a VM (docs/sandbox.md)"
        )
    if Isolation.UNSHARE_NET in allowed and _unshare_prefix() is not None:
        return Isolation.UNSHARE_NET, (
            "seeds ran under unshare: no network and every process killed with the seed, but the "
            "filesystem is NOT protected (the code can read and write what the auditor can); "
            "install bubblewrap (apt-get install bubblewrap) for filesystem isolation"
        )
    return Isolation.NONE, (
        "seeds ran WITHOUT isolation: the code could use the network and read and write the "
        "auditor's files (only the environment variables were scrubbed); install bubblewrap "
        "(apt-get install bubblewrap) or run repaudit inside a container"
    )


def _masked_dirs() -> list[Path]:
    """Folders that hold the auditor's own files (keys, tokens, shell history): hidden under bwrap."""
    candidates = dict.fromkeys([Path("/root"), Path("/home"), Path.home()])
    return [p for p in candidates if p.is_dir() and len(p.parts) > 1]  # never "/" itself


def _interpreter_paths() -> list[Path]:
    """This interpreter's installation and import path, re-exposed read-only inside a masked home."""
    paths = dict.fromkeys([sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path])
    return [Path(p) for p in paths if os.path.isabs(p) and os.path.exists(p)]


def _bwrap_argv(
    cwd: Path,
    *,
    network: bool,
    writable: Sequence[Path] = (),
    readonly: Sequence[Path] = (),
    devices: Sequence[str] = (),
    hidden: Sequence[Path] = (),
) -> list[str]:
    argv = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--tmpfs", "/dev/shm"]
    argv += ["--proc", "/proc", "--tmpfs", "/tmp"]
    for folder in [*_masked_dirs(), *(h for h in hidden if len(h.absolute().parts) > 2)]:
        argv += ["--tmpfs", os.path.abspath(folder)]  # the binds below are mounted back on top
    if not network and Path("/run").is_dir():
        # A read-only mount does not stop connect() on a Unix socket, and /run holds the Docker,
        # D-Bus and systemd sockets (docker.sock is root on the host).
        argv += ["--tmpfs", "/run"]
    for path in [*_interpreter_paths(), *readonly]:
        argv += ["--ro-bind-try", os.path.abspath(path), os.path.abspath(path)]
    for path in writable:
        argv += ["--bind", os.path.abspath(path), os.path.abspath(path)]
    for device in devices:
        argv += ["--dev-bind-try", device, device]
    argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"]
    argv += ["--new-session"]  # no TIOCSTI keystroke injection into the auditor's terminal
    if not network:
        argv.append("--unshare-net")
    if os.geteuid() == 0:
        argv += ["--cap-drop", "ALL"]  # root inside may not remount the read-only system
    return [*argv, "--chdir", str(cwd), "--"]


# ---------------------------------------------------------------- one contained run


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # negative: killed by that signal
    seconds: float
    timed_out: bool = False
    interrupted: bool = False  # stopped by kill_all_running (Ctrl-C)
    memory_exceeded: bool = False  # killed because the whole tree used more than the limit
    peak_memory_bytes: int | None = None  # the tree's, sampled; at least its largest process's


class _Tree:
    """A running process tree, registered so kill_all_running can stop it."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.timed_out = False
        self.interrupted = False
        self.memory_exceeded = False
        self.peak_memory = 0

    def kill(self, *, reaped: bool = False) -> None:
        # The PID-namespace wrappers take their whole tree with them; for plain runs, the session's
        # process group plus every descendant still attached by parent id. Once the first process
        # is reaped its id may be reused, so then only the group (which pins the id) is signalled.
        pids = [] if reaped else [self.process.pid, *_descendants(self.process.pid)]
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.killpg(self.process.pid, signal.SIGKILL)


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
    """Run the shell ``command`` under the strongest isolation available; wait, kill its tree at the
    timeout, and write its output to the two (size-capped) log files. Under bubblewrap, ``hidden``
    folders look empty except for the ``writable`` and ``readonly`` paths inside them. Raises
    OSError only when the process cannot be started at all."""
    isolation, _ = detect_isolation()
    if memory_bytes:
        # RLIMIT_DATA (heap and private writable mappings), per process: unlike the address-space
        # limit it does not count the huge PROT_NONE reservations CUDA makes.
        command = f"ulimit -d {max(1, memory_bytes // 1024)} || exit 125\n{command}"
    argv = ["/bin/sh", "-c", command]
    if isolation is Isolation.BUBBLEWRAP:
        wrapper = _bwrap_argv(
            cwd,
            network=network,
            writable=writable,
            readonly=readonly,
            devices=devices,
            hidden=hidden,
        )
        argv = [*wrapper, *argv]
    elif isolation is Isolation.UNSHARE_NET:
        prefix = _unshare_prefix() or ()
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
    tree.kill(reaped=True)  # background processes the command left behind go with it
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
    with open(path, "wb") as log:
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


def format_duration(seconds: float) -> str:
    """ "90s", "30m", "2h": how a timeout is spelled in reasons and messages."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 60:g}m" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"
