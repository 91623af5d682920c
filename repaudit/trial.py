"""A trial of `repaudit init`'s draft: one seed, a short timeout, the same sandbox as an audit.

Used by `repaudit init --try` (guesses become observations) and by `repaudit check` on a
repository that carries no spec: its draft is audited only when the evidence is strong, meaning
an entry point, a seed mechanism and a metric were all found and the trial seed printed the metric.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from repaudit import env, run, source, spec
from repaudit.errors import SpecError
from repaudit.formatting import duration
from repaudit.model import (
    Arm,
    AuditSpec,
    EnvironmentKind,
    RunKey,
    RunResult,
    SeedMechanism,
    SeedRequest,
    Source,
)

TRIAL_SEED = 7919
"""The trial's seed: a value no script uses as its default, so a seeding call that receives it
shows the seed reached the code."""
TRIAL_TIMEOUT = 120.0
"""Seconds a trial seed runs before it is stopped; what it printed by then is kept."""
NO_MATCH = r"(?!)(x)"
"""A regex with one group that matches nothing."""
INFERRED = "inferred by repaudit init"
"""How AuditSpec.origin starts for a spec `check` inferred itself."""


@dataclasses.dataclass(frozen=True)
class Trial:
    """What one trial seed of a draft did."""

    draft: spec.Draft
    """The draft with the trial's observations (metrics it printed first)."""
    result: RunResult
    """The trial seed's record."""
    run_dir: Path
    """Its stdout.log and stderr.log."""
    seed: str
    """Plain words on whether the seed reached the code."""

    @property
    def printed_metric(self) -> bool:
        """True when the draft's metric was read from what the trial printed."""
        metric = self.draft.metric
        return metric is not None and bool(metric.observed)


def draft_text(draft: spec.Draft, target: str, *, commit: str | None = None) -> str:
    """The draft as TOML, its first comment saying exactly what to run next."""
    return spec.render_draft(
        draft, next_step=f"repaudit check {target} --claim <the paper's number>", commit=commit
    )


def try_draft(
    draft: spec.Draft,
    pinned: Source,
    code_dir: Path,
    *,
    cache_dir: Path,
    run_dir: Path,
    timeout_seconds: float = TRIAL_TIMEOUT,
) -> Trial:
    """Run the draft's command for one seed (prepare first when it has one); raises SpecError when
    the draft does not load as a spec (no command, say), EnvSetupError when its environment fails."""
    run_dir.mkdir(parents=True, exist_ok=True)
    draft_file = run_dir / "draft.toml"
    draft_file.write_text(draft_text(draft, pinned.target), encoding="utf-8")
    # A placeholder claim, and a regex that never matches when no metric was guessed: the trial
    # reads the output itself.
    unguessed = None if draft.metric and (draft.metric.regex or draft.metric.json) else NO_MATCH
    overrides = spec.SpecOverrides(claim=0.0, metric_regex=unguessed)
    trial_spec = spec.load_spec(code_dir, spec_path=draft_file, overrides=overrides)
    # The seed hook (in every environment) observes every seeding call, so the trial can tell
    # whether the seed arrived.
    isolation = run.detect_isolation()
    environment = env.prepare_environment(
        trial_spec,
        pinned,
        code_dir,
        cache_dir=cache_dir,
        log_path=run_dir / "environment.log",
        isolation=isolation,
    )
    prepared = None
    if trial_spec.prepare:
        prepared = run.run_prepare(
            trial_spec.prepare,
            source=pinned,
            environment=environment,
            isolation=isolation,
            work_dir=run_dir / "prepare",
            log_dir=run_dir,
            timeout_seconds=max(timeout_seconds, trial_spec.timeout_seconds),
            env=trial_spec.env,
        )
    seed = trial_spec.seeds[0] if _per_seed_files(draft) else TRIAL_SEED
    request = dataclasses.replace(
        SeedRequest.for_spec(
            trial_spec,
            key=RunKey(Arm.METHOD, seed),
            command=trial_spec.arms[0].command,
            source=pinned,
            environment=environment,
            isolation=isolation,
            run_dir=run_dir / "seed",
            work_dir=run_dir / "work",
            prepared_dir=prepared,
        ),
        timeout_seconds=timeout_seconds,
        # unbuffered: what a run stopped at the timeout printed is still in its log
        env={**trial_spec.env, "PYTHONUNBUFFERED": "1"},
    )
    result = run.run_seed(request)
    output = "\n".join(_read(request.run_dir / name) for name in ("stdout.log", "stderr.log"))
    reached = _seed_words(result, seed, trial_spec.seed_override)
    how = "ran to the end" if result.returncode == 0 else f"{result.status.value}: {result.reason}"
    summary = f"seed {seed}, {how} in {duration(result.seconds)}; {reached}"
    written = next(iter(result.metrics.values()), None)
    return Trial(spec.observed(draft, output, summary, written), result, request.run_dir, reached)


