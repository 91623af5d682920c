"""The pipeline in one place: plan -> execute -> judge -> store.

Usable from Python without click: ``run_audit(AuditRequest(target="./paper"), make_executor)``.
Each step is a stage's public function; this module only wires them and holds no I/O of its own.
The report is the output layer's business (``repaudit.report.write_outputs``), not the core's.
"""

from __future__ import annotations

import dataclasses
import shlex
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from repaudit import env, run, sequential, source, spec, stopping, store, trial, verdict
from repaudit.errors import EnvSetupError, InternalError, RepauditError
from repaudit.executors import Executor, ExecutorFactory
from repaudit.model import (
    Arm,
    Audit,
    AuditSpec,
    Claim,
    Environment,
    EnvironmentKind,
    Isolation,
    Look,
    Phase,
    RunKey,
    RunResult,
    RunStatus,
    SeedRequest,
    Source,
    StopReason,
)


class Progress(Protocol):
    """What the caller sees while seeds run (the CLI draws it; tests may record it)."""

    def planned(self, total: int, resumed: int) -> None:
        """``total`` runs in the plan, ``resumed`` of them finished earlier and kept."""

    def started(self, request: SeedRequest) -> None:
        """A seed started (local) or was submitted (Slurm)."""

    def finished(self, result: RunResult) -> None:
        """A seed finished, well or not."""

    def phase_started(self, phase: Phase) -> None:
        """A phase of the audit began (model.Phase, in order)."""

    def phase_finished(self, phase: Phase, summary: str) -> None:
        """It ended; ``summary`` says what came of it in a few words."""

    def note(self, line: str) -> None:
        """Something the user should know before the seeds run (e.g. the spec was inferred)."""


class SilentProgress:
    """A Progress that shows nothing (the default when the caller passes none)."""

    def planned(self, total: int, resumed: int) -> None:
        """Nothing."""

    def started(self, request: SeedRequest) -> None:
        """Nothing."""

    def finished(self, result: RunResult) -> None:
        """Nothing."""

    def phase_started(self, phase: Phase) -> None:
        """Nothing."""

    def phase_finished(self, phase: Phase, summary: str) -> None:
        """Nothing."""

    def note(self, line: str) -> None:
        """Nothing."""


@dataclasses.dataclass(frozen=True)
class AuditRequest:
    """What the user asked for; everything else is found or decided by the pipeline."""

    target: str
    """URL, owner/name[@ref], local repository or folder."""
    ref: str | None = None
    """Branch, tag or commit to audit."""
    allow_dirty: bool = False
    """Audit uncommitted changes as a snapshot."""
    spec_path: Path | None = None
    """--spec: a spec file outside the repository."""
    overrides: spec.SpecOverrides = spec.SpecOverrides()
    """Spec fields set by command-line flags."""
    store_dir: Path = Path("audits")
    """Where audits are stored."""
    cache_dir: Path | None = None
    """Clones and environments; default: env.default_cache_dir()."""
    argv: tuple[str, ...] = ()
    """The command-line arguments, for the exact re-run command."""
    require_isolation: Isolation | None = None
    """Refuse to run seeds under anything weaker (a CI job that must not silently lose its sandbox)."""


@dataclasses.dataclass(frozen=True)
class AuditPlan:
    """Everything decided before the first seed runs."""

    spec: AuditSpec
    """The resolved spec."""
    spec_hash: str
    """Hash of its run-affecting fields (names the folder, matches resumed runs)."""
    source: Source
    """The pinned code."""
    environment: Environment
    """The interpreter the seeds run under."""
    isolation: Isolation
    """Decided once for the whole audit (each Slurm node may only weaken it)."""
    paths: store.AuditPaths
    """The audit's folder."""
    requests: tuple[SeedRequest, ...]
    """Every run, in plan order."""
    rerun_command: str
    """The exact command that re-runs this audit."""
    design: sequential.Design | None = None
    """``seeds = "auto"``: the looks and their calibrated boundaries; None runs every seed."""


