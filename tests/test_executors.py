"""LocalExecutor: slots, thread counts, disjoint GPU sets, streaming order, Ctrl-C, a real seed."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from conftest import PinnedRepo
from fakes import TOY_CLAIMS, seed_request, sleeping_seed, toy_accuracy

from repaudit import run
from repaudit.errors import ExecutorError
from repaudit.executors.local import LocalExecutor, plan_slots
from repaudit.model import RunResult, RunStatus, SeedRequest


class Recorder:
    """Wraps a runner, recording which GPU sets and how many seeds run at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[int, tuple[int, ...]] = {}
        self.most_at_once = 0
        self.overlaps: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        self.seen: list[SeedRequest] = []

    def __call__(self, request: SeedRequest) -> RunResult:
        with self.lock:
            self.overlaps += [
                (request.gpus, other)
                for other in self.running.values()
                if set(other) & set(request.gpus)
            ]
            self.running[request.key.seed] = request.gpus
            self.most_at_once = max(self.most_at_once, len(self.running))
            self.seen.append(request)
        try:
            return sleeping_seed(request)
        finally:
            with self.lock:
                del self.running[request.key.seed]


def test_results_stream_in_finish_order_not_request_order(tmp_path: Path) -> None:
    sleeps = {0: 0.6, 1: 0.1, 2: 0.3}
    executor = LocalExecutor(3, threads_per_slot=1, run_seed=sleeping_seed)
    started = time.monotonic()
    arrivals = [
        (result.key.seed, time.monotonic() - started)
        for result in executor.run_all(
            [seed_request(tmp_path, s, sleep=t) for s, t in sleeps.items()]
        )
    ]
    assert [seed for seed, _ in arrivals] == [1, 2, 0]
    # Streamed, not collected: the fast seed arrives long before the slow one finishes.
    assert arrivals[0][1] < arrivals[-1][1] - 0.25


def test_workers_bound_concurrency_and_every_seed_runs_once(tmp_path: Path) -> None:
    recorder = Recorder()
    executor = LocalExecutor(2, threads_per_slot=1, run_seed=recorder)
    results = list(executor.run_all([seed_request(tmp_path, s, sleep=0.1) for s in range(6)]))
    assert sorted(r.key.seed for r in results) == list(range(6))
    assert recorder.most_at_once == 2


