"""The command line: parse, call the core, print, map to an exit code. No decisions here."""

from __future__ import annotations

import sys

import click

from repaudit import __version__
from repaudit.errors import RepauditError

EXIT_CODES_HELP = """\b
Exit codes:
  0  the claim holds (reproduced, optimistic or exceeded; the improvement holds)
  1  the claim does not hold (not-reproduced, within-noise, reversed)
  2  usage error (bad flags, spec or input file)
  3  inconclusive (too few seeds or too little power to decide)
  4  the audit could not run (clone, environment, or every seed failed)
"""


@click.group(epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="repaudit")
def cli() -> None:
    """Audit a published machine-learning result: re-run it under many seeds and test the claim."""


def main() -> None:
    """Console entry point: the one place where a RepauditError becomes a line and an exit code."""
    try:
        # Commands return their model.ExitCode; click.Exit (e.g. --help) returns its own code.
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except RepauditError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    sys.exit(int(code) if isinstance(code, int) else 0)
