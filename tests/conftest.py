"""Shared fixtures: the toy paper repository every end-to-end test audits, and realistic audits
built by hand from real seed scores.

The toy paper (``toy_repo``) is a real git repository with a tiny training script. Its
``behaviour.json`` makes chosen seeds crash, sleep, print NaN or write no metric, so one script
serves every failure the tests need; its scores are a deterministic function of the seed.

The seed values below are real fine-tuning runs published by IBM/model-recycling (commit
1c1d4228, Apache-2.0; Choshen et al., "Where to start?", arXiv:2211.00107), as extracted in
``shared/data/seed-scores/ibm_recycling_glue.csv``: BERT-base uncased vs cased on SST-2 (run
indices 0-9), and T5-base on MNLI (runs 0-19, three of them diverged). The paper claims, the
failed/timed-out seeds, the repeats and the fingerprint are invented for the fixture; the
statistics were computed from the values with scipy 1.16 (Welch, Mann-Whitney, BCa with
``default_rng(0)``) and are written out so the fixture does not depend on stats.py.
"""

from __future__ import annotations

import json
import signal
import statistics
import textwrap
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from repaudit.model import (
    Arm,
    ArmSpec,
    ArmSummary,
    Audit,
    AuditSpec,
    Claim,
    ClaimResult,
    EnvironmentKind,
    Fingerprint,
    Improvement,
    ImprovementDecision,
    Interval,
    Isolation,
    MetricSource,
    Reproduction,
    ReproductionDecision,
    RunKey,
    RunResult,
    RunStatus,
    SeedCall,
    Source,
    TestResult,
    Verdict,
)
from repaudit.source import resolve_source

TOY_TRAIN = textwrap.dedent(
    """
    import argparse, json, os, random, time
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="method")
    args = parser.parse_args()
    behaviour = json.load(open("behaviour.json"))
    seed = str(args.seed)
    if seed in behaviour.get("crash", []):
        raise SystemExit("CUDA error: out of memory (simulated crash)")
    if seed in behaviour.get("sleep", {}):
        time.sleep(behaviour["sleep"][seed])
    rng = random.Random(args.seed * 1000 + (args.model == "baseline"))
    acc = (0.80 if args.model == "method" else 0.79) + rng.gauss(0, 0.004)
    if seed in behaviour.get("nan", []):
        acc = float("nan")
    print(f"epoch 1 test acc: {acc:.6f}")
    if seed not in behaviour.get("no_metric", []):
        os.makedirs(args.out, exist_ok=True)
        threads = int(os.environ.get("OMP_NUM_THREADS", "0"))
        record = {"test": {"acc": acc}, "threads": threads}
        json.dump(record, open(os.path.join(args.out, "metrics.json"), "w"))
    """
)
TOY_SPEC = textwrap.dedent(
    """
    [claim]
    metric = "test_accuracy"
    direction = "higher"
    value = 0.801
    baseline = 0.79

    [run]
    command = "python train.py --seed {seed} --out {out}"
    timeout = "20s"
    environment = "current"
    seeds = 4

    [run.metric]
    json = "{out}/metrics.json"
    key = "test.acc"

    [baseline]
    command = "python train.py --model baseline --seed {seed} --out {out}"
    """
)
ToyRepo = Callable[..., Path]


