"""Statistics -> decisions, each with a plain-language reason (DESIGN.md section 4).

The rules, fixed in advance (no test shopping), on scores oriented so that higher is better:
- Q1, a claimed number against the re-runs of its own arm: the (1 - alpha) prediction interval
  for the mean of ``claim.runs`` new seeds (one for single-run claims). Inside but reached with a
  predictive chance under 10% is ``optimistic``. The paper's baseline number is checked the same
  way against the baseline re-runs, with the flattering side reversed: below the interval is
  ``baseline-understated``.
- Q2, the claimed gap Δ: two one-sided tests at the claim's level (Holm's across claims): *gain*
  (Welch, H0 δ <= 0) and *size* (is Δ one draw of a gap measured the paper's way?), read by
  :func:`gap_decision`. When an arm has diverged runs, a Welch rejection counts only where the
  exact rank test agrees. Without baseline runs the seed-luck chance, doubled for the selection
  of positive gaps, can give ``holds`` and otherwise leaves the claim ``inconclusive``.
- Seeds that all score the same: ``inconclusive`` with the fix when the seed never reached the
  code (or nothing says whether it did); compared exactly, at the paper's printed precision, when
  the seed reached the code and the result did not move.
The decision functions take test outcomes, not data, so a sequential layer can reuse them. The
paragraph wording lives in ``wording.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence

import numpy as np
from scipy import stats as sps

from repaudit import power, stats, wording
from repaudit.aso import ASO_THRESHOLD, aso
from repaudit.errors import UsageError
from repaudit.model import (
    BASELINE_ARM,
    METHOD_ARM,
    AuditSpec,
    Claim,
    ClaimKind,
    ClaimResult,
    Direction,
    ExitCode,
    Improvement,
    ImprovementDecision,
    Interval,
    Reproduction,
    ReproductionDecision,
    RunResult,
    SeedReach,
    TestResult,
    Verdict,
)
from repaudit.stats import Numbers

#: A decision input that is a bool for one audit, a boolean array for calibration replicates.
Flags = bool | np.ndarray

MIN_SEEDS = 3
#: Claims a new seed reaches with a predictive chance under this are "optimistic" (lucky).
LUCKY_SHARE = 0.10
#: Below this, P(improvement) is flagged as not practically meaningful (Bouthillier et al. 2021).
MEANINGFUL_SUPERIORITY = 0.75

FAILING = frozenset(
    {"not-reproduced", "baseline-understated", "overstated", "within-noise", "reversed"}
)
_EXIT = {
    Verdict.HOLDS: ExitCode.HOLDS,
    Verdict.DOES_NOT_HOLD: ExitCode.DOES_NOT_HOLD,
    Verdict.INCONCLUSIVE: ExitCode.INCONCLUSIVE,
    Verdict.ERROR: ExitCode.ERROR,
}


@dataclasses.dataclass(frozen=True)
class Levels:
    """The level each family of tests rejects at for one claim: alpha, or Holm's across claims."""

    gain: float
    size: float
    reverse: float

    @classmethod
    def single(cls, alpha: float) -> Levels:
        return cls(alpha, alpha, alpha)


def _sign(direction: Direction) -> float:
    return 1.0 if direction is Direction.HIGHER else -1.0


def _runs(claim: Claim) -> int:
    """Runs behind the paper's number: ``claim.runs`` for mean claims, else one."""
    return claim.runs if claim.kind is ClaimKind.MEAN else 1


def precision(claim: Claim, value: float) -> float:
    """Half a unit in the last digit the paper printed: the rounding a printed number carries."""
    return 0.5 * 10.0 ** -wording.printed_decimals(claim, value)


# ---------------------------------------------------------------- the rules, from test outcomes


