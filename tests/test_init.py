"""`repaudit init`: each inference rule on small real repositories, --try, and the flows that use
the draft (init -> check without --allow-dirty; check on a repository with no spec)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ToyRepo

from repaudit.cli import cli
from repaudit.errors import SpecError, UsageError
from repaudit.model import Direction, EntryEvidence, SeedMechanism
from repaudit.spec import SpecOverrides, infer_spec, load_spec

ARGS_MODULE = """
import argparse
def parse():
    parser = argparse.ArgumentParser()
    parser.add_argument("--random-seed", type=int, default=0)
    parser.add_argument("--output_dir", default="out")
    parser.add_argument("--epochs", type=int, default=200)
    return parser.parse_args()
"""
TRAIN_USING_ARGS = """
import json, os
from args import parse
args = parse()
loss, acc = 0.4, 0.8
for epoch in range(args.epochs):
    print(f"epoch {epoch} train loss {loss:.4f} val acc {acc:.4f}")
print("Test set results:", "loss= {:.4f}".format(loss), "accuracy= {:.4f}".format(acc))
if __name__ == "__main__":
    pass
"""
LIBRARY = """
class Trainer:
    def train(self):
        loss = 1.0
        loss.backward()
        print(f"test acc {loss}")
"""


def draft_of(toy_repo: ToyRepo, files: dict[str, str]) -> Path:
    return toy_repo(files=files, toy=False, spec=None)


# ---------------------------------------------------------------- entry points


def test_the_readme_command_wins_with_its_line_and_the_others_are_comments(
    toy_repo: ToyRepo,
) -> None:
    readme = """
    # Paper

    ```bash
    $ cd experiments && python run_mnist.py --lr 0.1
    ```
    Or the other one: `python other.py`
    """
    repo = draft_of(
        toy_repo,
        {
            "README.md": readme,
            "experiments/run_mnist.py": "import sys\nprint(sys.argv)\n",
            "other.py": "print('x')\n",
            "trainer.py": LIBRARY,
            "main.py": "import argparse\nif __name__ == '__main__':\n    argparse.ArgumentParser()\n",
        },
    )
    draft = infer_spec(repo)
    assert draft.entry is not None and draft.entry.script == "experiments/run_mnist.py"
    assert draft.entry.evidence is EntryEvidence.README and draft.entry.where[0] == "README.md:5"
    assert draft.workdir == "experiments" and draft.command.startswith(
        "python run_mnist.py --lr 0.1"
    )
    scripts = [e.script for e in draft.entries]
    assert "trainer.py" not in scripts  # a library module, however it is named
    assert scripts[1:] == ["other.py", "main.py"]
    done = CliRunner().invoke(cli, ["init", str(repo)], standalone_mode=False)
    assert done.exception is None, done.output
    text = (repo / "repaudit.toml").read_text()
    assert '# command = "python other.py"  # README.md:7' in text
    assert "main.py:2 (main block parses arguments)" in text


def test_a_shell_script_the_readme_runs_gives_the_seed_loop(toy_repo: ToyRepo) -> None:
    repo = draft_of(
        toy_repo,
        {
            "README.md": "Reproduce:\n```\n./run.sh\n```\n",
            "run.sh": "for ((i=0;i<5;i+=1))\ndo\n  python main.py \\\n    --env Hopper \\\n    --seed $i\ndone\n",
            "main.py": "import argparse\np = argparse.ArgumentParser()\np.add_argument('--seed')\n",
        },
    )
    draft = infer_spec(repo)
    assert draft.command == "python main.py --env Hopper --seed {seed}"
    assert draft.entry is not None and draft.entry.where[0] == "README.md:3 runs run.sh:3"
    assert draft.seed is not None and draft.seed.mechanism is SeedMechanism.FLAG


def test_without_documents_a_main_block_that_parses_arguments(toy_repo: ToyRepo) -> None:
    repo = draft_of(
        toy_repo, {"src/model.py": LIBRARY, "fit_gcn.py": TRAIN_USING_ARGS, "args.py": ARGS_MODULE}
    )
    draft = infer_spec(repo)
    assert draft.entry is not None and draft.entry.evidence is EntryEvidence.MAIN_BLOCK
    assert draft.command == "python fit_gcn.py --random-seed {seed} --output_dir {out}"


def test_no_entry_point_is_said_plainly(toy_repo: ToyRepo) -> None:
    draft = infer_spec(draft_of(toy_repo, {"lib.py": LIBRARY, "notes.txt": "nothing"}))
    assert draft.command is None and "entry point" in draft.missing
    assert "write the training command" in draft.to_check[0]


# ---------------------------------------------------------------- seeds


@pytest.mark.parametrize(
    ("files", "mechanism", "command_end"),
    [
        (
            {"train.py": TRAIN_USING_ARGS, "args.py": ARGS_MODULE},
            SeedMechanism.FLAG,
            "--random-seed {seed} --output_dir {out}",
        ),
        (
            {
                "train.py": "import click\n@click.command()\n@click.option('--seed', default=1)\ndef main(seed):\n    pass\nif __name__ == '__main__':\n    main()\n"
            },
            SeedMechanism.FLAG,
            "--seed {seed}",
        ),
        (
            {
                "train.py": "from dataclasses import dataclass\nimport tyro\n@dataclass\nclass Args:\n    random_seed: int = 1\nif __name__ == '__main__':\n    tyro.cli(Args)\n"
            },
            SeedMechanism.FLAG,
            "--random-seed {seed}",
        ),
        (
            {
                "train.py": "import typer\ndef main(lr: float = 0.1, seed: int = 0):\n    pass\nif __name__ == '__main__':\n    typer.run(main)\n"
            },
            SeedMechanism.FLAG,
            "--seed {seed}",
        ),
        (
            {
                "train.py": "from absl import flags, app\nflags.DEFINE_integer('seed', 0, 'seed')\nif __name__ == '__main__':\n    app.run(main)\n"
            },
            SeedMechanism.FLAG,
            "--seed {seed}",
        ),
        (
            {
                "train.py": "import hydra, torch\n@hydra.main(config_path='conf', config_name='config')\ndef main(cfg):\n    torch.manual_seed(cfg.train.seed)\nif __name__ == '__main__':\n    main()\n",
                "conf/config.yaml": "train:\n  seed: 0\n",
            },
            SeedMechanism.CONFIG_KEY,
            "train.seed={seed} hydra.run.dir={out}",
        ),
        (
            {
                "train.py": "import torch\nseed = 1\nbatch = 4\nexec(open('configurator.py').read())\ntorch.manual_seed(seed)\n",
                "configurator.py": "",
                "README.md": "```\npython train.py\n```\n",
            },
            SeedMechanism.FLAG,
            "--seed={seed}",
        ),
    ],
)
def test_seed_options_of_every_parser(
    toy_repo: ToyRepo, files: dict[str, str], mechanism: SeedMechanism, command_end: str
) -> None:
    draft = infer_spec(draft_of(toy_repo, files))
    assert draft.seed is not None and draft.seed.mechanism is mechanism
    assert draft.command is not None and draft.command.endswith(command_end)


def test_one_committed_config_per_seed(toy_repo: ToyRepo) -> None:
    readme = "```bash\nfor seed in {0..2}\ndo\n    python bin/run.py exp/tuned_mine/${seed}.toml\ndone\n```\n"
    files = {"README.md": readme, "bin/run.py": "import sys\nprint(sys.argv)\n"}
    files |= {f"exp/tuned/{k}.toml": f"seed = {k}\n" for k in range(3)}
    draft = infer_spec(draft_of(toy_repo, files))
    assert draft.seed is not None and draft.seed.mechanism is SeedMechanism.CONFIG_FILE
    assert draft.command == "python bin/run.py exp/tuned/{seed}.toml"
    assert draft.seed.seeds == (0, 1, 2)


def test_a_hard_coded_seed_names_its_line_and_sets_seed_override(toy_repo: ToyRepo) -> None:
    script = "import numpy as np\n\nseed = 123\nnp.random.seed(seed)\nprint('Test acc: {:.3f}'.format(0.5))\n"
    repo = draft_of(toy_repo, {"train.py": script, "README.md": "```\npython train.py\n```\n"})
    draft = infer_spec(repo)
    assert draft.seed is not None and draft.seed.mechanism is SeedMechanism.HARD_CODED
    assert draft.seed.where.startswith("train.py:3 np.random.seed(123)")
    CliRunner().invoke(cli, ["init", str(repo)], standalone_mode=False)
    raw = tomllib.loads((repo / "repaudit.toml").read_text())
    assert raw["run"]["seed_override"] is True
    load_spec(repo, overrides=SpecOverrides(claim=0.5))


def test_no_seed_anywhere_is_said_plainly(toy_repo: ToyRepo) -> None:
    script = "import random\nprint('avg score : {:.1f}'.format(random.random()))\n"
    draft = infer_spec(draft_of(toy_repo, {"ppo.py": script, "README.md": "`python ppo.py`\n"}))
    assert draft.seed is not None and draft.seed.mechanism is SeedMechanism.NONE
    assert draft.missing == ("seed mechanism",)
    assert any("every run differs by chance alone" in line for line in draft.to_check)


# ---------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("statement", "printed", "value", "direction"),
    [
        (
            'print(f"step {s} train loss {a:.4f}, val loss {b:.4f}")',
            "step 9 train loss 0.5000, val loss 0.7500",
            "0.7500",
            Direction.LOWER,
        ),
        (
            'print("Test set results:", "cost= {:.5f}".format(a), "accuracy= {:.5f}".format(b))',
            "Test set results: cost= 1.00715 accuracy= 0.81600",
            "0.81600",
            Direction.HIGHER,
        ),
        ('print("test nll %.3e" % b)', "test nll 6.58e-05", "6.58e-05", Direction.LOWER),
        (
            'print(f"global_step={s}, episodic_return={r}")',
            "global_step=49552, episodic_return=[196.]",
            "196.",
            Direction.HIGHER,
        ),
        (
            'print(f"Max accuracy: {b:.2f}%")\nprint(f"test acc {a:.2f}%")',
            "test acc 80.00%\nMax accuracy: 81.20%\ntest acc 79.00%",
            "81.20",
            Direction.HIGHER,
        ),
        ('logger.info("eval f1 %.4f", b)', "INFO eval f1 0.8800", "0.8800", Direction.HIGHER),
    ],
)
def test_a_printed_metric_becomes_a_regex_for_its_format(
    toy_repo: ToyRepo, statement: str, printed: str, value: str, direction: Direction
) -> None:
    script = (
        f"import logging\nlogger = logging.getLogger()\ns, a, b, r = 9, 0.5, 0.75, 1\n{statement}\n"
    )
    draft = infer_spec(
        draft_of(toy_repo, {"train.py": script, "README.md": "```\npython train.py\n```\n"})
    )
    assert draft.metric is not None and draft.metric.regex is not None
    assert re.compile(draft.metric.regex).groups == 1
    assert re.findall(draft.metric.regex, printed)[-1] == value
    assert draft.metric.direction is direction


def test_tensorboard_tags_and_json_files(toy_repo: ToyRepo) -> None:
    script = """
    import argparse, json, os
    from torch.utils.tensorboard import SummaryWriter
    p = argparse.ArgumentParser(); p.add_argument("--seed"); p.add_argument("--out")
    args = p.parse_args()
    SummaryWriter(args.out).add_scalar("eval/return", 1.0, 0)
    json.dump({"test": {"acc": 0.8}}, open(os.path.join(args.out, "results.json"), "w"))
    """
    draft = infer_spec(
        draft_of(toy_repo, {"train.py": script, "README.md": "```\npython train.py\n```\n"})
    )
    assert draft.metric is not None
    assert (draft.metric.json, draft.metric.key) == ("{out}/results.json", "test.acc")
    assert any(m.tensorboard == "eval/return" for m in draft.metrics)


def test_the_readme_tables_give_claim_guesses_never_values(toy_repo: ToyRepo) -> None:
    readme = "```\npython train.py\n```\n\n| Model | Accuracy |\n|---|---|\n| ours | 81.5 |\n"
    script = 'print(f"test accuracy {0.8:.4f}")\n'
    repo = draft_of(toy_repo, {"train.py": script, "README.md": readme})
    CliRunner().invoke(cli, ["init", str(repo)], standalone_mode=False)
    text = (repo / "repaudit.toml").read_text()
    assert "81.5  (README.md:7, row 'ours', column 'Accuracy')" in text
    assert "value" not in tomllib.loads(text)["claim"]


# ---------------------------------------------------------------- folder, data, environment


def test_working_folder_pythonpath_prepare_and_shorter_runs(toy_repo: ToyRepo) -> None:
    readme = "```\npython data/get_data.py\npython train.py --seed 3\n```\n"
    script = "from pkg.utils import load\nimport argparse\np = argparse.ArgumentParser()\np.add_argument('--seed')\np.add_argument('--epochs', default=200)\nprint('test acc {:.3f}'.format(load()))\n"
    utils = "def load(path='../data/cora/'):\n    return 0.5\n"
    files = {
        "README.md": readme,
        "pkg/train.py": script,
        "pkg/__init__.py": "",
        "pkg/utils.py": utils,
    }
    files |= {
        "data/cora/x.txt": "1",
        "data/get_data.py": "import requests\nrequests.get('http://x')\n",
    }
    files |= {"requirements.txt": "numpy\n"}
    draft = infer_spec(draft_of(toy_repo, files))
    assert draft.workdir == "pkg" and draft.env == (("PYTHONPATH", ".."),)
    assert draft.command == "python train.py --seed {seed}"
    assert draft.prepare and draft.prepare[0].command == "python data/get_data.py"
    assert draft.shorter == ("--epochs N (default 200), pkg/train.py:5",)
    assert str(draft.environment) == "venv"


def test_init_refuses_to_overwrite_and_writes_elsewhere(toy_repo: ToyRepo, tmp_path: Path) -> None:
    repo = draft_of(
        toy_repo,
        {"train.py": TRAIN_USING_ARGS, "args.py": ARGS_MODULE, "repaudit.toml": "# mine\n"},
    )
    again = CliRunner().invoke(cli, ["init", str(repo)], standalone_mode=False)
    assert isinstance(again.exception, UsageError)
    assert (repo / "repaudit.toml").read_text() == "# mine\n"
    elsewhere = tmp_path / "specs" / "paper.toml"
    done = CliRunner().invoke(
        cli, ["init", str(repo), "--output", str(elsewhere)], standalone_mode=False
    )
    assert done.exception is None, done.output
    assert f"next: repaudit check {repo} --spec {elsewhere} --claim" in done.output
    spec = load_spec(repo, spec_path=elsewhere, overrides=SpecOverrides(claim=0.8))
    assert spec.claim.metric == "test_accuracy" and spec.claim.direction is Direction.HIGHER


def test_init_takes_a_url_and_writes_the_registry_entry(toy_repo: ToyRepo, tmp_path: Path) -> None:
    repo = draft_of(toy_repo, {"train.py": TRAIN_USING_ARGS, "args.py": ARGS_MODULE})
    store = tmp_path / "audits"
    done = CliRunner().invoke(
        cli,
        ["init", f"file://{repo}", "--store", str(store), "--cache-dir", str(tmp_path / "cache")],
        standalone_mode=False,
    )
    assert done.exception is None, done.output
    written = store / "registry" / f"{repo.parent.name}/{repo.name}.toml"
    assert f"wrote {written}" in done.output
    assert "at commit" in written.read_text()


# ---------------------------------------------------------------- --try and the flows that use the draft

COMMON = {
    "README.md": "# Paper\n\n```bash\n$ python train.py --seed 1 --out results\n```\n",
}


def test_try_observes_the_printed_metric_and_the_seed(toy_repo: ToyRepo, tmp_path: Path) -> None:
    script = """
    import argparse, random
    p = argparse.ArgumentParser(); p.add_argument("--seed", type=int); p.add_argument("--out")
    args = p.parse_args()
    random.seed(args.seed)
    report = {"test_acc": 0.8 + random.random() / 100}
    for k, v in report.items():
        print("%s = %.4f" % (k, v))   # a format no static rule ties to a name
    """
    repo = toy_repo(files={**COMMON, "train.py": script}, toy=False, spec=None)
    assert infer_spec(repo).metric is None
    done = CliRunner().invoke(
        cli,
        ["init", str(repo), "--try", "--cache-dir", str(tmp_path / "cache")],
        standalone_mode=False,
    )
    assert done.exception is None, done.output
    assert "the seed reached random.seed(7919)" in done.output
    raw = tomllib.loads((repo / "repaudit.toml").read_text())
    assert raw["run"]["metric"]["regex"] == r"test_acc = (-?[0-9.]+(?:[eE][-+]?[0-9]+)?)"
    assert "observed in the trial run" in (repo / "repaudit.toml").read_text()


def test_try_runs_the_draft_from_its_workdir_as_an_audit_would(
    toy_repo: ToyRepo, tmp_path: Path
) -> None:
    # The README runs the script from its folder, and the script reads a file beside it.
    script = """
    import argparse, random
    p = argparse.ArgumentParser(); p.add_argument("--seed", type=int)
    args = p.parse_args()
    random.seed(args.seed)
    base = float(open("base.txt").read())
    print("test_acc = %.4f" % (base + random.random() / 100))
    """
    files = {
        "README.md": "# Paper\n\n```bash\n$ cd experiments && python train.py --seed 1\n```\n",
        "experiments/train.py": script,
        "experiments/base.txt": "0.8\n",
    }
    repo = toy_repo(files=files, toy=False, spec=None)
    assert infer_spec(repo).workdir == "experiments"
    done = CliRunner().invoke(
        cli,
        ["init", str(repo), "--try", "--cache-dir", str(tmp_path / "cache")],
        standalone_mode=False,
    )
    assert done.exception is None, done.output
    assert "ran to the end" in done.output and "the seed reached random.seed(7919)" in done.output
    raw = tomllib.loads((repo / "repaudit.toml").read_text())
    assert raw["run"]["workdir"] == "experiments"
    assert raw["run"]["metric"]["regex"] == r"test_acc = (-?[0-9.]+(?:[eE][-+]?[0-9]+)?)"


def test_init_then_check_audits_the_commit_without_allow_dirty(
    toy_repo: ToyRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = toy_repo(files=COMMON, spec=None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPAUDIT_CACHE", str(tmp_path / "cache"))
    done = CliRunner().invoke(cli, ["init", str(repo)], standalone_mode=False)
    assert f"next: repaudit check {repo} --claim <the paper's number>" in done.output
    checked = CliRunner().invoke(
        cli,
        ["check", str(repo), "--claim", "0.8", "--seeds", "3", "--quiet"],
        standalone_mode=False,
    )
    assert checked.exception is None, checked.output
    assert checked.return_value == 0 and "THE CLAIM HOLDS" in checked.output
    (audit,) = (tmp_path / "audits").iterdir()
    assert "uncommitted repaudit.toml" in (audit / "audit.toml").read_text()
    record = (audit / "audit.json").read_text()
    assert f"--spec {audit / 'audit.toml'}" in record  # the re-run reads the stored spec


def test_check_without_a_spec_uses_a_strong_draft(
    toy_repo: ToyRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo = toy_repo(files=COMMON, spec=None)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REPAUDIT_CACHE", str(tmp_path / "cache"))
    checked = CliRunner().invoke(
        cli, ["check", str(repo), "--claim", "0.8", "--seeds", "3"], standalone_mode=False
    )
    assert checked.exception is None, checked.output
    assert checked.return_value == 0
    phase, note = checked.stderr.splitlines()[:2]  # said while the code is being pinned
    assert phase == "clone/pin …"
    assert note.startswith(f"no spec in {repo}: using the draft inferred by repaudit init")
    (audit,) = (tmp_path / "audits").iterdir()
    stored = (audit / "audit.toml").read_text()
    assert "inferred by repaudit init" in stored and "train.py --seed {seed} --out {out}" in stored


def test_check_refuses_weak_evidence_naming_what_is_missing(
    toy_repo: ToyRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unseeded = "import random\nprint('test acc {:.3f}'.format(random.random()))\n"
    repo = toy_repo(
        files={"README.md": "`python train.py`\n", "train.py": unseeded}, toy=False, spec=None
    )
    monkeypatch.chdir(tmp_path)
    checked = CliRunner().invoke(cli, ["check", str(repo), "--claim", "0.8"], standalone_mode=False)
    assert isinstance(checked.exception, SpecError)
    assert str(checked.exception) == (
        f"no audit spec in {repo}, and what `repaudit init` infers is not enough to audit it: "
        f"no seed mechanism; run `repaudit init {repo} --try` to write a draft to edit, "
        "or pass --command"
    )
