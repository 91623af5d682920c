"""Pure statistics over seed scores: 1-D float arrays in, numbers out (numpy and scipy only).

Every function here assumes the scores are *oriented*: higher is better. ``verdict.py`` flips the
sign of losses and error rates before calling in, so no function needs a direction argument.
Randomness comes only from the ``numpy.random.Generator`` passed in, so the same stats seed gives
bit-identical intervals. Each public function validates its arguments in one step
(:func:`scores_array`) before the math, in the manner of scipy's ``_bootstrap_iv``.
The Almost Stochastic Order test lives in ``aso.py`` and the power analysis in ``power.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special
from scipy import stats as sps

from repaudit.errors import UsageError
from repaudit.model import ArmSummary, Interval

#: Iglewicz and Hoaglin (1993): |modified z| above 3.5 flags a potential outlier.
OUTLIER_Z = 3.5
#: Resamples of every bootstrap here; 1000 keeps all statistics of two 50-seed arms well under 1 s.
BOOTSTRAP_RESAMPLES = 1000
#: Tied rank tests are enumerated exactly up to this many arrangements (6 vs 6 seeds is 924).
EXACT_RANK_LIMIT = 2000

ArrayLike = Sequence[float] | np.ndarray


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


def all_identical(values: ArrayLike) -> bool:
    """True when there are two or more scores and every one is bit-identical (zero variance)."""
    x = scores_array(values)
    return x.size >= 2 and bool(np.all(x == x[0]))


def sd(values: ArrayLike) -> float:
    """Sample sd (ddof = 1); exactly 0.0 for identical scores (numpy's gives rounding dust)."""
    x = scores_array(values)
    if x.size < 2 or np.all(x == x[0]):
        return 0.0
    return float(x.std(ddof=1))


def mean(values: ArrayLike) -> float:
    """Mean; exactly the value itself for identical scores."""
    x = scores_array(values, min_n=1)
    return float(x[0]) if np.all(x == x[0]) else float(x.mean())


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


def outlier_mask(values: ArrayLike) -> np.ndarray:
    """Robust outlier rule: modified z-score |0.6745 (x - median) / MAD| > 3.5 (Iglewicz-Hoaglin).

    When more than half the scores tie (MAD = 0) the mean absolute deviation stands in, scaled by
    1.2533 as in the usual convention; when that is zero too, nothing is flagged. Needs n >= 3.
    """
    x = scores_array(values)
    if x.size < 3:
        return np.zeros(x.size, dtype=bool)
    deviation = x - np.median(x)
    mad = sps.median_abs_deviation(x)
    if mad > 0:
        z = 0.6745 * deviation / mad
    else:
        mean_ad = np.mean(np.abs(deviation))
        if mean_ad == 0:
            return np.zeros(x.size, dtype=bool)
        z = deviation / (1.253314 * mean_ad)
    return np.abs(z) > OUTLIER_Z


def summarize_arm(
    arm: str, values: ArrayLike, *, n_failed: int, rng: np.random.Generator, level: float = 0.95
) -> ArmSummary:
    """Descriptive statistics of one arm's successful seeds (n >= 1), in the order given."""
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
        outliers=tuple(float(v) for v in x[outlier_mask(x)]),
    )


# ---------------------------------------------------------------- Q1: the claimed number


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
    scale = sd(x) * math.sqrt(1 / runs + 1 / x.size)
    if scale == 0:
        return float(target <= mean(x))
    return float(sps.t.sf((target - x.mean()) / scale, x.size - 1))


def claim_percentile(values: ArrayLike, target: float) -> float:
    """Share of seeds (0..100) below ``target``, ties counting half: the claim's percentile."""
    x = scores_array(values)
    return float(100 * (np.mean(x < target) + 0.5 * np.mean(x == target)))


#: Grid for the expected-maximum integral; the integrand is negligible beyond |z| = 12.
_Z_GRID = np.linspace(-12.0, 12.0, 4801)


def expected_best(k: float) -> float:
    """Expected maximum of k independent standard normals (k >= 1, real-valued k allowed)."""
    # E[max] = ∫ z · k φ(z) Φ(z)^(k-1) dz, a smooth integrand, on a fixed grid (no closed form).
    log_density = np.log(k) + sps.norm.logpdf(_Z_GRID) + (k - 1) * special.log_ndtr(_Z_GRID)
    return float(np.trapezoid(_Z_GRID * np.exp(log_density), _Z_GRID))


def best_of_k(values: ArrayLike, target: float, *, max_k: float = 1e6) -> float | None:
    """Seeds k whose expected best score equals ``target`` under a normal fit ("best of ~k seeds").

    1.0 when the target is at or below the mean; None when the sd is zero or k would exceed max_k.
    """
    x = scores_array(values, min_n=2)
    spread = sd(x)
    if spread == 0:
        return None
    z = (target - x.mean()) / spread
    if z <= 0:
        return 1.0
    if expected_best(max_k) < z:
        return None
    return float(optimize.brentq(lambda k: expected_best(k) - z, 1.0, max_k, xtol=1e-6))


def mean_claim_test(values: ArrayLike, claim: float, *, runs: int) -> tuple[float, float] | None:
    """t-test of a claimed mean of ``runs`` seeds against the re-runs: (t, two-sided p).

    Standard error sd · sqrt(1/n + 1/runs), n - 1 degrees of freedom (the paper's own sd is
    unknown, so the re-runs' sd stands for both). None when the re-runs have zero variance.
    """
    x = scores_array(values, min_n=2)
    se = sd(x) * math.sqrt(1 / x.size + 1 / runs)
    if se == 0:
        return None
    t = (claim - x.mean()) / se
    return float(t), float(2 * sps.t.sf(abs(t), x.size - 1))


