"""Calibration by simulation: how often each repaudit rule fires when it should not, and when it should.

    python benchmarks/calibration.py            # the table committed in docs/statistics.md
    python benchmarks/calibration.py --quick    # a tenth of the simulations, for a smoke test

Simulated seed scores: normal, Laplace (heavy tails) and "skewed": a left-skewed body (negated,
standardised gamma(2)) where each run diverges with probability 0.1 to about 10 sds below. Gaps
are in units of the body's sd. Real pools: /work/shared/data/seed-scores (see its README and the
.source.txt files): A/A splits of one configuration for the null, two configurations for power.

The deciding rules are simulated vectorised with the same scipy calls as repaudit.verdict
(Mann-Whitney, evidence only, uses scipy's default where repaudit enumerates small tied samples
exactly; simulated scores have no ties); a
cross-check at the end runs verdict.evaluate_claim itself on a few hundred samples and reports how
many decisions differ (it must be 0). Takes about 2-3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as sps

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from repaudit import power, verdict  # noqa: E402
from repaudit.aso import ASO_THRESHOLD, aso  # noqa: E402
from repaudit.model import Claim, Direction  # noqa: E402
from repaudit.stats import probability_of_improvement  # noqa: E402

ALPHA = 0.05
NS = (3, 5, 10, 20, 50)
GAPS = (0.25, 0.5, 1.0, 2.0)
DISTS = ("normal", "laplace", "skewed")
POOLS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "seed-scores"
SEED = 20261125


def draw(dist: str, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Scores with body mean 0 and sd 1 (skewed: plus diverged runs)."""
    if dist == "normal":
        return rng.standard_normal(shape)
    if dist == "laplace":
        return rng.laplace(0, 1 / np.sqrt(2), shape)
    body = -(rng.gamma(2.0, 1.0, shape) - 2.0) / np.sqrt(2.0)
    diverged = rng.random(shape) < 0.1
    return np.where(diverged, -10.0 + 0.5 * rng.standard_normal(shape), body)


TRUE_MEAN = {"normal": 0.0, "laplace": 0.0, "skewed": -1.0}  # 0.9 · 0 + 0.1 · (-10)


# ---------------------------------------------------------------- vectorised rules


def welch_p(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One-sided Welch p along the last axis; NaN (both arms constant) never rejects."""
    with np.errstate(all="ignore"):
        p = sps.ttest_ind(a, b, axis=-1, equal_var=False, alternative="greater").pvalue
    return np.nan_to_num(p, nan=1.0)


def mw_p(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return sps.mannwhitneyu(a, b, axis=-1, alternative="greater").pvalue


def improvement_decisions(
    a: np.ndarray, b: np.ndarray, claimed_gap: float
) -> dict[str, np.ndarray]:
    """verdict's Q2 rule with baseline runs: holds / reversed / within-noise (power-gated)."""
    p = welch_p(a, b)
    with np.errstate(all="ignore"):
        p_rev = np.nan_to_num(
            sps.ttest_ind(a, b, axis=-1, equal_var=False, alternative="less").pvalue, nan=1.0
        )
    audit_power = power.welch_power(
        claimed_gap, a.std(axis=-1, ddof=1), b.std(axis=-1, ddof=1), a.shape[-1], b.shape[-1], ALPHA
    )
    holds = p <= ALPHA
    reversed_ = ~holds & (p_rev <= ALPHA)
    within = ~holds & ~reversed_ & (audit_power >= power.TARGET_POWER)
    return {"holds": holds, "reversed": reversed_, "within-noise": within}


def reproduction_decisions(
    seeds: np.ndarray, claim: np.ndarray, runs: int
) -> dict[str, np.ndarray]:
    """verdict's Q1 rule: the claim against the prediction interval for a mean of `runs` seeds."""
    n = seeds.shape[-1]
    scale = seeds.std(axis=-1, ddof=1) * np.sqrt(1 / runs + 1 / n)
    z = (claim - seeds.mean(axis=-1)) / scale
    crit = sps.t.ppf(1 - ALPHA / 2, n - 1)
    inside = np.abs(z) <= crit
    return {
        "not-reproduced": z > crit,
        "exceeded": z < -crit,
        "optimistic": inside & (sps.t.sf(z, n - 1) < verdict.LUCKY_SHARE),
    }


def seed_luck_holds(seeds: np.ndarray, paper_gap: np.ndarray) -> np.ndarray:
    n = seeds.shape[-1]
    luck = sps.t.sf(paper_gap / (seeds.std(axis=-1, ddof=1) * np.sqrt(2)), n - 1)
    pairs = seeds[:, :, None] - seeds[:, None, :]
    off_diagonal = ~np.eye(n, dtype=bool)
    empirical = np.sum((pairs >= paper_gap[:, None, None]) & off_diagonal, axis=(1, 2)) / (
        n * (n - 1)
    )
    return (paper_gap > 0) & (np.maximum(luck, empirical) <= ALPHA)


def aso_rates(pairs: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator) -> np.ndarray:
    return np.array([aso(a, b, rng)[0] for a, b in pairs])


# ---------------------------------------------------------------- the table


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, dict[int, str], int]] = []

    def add(self, rule: str, data: str, kind: str, rates: dict[int, float], sims: int) -> None:
        self.rows.append((rule, data, kind, {n: f"{r:.3f}" for n, r in rates.items()}, sims))

    def print(self, title: str) -> None:
        print(f"\n### {title}\n")
        print("| rule | scores | role | " + " | ".join(f"n={n}" for n in NS) + " | sims |")
        print("|---|---|---|" + "---:|" * (len(NS) + 1))
        for rule, data, kind, rates, sims in self.rows:
            cells = " | ".join(rates.get(n, "–") for n in NS)
            print(f"| {rule} | {data} | {kind} | {cells} | {sims} |")
        self.rows.clear()


