"""The benchmarks are not run in the tests; these check that they start and one hand-written test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script", ["calibration.py", "candidates.py"])
def test_benchmark_starts(script: str) -> None:
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), "--help"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout


def test_exact_permutation_p_is_scipys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from candidates import permutation_p

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)) + 0.8, rng.normal(size=(3, 5))
    greater, less = permutation_p(a, b)

    def gap(x: np.ndarray, y: np.ndarray, axis: int) -> np.ndarray:
        return x.mean(axis=axis) - y.mean(axis=axis)

    for i in range(3):
        for got, side in ((greater[i], "greater"), (less[i], "less")):
            want = sps.permutation_test((a[i], b[i]), gap, vectorized=True,
                                        n_resamples=np.inf, alternative=side).pvalue  # fmt: skip
            assert got == pytest.approx(want, rel=1e-12)
