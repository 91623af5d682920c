"""The spec format's rules: check the raw TOML tables key by key and build the AuditSpec.

Every refusal is one SpecError line naming the file (or the CLI flag the value came from), the key
and the fix. docs/spec.md documents the same keys for users; metric sources are checked in sources.py.
"""

from __future__ import annotations

import datetime
import difflib
import itertools
import math
import re
import string
from collections.abc import Collection, Mapping
from pathlib import PurePosixPath
from typing import Any

from repaudit.errors import SpecError
from repaudit.model import (
    Arm,
    ArmSpec,
    AuditSpec,
    Claim,
    ClaimKind,
    Direction,
    EnvironmentKind,
    MetricSource,
    Reduce,
    SlurmOptions,
    Unit,
)
from repaudit.spec.sources import SOURCE_KEYS, SOURCE_KINDS, check_source

DEFAULT_SEEDS = 5
#: The significance levels the rules accept, as every message writes the range: at 0.5 the
#: 1 - 2·alpha interval of the gap would shrink to a point.
ALPHA_RANGE = "(0, 0.5)"
ALPHA_PROBLEM, ALPHA_FIX = f"is outside {ALPHA_RANGE}", "use e.g. 0.05"
#: seeds = "auto": the looks (seeds per arm after each) and the maximum when the spec gives none.
DEFAULT_LOOKS = (3, 5, 8, 12, 20)
DEFAULT_MAX_SEEDS = 20
#: Fewer seeds than this at the first look would leave every question inconclusive (rules.MIN_SEEDS).
FIRST_LOOK_MIN = 3
#: Seeds per arm (and repeats of the first seed) an audit may ask for: each is a training run, so
#: more is a typo, and the plan of a billion runs would fill the memory before the first one starts.
MAX_SEEDS = 1000
PLACEHOLDERS = frozenset({"seed", "out", "threads", "gpu"})
PRIMARY_CLAIM = ("[claim]", "[[claims]] #1")  # the claim the --claim/--metric-* flags set

# The allowed keys of every table and their TOML types; one table drives all the checks.
_METRIC: dict[str, tuple[str, ...]] = {
    "json": ("str",),
    "key": ("str",),
    "regex": ("str",),
    "csv": ("str",),
    "column": ("str",),
    "tensorboard": ("str",),
    "reduce": ("str",),
    "last_n": ("int",),
    "scale": ("float",),
}
_SCHEMA: dict[str, dict[str, tuple[str, ...]]] = {
    "": {
        "claim": ("table",),
        "claims": ("tables",),
        "run": ("table",),
        "baseline": ("table",),
        "stats": ("table",),
        "slurm": ("table",),
        "source": ("table",),
    },
    "source": {"commit": ("str",)},
    "claim": {
        "metric": ("str",),
        "direction": ("str",),
        "value": ("float",),
        "kind": ("str",),
        "runs": ("int",),
        "baseline": ("float",),
        "baseline_metric": ("table",),
        **_METRIC,
        "unit": ("str",),
    },
    "run": {
        "setup": ("str",),
        "prepare": ("str",),
        "command": ("str",),
        "timeout": ("str", "float"),
        "environment": ("str",),
        "python": ("str",),
        "resolve_as_of": ("str",),
        "seed_override": ("bool",),
        "seed_from_env": ("bool",),
        "seeds": ("int", "int-list", "auto"),
        "max_seeds": ("int",),
        "looks": ("int-list",),
        "memory": ("str", "int"),
        "deterministic": ("bool",),
        "repeat_seed": ("int",),
        "gpus_per_seed": ("int",),
        "env": ("table",),
        "metric": ("table",),
        "workdir": ("str",),
        "accept_exit": ("int-list",),
        "metric_after_failure": ("bool",),
    },
    "metric": _METRIC,
    "baseline": {"command": ("str",), "metric": ("table",)},
    "stats": {"alpha": ("float",), "seed": ("int",)},
    "slurm": {
        "partition": ("str",),
        "gpus_per_node": ("int",),
        "cpus_per_task": ("int",),
        "mem_gb": ("float",),
        "timeout_min": ("int",),
        "additional": ("table",),
    },
}
_TYPE_WORDS = {
    "str": "a string",
    "float": "a number",
    "int": "an integer",
    "bool": "true or false",
    "table": "a table",
    "tables": "an array of tables ([[claims]])",
    "int-list": "a list of integers",
    "auto": '"auto" (adaptive seeds)',
}


