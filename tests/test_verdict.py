"""The decision rules of repaudit.verdict: every decision, the degenerate inputs, invariances."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repaudit import verdict
from repaudit.model import (
    Arm,
    ArmSpec,
    AuditSpec,
    Claim,
    ClaimKind,
    Direction,
    ExitCode,
    ImprovementDecision,
    ReproductionDecision,
    RunKey,
    RunResult,
    RunStatus,
    Verdict,
)

METHOD = [0.812, 0.805, 0.809, 0.801, 0.815, 0.807, 0.803, 0.810]
BASELINE = [0.800, 0.806, 0.798, 0.802, 0.795, 0.804, 0.799, 0.801]


def evaluate(claim, method, baseline=None, **kwargs):
    return verdict.evaluate_claim(
        claim, method, baseline, n_failed={}, alpha=0.05, rng=np.random.default_rng(0), **kwargs
    )


def decisions(result):
    imp = result.improvement
    return result.reproduction.decision, imp.decision if imp else None


def floats(obj):
    """Every float anywhere inside a (nested) dataclass result."""
    if isinstance(obj, float):
        yield obj
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield from floats(getattr(obj, f.name))
    elif isinstance(obj, tuple | list):
        for item in obj:
            yield from floats(item)


# ---------------------------------------------------------------- Q1


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        (0.808, ReproductionDecision.REPRODUCED),
        (0.818, ReproductionDecision.OPTIMISTIC),
        (0.830, ReproductionDecision.NOT_REPRODUCED),
        (0.790, ReproductionDecision.EXCEEDED),
    ],
)
def test_single_run_reproduction_decisions(claim, expected):
    result = evaluate(Claim("acc", claim), METHOD)
    assert result.reproduction.decision is expected
    assert result.reproduction.reason


def test_mean_claim_uses_the_t_test():
    result = evaluate(Claim("acc", 0.815, kind=ClaimKind.MEAN, runs=5), METHOD)
    assert result.reproduction.decision is ReproductionDecision.NOT_REPRODUCED
    assert result.reproduction.test is not None and result.reproduction.test.p_value < 0.05
    assert "mean of 5" in result.reproduction.reason


def test_lower_is_better_flips_the_flattering_side():
    losses = [2.0 - v for v in METHOD]
    result = evaluate(Claim("loss", 2.0 - 0.830, direction=Direction.LOWER), losses)
    assert result.reproduction.decision is ReproductionDecision.NOT_REPRODUCED


@pytest.mark.parametrize("values", [[], [0.8], [0.8, 0.81]])
def test_fewer_than_three_seeds_is_inconclusive(values):
    result = evaluate(Claim("acc", 0.8, baseline=0.79), values, [0.79, 0.78, 0.8])
    assert result.reproduction.decision is ReproductionDecision.INCONCLUSIVE
    assert result.improvement.decision is ImprovementDecision.INCONCLUSIVE
    assert all(math.isfinite(x) for x in floats(result))


def test_zero_variance_means_the_seed_was_ignored_not_a_perfect_reproduction():
    result = evaluate(Claim("acc", 0.8, baseline=0.7), [0.8] * 5, [0.7] * 5)
    assert result.reproduction.decision is ReproductionDecision.INCONCLUSIVE
    assert "ignore the seed" in result.reproduction.reason
    assert "seed_override = true" in result.reproduction.reason
    assert result.improvement.decision is ImprovementDecision.INCONCLUSIVE
    assert all(math.isfinite(x) for x in floats(result))


def test_zero_variance_without_baseline_runs_has_no_nan():
    result = evaluate(Claim("acc", 0.8, baseline=0.7), [0.8] * 4)
    assert result.improvement.decision is ImprovementDecision.INCONCLUSIVE
    assert all(math.isfinite(x) for x in floats(result))


# ---------------------------------------------------------------- Q2


def test_improvement_holds_with_every_test_reported():
    result = evaluate(Claim("acc", 0.812, baseline=0.805), METHOD, BASELINE)
    imp = result.improvement
    assert imp.decision is ImprovementDecision.HOLDS
    assert [t.name for t in imp.tests if t.deciding] == ["Welch one-sided t-test"]
    assert {t.name for t in imp.tests} >= {
        "Mann-Whitney U, one-sided",
        "P(improvement)",
        "Hedges' g",
    }
    assert imp.consistent_with_claim is True and imp.observed_gap > 0


def test_reversed_when_the_baseline_is_significantly_better():
    result = evaluate(Claim("acc", 0.812, baseline=0.80), BASELINE, METHOD)
    assert result.improvement.decision is ImprovementDecision.REVERSED


def test_not_significant_with_low_power_is_inconclusive_with_seeds_needed():
    gen = np.random.default_rng(1)
    m, b = gen.normal(0.5, 1, 4), gen.normal(0.5, 1, 4)
    result = evaluate(Claim("acc", 1.0, baseline=0.5), m, b)
    imp = result.improvement
    assert imp.decision is ImprovementDecision.INCONCLUSIVE
    assert imp.power < 0.8 and imp.seeds_needed > 4
    assert f"{imp.seeds_needed} seeds per arm would settle it" in imp.reason


def test_not_significant_with_enough_power_is_within_noise():
    gen = np.random.default_rng(2)
    m, b = gen.normal(0, 1, 40), gen.normal(0, 1, 40)
    result = evaluate(Claim("acc", 1.5, baseline=0.0), m, b)
    assert result.improvement.decision is ImprovementDecision.WITHIN_NOISE
    assert result.improvement.power >= 0.8


def test_identical_arms_are_not_an_improvement():
    result = evaluate(Claim("acc", 0.812, baseline=0.80), METHOD, METHOD)
    imp = result.improvement
    assert imp.decision is not ImprovementDecision.HOLDS
    superiority = next(t for t in imp.tests if t.name == "P(improvement)")
    assert superiority.statistic == 0.5


def test_seed_luck_without_baseline_runs():
    noisy = evaluate(Claim("acc", 0.812, baseline=0.805), METHOD)
    assert noisy.improvement.decision is ImprovementDecision.WITHIN_NOISE
    assert "differ by that much" in noisy.improvement.reason
    clear = evaluate(Claim("acc", 0.85, baseline=0.80), METHOD)
    assert clear.improvement.decision is ImprovementDecision.HOLDS


def test_a_diverged_run_is_counted_and_the_tests_disagreement_is_said():
    # T5-style: most method seeds clearly better, a few collapsed; the mean drops, ranks do not.
    method = [0.86, 0.861, 0.862, 0.859, 0.863, 0.86, 0.861, 0.862, 0.35, 0.34]
    baseline = [0.84, 0.841, 0.839, 0.842, 0.84, 0.838, 0.841, 0.84, 0.839, 0.842]
    result = evaluate(Claim("acc", 0.862, baseline=0.84), method, baseline)
    assert len(result.arms[0].outliers) == 2
    assert any("disagree" in note for note in result.improvement.notes)
    paragraph = verdict.wording.paragraph([result], 0.05)
    assert "disagree" in paragraph and "robust outliers" in paragraph


def test_mann_whitney_floor_is_stated_instead_of_a_p_value():
    result = evaluate(Claim("acc", 0.812, baseline=0.80), METHOD[:3], BASELINE[:2] + [0.797])
    mw = next(t for t in result.improvement.tests if t.name.startswith("Mann-Whitney"))
    assert mw.p_value is not None  # 3 vs 3 can just reach 0.05
    two = verdict.stats.mann_whitney(METHOD[:2], BASELINE[:3])
    assert two.p_floor > 0.05


# ---------------------------------------------------------------- invariances


@settings(max_examples=25, deadline=None)
@given(
    shift=st.floats(-1e3, 1e3, allow_nan=False),
    seed=st.integers(0, 2**16),
    n=st.integers(3, 12),
    gap=st.floats(0.0, 2.0),
)
def test_shifting_both_arms_and_the_claim_keeps_the_decisions(shift, seed, n, gap):
    gen = np.random.default_rng(seed)
    m, b = gen.normal(gap, 1, n), gen.normal(0, 1, n)
    base = evaluate(Claim("s", 1.0, baseline=0.0), m, b)
    moved = evaluate(Claim("s", 1.0 + shift, baseline=shift), m + shift, b + shift)
    assert decisions(base) == decisions(moved)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(3, 12), gap=st.floats(-1.0, 2.0))
def test_flipping_direction_with_the_sign_of_the_data_keeps_the_decisions(seed, n, gap):
    gen = np.random.default_rng(seed)
    m, b = gen.normal(gap, 1, n), gen.normal(0, 1, n)
    higher = evaluate(Claim("s", 1.0, baseline=0.0), m, b)
    lower = evaluate(Claim("s", -1.0, baseline=0.0, direction=Direction.LOWER), -m, -b)
    assert decisions(higher) == decisions(lower)


# ---------------------------------------------------------------- a whole audit


def spec(*claims, baseline=True, seeds=5):
    arms = (ArmSpec(Arm.METHOD, "m {seed}"),) + (
        (ArmSpec(Arm.BASELINE, "b {seed}"),) if baseline else ()
    )
    return AuditSpec(claims=claims, arms=arms, seeds=tuple(range(seeds)), stats_seed=3)


def runs_for(arm, values, metric="acc"):
    return [RunResult(RunKey(arm, i), RunStatus.OK, {metric: v}) for i, v in enumerate(values)]


def test_evaluate_groups_runs_counts_failures_and_the_repeat_floor():
    runs = runs_for(Arm.METHOD, METHOD) + runs_for(Arm.BASELINE, BASELINE)
    runs.append(RunResult(RunKey(Arm.METHOD, 99), RunStatus.FAILED, reason="exit 1"))
    runs += [RunResult(RunKey(Arm.METHOD, 0, r), RunStatus.OK, {"acc": 0.8121}) for r in (1, 2)]
    results, final, paragraph = verdict.evaluate(spec(Claim("acc", 0.812, baseline=0.80)), runs)
    (result,) = results
    assert result.arms[0].n == len(METHOD) and result.arms[0].n_failed == 1
    assert result.repeat_sd == pytest.approx(np.std([0.812, 0.8121, 0.8121], ddof=1))
    assert final is Verdict.HOLDS
    assert "failed" in paragraph and "nondeterminism" in paragraph
    again = verdict.evaluate(spec(Claim("acc", 0.812, baseline=0.80)), runs)
    assert again == (results, final, paragraph)  # same stats seed, bit-identical


def test_evaluate_holm_adjusts_across_claims():
    claims = (Claim("acc", 0.812, baseline=0.80), Claim("f1", 0.812, baseline=0.80))
    runs = []
    for metric in ("acc", "f1"):
        runs += runs_for(Arm.METHOD, METHOD, metric) + runs_for(Arm.BASELINE, BASELINE, metric)
    merged: dict = {}
    for r in runs:
        merged.setdefault((r.key.arm, r.key.seed), {}).update(r.metrics)
    runs = [RunResult(RunKey(a, s), RunStatus.OK, m) for (a, s), m in merged.items()]
    results, _, paragraph = verdict.evaluate(spec(*claims), runs)
    raw = evaluate(claims[0], METHOD, BASELINE).improvement.p_value
    assert results[0].improvement.p_value == pytest.approx(min(1.0, 2 * raw))
    assert "Holm" in paragraph


def test_evaluate_is_an_error_when_no_method_seed_succeeded():
    runs = [
        RunResult(RunKey(Arm.METHOD, i), RunStatus.FAILED, reason="CUDA out of memory")
        for i in range(3)
    ]
    _, final, paragraph = verdict.evaluate(spec(Claim("acc", 0.8), baseline=False), runs)
    assert final is Verdict.ERROR
    assert "CUDA out of memory" in paragraph
    assert verdict.exit_code(final) is ExitCode.ERROR


def test_overall_verdict_and_exit_codes():
    holds = evaluate(Claim("acc", 0.808), METHOD)
    fails = evaluate(Claim("acc", 0.830), METHOD)
    unsure = evaluate(Claim("acc", 0.8), METHOD[:2])
    assert verdict.overall([holds]) is Verdict.HOLDS
    assert verdict.overall([holds, unsure]) is Verdict.INCONCLUSIVE
    assert verdict.overall([unsure, fails]) is Verdict.DOES_NOT_HOLD
    assert verdict.exit_code(Verdict.HOLDS) is ExitCode.HOLDS
    assert verdict.exit_code(Verdict.DOES_NOT_HOLD) is ExitCode.DOES_NOT_HOLD
    assert verdict.exit_code(Verdict.INCONCLUSIVE) is ExitCode.INCONCLUSIVE
    assert (
        verdict.exit_code(Verdict.INCONCLUSIVE, [unsure], {"inconclusive"})
        is ExitCode.DOES_NOT_HOLD
    )
    assert verdict.exit_code(Verdict.DOES_NOT_HOLD, [fails], {"inconclusive"}) is ExitCode.HOLDS
    assert verdict.exit_code(Verdict.ERROR, [], {"inconclusive"}) is ExitCode.ERROR


@pytest.mark.parametrize(("direction", "reaching"), [(Direction.HIGHER, 4), (Direction.LOWER, 5)])
def test_seeds_reaching_the_claim_respect_its_direction(direction, reaching):
    claim = Claim("acc", 0.809, direction=direction)
    result = evaluate(claim, METHOD)
    assert result.reproduction.seeds_reaching == reaching  # ties reach it either way
