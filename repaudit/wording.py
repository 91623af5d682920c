"""Plain words for the verdict: each decision's reason and the one paragraph a reviewer pastes.

Kept apart from ``verdict.py`` so the rules read on one screen there; nothing here decides.
Gaps are oriented (positive = the method is better), so the words never depend on direction.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from repaudit import stats
from repaudit.formatting import ScoreFormat, percent, with_article
from repaudit.model import (
    Arm,
    Claim,
    ClaimKind,
    ClaimResult,
    Improvement,
    ImprovementDecision,
    Interval,
    ReproductionDecision,
    RunResult,
)


def _by(gap: float) -> str:
    return f"better by {gap:.3g}" if gap >= 0 else f"worse by {-gap:.3g}"


def reproduction_reason(
    decision: ReproductionDecision,
    claim: Claim,
    method: np.ndarray,
    interval: Interval,
    *,
    reached: int,
    chance: float,
    best_of_k: float | None,
) -> str:
    """Q1's reason: how many seeds reach the claim, where it lies against the interval, and luck."""
    f = ScoreFormat(method.tolist())
    mean_claim = claim.kind is ClaimKind.MEAN and claim.runs > 1
    what = (
        f"claimed mean of {claim.runs} runs, {f(claim.value)},"
        if mean_claim
        else (f"claimed {f(claim.value)}")
    )
    head = (
        f"The {what} is reached by {reached} of {method.size} seeds; the re-runs average "
        f"{f(stats.mean(method))} ± {f(stats.sd(method))} (sd)."
    )
    band = (
        f"the {interval.level:.0%} prediction interval [{f(interval.low)}, {f(interval.high)}] "
        + (f"for the mean of {claim.runs} new seeds" if mean_claim else "for one new seed")
    )
    luck = f"{with_article(percent(chance))} chance per {'set of runs' if mean_claim else 'seed'}"
    if best_of_k is not None and best_of_k > 1.5:
        luck += f"; it is what the best of ~{best_of_k:.0f} seeds gives"
    tail = {
        ReproductionDecision.REPRODUCED: f"It lies inside {band}: it reproduces.",
        ReproductionDecision.OPTIMISTIC: f"It lies inside {band}, but only a lucky seed reaches "
        f"it ({luck}).",
        ReproductionDecision.NOT_REPRODUCED: f"It lies outside {band}, on the flattering side "
        f"({luck}): it does not reproduce.",
        ReproductionDecision.EXCEEDED: f"The re-runs do significantly better than claimed: the "
        f"claim lies outside {band}, on the modest side.",
    }[decision]
    return f"{head} {tail}"


def improvement_reason(imp: Improvement, alpha: float) -> str:
    """Q2's reason, for the decision already made."""
    gap, p = imp.claimed_gap, imp.p_value
    needed = (
        f" {imp.seeds_needed} seeds per arm would settle it."
        if imp.seeds_needed
        else " Even thousands of seeds per arm would hardly settle it."
    )
    if gap <= 0:
        return (
            f"The paper's baseline number is not worse than its claim (claimed gap {gap:+.3g}), "
            "so there is no improvement to test; check the direction."
        )
    if imp.seed_luck is not None:
        luck = (
            f"two runs of the same code differ by that much {percent(imp.seed_luck)} of the time"
            + ("" if p == imp.seed_luck else f" (Holm-adjusted p = {p:.2g})")
        )
        if imp.decision is ImprovementDecision.HOLDS:
            return (
                f"The claimed {gap:+.3g} gain over the baseline clears seed noise: {luck}. "
                "The baseline was not re-run, so this checks the paper's gap, not its number; "
                "an unlucky or diverged baseline run would fake such a gap too."
            )
        return (
            f"The claimed {gap:+.3g} gain over the baseline is within seed noise: {luck}." + needed
        )
    assert imp.observed_gap is not None and imp.gap_interval is not None
    observed = (
        f"the method is {_by(imp.observed_gap)} on average ({imp.gap_interval.level:.0%} interval "
        f"{imp.gap_interval.low:+.3g} to {imp.gap_interval.high:+.3g})"
    )
    if imp.decision is ImprovementDecision.HOLDS:
        fits = (
            f"The claimed gap of {gap:+.3g} is consistent with it."
            if imp.consistent_with_claim
            else f"The claimed gap of {gap:+.3g} lies outside that interval."
        )
        return (
            f"The improvement holds: {observed}, and Welch's one-sided test gives p = {p:.2g} "
            f"<= {alpha:g}. {fits}"
        )
    if imp.decision is ImprovementDecision.REVERSED:
        return f"The improvement is reversed: {observed}; the baseline is significantly better."
    power = f"{imp.power:.0%}" if imp.power is not None else "unknown"
    if imp.decision is ImprovementDecision.WITHIN_NOISE:
        return (
            f"The claimed {gap:+.3g} gain is within seed noise: {observed}, Welch p = {p:.2g}; "
            f"the audit had {power} power to detect a gain that large, so it would very likely "
            "have shown."
        )
    return (
        f"No significant gain: {observed}, Welch p = {p:.2g}. But the audit had only {power} "
        f"power to detect the claimed {gap:+.3g}, and absence of evidence is not evidence of "
        "absence." + needed
    )


