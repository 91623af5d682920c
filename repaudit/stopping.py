"""When an adaptive audit stops: each look's deciding tests, read from the verdict at that look's
boundaries, their state (crossed, open, futile) and the stop, in plain words.

``sequential.py`` holds the design (the calibrated boundaries, the predictive chances and the stop
rule, on numbers or arrays); this module applies it to one audit's ClaimResults, the same rule
``benchmarks/adaptive.py`` applies to thousands of simulated ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats as sps

from repaudit import stats
from repaudit.model import (
    Arm,
    ArmSummary,
    Claim,
    ClaimResult,
    Improvement,
    ImprovementDecision,
    Look,
    LookTest,
    ReproductionDecision,
    SequentialTest,
    StopReason,
)
from repaudit.rules import MIN_SEEDS, orientation, paper_runs
from repaudit.sequential import (
    CROSSED,
    DETERMINED,
    FUTILITY_CHANCE,
    OPEN,
    Design,
    claim_chance,
    gap_chances,
    luck_chance,
    luck_floor,
    state,
    stop_reason,
)

#: The tests whose crossing fails the claim, and those whose crossing passes it.
FAILING_TESTS = frozenset(
    {
        SequentialTest.SIZE,
        SequentialTest.REVERSE,
        SequentialTest.CLAIM,
        SequentialTest.BASELINE_CLAIM,
    }
)


_TEST_WORDS = {
    SequentialTest.GAIN: "gain",
    SequentialTest.REVERSE: "reverse",
    SequentialTest.SIZE: "size",
    SequentialTest.CLAIM: "claimed-number",
    SequentialTest.BASELINE_CLAIM: "claimed-baseline",
    SequentialTest.SEED_LUCK: "seed-luck",
}


def describe(test: LookTest, *, several: bool) -> str:
    """ "the size test", or "the size test of test_accuracy" when the audit has several claims."""
    return f"the {_TEST_WORDS[test.test]} test" + (f" of {test.metric}" if several else "")


@dataclasses.dataclass(frozen=True)
class _Watched:
    """A test of one look, its state, and whether its crossing fails or passes the claim."""

    test: LookTest
    state: int
    failing: bool


def assess(
    results: Sequence[ClaimResult],
    design: Design,
    look: int,
    *,
    finished: Mapping[Arm, int],
    seconds: float,
) -> Look:
    """Look ``look`` (0-based) of an adaptive audit: every deciding test of ``results`` (the
    verdict at this look's nominal levels) against its boundary, and whether to stop.

    ``finished`` counts each arm's successful seeds (every arm of the audit, 0 when all its seeds
    failed); ``seconds`` is the compute time of the runs this look added.
    """
    watched = [w for result in results for w in _claim_tests(result, design, finished)]
    failing = [np.asarray(w.state) for w in watched if w.failing]
    passing = [np.asarray(w.state) for w in watched if not w.failing]
    last = look == len(design.looks) - 1
    stop = StopReason(str(stop_reason(failing, passing, last=last)))
    tests = tuple(w.test for w in watched)
    return Look(
        number=look + 1,
        seeds=design.looks[look],
        finished=dict(finished),
        seconds=seconds,
        tests=tests,
        stop=stop,
        reason=_reason(stop, watched, design, look, several=len(results) > 1),
    )


def _claim_tests(
    result: ClaimResult, design: Design, finished: Mapping[Arm, int]
) -> list[_Watched]:
    """The watched tests of one claim: Q1 for its number (and its baseline number), and Q2;
    ``finished`` counts each arm's successful seeds (an arm whose every seed failed has none)."""
    claim = result.claim
    arms = {a.arm: a for a in result.arms}
    watched = [_reproduction(result, arms, design, baseline=False)]
    if claim.baseline is not None and arms.get(Arm.BASELINE) is not None:
        watched.append(_reproduction(result, arms, design, baseline=True))
    imp = result.improvement
    method, base = arms.get(Arm.METHOD), arms.get(Arm.BASELINE)
    if imp is None:
        return watched
    if imp.size_test is not None and imp.observed_gap is not None and method and base:
        return watched + _gap_tests(imp, claim, method, base, design)
    if imp.seed_luck is not None and imp.gain_test is not None and method is not None:
        final = design.boundary(SequentialTest.SEED_LUCK, claim, design.alpha)[-1]
        chance = float(
            luck_chance(
                imp.claimed_gap, method.sd, method.n, design.last, final, runs=paper_runs(claim)
            )
        )
        if paper_runs(claim) == 1 and claim.baseline is not None:
            sign = orientation(claim.direction)
            floor = luck_floor(
                sign * np.asarray(method.values),
                sign * claim.value,
                sign * claim.baseline,
                design.last,
            )
            chance *= float(stats.published_chance(floor) <= final)
        crossed = bool(imp.gain_test.rejects)
        test = LookTest(
            claim.metric,
            SequentialTest.SEED_LUCK,
            imp.gain_test.p_value,
            imp.gain_test.level,
            crossed,
            None if crossed else chance,
        )
        return [*watched, _Watched(test, int(state(crossed, chance)), failing=False)]
    # No test to watch: too few seeds so far (open), or a gap decided without one (seed-invariant
    # arms compared exactly, identical scores the seed never reached, nothing to compare with).
    fails = imp.decision in (
        ImprovementDecision.OVERSTATED,
        ImprovementDecision.WITHIN_NOISE,
        ImprovementDecision.REVERSED,
    )
    crossed = fails or imp.decision is ImprovementDecision.HOLDS
    too_few = min(finished.values(), default=0) < MIN_SEEDS
    name = (
        SequentialTest.SIZE
        if fails
        else (SequentialTest.GAIN if base else SequentialTest.SEED_LUCK)
    )
    watched_state = CROSSED if crossed else (OPEN if too_few else DETERMINED)
    test = LookTest(claim.metric, name, None, None, crossed, None)
    return [*watched, _Watched(test, watched_state, failing=fails)]