def interruptible() -> None:
    """``preexec_fn`` for a repaudit a test interrupts: a suite started with SIGINT ignored (a
    background job) would pass that on, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def make_repo(
    path: Path,
    files: dict[str, str] | None = None,
    *,
    behaviour: dict[str, object] | None = None,
    spec: str | None = TOY_SPEC,
    toy: bool = True,
    date: str | None = None,
) -> Path:
    """Commit the toy paper (train.py, repaudit.toml unless ``spec`` is None, behaviour.json) plus
    ``files`` (name -> text, dedented) into a new git repository at ``path``; ``toy=False`` commits
    ``files`` alone. ``date`` ("2019-06-01T12:00:00") back-dates the commit (author and committer)."""
    path.mkdir(parents=True)
    repo = git.Repo.init(path, initial_branch="main")
    contents: dict[str, str] = {}
    if toy:
        contents = {"train.py": TOY_TRAIN, "behaviour.json": json.dumps(behaviour or {})}
        if spec is not None:
            contents["repaudit.toml"] = spec
    contents.update({name: textwrap.dedent(text) for name, text in (files or {}).items()})
    for name, text in contents.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    repo.index.add(list(contents))
    actor = git.Actor("test", "test@example.com")
    stamp = {"author_date": date, "commit_date": date} if date else {}
    repo.index.commit("paper code", author=actor, committer=actor, **stamp)
    return path


TRAP = """#!/bin/sh
# Started by git as a hook, filter, fsmonitor or helper: leave a trace, and the secret it saw.
echo "$0 $* HF_TOKEN=${{HF_TOKEN:-}}" >> {log}
"""
#: A .gitattributes line that hands every file to the trap's filter and diff drivers.
TRAP_ATTRIBUTES = "* filter=evil diff=evil merge=evil\n"


def arm_with_traps(root: Path, log: Path) -> None:
    """Arm the git repository at ``root`` with everything that starts a program when git reads its
    config or work tree: fsmonitor, filter drivers (named by TRAP_ATTRIBUTES in .gitattributes),
    hooks in .git/hooks and through core.hooksPath, an included config file, helpers. Each appends
    a line to ``log``; a test that finds no ``log`` afterwards knows none of them ran."""
    script = log.with_name("trap.sh")
    script.write_text(TRAP.format(log=log))
    script.chmod(0o755)
    hooks = root / ".git" / "hooks"
    for name in ("post-checkout", "pre-commit", "post-commit", "reference-transaction",
                 "post-merge", "post-rewrite", "pre-auto-gc", "post-index-change", "pre-push"):  # fmt: skip
        (hooks / name).write_text(f"#!/bin/sh\nexec {script} hook-{name}\n")
        (hooks / name).chmod(0o755)
    included = log.with_name("included.gitconfig")
    included.write_text(f"[core]\n\tfsmonitor = {script}\n")
    with open(root / ".git" / "config", "a", encoding="utf-8") as config:
        config.write(
            f"[core]\n\tfsmonitor = {script}\n\thooksPath = {hooks}\n\tsshCommand = {script}\n"
            f"\tpager = {script}\n\talternateRefsCommand = {script}\n"
            f"[include]\n\tpath = {included}\n"
            f'[filter "evil"]\n\tclean = {script} clean\n\tsmudge = {script} smudge\n'
            f"\tprocess = {script} process\n\trequired = true\n"
            f'[diff "evil"]\n\ttextconv = {script}\n[diff]\n\texternal = {script}\n'
            f"[credential]\n\thelper = !{script}\n"
            f"[uploadpack]\n\tpackObjectsHook = {script}\n"
        )


@pytest.fixture
def toy_repo(tmp_path: Path) -> ToyRepo:
    """Makes toy paper repositories under tmp_path: ``toy_repo(name="paper", files=..., behaviour=...,
    spec=..., toy=...)`` (see make_repo) returns the repository's folder."""

    def make(name: str = "paper", files: dict[str, str] | None = None, **options: object) -> Path:
        return make_repo(tmp_path / name, files, **options)  # type: ignore[arg-type]

    return make


PinnedRepo = Callable[..., Source]


@pytest.fixture
def pinned_repo(toy_repo: ToyRepo, tmp_path: Path) -> PinnedRepo:
    """``toy_repo(...)``, pinned at its commit the way `repaudit check` pins a local repository."""

    def pin(name: str = "paper", files: dict[str, str] | None = None, **options: object) -> Source:
        folder = toy_repo(name, files, **options)
        return resolve_source(str(folder), cache_dir=tmp_path / "cache")

    return pin


