"""Paper repositories as they are (issue 11): each shape audits end to end through `repaudit check`
with a spec kept outside the repository, as the registry keeps it, and no edit to the code.

Every repository is a real git repository made in the test; every script is the shape a published
repository has (a seed at module top, a Hydra-style dotted override, a metric per episode, ...).
"""

from __future__ import annotations

import dataclasses
import html as html_module
import importlib.util
import json
import random
import statistics
import textwrap
from pathlib import Path

import git
import pytest
from conftest import ToyRepo
from fakes import audit_json, repaudit

from repaudit import stats, store, verdict

pytestmark = pytest.mark.slow

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def spec_file(tmp_path: Path, text: str) -> str:
    """The spec, written outside the repository (like audits/registry/<owner>/<repo>.toml)."""
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def values(document: dict, metric: str | None = None) -> dict[int, float]:
    """seed -> value of the primary metric (or ``metric``) of the method arm's runs."""
    return {
        r["seed"]: (r["metrics"][metric] if metric else r["value"])
        for r in document["runs"]
        if r["arm"] == "method"
    }


def gauss(seed: int) -> float:
    """What the scripts below print for a seed: the same arithmetic."""
    return 0.80 + random.Random(seed).gauss(0, 0.01)


# ---------------------------------------------------------------- seeds


TOP = """
import random
random.seed(1234)  # hard-coded at module top, no flag
print(f"test acc: {0.80 + random.gauss(0, 0.01):.6f}")
"""
MAIN = """
import random

def main():
    random.seed(99)  # hard-coded inside main()
    print(f"test acc: {0.80 + random.gauss(0, 0.01):.6f}")

if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize(("script", "original"), [("top.py", 1234), ("main.py", 99)])
def test_a_hard_coded_seed_is_replaced(
    tmp_path: Path, toy_repo: ToyRepo, script: str, original: int
) -> None:
    toy_repo(files={"top.py": TOP, "main.py": MAIN}, toy=False)
    spec = spec_file(
        tmp_path,
        f"""
        [claim]
        value = 0.8
        [run]
        command = "python {script}"
        seed_override = true
        environment = "current"
        seeds = 3
        [run.metric]
        regex = 'test acc: ([0-9.]+)'
        """,
    )
    repaudit("check", "paper", "--spec", spec, "--quiet", cwd=tmp_path, check_rc=0)
    document = audit_json(tmp_path)
    assert len(set(values(document).values())) == 3  # each seed gave its own number
    for run in document["runs"]:
        (call,) = run["seed_calls"]
        assert call["function"] == "random.seed" and call["original"] == original
        assert call["replaced_by"] != original


DOTTED = """
import json, os, random, sys

config = {"train": {"seed": 0, "epochs": 2}, "hydra": {"run": {"dir": "outputs/today"}}}
for argument in sys.argv[1:]:  # Hydra-style overrides: train.seed=3 hydra.run.dir=/x
    key, value = argument.split("=", 1)
    *parents, last = key.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = type(node[last])(value)
random.seed(config["train"]["seed"])
folder = config["hydra"]["run"]["dir"]
os.makedirs(folder, exist_ok=True)
with open(os.path.join(folder, "metrics.json"), "w") as handle:
    json.dump({"test": {"accuracy": 0.80 + random.gauss(0, 0.01)}}, handle)
"""


def test_a_seed_set_through_a_dotted_config_override(tmp_path: Path, toy_repo: ToyRepo) -> None:
    toy_repo(files={"train.py": DOTTED}, toy=False)
    spec = spec_file(
        tmp_path,
        """
        [claim]
        metric = "accuracy_percent"
        value = 80.0
        [run]
        command = "python -m train train.seed={seed} hydra.run.dir={out}"
        environment = "current"
        seeds = 3
        [run.metric]
        json = "{out}/metrics.json"
        key = "test.accuracy"
        scale = 100   # logged as a fraction, claimed in percent
        """,
    )
    repaudit("check", "paper", "--spec", spec, "--quiet", cwd=tmp_path, check_rc=0)
    assert values(audit_json(tmp_path)) == {s: pytest.approx(100 * gauss(s)) for s in (1, 2, 3)}


# ---------------------------------------------------------------- metrics


SCIENTIFIC = """
import argparse, random
parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int)
rng = random.Random(parser.parse_args().seed)
for epoch in range(3):
    print(f"epoch {epoch}: val loss {rng.uniform(1, 2):.4e} test loss {6.5e-05 * rng.uniform(0.9, 1.1):.3e}")
