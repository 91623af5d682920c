"""The report's context: every string the templates print, formatted here so templates only loop.

``context(audit)`` is pure: the same audit gives the same dict, and the timestamp is the audit's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from repaudit import formatting, units, wording
from repaudit.formatting import ScoreFormat, duration, p_value, percent
from repaudit.model import (
    Arm,
    ArmSummary,
    Audit,
    ClaimKind,
    ClaimResult,
    Direction,
    EnvironmentKind,
    ImprovementDecision,
    Interval,
    Isolation,
    ReproductionDecision,
    RunResult,
    RunStatus,
    TestResult,
    Tone,
    Verdict,
)
from repaudit.report.looks import looks_context
from repaudit.spec import spec_to_toml

VERDICT_WORDS = {
    Verdict.HOLDS: ("The claim holds", Tone.GOOD),
    Verdict.DOES_NOT_HOLD: ("The claim does not hold", Tone.BAD),
    Verdict.INCONCLUSIVE: ("Inconclusive", Tone.WARN),
    Verdict.ERROR: ("The audit could not run", Tone.BAD),
}
REPRODUCTION_WORDS = {
    ReproductionDecision.REPRODUCED: ("reproduces", Tone.GOOD),
    ReproductionDecision.OPTIMISTIC: ("is reached only by a lucky seed", Tone.WARN),
    ReproductionDecision.NOT_REPRODUCED: ("does not reproduce", Tone.BAD),
    ReproductionDecision.EXCEEDED: ("is exceeded by the re-runs", Tone.GOOD),
    ReproductionDecision.BASELINE_UNDERSTATED: ("is understated: its code does better", Tone.BAD),
    ReproductionDecision.INCONCLUSIVE: ("cannot be judged yet", Tone.WARN),
}
IMPROVEMENT_WORDS = {
    ImprovementDecision.HOLDS: ("clears seed noise", Tone.GOOD),
    ImprovementDecision.OVERSTATED: ("is real but smaller than claimed", Tone.BAD),
    ImprovementDecision.WITHIN_NOISE: ("is within seed noise", Tone.BAD),
    ImprovementDecision.REVERSED: ("is reversed: the baseline does better", Tone.BAD),
    ImprovementDecision.INCONCLUSIVE: ("cannot be told apart from seed noise yet", Tone.WARN),
}
#: Lines of a run's log tail printed on paper (the screen shows the whole tail in <details>):
#: a finished run's last lines hold its metric, a failed run's the end of its traceback.
PRINTED_TAIL_LINES_OK, PRINTED_TAIL_LINES_FAILED = 3, 12
STATUS_WORDS = {
    RunStatus.OK: ("ok", Tone.GOOD),
    RunStatus.FAILED: ("failed", Tone.BAD),
    RunStatus.TIMEOUT: ("timed out", Tone.BAD),
    RunStatus.NO_METRIC: ("no metric", Tone.WARN),
    RunStatus.OK_WITH_ERROR: ("ok, then an error", Tone.WARN),
}


def score_format(result: ClaimResult | None) -> ScoreFormat:
    """Scores to two significant digits of the method's seed sd, as the verdict paragraph does."""
    if result is None:
        return ScoreFormat(())
    return wording.claim_format(result.claim, result.arms[0].values if result.arms else ())


def interval(span: Interval | None, fmt: Callable[[float], str]) -> str:
    """ "[low, high]", or "—" where there is no interval."""
    return "—" if span is None else formatting.interval(span.low, span.high, fmt)


def run_label(run: RunResult) -> str:
    """ "method seed 3", "method seed 1 (repeat 2)"."""
    key = run.key
    return f"{key.arm} seed {key.seed}" + (f" (repeat {key.repeat})" if key.repeat else "")


# ---------------------------------------------------------------- context


