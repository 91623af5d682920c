"""`repaudit init`: what it infers from real toy training scripts, and what it refuses."""

from __future__ import annotations

import re
import textwrap
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from repaudit.cli import cli
from repaudit.errors import SpecError, UsageError
from repaudit.model import Arm, Direction, MetricSource
from repaudit.spec import SpecOverrides, infer_spec, init_spec, load_spec

ARGPARSE_SCRIPT = """
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--model", choices=["method", "baseline"], default="method")
parser.add_argument("--random-seed", type=int, default=0)
parser.add_argument("--output_dir", required=True)
parser.add_argument("--lr", type=float, default=0.1)
args = parser.parse_args()
os.makedirs(args.output_dir, exist_ok=True)
acc = 0.8
with open(os.path.join(args.output_dir, "results.json"), "w") as f:
    json.dump({"epoch": 3, "test": {"acc": acc, "loss": 0.4}}, f)
print(f"done: test acc {acc:.4f}")
"""

HARD_CODED_SCRIPT = """
import argparse, random
import torch
torch.manual_seed(42)
random.seed(42)
parser = argparse.ArgumentParser()
parser.add_argument("data_dir")
args = parser.parse_args()
loss = 0.25
print(f"epoch 10 | val loss {loss:.3f} | test loss: {loss:.4f}")
"""


def make(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))
    return folder


def test_infers_flags_baseline_and_json_metric(tmp_path: Path) -> None:
    repo = make(tmp_path, {"train.py": ARGPARSE_SCRIPT, "requirements.txt": "numpy\n"})
    path, result = init_spec(repo)
    assert path == repo / "repaudit.toml"
    spec = load_spec(repo, overrides=SpecOverrides(claim=0.81))
    assert spec.arms[0].command == "python train.py --random-seed {seed} --output_dir {out}"
    baseline = spec.arm(Arm.BASELINE)
    assert baseline is not None
    assert (
        baseline.command
        == "python train.py --model baseline --random-seed {seed} --output_dir {out}"
    )
    assert spec.claim.source == MetricSource(json_path="{out}/results.json", key="test.acc")
    assert spec.claim.metric == "test_acc" and spec.claim.direction is Direction.HIGHER
    assert str(spec.environment) == "venv"
    assert any("--random-seed" in line for line in result.inferred)
    assert not any("does not load" in line for line in result.to_check)


def test_the_paper_numbers_are_left_for_the_user(tmp_path: Path) -> None:
    repo = make(
        tmp_path, {"train.py": ARGPARSE_SCRIPT, "README.md": "We reach 81.2% test accuracy."}
    )
    init_spec(repo)
    raw = tomllib.loads((repo / "repaudit.toml").read_text())
    assert "value" not in raw["claim"] and "baseline" not in raw["claim"]
    assert "# value = " in (repo / "repaudit.toml").read_text()
    with pytest.raises(SpecError, match=r"\[claim\] value is missing.*--claim"):
        load_spec(repo)


def test_hard_coded_seeds_and_a_printed_metric(tmp_path: Path) -> None:
    repo = make(tmp_path, {"main.py": HARD_CODED_SCRIPT})
    _, result = init_spec(repo)
    checks = "\n".join(result.to_check)
    assert "torch.manual_seed(42), random.seed(42)" in checks and "seed_override = true" in checks
    assert "requires the argument data_dir" in checks
    assert "does not load yet" in checks and "has no {seed}" in checks  # the command says why
    raw = tomllib.loads((repo / "repaudit.toml").read_text())
    pattern = raw["run"]["metric"]["regex"]
    assert re.findall(pattern, "epoch 10 | val loss 0.251 | test loss: 0.2500") == ["0.2500"]
    assert raw["claim"]["metric"] == "test_loss" and raw["claim"]["direction"] == "lower"
    assert raw["run"]["environment"] == "current"


def test_a_folder_without_a_training_script_gets_a_template(tmp_path: Path) -> None:
    result = infer_spec(make(tmp_path, {"notes.txt": "nothing here"}))
    assert any("no train*.py or main.py" in line for line in result.to_check)
    assert "# command = " in result.text


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    repo = make(tmp_path, {"train.py": ARGPARSE_SCRIPT, "repaudit.toml": "# mine\n"})
    with pytest.raises(UsageError, match="exists: edit it, or pass --force"):
        init_spec(repo)
    assert (repo / "repaudit.toml").read_text() == "# mine\n"
    init_spec(repo, force=True)
    assert "[claim]" in (repo / "repaudit.toml").read_text()


def test_cli_prints_what_was_inferred_and_what_to_check(tmp_path: Path) -> None:
    repo = make(tmp_path, {"train.py": ARGPARSE_SCRIPT})
    done = CliRunner().invoke(cli, ["init", str(repo)], standalone_mode=False)
    assert done.exception is None and done.return_value == 0
    assert f"wrote {repo / 'repaudit.toml'}" in done.output
    assert "inferred  seed flag --random-seed" in done.output
    assert "check     value: the paper's number" in done.output
    again = CliRunner().invoke(cli, ["init", str(repo)], standalone_mode=False)
    assert isinstance(again.exception, UsageError)
