"""The vocabulary every pipeline stage shares: small frozen dataclasses and closed enums.

Reading this file shows the data flow of an audit:

    AuditSpec ──> Source ──> Environment ──> SeedRequest* ──> RunResult* ──> ClaimResult* ──> Audit
      spec         source     environment      audit/executor     sandbox        stats+verdict    store/report

Dicts appear only at the edges (JSON records, template contexts); changes go through
``dataclasses.replace``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Version of the audit.json record and the ``--format json`` document (see store.py for history).
RECORD_FORMAT = 2

METHOD_ARM = "method"
BASELINE_ARM = "baseline"


class Direction(enum.StrEnum):
    HIGHER = "higher"  # accuracies, scores
    LOWER = "lower"  # losses, error rates


class ClaimKind(enum.StrEnum):
    SINGLE = "single"  # the paper reports one run
    MEAN = "mean"  # the paper reports the mean of `runs` runs


class EnvironmentKind(enum.StrEnum):
    CURRENT = "current"  # the interpreter running repaudit
    VENV = "venv"  # a cached virtual environment built from the repository's declarations


class Isolation(enum.StrEnum):
    """How strongly a seed's processes were isolated, strongest first."""

    BUBBLEWRAP = "bubblewrap"  # read-only system, private /tmp, no network, writable checkout only
    UNSHARE_NET = "unshare-net"  # no network namespace interfaces, resource limits
    NONE = "none"  # plain subprocess: network and filesystem reachable


