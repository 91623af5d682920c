"""The one exception hierarchy for "the audit cannot go on"; messages say what to do next.

A failed seed is never an exception (see model.RunResult). The CLI turns these into one
line on stderr and an exit code in one place (cli.main).
"""

from __future__ import annotations

import traceback
from pathlib import Path


class RepauditError(Exception):
    """Base class: the audit cannot go on. The message names the problem and the fix."""

    exit_code = 4
    """model.ExitCode.ERROR: the audit could not run."""


class UsageError(RepauditError):
    """The user's input is wrong (bad flag value, unreadable score file)."""

    exit_code = 2
    """model.ExitCode.USAGE."""


class SpecError(UsageError):
    """The audit spec is invalid: names the file, the key and the fix."""


class SourceError(RepauditError):
    """The repository cannot be cloned, opened or pinned."""


class EnvSetupError(RepauditError):
    """The controlled environment could not be built."""


class StoreError(RepauditError):
    """The audit store cannot be read or written (locked, corrupt, wrong format)."""


class ExecutorError(RepauditError):
    """Seeds cannot be scheduled (e.g. no Slurm cluster reachable)."""


class InternalError(RepauditError):
    """A bug in repaudit stopped the audit: never a verdict. The traceback is saved to a file."""

    @classmethod
    def saved(cls, error: BaseException, log_path: Path) -> InternalError:
        """Write ``error``'s traceback to ``log_path`` and return the error that names the file."""
        where = f"; the traceback is in {log_path}"
        try:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
        except OSError as unwritable:
            where = f" (the traceback could not be saved: {unwritable.strerror})"
        summary = f"{type(error).__name__}: {error}".splitlines()[0][:300]
        return cls(
            f"internal error in repaudit ({summary}){where}; please report it with that file"
        )


class RepauditWarning(UserWarning):
    """Something the user should know that does not stop the command (cli.main prints it as one
    "warning:" line): a stored record that cannot be read, for example."""
