"""Q2, does the claimed improvement hold: the gain and size tests on oriented scores.

Two one-sided tests at the claim's level (Holm's across claims) decide through
:func:`rules.gap_decision`: *gain* (Welch, H0 δ <= 0) and *size* (is the claimed gap Δ one draw
of a gap measured the paper's way from this code?). When an arm has diverged runs, a t-based
rejection counts only where its distribution-free counterpart agrees (:func:`rules.robust`).
Without baseline runs the seed-luck chance, doubled for the selection of positive gaps, can give
``holds`` and otherwise leaves the claim ``inconclusive``. Both arms seed-invariant: the gap is
exact. The evidence tests (ranks, ASO, P(improvement), Hedges' g) are shown, never deciding.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from repaudit import power, stats, wording
from repaudit.aso import ASO_THRESHOLD, aso
from repaudit.model import (
    Arm,
    Claim,
    Improvement,
    ImprovementDecision,
    Interval,
    SeedReach,
    TestResult,
)
from repaudit.rules import (
    MIN_SEEDS,
    Levels,
    deciding_p,
    gap_decision,
    orientation,
    paper_runs,
    precision,
    robust,
)

#: Below this, P(improvement) is flagged as not practically meaningful (Bouthillier et al. 2021).
MEANINGFUL_SUPERIORITY = 0.75
#: The name of the P(improvement) evidence test (the report draws its interval).
SUPERIORITY_TEST = "P(improvement)"


def claimed_gap(claim: Claim, baseline: np.ndarray | None) -> float | None:
    """Δ, oriented: the paper's value minus its baseline number, or minus the re-run baseline
    mean when the paper gave none; None when there is nothing to compare with."""
    sign = orientation(claim.direction)
    if claim.baseline is not None:
        return sign * (claim.value - claim.baseline)
    if baseline is not None and baseline.size:
        return sign * claim.value - stats.mean(baseline)
    return None


def decide_improvement(
    claim: Claim,
    method: np.ndarray,
    baseline: np.ndarray | None,
    levels: Levels,
    reach: Mapping[Arm, SeedReach],
    *,
    explain: bool = True,
) -> Improvement | None:
    """Q2's decision on oriented scores, without the evidence tests; None: nothing to compare.

    ``explain`` False skips the power, the seeds needed and the reason (Holm's first pass only
    needs the p-values).
    """
    gap = claimed_gap(claim, baseline)
    if gap is None:
        return None
    words = wording.Q2Words(claim, gap, method, baseline)
    imp = Improvement(ImprovementDecision.INCONCLUSIVE, "", claimed_gap=gap)
    arms = {Arm.METHOD: method} | ({} if baseline is None else {Arm.BASELINE: baseline})
    if any(values.size < MIN_SEEDS for values in arms.values()):
        return dataclasses.replace(imp, reason=words.too_few())
    unseeded = [
        arm
        for arm, values in arms.items()
        if stats.all_identical(values) and reach.get(arm) is not SeedReach.REACHED
    ]
    if unseeded:
        return dataclasses.replace(imp, reason=words.identical(unseeded[0], reach.get(unseeded[0])))
    if baseline is None:
        if gap <= 0 or stats.all_identical(method):
            return dataclasses.replace(imp, reason=words.no_baseline_runs())
        imp, sd_b, m = _seed_luck(imp, claim, method, levels), stats.sd(method), method.size
    elif stats.all_identical(method) and stats.all_identical(baseline):
        return _exact_gap(imp, claim, method, baseline, words)
    else:
        imp, sd_b, m = (
            _welch_gap(imp, claim, method, baseline, levels, words),
            stats.sd(baseline),
            baseline.size,
        )
    if not explain:
        return imp
    return _with_power(imp, claim, stats.sd(method), sd_b, method.size, m, levels, words)


def _seed_luck(imp: Improvement, claim: Claim, method: np.ndarray, levels: Levels) -> Improvement:
    """No baseline runs: can seed luck explain the paper's gap? Never a failing decision."""
    gap, runs = imp.claimed_gap, paper_runs(claim)
    luck = float(stats.seed_luck(method, gap, runs=runs))
    if runs == 1 and claim.baseline is not None:
        # Exact for any distribution of single runs; the t-tail alone is too thin for heavy
        # tails and diverged runs (docs/statistics.md).
        sign = orientation(claim.direction)
        luck = max(
            luck, float(stats.luck_exceedance(method, sign * claim.value, sign * claim.baseline))
        )
    selected = float(stats.published_chance(luck))
    test = TestResult(
        "seed luck, selection-adjusted",
        float(gap / (stats.sd(method) * np.sqrt(2 / runs))),
        selected,
        deciding=True,
        assumption="the baseline's runs spread like the method's; papers publish positive gaps",
        meaning="how often two runs of the same code differ by the claimed gap, among the "
        "comparisons that come out positive",
        df=float(method.size - 1),
        level=levels.gain,
        rejects=selected <= levels.gain,
    )
    decision = ImprovementDecision.HOLDS if test.rejects else ImprovementDecision.INCONCLUSIVE
    return dataclasses.replace(imp, decision=decision, seed_luck=luck, gain_test=test)