class RunStatus(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"  # non-zero exit or could not start
    TIMEOUT = "timeout"  # killed at the wall-clock limit
    NO_METRIC = "no-metric"  # exited 0 but the metric was missing, unparsable, NaN or infinite


class ReproductionDecision(enum.StrEnum):
    """Q1: the paper's number against the re-runs of its own arm (DESIGN.md section 4)."""

    REPRODUCED = "reproduced"  # inside the prediction interval
    OPTIMISTIC = "optimistic"  # inside, but only a lucky seed reaches it (a flag, not a failure)
    NOT_REPRODUCED = "not-reproduced"  # beyond the interval on the flattering side
    EXCEEDED = "exceeded"  # beyond the interval on the modest side
    BASELINE_UNDERSTATED = (
        "baseline-understated"  # the paper's baseline is below what its code gives
    )
    INCONCLUSIVE = "inconclusive"


class ImprovementDecision(enum.StrEnum):
    """Q2: the claimed gap, from the gain test and the size test (DESIGN.md section 4)."""

    HOLDS = "holds"  # a real gain, and the claimed size is consistent with the re-runs
    OVERSTATED = "overstated"  # a real gain, but smaller than claimed
    WITHIN_NOISE = "within-noise"  # no demonstrable gain, and the claimed size is ruled out
    REVERSED = "reversed"  # the baseline is significantly better
    INCONCLUSIVE = "inconclusive"  # too few seeds to tell


class SeedReach(enum.StrEnum):
    """Whether the audit's seed reached an arm's code, from the seed hook's record of seeding calls."""

    REACHED = "reached"  # a seeding call carried the audit's seed (or was overridden by it)
    NEVER_REACHED = "never-reached"  # seeding calls were recorded, all with a hard-coded value
    UNKNOWN = "unknown"  # no seeding call was recorded (or the scores came without runs)


class Verdict(enum.StrEnum):
    HOLDS = "holds"
    DOES_NOT_HOLD = "does-not-hold"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class ExitCode(enum.IntEnum):
    """Process exit codes of ``check`` and ``stats``, for CI jobs."""

    HOLDS = 0  # reproduced / optimistic / exceeded, and the improvement holds
    DOES_NOT_HOLD = 1  # not-reproduced, baseline-understated, overstated, within-noise, reversed
    USAGE = 2  # bad flags or input (click's own code)
    INCONCLUSIVE = 3  # too few seeds to decide
    ERROR = 4  # the audit could not run (clone, environment, every seed failed)


# ---------------------------------------------------------------- spec


@dataclass(frozen=True)
class MetricSource:
    """Where a finished run's number is read from; exactly one of json_path or regex is set."""

    json_path: str | None = None  # may contain {out}; relative paths are relative to the checkout
    key: str | None = None  # dotted path into the JSON document, e.g. "test.acc"
    regex: str | None = None  # one capturing group; the last match in stdout wins


@dataclass(frozen=True)
class Claim:
    """One number a paper reports, and optionally the baseline it compares against."""

    metric: str  # name shown in the report, e.g. "test_accuracy"
    value: float
    direction: Direction = Direction.HIGHER
    kind: ClaimKind = ClaimKind.SINGLE
    runs: int = 1  # for kind = mean: how many runs the paper averaged
    baseline: float | None = None  # the paper's baseline number, same kind and runs
    decimals: int | None = None
    """Digits after the decimal point the paper printed its numbers with (0.8320 -> 4); a
    seed-invariant result is compared with the claim at this precision. None: the digits of the
    value's shortest repr (0.832 -> 3)."""
    source: MetricSource = field(default_factory=MetricSource)
    baseline_source: MetricSource | None = None  # the baseline arm's, when it differs


@dataclass(frozen=True)
class ArmSpec:
    """One arm of the audit: a command run under every seed."""

    name: str  # METHOD_ARM or BASELINE_ARM
    command: str  # template with {seed} {out} {threads} {gpu}


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    gpus_per_node: int = 0
    cpus_per_task: int = 1
    mem_gb: float | None = None
    timeout_min: int = 60
    additional: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditSpec:
    """Everything that decides what an audit runs; its hash names the audit folder."""

    claims: tuple[Claim, ...]  # at least one; several get Holm-corrected improvement tests
    arms: tuple[ArmSpec, ...]  # method first, then baseline if any
    seeds: tuple[int, ...]  # seed values run in every arm
    setup: str | None = None  # once per environment (cached)
    prepare: str | None = None  # once per audit, before the seeds; network allowed
    timeout_seconds: float = 1800.0
    environment: EnvironmentKind = EnvironmentKind.CURRENT
    seed_override: bool = False
    seed_from_env: bool = False  # the command reads REPAUDIT_SEED, so it needs no {seed}
    deterministic: bool = False
    repeat_seed: int = 0  # >1: run the first seed this many times to measure nondeterminism
    memory_bytes: int | None = None
    gpus_per_seed: int = 0
    env: Mapping[str, str] = field(default_factory=dict)  # extra variables for the command
    alpha: float = 0.05
    stats_seed: int = 0  # seeds the bootstrap / ASO generator: same audit, same numbers
    slurm: SlurmOptions | None = None  # [slurm] table, for --executor slurm
    origin: str = (
        "flags"  # where the spec came from: a path, "pyproject.toml", "registry:...", "flags"
    )

    @property
    def claim(self) -> Claim:
        """The primary claim (the first)."""
        return self.claims[0]

    def arm(self, name: str) -> ArmSpec | None:
        return next((a for a in self.arms if a.name == name), None)


# ---------------------------------------------------------------- source and environment


@dataclass(frozen=True)
class Source:
    """The audited code, pinned: a git repository at one commit, or a snapshot of a folder."""

    target: str  # what the user typed
    display_name: str  # "owner/repo" or the folder name
    repo_path: Path  # local clone / repository holding the commit
    commit: str  # full SHA; for an unpinned plain folder, the SHA of the snapshot commit
    ref: str | None = None  # branch, tag or commit the user asked for
    url: str | None = None  # remote URL when cloned
    subdirectory: str = ""  # audited folder inside the repository ("" = root)
    snapshot: bool = False  # True when uncommitted or unversioned files were snapshotted
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    """The interpreter seeds run under."""

    kind: EnvironmentKind
    python: Path  # interpreter executable
    bin_dir: Path  # prepended to PATH
    cache_key: str | None = None  # venv cache hash; None for "current"
    torch_from: str = "none"  # "system", "environment" or "none"
    reused: bool = False  # True when a cached venv was reused
    isolation: Isolation = Isolation.NONE
    isolation_note: str = ""  # plain words on what is and is not isolated


@dataclass(frozen=True)
class Fingerprint:
    """Enough of the machine to explain a difference between two audits."""

    python: str
    platform: str
    cpu: str
    cpu_count: int
    gpus: tuple[str, ...]
    torch: str | None
    cuda: str | None
    cudnn: str | None
    packages: tuple[str, ...]  # "name==version", sorted
    variables: Mapping[str, str]  # variables repaudit set for the seeds (never secrets)
    repaudit_version: str
    isolation: Isolation = Isolation.NONE
    environment: str = ""  # plain words: "venv 1a2b3c4d5e6f (reused from the cache)", "current ..."
    torch_from: str = (
        "none"  # "system" (the auditor's torch), "environment" (the repo's pin), "none"
    )


# ---------------------------------------------------------------- runs


@dataclass(frozen=True)
class SeedRequest:
    """One seed of one arm to run; the executor fills the slot fields (threads, gpus)."""

    arm: str
    seed: int
    command: str  # template, formatted by the sandbox
    source: Source
    environment: Environment
    run_dir: Path  # audits/<id>/runs/<arm>/seed-<k>[-r<i>]: logs, run.json, out/
    work_dir: Path  # the seed's own clean checkout (removed after the run)
    claims: tuple[Claim, ...]  # metrics to read after the run
    timeout_seconds: float
    repeat: int = 0  # index when one seed is repeated (--repeat-seed)
    threads: int = 1
    gpus: tuple[int, ...] = ()
    memory_bytes: int | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    seed_override: bool = False
    deterministic: bool = False
    prepared_dir: Path | None = None  # read-only output of `prepare`, shared by all seeds
    spec_hash: str = ""

    @property
    def key(self) -> str:
        """Stable identity of this run inside an audit: 'method/seed-3' or 'method/seed-3-r1'."""
        suffix = f"-r{self.repeat}" if self.repeat else ""
        return f"{self.arm}/seed-{self.seed}{suffix}"


@dataclass(frozen=True)
class SeedCall:
    """One seeding call the override hook replaced."""

    function: str  # e.g. "torch.manual_seed"
    original: int | None
    replaced_by: int


@dataclass(frozen=True)
class RunResult:
    """A finished seed. A failure is a value, never an exception."""

    arm: str
    seed: int
    status: RunStatus
    metrics: Mapping[str, float] = field(default_factory=dict)  # claim.metric -> value
    seconds: float = 0.0
    returncode: int | None = None
    reason: str = ""  # plain words for failed / timeout / no-metric
    repeat: int = 0
    peak_memory_bytes: int | None = None
    seed_calls: tuple[SeedCall, ...] = ()
    log_tail: str = ""  # last lines of stderr (or stdout), for the report
    job_id: str | None = None  # Slurm job id when run on a cluster
    spec_hash: str = ""

    @property
    def key(self) -> str:
        suffix = f"-r{self.repeat}" if self.repeat else ""
        return f"{self.arm}/seed-{self.seed}{suffix}"

    @property
    def ok(self) -> bool:
        return self.status is RunStatus.OK

    def value(self, metric: str) -> float | None:
        return self.metrics.get(metric)


# ---------------------------------------------------------------- statistics and decisions


@dataclass(frozen=True)
class Interval:
    """A two-sided interval and its confidence (or coverage) level."""

    low: float
    high: float
    level: float = 0.95


@dataclass(frozen=True)
class ArmSummary:
    """Descriptive statistics of one arm's successful seeds for one metric."""

    arm: str
    values: tuple[float, ...]  # successful seeds, in seed order
    n: int
    n_failed: int
    mean: float
    sd: float  # sample sd (ddof=1); 0.0 for n < 2
    median: float
    minimum: float
    maximum: float
    mean_interval: Interval | None  # 95% t-interval of the mean; None for n < 2
    bootstrap_interval: Interval | None  # BCa; a description only, never decides
    outliers: tuple[float, ...] = ()
    """Runs far below the rest on the metric's bad side (likely diverged; stats.diverged_mask).
    Flagged from 5 seeds on, never dropped."""
    seed_reach: SeedReach = SeedReach.UNKNOWN
    """Whether the audit's seed reached this arm's code (from the runs' seeding calls)."""


@dataclass(frozen=True)
class TestResult:
    """One reported statistical test or effect size."""

    __test__ = False  # not a pytest test class, despite the name

    name: str  # e.g. "Welch one-sided t-test"
    statistic: float | None
    p_value: float | None
    deciding: bool = False  # one of the rules fixed in advance
    assumption: str = ""  # what it assumes
    meaning: str = ""  # one line a reviewer understands
    note: str = ""  # e.g. "cannot reach p < 0.05 with 3 seeds per arm"
    interval: Interval | None = None  # e.g. the gap's Welch interval, P(improvement)'s bootstrap
    df: float | None = None
    """Degrees of freedom of the t statistic (Welch-Satterthwaite for two arms)."""
    level: float | None = None
    """The level a deciding test rejects at (alpha, or Holm's level for this claim)."""
    rejects: bool | None = None
    """A deciding test's outcome at ``level``: p <= level. None for evidence."""


@dataclass(frozen=True)
class Reproduction:
    """Q1: does the claimed number reproduce? (For the baseline arm: is the paper's baseline
    number what its code gives, or understated?)"""

    decision: ReproductionDecision
    reason: str  # plain words
    prediction_interval: Interval | None = None  # for one new seed, or the mean of `runs`
    claim_percentile: float | None = (
        None  # share of seeds below (direction-aware) the claim, 0..100
    )
    chance_one_seed_reaches: float | None = None
    """From the t predictive distribution: the chance one new seed (a mean of `runs` new seeds
    for mean claims) is at least as good as the claim."""
    best_of_k: float | None = None
    """Seeds k whose best reaches the claim half the time, from the same predictive chance:
    1 - (1 - chance)^k = 1/2. Single-run claims only."""
    test: TestResult | None = None  # the t statistic of the claim against the re-runs
    arm: str = METHOD_ARM
    """The arm whose re-runs the paper's number is checked against."""


@dataclass(frozen=True)
class Improvement:
    """Q2: does the claimed improvement hold? Two one-sided tests decide (DESIGN.md section 4)."""

    decision: ImprovementDecision
    reason: str
    claimed_gap: float  # Δ, signed by direction: positive = claimed improvement
    observed_gap: float | None = None  # d̂ = method mean - baseline mean, with baseline runs
    gap_interval: Interval | None = None
    """The 1 - 2·level interval of the mean gap: its lower bound > 0 exactly when the gain test
    rejects."""
    paper_gap_bound: float | None = None
    """The 1 - level one-sided prediction bound for a gap measured the paper's way (two single
    runs, or two means of k): the claimed gap beyond it exactly when the size test rejects."""
    gain_test: TestResult | None = None
    """H0: no gain (δ <= 0). Welch on the two arms; without baseline runs, the seed-luck chance
    adjusted for the selection of positive gaps."""
    size_test: TestResult | None = None
    """H0: the claimed gap is one draw of a gap measured the paper's way from this code."""
    reverse_test: TestResult | None = None
    """H0: the method is at least as good (δ >= 0); rejecting it is `reversed`."""
    seed_luck: float | None = None
    """Without baseline runs: the chance two runs of the same code differ by the claimed gap
    (before the selection adjustment the gain test applies)."""
    power: float | None = None
    """The chance this audit had to settle (one test rejects) were the claimed gap real."""
    seeds_needed: int | None = None
    """Seeds per arm for an 80% chance to settle, were the claimed gap real; None: more than
    power.MAX_SEEDS, or nothing to settle."""
    seeds_needed_low: int | None = None
    """... at the low ends of the 80% intervals of both arms' sds."""
    seeds_needed_high: int | None = None
    """... at their high ends; None: more than power.MAX_SEEDS."""
    tests: tuple[TestResult, ...] = ()  # evidence shown beside the deciding tests, never deciding
    notes: tuple[str, ...] = ()  # e.g. mean-based and rank-based tests disagree


@dataclass(frozen=True)
class ClaimResult:
    """Every statistic and decision for one claim."""

    claim: Claim
    arms: tuple[ArmSummary, ...]  # method first
    reproduction: Reproduction
    improvement: Improvement | None
    repeat_sd: float | None = None  # same-seed spread (--repeat-seed): the nondeterminism floor
    baseline_reproduction: Reproduction | None = None
    """Q1 for the paper's baseline number, with baseline runs and a claimed baseline."""


@dataclass(frozen=True)
class Audit:
    """A finished (or failed) audit: what the store keeps and the report renders."""

    audit_id: str
    created_at: str  # ISO 8601 UTC; the report's timestamp comes from here
    spec: AuditSpec
    source: Source | None  # None for `repaudit stats` on numbers a user already has
    fingerprint: Fingerprint | None
    runs: tuple[RunResult, ...]
    results: tuple[ClaimResult, ...]
    verdict: Verdict
    verdict_reason: str  # one paragraph of plain words
    audit_dir: Path | None = None
    rerun_command: str = ""  # the exact command that re-runs this audit
    notes: tuple[str, ...] = ()  # warnings: snapshot, isolation, seed had no effect, ...
    repaudit_version: str = ""
    format: int = RECORD_FORMAT
