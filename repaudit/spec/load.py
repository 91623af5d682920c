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
import tomllib
from pathlib import Path
from typing import Any

from repaudit.errors import SpecError
from repaudit.model import AuditSpec, ClaimKind, Direction, EnvironmentKind
from repaudit.spec.schema import SOURCE_KEYS, build_spec, check_table
from repaudit.spec.toml import source_table


@dataclasses.dataclass(frozen=True)
class SpecOverrides:
    """Every spec-changing flag of `repaudit check`; None means the flag was not given."""

    claim: float | None = None
    """--claim: [claim] value."""
    baseline_claim: float | None = None
    """--baseline-claim: [claim] baseline."""
    seeds: int | str | None = None
    """--seeds: [run] seeds (a count, or "auto")."""
    max_seeds: int | None = None
    """--max-seeds: [run] max_seeds, with --seeds auto."""
    looks: tuple[int, ...] | None = None
    """--looks: [run] looks, with --seeds auto."""
    command: str | None = None
    """--command: [run] command."""
    baseline_command: str | None = None
    """--baseline-command: [baseline] command."""
    metric_json: str | None = None
    """--metric-json: the primary claim's json source."""
    metric_key: str | None = None
    """--metric-key: its dotted key."""
    metric_regex: str | None = None
    """--metric-regex: a regex source instead."""
    metric_name: str | None = None
    """--metric-name: [claim] metric."""
    direction: Direction | None = None
    """--direction: [claim] direction."""
    claim_kind: ClaimKind | None = None
    """--claim-kind: [claim] kind."""
    claim_runs: int | None = None
    """--claim-runs: [claim] runs."""
    environment: EnvironmentKind | None = None
    """--environment: [run] environment."""
    python: str | None = None
    """--python: [run] python."""
    resolve_as_of: str | None = None
    """--resolve-as-of: [run] resolve_as_of."""
    timeout: str | None = None
    """--timeout: [run] timeout."""
    memory: str | None = None
    """--memory: [run] memory."""
    seed_override: bool | None = None
    """--seed-override / --no-seed-override: [run] seed_override."""
    deterministic: bool | None = None
    """--deterministic / --no-deterministic: [run] deterministic."""
    repeat_seed: int | None = None
    """--repeat-seed: [run] repeat_seed."""
    gpus_per_seed: int | None = None
    """--gpus-per-seed: [run] gpus_per_seed."""
    alpha: float | None = None
    """--alpha: [stats] alpha."""


# Where each flag lands in the raw spec ("claim" = the primary claim), so an error about a value
# that came from a flag names the flag instead of a table the user never wrote.
_FLAG_KEYS = {
    "claim": ("claim", "value"), "baseline_claim": ("claim", "baseline"),
    "metric_name": ("claim", "metric"), "direction": ("claim", "direction"),
    "claim_kind": ("claim", "kind"), "claim_runs": ("claim", "runs"),
    "metric_json": ("claim", "json"), "metric_key": ("claim", "key"),
    "metric_regex": ("claim", "regex"), "seeds": ("run", "seeds"), "command": ("run", "command"),
    "max_seeds": ("run", "max_seeds"), "looks": ("run", "looks"),
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

    `default_environment` applies when neither the spec nor a flag names one (docs/spec.md: a
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
            (c.metric, source_table(c.source), source_table(c.baseline_source)) for c in spec.claims
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
            target[key] = list(value) if isinstance(value, tuple) else value
        flags[(table, key)] = "--" + name.replace("_", "-")
    return flags
