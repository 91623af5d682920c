"""The store: layout, atomic records, round trips, resume and locking."""

import dataclasses
import json
import multiprocessing
from pathlib import Path

import pytest

from repaudit import store
from repaudit.errors import RepauditWarning, StoreError
from repaudit.model import (
    Arm,
    Look,
    LookTest,
    RunKey,
    RunResult,
    RunStatus,
    SequentialTest,
    Source,
    StopReason,
)

SOURCE = Source(
    target="./paper", display_name="Owner/Paper Repo", repo_path=Path("/tmp/x"), commit="ab" * 20
)


def test_audit_id_reads_like_owner_repo_commit_hash():
    assert store.audit_id(SOURCE, "0123456789abcdef") == f"owner-paper-repo-{'ab' * 6}-01234567"


@pytest.mark.parametrize("fixture", ["sample_audit", "user_numbers_audit"])
def test_record_round_trips_through_strict_json(fixture, request):
    audit = request.getfixturevalue(fixture)
    text = json.dumps(store.to_record(audit), allow_nan=False)
    assert store.from_record(json.loads(text)) == audit


def test_record_carries_the_json_contract(sample_audit):
    record = store.to_record(sample_audit)
    primary = sample_audit.results[0]
    assert record["format"] == 4
    assert record["verdict"] == sample_audit.verdict.value
    assert record["reproduction"]["decision"] == primary.reproduction.decision.value
    interval = primary.reproduction.prediction_interval
    assert record["reproduction"]["prediction_interval"] == {
        "low": interval.low,
        "high": interval.high,
        "level": 0.95,
    }
    assert record["improvement"]["decision"] == primary.improvement.decision.value
    for arm in primary.arms:
        assert record["arms"][arm.arm]["values"] == list(arm.values)
        assert (
            record["arms"][arm.arm]["mean"] == arm.mean and record["arms"][arm.arm]["sd"] == arm.sd
        )
    metric = sample_audit.spec.claim.metric
    for run, plain in zip(sample_audit.runs, record["runs"], strict=True):
        assert {"arm", "seed", "repeat", "status", "value", "seconds", "variables"} <= set(plain)
        assert (plain["arm"], plain["seed"], plain["repeat"]) == (
            run.key.arm,
            run.key.seed,
            run.key.repeat,
        )
        assert plain["value"] == run.value(metric)
        assert plain["status"] == run.status.value
        assert plain["isolation"] == (run.isolation and run.isolation.value)


def test_newer_record_format_is_refused_with_the_fix(sample_audit):
    record = store.to_record(sample_audit) | {"format": 99}
    with pytest.raises(StoreError, match="upgrade repaudit"):
        store.from_record(record)


def test_save_and_load_runs_keeps_only_matching_spec_hash(tmp_path, sample_audit):
    paths = store.AuditPaths(tmp_path / "a")
    for result in sample_audit.runs:
        store.save_run(paths, result)
    other = RunKey(Arm.BASELINE, 99)
    store.save_run(paths, RunResult(other, RunStatus.OK, {"acc": 0.7}, spec_hash="other"))
    spec_hash = sample_audit.runs[0].spec_hash
    loaded = store.load_runs(paths, spec_hash)
    assert loaded == {r.key: r for r in sample_audit.runs if r.spec_hash == spec_hash}
    assert other not in loaded
    assert not list(paths.root.rglob("*.tmp"))


def test_an_unreadable_run_record_means_the_seed_runs_again(tmp_path, sample_audit):
    paths = store.AuditPaths(tmp_path / "a")
    first = sample_audit.runs[0]
    store.save_run(paths, first)
    run_json = paths.run_dir(first.key) / "run.json"
    run_json.write_text("{ half a record")
    with pytest.warns(RepauditWarning, match="not a finished seed's record.*runs again"):
        assert store.load_runs(paths, first.spec_hash) == {}


def _record(result: RunResult) -> dict:
    return {"format": 2, **store.run_to_record(result)}


@pytest.mark.parametrize(
    "change",
    [
        lambda r: {},
        lambda r: [],
        lambda r: r | {"status": "brilliant"},
        lambda r: r | {"seed": "zero"},
        lambda r: r | {"seed": True},
        lambda r: r | {"metrics": [0.9]},
        lambda r: r | {"metrics": {"acc": "0.99"}},
        lambda r: r | {"seconds": "fast"},
        lambda r: r | {"returncode": 0.5},
        lambda r: r | {"seed_calls": [{"function": 1}]},
        lambda r: r | {"variables": {"A": 1}},
        lambda r: r | {"seed": 99},  # another seed's record, in this seed's folder
        lambda r: {k: v for k, v in r.items() if k != "status"},
        lambda r: r | {"format": 99},  # a newer repaudit's record (older formats load)
    ],
    ids=str.split(
        "empty list status seed-text seed-bool metrics-list metric-text seconds-text "
        "returncode-float seed-call variable-int other-seed no-status newer-format"
    ),
)
def test_a_run_record_of_the_wrong_shape_is_an_unfinished_seed(tmp_path, sample_audit, change):
    """A seed can write its own run.json under the weaker levels; a resume must never crash on it."""
    paths = store.AuditPaths(tmp_path / "a")
    first, second = sample_audit.runs[:2]
    store.save_run(paths, first)
    store.save_run(paths, second)
    run_json = paths.run_dir(first.key) / "run.json"
    run_json.write_text(json.dumps(change(_record(first))))
    with pytest.warns(RepauditWarning, match=f"{run_json} is not a finished seed's record"):
        assert store.load_runs(paths, first.spec_hash) == {second.key: second}