# ---------------------------------------------------------------- Q2: the improvement


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test of method minus baseline (oriented: positive = better)."""

    gap: float
    """Mean(method) - mean(baseline)"""
    statistic: float
    """Welch's t."""
    df: float
    """Welch-Satterthwaite degrees of freedom."""
    p_greater: float
    """One-sided: the method is better."""
    p_less: float
    """One-sided: the baseline is better."""
    interval: Interval
    """Two-sided interval of the gap."""


def welch(method: ArrayLike, baseline: ArrayLike, *, level: float = 0.95) -> Welch | None:
    """Welch's t-test through scipy.stats.ttest_ind; None when both arms have zero variance."""
    a = scores_array(method, name="method scores", min_n=2)
    b = scores_array(baseline, name="baseline scores", min_n=2)
    level = _level(level)
    if sd(a) == 0 and sd(b) == 0:
        return None
    with warnings.catch_warnings():
        # One constant arm: scipy warns about rounding in its variance, which is what we mean.
        warnings.simplefilter("ignore", RuntimeWarning)
        result = sps.ttest_ind(a, b, equal_var=False)
    low, high = result.confidence_interval(level)
    p_greater = float(sps.t.sf(result.statistic, result.df))
    return Welch(
        gap=float(a.mean() - b.mean()),
        statistic=float(result.statistic),
        df=float(result.df),
        p_greater=p_greater,
        p_less=float(sps.t.cdf(result.statistic, result.df)),
        interval=Interval(float(low), float(high), level),
    )


@dataclass(frozen=True)
class MannWhitney:
    """The Mann-Whitney U test, one-sided (the method's scores tend to be higher)."""

    u: float
    """The method's U statistic (ties count half)"""
    p_greater: float
    """One-sided: the method's scores tend to be higher."""
    p_floor: float
    """Smallest one-sided p any data could give at these sizes."""


def mann_whitney(method: ArrayLike, baseline: ArrayLike) -> MannWhitney:
    """Mann-Whitney U (scipy; exact when small and untied), with the smallest p reachable.

    The floor 1 / C(n + m, n) is what complete separation of the arms gives; when it exceeds
    alpha the test cannot show significance at all, whatever the scores.
    """
    a = scores_array(method, name="method scores")
    b = scores_array(baseline, name="baseline scores")
    arrangements = math.comb(a.size + b.size, a.size)
    tied = np.unique(np.concatenate([a, b])).size < a.size + b.size
    # scipy's "auto" falls back to the normal approximation on ties, which at a handful of seeds
    # gives p below what any arrangement can (0.023 at 3 vs 3); enumerate those exactly instead.
    method_ = (
        sps.PermutationMethod(n_resamples=np.inf)
        if tied and arrangements <= EXACT_RANK_LIMIT
        else "auto"
    )
    result = sps.mannwhitneyu(a, b, alternative="greater", method=method_)
    return MannWhitney(
        u=float(result.statistic),
        p_greater=float(result.pvalue),
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
    pooled = math.sqrt(((n - 1) * sd(a) ** 2 + (m - 1) * sd(b) ** 2) / (n + m - 2))
    if pooled == 0:
        return None
    correction = 1 - 3 / (4 * (n + m) - 9)
    return float(correction * (a.mean() - b.mean()) / pooled)


def seed_luck(values: ArrayLike, gap: float, *, runs: int = 1) -> float:
    """Chance that two runs of the *same* code differ by at least ``gap`` (oriented scores).

    1 - T(gap / (sd·√(2/runs))), t with n - 1 degrees of freedom since sd comes from n seeds;
    ``runs`` > 1 when the paper's numbers are means over that many runs. It is the one-sided
    p-value of the paper's own comparison had there been no real improvement. For single runs it
    is at least the share of ordered pairs of re-runs that differ by ``gap``: with diverged runs
    the t-tail is far too thin (docs/statistics.md gives the false "holds" rates that remain).
    Needs n >= 2 and some spread.
    """
    x = scores_array(values, name="method scores", min_n=2)
    spread = sd(x)
    if spread == 0:
        raise UsageError("seed luck needs seeds with some spread; every score is identical")
    t_based = float(sps.t.sf(gap / (spread * math.sqrt(2 / runs)), x.size - 1))
    if runs > 1:
        return t_based
    pairs = x[:, None] - x[None, :]
    empirical = float(np.sum(pairs >= gap) - np.sum(np.diag(pairs) >= gap)) / (
        x.size * (x.size - 1)
    )
    return max(t_based, empirical)


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the input order (scipy has Benjamini-Hochberg only).

    Sorted ascending, p_(i) is multiplied by (m - i), made monotone and capped at 1:
    holm([0.04, 0.01, 0.03]) == [0.06, 0.03, 0.06].
    """
    p = scores_array(p_values, name="p-values")
    if np.any((p < 0) | (p > 1)):
        raise UsageError(f"p-values must lie in [0, 1], got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (p.size - np.arange(p.size))
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def welch_scale(sd_a: float, n_a: int, sd_b: float, n_b: int) -> tuple[float, float]:
    """Standard error of a difference of two means and its Welch-Satterthwaite degrees of freedom.

    From each arm's sample sd and size (n >= 2 each, not both sds zero): the spread of the gap
    between the arms' means that seed noise alone produces, as Welch's test models it.
    """
    var_a, var_b = sd_a**2 / n_a, sd_b**2 / n_b
    df = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    return math.sqrt(var_a + var_b), df


def welch_two_sided(after: ArrayLike, before: ArrayLike) -> float | None:
    """Two-sided Welch p-value that two samples share a mean; None when both have zero variance."""
    test = welch(after, before)
    return None if test is None else min(1.0, 2 * min(test.p_greater, test.p_less))
