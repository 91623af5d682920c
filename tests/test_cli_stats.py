"""`repaudit stats` end to end through click's CliRunner, on score files in tmp_path.

The issue 9 cases (a README example that overstated its gain, a true claim failed without
baseline runs, ...) are pinned here with the decisions the rules of DESIGN.md section 4 give.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from repaudit.cli import cli

METHOD = "0.812\n0.805\n0.809\n0.801\n0.815\n0.807\n0.803\n0.810\n"
BASELINE = "0.800\n0.806\n0.798\n0.802\n0.795\n0.804\n0.799\n0.801\n"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "seed-scores"


@pytest.fixture
def files(tmp_path):
    method, baseline = tmp_path / "method.txt", tmp_path / "baseline.txt"
    method.write_text(METHOD)
    baseline.write_text(BASELINE)
    return str(method), str(baseline)


def run(*args):
    return CliRunner().invoke(cli, ["stats", *args], standalone_mode=False)


def scores_file(tmp_path, name, values):
    path = tmp_path / name
    path.write_text("".join(f"{v}\n" for v in values))
    return str(path)


def record(*args):
    result = run(*args, "--format", "json")
    assert result.exception is None, result.output
    return result.return_value, json.loads(result.output)


def test_claim_that_holds_exits_0_and_prints_the_verdict(files):
    method, baseline = files
    result = run(method, "--baseline", baseline, "--claim", "0.812", "--baseline-claim", "0.805")
    assert result.exception is None, result.output
    assert result.return_value == 0
    assert "reproduce" in result.output


def test_claim_that_does_not_hold_exits_1(files):
    method, _ = files
    result = run(method, "--claim", "0.83")
    assert result.return_value == 1


def test_too_few_seeds_is_inconclusive_exit_3(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text("0.81\n0.80\n")
    assert run(str(path), "--claim", "0.81").return_value == 3


def test_json_carries_both_tests_and_the_interval_with_its_level(files):
    method, baseline = files
    code, data = record(
        method, "--baseline", baseline, "--claim", "0.812", "--baseline-claim", "0.805"
    )
    assert {"format", "audit_id", "verdict", "verdict_reason", "reproduction", "improvement",
            "arms", "claims", "runs"} <= set(data)  # fmt: skip
    assert data["verdict"] == "holds" and code == 0 and data["source"] is None
    imp = data["improvement"]
    for test in ("gain_test", "size_test", "reverse_test"):
        assert {"statistic", "df", "p_value", "level", "rejects"} <= set(imp[test])
    assert imp["gap_interval"]["level"] == pytest.approx(0.9)
    assert imp["paper_gap_bound"] > imp["claimed_gap"]
    assert data["claims"][0]["baseline_reproduction"]["decision"] == "reproduced"


def test_lower_is_better_csv_column_and_html(tmp_path):
    csv = tmp_path / "losses.csv"
    csv.write_text("seed,loss\n" + "".join(f"{i},{3.28 + 0.001 * (i % 3)}\n" for i in range(6)))
    html = tmp_path / "report.html"
    result = run(str(csv), "--column", "loss", "--claim", "3.2805", "--direction", "lower",
                 "--metric", "val_loss", "--html", str(html))  # fmt: skip
    assert result.exception is None, result.output
    assert result.return_value == 0
    assert html.read_text().lstrip().lower().startswith("<!doctype html")


def test_nan_in_the_file_is_a_usage_error(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("0.8\nnan\n0.81\n")
    result = run(str(path), "--claim", "0.8")
    assert result.exception is not None and result.exception.exit_code == 2
    assert "not a finite score" in str(result.exception)


# ---------------------------------------------------------------- the cases of issue 9


def test_case_1_the_readme_sst2_example_is_overstated():
    code, data = record(str(EXAMPLES / "bert-base-uncased-sst2.txt"), "--baseline",
                        str(EXAMPLES / "bert-base-cased-sst2.txt"), "--claim", "0.931",
                        "--baseline-claim", "0.915")  # fmt: skip
    assert code == 1 and data["verdict"] == "does-not-hold"
    assert data["reproduction"]["decision"] == "not-reproduced"
    assert data["improvement"]["decision"] == "overstated"
    assert "the claimed +0.0160 is 3.3× that" in data["improvement"]["reason"]


def test_case_1_mnli_is_overstated_and_case_7_its_baseline_understated(tmp_path):
    args = [str(EXAMPLES / "bert-base-uncased-mnli.txt"), "--baseline",
            str(EXAMPLES / "bert-base-cased-mnli.txt"), "--claim", "0.8373",
            "--baseline-claim", "0.8273"]  # fmt: skip
    code, data = record(*args)
    assert code == 1
    assert data["improvement"]["decision"] == "overstated"
    assert data["claims"][0]["baseline_reproduction"]["decision"] == "baseline-understated"
    lenient = run(*args, "--fail-on", "not-reproduced,reversed", "--junit", str(tmp_path / "j.xml"))
    assert lenient.return_value == 0  # --fail-on can let baseline-understated pass
    junit = (tmp_path / "j.xml").read_text()
    assert (
        'name="score 0.8373 baseline number reproduces"' in junit
        and "baseline-understated" in junit
    )


def test_case_2_a_true_claim_without_baseline_runs_is_not_failed(tmp_path):
    method = scores_file(tmp_path, "m.txt", [1.5, 0.2, 1.9, 0.8, 1.1, -0.3, 1.4, 0.6, 2.0, 0.9])
    code, data = record(method, "--claim", "1.0", "--baseline-claim", "0.0")
    assert code == 3 and data["improvement"]["decision"] == "inconclusive"
    assert "Re-run the baseline arm" in data["improvement"]["reason"]


def test_case_3_a_claimed_gap_inside_the_interval_is_inconclusive(tmp_path):
    td3 = scores_file(tmp_path, "td3.txt", [42.53, 42.25, 41.36, 42.03, 42.92, 42.69, 42.61])
    awac = scores_file(tmp_path, "awac.txt", [42.17, 41.18, 41.99, 41.94])
    code, data = record(td3, "--baseline", awac, "--claim", "42.9", "--baseline-claim", "41.9")
    imp = data["improvement"]
    assert code == 3 and imp["decision"] == "inconclusive"
    assert imp["gap_interval"]["low"] < 0 < imp["gap_interval"]["high"]
    assert imp["seeds_needed_low"] <= imp["seeds_needed"] <= imp["seeds_needed_high"]


def test_case_4_holds_only_beside_an_interval_above_zero(tmp_path):
    method = scores_file(tmp_path, "m.txt", [1.1, 0.1, 0.9, 1.6, 0.4])
    baseline = scores_file(tmp_path, "b.txt", [0.1, -0.5, 0.6, -0.2, 0.3])
    code, data = record(method, "--baseline", baseline, "--claim", "1", "--baseline-claim", "0")
    imp = data["improvement"]
    assert code == 0 and imp["decision"] == "holds"
    assert imp["gap_interval"]["level"] == pytest.approx(0.9) and imp["gap_interval"]["low"] > 0


def test_case_5_a_collapse_in_one_arm_does_not_make_a_gain(tmp_path):
    method = scores_file(tmp_path, "m.txt", [0.845 + 0.001 * (i % 3) for i in range(20)])
    collapsed = [0.85 + 0.001 * (i % 3) for i in range(16)] + [0.30, 0.31, 0.29, 0.32]
    baseline = scores_file(tmp_path, "b.txt", collapsed)
    code, data = record(
        method, "--baseline", baseline, "--claim", "0.846", "--baseline-claim", "0.84"
    )
    assert data["improvement"]["decision"] == "inconclusive" and code == 3
    assert data["arms"]["baseline"]["outliers"] == [0.3, 0.31, 0.29, 0.32]


def test_case_6_zero_variance_arms_are_named_not_called_too_few(tmp_path):
    method = scores_file(tmp_path, "m.txt", [71.2, 70.5, 71.9, 70.8, 71.5])
    baseline = scores_file(tmp_path, "b.txt", [70.0] * 5)
    code, data = record(
        method, "--baseline", baseline, "--claim", "71.2", "--baseline-claim", "70.0"
    )
    assert code == 3 and data["improvement"]["decision"] == "inconclusive"
    assert "Every baseline seed scored exactly 70.0" in data["improvement"]["reason"]
    same = scores_file(tmp_path, "same.txt", [0.5] * 4)
    text = run(same, "--claim", "0.5").output
    assert "scored exactly 0.5" in text and "too few" not in text.lower()


def test_case_8_the_best_of_three_is_never_flagged_and_the_readings_agree(tmp_path):
    three = scores_file(tmp_path, "m.txt", [0.8183, 0.8255, 0.826])
    _, data = record(three, "--claim", "0.8183")
    assert data["arms"]["method"]["outliers"] == []
    _, data = record(*[scores_file(tmp_path, "m8.txt", [0.812, 0.805, 0.809, 0.801, 0.815, 0.807,
                                                        0.803, 0.810])], "--claim", "0.8155")  # fmt: skip
    reason = data["reproduction"]["reason"]
    assert "an 8% chance per seed; the best of ~8 seeds reaches it half the time" in reason


def test_case_9_seeds_needed_is_a_range(tmp_path):
    method = scores_file(tmp_path, "m.txt", [0.3, 1.1, 0.6])
    baseline = scores_file(tmp_path, "b.txt", [0.2, -0.4, 0.5])
    _, data = record(method, "--baseline", baseline, "--claim", "1.0", "--baseline-claim", "0.0")
    imp = data["improvement"]
    assert imp["decision"] == "inconclusive"
    assert imp["seeds_needed_low"] < imp["seeds_needed"] < imp["seeds_needed_high"]


def test_case_10_huge_scores_never_crash_the_number_formatting(tmp_path):
    huge = scores_file(tmp_path, "h.txt", ["1e300", "-1e300", "5e299"])
    result = run(huge, "--claim", "1e300")
    assert result.exception is None, result.exception
    assert result.return_value == 0 and "e+300" in result.output


# A bug planted in the statistics, then the real entry point, so main()'s handling is what runs.
CRASHING_STATS = """
import sys
import repaudit.verdict

