"""A real single-node Slurm cluster in a temporary folder, for tests: munged, slurmctld, slurmd.

Everything lives under one folder (key, config, state, spool, logs, sockets) and the daemons run in
the foreground as children of the test process, so stopping them is killing three known pids.
Needs root (SlurmUser=root) and Debian's slurm-wlm + munge packages; `unavailable()` says why not.

The cluster has no accounting database (slurmdbd needs MySQL), so there is no `sacct`. submitit
asks sacct for the state of jobs that ended without a result (scancel, time limit); the small
`sacct` below answers that one query from `scontrol show job`, which the controller keeps for
MinJobAge seconds after a job ends. No library does this; it is written by hand.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel", "scontrol")

SACCT = '''#!{python}
"""sacct -o JobID,State,NodeList --parsable2 -j ID ...: answered from `scontrol show job`."""
import subprocess, sys

args = sys.argv[1:]
print("JobID|State|NodeList")
for job in (args[i + 1] for i, arg in enumerate(args) if arg == "-j"):
    shown = subprocess.run(["scontrol", "--oneliner", "show", "job", job], capture_output=True, text=True)
    for line in shown.stdout.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        task = fields.get("ArrayTaskId")
        if task is None:
            job_id = fields["JobId"]
        else:
            job_id = fields["ArrayJobId"] + "_" + (task if task.isdigit() else "[" + task + "]")
        print(job_id + "|" + fields["JobState"] + "|" + fields.get("NodeList", ""))
'''


def unavailable() -> str | None:
    """Why a cluster cannot start here, or None when it can."""
    missing = [name for name in DAEMONS + CLIENTS if shutil.which(name) is None]
    if missing:
        return f"Slurm/munge not installed ({', '.join(missing)} missing; apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "the test cluster runs its daemons as root (SlurmUser=root); run the tests as root"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SlurmCluster:
    """Start with `start()`, stop with `stop()`; `environment` holds SLURM_CONF and PATH for clients."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hostname = socket.gethostname().split(".")[0]  # slurmd names itself by the short name
        self.processes: list[subprocess.Popen[bytes]] = []
        self.config = root / "slurm.conf"
        bin_dir = root / "bin"
        self.environment = {
            "SLURM_CONF": str(self.config),
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def start(self, timeout: float = 30.0) -> None:
        for folder in ("munge", "state", "spool", "log", "bin"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "munge").chmod(0o711)  # munged refuses a key or socket others could reach
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o600)
        socket_path = self.root / "munge" / "munge.socket"
        sacct = self.root / "bin" / "sacct"
        sacct.write_text(SACCT.format(python=sys.executable))
        sacct.chmod(0o755)
        self._write_config(socket_path)
        self._spawn("munged", "munged", "--foreground", "--force", f"--key-file={key}",
                    f"--socket={socket_path}", f"--pid-file={self.root / 'munge' / 'pid'}",
                    f"--seed-file={self.root / 'munge' / 'seed'}",
                    f"--log-file={self.root / 'log' / 'munged.log'}")  # fmt: skip
        self._started(socket_path.exists, timeout, "munged did not create its socket")
        self._spawn("slurmctld", "slurmctld", "-D", "-i", "-f", str(self.config))
        self._spawn("slurmd", "slurmd", "-D", "-N", self.hostname, "-f", str(self.config))
        self._started(self._node_idle, timeout, "the node did not become idle in sinfo")

    def stop(self) -> None:
        """Cancel every job (a job step outlives slurmd otherwise), then stop the daemons this
        cluster started, by their pids, newest first."""
        if self.processes and all(p.poll() is None for p in self.processes):
            subprocess.run(["scancel", f"--user={os.getuid()}"], env={**os.environ, **self.environment},
                           capture_output=True, check=False)  # fmt: skip
            self._wait(self._queue_empty, 15)
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def run(self, *command: str) -> str:
        """Run a Slurm client command against this cluster and return its stdout."""
        return subprocess.run(
            command,
            env={**os.environ, **self.environment},
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def _write_config(self, munge_socket: Path) -> None:
        cpus = os.cpu_count() or 1
        # A little below what slurmd measures: a node configured with more memory is drained.
        memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 9 // 10 // 2**20
        lines = {
            "ClusterName": "repaudit-test",
            "SlurmctldHost": f"{self.hostname}(127.0.0.1)",  # no DNS needed for the own name
            "SlurmctldPort": _free_port(),
            "SlurmdPort": _free_port(),
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={munge_socket}",
            "StateSaveLocation": self.root / "state",
            "SlurmdSpoolDir": self.root / "spool",
            "SlurmctldPidFile": self.root / "slurmctld.pid",
            "SlurmdPidFile": self.root / "slurmd.pid",
            "SlurmctldLogFile": self.root / "log" / "slurmctld.log",
            "SlurmdLogFile": self.root / "log" / "slurmd.log",
            "ProctrackType": "proctrack/linuxproc",  # no cgroups in a container
            "TaskPlugin": "task/none",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core_Memory",
            "JobAcctGatherType": "jobacct_gather/none",
            "AccountingStorageType": "accounting_storage/none",
            "MpiDefault": "none",
            "ReturnToService": 2,
            "SchedulerParameters": "sched_interval=1",
            "MessageTimeout": 5,
            "KillWait": 1,  # submitit ignores SIGTERM; SIGKILL a cancelled job soon after
            "NodeName": f"{self.hostname} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
            "PartitionName": "debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        }
        self.config.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))

    def _spawn(self, name: str, *command: str) -> None:
        log = (self.root / "log" / f"{name}.out").open("wb")
        self.processes.append(
            subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.environment},
            )
        )

    def _node_idle(self) -> bool:
        return self._ask("sinfo", "--noheader", "--format=%T").split() == ["idle"]

    def _queue_empty(self) -> bool:
        return self._ask("squeue", "--noheader", "--format=%i") == ""

    def _ask(self, *command: str) -> str:
        """A client command's stdout, or "?" when it fails (the controller may still be starting)."""
        answer = subprocess.run(
            command, env={**os.environ, **self.environment}, capture_output=True, text=True
        )
        return answer.stdout.strip() if answer.returncode == 0 else "?"

    def _wait(self, ready: Callable[[], bool], timeout: float) -> str | None:
        """None once `ready()` holds; else why not (a daemon exited, or the time ran out)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return None
            dead = [str(p.args[0]) for p in self.processes if p.poll() is not None]
            if dead:
                return f"{', '.join(dead)} exited"
            time.sleep(0.2)
        return f"not within {timeout:.0f} s"

    def _started(self, ready: Callable[[], bool], timeout: float, problem: str) -> None:
        why = self._wait(ready, timeout)
        if why is None:
            return
        logs = sorted((self.root / "log").glob("*"))
        tails = "\n".join(
            f"--- {p.name}\n" + "\n".join(p.read_text().splitlines()[-15:]) for p in logs
        )
        self.stop()
        raise RuntimeError(f"Slurm test cluster failed to start: {problem} ({why})\n{tails}")