def schedule(maximum: int, looks: Collection[int] = DEFAULT_LOOKS) -> tuple[int, ...]:
    """The looks below ``maximum``, then ``maximum`` itself: seeds per arm after each look."""
    return (*(n for n in looks if n < maximum), maximum)


def parse_duration(text: str | float) -> float:
    """Seconds in "30m", "1h30m", "45s", "1.5h", "30d" or "90" (a bare number is seconds); ValueError otherwise."""
    number = r"(\d+(?:\.\d+)?)"
    spoken = re.fullmatch(
        rf"(?:{number}d)?(?:{number}h)?(?:{number}m)?(?:{number}s)?", str(text).strip().lower()
    )
    bare = re.fullmatch(number, str(text).strip())
    parts = [bare[1]] if bare else [g or "0" for g in spoken.groups()] if spoken else []
    factors = (1, 60, 3600, 86400)
    seconds = sum(float(p) * f for p, f in zip(reversed(parts), factors, strict=False))
    if seconds <= 0:
        raise ValueError(f'{text!r} is not a positive duration: write e.g. "30m", "1h30m", "45s"')
    return seconds


def parse_size(text: str | int) -> int:
    """Bytes in "8G", "512M", "1.5GiB", "64K" (powers of 1024) or a bare number of bytes; ValueError otherwise."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?", str(text).strip().upper())
    size = float(match[1]) * 1024 ** (" KMGT".index(match[2] or " ")) if match else 0.0
    if size < 1:
        raise ValueError(f'{text!r} is not a memory size: write e.g. "8G" or "512M"')
    return int(size)


def alpha_allowed(alpha: float) -> bool:
    """True for a significance level inside ALPHA_RANGE."""
    return 0 < alpha < 0.5


def check_alpha(alpha: float, flag: str = "--alpha") -> float:
    """``alpha`` when allowed; else SpecError in the words the spec's own check uses."""
    if not alpha_allowed(alpha):
        raise SpecError(f"{flag} {alpha:g} {ALPHA_PROBLEM}: {ALPHA_FIX}")
    return alpha