"""


def test_scientific_notation(tmp_path: Path, toy_repo: ToyRepo) -> None:
    toy_repo(files={"train.py": SCIENTIFIC}, toy=False)
    spec = spec_file(
        tmp_path,
        """
        [claim]
        metric = "test_loss"
        direction = "lower"
        value = 6.5e-05
        [run]
        command = "python train.py --seed {seed}"
        environment = "current"
        seeds = 3
        [run.metric]
        regex = 'test loss ([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)'
        """,
    )
    repaudit("check", "paper", "--spec", spec, "--quiet", cwd=tmp_path)
    document = audit_json(tmp_path)
    for seed, value in values(document).items():
        rng = random.Random(seed)
        for _ in range(3):
            rng.uniform(1, 2)
            expected = float(f"{6.5e-05 * rng.uniform(0.9, 1.1):.3e}")
        assert value == expected and 5e-05 < value < 8e-05


EPISODES = """
import argparse, random
parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int)
rng = random.Random(parser.parse_args().seed)
for episode in range(50):
    # cleanrl prints a one-element array: episodic_return=[196.]
    print(f"global_step={episode * 100}, episodic_return=[{episode * 10 + rng.randint(0, 9)}.]")
"""


def test_a_per_episode_metric_reduced_over_the_last_n(tmp_path: Path, toy_repo: ToyRepo) -> None:
    toy_repo(files={"ppo.py": EPISODES}, toy=False)
    spec = spec_file(
        tmp_path,
        r"""
        [claim]
        metric = "episodic_return"
        value = 400.0
        [run]
        command = "python ppo.py --seed {seed}"
        environment = "current"
        seeds = 3
        [run.metric]
        regex = 'episodic_return=\[?(-?[0-9.]+(?:[eE][-+]?[0-9]+)?)\]?'
        reduce = "mean"
        last_n = 20
        """,
    )
    repaudit("check", "paper", "--spec", spec, "--quiet", cwd=tmp_path)
    for seed, value in values(audit_json(tmp_path)).items():
        rng = random.Random(seed)
        returns = [episode * 10 + rng.randint(0, 9) for episode in range(50)]
        assert value == pytest.approx(statistics.fmean(returns[-20:]))


TENSORBOARD = """
import argparse, random
from torch.utils.tensorboard import SummaryWriter
parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int)
seed = parser.parse_args().seed
rng = random.Random(seed)
writer = SummaryWriter(f"runs/CartPole__ppo__{seed}")  # under the working folder, as cleanrl does
for episode in range(30):
    writer.add_scalar("charts/episodic_return", 100 + episode + rng.random(), episode)
writer.close()
print("done")  # nothing printed holds the number
"""


@pytest.mark.skipif(not HAS_TENSORBOARD, reason="tensorboard is not installed (repaudit[test])")
def test_a_metric_only_in_tensorboard(tmp_path: Path, toy_repo: ToyRepo) -> None:
    toy_repo(files={"ppo.py": TENSORBOARD}, toy=False)
    spec = spec_file(
        tmp_path,
        """
        [[claims]]
        metric = "episodic_return"
        value = 125.0
        tensorboard = "charts/episodic_return"
        reduce = "mean"
        last_n = 10

        [[claims]]
        metric = "final_return"
        value = 129.0
        tensorboard = "charts/episodic_return"

        [run]
        command = "python ppo.py --seed {seed}"
        environment = "current"
        seeds = 3
        timeout = "3m"
        """,
    )
    repaudit("check", "paper", "--spec", spec, "--quiet", cwd=tmp_path)
    document = audit_json(tmp_path)
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        logged = [100 + episode + rng.random() for episode in range(30)]
        assert values(document, "episodic_return")[seed] == pytest.approx(
            statistics.fmean(logged[-10:]), rel=1e-6
        )  # float32 in the event file
        assert values(document, "final_return")[seed] == pytest.approx(logged[-1], rel=1e-6)


# ---------------------------------------------------------------- how a run ends


CRASH_AFTER = """
import argparse, random
parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int)
seed = parser.parse_args().seed
if seed == 4:
    raise ImportError("cannot import name 'Vocab' from 'torchtext.vocab'")  # before the metric
