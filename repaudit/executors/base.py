"""The one small interface every executor implements, and the choice between them."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from repaudit.model import AuditSpec, ExecutorKind, RunResult, SeedRequest, SlurmOptions

#: Runs one seed and never raises (run.run_seed); injectable so tests can time the scheduling.
SeedRunner = Callable[[SeedRequest], RunResult]
#: Told of each seed when it starts (local) or is submitted (Slurm).
StartCallback = Callable[[SeedRequest], None]
#: Asked on Ctrl-C with the number of Slurm jobs still queued or running: cancel them (True)?
CancelQuestion = Callable[[int], bool]


class Executor(Protocol):
    """Runs many seeds; local slots and Slurm implement the one method."""

    def run_all(
        self, requests: Sequence[SeedRequest], on_start: StartCallback | None = None
    ) -> Iterator[RunResult]:
        """Yield each request's RunResult as soon as its seed finishes (finish order, not request order).

        `on_start` is called once per request when it starts (local) or is submitted (Slurm).
        A failed seed is a RunResult; an interruption (Ctrl-C) stops the remaining seeds and
        re-raises, and the results already yielded stay the caller's.
        """
        ...


#: Builds the executor once the audit's spec and folder are known: (spec, audit folder) -> Executor.
ExecutorFactory = Callable[[AuditSpec, Path], Executor]


def executor_factory(
    kind: ExecutorKind,
    *,
    workers: int = 1,
    slurm_partition: str | None = None,
    cancel_on_interrupt: CancelQuestion | None = None,
) -> ExecutorFactory:
    """Local slots or Slurm through submitit; the Slurm folder lives inside the audit folder.
    ``cancel_on_interrupt`` decides whether Ctrl-C cancels Slurm jobs (default: always)."""

    def make(audit_spec: AuditSpec, audit_dir: Path) -> Executor:
        match kind:
            case ExecutorKind.LOCAL:
                from repaudit.executors.local import LocalExecutor

                return LocalExecutor(workers, gpus_per_seed=audit_spec.gpus_per_seed)
            case ExecutorKind.SLURM:
                from repaudit.executors.slurm import SlurmExecutor  # submitit: only when asked

                options = audit_spec.slurm or SlurmOptions()
                if slurm_partition:
                    options = dataclasses.replace(options, partition=slurm_partition)
                return SlurmExecutor(
                    audit_dir / "slurm", options, cancel_on_interrupt=cancel_on_interrupt
                )

    return make
