"""End to end: `repaudit check` audits a real local git repository made in the test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TOY_SPEC
from fakes import toy_accuracy

from repaudit.model import Arm

pytestmark = pytest.mark.slow


def repaudit(
    *args: str, cwd: Path, check_rc: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REPAUDIT_CACHE": str(cwd / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "repaudit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check_rc is not None:
        assert done.returncode == check_rc, done.stdout + done.stderr
    return done


def audit_json(cwd: Path) -> dict:
    (record,) = (cwd / "audits").glob("*/audit.json")
    return json.loads(record.read_text())


def test_json_contract_and_store_layout(tmp_path, toy_repo):
    toy_repo()
    done = repaudit("check", "paper", "--format", "json", "--workers", "2", "--quiet", cwd=tmp_path)
    # The toy paper's scores are a fixed function of the seed, so its verdict is fixed too.
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["verdict"] == "holds"
    assert document["reproduction"]["decision"] == "reproduced"
    assert set(document["reproduction"]["prediction_interval"]) >= {"low", "high"}
    assert document["improvement"]["decision"] == "holds"
    values = {(r["arm"], r["seed"]): r["value"] for r in document["runs"]}
    assert values == {(arm, s): toy_accuracy(s, Arm(arm)) for arm in Arm for s in (1, 2, 3, 4)}
    for arm in ("method", "baseline"):
        assert len(document["arms"][arm]["values"]) == 4
        assert document["arms"][arm]["mean"] == pytest.approx(
            sum(document["arms"][arm]["values"]) / 4
        )
        assert document["arms"][arm]["sd"] > 0
    assert len(document["runs"]) == 8
    assert {"arm", "seed", "status", "value", "seconds"} <= set(document["runs"][0])
    audit_dir = Path(document["audit_dir"])
    assert audit_dir.name.startswith("paper-") and len(document["source"]["commit"]) == 40
    for name in ("audit.toml", "environment.json", "audit.json", "report.html", "summary.md"):
        assert (audit_dir / name).is_file(), name
    run = audit_dir / "runs" / "method" / "seed-1"
    assert (
        (run / "run.json").is_file()
        and (run / "stdout.log").is_file()
        and (run / "stderr.log").is_file()
    )
    assert "test acc" in (run / "stdout.log").read_text()
    assert not (audit_dir / "work").exists() or not any((audit_dir / "work").rglob("train.py"))


def test_crash_missing_metric_nan_and_timeout_are_recorded_runs(tmp_path, toy_repo):
    behaviour = {"crash": ["2"], "no_metric": ["3"], "nan": ["4"], "sleep": {"5": 60}}
    spec = TOY_SPEC.replace('timeout = "20s"', 'timeout = "3s"').replace("seeds = 4", "seeds = 6")
    toy_repo(behaviour=behaviour, spec=spec)
    repaudit("check", "paper", "--format", "json", "--quiet", cwd=tmp_path)
    status = {(r["arm"], r["seed"]): r for r in audit_json(tmp_path)["runs"]}
    assert status[("method", 1)]["status"] == "ok"
    assert (
        status[("method", 2)]["status"] == "failed"
        and "out of memory" in status[("method", 2)]["log_tail"]
    )
    assert status[("method", 3)]["status"] == "no-metric"
    assert (
        status[("method", 4)]["status"] == "no-metric"
        and "nan" in status[("method", 4)]["reason"].lower()
    )
    assert status[("method", 5)]["status"] == "timeout" and status[("method", 5)]["seconds"] < 30
    report = next((tmp_path / "audits").glob("*/report.html")).read_text()
    assert "timeout" in report and "failed" in report


def test_every_seed_failing_means_the_audit_could_not_run(tmp_path, toy_repo):
    toy_repo(behaviour={"crash": ["1", "2", "3", "4"]})
    done = repaudit("check", "paper", "--quiet", cwd=tmp_path, check_rc=4)
    assert audit_json(tmp_path)["verdict"] == "error"
    assert done.stdout.strip()


def test_interrupted_audit_resumes_without_rerunning_finished_seeds(tmp_path, toy_repo):
    toy_repo(behaviour={"sleep": {"4": 6}})
    env = {**os.environ, "REPAUDIT_CACHE": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "repaudit", "check", "paper", "--claim", "0.8", "--seeds", "4"]
    process = subprocess.Popen(args, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list((tmp_path / "audits").glob("*/runs/method/*/run.json"))) < 3:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "resume" in stderr
    kept = {p: p.stat().st_mtime_ns for p in (tmp_path / "audits").glob("*/runs/*/*/run.json")}
    assert len(kept) >= 3
    done = repaudit("check", "paper", "--claim", "0.8", "--seeds", "4", cwd=tmp_path)
    assert f"{len(kept)} finished earlier, kept" in done.stderr
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in kept.items())
    assert len(audit_json(tmp_path)["runs"]) == 8


def test_more_seeds_reuse_the_finished_ones(tmp_path, toy_repo):
    toy_repo()
    repaudit("check", "paper", "--seeds", "3", "--quiet", cwd=tmp_path)
    done = repaudit("check", "paper", "--seeds", "4", cwd=tmp_path)
    assert "(6 finished earlier, kept); 2 to run" in done.stderr
    assert len(list((tmp_path / "audits").glob("*/audit.json"))) == 1


def test_bad_inputs_give_one_line_errors(tmp_path, toy_repo):
    toy_repo()
    missing = repaudit("check", "nowhere", "--claim", "0.8", cwd=tmp_path)
    assert (
        missing.returncode == 4
        and missing.stderr.strip().count("\n") == 0
        and "nowhere" in missing.stderr
    )
    bad_ref = repaudit("check", "paper", "--ref", "no-such-tag", cwd=tmp_path)
    assert bad_ref.returncode == 4 and "no-such-tag" in bad_ref.stderr
    (tmp_path / "bad.toml").write_text("[claim]\nvalue = 0.8\nvalu = 1\n")
    bad_spec = repaudit("check", "paper", "--spec", "bad.toml", cwd=tmp_path)
    assert bad_spec.returncode == 2 and "valu" in bad_spec.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    no_spec = repaudit("check", "plain", "--claim", "0.8", cwd=tmp_path)
    assert no_spec.returncode == 2 and "--command" in no_spec.stderr


def test_seeds_auto_stops_once_settled_and_records_its_looks(tmp_path, toy_repo):
    """The toy paper's gain, 2.5 seed sds, claimed as it is: settled before the maximum."""
    toy_repo()
    args = ("check", "paper", "--seeds", "auto", "--max-seeds", "8", "--workers", "2", "--quiet")
    done = repaudit(*args, "--format", "json", cwd=tmp_path, check_rc=0)
    record = json.loads(done.stdout)
    assert record["verdict"] == "holds" and record["spec"]["looks"] == [3, 5, 8]
    looks = record["looks"]
    assert looks[-1]["stop"] == "settled" and looks[-1]["seeds"] < 8
    assert len(record["runs"]) == 2 * looks[-1]["seeds"]
    assert {t["test"] for t in looks[0]["tests"]} == {
        "claim",
        "baseline-claim",
        "gain",
        "size",
        "reverse",
    }
    audit_dir = Path(record["audit_dir"])
    assert "Looks: adaptive seeds" in (audit_dir / "report.html").read_text()
    assert "**Adaptive seeds.** Stopped after look" in (audit_dir / "summary.md").read_text()
    assert 'seeds = "auto"' in (audit_dir / "audit.toml").read_text()
    text = repaudit(*args[:-1], cwd=tmp_path, check_rc=0).stdout  # resumed: nothing to run
    assert "Adaptive seeds: Stopped after look" in text


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--seeds", "many"), "'many' is neither a count of seeds (1 or more) nor auto"),
        (("--max-seeds", "9"), '--max-seeds applies to seeds = "auto" only'),
        (("--seeds", "auto", "--looks", "3,x"), "is not a list of seed counts: write e.g. 3,5,8,12,20"),
        (("--seeds", "auto", "--looks", "2,5"), "--looks [2, 5]: list increasing seeds per arm from 3 on"),
        (("--seeds", "auto", "--max-seeds", "2"), "2 is not in the range x>=3"),
    ],
)  # fmt: skip
def test_bad_adaptive_flags_give_one_line_usage_errors(tmp_path, toy_repo, args, expected):
    toy_repo()
    done = repaudit("check", "paper", *args, cwd=tmp_path)
    assert done.returncode == 2 and expected in done.stderr, done.stderr


