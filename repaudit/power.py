"""Power of Welch's one-sided t-test, and the seeds per arm that would give 80% power.

Colas et al. (2018), "How many random seeds?": the power of Welch's test from the noncentral t
with Welch-Satterthwaite degrees of freedom. scipy has the noncentral t but no power helper for
Welch's test, so the few lines are written here. Scores are oriented (higher is better).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from repaudit.errors import UsageError

TARGET_POWER = 0.8
#: Beyond this many seeds per arm the answer is reported as "more than MAX_SEEDS".
MAX_SEEDS = 5000


def welch_power(
    gap: float,
    sd_a: float | np.ndarray,
    sd_b: float | np.ndarray,
    n_a: int | np.ndarray,
    n_b: int | np.ndarray,
    alpha: float,
) -> np.ndarray:
    """Power of the one-sided Welch test at level alpha to detect a true gap.

    Vectorised: any of the sds and sizes may be arrays (broadcast together).
    """
    if not 0 < alpha < 1:
        raise UsageError(f"alpha must be between 0 and 1, got {alpha}")
    sd_a, sd_b = np.asarray(sd_a, dtype=np.float64), np.asarray(sd_b, dtype=np.float64)
    if np.any(sd_a < 0) or np.any(sd_b < 0) or np.any((sd_a == 0) & (sd_b == 0)):
        raise UsageError(f"power needs a positive seed sd (got {sd_a} and {sd_b})")
    n_a, n_b = np.asarray(n_a, dtype=np.float64), np.asarray(n_b, dtype=np.float64)
    if np.any(n_a < 2) or np.any(n_b < 2):
        raise UsageError("power needs at least 2 seeds per arm")
    var_a, var_b = sd_a**2 / n_a, sd_b**2 / n_b
    df = (var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1))
    ncp = gap / np.sqrt(var_a + var_b)
    return sps.nct.sf(sps.t.ppf(1 - alpha, df), df, ncp)


def seeds_needed(
    gap: float, sd_a: float, sd_b: float, alpha: float, *, power: float = TARGET_POWER
) -> int | None:
    """Smallest equal number of seeds per arm giving ``power`` to detect ``gap`` (> 0).

    None when even MAX_SEEDS per arm would not do (a gap that is tiny next to the seed sd).
    """
    if not gap > 0:
        raise UsageError(f"seeds needed is defined for a positive claimed gap, got {gap}")
    # Normal approximation first, then the exact noncentral-t power on a window around it.
    z = sps.norm.ppf(1 - alpha) + sps.norm.ppf(power)
    guess = int(np.ceil(z**2 * (sd_a**2 + sd_b**2) / gap**2))
    if guess > MAX_SEEDS:
        return None
    n = np.arange(2, min(MAX_SEEDS, guess + 50) + 1)
    enough = np.flatnonzero(welch_power(gap, sd_a, sd_b, n, n, alpha) >= power)
    return int(n[enough[0]]) if enough.size else None
