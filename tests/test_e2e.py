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
from conftest import TOY_SPEC, interruptible
from fakes import audit_json, repaudit, toy_accuracy

from repaudit.model import Arm

pytestmark = pytest.mark.slow


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
    process = subprocess.Popen(
        args, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible
    )
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
    # One line for the error, after the progress line of the phase it stopped in.
    assert missing.returncode == 2 and missing.stderr.splitlines() == [
        "clone/pin …",
        "error: nowhere does not exist: pass an existing folder, a git URL or owner/name for GitHub",
    ]
    a_file = repaudit("check", "paper/train.py", cwd=tmp_path)
    assert a_file.returncode == 2 and "is a file" in a_file.stderr
    dash = repaudit("check", "--", "-x", cwd=tmp_path)
    assert dash.returncode == 2 and "-x does not exist" in dash.stderr
    option = repaudit("check", "-x", cwd=tmp_path)
    assert option.returncode == 2 and "No such option" in option.stderr
    started = time.monotonic()
    huge = repaudit("check", "paper", "--seeds", "1000000000", cwd=tmp_path)
    assert huge.returncode == 2 and "--seeds 1000000000: give 1 to 1000" in huge.stderr
    assert time.monotonic() - started < 60  # refused, not planned until the memory runs out
    workers = repaudit("check", "paper", "--workers", "1000000000", cwd=tmp_path)
    assert workers.returncode == 2 and "1000000000" in workers.stderr
    bad_ref = repaudit("check", "paper", "--ref", "no-such-tag", cwd=tmp_path)
    assert bad_ref.returncode == 4 and "no-such-tag" in bad_ref.stderr
    (tmp_path / "bad.toml").write_text("[claim]\nvalue = 0.8\nvalu = 1\n")
    bad_spec = repaudit("check", "paper", "--spec", "bad.toml", cwd=tmp_path)
    assert bad_spec.returncode == 2 and "valu" in bad_spec.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    no_spec = repaudit("check", "plain", "--claim", "0.8", cwd=tmp_path)
    assert no_spec.returncode == 2 and "--command" in no_spec.stderr
    assert (
        "no audit spec in plain," in no_spec.stderr
        and "`repaudit init plain --try`" in no_spec.stderr
    )


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
        (("--seeds", "auto", "--looks", "2,5"), "--looks [2, 5]: list increasing seeds per arm from 3 to 1000"),
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
    assert lenient.returncode == 0
    assert "--fail-on let these through: test_accuracy improvement: inconclusive" in lenient.stderr
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


def test_the_repository_s_own_spec_is_bounded_and_named_as_the_user_knows_it(tmp_path, toy_repo):
    toy_repo(spec=TOY_SPEC.replace("seeds = 4", "seeds = 1000000000"))
    huge = repaudit("check", "paper", "--quiet", cwd=tmp_path)
    assert huge.returncode == 2, huge.stderr
    assert huge.stderr.strip() == (
        "error: repaudit.toml: [run] seeds = 1000000000: give 1 to 1000 (e.g. seeds = 5)"
    )
    toy_repo("broken", spec=TOY_SPEC + "\n[claim\n")
    broken = repaudit("check", "broken", "--quiet", cwd=tmp_path)
    assert broken.returncode == 2 and broken.stderr.startswith(
        "error: repaudit.toml: not valid TOML"
    )
    assert str(tmp_path / "cache") not in broken.stderr  # not the deleted throw-away checkout


def test_check_of_a_trapped_repository_runs_nothing_on_the_host(tmp_path, toy_repo):
    """The repository's .git/config names fsmonitor, filters, hooks and helpers (it came as an
    archive with .git inside): a whole audit starts none of them, and the token never leaks."""
    from conftest import TRAP_ATTRIBUTES, arm_with_traps

    root = toy_repo(files={".gitattributes": TRAP_ATTRIBUTES})
    log = tmp_path / "executed.log"
    arm_with_traps(root, log)
    env = {**os.environ, "REPAUDIT_CACHE": str(tmp_path / "cache"), "HF_TOKEN": "hf_s3cret"}
    done = subprocess.run(
        [sys.executable, "-m", "repaudit", "check", "paper", "--seeds", "2", "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode in (0, 1, 3), done.stderr
    assert not log.exists(), log.read_text()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "audits").rglob("*") if p.is_file())
    assert b"hf_s3cret" not in stored


