"""Adaptive seeds (``--seeds auto``) side by side with a fixed number of seeds, by simulation.

    nice python benchmarks/adaptive.py            # the tables in docs/statistics.md
    nice python benchmarks/adaptive.py --quick    # a tenth of the replicates

Each simulated audit runs both ways on the same scores: fixed-N, every rule at alpha on all
``--max-seeds`` (20) seeds per arm; adaptive, looks at 3, 5, 8, 12, 20 seeds per arm with the
calibrated boundaries and the stopping rule of ``repaudit/sequential.py``. Two parts:

- *Wrong calls under their nulls*: a false gain (`holds`/`overstated`) when the true gap is 0 (or
  below), a false `reversed`, a false `overstated`/`within-noise`, `not-reproduced` or
  `baseline-understated` when the paper's numbers are honest runs of the same code (single runs,
  or means of 5), and a false `holds` without baseline runs on published positive gaps; on normal
  scores, unequal sds (4 to 1), Laplace, Student t(3), skewed and one-arm-diverged scores.
- *Realistic audits*: seed sd 0.25, 0.5, 1 point; claimed gap 0.5, 1, 2 points (the paper's
  baseline number is its baseline's typical run, its method number that plus the claimed gap);
  true gap 0, half the claim, the claim; normal, t(3) and one-arm-diverged scores (the baseline
  collapses, 10% of its runs 10 sds below its body): the verdicts both ways, the power of `holds`
  for true claims, and the seeds per arm each way (mean and 90th percentile).

Replicates are numpy arrays run through the very functions an audit uses (stats' vectorised
tests, rules.gap_decision / reproduction_decision / robust, sequential's boundaries, predictive
chances and stop rule); a cross-check at the end runs verdict.evaluate and stopping.assess
themselves, look by look, on a few hundred audits and counts those whose stop or verdict differ.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from repaudit import rules, sequential, stats, stopping, verdict  # noqa: E402
from repaudit.model import (  # noqa: E402
    Arm,
    ArmSpec,
    AuditSpec,
    Claim,
    ClaimKind,
    RunKey,
    RunResult,
    RunStatus,
    SequentialTest,
    StopReason,
)
from repaudit.spec import schedule  # noqa: E402

ALPHA = 0.05
MAX_SEEDS = 20
LOOKS = schedule(MAX_SEEDS)
SEED = 20261202
T = SequentialTest
Sampler = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def laplace(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.laplace(0, 1 / np.sqrt(2), shape)


def student3(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Student t with 3 degrees of freedom, scaled to sd 1: heavier tails than Laplace."""
    return rng.standard_t(3, shape) / np.sqrt(3)


