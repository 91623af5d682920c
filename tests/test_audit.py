"""The pipeline module's own logic: the re-run command and the seed plan."""

from pathlib import Path

from repaudit import audit, store
from repaudit.model import (
    ArmSpec,
    AuditSpec,
    Claim,
    Environment,
    EnvironmentKind,
    MetricSource,
    Source,
)


def test_rerun_command_pins_the_commit_and_drops_credentials():
    argv = ["check", "https://user:ghp_secret@github.com/o/r", "--ref", "main", "--claim", "0.8"]
    command = audit.rerun_command(argv, "a" * 40)
    assert command == f"repaudit check https://github.com/o/r --claim 0.8 --ref {'a' * 40}"
    assert "ghp_secret" not in command


def test_plan_covers_every_arm_and_seed_and_repeats_the_first_method_seed(tmp_path):
    claim = Claim(
        "acc",
        0.8,
        source=MetricSource(json_path="{out}/m.json", key="acc"),
        baseline_source=MetricSource(regex="acc ([0-9.]+)"),
    )
    spec = AuditSpec(
        claims=(claim,),
        arms=(ArmSpec("method", "m {seed}"), ArmSpec("baseline", "b {seed}")),
        seeds=(1, 2),
        repeat_seed=3,
    )
    source = Source("x", "x", tmp_path, "c" * 40)
    env = Environment(EnvironmentKind.CURRENT, Path("/usr/bin/python3"), Path("/usr/bin"))
    paths = store.AuditPaths(tmp_path / "a")
    plan = audit.plan_seeds(spec, "hash", source, env, paths, None)
    assert [r.key for r in plan] == [
        "method/seed-1",
        "method/seed-2",
        "baseline/seed-1",
        "baseline/seed-2",
        "method/seed-1-r1",
        "method/seed-1-r2",
    ]
    assert plan[0].claims[0].source.json_path == "{out}/m.json"
    assert (
        plan[2].claims[0].source.regex == "acc ([0-9.]+)"
    )  # the baseline arm reads its own source
    assert plan[4].run_dir == paths.run_dir("method", 1, 1)
    assert {r.spec_hash for r in plan} == {"hash"}
