"""The decision rules as functions of test outcomes: the design's tables, the guard, seed reach."""

from __future__ import annotations

import numpy as np
import pytest

from repaudit import rules
from repaudit.model import (
    Arm,
    ImprovementDecision,
    ReproductionDecision,
    RunKey,
    RunResult,
    RunStatus,
    SeedCall,
    SeedReach,
)


@pytest.mark.parametrize(
    ("gain", "size", "reverse", "expected"),
    [
        (True, False, False, ImprovementDecision.HOLDS),
        (True, True, False, ImprovementDecision.OVERSTATED),
        (False, True, False, ImprovementDecision.WITHIN_NOISE),
        (False, False, False, ImprovementDecision.INCONCLUSIVE),
        (False, False, True, ImprovementDecision.REVERSED),
        (False, True, True, ImprovementDecision.REVERSED),
    ],
)
def test_gap_decision_is_the_design_table(gain, size, reverse, expected):
    assert rules.gap_decision(gain=gain, size=size, reverse=reverse) is expected


def test_a_parity_claim_is_decided_by_its_size_alone():
    for gain, reverse in ((False, False), (False, True), (True, False)):
        assert rules.gap_decision(gain=gain, size=False, reverse=reverse, claimed_gain=False) \
            is ImprovementDecision.HOLDS  # fmt: skip
        assert rules.gap_decision(gain=gain, size=True, reverse=reverse, claimed_gain=False) \
            is ImprovementDecision.OVERSTATED  # fmt: skip


def test_reproduction_decision_from_a_statistic_and_a_critical_value():
    decide = rules.reproduction_decision
    assert decide(3.0, 2.0, 0.01) is ReproductionDecision.NOT_REPRODUCED
    assert decide(3.0, 2.0, 0.01, robust_rejects=False) is ReproductionDecision.OPTIMISTIC
    assert decide(-3.0, 2.0, 0.99) is ReproductionDecision.EXCEEDED
    assert decide(1.5, 2.0, 0.08) is ReproductionDecision.OPTIMISTIC
    assert decide(0.5, 2.0, 0.3) is ReproductionDecision.REPRODUCED


def test_robust_keeps_a_rejection_only_where_the_distribution_free_test_agrees():
    kept = rules.robust(np.array([True, True, True, False]), np.array([False, True, True, True]),
                          np.array([0.9, 0.01, 0.2, 0.0]), 0.05)  # fmt: skip
    assert kept.tolist() == [True, True, False, False]


def _run(arm, seed, value, calls):
    return RunResult(RunKey(arm, seed), RunStatus.OK, {"acc": value}, seed_calls=calls)


def test_seed_reach_from_the_hooks_record():
    hard_coded = [
        _run(Arm.METHOD, s, 0.8, (SeedCall("torch.manual_seed", 42, 42),)) for s in (0, 1)
    ]
    assert rules.seed_reach(hard_coded) is SeedReach.NEVER_REACHED
    overridden = [_run(Arm.METHOD, s, 0.8, (SeedCall("torch.manual_seed", 42, 1000 + s),))
                  for s in (0, 1)]  # fmt: skip
    assert rules.seed_reach(overridden) is SeedReach.REACHED
    observed = [_run(Arm.METHOD, s, 0.8, (SeedCall("random.seed", s, s),)) for s in (3, 4)]
    assert rules.seed_reach(observed) is SeedReach.REACHED
    derived = [_run(Arm.METHOD, s, 0.8, (SeedCall("random.seed", s + 1, s + 1),)) for s in (3, 4)]
    assert rules.seed_reach(derived) is SeedReach.REACHED
    assert rules.seed_reach([_run(Arm.METHOD, 0, 0.8, ())]) is SeedReach.UNKNOWN


def test_deciding_p_is_the_p_value_of_the_guarded_rule():
    p, free = np.array([0.01, 0.01, 0.2, 0.04]), np.array([0.3, 0.001, 0.0, 0.04])
    diverged = np.array([True, True, False, True])
    assert rules.deciding_p(p, diverged, free).tolist() == [0.3, 0.01, 0.2, 0.04]
    for level in (0.005, 0.04, 0.05, 0.5):
        assert np.array_equal(rules.deciding_p(p, diverged, free) <= level,
                              rules.robust(p <= level, diverged, free, level))  # fmt: skip
