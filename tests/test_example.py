"""The README's first command: auditing the bundled example paper finds what it was built to show."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "paper-repo"


def test_the_bundled_example_claim_does_not_hold(tmp_path):
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
    assert done.returncode == 1, done.stderr
    record = json.loads(done.stdout)
    assert record["verdict"] == "does-not-hold"
    # The README claims the best seed of a sweep: reachable, but only by a lucky seed.
    assert record["reproduction"]["decision"] == "optimistic"
    # ... and a 1.35-point gain where the real one is about 0.2 points: seed noise, with the power to tell.
    assert record["improvement"]["decision"] == "within-noise"
    assert record["improvement"]["power"] >= 0.8
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
    assert record["improvement"]["decision"] == "holds"
    assert record["improvement"]["consistent_with_claim"] is False
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
    # not-reproduced is let through by --fail-on reversed, and said so.
    assert done.returncode == 0 and "--fail-on lets it pass" in done.stderr
    assert (tmp_path / "summary.md").read_text().startswith("## ")
    assert "<testsuite" in (tmp_path / "junit.xml").read_text()
