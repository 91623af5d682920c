"""The store: layout, atomic records, round trips, resume and locking."""

import json
import multiprocessing
from pathlib import Path

import pytest

from repaudit import store
from repaudit.errors import StoreError
from repaudit.model import (
    ArmSpec,
    ArmSummary,
    Audit,
    AuditSpec,
    Claim,
    ClaimResult,
    Direction,
    Fingerprint,
    Improvement,
    ImprovementDecision,
    Interval,
    Isolation,
    MetricSource,
    Reproduction,
    ReproductionDecision,
    RunResult,
    RunStatus,
    SeedCall,
    Source,
    TestResult,
    Verdict,
)

SPEC = AuditSpec(
    claims=(
        Claim(
            metric="acc",
            value=0.81,
            direction=Direction.HIGHER,
            baseline=0.80,
            source=MetricSource(json_path="{out}/m.json", key="test.acc"),
        ),
    ),
    arms=(ArmSpec("method", "python t.py --seed {seed}"), ArmSpec("baseline", "python t.py -b")),
    seeds=(1, 2, 3),
    env={"A": "1"},
)
SOURCE = Source(
    target="./paper", display_name="Owner/Paper Repo", repo_path=Path("/tmp/x"), commit="ab" * 20
)


def make_audit() -> Audit:
    runs = (
        RunResult(
            "method",
            1,
            RunStatus.OK,
            {"acc": 0.8},
            seconds=1.5,
            spec_hash="h1",
            seed_calls=(SeedCall("torch.manual_seed", 42, 7),),
        ),
        RunResult("method", 2, RunStatus.FAILED, {}, reason="exit 1", returncode=1, spec_hash="h1"),
    )
    arm = ArmSummary(
        "method", (0.8, 0.81), 2, 1, 0.805, 0.007, 0.805, 0.8, 0.81, Interval(0.74, 0.87), None
    )
    result = ClaimResult(
        claim=SPEC.claim,
        arms=(arm,),
        reproduction=Reproduction(ReproductionDecision.INCONCLUSIVE, "too few", Interval(0.7, 0.9)),
        improvement=Improvement(
            ImprovementDecision.INCONCLUSIVE,
            "no power",
            0.01,
            seed_luck=0.3,
            tests=(TestResult("Welch", 1.0, 0.2, deciding=True),),
        ),
    )
    fingerprint = Fingerprint(
        "3.11",
        "linux",
        "cpu",
        2,
        (),
        "2.13",
        None,
        None,
        ("numpy==2",),
        {"PYTHONHASHSEED": "0"},
        "0.1.0",
        Isolation.BUBBLEWRAP,
    )
    return Audit(
        "owner-paper-repo-abab",
        "2026-11-25T00:00:00Z",
        SPEC,
        SOURCE,
        fingerprint,
        runs,
        (result,),
        Verdict.INCONCLUSIVE,
        "Too few seeds.",
        notes=("snapshot",),
    )


def test_audit_id_reads_like_owner_repo_commit_hash():
    assert store.audit_id(SOURCE, "0123456789abcdef") == f"owner-paper-repo-{'ab' * 6}-01234567"


def test_record_round_trips_and_carries_the_json_contract():
    audit = make_audit()
    record = store.to_record(audit)
    text = json.dumps(record, allow_nan=False)  # strictly valid JSON
    assert record["format"] == 1
    assert record["verdict"] == "inconclusive"
    assert record["reproduction"]["decision"] == "inconclusive"
    assert record["reproduction"]["prediction_interval"] == {"low": 0.7, "high": 0.9, "level": 0.95}
    assert record["improvement"]["decision"] == "inconclusive"
    assert record["arms"]["method"]["values"] == [0.8, 0.81]
    assert record["runs"][0]["value"] == 0.8 and record["runs"][1]["value"] is None
    assert {"arm", "seed", "status", "value", "seconds"} <= set(record["runs"][0])
    assert store.from_record(json.loads(text)) == audit


def test_newer_record_format_is_refused_with_the_fix():
    record = store.to_record(make_audit()) | {"format": 99}
    with pytest.raises(StoreError, match="upgrade repaudit"):
        store.from_record(record)


def test_save_and_load_runs_keeps_only_matching_spec_hash(tmp_path):
    paths = store.AuditPaths(tmp_path / "a")
    for result in make_audit().runs:
        store.save_run(paths, result)
    store.save_run(paths, RunResult("baseline", 1, RunStatus.OK, {"acc": 0.7}, spec_hash="other"))
    loaded = store.load_runs(paths, "h1")
    assert set(loaded) == {"method/seed-1", "method/seed-2"}
    assert loaded["method/seed-1"] == make_audit().runs[0]
    assert not list(paths.root.rglob("*.tmp"))


def test_save_and_load_audit(tmp_path):
    paths = store.AuditPaths(tmp_path / "a")
    audit = make_audit()
    store.save_audit(paths, audit)
    loaded = store.load_audit(paths.root)
    assert loaded.audit_dir == paths.root
    assert store.list_audits(tmp_path) == [loaded]


def test_load_audit_of_a_folder_without_record_says_what_to_pass(tmp_path):
    with pytest.raises(StoreError, match="no audit.json"):
        store.load_audit(tmp_path)


def _try_lock(root: str, queue) -> None:
    try:
        with store.locked(store.AuditPaths(Path(root))):
            queue.put("locked")
    except StoreError as error:
        queue.put(str(error))


def test_lock_keeps_a_second_process_out(tmp_path):
    paths = store.AuditPaths(tmp_path / "a")
    queue = multiprocessing.get_context("fork").Queue()
    with store.locked(paths):
        process = multiprocessing.get_context("fork").Process(
            target=_try_lock, args=(str(paths.root), queue)
        )
        process.start()
        process.join(10)
        message = queue.get(timeout=5)
    assert "in use by another repaudit process" in message
    _try_lock(str(paths.root), queue)
    assert queue.get(timeout=5) == "locked"


def test_atomic_write_leaves_old_file_when_serialisation_fails(tmp_path):
    target = tmp_path / "x.json"
    store.write_json_atomic(target, {"a": 1})
    with pytest.raises(ValueError):
        store.write_json_atomic(target, {"a": float("nan")})
    assert json.loads(target.read_text()) == {"a": 1}
