"""Pure statistics over seed scores: float arrays in, numbers out (numpy and scipy only).

Every function here assumes the scores are *oriented*: higher is better. ``verdict.py`` flips the
sign of losses and error rates before calling in, so no function needs a direction argument.
Randomness comes only from the ``numpy.random.Generator`` passed in, so the same stats seed gives
bit-identical intervals. Each public function validates its arguments in one step
(:func:`scores_array`) before the math, in the manner of scipy's ``_bootstrap_iv``. The tests
that decide (:func:`gap_tests`, :func:`claim_distance`, :func:`seed_luck`, :func:`diverged_mask`)
work along the last axis, so ``benchmarks/calibration.py`` runs thousands of replicates through
the very code an audit uses. Moments are computed on scores divided by their largest magnitude,
so scores up to about 1e308 never overflow.
The Almost Stochastic Order test lives in ``aso.py`` and the power analysis in ``power.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from repaudit.errors import UsageError
from repaudit.model import Arm, ArmSummary, Interval, SeedReach

#: Diverged runs: a run is flagged when its one-sided robust z below the median exceeds this
#: (8 from 6 seeds on, 10 at 5). Chosen by simulation (docs/statistics.md) so that an arm of
#: normal, Laplace or skewed scores without any diverged run is flagged at most 5% of the time;
#: real collapses sit 11 to 140 units out (T5, PLAS, BCQ, e-SNLI in the seed-score pools).
DIVERGED_Z = 8.0
DIVERGED_Z_AT_FIVE = 10.0
#: Below this many seeds no run is flagged: the median and MAD of fewer points say nothing.
MIN_FLAG_N = 5
#: Resamples of every bootstrap here; 1000 keeps all statistics of two 50-seed arms well under 1 s.
BOOTSTRAP_RESAMPLES = 1000
#: Tied rank tests are enumerated exactly up to this many arrangements (9 vs 9 seeds is 48620).
EXACT_RANK_LIMIT = 50_000

ArrayLike = Sequence[float] | np.ndarray
#: A number, or an array of them broadcast against the replicates of a vectorised call.
Numbers = float | np.ndarray


def scores_array(values: ArrayLike, *, name: str = "scores", min_n: int = 1) -> np.ndarray:
    """The one validation step: a finite 1-D float64 array of at least ``min_n`` scores."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{name}: expected a list of numbers, got {values!r:.60}") from None
    if array.ndim != 1:
        raise UsageError(f"{name}: expected a flat list of numbers, got shape {array.shape}")
    if array.size < min_n:
        raise UsageError(f"{name}: needs at least {min_n} score(s), got {array.size}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise UsageError(
            f"{name}: value #{bad[0] + 1} is {array[bad[0]]}; remove failed runs instead of "
            "recording NaN or infinite scores"
        )
    return array


def _level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise UsageError(f"confidence level must be between 0 and 1, got {level}")
    return level


# ---------------------------------------------------------------- moments