def context(audit: Audit, *, with_plots: bool = True) -> dict[str, Any]:
    """Everything the templates print, already formatted as strings (plots only for HTML)."""
    label, tone = VERDICT_WORDS[audit.verdict]
    source, fingerprint = audit.source, audit.fingerprint
    subject = audit_subject(audit)
    primary = audit.results[0] if audit.results else None
    fmt = score_format(primary)
    factor = primary.score_factor if primary else 1.0
    return {
        "title": f"repaudit: {label.lower()} — {subject}",
        "subject": subject,
        "commit_short": source.commit[:12] if source else "",
        "audit_id": audit.audit_id,
        "created": audit.created_at.replace("T", " ").replace("Z", " UTC"),
        "version": audit.repaudit_version or (fingerprint.repaudit_version if fingerprint else ""),
        "verdict": {
            "key": audit.verdict.value,
            "label": label,
            "tone": tone,
            "sentence": _sentence(audit),
            "reason": audit.verdict_reason,
            "could_not_run": audit.verdict is Verdict.ERROR,
        },
        "claims": [_claim(result, with_plots, audit.runs) for result in audit.results],
        "looks": looks_context(audit),
        "notes": list(audit.notes),
        "runs": [_run(run, audit.spec.claim.metric, fmt, factor) for run in audit.runs],
        "runs_summary": _runs_summary(audit.runs),
        "failures_heading": _count(sum(not r.ok for r in audit.runs), "did not finish"),
        "failures": failure_groups(r for r in audit.runs if not r.ok),
        "errors_heading": _count(
            sum(r.status is RunStatus.OK_WITH_ERROR for r in audit.runs),
            "exited with an error after the metrics were written",
        ),
        "errors_after_metric": failure_groups(
            r for r in audit.runs if r.status is RunStatus.OK_WITH_ERROR
        ),
        "cause": _cause(audit),
        "isolation": _isolation(audit),
        "at_a_glance": _at_a_glance(audit),
        "provenance": _provenance(audit),
        "inputs": list(audit.inputs),
        "rerun_command": audit.rerun_command,
        "rerun_local": _rerun_local(audit),
    }


def audit_subject(audit: Audit) -> str:
    """What was audited, for titles: the repository, or `repaudit stats`'s score files by name
    ("method.txt vs baseline.txt")."""
    if audit.source is not None:
        return audit.source.display_name
    return " vs ".join(Path(i).name for i in audit.inputs) or "Numbers supplied by the user"


def _cause(audit: Audit) -> dict[str, str] | None:
    """Why an audit that could not run stopped: its first failed method seed and the end of its
    log, shown under the verdict (the seed table further down has every run)."""
    if audit.verdict is not Verdict.ERROR:
        return None
    failed = [r for r in audit.runs if r.key.arm == Arm.METHOD and not r.ok]
    if not failed:
        return None
    first = failed[0]
    tail = "\n".join(first.log_tail.splitlines()[-PRINTED_TAIL_LINES_FAILED:])
    reason = first.reason or STATUS_WORDS[first.status][0]
    if first.cause and first.cause != reason:  # the error line its output ended with
        reason = f"{reason}: {first.cause}"
    return {"label": run_label(first), "reason": reason, "log_tail": tail}


def _at_a_glance(audit: Audit) -> list[dict[str, str]]:
    """The environment in one line near the top (pytest-html's habit); the details stay below."""
    fp = audit.fingerprint
    if fp is None:
        return []
    kind = audit.spec.environment
    where = "its own venv" if kind is EnvironmentKind.VENV else "the current interpreter"
    torch = "none" if fp.torch is None else fp.torch + (f", CUDA {fp.cuda}" if fp.cuda else ", CPU")
    items = [
        ("Python", f"{fp.python} ({where})", None),
        (
            "Isolation",
            fp.isolation.value,
            Tone.GOOD if fp.isolation is Isolation.BUBBLEWRAP else Tone.WARN,
        ),
        ("torch", torch, None),
        ("GPUs", str(len(fp.gpus)) if fp.gpus else "none", None),
    ]
    if fp.resolved_as_of:
        items.insert(1, ("Packages as of", fp.resolved_as_of, None))
    return [{"label": k, "value": v, "tone": t or ""} for k, v, t in items]


