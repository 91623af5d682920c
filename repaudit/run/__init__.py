"""Run ONE seed (or the audit's `prepare` step): contained, recorded, never raising for the seed.

Also what a Slurm node runs (executors/slurm.py pickles ``run_seed`` and its request). Knows nothing
of executors, the store or the report.
"""

from repaudit.run.isolation import (
    base_environment,
    detect_isolation,
    is_secret,
    weakest,
)
from repaudit.run.prepare import run_prepare
from repaudit.run.process import kill_all_running, log_tail, run_contained
from repaudit.run.seed import could_not_run, run_seed, seed_variables

__all__ = [
    "base_environment",
    "could_not_run",
    "detect_isolation",
    "is_secret",
    "kill_all_running",
    "log_tail",
    "run_contained",
    "run_prepare",
    "run_seed",
    "seed_variables",
    "weakest",
]
