"""Load and validate the audit spec (repaudit.toml, [tool.repaudit], the registry, CLI flags) into an AuditSpec.

The format is documented key by key in docs/spec.md. Everything is checked in one pass over the raw
TOML (with the CLI flags merged in first), so every problem is one SpecError line naming the file (or
the flag), the key and the fix.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repaudit.errors import SpecError
from repaudit.model import BASELINE_ARM, AuditSpec, EnvironmentKind, MetricSource
from repaudit.spec_schema import SOURCE_KEYS, build_spec, check_table, parse_duration, parse_size

__all__ = [
    "SpecOverrides", "load_spec", "spec_hash", "spec_to_toml", "toml_value", "parse_duration",
    "parse_size",
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SpecOverrides:
    """Every spec-changing flag of `repaudit check`; None means the flag was not given."""

    claim: float | None = None
    baseline_claim: float | None = None
    seeds: int | None = None
    command: str | None = None
    baseline_command: str | None = None
    metric_json: str | None = None
    metric_key: str | None = None
    metric_regex: str | None = None
    metric_name: str | None = None
    direction: str | None = None
    claim_kind: str | None = None
    claim_runs: int | None = None
    environment: str | None = None
    python: str | None = None
    resolve_as_of: str | None = None
    timeout: str | None = None
    memory: str | None = None
    seed_override: bool | None = None
    deterministic: bool | None = None
    repeat_seed: int | None = None
    gpus_per_seed: int | None = None
    alpha: float | None = None


# Where each flag lands in the raw spec ("claim" = the primary claim), so an error about a value
# that came from a flag names the flag instead of a table the user never wrote.
_FLAG_KEYS = {
    "claim": ("claim", "value"), "baseline_claim": ("claim", "baseline"),
    "metric_name": ("claim", "metric"), "direction": ("claim", "direction"),
    "claim_kind": ("claim", "kind"), "claim_runs": ("claim", "runs"),
    "metric_json": ("claim", "json"), "metric_key": ("claim", "key"),
    "metric_regex": ("claim", "regex"), "seeds": ("run", "seeds"), "command": ("run", "command"),
    "environment": ("run", "environment"), "python": ("run", "python"),
    "resolve_as_of": ("run", "resolve_as_of"), "timeout": ("run", "timeout"), "memory": ("run", "memory"),
    "seed_override": ("run", "seed_override"), "deterministic": ("run", "deterministic"),
    "repeat_seed": ("run", "repeat_seed"), "gpus_per_seed": ("run", "gpus_per_seed"),
    "baseline_command": ("baseline", "command"), "alpha": ("stats", "alpha"),
}  # fmt: skip


def load_spec(
    repo_dir: Path | None,
    *,
    spec_path: Path | None = None,
    registry_dir: Path | None = None,
    registry_key: str | None = None,
    overrides: SpecOverrides = SpecOverrides(),
    default_environment: EnvironmentKind = EnvironmentKind.CURRENT,
) -> AuditSpec:
    """Find the spec (--spec, repaudit.toml, [tool.repaudit], registry, or flags only), apply the
    flags, validate, and return the AuditSpec. Raises SpecError naming the file, key and fix.

    `default_environment` applies when neither the spec nor a flag names one (DESIGN.md 5.2: a
    cloned remote repository gets its own venv; a local one runs under the current interpreter)."""
    raw, where, origin = _find(repo_dir, spec_path, registry_dir, registry_key)
    if raw is None and overrides.command is None:
        raise SpecError(
            f"no audit spec in {repo_dir}: add repaudit.toml (`repaudit init {repo_dir}` writes one) "
            "or pass --command"
        )
    raw = copy.deepcopy(raw or {})
    check_table(raw, "", where)  # before merging, so the merge can trust the top-level types
    flags = _merge_flags(raw, overrides)
    if isinstance(raw.get("run", {}), dict):
        raw.setdefault("run", {}).setdefault("environment", default_environment.value)
    return dataclasses.replace(build_spec(raw, where, flags), origin=origin)


def spec_hash(spec: AuditSpec) -> str:
    """16 hex chars over what changes a seed's result only: more seeds, other claim values, alpha,
    timeout or memory keep the hash, so an audit folder's finished seeds are reused."""
    fields = {
        "arms": [(arm.name, arm.command) for arm in spec.arms],
        "claims": [
            (c.metric, _source_table(c.source), _source_table(c.baseline_source))
            for c in spec.claims
        ],
        "setup": spec.setup,
        "prepare": spec.prepare,
        "environment": str(spec.environment),
        "seed_override": spec.seed_override,
        "deterministic": spec.deterministic,
        "env": sorted(spec.env.items()),
        "gpus_per_seed": spec.gpus_per_seed,
        # only when set, so that the audits made before these keys existed keep their hash
        **{k: v for k, v in (("python", spec.python), ("resolve_as_of", spec.resolve_as_of)) if v},
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def spec_to_toml(spec: AuditSpec) -> str:
    """The resolved spec as run, as TOML that load_spec(spec_path=...) reads back to the same spec.

    Written by hand because tomllib only reads; strings go through json.dumps, whose escapes are a
    subset of TOML's basic-string escapes (plus DEL, which JSON leaves raw).
    """
    lines = [
        f"# The audit spec as run (from {spec.origin}); `repaudit check --spec <this file>` re-runs it."
    ]
    for claim in spec.claims:
        lines += ["", "[[claims]]"]
        lines += _assignments({"metric": claim.metric, "direction": str(claim.direction),
                               "value": claim.value, "kind": str(claim.kind), "runs": claim.runs,
                               "baseline": claim.baseline, **_source_table(claim.source)})  # fmt: skip
        if claim.baseline_source is not None:
            lines.append(f"baseline_metric = {toml_value(_source_table(claim.baseline_source))}")
    lines += ["", "[run]"]
    lines += _assignments({
        "command": spec.arms[0].command, "setup": spec.setup, "prepare": spec.prepare,
        "seeds": list(spec.seeds), "timeout": spec.timeout_seconds,
        "environment": str(spec.environment), "python": spec.python,
        "resolve_as_of": spec.resolve_as_of, "seed_override": spec.seed_override,
        "seed_from_env": spec.seed_from_env, "deterministic": spec.deterministic,
        "repeat_seed": spec.repeat_seed, "gpus_per_seed": spec.gpus_per_seed,
        "memory": spec.memory_bytes,
    })  # fmt: skip
    if spec.env:
        lines += ["", "[run.env]", *_assignments(dict(spec.env))]
    baseline = spec.arm(BASELINE_ARM)
    if baseline is not None:
        lines += ["", "[baseline]", *_assignments({"command": baseline.command})]
    lines += ["", "[stats]", *_assignments({"alpha": spec.alpha, "seed": spec.stats_seed})]
    if spec.slurm is not None:
        lines += ["", "[slurm]", *_assignments(dataclasses.asdict(spec.slurm))]
    return "\n".join(lines) + "\n"


def _source_table(source: MetricSource | None) -> dict[str, str | None]:
    if source is None:
        return {}
    return {"json": source.json_path, "key": source.key, "regex": source.regex}


def _assignments(values: Mapping[str, Any]) -> list[str]:
    """TOML ``key = value`` lines; None means the key is absent."""
    return [f"{_toml_key(k)} = {toml_value(v)}" for k, v in values.items() if v is not None]


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)