def skewed(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Left-skewed (a reflected gamma(2)), mean 0, sd 1."""
    return -(rng.gamma(2.0, 1.0, shape) - 2.0) / np.sqrt(2.0)


def scaled(body: Sampler, factor: float) -> Sampler:
    return lambda rng, shape: factor * body(rng, shape)


def collapsing(body: Sampler) -> Sampler:
    """``body`` with 10% of the runs collapsed 10 body sds below it."""

    def draw(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        collapsed = rng.random(shape) < 0.1
        return np.where(collapsed, -10.0 + 0.5 * rng.standard_normal(shape), body(rng, shape))

    return draw


# ---------------------------------------------------------------- one look, vectorised


@dataclass(frozen=True)
class Paper:
    """The paper's numbers per replicate (oriented) and what they are."""

    method: np.ndarray
    baseline: np.ndarray | None
    runs: int = 1


def rank_p(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-sided Mann-Whitney p per row, as stats.mann_whitney gives it (continuous scores)."""
    if not a.shape[0]:
        return np.ones(0), np.ones(0)
    greater = sps.mannwhitneyu(a, b, axis=-1, alternative="greater").pvalue
    less = sps.mannwhitneyu(a, b, axis=-1, alternative="less").pvalue
    return greater, less


_GAP_TABLE = np.array([[[[rules.gap_decision(gain=bool(g), size=bool(s), reverse=bool(r),
                                              claimed_gain=bool(c)).value
                         for c in (0, 1)] for r in (0, 1)] for s in (0, 1)] for g in (0, 1)])  # fmt: skip
FAILING = {d.value for d in verdict.FAILING}


Levels = dict[SequentialTest, float]


def look(x: np.ndarray, y: np.ndarray | None, paper: Paper, levels: Levels, finals: Levels) -> dict:
    """Every deciding test of one look (oriented scores (R, n)) at ``levels`` (one-sided; Q1's
    per side) with the guards of rules.robust, the decisions and the overall verdict; and each
    test's state for the stop rule, from its chance to cross ``finals`` (the last boundaries)."""
    n, runs = x.shape[-1], paper.runs
    out: dict[str, np.ndarray] = {}
    distance = stats.claim_distance(x, paper.method, runs=runs)
    out["claim"] = sps.t.sf(distance, n - 1) <= levels[T.CLAIM]
    exceeded = sps.t.cdf(distance, n - 1) <= levels[T.CLAIM]
    fails = out["claim"].copy()
    inconclusive = np.zeros(x.shape[0], dtype=bool)
    if y is not None and paper.baseline is not None:
        d_b = stats.claim_distance(-y, -paper.baseline, runs=runs)
        diverged_b = stats.diverged_mask(y).any(axis=-1)
        free = stats.exceedance(-y, -paper.baseline)
        out["baseline-claim"] = rules.robust(
            sps.t.sf(d_b, n - 1) <= levels[T.BASELINE_CLAIM],
            diverged_b,
            free,
            levels[T.BASELINE_CLAIM],
        )
        fails |= out["baseline-claim"]
    if y is None:
        claimed = paper.method - paper.baseline
        luck = stats.seed_luck(x, claimed, runs=runs)
        if runs == 1:
            luck = np.maximum(luck, stats.luck_exceedance(x, paper.method, paper.baseline))
        out["seed-luck"] = (claimed > 0) & (stats.published_chance(luck) <= levels[T.SEED_LUCK])
        out["q2"] = np.where(out["seed-luck"], "holds", "inconclusive")
        inconclusive |= ~out["seed-luck"]
        chance = sequential.luck_chance(claimed, stats.moments(x)[1], n, LOOKS[-1],
                                        finals[T.SEED_LUCK], runs=runs)  # fmt: skip
        if runs == 1:
            floor = sequential.luck_floor(x, paper.method, paper.baseline, LOOKS[-1])
            chance = chance * (stats.published_chance(floor) <= finals[T.SEED_LUCK])
        states = [
            sequential.state(out["claim"], np.where(exceeded, 0.0, claim_chance(x, paper, finals)))
        ]
        passing = [
            np.where(claimed > 0, sequential.state(out["seed-luck"], chance), sequential.DETERMINED)
        ]
        return finish(out, fails, inconclusive, states, passing)
    has_paper_b = paper.baseline is not None
    claimed = paper.method - (paper.baseline if has_paper_b else stats.moments(y)[0])
    tests = stats.gap_tests(x, y, claimed, runs=runs, paper_baseline=has_paper_b)
    gain = tests.p_gain <= levels[T.GAIN]
    size = tests.p_size <= levels[T.SIZE]
    reverse = tests.p_reverse <= levels[T.REVERSE]
    diverged = stats.diverged_mask(x).any(axis=-1) | stats.diverged_mask(y).any(axis=-1)
    need = diverged & (gain | reverse)
    greater, less = np.ones(x.shape[0]), np.ones(x.shape[0])
    greater[need], less[need] = rank_p(x[need], y[need])
    gain = rules.robust(gain, diverged, greater, levels[T.GAIN])
    reverse = rules.robust(reverse, diverged, less, levels[T.REVERSE])
    free = (stats.pair_exceedance(x, y, paper.method, paper.baseline) if has_paper_b
            else stats.exceedance(x, paper.method))  # fmt: skip
    size = rules.robust(size, diverged, free, levels[T.SIZE])
    claimed_gain = claimed > 0
    decision = _GAP_TABLE[tuple(v.astype(int) for v in (gain, size, reverse, claimed_gain))]
    out |= {"gain": gain, "size": size, "reverse": reverse, "q2": decision}
    fails |= np.isin(decision, list(FAILING))
    inconclusive |= decision == "inconclusive"
    (_, sd_m), (_, sd_b) = stats.moments(x), stats.moments(y)
    chances = sequential.gap_chances(tests.gap, claimed, sd_m, sd_b, n, n, LOOKS[-1],
                                     finals,
                                     runs=runs, paper_baseline=has_paper_b)  # fmt: skip
    states = [sequential.state(out["claim"], np.where(exceeded, 0.0, claim_chance(x, paper, finals))),
              sequential.state(size, chances[T.SIZE])]  # fmt: skip
    reverse_state = sequential.state(reverse, chances[T.REVERSE])
    states.append(np.where(claimed_gain, reverse_state, sequential.DETERMINED))
    if "baseline-claim" in out:
        numerator = stats.moments(y)[0] - paper.baseline
        chance_b = sequential.claim_chance(
            numerator, sd_b, n, LOOKS[-1], finals[T.BASELINE_CLAIM], runs=runs
        )
        exceeded_b = (
            sps.t.cdf(stats.claim_distance(-y, -paper.baseline, runs=runs), n - 1)
            <= levels[T.CLAIM]
        )
        states.append(sequential.state(out["baseline-claim"], np.where(exceeded_b, 0.0, chance_b)))
    passing = [
        np.where(claimed_gain, sequential.state(gain, chances[T.GAIN]), sequential.DETERMINED)
    ]
    return finish(out, fails, inconclusive, states, passing)


def claim_chance(x: np.ndarray, paper: Paper, finals: Levels) -> np.ndarray:
    mean_, sd_ = stats.moments(x)
    return sequential.claim_chance(paper.method - mean_, sd_, x.shape[-1], LOOKS[-1], finals[T.CLAIM],
                                   runs=paper.runs)  # fmt: skip


def finish(
    out: dict[str, np.ndarray],
    fails: np.ndarray,
    inconclusive: np.ndarray,
    failing: list[np.ndarray],
    passing: list[np.ndarray],
) -> dict[str, np.ndarray]:
    out["verdict"] = np.where(
        fails, "does-not-hold", np.where(inconclusive, "inconclusive", "holds")
    )
    out["failing"], out["passing"] = failing, passing  # type: ignore[assignment]
    return out


FIXED: Levels = {T.GAIN: ALPHA, T.REVERSE: ALPHA, T.SIZE: ALPHA, T.SEED_LUCK: ALPHA,
                 T.CLAIM: ALPHA / 2, T.BASELINE_CLAIM: ALPHA / 2}  # fmt: skip


def boundaries(runs: int, paper_baseline: bool) -> list[Levels]:
    """Each test's one-sided nominal level at each look (Q1's per side), as an audit gets them."""
    per_test = {test: sequential.boundaries(test, LOOKS, level, runs=runs, paper_baseline=paper_baseline)
                for test, level in FIXED.items()}  # fmt: skip
    return [{test: bounds[k] for test, bounds in per_test.items()} for k in range(len(LOOKS))]


def audit(x: np.ndarray, y: np.ndarray | None, paper: Paper) -> dict[str, dict[str, np.ndarray]]:
    """Fixed-N and adaptive on the same scores (R, MAX_SEEDS): each one's outcomes at its stop
    (fixed-N: all seeds), and the seeds per arm the adaptive audit ran."""
    per_look = boundaries(paper.runs, paper.baseline is not None)
    fixed = look(x, y, paper, FIXED, per_look[-1])
    rows = x.shape[0]
    result: dict[str, np.ndarray] = {}
    active = np.ones(rows, dtype=bool)
    for k, n in enumerate(LOOKS):
        outcome = look(x[:, :n], None if y is None else y[:, :n], paper, per_look[k], per_look[-1])
        stop = sequential.stop_reason(
            outcome.pop("failing"), outcome.pop("passing"), last=k == len(LOOKS) - 1
        )
        ending = active & (stop != StopReason.CONTINUE.value)
        for key, value in (*outcome.items(), ("stop", stop), ("seeds", np.full(rows, n))):
            # object arrays: the first look's strings must not fix the width of later ones
            result.setdefault(
                key, np.empty(rows, dtype=value.dtype if value.dtype.kind != "U" else object)
            )[ending] = value[ending]
        active &= ~ending
    return {"fixed": fixed, "adaptive": result}


# ---------------------------------------------------------------- the tables


def rate(hits: np.ndarray) -> str:
    """ "0.048 ± 0.002": a share with its Monte Carlo se ("–" for no replicates)."""
    if not hits.size:
        return "–"
    share = float(np.mean(hits))
    return f"{share:.3f} ± {np.sqrt(max(share * (1 - share), 1e-12) / hits.size):.3f}"


def bold_if_above(hits: np.ndarray, level: float = ALPHA) -> str:
    """The rate, bold when it exceeds ``level`` by more than two Monte Carlo se."""
    text = rate(hits)
    limit = level + 2 * np.sqrt(level * (1 - level) / max(hits.size, 1))
    return f"**{text}**" if hits.size and np.mean(hits) > limit else text


#: Nulls for the wrong calls: (label, method sampler, baseline sampler, true mean gap sign).
NULLS: list[tuple[str, Sampler, Sampler, int]] = [
    ("normal", normal, normal, 0),
    ("normal, method sd 4× the baseline's", scaled(normal, 4.0), normal, 0),
    ("Laplace", laplace, laplace, 0),
    ("Student t(3)", student3, student3, 0),
    ("skewed (left)", skewed, skewed, 0),
    ("method diverged (10% collapse), equal bodies", collapsing(normal), normal, -1),
]


def null_table(rng: np.random.Generator, sims: int) -> list[str]:
    lines = [
        "| call | scores | paper's numbers | fixed-N (20) | adaptive | adaptive seeds per arm, mean |",
        "|---|---|---|---:|---:|---:|",
    ]
    for label, method, base, sign in NULLS:
        for runs in (1, 5):
            kind = "single runs" if runs == 1 else "means of 5"
            x, y = method(rng, (sims, MAX_SEEDS)), base(rng, (sims, MAX_SEEDS))
            paper = Paper(
                method(rng, (sims, runs)).mean(axis=-1), base(rng, (sims, runs)).mean(axis=-1), runs
            )
            both = audit(x, y, paper)
            fixed, adaptive = both["fixed"], both["adaptive"]
            seeds = f"{adaptive['seeds'].mean():.1f}"
            calls = [
                ("false not-reproduced", "claim"),
                ("false baseline-understated", "baseline-claim"),
                ("false overstated/within-noise", "size"),
            ]
            if sign <= 0:
                calls.insert(0, ("false gain (holds/overstated)", "gain"))
            if sign >= 0:
                calls.insert(1, ("false reversed", "reverse"))
            for call, key in calls:
                lines.append(f"| {call} | {label} | honest {kind} | {bold_if_above(fixed[key])} | "
                             f"{bold_if_above(adaptive[key])} | {seeds} |")  # fmt: skip
            if sign <= 0:
                # No baseline arm: the seed-luck path, on the gaps a paper would publish.
                published = paper.method > paper.baseline
                luck = audit(
                    x[published],
                    None,
                    Paper(paper.method[published], paper.baseline[published], runs),
                )
                lines.append(f"| false holds without baseline runs | {label} | published {kind} | "
                             f"{bold_if_above(luck['fixed']['seed-luck'])} | "
                             f"{bold_if_above(luck['adaptive']['seed-luck'])} | "
                             f"{luck['adaptive']['seeds'].mean():.1f} |")  # fmt: skip
    return lines


GRID_SDS = (0.25, 0.5, 1.0)
GRID_GAPS = (0.5, 1.0, 2.0)
GRID_SCORES: list[tuple[str, Sampler, Sampler]] = [
    ("normal", normal, normal),
    ("Student t(3)", student3, student3),
    ("baseline diverged (10% collapse)", normal, collapsing(normal)),
]
TRUTHS = (("0 (no gain)", 0.0), ("half the claim", 0.5), ("the claim", 1.0))


@dataclass
class GridSummary:
    """Over every realistic audit: the seeds used, and the power of `holds` both ways."""

    seeds: list[np.ndarray] = field(default_factory=list)
    power: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per kind of scores: (fixed-N, adaptive) shares of `holds` for true claims."""
    scenarios: list[tuple[float, str, float, float]] = field(default_factory=list)
    """Per true-claim scenario: (power lost, scores, seed sd, claimed gap)."""


def shares(verdicts: np.ndarray) -> str:
    return " / ".join(
        f"{np.mean(verdicts == name):.3f}" for name in ("holds", "does-not-hold", "inconclusive")
    )


def grid_table(rng: np.random.Generator, sims: int) -> tuple[list[str], GridSummary]:
    lines = [
        "| scores | true gap | fixed-N: holds / fails / inconclusive | adaptive: holds / fails / "
        "inconclusive | same verdict | seeds per arm, mean (p90) | seeds saved |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    summary = GridSummary()
    for label, method, base in GRID_SCORES:
        for truth, share in TRUTHS:
            fixed, adaptive, used = [], [], []
            for sd in GRID_SDS:
                for gap in GRID_GAPS:
                    x = share * gap + sd * method(rng, (sims, MAX_SEEDS))
                    y = sd * base(rng, (sims, MAX_SEEDS))
                    both = audit(x, y, Paper(np.full(sims, gap), np.zeros(sims)))
                    fixed.append(both["fixed"]["verdict"])
                    adaptive.append(both["adaptive"]["verdict"])
                    used.append(both["adaptive"]["seeds"])
                    if share == 1.0:
                        lost = np.mean(fixed[-1] == "holds") - np.mean(adaptive[-1] == "holds")
                        summary.scenarios.append((float(lost), label, sd, gap))
            f, a, u = np.concatenate(fixed), np.concatenate(adaptive), np.concatenate(used)
            summary.seeds.append(u)
            if share == 1.0:
                summary.power[label] = (float(np.mean(f == "holds")), float(np.mean(a == "holds")))
            lines.append(f"| {label} | {truth} | {shares(f)} | {shares(a)} | {np.mean(f == a):.3f} | "
                         f"{u.mean():.1f} ({np.percentile(u, 90):.0f}) | {1 - u.mean() / MAX_SEEDS:.0%} |")  # fmt: skip
    return lines, summary


#: Scores the boundaries are checked on: (label, method sampler, baseline sampler).
FAMILY_SCORES: list[tuple[str, Sampler, Sampler]] = [
    ("normal", normal, normal),
    ("normal, sds 4 to 1", scaled(normal, 4.0), normal),
    ("normal, sds 10 to 1", scaled(normal, 10.0), normal),
    ("Laplace", laplace, laplace),
    ("Student t(3)", student3, student3),
    ("skewed (left)", skewed, skewed),
]


#: Each family checked: its name in the table, its test, its level.
FAMILIES = [
    ("gain (mirrored: reverse)", T.GAIN, ALPHA),
    ("size, single runs", T.SIZE, ALPHA),
    ("claimed number, one side", T.CLAIM, ALPHA / 2),
    ("seed luck, published single-run gaps", T.SEED_LUCK, ALPHA),
]


def family_p(test: SequentialTest, x: np.ndarray, y: np.ndarray, paper: Paper) -> np.ndarray:
    """The one-sided p-value of ``test`` on these seeds (its null: no gain, honest numbers)."""
    n = x.shape[-1]
    if test is T.GAIN:
        return stats.gap_tests(x, y, 0.0).p_gain
    if test is T.SIZE:
        return stats.gap_tests(x, y, paper.method - paper.baseline).p_size
    if test is T.CLAIM:
        return sps.t.sf(stats.claim_distance(x, paper.method), n - 1)
    # as the audit has it: the t-based chance, or the exact (conformal) check when that is larger
    high, low = np.maximum(paper.method, paper.baseline), np.minimum(paper.method, paper.baseline)
    luck = np.maximum(stats.seed_luck(x, high - low), stats.luck_exceedance(x, high, low))
    return stats.published_chance(luck)


def family_table(rng: np.random.Generator, sims: int) -> list[str]:
    """Each family's boundaries on their own: the chance to cross at ANY look under the null
    (no stopping for other reasons), against the fixed-N test's rate at the last look."""
    lines = ["| test | scores | fixed-N at 20 | crosses at any look | first crossing at look 1 / 2 / 3 / 4 / 5 |",
             "|---|---|---:|---:|---|"]  # fmt: skip
    for label, method, base in FAMILY_SCORES:
        x, y = method(rng, (sims, MAX_SEEDS)), base(rng, (sims, MAX_SEEDS))
        paper = Paper(method(rng, (sims,)), base(rng, (sims,)))
        for name, test, level in FAMILIES:
            bounds = sequential.boundaries(test, LOOKS, level)
            crossed = np.stack([family_p(test, x[:, :n], y[:, :n], paper) <= b
                                for n, b in zip(LOOKS, bounds, strict=True)], axis=-1)  # fmt: skip
            first = np.where(crossed.any(axis=-1), crossed.argmax(axis=-1), -1)
            per_look = " / ".join(f"{np.mean(first == k):.4f}" for k in range(len(LOOKS)))
            fixed = family_p(test, x, y, paper) <= level
            lines.append(f"| {name} (level {level:g}) | {label} | {bold_if_above(fixed, level)} | "
                         f"{bold_if_above(crossed.any(axis=-1), level)} | {per_look} |")  # fmt: skip
    return lines


# ---------------------------------------------------------------- the cross-check


def cross_check(rng: np.random.Generator, count: int) -> tuple[int, int]:
    """Audits run through verdict.evaluate and stopping.assess themselves, look by look, on
    the same scores as the vectorised path: (audits whose stop or verdict differ, audits)."""
    design = sequential.Design(LOOKS, ALPHA)
    differ = total = 0
    for with_baseline in (True, False):
        claim = Claim("acc", 1.0, baseline=0.0, kind=ClaimKind.SINGLE)
        arms = (ArmSpec(Arm.METHOD, "m {seed}"),) + (
            (ArmSpec(Arm.BASELINE, "b {seed}"),) if with_baseline else ()
        )
        spec = AuditSpec(
            claims=(claim,), arms=arms, seeds=tuple(range(1, MAX_SEEDS + 1)), looks=LOOKS
        )
        gaps = rng.choice([0.0, 0.5, 1.0], size=count)
        x = gaps[:, None] + rng.standard_normal((count, MAX_SEEDS))
        y = rng.standard_normal((count, MAX_SEEDS))
        vectorised = audit(
            x, y if with_baseline else None, Paper(np.full(count, 1.0), np.zeros(count))
        )["adaptive"]
        for i in range(count):
            runs = [RunResult(RunKey(arm, s + 1), RunStatus.OK, metrics={"acc": float(v[i, s])})
                    for arm, v in ((Arm.METHOD, x), (Arm.BASELINE, y)) if arm is Arm.METHOD or with_baseline
                    for s in range(MAX_SEEDS)]  # fmt: skip
            for k, n in enumerate(LOOKS):
                ran = [r for r in runs if r.key.seed <= n]
                results, outcome, _ = verdict.evaluate(spec, ran, design.nominal(k))
                finished = {a.name: sum(r.key.arm is a.name for r in ran) for a in spec.arms}
                step = stopping.assess(results, design, k, finished=finished, seconds=0.0)
                if step.stop is not StopReason.CONTINUE:
                    break
            total += 1
            differ += int(n != vectorised["seeds"][i] or outcome.value != vectorised["verdict"][i])
    return differ, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the replicates")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    rng = np.random.default_rng(SEED)
    start = time.process_time()
    print(f"Looks {', '.join(map(str, LOOKS))} seeds per arm; alpha = {ALPHA}; spending t^{sequential.SPENDING_POWER:g}; "
          f"futile below a {sequential.FUTILITY_CHANCE:.0%} predictive chance.")  # fmt: skip
    print("\n### Each test's boundaries under its null (no other stop)\n")
    print("\n".join(family_table(rng, 40_000 // scale)))
    print("\n### Wrong calls at the stop, fixed-N and adaptive on the same scores\n")
    print("\n".join(null_table(rng, 10_000 // scale)))
    print(
        "\n### Realistic audits (each row: seed sd 0.25, 0.5, 1 × claimed gap 0.5, 1, 2 points)\n"
    )
    lines, summary = grid_table(rng, 2_000 // scale)
    print("\n".join(lines))
    used = np.concatenate(summary.seeds)
    print(f"\nAll realistic audits: {used.mean():.1f} seeds per arm on average (90th percentile "
          f"{np.percentile(used, 90):.0f}) against {MAX_SEEDS}: {1 - used.mean() / MAX_SEEDS:.0%} fewer.")  # fmt: skip
    for label, (fixed, adaptive) in summary.power.items():
        print(f"Power of holds for true claims, {label}: fixed-N {fixed:.3f}, adaptive "
              f"{adaptive:.3f} ({100 * (adaptive - fixed):+.1f} points).")  # fmt: skip
    for lost, label, sd, gap in sorted(summary.scenarios, reverse=True)[:3]:
        print(f"Largest loss in one scenario: {100 * lost:.1f} points ({label}, seed sd {sd:g}, "
              f"claimed gap {gap:g}).")  # fmt: skip
    differ, total = cross_check(rng, 100 // scale)
    print(
        f"\nCross-check against verdict.evaluate + stopping.assess: {differ} of {total} audits differ."
    )
    print(f"{time.process_time() - start:.0f} s of CPU; numpy seed {SEED}.")


if __name__ == "__main__":
    main()
