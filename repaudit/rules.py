"""The decision rules of docs/statistics.md, as functions of test outcomes, not of data.

A rule here takes what the tests found (a t statistic and its critical value, which one-sided
tests rejected, a distribution-free p-value beside a t-based rejection), so that one audit
(``verdict.py``, ``improvement.py``), thousands of calibration replicates
(``benchmarks/calibration.py``, where the outcomes are arrays) and a sequential design looking at
the data several times share the very same rules instead of copies of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from repaudit import wording
from repaudit.model import (
    Claim,
    ClaimKind,
    Direction,
    ImprovementDecision,
    ReproductionDecision,
    RunResult,
    SeedReach,
)
from repaudit.stats import Numbers

#: A decision input that is a bool for one audit, a boolean array for calibration replicates.
Flags = bool | np.ndarray

#: Fewer successful seeds than this in an arm leave its questions inconclusive.
MIN_SEEDS = 3
#: Claims a new seed reaches with a predictive chance under this are "optimistic" (lucky).
LUCKY_SHARE = 0.10


@dataclasses.dataclass(frozen=True)
class Levels:
    """The level each family of tests rejects at for one claim: alpha, or Holm's across claims."""

    gain: float
    size: float
    reverse: float

    @classmethod
    def single(cls, alpha: float) -> Levels:
        return cls(alpha, alpha, alpha)


def orientation(direction: Direction) -> float:
    """+1 when higher is better, -1 when lower is (losses): scores are multiplied by it."""
    return 1.0 if direction is Direction.HIGHER else -1.0


def paper_runs(claim: Claim) -> int:
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
    """Q2 from which one-sided tests rejected (docs/statistics.md's table).

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


def deciding_p(p: Numbers, diverged: Flags, free_p: Numbers) -> np.ndarray:
    """The p-value of the rule :func:`robust` applies: ``p``, or where ``diverged`` the larger of
    ``p`` and its distribution-free counterpart ``free_p``.

    robust(p <= level, diverged, free_p, level) is exactly deciding_p(...) <= level, so Holm's
    step-down across claims must order and test these: a claim whose t-based rejection the
    guard overturned was not rejected, and may not pass its share of alpha on to the next.
    """
    return np.where(diverged, np.maximum(p, free_p), p)


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
    if any(
        c.replaced_by != c.original or c.original == r.key.seed
        for r in recorded
        for c in r.seed_calls
    ):
        return SeedReach.REACHED
    if len({tuple(c.original for c in r.seed_calls) for r in recorded}) > 1:
        return SeedReach.REACHED
    return SeedReach.NEVER_REACHED