# IBM/model-recycling, bert-base-uncased/sst2 runs 0-9 (runs 3 and 7 become a failure and a timeout).
BERT_UNCASED_SST2 = (
    0.9162844036697247, 0.9162844036697247, 0.9185779816513762, 0.9139908256880734,
    0.9162844036697247, 0.9208715596330276, 0.9162844036697247, 0.9208715596330276,
    0.9311926605504588, 0.9197247706422018,
)  # fmt: skip
# IBM/model-recycling, bert-base-cased/sst2 runs 0-9.
BERT_CASED_SST2 = (
    0.9174311926605504, 0.9128440366972476, 0.9139908256880734, 0.9208715596330276,
    0.911697247706422, 0.9174311926605504, 0.9220183486238532, 0.9105504587155964,
    0.9162844036697247, 0.9174311926605504,
)  # fmt: skip
# IBM/model-recycling, t5-base/mnli runs 0-19: runs 11, 12 and 16 diverged.
T5_BASE_MNLI = (
    0.8651342554922702, 0.8671684296175752, 0.8677786818551668, 0.8655410903173312,
    0.8621847030105777, 0.8660496338486574, 0.8672701383238405, 0.8663547599674533,
    0.8629983726606998, 0.8658462164361269, 0.8632017900732303, 0.8476403580146461,
    0.7032139951179821, 0.8597436940602116, 0.859947111472742, 0.8688974776240846,
    0.5124084621643613, 0.8612693246541904, 0.8606590724165989, 0.86706672091131,
)  # fmt: skip

METRIC = "sst2_accuracy"


def _summary(arm: str, values: tuple[float, ...], n_failed: int, **intervals: object) -> ArmSummary:
    return ArmSummary(
        arm=arm,
        values=values,
        n=len(values),
        n_failed=n_failed,
        mean=statistics.fmean(values),
        sd=statistics.stdev(values),
        median=statistics.median(values),
        minimum=min(values),
        maximum=max(values),
        **intervals,  # type: ignore[arg-type]
    )


def _run(arm: Arm, seed: int, value: float, repeat: int = 0) -> RunResult:
    return RunResult(
        key=RunKey(arm, seed, repeat),
        status=RunStatus.OK,
        metrics={METRIC: value},
        seconds=412.0 + 7.5 * seed + (31.0 if arm == Arm.BASELINE else 0.0),
        returncode=0,
        peak_memory_bytes=(2_900 + 13 * seed) * 1024 * 1024,
        seed_calls=(
            SeedCall("torch.manual_seed", 42, 1_000_003 * (seed + 1) % 2**31),
            SeedCall("numpy.random.seed", 42, 7_000_001 * (seed + 1) % 2**31),
        ),
        log_tail=f"epoch 3/3  loss 0.1{seed}2\nwrote {{out}}/metrics.json: {METRIC}={value:.4f}\n",
        job_id=None,
        spec_hash="5e1f0a2c",
        isolation=Isolation.BUBBLEWRAP,
        variables=_variables(seed),
    )


def _variables(seed: int) -> dict[str, str]:
    """What repaudit set for a seed of the sample audit (four threads per slot, one GPU)."""
    return {
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
        "CUDA_VISIBLE_DEVICES": "0",
        "OMP_NUM_THREADS": "4",
        "PYTHONHASHSEED": str(seed),
        "REPAUDIT_SEED": str(seed),
    }


