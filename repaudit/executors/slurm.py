"""Run seeds on a Slurm cluster through submitit: one job array, one task per seed.

The audit folder (the store) must be on a filesystem the compute nodes share with the login node:
each task writes its seed's logs and outputs there, and submitit passes the pickled request and
result through the submitit folder inside it. The nodes must also see the same Python with
repaudit importable (a shared installation or container image), since submitit runs
``sys.executable -m submitit.core._submit`` there.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import submitit
from submitit.core.utils import FailedJobError, UncompletedJobError

from repaudit import run
from repaudit.errors import ExecutorError
from repaudit.executors.base import SeedRunner, StartCallback
from repaudit.model import RunResult, RunStatus, SeedRequest, SlurmOptions

#: The Slurm client commands an audit on a cluster needs.
SLURM_COMMANDS = ("sbatch", "squeue", "sinfo", "scancel")
_FIX = "run repaudit on the cluster's login node (with SLURM_CONF naming its slurm.conf) or use --executor local"


def cluster_partitions() -> tuple[str, ...]:
    """The partitions the cluster offers; ExecutorError when no Slurm controller answers."""
    missing = [name for name in SLURM_COMMANDS if shutil.which(name) is None]
    if missing:
        raise ExecutorError(
            f"--executor slurm needs {', '.join(missing)} on PATH, not found; {_FIX}"
        )
    try:
        answer = subprocess.run(
            ["sinfo", "--noheader", "--format=%R"], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        raise ExecutorError(
            f"the Slurm controller did not answer sinfo within 60 s; {_FIX}"
        ) from None
    if answer.returncode != 0:
        said = (answer.stderr.strip().splitlines() or ["no message"])[-1]
        raise ExecutorError(f"Slurm is not reachable (sinfo: {said}); {_FIX}")
    return tuple(dict.fromkeys(answer.stdout.split()))


class SlurmExecutor:
    """Seeds as one Slurm job array (submitit); results stream back as jobs finish."""

    def __init__(
        self,
        folder: Path,
        options: SlurmOptions,
        *,
        max_parallel: int | None = None,
        run_seed: SeedRunner = run.run_seed,
        poll_seconds: float = 5.0,
    ) -> None:
        partitions = cluster_partitions()
        if options.partition is not None and options.partition not in partitions:
            raise ExecutorError(
                f"Slurm partition {options.partition!r} does not exist; this cluster has "
                f"{', '.join(partitions) or 'none'} (set [slurm] partition or --slurm-partition)"
            )
        self._options = options
        self._run_seed = run_seed
        self._poll_seconds = poll_seconds
        self._executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        parameters = {
            "slurm_partition": options.partition,
            "gpus_per_node": options.gpus_per_node,
            "cpus_per_task": options.cpus_per_task,
            "mem_gb": options.mem_gb,
            "timeout_min": options.timeout_min,
            "slurm_additional_parameters": dict(options.additional),
            "slurm_array_parallelism": max_parallel,
        }
        self._executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})

    def run_all(
        self, requests: Sequence[SeedRequest], on_start: StartCallback | None = None
    ) -> Iterator[RunResult]:
        """Submit every seed at once; `on_start` is called when a seed is submitted (queued)."""
        if not requests:
            return
        # A task gets the job's CPUs; its GPUs are indices into what Slurm granted the job
        # (sandbox maps them onto the job's CUDA_VISIBLE_DEVICES).
        placed = [
            dataclasses.replace(
                r,
                threads=self._options.cpus_per_task,
                gpus=tuple(range(self._options.gpus_per_node)),
            )
            for r in requests
        ]
        # Each node decides its own isolation level (run_on_node), as the one it runs under.
        jobs = self._executor.map_array(functools.partial(run_on_node, self._run_seed), placed)
        by_id = {job.job_id: request for job, request in zip(jobs, placed, strict=True)}
        if on_start is not None:
            for request in placed:
                on_start(request)
        finished: set[str] = set()
        try:
            for job in submitit.helpers.as_completed(jobs, poll_frequency=self._poll_seconds):
                finished.add(job.job_id)
                yield outcome(job, by_id[job.job_id])
        except BaseException:
            # Ctrl-C (or the caller stopping): nothing of this audit may keep running on the cluster.
            unfinished = [job_id for job_id in by_id if job_id not in finished]
            if unfinished:
                subprocess.run(["scancel", *unfinished], capture_output=True, check=False)
            raise


def outcome(job: submitit.Job[RunResult], request: SeedRequest) -> RunResult:
    """The seed's RunResult with its job id; a job that died without one becomes a failed run."""
    try:
        result = job.result()
    except UncompletedJobError as error:
        # Killed from outside (time limit, scancel, node failure): submitit has no result file.
        state = job.state
        status = RunStatus.TIMEOUT if state.startswith("TIMEOUT") else RunStatus.FAILED
        result = dataclasses.replace(
            run.could_not_run(request, error),
            status=status,
            reason=f"Slurm job {job.job_id} ended without a result (state {state})",
            log_tail="\n".join((job.stderr() or str(error)).splitlines()[-40:]),
        )
    except FailedJobError as error:  # run_seed itself raised on the node
        result = run.could_not_run(request, error)
    return dataclasses.replace(result, job_id=job.job_id)


def run_on_node(run_seed: SeedRunner, request: SeedRequest) -> RunResult:
    """What a Slurm task runs: the seed under the isolation *this node* provides, never a stronger
    one than the audit asked for (the submitting host's level says nothing about the node)."""
    level = run.weakest((run.detect_isolation(), request.isolation))
    return run_seed(dataclasses.replace(request, isolation=level))
