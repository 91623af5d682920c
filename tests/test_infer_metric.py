"""`repaudit init`'s metric rules that read beyond the script's prints, each on a small synthetic
repository: a JSON key the README reads back from the runs' output files, the tags a
LightningModule logs, and the metric the authors monitor when the logged name is built at run time
(from the Hydra configs the command composes, or a ``ModelCheckpoint``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ToyRepo

from repaudit.model import Direction
from repaudit.spec import infer_spec, observed
from repaudit.spec.infer_metric import Metric

JSON_TRAIN = """
import argparse, json
from pathlib import Path
p = argparse.ArgumentParser()
p.add_argument("--seed", type=int, default=0)
p.add_argument("--output")
args = p.parse_args()
stats = {"config": vars(args)}
for epoch in range(3):
    loss = 1.0 / (epoch + 1)
    loss.backward()
    print(f"[train] loss = {loss:.3f}")
stats["metrics"] = {"test": {"score": -0.5}}
json.dump(stats, open(Path(args.output) / "stats.json", "w"))
"""
JSON_README = """
# Paper

```
python train.py --seed 0 --output out/0
```

The table comes from the runs:

```python
df = pd.json_normalize([json.loads(x.read_text()) for x in Path("out").glob("*/stats.json")])
print(df["{key}"].mean())
```
"""


def draft_of(toy_repo: ToyRepo, files: dict[str, str]) -> Path:
    return toy_repo(files=files, toy=False, spec=None)


def metric_of(toy_repo: ToyRepo, files: dict[str, str]) -> Metric:
    metric = infer_spec(draft_of(toy_repo, files)).metric
    assert metric is not None
    return metric


def source(metric: Metric) -> tuple[object, ...]:
    return (
        metric.name,
        metric.direction,
        metric.where,
        metric.regex,
        metric.json,
        metric.key,
        metric.tensorboard,
    )


# ---------------------------------------------------------------- a JSON key the README reads back


@pytest.mark.parametrize("key", ["metrics.test.score", "metrics']['test']['score"])
def test_a_json_key_the_readme_reads_back_beats_the_printed_loss(
    toy_repo: ToyRepo, key: str
) -> None:
    readme = JSON_README.replace('"{key}"', f"'{key}'")
    metric = metric_of(toy_repo, {"train.py": JSON_TRAIN, "README.md": readme})
    assert source(metric) == (
        "test_score",
        Direction.HIGHER,
        "README.md:12",
        None,
        "{out}/stats.json",
        "metrics.test.score",
        None,
    )


@pytest.mark.parametrize(
    ("readme_key", "script_change"),
    [
        ("results.test.score", ("", "")),  # the run never writes a "results" key
        ("metrics.test.score", ("stats.json", "stats.txt")),  # the run writes no stats.json
        ("metrics.config.seed", ("", "")),  # not a metric
    ],
)
def test_a_readme_key_the_run_does_not_write_is_not_proposed(
    toy_repo: ToyRepo, readme_key: str, script_change: tuple[str, str]
) -> None:
    readme = JSON_README.replace("{key}", readme_key)
    script = JSON_TRAIN.replace(*script_change) if script_change[0] else JSON_TRAIN
    metric = metric_of(toy_repo, {"train.py": script, "README.md": readme})
    assert (metric.name, metric.json, metric.regex) == (
        "train_loss",
        None,
        r"\[train\] loss = (-?[0-9.]+(?:[eE][-+]?[0-9]+)?)",
    )


# ---------------------------------------------------------------- Lightning


LIGHTNING = """
import argparse
import pytorch_lightning as pl

class Model(pl.LightningModule):
    def training_step(self, batch, i):
        loss = self(batch)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, i):
        self.log("val_acc", self.acc(batch))

    def test_step(self, batch, i):
        self.log_dict({"test_loss": self(batch), "test_acc": self.acc(batch)})

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int)
    args = p.parse_args()
    pl.Trainer().fit(Model())
"""


def test_a_lightning_module_logs_tensorboard_tags(toy_repo: ToyRepo) -> None:
    draft = infer_spec(draft_of(toy_repo, {"train.py": LIGHTNING}))
    assert [(m.tensorboard, m.direction, m.where) for m in draft.metrics] == [
        ("test_loss", Direction.LOWER, "train.py:15"),
        ("test_acc", Direction.HIGHER, "train.py:15"),
        ("val_acc", Direction.HIGHER, "train.py:12"),
        ("train_loss", Direction.LOWER, "train.py:8"),
    ]


def test_self_log_outside_lightning_is_not_a_tag(toy_repo: ToyRepo) -> None:
    script = LIGHTNING.replace("import pytorch_lightning as pl", "import agents as pl")
    assert infer_spec(draft_of(toy_repo, {"train.py": script})).metrics == ()


RUNTIME_NAMES = """
import hydra
import pytorch_lightning as pl