# Session-scoped: an Audit is frozen all the way down, so tests can share one safely.
@pytest.fixture(scope="session")
def sample_audit() -> Audit:
    """A finished audit of a claimed +1.3-point gain that is within seed noise (does-not-hold)."""
    claim = Claim(
        metric=METRIC,
        value=0.930,
        baseline=0.917,
        source=MetricSource(json_path="{out}/metrics.json", key="eval.accuracy"),
    )
    spec = AuditSpec(
        claims=(claim,),
        arms=(
            ArmSpec(
                Arm.METHOD, "python train.py --model bert-base-uncased --seed {seed} --out {out}"
            ),
            ArmSpec(
                Arm.BASELINE, "python train.py --model bert-base-cased --seed {seed} --out {out}"
            ),
        ),
        seeds=tuple(range(10)),
        setup="pip install -r requirements.txt",
        prepare="python download_glue.py sst2",
        environment=EnvironmentKind.VENV,
        seed_override=True,
        repeat_seed=3,
        origin="repaudit.toml",
    )
    method_ok = tuple(v for k, v in enumerate(BERT_UNCASED_SST2) if k not in (3, 7))
    runs = [_run(Arm.METHOD, k, v) for k, v in enumerate(BERT_UNCASED_SST2) if k not in (3, 7)]
    runs.append(
        RunResult(
            key=RunKey(Arm.METHOD, 3),
            status=RunStatus.FAILED,
            seconds=95.2,
            returncode=1,
            reason="exit code 1: RuntimeError: CUDA out of memory (tried to allocate 2.00 GiB)",
            log_tail='Traceback (most recent call last):\n  File "train.py", line 88\n'
            "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB <GPU 0>\n",
            spec_hash="5e1f0a2c",
        )
    )
    runs.append(
        RunResult(
            key=RunKey(Arm.METHOD, 7),
            status=RunStatus.TIMEOUT,
            seconds=1800.0,
            reason="killed at the 30m wall-clock limit",
            peak_memory_bytes=3_050 * 1024 * 1024,
            log_tail="epoch 2/3  loss 0.231\n",
            spec_hash="5e1f0a2c",
        )
    )
    runs += [_run(Arm.METHOD, 0, v, repeat=r) for r, v in ((1, 0.9162844036697247), (2, 0.91743))]
    runs += [_run(Arm.BASELINE, k, v) for k, v in enumerate(BERT_CASED_SST2)]
    runs.sort(key=lambda r: (r.key.arm != Arm.METHOD, r.key.seed, r.key.repeat))
    welch = TestResult(
        "Welch one-sided t-test",
        1.56795,
        0.0707957,
        deciding=True,
        assumption="independent seeds; means roughly normal (robust to unequal variances)",
        meaning="how often noise alone would give a gap this large if there were no improvement",
    )
    improvement = Improvement(
        decision=ImprovementDecision.WITHIN_NOISE,
        reason="the observed gap of +0.34 points is within seed noise (Welch p = 0.071)",
        claimed_gap=0.013,
        observed_gap=0.00338303,
        gap_interval=Interval(-0.000446481, 0.00721254, 0.9),
        paper_gap_bound=0.0151943,
        seeds_needed=3,
        power=0.99997,
        tests=(
            welch,
            TestResult(
                "Mann-Whitney U",
                52.5,
                0.140014,
                assumption="independent seeds; no shape assumption",
                meaning="whether a method seed tends to beat a baseline seed",
            ),
            TestResult(
                "Almost stochastic order, epsilon_min",
                0.31,
                None,
                assumption="independent seeds; threshold tau = 0.2",
                meaning="how far the method is from dominating the baseline (0 = always better)",
                note="not a p-value; above 0.2 the method does not dominate",
            ),
            TestResult(
                "P(improvement)",
                0.65625,
                None,
                meaning="chance a method seed beats a baseline seed",
                note="below 0.75: not practically meaningful (Bouthillier et al. 2021)",
                interval=Interval(0.45, 0.85, 0.9),
            ),
            TestResult("Hedges' g", 0.732937, None, meaning="gap in pooled standard deviations"),
        ),
    )
    reproduction = Reproduction(
        decision=ReproductionDecision.OPTIMISTIC,
        reason="0.930 lies inside the prediction interval, but only a lucky seed reaches it",
        prediction_interval=Interval(0.906691, 0.932186),
        claim_percentile=87.5,
        chance_one_seed_reaches=0.0455,
        best_of_k=14.9,
        seeds_reaching=sum(v >= claim.value for v in method_ok),
    )
    result = ClaimResult(
        claim=claim,
        arms=(
            _summary(
                Arm.METHOD,
                method_ok,
                2,
                mean_interval=Interval(0.915189, 0.923687),
                bootstrap_interval=Interval(0.917288, 0.924742),
            ),
            _summary(
                Arm.BASELINE,
                BERT_CASED_SST2,
                0,
                mean_interval=Interval(0.913354, 0.918757),
                bootstrap_interval=Interval(0.913991, 0.918349),
            ),
        ),
        reproduction=reproduction,
        improvement=improvement,
        repeat_sd=0.000662,
    )
    source = Source(
        target="https://github.com/example-lab/bert-casing",
        display_name="example-lab/bert-casing",
        repo_path=Path("/var/cache/repaudit/repos/example-lab-bert-casing"),
        commit="3f9c2a1b7d4e8f60a1b2c3d4e5f60718293a4b5c",
        ref="v1.0",
        url="https://github.com/example-lab/bert-casing.git",
    )
    fingerprint = Fingerprint(
        python="3.11.9",
        platform="Linux-6.1.0-x86_64-with-glibc2.36",
        cpu="AMD EPYC 7763 64-Core Processor",
        cpu_count=16,
        gpus=("NVIDIA A100-SXM4-40GB",),
        torch="2.3.1",
        cuda="12.1",
        cudnn="8902",
        packages=("numpy==1.26.4", "torch==2.3.1", "transformers==4.41.2"),
        variables={
            "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
            "CUDA_VISIBLE_DEVICES": "0",
            "OMP_NUM_THREADS": "4",
        },
        repaudit_version="0.1.0",
        isolation=Isolation.BUBBLEWRAP,
        varying=("PYTHONHASHSEED", "REPAUDIT_SEED"),
    )
    return Audit(
        audit_id="example-lab-bert-casing-3f9c2a1b7d4e-5e1f0a2c",
        created_at="2026-11-20T09:30:00Z",
        spec=spec,
        source=source,
        fingerprint=fingerprint,
        runs=tuple(runs),
        results=(result,),
        verdict=Verdict.DOES_NOT_HOLD,
        verdict_reason=(
            "The claimed 93.0% is reached by 1 of 8 seeds; the re-runs average 91.9% ± 0.5%. "
            "The claimed +1.3 point gain over the baseline is not what the re-runs show: they "
            "measure +0.34 points, within seed noise (Welch p = 0.071), although with 8 and 10 "
            "seeds the audit had the power to detect the claimed gap. 2 of 10 method seeds did "
            "not finish (one failed, one timed out)."
        ),
        rerun_command="repaudit check https://github.com/example-lab/bert-casing.git --seeds 10 "
        "--ref 3f9c2a1b7d4e8f60a1b2c3d4e5f60718293a4b5c",
        notes=("seed 0 was repeated 3 times to measure the nondeterminism floor",),
        repaudit_version="0.1.0",
    )


