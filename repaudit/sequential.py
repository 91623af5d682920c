"""The sequential design of ``--seeds auto``: looks, calibrated boundaries, and when to stop.

Seeds run in looks (3, 5, 8, 12, 20 per arm by default). After each look every deciding test of
docs/statistics.md is compared with its *boundary*, a nominal level calibrated so that, under
the test's null, the chance it crosses at ANY look stays at or below its level (α, α/2 for Q1's
sides, Holm's level across claims). The boundaries spend the level over the looks by the share
of seeds run (:func:`spent`), and are solved look by look on simulated null paths of the very
statistics an audit computes (stats.gap_tests, stats.claim_distance, stats.seed_luck): classic
z boundaries applied to Welch's t from 3-5 seeds give 9.4% (Pocock) and 6.5% (O'Brien-Fleming)
false gains at a nominal 5% over the default looks, and Welch's p itself is anti-conservative far in its tail when
the arms' sds differ, so each two-arm family takes, look by look, the smallest boundary over
several sd ratios. A test's wrong call at the stop needs it to have crossed at some look, so
stopping for any other reason (another question settled, futility) never raises its error rate.

The audit stops when a failing test crosses (the claim does not hold), or when no test is open:
each passing test (gain, seed luck) crossed or futile, each failing test futile. A test is
futile when its predictive chance to cross by the last look, under the estimate so far with its
uncertainty (a flat prior), is below FUTILITY_CHANCE (non-binding: it only stops). The functions
here work on numbers or numpy arrays alike, so ``benchmarks/adaptive.py`` runs thousands of
simulated audits through the same code; ``stopping.py`` applies them to one audit's results.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy import stats as sps

from repaudit import stats
from repaudit.model import (
    Claim,
    SequentialTest,
    StopReason,
)
from repaudit.rules import paper_runs

#: The share of a test's level spent by the time a share t of the seeds ran: t ** SPENDING_POWER
#: (Kim and DeMets' power family; 1 spends in proportion to the seeds run). Chosen with
#: benchmarks/adaptive.py against 1.25-3: the largest saving in seeds for a given loss of power
#: against fixed-N (docs/statistics.md, "Adaptive seeds").
SPENDING_POWER = 1.0
#: A test whose predictive chance to cross by the last look is below this is futile.
FUTILITY_CHANCE = 0.10
#: Simulated null paths per family and sd ratio: the Monte Carlo se of a boundary's total error
#: is sqrt(α(1-α)/PATHS), 0.0007 at α = 0.05.
PATHS = 100_000
#: The simulation's seed: the boundaries are a fixed function of the schedule and the level.
CALIBRATION_SEED = 20261201
#: Ratios of the arms' sds the two-arm families are calibrated under (Welch's p at 3 seeds per
#: arm is conservative at equal sds, anti-conservative in its far tail at ratios 4-10).
SD_RATIOS = (1.0, 2.0, 4.0, 10.0)
#: Bumped whenever the simulation or the spending changes, so cached boundaries are not reused.
CALIBRATION_VERSION = 1

#: A test's state at a look: it crossed; it may still cross; it is determined without crossing.
CROSSED, OPEN, DETERMINED = 2, 1, 0

#: The level a test of a claim rejects at in one look, from its fixed-N level (verdict.evaluate).
Nominal = Callable[[SequentialTest, Claim, float], float]


# ---------------------------------------------------------------- calibrated boundaries


def spent(fraction: np.ndarray | float) -> np.ndarray:
    """The share of a level spent when a share ``fraction`` of the seeds has run."""
    return np.asarray(fraction, dtype=np.float64) ** SPENDING_POWER


def _null_p_values(
    test: SequentialTest, looks: tuple[int, ...], runs: int, paper_baseline: bool, ratio: float
) -> np.ndarray:
    """One-sided p-values of ``test`` at each look, (PATHS, looks), on normal scores under its null.

    The method's scores have sd ``ratio``, the baseline's 1; the paper's numbers are means of
    ``runs`` runs of the same code. Seeded per family, so every family's paths are fixed.
    """
    key = [
        CALIBRATION_SEED,
        list(SequentialTest).index(test),
        runs,
        int(paper_baseline),
        round(ratio * 1000),
    ]
    rng = np.random.default_rng(key)
    shape = (PATHS, looks[-1])
    method, baseline = ratio * rng.standard_normal(shape), rng.standard_normal(shape)
    paper_method = ratio * rng.standard_normal(PATHS) / math.sqrt(runs)
    paper_base = rng.standard_normal(PATHS) / math.sqrt(runs)
    columns = []
    for n in looks:
        x, y = method[:, :n], baseline[:, :n]
        if test is SequentialTest.CLAIM:
            columns.append(sps.t.sf(stats.claim_distance(x, paper_method, runs=runs), n - 1))
        elif test is SequentialTest.SEED_LUCK:
            # Papers publish positive gaps: two runs' gap, given that it is positive, is its size.
            gap = np.abs(paper_method - paper_base)
            columns.append(stats.published_chance(stats.seed_luck(x, gap, runs=runs)))
        elif test is SequentialTest.SIZE:
            # Without a paper baseline number the claimed gap is taken against the re-runs' mean.
            reference = paper_base if paper_baseline else stats.moments(y)[0]
            tests = stats.gap_tests(
                x, y, paper_method - reference, runs=runs, paper_baseline=paper_baseline
            )
            columns.append(tests.p_size)
        else:  # the gain test; the reverse test is its mirror image
            columns.append(stats.gap_tests(x, y, 0.0).p_gain)
    return np.stack(columns, axis=-1)


def _solve(p_values: np.ndarray, level: float, looks: tuple[int, ...]) -> np.ndarray:
    """Nominal levels per look: among the paths not yet crossed, the quantile that spends
    level · (spent(t_k) - spent(t_k-1)) more of them at look k."""
    paths = p_values.shape[0]
    targets = np.round(paths * level * spent(np.asarray(looks) / looks[-1])).astype(int)
    crossed = np.zeros(paths, dtype=bool)
    nominal = np.zeros(len(looks))
    for k in range(len(looks)):
        more = targets[k] - int(crossed.sum())
        live = np.sort(p_values[~crossed, k])
        if more > 0:
            # midway between the last path that crosses and the first that does not
            after = live[more] if more < live.size else 1.0
            nominal[k] = (live[more - 1] + after) / 2
        crossed |= p_values[:, k] <= nominal[k]
    return nominal


@functools.lru_cache(maxsize=16)
def _family_paths(
    test: SequentialTest, looks: tuple[int, ...], runs: int, paper_baseline: bool
) -> tuple[np.ndarray, ...]:
    """The null p-value paths of a boundary family, one array per sd ratio it is calibrated under."""
    two_arm = test in (SequentialTest.GAIN, SequentialTest.SIZE) and paper_baseline
    ratios = SD_RATIOS if two_arm else (1.0,)
    return tuple(_null_p_values(test, looks, runs, paper_baseline, r) for r in ratios)


def _family(
    test: SequentialTest, runs: int, paper_baseline: bool
) -> tuple[SequentialTest, int, bool]:
    """The simulated family a test's boundaries come from: mirror images share one."""
    if test is SequentialTest.REVERSE:
        return SequentialTest.GAIN, 1, True
    if test is SequentialTest.BASELINE_CLAIM:
        return SequentialTest.CLAIM, runs, True
    if test is SequentialTest.GAIN:
        return test, 1, True
    return test, runs, paper_baseline if test is SequentialTest.SIZE else True


