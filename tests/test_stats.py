"""Known-answer tests of repaudit.stats, aso and power against scipy and the published definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from repaudit import power, stats
from repaudit.aso import aso, violation_ratios
from repaudit.errors import UsageError

A = np.array([0.812, 0.805, 0.809, 0.801, 0.815, 0.807, 0.803])
B = np.array([0.800, 0.806, 0.798, 0.802, 0.795, 0.804])


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize(
    "bad", [[1.0, float("nan")], [float("inf"), 2.0], [[1.0, 2.0]], ["x", 1.0], [[1.0], [2.0, 3.0]]]
)
def test_nan_inf_and_nested_are_rejected_with_a_clear_message(bad):
    with pytest.raises(UsageError, match="score"):
        stats.summarize_arm("method", bad, n_failed=0, rng=rng())


def test_t_interval_matches_scipy():
    interval = stats.t_interval(A, 0.95)
    low, high = sps.t.interval(0.95, A.size - 1, loc=A.mean(), scale=sps.sem(A))
    assert (interval.low, interval.high) == pytest.approx((low, high), rel=1e-12)


def test_bca_matches_scipy_bootstrap_and_is_deterministic():
    ours = stats.bca_interval(A, rng(7))
    ref = sps.bootstrap((A,), np.mean, n_resamples=stats.BOOTSTRAP_RESAMPLES, rng=rng(7))
    assert (ours.low, ours.high) == tuple(ref.confidence_interval)
    assert stats.bca_interval(A, rng(7)) == ours


def test_bca_is_none_when_undefined():
    assert stats.bca_interval([1.0, 2.0], rng()) is None
    assert stats.bca_interval([3.0, 3.0, 3.0], rng()) is None


def test_welch_matches_scipy_ttest_ind():
    result = stats.welch(A, B)
    greater = sps.ttest_ind(A, B, equal_var=False, alternative="greater")
    less = sps.ttest_ind(A, B, equal_var=False, alternative="less")
    two = sps.ttest_ind(A, B, equal_var=False)
    assert result.statistic == pytest.approx(greater.statistic, rel=1e-12)
    assert result.df == pytest.approx(greater.df, rel=1e-12)
    assert result.p_greater == pytest.approx(greater.pvalue, rel=1e-10)
    assert result.p_less == pytest.approx(less.pvalue, rel=1e-10)
    low, high = two.confidence_interval(0.95)
    assert (result.interval.low, result.interval.high) == pytest.approx((low, high), rel=1e-12)
    assert result.gap == pytest.approx(A.mean() - B.mean())


def test_welch_with_both_arms_constant_is_none_not_nan():
    assert stats.welch([1.0, 1.0, 1.0], [1.0, 1.0, 1.0]) is None
    one_constant = stats.welch([2.0, 2.0, 2.0], [1.0, 1.1, 0.9])
    assert one_constant is not None and math.isfinite(one_constant.p_greater)


def test_mann_whitney_matches_scipy_and_reports_its_floor():
    result = stats.mann_whitney(A, B)
    ref = sps.mannwhitneyu(A, B, alternative="greater")
    assert (result.u, result.p_greater) == (ref.statistic, ref.pvalue)
    assert stats.mann_whitney([3, 4, 5], [0, 1, 2]).p_floor == pytest.approx(1 / 20)
    assert stats.mann_whitney([3, 4], [0, 1, 2]).p_floor == pytest.approx(0.1)


def test_mann_whitney_with_ties_never_goes_below_its_floor():
    # scipy's normal approximation would give p = 0.023 here, below the exact floor of 1/20
    tied = stats.mann_whitney([2.0, 2.0, 2.0], [1.0, 1.5, 1.0])
    assert tied.p_greater == pytest.approx(0.05)
    ref = sps.mannwhitneyu(
        [2.0, 2.0, 2.0], [1.0, 1.5, 1.0], alternative="greater",
        method=sps.PermutationMethod(n_resamples=np.inf),
    )  # fmt: skip
    assert tied.p_greater == ref.pvalue


def test_probability_of_improvement_is_u_over_nm():
    estimate, interval = stats.probability_of_improvement(A, B, rng())
    u = sps.mannwhitneyu(A, B).statistic
    assert estimate == pytest.approx(u / (A.size * B.size))
    assert interval.low <= estimate <= interval.high
    same, _ = stats.probability_of_improvement([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], rng())
    assert same == 0.5


def test_hedges_g_known_answer():
    n, m = A.size, B.size
    pooled = math.sqrt(((n - 1) * A.var(ddof=1) + (m - 1) * B.var(ddof=1)) / (n + m - 2))
    expected = (1 - 3 / (4 * (n + m) - 9)) * (A.mean() - B.mean()) / pooled
    assert stats.hedges_g(A, B) == pytest.approx(expected)
    assert stats.hedges_g([1.0, 1.0], [1.0, 1.0]) is None


def test_prediction_interval_and_chance_to_reach():
    interval = stats.prediction_interval(A, runs=1)
    half = sps.t.ppf(0.975, A.size - 1) * A.std(ddof=1) * math.sqrt(1 + 1 / A.size)
    assert (interval.low, interval.high) == pytest.approx((A.mean() - half, A.mean() + half))
    scale = A.std(ddof=1) * math.sqrt(1 + 1 / A.size)
    assert stats.chance_to_reach(A, 0.815) == pytest.approx(
        sps.t.sf((0.815 - A.mean()) / scale, A.size - 1)
    )
    assert stats.chance_to_reach([2.0, 2.0, 2.0], 1.0) == 1.0


def test_mean_claim_test_known_answer():
    t, p = stats.mean_claim_test(A, 0.815, runs=5)
    se = A.std(ddof=1) * math.sqrt(1 / A.size + 1 / 5)
    assert t == pytest.approx((0.815 - A.mean()) / se)
    assert p == pytest.approx(2 * sps.t.sf(abs(t), A.size - 1))
    assert stats.mean_claim_test([1.0, 1.0, 1.0], 2.0, runs=3) is None


def test_claim_percentile_counts_ties_half():
    assert stats.claim_percentile([1, 2, 3, 4], 3) == pytest.approx(62.5)


def test_expected_best_and_best_of_k():
    assert stats.expected_best(1) == pytest.approx(0.0, abs=1e-9)
    assert stats.expected_best(2) == pytest.approx(1 / math.sqrt(math.pi), rel=1e-6)
    assert stats.expected_best(5) == pytest.approx(1.162964, rel=1e-5)  # tabulated value
    x = np.array([-1.0, 0.0, 1.0])  # mean 0, sd 1
    assert stats.best_of_k(x, stats.expected_best(9)) == pytest.approx(9, rel=1e-4)
    assert stats.best_of_k(x, -0.5) == 1.0
    assert stats.best_of_k(x, 100.0) is None


def test_seed_luck_t_based_on_normal_scores():
    x = np.array([0.0, 1.0, 2.0, 1.5, 0.5])
    sd = x.std(ddof=1)
    assert stats.seed_luck(x, 3.0) == pytest.approx(sps.t.sf(3.0 / (sd * math.sqrt(2)), 4))
    assert stats.seed_luck(x, 3.0, runs=4) == pytest.approx(
        sps.t.sf(3.0 / (sd * math.sqrt(2 / 4)), 4)
    )


def test_seed_luck_counts_diverged_pairs():
    x = np.array([0.0, 0.1, -0.1, 0.05, -10.0])  # one diverged run
    # 4 of the 20 ordered pairs differ by at least 9.9: (healthy - diverged)
    assert stats.seed_luck(x, 9.9) >= 4 / 20


def test_holm_known_answer():
    assert stats.holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_outlier_rule_flags_a_diverged_run():
    values = np.array([0.84, 0.842, 0.838, 0.845, 0.839, 0.841, 0.05])
    assert stats.outlier_mask(values).tolist() == [False] * 6 + [True]
    # more than half tied: MAD is 0, the mean absolute deviation stands in
    tied = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 50.0])
    assert stats.outlier_mask(tied)[-1]
    assert not stats.outlier_mask([2.0, 2.0, 2.0]).any()


def test_summarize_arm_zero_variance_has_no_nan():
    summary = stats.summarize_arm("method", [0.8, 0.8, 0.8], n_failed=1, rng=rng())
    assert summary.sd == 0.0 and summary.bootstrap_interval is None
    assert summary.mean_interval.low == summary.mean_interval.high == pytest.approx(0.8)
    assert summary.outliers == () and summary.n_failed == 1


def _deepsig_violation_ratio(a: np.ndarray, b: np.ndarray, dt: float) -> float:
    """deepsig 1.2.8's compute_violation_ratio, written out loop by loop as the reference."""
    t = np.arange(dt, 1, dt)

    def quantile(scores, p):
        cdf = np.sort(scores)
        return cdf[min(max(int(np.ceil(len(scores) * p)) - 1, 0), len(scores) - 1)]

    f = np.array([quantile(a, p) for p in t])
    g = np.array([quantile(b, p) for p in t])
    diff = g - f
    w2 = np.sum(diff**2 * dt)
    diff[f >= g] = 0
    return 0.5 if w2 == 0 else np.sum(diff[1:] ** 2 * dt) / w2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_violation_ratio_matches_deepsig_definition(seed):
    gen = rng(seed)
    a, b = gen.normal(0.3, 1, 7), gen.normal(0, 1, 11)
    grid = np.arange(0.005, 1, 0.005)
    qa = np.sort(a)[np.clip(np.ceil(a.size * grid).astype(int) - 1, 0, a.size - 1)]
    qb = np.sort(b)[np.clip(np.ceil(b.size * grid).astype(int) - 1, 0, b.size - 1)]
    assert violation_ratios(qa, qb, 0.005) == pytest.approx(_deepsig_violation_ratio(a, b, 0.005))