def _rerun_local(audit: Audit) -> str:
    """Plain words when the re-run command works only on this machine; "" when it is portable."""
    source = audit.source
    if source is None or source.portable:
        return ""
    if source.snapshot:
        return (
            "The audited files were snapshotted from a folder on the machine that ran the audit "
            "(no commit pins them): this command runs only where that folder is. Commit and push "
            "the code, then audit its URL, to give reviewers a command they can run."
        )
    if source.fetch_url:
        return (
            f"The audited folder {source.subdirectory} is inside the repository {source.fetch_url} "
            "(commit above); this command names its local path, so it runs only where that "
            "checkout is."
        )
    return (
        "The audited repository is a local path on the machine that ran the audit, and no remote "
        "is known to hold this commit: the command runs only there. Push the commit (and audit "
        "its URL) to give reviewers a command they can run."
    )


def _sentence(audit: Audit) -> str:
    """The verdict in one sentence, from the primary claim's decisions."""
    if not audit.results or audit.verdict is Verdict.ERROR:
        return "No method seed finished, so there is nothing to judge."
    result = audit.results[0]
    fmt = score_format(result)
    words = REPRODUCTION_WORDS[result.reproduction.decision][0]
    text = f"The claimed {result.claim.metric} of {fmt(result.claim.value)} {words}"
    if result.improvement is not None:
        gap = fmt.signed(result.improvement.claimed_gap)
        words = IMPROVEMENT_WORDS[result.improvement.decision][0]
        text += f", and the claimed {gap} gain over the baseline {words}"
    more = len(audit.results) - 1
    return text + (f" ({more} more claim{'s' if more > 1 else ''} below)." if more else ".")


def _claim(result: ClaimResult, with_plots: bool, runs: tuple[RunResult, ...]) -> dict[str, Any]:
    claim, rep, imp = result.claim, result.reproduction, result.improvement
    fmt = score_format(result)
    unit = "%" if units.in_percent(result) else ""
    method = result.arms[0] if result.arms and result.arms[0].n else None  # None: no seed finished
    readings = [("Claimed", fmt(claim.value) + unit)]
    if method is not None:
        readings += [
            (
                "Re-runs",
                f"{fmt(method.mean)}{unit} ± {fmt(method.sd)} sd; median {fmt(method.median)}",
            ),
            (
                f"{rep.prediction_interval.level:.0%} prediction interval for one new seed"
                if rep.prediction_interval
                else "Prediction interval",
                interval(rep.prediction_interval, fmt),
            ),
            ("Seeds reaching the claim", f"{rep.seeds_reaching} of {method.n}"),
        ]
    if rep.chance_one_seed_reaches is not None:
        readings.append(("Chance one new seed reaches it", percent(rep.chance_one_seed_reaches)))
    if rep.best_of_k is not None:
        k = max(1, round(rep.best_of_k))
        readings.append(
            ("Best-of-k reading", f"the best of ~{k} seed{'s' * (k > 1)} reaches it half the time")
        )
    decisions = [
        _decision(
            "Does the claimed number reproduce?",
            rep.decision.value,
            REPRODUCTION_WORDS[rep.decision][1],
            rep.reason,
            readings,
        )
    ]
    base = result.baseline_reproduction
    if base is not None and claim.baseline is not None:
        decisions.append(
            _decision(
                "Does the paper's baseline number reproduce?",
                base.decision.value,
                REPRODUCTION_WORDS[base.decision][1],
                base.reason,
                [("Claimed baseline", fmt(claim.baseline) + unit)],
            )
        )
    if imp is not None:
        decisions.append(
            _decision(
                "Does the claimed improvement clear seed noise?",
                imp.decision.value,
                IMPROVEMENT_WORDS[imp.decision][1],
                imp.reason,
                _improvement_readings(result, fmt),
            )
        )
    floor = None
    if result.repeat_sd is not None and method is not None:
        floor = f"{fmt(result.repeat_sd)} sd when one seed is re-run, against {fmt(method.sd)} seed to seed"
    outliers = [
        f"{len(a.outliers)} {a.arm} seed(s) far below the rest (diverged runs, robust z > 8): "
        f"{', '.join(fmt(v) for v in a.outliers)}"
        for a in result.arms
        if a.outliers
    ]
    kind = f"the mean of {claim.runs} runs" if claim.kind is ClaimKind.MEAN else "a single run"
    better = "higher" if claim.direction is Direction.HIGHER else "lower"
    deciding = (imp.gain_test, imp.size_test, imp.reverse_test) if imp else ()
    tests = [t for t in (rep.test, base.test if base else None, *deciding) if t is not None]
    tests += list(imp.tests if imp else ())
    converted = units.conversion_note(result, claim.metric)
    return {
        "metric": claim.metric,
        "heading": f"{claim.metric}: claimed {fmt(claim.value)}{unit}",
        "about": f"{better} is better; the paper reports {kind}",
        "decisions": decisions,
        "report_as": _report_as(result, fmt, unit),
        "floor": floor,
        "notes": ([converted] if converted else []) + list(imp.notes if imp else ()) + outliers,
        "arms": [_arm(a, fmt) for a in result.arms],
        "tests": [_test(t) for t in tests],
        "plots": _plots(result, _seeds(runs, claim.metric))
        if with_plots and method is not None
        else [],
    }


