"""Known-answer tests of repaudit.stats, aso and power against scipy, hand computations and
brute-force enumeration: an implementation independent of the one under test."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


def test_moments_never_overflow_and_identical_scores_have_zero_sd():
    huge = np.array([1e300, -1e300, 5e299])
    mean, sd = stats.moments(huge)
    assert mean == pytest.approx(np.mean(huge / 1e300) * 1e300)
    assert sd == pytest.approx(np.std(huge / 1e300, ddof=1) * 1e300) and math.isfinite(sd)
    assert stats.moments(np.array([0.1, 0.1, 0.1]))[1] == 0.0
    assert stats.mean([0.1] * 7) == 0.1


# ---------------------------------------------------------------- the gain and size tests


def test_gain_test_matches_scipy_welch():
    tests = stats.gap_tests(A, B, 0.01)
    greater = sps.ttest_ind(A, B, equal_var=False, alternative="greater")
    less = sps.ttest_ind(A, B, equal_var=False, alternative="less")
    assert tests.gain_statistic == pytest.approx(greater.statistic, rel=1e-12)
    assert tests.df == pytest.approx(greater.df, rel=1e-12)
    assert tests.p_gain == pytest.approx(greater.pvalue, rel=1e-10)
    assert tests.p_reverse == pytest.approx(less.pvalue, rel=1e-10)
    # The 1 - 2·level interval is scipy's two-sided 90% interval: its low end is the one-sided bound.
    low, high = sps.ttest_ind(A, B, equal_var=False).confidence_interval(0.90)
    assert tests.interval(0.05) == pytest.approx((low, high), rel=1e-12)


def test_size_test_known_answer_by_hand():
    # (Δ - d̂) / sqrt(s_m²(1/k + 1/n) + s_b²(1/k + 1/m)), Welch-Satterthwaite df, one-sided.
    n, m, k, claimed = A.size, B.size, 3, 0.012
    v_m, v_b = A.var(ddof=1) * (1 / k + 1 / n), B.var(ddof=1) * (1 / k + 1 / m)
    t = (claimed - (A.mean() - B.mean())) / math.sqrt(v_m + v_b)
    df = (v_m + v_b) ** 2 / (v_m**2 / (n - 1) + v_b**2 / (m - 1))
    tests = stats.gap_tests(A, B, claimed, runs=k)
    assert tests.size_statistic == pytest.approx(t, rel=1e-12)
    assert tests.size_df == pytest.approx(df, rel=1e-12)
    assert tests.p_size == pytest.approx(sps.t.sf(t, df), rel=1e-10)
    bound = A.mean() - B.mean() + sps.t.ppf(0.95, df) * math.sqrt(v_m + v_b)
    assert tests.paper_bound(0.05) == pytest.approx(bound, rel=1e-12)
    # Without a paper baseline number only the method's terms remain: Δ - d̂ = claim - method mean.
    alone = stats.gap_tests(A, B, claimed, runs=k, paper_baseline=False)
    assert alone.size_se == pytest.approx(math.sqrt(v_m)) and alone.size_df == pytest.approx(n - 1)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 15), m=st.integers(3, 15),
       claimed=st.floats(-3, 3), level=st.sampled_from([0.05, 0.025, 0.01]))  # fmt: skip
def test_the_shown_interval_and_bound_agree_with_their_tests(seed, n, m, claimed, level):
    gen = rng(seed)
    tests = stats.gap_tests(gen.normal(0.5, 1, n), gen.normal(0, 2, m), claimed)
    low, _ = tests.interval(level)
    assert (low > 0) == (tests.p_gain <= level)
    assert (claimed > tests.paper_bound(level)) == (tests.p_size <= level)


def test_gap_tests_are_vectorised_over_replicates():
    gen = rng(3)
    a, b = gen.normal(size=(6, 5)), gen.normal(size=(6, 8))
    claimed = gen.normal(size=6)
    together = stats.gap_tests(a, b, claimed)
    for i in range(6):
        alone = stats.gap_tests(a[i], b[i], claimed[i])
        assert together.p_gain[i] == pytest.approx(alone.p_gain)
        assert together.p_size[i] == pytest.approx(alone.p_size)


def test_a_constant_arm_leaves_the_other_arms_degrees_of_freedom():
    tests = stats.gap_tests(np.array([0.9, 1.1, 1.0, 1.2]), np.array([1.0, 1.0, 1.0]), 0.1)
    assert tests.df == pytest.approx(3) and tests.size_df == pytest.approx(3)
    one_sample = sps.ttest_1samp([0.9, 1.1, 1.0, 1.2], 1.0, alternative="greater")
    assert tests.p_gain == pytest.approx(one_sample.pvalue)


# ---------------------------------------------------------------- ranks


def _brute_force_u_p(a, b):
    """Exact one-sided p of U (ties count half) by enumerating every split of the pooled scores."""
    pooled = np.concatenate([a, b])

    def u(x, y):
        return sum((xi > yi) + 0.5 * (xi == yi) for xi in x for yi in y)

    observed = u(a, b)
    splits = list(itertools.combinations(range(pooled.size), len(a)))
    hits = 0
    for chosen in splits:
        rest = [i for i in range(pooled.size) if i not in chosen]
        hits += u(pooled[list(chosen)], pooled[rest]) >= observed - 1e-9
    return hits / len(splits)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([2.0, 2.0, 2.0], [1.0, 1.5, 1.0]),  # the normal approximation would give 0.023
        ([0.83, 0.84, 0.84, 0.85, 0.83, 0.86, 0.84], [0.83, 0.82, 0.83, 0.84, 0.82, 0.83, 0.81]),
    ],
)
def test_mann_whitney_with_ties_is_exact(a, b):
    # 7 vs 7 has 3432 arrangements: scipy's default would use the normal approximation.
    result = stats.mann_whitney(a, b)
    assert result.p_greater == pytest.approx(_brute_force_u_p(np.array(a), np.array(b)))
    assert result.p_less == pytest.approx(_brute_force_u_p(np.array(b), np.array(a)))
    assert result.p_greater >= result.p_floor


def test_mann_whitney_without_ties_matches_scipy_and_reports_its_floor():
    result = stats.mann_whitney(A, B)
    ref = sps.mannwhitneyu(A, B, alternative="greater")
    assert (result.u, result.p_greater) == (ref.statistic, ref.pvalue)
    assert stats.mann_whitney([3, 4, 5], [0, 1, 2]).p_floor == pytest.approx(1 / 20)
    assert stats.mann_whitney([3, 4], [0, 1, 2]).p_floor == pytest.approx(0.1)


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


# ---------------------------------------------------------------- Q1


def test_prediction_interval_claim_distance_and_chance_to_reach():
    interval = stats.prediction_interval(A, runs=1)
    half = sps.t.ppf(0.975, A.size - 1) * A.std(ddof=1) * math.sqrt(1 + 1 / A.size)
    assert (interval.low, interval.high) == pytest.approx((A.mean() - half, A.mean() + half))
    scale = A.std(ddof=1) * math.sqrt(1 + 1 / A.size)
    assert stats.claim_distance(A, 0.815) == pytest.approx((0.815 - A.mean()) / scale)
    assert stats.chance_to_reach(A, 0.815) == pytest.approx(
        sps.t.sf((0.815 - A.mean()) / scale, A.size - 1)
    )
    assert stats.chance_to_reach([2.0, 2.0, 2.0], 1.0) == 1.0
    mean5 = stats.claim_distance(A, 0.815, runs=5)
    assert mean5 == pytest.approx((0.815 - A.mean()) / (A.std(ddof=1) * math.sqrt(1 / 5 + 1 / 7)))


def test_claim_percentile_counts_ties_half():
    assert stats.claim_percentile([1, 2, 3, 4], 3) == pytest.approx(62.5)


def test_best_of_k_comes_from_the_same_chance_per_seed():
    # An 8% chance per seed: the best of ~8.3 seeds reaches it half the time (not "~137").
    k = stats.best_of_k(0.08)
    assert 1 - (1 - 0.08) ** k == pytest.approx(0.5)
    assert k == pytest.approx(8.3, abs=0.05)
    assert stats.best_of_k(0.6) == 1.0 and stats.best_of_k(0.0) is None


def test_conformal_exceedances_known_answers():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert stats.exceedance(x, 3.5) == pytest.approx(2 / 5)  # the claim itself and 4.0
    assert stats.exceedance(x, 9.0) == pytest.approx(1 / 5)  # the floor, 1 / (n + 1)
    # (x_0, y_0) = (5, 0) among the 3 × 3 gaps of [5, 1, 2] against [0, 1, 3]: only 5 - 0 >= 5.
    pairs = stats.pair_exceedance(np.array([1.0, 2.0]), np.array([1.0, 3.0]), 5.0, 0.0)
    assert pairs == pytest.approx(1 / 9)
    # Ordered pairs of [3, 0, 1, 2] differing by >= 3: only (3, 0) of 12.
    assert stats.luck_exceedance(np.array([1.0, 2.0]), 3.0, 0.0) == pytest.approx(1 / 12)


def test_conformal_exceedance_is_a_valid_p_value_on_collapsing_scores():
    gen = rng(5)
    runs = np.where(gen.random((20000, 11)) < 0.1, -10.0, gen.standard_normal((20000, 11)))
    p = stats.exceedance(-runs[:, 1:], -runs[:, 0])  # the low side, where collapses are
    assert np.mean(p <= 1 / 12) <= 1 / 12 + 3 * math.sqrt(1 / 12 / 20000)


# ---------------------------------------------------------------- seed luck, several claims


def test_seed_luck_t_based_and_the_selection_of_positive_gaps():
    x = np.array([0.0, 1.0, 2.0, 1.5, 0.5])
    sd = x.std(ddof=1)
    assert stats.seed_luck(x, 3.0) == pytest.approx(sps.t.sf(3.0 / (sd * math.sqrt(2)), 4))
    assert stats.seed_luck(x, 3.0, runs=4) == pytest.approx(
        sps.t.sf(3.0 / (sd * math.sqrt(2 / 4)), 4)
    )
    assert stats.published_chance(0.02) == pytest.approx(0.04)
    assert stats.published_chance(0.7) == 1.0


def test_holm_known_answer_and_levels_agree_with_it():
    assert stats.holm([0.04, 0.01, 0.03]) == pytest.approx([0.06, 0.03, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm_levels([0.04, 0.01, 0.03], 0.05) == pytest.approx([0.025, 0.05 / 3, 0.025])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=6), st.sampled_from([0.05, 0.1]))
def test_holm_levels_reject_exactly_what_holm_rejects(p, alpha):
    p = np.array(p)
    assert np.array_equal(p <= stats.holm_levels(p, alpha), stats.holm(p) <= alpha)


# ---------------------------------------------------------------- diverged runs


def test_diverged_runs_are_flagged_on_the_bad_side_only_and_from_five_seeds():
    healthy = np.array([0.84, 0.842, 0.838, 0.845, 0.839, 0.841])
    assert not stats.diverged_mask(np.append(healthy, 0.90)).any()  # a lucky run is no collapse
    assert stats.diverged_mask(np.append(healthy, 0.35)).tolist() == [False] * 6 + [True]
    assert not stats.diverged_mask(np.array([0.8183, 0.8255, 0.826])).any()  # n < 5: never
    # MAD 0 (most runs tie): the mean absolute deviation stands in, which includes the collapse
    # itself, so a lone collapse is flagged only from about 11 seeds.
    tied = np.array([1.0] * 10 + [1.1, -50.0])
    assert stats.diverged_mask(tied).tolist() == [False] * 11 + [True]
    assert not stats.diverged_mask(np.full(6, 2.0)).any()


def test_the_t5_pools_collapses_are_flagged():
    t5 = np.array([0.8617, 0.8621, 0.8660, 0.8672, 0.8663, 0.8629, 0.8658, 0.8632, 0.8476, 0.7032,
                   0.8597, 0.8599, 0.8688, 0.5124, 0.8612, 0.8606, 0.8670, 0.8650, 0.8640, 0.8601])  # fmt: skip
    # 0.8476 is 1.5 points low, about 3.5 robust units: a poor run, not a collapse.
    assert sorted(t5[stats.diverged_mask(t5)].tolist()) == [0.5124, 0.7032]


def test_summarize_arm_orients_the_flags_and_has_no_nan():
    losses = [2.0, 2.01, 1.99, 2.02, 1.98, 9.0]  # a diverged loss is high
    assert stats.summarize_arm("m", losses, n_failed=0, rng=rng(), sign=-1.0).outliers == (9.0,)
    assert stats.summarize_arm("m", losses, n_failed=0, rng=rng()).outliers == ()
    summary = stats.summarize_arm("method", [0.8, 0.8, 0.8], n_failed=1, rng=rng())
    assert summary.sd == 0.0 and summary.bootstrap_interval is None
    assert summary.mean_interval.low == summary.mean_interval.high == pytest.approx(0.8)


# ---------------------------------------------------------------- ASO


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


def test_aso_separated_arms_determinism_and_huge_scores():
    better, worse = aso(np.arange(10.0) + 100, np.arange(10.0), rng(3))
    assert better == 0.0 and worse > 0.99  # deepsig leaves the first grid point out
    assert aso(A, B, rng(5)) == aso(A, B, rng(5))
    assert aso(A * 1e300, B * 1e300, rng(5)) == pytest.approx(aso(A, B, rng(5)))
    same = aso([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], rng())
    assert all(math.isfinite(e) for e in same)


# ---------------------------------------------------------------- power


def _simulated_settle(gap, claimed, sd_m, sd_b, n, m, *, runs=1, sims=200_000, seed=11):
    gen = rng(seed)
    a = gen.normal(gap, sd_m, (sims, n))
    b = gen.normal(0.0, sd_b, (sims, m)) if sd_b else np.zeros((sims, m))
    tests = stats.gap_tests(a, b, claimed, runs=runs)
    return np.mean((tests.p_gain <= 0.05) | (tests.p_size <= 0.05))


@pytest.mark.parametrize(
    ("gap", "claimed", "sd_m", "sd_b", "n", "m", "runs"),
    [(1, 1, 1, 1, 3, 3, 1), (1, 1, 1, 2, 8, 8, 1), (0, 1.5, 1, 1, 5, 5, 1),
     (0.5, 0.5, 1, 1, 20, 10, 3), (1, 1, 1, 0, 4, 4, 1)],
)  # fmt: skip
def test_settle_power_is_exact_against_simulation(gap, claimed, sd_m, sd_b, n, m, runs):
    exact = power.settle_power(gap, claimed, sd_m, sd_b, n, m, level_gain=0.05, level_size=0.05,
                               runs=runs)  # fmt: skip
    simulated = _simulated_settle(gap, claimed, sd_m, sd_b, n, m, runs=runs)
    assert exact == pytest.approx(simulated, abs=4 * math.sqrt(0.25 / 200_000))


def test_welch_power_at_three_seeds_is_below_the_noncentral_t_shortcut():
    # A 2.48-sd gap at 3 seeds per arm: the noncentral-t shortcut (Welch df 4) says 0.80; the
    # gain test alone (the size test switched off) rejects 0.74 of the time.
    gap, df = 2.481946, 4
    shortcut = sps.nct.sf(sps.t.ppf(0.95, df), df, gap / math.sqrt(2 / 3))
    exact = power.settle_power(gap, gap, 1, 1, 3, 3, level_gain=0.05, level_size=1e-300)
    gen = rng(2)
    a, b = gen.normal(gap, 1, (200_000, 3)), gen.normal(0, 1, (200_000, 3))
    simulated = np.mean(stats.gap_tests(a, b, gap).p_gain <= 0.05)
    assert shortcut == pytest.approx(0.80, abs=1e-4)
    assert exact == pytest.approx(0.738, abs=0.001)
    assert exact == pytest.approx(simulated, abs=0.005)


def test_seeds_needed_and_its_range():
    # seed sd 0.5 points and a 0.5-point claim: 14 per arm (one-sided tests at 0.05, 80%)
    options = {"level_gain": 0.05, "level_size": 0.05}
    assert power.seeds_needed(0.5, 0.5, 0.5, **options) == 14
    assert power.settle_power(0.5, 0.5, 0.5, 0.5, 14, 14, **options) >= 0.8
    assert power.settle_power(0.5, 0.5, 0.5, 0.5, 13, 13, **options) < 0.8
    assert power.seeds_needed(1e-6, 1.0, 1.0, **options) is None
    # A gap of 10 sds settles at 2 seeds per arm; the audit decides nothing below 3.
    assert power.seeds_needed(5.0, 0.5, 0.5, **options) == 2
    assert power.seeds_needed(5.0, 0.5, 0.5, **options, fewest=3) == 3
    low, high = power.sd_range(0.5, 3)
    assert low < 0.5 < high
    assert (
        power.seeds_needed(0.5, low, low, **options)
        < 14
        < power.seeds_needed(0.5, high, high, **options)
    )


def test_welch_type_one_error_at_n5_stays_within_alpha():
    sims, gen = 4000, rng(20261125)
    tests = stats.gap_tests(gen.normal(size=(sims, 5)), gen.normal(size=(sims, 5)), 0.0)
    se = math.sqrt(0.05 * 0.95 / sims)
    assert np.mean(tests.p_gain <= 0.05) <= 0.05 + 2 * se
