"""Almost Stochastic Order (Dror et al. 2019), vectorised, with deepsig's exact definition.

deepsig (Ulmer et al. 2022) computes ε_min from the quantile-function violation ratio of
del Barrio et al. (2018), bootstrapping it 1000 times one Python call at a time, which takes
seconds. Nothing else packages it, so it is written out here by hand: all bootstrap replicates
are one (resamples × grid) array. The definitions follow deepsig 1.2.8 ``deepsig/aso.py``:
quantile grid t = dt, 2dt, ..., 1 - dt with dt = 0.005; empirical quantile F⁻¹(t) =
sorted[ceil(n·t) - 1]; violation ratio = ∫ over {F⁻¹ < G⁻¹} of (G⁻¹ - F⁻¹)² / W₂² (with the
first grid point left out of the numerator, as deepsig does, and 0.5 when W₂ = 0);
σ̂ = std(√(nm/(n+m)) · (ratio* - ratio)); ε_min = clip(ratio + σ̂ / √(nm/(n+m)) · z_conf, 0, 1).

ε_min is not a p-value: it bounds how much A fails to be stochastically larger than B.
ε_min < τ = 0.2 reads "A is almost stochastically better than B"; see docs/statistics.md for
how often equal arms pass (the reason τ is 0.2, not deepsig's suggested 0.5).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from repaudit.stats import BOOTSTRAP_RESAMPLES, ArrayLike, scores_array

#: ε_min below this reads "almost stochastically better" (Dror et al. 2019 used 0.2 as well).
ASO_THRESHOLD = 0.2
#: deepsig's integration step.
ASO_DT = 0.005


def _quantile_index(n: int, grid: np.ndarray) -> np.ndarray:
    """Index into sorted scores of deepsig's empirical quantile function at each grid point."""
    return np.clip(np.ceil(n * grid).astype(np.int64) - 1, 0, n - 1)


def violation_ratios(quantiles_a: np.ndarray, quantiles_b: np.ndarray, dt: float) -> np.ndarray:
    """Violation ratio of "A is stochastically larger than B" along the last axis (grid)."""
    diff = quantiles_b - quantiles_a
    squared_w2 = np.sum(diff**2, axis=-1) * dt
    violated = np.where(quantiles_a < quantiles_b, diff, 0.0)[..., 1:]
    violation = np.sum(violated**2, axis=-1) * dt
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(squared_w2 == 0, 0.5, violation / squared_w2)


def aso(
    scores_a: ArrayLike,
    scores_b: ArrayLike,
    rng: np.random.Generator,
    *,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    dt: float = ASO_DT,
) -> tuple[float, float]:
    """(ε_min(A better than B), ε_min(B better than A)) from one shared set of bootstrap resamples.

    Oriented scores (higher is better); the two arms may differ in size (each >= 1).
    """
    a = scores_array(scores_a, name="ASO scores A")
    b = scores_array(scores_b, name="ASO scores B")
    # ε_min is scale-free; dividing by the largest magnitude keeps the squares finite.
    scale = max(float(np.max(np.abs(a))), float(np.max(np.abs(b)))) or 1.0
    a, b = a / scale, b / scale
    grid = np.arange(dt, 1, dt)
    index_a, index_b = _quantile_index(a.size, grid), _quantile_index(b.size, grid)
    qa, qb = np.sort(a)[index_a], np.sort(b)[index_b]
    # deepsig draws F⁻¹(U) with U uniform, i.e. resampling with replacement; sorting each
    # resample row gives its empirical quantile function on the grid.
    boot_a = np.sort(a[rng.integers(0, a.size, size=(resamples, a.size))], axis=1)[:, index_a]
    boot_b = np.sort(b[rng.integers(0, b.size, size=(resamples, b.size))], axis=1)[:, index_b]
    const = np.sqrt(a.size * b.size / (a.size + b.size))
    z = sps.norm.ppf(1 - confidence)
    eps = []
    for (qx, qy), (bx, by) in (((qa, qb), (boot_a, boot_b)), ((qb, qa), (boot_b, boot_a))):
        ratio = violation_ratios(qx, qy, dt)
        sigma = np.std(const * (violation_ratios(bx, by, dt) - ratio))
        eps.append(float(np.clip(ratio - sigma / const * z, 0.0, 1.0)))
    return eps[0], eps[1]
