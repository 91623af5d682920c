"""Statistics -> decisions, each with a plain-language reason (docs/statistics.md).

The rules, fixed in advance (no test shopping), on scores oriented so that higher is better:
- Q1, the claimed number: the claim against the (1 - alpha) prediction interval for the mean
  of ``claim.runs`` new seeds (one for single-run claims; for mean claims this is exactly the
  t-test with standard error sd·sqrt(1/n + 1/k)). Inside but reached by fewer than 10% of seeds
  is ``optimistic``. Fewer than 3 seeds, or seeds that all score the same (the seed had no
  effect), are ``inconclusive``.
- Q2, the improvement: Welch's one-sided t-test at alpha (Holm-adjusted across claims) decides;
  Mann-Whitney, ASO, P(improvement) and Hedges' g are shown as evidence. Not significant is
  ``within-noise`` only when the audit had 80% power for the claimed gap, else ``inconclusive``.
  Without baseline runs, the seed-luck chance decides. The bootstrap never decides.
The paragraph wording lives in ``wording.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from repaudit import __version__, power, stats, wording
from repaudit.aso import ASO_THRESHOLD, aso
from repaudit.errors import UsageError
from repaudit.formatting import ScoreFormat
from repaudit.model import (
    Arm,
    Audit,
    AuditSpec,
    Claim,
    ClaimKind,
    ClaimResult,
    Decision,
    Direction,
    ExitCode,
    Fingerprint,
    Improvement,
    ImprovementDecision,
    Reproduction,
    ReproductionDecision,
    RunResult,
    Source,
    TestResult,
    Verdict,
)

MIN_SEEDS = 3
#: Claims reached by fewer than this share of seeds are "optimistic" (a lucky seed's number).
LUCKY_SHARE = 0.10
TARGET_POWER = power.TARGET_POWER
#: Below this, P(improvement) is flagged as not practically meaningful (Bouthillier et al. 2021).
MEANINGFUL_SUPERIORITY = 0.75

#: The decisions that fail a claim (exit 1 unless --fail-on says otherwise).
FAILING: frozenset[Decision] = frozenset(
    {
        ReproductionDecision.NOT_REPRODUCED,
        ImprovementDecision.WITHIN_NOISE,
        ImprovementDecision.REVERSED,
    }
)
_EXIT = {
    Verdict.HOLDS: ExitCode.HOLDS,
    Verdict.DOES_NOT_HOLD: ExitCode.DOES_NOT_HOLD,
    Verdict.INCONCLUSIVE: ExitCode.INCONCLUSIVE,
    Verdict.ERROR: ExitCode.ERROR,
}


def _sign(direction: Direction) -> float:
    return 1.0 if direction is Direction.HIGHER else -1.0


def _runs(claim: Claim) -> int:
    """Runs behind the paper's number: ``claim.runs`` for mean claims, else one."""
    return claim.runs if claim.kind is ClaimKind.MEAN else 1


# ---------------------------------------------------------------- Q1


def reproduce(claim: Claim, method: np.ndarray, alpha: float) -> Reproduction:
    """Q1 on the method's scores in their own units (any direction)."""
    n, f = method.size, ScoreFormat(method.tolist())
    if n < MIN_SEEDS:
        return Reproduction(
            ReproductionDecision.INCONCLUSIVE,
            f"Only {n} seed(s) succeeded; at least {MIN_SEEDS} are needed to judge the claimed "
            f"{f(claim.value)}.",
        )
    if stats.all_identical(method):
        return Reproduction(
            ReproductionDecision.INCONCLUSIVE,
            f"All {n} seeds scored exactly {f(method[0])}: the repository seems to ignore the "
            "seed, so this is not a perfect reproduction but no measurement of seed variance. "
            "Re-run with seed_override = true so that the seeds take effect.",
        )
    sign, runs = _sign(claim.direction), _runs(claim)
    oriented, target = sign * method, sign * claim.value
    interval = stats.prediction_interval(method, runs=runs, level=1 - alpha)
    low, high = sorted((sign * interval.low, sign * interval.high))
    chance = stats.chance_to_reach(oriented, target, runs=runs)
    reached = int(np.sum(oriented >= target))
    best_k = stats.best_of_k(oriented, target) if runs == 1 else None
    test = None
    if runs > 1:
        t, p = stats.mean_claim_test(oriented, target, runs=runs) or (None, None)
        test = TestResult(
            "t-test of the claimed mean",
            t,
            p,
            deciding=True,
            assumption="seed scores roughly normal; the paper's runs spread like the re-runs",
            meaning=f"could a mean of {runs} seeds plausibly give the claimed number?",
        )
    if target > high:
        decision = ReproductionDecision.NOT_REPRODUCED
    elif target < low:
        decision = ReproductionDecision.EXCEEDED
    elif chance < LUCKY_SHARE:
        decision = ReproductionDecision.OPTIMISTIC
    else:
        decision = ReproductionDecision.REPRODUCED
    return Reproduction(
        decision,
        wording.reproduction_reason(
            decision, claim, method, interval, reached=reached, chance=chance, best_of_k=best_k
        ),
        prediction_interval=interval,
        claim_percentile=stats.claim_percentile(oriented, target),
        chance_one_seed_reaches=chance,
        best_of_k=best_k,
        test=test,
        seeds_reaching=reached,
    )


