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
import os
import tomllib
from pathlib import Path
from typing import Any

from repaudit.errors import SpecError
from repaudit.model import AuditSpec, ClaimKind, Direction, EnvironmentKind, MetricSource
from repaudit.spec.schema import build_spec, check_table
from repaudit.spec.sources import SOURCE_KEYS
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
    workdir: str | None = None
    """--workdir: [run] workdir."""
    metric_after_failure: bool | None = None
    """--metric-after-failure / --no-metric-after-failure: [run] metric_after_failure."""
    accept_exit: tuple[int, ...] | None = None
    """--accept-exit: [run] accept_exit."""


# Where each flag lands in the raw spec ("claim" = the primary claim), so an error about a value
# that came from a flag names the flag instead of a table the user never wrote.
_FLAG_KEYS = {
    "claim": ("claim", "value"),
    "baseline_claim": ("claim", "baseline"),
    "metric_name": ("claim", "metric"),
    "direction": ("claim", "direction"),
    "claim_kind": ("claim", "kind"),
    "claim_runs": ("claim", "runs"),
    "metric_json": ("claim", "json"),
    "metric_key": ("claim", "key"),
    "metric_regex": ("claim", "regex"),
    "seeds": ("run", "seeds"),
    "command": ("run", "command"),
    "max_seeds": ("run", "max_seeds"),
    "looks": ("run", "looks"),
    "environment": ("run", "environment"),
    "python": ("run", "python"),
    "resolve_as_of": ("run", "resolve_as_of"),
    "timeout": ("run", "timeout"),
    "memory": ("run", "memory"),
    "seed_override": ("run", "seed_override"),
    "deterministic": ("run", "deterministic"),
    "repeat_seed": ("run", "repeat_seed"),
    "gpus_per_seed": ("run", "gpus_per_seed"),
    "baseline_command": ("baseline", "command"),
    "alpha": ("stats", "alpha"),
    "workdir": ("run", "workdir"),
    "metric_after_failure": ("run", "metric_after_failure"),
    "accept_exit": ("run", "accept_exit"),
}
# Specs that live in the repository audit the commit they are read from; only a spec kept outside
# it (the registry, --spec) may pin one.
_INSIDE = ("repaudit.toml", "pyproject.toml")


def load_spec(
    repo_dir: Path | None,
    *,
    spec_path: Path | None = None,
    registry_dir: Path | None = None,
    registry_key: str | None = None,
    overrides: SpecOverrides = SpecOverrides(),
    default_environment: EnvironmentKind = EnvironmentKind.CURRENT,
    repo_label: str | None = None,
) -> AuditSpec:
    """Find the spec (--spec, repaudit.toml, [tool.repaudit], registry, or flags only), apply the
    flags, validate, and return the AuditSpec. Raises SpecError naming the file, key and fix.

    `default_environment` applies when neither the spec nor a flag names one (docs/spec.md: a
    cloned remote repository gets its own venv; a local one runs under the current interpreter).
    `repo_label` names the repository in errors when ``repo_dir`` is a throw-away checkout of it."""
    raw, where, origin = _find(repo_dir, spec_path, registry_dir, registry_key)
    if raw is None and overrides.command is None:
        shown = repo_label or repo_dir
        raise SpecError(
            f"no audit spec in {shown}: add repaudit.toml (`repaudit init {shown}` writes one) "
            "or pass --command"
        )
    raw = copy.deepcopy(raw or {})
    check_table(raw, "", where)  # before merging, so the merge can trust the top-level types
    flags = _merge_flags(raw, overrides)
    if isinstance(raw.get("run", {}), dict):
        raw.setdefault("run", {}).setdefault("environment", default_environment.value)
    spec = dataclasses.replace(build_spec(raw, where, flags), origin=origin)
    if spec.commit is not None and origin in _INSIDE:
        raise SpecError(
            f"{where}: [source] commit pins the code from a spec kept outside the repository (the "
            "registry, --spec); this spec is read at the commit it is in: remove it, or pass --ref"
        )
    return spec


def check_workdir(spec: AuditSpec, code_dir: Path) -> None:
    """SpecError when [run] workdir is not a folder of the checkout about to be audited."""
    root = os.path.realpath(code_dir)
    folder = Path(os.path.realpath(code_dir / spec.workdir))
    if spec.workdir and not (folder.is_relative_to(root) and folder.is_dir()):
        raise SpecError(
            f"{spec.origin}: [run] workdir {spec.workdir!r} is not a folder of the repository at "
            "this commit: give the folder the command runs from, relative to the repository's root"
        )