def test_resume_reruns_seeds_whose_record_is_malformed(tmp_path, toy_repo):
    toy_repo()
    repaudit("check", "paper", "--seeds", "2", "--quiet", cwd=tmp_path)
    (audit_dir,) = (tmp_path / "audits").glob("*/")
    broken = {
        audit_dir / "runs" / "method" / "seed-1" / "run.json": "{}",
        audit_dir / "runs" / "method" / "seed-2" / "run.json": json.dumps(
            {**json.loads((audit_dir / "runs/method/seed-2/run.json").read_text()), "status": "won"}
        ),
        audit_dir / "runs" / "baseline" / "seed-1" / "run.json": '{"format": 2, "arm": "meth',
    }
    for path, text in broken.items():
        path.write_text(text)
    done = repaudit("check", "paper", "--seeds", "2", cwd=tmp_path)
    assert done.returncode in (0, 1, 3), done.stderr
    for path in broken:
        assert f"warning: {path} is not a finished seed's record" in done.stderr
    assert "(1 finished earlier, kept); 3 to run" in done.stderr
    assert [r["status"] for r in audit_json(tmp_path)["runs"]] == ["ok"] * 4


def test_list_skips_an_unreadable_audit_with_a_warning(tmp_path, toy_repo):
    toy_repo()
    repaudit("check", "paper", "--seeds", "2", "--quiet", cwd=tmp_path)
    (tmp_path / "audits" / "corrupt").mkdir()
    (tmp_path / "audits" / "corrupt" / "audit.json").write_text("{not json")
    listed = repaudit("list", cwd=tmp_path, check_rc=0)
    assert "paper" in listed.stdout and "corrupt" not in listed.stdout
    assert listed.stderr.startswith("warning: skipped ") and "corrupt" in listed.stderr


def test_outputs_are_readable_by_others_and_fence_the_command(tmp_path, toy_repo):
    toy_repo()
    # Valid shell, so the seeds run; the lines after the newline are comments to the shell.
    command = "python train.py --seed {seed} --out {out}\n```\n<img src=x onerror=alert(1)>"
    command = command.replace("\n", "\n# ")
    done = repaudit("check", "paper", "--seeds", "2", "--quiet", "--command", command, cwd=tmp_path)
    assert done.returncode in (0, 1, 3), done.stderr
    (audit_dir,) = (tmp_path / "audits").glob("*/")
    for name in ("audit.json", "report.html", "summary.md", "environment.json"):
        assert (audit_dir / name).stat().st_mode & 0o777 == 0o644 & ~_umask(), name
    summary = (audit_dir / "summary.md").read_text()
    fenced = summary[summary.index("````sh") :]
    inside, closed, after = fenced.partition("\n````\n")
    assert "<img" in inside and closed and "<img" not in after  # then the local-path note


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILL_DISK = """
    import json, os, sys
    seed, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if seed == "2" and os.path.exists(sys.argv[3]):  # fill the store's disk to the last byte
        with open(os.path.join(out, "filler"), "wb") as filler:
            while True:
                filler.write(b"x" * 65536)
    json.dump({"acc": 0.8 + int(seed) / 1000}, open(os.path.join(out, "m.json"), "w"))
"""
DISK_SPEC = """
    [claim]
    metric = "acc"
    value = 0.801
    json = "{out}/m.json"
    key = "acc"

    [run]
    command = "python train.py {seed} {out} %s"
    environment = "current"
    seeds = 3
"""