def inferred_spec(
    pinned: Source,
    code_dir: Path,
    *,
    cache_dir: Path,
    overrides: spec.SpecOverrides,
    default_environment: EnvironmentKind,
    note: Callable[[str], None] | None = None,
) -> AuditSpec:
    """`check` on a repository with no spec: the draft `init` infers, tried for one seed, as the
    audit's spec when the evidence is strong; else SpecError naming what is missing and the
    `repaudit init` command that writes a draft to edit."""
    draft = spec.infer_spec(code_dir)
    missing = list(draft.missing)
    trial = None
    if not missing:
        run_dir = cache_dir / "trials" / f"{_slug(pinned.display_name)}-{pinned.commit[:12]}"
        trial = try_draft(draft, pinned, code_dir, cache_dir=cache_dir, run_dir=run_dir)
        if not trial.printed_metric:
            missing.append(f"a metric its trial seed printed (log: {trial.run_dir})")
    if missing or trial is None:
        raise SpecError(
            f"no audit spec in {pinned.target}, and what `repaudit init` infers is not enough to "
            f"audit it: no {', no '.join(missing)}; run `repaudit init {pinned.target} --try` "
            "to write a draft to edit, or pass --command"
        )
    final = trial.draft
    path = trial.run_dir.parent / "inferred.toml"
    path.write_text(draft_text(final, pinned.target, commit=pinned.commit), encoding="utf-8")
    loaded = spec.load_spec(
        code_dir, spec_path=path, overrides=overrides, default_environment=default_environment
    )
    assert final.entry is not None and final.seed is not None and final.metric is not None
    words = (
        f"{INFERRED}: {loaded.arms[0].command} ({final.entry.where[0]}), seed "
        f"{final.seed.mechanism.value} ({final.seed.where}), metric {final.metric.name} "
        f"(its trial seed printed {final.metric.observed})"
    )
    if note:
        note(f"no spec in {pinned.target}: using the draft {words}; audit.toml records it")
    return dataclasses.replace(loaded, origin=words)


def _per_seed_files(draft: spec.Draft) -> bool:
    return draft.seed is not None and draft.seed.mechanism is SeedMechanism.CONFIG_FILE


def _seed_words(result: RunResult, seed: int, override: bool) -> str:
    calls = result.seed_calls
    reached = [c for c in calls if c.original == seed]
    if reached:
        return f"the seed reached {reached[0].function}({seed})"
    replaced = [c for c in calls if c.original != c.replaced_by]
    if override and replaced:
        first = replaced[0]
        return f"{len(replaced)} fixed seeding calls replaced ({first.function}({first.original}) -> {first.replaced_by})"
    if calls:
        seen = ", ".join(f"{c.function}({c.original})" for c in calls[:3])
        return f"seeding calls saw other values ({seen}), not the seed {seed}: check the seed mechanism"
    return "no seeding call was seen (the hook sees random, numpy, torch, lightning, transformers)"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "repo"