# ---------------------------------------------------------------- Q2


def decide_improvement(imp: Improvement, p: float | None, p_reverse: float | None, alpha: float):
    """The decision from the deciding p-value (raw or Holm-adjusted) and the audit's power."""
    if p is None:  # too few seeds or no variance: the reason is already written
        return imp
    if imp.claimed_gap <= 0:
        decision = ImprovementDecision.INCONCLUSIVE
    elif p <= alpha:
        decision = ImprovementDecision.HOLDS
    elif p_reverse is not None and p_reverse <= alpha:
        decision = ImprovementDecision.REVERSED
    elif imp.seed_luck is not None or (imp.power is not None and imp.power >= TARGET_POWER):
        decision = ImprovementDecision.WITHIN_NOISE
    else:
        decision = ImprovementDecision.INCONCLUSIVE
    imp = dataclasses.replace(imp, decision=decision, p_value=p)
    return dataclasses.replace(imp, reason=wording.improvement_reason(imp, alpha))


def _improvement(
    claim: Claim,
    method: np.ndarray,
    baseline: np.ndarray | None,
    alpha: float,
    rng: np.random.Generator,
) -> Improvement | None:
    """Q2 on oriented scores (higher is better); None when there is nothing to compare."""
    sign = _sign(claim.direction)
    if claim.baseline is not None:
        claimed_gap = sign * (claim.value - claim.baseline)
    elif baseline is not None and baseline.size:
        # No baseline number given: the claim is read as a gain over the re-run baseline's mean.
        claimed_gap = sign * claim.value - float(baseline.mean())
    else:
        return None
    imp = Improvement(ImprovementDecision.INCONCLUSIVE, "", claimed_gap=claimed_gap)
    if method.size < MIN_SEEDS or (baseline is not None and baseline.size < MIN_SEEDS):
        counts = f"{method.size} method" + (
            "" if baseline is None else f", {baseline.size} baseline"
        )
        reason = f"Too few successful seeds to test the improvement ({counts}; at least 3 each)."
        return dataclasses.replace(imp, reason=reason)
    if stats.all_identical(method) and (baseline is None or stats.all_identical(baseline)):
        reason = (
            "Every seed scored exactly the same, so the repository seems to ignore the seed and "
            "seed variance cannot be measured; re-run with seed_override = true."
        )
        return dataclasses.replace(imp, reason=reason)
    if baseline is None:
        sd = stats.sd(method)
        luck = stats.seed_luck(method, claimed_gap, runs=_runs(claim))
        needed = power.seeds_needed(claimed_gap, sd, sd, alpha) if claimed_gap > 0 else None
        imp = dataclasses.replace(imp, seed_luck=luck, seeds_needed=needed)
        return decide_improvement(imp, luck, None, alpha)
    return _tested_improvement(imp, method, baseline, alpha, rng)