def reproduction_decision(
    distance: float, critical: float, chance: float, *, robust_rejects: bool = True
) -> ReproductionDecision:
    """Q1 from the claim's distance to the re-runs (oriented: positive = the claim is better).

    ``distance`` beyond ``critical`` on the flattering side is not-reproduced (optimistic when
    ``robust_rejects`` is False: diverged runs reach it), on the modest side exceeded; inside, a
    predictive chance under LUCKY_SHARE is optimistic.
    """
    if distance > critical:
        if not robust_rejects:
            return ReproductionDecision.OPTIMISTIC
        return ReproductionDecision.NOT_REPRODUCED
    if distance < -critical:
        return ReproductionDecision.EXCEEDED
    if chance < LUCKY_SHARE:
        return ReproductionDecision.OPTIMISTIC
    return ReproductionDecision.REPRODUCED


def gap_decision(
    *, gain: bool, size: bool, reverse: bool, claimed_gain: bool = True
) -> ImprovementDecision:
    """Q2 from which one-sided tests rejected (DESIGN.md section 4's table).

    A claimed gap <= 0 (a parity claim: "as good as the baseline") claims no gain, so only its
    size is tested: ``overstated`` when the method falls short of it, else ``holds``.
    """
    if not claimed_gain:
        return ImprovementDecision.OVERSTATED if size else ImprovementDecision.HOLDS
    if reverse:
        return ImprovementDecision.REVERSED
    if gain:
        return ImprovementDecision.OVERSTATED if size else ImprovementDecision.HOLDS
    return ImprovementDecision.WITHIN_NOISE if size else ImprovementDecision.INCONCLUSIVE


def robust(rejects: Flags, diverged: Flags, free_p: Numbers, level: float) -> np.ndarray:
    """A t-based rejection that stands when an arm has diverged runs (scalars or arrays).

    A collapsed run moves its arm's mean but not its typical run, and breaks the normal model
    behind every t-based rule (16-24% false gains with collapses in one arm). Where
    ``diverged``, a rejection stands only if its distribution-free counterpart, with p-value
    ``free_p``, rejects at the same ``level`` as well: the exact rank test for the gain and the
    reverse, the share of re-runs (or of pairs of re-runs) at least as extreme as a claimed
    number (or gap).
    """
    return np.logical_and(rejects, np.logical_not(diverged) | (np.asarray(free_p) <= level))


def seed_reach(runs: Sequence[RunResult]) -> SeedReach:
    """Did the audit's seed reach the code, by the seed hook's record of the seeding calls?

    Reached: a call was overridden (replaced_by differs from original), carried the run's seed,
    or the recorded values differ between runs (derived from the seed, e.g. seed + 1). Calls
    recorded but all with the same fixed values: never reached (a hard-coded seed). No call
    recorded: unknown.
    """
    recorded = [r for r in runs if r.seed_calls]
    if not recorded:
        return SeedReach.UNKNOWN
    if any(c.replaced_by != c.original or c.original == r.seed
           for r in recorded for c in r.seed_calls):  # fmt: skip
        return SeedReach.REACHED
    if len({tuple(c.original for c in r.seed_calls) for r in recorded}) > 1:
        return SeedReach.REACHED
    return SeedReach.NEVER_REACHED


# ---------------------------------------------------------------- Q1


def reproduce(
    claim: Claim,
    scores: np.ndarray,
    alpha: float,
    *,
    arm: str = METHOD_ARM,
    reach: SeedReach = SeedReach.UNKNOWN,
) -> Reproduction:
    """Q1 for the method's claimed number, or (``arm`` baseline) the paper's baseline number."""
    value = claim.value if arm == METHOD_ARM else claim.baseline
    assert value is not None
    n, runs = scores.size, _runs(claim)
    # For the baseline arm the flattering side is the low one: a weak baseline inflates the gain.
    sign = _sign(claim.direction) * (1.0 if arm == METHOD_ARM else -1.0)
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
    diverged = arm == BASELINE_ARM and bool(stats.diverged_mask(-sign * scores).any())
    free_p = float(stats.exceedance(sign * scores, sign * value))
    robust_rejects = bool(robust(True, diverged, free_p, alpha / 2))
    decision = _for_arm(
        reproduction_decision(distance, critical, chance, robust_rejects=robust_rejects), arm
    )
    interval = stats.prediction_interval(scores, runs=runs, level=1 - alpha)
    best_k = stats.best_of_k(chance) if runs == 1 else None
    test = TestResult(
        "t of the claimed number" if arm == METHOD_ARM else "t of the claimed baseline",
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
    )


