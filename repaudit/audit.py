"""The pipeline in one place: spec -> source -> environment -> seeds -> statistics -> store.

Usable from Python without click: `run_audit(AuditRequest(target="./paper", ...), make_executor)`.
"""

from __future__ import annotations

import dataclasses
import shlex
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from repaudit import __version__, report, sandbox, source, spec, store, verdict
from repaudit.env import default_cache_dir, fingerprint, prepare_environment
from repaudit.executor import Executor, ExecutorFactory
from repaudit.model import (
    BASELINE_ARM,
    Audit,
    AuditSpec,
    Environment,
    EnvironmentKind,
    Isolation,
    RunResult,
    RunStatus,
    SeedRequest,
    Source,
)


class Progress(Protocol):
    """What the caller sees while seeds run (cli.py draws it; tests may record it)."""

    def planned(self, total: int, resumed: int) -> None: ...
    def started(self, request: SeedRequest) -> None: ...
    def finished(self, result: RunResult) -> None: ...


@dataclasses.dataclass(frozen=True)
class AuditRequest:
    target: str  # URL, owner/name[@ref], local repository or folder
    ref: str | None = None
    allow_dirty: bool = False
    spec_path: Path | None = None
    overrides: spec.SpecOverrides = spec.SpecOverrides()
    store_dir: Path = Path("audits")
    cache_dir: Path | None = None  # default: default_cache_dir()
    argv: tuple[str, ...] = ()  # the command-line arguments, for the exact re-run command


def rerun_command(argv: Sequence[str], commit: str) -> str:
    """The exact command that re-runs this audit: the user's arguments, pinned to the audited commit."""
    args = list(argv)
    while "--ref" in args:
        del args[args.index("--ref") : args.index("--ref") + 2]
    args = [a for a in args if not a.startswith("--ref=")]
    if args and args[0] != "check":
        args.insert(0, "check")
    # A token typed into an https URL must not reach audit.json or the report.
    return shlex.join(["repaudit", *(source.public_url(a) for a in args), "--ref", commit])


def run_audit(
    request: AuditRequest, make_executor: ExecutorFactory, progress: Progress | None = None
) -> Audit:
    """Run (or resume) one audit and store it; raises RepauditError only when it cannot go on."""
    # Absolute paths: seeds run with other working directories (and on other hosts under Slurm).
    request = dataclasses.replace(request, store_dir=request.store_dir.resolve())
    cache_dir = (request.cache_dir or default_cache_dir()).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    pinned = source.resolve_source(
        request.target,
        ref=request.ref,
        cache_dir=cache_dir,
        allow_dirty=request.allow_dirty,
        ignore=(request.store_dir, cache_dir),  # repaudit's own folders are never the audited code
    )
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="code-") as scratch:
        code_dir = source.checkout(pinned, Path(scratch) / "code")
        audit_spec = spec.load_spec(
            code_dir,
            spec_path=request.spec_path,
            registry_dir=request.store_dir / "registry",
            registry_key=pinned.display_name,
            overrides=request.overrides,
            default_environment=EnvironmentKind.VENV if pinned.url else EnvironmentKind.CURRENT,
        )
        spec_hash = spec.spec_hash(audit_spec)
        paths = store.AuditPaths(request.store_dir / store.audit_id(pinned, spec_hash))
        with store.locked(paths):
            store.write_text_atomic(paths.spec_toml, spec.spec_to_toml(audit_spec))
            env = prepare_environment(
                audit_spec, pinned, code_dir, cache_dir=cache_dir, log_path=paths.environment_log
            )
            return _run_seeds(
                request,
                audit_spec,
                spec_hash,
                pinned,
                env,
                paths,
                make_executor(audit_spec, paths.root),
                progress,
            )


