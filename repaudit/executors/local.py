"""Seeds on local slots: each slot a fixed thread count and its own GPUs; results stream as seeds finish."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence

from repaudit import run
from repaudit.env import detect_gpus
from repaudit.errors import ExecutorError
from repaudit.executors.base import SeedRunner, StartCallback
from repaudit.model import RunResult, SeedRequest


@dataclasses.dataclass(frozen=True)
class Slot:
    """One place a seed can run: a fixed thread count and its own GPUs (indices into the visible list)."""

    index: int
    """Position among the slots."""
    threads: int
    """Thread count its seeds get (OMP_NUM_THREADS and friends)."""
    gpus: tuple[int, ...] = ()
    """Its GPUs, disjoint from every other slot's."""


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


class LocalExecutor:
    """Seeds on `workers` local slots; each seed is a subprocess, so threads suffice to wait on them."""

    def __init__(
        self,
        workers: int = 1,
        *,
        threads_per_slot: int | None = None,
        gpus: Sequence[str] | None = None,
        gpus_per_seed: int = 0,
        run_seed: SeedRunner = run.run_seed,
        kill_running: Callable[[], None] = run.kill_all_running,
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
        """Run every request on the slots; yield each result as its seed finishes (Executor)."""
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
                try:
                    return self._run_seed(placed)
                except Exception as error:  # a runner breaking its never-raise contract
                    return run.could_not_run(placed, error)
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