def boundaries(
    test: SequentialTest,
    looks: Sequence[int],
    level: float,
    *,
    runs: int = 1,
    paper_baseline: bool = True,
    cache_dir: Path | None = None,
) -> tuple[float, ...]:
    """The nominal one-sided level ``test`` rejects at in each look, spending ``level`` in all.

    Deterministic for a schedule, a level and a family (``runs`` behind the paper's numbers;
    ``paper_baseline`` False when the paper gave no baseline number). Computed in a few seconds
    and kept in memory and, with ``cache_dir``, on disk.
    """
    family = _family(test, runs, paper_baseline)
    return _boundaries(*family, tuple(looks), float(level), cache_dir)


@functools.lru_cache(maxsize=256)
def _boundaries(
    test: SequentialTest,
    runs: int,
    paper_baseline: bool,
    looks: tuple[int, ...],
    level: float,
    cache_dir: Path | None,
) -> tuple[float, ...]:
    name = (
        f"v{CALIBRATION_VERSION}-{test}-runs{runs}-{'paper' if paper_baseline else 'reruns'}-"
        f"{'-'.join(map(str, looks))}-level{level!r}.json"
    )
    path = cache_dir / "boundaries" / name if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(cached, list) and len(cached) == len(looks):
                return tuple(float(v) for v in cached)
        except (OSError, ValueError):
            pass  # unreadable: computed again below
    solved = np.min(
        [_solve(p, level, looks) for p in _family_paths(test, looks, runs, paper_baseline)], axis=0
    )
    result = tuple(float(v) for v in solved)
    if path is not None:
        # repaudit.store's atomic writer sits above this module; a torn cache file is re-solved.
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(list(result)), encoding="utf-8")
    return result


