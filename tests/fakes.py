"""Stand-ins the tests share: a seed request builder and a seed runner that only sleeps."""

from __future__ import annotations

import random
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