def test_aso_separated_arms_and_determinism():
    better, worse = aso(np.arange(10.0) + 100, np.arange(10.0), rng(3))
    assert better == 0.0 and worse > 0.99  # deepsig leaves the first grid point out
    assert aso(A, B, rng(5)) == aso(A, B, rng(5))
    same = aso([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], rng())
    assert all(math.isfinite(e) for e in same)


def test_seeds_needed_matches_the_design_example():
    # seed sd 0.5 points and a 0.5-point claim: 14 per arm (one-sided Welch, alpha 0.05, 80%)
    assert power.seeds_needed(0.5, 0.5, 0.5, 0.05) == 14
    assert (
        power.welch_power(0.5, 0.5, 0.5, 14, 14, 0.05)
        >= 0.8
        > power.welch_power(0.5, 0.5, 0.5, 13, 13, 0.05)
    )
    assert power.seeds_needed(1e-6, 1.0, 1.0, 0.05) is None


def test_welch_power_agrees_with_simulation():
    gen = rng(11)
    a, b = gen.normal(1.0, 1.0, (4000, 8)), gen.normal(0.0, 2.0, (4000, 8))
    simulated = np.mean(
        sps.ttest_ind(a, b, axis=1, equal_var=False, alternative="greater").pvalue <= 0.05
    )
    assert power.welch_power(1.0, 1.0, 2.0, 8, 8, 0.05) == pytest.approx(simulated, abs=0.025)


def test_welch_type_one_error_at_n5_stays_within_alpha():
    sims, gen = 2000, rng(20261125)
    a, b = gen.normal(size=(sims, 5)), gen.normal(size=(sims, 5))
    p = sps.ttest_ind(a, b, axis=1, equal_var=False, alternative="greater").pvalue
    se = math.sqrt(0.05 * 0.95 / sims)
    assert np.mean(p <= 0.05) <= 0.05 + 3 * se
