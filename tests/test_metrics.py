"""read_metrics on real files; check_source rejects sources that can never match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repaudit.errors import SpecError
from repaudit.model import Claim, MetricSource
from repaudit.run.metrics import read_metrics
from repaudit.spec.schema import check_source


def claim(metric: str = "acc", **source: str) -> Claim:
    return Claim(metric, 0.8, source=MetricSource(**source))


@pytest.fixture
def run(tmp_path: Path) -> dict[str, Path]:
    out, checkout = tmp_path / "out", tmp_path / "checkout"
    out.mkdir()
    checkout.mkdir()
    (out / "metrics.json").write_text(
        json.dumps(
            {
                "test": {"acc": 0.81, "loss": float("nan"), "name": "x"},
                "history": [{"acc": 0.5}, {"acc": 0.7}],
            }
        )
    )
    (checkout / "results.json").write_text(json.dumps({"f1": "0.66", "big": float("inf")}))
    stdout = tmp_path / "stdout.log"
    stdout.write_text("epoch 1 test acc: 0.70\nepoch 2 test acc: 0.79\n")
    stderr = tmp_path / "stderr.log"
    stderr.write_text("INFO final bleu=27.5\n")
    return {"out_dir": out, "checkout_dir": checkout, "stdout_path": stdout, "stderr_path": stderr}


def test_json_dotted_keys_list_indexes_and_relative_paths(run: dict[str, Path]) -> None:
    claims = [
        claim("acc", json_path="{out}/metrics.json", key="test.acc"),
        claim("last", json_path="{out}/metrics.json", key="history.-1.acc"),
        claim("f1", json_path="results.json", key="f1"),
    ]
    values, reason = read_metrics(claims, **run)
    assert values == {"acc": 0.81, "last": 0.7, "f1": 0.66} and reason == ""


def test_regex_takes_the_last_match_and_falls_back_to_stderr(run: dict[str, Path]) -> None:
    claims = [claim("acc", regex=r"test acc: ([0-9.]+)"), claim("bleu", regex=r"bleu=([0-9.]+)")]
    assert read_metrics(claims, **run) == ({"acc": 0.79, "bleu": 27.5}, "")


def test_every_problem_is_named(run: dict[str, Path]) -> None:
    claims = [
        claim("loss", json_path="{out}/metrics.json", key="test.loss"),
        claim("big", json_path="results.json", key="big"),
        claim("name", json_path="{out}/metrics.json", key="test.name"),
        claim("gone", json_path="{out}/nothing.json", key="a"),
        claim("typo", json_path="{out}/metrics.json", key="test.accuracy"),
        claim("never", regex=r"top5: ([0-9.]+)"),
        claim("acc", json_path="{out}/metrics.json", key="test.acc"),
    ]
    values, reason = read_metrics(claims, **run)
    assert values == {"acc": 0.81}
    assert "loss: the value is NaN" in reason
    assert "big: the value is inf (infinite)" in reason
    assert "name: key 'test.name'" in reason and "is text (1 characters), not a number" in reason
    assert "gone:" in reason and "nothing.json was not written" in reason
    assert "typo: key 'test.accuracy' not found" in reason and "no 'accuracy' under test" in reason
    assert "never: regex 'top5: ([0-9.]+)' never matched" in reason


def test_unreadable_json_is_a_reason_not_an_exception(run: dict[str, Path]) -> None:
    (run["out_dir"] / "metrics.json").write_text("{not json")
    values, reason = read_metrics([claim(json_path="{out}/metrics.json", key="a")], **run)
    assert values == {} and "not readable JSON" in reason


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (MetricSource(), "exactly one metric source"),
        (MetricSource(json_path="m.json", key="a", regex="(x)"), "exactly one metric source"),
        (MetricSource(regex="acc: ([0-9.]+"), "does not compile"),
        (MetricSource(regex="acc: [0-9.]+"), "0 capturing groups"),
        (MetricSource(regex="(acc): ([0-9.]+)"), "2 capturing groups"),
        (MetricSource(regex="acc: ([0-9.]+)", key="a"), "key applies to json only"),
        (MetricSource(json_path="{out}/m.json"), "json needs a key"),
        (MetricSource(json_path="{seed}/m.json", key="a"), "uses {seed}"),
        (MetricSource(json_path="m.json", key="test..acc"), "empty part"),
    ],
)
def test_check_source_rejects_what_can_never_match(source: MetricSource, message: str) -> None:
    with pytest.raises(SpecError, match="repaudit.toml \\[run.metric\\]") as error:
        check_source(source, where="repaudit.toml [run.metric]")
    assert message in str(error.value)


def test_check_source_accepts_good_sources() -> None:
    check_source(MetricSource(json_path="{out}/metrics.json", key="test.acc"), where="x")
    check_source(MetricSource(regex=r"(?:test|val) acc: ([0-9.]+)"), where="x")
