"""The environment stage: build or reuse the interpreter of the paper's era, and fingerprint it."""

from repaudit.env.build import prepare_environment
from repaudit.env.fingerprint import detect_gpus, fingerprint

__all__ = ["detect_gpus", "fingerprint", "prepare_environment"]
