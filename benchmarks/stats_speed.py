"""How long all statistics of an audit take: two arms of 50 seeds, bootstrap and ASO included.

    python benchmarks/stats_speed.py

Prints the median wall time of verdict.evaluate_claim (every number of a claim) and of ASO
alone; when the deepsig package is importable, also deepsig's ``aso`` on the same scores
(1000 bootstrap iterations, one job) and the ratio.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from repaudit import verdict  # noqa: E402
from repaudit.aso import aso  # noqa: E402
from repaudit.model import Claim  # noqa: E402

REPEATS = 7


def median_seconds(function, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    gen = np.random.default_rng(0)
    method, baseline = gen.normal(80.4, 0.6, 50), gen.normal(80.0, 0.6, 50)
    claim = Claim("accuracy", 81.2, baseline=80.5)

    def all_statistics() -> None:
        verdict.evaluate_claim(
            claim, method, baseline, n_failed={}, alpha=0.05, rng=np.random.default_rng(1)
        )

    all_statistics()  # warm-up: imports, scipy's first calls
    total = median_seconds(all_statistics)
    ours = median_seconds(lambda: aso(method, baseline, np.random.default_rng(2)))
    print(f"all statistics, 2 arms x 50 seeds: {total * 1000:.0f} ms (median of {REPEATS})")
    print(f"ASO alone (both directions, 1000 resamples): {ours * 1000:.1f} ms")
    try:
        from deepsig import aso as deepsig_aso
    except ImportError:
        print("deepsig is not installed: no comparison")
        return
    start = time.perf_counter()
    theirs_eps = deepsig_aso(method, baseline, num_bootstrap_iterations=1000, num_jobs=1,
                             show_progress=False, seed=2)  # fmt: skip
    theirs = time.perf_counter() - start
    ours_eps = aso(method, baseline, np.random.default_rng(2))[0]
    print(f"deepsig.aso (one direction, 1 job): {theirs * 1000:.0f} ms; ratio {theirs / ours:.0f}x")
    print(f"eps_min, method better: repaudit {ours_eps:.4f}, deepsig {theirs_eps:.4f}")


if __name__ == "__main__":
    main()