def _report_as(result: ClaimResult, fmt: ScoreFormat, unit: str) -> str:
    """How a paper would state what the re-runs show: "82.23 ± 0.58% over 10 seeds, mean ± sd"."""
    arms = [a for a in result.arms if a.n >= 2]
    if not arms or arms[0].arm != Arm.METHOD:
        return ""
    values = [f"{fmt(a.mean)} ± {fmt(a.sd)}{unit}" for a in arms]
    # Failed seeds are part of what the code gives: a paper leaving them out would flatter it.
    failed = "".join(
        f"; {a.n_failed} of {a.n + a.n_failed} {a.arm} seeds failed"
        for a in result.arms
        if a.n_failed
    )
    if len(arms) == 1:
        return f"{values[0]} over {arms[0].n} seeds, mean ± sd{failed}"
    counts = (
        f"{arms[0].n} seeds each"
        if arms[0].n == arms[1].n
        else f"{arms[0].n} and {arms[1].n} seeds"
    )
    return f"{values[0]} (method) and {values[1]} (baseline) over {counts}, mean ± sd{failed}"


def _seeds(runs: tuple[RunResult, ...], metric: str) -> list[int]:
    """The seed of each successful method run that gave ``metric``, in the order of the arm's
    values (verdict.evaluate orders runs by key), so a plot numbers seeds as the table does."""
    ordered = sorted(runs, key=lambda r: r.key)
    return [
        r.key.seed
        for r in ordered
        if r.key.arm == Arm.METHOD and r.key.repeat == 0 and r.ok and metric in r.metrics
    ]


def _plots(result: ClaimResult, seeds: list[int]) -> list[Any]:
    """The claim's figures; matplotlib is imported here, only when a report is rendered."""
    from repaudit.report.plots import plots

    return plots(result, seeds)


def _decision(question: str, decision: str, tone: Tone, reason: str, readings: list) -> dict:
    return {
        "question": question,
        "decision": decision,
        "tone": tone,
        "reason": reason,
        "readings": [{"label": k, "value": v} for k, v in readings],
    }