def planted(*args, **kwargs):
    raise ZeroDivisionError("planted fault")

repaudit.verdict.evaluate_claim = planted
sys.argv = ["repaudit", *sys.argv[1:]]
from repaudit.cli import main
main()
"""


@pytest.mark.parametrize("json_output", [False, True])
def test_case_10_a_crash_in_stats_exits_4_in_one_line_with_the_traceback_saved(
    files, tmp_path, json_output
):
    method, baseline = files
    cache = tmp_path / "cache"
    flags = ["--format", "json"] if json_output else []
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_STATS,
            "stats",
            method,
            "--baseline",
            baseline,
            "--claim",
            "0.81",
            *flags,
        ],
        env={**os.environ, "REPAUDIT_CACHE": str(cache)},
        capture_output=True,
        text=True,
    )
    (log,) = (cache / "errors").glob("*.log")
    assert done.returncode == 4, done.stderr
    assert "ZeroDivisionError: planted fault" in log.read_text()
    line = done.stderr.strip()
    assert "\n" not in line and "internal error" in line and str(log) in line
    assert "Traceback" not in done.stderr and "does not hold" not in done.stdout.lower()
    if json_output:
        assert json.loads(done.stdout)["exit_code"] == 4


@pytest.mark.parametrize(
    "args",
    [["--claim-runs", "5"], ["--claim-kind", "mean"]],
)
def test_case_11_claim_runs_and_claim_kind_mean_go_together(files, args):
    method, _ = files
    result = run(method, "--claim", "0.81", *args)
    assert result.exception is not None and result.exception.exit_code == 2
    assert "--claim-runs K and --claim-kind mean go together" in str(result.exception)
    assert run(
        method, "--claim", "0.81", "--claim-runs", "5", "--claim-kind", "mean"
    ).return_value in (0, 1, 3)


def test_the_claims_printed_precision_is_kept(tmp_path):
    constant = scores_file(tmp_path, "c.txt", [0.83247] * 4)
    _, data = record(constant, "--claim", "0.8320")
    assert data["claims"][0]["claim"]["decimals"] == 4
    bad = run(constant, "--claim", "0.8a")
    assert bad.exception is not None and "--claim: '0.8a' is not a number" in str(bad.exception)


def test_the_claim_is_shown_as_given_beside_a_seed_that_rounds_to_it(tmp_path):
    scores = scores_file(tmp_path, "s.txt", [3.25, 3.1, 3.22, 3.15, 3.2, 3.0, 2.9, 3.05])
    result = run(scores, "--claim", "3.254")
    assert result.exception is None, result.output
    assert "The claimed score of 3.254 reproduces" in result.output
    assert "The claimed 3.254 is reached by 0 of 8 seeds" in result.output


def test_arms_in_different_units_exit_2_naming_both(tmp_path):
    method = scores_file(tmp_path, "m.txt", [0.81, 0.80, 0.82, 0.815])
    baseline = scores_file(tmp_path, "b.txt", [79.0, 78.5, 79.4, 79.1])
    result = run(method, "--baseline", baseline, "--claim", "81.2", "--baseline-claim", "79.0")
    assert result.exception is not None and result.exception.exit_code == 2
    assert "the method scores look like fractions" in str(result.exception)


def test_unit_states_what_the_inference_would_guess_and_overrides_it(tmp_path):
    fractions = scores_file(tmp_path, "f.txt", [0.81, 0.80, 0.82, 0.815])
    guessed = " ".join(run(fractions, "--claim", "81.2").output.split())  # unwrapped
    assert "THE CLAIM HOLDS" in guessed and "or --unit for repaudit stats" in guessed
    stated = " ".join(run(fractions, "--claim", "81.2", "--unit", "%").output.split())
    assert "THE CLAIM HOLDS" in stated and "as the claim's unit states" in stated
    # said to be a fraction, 81.2 is far beyond every score: not reproduced, not converted
    refused = run(fractions, "--claim", "81.2", "--unit", "fraction")
    assert refused.return_value == 1 and "multiplied" not in refused.output


def test_an_empty_metric_name_is_a_usage_error(files):
    method, _ = files
    result = run(method, "--claim", "0.81", "--metric", " ")
    assert result.exception is not None and result.exception.exit_code == 2
