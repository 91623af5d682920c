"""The chance an audit settles a claimed gap, and the seeds per arm that give it an 80% chance.

An audit *settles* when one of its two tests rejects: the gain test (Welch, H0 δ <= 0) or the
size test (is the claimed gap one draw of a gap measured the paper's way?). Both statistics share
the re-runs' gap d̂ ~ N(δ, σ_m²/n + σ_b²/m) and, given the two sample variances, each rejects on
one side of a threshold, so the chance is exact up to an integral over the two scaled
chi-squared sample variances. That integral is a Gauss-Legendre sum on their probability scales
(scipy has the noncentral t but nothing for Welch's statistic, whose degrees of freedom are
themselves random; the noncentral-t shortcut of Colas et al. 2018 overstates power at n <= 5,
0.80 where the truth is 0.74 at 3 seeds). Scores are oriented (higher is better).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special
from scipy import stats as sps

from repaudit.errors import UsageError
from repaudit.stats import satterthwaite

TARGET_POWER = 0.8
#: Beyond this many seeds per arm the answer is reported as "more than MAX_SEEDS".
MAX_SEEDS = 5000
#: The seeds needed are given for sds at both ends of their 80% chi-squared intervals.
SD_RANGE_LEVEL = 0.8
#: Quadrature nodes per sample variance: 48 × 48 keeps the chance within 1e-4 of simulation.
NODES = 48

_U, _W = special.roots_legendre(NODES)
_U, _W = (_U + 1) / 2, _W / 2  # nodes and weights on (0, 1)


def _variance_ratios(dof: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes of s² / σ² ~ χ²(dof) / dof on its probability scale, with their weights."""
    return sps.chi2.ppf(_U, dof) / dof, _W


def settle_power(
    true_gap: float,
    claimed_gap: float,
    sd_m: float,
    sd_b: float,
    n: int,
    m: int,
    *,
    level_gain: float,
    level_size: float,
    runs: int = 1,
    paper_baseline: bool = True,
) -> float:
    """Chance that the gain test or the size test rejects when the true mean gap is ``true_gap``.

    Normal seed scores with sds ``sd_m`` and ``sd_b`` (one may be 0: a seed-invariant arm),
    ``n`` and ``m`` seeds, each test at its own level; ``runs`` and ``paper_baseline`` as in
    stats.gap_tests. With ``true_gap`` = ``claimed_gap`` it is the chance to settle a true claim.
    """
    if sd_m < 0 or sd_b < 0 or (sd_m == 0 and sd_b == 0):
        raise UsageError(f"power needs a positive seed sd (got {sd_m} and {sd_b})")
    if n < 2 or m < 2:
        raise UsageError("power needs at least 2 seeds per arm")
    ratio_m, weight_m = _variance_ratios(n - 1) if sd_m > 0 else (np.ones(1), np.ones(1))
    ratio_b, weight_b = _variance_ratios(m - 1) if sd_b > 0 else (np.ones(1), np.ones(1))
    s_m = sd_m * np.sqrt(ratio_m)[:, None]  # sample sds on the grid, method along axis 0
    s_b = sd_b * np.sqrt(ratio_b)[None, :]
    part_m, part_b = s_m / math.sqrt(n), s_b / math.sqrt(m)
    gain_bar = sps.t.ppf(1 - level_gain, satterthwaite((part_m, part_b), (n - 1, m - 1)))
    gain_bar = gain_bar * np.hypot(part_m, part_b)
    size_m = s_m * math.sqrt(1 / runs + 1 / n)
    size_b = s_b * math.sqrt(1 / runs + 1 / m) * paper_baseline
    size_df = satterthwaite((size_m, size_b), (n - 1, m - 1))
    size_bar = claimed_gap - sps.t.ppf(1 - level_size, size_df) * np.hypot(size_m, size_b)
    # Neither test rejects while size_bar <= d̂ <= gain_bar; d̂ is independent of the sds.
    spread = math.hypot(sd_m / math.sqrt(n), sd_b / math.sqrt(m))
    silent = np.clip(
        sps.norm.cdf((gain_bar - true_gap) / spread) - sps.norm.cdf((size_bar - true_gap) / spread),
        0.0,
        1.0,
    )
    return float(1.0 - weight_m @ silent @ weight_b)


def seeds_needed(
    claimed_gap: float,
    sd_m: float,
    sd_b: float,
    *,
    level_gain: float,
    level_size: float,
    runs: int = 1,
    paper_baseline: bool = True,
    power: float = TARGET_POWER,
    fewest: int = 2,
) -> int | None:
    """Smallest equal number of seeds per arm giving ``power`` to settle a true claimed gap (> 0).

    Never fewer than ``fewest``: the audit passes the fewest seeds its rules decide with
    (rules.MIN_SEEDS), since a huge gap "settles" at 2 seeds where the audit decides nothing.
    None when even MAX_SEEDS per arm would not do (a gap that is tiny next to the seed sd).
    """
    if not claimed_gap > 0:
        raise UsageError(f"seeds needed is defined for a positive claimed gap, got {claimed_gap}")

    def enough(k: int) -> bool:
        chance = settle_power(
            claimed_gap,
            claimed_gap,
            sd_m,
            sd_b,
            k,
            k,
            level_gain=level_gain,
            level_size=level_size,
            runs=runs,
            paper_baseline=paper_baseline,
        )
        return chance >= power

    if fewest < 2:
        raise UsageError(f"power needs at least 2 seeds per arm, got fewest = {fewest}")
    # The chance grows with the seeds: double until enough, then bisect.
    low, high = fewest - 1, fewest
    while not enough(high):
        if high >= MAX_SEEDS:
            return None
        low, high = high, min(2 * high, MAX_SEEDS)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def sd_range(sd: float, n: int, level: float = SD_RANGE_LEVEL) -> tuple[float, float]:
    """The ``level`` chi-squared interval of a normal sd estimated as ``sd`` from n seeds."""
    if sd == 0 or n < 2:
        return sd, sd
    tail = (1 - level) / 2
    return (
        sd * math.sqrt((n - 1) / sps.chi2.ppf(1 - tail, n - 1)),
        sd * math.sqrt((n - 1) / sps.chi2.ppf(tail, n - 1)),
    )
