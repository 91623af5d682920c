"""spec.py: finding the spec, flags over fields, one-line errors, the hash, the TOML round trip."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repaudit.errors import SpecError
from repaudit.model import Arm, ClaimKind, Direction, EnvironmentKind, MetricSource, Reduce
from repaudit.spec import (
    SpecOverrides,
    load_spec,
    parse_duration,
    parse_size,
    spec_hash,
    spec_to_toml,
)

FULL = """
[claim]
metric = "test_accuracy"
direction = "higher"
value = 0.812
kind = "single"
runs = 1
baseline = 0.805

[run]
setup = "pip install -r requirements.txt"
prepare = "python download_data.py"
command = "python train.py --seed {seed} --out {out}"
timeout = "1h30m"
environment = "venv"
python = "3.8"
resolve_as_of = "2019-06-01"
seeds = [3, 1, 4]
memory = "8G"
deterministic = true
repeat_seed = 3
gpus_per_seed = 1

[run.metric]
json = "{out}/metrics.json"
key = "test.acc"

[run.env]
DATA_DIR = "data"

[baseline]
command = "python train.py --model baseline --seed {seed} --out {out}"

[stats]
alpha = 0.01
seed = 7

[slurm]
partition = "gpu"
gpus_per_node = 1
mem_gb = 16
additional = { qos = "normal" }
"""

MINIMAL = """
[claim]
value = 0.8

[run]
command = "python train.py --seed {seed}"