@dataclasses.dataclass(frozen=True)
class InitResult:
    """What `repaudit init` wrote and found."""

    path: Path
    """The draft spec written."""
    draft: spec.Draft
    """What was found (with the trial's observations when tried)."""
    trial: Trial | None
    """The trial seed, with --try."""
    next_step: str
    """The exact command to run next."""

    def lines(self) -> list[str]:
        """What was found, tried and still missing, one plain line each, for the terminal."""
        draft = self.draft
        lines = []
        if draft.command and draft.entry:
            where = f" from {draft.workdir}/" if draft.workdir else ""
            lines.append(f"found     entry point: {draft.command}{where} ({draft.entry.where[0]})")
        if draft.seed:
            lines.append(f"found     seed: {draft.seed.mechanism.value}, {draft.seed.where}")
        if draft.metric:
            metric = draft.metric
            seen = f"observed: {metric.observed}" if metric.observed else "a guess"
            lines.append(
                f"found     metric: {metric.name}, {metric.direction.value} is better, "
                f"{metric.where} ({seen})"
            )
        if draft.tried:
            lines.append(f"tried     {draft.tried}")
        lines += [f"check     {line}" for line in draft.to_check]
        lines += [f"missing   {gap}" for gap in draft.missing]
        return lines


def init_repository(
    target: str,
    *,
    ref: str | None = None,
    output: Path | None = None,
    force: bool = False,
    try_it: bool = False,
    timeout_seconds: float = TRIAL_TIMEOUT,
    store_dir: Path = Path("audits"),
    cache_dir: Path,
    allow_dirty: bool = False,
) -> InitResult:
    """Infer a draft spec for ``target`` (what `check` takes: URL, owner/name[@ref], folder), try it
    for one seed with ``try_it``, and write it: to ``output``, else into a local folder, else to the
    registry (audits/registry/<owner>/<repo>.toml), where `repaudit check owner/repo` finds it."""
    folder = Path(target).expanduser()
    local = folder.is_dir()
    if local:  # before any clone or trial
        spec.refuse_overwrite(output or folder / "repaudit.toml", force=force)
    pinned = None
    if not local or try_it:
        pinned = source.resolve_source(
            target,
            ref=ref,
            cache_dir=cache_dir,
            allow_dirty=allow_dirty,
            ignore=(store_dir, cache_dir, folder / "repaudit.toml"),
        )
    path = output or (folder / "repaudit.toml" if local else registry_path(store_dir, pinned))
    spec.refuse_overwrite(path, force=force)
    found: Trial | None = None
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix="init-") as scratch:
        code_dir = folder if pinned is None else source.checkout(pinned, Path(scratch) / "code")
        draft = spec.infer_spec(code_dir)
        if try_it and pinned is not None:
            run_dir = cache_dir / "trials" / f"{_slug(pinned.display_name)}-{pinned.commit[:12]}"
            found = try_draft(
                draft,
                pinned,
                code_dir,
                cache_dir=cache_dir,
                run_dir=run_dir,
                timeout_seconds=timeout_seconds,
            )
            draft = found.draft
    is_default = path in (folder / "repaudit.toml", registry_path(store_dir, pinned))
    spec_flag = "" if is_default else f" --spec {path}"
    next_step = f"repaudit check {target}{spec_flag} --claim <the paper's number>"
    text = spec.render_draft(draft, next_step=next_step, commit=pinned.commit if pinned else None)
    spec.write_draft(text, path, force=True)
    try:  # a placeholder claim: only the rest of the draft is being checked here
        spec.load_spec(None, spec_path=path, overrides=spec.SpecOverrides(claim=0.0))
    except SpecError as error:
        draft = dataclasses.replace(
            draft, to_check=(*draft.to_check, f"it does not load yet: {error}")
        )
    return InitResult(path, draft, found, next_step)


def registry_path(store_dir: Path, pinned: Source | None) -> Path:
    """audits/registry/<owner>/<repo>.toml: the spec `check owner/repo` finds for a repository."""
    name = pinned.display_name if pinned else "local"
    return store_dir / "registry" / f"{name}.toml"
