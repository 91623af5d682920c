"""The pipeline module: the seed plan, the re-run command, and a whole audit in-process."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from conftest import ToyRepo
from fakes import seed_request

from repaudit import audit, run, store
from repaudit.errors import InternalError
from repaudit.executors import StartCallback
from repaudit.model import (
    Arm,
    ArmSpec,
    AuditSpec,
    Claim,
    Isolation,
    MetricSource,
    RunKey,
    RunResult,
    RunStatus,
    SeedRequest,
    Source,
    StopReason,
)
from repaudit.spec import SpecOverrides


def test_rerun_command_pins_the_commit_and_drops_credentials() -> None:
    target = "https://user:ghp_secret@github.com/o/r"
    argv = ["check", target, "--ref", "main", "--claim", "0.8"]
    pinned = Source("https://github.com/o/r", "o/r", Path("/c"), "a" * 40,
                    url="https://github.com/o/r")  # fmt: skip
    command = audit.rerun_command(argv, pinned)
    assert command == f"repaudit check https://github.com/o/r --claim 0.8 --ref {'a' * 40}"
    assert "ghp_secret" not in command


def test_rerun_command_of_a_shorthand_names_the_url_not_the_ref_twice() -> None:
    pinned = Source("o/r@v1.0", "o/r", Path("/c"), "b" * 40, ref="v1.0",
                    url="https://github.com/o/r.git")  # fmt: skip
    command = audit.rerun_command(["check", "o/r@v1.0", "--seeds", "10"], pinned)
    assert command == f"repaudit check https://github.com/o/r.git --seeds 10 --ref {'b' * 40}"


def test_rerun_command_of_local_code_uses_its_remote_else_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    commit = "c" * 40
    local = Source("paper", "paper", tmp_path / "paper", commit)
    pushed = dataclasses.replace(local, remote="git@github.com:lab/paper.git")
    snapshot = dataclasses.replace(local, snapshot=True, commit="d" * 40)
    inside = dataclasses.replace(pushed, target="paper/sub", subdirectory="sub")
    argv = ["check", "paper", "--claim", "0.8"]
    assert audit.rerun_command(argv, pushed) == (
        f"repaudit check git@github.com:lab/paper.git --claim 0.8 --ref {commit}"
    )
    assert audit.rerun_command(argv, local) == (
        f"repaudit check {tmp_path / 'paper'} --claim 0.8 --ref {commit}"
    )
    # A snapshot's commit lives only in repaudit's cache: the command snapshots the folder again.
    assert audit.rerun_command(argv, snapshot) == f"repaudit check {tmp_path / 'paper'} --claim 0.8"
    # A URL cannot name a folder inside a repository: the local path stays.
    assert audit.rerun_command(["check", "paper/sub"], inside) == (
        f"repaudit check {tmp_path / 'paper' / 'sub'} --ref {commit}"
    )


def test_plan_covers_every_arm_and_seed_and_repeats_the_first_method_seed(tmp_path: Path) -> None:
    claim = Claim(
        "acc",
        0.8,
        source=MetricSource(json_path="{out}/m.json", key="acc"),
        baseline_source=MetricSource(regex="acc ([0-9.]+)"),
    )
    spec = AuditSpec(
        claims=(claim,),
        arms=(ArmSpec(Arm.METHOD, "m {seed}"), ArmSpec(Arm.BASELINE, "b {seed}")),
        seeds=(1, 2),
        repeat_seed=3,
    )
    paths = store.AuditPaths(tmp_path / "a")
    template = seed_request(tmp_path, source=Source("x", "x", tmp_path, "c" * 40))
    plan = audit.plan_seeds(spec, template, paths)
    assert [str(r.key) for r in plan] == [
        "method/seed-1",
        "method/seed-2",
        "baseline/seed-1",
        "baseline/seed-2",
        "method/seed-1-r1",
        "method/seed-1-r2",
    ]
    assert [r.command for r in plan] == ["m {seed}"] * 2 + ["b {seed}"] * 2 + ["m {seed}"] * 2
    assert plan[0].claims[0].source.json_path == "{out}/m.json"
    assert plan[2].claims[0].source.regex == "acc ([0-9.]+)"  # the baseline reads its own source
    assert plan[4].run_dir == paths.run_dir(RunKey(Arm.METHOD, 1, 1))
    assert {r.spec_hash for r in plan} == {"abc123"}


class ThreeThreadExecutor:
    """Runs every seed for real, one after another, in a slot of three threads and no GPU."""

    def __init__(self) -> None:
        self.seen: list[SeedRequest] = []

    def run_all(
        self, requests: Sequence[SeedRequest], on_start: StartCallback | None = None
    ) -> Iterator[RunResult]:
        for request in requests:
            placed = dataclasses.replace(request, threads=3)
            self.seen.append(placed)
            yield run.run_seed(placed)


def test_the_record_says_how_the_seeds_really_ran(tmp_path: Path, toy_repo: ToyRepo) -> None:
    """Bug 1 of issue 8: the fingerprint once recorded the unplaced request's one thread."""
    toy_repo()
    executor = ThreeThreadExecutor()
    request = audit.AuditRequest(
        target=str(tmp_path / "paper"), store_dir=tmp_path / "audits", cache_dir=tmp_path / "cache"
    )
    result = audit.run_audit(request, lambda spec, folder: executor)
    assert [r.status for r in result.runs] == [RunStatus.OK] * 8
    assert result.audit_dir is not None
    level = run.detect_isolation()
    for record in result.runs:
        # what the seed itself saw, written by the toy training script
        out = result.audit_dir / "runs" / str(record.key) / "out" / "metrics.json"
        assert json.loads(out.read_text())["threads"] == 3
        assert record.variables["OMP_NUM_THREADS"] == "3"
        assert record.variables["REPAUDIT_SEED"] == str(record.key.seed)
        assert record.isolation is level
    environment = json.loads((result.audit_dir / "environment.json").read_text())
    assert environment["variables"]["OMP_NUM_THREADS"] == "3"
    assert environment["isolation"] == level.value
    assert {"REPAUDIT_SEED", "PYTHONHASHSEED"} <= set(environment["varying"])
    assert "REPAUDIT_SEED" not in environment["variables"]
    stored = store.load_audit(result.audit_dir)
    assert stored.runs == result.runs and stored.fingerprint == result.fingerprint
    assert {r.isolation for r in executor.seen} == {level}  # decided once, carried in each request