def run_audit(
    request: AuditRequest, make_executor: ExecutorFactory, progress: Progress | None = None
) -> Audit:
    """Run (or resume) one audit and store its record; raises RepauditError only when it cannot go on."""
    # Absolute paths: seeds run with other working directories (and on other hosts under Slurm).
    request = dataclasses.replace(request, store_dir=request.store_dir.resolve())
    progress = progress or SilentProgress()
    cache_dir = (request.cache_dir or env.default_cache_dir()).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    working = working_spec(request)

    def pin(ref: str | None) -> Source:
        return source.resolve_source(
            request.target,
            ref=ref,
            cache_dir=cache_dir,
            allow_dirty=request.allow_dirty,
            # repaudit's own folders and the spec are never the audited code
            ignore=(request.store_dir, cache_dir, *([working] if working else [])),
        )

    progress.phase_started(Phase.SOURCE)
    pinned = pin(request.ref)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="code-") as scratch:
        code_dir = source.checkout(pinned, Path(scratch) / "code")
        audit_spec = find_audit_spec(request, pinned, code_dir, cache_dir, working, progress)
        # The spec's [source] commit, unless the user named a ref or audits a snapshot of files.
        wanted = audit_spec.commit
        if wanted and pinned.commit != wanted:
            if pinned.ref is None and not pinned.snapshot:
                pinned = pin(wanted)
                code_dir = source.checkout(pinned, Path(scratch) / "pinned")
            else:
                asked = "a snapshot of the files" if pinned.snapshot else f"{pinned.ref}, as asked"
                note = f"the spec was written for commit {wanted[:12]}; audited {asked}"
                pinned = dataclasses.replace(pinned, warnings=(*pinned.warnings, note))
        spec.check_workdir(audit_spec, code_dir)
        spec_hash = spec.spec_hash(audit_spec)
        progress.phase_finished(Phase.SOURCE, f"{pinned.display_name} @ {pinned.commit[:12]}")
        paths = store.AuditPaths(request.store_dir / store.audit_id(pinned, spec_hash))
        with store.locked(paths), internal_errors_saved(paths.error_log):
            store.write_text_atomic(paths.spec_toml, spec.spec_to_toml(audit_spec))
            exact = audit_spec.origin.startswith((trial.INFERRED, UNCOMMITTED))
            plan = plan_audit(
                request,
                audit_spec,
                spec_hash,
                pinned,
                code_dir,
                cache_dir,
                paths,
                progress,
                rerun_spec=paths.spec_toml if exact else None,
            )
            progress.phase_started(Phase.SEEDS)
            runs, looks = execute(plan, make_executor(audit_spec, paths.root), progress)
            failed = sum(not r.ok for r in runs)
            progress.phase_finished(Phase.SEEDS, f"{len(runs) - failed} ok, {failed} failed")
            audit = judge(plan, runs, looks)
            store.save_audit(paths, audit)
            return audit


UNCOMMITTED = "uncommitted repaudit.toml"
"""How AuditSpec.origin starts for a spec read from the working folder rather than the commit."""


def working_spec(request: AuditRequest) -> Path | None:
    """The local target's own repaudit.toml (committed or not), when --spec names no other file.

    `repaudit init` writes it and the user edits it; it is the audit's input, not the audited
    code, so it never makes the folder dirty: the audit runs the commit with it (docs/init.md).
    """
    folder = Path(request.target).expanduser()
    path = folder / "repaudit.toml"
    return path.resolve() if request.spec_path is None and path.is_file() else None