def _for_arm(decision: ReproductionDecision, arm: str) -> ReproductionDecision:
    if arm == BASELINE_ARM and decision is ReproductionDecision.NOT_REPRODUCED:
        return ReproductionDecision.BASELINE_UNDERSTATED
    return decision


# ---------------------------------------------------------------- Q2


def claimed_gap(claim: Claim, baseline: np.ndarray | None) -> float | None:
    """Δ, oriented: the paper's value minus its baseline number, or minus the re-run baseline
    mean when the paper gave none; None when there is nothing to compare with."""
    sign = _sign(claim.direction)
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
    reach: Mapping[str, SeedReach],
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
    arms = {METHOD_ARM: method} | ({} if baseline is None else {BASELINE_ARM: baseline})
    if any(values.size < MIN_SEEDS for values in arms.values()):
        return dataclasses.replace(imp, reason=words.too_few())
    unseeded = [arm for arm, values in arms.items()
                if stats.all_identical(values) and reach.get(arm) is not SeedReach.REACHED]  # fmt: skip
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
    gap, runs = imp.claimed_gap, _runs(claim)
    luck = float(stats.seed_luck(method, gap, runs=runs))
    if runs == 1 and claim.baseline is not None:
        # Exact for any distribution of single runs; the t-tail alone is too thin for heavy
        # tails and diverged runs (docs/statistics.md).
        sign = _sign(claim.direction)
        luck = max(luck, float(stats.luck_exceedance(method, sign * claim.value,
                                                     sign * claim.baseline)))  # fmt: skip
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
    runs, paper_baseline = _runs(claim), claim.baseline is not None
    tests = stats.gap_tests(method, baseline, imp.claimed_gap, runs=runs,
                            paper_baseline=paper_baseline)  # fmt: skip
    p_gain, p_size, p_reverse = float(tests.p_gain), float(tests.p_size), float(tests.p_reverse)
    gain, size, reverse = p_gain <= levels.gain, p_size <= levels.size, p_reverse <= levels.reverse
    notes: tuple[str, ...] = ()
    diverged = [arm for arm, values in ((METHOD_ARM, method), (BASELINE_ARM, baseline))
                if stats.diverged_mask(values).any()]  # fmt: skip
    if diverged and (gain or reverse):
        ranks = stats.mann_whitney(method, baseline)
        kept = robust(gain, True, ranks.p_greater, levels.gain) or robust(
            reverse, True, ranks.p_less, levels.reverse
        )
        if not kept:
            notes = (words.ranks_disagree(diverged, p_gain if gain else p_reverse, ranks, gain),)
            gain = reverse = False
    if diverged and size:
        sign = _sign(claim.direction)
        pairs = float(
            stats.exceedance(method, sign * claim.value)
            if claim.baseline is None
            else stats.pair_exceedance(method, baseline, sign * claim.value, sign * claim.baseline)
        )
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
    gap, runs = imp.claimed_gap, _runs(claim)
    if gap <= 0:
        return dataclasses.replace(imp, reason=words.decided(imp))
    # Without baseline runs the paper's baseline run is assumed to spread like the method's.
    paper_baseline = claim.baseline is not None or imp.seed_luck is not None

    def needed(sd_a: float, sd_c: float) -> int | None:
        return power.seeds_needed(gap, sd_a, sd_c, level_gain=levels.gain,
                                  level_size=levels.size, runs=runs, paper_baseline=paper_baseline)  # fmt: skip

    if imp.seed_luck is None:  # without baseline runs the audit settles nothing by itself
        chance = power.settle_power(gap, gap, sd_m, sd_b, n, m, level_gain=levels.gain,
                                    level_size=levels.size, runs=runs, paper_baseline=paper_baseline)  # fmt: skip
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
    p_welch = imp.gain_test.p_value if imp.gain_test else None
    note = wording.disagreement_note(p_welch, rank_p, level, method, baseline)
    notes = imp.notes if note is None or imp.notes else (*imp.notes, note)
    return dataclasses.replace(imp, tests=tests, notes=notes)


