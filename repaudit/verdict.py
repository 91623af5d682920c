"""Statistics -> decisions, each with a plain-language reason (docs/statistics.md).

The rules, fixed in advance (no test shopping), on scores oriented so that higher is better:
- Q1, a claimed number against the re-runs of its own arm (here): the (1 - alpha) prediction
  interval for the mean of ``claim.runs`` new seeds (one for single-run claims). Inside but
  reached with a predictive chance under 10% is ``optimistic``. The paper's baseline number is
  checked the same way against the baseline re-runs, with the flattering side reversed: below the
  interval is ``baseline-understated``.
- Q2, the claimed gap: ``improvement.py``.
- Seeds that all score the same: ``inconclusive`` with the fix when the seed never reached the
  code (or nothing says whether it did); compared exactly, at the paper's printed precision, when
  the seed reached the code and the result did not move.
The rules themselves, as functions of test outcomes, are in ``rules.py``; the paragraph wording
in ``wording.py``. ``evaluate`` runs every claim of an audit and adjusts across claims (Holm).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy import stats as sps

from repaudit import __version__, sequential, stats, units, wording
from repaudit.errors import UsageError
from repaudit.improvement import decide_improvement, holm_p_values, with_evidence
from repaudit.model import (
    Arm,
    Audit,
    AuditSpec,
    Claim,
    ClaimResult,
    Decision,
    ExitCode,
    Fingerprint,
    ImprovementDecision,
    Look,
    Reproduction,
    ReproductionDecision,
    RunResult,
    SeedReach,
    SequentialTest,
    Source,
    TestResult,
    Verdict,
)
from repaudit.rules import (
    MIN_SEEDS,
    Levels,
    orientation,
    paper_runs,
    precision,
    reproduction_decision,
    robust,
    seed_reach,
)

#: The decisions that fail a claim (exit 1 unless --fail-on says otherwise).
FAILING: frozenset[Decision] = frozenset(
    {
        ReproductionDecision.NOT_REPRODUCED,
        ReproductionDecision.BASELINE_UNDERSTATED,
        ImprovementDecision.OVERSTATED,
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


# ---------------------------------------------------------------- Q1


def reproduce(
    claim: Claim,
    scores: np.ndarray,
    alpha: float,
    *,
    arm: Arm = Arm.METHOD,
    reach: SeedReach = SeedReach.UNKNOWN,
) -> Reproduction:
    """Q1 for the method's claimed number, or (``arm`` baseline) the paper's baseline number."""
    value = claim.value if arm == Arm.METHOD else claim.baseline
    assert value is not None
    n, runs = scores.size, paper_runs(claim)
    # For the baseline arm the flattering side is the low one: a weak baseline inflates the gain.
    sign = orientation(claim.direction) * (1.0 if arm == Arm.METHOD else -1.0)
    words = wording.Q1Words(claim, arm, value, scores)
    if n < MIN_SEEDS:
        return Reproduction(ReproductionDecision.INCONCLUSIVE, words.too_few(), arm=arm)
    if stats.all_identical(scores):
        if reach is not SeedReach.REACHED:
            return Reproduction(ReproductionDecision.INCONCLUSIVE, words.identical(reach), arm=arm)
        distance = sign * (value - scores[0])
        decision = (
            ReproductionDecision.REPRODUCED
            if abs(distance) <= precision(claim, value)
            else reproduction_decision(distance, 0.0, float(distance <= 0))
        )
        decision = _for_arm(decision, arm)
        return Reproduction(decision, words.exact(decision, precision(claim, value)), arm=arm)
    distance = float(stats.claim_distance(sign * scores, sign * value, runs=runs))
    critical = float(sps.t.ppf(1 - alpha / 2, n - 1))
    chance = float(sps.t.sf(distance, n - 1))
    # Diverged runs sit on the flattering side only for the baseline (its low side).
    diverged = arm == Arm.BASELINE and bool(stats.diverged_mask(-sign * scores).any())
    free_p = float(stats.exceedance(sign * scores, sign * value))
    robust_rejects = bool(robust(True, diverged, free_p, alpha / 2))
    decision = _for_arm(
        reproduction_decision(distance, critical, chance, robust_rejects=robust_rejects), arm
    )
    interval = stats.prediction_interval(scores, runs=runs, level=1 - alpha)
    best_k = stats.best_of_k(chance) if runs == 1 else None
    test = TestResult(
        "t of the claimed number" if arm == Arm.METHOD else "t of the claimed baseline",
        distance,
        float(2 * sps.t.sf(abs(distance), n - 1)),
        deciding=True,
        assumption="seed scores roughly normal; the paper's runs spread like the re-runs",
        meaning=f"could {'a mean of ' + str(runs) + ' seeds' if runs > 1 else 'one seed'} of "
        f"this code plausibly give the paper's number? (two-sided p)",
        df=float(n - 1),
        level=alpha,
        rejects=abs(distance) > critical,
    )
    return Reproduction(
        decision,
        words.interval(decision, interval, chance=chance, best_of_k=best_k),
        prediction_interval=interval,
        claim_percentile=stats.claim_percentile(sign * scores, sign * value),
        chance_one_seed_reaches=chance,
        best_of_k=best_k,
        test=test,
        arm=arm,
        seeds_reaching=int(np.sum(sign * scores >= sign * value)),
    )


def _for_arm(decision: ReproductionDecision, arm: Arm) -> ReproductionDecision:
    if arm == Arm.BASELINE and decision is ReproductionDecision.NOT_REPRODUCED:
        return ReproductionDecision.BASELINE_UNDERSTATED
    return decision


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
    reach: Mapping[Arm, SeedReach] | None = None,
    levels: Levels | None = None,
    reproduction_alpha: float | None = None,
) -> ClaimResult:
    """Q1 for the method (and the paper's baseline number) and Q2 for one claim.

    ``baseline`` None means there is no baseline arm; empty means every baseline seed failed.
    Arms with no successful seed get no ArmSummary. ``reach`` says per arm whether the seed
    reached the code (unknown when omitted); ``levels`` are the Q2 levels (alpha when omitted,
    Holm's when evaluate() adjusts across claims); ``reproduction_alpha`` is Q1's two-sided level
    (alpha when omitted; a look's boundary in an adaptive audit).
    """
    if not 0 < alpha < 0.5:
        raise UsageError(f"alpha must be between 0 and 0.5, got {alpha}")
    if claim.runs < 1:
        raise UsageError(f"claim runs must be at least 1, got {claim.runs}")
    reach = reach or {}
    raw_m = stats.scores_array(method, name="method scores", min_n=0)
    raw_b = (
        None if baseline is None else stats.scores_array(baseline, name="baseline scores", min_n=0)
    )
    repeats = stats.scores_array(repeat_values, name="repeat scores", min_n=0)
    sign = orientation(claim.direction)
    arms = tuple(
        stats.summarize_arm(
            arm,
            values,
            n_failed=n_failed.get(arm, 0),
            rng=rng,
            level=1 - alpha,
            sign=sign,
            seed_reach=reach.get(arm, SeedReach.UNKNOWN),
        )
        for arm, values in ((Arm.METHOD, raw_m), (Arm.BASELINE, raw_b))
        if values is not None and values.size
    )
    oriented_b = None if raw_b is None else sign * raw_b
    improvement = decide_improvement(
        claim, sign * raw_m, oriented_b, levels or Levels.single(alpha), reach
    )
    if improvement is not None and improvement.size_test is not None and oriented_b is not None:
        improvement = with_evidence(improvement, sign * raw_m, oriented_b, rng)
    checks_baseline = claim.baseline is not None and raw_b is not None
    q1_alpha = reproduction_alpha or alpha
    return ClaimResult(
        claim=claim,
        arms=arms,
        reproduction=reproduce(
            claim, raw_m, q1_alpha, reach=reach.get(Arm.METHOD, SeedReach.UNKNOWN)
        ),
        improvement=improvement,
        repeat_sd=stats.sd(repeats) if repeats.size >= 2 else None,
        baseline_reproduction=reproduce(
            claim,
            raw_b,
            q1_alpha,
            arm=Arm.BASELINE,
            reach=reach.get(Arm.BASELINE, SeedReach.UNKNOWN),
        )
        if checks_baseline and raw_b is not None
        else None,
    )


def holm_levels(
    claims: Sequence[Claim],
    arms: Sequence[tuple[np.ndarray, np.ndarray | None]],
    reach: Sequence[Mapping[Arm, SeedReach]],
    alpha: float,
    nominal: sequential.Nominal | None = None,
) -> list[Levels]:
    """Holm's level per claim for each family of Q2 tests (gain, size, reverse) across claims.

    Only deciding tests with a p-value take part (``improvement.holm_p_values``): claims whose
    tests give none (exact gaps, too few seeds) and a parity claim's gain and reverse tests do
    not; a claim with diverged runs brings the p-value of its guarded rule. With ``nominal`` (a
    look of an adaptive audit) each claim's test meets its own boundary at each of Holm's steps
    (sequential.holm_nominal); a lone claim gets its boundaries at alpha.
    """
    first = [
        holm_p_values(claim, method, baseline, r, alpha)
        for claim, (method, baseline), r in zip(claims, arms, reach, strict=True)
    ]
    no_runs = all(baseline is None for _, baseline in arms)  # the gain test is seed luck
    families = {
        "gain": SequentialTest.SEED_LUCK if no_runs else SequentialTest.GAIN,
        "size": SequentialTest.SIZE,
        "reverse": SequentialTest.REVERSE,
    }

    def level(family: str, i: int, at: float) -> float:
        return at if nominal is None else nominal(families[family], claims[i], at)

    adjusted: dict[str, dict[int, float]] = {}
    for family in families:
        tested = {i: p[family] for i, p in enumerate(first) if family in p}
        ids = list(tested)
        if nominal is not None:

            def boundary(j: int, at: float, family: str = family, ids: list[int] = ids) -> float:
                return level(family, ids[j], at)

            steps = sequential.holm_nominal(list(tested.values()), alpha, boundary)
            adjusted[family] = dict(zip(ids, steps, strict=True))
        elif len(tested) > 1:
            steps = stats.holm_levels(list(tested.values()), alpha).tolist()
            adjusted[family] = dict(zip(ids, steps, strict=True))
    return [
        Levels(*(adjusted.get(f, {}).get(i, level(f, i, alpha)) for f in families))
        for i in range(len(claims))
    ]


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
        if r.baseline_reproduction is not None:
            out.append(r.baseline_reproduction.decision)
        if r.improvement is not None:
            out.append(r.improvement.decision)
    return out


def evaluate(
    spec: AuditSpec, runs: Sequence[RunResult], nominal: sequential.Nominal | None = None
) -> tuple[tuple[ClaimResult, ...], Verdict, str]:
    """Every claim of the spec on the finished runs: results, overall verdict, one paragraph.

    ``nominal`` maps each test's fixed level to the level it rejects at in one look of an
    adaptive audit (sequential.Design.nominal); None: the fixed levels.
    """
    rng = np.random.default_rng(spec.stats_seed)
    has_baseline = spec.arm(Arm.BASELINE) is not None
    first_seed = spec.seeds[0] if spec.seeds else None
    ordered = sorted(runs, key=lambda r: r.key)
    finished = {
        arm: [r for r in ordered if r.key.arm == arm and r.key.repeat == 0 and r.ok] for arm in Arm
    }
    reach = {arm: seed_reach(finished[arm]) for arm in finished}
    n_failed = {
        arm: sum(1 for r in ordered if r.key.arm == arm and r.key.repeat == 0 and not r.ok)
        for arm in Arm
    }
    scores, factors = [], []
    for claim in spec.claims:
        method = [
            r.metrics[claim.metric] for r in finished[Arm.METHOD] if claim.metric in r.metrics
        ]
        baseline = (
            [r.metrics[claim.metric] for r in finished[Arm.BASELINE] if claim.metric in r.metrics]
            if has_baseline
            else None
        )
        # Every statistic is on the claim's unit (a paper's 83.25 against runs that write 0.8325).
        units.check_same_unit(claim.metric, method, baseline or [])
        factor = units.score_factor(claim, method + (baseline or []))
        factors.append(factor)
        scores.append(
            (
                [v * factor for v in method],
                None if baseline is None else [v * factor for v in baseline],
            )
        )
    sign = [orientation(c.direction) for c in spec.claims]
    oriented = [
        (
            s * stats.scores_array(m, min_n=0),
            None if b is None else s * stats.scores_array(b, min_n=0),
        )
        for s, (m, b) in zip(sign, scores, strict=True)
    ]
    levels = (
        holm_levels(spec.claims, oriented, [reach] * len(spec.claims), spec.alpha, nominal)
        if len(spec.claims) > 1 or nominal is not None
        else [Levels.single(spec.alpha)]
    )
    first = [r for r in ordered if r.key.arm == Arm.METHOD and r.key.seed == first_seed and r.ok]
    results = []
    for claim, (method, baseline), claim_levels, factor in zip(
        spec.claims, scores, levels, factors, strict=True
    ):
        repeat_values = (
            [r.metrics[claim.metric] * factor for r in first if claim.metric in r.metrics]
            if any(r.key.repeat > 0 for r in first)
            else []
        )
        result = evaluate_claim(
            claim,
            method,
            baseline,
            n_failed=n_failed,
            alpha=spec.alpha,
            rng=rng,
            repeat_values=repeat_values,
            reach=reach,
            levels=claim_levels,
            reproduction_alpha=None
            if nominal is None
            else 2 * nominal(SequentialTest.CLAIM, claim, spec.alpha / 2),
        )
        results.append(dataclasses.replace(result, score_factor=factor))
    final = tuple(results)
    if not finished[Arm.METHOD]:
        return final, Verdict.ERROR, wording.error_paragraph(runs)
    return final, overall(final), wording.paragraph(final, spec.alpha)


def exit_code(
    verdict: Verdict,
    results: Sequence[ClaimResult] = (),
    fail_on: Collection[str] | None = None,
) -> ExitCode:
    """The exit code for the verdict (docs/statistics.md); with ``fail_on``, 1 iff one of those
    decisions occurs.

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
    looks: tuple[Look, ...] = (),
    nominal: sequential.Nominal | None = None,
) -> Audit:
    """The one way an Audit is made, for `check` and `stats` alike: the runs, judged.

    An adaptive audit passes its ``looks`` and the ``nominal`` levels of the look it stopped at.
    """
    results, overall_verdict, reason = evaluate(audit_spec, runs, nominal)
    return Audit(
        audit_id=audit_id,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        spec=audit_spec,
        source=source,
        fingerprint=fingerprint,
        runs=tuple(runs),
        results=results,
        verdict=overall_verdict,
        verdict_reason=reason,
        audit_dir=audit_dir,
        rerun_command=rerun_command,
        notes=notes,
        repaudit_version=__version__,
        looks=looks,
    )


def let_through(results: Sequence[ClaimResult], fail_on: Collection[str]) -> list[str]:
    """The decisions that would fail the audit (or leave it inconclusive) without --fail-on but
    that ``fail_on`` does not name, in words: "sst2_accuracy improvement: overstated"."""
    held_back = FAILING | {ReproductionDecision.INCONCLUSIVE, ImprovementDecision.INCONCLUSIVE}
    named = []
    for r in results:
        base, imp = r.baseline_reproduction, r.improvement
        decisions: list[tuple[str, Decision | None]] = [
            ("reproduction", r.reproduction.decision),
            ("baseline number", base.decision if base else None),
            ("improvement", imp.decision if imp else None),
        ]
        named += [
            f"{r.claim.metric} {what}: {d.value}"
            for what, d in decisions
            if d is not None and d in held_back and d.value not in fail_on
        ]
    return named