def test_default_threads_split_the_cpus_between_slots(tmp_path: Path) -> None:
    expected = max(1, len(os.sched_getaffinity(0)) // 2)
    assert {slot.threads for slot in LocalExecutor(2, run_seed=sleeping_seed).slots} == {expected}
    results = LocalExecutor(2, threads_per_slot=3, run_seed=sleeping_seed).run_all(
        [seed_request(tmp_path, s) for s in range(3)]
    )
    assert {r.metrics["threads"] for r in results} == {3.0}  # every seed ran with the slot's 3
    assert plan_slots(64, threads_per_slot=None, gpus=(), gpus_per_seed=0)[0].threads >= 1


def test_each_slot_owns_disjoint_gpus_from_a_fake_device_list(tmp_path: Path) -> None:
    fake = [f"Fake GPU {i} (80 GiB)" for i in range(4)]
    recorder = Recorder()
    executor = LocalExecutor(2, gpus=fake, gpus_per_seed=2, run_seed=recorder)
    assert [slot.gpus for slot in executor.slots] == [(0, 1), (2, 3)]
    list(executor.run_all([seed_request(tmp_path, s, sleep=0.05) for s in range(6)]))
    assert recorder.most_at_once == 2 and not recorder.overlaps
    assert {r.gpus for r in recorder.seen} == {(0, 1), (2, 3)}


def test_no_gpus_per_seed_means_no_gpus_even_when_present(tmp_path: Path) -> None:
    executor = LocalExecutor(2, gpus=["Fake GPU"], run_seed=sleeping_seed)
    assert [slot.gpus for slot in executor.slots] == [(), ()]


@pytest.mark.parametrize(
    ("workers", "gpus", "fix"),
    [(3, 4, "use --workers 2"), (1, 0, "run on a machine with GPUs or set gpus_per_seed = 0")],
)
def test_too_few_gpus_is_an_error_naming_the_fix(workers: int, gpus: int, fix: str) -> None:
    with pytest.raises(ExecutorError, match=fix):
        LocalExecutor(workers, gpus=[f"GPU {i}" for i in range(gpus)], gpus_per_seed=2)


def test_zero_workers_is_an_error() -> None:
    with pytest.raises(ExecutorError, match="at least 1"):
        LocalExecutor(0)


def test_on_start_is_called_once_per_seed_before_its_result(tmp_path: Path) -> None:
    events: list[tuple[str, int]] = []
    executor = LocalExecutor(2, threads_per_slot=1, run_seed=sleeping_seed)
    requests = [seed_request(tmp_path, s, sleep=0.05) for s in range(4)]
    for result in executor.run_all(
        requests, on_start=lambda r: events.append(("start", r.key.seed))
    ):
        events.append(("done", result.key.seed))
    assert sorted(e for e in events if e[0] == "start") == [("start", s) for s in range(4)]
    for seed in range(4):
        assert events.index(("start", seed)) < events.index(("done", seed))


def test_a_runner_that_raises_becomes_a_failed_run(tmp_path: Path) -> None:
    def broken(request: SeedRequest) -> RunResult:
        raise OSError("disk full")

    (result,) = LocalExecutor(1, run_seed=broken).run_all([seed_request(tmp_path, 7)])
    assert result.status is RunStatus.FAILED and result.key.seed == 7
    assert "OSError: disk full" in result.reason


def test_ctrl_c_kills_running_seeds_cancels_pending_and_reraises(tmp_path: Path) -> None:
    killed = threading.Event()
    started: list[int] = []

    def until_killed(request: SeedRequest) -> RunResult:
        started.append(request.key.seed)
        if request.key.seed == 0:
            return sleeping_seed(request)
        killed.wait(timeout=30)
        return RunResult(request.key, RunStatus.FAILED, reason="interrupted")

    executor = LocalExecutor(2, threads_per_slot=1, run_seed=until_killed, kill_running=killed.set)
    received: list[int] = []
    main = threading.main_thread().ident
    assert main is not None
    # A real SIGINT (as Ctrl-C sends) while seeds 1 and 2 run, met by Python's own handler even
    # when the suite was started with SIGINT ignored (a background job).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Timer(0.5, signal.pthread_kill, (main, signal.SIGINT)).start()
    begin = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            for result in executor.run_all([seed_request(tmp_path, s) for s in range(5)]):
                received.append(result.key.seed)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert killed.is_set() and time.monotonic() - begin < 10
    assert received == [0]  # finished seeds reached the caller; killed ones are not reported
    assert sorted(started) == [0, 1, 2]  # seeds 3 and 4 never started


def test_an_interrupt_in_the_callers_loop_also_kills_the_running_seeds(tmp_path: Path) -> None:
    killed = threading.Event()

    def until_killed(request: SeedRequest) -> RunResult:
        if request.key.seed == 0:
            return sleeping_seed(request)
        killed.wait(timeout=30)
        return RunResult(request.key, RunStatus.FAILED, reason="interrupted")

    executor = LocalExecutor(2, threads_per_slot=1, run_seed=until_killed, kill_running=killed.set)
    with pytest.raises(KeyboardInterrupt):
        for _result in executor.run_all([seed_request(tmp_path, s) for s in range(3)]):
            raise KeyboardInterrupt  # Ctrl-C while the caller stores the first result
    assert killed.is_set()


def test_gpus_per_seed_on_a_machine_without_gpus_is_an_error() -> None:
    from repaudit.env import detect_gpus

    if detect_gpus():
        pytest.skip("this machine has GPUs")
    with pytest.raises(ExecutorError, match="run on a machine with GPUs"):
        LocalExecutor(1, gpus_per_seed=1)


def test_real_seeds_through_the_sandbox(tmp_path: Path, pinned_repo: PinnedRepo) -> None:
    paper = pinned_repo()
    requests = [
        seed_request(tmp_path, s, source=paper, claims=TOY_CLAIMS, isolation=run.detect_isolation())
        for s in (1, 2, 3)
    ]
    results = {r.key.seed: r for r in LocalExecutor(2, threads_per_slot=2).run_all(requests)}
    assert {seed: r.status for seed, r in results.items()} == dict.fromkeys((1, 2, 3), RunStatus.OK)
    assert {seed: r.metrics["acc"] for seed, r in results.items()} == {
        s: toy_accuracy(s) for s in (1, 2, 3)
    }
    assert {r.metrics["threads"] for r in results.values()} == {2.0}  # the slot's, as the seed saw
    assert {r.variables["OMP_NUM_THREADS"] for r in results.values()} == {"2"}
