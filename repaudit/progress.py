"""Live progress of an audit on the terminal: each phase with its time, seed k of N, a heartbeat.

Everything goes to stderr so stdout stays clean for --format json. On a terminal one status line
(the phase, the running seeds and their times) is redrawn every second under the finished lines;
in a CI log, where a redrawn line would be noise, a heartbeat line every 30 s shows that long
seeds are still running rather than hung.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TextIO

import click

from repaudit.console import colour_for, styled
from repaudit.formatting import duration
from repaudit.model import Phase, RunKey, RunResult, RunStatus, SeedRequest, Tone

#: Seconds between heartbeat lines when stderr is not a terminal (a CI log).
HEARTBEAT_SECONDS = 30.0
#: Seconds between redraws of the status line on a terminal.
LIVE_SECONDS = 1.0
#: Running seeds named in one status line; the rest are counted.
NAMED_RUNNING = 3
#: How each phase is named on the terminal.
PHASE_WORDS = {
    Phase.SOURCE: "clone/pin",
    Phase.ENVIRONMENT: "environment",
    Phase.PREPARE: "prepare",
    Phase.SEEDS: "seeds",
}
_CLEAR_LINE = "\r\x1b[K"


class TerminalProgress:
    """The audit's progress on stderr (audit.Progress). Use it as a context manager: it starts the
    heartbeat (or the live line) on entry and stops it, clearing the line, on exit."""

    def __init__(
        self,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        live: bool | None = None,
        colour: bool | None = None,
        verbose: bool = False,
        interval: float | None = None,
    ) -> None:
        # sys.stderr as it is now, not when this module was imported (click's test runner swaps it)
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.live = self.stream.isatty() if live is None else live
        """Redraw one status line (a terminal) rather than print heartbeat lines (a log)."""
        self.colour = colour_for(self.stream) if colour is None else colour
        self.verbose = verbose
        self.interval = interval or (LIVE_SECONDS if self.live else HEARTBEAT_SECONDS)
        self.total = self.done = self.failed = self.running = 0
        self.to_run = 0
        self.start = clock()
        self.phase: tuple[Phase, float] | None = None
        """The phase under way and when it started."""
        self.since: dict[RunKey, float] = {}
        """Running seeds and when each started."""
        self.run_dirs: dict[RunKey, Path] = {}
        """Each started seed's folder: where its logs go."""
        self._lock = threading.RLock()  # seeds start on executor threads
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False

    # ------------------------------------------------------------ the heartbeat thread

    def __enter__(self) -> TerminalProgress:
        self._thread = threading.Thread(target=self._beat, name="repaudit-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._clear()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        """Redraw the status line (terminal), or print a heartbeat line while work is under way."""
        with self._lock:
            status = self.status()
            if status is None:
                return
            if self.live:
                self._clear()
                self.stream.write(status[: _width()])
                self.stream.flush()
                self._drawn = True
            else:
                self._write(f"… still running: {status}")

    def status(self) -> str | None:
        """The work under way in one line; None when nothing is."""
        now = self.clock()
        if self.since:
            named = sorted(self.since.items(), key=lambda item: item[1])[:NAMED_RUNNING]
            running = ", ".join(f"{key} {duration(now - began)}" for key, began in named)
            more = len(self.since) - len(named)
            running += f" and {more} more" if more else ""
            return f"{self.done} of {self.total} finished, ETA {self._eta()}; running {running}"
        if self.phase is not None:
            phase, began = self.phase
            return f"{PHASE_WORDS[phase]} {duration(now - began)}"
        return None

    # ------------------------------------------------------------ audit.Progress

    def phase_started(self, phase: Phase) -> None:
        """Say that ``phase`` began."""
        with self._lock:
            self.phase = (phase, self.clock())
            self._write(f"{PHASE_WORDS[phase]} …")

    def phase_finished(self, phase: Phase, summary: str) -> None:
        """Say that ``phase`` ended, how long it took and what came of it."""
        with self._lock:
            began = self.phase[1] if self.phase and self.phase[0] is phase else self.clock()
            self.phase = None
            took = duration(self.clock() - began)
            label = styled(f"{PHASE_WORDS[phase]}:", Tone.GOOD, colour=self.colour)
            self._write(f"{label} {summary} ({took})")

    def planned(self, total: int, resumed: int) -> None:
        """Say how many runs there are and how many were kept from an earlier attempt."""
        self.total, self.done, self.to_run = total, resumed, total - resumed
        self.start = self.clock()
        kept = f" ({resumed} finished earlier, kept)" if resumed else ""
        self._write(f"{total} seed runs{kept}; {self.to_run} to run")

    def started(self, request: SeedRequest) -> None:
        """Count a running seed, remember where its logs go (and name both with --verbose)."""
        with self._lock:
            self.running += 1
            self.since[request.key] = self.clock()
            self.run_dirs[request.key] = request.run_dir
            if self.verbose:
                self._write(f"started {request.key} in {request.run_dir}")

    def finished(self, result: RunResult) -> None:
        """One line for the finished seed, with the counts and the time left; a seed that failed
        or exited with an error gets a second line: what its output says went wrong, and its log."""
        with self._lock:
            self.since.pop(result.key, None)
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

    # ------------------------------------------------------------ writing

    def _write(self, line: str) -> None:
        """A finished line; on a terminal the status line is redrawn below it at the next tick."""
        with self._lock:
            self._clear()
            click.echo(line, file=self.stream, color=self.colour)

    def _clear(self) -> None:
        if self._drawn:
            self.stream.write(_CLEAR_LINE)
            self.stream.flush()
            self._drawn = False


def _width() -> int:
    """The terminal's width, so the status line never wraps (a wrapped line cannot be redrawn)."""
    return max(20, shutil.get_terminal_size().columns - 1)