def floor_note(floor: float, alpha: float, n: int, m: int) -> str:
    """Why a rank test shows no p-value: with these arm sizes it cannot reach alpha at all."""
    return (
        f"cannot reach p <= {alpha:g} with {n} and {m} seeds (the smallest possible p is "
        f"{floor:.3g}), so no p-value is shown"
    )


def disagreement_note(
    p_welch: float, p_rank: float | None, alpha: float, method: np.ndarray, baseline: np.ndarray
) -> str | None:
    """A note when the mean-based and the rank-based test disagree at alpha (oriented scores)."""
    if p_rank is None or (p_welch <= alpha) == (p_rank <= alpha):
        return None
    median_gap = float(np.median(method) - np.median(baseline))
    mean_gap = float(method.mean() - baseline.mean())
    return (
        f"The mean-based test (Welch, p = {p_welch:.2g}) and the rank-based test "
        f"(Mann-Whitney, p = {p_rank:.2g}) disagree: the method's median is {_by(median_gap)} "
        f"while its mean is {_by(mean_gap)}. Diverged or outlying runs usually explain this; "
        "look at the seeds before trusting either."
    )


def _claim_sentences(result: ClaimResult) -> list[str]:
    sentences = [result.reproduction.reason]
    if result.improvement is not None:
        sentences.append(result.improvement.reason)
        sentences.extend(n for n in result.improvement.notes if "Holm" not in n)
    for arm in result.arms:
        if arm.outliers:
            sentences.append(
                f"{len(arm.outliers)} of {arm.n} {arm.arm} seeds are robust outliers "
                f"(|modified z| > 3.5, e.g. diverged runs); the {arm.arm} median is "
                f"{arm.median:.4g} against a mean of {arm.mean:.4g}."
            )
        if arm.n_failed:
            sentences.append(
                f"{arm.n_failed} {arm.arm} seed(s) failed and are not counted in the statistics."
            )
    method = next((a for a in result.arms if a.arm == Arm.METHOD), None)
    if result.repeat_sd is not None and method is not None:
        sentences.append(
            f"Re-running one seed spreads by sd {result.repeat_sd:.3g} from nondeterminism alone, "
            f"against {method.sd:.3g} from seed to seed."
        )
    return sentences


def paragraph(results: Sequence[ClaimResult], alpha: float) -> str:
    """One paragraph of plain words covering every claim."""
    several = len(results) > 1
    parts = []
    for result in results:
        text = " ".join(_claim_sentences(result))
        parts.append(f"{result.claim.metric}: {text}" if several else text)
    if several and any(r.improvement and r.improvement.p_value is not None for r in results):
        parts.append(f"Improvement p-values are Holm-adjusted across claims at alpha = {alpha:g}.")
    return " ".join(parts)


def error_paragraph(runs: Sequence[RunResult]) -> str:
    """The paragraph of an audit in which no method seed finished: the most common cause (what the
    runs' own output ended with), and the likely fix when every seed failed on the same import."""
    method = [r for r in runs if r.key.arm == Arm.METHOD and r.key.repeat == 0]
    causes = Counter(r.cause or r.reason or r.status.value for r in method if not r.ok)
    common = ""
    if causes:
        cause, count = causes.most_common(1)[0]
        every = "Every seed" if count == len(method) else f"{count} of {len(method)} seeds"
        common = f" {every} failed with: {cause}."
        if count == len(method):
            common += import_fix(cause)
    baseline_ok = sum(1 for r in runs if r.key.arm == Arm.BASELINE and r.ok)
    extra = f" ({baseline_ok} baseline seeds did finish.)" if baseline_ok else ""
    return (
        f"No method seed finished successfully ({len(method)} tried), so there is nothing to "
        f"judge; read the failed runs' logs.{common}{extra}"
    )


def import_fix(cause: str) -> str:
    """The likely fix for a run that failed on an import (" The code needs ..."), else ""."""
    missing = re.match(r"ModuleNotFoundError: No module named '([\w.]+)'", cause)
    if missing:
        module = missing[1].split(".")[0]
        return (
            f" The code imports {module!r}, which its environment lacks: add the package that "
            f"provides it to the repository's requirements or to [run] setup (e.g. setup = "
            f'"pip install {module}"), with environment = "venv" so the seeds run in the '
            "environment built from them."
        )
    if cause.startswith("ImportError:"):
        return (
            " An installed package does not have what the code imports, usually a version newer "
            "or older than the one the code was written for: pin that version in the "
            'repository\'s requirements or in [run] setup, with environment = "venv".'
        )
    return ""