# ---------------------------------------------------------------- futility


def chance_to_cross(
    margin: np.ndarray | float,
    final_se: np.ndarray | float,
    final_df: np.ndarray | float,
    final_level: float,
    spread: np.ndarray | float,
) -> np.ndarray:
    """Predictive chance that a t-type test crosses its last boundary (vectorised).

    The test rejects at the last look when its numerator U_K reaches t(1 - final_level, final_df)
    · final_se (the se and df at the last look's seeds, the sds as estimated now); U_K is normal
    around the current numerator ``margin`` with sd ``spread``. With nothing left to run
    (``spread`` 0) the chance is 0 or 1.
    """
    needed = sps.t.ppf(1 - final_level, final_df) * np.asarray(final_se)
    short = np.asarray(margin) - needed
    spread = np.asarray(spread, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        chance = sps.norm.cdf(short / np.where(spread > 0, spread, 1.0))
    return np.where(spread > 0, chance, (short >= 0).astype(np.float64))


def remaining_spread(sd: np.ndarray | float, n: np.ndarray | float, last: int) -> np.ndarray:
    """The predictive sd of an arm's mean at ``last`` seeds around its mean at ``n`` seeds:
    sd · sqrt((last - n) / (last · n)) (the mean's uncertainty and the seeds still to run)."""
    n = np.asarray(n, dtype=np.float64)
    return np.asarray(sd) * np.sqrt(np.clip(last - n, 0, None) / (last * n))


def gap_chances(
    gap: np.ndarray | float,
    claimed_gap: np.ndarray | float,
    sd_m: np.ndarray | float,
    sd_b: np.ndarray | float,
    n: np.ndarray | float,
    m: np.ndarray | float,
    last: int,
    finals: Mapping[SequentialTest, float],
    *,
    runs: int = 1,
    paper_baseline: bool = True,
) -> dict[SequentialTest, np.ndarray]:
    """Predictive chances of Q2's gain, reverse and size tests to cross by the last look.

    ``gap`` is d̂, ``claimed_gap`` Δ (oriented), ``finals`` each test's last nominal level. Without
    a paper baseline number the size test's numerator Δ - d̂ is the claim minus the method's mean,
    so only the method's seeds still move it.
    """
    part_m, part_b = np.asarray(sd_m) / math.sqrt(last), np.asarray(sd_b) / math.sqrt(last)
    se = np.hypot(part_m, part_b)
    df = stats.satterthwaite((part_m, part_b), (last - 1, last - 1))
    move_m, move_b = remaining_spread(sd_m, n, last), remaining_spread(sd_b, m, last)
    spread = np.hypot(move_m, move_b)
    size_m = np.asarray(sd_m) * math.sqrt(1 / runs + 1 / last)
    size_b = np.asarray(sd_b) * math.sqrt(1 / runs + 1 / last) * paper_baseline
    size_spread = np.hypot(move_m, move_b * paper_baseline)
    size_df = stats.satterthwaite((size_m, size_b), (last - 1, last - 1))
    gap, claimed_gap = np.asarray(gap), np.asarray(claimed_gap)
    return {
        SequentialTest.GAIN: chance_to_cross(gap, se, df, finals[SequentialTest.GAIN], spread),
        SequentialTest.REVERSE: chance_to_cross(
            -gap, se, df, finals[SequentialTest.REVERSE], spread
        ),
        SequentialTest.SIZE: chance_to_cross(
            claimed_gap - gap,
            np.hypot(size_m, size_b),
            size_df,
            finals[SequentialTest.SIZE],
            size_spread,
        ),
    }


def claim_chance(
    distance_numerator: np.ndarray | float,
    sd: np.ndarray | float,
    n: np.ndarray | float,
    last: int,
    final_level: float,
    *,
    runs: int = 1,
) -> np.ndarray:
    """Predictive chance of Q1's one-sided test (the claim too good for its own arm's re-runs)
    to cross by the last look; ``distance_numerator`` is the oriented claim minus the mean."""
    se = np.asarray(sd) * math.sqrt(1 / runs + 1 / last)
    return chance_to_cross(
        distance_numerator, se, last - 1, final_level, remaining_spread(sd, n, last)
    )


def luck_chance(
    claimed_gap: np.ndarray | float,
    sd: np.ndarray | float,
    n: np.ndarray | float,
    last: int,
    final_level: float,
    *,
    runs: int = 1,
) -> np.ndarray:
    """Predictive chance that the seed-luck test (no baseline runs) crosses by the last look.

    Δ is fixed; the test crosses when the method's sd at ``last`` seeds falls to the sd at which
    2 · T_{last-1}(-Δ / (sd · sqrt(2 / runs))) equals the last level. Given the current sd (and a
    flat prior on the true one), (last - 1) s_last² / ((n - 1) s²) = 1 + (last - n) / (n - 1) · F,
    F ~ F(last - n, n - 1): the chance is exact for normal scores.
    """
    n = np.asarray(n, dtype=np.float64)
    critical = sps.t.ppf(1 - final_level / 2, last - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        target = (np.asarray(claimed_gap) / (math.sqrt(2 / runs) * critical) / np.asarray(sd)) ** 2
        bound = ((last - 1) * target / (n - 1) - 1) * (n - 1) / (last - n)
        chance = sps.f.cdf(bound, last - n, n - 1)
    return np.where(n >= last, (target >= 1).astype(np.float64), chance)


def luck_floor(
    x: np.ndarray, paper_method: np.ndarray | float, paper_baseline: np.ndarray | float, last: int
) -> np.ndarray:
    """The conformal share stats.luck_exceedance is expected to reach at ``last`` seeds (oriented
    scores along the last axis; single-run papers): the seed-luck test can never cross below it.

    The share counts ordered pairs of the re-runs and the paper's two numbers that differ by the
    paper's gap: the paper's own pair, pairs of a re-run with a paper number (n of each kind) and
    pairs of re-runs (n(n-1)); each kind is expected to keep the share it has now.
    """
    paper_method, paper_baseline = np.asarray(paper_method), np.asarray(paper_baseline)
    gap = (paper_method - paper_baseline)[..., None]
    n = x.shape[-1]
    with_paper = (
        (x - paper_baseline[..., None] >= gap).astype(float)
        + (paper_method[..., None] - x >= gap)
        + (x - paper_method[..., None] >= gap)
        + (paper_baseline[..., None] - x >= gap)
    ).mean(axis=-1)
    pairs = x[..., :, None] - x[..., None, :]
    among = np.sum(pairs >= gap[..., None], axis=(-2, -1)) / (n * (n - 1))
    return (1 + last * with_paper + last * (last - 1) * among) / ((last + 2) * (last + 1))


# ---------------------------------------------------------------- when to stop


def state(crossed: np.ndarray | bool, chance: np.ndarray | float | None) -> np.ndarray:
    """CROSSED, OPEN (it may still cross) or DETERMINED (futile) from a test's outcome."""
    crossed = np.asarray(crossed, dtype=bool)
    if chance is None:
        return np.where(crossed, CROSSED, DETERMINED)
    return np.where(
        crossed, CROSSED, np.where(np.asarray(chance) >= FUTILITY_CHANCE, OPEN, DETERMINED)
    )


def stop_reason(
    failing: Sequence[np.ndarray], passing: Sequence[np.ndarray], *, last: bool
) -> np.ndarray:
    """The stop (StopReason values) from the states of every claim's failing and passing tests.

    A failing test that crossed stops the audit: the claim does not hold. Otherwise it stops when
    no test is open: settled when every passing test crossed, futile when one cannot. The last
    look always stops.
    """
    shape = np.broadcast_shapes(*(np.shape(s) for s in (*failing, *passing)), ())
    failed = np.zeros(shape, dtype=bool)
    for s in failing:
        failed |= np.asarray(s) == CROSSED
    open_ = np.zeros(shape, dtype=bool)
    for s in (*failing, *passing):
        open_ |= np.asarray(s) == OPEN
    passed = np.ones(shape, dtype=bool)
    for s in passing:
        passed &= np.asarray(s) == CROSSED
    if last:
        return np.where(failed, StopReason.FAILED.value, StopReason.LAST_LOOK.value)
    decided = np.where(passed, StopReason.SETTLED.value, StopReason.FUTILE.value)
    return np.where(
        failed, StopReason.FAILED.value, np.where(open_, StopReason.CONTINUE.value, decided)
    )


# ---------------------------------------------------------------- one audit's looks


@dataclasses.dataclass(frozen=True)
class Design:
    """The looks of one adaptive audit and the level its tests spend over them."""

    looks: tuple[int, ...]
    """Seeds per arm after each look, increasing; the last is the maximum."""
    alpha: float
    """The audit's level (spec.alpha)."""
    cache_dir: Path | None = None
    """Where solved boundaries are kept between audits (None: in memory only)."""

    @property
    def last(self) -> int:
        """The maximum seeds per arm."""
        return self.looks[-1]

    def boundary(self, test: SequentialTest, claim: Claim, level: float) -> tuple[float, ...]:
        """``test``'s nominal levels per look for ``claim`` at the fixed-N ``level``."""
        return boundaries(
            test,
            self.looks,
            level,
            runs=paper_runs(claim),
            paper_baseline=claim.baseline is not None,
            cache_dir=self.cache_dir,
        )

    def nominal(self, look: int) -> Nominal:
        """The level each test rejects at in look ``look`` (0-based), for verdict.evaluate."""
        return lambda test, claim, level: self.boundary(test, claim, level)[look]


def holm_nominal(
    p_values: Sequence[float], alpha: float, nominal: Callable[[int, float], float]
) -> list[float]:
    """Holm's step-down across claims, each claim's test against its own boundary at the step's
    level: ``nominal(i, level)`` is claim i's nominal level in this look at the fixed level.

    The closed-testing shortcut with Bonferroni intersections: with r claims not yet rejected,
    claim i is rejected when p_i <= nominal(i, α / r); every intersection then keeps its error
    at or below α over all looks, so Holm's guarantee holds for the whole sequence. With the
    identity for ``nominal`` the levels are stats.holm_levels'.
    """
    active = sorted(range(len(p_values)), key=lambda i: p_values[i])
    levels = [0.0] * len(p_values)
    while active:
        step = alpha / len(active)
        hit = next((i for i in active if p_values[i] <= nominal(i, step)), None)
        if hit is None:
            break
        levels[hit] = nominal(hit, step)
        active.remove(hit)
    for i in active:
        levels[i] = nominal(i, alpha / len(active))
    return levels