def _valid_date(text: str) -> bool:
    """False only for a "YYYY-MM-DD" that is no calendar date."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        return True
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def check_table(table: Mapping[str, Any], schema: str, where: str, label: str = "") -> None:
    """Unknown keys (with a suggestion) and wrong types of one table, per _SCHEMA[schema]."""
    allowed = _SCHEMA[schema]
    prefix = f"{label or f'[{schema}]'} " if schema else ""
    for key, value in table.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed)}"
            raise SpecError(f"{where}: unknown key {prefix}{key}: {hint}")
        if not any(_is(value, t) for t in allowed[key]):
            wanted = " or ".join(_TYPE_WORDS[t] for t in allowed[key])
            raise SpecError(f"{where}: {prefix}{key} must be {wanted}, not {value!r}")


def _is(value: Any, kind: str) -> bool:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    return {
        "str": isinstance(value, str),
        "float": number,
        "int": number and isinstance(value, int),
        "bool": isinstance(value, bool),
        "table": isinstance(value, dict),
        "tables": isinstance(value, list) and all(isinstance(v, dict) for v in value),
        "int-list": isinstance(value, list) and all(_is(v, "int") for v in value),
        "auto": value == "auto",
    }[kind]


# ---------------------------------------------------------------- building the AuditSpec


def build_spec(raw: dict[str, Any], where: str, flags: Mapping[tuple[str, str], str]) -> AuditSpec:
    """Check ``raw`` (the spec's top-level table, already through check_table, CLI flags merged in)
    and build the AuditSpec.

    ``where`` labels the file in messages; ``flags`` maps (table, key) to the flag that set it.
    """
    return _Builder(where, flags).build(raw)


class _Builder:
    """Turns the checked raw tables into an AuditSpec; every refusal is one SpecError line.

    Labels are written as the user sees them: "[run]", "[claim]", "[[claims]] #2", "[run.metric]".
    """

    def __init__(self, where: str, flags: Mapping[tuple[str, str], str]) -> None:
        self.where, self.flags = where, flags

    def fail(self, label: str, key: str, problem: str, fix: str) -> SpecError:
        table = "claim" if label in PRIMARY_CLAIM else label.strip("[]")
        flag = self.flags.get((table, key))
        if flag:  # "--alpha 0.7 is outside ...", not "--alpha = 0.7"
            return SpecError(f"{flag} {problem.removeprefix('= ')}: {fix}")
        return SpecError(f"{self.where}: {label} {key} {problem}: {fix}")

    def build(self, raw: dict[str, Any]) -> AuditSpec:
        run, baseline, stats = (raw.get(t, {}) for t in ("run", "baseline", "stats"))
        for name in ("run", "baseline", "stats", "source"):
            check_table(raw.get(name, {}), name, self.where)
        if "claims" in raw and ("claim" in raw or not raw["claims"]):
            raise SpecError(
                f"{self.where}: use either one [claim] table or a non-empty [[claims]] array"
            )
        tables = raw.get("claims") or [raw.get("claim", {})]
        labels = (
            [f"[[claims]] #{i + 1}" for i in range(len(tables))] if "claims" in raw else ["[claim]"]
        )
        claims = tuple(
            self.claim(table, label, run.get("metric"), baseline.get("metric"))
            for table, label in zip(tables, labels, strict=True)
        )
        if len({c.metric for c in claims}) < len(claims):
            raise SpecError(
                f"{self.where}: two claims share a metric name: give each its own metric"
            )
        arms = [ArmSpec(Arm.METHOD, self.command(run, "[run]"))]
        if baseline:
            arms.append(ArmSpec(Arm.BASELINE, self.command(baseline, "[baseline]")))
        for arm in arms:
            self.check_seed(arm, run)
        alpha = stats.get("alpha", 0.05)
        if not alpha_allowed(alpha):
            raise self.fail("[stats]", "alpha", f"= {alpha:g} {ALPHA_PROBLEM}", ALPHA_FIX)
        seeds, looks = self.seeds(run)
        return AuditSpec(
            claims=claims,
            arms=tuple(arms),
            seeds=seeds,
            looks=looks,
            setup=run.get("setup"),
            prepare=run.get("prepare"),
            timeout_seconds=self.parsed(run, "timeout", parse_duration, 1800.0),
            environment=self.choice(run, "[run]", "environment", EnvironmentKind, "current"),
            python=self.era_key(run, "python", r"\d+\.\d+(\.\d+)?", '"3.8" or "3.8.18"'),
            resolve_as_of=self.era_key(
                run,
                "resolve_as_of",
                r"commit|today|\d{4}-\d\d-\d\d",
                '"commit", "today" or "2019-06-01"',
            ),
            seed_override=run.get("seed_override", False),
            seed_from_env=run.get("seed_from_env", False),
            deterministic=run.get("deterministic", False),
            repeat_seed=self.count(
                run,
                "repeat_seed",
                0,
                f"0 (off) or 2 to {MAX_SEEDS}",
                low=2,
                allowed={0},
                high=MAX_SEEDS,
            ),
            memory_bytes=self.parsed(run, "memory", parse_size, None),
            gpus_per_seed=self.count(run, "gpus_per_seed", 0, "0 or more", low=0),
            env=self.strings(run.get("env", {}), "[run.env]"),
            alpha=alpha,
            stats_seed=self.count(stats, "seed", 0, "0 or more", low=0, label="[stats]"),
            slurm=self.slurm(raw["slurm"]) if "slurm" in raw else None,
            workdir=self.workdir(run.get("workdir", "")),
            accept_exit=self.exit_codes(run.get("accept_exit", [0])),
            metric_after_failure=run.get("metric_after_failure", False),
            commit=self.commit(raw.get("source", {}).get("commit")),
        )

    def workdir(self, text: str) -> str:
        """A clean path relative to the checkout ("" for its root), never leaving it."""
        path = PurePosixPath(text.strip())
        if path.is_absolute() or ".." in path.parts or "{" in text:
            raise self.fail(
                "[run]",
                "workdir",
                f"= {text!r} is not a folder inside the repository",
                'give it relative to the repository\'s root, e.g. workdir = "experiments/task_a" '
                "({out} in the command is already absolute)",
            )
        return "" if str(path) == "." else str(path)

    def exit_codes(self, codes: list[int]) -> tuple[int, ...]:
        if not codes or len(set(codes)) < len(codes) or not all(0 <= c <= 255 for c in codes):
            raise self.fail(
                "[run]",
                "accept_exit",
                f"= {codes}",
                "list the distinct exit codes (0 to 255) of a normal finish, e.g. [0, 1]",
            )
        return tuple(sorted(codes))

    def commit(self, sha: str | None) -> str | None:
        if sha is not None and not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", sha):
            raise self.fail(
                "[source]",
                "commit",
                f"= {sha!r} is not a full commit SHA",
                "give all 40 hex digits (git rev-parse <ref>), so the pin cannot move",
            )
        return sha

    def claim(
        self, table: dict[str, Any], label: str, run_metric: Any, baseline_metric: Any
    ) -> Claim:
        check_table(table, "claim", self.where, label)
        if "value" not in table and self.where == "flags":
            raise SpecError("no claim value: pass --claim <the paper's number>")
        if "value" not in table:
            flag = " (or pass --claim)" if label in PRIMARY_CLAIM else ""
            raise self.fail(label, "value", "is missing", f"add value = <the paper's number>{flag}")
        kind = self.choice(table, label, "kind", ClaimKind, "single")
        runs = self.count(table, "runs", 1, "1 or more", low=1, label=label)
        if kind is ClaimKind.MEAN and runs < 2:
            raise self.fail(
                label,
                "runs",
                f'= {runs} with kind = "mean"',
                "set runs to how many runs the paper averaged (2 or more; --claim-runs)",
            )
        if kind is ClaimKind.SINGLE and runs != 1:
            raise self.fail(
                label,
                "runs",
                f'= {runs} with kind = "single"',
                'set kind = "mean" if the paper averaged runs (--claim-kind mean), or drop runs',
            )
        for key in ("value", "baseline"):
            if key in table and not math.isfinite(table[key]):
                raise self.fail(label, key, f"= {table[key]}", "give a finite number")
        own = {k: table[k] for k in SOURCE_KEYS if k in table}
        if own.keys() & SOURCE_KINDS or not run_metric:
            source = self.source(own, label)
        else:  # the claim refines [run.metric]: another key of the same file, its own reduce
            merged = {**run_metric, **own}
            source = self.source(merged, f"{label} with [run.metric]" if own else "[run.metric]")
        baseline_source = None
        if "baseline_metric" in table:
            baseline_source = self.source(table["baseline_metric"], f"{label} baseline_metric")
        elif baseline_metric:
            baseline_source = self.source(baseline_metric, "[baseline.metric]")
        return Claim(
            metric=table.get("metric")
            or source.key
            or source.column
            or source.tensorboard
            or "metric",
            value=float(table["value"]),
            direction=self.choice(table, label, "direction", Direction, "higher"),
            kind=kind,
            runs=runs,
            baseline=float(table["baseline"]) if "baseline" in table else None,
            source=source,
            baseline_source=baseline_source,
            unit=self.choice(table, label, "unit", Unit, None) if "unit" in table else None,
        )

    def source(self, table: Any, label: str) -> MetricSource:
        if not table:
            raise SpecError(
                f'{self.where}: no metric source: add [run.metric] with json = "{{out}}/metrics.json" '
                "and key = \"test.acc\" (or regex = '...'), or pass --metric-json and --metric-key, "
                "or --metric-regex"
            )
        check_table(table, "metric", self.where, label)
        source = MetricSource(
            json_path=table.get("json"),
            key=table.get("key"),
            regex=table.get("regex"),
            csv_path=table.get("csv"),
            column=table.get("column"),
            tensorboard=table.get("tensorboard"),
            reduce=self.choice(table, label, "reduce", Reduce, "last"),
            last_n=table.get("last_n"),
            scale=float(table.get("scale", 1.0)),
        )
        given = [
            flag for (t, key), flag in self.flags.items() if t == "claim" and key in SOURCE_KEYS
        ]
        where = "/".join(given) if given and label in PRIMARY_CLAIM else f"{self.where} {label}"
        check_source(source, where=where)
        return source

    def command(self, table: dict[str, Any], label: str) -> str:
        if not table.get("command"):
            flag = "--command" if label == "[run]" else "--baseline-command"
            raise self.fail(
                label,
                "command",
                "is missing",
                f'add command = "python train.py --seed {{seed}} --out {{out}}" or pass {flag}',
            )
        self.placeholders(table["command"], label, "command")
        return table["command"]

    def placeholders(self, text: str, label: str, key: str) -> set[str]:
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        except ValueError:
            raise self.fail(
                label, key, f"{text!r} has an unmatched brace", "write {{ and }} for literal braces"
            ) from None
        unknown = sorted(names - PLACEHOLDERS)
        if unknown:
            raise self.fail(
                label,
                key,
                f"has an unknown placeholder {{{unknown[0]}}}",
                "use only {seed} {out} {threads} {gpu}, and {{ }} for literal braces "
                "(e.g. ${{HOME}} for a shell variable)",
            )
        return names

    def check_seed(self, arm: ArmSpec, run: dict[str, Any]) -> None:
        label = "[run]" if arm.name == Arm.METHOD else "[baseline]"
        if "seed" in self.placeholders(arm.command, label, "command"):
            return
        if run.get("seed_override") or run.get("seed_from_env"):
            return
        raise self.fail(
            label,
            "command",
            "has no {seed}, so every seed would run the same",
            "add the script's seed flag (e.g. --seed {seed}); or set [run] seed_from_env = "
            "true if it reads REPAUDIT_SEED, or seed_override = true (--seed-override) to "
            "replace its hard-coded seeds",
        )

    def seeds(self, run: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(seed values, looks): seeds = "auto" runs 1..max_seeds in looks; else no looks."""
        value = run.get("seeds", DEFAULT_SEEDS)
        if value == "auto":
            return self.adaptive(run)
        given = [key for key in ("max_seeds", "looks") if key in run]
        # --seeds 20 overrides a spec's seeds = "auto": its max_seeds and looks then lapse.
        if given and ("run", "seeds") not in self.flags:
            raise self.fail(
                "[run]",
                given[0],
                'applies to seeds = "auto" only',
                'set seeds = "auto" (--seeds auto), or drop it',
            )
        if isinstance(value, int):
            if not 1 <= value <= MAX_SEEDS:
                raise self.fail(
                    "[run]", "seeds", f"= {value}", f"give 1 to {MAX_SEEDS} (e.g. seeds = 5)"
                )
            return tuple(range(1, value + 1)), ()
        if len(value) > MAX_SEEDS:
            raise self.fail(
                "[run]", "seeds", f"lists {len(value)} seeds", f"list at most {MAX_SEEDS}"
            )
        if not value or len(set(value)) < len(value) or min(value) < 0:
            raise self.fail(
                "[run]", "seeds", f"= {value}", "list distinct non-negative seeds, or give a count"
            )
        return tuple(value), ()

    def adaptive(self, run: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """seeds = "auto": the looks below max_seeds, then max_seeds (default: the last look)."""
        looks = run.get("looks", list(DEFAULT_LOOKS))
        if (
            not looks
            or looks[0] < FIRST_LOOK_MIN
            or looks[-1] > MAX_SEEDS
            or any(b <= a for a, b in itertools.pairwise(looks))
        ):
            raise self.fail(
                "[run]",
                "looks",
                f"= {looks}",
                f"list increasing seeds per arm from {FIRST_LOOK_MIN} to {MAX_SEEDS}, "
                f"e.g. looks = {list(DEFAULT_LOOKS)}",
            )
        default = DEFAULT_MAX_SEEDS if "looks" not in run else looks[-1]
        maximum = self.count(
            run,
            "max_seeds",
            default,
            f"{FIRST_LOOK_MIN} to {MAX_SEEDS}",
            low=FIRST_LOOK_MIN,
            high=MAX_SEEDS,
        )
        return tuple(range(1, maximum + 1)), schedule(maximum, looks)

    def choice(
        self, table: dict[str, Any], label: str, key: str, enum: Any, default: str | None
    ) -> Any:
        value = table.get(key, default)
        if value not in {m.value for m in enum}:
            options = " or ".join(f'"{m.value}"' for m in enum)
            raise self.fail(label, key, f"= {value!r} is not allowed", f"use {options}")
        return enum(value)

    def era_key(self, run: dict[str, Any], key: str, pattern: str, example: str) -> str | None:
        """[run] python / resolve_as_of: only for a venv (the current interpreter is as it is).
        --environment current drops them: the user chose the running interpreter for this audit."""
        value = run.get(key)
        if value is None:
            return None
        if not re.fullmatch(pattern, value) or not _valid_date(value):
            raise self.fail("[run]", key, f"= {value!r} is not allowed", f"write e.g. {example}")
        if run.get("environment") != EnvironmentKind.VENV.value:
            if ("run", "environment") in self.flags and ("run", key) not in self.flags:
                return None
            raise self.fail(
                "[run]",
                key,
                "applies to a venv only",
                'add environment = "venv" (--environment venv)',
            )
        return value

    def count(
        self,
        table: dict[str, Any],
        key: str,
        default: int,
        wanted: str,
        *,
        low: int,
        allowed: Collection[int] = (),
        label: str = "[run]",
        high: float = math.inf,
    ) -> int:
        value = table.get(key, default)
        if (value < low or value > high) and value not in allowed:
            raise self.fail(label, key, f"= {value}", f"use {wanted}")
        return value

    def parsed(self, table: dict[str, Any], key: str, parse: Any, default: Any) -> Any:
        if key not in table:
            return default
        try:
            return parse(table[key])
        except ValueError as error:
            problem, _, fix = str(error).partition(": ")
            raise self.fail("[run]", key, problem, fix) from None

    def strings(self, table: dict[str, Any], label: str) -> dict[str, str]:
        for key, value in table.items():
            if not isinstance(value, str):
                raise self.fail(
                    label, key, f"= {value!r} is not a string", f'quote it: {key} = "{value}"'
                )
        return dict(table)

    def slurm(self, table: dict[str, Any]) -> SlurmOptions:
        check_table(table, "slurm", self.where)
        defaults = SlurmOptions()
        mem_gb = table.get("mem_gb")
        if mem_gb is not None and mem_gb <= 0:
            raise self.fail(
                "[slurm]", "mem_gb", f"= {mem_gb}", "give a positive number of gigabytes"
            )
        return SlurmOptions(
            partition=table.get("partition"),
            gpus_per_node=self.count(
                table, "gpus_per_node", 0, "0 or more", low=0, label="[slurm]"
            ),
            cpus_per_task=self.count(
                table, "cpus_per_task", 1, "1 or more", low=1, label="[slurm]"
            ),
            mem_gb=mem_gb,
            timeout_min=self.count(
                table, "timeout_min", defaults.timeout_min, "1 or more", low=1, label="[slurm]"
            ),
            additional=self.strings(table.get("additional", {}), "[slurm.additional]"),
        )
