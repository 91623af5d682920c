"""A toy paper repository for end-to-end tests: a real git repository with a tiny training script.

`behaviour.json` in the repository makes chosen seeds crash, sleep, print NaN or write no metric,
so one script serves every failure the tests need.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import git

TRAIN = textwrap.dedent(
    """
    import argparse, json, os, random, time
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="method")
    args = parser.parse_args()
    behaviour = json.load(open("behaviour.json"))
    seed = str(args.seed)
    if seed in behaviour.get("crash", []):
        raise SystemExit("CUDA error: out of memory (simulated crash)")
    if seed in behaviour.get("sleep", {}):
        time.sleep(behaviour["sleep"][seed])
    rng = random.Random(args.seed * 1000 + (args.model == "baseline"))
    acc = (0.80 if args.model == "method" else 0.79) + rng.gauss(0, 0.004)
    if seed in behaviour.get("nan", []):
        acc = float("nan")
    print(f"epoch 1 test acc: {acc:.6f}")
    if seed not in behaviour.get("no_metric", []):
        os.makedirs(args.out, exist_ok=True)
        json.dump({"test": {"acc": acc}}, open(os.path.join(args.out, "metrics.json"), "w"))
    """
)

SPEC = textwrap.dedent(
    """
    [claim]
    metric = "test_accuracy"
    direction = "higher"
    value = 0.801
    baseline = 0.79

    [run]
    command = "python train.py --seed {seed} --out {out}"
    timeout = "20s"
    environment = "current"
    seeds = 4

    [run.metric]
    json = "{out}/metrics.json"
    key = "test.acc"

    [baseline]
    command = "python train.py --model baseline --seed {seed} --out {out}"
    """
)


def make_repo(
    path: Path,
    behaviour: dict | None = None,
    spec: str = SPEC,
    files: dict[str, str] | None = None,
    date: str | None = None,
) -> Path:
    """Commit the toy paper (plus `files`, name -> text) into a new git repository at `path`,
    dated ``date`` (author and committer; git's "2019-06-01T12:00:00+0000") when given."""
    path.mkdir(parents=True)
    repo = git.Repo.init(path)
    contents = {
        "train.py": TRAIN,
        "repaudit.toml": spec,
        "behaviour.json": json.dumps(behaviour or {}),
    }
    contents.update(files or {})
    for name, text in contents.items():
        (path / name).write_text(text, encoding="utf-8")
    repo.index.add(list(contents))
    repo.index.commit("paper code", author_date=date, commit_date=date)
    return path