def test_the_weakest_level_any_seed_ran_under_is_the_audit_s() -> None:
    seeds = [
        RunResult(RunKey(Arm.METHOD, 1), RunStatus.OK, isolation=Isolation.BUBBLEWRAP),
        RunResult(RunKey(Arm.METHOD, 2), RunStatus.OK, isolation=Isolation.UNSHARE_NET),
    ]
    assert run.weakest(r.isolation for r in seeds if r.isolation) is Isolation.UNSHARE_NET


def test_variables_split_into_shared_and_per_seed() -> None:
    runs = [
        RunResult(RunKey(Arm.METHOD, s), RunStatus.OK, variables={"OMP": "2", "SEED": str(s)})
        for s in (1, 2)
    ]
    assert audit.split_variables(runs) == ({"OMP": "2"}, ["SEED"])
    assert audit.split_variables([]) == ({}, [])


def test_an_internal_error_is_saved_and_never_a_verdict(tmp_path: Path, toy_repo: ToyRepo) -> None:
    toy_repo()

    def broken(spec: AuditSpec, folder: Path) -> ThreeThreadExecutor:
        raise ZeroDivisionError("a bug in an executor")

    request = audit.AuditRequest(
        target=str(tmp_path / "paper"), store_dir=tmp_path / "audits", cache_dir=tmp_path / "cache"
    )
    with pytest.raises(InternalError) as caught:
        audit.run_audit(request, broken)
    (log,) = (tmp_path / "audits").glob("*/error.log")
    assert "ZeroDivisionError: a bug in an executor" in log.read_text()
    assert caught.value.exit_code == 4
    assert str(log) in str(caught.value) and "\n" not in str(caught.value)


# ---------------------------------------------------------------- adaptive seeds: looks as batches