def _tested_improvement(
    imp: Improvement, method: np.ndarray, baseline: np.ndarray, alpha: float, rng
) -> Improvement:
    level, gap = 1 - alpha, imp.claimed_gap
    welch = stats.welch(method, baseline, level=level)
    assert welch is not None  # both arms constant is handled by the caller
    mw = stats.mann_whitney(method, baseline)
    mw_p = mw.p_greater if mw.p_floor <= alpha else None
    superiority, superiority_interval = stats.probability_of_improvement(
        method, baseline, rng, level=level
    )
    eps_better, eps_worse = aso(method, baseline, rng)
    sd_m, sd_b = stats.sd(method), stats.sd(baseline)
    n_m, n_b = method.size, baseline.size
    tests = (
        TestResult(
            "Welch one-sided t-test",
            welch.statistic,
            welch.p_greater,
            deciding=True,
            assumption="seed means roughly normal; diverged runs pull the mean",
            meaning="is the method's mean score higher than the baseline's?",
            interval=welch.interval,
        ),
        TestResult(
            "Mann-Whitney U, one-sided",
            mw.u,
            mw_p,
            assumption="none on the shape: ranks, so a diverged run counts as just one rank",
            meaning="do the method's seeds tend to rank above the baseline's?",
            note="" if mw_p is not None else wording.floor_note(mw.p_floor, alpha, n_m, n_b),
        ),
        TestResult(
            "ASO ε_min, method better",
            eps_better,
            None,
            assumption="bootstrap of the score quantiles; loose below ~10 seeds per arm",
            meaning=f"below {ASO_THRESHOLD:g}: the method is almost stochastically better "
            "(an upper bound on the violation, not a p-value)",
        ),
        TestResult(
            "ASO ε_min, baseline better",
            eps_worse,
            None,
            assumption="as above",
            meaning=f"below {ASO_THRESHOLD:g}: the baseline is almost stochastically better",
        ),
        TestResult(
            "P(improvement)",
            superiority,
            None,
            assumption="independent seeds; percentile bootstrap interval",
            meaning="chance that a method seed beats a baseline seed (0.5 = no difference)",
            note=""
            if superiority >= MEANINGFUL_SUPERIORITY
            else f"below {MEANINGFUL_SUPERIORITY:g}: not practically meaningful even if real",
            interval=superiority_interval,
        ),
        TestResult(
            "Hedges' g",
            stats.hedges_g(method, baseline),
            None,
            assumption="pooled sd, small-sample corrected",
            meaning="the gap in seed sds (0.2 small, 0.5 medium, 0.8 large)",
        ),
    )
    note = wording.disagreement_note(welch.p_greater, mw_p, alpha, method, baseline)
    imp = dataclasses.replace(
        imp,
        observed_gap=welch.gap,
        gap_interval=welch.interval,
        seeds_needed=power.seeds_needed(gap, sd_m, sd_b, alpha) if gap > 0 else None,
        power=float(power.welch_power(gap, sd_m, sd_b, n_m, n_b, alpha)) if gap > 0 else None,
        consistent_with_claim=welch.interval.low <= gap <= welch.interval.high,
        tests=tests,
        notes=(note,) if note else (),
    )
    return decide_improvement(imp, welch.p_greater, welch.p_less, alpha)


# ---------------------------------------------------------------- one claim, a whole audit


def evaluate_claim(
    claim: Claim,
    method: Sequence[float],
    baseline: Sequence[float] | None,
    *,
    n_failed: Mapping[Arm, int],
    alpha: float,
    rng: np.random.Generator,
    repeat_values: Sequence[float] = (),
) -> ClaimResult:
    """Q1 and Q2 for one claim, unadjusted for other claims.

    ``baseline`` None means there is no baseline arm; empty means every baseline seed failed.
    Arms with no successful seed get no ArmSummary.
    """
    if not 0 < alpha < 0.5:
        raise UsageError(f"alpha must be between 0 and 0.5, got {alpha}")
    if claim.runs < 1:
        raise UsageError(f"claim runs must be at least 1, got {claim.runs}")
    raw_m = stats.scores_array(method, name="method scores", min_n=0)
    raw_b = (
        None if baseline is None else stats.scores_array(baseline, name="baseline scores", min_n=0)
    )
    repeats = stats.scores_array(repeat_values, name="repeat scores", min_n=0)
    arms = tuple(
        stats.summarize_arm(arm, values, n_failed=n_failed.get(arm, 0), rng=rng, level=1 - alpha)
        for arm, values in ((Arm.METHOD, raw_m), (Arm.BASELINE, raw_b))
        if values is not None and values.size
    )
    sign = _sign(claim.direction)
    return ClaimResult(
        claim=claim,
        arms=arms,
        reproduction=reproduce(claim, raw_m, alpha),
        improvement=_improvement(
            claim, sign * raw_m, None if raw_b is None else sign * raw_b, alpha, rng
        ),
        repeat_sd=stats.sd(repeats) if repeats.size >= 2 else None,
    )


def _holm_adjust(results: list[ClaimResult], alpha: float) -> list[ClaimResult]:
    """Re-decide every tested improvement with Holm-adjusted p-values (both directions)."""
    tested = {
        i: r.improvement
        for i, r in enumerate(results)
        if r.improvement is not None and r.improvement.p_value is not None
    }
    if len(tested) < 2:
        return results
    raw = np.array([imp.p_value for imp in tested.values()], dtype=float)
    luck = np.array([imp.seed_luck is not None for imp in tested.values()])
    # Welch's two one-sided p-values sum to 1; seed luck has no reverse test (1.0 never rejects).
    reverse = np.where(luck, 1.0, 1 - raw)
    out = list(results)
    for (i, imp), p, p_rev in zip(
        tested.items(), stats.holm(raw), stats.holm(reverse), strict=True
    ):
        note = f"p-values Holm-adjusted across {len(tested)} claims (raw p = {imp.p_value:.3g})."
        imp = dataclasses.replace(imp, notes=(*imp.notes, note))
        p_reverse = None if imp.seed_luck is not None else float(p_rev)
        out[i] = dataclasses.replace(
            results[i], improvement=decide_improvement(imp, float(p), p_reverse, alpha)
        )
    return out


