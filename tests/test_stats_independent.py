"""Every deciding statistic recomputed by an implementation that shares no code with stats.py.

The references: statsmodels (Welch's test and interval, the OLS prediction interval, Holm),
scipy's own t-test, textbook formulas written out with Python's ``statistics`` module, brute-force
enumeration (Mann-Whitney with ties, the conformal shares), numerical integration (the settle
power) and simulation (the size test's and the seed-luck rule's error rates). They run on the real
seed pools of ``../shared/data/seed-scores`` (skipped where that folder is absent), on the
examples shipped in the repository and on simulated scores. Tolerances are tight: what differs
is a bug, not rounding.
"""

from __future__ import annotations

import csv
import itertools
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, special
from scipy import stats as sps
from statsmodels.api import OLS
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttest_ind

from repaudit import power, stats

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "seed-scores"
POOLS = next(
    (p / "shared" / "data" / "seed-scores" for p in Path(__file__).resolve().parents
     if (p / "shared" / "data" / "seed-scores").is_dir()),
    None,
)  # fmt: skip
REL = 1e-9


def _pools() -> dict[str, np.ndarray]:
    """Every configuration of the real pools, plus the shipped examples (always present)."""
    pools = {f"examples:{path.stem}": np.loadtxt(path) for path in sorted(EXAMPLES.glob("*.txt"))}
    for path in sorted(POOLS.glob("*.csv")) if POOLS else ():
        with path.open() as handle:
            for row in csv.DictReader(handle):
                pools.setdefault(f"{path.stem}:{row['config']}", []).append(float(row["score"]))
    return {key: np.asarray(values, dtype=float) for key, values in pools.items()}


POOL = _pools()
#: Arm pairs from the same source (one metric), each arm with some spread.
PAIRS = [
    (a, b)
    for a, b in itertools.permutations(POOL, 2)
    if a.split(":")[0] == b.split(":")[0] and np.ptp(POOL[a]) > 0 and np.ptp(POOL[b]) > 0
]


