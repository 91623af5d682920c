"""Plain words for the verdict: each decision's reason and the one paragraph a reviewer pastes.

Kept apart from ``verdict.py`` so the rules read on one screen there; nothing here decides.
Gaps are oriented (positive = the method is better), so the words never depend on direction.
Every number goes through ``formatting`` (ScoreFormat, percent, ...), which never overflows.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from decimal import Decimal

import numpy as np

from repaudit import stats
from repaudit.formatting import ScoreFormat, chance_phrase, p_value, percent
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
    SeedReach,
)
from repaudit.power import TARGET_POWER

SEED_OVERRIDE_FIX = "re-run with seed_override = true so that the seeds take effect"


def _ratio(claimed: float, observed: float) -> str:
    return f"{claimed / observed:.2g}×" if observed > 0 and claimed / observed < 1e6 else ""


def _p(p: float | None) -> str:
    """ "p = 0.036", "p < 0.0001"."""
    text = p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def printed_decimals(claim: Claim, value: float) -> int:
    """The decimals the paper printed its numbers with: the claim's, else the value's repr's."""
    if claim.decimals is not None:
        return claim.decimals
    exponent = Decimal(repr(value)).as_tuple().exponent
    return -exponent if isinstance(exponent, int) else 0


def claim_format(claim: Claim, values: Iterable[float]) -> ScoreFormat:
    """The format of a claim's scores that shows the claim as the paper printed it."""
    return ScoreFormat(values, printed=printed_decimals(claim, claim.value))


# ---------------------------------------------------------------- Q1


