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
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import submitit
from submitit.core.utils import FailedJobError, UncompletedJobError

from repaudit import run
from repaudit.errors import ExecutorError
from repaudit.executors.base import CancelQuestion, SeedRunner, StartCallback
from repaudit.model import RunResult, RunStatus, SeedRequest, SlurmOptions

#: The Slurm client commands an audit on a cluster needs.
SLURM_COMMANDS = ("sbatch", "squeue", "sinfo", "scancel")
#: The job id of each submitted seed, by run key, in the submitit folder.
_JOBS = "jobs.json"
#: Polls in a row a job must be missing from squeue, with no result, to count as vanished.
_VANISHED_POLLS = 3
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
    """Seeds as one Slurm job array (submitit); results stream back as jobs finish.

    The job id of every submitted seed is recorded in ``<folder>/jobs.json`` before waiting, so a
    `repaudit check` run again (after Ctrl-C with the jobs left running, or a lost login session)
    re-attaches to the jobs still queued or running, and to the results of those that finished
    meanwhile, instead of submitting the seeds again.
    """

    def __init__(
        self,
        folder: Path,
        options: SlurmOptions,
        *,
        max_parallel: int | None = None,
        run_seed: SeedRunner = run.run_seed,
        poll_seconds: float = 5.0,
        cancel_on_interrupt: CancelQuestion | None = None,
    ) -> None:
        partitions = cluster_partitions()
        if options.partition is not None and options.partition not in partitions:
            raise ExecutorError(
                f"Slurm partition {options.partition!r} does not exist; this cluster has "
                f"{', '.join(partitions) or 'none'} (set [slurm] partition or --slurm-partition)"
            )
        self._folder = folder
        self._options = options
        self._run_seed = run_seed
        self._poll_seconds = poll_seconds
        self._cancel_on_interrupt = cancel_on_interrupt or (lambda count: True)
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
        """Submit every seed not already running at once (re-attach to those that are); `on_start`
        is called when a seed is submitted (queued) or re-attached."""
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
        recorded = self._recorded()
        queued = _queued()
        by_id: dict[str, tuple[submitit.Job[RunResult], SeedRequest]] = {}
        to_submit = []
        for request in placed:
            job_id = recorded.get(str(request.key))
            earlier: submitit.SlurmJob[RunResult] | None = (
                submitit.SlurmJob(self._folder, job_id) if job_id else None
            )
            if earlier and (earlier.paths.result_pickle.exists() or job_id in (queued or ())):
                by_id[earlier.job_id] = (earlier, request)
            else:
                to_submit.append(request)
        if to_submit:
            # Each node decides its own isolation level (run_on_node), as the one it runs under.
            run_one = functools.partial(run_on_node, self._run_seed)
            jobs = self._executor.map_array(run_one, to_submit)
            by_id |= {job.job_id: (job, r) for job, r in zip(jobs, to_submit, strict=True)}
        self._record({**recorded, **{str(r.key): i for i, (_, r) in by_id.items()}})
        finished: set[str] = set()
        try:
            for _, request in by_id.values():
                if on_start is not None:
                    on_start(request)
            for job, vanished in self._completed([job for job, _ in by_id.values()]):
                finished.add(job.job_id)
                request = by_id[job.job_id][1]
                yield vanished_seed(job, request) if vanished else outcome(job, request)
        except BaseException:
            # Ctrl-C (or the caller stopping): cancel what still runs, unless asked to leave it.
            unfinished = [job_id for job_id in by_id if job_id not in finished]
            if unfinished and self._cancel_on_interrupt(len(unfinished)):
                subprocess.run(["scancel", *unfinished], capture_output=True, check=False)
            raise

    def _completed(
        self, jobs: list[submitit.Job[RunResult]]
    ) -> Iterator[tuple[submitit.Job[RunResult], bool]]:
        """Yield (job, vanished) once a job is done: it left a result or accounting says it ended
        (vanished False); or it has been missing from the queue for _VANISHED_POLLS polls in a row
        with no result (vanished True: the cluster keeps no accounting, so submitit would wait
        for it forever)."""
        pending = {job.job_id: job for job in jobs}
        absent: dict[str, int] = {}
        while pending:
            queued = _queued()
            for job_id, job in list(pending.items()):
                if queued is not None and job_id not in queued:
                    absent[job_id] = absent.get(job_id, 0) + 1
                else:
                    absent.pop(job_id, None)
                gone = absent.get(job_id, 0) >= _VANISHED_POLLS
                # Before calling a job vanished, ask accounting now (it is otherwise polled rarely).
                done = job.done(force_check=gone)
                if done or gone:
                    del pending[job_id]
                    yield job, not done
            if pending:
                time.sleep(self._poll_seconds)

    def _recorded(self) -> dict[str, str]:
        """The job ids recorded by earlier runs of this audit, by run key ({} when none)."""
        try:
            recorded = json.loads((self._folder / _JOBS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(recorded, dict):
            return {}
        return {str(k): v for k, v in recorded.items() if isinstance(v, str)}

    def _record(self, jobs: dict[str, str]) -> None:
        """Write the job ids atomically (a half-written record would lose the running jobs)."""
        self._folder.mkdir(parents=True, exist_ok=True)
        temporary = self._folder / f".{_JOBS}.{os.getpid()}"
        temporary.write_text(json.dumps(jobs, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(temporary, self._folder / _JOBS)


def _queued() -> set[str] | None:
    """Ids of this user's jobs Slurm still has queued or running (array tasks one by one), or None
    when squeue does not answer (then nothing is concluded from a job's absence)."""
    try:
        answer = subprocess.run(
            ["squeue", "--noheader", "--array", "--format=%i", f"--user={os.getuid()}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(answer.stdout.split()) if answer.returncode == 0 else None


def vanished_seed(job: submitit.Job[RunResult], request: SeedRequest) -> RunResult:
    """The failed RunResult of a job Slurm no longer lists and that left no result (no exit code:
    a resumed audit runs the seed again)."""
    return dataclasses.replace(
        run.could_not_run(request, RuntimeError("vanished")),
        reason=(
            f"Slurm job {job.job_id} is no longer queued and left no result; the cluster keeps "
            "no record of how it ended (no accounting)"
        ),
        log_tail="\n".join((job.stderr() or "").splitlines()[-40:]),
        job_id=job.job_id,
    )


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
