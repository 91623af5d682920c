"""Stand-ins the tests share: a seed request builder and a seed runner that only sleeps."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from repaudit.model import (
    Arm,
    Claim,
    Environment,
    EnvironmentKind,
    Isolation,
    MetricSource,
    RunKey,
    RunResult,
    RunStatus,
    SeedRequest,
    Source,
)

CLAIM = Claim("acc", 0.5, source=MetricSource(json_path="{out}/metrics.json", key="test.acc"))
#: Both numbers the toy paper (conftest.TOY_TRAIN) writes: its accuracy and the threads it saw.
TOY_CLAIMS = (
    CLAIM,
    Claim("threads", 0.0, source=MetricSource(json_path="{out}/metrics.json", key="threads")),
)
CURRENT = Environment(
    EnvironmentKind.CURRENT, python=Path(sys.executable), bin_dir=Path(sys.executable).parent
)


def toy_accuracy(seed: int, arm: Arm = Arm.METHOD) -> float:
    """The toy paper's score for ``seed``: the same arithmetic as its training script."""
    rng = random.Random(seed * 1000 + (arm is Arm.BASELINE))
    return (0.80 if arm is Arm.METHOD else 0.79) + rng.gauss(0, 0.004)


def seed_request(
    tmp_path: Path,
    seed: int = 1,
    *,
    source: Source | None = None,
    command: str = "python train.py --seed {seed} --out {out}",
    isolation: Isolation = Isolation.NONE,
    sleep: float = 0.0,
    arm: Arm = Arm.METHOD,
    **fields: object,
) -> SeedRequest:
    """A request for one seed in ``tmp_path``/audit; `sleep` tells `sleeping_seed` how long it
    "trains"; ``fields`` override the rest (claims, timeout_seconds, env, ...)."""
    key = RunKey(arm, seed)
    defaults: dict[str, object] = {
        "claims": (CLAIM,),
        "timeout_seconds": 60.0,
        "environment": CURRENT,
        "env": {"FAKE_SLEEP": str(sleep)},
    }
    return SeedRequest(
        key=key,
        command=command,
        source=source or Source("paper", "paper", tmp_path, "0" * 40),
        isolation=isolation,
        run_dir=tmp_path / "audit" / "runs" / str(key),
        work_dir=tmp_path / "audit" / "work" / str(key),
        spec_hash="abc123",
        **{**defaults, **fields},  # type: ignore[arg-type]
    )


def sleeping_seed(request: SeedRequest) -> RunResult:
    """A stand-in for run.run_seed: 'trains' for FAKE_SLEEP seconds, reports its thread count."""
    time.sleep(float(request.env["FAKE_SLEEP"]))
    return RunResult.for_request(
        request,
        RunStatus.OK,
        metrics={"seed": float(request.key.seed), "threads": float(request.threads)},
    )


def repaudit(
    *args: str, cwd: Path, check_rc: int | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m repaudit ARGS` in ``cwd`` with its own cache; ``check_rc`` asserts the exit code."""
    env = {**os.environ, "REPAUDIT_CACHE": str(cwd / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "repaudit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check_rc is not None:
        assert done.returncode == check_rc, done.stdout + done.stderr
    return done


def audit_json(cwd: Path) -> dict:
    """The one audit.json under ``cwd``/audits."""
    (record,) = (cwd / "audits").glob("*/audit.json")
    return json.loads(record.read_text())