class Q1Words:
    """The reasons of one Q1 decision: the method's claimed number, or the paper's baseline."""

    def __init__(self, claim: Claim, arm: Arm, value: float, scores: np.ndarray) -> None:
        self.claim, self.arm, self.value, self.scores = claim, arm, value, scores
        self.f = ScoreFormat(scores, printed=printed_decimals(claim, value))
        self.mean_claim = claim.kind is ClaimKind.MEAN and claim.runs > 1
        if arm == Arm.METHOD:
            self.what = (
                f"claimed mean of {claim.runs} runs, {self.f(value)},"
                if self.mean_claim
                else f"claimed {self.f(value)}"
            )
        else:
            self.what = f"paper's baseline number, {self.f(value)},"

    def too_few(self) -> str:
        return (
            f"Only {self.scores.size} {self.arm} seed(s) succeeded; at least 3 are needed to "
            f"judge the {self.what.rstrip(',')}."
        )

    def identical(self, reach: SeedReach) -> str:
        head = f"All {self.scores.size} {self.arm} seeds scored exactly {self.f(self.scores[0])}"
        if reach is SeedReach.NEVER_REACHED:
            return (
                f"{head}, and the seed never reached the {self.arm} code: every seeding call it "
                "made used the same fixed value (a hard-coded seed), so this measures one seed, "
                f"not seed variance; {SEED_OVERRIDE_FIX}."
            )
        subject = "claim" if self.arm == Arm.METHOD else "paper's baseline number"
        return (
            f"{head}. Either the seed never reaches the code (then {SEED_OVERRIDE_FIX}) or the "
            "result does not depend on the seed; no record of the code's seeding calls says "
            f"which (`repaudit check` records them), so the {subject} cannot be judged."
        )

    def exact(self, decision: ReproductionDecision, tolerance: float) -> str:
        rerun = self.f(self.scores[0])
        head = (
            f"All {self.scores.size} {self.arm} seeds scored exactly {rerun} and the seed reached "
            "the code: the result is seed-invariant, so the "
            f"{self.what.rstrip(',')} is compared with it at the paper's printed precision "
            f"(±{tolerance:.3g})"
        )
        tail = {
            ReproductionDecision.REPRODUCED: "it matches.",
            ReproductionDecision.NOT_REPRODUCED: f"the code gives {rerun}: it does not reproduce.",
            ReproductionDecision.BASELINE_UNDERSTATED: f"the code gives {rerun}: the paper's "
            "baseline is understated, which inflates the claimed gain.",
            ReproductionDecision.EXCEEDED: f"the code gives {rerun}, "
            + (
                "better than claimed."
                if self.arm == Arm.METHOD
                else "weaker than the paper's "
                "baseline, which shrinks the claimed gain rather than inflating it."
            ),
        }[decision]
        return f"{head}: {tail}"

    def interval(
        self,
        decision: ReproductionDecision,
        interval: Interval,
        *,
        chance: float,
        best_of_k: float | None,
    ) -> str:
        f, n = self.f, self.scores.size
        if self.arm == Arm.METHOD:
            reached = int(np.sum(self._oriented() >= 0))
            head = (
                f"The {self.what} is reached by {reached} of {n} seeds; the re-runs average "
                f"{f(stats.mean(self.scores))} ± {f(stats.sd(self.scores))} (sd)."
            )
        else:
            below = int(np.sum(self._oriented() >= 0))
            head = (
                f"The {self.what} is matched or undercut by {below} of {n} baseline seeds; the "
                f"baseline re-runs average {f(stats.mean(self.scores))} ± "
                f"{f(stats.sd(self.scores))} (sd)."
            )
        band = f"the {interval.level:.0%} prediction interval {f.span(interval)} " + (
            f"for the mean of {self.claim.runs} new seeds"
            if self.mean_claim
            else "for one new seed"
        )
        unit = "set of runs" if self.mean_claim else "seed"
        luck = f"{chance_phrase(chance)} per {unit}"
        if best_of_k is not None and best_of_k > 1.5:
            luck += f"; the best of ~{best_of_k:.0f} seeds reaches it half the time"
        if self.arm == Arm.METHOD:
            tail = {
                ReproductionDecision.REPRODUCED: f"It lies inside {band}: it reproduces.",
                ReproductionDecision.OPTIMISTIC: f"It lies inside {band}, but only a lucky seed "
                f"reaches it ({luck}).",
                ReproductionDecision.NOT_REPRODUCED: f"It lies outside {band}, on the flattering "
                f"side ({luck}): it does not reproduce.",
                ReproductionDecision.EXCEEDED: "The re-runs do significantly better than "
                f"claimed: the claim lies outside {band}, on the modest side.",
            }[decision]
        else:
            low = f"{chance_phrase(chance)} per baseline seed of scoring that badly"
            tail = {
                ReproductionDecision.REPRODUCED: f"It lies inside {band}: it reproduces.",
                ReproductionDecision.OPTIMISTIC: (
                    f"It lies inside {band}, but only an unlucky baseline seed scores that badly "
                    f"({low})."
                    if interval.low <= self.value <= interval.high
                    else f"It lies outside {band}, on the weak side, but some baseline re-runs "
                    "diverged that far too, so only an unlucky (diverged) baseline run scores "
                    "that badly: it is not ruled out."
                ),
                ReproductionDecision.BASELINE_UNDERSTATED: f"It lies outside {band}, on the "
                f"weak side ({low}): the paper's baseline is understated, which inflates the "
                "claimed gain.",
                ReproductionDecision.EXCEEDED: f"It lies outside {band}, on the strong side: "
                "the paper's baseline is better than its code gives here, which shrinks the "
                "claimed gain rather than inflating it.",
            }[decision]
        return f"{head} {tail}"

    def _oriented(self) -> np.ndarray:
        """Positive where a seed is at least as flattering as the paper's number."""
        flip = 1.0 if self.claim.direction.value == "higher" else -1.0
        if self.arm == Arm.BASELINE:
            flip = -flip
        return flip * (self.scores - self.value)


# ---------------------------------------------------------------- Q2