[run.metric]
regex = 'test acc: ([0-9.]+)'
"""


def write(folder: Path, text: str, name: str = "repaudit.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))
    return folder


def spec_error(folder: Path | None, text: str | None = None, **overrides: object) -> str:
    if text is not None and folder is not None:
        write(folder, text)
    with pytest.raises(SpecError) as caught:
        load_spec(folder, overrides=SpecOverrides(**overrides))  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message  # every error is one line
    return message


def test_full_spec_loads_every_key(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, FULL))
    claim = spec.claim
    assert (claim.metric, claim.value, claim.baseline, claim.direction, claim.kind) == (
        "test_accuracy", 0.812, 0.805, Direction.HIGHER, ClaimKind.SINGLE,
    )  # fmt: skip
    assert claim.source == MetricSource(json_path="{out}/metrics.json", key="test.acc")
    assert [a.name for a in spec.arms] == ["method", "baseline"]
    assert spec.seeds == (3, 1, 4)
    assert spec.timeout_seconds == 5400 and spec.memory_bytes == 8 * 1024**3
    assert spec.environment is EnvironmentKind.VENV and spec.deterministic
    assert (spec.python, spec.resolve_as_of) == ("3.8", "2019-06-01")
    assert (spec.repeat_seed, spec.gpus_per_seed, spec.alpha, spec.stats_seed) == (3, 1, 0.01, 7)
    assert spec.env == {"DATA_DIR": "data"}
    assert spec.setup and spec.prepare and spec.origin == "repaudit.toml"
    assert spec.slurm is not None and spec.slurm.partition == "gpu" and spec.slurm.mem_gb == 16
    assert spec.slurm.additional == {"qos": "normal"}


def test_defaults(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, MINIMAL))
    assert spec.seeds == (1, 2, 3, 4, 5) and spec.timeout_seconds == 1800
    assert spec.claim.metric == "metric" and spec.claim.direction is Direction.HIGHER
    assert spec.environment is EnvironmentKind.CURRENT and spec.slurm is None
    assert spec.arm(Arm.BASELINE) is None and spec.alpha == 0.05


def test_where_the_spec_is_found(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write(repo, "[tool.repaudit]\n" + MINIMAL.replace("[claim]", "[tool.repaudit.claim]")
          .replace("[run]", "[tool.repaudit.run]").replace("[run.metric]", "[tool.repaudit.run.metric]"),
          name="pyproject.toml")  # fmt: skip
    assert load_spec(repo).origin == "pyproject.toml"
    write(repo, MINIMAL.replace("0.8", "0.7"))
    assert load_spec(repo).claim.value == 0.7 and load_spec(repo).origin == "repaudit.toml"
    other = write(tmp_path / "elsewhere", MINIMAL.replace("0.8", "0.6"), name="audit.toml")
    explicit = load_spec(repo, spec_path=other / "audit.toml")
    assert explicit.claim.value == 0.6 and explicit.origin == str(other / "audit.toml")


def test_registry_entry_for_a_repository_without_a_spec(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    write(registry / "owner", MINIMAL, name="paper.toml")
    spec = load_spec(tmp_path / "bare", registry_dir=registry, registry_key="owner/paper")
    assert spec.origin == "registry:owner/paper" and spec.claim.value == 0.8
    with pytest.raises(SpecError, match="no audit spec in"):
        load_spec(tmp_path / "bare", registry_dir=registry, registry_key="owner/other")


def test_no_spec_and_no_command(tmp_path: Path) -> None:
    message = spec_error(tmp_path)
    assert message == (
        f"no audit spec in {tmp_path}: add repaudit.toml (`repaudit init {tmp_path}` writes one) "
        "or pass --command"
    )


def test_flags_only(tmp_path: Path) -> None:
    spec = load_spec(tmp_path, overrides=SpecOverrides(
        command="python t.py --seed {seed}", metric_regex="acc ([0-9.]+)", claim=0.9, seeds=3,
        metric_name="acc", direction="lower", baseline_command="python b.py --seed {seed}",
    ))  # fmt: skip
    assert spec.origin == "flags" and spec.seeds == (1, 2, 3)
    assert (spec.claim.metric, spec.claim.value, spec.claim.direction) == (
        "acc",
        0.9,
        Direction.LOWER,
    )
    assert spec.arm(Arm.BASELINE) is not None
    assert "--claim" in spec_error(
        tmp_path, command="python t.py --seed {seed}", metric_regex="a (.)"
    )


def test_flags_override_fields(tmp_path: Path) -> None:
    folder = write(tmp_path, FULL)
    spec = load_spec(folder, overrides=SpecOverrides(
        claim=0.9, baseline_claim=0.7, seeds=2, timeout="45s", memory="512M", alpha=0.05,
        environment="current", seed_override=True, deterministic=False, repeat_seed=2,
        gpus_per_seed=0, claim_kind="mean", claim_runs=5,
    ))  # fmt: skip
    assert (spec.claim.value, spec.claim.baseline, spec.seeds) == (0.9, 0.7, (1, 2))
    assert (spec.timeout_seconds, spec.memory_bytes, spec.alpha) == (45, 512 * 1024**2, 0.05)
    assert spec.environment is EnvironmentKind.CURRENT and spec.seed_override
    assert spec.python is None and spec.resolve_as_of is None  # the venv's keys, dropped with it
    assert not spec.deterministic and spec.repeat_seed == 2 and spec.gpus_per_seed == 0
    assert spec.claim.kind is ClaimKind.MEAN and spec.claim.runs == 5


def test_metric_flags_replace_the_whole_source(tmp_path: Path) -> None:
    folder = write(tmp_path, FULL)
    by_regex = load_spec(folder, overrides=SpecOverrides(metric_regex="acc: ([0-9.]+)"))
    assert by_regex.claim.source == MetricSource(regex="acc: ([0-9.]+)")
    by_key = load_spec(folder, overrides=SpecOverrides(metric_key="val.acc"))
    assert by_key.claim.source == MetricSource(json_path="{out}/metrics.json", key="val.acc")
    by_json = load_spec(write(tmp_path / "r", MINIMAL),
                        overrides=SpecOverrides(metric_json="m.json", metric_key="acc"))  # fmt: skip
    assert by_json.claim.source == MetricSource(json_path="m.json", key="acc")


def test_several_claims_and_baseline_metric_sources(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, """
        [[claims]]
        metric = "acc"
        value = 0.8
        baseline = 0.78

        [[claims]]
        metric = "f1"
        value = 0.7
        json = "{out}/f1.json"
        key = "f1"
        baseline_metric = { json = "{out}/base-f1.json", key = "f1" }

        [run]
        command = "python train.py --seed {seed} --out {out}"
        [run.metric]
        json = "{out}/metrics.json"
        key = "acc"

        [baseline]
        command = "python train.py --baseline --seed {seed} --out {out}"
        [baseline.metric]
        regex = 'acc=([0-9.]+)'
    """))  # fmt: skip
    acc, f1 = spec.claims
    assert acc.source == MetricSource(json_path="{out}/metrics.json", key="acc")
    assert acc.baseline_source == MetricSource(regex="acc=([0-9.]+)")
    assert f1.source == MetricSource(json_path="{out}/f1.json", key="f1")
    assert f1.baseline_source == MetricSource(json_path="{out}/base-f1.json", key="f1")
    # --claim sets the first claim only.
    flagged = load_spec(tmp_path, overrides=SpecOverrides(claim=0.85))
    assert [c.value for c in flagged.claims] == [0.85, 0.7]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL.replace("command", "comand"), "repaudit.toml: unknown key [run] comand: did you mean 'command'?"),
        (MINIMAL + "\n[stats]\nalfa = 0.1\n", "unknown key [stats] alfa: did you mean 'alpha'?"),
        (MINIMAL.replace("[claim]", "[claims]"), "claims must be an array of tables ([[claims]])"),
        (MINIMAL.replace("value = 0.8", 'value = "0.8"'), "[claim] value must be a number, not '0.8'"),
        (MINIMAL + "\n[stats]\nalpha = 0.7\n", "[stats] alpha = 0.7 is outside (0, 0.5)"),
        (MINIMAL.replace("value = 0.8", "value = 0.8\ndirection = 'up'"),
         "[claim] direction = 'up' is not allowed: use \"higher\" or \"lower\""),
        (MINIMAL.replace("value = 0.8", "value = 0.8\nkind = 'mean'"),
         "[claim] runs = 1 with kind = \"mean\""),
        (MINIMAL.replace("value = 0.8", "value = 0.8\nruns = 5"),
         "[claim] runs = 5 with kind = \"single\": set kind = \"mean\""),
        (MINIMAL.replace("value = 0.8\n", ""), "repaudit.toml: [claim] value is missing: add value = <the paper's number> (or pass --claim)"),
        (MINIMAL.replace(" {seed}", ""), "[run] command has no {seed}"),
        (MINIMAL.replace("{seed}", "{seed} --out {output}"), "[run] command has an unknown placeholder {output}"),
        (MINIMAL.replace("{seed}", "{seed} ${HOME}"), "unknown placeholder {HOME}"),
        (MINIMAL.replace("{seed}", "{seed} }"), "has an unmatched brace: write {{ and }}"),
        (MINIMAL.replace("([0-9.]+)", "([0-9]+)\\\\.([0-9]+)"), "repaudit.toml [run.metric]: regex"),
        (MINIMAL.replace("regex", "json"), "json needs a key"),
        (MINIMAL + '\n[run.env]\nN = 3\n', '[run.env] N = 3 is not a string: quote it: N = "3"'),
        (MINIMAL.replace("[run]", "[run]\ntimeout = 'soon'"), "[run] timeout 'soon' is not a positive duration"),
        (MINIMAL.replace("[run]", "[run]\nmemory = 'lots'"), "[run] memory 'lots' is not a memory size"),
        (MINIMAL.replace("[run]", "[run]\nseeds = 0"), "[run] seeds = 0"),
        (MINIMAL.replace("[run]", "[run]\nseeds = [1, 1]"), "list distinct"),
        (MINIMAL.replace("[run]", "[run]\nseeds = 1000000000"), "[run] seeds = 1000000000: give 1 to 1000"),
        (MINIMAL.replace("[run]", "[run]\nrepeat_seed = 1000000000"), "repeat_seed = 1000000000: use 0 (off) or 2 to 1000"),
        (MINIMAL.replace("[run]", "[run]\nrepeat_seed = 1"), "[run] repeat_seed = 1: use 0 (off) or 2 to 1000"),
        (MINIMAL.replace("[run]", "[run]\nseeds = true"), "seeds must be an integer or a list of integers"),
        (MINIMAL + "\n[baseline]\nmetric = { regex = 'x(.)' }\n", "[baseline] command is missing"),
        (MINIMAL + "\n[slurm]\ncpus_per_task = 0\n", "[slurm] cpus_per_task = 0"),
        (MINIMAL + "\n[claim", "not valid TOML"),
        (FULL.replace('"3.8"', '"three"'), '[run] python = \'three\' is not allowed: write e.g. "3.8" or "3.8.18"'),
        (FULL.replace("2019-06-01", "2019-02-30"), "[run] resolve_as_of = '2019-02-30' is not allowed: write e.g. \"commit\", \"today\" or"),
        (FULL.replace("2019-06-01", "yesterday"), "[run] resolve_as_of = 'yesterday' is not allowed"),
        (MINIMAL.replace("[run]", "[run]\npython = '3.8'"), '[run] python applies to a venv only: add environment = "venv"'),
        (MINIMAL + "reduce = 'avg'\n", "[run.metric] reduce = 'avg' is not allowed: use \"last\" or \"first\""),
        (MINIMAL + "last_n = 20\n", 'last_n = 20 with reduce = "last" picks the last value anyway'),
        (MINIMAL + "tensorboard = 'a/b'\n", "(it has regex and tensorboard)"),
        (MINIMAL.replace("[run]", "[run]\nworkdir = '../elsewhere'"), "[run] workdir = '../elsewhere' is not a folder inside the repository"),
        (MINIMAL.replace("[run]", "[run]\nworkdir = '/abs'"), "is not a folder inside the repository"),
        (MINIMAL.replace("[run]", "[run]\naccept_exit = []"), "[run] accept_exit = []: list the distinct exit codes"),
        (MINIMAL.replace("[run]", "[run]\naccept_exit = [0, 256]"), "(0 to 255)"),
        (MINIMAL.replace("[run]", "[run]\naccept_exit = 1"), "accept_exit must be a list of integers"),
        (MINIMAL.replace("[run]", "[run]\nmetric_after_failure = 'yes'"), "metric_after_failure must be true or false"),
        (MINIMAL + "\n[source]\ncommit = 'main'\n", "[source] commit = 'main' is not a full commit SHA"),
        (MINIMAL + "\n[source]\nref = 'v1'\n", "unknown key [source] ref"),
    ],
)  # fmt: skip
def test_bad_specs_name_the_key_and_the_fix(tmp_path: Path, text: str, expected: str) -> None:
    message = spec_error(tmp_path, text)
    assert expected in message
    assert ": " in message  # "<where>: <problem>: <fix>"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"alpha": 0.6}, "--alpha 0.6 is outside (0, 0.5)"),
        ({"timeout": "forever"}, "--timeout 'forever' is not a positive duration"),
        ({"memory": "big"}, "--memory 'big' is not a memory size"),
        ({"command": "python t.py"}, "--command has no {seed}"),
        (
            {"baseline_command": "python b.py {sed}"},
            "--baseline-command has an unknown placeholder {sed}",
        ),
        ({"metric_regex": "no group"}, "--metric-regex: regex 'no group' has 0 capturing groups"),
        ({"claim_kind": "mean"}, "--claim-runs"),
        (
            {"python": "3.8"},
            '--python applies to a venv only: add environment = "venv" (--environment venv)',
        ),
        ({"resolve_as_of": "2019", "environment": "venv"}, "--resolve-as-of '2019' is not allowed"),
        ({"claim_runs": 5}, '--claim-runs 5 with kind = "single"'),
    ],
)
def test_bad_flags_name_the_flag(
    tmp_path: Path, overrides: dict[str, object], expected: str
) -> None:
    assert expected in spec_error(write(tmp_path, MINIMAL), **overrides)


def test_a_command_without_seed_is_allowed_when_the_seed_arrives_another_way(
    tmp_path: Path,
) -> None:
    no_seed = MINIMAL.replace(" --seed {seed}", "")
    assert load_spec(write(tmp_path / "a", no_seed.replace("[run]", "[run]\nseed_from_env = true")))
    assert load_spec(write(tmp_path / "b", no_seed.replace("[run]", "[run]\nseed_override = true")))
    assert load_spec(write(tmp_path / "c", no_seed), overrides=SpecOverrides(seed_override=True))


def test_spec_hash_covers_only_what_changes_a_seed_run(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, FULL))
    same = [
        SpecOverrides(seeds=20), SpecOverrides(claim=0.5, baseline_claim=0.4), SpecOverrides(alpha=0.1),
        SpecOverrides(timeout="5h"), SpecOverrides(memory="1G"), SpecOverrides(repeat_seed=5),
        SpecOverrides(claim_kind="mean", claim_runs=3), SpecOverrides(direction="lower"),
    ]  # fmt: skip
    for overrides in same:
        assert spec_hash(load_spec(tmp_path, overrides=overrides)) == spec_hash(spec), overrides
    different = [
        SpecOverrides(command="python train.py --lr 0.1 --seed {seed} --out {out}"),
        SpecOverrides(metric_key="val.acc"), SpecOverrides(environment="current"),
        SpecOverrides(seed_override=True), SpecOverrides(deterministic=False),
        SpecOverrides(gpus_per_seed=2), SpecOverrides(baseline_command="python b.py --seed {seed}"),
        SpecOverrides(python="3.9"), SpecOverrides(resolve_as_of="today"),
    ]  # fmt: skip
    hashes = {spec_hash(load_spec(tmp_path, overrides=o)) for o in different}
    assert spec_hash(spec) not in hashes and len(hashes) == len(different)
    assert spec_hash(dataclasses.replace(spec, env={"DATA_DIR": "other"})) != spec_hash(spec)
    assert len(spec_hash(spec)) >= 8 and int(spec_hash(spec), 16) >= 0


def test_spec_hash_of_a_spec_without_the_era_keys_is_what_it_was_before_them(
    tmp_path: Path,
) -> None:
    """Audits stored before [run] python and resolve_as_of existed keep their finished seeds."""
    assert (
        spec_hash(load_spec(write(tmp_path, MINIMAL))) == "80ebfd786a3b4ec6"
    )  # as computed by repaudit before them


def test_spec_hash_is_stable_across_processes(tmp_path: Path) -> None:
    write(tmp_path, FULL)
    code = f"from pathlib import Path; from repaudit.spec import load_spec, spec_hash; print(spec_hash(load_spec(Path({str(tmp_path)!r}))))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(k), "PYTHONPATH": str(Path(__file__).parents[1])},
        ).stdout.strip()  # fmt: skip
        for k in (1, 2)
    }
    assert outputs == {spec_hash(load_spec(tmp_path))}


def test_spec_to_toml_round_trips(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, FULL))
    (tmp_path / "audit.toml").write_text(spec_to_toml(spec))
    again = load_spec(None, spec_path=tmp_path / "audit.toml")
    assert dataclasses.replace(again, origin=spec.origin) == spec


AUTO = MINIMAL.replace("[run]", '[run]\nseeds = "auto"')


@pytest.mark.parametrize(
    ("text", "overrides", "looks"),
    [
        (AUTO, {}, (3, 5, 8, 12, 20)),
        (AUTO.replace('"auto"', '"auto"\nmax_seeds = 30'), {}, (3, 5, 8, 12, 20, 30)),
        (AUTO.replace('"auto"', '"auto"\nmax_seeds = 10'), {}, (3, 5, 8, 10)),
        (AUTO.replace('"auto"', '"auto"\nlooks = [4, 9]'), {}, (4, 9)),
        (MINIMAL, {"seeds": "auto", "max_seeds": 8}, (3, 5, 8)),
        (MINIMAL, {"seeds": "auto", "looks": (4, 6, 12)}, (4, 6, 12)),
        (AUTO.replace('"auto"', '"auto"\nmax_seeds = 30'), {"looks": (5, 10)}, (5, 10, 30)),
    ],
)
def test_seeds_auto_runs_seeds_one_to_the_maximum_in_looks(
    tmp_path: Path, text: str, overrides: dict[str, object], looks: tuple[int, ...]
) -> None:
    spec = load_spec(write(tmp_path, text), overrides=SpecOverrides(**overrides))  # type: ignore[arg-type]
    assert spec.looks == looks
    assert spec.seeds == tuple(range(1, looks[-1] + 1))  # the first n seeds, as fixed-N runs them


def test_a_seed_count_flag_overrides_seeds_auto(tmp_path: Path) -> None:
    """`--seeds 20` after an adaptive audit: the spec's max_seeds and looks lapse."""
    write(tmp_path, AUTO.replace('"auto"', '"auto"\nmax_seeds = 30\nlooks = [4, 8]'))
    spec = load_spec(tmp_path, overrides=SpecOverrides(seeds=20))
    assert (spec.seeds, spec.looks) == (tuple(range(1, 21)), ())
    assert spec_hash(spec) == spec_hash(load_spec(tmp_path))  # the same folder, the same runs


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        (MINIMAL.replace("[run]", '[run]\nseeds = "many"'), {},
         'repaudit.toml: [run] seeds must be an integer or a list of integers or "auto"'),
        (MINIMAL.replace("[run]", "[run]\nmax_seeds = 9"), {},
         '[run] max_seeds applies to seeds = "auto" only: set seeds = "auto" (--seeds auto)'),
        (MINIMAL.replace("[run]", "[run]\nlooks = [3, 5]"), {}, "[run] looks applies to seeds"),
        (AUTO.replace('"auto"', '"auto"\nlooks = [2, 5]'), {},
         "[run] looks = [2, 5]: list increasing seeds per arm from 3 to 1000"),
        (AUTO.replace('"auto"', '"auto"\nlooks = [5, 5]'), {}, "[run] looks = [5, 5]"),
        (AUTO.replace('"auto"', '"auto"\nmax_seeds = 2'), {}, "[run] max_seeds = 2: use 3 to 1000"),
        (AUTO.replace('"auto"', '"auto"\nmax_seeds = 1001'), {}, "[run] max_seeds = 1001: use 3 to"),
        (AUTO.replace('"auto"', '"auto"\nlooks = [3, 2000]'), {}, "[run] looks = [3, 2000]: list"),
        (AUTO, {"looks": (8, 4)}, "--looks [8, 4]: list increasing seeds per arm"),
        (MINIMAL, {"max_seeds": 9}, '--max-seeds applies to seeds = "auto" only'),
    ],
)  # fmt: skip
def test_bad_adaptive_seeds_name_the_key_and_the_fix(
    tmp_path: Path, text: str, overrides: dict[str, object], expected: str
) -> None:
    assert expected in spec_error(write(tmp_path, text), **overrides)