def find_audit_spec(
    request: AuditRequest,
    pinned: Source,
    code_dir: Path,
    cache_dir: Path,
    working: Path | None,
    progress: Progress | None,
) -> AuditSpec:
    """The spec: --spec, the working folder's uncommitted repaudit.toml, what the commit carries,
    the registry; with none of them and no --command, the draft `repaudit init` infers when its
    evidence is strong (trial.inferred_spec)."""
    registry, key = request.store_dir / "registry", pinned.display_name
    default = EnvironmentKind.VENV if pinned.url else EnvironmentKind.CURRENT
    committed = code_dir / "repaudit.toml"
    if (
        working is not None
        and committed.is_file()
        and committed.read_bytes() == working.read_bytes()
    ):
        working = None  # committed as it is: the usual case, nothing to say
    spec_path = request.spec_path or working
    carried = spec.find_spec(code_dir, registry_dir=registry, registry_key=key)
    if spec_path is None and request.overrides.command is None and not carried:
        note = progress.note if progress else None
        return trial.inferred_spec(
            pinned,
            code_dir,
            cache_dir=cache_dir,
            overrides=request.overrides,
            default_environment=default,
            note=note,
        )
    loaded = spec.load_spec(
        code_dir,
        spec_path=spec_path,
        registry_dir=registry,
        registry_key=key,
        overrides=request.overrides,
        default_environment=default,
        repo_label=pinned.target,  # not the throw-away checkout, deleted on exit
    )
    if working is not None and spec_path == working:
        return dataclasses.replace(loaded, origin=f"{UNCOMMITTED} in {working.parent}")
    return loaded


def plan_audit(
    request: AuditRequest,
    audit_spec: AuditSpec,
    spec_hash: str,
    pinned: Source,
    code_dir: Path,
    cache_dir: Path,
    paths: store.AuditPaths,
    progress: Progress | None = None,
    rerun_spec: Path | None = None,
) -> AuditPlan:
    """Decide the isolation, build or reuse the environment, run `prepare`, and list every run.

    ``rerun_spec``: the stored spec the re-run command names, when the spec came from no file the
    commit carries (inferred, or an uncommitted repaudit.toml)."""
    progress = progress or SilentProgress()
    isolation = run.detect_isolation()
    wanted = request.require_isolation
    if wanted is not None and run.weakest((isolation, wanted)) is not wanted:
        raise EnvSetupError(
            f"this machine offers only {isolation.value} isolation but --require-isolation "
            f"{wanted.value} was given: install bubblewrap (apt-get install bubblewrap; on "
            "Ubuntu 24.04 also allow user namespaces, see docs/ci.md) or lower the requirement"
        )
    progress.phase_started(Phase.ENVIRONMENT)
    environment = env.prepare_environment(
        audit_spec,
        pinned,
        code_dir,
        cache_dir=cache_dir,
        log_path=paths.environment_log,
        isolation=isolation,
    )
    progress.phase_finished(Phase.ENVIRONMENT, environment_words(environment, isolation))
    prepared = None
    if audit_spec.prepare:
        progress.phase_started(Phase.PREPARE)
        prepared = run.run_prepare(
            audit_spec.prepare,
            source=pinned,
            environment=environment,
            isolation=isolation,
            work_dir=paths.prepare_dir,
            log_dir=paths.root,
            timeout_seconds=audit_spec.timeout_seconds,
            env=audit_spec.env,
        )
        progress.phase_finished(Phase.PREPARE, f"output in {prepared}")
    template = SeedRequest.for_spec(
        audit_spec,
        key=RunKey(Arm.METHOD, 0),
        command="",
        source=pinned,
        environment=environment,
        isolation=isolation,
        run_dir=paths.root,
        work_dir=paths.root,
        prepared_dir=prepared,
        spec_hash=spec_hash,
    )
    return AuditPlan(
        spec=audit_spec,
        spec_hash=spec_hash,
        source=pinned,
        environment=environment,
        isolation=isolation,
        paths=paths,
        requests=tuple(plan_seeds(audit_spec, template, paths)),
        rerun_command=rerun_command(request.argv, pinned, rerun_spec),
        design=sequential.Design(audit_spec.looks, audit_spec.alpha, cache_dir)
        if audit_spec.looks
        else None,
    )