def _welch_by_hand(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Welch's t, its Welch-Satterthwaite df and its standard error, from the textbook formulas."""
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return (statistics.fmean(a) - statistics.fmean(b)) / se, df, se


def test_the_pools_are_there():
    assert len(PAIRS) >= 8  # the shipped examples alone give 20 ordered pairs
    if POOLS is None:
        pytest.skip("../shared/data/seed-scores is absent: only the shipped examples were checked")
    assert len(POOL) >= 30


# ---------------------------------------------------------------- the gain and reverse tests


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_gain_and_reverse_tests_match_statsmodels_welch(a, b):
    x, y = POOL[a], POOL[b]
    tests = stats.gap_tests(x, y, 0.0)
    t, p_larger, df = ttest_ind(x, y, alternative="larger", usevar="unequal")
    _, p_smaller, _ = ttest_ind(x, y, alternative="smaller", usevar="unequal")
    assert float(tests.gain_statistic) == pytest.approx(t, rel=REL)
    assert float(tests.df) == pytest.approx(df, rel=REL)
    assert float(tests.p_gain) == pytest.approx(p_larger, rel=REL, abs=1e-300)
    assert float(tests.p_reverse) == pytest.approx(p_smaller, rel=REL, abs=1e-300)
    # The shown 1 - 2·alpha interval is statsmodels' two-sided 90% Welch interval.
    low, high = CompareMeans(DescrStatsW(x), DescrStatsW(y)).tconfint_diff(0.10, usevar="unequal")
    assert tuple(map(float, tests.interval(0.05))) == pytest.approx((low, high), rel=REL)


# ---------------------------------------------------------------- the size test


@pytest.mark.parametrize(("a", "b"), PAIRS)
@pytest.mark.parametrize("runs", [1, 5])
def test_size_test_matches_the_textbook_formula(a, b, runs):
    x, y = POOL[a].tolist(), POOL[b].tolist()
    n, m = len(x), len(y)
    v_m = statistics.variance(x) * (1 / runs + 1 / n)
    v_b = statistics.variance(y) * (1 / runs + 1 / m)
    observed = statistics.fmean(x) - statistics.fmean(y)
    claimed = observed + 2 * math.sqrt(v_m + v_b)  # a claim near the rejection boundary
    t = (claimed - observed) / math.sqrt(v_m + v_b)
    df = (v_m + v_b) ** 2 / (v_m**2 / (n - 1) + v_b**2 / (m - 1))
    tests = stats.gap_tests(POOL[a], POOL[b], claimed, runs=runs)
    assert float(tests.size_statistic) == pytest.approx(t, rel=REL)
    assert float(tests.size_df) == pytest.approx(df, rel=REL)
    assert float(tests.p_size) == pytest.approx(sps.t(df).sf(t), rel=REL)
    bound = observed + sps.t(df).ppf(0.95) * math.sqrt(v_m + v_b)
    assert float(tests.paper_bound(0.05)) == pytest.approx(bound, rel=REL)
    # Without a paper baseline number: claim - method mean over sd·sqrt(1/k + 1/n), n - 1 df.
    alone = stats.gap_tests(POOL[a], POOL[b], claimed, runs=runs, paper_baseline=False)
    assert float(alone.size_statistic) == pytest.approx((claimed - observed) / math.sqrt(v_m),
                                                        rel=REL)  # fmt: skip
    assert float(alone.size_df) == pytest.approx(n - 1, rel=REL)


@pytest.mark.parametrize(("n", "m", "runs", "sd_b"), [(3, 3, 1, 1.0), (5, 8, 1, 2.0),
                                                      (4, 4, 5, 1.0), (10, 6, 3, 0.5)])  # fmt: skip
def test_size_test_rejects_an_honest_normal_paper_at_most_alpha(n, m, runs, sd_b):
    # The Welch-Satterthwaite approximation, checked where it is least accurate (few seeds,
    # unequal spreads): the paper's gap is one draw of a gap measured the paper's way. At 3 vs 3
    # seeds it is conservative (0.040), as Welch's own test is.
    gen, sims = np.random.default_rng(9), 40_000
    x, y = gen.normal(0, 1, (sims, n)), gen.normal(0, sd_b, (sims, m))
    paper = gen.normal(0, 1, (sims, runs)).mean(-1) - gen.normal(0, sd_b, (sims, runs)).mean(-1)
    rate = np.mean(stats.gap_tests(x, y, paper, runs=runs).p_size <= 0.05)
    assert 0.035 < rate < 0.05 + 3 * math.sqrt(0.05 * 0.95 / sims)


# ---------------------------------------------------------------- Q1


@pytest.mark.parametrize("key", sorted(k for k in POOL if np.ptp(POOL[k]) > 0))
def test_claim_distance_and_prediction_interval_match_statsmodels_ols(key):
    x = POOL[key]
    fit = OLS(x, np.ones_like(x)).fit()  # the intercept-only model: mean and sd of the seeds
    frame = fit.get_prediction(np.ones((1, 1))).summary_frame(alpha=0.05)
    interval = stats.prediction_interval(x, level=0.95)
    assert (interval.low, interval.high) == pytest.approx(
        (frame["obs_ci_lower"][0], frame["obs_ci_upper"][0]), rel=REL
    )
    critical = sps.t(fit.df_resid).ppf(0.975)
    claim = float(frame["obs_ci_upper"][0])
    for runs in (1, 5):
        # A mean of k new runs: variance s²/k of the runs plus the variance of the fitted mean.
        se = math.sqrt(fit.scale / runs + fit.bse[0] ** 2)
        distance = float(stats.claim_distance(x, claim, runs=runs))
        assert distance == pytest.approx((claim - fit.params[0]) / se, rel=REL)
    # The decision boundary: the claim at the interval's edge sits at the t critical value.
    assert float(stats.claim_distance(x, claim)) == pytest.approx(critical, rel=REL)
    chance = stats.chance_to_reach(x, claim)
    assert chance == pytest.approx(0.025, rel=REL)


# ---------------------------------------------------------------- seed luck


@pytest.mark.parametrize("key", sorted(k for k in POOL if np.ptp(POOL[k]) > 0))
def test_seed_luck_is_the_predictive_tail_of_a_difference_of_two_runs(key):
    x = POOL[key]
    s = statistics.stdev(x.tolist())
    for runs in (1, 4):
        gap = 1.7 * s
        # Two new runs (or means of k) of the same code differ by sd·sqrt(2/k), t with n - 1 df.
        expected = sps.t(x.size - 1, scale=s * math.sqrt(2 / runs)).sf(gap)
        assert float(stats.seed_luck(x, gap, runs=runs)) == pytest.approx(expected, rel=REL)


def test_conformal_shares_by_brute_force_on_the_pools():
    gen = np.random.default_rng(4)
    for key in sorted(POOL):
        x = gen.permutation(POOL[key])[:7]
        paper_m, paper_b = float(x.max() + 0.1 * np.ptp(x)), float(np.median(x))
        values = [paper_m, paper_b, *x.tolist()]
        ordered = [(i, j) for i in range(9) for j in range(9) if i != j]
        hits = sum(values[i] - values[j] >= paper_m - paper_b for i, j in ordered)
        assert float(stats.luck_exceedance(x, paper_m, paper_b)) == hits / len(ordered)
        y = gen.permutation(POOL[key])[:5]
        xs, ys = [paper_m, *x.tolist()], [paper_b, *y.tolist()]
        pairs = sum(xi - yj >= paper_m - paper_b for xi in xs for yj in ys)
        assert float(stats.pair_exceedance(x, y, paper_m, paper_b)) == pairs / (8 * 6)
        above = sum(v >= paper_m for v in x.tolist())
        assert float(stats.exceedance(x, paper_m)) == (1 + above) / 8


def test_the_selection_adjustment_keeps_published_gaps_at_alpha():
    # Under no gain, among the positive gaps a paper publishes, 2 · luck <= alpha at most alpha
    # of the time: here with the t-tail alone (means of 4, normal scores, 3 and 10 seeds).
    gen, sims = np.random.default_rng(12), 60_000
    for n in (3, 10):
        x = gen.normal(size=(sims, n))
        gap = gen.normal(size=(sims, 4)).mean(-1) - gen.normal(size=(sims, 4)).mean(-1)
        published = gap > 0
        luck = stats.seed_luck(x[published], gap[published], runs=4)
        rate = np.mean(stats.published_chance(luck) <= 0.05)
        assert abs(rate - 0.05) < 3 * math.sqrt(0.05 * 0.95 / published.sum())


# ---------------------------------------------------------------- Holm


def test_holm_matches_statsmodels_multipletests():
    gen = np.random.default_rng(2)
    for _ in range(30):  # multipletests takes ~0.1 s a call here
        p = gen.uniform(0, 0.12, gen.integers(1, 7))
        if p.size > 2:
            p[1] = p[2]  # ties
        rejected, adjusted, _, _ = multipletests(p, alpha=0.05, method="holm")
        assert stats.holm(p) == pytest.approx(adjusted, rel=1e-12)
        assert np.array_equal(p <= stats.holm_levels(p, 0.05), rejected)


# ---------------------------------------------------------------- Mann-Whitney


def _exact_u_tail(a: np.ndarray, b: np.ndarray) -> float:
    """P(U >= observed) over every split of the pooled scores (midranks for ties)."""
    ranks = sps.rankdata(np.concatenate([a, b]))
    observed = ranks[: a.size].sum()
    sums = [ranks[list(chosen)].sum() for chosen in itertools.combinations(range(ranks.size),
                                                                           a.size)]  # fmt: skip
    return float(np.mean(np.asarray(sums) >= observed - 1e-9))


def test_mann_whitney_is_exact_with_ties_on_the_real_pools():
    # The nanoGPT losses are printed to 4 decimals: real ties, where scipy's default would use
    # the normal approximation.
    gen, tied = np.random.default_rng(6), 0
    keys = sorted(POOL)
    for _ in range(60):
        key = keys[gen.integers(len(keys))]
        other = key if gen.random() < 0.5 else keys[gen.integers(len(keys))]
        if key.split(":")[0] != other.split(":")[0]:
            other = key
        n, m = gen.integers(3, 8), gen.integers(3, 8)
        a = gen.choice(POOL[key], n, replace=False)
        b = gen.choice(POOL[other], m, replace=False)
        tied += np.unique(np.concatenate([a, b])).size < n + m
        result = stats.mann_whitney(a, b)
        assert result.p_greater == pytest.approx(_exact_u_tail(a, b), rel=1e-12)
        assert result.p_less == pytest.approx(_exact_u_tail(b, a), rel=1e-12)
    if POOLS is not None:
        assert tied >= 5


# ---------------------------------------------------------------- power


@pytest.mark.parametrize(("n", "m", "sd_b", "runs", "claimed"), [(4, 6, 1.5, 1, 1.2),
                                                                 (3, 3, 1.0, 2, 2.0)])  # fmt: skip
def test_settle_power_matches_a_numerical_integral(n, m, sd_b, runs, claimed):
    # Given the two sample sds the audit is silent while claimed - c_s·se_s <= d̂ <= c_g·se_g;
    # integrate that normal probability over the two scaled chi-squared densities with quad.
    def silent(s_m: float, s_b: float) -> float:
        # scipy.special's t quantile and normal cdf: scipy.stats objects are too slow per point.
        v_m, v_b = s_m**2 / n, s_b**2 / m
        gain_df = (v_m + v_b) ** 2 / (v_m**2 / (n - 1) + v_b**2 / (m - 1))
        w_m, w_b = s_m**2 * (1 / runs + 1 / n), s_b**2 * (1 / runs + 1 / m)
        size_df = (w_m + w_b) ** 2 / (w_m**2 / (n - 1) + w_b**2 / (m - 1))
        top = special.stdtrit(gain_df, 0.95) * math.sqrt(v_m + v_b)
        bottom = claimed - special.stdtrit(size_df, 0.95) * math.sqrt(w_m + w_b)
        spread = math.hypot(1 / math.sqrt(n), sd_b / math.sqrt(m))
        return max(0.0, special.ndtr((top - claimed) / spread)
                   - special.ndtr((bottom - claimed) / spread))  # fmt: skip

    def density(s: float, sd: float, dof: int) -> float:
        # s = sd·sqrt(chi2/dof): the chi-squared density, written out, times ds -> d(chi2)
        x = dof * s**2 / sd**2
        log_pdf = (dof / 2 - 1) * math.log(x) - x / 2 - dof / 2 * math.log(2) - math.lgamma(dof / 2)
        return math.exp(log_pdf) * 2 * dof * s / sd**2

    quiet, _ = integrate.dblquad(
        lambda s_b, s_m: silent(s_m, s_b) * density(s_m, 1.0, n - 1) * density(s_b, sd_b, m - 1),
        1e-6, 6.0, 1e-6, 6.0 * sd_b, epsabs=1e-6,
    )  # fmt: skip
    exact = power.settle_power(claimed, claimed, 1.0, sd_b, n, m, level_gain=0.05,
                               level_size=0.05, runs=runs)  # fmt: skip
    assert exact == pytest.approx(1 - quiet, abs=2e-4)


def test_seeds_needed_is_where_simulated_power_crosses_eighty_percent():
    needed = power.seeds_needed(0.8, 1.0, 1.0, level_gain=0.05, level_size=0.05)
    gen, sims = np.random.default_rng(1), 100_000
    rates = []
    for k in (needed - 1, needed):
        tests = stats.gap_tests(gen.normal(0.8, 1, (sims, k)), gen.normal(0, 1, (sims, k)), 0.8)
        rates.append(np.mean((tests.p_gain <= 0.05) | (tests.p_size <= 0.05)))
    se = math.sqrt(0.8 * 0.2 / sims)
    assert rates[0] < 0.8 + 3 * se and rates[1] > 0.8 - 3 * se
