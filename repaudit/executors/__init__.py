"""Many seeds: one small Executor interface; local slots (default), or Slurm through submitit.

Executors depend on run/ (they run ``run.run_seed``), never the reverse. ``executor_factory`` is the
public way in; the Slurm module (and submitit) is imported only when Slurm is asked for.
"""

from repaudit.executors.base import (
    CancelQuestion,
    Executor,
    ExecutorFactory,
    SeedRunner,
    StartCallback,
    executor_factory,
)

__all__ = [
    "CancelQuestion",
    "Executor",
    "ExecutorFactory",
    "SeedRunner",
    "StartCallback",
    "executor_factory",
]