def environment_words(environment: Environment, isolation: Isolation) -> str:
    """The interpreter and the isolation in a few words, for the terminal."""
    if environment.kind is EnvironmentKind.VENV:
        reused = "reused" if environment.reused else "built"
        what = f"venv {(environment.cache_key or '')[:12]} ({reused})"
    else:
        what = "the current interpreter"
    python = f", Python {environment.python_version}" if environment.python_version else ""
    return f"{what}{python}; isolation {isolation.value}"


def plan_seeds(
    audit_spec: AuditSpec, template: SeedRequest, paths: store.AuditPaths
) -> list[SeedRequest]:
    """Every (arm, seed) run, plus repeats of the first method seed for the nondeterminism floor.

    Each request is ``template`` with its own key, command, folders and metric sources.
    """
    first_seed = audit_spec.seeds[0]
    keys = [RunKey(arm.name, seed) for arm in audit_spec.arms for seed in audit_spec.seeds]
    keys += [RunKey(Arm.METHOD, first_seed, r) for r in range(1, audit_spec.repeat_seed)]
    commands = {arm.name: arm.command for arm in audit_spec.arms}
    return [
        dataclasses.replace(
            template,
            key=key,
            command=commands[key.arm],
            run_dir=paths.run_dir(key),
            work_dir=paths.work_dir(key),
            claims=_arm_claims(audit_spec.claims, key.arm),
        )
        for key in keys
    ]


def _arm_claims(claims: tuple[Claim, ...], arm: Arm) -> tuple[Claim, ...]:
    """The claims with the metric sources ``arm``'s runs write (the baseline may write elsewhere)."""
    if arm is Arm.METHOD:
        return claims
    return tuple(
        dataclasses.replace(c, source=c.baseline_source) if c.baseline_source else c for c in claims
    )


def execute(
    plan: AuditPlan, executor: Executor, progress: Progress | None = None
) -> tuple[tuple[RunResult, ...], tuple[Look, ...]]:
    """Run the planned seeds not already finished, storing each result the moment it arrives.

    An adaptive audit runs them look by look, each look one batch (one job array on Slurm), and
    stops when stopping.assess says so: the runs of the looks it ran, and the looks. A resumed
    audit replays its finished looks from the stored runs and goes on from the first unfinished.
    """
    # A seed repaudit itself could not start (no exit code) is tried again; every seed that ran is kept.
    finished = {
        key: result
        for key, result in store.load_runs(plan.paths, plan.spec_hash).items()
        if not (result.status is RunStatus.FAILED and result.returncode is None)
    }
    if plan.design is None:
        return _run_batch(plan.requests, plan, executor, finished, progress), ()
    looks: list[Look] = []
    for k, seeds in enumerate(plan.design.looks):
        wanted = set(plan.spec.seeds[:seeds])
        batch = [r for r in plan.requests if r.key.seed in wanted]
        runs = _run_batch(batch, plan, executor, finished, progress)
        results, _, _ = verdict.evaluate(plan.spec, runs, plan.design.nominal(k))
        earlier = set(plan.spec.seeds[: plan.design.looks[k - 1]]) if k else set()
        look = stopping.assess(
            results,
            plan.design,
            k,
            finished={
                arm.name: sum(r.ok and r.key.arm is arm.name and not r.key.repeat for r in runs)
                for arm in plan.spec.arms
            },
            seconds=sum(r.seconds for r in runs if r.key.seed not in earlier),
        )
        looks.append(look)
        if look.stop is not StopReason.CONTINUE:
            break
    return runs, tuple(looks)


def _run_batch(
    batch: Sequence[SeedRequest],
    plan: AuditPlan,
    executor: Executor,
    finished: dict[RunKey, RunResult],
    progress: Progress | None,
) -> tuple[RunResult, ...]:
    """Run the requests of ``batch`` not in ``finished`` (adding each result to it and the store
    at once); the batch's results in plan order."""
    pending = [r for r in batch if r.key not in finished]
    if progress:
        progress.planned(len(batch), len(batch) - len(pending))
    for result in executor.run_all(pending, on_start=progress.started if progress else None):
        store.save_run(
            plan.paths, result
        )  # at once: an interrupted audit keeps every finished seed
        finished[result.key] = result
        if progress:
            progress.finished(result)
    return tuple(finished[r.key] for r in batch if r.key in finished)


