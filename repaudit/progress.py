"""Live progress of an audit on the terminal: seed k of N, running/finished/failed, ETA."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from repaudit.formatting import duration
from repaudit.model import RunKey, RunResult, RunStatus, SeedRequest


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
        self.run_dirs: dict[RunKey, Path] = {}

    def planned(self, total: int, resumed: int) -> None:
        """Say how many runs there are and how many were kept from an earlier attempt."""
        self.total, self.done, self.to_run = total, resumed, total - resumed
        self.start = self.clock()
        kept = f" ({resumed} finished earlier, kept)" if resumed else ""
        self._write(f"{total} seed runs{kept}; {self.to_run} to run")

    def started(self, request: SeedRequest) -> None:
        """Count a running seed (and remember where its logs go)."""
        self.running += 1
        self.run_dirs[request.key] = request.run_dir

    def finished(self, result: RunResult) -> None:
        """One line for the finished seed, with the counts and the time left; a seed that failed
        or exited with an error gets a second line: what its output says went wrong, and its log."""
        self.running -= 1
        self.done += 1
        if not result.ok:
            self.failed += 1
        values = "  ".join(f"{name} {value:.6g}" for name, value in result.metrics.items())
        outcome = f"{result.status.value}: {result.reason}"
        if result.status is RunStatus.OK:
            outcome = values
        elif result.status is RunStatus.OK_WITH_ERROR:
            outcome = f"{values}  ({outcome})"
        self._write(
            f"[{self.done}/{self.total}] {result.key}  {outcome}  ({duration(result.seconds)})"
            f"  · {self.running} running · {self.failed} failed · ETA {self._eta()}"
        )
        if result.status is not RunStatus.OK:
            log = self._log(result.key)
            said = ([result.cause] if result.cause else []) + ([f"log: {log}"] if log else [])
            if said:
                self._write("    " + "; ".join(said))

    def _log(self, key: RunKey) -> str:
        """The log that holds the run's error (stderr unless it is empty), relative when below the
        working folder; "" when the run's folder is not known."""
        run_dir = self.run_dirs.get(key)
        if run_dir is None:
            return ""
        stderr = run_dir / "stderr.log"
        log = stderr if stderr.exists() and stderr.stat().st_size else run_dir / "stdout.log"
        relative = os.path.relpath(log)
        return str(log) if relative.startswith("..") else relative

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
