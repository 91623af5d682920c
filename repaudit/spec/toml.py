"""The one TOML writer: values, key = value lines, and the resolved spec as run.

Written by hand because tomllib only reads; strings go through json.dumps, whose escapes are a
subset of TOML's basic-string escapes (plus DEL, which JSON leaves raw).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from repaudit.model import Arm, AuditSpec, MetricSource, Reduce


def spec_to_toml(spec: AuditSpec) -> str:
    """The resolved spec as run, as TOML that load_spec(spec_path=...) reads back to the same spec."""
    lines = [
        f"# The audit spec as run (from {spec.origin}); `repaudit check --spec <this file>` re-runs it."
    ]
    if spec.commit is not None:
        lines += ["", "[source]", *assignments({"commit": spec.commit})]
    for claim in spec.claims:
        lines += ["", "[[claims]]"]
        claim_keys = {
            "metric": claim.metric,
            "direction": str(claim.direction),
            "value": claim.value,
            "kind": str(claim.kind),
            "runs": claim.runs,
            "baseline": claim.baseline,
            "unit": None if claim.unit is None else str(claim.unit),
            **source_table(claim.source),
        }
        lines += assignments(claim_keys)
        if claim.baseline_source is not None:
            lines.append(f"baseline_metric = {toml_value(source_table(claim.baseline_source))}")
    lines += ["", "[run]"]
    run_keys = {
        "command": spec.arms[0].command,
        "setup": spec.setup,
        "prepare": spec.prepare,
        **(
            {"seeds": "auto", "max_seeds": spec.seeds[-1], "looks": list(spec.looks)}
            if spec.looks
            else {"seeds": list(spec.seeds)}
        ),
        "timeout": spec.timeout_seconds,
        "environment": str(spec.environment),
        "python": spec.python,
        "resolve_as_of": spec.resolve_as_of,
        "seed_override": spec.seed_override,
        "seed_from_env": spec.seed_from_env,
        "deterministic": spec.deterministic,
        "repeat_seed": spec.repeat_seed,
        "gpus_per_seed": spec.gpus_per_seed,
        "memory": spec.memory_bytes,
        "workdir": spec.workdir or None,
        "accept_exit": list(spec.accept_exit) if spec.accept_exit != (0,) else None,
        "metric_after_failure": spec.metric_after_failure or None,
    }
    lines += assignments(run_keys)
    if spec.env:
        lines += ["", "[run.env]", *assignments(dict(spec.env))]
    baseline = spec.arm(Arm.BASELINE)
    if baseline is not None:
        lines += ["", "[baseline]", *assignments({"command": baseline.command})]
    lines += ["", "[stats]", *assignments({"alpha": spec.alpha, "seed": spec.stats_seed})]
    if spec.slurm is not None:
        lines += ["", "[slurm]", *assignments(dataclasses.asdict(spec.slurm))]
    return "\n".join(lines) + "\n"


def source_table(source: MetricSource | None) -> dict[str, str | int | float]:
    """A metric source as its TOML table: the keys that are set, defaults left out."""
    if source is None:
        return {}
    table = {
        "json": source.json_path,
        "key": source.key,
        "regex": source.regex,
        "csv": source.csv_path,
        "column": source.column,
        "tensorboard": source.tensorboard,
        "reduce": None if source.reduce is Reduce.LAST else str(source.reduce),
        "last_n": source.last_n,
        "scale": None if source.scale == 1.0 else source.scale,
    }
    return {key: value for key, value in table.items() if value is not None}


def assignments(values: Mapping[str, Any]) -> list[str]:
    """TOML ``key = value`` lines; None means the key is absent."""
    return [f"{toml_key(k)} = {toml_value(v)}" for k, v in values.items() if v is not None]


def toml_key(key: str) -> str:
    """A bare key when TOML allows one, else a quoted one."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)


def toml_literal(text: str) -> str:
    """A TOML literal string ('...', no escapes: regexes stay readable) when ``text`` allows one,
    else a basic string."""
    if "'" in text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        return toml_value(text)
    return f"'{text}'"


def toml_value(value: Any) -> str:
    """One TOML value: bool, number, string, list or inline table (None entries dropped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON escapes all control characters but DEL, which TOML forbids raw.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    items = [f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items() if v is not None]
    return "{ " + ", ".join(items) + " }" if items else "{}"