def toml_value(value: Any) -> str:
    """One TOML value: bool, number, string, list or inline table (None entries dropped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(
        value, str
    ):  # JSON escapes all control characters but DEL, which TOML forbids raw
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    items = [f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items() if v is not None]
    return "{ " + ", ".join(items) + " }" if items else "{}"


# ---------------------------------------------------------------- finding and merging


def _find(
    repo_dir: Path | None, spec_path: Path | None, registry_dir: Path | None, key: str | None
) -> tuple[dict[str, Any] | None, str, str]:
    """(raw table or None, the label errors use, AuditSpec.origin)."""
    if spec_path is not None:
        if not spec_path.is_file():
            raise SpecError(f"--spec {spec_path} does not exist: pass the path of a spec file")
        return _read_toml(spec_path), str(spec_path), str(spec_path)
    if repo_dir is not None and (repo_dir / "repaudit.toml").is_file():
        return _read_toml(repo_dir / "repaudit.toml"), "repaudit.toml", "repaudit.toml"
    pyproject = repo_dir / "pyproject.toml" if repo_dir is not None else None
    if pyproject is not None and pyproject.is_file():
        table = _read_toml(pyproject).get("tool", {}).get("repaudit")
        if table is not None and not isinstance(table, dict):
            raise SpecError("pyproject.toml: tool.repaudit must be a table: write [tool.repaudit]")
        if table is not None:
            return table, "pyproject.toml [tool.repaudit]", "pyproject.toml"
    if registry_dir is not None and key and key.count("/") == 1:
        entry = registry_dir / f"{key}.toml"
        if entry.is_file():
            return _read_toml(entry), str(entry), f"registry:{key}"
    return None, "flags", "flags"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SpecError(f"{path}: not valid TOML ({error}): fix the syntax") from None


def _merge_flags(raw: dict[str, Any], overrides: SpecOverrides) -> dict[tuple[str, str], str]:
    """Write the given flags into ``raw``; return {(table, key): "--flag"} for the error messages."""
    given = {k: v for k, v in dataclasses.asdict(overrides).items() if v is not None}
    claims = raw.get("claims")
    primary = claims[0] if isinstance(claims, list) and claims else raw.setdefault("claim", {})
    if given.keys() & {"metric_json", "metric_key", "metric_regex"}:
        # A flag replaces the primary claim's whole metric source, whether it came from the claim
        # or from [run.metric]: --metric-regex drops a json source and vice versa.
        own = {k: primary.pop(k) for k in SOURCE_KEYS if k in primary}
        default = raw.get("run", {}).get("metric")
        source = own or (dict(default) if isinstance(default, dict) else {})
        if "metric_regex" in given:
            source = {}
        elif "metric_json" in given:
            source.pop("regex", None)
        primary.update(source)
    flags = {}
    for name, value in given.items():
        table, key = _FLAG_KEYS[name]
        target = primary if table == "claim" else raw.setdefault(table, {})
        if isinstance(target, dict):  # a non-table here is reported by the type check
            target[key] = value
        flags[(table, key)] = "--" + name.replace("_", "-")
    return flags