def null_section(rng: np.random.Generator, sims: int, aso_sims: int, boot_sims: int) -> None:
    table = Table()
    se = np.sqrt(ALPHA * (1 - ALPHA) / sims)
    for dist in DISTS:
        rates: dict[str, dict[int, float]] = {}
        for n in NS:
            a, b = draw(dist, rng, (sims, n)), draw(dist, rng, (sims, n))
            imp = improvement_decisions(a, b, claimed_gap=1.0)
            single = reproduction_decisions(a, draw(dist, rng, (sims,)), runs=1)
            mean5 = reproduction_decisions(a, draw(dist, rng, (sims, 5)).mean(axis=1), runs=5)
            paper_gap = draw(dist, rng, (sims,)) - draw(dist, rng, (sims,))
            three = np.stack([welch_p(a, b), welch_p(*draw(dist, rng, (2, sims, n))),
                              welch_p(*draw(dist, rng, (2, sims, n)))])  # fmt: skip
            for name, hits in (
                ("Q2 holds: Welch one-sided", imp["holds"]),
                ("Q2 reversed: Welch, other side", imp["reversed"]),
                ("Q1 not-reproduced, single-run claim", single["not-reproduced"]),
                ("Q1 not-reproduced, mean-of-5 claim", mean5["not-reproduced"]),
                ("Q2 holds: seed luck (no baseline runs)", seed_luck_holds(a, paper_gap)),
                ("Holm, 3 null claims: any holds", 3 * three.min(axis=0) <= ALPHA),
                ("Mann-Whitney one-sided p <= 0.05", mw_p(a, b) <= ALPHA),
                ("Q1 optimistic (expected 0.075)", single["optimistic"]),
            ):
                rates.setdefault(name, {})[n] = float(np.mean(hits))
            k = min(aso_sims, sims)
            eps = aso_rates(list(zip(a[:k], b[:k], strict=True)), rng)
            rates.setdefault(f"ASO ε_min < {ASO_THRESHOLD}", {})[n] = float(np.mean(eps < 0.2))
            rates.setdefault("ASO ε_min < 0.5", {})[n] = float(np.mean(eps < 0.5))
            k = min(boot_sims // 4, sims)
            above = [
                probability_of_improvement(x, y, rng)[1].low > 0.5
                for x, y in zip(a[:k], b[:k], strict=True)
            ]
            rates.setdefault("P(improvement) interval above 0.5", {})[n] = float(np.mean(above))
            x = a[: min(boot_sims, sims)]
            boot = sps.bootstrap((x,), np.mean, axis=-1, n_resamples=1000, batch=50, rng=rng)
            low, high = boot.confidence_interval
            miss = (low > TRUE_MEAN[dist]) | (high < TRUE_MEAN[dist])
            rates.setdefault("BCa 95% interval misses the mean", {})[n] = float(np.nanmean(miss))
            half = sps.t.ppf(0.975, n - 1) * x.std(axis=-1, ddof=1) / np.sqrt(n)
            t_miss = np.abs(x.mean(axis=-1) - TRUE_MEAN[dist]) > half
            rates.setdefault("t 95% interval misses the mean", {})[n] = float(np.mean(t_miss))
        roles = {"Q": "deciding", "H": "deciding", "M": "evidence", "A": "evidence",
                 "P": "evidence", "B": "description", "t": "description"}  # fmt: skip
        for name, by_n in rates.items():
            count = aso_sims if name.startswith("ASO") else sims
            if name.startswith("P("):
                count = boot_sims // 4
            if "interval misses" in name:
                count = boot_sims
            role = "flag" if "optimistic" in name else roles[name[0]]
            table.add(name, dist, role, by_n, count)
    table.print(
        f"Type I error under the null (alpha = {ALPHA}; Monte Carlo se {se:.4f} at {sims} sims, "
        f"{np.sqrt(ALPHA * (1 - ALPHA) / aso_sims):.3f} at {aso_sims})"
    )


def power_section(rng: np.random.Generator, sims: int, aso_sims: int) -> None:
    table = Table()
    for dist in DISTS:
        for gap in GAPS:
            welch, mw, within = {}, {}, {}
            for n in NS:
                a, b = draw(dist, rng, (sims, n)) + gap, draw(dist, rng, (sims, n))
                imp = improvement_decisions(a, b, claimed_gap=gap)
                welch[n], within[n] = (
                    float(np.mean(imp["holds"])),
                    float(np.mean(imp["within-noise"])),
                )
                mw[n] = float(np.mean(mw_p(a, b) <= ALPHA))
            table.add(f"Q2 holds (Welch), gap {gap:g} sd", dist, "deciding", welch, sims)
            table.add(f"Mann-Whitney p <= 0.05, gap {gap:g} sd", dist, "evidence", mw, sims)
            table.add(f"Q2 within-noise though the claimed gap {gap:g} sd is real",
                      dist, "deciding (should be <= 0.20)", within, sims)  # fmt: skip
        eps = {}
        for n in NS:
            pairs = [(draw(dist, rng, (n,)) + 1.0, draw(dist, rng, (n,))) for _ in range(aso_sims)]
            eps[n] = float(np.mean(aso_rates(pairs, rng) < ASO_THRESHOLD))
        table.add(f"ASO ε_min < {ASO_THRESHOLD}, gap 1 sd", dist, "evidence", eps, aso_sims)
    table.print("Power: how often each rule fires at a real gap (simulated)")


def load_pools() -> dict[str, np.ndarray]:
    pools: dict[str, list[float]] = {}
    for path in sorted(POOLS.glob("*.csv")):
        for row in csv.DictReader(path.open()):
            pools.setdefault(f"{path.stem}:{row['config']}", []).append(float(row["score"]))
    return {k: np.array(v) for k, v in pools.items()}


def subsample(pool: np.ndarray, rng: np.random.Generator, sims: int, size: int) -> np.ndarray:
    """`sims` draws of `size` distinct runs from the pool (without replacement)."""
    return pool[np.argsort(rng.random((sims, pool.size)), axis=1)[:, :size]]


def real_section(rng: np.random.Generator, sims: int, aso_sims: int) -> None:
    pools = load_pools()
    table = Table()
    aa = {
        "hans MNLI-dev (100 BERT runs)": ("hans_berts_of_a_feather:bert-base/mnli-dev-matched", 1),
        "hans HANS subset (same runs)": (
            "hans_berts_of_a_feather:bert-base/hans-lexical-overlap-nonentailed", 1),
        "nanoGPT 75 runs, val loss": ("nanogpt_speedrun:UNetValueEmbedsTweaks/record@1480", -1),
    }  # fmt: skip
    for label, (key, sign) in aa.items():
        pool = sign * pools[key]
        welch, mw, eps = {}, {}, {}
        for n in (n for n in NS if 2 * n <= pool.size):
            split = subsample(pool, rng, sims, 2 * n)
            a, b = split[:, :n], split[:, n:]
            welch[n] = float(np.mean(welch_p(a, b) <= ALPHA))
            mw[n] = float(np.mean(mw_p(a, b) <= ALPHA))
            eps[n] = float(
                np.mean(aso_rates(list(zip(a[:aso_sims], b[:aso_sims], strict=True)), rng) < 0.2)
            )
        table.add("Q2 holds: Welch one-sided", f"A/A {label}", "deciding", welch, sims)
        table.add("Mann-Whitney one-sided p <= 0.05", f"A/A {label}", "evidence", mw, sims)
        table.add(f"ASO ε_min < {ASO_THRESHOLD}", f"A/A {label}", "evidence", eps, aso_sims)
    pairs = {
        "BERT uncased vs cased, SST-2": ("bert-base-uncased/sst2", "bert-base-cased/sst2", 1),
        "BERT uncased vs cased, MNLI": ("bert-base-uncased/mnli", "bert-base-cased/mnli", 1),
        "T5-base vs BERT uncased, MNLI": ("t5-base/mnli", "bert-base-uncased/mnli", 1),
    }
    for label, (method, base, sign) in pairs.items():
        m = sign * pools[f"ibm_recycling_glue:{method}"]
        b = sign * pools[f"ibm_recycling_glue:{base}"]
        welch, mw = {}, {}
        for n in (n for n in NS if n <= min(m.size, b.size)):
            a_s, b_s = subsample(m, rng, sims, n), subsample(b, rng, sims, n)
            welch[n] = float(np.mean(welch_p(a_s, b_s) <= ALPHA))
            mw[n] = float(np.mean(mw_p(a_s, b_s) <= ALPHA))
        table.add("Q2 holds: Welch one-sided", label, "deciding (power)", welch, sims)
        table.add("Mann-Whitney one-sided p <= 0.05", label, "evidence (power)", mw, sims)
    xsa_m = -pools["nanogpt_speedrun:XSAGatedLayers/this_pr@1450"]
    xsa_b = -pools["nanogpt_speedrun:XSAGatedLayers/baseline@1450"]
    welch = {n: float(np.mean(welch_p(subsample(xsa_m, rng, sims, n), subsample(xsa_b, rng, sims, n))
                              <= ALPHA)) for n in NS if n <= 10}  # fmt: skip
    table.add("Q2 holds: Welch one-sided", "nanoGPT XSAGatedLayers vs baseline, loss",
              "deciding (power)", welch, sims)  # fmt: skip
    table.print(
        "Real seed pools (IBM/model-recycling, tommccoy1/hans, KellerJordan/modded-nanogpt; "
        "runs drawn without replacement)"
    )


def cross_check(rng: np.random.Generator, count: int) -> None:
    """The vectorised rules above must give the decisions repaudit.verdict gives."""
    differ = 0
    for i in range(count):
        dist, n = DISTS[i % 3], NS[i % len(NS)]
        a, b = draw(dist, rng, (n,)) + 0.5, draw(dist, rng, (n,))
        claim_value = float(draw(dist, rng, (1,))[0] + 0.5)
        claim = Claim("score", claim_value, Direction.HIGHER, baseline=claim_value - 0.5)
        result = verdict.evaluate_claim(claim, a, b, n_failed={}, alpha=ALPHA, rng=rng)
        imp = improvement_decisions(a, b, 0.5)
        expected_q2 = next((k for k, v in imp.items() if v), "inconclusive")
        rep = reproduction_decisions(a, np.array(claim_value), runs=1)
        expected_q1 = next((k for k, v in rep.items() if v), "reproduced")
        assert result.improvement is not None
        differ += (result.improvement.decision.value != expected_q2) + (
            result.reproduction.decision.value != expected_q1
        )
    print(
        f"\nCross-check against verdict.evaluate_claim: {differ} of {2 * count} decisions differ."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the simulations")
    scale = 10 if parser.parse_args().quick else 1
    sims, aso_sims, boot_sims = 4000 // scale, 300 // scale, 1000 // scale
    rng = np.random.default_rng(SEED)
    start = time.perf_counter()
    null_section(rng, sims, aso_sims, boot_sims)
    power_section(rng, sims, aso_sims)
    real_section(rng, sims, aso_sims)
    cross_check(rng, 300 // scale)
    print(f"\n{time.perf_counter() - start:.0f} s, numpy seed {SEED}.")


if __name__ == "__main__":
    main()
