"""A claim's unit: percentages against fractions, converted only where the numbers leave no doubt."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from conftest import BERT_CASED_SST2, BERT_UNCASED_SST2

from repaudit import report, verdict
from repaudit.errors import SpecError, UsageError
from repaudit.model import (
    Arm,
    ArmSpec,
    AuditSpec,
    Claim,
    Direction,
    RunKey,
    RunResult,
    RunStatus,
    Unit,
)
from repaudit.spec import check_spec_file, load_spec, spec_to_toml
from repaudit.units import check_same_unit, score_factor

FRACTIONS = [0.82, 0.835, 0.83, 0.841, 0.826]
PERCENTS = [100 * v for v in FRACTIONS]


@pytest.mark.parametrize(
    ("value", "unit", "scores", "factor"),
    [
        (83.25, None, FRACTIONS, 100.0),  # the paper prints percent, the code writes fractions
        (95.0, None, FRACTIONS, 100.0),  # a claim far above the runs is still a percentage
        (0.8325, None, PERCENTS, 0.01),  # the reverse
        (0.8325, None, FRACTIONS, 1.0),  # already alike
        (83.25, None, PERCENTS, 1.0),
        (1.2, None, [0.010, 0.012, 0.014], 100.0),  # an error rate of 1.2% against fractions
        (2.5, Direction.LOWER, [0.3, 0.6, 0.9], 1.0),  # a loss: neither reading is near the runs
        (0.83, Unit.PERCENT, [0.0081, 0.0083, 0.0085], 100.0),  # 0.83 % against fractions
        (0.83, Unit.PERCENT, [0.81, 0.83, 0.85], 1.0),  # 0.83 % against percentages
        (0.83, Unit.FRACTION, [81.0, 83.0, 85.0], 0.01),
        (83.25, Unit.FRACTION, FRACTIONS, 1.0),  # a stated unit never allows the other factor
        (-3.0, None, [-0.02, -0.03], 1.0),  # returns and other signed scores are never touched
        (83.25, None, [], 1.0),
    ],
)
def test_the_factor_puts_the_scores_on_the_claim_s_unit(value, unit, scores, factor):
    direction = unit if isinstance(unit, Direction) else Direction.HIGHER
    stated = unit if isinstance(unit, Unit) else None
    claim = Claim("acc", value, direction=direction, unit=stated)
    assert score_factor(claim, scores) == factor


def runs(values, arm=Arm.METHOD):
    return [RunResult(RunKey(arm, k), RunStatus.OK, {"acc": v}) for k, v in enumerate(values, 1)]


def test_a_claim_in_percent_is_judged_and_shown_in_percent():
    """The paper prints 93.0 and 91.7; the runs write fractions (IBM/model-recycling's BERT SST-2)."""
    claim = Claim("acc", 93.0, baseline=91.7)
    spec = AuditSpec(
        claims=(claim,),
        arms=(ArmSpec(Arm.METHOD, "m {seed}"), ArmSpec(Arm.BASELINE, "b {seed}")),
        seeds=tuple(range(1, 11)),
    )
    scored = runs(BERT_UNCASED_SST2) + runs(BERT_CASED_SST2, Arm.BASELINE)
    audit = verdict.make_audit(spec, scored, audit_id="percent")
    (result,) = audit.results
    assert result.score_factor == 100.0
    assert result.arms[0].mean == pytest.approx(100 * sum(BERT_UNCASED_SST2) / 10)
    # Judged on one scale: without the conversion 93.0 would be a hundred times every seed.
    fractions = verdict.make_audit(
        dataclasses.replace(spec, claims=(Claim("acc", 0.930, baseline=0.917),)),
        scored,
        audit_id="fractions",
    )
    assert result.reproduction.decision == fractions.results[0].reproduction.decision
    assert result.improvement.decision == fractions.results[0].improvement.decision
    values = report.context(audit, with_plots=False)
    (shown,) = values["claims"]
    assert shown["heading"] == "acc: claimed 93.00%"
    assert shown["report_as"] == (
        "91.90 ± 0.48% (method) and 91.61 ± 0.38% (baseline) over 10 seeds each, mean ± sd"
    )
    assert shown["notes"][0] == (
        "the runs wrote acc as fractions and the claim is a percentage: every score was "
        'multiplied by 100 before the statistics (state it with [claim] unit = "%" or "fraction", '
        "or --unit for repaudit stats)"
    )
    assert values["runs"][0]["value"] == "91.63"  # the seed table shows what was judged


def test_the_unit_key_is_read_checked_and_written_back(tmp_path: Path):
    spec_file = tmp_path / "repaudit.toml"
    body = '[run]\ncommand = "t {seed}"\n[run.metric]\nregex = "acc ([0-9.]+)"\n'
    spec_file.write_text('[claim]\nvalue = 83.2\nunit = "%"\n' + body)
    spec = check_spec_file(spec_file)
    assert spec.claim.unit is Unit.PERCENT
    again = tmp_path / "again.toml"
    again.write_text(spec_to_toml(spec))
    assert load_spec(None, spec_path=again).claims == spec.claims
    spec_file.write_text('[claim]\nvalue = 83.2\nunit = "percent"\n' + body)
    with pytest.raises(
        SpecError, match=r"\[claim\] unit = 'percent' is not allowed: use \"%\" or \"fraction\""
    ):
        check_spec_file(spec_file)


def test_arms_in_different_units_are_a_usage_error_not_a_reversed_gain() -> None:
    with pytest.raises(UsageError, match=r"acc: the method scores look like fractions .* and the "
                       r"baseline scores like percentages .*; give both arms in one unit"):  # fmt: skip
        check_same_unit("acc", FRACTIONS, [79.0, 78.5, 79.4])
    with pytest.raises(UsageError, match="the baseline scores look like fractions"):
        check_same_unit("acc", PERCENTS, FRACTIONS)
    # the same unit, however far apart the arms are, or one arm alone: nothing to say
    check_same_unit("acc", FRACTIONS, [0.31, 0.30, 0.32])
    check_same_unit("loss", [2.1, 2.3], [0.9, 0.95])
    check_same_unit("acc", FRACTIONS, [])
