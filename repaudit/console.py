"""How the command line talks: the result on stdout, everything else on stderr, colour only where
a person reads it.

stdout carries what a command is for (the verdict, the JSON record, a listing), so a script or a
CI step can capture it whole; progress, notes and warnings go to stderr. Colour is on for a
terminal and off for a pipe, a file, or wherever ``NO_COLOR`` is set (https://no-color.org).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import TextIO

import click

from repaudit.model import Tone

#: The colour each tone is drawn in on a terminal.
TONE_COLOURS = {Tone.GOOD: "green", Tone.WARN: "yellow", Tone.BAD: "red"}


def colour_for(stream: TextIO) -> bool:
    """True when ``stream`` is a terminal and ``NO_COLOR`` is unset (or empty, as its spec says)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def styled(text: str, tone: Tone, *, colour: bool, bold: bool = False) -> str:
    """``text`` in ``tone``'s colour when ``colour``; unchanged otherwise."""
    return click.style(text, fg=TONE_COLOURS[tone], bold=bold or None) if colour else text


@dataclasses.dataclass(frozen=True)
class Console:
    """One command's terminal: how much it says (``--quiet``, ``--verbose``) and in colour or not."""

    quiet: bool = False
    """Only the result and what goes wrong: no progress, no notes."""
    verbose: bool = False
    """Also the details: each seed as it starts, log paths, what was read."""
    colour_out: bool = False
    """Colour on stdout."""
    colour_err: bool = False
    """Colour on stderr."""

    @classmethod
    def for_terminal(cls, *, quiet: bool = False, verbose: bool = False) -> Console:
        """The console for this process's own stdout and stderr."""
        return cls(quiet, verbose, colour_for(sys.stdout), colour_for(sys.stderr))

    def result(self, text: str) -> None:
        """What the command is for, on stdout."""
        click.echo(text, color=self.colour_out)

    def info(self, text: str) -> None:
        """A note on stderr; ``--quiet`` drops it."""
        if not self.quiet:
            click.echo(text, err=True, color=self.colour_err)

    def detail(self, text: str) -> None:
        """A detail on stderr, only with ``--verbose``."""
        if self.verbose:
            click.echo(text, err=True, color=self.colour_err)

    def warn(self, text: str) -> None:
        """A warning on stderr, always (``--quiet`` keeps warnings: they change what a result means)."""
        label = styled("warning:", Tone.WARN, colour=self.colour_err, bold=True)
        click.echo(f"{label} {text}", err=True, color=self.colour_err)


def error(message: str, exit_code: int, *, as_json: bool) -> None:
    """An error that stops the command: one line on stderr, and with ``--format json`` the same
    as ``{"error": ..., "exit_code": ...}`` on stdout, where a script reads the result."""
    if as_json:
        click.echo(json.dumps({"error": message, "exit_code": exit_code}))
    label = styled("error:", Tone.BAD, colour=colour_for(sys.stderr), bold=True)
    click.echo(f"{label} {message}", err=True, color=colour_for(sys.stderr))
