"""Run many seed requests and stream each RunResult as its seed finishes: local slots (default).

The Slurm executor (submitit) lives in slurm.py; both follow the `Executor` protocol below, so the
audit loop stores and displays every result the moment it arrives, whatever runs the seeds.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from repaudit import sandbox
from repaudit.env import detect_gpus
from repaudit.errors import ExecutorError
from repaudit.model import AuditSpec, RunResult, RunStatus, SeedRequest, SlurmOptions

#: Runs one seed and never raises (sandbox.run_seed); injectable so tests can time the scheduling.
SeedRunner = Callable[[SeedRequest], RunResult]
StartCallback = Callable[[SeedRequest], None]


class Executor(Protocol):
    def run_all(
        self, requests: Sequence[SeedRequest], on_start: StartCallback | None = None
    ) -> Iterator[RunResult]:
        """Yield each request's RunResult as soon as its seed finishes (finish order, not request order).

        `on_start` is called once per request when it starts (local) or is submitted (Slurm).
        A failed seed is a RunResult; an interruption (Ctrl-C) stops the remaining seeds and
        re-raises, and the results already yielded stay the caller's.
        """
        ...


@dataclasses.dataclass(frozen=True)
class Slot:
    """One place a seed can run: a fixed thread count and its own GPUs (indices into the visible list)."""

    index: int
    threads: int
    gpus: tuple[int, ...] = ()


def usable_cpus() -> int:
    """CPUs this process may run on: fewer than os.cpu_count() under taskset, cpusets or Slurm."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def plan_slots(
    workers: int, *, threads_per_slot: int | None, gpus: Sequence[str], gpus_per_seed: int
) -> tuple[Slot, ...]:
    """Split the machine into `workers` slots with disjoint GPU sets; ExecutorError when it cannot."""
    if workers < 1:
        raise ExecutorError(f"--workers must be at least 1, got {workers}")
    if gpus_per_seed < 0:
        raise ExecutorError(f"gpus_per_seed must be 0 or more, got {gpus_per_seed}")
    if gpus_per_seed and workers * gpus_per_seed > len(gpus):
        fits = len(gpus) // gpus_per_seed
        fix = (
            f"use --workers {fits}"
            if fits
            else "run on a machine with GPUs or set gpus_per_seed = 0"
        )
        raise ExecutorError(
            f"{workers} worker(s) x {gpus_per_seed} GPU(s) per seed needs {workers * gpus_per_seed} "
            f"GPUs but {len(gpus)} are visible; {fix}"
        )
    threads = threads_per_slot or max(1, usable_cpus() // workers)
    return tuple(
        Slot(i, threads, tuple(range(i * gpus_per_seed, (i + 1) * gpus_per_seed)))
        for i in range(workers)
    )


def crashed(request: SeedRequest, error: BaseException, seconds: float = 0.0) -> RunResult:
    """A seed runner that raised despite its contract: still a failed RunResult, never a lost audit."""
    return RunResult(
        arm=request.arm,
        seed=request.seed,
        repeat=request.repeat,
        status=RunStatus.FAILED,
        seconds=seconds,
        reason=f"repaudit could not run this seed: {type(error).__name__}: {error}",
        spec_hash=request.spec_hash,
    )


class LocalExecutor:
    """Seeds on `workers` local slots; each seed is a subprocess, so threads suffice to wait on them."""

    def __init__(
        self,
        workers: int = 1,
        *,
        threads_per_slot: int | None = None,
        gpus: Sequence[str] | None = None,
        gpus_per_seed: int = 0,
        run_seed: SeedRunner = sandbox.run_seed,
        kill_running: Callable[[], None] = sandbox.kill_all_running,
    ) -> None:
        visible = detect_gpus() if gpus is None and gpus_per_seed else (gpus or ())
        self.slots = plan_slots(
            workers, threads_per_slot=threads_per_slot, gpus=visible, gpus_per_seed=gpus_per_seed
        )
        self._run_seed = run_seed
        self._kill_running = kill_running

    def run_all(
        self, requests: Sequence[SeedRequest], on_start: StartCallback | None = None
    ) -> Iterator[RunResult]:
        free: queue.SimpleQueue[Slot] = queue.SimpleQueue()
        for slot in self.slots:
            free.put(slot)
        start_lock = threading.Lock()  # callers' progress displays need not be thread-safe

        def run_in_slot(request: SeedRequest) -> RunResult:
            # The pool has one thread per slot, so a slot is always free when a task starts.
            slot = free.get()
            try:
                placed = dataclasses.replace(request, threads=slot.threads, gpus=slot.gpus)
                if on_start is not None:
                    with start_lock:
                        on_start(placed)
                started = time.monotonic()
                try:
                    return self._run_seed(placed)
                except Exception as error:
                    return crashed(placed, error, time.monotonic() - started)
            finally:
                free.put(slot)

        pool = concurrent.futures.ThreadPoolExecutor(len(self.slots), "repaudit-slot")
        futures = [pool.submit(run_in_slot, request) for request in requests]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        except BaseException:
            # Ctrl-C (or the caller closing the stream): start nothing new, kill what runs, and
            # wait for the killed seeds to unwind; their partial results are not yielded.
            pool.shutdown(wait=False, cancel_futures=True)
            self._kill_running()
            raise
        finally:
            pool.shutdown(wait=True)


#: Builds the executor once the audit's spec and folder are known: (spec, audit folder) -> Executor.
ExecutorFactory = Callable[[AuditSpec, Path], Executor]


def executor_factory(
    name: str, *, workers: int = 1, slurm_partition: str | None = None
) -> ExecutorFactory:
    """Local slots (default) or Slurm through submitit; the Slurm folder lives inside the audit folder."""

    def make(audit_spec: AuditSpec, audit_dir: Path) -> Executor:
        if name == "slurm":
            from repaudit.slurm import SlurmExecutor  # imports this module: load it only when asked

            options = audit_spec.slurm or SlurmOptions()
            if slurm_partition:
                options = dataclasses.replace(options, partition=slurm_partition)
            return SlurmExecutor(audit_dir / "slurm", options)
        return LocalExecutor(workers, gpus_per_seed=audit_spec.gpus_per_seed)

    return make