print(f"Test loss: {2.0 + random.Random(seed).gauss(0, 0.05):.5f}")
import pickle
pickle.loads(b"not a pickle")  # the final reload of the best model fails on today's library
"""


def test_a_crash_after_the_metric_counts_as_ok_with_error(
    tmp_path: Path, toy_repo: ToyRepo
) -> None:
    toy_repo(files={"music_test.py": CRASH_AFTER}, toy=False)
    spec = spec_file(
        tmp_path,
        """
        [claim]
        metric = "test_loss"
        direction = "lower"
        value = 2.0
        [run]
        command = "python music_test.py --seed {seed}"
        environment = "current"
        seeds = 4
        metric_after_failure = true
        [run.metric]
        regex = 'Test loss: ([0-9.]+)'
        """,
    )
    done = repaudit("check", "paper", "--spec", spec, cwd=tmp_path, check_rc=0)
    document = audit_json(tmp_path)
    runs = {r["seed"]: r for r in document["runs"]}
    for seed in (1, 2, 3):
        assert runs[seed]["status"] == "ok-with-error" and runs[seed]["returncode"] == 1
        assert runs[seed]["cause"].startswith("_pickle.UnpicklingError")
        assert runs[seed]["value"] == pytest.approx(
            2.0 + random.Random(seed).gauss(0, 0.05), abs=1e-5
        )
    assert runs[4]["status"] == "failed" and runs[4]["value"] is None
    assert runs[4]["cause"] == "ImportError: cannot import name 'Vocab' from 'torchtext.vocab'"
    assert document["arms"]["method"]["n"] == 3  # the three runs with a metric count
    # Flagged on the terminal, with the error line and the log ...
    assert "ok-with-error: exit code 1 after writing its metrics" in done.stderr
    assert "    _pickle.UnpicklingError" in done.stderr and "seed-1/stderr.log" in done.stderr
    # ... and in the report and the summary.
    audit_dir = Path(document["audit_dir"])
    html = (audit_dir / "report.html").read_text()
    assert "3 runs exited with an error after the metrics were written" in html
    assert "3 seeds (method seeds 1, 2, 3)" in html and "UnpicklingError" in html
    assert "1 run did not finish" in html and "cannot import name" in html
    summary = (audit_dir / "summary.md").read_text()
    assert "3 runs exited with an error after the metrics were written" in summary
    # Without the key the same runs are failures, and the audit says why.
    again = repaudit(
        "check", "paper", "--spec", spec, "--no-metric-after-failure", "--quiet", cwd=tmp_path
    )
    assert again.returncode == 4
    text = " ".join(again.stdout.split())
    assert "3 seeds (method seeds 1, 2, 3): failed — _pickle.UnpicklingError" in text


EXIT_ONE = """
import argparse, random, sys
parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int)
print(f"acc {0.8 + random.Random(parser.parse_args().seed).gauss(0, 0.01):.4f}")
sys.exit(1)  # this repository's normal ending
"""


def test_accept_exit_for_a_repository_whose_normal_exit_is_not_zero(
    tmp_path: Path, toy_repo: ToyRepo
) -> None:
    toy_repo(files={"run.py": EXIT_ONE}, toy=False)
    spec = spec_file(
        tmp_path,
        """
        [claim]
        value = 0.8
        [run]
        command = "python run.py --seed {seed}"
        environment = "current"
        seeds = 3
        [run.metric]
        regex = 'acc ([0-9.]+)'
        """,
    )
    refused = repaudit("check", "paper", "--spec", spec, "--quiet", cwd=tmp_path)
    assert refused.returncode == 4
    accepted = repaudit(
        "check", "paper", "--spec", spec, "--accept-exit", "0,1", "--format", "json", "--quiet",
        cwd=tmp_path,
    )  # fmt: skip
    runs = json.loads(accepted.stdout)["runs"]
    assert [(r["status"], r["returncode"], r["cause"]) for r in runs] == [("ok", 1, "")] * 3


SUBFOLDER = {
    "common/model.py": "SCALE = 0.8\n",
    "experiments/task_a/mdata/offset.txt": "0.01\n",
    "experiments/task_a/test.py": """
        import argparse, json, random, sys
        sys.path.append("../../")  # the repository's root, from the task's folder
        from common.model import SCALE
        parser = argparse.ArgumentParser()
        parser.add_argument("--seed", type=int)
        offset = float(open("./mdata/offset.txt").read())  # data by relative path
        value = SCALE + offset + random.Random(parser.parse_args().seed).gauss(0, 0.01)
        json.dump({"acc": value}, open("result.json", "w"))  # relative to the working folder
    """,
}


def test_a_subfolder_working_directory(tmp_path: Path, toy_repo: ToyRepo) -> None:
    toy_repo(files=SUBFOLDER, toy=False)
    spec = spec_file(
        tmp_path,
        """
        [claim]
        value = 0.81
        [run]
        workdir = "experiments/task_a"
        command = "python test.py --seed {seed}"
        environment = "current"
        seeds = 3
        [run.metric]
        json = "result.json"
        key = "acc"
        """,
    )
    repaudit("check", "paper", "--spec", spec, "--quiet", cwd=tmp_path, check_rc=0)
    assert values(audit_json(tmp_path)) == {s: pytest.approx(gauss(s) + 0.01) for s in (1, 2, 3)}
    missing = repaudit("check", "paper", "--spec", spec, "--workdir", "experiments/b", cwd=tmp_path)
    assert missing.returncode == 2 and "workdir 'experiments/b' is not a folder" in missing.stderr


# ---------------------------------------------------------------- several claims, failures, pins


CLAIMS = """
import argparse, csv, json, os, random
parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int)
parser.add_argument("--baseline", action="store_true")
parser.add_argument("--out")
args = parser.parse_args()
rng = random.Random(args.seed * 10 + args.baseline)
gain = 0.0 if args.baseline else 1.0
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "log.csv"), "w", newline="") as handle:
    writer = csv.writer(handle)
    writer.writerow(["epoch", "val_acc"])
    for epoch in range(5):
        writer.writerow([epoch, 70 + gain * 3 + epoch + rng.gauss(0, 0.3)])