# ---------------------------------------------------------------- one claim, a whole audit


def evaluate_claim(
    claim: Claim,
    method: Sequence[float],
    baseline: Sequence[float] | None,
    *,
    n_failed: Mapping[str, int],
    alpha: float,
    rng: np.random.Generator,
    repeat_values: Sequence[float] = (),
    reach: Mapping[str, SeedReach] | None = None,
    levels: Levels | None = None,
) -> ClaimResult:
    """Q1 for the method (and the paper's baseline number) and Q2 for one claim.

    ``baseline`` None means there is no baseline arm; empty means every baseline seed failed.
    Arms with no successful seed get no ArmSummary. ``reach`` says per arm whether the seed
    reached the code (unknown when omitted); ``levels`` are the Q2 levels (alpha when omitted,
    Holm's when evaluate() adjusts across claims).
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
    sign = _sign(claim.direction)
    arms = tuple(
        stats.summarize_arm(
            arm,
            values,
            n_failed=n_failed.get(arm, 0),
            rng=rng,
            level=1 - alpha,
            sign=sign,
            seed_reach=reach.get(arm, SeedReach.UNKNOWN),
        )  # fmt: skip
        for arm, values in ((METHOD_ARM, raw_m), (BASELINE_ARM, raw_b))
        if values is not None and values.size
    )
    oriented_b = None if raw_b is None else sign * raw_b
    improvement = decide_improvement(
        claim, sign * raw_m, oriented_b, levels or Levels.single(alpha), reach
    )
    if improvement is not None and improvement.size_test is not None and oriented_b is not None:
        improvement = with_evidence(improvement, sign * raw_m, oriented_b, rng)
    checks_baseline = claim.baseline is not None and raw_b is not None
    return ClaimResult(
        claim=claim,
        arms=arms,
        reproduction=reproduce(claim, raw_m, alpha, reach=reach.get(METHOD_ARM, SeedReach.UNKNOWN)),
        improvement=improvement,
        repeat_sd=stats.sd(repeats) if repeats.size >= 2 else None,
        baseline_reproduction=reproduce(
            claim, raw_b, alpha, arm=BASELINE_ARM, reach=reach.get(BASELINE_ARM, SeedReach.UNKNOWN)
        )
        if checks_baseline and raw_b is not None
        else None,
    )


def holm_levels(
    claims: Sequence[Claim],
    arms: Sequence[tuple[np.ndarray, np.ndarray | None]],
    reach: Sequence[Mapping[str, SeedReach]],
    alpha: float,
) -> list[Levels]:
    """Holm's level per claim for each family of Q2 tests (gain, size, reverse) across claims.

    Claims whose tests give no p-value (exact gaps, too few seeds) take no part.
    """
    first = [
        decide_improvement(claim, method, baseline, Levels.single(alpha), r, explain=False)
        for claim, (method, baseline), r in zip(claims, arms, reach, strict=True)
    ]
    levels = [Levels.single(alpha) for _ in claims]
    families = {}
    for family in ("gain", "size", "reverse"):
        tested = {i: getattr(imp, f"{family}_test").p_value for i, imp in enumerate(first)
                  if imp is not None and getattr(imp, f"{family}_test") is not None
                  and getattr(imp, f"{family}_test").p_value is not None}  # fmt: skip
        if len(tested) > 1:
            adjusted = stats.holm_levels(list(tested.values()), alpha)
            families[family] = dict(zip(tested, adjusted.tolist(), strict=True))
    for i in range(len(claims)):
        levels[i] = Levels(*(families.get(f, {}).get(i, alpha)
                             for f in ("gain", "size", "reverse")))  # fmt: skip
    return levels


def overall(results: Sequence[ClaimResult]) -> Verdict:
    """does-not-hold if any decision fails; else inconclusive if any is; else holds."""
    decisions = [d.value for d in _decisions(results)]
    if any(d in FAILING for d in decisions):
        return Verdict.DOES_NOT_HOLD
    if "inconclusive" in decisions:
        return Verdict.INCONCLUSIVE
    return Verdict.HOLDS


def _decisions(results: Sequence[ClaimResult]) -> list[ReproductionDecision | ImprovementDecision]:
    out: list[ReproductionDecision | ImprovementDecision] = []
    for r in results:
        out.append(r.reproduction.decision)
        if r.baseline_reproduction is not None:
            out.append(r.baseline_reproduction.decision)
        if r.improvement is not None:
            out.append(r.improvement.decision)
    return out


def evaluate(
    spec: AuditSpec, runs: Sequence[RunResult]
) -> tuple[tuple[ClaimResult, ...], Verdict, str]:
    """Every claim of the spec on the finished runs: results, overall verdict, one paragraph."""
    rng = np.random.default_rng(spec.stats_seed)
    has_baseline = spec.arm(BASELINE_ARM) is not None
    first_seed = spec.seeds[0] if spec.seeds else None
    ordered = sorted(runs, key=lambda r: (r.arm, r.seed, r.repeat))
    finished = {arm: [r for r in ordered if r.arm == arm and r.repeat == 0 and r.ok]
                for arm in (METHOD_ARM, BASELINE_ARM)}  # fmt: skip
    reach = {arm: seed_reach(finished[arm]) for arm in finished}
    n_failed = {
        arm: sum(1 for r in ordered if r.arm == arm and r.repeat == 0 and not r.ok)
        for arm in (METHOD_ARM, BASELINE_ARM)
    }
    scores = []
    for claim in spec.claims:
        method = [
            r.metrics[claim.metric] for r in finished[METHOD_ARM] if claim.metric in r.metrics
        ]
        baseline = [r.metrics[claim.metric] for r in finished[BASELINE_ARM]
                    if claim.metric in r.metrics] if has_baseline else None  # fmt: skip
        scores.append((method, baseline))
    sign = [_sign(c.direction) for c in spec.claims]
    oriented = [
        (
            s * stats.scores_array(m, min_n=0),
            None if b is None else s * stats.scores_array(b, min_n=0),
        )
        for s, (m, b) in zip(sign, scores, strict=True)
    ]
    levels = (
        holm_levels(spec.claims, oriented, [reach] * len(spec.claims), spec.alpha)
        if len(spec.claims) > 1
        else [Levels.single(spec.alpha)]
    )
    first = [r for r in ordered if r.arm == METHOD_ARM and r.seed == first_seed and r.ok]
    results = []
    for claim, (method, baseline), claim_levels in zip(spec.claims, scores, levels, strict=True):
        repeat_values = (
            [r.metrics[claim.metric] for r in first if claim.metric in r.metrics]
            if any(r.repeat > 0 for r in first)
            else []
        )
        results.append(
            evaluate_claim(
                claim,
                method,
                baseline,
                n_failed=n_failed,
                alpha=spec.alpha,
                rng=rng,
                repeat_values=repeat_values,
                reach=reach,
                levels=claim_levels,
            )  # fmt: skip
        )
    final = tuple(results)
    if not finished[METHOD_ARM]:
        return final, Verdict.ERROR, wording.error_paragraph(runs)
    return final, overall(final), wording.paragraph(final, spec.alpha)


def exit_code(
    verdict: Verdict,
    results: Sequence[ClaimResult] = (),
    fail_on: Collection[str] | None = None,
) -> ExitCode:
    """DESIGN.md's exit code for the verdict; with ``fail_on`` (decision names), 1 iff one occurs.

    ERROR stays 4 either way.
    """
    if verdict is Verdict.ERROR or fail_on is None:
        return _EXIT[verdict]
    hit = any(d.value in fail_on for d in _decisions(results))
    return ExitCode.DOES_NOT_HOLD if hit else ExitCode.HOLDS
