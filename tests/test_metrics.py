"""read_metrics on real files; check_source rejects sources that can never match."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from repaudit.errors import SpecError
from repaudit.model import Claim, MetricSource, Reduce
from repaudit.run.metrics import read_metrics
from repaudit.spec.sources import check_source


def claim(metric: str = "acc", **source: Any) -> Claim:
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
        (MetricSource(regex="(x)", tensorboard="a/b"), "(it has regex and tensorboard)"),
        (MetricSource(csv_path="{out}/log.csv"), "csv needs a column"),
        (MetricSource(csv_path="{epoch}.csv", column="a"), "uses {epoch}"),
        (MetricSource(regex="(x)", column="acc"), "column applies to csv only"),
        (MetricSource(tensorboard="  "), "tensorboard is empty"),
        (MetricSource(regex="(x)", last_n=20), 'last_n = 20 with reduce = "last"'),
        (MetricSource(regex="(x)", reduce=Reduce.MEAN, last_n=0), "last_n = 0"),
        (MetricSource(regex="(x)", scale=0.0), "scale = 0.0"),
        (MetricSource(regex="(x)", scale=math.inf), "scale = inf"),
    ],
)
def test_check_source_rejects_what_can_never_match(source: MetricSource, message: str) -> None:
    with pytest.raises(SpecError, match="repaudit.toml \\[run.metric\\]") as error:
        check_source(source, where="repaudit.toml [run.metric]")
    assert message in str(error.value)


def test_check_source_accepts_good_sources() -> None:
    check_source(MetricSource(json_path="{out}/metrics.json", key="test.acc"), where="x")
    check_source(MetricSource(regex=r"(?:test|val) acc: ([0-9.]+)"), where="x")
    check_source(MetricSource(csv_path="{out}/log.csv", column="val_acc", scale=100), where="x")
    check_source(MetricSource(regex="r=(.+)", reduce=Reduce.MEAN, last_n=100), where="x")


def test_a_tensorboard_source_without_the_package_is_refused_before_any_seed_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(SpecError, match=r"pip install 'repaudit\[tensorboard\]'"):
        check_source(MetricSource(tensorboard="eval/return"), where="x")


# ---------------------------------------------------------------- series, reduce, scale


def test_a_printed_series_is_reduced_over_the_last_n(run: dict[str, Path]) -> None:
    returns = [10.0, 20.0, 30.0, 50.0, 40.0, 60.0]
    run["stdout_path"].write_text(
        "".join(f"episode {i} episodic_return=[{r:.0f}.]\n" for i, r in enumerate(returns))
    )
    regex = r"episodic_return=\[?(-?[0-9.]+)\]?"
    cases = {
        Reduce.LAST: 60.0, Reduce.FIRST: 30.0, Reduce.MAX: 60.0, Reduce.MIN: 30.0,
        Reduce.MEAN: 45.0, Reduce.MEDIAN: 45.0,
    }  # fmt: skip
    claims = [claim(str(r), regex=regex, reduce=r, last_n=4) for r in cases]
    values, reason = read_metrics(claims, **run)
    assert reason == "" and values == {str(r): v for r, v in cases.items()}
    everything = read_metrics([claim("all", regex=regex, reduce=Reduce.MEAN)], **run)
    assert everything == ({"all": 35.0}, "")
    more_than_printed = read_metrics([claim("n", regex=regex, reduce=Reduce.MIN, last_n=99)], **run)
    assert more_than_printed == ({"n": 10.0}, "")


def test_signs_exponents_and_scale(run: dict[str, Path]) -> None:
    run["stdout_path"].write_text("lr 6.58e-05\ndelta -1.2E+3\ntest accuracy= 0.81600\n")
    number = r"([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)"
    claims = [
        claim("lr", regex=rf"lr {number}"),
        claim("delta", regex=rf"delta {number}"),
        claim("percent", regex=rf"accuracy= {number}", scale=100.0),
        claim("fraction", regex=rf"delta {number}", scale=0.01),
    ]
    values, reason = read_metrics(claims, **run)
    assert reason == ""
    assert values == {"lr": 6.58e-05, "delta": -1200.0, "percent": 81.6, "fraction": -12.0}


def test_nan_or_inf_inside_the_reduced_window_fails_the_metric(run: dict[str, Path]) -> None:
    run["stdout_path"].write_text("r=1\nr=nan\nr=3\nr=4\nr=inf\n")
    values, reason = read_metrics(
        [
            claim("early", regex=r"r=(\S+)", reduce=Reduce.MEAN, last_n=2),
            claim("late", regex=r"r=(\S+)", reduce=Reduce.MEAN, last_n=3),
            claim("last", regex=r"r=(\S+)"),
        ],
        **run,
    )
    assert values == {}
    assert "early: 1 of the last 2 values" in reason and "NaN or infinite" in reason
    assert "late: 1 of the last 3 values" in reason
    assert "last: the value is inf (infinite)" in reason


def test_a_match_that_is_not_a_number_is_named_by_length_only(run: dict[str, Path]) -> None:
    run["stdout_path"].write_text("token: hunter2-secret\n")
    values, reason = read_metrics([claim("t", regex=r"token: (\S+)")], **run)
    assert values == {} and "is text (14 characters), not a number" in reason
    assert "hunter2" not in reason


def test_csv_column_last_row_or_reduced_empty_cells_skipped(run: dict[str, Path]) -> None:
    # Lightning's CSVLogger: train rows and val rows, each leaving the other's cells empty.
    (run["out_dir"] / "log.csv").write_text(
        "epoch,train_loss,val_acc\n0,0.9,\n0,,0.61\n1,0.7,\n1,,0.72\n2,0.5,\n2,,0.70\n"
    )
    claims = [
        claim("last", csv_path="{out}/log.csv", column="val_acc"),
        claim("best", csv_path="{out}/log.csv", column="val_acc", reduce=Reduce.MAX),
        claim("loss", csv_path="{out}/log.csv", column="train_loss", reduce=Reduce.MEAN, last_n=2),
    ]
    values, reason = read_metrics(claims, **run)
    assert reason == ""
    assert values == {"last": 0.70, "best": 0.72, "loss": pytest.approx(0.6)}


def test_csv_problems_never_copy_the_file(run: dict[str, Path]) -> None:
    (run["out_dir"] / "log.csv").write_text("epoch,secret_column\n0,password123\n")
    values, reason = read_metrics(
        [
            claim("gone", csv_path="{out}/log.csv", column="acc"),
            claim("text", csv_path="{out}/log.csv", column="secret_column"),
            claim("none", csv_path="{out}/missing.csv", column="acc"),
        ],
        **run,
    )
    assert values == {}
    assert "has no column 'acc' in its header (2 columns)" in reason
    assert "is text (11 characters), not a number" in reason and "password123" not in reason
    assert "missing.csv was not written" in reason


def test_json_lines_and_json_lists_are_series(run: dict[str, Path]) -> None:
    # DeiT's log.txt: one JSON document per epoch.
    (run["out_dir"] / "log.txt").write_text(
        "".join(json.dumps({"epoch": e, "test_acc1": a}) + "\n" for e, a in enumerate([70, 72, 71]))
    )
    claims = [
        claim("deit", json_path="{out}/log.txt", key="test_acc1", reduce=Reduce.MAX, scale=0.01),
        claim("hist", json_path="{out}/metrics.json", key="history.0.acc"),
    ]
    (run["out_dir"] / "curve.json").write_text(json.dumps({"val": [0.5, 0.7, 0.6]}))
    claims.append(claim("curve", json_path="{out}/curve.json", key="val", reduce=Reduce.MEDIAN))
    values, reason = read_metrics(claims, **run)
    assert reason == "" and values == {"deit": 0.72, "hist": 0.5, "curve": 0.6}


def test_relative_paths_start_in_the_working_folder(run: dict[str, Path]) -> None:
    work = run["checkout_dir"] / "experiments" / "a"
    work.mkdir(parents=True)
    (work / "result.json").write_text('{"acc": 0.9}')
    values, reason = read_metrics(
        [claim("acc", json_path="result.json", key="acc")], **run, work_dir=work
    )
    assert (values, reason) == ({"acc": 0.9}, "")


def test_event_files_outside_the_run_are_not_read(run: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    elsewhere = tmp_path / "elsewhere" / "events.out.tfevents.1.host"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"\0" * 16)
    (run["out_dir"] / "events.out.tfevents.2.host").symlink_to(elsewhere)
    values, reason = read_metrics([claim("r", tensorboard="eval/return")], **run)
    assert values == {} and "points outside the run's folders" in reason


def test_tensorboard_scalars_written_by_a_real_writer(run: dict[str, Path]) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    import torch
    from torch.utils.tensorboard import SummaryWriter

    # Two writers, as a run that logs to {out} and to runs/<name> under its working folder does.
    with SummaryWriter(str(run["out_dir"] / "lightning_logs" / "version_0")) as writer:
        for step, value in enumerate([1.0, 2.0, 3.0, 4.0]):
            writer.add_scalar("eval/return", value, step)
        writer.add_scalar("train/loss", 0.5, 0)
    with SummaryWriter(str(run["checkout_dir"] / "runs" / "ppo")) as writer:
        writer.add_scalar("charts/episodic_return", 200.0, 10)
        writer.add_scalar("charts/episodic_return", 100.0, 5)
        writer.add_histogram("weights", torch.tensor([0.1, 0.2, 0.3]), 0)
    claims = [
        claim("last", tensorboard="eval/return"),
        claim("mean", tensorboard="eval/return", reduce=Reduce.MEAN, last_n=2, scale=100.0),
        claim("episodes", tensorboard="charts/episodic_return"),  # in step order, not write order
        claim("hist", tensorboard="weights"),
        claim("gone", tensorboard="test/accuracy"),
    ]
    values, reason = read_metrics(claims, **run)
    assert values == {"last": 4.0, "mean": 350.0, "episodes": 200.0}
    assert "hist: tag 'weights' holds" in reason and "numbers per step, not a scalar" in reason
    assert "gone: tag 'test/accuracy' not found in 2 event file(s)" in reason


def test_no_event_files_is_a_reason(run: dict[str, Path]) -> None:
    pytest.importorskip("tensorboard", reason="tensorboard is not installed")
    values, reason = read_metrics([claim("r", tensorboard="eval/return")], **run)
    assert values == {} and "no TensorBoard event files" in reason