@pytest.fixture(scope="session")
def user_numbers_audit() -> Audit:
    """`repaudit stats` on supplied numbers: no source, no fingerprint, no baseline runs."""
    claim = Claim(metric="mnli_accuracy", value=0.865, baseline=0.855)
    spec = AuditSpec(
        claims=(claim,), arms=(ArmSpec(Arm.METHOD, ""),), seeds=tuple(range(1, 21)), origin="flags"
    )
    runs = tuple(  # numbered from 1 like the lines of the score file, as `repaudit stats` does
        RunResult(RunKey(Arm.METHOD, k), RunStatus.OK, metrics={claim.metric: v})
        for k, v in enumerate(T5_BASE_MNLI, 1)
    )
    result = ClaimResult(
        claim=claim,
        arms=(
            _summary(
                Arm.METHOD,
                T5_BASE_MNLI,
                0,
                mean_interval=Interval(0.798368, 0.877670),
                bootstrap_interval=Interval(0.767805, 0.862846),
                outliers=(0.7032139951179821, 0.5124084621643613),
            ),
        ),
        reproduction=Reproduction(
            decision=ReproductionDecision.REPRODUCED,
            reason="0.865 lies inside the prediction interval; half the seeds reach it",
            prediction_interval=Interval(0.656314, 1.019723),
            claim_percentile=50.0,
            chance_one_seed_reaches=0.375,
            best_of_k=1.5,
            seeds_reaching=sum(v >= claim.value for v in T5_BASE_MNLI),
        ),
        improvement=Improvement(
            decision=ImprovementDecision.INCONCLUSIVE,
            reason="two runs of the same code differ by 1 point 47% of the time; "
            "889 seeds per arm would settle it",
            claimed_gap=0.010,
            seed_luck=0.467179,
            seeds_needed=889,
            seeds_needed_low=310,
            notes=("3 of 20 runs diverged; the median (0.864) is 2.6 points above the mean",),
        ),
    )
    return Audit(
        audit_id="stats-2026-11-21-t5-mnli",
        created_at="2026-11-21T14:05:00Z",
        spec=spec,
        source=None,
        fingerprint=None,
        runs=runs,
        results=(result,),
        verdict=Verdict.INCONCLUSIVE,
        verdict_reason=(
            "The claimed 86.5% is the median re-run: it reproduces. The claimed +1.0 point gain "
            "cannot be told apart from seed noise: two runs of the same code differ by that much "
            "47% of the time, because 3 of 20 runs diverged. 889 seeds per arm would settle it."
        ),
        rerun_command="repaudit stats t5_mnli.csv --claim 0.865 --baseline-claim 0.855",
        repaudit_version="0.1.0",
        inputs=("t5_mnli.csv",),
    )