def judge(plan: AuditPlan, runs: Sequence[RunResult], looks: tuple[Look, ...] = ()) -> Audit:
    """The fingerprint of how the seeds actually ran, the statistics and the verdict (at the
    boundaries of the look an adaptive audit stopped at)."""
    ran = [r for r in runs if r.isolation is not None]
    isolation = run.weakest(r.isolation for r in ran if r.isolation) if ran else plan.isolation
    shared, varying = split_variables(ran)
    fingerprint = env.fingerprint(
        plan.environment, shared, isolation=isolation, varying=tuple(varying)
    )
    store.write_json_atomic(plan.paths.environment_json, store.to_plain(fingerprint))
    notes = plan.source.warnings + plan.environment.notes
    if isolation is not Isolation.BUBBLEWRAP:  # weaker isolation is a warning the reader must see
        notes += (isolation.note,)
    nominal = plan.design.nominal(len(looks) - 1) if plan.design and looks else None
    return verdict.make_audit(
        plan.spec,
        runs,
        audit_id=plan.paths.root.name,
        source=plan.source,
        fingerprint=fingerprint,
        audit_dir=plan.paths.root,
        rerun_command=plan.rerun_command,
        notes=notes,
        looks=looks,
        nominal=nominal,
    )


def split_variables(runs: Sequence[RunResult]) -> tuple[dict[str, str], list[str]]:
    """(variables every run had with the same value, names whose value differed between runs)."""
    if not runs:
        return {}, []
    names = sorted({name for r in runs for name in r.variables})
    shared = {
        name: runs[0].variables[name]
        for name in names
        if all(r.variables.get(name) == runs[0].variables.get(name) for r in runs)
    }
    return shared, [name for name in names if name not in shared]


def rerun_command(argv: Sequence[str], pinned: Source, spec_file: Path | None = None) -> str:
    """The command that re-runs this audit: the user's arguments, with the code named where a
    reviewer on another machine fetches it (its URL, or a local repository's remote) and pinned
    to the audited commit (and to ``spec_file``, the stored spec, when the spec is in no file of
    the commit). Code only this machine has stays a path, made absolute; a snapshot gets no --ref
    (its commit lives in repaudit's cache), so the command snapshots the folder again."""
    # A token typed into an https URL must not reach audit.json or the report.
    args = [source.public_url(a) for a in argv] + (["--spec", str(spec_file)] if spec_file else [])
    while "--ref" in args:
        del args[args.index("--ref") : args.index("--ref") + 2]
    args = [a for a in args if not a.startswith("--ref=")]
    if args and args[0] != "check":
        args.insert(0, "check")
    location = pinned.fetch_url if pinned.portable else None
    if location is None and pinned.url is None:
        location = str(Path(pinned.target).expanduser().resolve())
    if location is not None and pinned.target in args:
        args[args.index(pinned.target)] = location
    pin = [] if pinned.snapshot else ["--ref", pinned.commit]
    return shlex.join(["repaudit", *args, *pin])


@contextmanager
def internal_errors_saved(log_path: Path) -> Iterator[None]:
    """An unexpected exception (a bug in repaudit) becomes InternalError, never a verdict: its
    traceback is saved to ``log_path`` and the message names that file. A disk that is full or
    read-only is no bug: it becomes the StoreError that says so."""
    try:
        yield
    except (RepauditError, KeyboardInterrupt):
        raise
    except Exception as error:
        if isinstance(error, OSError) and (problem := store.unwritable(error, log_path.parent)):
            raise problem from error
        raise InternalError.saved(error, log_path) from error
