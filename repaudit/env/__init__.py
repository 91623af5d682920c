"""Build or reuse the interpreter the seeds run under, and fingerprint it."""

from repaudit.environment import prepare_environment
from repaudit.fingerprint import detect_gpus, fingerprint

__all__ = ["detect_gpus", "fingerprint", "prepare_environment"]
