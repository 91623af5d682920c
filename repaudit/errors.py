"""The one exception hierarchy for "the audit cannot go on"; messages say what to do next.

A failed seed is never an exception (see model.RunResult). The CLI turns these into one
line on stderr and an exit code in one place (cli.main).
"""


class RepauditError(Exception):
    """Base class: the audit cannot go on. The message names the problem and the fix."""

    exit_code = 4  # model.ExitCode.ERROR


class UsageError(RepauditError):
    """The user's input is wrong (bad flag value, unreadable score file)."""

    exit_code = 2


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