def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample sd (ddof = 1) along the last axis (at least two scores), overflow-free.

    Identical scores give exactly their value and an sd of exactly 0.0 (numpy's own give
    rounding dust, which would read as a tiny seed variance).
    """
    scale = np.max(np.abs(x), axis=-1, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    unit = x / scale
    identical = np.all(x == x[..., :1], axis=-1)
    mean_ = np.where(identical, x[..., 0], scale[..., 0] * unit.mean(axis=-1))
    sd_ = np.where(identical, 0.0, scale[..., 0] * unit.std(axis=-1, ddof=1))
    return mean_, sd_


def all_identical(values: ArrayLike) -> bool:
    """True when there are two or more scores and every one is bit-identical (zero variance)."""
    x = scores_array(values)
    return x.size >= 2 and bool(np.all(x == x[0]))


def sd(values: ArrayLike) -> float:
    """Sample sd (ddof = 1); exactly 0.0 for identical scores and for fewer than two."""
    x = scores_array(values)
    return 0.0 if x.size < 2 else float(moments(x)[1])


def mean(values: ArrayLike) -> float:
    """Mean; exactly the value itself for identical scores."""
    x = scores_array(values, min_n=1)
    return float(x[0]) if x.size == 1 else float(moments(x)[0])


def satterthwaite(parts: Sequence[np.ndarray], dofs: Sequence[float]) -> np.ndarray:
    """Welch-Satterthwaite degrees of freedom of sqrt(sum parts²), each part an sd-like term
    with its own degrees of freedom; computed from shares of the total, so it never overflows.
    NaN when every part is zero."""
    total = np.hypot.reduce(np.stack(np.broadcast_arrays(*parts)), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 / sum((part / total) ** 4 / dof for part, dof in zip(parts, dofs, strict=True))


# ---------------------------------------------------------------- one arm


def t_interval(values: ArrayLike, level: float = 0.95) -> Interval | None:
    """Student-t interval of the mean; None for fewer than two scores."""
    x, level = scores_array(values), _level(level)
    if x.size < 2:
        return None
    half = sps.t.ppf(0.5 + level / 2, x.size - 1) * sd(x) / math.sqrt(x.size)
    return Interval(mean(x) - half, mean(x) + half, level)


def bca_interval(
    values: ArrayLike, rng: np.random.Generator, level: float = 0.95
) -> Interval | None:
    """BCa bootstrap interval of the mean (scipy.stats.bootstrap): a description, never a decision.

    None when it is undefined: fewer than three scores, or all scores equal.
    """
    x, level = scores_array(values), _level(level)
    if x.size < 3 or np.all(x == x[0]):
        return None
    with warnings.catch_warnings():
        # Few distinct values make BCa's acceleration degenerate; scipy warns and returns NaN.
        warnings.simplefilter("ignore")
        result = sps.bootstrap(
            (x,), np.mean, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=level, rng=rng
        )
    low, high = result.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return Interval(float(low), float(high), level)


def diverged_mask(x: np.ndarray) -> np.ndarray:
    """Runs far *below* the rest of their arm (oriented scores, along the last axis): diverged.

    One-sided robust z = 0.6745 (median - x) / MAD (Iglewicz-Hoaglin's modified z, on the bad
    side only: a diverged run is never the best) above DIVERGED_Z (DIVERGED_Z_AT_FIVE at five
    seeds). When more than half the scores tie (MAD = 0) the mean absolute deviation × 1.2533
    stands in; when that is zero too nothing is flagged. Nothing is flagged below MIN_FLAG_N
    seeds, where the rule is meaningless.
    """
    n = x.shape[-1]
    if n < MIN_FLAG_N:
        return np.zeros(x.shape, dtype=bool)
    median = np.median(x, axis=-1, keepdims=True)
    below = median - x
    mad = np.median(np.abs(below), axis=-1, keepdims=True)
    fallback = 0.6745 * 1.253314 * np.mean(np.abs(below), axis=-1, keepdims=True)
    scale = np.where(mad > 0, mad, fallback)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(scale > 0, 0.6745 * below / scale, 0.0)
    return z > (DIVERGED_Z_AT_FIVE if n == MIN_FLAG_N else DIVERGED_Z)


def summarize_arm(
    arm: Arm,
    values: ArrayLike,
    *,
    n_failed: int,
    rng: np.random.Generator,
    level: float = 0.95,
    sign: float = 1.0,
    seed_reach: SeedReach = SeedReach.UNKNOWN,
) -> ArmSummary:
    """Descriptive statistics of one arm's successful seeds (n >= 1), in the order given.

    ``sign`` orients the scores (-1 for lower-is-better metrics) for the diverged-run flags.
    """
    x = scores_array(values, name=f"{arm} scores")
    return ArmSummary(
        arm=arm,
        values=tuple(float(v) for v in x),
        n=int(x.size),
        n_failed=n_failed,
        mean=mean(x),
        sd=sd(x),
        median=float(np.median(x)),
        minimum=float(x.min()),
        maximum=float(x.max()),
        mean_interval=t_interval(x, level),
        bootstrap_interval=bca_interval(x, rng, level),
        outliers=tuple(float(v) for v in x[diverged_mask(sign * x)]),
        seed_reach=seed_reach,
    )


# ---------------------------------------------------------------- Q1: the claimed number


def claim_distance(x: np.ndarray, target: Numbers, *, runs: int = 1) -> np.ndarray:
    """t = (target - mean) / (sd · sqrt(1/runs + 1/n)) along the last axis, n - 1 df.

    The claim's distance from the re-runs in predictive standard errors: the claimed mean of
    ``runs`` seeds (one for single-run claims) against the re-runs' mean. Q1 compares it with a
    t critical value; its upper tail is the chance a new seed reaches the claim. Needs n >= 2
    and some spread (zero spread gives ±inf).
    """
    n = x.shape[-1]
    mean_, sd_ = moments(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.asarray(target) - mean_) / (sd_ * math.sqrt(1 / runs + 1 / n))


def prediction_interval(values: ArrayLike, *, runs: int = 1, level: float = 0.95) -> Interval:
    """Interval for the mean of ``runs`` new seeds: mean ± t(n-1) · sd · sqrt(1/runs + 1/n).

    ``runs = 1`` is the classic prediction interval for one new run. Needs n >= 2.
    """
    x, level = scores_array(values, min_n=2), _level(level)
    half = sps.t.ppf(0.5 + level / 2, x.size - 1) * sd(x) * math.sqrt(1 / runs + 1 / x.size)
    return Interval(mean(x) - half, mean(x) + half, level)


def chance_to_reach(values: ArrayLike, target: float, *, runs: int = 1) -> float:
    """Chance that the mean of ``runs`` new seeds scores at least ``target``.

    From the t predictive distribution (a normal fit that accounts for the sd being estimated
    from n seeds); with zero variance it is 1 or 0. Needs n >= 2.
    """
    x = scores_array(values, min_n=2)
    if sd(x) == 0:
        return float(target <= mean(x))
    return float(sps.t.sf(claim_distance(x, target, runs=runs), x.size - 1))


def best_of_k(chance: float) -> float | None:
    """Seeds k whose best reaches the claim half the time: 1 - (1 - chance)^k = 1/2.

    From the same predictive chance per seed as :func:`chance_to_reach`, so the two readings
    never contradict each other. 1.0 when one seed already reaches it half the time; None when
    no seed can (chance 0).
    """
    if chance >= 0.5:
        return 1.0
    if chance <= 0:
        return None
    return math.log(0.5) / math.log1p(-chance)


def exceedance(x: np.ndarray, target: Numbers) -> np.ndarray:
    """(1 + #{runs >= target}) / (n + 1) along the last axis: the conformal p-value of ``target``
    as one more run of the same code, valid for any distribution of the scores (oriented: the
    upper tail). It cannot go below 1 / (n + 1)."""
    hits = np.sum(x >= np.asarray(target)[..., None], axis=-1)
    return (1 + hits) / (x.shape[-1] + 1)


def pair_exceedance(
    method: np.ndarray, baseline: np.ndarray, paper_method: Numbers, paper_baseline: Numbers
) -> np.ndarray:
    """The conformal p-value of the paper's gap as one more pair of runs, along the last axis.

    With the paper's two numbers added to their arms (x_0, y_0), the share of all (n+1)(m+1)
    gaps x_i - y_j at least as large as the paper's x_0 - y_0. If the paper's runs are runs of
    the same code as the re-runs, (x_0, y_0) is a uniformly random position among those gaps, so
    the share is a valid p-value for any distribution of the scores (exact for single runs;
    conservative for means of k, whose gaps spread less). It cannot go below 1/((n+1)(m+1)).
    """
    x = np.concatenate([np.asarray(paper_method)[..., None] + 0 * method[..., :1], method], axis=-1)
    y = np.concatenate(
        [np.asarray(paper_baseline)[..., None] + 0 * baseline[..., :1], baseline], axis=-1
    )
    pairs = x[..., :, None] - y[..., None, :]
    hits = np.sum(pairs >= (x[..., 0] - y[..., 0])[..., None, None], axis=(-2, -1))
    return hits / (x.shape[-1] * y.shape[-1])


def claim_percentile(values: ArrayLike, target: float) -> float:
    """Share of seeds (0..100) below ``target``, ties counting half: the claim's percentile."""
    x = scores_array(values)
    return float(100 * (np.mean(x < target) + 0.5 * np.mean(x == target)))


# ---------------------------------------------------------------- Q2: the improvement


@dataclass(frozen=True)
class GapTests:
    """The gain and size tests of a claimed gap on the re-runs (oriented scores).

    Arrays broadcast over the leading axes of the inputs (0-d for one audit). Built by
    :func:`gap_tests`; docs/statistics.md gives the rules that read them.
    """

    claimed_gap: np.ndarray
    """Δ."""
    gap: np.ndarray
    """D̂ = mean(method) - mean(baseline)"""
    se: np.ndarray
    """Welch standard error of d̂."""
    df: np.ndarray
    """Welch-Satterthwaite degrees of freedom."""
    size_se: np.ndarray
    """Standard error of Δ - d̂ for Δ measured the paper's way."""
    size_df: np.ndarray
    """Its Welch-Satterthwaite degrees of freedom."""

    @property
    def gain_statistic(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.gap / self.se

    @property
    def p_gain(self) -> np.ndarray:
        """One-sided Welch p of H0 δ <= 0."""
        return sps.t.sf(self.gain_statistic, self.df)

    @property
    def p_reverse(self) -> np.ndarray:
        """One-sided Welch p of H0 δ >= 0 (the baseline is better)."""
        return sps.t.cdf(self.gain_statistic, self.df)

    @property
    def size_statistic(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.claimed_gap - self.gap) / self.size_se

    @property
    def p_size(self) -> np.ndarray:
        """One-sided p of H0 "Δ is one draw of a gap measured the paper's way from this code"."""
        return sps.t.sf(self.size_statistic, self.size_df)

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """The 1 - 2·level interval of δ: its low end > 0 exactly when p_gain <= level."""
        half = sps.t.ppf(1 - level, self.df) * self.se
        return self.gap - half, self.gap + half

    def paper_bound(self, level: float) -> np.ndarray:
        """Upper 1 - level prediction bound of a paper-style gap: Δ above it iff p_size <= level."""
        return self.gap + sps.t.ppf(1 - level, self.size_df) * self.size_se


def gap_tests(
    method: np.ndarray,
    baseline: np.ndarray,
    claimed_gap: Numbers,
    *,
    runs: int = 1,
    paper_baseline: bool = True,
) -> GapTests:
    """Welch's statistics for the gain, and the prediction-type statistic for the claimed size.

    ``method`` (..., n) and ``baseline`` (..., m), n, m >= 2, oriented. The size test compares Δ
    with the spread of a gap measured the paper's way: s_m²(1/k + 1/n) + s_b²(1/k + 1/m) with
    k = ``runs`` (the paper's runs behind each number). With ``paper_baseline`` False the paper
    gave no baseline number, Δ was taken against the re-run baseline mean, and only the method's
    terms remain (Δ - d̂ is then the claim minus the method's re-run mean).
    """
    n, m = method.shape[-1], baseline.shape[-1]
    mean_m, sd_m = moments(method)
    mean_b, sd_b = moments(baseline)
    part_m, part_b = sd_m / math.sqrt(n), sd_b / math.sqrt(m)
    size_m = sd_m * math.sqrt(1 / runs + 1 / n)
    size_b = sd_b * math.sqrt(1 / runs + 1 / m) if paper_baseline else np.zeros_like(sd_b)
    return GapTests(
        claimed_gap=np.asarray(claimed_gap, dtype=np.float64),
        gap=mean_m - mean_b,
        se=np.hypot(part_m, part_b),
        df=satterthwaite((part_m, part_b), (n - 1, m - 1)),
        size_se=np.hypot(size_m, size_b),
        size_df=satterthwaite((size_m, size_b), (n - 1, m - 1)),
    )


def welch_two_sided(after: ArrayLike, before: ArrayLike) -> float | None:
    """Two-sided Welch p-value that two samples share a mean (``repaudit diff``); None when both
    have zero variance."""
    a = scores_array(after, name="later scores", min_n=2)
    b = scores_array(before, name="earlier scores", min_n=2)
    if sd(a) == 0 and sd(b) == 0:
        return None
    tests = gap_tests(a, b, 0.0)
    return float(np.minimum(1.0, 2 * np.minimum(tests.p_gain, tests.p_reverse)))


def seed_luck(x: np.ndarray, gap: Numbers, *, runs: int = 1) -> np.ndarray:
    """Chance that two runs of the *same* code differ by at least ``gap`` (along the last axis).

    1 - T(gap / (sd·√(2/runs))), t with n - 1 degrees of freedom since sd comes from n seeds;
    ``runs`` > 1 when the paper's numbers are means over that many runs. Needs n >= 2 and some
    spread. For single runs, :func:`luck_exceedance` is its distribution-free counterpart.
    """
    n = x.shape[-1]
    _, sd_ = moments(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sps.t.sf(np.asarray(gap) / (sd_ * math.sqrt(2 / runs)), n - 1)


def luck_exceedance(x: np.ndarray, paper_method: Numbers, paper_baseline: Numbers) -> np.ndarray:
    """The conformal p-value of the paper's single-run gap under "no gain", along the last axis.

    If the paper's two runs and the n re-runs are all runs of the same code, the paper's
    (method, baseline) is a uniformly random ordered pair of the n + 2 values, so the share of
    ordered pairs differing by at least the paper's gap is a valid p-value for any distribution
    of the scores: heavy tails and diverged re-runs included. It cannot go below 1/((n+2)(n+1)).
    """
    paper_m = np.asarray(paper_method)[..., None] + 0 * x[..., :1]
    paper_b = np.asarray(paper_baseline)[..., None] + 0 * x[..., :1]
    values = np.concatenate([paper_m, paper_b, x], axis=-1)
    n = values.shape[-1]
    pairs = values[..., :, None] - values[..., None, :]
    off_diagonal = ~np.eye(n, dtype=bool)
    gap = (paper_m - paper_b)[..., None]
    return np.sum((pairs >= gap) & off_diagonal, axis=(-2, -1)) / (n * (n - 1))


def published_chance(luck: Numbers) -> np.ndarray:
    """The seed-luck chance among the comparisons a paper would publish: the positive ones.

    Under no real gain two runs' gap is symmetric about 0, so P(gap >= Δ | gap > 0) = 2 · luck;
    a rule on this chance keeps its false "holds" rate at alpha on published gaps, where one on
    ``luck`` itself would reach 2 · alpha.
    """
    return np.minimum(1.0, 2 * np.asarray(luck))


@dataclass(frozen=True)
class MannWhitney:
    u: float
    """The method's U statistic (ties count half)"""
    p_greater: float
    """One-sided: the method's scores tend to be higher."""
    p_less: float
    """One-sided: the baseline's scores tend to be higher."""
    p_floor: float
    """Smallest one-sided p any data could give at these sizes."""


def mann_whitney(method: ArrayLike, baseline: ArrayLike) -> MannWhitney:
    """Mann-Whitney U (scipy), exact with or without ties at small sizes, and its smallest p.

    Untied samples use scipy's exact distribution up to 8 seeds in an arm; tied ones are
    enumerated exactly (scipy's PermutationMethod) up to EXACT_RANK_LIMIT arrangements, where
    scipy's default would use the normal approximation. The floor 1 / C(n + m, n) is what
    complete separation gives; when it exceeds alpha the test cannot show significance at all.
    """
    a = scores_array(method, name="method scores")
    b = scores_array(baseline, name="baseline scores")
    arrangements = math.comb(a.size + b.size, a.size)
    tied = np.unique(np.concatenate([a, b])).size < a.size + b.size
    # At a handful of tied seeds the normal approximation gives p below what any arrangement
    # can (0.023 at 3 vs 3, where the floor is 0.05); enumerate those exactly instead.
    method_ = (
        sps.PermutationMethod(n_resamples=np.inf)
        if tied and arrangements <= EXACT_RANK_LIMIT
        else "auto"
    )
    greater = sps.mannwhitneyu(a, b, alternative="greater", method=method_)
    less = sps.mannwhitneyu(a, b, alternative="less", method=method_)
    return MannWhitney(
        u=float(greater.statistic),
        p_greater=float(greater.pvalue),
        p_less=float(less.pvalue),
        p_floor=1.0 / arrangements,
    )


def _superiority(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """U / (n·m) along ``axis``, vectorised for scipy.stats.bootstrap."""
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    diff = x[..., :, None] - y[..., None, :]
    return np.mean((diff > 0) + 0.5 * (diff == 0), axis=(-2, -1))


def probability_of_improvement(
    method: ArrayLike, baseline: ArrayLike, rng: np.random.Generator, *, level: float = 0.95
) -> tuple[float, Interval]:
    """P(a method seed beats a baseline seed) = U / (n·m), with a percentile bootstrap interval.

    Arms are resampled independently, as in Bouthillier et al. (2021). Identical arms give 0.5.
    """
    a = scores_array(method, name="method scores")
    b = scores_array(baseline, name="baseline scores")
    level = _level(level)
    estimate = float(_superiority(a, b))
    result = sps.bootstrap(
        (a, b),
        _superiority,
        n_resamples=BOOTSTRAP_RESAMPLES,
        vectorized=True,
        confidence_level=level,
        method="percentile",
        rng=rng,
    )
    low, high = result.confidence_interval
    return estimate, Interval(float(low), float(high), level)


def hedges_g(method: ArrayLike, baseline: ArrayLike) -> float | None:
    """Standardised gap with Hedges' small-sample correction; None when the pooled sd is zero."""
    a = scores_array(method, name="method scores", min_n=2)
    b = scores_array(baseline, name="baseline scores", min_n=2)
    n, m = a.size, b.size
    pooled = math.hypot(
        sd(a) * math.sqrt((n - 1) / (n + m - 2)), sd(b) * math.sqrt((m - 1) / (n + m - 2))
    )
    if pooled == 0:
        return None
    correction = 1 - 3 / (4 * (n + m) - 9)
    return float(correction * (mean(a) - mean(b)) / pooled)


# ---------------------------------------------------------------- several claims


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the input order (scipy has Benjamini-Hochberg only).

    Sorted ascending, p_(i) is multiplied by (m - i), made monotone and capped at 1:
    holm([0.04, 0.01, 0.03]) == [0.06, 0.03, 0.06].
    """
    p = _p_values(p_values)
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (p.size - np.arange(p.size))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def holm_levels(p_values: ArrayLike, alpha: float) -> np.ndarray:
    """The level each p-value is tested at under Holm's step-down procedure, in the input order.

    p <= level exactly when Holm rejects (holm(p) <= alpha): the i-th smallest p gets
    alpha / (m - i) while every smaller one was rejected; from the first that is not, all the
    rest get that step's level. Every rule of a claim (its interval, its bound, the seeds it
    needs) uses its level, so they all agree with its decision.
    """
    p = _p_values(p_values)
    order = np.argsort(p, kind="stable")
    steps = alpha / (p.size - np.arange(p.size))
    failed = np.flatnonzero(p[order] > steps)
    stop = failed[0] if failed.size else p.size
    levels = np.empty_like(p)
    levels[order] = steps[np.minimum(np.arange(p.size), stop)]
    return levels


def _p_values(p_values: ArrayLike) -> np.ndarray:
    p = scores_array(p_values, name="p-values")
    if np.any((p < 0) | (p > 1)):
        raise UsageError(f"p-values must lie in [0, 1], got {p.tolist()}")
    return p
