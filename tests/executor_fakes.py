"""What the executor tests share: seed requests, a seed runner that only sleeps, a tiny paper repository."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import git

from repaudit.model import (
    Claim,
    Environment,
    EnvironmentKind,
    MetricSource,
    RunResult,
    RunStatus,
    SeedRequest,
    Source,
)

CLAIM = Claim("acc", 0.5, source=MetricSource(json_path="{out}/metrics.json", key="test.acc"))
CURRENT = Environment(
    EnvironmentKind.CURRENT, python=Path(sys.executable), bin_dir=Path(sys.executable).parent
)
# Reports the thread count the seed ran with, so tests see what the executor handed it.
TRAIN = """\
import json, os, sys
os.makedirs(sys.argv[2], exist_ok=True)
acc = int(sys.argv[1]) / 10 + int(os.environ["OMP_NUM_THREADS"]) / 1000
json.dump({"test": {"acc": acc}}, open(os.path.join(sys.argv[2], "metrics.json"), "w"))
"""


def seed_request(
    tmp_path: Path,
    seed: int,
    *,
    sleep: float = 0.0,
    source: Source | None = None,
    command: str = "python train.py {seed} {out}",
) -> SeedRequest:
    """A request for one seed; `sleep` tells `sleeping_seed` how long the seed "trains"."""
    return SeedRequest(
        arm="method",
        seed=seed,
        command=command,
        source=source or Source("paper", "paper", tmp_path, "0" * 40),
        environment=CURRENT,
        run_dir=tmp_path / "runs" / f"seed-{seed}",
        work_dir=tmp_path / "work" / f"seed-{seed}",
        claims=(CLAIM,),
        timeout_seconds=120.0,
        env={"FAKE_SLEEP": str(sleep)},
        spec_hash="abc123",
    )


def sleeping_seed(request: SeedRequest) -> RunResult:
    """A stand-in for sandbox.run_seed: 'trains' for FAKE_SLEEP seconds, reports its thread count."""
    time.sleep(float(request.env["FAKE_SLEEP"]))
    return RunResult(
        arm=request.arm,
        seed=request.seed,
        status=RunStatus.OK,
        metrics={"seed": float(request.seed), "threads": float(request.threads)},
        spec_hash=request.spec_hash,
    )


def make_paper(tmp_path: Path) -> Source:
    """A real git repository holding TRAIN as train.py; the pinned Source of its commit."""
    folder = tmp_path / "paper"
    repo = git.Repo.init(folder)
    (folder / "train.py").write_text(TRAIN)
    repo.index.add(["train.py"])
    actor = git.Actor("test", "test@example.com")
    commit = repo.index.commit("paper", author=actor, committer=actor)
    return Source(str(folder), "paper", folder, commit.hexsha)