def test_fail_on_lets_chosen_decisions_pass_with_a_warning(tmp_path, toy_repo):
    toy_repo()
    bogus = repaudit("check", "paper", "--fail-on", "bogus", cwd=tmp_path)
    assert bogus.returncode == 2 and "bogus" in bogus.stderr
    # 3 seeds cannot give the power to call the gap noise: inconclusive (3) unless --fail-on says otherwise.
    plain = repaudit(
        "check", "paper", "--seeds", "3", "--baseline-claim", "0.7999", "--quiet", cwd=tmp_path
    )
    assert plain.returncode == 3, plain.stdout
    lenient = repaudit(
        "check", "paper", "--seeds", "3", "--baseline-claim", "0.7999", "--quiet",
        "--fail-on", "not-reproduced,reversed", cwd=tmp_path,
    )  # fmt: skip
    assert lenient.returncode == 0 and "--fail-on lets it pass" in lenient.stderr
    strict = repaudit(
        "check", "paper", "--seeds", "3", "--baseline-claim", "0.7999", "--quiet",
        "--fail-on", "inconclusive", cwd=tmp_path,
    )  # fmt: skip
    assert strict.returncode == 1


def test_a_repository_declaring_requires_python_below_3_11_runs_its_seeds_under_3_10(
    tmp_path, toy_repo
):
    from repaudit.env.python import installed_interpreters

    if not {"3.10", "3.11"} <= {i.series for i in installed_interpreters()}:
        pytest.skip("Python 3.10 and 3.11 not both installed (pyenv install 3.10 3.11)")
    spec = (
        TOY_SPEC.replace('environment = "current"', 'environment = "venv"')
        .replace("seeds = 4", "seeds = 2")
        .replace('command = "python train.py', 'command = "python -V && python train.py')
    )
    pyproject = '[project]\nname = "toy"\nversion = "1.0"\nrequires-python = "<3.11"\n\n[tool.setuptools]\npy-modules = []\n'
    toy_repo(spec=spec, files={"pyproject.toml": pyproject})
    done = repaudit("check", "paper", "--format", "json", "--quiet", cwd=tmp_path)
    assert done.returncode in (0, 1, 3), done.stderr
    fingerprint = json.loads(done.stdout)["fingerprint"]
    assert fingerprint["python"].startswith("3.10.")
    assert fingerprint["python_reason"].startswith("pyproject.toml requires-python <3.11")
    assert fingerprint["resolved_as_of"]  # a local repository: today's packages, dated
    (audit_dir,) = (tmp_path / "audits").iterdir()
    for run in (audit_dir / "runs").glob("*/seed-*"):
        assert (run / "stdout.log").read_text().startswith("Python 3.10."), run
    report = (audit_dir / "report.html").read_text()
    assert "Python 3.10." in report and "requires-python &lt;3.11" in report