def overall(results: Sequence[ClaimResult]) -> Verdict:
    """does-not-hold if any decision fails; else inconclusive if any is; else holds."""
    decisions = _decisions(results)
    if any(d in FAILING for d in decisions):
        return Verdict.DOES_NOT_HOLD
    inconclusive = (ReproductionDecision.INCONCLUSIVE, ImprovementDecision.INCONCLUSIVE)
    if any(d in inconclusive for d in decisions):
        return Verdict.INCONCLUSIVE
    return Verdict.HOLDS


def _decisions(results: Sequence[ClaimResult]) -> list[Decision]:
    out: list[Decision] = []
    for r in results:
        out.append(r.reproduction.decision)
        if r.improvement is not None:
            out.append(r.improvement.decision)
    return out


def evaluate(
    spec: AuditSpec, runs: Sequence[RunResult]
) -> tuple[tuple[ClaimResult, ...], Verdict, str]:
    """Every claim of the spec on the finished runs: results, overall verdict, one paragraph."""
    rng = np.random.default_rng(spec.stats_seed)
    has_baseline = spec.arm(Arm.BASELINE) is not None
    first_seed = spec.seeds[0] if spec.seeds else None
    ordered = sorted(runs, key=lambda r: r.key)
    results = []
    for claim in spec.claims:

        def values(arm: Arm, claim: Claim = claim) -> list[float]:
            return [
                r.metrics[claim.metric]
                for r in ordered
                if r.key.arm == arm and r.key.repeat == 0 and r.ok and claim.metric in r.metrics
            ]

        first = [
            r for r in ordered if r.key.arm == Arm.METHOD and r.key.seed == first_seed and r.ok
        ]
        repeat_values = (
            [r.metrics[claim.metric] for r in first if claim.metric in r.metrics]
            if any(r.key.repeat > 0 for r in first)
            else []
        )
        n_failed = {
            arm: sum(1 for r in ordered if r.key.arm == arm and r.key.repeat == 0 and not r.ok)
            for arm in Arm
        }
        results.append(
            evaluate_claim(
                claim,
                values(Arm.METHOD),
                values(Arm.BASELINE) if has_baseline else None,
                n_failed=n_failed,
                alpha=spec.alpha,
                rng=rng,
                repeat_values=repeat_values,
            )
        )
    final = tuple(_holm_adjust(results, spec.alpha))
    if not any(r.key.arm == Arm.METHOD and r.key.repeat == 0 and r.ok for r in runs):
        return final, Verdict.ERROR, wording.error_paragraph(runs)
    return final, overall(final), wording.paragraph(final, spec.alpha)


def exit_code(
    verdict: Verdict,
    results: Sequence[ClaimResult] = (),
    fail_on: Collection[str] | None = None,
) -> ExitCode:
    """The exit code for the verdict (docs/statistics.md); with ``fail_on`` (decision names), 1 iff one occurs.

    ERROR stays 4 either way.
    """
    if verdict is Verdict.ERROR or fail_on is None:
        return _EXIT[verdict]
    hit = any(d.value in fail_on for d in _decisions(results))
    return ExitCode.DOES_NOT_HOLD if hit else ExitCode.HOLDS


def make_audit(
    audit_spec: AuditSpec,
    runs: Sequence[RunResult],
    *,
    audit_id: str,
    source: Source | None = None,
    fingerprint: Fingerprint | None = None,
    audit_dir: Path | None = None,
    rerun_command: str = "",
    notes: tuple[str, ...] = (),
) -> Audit:
    """The one way an Audit is made, for `check` and `stats` alike: the runs, judged."""
    results, overall, reason = evaluate(audit_spec, runs)
    return Audit(
        audit_id=audit_id,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        spec=audit_spec,
        source=source,
        fingerprint=fingerprint,
        runs=tuple(runs),
        results=results,
        verdict=overall,
        verdict_reason=reason,
        audit_dir=audit_dir,
        rerun_command=rerun_command,
        notes=notes,
        repaudit_version=__version__,
    )