def _run_seeds(
    request: AuditRequest,
    audit_spec: AuditSpec,
    spec_hash: str,
    pinned: Source,
    env: Environment,
    paths: store.AuditPaths,
    executor: Executor,
    progress: Progress | None,
) -> Audit:
    prepared = None
    if audit_spec.prepare:
        prepared = sandbox.run_prepare(
            audit_spec.prepare,
            source=pinned,
            environment=env,
            work_dir=paths.prepare_dir,
            log_dir=paths.root,
            timeout_seconds=audit_spec.timeout_seconds,
            env=audit_spec.env,
        )
    requests = plan_seeds(audit_spec, spec_hash, pinned, env, paths, prepared)
    # A seed repaudit itself could not start (no exit code) is tried again; every seed that ran is kept.
    finished = {
        key: run
        for key, run in store.load_runs(paths, spec_hash).items()
        if not (run.status is RunStatus.FAILED and run.returncode is None)
    }
    pending = [r for r in requests if r.key not in finished]
    if progress:
        progress.planned(len(requests), len(requests) - len(pending))
    for result in executor.run_all(pending, on_start=progress.started if progress else None):
        store.save_run(paths, result)  # at once: an interrupted audit keeps every finished seed
        finished[result.key] = result
        if progress:
            progress.finished(result)
    runs = tuple(finished[r.key] for r in requests if r.key in finished)
    recorded = fingerprint(env, sandbox.seed_variables(requests[0]))
    store.write_json_atomic(paths.environment_json, store.to_plain(recorded))
    results, overall, reason = verdict.evaluate(audit_spec, runs)
    # Weaker isolation than bubblewrap is a warning the terminal and the report must show.
    weak = env.isolation is not Isolation.BUBBLEWRAP and env.isolation_note
    notes = pinned.warnings + env.notes + ((env.isolation_note,) if weak else ())
    audit = Audit(
        audit_id=paths.root.name,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        spec=audit_spec,
        source=pinned,
        fingerprint=recorded,
        runs=runs,
        results=results,
        verdict=overall,
        verdict_reason=reason,
        audit_dir=paths.root,
        rerun_command=rerun_command(request.argv, pinned.commit),
        notes=notes,
        repaudit_version=__version__,
    )
    store.save_audit(paths, audit)
    write_outputs(audit, paths)
    return audit


def write_outputs(audit: Audit, paths: store.AuditPaths) -> None:
    """report.html and summary.md beside audit.json (also `repaudit report`, which re-renders)."""
    report.write_report(audit, paths.report_html)
    store.write_text_atomic(paths.summary_md, report.render_markdown(audit))


def plan_seeds(
    audit_spec: AuditSpec,
    spec_hash: str,
    pinned: Source,
    env: Environment,
    paths: store.AuditPaths,
    prepared: Path | None,
) -> list[SeedRequest]:
    """Every (arm, seed) run, plus repeats of the first method seed for the nondeterminism floor."""
    first_seed = audit_spec.seeds[0]
    repeats = [(audit_spec.arms[0].name, first_seed, r) for r in range(1, audit_spec.repeat_seed)]
    runs: Sequence[tuple[str, int, int]] = [
        (arm.name, seed, 0) for arm in audit_spec.arms for seed in audit_spec.seeds
    ] + repeats
    commands = {arm.name: arm.command for arm in audit_spec.arms}
    # The baseline arm may write its number elsewhere; each request carries the sources its arm reads.
    baseline_claims = tuple(
        dataclasses.replace(c, source=c.baseline_source) if c.baseline_source else c
        for c in audit_spec.claims
    )
    claims = {
        arm.name: baseline_claims if arm.name == BASELINE_ARM else audit_spec.claims
        for arm in audit_spec.arms
    }
    return [
        SeedRequest(
            arm=arm,
            seed=seed,
            repeat=repeat,
            command=commands[arm],
            source=pinned,
            environment=env,
            run_dir=paths.run_dir(arm, seed, repeat),
            work_dir=paths.work_dir(arm, seed, repeat),
            claims=claims[arm],
            timeout_seconds=audit_spec.timeout_seconds,
            memory_bytes=audit_spec.memory_bytes,
            env=audit_spec.env,
            seed_override=audit_spec.seed_override,
            deterministic=audit_spec.deterministic,
            prepared_dir=prepared,
            spec_hash=spec_hash,
        )
        for arm, seed, repeat in runs
    ]