def _exact_gap(
    imp: Improvement,
    claim: Claim,
    method: np.ndarray,
    baseline: np.ndarray,
    words: wording.Q2Words,
) -> Improvement:
    """Both arms seed-invariant: the gap is exact; the claim is read at its printed precision."""
    observed = float(method[0] - baseline[0])
    # Two printed numbers each carry half a unit of rounding; a gap against the re-run
    # baseline mean carries only the claim's.
    tolerance = precision(claim, claim.value) * (2 if claim.baseline is not None else 1)
    test = TestResult(
        "exact gap (seed-invariant arms)",
        observed,
        None,
        deciding=True,
        meaning="every seed of each arm scored the same, so the gap needs no test",
    )
    decision = gap_decision(
        gain=observed > 0,
        size=imp.claimed_gap - observed > tolerance,
        reverse=observed < 0,
        claimed_gain=imp.claimed_gap > 0,
    )
    imp = dataclasses.replace(imp, decision=decision, observed_gap=observed, gain_test=test)
    return dataclasses.replace(imp, reason=words.exact(imp, tolerance))


def _welch_gap(
    imp: Improvement,
    claim: Claim,
    method: np.ndarray,
    baseline: np.ndarray,
    levels: Levels,
    words: wording.Q2Words,
) -> Improvement:
    """The gain, size and reverse tests; a diverged arm needs the rank test to agree."""
    runs, paper_baseline = paper_runs(claim), claim.baseline is not None
    tests = stats.gap_tests(
        method, baseline, imp.claimed_gap, runs=runs, paper_baseline=paper_baseline
    )
    p_gain, p_size, p_reverse = float(tests.p_gain), float(tests.p_size), float(tests.p_reverse)
    gain, size, reverse = p_gain <= levels.gain, p_size <= levels.size, p_reverse <= levels.reverse
    notes: tuple[str, ...] = ()
    diverged = _diverged(method, baseline)
    if diverged and (gain or reverse):
        ranks = stats.mann_whitney(method, baseline)
        kept = robust(gain, True, ranks.p_greater, levels.gain) or robust(
            reverse, True, ranks.p_less, levels.reverse
        )
        if not kept:
            notes = (words.ranks_disagree(diverged, p_gain if gain else p_reverse, ranks, gain),)
            gain = reverse = False
    if diverged and size:
        pairs = _pairs_p(claim, method, baseline)
        if not robust(size, True, pairs, levels.size):
            notes = (*notes, words.pairs_reach(diverged, p_size, pairs))
            size = False
    low, high = tests.interval(levels.gain)
    gap_interval = Interval(float(low), float(high), 1 - 2 * levels.gain)
    gain_test = TestResult(
        "gain: Welch one-sided t-test",
        float(tests.gain_statistic),
        p_gain,
        deciding=imp.claimed_gap > 0,  # a parity claim claims no gain
        assumption="seed means roughly normal; a diverged run pulls its arm's mean",
        meaning="is there any gain at all? (H0: the method's mean is not higher)",
        interval=gap_interval,
        df=float(tests.df),
        level=levels.gain,
        rejects=gain,
    )
    return dataclasses.replace(
        imp,
        decision=gap_decision(
            gain=gain, size=size, reverse=reverse, claimed_gain=imp.claimed_gap > 0
        ),
        observed_gap=float(tests.gap),
        gap_interval=gap_interval,
        paper_gap_bound=float(tests.paper_bound(levels.size)),
        gain_test=gain_test,
        size_test=TestResult(
            "size: prediction-type Welch test",
            float(tests.size_statistic),
            p_size,
            deciding=True,
            assumption="the paper's runs spread like the re-runs (seed scores roughly normal)",
            meaning=f"could a gap measured the paper's way ({words.paper_way}) plausibly be "
            "as large as claimed? (H0: the claimed gap is one such draw)",
            df=float(tests.size_df),
            level=levels.size,
            rejects=size,
        ),
        reverse_test=dataclasses.replace(
            gain_test,
            name="reverse: Welch one-sided t-test",
            p_value=p_reverse,
            meaning="is the baseline's mean higher? (H0: the method's mean is not lower)",
            interval=None,
            level=levels.reverse,
            rejects=reverse,
        ),
        notes=notes,
    )


def _diverged(method: np.ndarray, baseline: np.ndarray) -> list[Arm]:
    """The arms with flagged diverged runs (oriented scores)."""
    return [
        arm
        for arm, values in ((Arm.METHOD, method), (Arm.BASELINE, baseline))
        if stats.diverged_mask(values).any()
    ]


