"""A claim's unit: the factor that puts the runs' scores on the scale the paper printed its number in.

Papers print accuracies as percentages (83.25) while training code writes fractions (0.8325), or
the reverse. Compared as they are, every such claim would be absurdly "not-reproduced", so the
scores are multiplied by 100 (or 0.01) before any statistic: when ``[claim] unit`` says which
unit the paper used, by whichever factor brings the scores nearer the claim; without it, only
when the numbers leave no doubt (a share-like claim and scores, and the converted scores' median
within a factor of two of the claim, where the unconverted one is a factor of 100 away).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from repaudit.errors import UsageError
from repaudit.model import Claim, ClaimResult, Unit

#: Without a stated unit, the converted scores' median must lie within this factor of the claim.
NEAR = 2.0
#: Two arms' medians this many times apart, one of them all fractions, are in different units.
APART = 20.0
#: The factors each stated unit allows (1: the scores are already on the claim's unit).
_FACTORS = {Unit.PERCENT: (1.0, 100.0), Unit.FRACTION: (1.0, 0.01), None: (1.0, 100.0, 0.01)}


def score_factor(claim: Claim, scores: Sequence[float]) -> float:
    """1, 100 or 0.01: what ``scores`` (the runs' values of the claim's metric) are multiplied by
    to be on the claim's unit (module docstring)."""
    values = [v for v in scores if math.isfinite(v)]
    if not values or claim.value <= 0 or any(v < 0 for v in values):
        return 1.0
    median = statistics.median(values)
    if median <= 0:
        return 1.0
    fractions, percentages = max(values) <= 1, max(values) <= 100
    candidates = [
        f
        for f in _FACTORS[claim.unit]
        if f == 1.0 or (fractions if f > 1 else percentages and not fractions)
    ]

    def distance(factor: float) -> float:
        return abs(math.log(claim.value / (median * factor)))

    best = min(candidates, key=distance)
    if claim.unit is None and best != 1.0 and distance(best) > math.log(NEAR):
        return 1.0
    return best


def check_same_unit(metric: str, method: Sequence[float], baseline: Sequence[float]) -> None:
    """Raise a UsageError when one arm's scores read as fractions and the other's as percentages.

    One factor converts both arms, so arms written in different units would be compared as they
    are: a baseline of 79.0 against a method of 0.81 is a "reversed" gain of -78. The arms are
    taken to differ when every score of one lies in [0, 1], the other's median lies in (1, 100],
    and the two medians are more than APART times apart (no real gap between two methods is).
    """
    arms = {
        name: [v for v in values if math.isfinite(v)]
        for name, values in (("method", method), ("baseline", baseline))
    }
    if not all(arms.values()):
        return
    medians = {name: statistics.median(values) for name, values in arms.items()}
    for low, high in (("method", "baseline"), ("baseline", "method")):
        if (
            all(0 <= v <= 1 for v in arms[low])
            and 1 < medians[high] <= 100
            and medians[high] > APART * max(medians[low], 1e-12)
        ):
            raise UsageError(
                f"{metric}: the {low} scores look like fractions (median {medians[low]:.4g}) "
                f"and the {high} scores like percentages (median {medians[high]:.4g}); "
                "give both arms in one unit"
            )


def in_percent(result: ClaimResult) -> bool:
    """True when the claim's numbers are percentages: stated so, or the scores were made so."""
    return result.claim.unit is Unit.PERCENT or result.score_factor == 100.0


def conversion_note(result: ClaimResult, metric: str) -> str | None:
    """Plain words for a conversion, for the report and the terminal; None when there was none."""
    factor = result.score_factor
    if factor == 1.0:
        return None
    written, claimed = (
        ("fractions", "a percentage") if factor > 1 else ("percentages", "a fraction")
    )
    stated = result.claim.unit is not None
    how = (
        "as the claim's unit states"
        if stated
        else 'state it with [claim] unit = "%" or "fraction", or --unit for repaudit stats'
    )
    return (
        f"the runs wrote {metric} as {written} and the claim is {claimed}: every score was "
        f"multiplied by {factor:g} before the statistics ({how})"
    )