with open(os.path.join(args.out, "log.txt"), "w") as handle:  # JSON lines
    for epoch in range(5):
        handle.write(json.dumps({"epoch": epoch, "bleu": 20 + gain * 0.2 + rng.gauss(0, 0.3)}) + "\\n")
for step in range(5):
    print(f"step {step} loss {1.0 - gain * 0.1 + rng.gauss(0, 0.02):.4e}")
"""


def test_several_claims_from_every_file_source_with_holm(tmp_path: Path, toy_repo: ToyRepo) -> None:
    toy_repo(files={"train.py": CLAIMS}, toy=False)
    spec = spec_file(
        tmp_path,
        """
        [[claims]]
        metric = "accuracy"
        value = 0.77
        baseline = 0.74
        csv = "{out}/log.csv"
        column = "val_acc"
        reduce = "max"
        scale = 0.01

        [[claims]]
        metric = "bleu"
        value = 20.2
        baseline = 20.0
        json = "{out}/log.txt"
        key = "bleu"
        reduce = "mean"
        last_n = 3

        [[claims]]
        metric = "loss"
        direction = "lower"
        value = 0.9
        baseline = 1.0
        regex = 'loss ([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)'
        reduce = "median"

        [run]
        command = "python train.py --seed {seed} --out {out}"
        environment = "current"
        seeds = 4

        [baseline]
        command = "python train.py --baseline --seed {seed} --out {out}"
        """,
    )
    repaudit("check", "paper", "--spec", spec, "--workers", "2", "--quiet", cwd=tmp_path)
    audit = store.load_audit(Path(audit_json(tmp_path)["audit_dir"]))
    assert [r.claim.metric for r in audit.results] == ["accuracy", "bleu", "loss"]
    assert all(r.ok for r in audit.runs) and all(len(r.metrics) == 3 for r in audit.runs)
    assert 0.7 < audit.runs[0].metrics["accuracy"] < 0.8  # the percent column, scaled
    raw = []
    for claim in audit.spec.claims:  # each claim alone: its unadjusted p-value
        alone = dataclasses.replace(audit.spec, claims=(claim,))
        (result,), _, _ = verdict.evaluate(alone, audit.runs)
        raw.append(result.improvement.gain_test.p_value)
    # Each claim's gain test runs at Holm's level across the three claims.
    levels = [r.improvement.gain_test.level for r in audit.results]
    assert levels == pytest.approx(list(stats.holm_levels(raw, audit.spec.alpha)))
    assert [r.improvement.gain_test.p_value for r in audit.results] == pytest.approx(raw)
    assert "Holm's levels across the 3 claims" in audit.verdict_reason


MISSING_MODULE = """
import argparse
import gym_minigrid  # an RL environment package the requirements forgot
"""


def test_every_seed_failing_on_a_missing_module_says_why_and_how_to_fix_it(
    tmp_path: Path, toy_repo: ToyRepo
) -> None:
    toy_repo(files={"train.py": MISSING_MODULE}, toy=False)
    spec = spec_file(
        tmp_path,
        """
        [claim]
        value = 0.8
        [run]
        command = "python train.py --seed {seed}"
        environment = "current"
        seeds = 3
        [run.metric]
        regex = 'acc ([0-9.]+)'
        """,
    )
    done = repaudit("check", "paper", "--spec", spec, cwd=tmp_path, check_rc=4)
    cause = "ModuleNotFoundError: No module named 'gym_minigrid'"
    # The terminal: each failed seed's cause and its log, then the grouped causes and the fix.
    assert done.stderr.count(f"    {cause}; log: audits/") == 3
    assert "runs/method/seed-2/stderr.log" in done.stderr
    text = " ".join(done.stdout.split())  # the terminal text is wrapped
    assert f"3 seeds (method seeds 1, 2, 3): failed — {cause}" in text
    assert "add the package that provides it to the repository's requirements" in text
    assert 'environment = "venv"' in text and "[run] setup" in text
    # The report: the cause at the top, before the claim's section.
    html = (Path(audit_json(tmp_path)["audit_dir"]) / "report.html").read_text()
    top = html_module.unescape(html[: html.index('id="claim-1"')])
    assert f"Every seed failed with: {cause}" in top
    assert "3 seeds (method seeds 1, 2, 3)" in top and "gym_minigrid" in top


def test_a_spec_outside_the_repository_pins_its_commit(tmp_path: Path, toy_repo: ToyRepo) -> None:
    folder = toy_repo(files={"top.py": TOP}, toy=False)
    repo = git.Repo(folder)
    first = repo.head.commit.hexsha
    (folder / "top.py").write_text(TOP.replace("0.80", "0.50"))
    repo.index.add(["top.py"])
    actor = git.Actor("test", "test@example.com")
    repo.index.commit("a later change", author=actor, committer=actor)
    spec = spec_file(
        tmp_path,
        f"""
        [source]
        commit = "{first}"
        [claim]
        value = 0.8
        [run]
        command = "python top.py"
        seed_override = true
        environment = "current"
        seeds = 3
        [run.metric]
        regex = 'test acc: ([0-9.]+)'
        """,
    )
    pinned = repaudit("check", "paper", "--spec", spec, "--format", "json", "--quiet", cwd=tmp_path)
    assert pinned.returncode == 0, pinned.stderr
    record = json.loads(pinned.stdout)
    assert record["source"]["commit"] == first and record["rerun_command"].endswith(first)
    assert all(0.75 < r["value"] < 0.85 for r in record["runs"])
    head = repo.head.commit.hexsha
    asked = repaudit(
        "check", "paper", "--spec", spec, "--ref", head, "--format", "json", "--quiet", cwd=tmp_path
    )
    record = json.loads(asked.stdout)
    assert record["source"]["commit"] == head
    assert (
        f"the spec was written for commit {first[:12]}; audited {head}, as asked" in record["notes"]
    )