def _pairs_p(claim: Claim, method: np.ndarray, baseline: np.ndarray) -> float:
    """The size test's distribution-free counterpart: the conformal p-value of the paper's gap
    among the gaps of single runs (of the claimed number among the method's runs without a paper
    baseline number)."""
    sign = orientation(claim.direction)
    if claim.baseline is None:
        return float(stats.exceedance(method, sign * claim.value))
    return float(stats.pair_exceedance(method, baseline, sign * claim.value, sign * claim.baseline))


def holm_p_values(
    claim: Claim,
    method: np.ndarray,
    baseline: np.ndarray | None,
    reach: Mapping[Arm, SeedReach],
    alpha: float,
) -> dict[str, float]:
    """The p-value each *deciding* Q2 test of one claim brings to Holm's step-down across claims.

    Keys are the families ("gain", "size", "reverse"); a test that gives no p-value (too few
    seeds, an exact gap) or decides nothing (the gain and reverse tests of a parity claim) is
    left out, so it spends none of the other claims' alpha. Where an arm has diverged runs the
    p-value is that of the guarded rule (:func:`rules.deciding_p`), not Welch's alone.
    """
    imp = decide_improvement(claim, method, baseline, Levels.single(alpha), reach, explain=False)
    if imp is None:
        return {}
    tests = {"gain": imp.gain_test, "size": imp.size_test, "reverse": imp.reverse_test}
    p_values = {
        family: test.p_value
        for family, test in tests.items()
        if test is not None and test.deciding and test.p_value is not None
    }
    if baseline is None or imp.size_test is None or not _diverged(method, baseline):
        return p_values
    ranks = stats.mann_whitney(method, baseline)
    free = {
        "gain": ranks.p_greater,
        "reverse": ranks.p_less,
        "size": _pairs_p(claim, method, baseline),
    }
    return {family: float(deciding_p(p, True, free[family])) for family, p in p_values.items()}


def _with_power(
    imp: Improvement,
    claim: Claim,
    sd_m: float,
    sd_b: float,
    n: int,
    m: int,
    levels: Levels,
    words: wording.Q2Words,
) -> Improvement:
    """The chance the audit had to settle a true claim; the seeds needed when it did not."""
    gap, runs = imp.claimed_gap, paper_runs(claim)
    if gap <= 0:
        return dataclasses.replace(imp, reason=words.decided(imp))
    # Without baseline runs the paper's baseline run is assumed to spread like the method's.
    paper_baseline = claim.baseline is not None or imp.seed_luck is not None

    def needed(sd_a: float, sd_c: float) -> int | None:
        return power.seeds_needed(
            gap,
            sd_a,
            sd_c,
            level_gain=levels.gain,
            level_size=levels.size,
            runs=runs,
            paper_baseline=paper_baseline,
            fewest=MIN_SEEDS,
        )

    if imp.seed_luck is None:  # without baseline runs the audit settles nothing by itself
        chance = power.settle_power(
            gap,
            gap,
            sd_m,
            sd_b,
            n,
            m,
            level_gain=levels.gain,
            level_size=levels.size,
            runs=runs,
            paper_baseline=paper_baseline,
        )
        imp = dataclasses.replace(imp, power=chance)
    if imp.decision is ImprovementDecision.INCONCLUSIVE:
        (low_m, high_m), (low_b, high_b) = power.sd_range(sd_m, n), power.sd_range(sd_b, m)
        imp = dataclasses.replace(
            imp,
            seeds_needed=needed(sd_m, sd_b),
            seeds_needed_low=needed(low_m, low_b),
            seeds_needed_high=needed(high_m, high_b),
        )
    return dataclasses.replace(imp, reason=words.decided(imp))


def with_evidence(
    imp: Improvement, method: np.ndarray, baseline: np.ndarray, rng: np.random.Generator
) -> Improvement:
    """The tests shown as evidence beside the deciding ones (oriented scores); never deciding."""
    level = imp.gain_test.level if imp.gain_test and imp.gain_test.level else 0.05
    ranks = stats.mann_whitney(method, baseline)
    rank_p = ranks.p_greater if ranks.p_floor <= level else None
    superiority, superiority_interval = stats.probability_of_improvement(
        method, baseline, rng, level=1 - 2 * level
    )
    eps_better, eps_worse = aso(method, baseline, rng)
    n, m = method.size, baseline.size
    tests = (
        TestResult(
            "Mann-Whitney U, one-sided",
            ranks.u,
            rank_p,
            assumption="none on the shape: ranks, so a diverged run counts as just one rank; "
            "exact, ties included, at small sizes",
            meaning="do the method's seeds tend to rank above the baseline's?",
            note="" if rank_p is not None else wording.floor_note(ranks.p_floor, level, n, m),
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
            SUPERIORITY_TEST,
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
    p_welch = imp.gain_test.p_value if imp.gain_test else None
    note = wording.disagreement_note(p_welch, rank_p, level, method, baseline)
    notes = imp.notes if note is None or imp.notes else (*imp.notes, note)
    return dataclasses.replace(imp, tests=tests, notes=notes)
