"""The terminal's progress: phases with their times, a heartbeat in a CI log, a live line on a
terminal, and the pipeline telling it each phase in order."""

from __future__ import annotations

import io
import time
from pathlib import Path

from conftest import TOY_SPEC, ToyRepo
from fakes import seed_request
from test_audit import ThreeThreadExecutor

from repaudit import audit
from repaudit.model import Arm, Phase, RunKey, RunResult, RunStatus, SeedRequest
from repaudit.progress import TerminalProgress


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def request(tmp_path: Path, seed: int, arm: Arm = Arm.METHOD) -> SeedRequest:
    return seed_request(tmp_path, seed, arm=arm)


def test_each_phase_says_when_it_starts_and_how_long_it_took():
    stream, clock = io.StringIO(), Clock()
    progress = TerminalProgress(stream, clock, live=False, colour=False)
    progress.phase_started(Phase.SOURCE)
    clock.now += 1.2
    progress.phase_finished(Phase.SOURCE, "lab/paper @ 1a2b3c4d5e6f")
    progress.phase_started(Phase.ENVIRONMENT)
    clock.now += 125
    progress.phase_finished(Phase.ENVIRONMENT, "venv 0123456789ab (built), Python 3.8.18")
    assert stream.getvalue().splitlines() == [
        "clone/pin …",
        "clone/pin: lab/paper @ 1a2b3c4d5e6f (1.2s)",
        "environment …",
        "environment: venv 0123456789ab (built), Python 3.8.18 (2m 05s)",
    ]


def test_a_heartbeat_names_the_running_seeds_and_their_time_in_a_log(tmp_path):
    stream, clock = io.StringIO(), Clock()
    progress = TerminalProgress(stream, clock, live=False, colour=False)
    progress.tick()
    assert stream.getvalue() == ""  # nothing under way, nothing to say
    progress.phase_started(Phase.ENVIRONMENT)
    clock.now += 95
    progress.tick()
    assert stream.getvalue().splitlines()[-1] == "… still running: environment 1m 35s"
    progress.phase_finished(Phase.ENVIRONMENT, "reused")
    progress.planned(total=6, resumed=1)
    for seed in (1, 2, 3, 4, 5):
        progress.started(request(tmp_path, seed))
        clock.now += 10
    progress.finished(RunResult(RunKey(Arm.METHOD, 1), RunStatus.OK, {"acc": 0.8}, seconds=50))
    clock.now += 30
    progress.tick()
    assert stream.getvalue().splitlines()[-1] == (
        "… still running: 2 of 6 finished, ETA 5m 20s; running method/seed-2 1m 10s, "
        "method/seed-3 1m 00s, method/seed-4 50s and 1 more"
    )


def test_the_heartbeat_thread_writes_every_interval_until_it_stops(tmp_path):
    stream = io.StringIO()
    with TerminalProgress(stream, live=False, colour=False, interval=0.05) as progress:
        progress.planned(total=1, resumed=0)
        progress.started(request(tmp_path, 1))
        time.sleep(0.5)
    beats = [line for line in stream.getvalue().splitlines() if line.startswith("… still")]
    assert len(beats) >= 3
    assert all("running method/seed-1" in line for line in beats)
    count = len(stream.getvalue())
    time.sleep(0.2)
    assert len(stream.getvalue()) == count  # stopped with the block


def test_on_a_terminal_one_live_line_is_redrawn_and_cleared(tmp_path):
    stream, clock = io.StringIO(), Clock()
    progress = TerminalProgress(stream, clock, live=True, colour=False)
    progress.planned(total=2, resumed=0)
    progress.started(request(tmp_path, 1))
    clock.now += 3
    progress.tick()
    progress.tick()
    status = "0 of 2 finished, ETA ?; running method/seed-1 3.0s"
    clear = "\r\x1b[K"
    assert stream.getvalue() == f"2 seed runs; 2 to run\n{status}{clear}{status}"  # no newlines
    progress.finished(RunResult(RunKey(Arm.METHOD, 1), RunStatus.OK, {"acc": 0.8}, seconds=3))
    assert stream.getvalue().endswith(f"{status}{clear}[1/2] method/seed-1  acc 0.8  (3.0s)"
                                      "  · 0 running · 0 failed · ETA 3.0s\n")  # fmt: skip
    progress.tick()  # nothing runs: the line is gone, not redrawn empty
    progress.__exit__(None, None, None)
    assert stream.getvalue().endswith("ETA 3.0s\n")


def test_verbose_names_each_seed_s_folder_and_a_failed_seed_s_log(tmp_path):
    stream = io.StringIO()
    progress = TerminalProgress(stream, live=False, colour=False, verbose=True)
    progress.planned(total=1, resumed=0)
    seed = request(tmp_path, 7)
    progress.started(seed)
    progress.finished(RunResult(seed.key, RunStatus.FAILED, reason="exit code 1"))
    lines = stream.getvalue().splitlines()
    assert lines[1] == f"started method/seed-7 in {seed.run_dir}"
    assert lines[-1] == f"    log: {seed.run_dir / 'stdout.log'}"


class Recorder:
    """A Progress that keeps what it was told."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def planned(self, total: int, resumed: int) -> None:
        self.events.append(f"planned {total}")

    def started(self, request: SeedRequest) -> None:
        pass

    def finished(self, result: RunResult) -> None:
        pass

    def phase_started(self, phase: Phase) -> None:
        self.events.append(f"start {phase}")

    def phase_finished(self, phase: Phase, summary: str) -> None:
        self.events.append(f"end {phase}: {summary}")


def test_the_pipeline_reports_every_phase_in_order(tmp_path: Path, toy_repo: ToyRepo) -> None:
    toy_repo(spec=TOY_SPEC.replace("seeds = 4", 'seeds = 2\nprepare = "true"'))
    recorder = Recorder()
    request = audit.AuditRequest(target=str(tmp_path / "paper"), store_dir=tmp_path / "audits",
                                 cache_dir=tmp_path / "cache")  # fmt: skip
    result = audit.run_audit(request, lambda spec, folder: ThreeThreadExecutor(), recorder)
    assert result.source is not None
    events = recorder.events
    assert [e.split(":")[0] for e in events] == [
        "start source", "end source", "start environment", "end environment",
        "start prepare", "end prepare", "start seeds", "planned 4", "end seeds",
    ]  # fmt: skip
    assert events[1] == f"end source: paper @ {result.source.commit[:12]}"
    assert events[3].startswith("end environment: the current interpreter, Python 3.")
    assert events[-1] == "end seeds: 4 ok, 0 failed"