class Q2Words:
    """The reasons of one Q2 decision (oriented scores: positive gaps favour the method)."""

    def __init__(
        self, claim: Claim, gap: float, method: np.ndarray, baseline: np.ndarray | None
    ) -> None:
        self.claim, self.gap, self.method, self.baseline = claim, gap, method, baseline
        # Gaps are read at the precision of the seed spread: the baseline's when every method
        # seed scored the same (a seed-invariant method), else the method's.
        constant = method.size > 1 and stats.sd(method) == 0
        spread = baseline if baseline is not None and constant else method
        self.f = ScoreFormat(spread, printed=printed_decimals(claim, claim.value))
        runs = claim.runs if claim.kind is ClaimKind.MEAN else 1
        self.runs = runs
        """Runs behind each of the paper's numbers."""
        self.paper_way = (
            "one run of the method against the re-run baseline mean"
            if claim.baseline is None
            else ("one run per arm" if runs == 1 else f"a mean of {runs} runs per arm")
        )

    def too_few(self) -> str:
        counts = f"{self.method.size} method" + (
            "" if self.baseline is None else f", {self.baseline.size} baseline"
        )
        return f"Too few successful seeds to test the improvement ({counts}; at least 3 each)."

    def identical(self, arm: Arm, reach: SeedReach | None) -> str:
        values = self.method if arm == Arm.METHOD else self.baseline
        assert values is not None
        head = f"Every {arm} seed scored exactly {self.f(values[0])}"
        if reach is SeedReach.NEVER_REACHED:
            return (
                f"{head}, and the seed never reached the {arm} code (every seeding call used the "
                f"same fixed value), so the {arm}'s seed variance is unmeasured and the gap "
                f"cannot be tested; {SEED_OVERRIDE_FIX}."
            )
        return (
            f"{head}: either the seed never reaches the {arm} code (then {SEED_OVERRIDE_FIX}) or "
            "its result does not depend on the seed. Nothing recorded says which (`repaudit "
            "check` records the seeding calls), so the gap cannot be tested; a constant arm is "
            "not treated as a known exact number."
        )

    def no_baseline_runs(self) -> str:
        if self.gap <= 0:
            return (
                f"No gain is claimed (the claimed gap is {self.f.signed(self.gap)}), and without "
                "baseline runs its size cannot be checked: re-run the baseline arm."
            )
        return (
            "Every method seed scored the same, so the method's result is seed-invariant; "
            "whether the paper's baseline run was a lucky or unlucky one cannot be told without "
            "its runs: re-run the baseline arm to test the gap."
        )

    def ranks_disagree(
        self, diverged: Sequence[str], p_welch: float, ranks: stats.MannWhitney, gain: bool
    ) -> str:
        side = "the method is better" if gain else "the baseline is better"
        p_rank = ranks.p_greater if gain else ranks.p_less
        arms = " and ".join(diverged)
        return (
            f"The {arms} arm has diverged runs, and Welch's test ({_p(p_welch)}) and the "
            f"exact rank test (Mann-Whitney {_p(p_rank)}) disagree on whether {side}: a "
            "collapsed run moves an arm's mean but not its typical run, so the decision waits "
            "for more seeds."
        )

    def pairs_reach(self, diverged: Sequence[str], p_size: float, pairs: float) -> str:
        arms = " and ".join(diverged)
        return (
            f"The {arms} arm has diverged runs: the size test rejects the claimed gap "
            f"({_p(p_size)}), but {percent(pairs)} of the gaps between single runs of the two "
            "arms (the paper's included) reach it, so the claimed size is not ruled out."
        )

    def exact(self, imp: Improvement, tolerance: float) -> str:
        assert imp.observed_gap is not None
        f = self.f
        head = (
            f"Both arms are seed-invariant (every seed of each scored the same, and the seed "
            f"reached the code), so the gap is exact: {f.signed(imp.observed_gap)}, against the "
            f"claimed {f.signed(self.gap)} read at the paper's printed precision "
            f"(±{tolerance:.3g})."
        )
        tail = {
            ImprovementDecision.HOLDS: "It holds.",
            ImprovementDecision.OVERSTATED: "The claimed gap is larger than the code gives.",
            ImprovementDecision.WITHIN_NOISE: "The code gives no gain at all.",
            ImprovementDecision.REVERSED: "The baseline does better.",
            ImprovementDecision.INCONCLUSIVE: "The claimed gain is within the paper's rounding "
            "of no gain.",
        }[imp.decision]
        return f"{head} {tail}"

    def decided(self, imp: Improvement) -> str:
        """The reason once the tests have decided (seed luck, or the two one-sided tests)."""
        if imp.seed_luck is not None:
            return self._luck(imp)
        assert imp.observed_gap is not None and imp.gap_interval is not None
        assert imp.gain_test is not None and imp.size_test is not None
        assert imp.paper_gap_bound is not None and imp.reverse_test is not None
        f, gap = self.f, self.gap
        shows = (
            f"the re-runs show {f.signed(imp.observed_gap)} {f.span(imp.gap_interval, signed=True)} "
            f"({imp.gap_interval.level:.0%} interval of the mean gap)"
        )
        ratio = _ratio(gap, imp.observed_gap)
        size_level = imp.size_test.level or 0.05
        bound = (
            f"from this code, a gap measured the paper's way ({self.paper_way}) stays below "
            f"{f.signed(imp.paper_gap_bound)} {1 - size_level:.0%} of the time"
        )
        welch = f"Welch {_p(imp.gain_test.p_value)}"
        size_p = f"size test {_p(imp.size_test.p_value)}"
        claimed = f"the claimed {f.signed(gap)}" + (f" is {ratio} that" if ratio else "")
        if gap <= 0:
            if imp.decision is ImprovementDecision.OVERSTATED:
                return (
                    f"No gain is claimed (a parity claim), but the method falls short of even "
                    f"that: {shows}; {bound}, and the claimed {f.signed(gap)} lies above it "
                    f"({size_p})."
                )
            below = (
                f" The mean gap is below the claimed {f.signed(gap)} (the whole interval lies "
                "below it): the claim holds as one gap measured the paper's way could show it, "
                "not as this code's average."
                if imp.gap_interval.high < gap
                else ""
            )
            return (
                f"No gain is claimed (a parity claim, so only its size is tested): {shows}; "
                f"{bound}, and the claimed {f.signed(gap)} is within that ({size_p}).{below}"
            )
        reason = {
            ImprovementDecision.HOLDS: f"The gain holds: {shows}, above 0 ({welch}); {claimed}, "
            f"and {bound}, so the claimed size is consistent with the re-runs ({size_p}).",
            ImprovementDecision.OVERSTATED: f"The gain is real but smaller than claimed: {shows}, "
            f"above 0 ({welch}); {claimed}, and {bound} ({size_p}).",
            ImprovementDecision.WITHIN_NOISE: f"No demonstrable gain, and the claimed size is "
            f"ruled out: {shows}, which includes 0 ({welch}); {bound}, and the claimed "
            f"{f.signed(gap)} lies above it ({size_p}).",
            ImprovementDecision.REVERSED: f"The baseline does better: {shows} (Welch "
            f"{_p(imp.reverse_test.p_value)} that the baseline is better).",
            ImprovementDecision.INCONCLUSIVE: f"Too few seeds to tell: {shows}, which includes "
            f"0 ({welch}), and the claimed {f.signed(gap)} is within what a gap measured the "
            f"paper's way reaches ({size_p}).{self._seeds(imp, self._sizes())}",
        }[imp.decision]
        return reason

    def _luck(self, imp: Improvement) -> str:
        assert imp.seed_luck is not None and imp.gain_test is not None
        p, level = imp.gain_test.p_value, imp.gain_test.level
        assert p is not None and level is not None
        gap = self.f.signed(self.gap)
        luck = (
            f"two runs of the same code differ by that much {percent(imp.seed_luck)} of the "
            f"time, {percent(p)} of the comparisons that come out positive (the ones papers "
            "publish)"
        )
        if imp.decision is ImprovementDecision.HOLDS:
            return (
                f"The claimed {gap} gain over the baseline clears seed noise: {luck}, at most "
                f"{level:.2g}. The baseline was not re-run, so this checks the paper's gap, not "
                "its number; an unlucky or diverged baseline run would fake such a gap too."
            )
        n = self.method.size
        if self.runs == 1:
            # The exact check's floor: its share of ordered pairs of the n + 2 runs is at least
            # 1/((n+2)(n+1)), doubled for the selection; below `enough` seeds no gap passes.
            floor = float(stats.published_chance(1 / ((n + 2) * (n + 1))))
            enough = next(k for k in itertools.count(n) if 2 / ((k + 2) * (k + 1)) <= level)
            if floor > level:
                return (
                    f"With {n} method seeds no gap can be told from seed luck without baseline "
                    f"runs: the check that holds for any score distribution (how often two of "
                    f"the {n + 2} runs, the paper's two included, differ by that much) cannot go "
                    f"below {percent(floor)} of the positive comparisons, above {level:.2g}; "
                    f"{enough} method seeds could pass it. Re-run the baseline arm to settle it"
                    f"{self._seeds(imp, None)}"
                )
        return (
            f"A gap of {gap} between the paper's runs is what seed luck alone gives: {luck}. "
            f"Re-run the baseline arm to settle it{self._seeds(imp, None)}"
        )

    def _sizes(self) -> tuple[int, int]:
        assert self.baseline is not None
        return self.method.size, self.baseline.size

    @staticmethod
    def _seeds(imp: Improvement, sizes: tuple[int, int] | None) -> str:
        """How many seeds would settle it; ``sizes`` None: no baseline runs yet."""
        if imp.seeds_needed is None:
            return ("." if sizes is None else "") + (
                " Even thousands of seeds per arm would hardly settle it."
            )
        low, high = imp.seeds_needed_low, imp.seeds_needed_high
        spread = (
            f" ({low} to {high if high is not None else 'thousands'}, given how uncertain the "
            "seed sd is from these seeds)"
            if (low, high) != (imp.seeds_needed, imp.seeds_needed)
            else ""
        )
        if sizes is None:
            return (
                f": with about {imp.seeds_needed} seeds per arm{spread} the audit has an 80% "
                "chance to settle it, were the claim true."
            )
        had = f" This audit had {chance_phrase(imp.power or 0.0)} to settle it, were the claim true"
        if (imp.power or 0.0) >= TARGET_POWER:
            return (
                f"{had}; that it did not hints the gain is smaller than claimed, but one gap "
                "measured the paper's way can be this large by chance. More seeds would show "
                "whether there is any gain at all."
            )
        return f"{had}; about {imp.seeds_needed} seeds per arm{spread} would give an 80% chance."


