"""`repaudit stats` end to end through click's CliRunner, on score files in tmp_path."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from repaudit.cli import cli

METHOD = "0.812\n0.805\n0.809\n0.801\n0.815\n0.807\n0.803\n0.810\n"
BASELINE = "0.800\n0.806\n0.798\n0.802\n0.795\n0.804\n0.799\n0.801\n"


@pytest.fixture
def files(tmp_path):
    method, baseline = tmp_path / "method.txt", tmp_path / "baseline.txt"
    method.write_text(METHOD)
    baseline.write_text(BASELINE)
    return str(method), str(baseline)


def run(*args):
    return CliRunner().invoke(cli, ["stats", *args], standalone_mode=False)


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


def test_json_output_has_the_record_keys(files):
    method, baseline = files
    result = run(method, "--baseline", baseline, "--claim", "0.812", "--baseline-claim", "0.805",
                 "--format", "json")  # fmt: skip
    record = json.loads(result.output)
    assert {"format", "audit_id", "verdict", "verdict_reason", "reproduction", "improvement",
            "arms", "claims", "runs"} <= set(record)  # fmt: skip
    assert record["verdict"] == "holds"
    assert record["source"] is None


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