def test_seeds_auto_round_trips_through_the_written_spec(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, AUTO.replace('"auto"', '"auto"\nmax_seeds = 10')))
    text = spec_to_toml(spec)
    assert 'seeds = "auto"' in text and "max_seeds = 10" in text and "looks = [3, 5, 8, 10]" in text
    (tmp_path / "audit.toml").write_text(text)
    again = load_spec(None, spec_path=tmp_path / "audit.toml")
    assert dataclasses.replace(again, origin=spec.origin) == spec


@settings(max_examples=60, deadline=None)
@given(
    command=st.text(
        st.characters(blacklist_characters="{}", blacklist_categories=["Cs"]), max_size=40
    ),
    env_value=st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)
    | st.just('\x7f\x00\\"'),
    value=st.floats(allow_nan=False, allow_infinity=False),
    seeds=st.lists(st.integers(0, 10**6), min_size=1, max_size=6, unique=True),
)
def test_spec_to_toml_round_trips_any_text(
    tmp_path_factory: pytest.TempPathFactory,
    command: str,
    env_value: str,
    value: float,
    seeds: list[int],
) -> None:
    folder = tmp_path_factory.mktemp("spec")
    spec = dataclasses.replace(
        load_spec(write(folder, MINIMAL)),
        arms=(dataclasses.replace(load_spec(folder).arms[0], command=command + " {seed}"),),
        env={'ODD KEY "x"': env_value},
        seeds=tuple(seeds),
    )
    spec = dataclasses.replace(spec, claims=(dataclasses.replace(spec.claim, value=value),))
    (folder / "audit.toml").write_text(spec_to_toml(spec), encoding="utf-8")
    again = load_spec(None, spec_path=folder / "audit.toml")
    assert dataclasses.replace(again, origin=spec.origin) == spec


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("1h30m", 5400),
        ("45s", 45),
        ("90", 90),
        (90, 90),
        ("1.5h", 5400),
        ("2h", 7200),
        ("30d", 30 * 86400),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "size"), [("8G", 8 * 1024**3), ("512M", 512 * 1024**2), ("1.5GiB", 3 * 1024**3 // 2),
                       ("64k", 65536), ("2048", 2048), (4096, 4096), ("1TB", 1024**4)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "soon", "0", "-5m", "1h30", "m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a positive duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["", "8X", "0", "G", "-1G"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a memory size"):
        parse_size(text)


SHAPES = """
[source]
commit = "988aa59e4d8fefa526d06f3b453ad116258398d4"

[[claims]]
metric = "return"
value = 490.0
tensorboard = "charts/episodic_return"
reduce = "mean"
last_n = 100

[[claims]]
metric = "accuracy"
value = 81.5
csv = "{out}/log.csv"
column = "val_acc"
reduce = "max"
scale = 100

[[claims]]
value = 0.5
key = "test.f1"

[run]
command = "python train.py --seed {seed}"
workdir = "./experiments/task_a/"
accept_exit = [1, 0]
metric_after_failure = true
environment = "venv"
python = "3.7"
resolve_as_of = "commit"

[run.metric]
json = "{out}/metrics.json"
key = "test.acc"
"""


def test_metric_sources_workdir_exit_codes_and_pin_load(tmp_path: Path) -> None:
    spec = load_spec(None, spec_path=write(tmp_path, SHAPES, "audit.toml") / "audit.toml")
    tensorboard, csv, json_key = spec.claims
    assert tensorboard.source == MetricSource(
        tensorboard="charts/episodic_return", reduce=Reduce.MEAN, last_n=100
    )
    assert csv.source == MetricSource(
        csv_path="{out}/log.csv", column="val_acc", reduce=Reduce.MAX, scale=100.0
    )
    # A claim with only a key refines [run.metric]: another number of the same file.
    assert json_key.source == MetricSource(json_path="{out}/metrics.json", key="test.f1")
    assert json_key.metric == "test.f1" and csv.metric == "accuracy"
    assert (spec.workdir, spec.accept_exit, spec.metric_after_failure) == (
        "experiments/task_a", (0, 1), True,
    )  # fmt: skip
    assert spec.commit == "988aa59e4d8fefa526d06f3b453ad116258398d4"
    (tmp_path / "again.toml").write_text(spec_to_toml(spec))
    again = load_spec(None, spec_path=tmp_path / "again.toml")
    assert dataclasses.replace(again, origin=spec.origin) == spec


def test_a_spec_inside_the_repository_cannot_pin_a_commit(tmp_path: Path) -> None:
    pinned = MINIMAL + '\n[source]\ncommit = "' + "a" * 40 + '"\n'
    assert "[source] commit pins the code from a spec kept outside" in spec_error(tmp_path, pinned)
    assert load_spec(None, spec_path=write(tmp_path / "outside", pinned) / "repaudit.toml").commit


def test_run_flags_for_workdir_exit_codes_and_errors_after_the_metric(tmp_path: Path) -> None:
    folder = write(tmp_path, MINIMAL)
    flagged = load_spec(
        folder,
        overrides=SpecOverrides(workdir="sub/dir", accept_exit=(0, 1), metric_after_failure=True),
    )
    assert (flagged.workdir, flagged.accept_exit, flagged.metric_after_failure) == (
        "sub/dir", (0, 1), True,
    )  # fmt: skip
    assert "--workdir '/tmp' is not a folder inside" in spec_error(folder, workdir="/tmp")
    assert "--accept-exit [-1]" in spec_error(folder, accept_exit=(-1,))
    base = spec_hash(load_spec(folder))
    changed = [SpecOverrides(workdir="sub"), SpecOverrides(accept_exit=(0, 1)),
               SpecOverrides(metric_after_failure=True)]  # fmt: skip
    hashes = {spec_hash(load_spec(folder, overrides=o)) for o in changed}
    assert base not in hashes and len(hashes) == 3
    assert spec_hash(load_spec(folder, overrides=SpecOverrides(accept_exit=(0,)))) == base