def _improvement_readings(result: ClaimResult, fmt: ScoreFormat) -> list:
    imp = result.improvement
    assert imp is not None
    gap = fmt.signed
    readings = [("Claimed gap over the baseline", gap(imp.claimed_gap))]
    if imp.observed_gap is not None and imp.gap_interval is not None:
        level = f"{imp.gap_interval.level:.0%}"
        observed = f"{gap(imp.observed_gap)}, {level} interval {interval(imp.gap_interval, gap)}"
        readings.append(("Observed gap", observed))
    if imp.paper_gap_bound is not None and imp.size_test and imp.size_test.level:
        readings.append(
            (
                f"A gap measured the paper's way stays below ({1 - imp.size_test.level:.0%})",
                gap(imp.paper_gap_bound),
            )
        )
    for name, test in (("Gain test p", imp.gain_test), ("Size test p", imp.size_test)):
        if test is not None and test.p_value is not None:
            readings.append((name, p_value(test.p_value)))
    if imp.seed_luck is not None:
        readings.append(("Two runs of the same code differ this much", percent(imp.seed_luck)))
    if imp.power is not None:
        readings.append(("Chance this audit had to settle a true claim", percent(imp.power)))
    if imp.seeds_needed is not None:
        high = imp.seeds_needed_high if imp.seeds_needed_high is not None else "thousands"
        spread = f" ({imp.seeds_needed_low} to {high})" if imp.seeds_needed_low else ""
        readings.append(
            ("Seeds per arm for an 80% chance to settle", f"{imp.seeds_needed}{spread}")
        )
    return readings


def _arm(arm: ArmSummary, fmt: Callable[[float], str]) -> dict[str, str]:
    return {
        "arm": arm.arm,
        "n": f"{arm.n}",
        "failed": f"{arm.n_failed}",
        "mean": fmt(arm.mean),
        "sd": fmt(arm.sd),
        "median": fmt(arm.median),
        "range": f"{fmt(arm.minimum)} – {fmt(arm.maximum)}",
        "mean_interval": interval(arm.mean_interval, fmt),
        "bootstrap_interval": interval(arm.bootstrap_interval, fmt),
    }


def _test(test: TestResult) -> dict[str, Any]:
    return {
        "name": test.name,
        "deciding": test.deciding,
        "statistic": formatting.number(test.statistic),
        "p": p_value(test.p_value),
        "interval": f"{test.interval.level:.0%}: {interval(test.interval, formatting.number)}"
        if test.interval
        else "",
        "assumption": test.assumption or "—",
        "meaning": test.meaning,
        "note": test.note,
    }


def _run(run: RunResult, metric: str, fmt: Callable[[float], str], factor: float) -> dict[str, Any]:
    """One run's row; its value on the claim's unit (``factor``), as the statistics saw it."""
    value = run.value(metric)
    status, tone = STATUS_WORDS[run.status]
    printed_lines = PRINTED_TAIL_LINES_OK if run.ok else PRINTED_TAIL_LINES_FAILED
    key = run.key
    return {
        "label": run_label(run),
        "arm": str(key.arm),
        "seed": f"{key.seed}" + (f" (repeat {key.repeat})" if key.repeat else ""),
        "status": status,
        "tone": tone,
        "value": "—" if value is None else fmt(value * factor),
        "duration": duration(run.seconds) if run.seconds else "—",
        "memory": formatting.size(run.peak_memory_bytes),
        "seed_calls": [
            f"{c.function}({'' if c.original is None else c.original}) → {c.replaced_by}"
            for c in run.seed_calls
        ],
        "reason": run.reason,
        "cause": run.cause,
        "log_tail": run.log_tail,
        "log_tail_print": "\n".join(run.log_tail.splitlines()[-printed_lines:]),
        "job_id": run.job_id or "",
    }


def _runs_summary(runs: tuple[RunResult, ...]) -> str:
    counts = {status: sum(r.status is status for r in runs) for status in RunStatus}
    problems = [
        f"{n} {STATUS_WORDS[s][0]}" for s, n in counts.items() if n and s is not RunStatus.OK
    ]
    text = f"{sum(r.ok for r in runs)} of {len(runs)} runs finished"
    return text + (f"; {', '.join(problems)}" if problems else "")


def failure_groups(runs: Iterable[RunResult]) -> list[dict[str, str]]:
    """Runs grouped by what went wrong, most frequent first: "3 seeds (method seeds 1, 2, 4)" or
    "method seed 3", with the status, the cause its output ended with (else the reason) and the
    reason beside it."""
    groups: dict[tuple[RunStatus, str], list[RunResult]] = {}
    for run in runs:
        groups.setdefault((run.status, run.cause or run.reason), []).append(run)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))  # stable: first seen first
    return [
        {
            "label": _run_list(members)
            if len(members) == 1
            else f"{len(members)} seeds ({_run_list(members)})",
            "status": STATUS_WORDS[status][0],
            "cause": cause,
            "reason": _shared_reason(members, cause),
        }
        for (status, cause), members in ordered
    ]