def _gap_tests(
    imp: Improvement, claim: Claim, method: ArmSummary, base: ArmSummary, design: Design
) -> list[_Watched]:
    """Q2's gain, size and reverse tests on the two arms' re-runs (only the size test for a
    parity claim, which claims no gain)."""
    finals = {
        t: design.boundary(t, claim, design.alpha)[-1]
        for t in (SequentialTest.GAIN, SequentialTest.REVERSE, SequentialTest.SIZE)
    }
    assert imp.observed_gap is not None
    chances = gap_chances(
        imp.observed_gap,
        imp.claimed_gap,
        method.sd,
        base.sd,
        method.n,
        base.n,
        design.last,
        finals,
        runs=paper_runs(claim),
        paper_baseline=claim.baseline is not None,
    )
    tests = {SequentialTest.SIZE: imp.size_test}
    if imp.claimed_gap > 0:
        tests |= {SequentialTest.GAIN: imp.gain_test, SequentialTest.REVERSE: imp.reverse_test}
    watched = []
    for name, outcome in tests.items():
        assert outcome is not None
        crossed, chance = bool(outcome.rejects), float(chances[name])
        test = LookTest(
            claim.metric, name, outcome.p_value, outcome.level, crossed, None if crossed else chance
        )
        watched.append(_Watched(test, int(state(crossed, chance)), failing=name in FAILING_TESTS))
    return watched


def _reproduction(
    result: ClaimResult, arms: Mapping[Arm, ArmSummary], design: Design, *, baseline: bool
) -> _Watched:
    """Q1's flattering side for the claimed number (or the paper's baseline number)."""
    claim = result.claim
    rep = result.baseline_reproduction if baseline else result.reproduction
    arm = arms.get(Arm.BASELINE if baseline else Arm.METHOD)
    test = SequentialTest.BASELINE_CLAIM if baseline else SequentialTest.CLAIM
    assert rep is not None
    fails = rep.decision in (
        ReproductionDecision.NOT_REPRODUCED,
        ReproductionDecision.BASELINE_UNDERSTATED,
    )
    if rep.test is None or rep.test.df is None or rep.test.statistic is None or arm is None:
        # Too few seeds (open), or seed-invariant scores compared exactly / never seeded (decided).
        n = arm.n if arm is not None else 0
        watched_state = CROSSED if fails else (OPEN if n < MIN_SEEDS else DETERMINED)
        return _Watched(LookTest(claim.metric, test, None, None, fails, None), watched_state, True)
    p_value = float(sps.t.sf(rep.test.statistic, rep.test.df))
    level = rep.test.level / 2 if rep.test.level is not None else None
    chance = None
    if not fails and rep.decision is not ReproductionDecision.EXCEEDED:
        value = claim.baseline if baseline else claim.value
        assert value is not None
        sign = orientation(claim.direction) * (-1.0 if baseline else 1.0)
        final = design.boundary(test, claim, design.alpha / 2)[-1]
        chance = float(
            claim_chance(
                sign * (value - arm.mean), arm.sd, arm.n, design.last, final, runs=paper_runs(claim)
            )
        )
    watched_state = CROSSED if fails else int(state(False, chance if chance is not None else 0.0))
    return _Watched(
        LookTest(claim.metric, test, p_value, level, fails, chance), watched_state, True
    )


def _reason(
    stop: StopReason, watched: Sequence[_Watched], design: Design, look: int, *, several: bool
) -> str:
    """The stop, or the wait, in plain words."""
    seeds, last = design.looks[look], design.last

    def listed(items: Sequence[_Watched]) -> str:
        names = [describe(w.test, several=several) for w in items]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    crossed = [w for w in watched if w.state == CROSSED and w.failing]
    open_ = [w for w in watched if w.state == OPEN]

    def boundaries(items: Sequence[_Watched]) -> str:
        return (
            f"{listed(items)} crossed {'its boundary' if len(items) == 1 else 'their boundaries'}"
        )

    match stop:
        case StopReason.FAILED:
            more = ", whatever more seeds would show" if seeds < last else ""
            return f"{boundaries(crossed)} at {seeds} seeds per arm: the claim does not hold{more}"
        case StopReason.SETTLED:
            passed = [w for w in watched if w.state == CROSSED and not w.failing]
            text = boundaries(passed) if passed else "every answer is determined"
            return (
                f"{text} at {seeds} seeds per arm, and no failing test can cross by "
                f"{last}: more seeds would not change the verdict"
            )
        case StopReason.FUTILE:
            return (
                f"no test left open can cross its boundary by {last} seeds per arm (each has "
                f"a chance under {FUTILITY_CHANCE:.0%}): more seeds would leave the claim "
                "undecided"
            )
        case StopReason.LAST_LOOK:
            return f"the last look ran ({last} seeds per arm)"
        case _:
            chances = [w.test.chance for w in open_ if w.test.chance is not None]
            best = f" (chance up to {max(chances):.0%})" if chances else ""
            return f"{listed(open_)} may still cross by {last} seeds per arm{best}"
