"""The environment stage: build or reuse the interpreter of the paper's era, and fingerprint it.

prepare_environment   the venv (or the current interpreter) the seeds run under
fingerprint           what they ran on: Python, packages and their resolution date, torch, GPUs
detect_gpus           the GPUs repaudit may hand to seeds
list_environments, prune_environments   `repaudit cache list` / `prune`
"""

from repaudit.env.build import prepare_environment
from repaudit.env.cache import (
    CachedEnvironment,
    default_cache_dir,
    list_environments,
    prune_environments,
)
from repaudit.env.fingerprint import detect_gpus, fingerprint

__all__ = [
    "CachedEnvironment",
    "default_cache_dir",
    "detect_gpus",
    "fingerprint",
    "list_environments",
    "prune_environments",
    "prepare_environment",
]
