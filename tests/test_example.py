"""The README's first command: auditing the bundled example paper finds what it was built to show."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "paper-repo"


def test_the_bundled_example_claim_is_caught(tmp_path):
    # --allow-dirty only matters in a working copy with local edits; CI's clean clone pins the commit.
    args = [
        "check",
        str(EXAMPLE),
        "--workers",
        "2",
        "--allow-dirty",
        "--store",
        str(tmp_path / "audits"),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "repaudit", *args, "--format", "json", "--quiet"],
        env={**os.environ, "REPAUDIT_CACHE": str(tmp_path / "cache")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 3, done.stderr
    record = json.loads(done.stdout)
    assert record["verdict"] == "inconclusive"
    # The README claims the best seed of a sweep: reachable, but only by a lucky seed.
    assert record["reproduction"]["decision"] == "optimistic"
    assert record["claims"][0]["baseline_reproduction"]["decision"] == "reproduced"
    # ... and a 1.35-point gain where the real one is about 0.2 points: not shown, and a single-run
    # gap that large is not ruled out either (the paper's README documents these numbers).
    improvement = record["improvement"]
    assert improvement["decision"] == "inconclusive"
    assert improvement["observed_gap"] == pytest.approx(0.0053, abs=5e-5)
    assert improvement["gap_interval"]["low"] < 0 < improvement["gap_interval"]["high"]
    assert [r["status"] for r in record["runs"]] == ["ok"] * 10
    assert len(set(record["arms"]["method"]["values"])) == 5  # the seed really changes the result
    assert Path(record["audit_dir"], "report.html").is_file()


def test_the_bundled_real_scores_give_the_documented_verdict():
    scores = EXAMPLE.parent / "seed-scores"
    args = [
        str(scores / "bert-base-uncased-sst2.txt"),
        "--baseline",
        str(scores / "bert-base-cased-sst2.txt"),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "repaudit", "stats", *args, "--claim", "0.931", "--baseline-claim", "0.915",
         "--format", "json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    record = json.loads(done.stdout)
    assert record["reproduction"]["decision"] == "not-reproduced"
    # A real gain, a third of the claimed one: the README's "overstated".
    assert record["improvement"]["decision"] == "overstated"
    assert (
        record["improvement"]["gain_test"]["rejects"]
        and record["improvement"]["size_test"]["rejects"]
    )
    assert record["arms"]["method"]["n"] == record["arms"]["baseline"]["n"] == 20


def test_stats_answers_ci_jobs_like_check(tmp_path):
    scores = EXAMPLE.parent / "seed-scores"
    args = [str(scores / "bert-base-uncased-sst2.txt"), "--baseline", str(scores / "bert-base-cased-sst2.txt"),
            "--claim", "0.931", "--baseline-claim", "0.915", "--summary-md", str(tmp_path / "summary.md"),
            "--junit", str(tmp_path / "junit.xml"), "--fail-on", "reversed"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "repaudit", "stats", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # not-reproduced and overstated are let through by --fail-on reversed, and said so.
    assert done.returncode == 0 and done.stderr == (
        "warning: --fail-on let these through: score reproduction: not-reproduced; "
        "score improvement: overstated\n"
    )
    assert (tmp_path / "summary.md").read_text().startswith("## ")
    assert "<testsuite" in (tmp_path / "junit.xml").read_text()


def test_the_example_audited_with_adaptive_seeds_stops_early_with_fixed_n_s_verdict(tmp_path):
    """A claim of 85% (the code gives about 82.1 ± 0.5): clear by the second look of three, and
    the verdict is the one all 8 seeds per arm give, which then reuse the seeds already run."""

    def check(*seeds: str) -> tuple[int, dict, str]:
        args = ["check", str(EXAMPLE), "--claim", "0.85", "--workers", "2", "--allow-dirty",
                "--store", str(tmp_path / "audits"), "--format", "json", *seeds]  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "repaudit", *args],
            env={**os.environ, "REPAUDIT_CACHE": str(tmp_path / "cache")},
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        return done.returncode, json.loads(done.stdout), done.stderr

    code, adaptive, _ = check("--seeds", "auto", "--max-seeds", "8")
    assert code == 1 and adaptive["verdict"] == "does-not-hold"
    last = adaptive["looks"][-1]
    assert last["stop"] == "failed" and last["seeds"] < 8
    assert {t["test"] for t in last["tests"] if t["crossed"]} >= {"size"}
    code, fixed, progress = check("--seeds", "8")
    assert code == 1 and fixed["verdict"] == adaptive["verdict"] and fixed["looks"] == []
    assert f"({2 * last['seeds']} finished earlier, kept)" in progress
    assert (
        fixed["reproduction"]["decision"]
        == adaptive["reproduction"]["decision"]
        == "not-reproduced"
    )
