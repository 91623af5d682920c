"""Live progress of an audit on the terminal: seed k of N, running/finished/failed, ETA."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from repaudit.formatting import duration
from repaudit.model import RunResult, RunStatus, SeedRequest


class TerminalProgress:
    """One line per finished seed, written to stderr so stdout stays clean for --format json."""

    def __init__(
        self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # sys.stderr as it is now, not when this module was imported (click's test runner swaps it)
        self.stream = stream or sys.stderr
        self.clock = clock
        self.total = self.done = self.failed = self.running = 0
        self.to_run = 0
        self.start = clock()

    def planned(self, total: int, resumed: int) -> None:
        """Say how many runs there are and how many were kept from an earlier attempt."""
        self.total, self.done, self.to_run = total, resumed, total - resumed
        self.start = self.clock()
        kept = f" ({resumed} finished earlier, kept)" if resumed else ""
        self._write(f"{total} seed runs{kept}; {self.to_run} to run")

    def started(self, request: SeedRequest) -> None:
        """Count a running seed."""
        self.running += 1

    def finished(self, result: RunResult) -> None:
        """One line for the finished seed, with the counts and the time left."""
        self.running -= 1
        self.done += 1
        if result.status is not RunStatus.OK:
            self.failed += 1
        values = "  ".join(f"{name} {value:.6g}" for name, value in result.metrics.items())
        outcome = values if result.ok else f"{result.status.value}: {result.reason}"
        self._write(
            f"[{self.done}/{self.total}] {result.key}  {outcome}  ({duration(result.seconds)})"
            f"  · {self.running} running · {self.failed} failed · ETA {self._eta()}"
        )

    def note(self, line: str) -> None:
        """A line the user should read before the seeds run."""
        self._write(line)

    def _eta(self) -> str:
        ran = self.to_run - (self.total - self.done)
        if ran <= 0:
            return "?"
        per_run = (self.clock() - self.start) / ran
        return duration(per_run * (self.total - self.done))

    def _write(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