def test_a_full_disk_or_a_read_only_folder_is_one_store_error(tmp_path, monkeypatch):
    import errno
    import os

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store.os, "fsync", full)
    with pytest.raises(StoreError, match=r"x.json: No space left on device; free space"):
        store.write_json_atomic(tmp_path / "x.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind
    monkeypatch.undo()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "a"))

    monkeypatch.setattr(store.os, "open", read_only)
    with pytest.raises(StoreError, match=r"Read-only file system; pass --store with a folder"):
        store.write_text_atomic(tmp_path / "a" / "x", "text")


def test_written_files_get_the_umask_s_mode_not_0600(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        store.write_text_atomic(tmp_path / "report.html", "<p>")
        os.umask(0o077)
        store.write_text_atomic(tmp_path / "private.md", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.md").stat().st_mode & 0o777 == 0o600


def test_list_skips_an_unreadable_audit_with_a_warning(tmp_path, sample_audit):
    store.save_audit(store.AuditPaths(tmp_path / sample_audit.audit_id), sample_audit)
    for name, text in (("broken", "{"), ("empty", "{}"), ("wrong", '{"format": 2, "runs": 3}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "audit.json").write_text(text)
    with pytest.warns(RepauditWarning) as caught:
        listed = store.list_audits(tmp_path)
    assert [a.audit_id for a in listed] == [sample_audit.audit_id]
    assert sorted(str(w.message).split(":")[0] for w in caught) == [
        f"skipped {tmp_path / name}" for name in ("broken", "empty", "wrong")
    ]


def test_save_load_and_list_audits(tmp_path, sample_audit, user_numbers_audit):
    for audit in (sample_audit, user_numbers_audit):
        store.save_audit(store.AuditPaths(tmp_path / audit.audit_id), audit)
    listed = store.list_audits(tmp_path)
    assert [a.audit_id for a in listed] == [sample_audit.audit_id, user_numbers_audit.audit_id]
    assert listed[0] == dataclasses.replace(
        sample_audit, audit_dir=tmp_path / sample_audit.audit_id
    )


def test_a_format_1_record_still_loads(sample_audit):
    """Records written before runs carried their isolation and variables read back without them."""
    record = store.to_record(sample_audit) | {"format": 1}
    for run in record["runs"]:
        del run["isolation"], run["variables"]
    loaded = store.from_record(record)
    assert [r.key for r in loaded.runs] == [r.key for r in sample_audit.runs]
    assert {r.isolation for r in loaded.runs} == {None}


LOOK = Look(
    number=1,
    seeds=3,
    finished={Arm.METHOD: 3, Arm.BASELINE: 2},
    seconds=42.5,
    tests=(
        LookTest("acc", SequentialTest.GAIN, 0.001, 0.0041, True),
        LookTest("acc", SequentialTest.SIZE, 0.4, 0.0039, False, chance=0.02),
        LookTest("acc", SequentialTest.CLAIM, None, None, False),
    ),
    stop=StopReason.SETTLED,
    reason="the gain test crossed its boundary at 3 seeds per arm",
)


def test_the_looks_of_an_adaptive_audit_round_trip(sample_audit):
    spec = dataclasses.replace(sample_audit.spec, looks=(3, 5, 8))
    adaptive = dataclasses.replace(sample_audit, spec=spec, looks=(LOOK,))
    record = json.loads(json.dumps(store.to_record(adaptive), allow_nan=False))
    assert record["looks"][0]["tests"][0] == {
        "metric": "acc", "test": "gain", "p_value": 0.001, "boundary": 0.0041, "crossed": True,
        "chance": None,
    }  # fmt: skip
    assert record["looks"][0]["finished"] == {"method": 3, "baseline": 2}
    assert store.from_record(record) == adaptive


@pytest.mark.parametrize("version", [2, 3])
def test_an_older_record_loads_without_looks_and_its_runs_are_reused(
    tmp_path, sample_audit, version
):
    record = store.to_record(sample_audit) | {"format": version}
    del record["looks"]
    assert store.from_record(record).looks == ()
    paths = store.AuditPaths(tmp_path / "a")
    run = sample_audit.runs[0]
    store.write_json_atomic(
        paths.run_dir(run.key) / "run.json", {"format": version, **store.run_to_record(run)}
    )
    assert store.load_runs(paths, run.spec_hash) == {run.key: run}


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
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    with store.locked(paths):
        process = context.Process(target=_try_lock, args=(str(paths.root), queue))
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