def in_mount_namespace(script: str, cwd: Path) -> None:
    """Run the shell ``script`` in a private mount namespace (a tmpfs or a read-only bind mount
    there changes nothing outside it); skip where unshare cannot make one."""
    for extra in ([], ["--map-root-user"]):
        if (
            subprocess.run(["unshare", "--mount", *extra, "true"], capture_output=True).returncode
            == 0
        ):
            break
    else:
        pytest.skip(
            "no private mount namespace here (unshare --mount, as root or in a user namespace)"
        )
    env = {**os.environ, "REPAUDIT_CACHE": str(cwd / "cache"), "REPAUDIT_ISOLATION": "none"}
    subprocess.run(
        ["unshare", "--mount", *extra, "--propagation", "private", "/bin/sh", "-c", script],
        cwd=cwd, env=env, check=True, timeout=600,
    )  # fmt: skip


@pytest.mark.sandbox
def test_a_full_disk_stops_the_audit_in_one_line_and_the_seed_runs_again(tmp_path, toy_repo):
    flag = tmp_path / "fill.flag"
    flag.touch()
    toy_repo(files={"train.py": FILL_DISK, "repaudit.toml": DISK_SPEC % flag}, toy=False)
    store = tmp_path / "store"
    store.mkdir()
    python = f"{sys.executable} -m repaudit check paper --store {store}"
    in_mount_namespace(
        f"mount -t tmpfs -o size=4m tmpfs {store}\n"
        f"{python} --quiet > first.out 2> first.err; echo $? > first.rc\n"
        f"cat {store}/*/runs/method/seed-2/run.json > first-seed-2.json\n"
        f"rm -f {flag}; rm -rf {store}/*/runs/method/seed-2/out\n"
        f"{python} > second.out 2> second.err; echo $? > second.rc\n"
        f"cp {store}/*/audit.json second.json\n",
        tmp_path,
    )
    first = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.rc").read_text().strip() == "4", first
    assert first.count("\n") == 1 and first.startswith("error: cannot write ")
    assert "No space left on device; free space on that disk" in first
    # Seed 2 is recorded as one repaudit could not run (no exit code), never as "no-metric":
    seed_2 = json.loads((tmp_path / "first-seed-2.json").read_text())
    assert (seed_2["status"], seed_2["returncode"]) == ("failed", None)
    assert "is full" in seed_2["reason"] or "No space left on device" in seed_2["reason"]
    second = (tmp_path / "second.err").read_text()
    assert (tmp_path / "second.rc").read_text().strip() in ("0", "1", "3"), second
    assert "(1 finished earlier, kept); 2 to run" in second
    record = json.loads((tmp_path / "second.json").read_text())
    assert [(r["seed"], r["status"]) for r in record["runs"]] == [(1, "ok"), (2, "ok"), (3, "ok")]


@pytest.mark.sandbox
def test_a_read_only_store_is_one_line_and_still_lists(tmp_path, toy_repo):
    toy_repo()
    repaudit("check", "paper", "--seeds", "2", "--quiet", cwd=tmp_path)
    (audit_dir,) = (tmp_path / "audits").glob("*/")
    store = tmp_path / "audits"
    python = f"{sys.executable} -m repaudit"
    in_mount_namespace(
        f"mount --bind {store} {store} && mount -o remount,bind,ro {store}\n"
        f"{python} check paper --seeds 2 --quiet > /dev/null 2> check.err; echo $? > check.rc\n"
        f"{python} list > list.out 2> list.err; echo $? > list.rc\n"
        f"{python} report {audit_dir} > /dev/null 2> report.err; echo $? > report.rc\n",
        tmp_path,
    )
    for name in ("check", "report"):
        said = (tmp_path / f"{name}.err").read_text()
        assert (tmp_path / f"{name}.rc").read_text().strip() == "4", said
        assert said.count("\n") == 1 and "Read-only file system; pass --store" in said
    assert (tmp_path / "list.rc").read_text().strip() == "0"
    assert audit_dir.name in (tmp_path / "list.out").read_text()