def floor_note(floor: float, alpha: float, n: int, m: int) -> str:
    return (
        f"cannot reach p <= {alpha:.2g} with {n} and {m} seeds (the smallest possible p is "
        f"{floor:.3g}), so no p-value is shown"
    )


def disagreement_note(
    p_welch: float | None,
    p_rank: float | None,
    alpha: float,
    method: np.ndarray,
    baseline: np.ndarray,
) -> str | None:
    """A note when the mean-based and the rank-based test disagree at alpha (oriented scores)."""
    if p_welch is None or p_rank is None or (p_welch <= alpha) == (p_rank <= alpha):
        return None
    f = ScoreFormat(method)
    median_gap = float(np.median(method) - np.median(baseline))
    mean_gap = stats.mean(method) - stats.mean(baseline)
    return (
        f"The mean-based test (Welch, {_p(p_welch)}) and the rank-based test "
        f"(Mann-Whitney, {_p(p_rank)}) disagree: the median gap is {f.signed(median_gap)} "
        f"while the mean gap is {f.signed(mean_gap)}. Diverged or outlying runs usually explain "
        "this; look at the seeds before trusting either."
    )


# ---------------------------------------------------------------- the paragraph


def _claim_sentences(result: ClaimResult) -> list[str]:
    sentences = [result.reproduction.reason]
    if result.baseline_reproduction is not None:
        sentences.append(result.baseline_reproduction.reason)
    if result.improvement is not None:
        sentences.append(result.improvement.reason)
        sentences.extend(result.improvement.notes)
    method = next((a for a in result.arms if a.arm == Arm.METHOD), None)
    f = ScoreFormat(np.asarray(method.values if method else (), dtype=float))
    for arm in result.arms:
        if arm.outliers:
            sentences.append(
                f"{len(arm.outliers)} of {arm.n} {arm.arm} seeds are far below the rest "
                f"(diverged runs, robust z > 8); the {arm.arm} median is {f(arm.median)} against "
                f"a mean of {f(arm.mean)}."
            )
        if arm.seed_reach is SeedReach.NEVER_REACHED and arm.sd > 0:
            sentences.append(
                f"The seed never reached the {arm.arm} code (every seeding call used the same "
                f"fixed value), so its spread is nondeterminism alone, not seed variance; "
                f"{SEED_OVERRIDE_FIX}."
            )
        if arm.n_failed:
            sentences.append(
                f"{arm.n_failed} of {arm.n + arm.n_failed} {arm.arm} seeds failed and are not "
                "counted in the statistics: if training itself went wrong in them, the "
                "statistics describe only the runs that survived."
            )
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
    tested = [
        r
        for r in results
        if r.improvement and r.improvement.gain_test and r.improvement.gain_test.p_value is not None
    ]
    if len(tested) > 1:
        parts.append(
            f"The improvement tests use Holm's levels across the {len(tested)} claims "
            f"(alpha = {alpha:g})."
        )
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