class ScoreExecutor:
    """Runs nothing: seed k of an arm scores ``scores[arm][k - 1]``; records each batch it is
    handed, and stops like Ctrl-C when it reaches seed ``interrupt_at``."""

    def __init__(self, scores: dict[Arm, list[float]], interrupt_at: int | None = None) -> None:
        self.scores, self.interrupt_at = scores, interrupt_at
        self.batches: list[list[RunKey]] = []

    def run_all(
        self, requests: Sequence[SeedRequest], on_start: StartCallback | None = None
    ) -> Iterator[RunResult]:
        self.batches.append([r.key for r in requests])
        for request in requests:
            if request.key.seed == self.interrupt_at:
                raise KeyboardInterrupt
            value = self.scores[request.key.arm][request.key.seed - 1]
            yield RunResult.for_request(
                request, RunStatus.OK, metrics={"test_accuracy": value}, seconds=2.0
            )


#: The toy paper's claim (0.801 over 0.79) with re-runs 2.25 seed sds apart: settled at the second
#: of three looks (3, 5, 8 seeds per arm).
NOISE = [-1.2, 0.0, 1.2, -1.0, 1.0, -1.2, 0.0, 1.2]
SCORES = {
    Arm.METHOD: [0.799 + 0.004 * z for z in NOISE],
    Arm.BASELINE: [0.79 + 0.004 * z for z in NOISE],
}


def adaptive_request(
    tmp_path: Path, store: str = "audits", **overrides: object
) -> audit.AuditRequest:
    fields = {"seeds": "auto", "max_seeds": 8} | overrides
    return audit.AuditRequest(
        target=str(tmp_path / "paper"),
        store_dir=tmp_path / store,
        cache_dir=tmp_path / "cache",
        overrides=SpecOverrides(**fields),  # type: ignore[arg-type]
    )


def test_each_look_is_one_batch_and_the_audit_stops_when_settled(
    tmp_path: Path, toy_repo: ToyRepo
) -> None:
    toy_repo()
    executor = ScoreExecutor(SCORES)
    result = audit.run_audit(adaptive_request(tmp_path), lambda spec, folder: executor)
    seeds = [sorted({k.seed for k in batch}) for batch in executor.batches]
    assert seeds == [[1, 2, 3], [4, 5]]  # look 2 runs only the seeds look 1 did not
    assert [look.seeds for look in result.looks] == [3, 5]
    assert [look.stop for look in result.looks] == [StopReason.CONTINUE, StopReason.SETTLED]
    assert result.verdict.value == "holds" and len(result.runs) == 10
    assert result.looks[0].finished == {Arm.METHOD: 3, Arm.BASELINE: 3}
    assert result.looks[1].seconds == 4 * 2.0  # the compute the look added
    stored = store.load_audit(result.audit_dir)  # type: ignore[arg-type]
    assert stored.looks == result.looks and stored.spec.looks == (3, 5, 8)


def test_an_interrupted_adaptive_audit_resumes_from_its_last_look(
    tmp_path: Path, toy_repo: ToyRepo
) -> None:
    toy_repo()
    with pytest.raises(KeyboardInterrupt):
        audit.run_audit(adaptive_request(tmp_path), lambda s, f: ScoreExecutor(SCORES, 5))
    resumed = ScoreExecutor(SCORES)
    result = audit.run_audit(adaptive_request(tmp_path), lambda spec, folder: resumed)
    # look 1 is replayed from the stored runs; look 2 runs what the interruption left
    assert [sorted(str(k) for k in batch) for batch in resumed.batches] == [
        [],
        ["baseline/seed-4", "baseline/seed-5", "method/seed-5"],
    ]
    straight = audit.run_audit(
        adaptive_request(tmp_path, "other"), lambda s, f: ScoreExecutor(SCORES)
    )
    assert result.looks == straight.looks and result.verdict == straight.verdict


def test_a_fixed_number_of_seeds_after_an_adaptive_audit_reuses_every_seed_it_ran(
    tmp_path: Path, toy_repo: ToyRepo
) -> None:
    toy_repo()
    first = audit.run_audit(adaptive_request(tmp_path), lambda s, f: ScoreExecutor(SCORES))
    executor = ScoreExecutor(SCORES)
    fixed = audit.run_audit(
        adaptive_request(tmp_path, seeds=8, max_seeds=None), lambda s, f: executor
    )
    (batch,) = executor.batches
    assert {k.seed for k in batch} == {
        6,
        7,
        8,
    }  # seeds 1-5 of both arms came from the adaptive audit
    assert fixed.audit_dir == first.audit_dir and fixed.looks == () and len(fixed.runs) == 16