def find_spec(
    repo_dir: Path | None,
    *,
    registry_dir: Path | None = None,
    registry_key: str | None = None,
) -> str | None:
    """Where load_spec would find the spec without --spec ("repaudit.toml", "pyproject.toml",
    "registry:owner/repo"), or None when the repository carries none."""
    _, _, origin = _find(repo_dir, None, registry_dir, registry_key)
    return None if origin == "flags" else origin


def check_spec_file(path: Path) -> AuditSpec:
    """The spec in ``path`` (a repaudit.toml, a registry entry, or a pyproject.toml's
    [tool.repaudit]) checked as `repaudit check` checks it when no flag adds to it: `spec-check`
    and the pre-commit hook. Raises SpecError naming the file, key and fix."""
    if not path.is_file():
        raise SpecError(f"{path} does not exist: pass the path of a spec file")
    raw: Any = _read_toml(path)
    where = str(path)
    if path.name == "pyproject.toml":
        raw, where = raw.get("tool", {}).get("repaudit"), f"{path} [tool.repaudit]"
        if not isinstance(raw, dict):
            raise SpecError(f"{path}: no [tool.repaudit] table: add one, or check a repaudit.toml")
    check_table(raw, "", where)
    return dataclasses.replace(build_spec(raw, where, {}), origin=str(path))


def spec_hash(spec: AuditSpec) -> str:
    """16 hex chars over what changes a seed's result only: more seeds, other claim values, alpha,
    timeout or memory keep the hash, so an audit folder's finished seeds are reused."""
    fields: dict[str, object] = {
        "arms": [(arm.name, arm.command) for arm in spec.arms],
        "claims": [
            (c.metric, _hashed_source(c.source), _hashed_source(c.baseline_source))
            for c in spec.claims
        ],
        "setup": spec.setup,
        "prepare": spec.prepare,
        "environment": str(spec.environment),
        "seed_override": spec.seed_override,
        "deterministic": spec.deterministic,
        "env": sorted(spec.env.items()),
        "gpus_per_seed": spec.gpus_per_seed,
    }
    # Newer fields count only when set, so the hashes (and audit folders) of specs without them stay.
    optional: dict[str, tuple[object, object]] = {
        "python": (spec.python, None),
        "resolve_as_of": (spec.resolve_as_of, None),
        "workdir": (spec.workdir, ""),
        "accept_exit": (list(spec.accept_exit), [0]),
        "metric_after_failure": (spec.metric_after_failure, False),
    }
    fields.update({name: value for name, (value, default) in optional.items() if value != default})
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def _hashed_source(source: MetricSource | None) -> dict[str, object]:
    """A metric source as the hash has always seen it: json, key and regex (null when unset),
    then the newer keys only when set, so that audits stored before them keep their seeds."""
    if source is None:
        return {}
    return {"json": None, "key": None, "regex": None, **source_table(source)}


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
        return (
            _read_toml(repo_dir / "repaudit.toml", "repaudit.toml"),
            "repaudit.toml",
            "repaudit.toml",
        )
    pyproject = repo_dir / "pyproject.toml" if repo_dir is not None else None
    if pyproject is not None and pyproject.is_file():
        table = _read_toml(pyproject, "pyproject.toml").get("tool", {}).get("repaudit")
        if table is not None and not isinstance(table, dict):
            raise SpecError("pyproject.toml: tool.repaudit must be a table: write [tool.repaudit]")
        if table is not None:
            return table, "pyproject.toml [tool.repaudit]", "pyproject.toml"
    if registry_dir is not None and key and key.count("/") == 1:
        entry = registry_dir / f"{key}.toml"
        if entry.is_file():
            return _read_toml(entry), str(entry), f"registry:{key}"
    return None, "flags", "flags"


def _read_toml(path: Path, shown: str | None = None) -> dict[str, Any]:
    """The TOML table in ``path``; errors name it as ``shown`` (a file of the audited repository by
    its path there, not by the throw-away checkout it was read from)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SpecError(f"{shown or path}: not valid TOML ({error}): fix the syntax") from None


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
        elif "metric_json" in given:  # a new file; its key may still be the old one
            source = {"key": source["key"]} if "key" in source else {}
        primary.update(source)
    flags = {}
    for name, value in given.items():
        table, key = _FLAG_KEYS[name]
        value = list(value) if isinstance(value, tuple) else value  # TOML arrays are lists
        target = primary if table == "claim" else raw.setdefault(table, {})
        if isinstance(target, dict):  # a non-table here is reported by the type check
            target[key] = list(value) if isinstance(value, tuple) else value
        flags[(table, key)] = "--" + name.replace("_", "-")
    return flags