class Model(pl.LightningModule):
    def _shared_step(self, batch, prefix):
        metrics = {f"{prefix}/{k}": v for k, v in self.metrics(batch).items()}
        self.log_dict(metrics)

    def validation_step(self, batch, i):
        self._shared_step(batch, "val")

    def test_step(self, batch, i):
        self._shared_step(batch, "test")

@hydra.main(config_path="configs", config_name="config")
def main(config):
    pl.seed_everything(config.train.seed)
    pl.Trainer().fit(Model())

if __name__ == "__main__":
    main()
"""
HYDRA_CONFIGS = {
    "configs/config.yaml": """
        defaults:
          - _self_
          - experiment: base
          - callbacks:  # a list-valued group
            - checkpoint
        train:
          seed: 0
          monitor: ???  # set by the pipeline
    """,
    "configs/callbacks/checkpoint.yaml": """
        model_checkpoint:
          monitor: ${train.monitor}
          mode: ${train.mode}
    """,
    "configs/experiment/base.yaml": """
        # @package _global_
        defaults:
          - /pipeline: classify
    """,
    "configs/experiment/regress.yaml": """
        # @package _global_
        defaults:
          - /pipeline: regress
    """,
    "configs/pipeline/classify.yaml": """
        # @package _global_
        defaults:
          - shared  # the same folder
    """,
    "configs/pipeline/shared.yaml": """
        # @package _global_
        train:
          monitor: val/accuracy  # checkpoints
          mode: max
        optimizer:
          mode: min
    """,
    "configs/pipeline/regress.yaml": """
        # @package _global_
        train:
          mode: min
          monitor: val/mse
    """,
}


@pytest.mark.parametrize(
    ("command", "tag", "direction", "where"),
    [
        (
            "python -m train",
            "test/accuracy",
            Direction.HIGHER,
            "configs/pipeline/shared.yaml:4",
        ),
        (
            "python -m train experiment=regress",
            "test/mse",
            Direction.LOWER,
            "configs/pipeline/regress.yaml:5",
        ),
    ],
)
def test_the_monitored_metric_names_a_tag_built_at_run_time(
    toy_repo: ToyRepo, command: str, tag: str, direction: Direction, where: str
) -> None:
    files = {
        "train.py": RUNTIME_NAMES,
        **HYDRA_CONFIGS,
        "README.md": f"```\n{command}\n```\n",
    }
    metric = metric_of(toy_repo, files)
    assert source(metric) == (tag.replace("/", "_"), direction, where, None, None, None, tag)
    assert metric.shown == f"{tag} (monitored: {where}; logged at train.py:7)"


def test_the_monitored_tag_stays_on_validation_without_a_test_step(toy_repo: ToyRepo) -> None:
    script = RUNTIME_NAMES.replace("def test_step", "def predict_step")
    files = {"train.py": script, **HYDRA_CONFIGS, "README.md": "```\npython -m train\n```\n"}
    assert metric_of(toy_repo, files).tensorboard == "val/accuracy"


def test_a_model_checkpoint_monitor_without_hydra(toy_repo: ToyRepo) -> None:
    script = (
        RUNTIME_NAMES.replace('@hydra.main(config_path="configs", config_name="config")\n', "")
        .replace("import hydra\n", "import argparse\n")
        .replace(
            "    pl.Trainer().fit(Model())",
            '    p = argparse.ArgumentParser(); p.add_argument("--seed")\n'
            '    check = pl.callbacks.ModelCheckpoint(monitor="val/err", mode="min")\n'
            "    pl.Trainer(callbacks=[check]).fit(Model())",
        )
    )
    metric = metric_of(toy_repo, {"train.py": script})
    assert source(metric) == (
        "test_err",
        Direction.LOWER,
        "train.py:19",
        None,
        None,
        None,
        "test/err",
    )


def test_a_monitored_name_no_logged_template_makes_is_not_proposed(toy_repo: ToyRepo) -> None:
    script = RUNTIME_NAMES.replace('f"{prefix}/{k}"', 'f"{prefix}_{k}"')
    files = {"train.py": script, **HYDRA_CONFIGS, "README.md": "```\npython -m train\n```\n"}
    assert infer_spec(draft_of(toy_repo, files)).metrics == ()


def test_a_trial_that_wrote_the_json_keeps_it_first(toy_repo: ToyRepo) -> None:
    readme = JSON_README.replace("{key}", "metrics.test.score")
    draft = infer_spec(draft_of(toy_repo, {"train.py": JSON_TRAIN, "README.md": readme}))
    output = "[train] loss = 1.000\n[train] loss = 0.500\n"
    tried = observed(draft, output, "seed 1, ran to the end", written=-0.5)
    assert [(m.json, m.regex, m.observed) for m in tried.metrics] == [
        ("{out}/stats.json", None, "the run wrote -0.5 to {out}/stats.json"),
        (None, r"\[train\] loss = (-?[0-9.]+(?:[eE][-+]?[0-9]+)?)", "2 lines, the last 0.500"),
    ]
    # a trial that wrote nothing readable: what it printed, as before
    fallback = observed(draft, output, "timeout").metric
    assert fallback is not None and fallback.regex is not None and fallback.json is None
