"""What audited code may see: the allow-listed environment, and the isolation wrapper around it
(running the wrapped command, with its timeout and limits, is process.py's).

Three levels, strongest first (model.Isolation):

    bubblewrap   bwrap: system read-only, private /tmp, auditor's home hidden, only the listed folders
                 writable, no network interfaces, own PID namespace (the tree dies with its first process)
    unshare-net  util-linux unshare: no network interfaces, an own PID namespace, and an own mount
                 namespace in which the audit folder and prepare's outputs are read-only (but for
                 the seed's own folders); the rest of the filesystem is shared
    none         a plain subprocess in its own session: network and filesystem reachable

No library does this for subprocesses (bubblewrap and unshare are the tools; this module only
builds their command lines), so it is written by hand.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
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
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
}
# Dropped even when allow-listed: names that look like credentials, and URLs carrying user:password@.
_SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|(^|_)(API|ACCESS)?_?KEY($|_)|PRIVATE|AUTH|COOKIE|SESSION"
    r"|^AWS_|^AZURE_|^GOOGLE_|^GCP_|^GCLOUD|^GH_|^GITHUB_|^HF_|^HUGGING|^WANDB_|^NETRC|^SSH_",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"://[^/@\s]+@")


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
def unshare_prefix() -> tuple[str, ...] | None:
    """unshare's options that work here (root, or an unprivileged user namespace), or None.

    The level needs a network namespace, a PID namespace and a mount namespace in which a bind
    mount can be made read-only: the probe does exactly that to a scratch folder."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return None
    base = ("unshare", "--pid", "--fork", "--kill-child")
    with tempfile.TemporaryDirectory(prefix="repaudit-probe-") as scratch:
        probe = _read_only_script(readonly=[Path(scratch)], writable=[], hidden=[])
        probe += f"\n! touch {shlex.quote(scratch)}/x 2>/dev/null"
        for extra in ((), ("--user", "--map-root-user")):
            if _works([*base, *extra, *_UNSHARE_NAMESPACES, "/bin/sh", "-c", probe, "--"]):
                return (*base, *extra)
    return None


# The namespaces unshare-net adds to the PID namespace: network (unless asked for) and mount.
_UNSHARE_NAMESPACES = ("--net", "--mount", "--propagation", "private")


def unshare_argv(
    command: str,
    *,
    network: bool,
    writable: Sequence[Path] = (),
    readonly: Sequence[Path] = (),
    hidden: Sequence[Path] = (),
) -> list[str]:
    """unshare's command line for the shell ``command``: own PID, mount and (unless ``network``)
    network namespaces, in which ``readonly`` paths and ``hidden`` folders are mounted read-only
    and the ``writable`` paths inside them mounted writable again, before ``command`` starts."""
    prefix = unshare_prefix() or ()
    namespaces = _UNSHARE_NAMESPACES if not network else _UNSHARE_NAMESPACES[1:]
    script = _read_only_script(readonly=readonly, writable=writable, hidden=hidden)
    script += f"\nexec /bin/sh -c {shlex.quote(command)}"
    return [*prefix, *namespaces, "/bin/sh", "-c", script]


def _read_only_script(
    *, readonly: Sequence[Path], writable: Sequence[Path], hidden: Sequence[Path]
) -> str:
    """Shell lines that bind-mount ``readonly`` paths and ``hidden`` folders read-only onto
    themselves, then ``writable`` paths writable (a bind mount inside a read-only one starts out
    read-only). Run inside a private mount namespace, so nothing outside it changes."""
    lines = ["set -e"]
    for path in [*readonly, *(h for h in hidden if len(h.absolute().parts) > 2)]:
        where = shlex.quote(os.path.abspath(path))
        lines.append(
            f"if [ -e {where} ]; then mount --bind {where} {where}; "
            f"mount -o remount,bind,ro {where}; fi"
        )
    for path in writable:
        where = shlex.quote(os.path.abspath(path))
        lines.append(f"mount --bind {where} {where}; mount -o remount,bind,rw {where}")
    return "\n".join(lines)


def detect_isolation() -> Isolation:
    """The strongest isolation this machine offers: decided once per audit (once per Slurm node).

    REPAUDIT_ISOLATION=unshare-net or none asks for a weaker level (e.g. where bubblewrap cannot
    run); a stronger level than the machine offers is never claimed.
    """
    requested = os.environ.get("REPAUDIT_ISOLATION", Isolation.BUBBLEWRAP.value)
    order = list(Isolation)
    allowed = order[order.index(Isolation(requested)) :] if requested in order else order
    return _strongest(tuple(allowed))


@functools.cache
def _strongest(allowed: tuple[Isolation, ...]) -> Isolation:
    if (
        Isolation.BUBBLEWRAP in allowed
        and shutil.which("bwrap")
        and _works(bwrap_argv(Path("/"), network=False))
    ):
        return Isolation.BUBBLEWRAP
    if Isolation.UNSHARE_NET in allowed and unshare_prefix() is not None:
        return Isolation.UNSHARE_NET
    return Isolation.NONE


def weakest(levels: Iterable[Isolation]) -> Isolation:
    """The weakest of ``levels`` (Isolation lists the strongest first)."""
    order = list(Isolation)
    return max(levels, key=order.index)


def _masked_dirs() -> list[Path]:
    """Folders that hold the auditor's own files (keys, tokens, shell history): hidden under bwrap."""
    candidates = dict.fromkeys([Path("/root"), Path("/home"), Path.home()])
    return [p for p in candidates if p.is_dir() and len(p.parts) > 1]  # never "/" itself


def _interpreter_paths() -> list[Path]:
    """This interpreter's installation and import path, re-exposed read-only inside a masked home."""
    paths = dict.fromkeys([sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path])
    return [Path(p) for p in paths if os.path.isabs(p) and os.path.exists(p)]


def bwrap_argv(
    cwd: Path,
    *,
    network: bool,
    writable: Sequence[Path] = (),
    readonly: Sequence[Path] = (),
    devices: Sequence[str] = (),
    hidden: Sequence[Path] = (),
) -> list[str]:
    """bubblewrap's command line: ``cwd`` as the working folder, ``writable`` and ``readonly`` bound
    in, ``hidden`` folders empty but for those binds, no network unless ``network``."""
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