def _shared_reason(runs: list[RunResult], cause: str) -> str:
    """The reason beside a cause ("exit code 1"), when every run of the group has the same one."""
    reasons = {run.reason for run in runs} - {cause}
    return reasons.pop() if len(reasons) == 1 and len({r.reason for r in runs}) == 1 else ""


def _count(runs: int, what: str) -> str:
    """ "3 runs did not finish"; "" for none."""
    return f"{runs} run{'s' * (runs != 1)} {what}" if runs else ""


def _run_list(runs: list[RunResult]) -> str:
    """ "method seeds 1, 2, 4; baseline seed 3" (repeats as "1 (repeat 2)")."""
    by_arm: dict[str, list[str]] = {}
    for run in runs:
        seed = f"{run.key.seed}" + (f" (repeat {run.key.repeat})" if run.key.repeat else "")
        by_arm.setdefault(str(run.key.arm), []).append(seed)
    return "; ".join(
        f"{arm} seed{'s' * (len(seeds) > 1)} {', '.join(seeds)}" for arm, seeds in by_arm.items()
    )


def _isolation(audit: Audit) -> dict[str, str] | None:
    """The weakest level any seed ran under, from the runs themselves (each node's, under Slurm)."""
    if audit.fingerprint is None:
        return None
    level = audit.fingerprint.isolation
    tone = Tone.GOOD if level is Isolation.BUBBLEWRAP else Tone.WARN
    return {"level": level.value, "text": level.note, "tone": tone}


def _provenance(audit: Audit) -> dict[str, Any] | None:
    """Where the code came from, what ran, and on what machine."""
    source, fp, spec = audit.source, audit.fingerprint, audit.spec
    if source is None:
        return None
    local = source.target if source.snapshot else str(source.repo_path)
    origin = source.fetch_url or f"{local} (a local path: no remote is known to hold the commit)"
    rows = [
        ("Repository", origin),
        ("Commit", source.commit),
        ("Ref", source.ref or "—"),
        ("Spec from", spec.origin),
    ]
    if source.subdirectory:
        rows.append(("Folder", source.subdirectory))
    if source.snapshot:
        rows.append(("Snapshot", "uncommitted files were snapshotted into the audited commit"))
    rows += [(f"Command, {arm.name}", arm.command) for arm in spec.arms]
    rows += [
        (name, text) for name, text in (("Setup", spec.setup), ("Prepare", spec.prepare)) if text
    ]
    if spec.looks:
        rows.append(("Seeds", f"auto: looks at {', '.join(map(str, spec.looks))} per arm"))
    else:
        rows.append(("Seeds", f"{', '.join(map(str, spec.seeds))} ({len(spec.seeds)} per arm)"))
    machine = []
    if fp is not None:
        machine = [
            ("Python", fp.python),
            ("Platform", fp.platform),
            ("CPU", f"{fp.cpu} ({fp.cpu_count} cores)"),
            ("GPUs", ", ".join(fp.gpus) or "none"),
            ("torch / CUDA / cuDNN", " / ".join(v or "—" for v in (fp.torch, fp.cuda, fp.cudnn))),
            ("Isolation", fp.isolation.value),
            ("repaudit", fp.repaudit_version),
        ]
        # the Python chosen and the date its packages were resolved as of (audits made since both)
        machine[1:1] = [
            (name, text)
            for name, text in (
                ("Environment", fp.environment),
                ("Packages as of", fp.resolved_as_of),
            )
            if text
        ]
        machine += [(f"${name}", value) for name, value in sorted(fp.variables.items())]
    return {
        "rows": [{"label": k, "value": v} for k, v in rows],
        "machine": [{"label": k, "value": v} for k, v in machine],
        "packages": list(fp.packages) if fp else [],
        "spec_toml": spec_to_toml(spec),
    }
