"""sequential.py and stopping.py: the calibrated boundaries, the predictive chances, the stop
rule, and adaptive audits look by look (verdict.evaluate at each look's boundaries, then
stopping.assess)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from scipy import stats as sps

from repaudit import sequential, stats, stopping, verdict
from repaudit.model import (
    Arm,
    ArmSpec,
    AuditSpec,
    Claim,
    ClaimKind,
    Look,
    RunKey,
    RunResult,
    RunStatus,
    SequentialTest,
    StopReason,
)
from repaudit.spec import DEFAULT_LOOKS

ALPHA = 0.05
DESIGN = sequential.Design(DEFAULT_LOOKS, ALPHA)
#: Seed scores whose mean is exactly 0 after 3, 5, 8, 12 and 20 seeds, with an sd near 1: every
#: look sees the same gap and the same spread, so what a test does depends on the seeds alone.
ZERO_MEAN_BLOCKS = (
    -1.2, 0.0, 1.2,
    -1.0, 1.0,
    -1.2, 0.0, 1.2,
    -1.0, -0.5, 0.5, 1.0,
    -0.3, 0.3, -0.8, 0.8, -1.2, 1.2, -1.6, 1.6,
)  # fmt: skip


def spec_for(
    claim: Claim, *, baseline_arm: bool = True, looks: tuple[int, ...] = DEFAULT_LOOKS
) -> AuditSpec:
    arms = (ArmSpec(Arm.METHOD, "m {seed}"),) + (
        (ArmSpec(Arm.BASELINE, "b {seed}"),) if baseline_arm else ()
    )
    return AuditSpec(claims=(claim,), arms=arms, seeds=tuple(range(1, looks[-1] + 1)), looks=looks)


def runs_for(
    method: Sequence[float], baseline: Sequence[float] | None, metric: str = "acc"
) -> list[RunResult]:
    arms = [(Arm.METHOD, method)] + ([(Arm.BASELINE, baseline)] if baseline is not None else [])
    return [RunResult(RunKey(arm, seed), RunStatus.OK, metrics={metric: float(value)}, seconds=60.0)
            for arm, values in arms for seed, value in enumerate(values, start=1)]  # fmt: skip


def adaptive(
    spec: AuditSpec, runs: Sequence[RunResult], design: sequential.Design = DESIGN
) -> list[Look]:
    """The looks an adaptive audit of ``spec`` takes on ``runs`` (the seeds it would run, in order)."""
    looks = []
    for k, seeds in enumerate(design.looks):
        ran = [r for r in runs if r.key.seed <= seeds]
        results, _, _ = verdict.evaluate(spec, ran, design.nominal(k))
        finished = {arm.name: sum(r.key.arm is arm.name for r in ran) for arm in spec.arms}
        looks.append(
            stopping.assess(results, design, k, finished=finished, seconds=60.0 * len(ran))
        )
        if looks[-1].stop is not StopReason.CONTINUE:
            break
    return looks


def crossed(look: Look) -> set[SequentialTest]:
    return {t.test for t in look.tests if t.crossed}


# ---------------------------------------------------------------- boundaries


def test_boundaries_are_a_fixed_function_of_the_schedule_and_the_level(tmp_path) -> None:
    first = sequential.boundaries(SequentialTest.CLAIM, DEFAULT_LOOKS, ALPHA / 2)
    sequential._boundaries.cache_clear()
    sequential._family_paths.cache_clear()
    again = sequential.boundaries(
        SequentialTest.CLAIM, DEFAULT_LOOKS, ALPHA / 2, cache_dir=tmp_path
    )
    assert again == first  # recomputed from scratch: bit for bit the same
    (cached,) = (tmp_path / "boundaries").iterdir()
    sequential._boundaries.cache_clear()
    assert (
        sequential.boundaries(SequentialTest.CLAIM, DEFAULT_LOOKS, ALPHA / 2, cache_dir=tmp_path)
        == first
    )
    assert cached.name == "v1-claim-runs1-paper-3-5-8-12-20-level0.025.json"
    # Pinned: numpy's PCG64 under the fixed calibration seed, scipy's t distribution.
    assert first == pytest.approx((0.003872, 0.003401, 0.005411, 0.009315, 0.018358), abs=2e-6)


def test_each_family_spends_its_level_over_the_looks() -> None:
    for test, level in ((SequentialTest.GAIN, ALPHA), (SequentialTest.SIZE, ALPHA),
                        (SequentialTest.SEED_LUCK, ALPHA), (SequentialTest.CLAIM, ALPHA / 2)):  # fmt: skip
        bounds = sequential.boundaries(test, DEFAULT_LOOKS, level)
        assert len(bounds) == 5 and all(0 < b < level for b in bounds), test
        assert bounds[-1] == max(bounds), test  # the last look keeps the most of the level
    # mirror images share their boundaries; a claim's runs make another family
    assert sequential.boundaries(SequentialTest.REVERSE, DEFAULT_LOOKS, ALPHA) == sequential.boundaries(
        SequentialTest.GAIN, DEFAULT_LOOKS, ALPHA)  # fmt: skip
    assert sequential.boundaries(SequentialTest.CLAIM, DEFAULT_LOOKS, ALPHA / 2, runs=5) != sequential.boundaries(
        SequentialTest.CLAIM, DEFAULT_LOOKS, ALPHA / 2)  # fmt: skip


def test_holm_with_the_identity_boundary_is_holm() -> None:
    for p in ([0.04, 0.01, 0.03], [0.2, 0.001, 0.02, 0.03], [0.5], [0.01, 0.01]):
        expected = stats.holm_levels(p, ALPHA).tolist()
        assert sequential.holm_nominal(p, ALPHA, lambda i, level: level) == pytest.approx(expected)


def test_holm_meets_each_claim_s_own_boundary_at_each_step() -> None:
    # claim 0's boundary is a tenth of the step's level, claim 1's the level itself
    def boundary(i: int, level: float) -> float:
        return level / 10 if i == 0 else level

    # claim 0 meets its boundary at alpha / 2, so claim 1 is tested at alpha
    assert sequential.holm_nominal([0.002, 0.03], ALPHA, boundary) == pytest.approx([0.0025, 0.05])
    # claim 0 misses it: both stay at the first step
    assert sequential.holm_nominal([0.004, 0.03], ALPHA, boundary) == pytest.approx([0.0025, 0.025])


# ---------------------------------------------------------------- chances and the stop rule


def test_nothing_left_to_run_makes_the_chance_certain() -> None:
    chance = sequential.chance_to_cross(np.array([1.0, -1.0]), 0.1, 30, 0.05, 0.0)
    assert chance.tolist() == [1.0, 0.0]
    assert sequential.remaining_spread(1.0, 20, 20) == 0.0


def test_the_predictive_chance_grows_with_the_gap_and_shrinks_as_seeds_run_out() -> None:
    finals = dict.fromkeys((SequentialTest.GAIN, SequentialTest.REVERSE, SequentialTest.SIZE), 0.03)
    early = sequential.gap_chances(np.array([0.0, 0.5, 1.0]), 1.0, 1.0, 1.0, 3, 3, 20, finals)
    late = sequential.gap_chances(np.array([0.0, 0.5, 1.0]), 1.0, 1.0, 1.0, 12, 12, 20, finals)
    assert np.all(np.diff(early[SequentialTest.GAIN]) > 0)
    assert late[SequentialTest.GAIN][0] < early[SequentialTest.GAIN][0]  # no gain seen: fading
    assert early[SequentialTest.SIZE][2] < 0.05  # the claimed gap seen: the size test is futile


def test_the_seed_luck_chance_is_exact_for_normal_scores() -> None:
    """P(the sd at 20 seeds falls low enough) against a simulation of the remaining seeds."""
    rng = np.random.default_rng(3)
    first = rng.standard_normal(5)
    gap, final = 3.0, 0.04
    chance = float(sequential.luck_chance(gap, stats.sd(first), 5, 20, final))
    # draw the true sd from its posterior, then the 15 remaining seeds
    sigma = stats.sd(first) * np.sqrt(4 / rng.chisquare(4, 100_000))
    rest = rng.standard_normal((100_000, 15)) * sigma[:, None]
    sds = stats.moments(np.concatenate([np.broadcast_to(first, (100_000, 5)), rest], axis=-1))[1]
    simulated = np.mean(2 * sps.t.sf(gap / (sds * np.sqrt(2)), 19) <= final)
    assert chance == pytest.approx(simulated, abs=0.01)


def test_the_stop_rule_reads_the_tests_states() -> None:
    crossed, open_, done = sequential.CROSSED, sequential.OPEN, sequential.DETERMINED
    stop = sequential.stop_reason(
        failing=[np.array([crossed, done, done, done, open_])],
        passing=[np.array([open_, crossed, done, open_, crossed])],
        last=False,
    )
    assert stop.tolist() == ["failed", "settled", "futile", "continue", "continue"]
    last = sequential.stop_reason(
        [np.array([done, crossed])], [np.array([open_, open_])], last=True
    )
    assert last.tolist() == ["last-look", "failed"]


# ---------------------------------------------------------------- adaptive audits, look by look


def test_an_obvious_win_stops_at_the_first_look() -> None:
    claim = Claim("acc", 10.0, baseline=0.0)
    method, baseline = [10.0 + z / 10 for z in ZERO_MEAN_BLOCKS], [z / 10 for z in ZERO_MEAN_BLOCKS]
    (look,) = adaptive(spec_for(claim), runs_for(method, baseline))
    assert (look.number, look.seeds, look.stop) == (1, 3, StopReason.SETTLED)
    assert crossed(look) == {SequentialTest.GAIN}
    assert "the gain test crossed its boundary at 3 seeds per arm" in look.reason


def test_an_obviously_overstated_claim_stops_early() -> None:
    claim = Claim("acc", 6.0, baseline=0.0)  # six seed sds, where the code gives nothing
    scores = list(ZERO_MEAN_BLOCKS)
    looks = adaptive(spec_for(claim), runs_for(scores, [-z for z in scores]))
    assert looks[-1].stop is StopReason.FAILED and looks[-1].seeds <= 5
    assert SequentialTest.SIZE in crossed(looks[-1])
    audit = verdict.make_audit(spec_for(claim), runs_for(scores[: looks[-1].seeds], scores[: looks[-1].seeds]),
                               audit_id="x", looks=tuple(looks),
                               nominal=DESIGN.nominal(len(looks) - 1))  # fmt: skip
    assert audit.verdict.value == "does-not-hold"


def test_a_borderline_case_runs_to_the_maximum() -> None:
    # a real gain of half a seed sd, claimed exactly: only 20 seeds could show it, and not surely
    claim = Claim("acc", 0.5, baseline=0.0)
    method = [0.5 + z for z in ZERO_MEAN_BLOCKS]
    looks = adaptive(spec_for(claim), runs_for(method, list(ZERO_MEAN_BLOCKS)))
    assert [look.seeds for look in looks] == list(DEFAULT_LOOKS)
    assert [look.stop for look in looks] == [StopReason.CONTINUE] * 4 + [StopReason.LAST_LOOK]
    gain = [next(t for t in look.tests if t.test is SequentialTest.GAIN) for look in looks[:-1]]
    assert all(t.chance is not None and t.chance >= sequential.FUTILITY_CHANCE for t in gain)


def test_a_gap_too_small_to_ever_show_stops_as_futile() -> None:
    claim = Claim("acc", 0.1, baseline=0.0)  # claims a tenth of a seed sd and gets it
    looks = adaptive(
        spec_for(claim), runs_for([0.1 + z for z in ZERO_MEAN_BLOCKS], list(ZERO_MEAN_BLOCKS))
    )
    assert looks[-1].stop is StopReason.FUTILE and looks[-1].seeds < 20
    assert "no test left open can cross its boundary by 20 seeds per arm" in looks[-1].reason


def test_a_claimed_mean_of_runs_has_its_own_boundaries_and_settles_the_same_way() -> None:
    claim = Claim("acc", 4.0, baseline=0.0, kind=ClaimKind.MEAN, runs=5)
    scores = list(ZERO_MEAN_BLOCKS)
    looks = adaptive(spec_for(claim), runs_for(scores, [-z for z in scores]))
    # a mean of 5 runs four seed sds above what the code gives: out by the second look
    assert looks[-1].stop is StopReason.FAILED and looks[-1].seeds <= 5
    claim_test = next(t for t in looks[0].tests if t.test is SequentialTest.CLAIM)
    mean_bound = sequential.boundaries(SequentialTest.CLAIM, DEFAULT_LOOKS, ALPHA / 2, runs=5)[0]
    assert claim_test.boundary == pytest.approx(mean_bound)


def test_without_baseline_runs_seed_luck_settles_or_gives_up() -> None:
    # a gap of 27 seed sds: seed luck cannot explain it once enough re-runs show the exact
    # (conformal) share of such gaps small too
    spec = spec_for(Claim("acc", 8.0, baseline=0.0), baseline_arm=False)
    looks = adaptive(spec, runs_for([7.5 + 0.3 * z for z in ZERO_MEAN_BLOCKS], None))
    assert looks[-1].stop is StopReason.SETTLED and looks[-1].seeds == 12
    assert crossed(looks[-1]) == {SequentialTest.SEED_LUCK}
    # re-runs around the claimed number itself: half of them reach the paper's gap over its
    # baseline number, so no number of seeds can make the gap unlikely under seed luck
    at_claim = adaptive(spec, runs_for([8.0 + z for z in ZERO_MEAN_BLOCKS], None))
    assert at_claim[-1].stop is StopReason.FUTILE and at_claim[-1].seeds == 3
    small = spec_for(Claim("acc", 0.3, baseline=0.0), baseline_arm=False)
    looks = adaptive(small, runs_for([0.3 + z for z in ZERO_MEAN_BLOCKS], None))
    assert looks[-1].stop is StopReason.FUTILE and looks[-1].seeds < 20


def test_several_claims_spend_holm_s_levels() -> None:
    claims = (Claim("acc", 10.0, baseline=0.0), Claim("f1", 9.0, baseline=0.0))
    spec = AuditSpec(claims=claims, arms=(ArmSpec(Arm.METHOD, "m {seed}"), ArmSpec(Arm.BASELINE, "b {seed}")),
                     seeds=tuple(range(1, 21)), looks=DEFAULT_LOOKS)  # fmt: skip
    runs = [RunResult(r.key, r.status, metrics={"acc": r.metrics["acc"], "f1": r.metrics["acc"] * 0.9},
                      seconds=1.0)
            for r in runs_for([10 + z / 10 for z in ZERO_MEAN_BLOCKS], [z / 10 for z in ZERO_MEAN_BLOCKS])]  # fmt: skip
    results, _, _ = verdict.evaluate(spec, [r for r in runs if r.key.seed <= 3], DESIGN.nominal(0))
    levels = [
        r.improvement.gain_test.level for r in results if r.improvement and r.improvement.gain_test
    ]
    half = sequential.boundaries(SequentialTest.GAIN, DEFAULT_LOOKS, ALPHA / 2)[0]
    full = sequential.boundaries(SequentialTest.GAIN, DEFAULT_LOOKS, ALPHA)[0]
    assert sorted(levels) == pytest.approx([half, full])  # Holm's steps, each at its boundary
    look = stopping.assess(
        results, DESIGN, 0, finished={Arm.METHOD: 3, Arm.BASELINE: 3}, seconds=6.0
    )
    assert look.stop is StopReason.SETTLED and "of acc" in look.reason and "of f1" in look.reason
