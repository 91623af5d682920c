"""The vocabulary every pipeline stage shares: small frozen dataclasses and closed enums.

Reading this file shows the data flow of an audit:

    AuditSpec ──> Source ──> Environment ──> SeedRequest* ──> RunResult* ──> ClaimResult* ──> Audit
      spec/         source      env/           audit            run/ executors/  stats+verdict   store

Dicts appear only at the edges (JSON records, template contexts); changes go through
``dataclasses.replace``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Version of the audit.json record and the ``--format json`` document (see store.py for history).
RECORD_FORMAT = 4


class Arm(enum.StrEnum):
    """The two arms of an audit: the paper's method and, optionally, its baseline."""

    METHOD = "method"
    BASELINE = "baseline"


class Direction(enum.StrEnum):
    """Which way a metric improves."""

    HIGHER = "higher"
    """Accuracies, scores, returns."""
    LOWER = "lower"
    """Losses, error rates, perplexities."""


class ClaimKind(enum.StrEnum):
    """What the paper's number is."""

    SINGLE = "single"
    """The score of one run."""
    MEAN = "mean"
    """The mean of ``Claim.runs`` runs."""


class Unit(enum.StrEnum):
    """The unit a paper prints a claimed number in ([claim] unit); the scores are put on it."""

    PERCENT = "%"
    """Percent: a claim of 83.25 against runs that write fractions (0.8325) compares them x 100."""
    FRACTION = "fraction"
    """A fraction: a claim of 0.8325 against runs that write percentages compares them / 100."""


class EnvironmentKind(enum.StrEnum):
    """Which interpreter the seeds run under."""

    CURRENT = "current"
    """The interpreter running repaudit."""
    VENV = "venv"
    """A cached virtual environment built from the repository's declarations."""


class TorchOrigin(enum.StrEnum):
    """Where the seeds' torch comes from."""

    SYSTEM = "system"
    """The auditor's own torch, reused."""
    ENVIRONMENT = "environment"
    """Installed into the environment (the repository pins its own)."""
    NONE = "none"
    """No torch is importable."""


class Isolation(enum.StrEnum):
    """How strongly a seed's processes were isolated, strongest first (run/isolation.py)."""

    BUBBLEWRAP = "bubblewrap"
    """Read-only system, private /tmp, no network, only the seed's own folders writable."""
    UNSHARE_NET = "unshare-net"
    """No network and an own PID namespace; the filesystem is shared."""
    NONE = "none"
    """A plain subprocess: network and filesystem reachable."""

    @property
    def note(self) -> str:
        """What this level does and does not protect, in the words the terminal and report use."""
        return _ISOLATION_NOTES[self]


_ISOLATION_NOTES = {
    Isolation.BUBBLEWRAP: (
        "seeds ran under bubblewrap: no network, system read-only, the auditor's home hidden, "
        "a private /tmp, only the seed's checkout and output folders writable; it is not a "
        "virtual machine (same kernel), so run hostile code inside a VM (docs/sandbox.md)"
    ),
    Isolation.UNSHARE_NET: (
        "seeds ran under unshare: no network and every process killed with the seed, but the "
        "filesystem is NOT protected (the code can read and write what the auditor can); "
        "install bubblewrap (apt-get install bubblewrap) for filesystem isolation"
    ),
    Isolation.NONE: (
        "seeds ran WITHOUT isolation: the code could use the network and read and write the "
        "auditor's files (only the environment variables were scrubbed); install bubblewrap "
        "(apt-get install bubblewrap) or run repaudit inside a container"
    ),
}


class ExecutorKind(enum.StrEnum):
    """What runs the seeds (executors/)."""

    LOCAL = "local"
    """Slots on this machine."""
    SLURM = "slurm"
    """One Slurm job array through submitit."""


class Phase(enum.StrEnum):
    """The steps of an audit, in order; the terminal says when each starts and how long it took."""

    SOURCE = "source"
    """Clone (or open) the repository, pin the commit, read the spec."""
    ENVIRONMENT = "environment"
    """Build or reuse the interpreter the seeds run under."""
    PREPARE = "prepare"
    """The spec's prepare command, once per audit."""
    SEEDS = "seeds"
    """Every seed of every arm."""


class OnInterrupt(enum.StrEnum):
    """What Ctrl-C does to an audit's Slurm jobs still queued or running (--on-interrupt)."""

    ASK = "ask"
    """Ask on the terminal (the default there)."""
    CANCEL = "cancel"
    """scancel them (the default without a terminal, as in CI)."""
    LEAVE = "leave"
    """Let them run; the next `repaudit check` picks up their results."""


class RunStatus(enum.StrEnum):
    """How one seed ended."""

    OK = "ok"
    """Exited 0 and every metric was read."""
    FAILED = "failed"
    """A non-zero exit, or it could not start."""
    TIMEOUT = "timeout"
    """Killed at the wall-clock limit."""
    NO_METRIC = "no-metric"
    """Exited 0 but a metric was missing, unparsable, NaN or infinite."""
    OK_WITH_ERROR = "ok-with-error"
    """Wrote every metric, then exited non-zero ([run] metric_after_failure): counted, and flagged."""


class Reduce(enum.StrEnum):
    """How one number comes out of a series a run printed or logged (every epoch, every episode)."""

    LAST = "last"
    FIRST = "first"
    MAX = "max"
    MIN = "min"
    MEAN = "mean"
    MEDIAN = "median"


class ReproductionDecision(enum.StrEnum):
    """Q1: the paper's number against the re-runs of its own arm (docs/statistics.md)."""

    REPRODUCED = "reproduced"
    """Inside the prediction interval."""
    OPTIMISTIC = "optimistic"
    """Inside, but only a lucky seed reaches it (a flag, not a failure)."""
    NOT_REPRODUCED = "not-reproduced"
    """Beyond the interval on the flattering side."""
    EXCEEDED = "exceeded"
    """Beyond the interval on the modest side."""
    BASELINE_UNDERSTATED = "baseline-understated"
    """The paper's baseline number is below what its own code gives (it inflates the gain)."""
    INCONCLUSIVE = "inconclusive"
    """Too few seeds (or no measurable seed variance) to judge."""


class ImprovementDecision(enum.StrEnum):
    """Q2: the claimed gap, from the gain test and the size test (docs/statistics.md)."""

    HOLDS = "holds"
    """A real gain, and the claimed size is consistent with the re-runs."""
    OVERSTATED = "overstated"
    """A real gain, but smaller than claimed."""
    WITHIN_NOISE = "within-noise"
    """No demonstrable gain, and the claimed size is ruled out."""
    REVERSED = "reversed"
    """The baseline is significantly better."""
    INCONCLUSIVE = "inconclusive"
    """Too few seeds to tell."""


class SeedReach(enum.StrEnum):
    """Whether the audit's seed reached an arm's code, from the seed hook's record of seeding calls."""

    REACHED = "reached"
    """A seeding call carried the audit's seed (or was overridden by it)."""
    NEVER_REACHED = "never-reached"
    """Seeding calls were recorded, all with a hard-coded value."""
    UNKNOWN = "unknown"
    """No seeding call was recorded (or the scores came without runs)."""


#: Any one decision of a claim.
Decision = ReproductionDecision | ImprovementDecision


class SequentialTest(enum.StrEnum):
    """A deciding test as the sequential design of ``--seeds auto`` watches it (sequential.py)."""

    GAIN = "gain"
    """Q2's gain test: its crossing passes the claim (holds, or overstated with the size test)."""
    REVERSE = "reverse"
    """Q2's reverse test: its crossing fails the claim (reversed)."""
    SIZE = "size"
    """Q2's size test: its crossing fails the claim (overstated, within-noise)."""
    CLAIM = "claim"
    """Q1 for the claimed number: its crossing fails the claim (not-reproduced)."""
    BASELINE_CLAIM = "baseline-claim"
    """Q1 for the paper's baseline number: its crossing fails the claim (baseline-understated)."""
    SEED_LUCK = "seed-luck"
    """Q2 without baseline runs: its crossing passes the claim (holds)."""


class StopReason(enum.StrEnum):
    """Why an adaptive audit stopped after a look, or that it went on (sequential.py)."""

    CONTINUE = "continue"
    """Not stopped: the next look runs."""
    FAILED = "failed"
    """A failing test crossed its boundary: the claim does not hold, whatever more seeds say."""
    SETTLED = "settled"
    """Every answer is determined: each passing test crossed, each failing test is futile."""
    FUTILE = "futile"
    """No open test can still cross its boundary by the last look: more seeds would not settle it."""
    LAST_LOOK = "last-look"
    """The last look (--max-seeds) ran."""


class Verdict(enum.StrEnum):
    """The audit's overall answer."""

    HOLDS = "holds"
    DOES_NOT_HOLD = "does-not-hold"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


class Tone(enum.StrEnum):
    """How an outcome reads to a reviewer: colours and marks in the report and the summary."""

    GOOD = "good"
    WARN = "warn"
    BAD = "bad"


class ExitCode(enum.IntEnum):
    """Process exit codes of ``check`` and ``stats``, for CI jobs."""

    HOLDS = 0
    """reproduced / optimistic / exceeded, and the improvement holds."""
    DOES_NOT_HOLD = 1
    """not-reproduced, baseline-understated, overstated, within-noise or reversed."""
    USAGE = 2
    """Bad flags or input (click's own code)."""
    INCONCLUSIVE = 3
    """Too few seeds to decide."""
    ERROR = 4
    """The audit could not run (clone, environment, every seed failed, an internal error)."""
    INTERRUPTED = 130
    """Ctrl-C: finished seeds are kept (128 + SIGINT, as shells report it)."""


class SeedMechanism(enum.StrEnum):
    """How a repository lets a run's seed be chosen, as `repaudit init` finds it (spec/infer_seed.py)."""

    FLAG = "flag"
    """A command-line option: ``--seed {seed}``."""
    CONFIG_KEY = "config"
    """A config override on the command line: ``seed={seed}``, ``train.seed={seed}``."""
    CONFIG_FILE = "config-file"
    """One committed config file per seed: ``configs/{seed}.toml``."""
    HARD_CODED = "hardcoded"
    """A seeding call with a fixed value: only ``seed_override`` can vary it."""
    NONE = "none"
    """No seeding anywhere: runs differ by chance alone."""


class EntryEvidence(enum.IntEnum):
    """Why `repaudit init` proposes a script as the entry point; a higher value is stronger."""

    NAME = 1
    """Only its name (train*, main, run, *_test.py in an experiment folder), with a main block."""
    MAIN_BLOCK = 2
    """An ``if __name__ == "__main__":`` block that parses arguments."""
    CONSOLE_SCRIPT = 3
    """A console script in pyproject.toml or setup.py."""
    SHELL = 4
    """A shell script or Makefile target that calls it."""
    DOCS = 5
    """A code block of the docs or of a README in a subfolder."""
    README = 6
    """A code block of a README at the repository's root: how the authors say to run it."""


# ---------------------------------------------------------------- spec


@dataclass(frozen=True)
class MetricSource:
    """Where a finished run's number is read from: exactly one of json_path, regex, csv_path or
    tensorboard is set. Each gives a series (one value, or one per epoch, episode, row or event),
    and ``reduce`` over the last ``last_n`` of it, times ``scale``, is the run's number."""

    json_path: str | None = None
    """JSON (or JSON-lines) file the run writes; may contain {out}; relative to the working folder."""
    key: str | None = None
    """Dotted path into each JSON document, e.g. "test.acc"; a list there is a series."""
    regex: str | None = None
    """One capturing group; its matches in stdout (else stderr) are the series."""
    csv_path: str | None = None
    """CSV file (with a header row) the run writes; may contain {out}; relative to the working folder."""
    column: str | None = None
    """The CSV column whose non-empty cells are the series."""
    tensorboard: str | None = None
    """A scalar tag in the TensorBoard event files under the run's output and working folders."""
    reduce: Reduce = Reduce.LAST
    """How the series becomes one number."""
    last_n: int | None = None
    """Reduce over the last N values only (None: all of them)."""
    scale: float = 1.0
    """Multiplies the number: 100 turns a logged fraction into the paper's percent, 0.01 the reverse."""


@dataclass(frozen=True)
class Claim:
    """One number a paper reports, and optionally the baseline it compares against."""

    metric: str
    """Name shown in the report, e.g. "test_accuracy"."""
    value: float
    """The paper's number for its method."""
    direction: Direction = Direction.HIGHER
    """Which way the metric improves."""
    kind: ClaimKind = ClaimKind.SINGLE
    """One run, or a mean over ``runs`` runs."""
    runs: int = 1
    """For kind = mean: how many runs the paper averaged."""
    baseline: float | None = None
    """The paper's baseline number, same kind and runs."""
    source: MetricSource = field(default_factory=MetricSource)
    """Where the method arm's runs write this metric."""
    baseline_source: MetricSource | None = None
    """The baseline arm's source, when it differs from the method's."""
    decimals: int | None = None
    """Digits after the decimal point the paper printed its numbers with (0.8320 -> 4); a
    seed-invariant result is compared with the claim at this precision. None: the digits of the
    value's shortest repr (0.832 -> 3)."""
    unit: Unit | None = None
    """The unit the paper prints the number in; None: detected from the claim and the scores,
    only where that is unambiguous (units.score_factor)."""


@dataclass(frozen=True)
class ArmSpec:
    """One arm of the audit: a command run under every seed."""

    name: Arm
    """Which arm."""
    command: str
    """Shell command template with {seed} {out} {threads} {gpu}."""


@dataclass(frozen=True)
class SlurmOptions:
    """The ``[slurm]`` table: generic names, translated to submitit's parameters by executors/slurm.py."""

    partition: str | None = None
    """Partition to submit to; None is the cluster's default."""
    gpus_per_node: int = 0
    """GPUs granted to each seed's job."""
    cpus_per_task: int = 1
    """CPUs granted to each seed's job (also its thread count)."""
    mem_gb: float | None = None
    """Memory per job; None is the partition's default."""
    timeout_min: int = 60
    """Slurm's time limit per job."""
    additional: Mapping[str, str] = field(default_factory=dict)
    """Further sbatch options, passed through."""


@dataclass(frozen=True)
class AuditSpec:
    """Everything that decides what an audit runs; its hash (spec.spec_hash) names the audit folder."""

    claims: tuple[Claim, ...]
    """At least one; several get Holm-corrected improvement tests."""
    arms: tuple[ArmSpec, ...]
    """Method first, then the baseline if any."""
    seeds: tuple[int, ...]
    """Seed values run in every arm."""
    looks: tuple[int, ...] = ()
    """``seeds = "auto"``: seeds per arm after each look, increasing, the last one the maximum
    (``seeds`` is then 1..maximum); empty: every seed runs."""
    setup: str | None = None
    """Run once per environment (cached)."""
    prepare: str | None = None
    """Run once per audit, before the seeds; network allowed."""
    timeout_seconds: float = 1800.0
    """Wall-clock limit per seed."""
    environment: EnvironmentKind = EnvironmentKind.CURRENT
    """Interpreter the seeds run under."""
    python: str | None = None
    """[run] python: the venv's Python version ("3.8" or "3.8.18"); None: what the repository
    declares, else the newest installed one released before its era (env/python.py)."""
    resolve_as_of: str | None = None
    """[run] resolve_as_of: "commit", "today" or a date "YYYY-MM-DD" the venv's packages are resolved
    as of; None: "commit" for a cloned repository, "today" for a local one."""
    seed_override: bool = False
    """Also replace the seeding calls the code makes (the seed hook)."""
    seed_from_env: bool = False
    """The command reads REPAUDIT_SEED, so it needs no {seed}."""
    deterministic: bool = False
    """torch.use_deterministic_algorithms(True) through the seed hook."""
    repeat_seed: int = 0
    """More than 1: run the first seed this many times to measure nondeterminism."""
    memory_bytes: int | None = None
    """Memory limit of each seed's process tree."""
    gpus_per_seed: int = 0
    """GPUs handed to each seed."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra variables for the command ([run.env])."""
    alpha: float = 0.05
    """Significance level of every decision."""
    stats_seed: int = 0
    """Seeds the bootstrap / ASO generator: the same audit gives the same numbers."""
    slurm: SlurmOptions | None = None
    """The [slurm] table, for --executor slurm."""
    workdir: str = ""
    """The seeds' working folder, relative to the checkout ("" = its root); {out} stays absolute."""
    accept_exit: tuple[int, ...] = (0,)
    """Exit codes of a normal finish."""
    metric_after_failure: bool = False
    """A run that wrote its metrics and then exited otherwise counts, as ok-with-error."""
    commit: str | None = None
    """[source] commit: the commit a spec kept outside the repository (registry, --spec) audits
    unless a ref is named (--ref, owner/name@ref)."""
    origin: str = "flags"
    """Where the spec came from: a path, "pyproject.toml", "registry:owner/repo", "flags"."""

    @property
    def claim(self) -> Claim:
        """The primary claim (the first)."""
        return self.claims[0]

    def arm(self, name: Arm) -> ArmSpec | None:
        """The arm called ``name``, or None when the spec has none."""
        return next((a for a in self.arms if a.name == name), None)


# ---------------------------------------------------------------- source and environment


@dataclass(frozen=True)
class Source:
    """The audited code, pinned: a git repository at one commit, or a snapshot of a folder."""

    target: str
    """What the user typed."""
    display_name: str
    """"owner/repo" or the folder name."""
    repo_path: Path
    """Local clone or repository holding the commit."""
    commit: str
    """Full SHA; for an unpinned plain folder, the SHA of the snapshot commit."""
    ref: str | None = None
    """Branch, tag or commit the user asked for."""
    url: str | None = None
    """Remote URL (without credentials) when cloned."""
    subdirectory: str = ""
    """Audited folder inside the repository ("" = root)."""
    snapshot: bool = False
    """True when uncommitted or unversioned files were snapshotted."""
    warnings: tuple[str, ...] = ()
    """Plain words the terminal and the report show (snapshot, submodules, stale clone)."""
    remote: str | None = None
    """For a local repository: the URL (without credentials) of the remote whose branches hold the
    commit, so a reviewer elsewhere can fetch it; None when no remote is known to hold it."""
    committed_at: str | None = None
    """The commit's committer date, ISO 8601 UTC ("2019-05-02T14:03:11Z"); None for a snapshot,
    whose files are of no date. Environments of the paper's era are resolved as of it."""

    @property
    def fetch_url(self) -> str | None:
        """Where a reviewer on another machine fetches the audited commit: the URL cloned, or a
        local repository's remote that holds it; None when only this machine has it."""
        return None if self.snapshot else self.url or self.remote

    @property
    def portable(self) -> bool:
        """True when ``fetch_url`` and the commit name the audited code fully (no subfolder)."""
        return self.fetch_url is not None and not self.subdirectory


@dataclass(frozen=True)
class Environment:
    """The interpreter seeds run under."""

    kind: EnvironmentKind
    """Current interpreter or a cached venv."""
    python: Path
    """Interpreter executable."""
    bin_dir: Path
    """Prepended to PATH."""
    cache_key: str | None = None
    """The venv's cache hash; None for "current"."""
    torch_from: TorchOrigin = TorchOrigin.NONE
    """Where its torch comes from."""
    reused: bool = False
    """True when a cached venv was reused."""
    python_version: str = ""
    """The interpreter's version, e.g. "3.10.13"."""
    python_reason: str = ""
    """Why that Python, in plain words: "pyproject.toml requires-python <3.11; the newest installed
    released before 2023-05-02"."""
    resolved_as_of: str | None = None
    """The date ("YYYY-MM-DD") the packages were resolved as of; None for the current interpreter."""
    readonly_paths: tuple[Path, ...] = ()
    """What a seed must be able to read to run this interpreter: the venv, its base installation
    (a pyenv Python lives in the auditor's home, which the sandbox hides), the auditor's torch."""
    notes: tuple[str, ...] = ()
    """Warnings for the report, e.g. a CPU build of torch that could not be had."""


@dataclass(frozen=True)
class Fingerprint:
    """Enough of the machine, and of how the seeds ran, to explain a difference between two audits."""

    python: str
    """Version and implementation of the seeds' interpreter."""
    platform: str
    """Operating system and kernel."""
    cpu: str
    """CPU model."""
    cpu_count: int
    """CPUs of the machine."""
    gpus: tuple[str, ...]
    """GPUs, "name (memory, driver)"."""
    torch: str | None
    """torch version the seeds import, if any."""
    cuda: str | None
    """CUDA version torch was built with."""
    cudnn: str | None
    """cuDNN version torch loads."""
    packages: tuple[str, ...]
    """Every installed distribution, "name==version", sorted."""
    variables: Mapping[str, str]
    """Variables repaudit set with the same value for every seed, as the seeds ran (never secrets)."""
    repaudit_version: str
    """The auditing repaudit."""
    isolation: Isolation = Isolation.NONE
    """The weakest isolation any seed ran under (each run records its own)."""
    environment: str = ""
    """Plain words: "venv 1a2b3c4d5e6f (reused from the cache)", "current interpreter (...)"."""
    torch_from: TorchOrigin = TorchOrigin.NONE
    """Where the seeds' torch came from."""
    varying: tuple[str, ...] = ()
    """Variables repaudit set per seed (the seed itself, a slot's GPUs): see each run's record."""
    python_reason: str = ""
    """Why the seeds ran on this Python (model.Environment.python_reason)."""
    resolved_as_of: str | None = None
    """The date ("YYYY-MM-DD") the packages were resolved as of; None for the current interpreter."""


# ---------------------------------------------------------------- runs


@dataclass(frozen=True, order=True)
class RunKey:
    """Identity of one run inside an audit: the store's folder, the executors' and the verdict's key."""

    arm: Arm
    """The arm it belongs to."""
    seed: int
    """The seed value."""
    repeat: int = 0
    """Index when one seed is re-run (--repeat-seed); 0 for the first run."""

    def __str__(self) -> str:
        suffix = f"-r{self.repeat}" if self.repeat else ""
        return f"{self.arm}/seed-{self.seed}{suffix}"


@dataclass(frozen=True)
class SeedRequest:
    """One seed of one arm to run; the executor fills the slot fields (threads, gpus)."""

    key: RunKey
    """Which run this is."""
    command: str
    """Template, filled in by run/seed.py."""
    source: Source
    """The pinned code; each seed gets its own clean checkout of it."""
    environment: Environment
    """The interpreter it runs under."""
    isolation: Isolation
    """Decided once per audit (once per node under Slurm), never weaker than asked."""
    run_dir: Path
    """audits/<id>/runs/<arm>/seed-<k>[-r<i>]: logs, run.json, out/."""
    work_dir: Path
    """The seed's own clean checkout (removed after the run)."""
    claims: tuple[Claim, ...]
    """Metrics to read after the run (with this arm's sources)."""
    timeout_seconds: float
    """Wall-clock limit."""
    threads: int = 1
    """Thread count of its slot (OMP_NUM_THREADS and friends)."""
    gpus: tuple[int, ...] = ()
    """Its slot's GPUs, indices into the GPUs repaudit sees."""
    memory_bytes: int | None = None
    """Memory limit of its process tree."""
    env: Mapping[str, str] = field(default_factory=dict)
    """The spec's [run.env]."""
    seed_override: bool = False
    """Replace the code's own seeding calls."""
    deterministic: bool = False
    """Deterministic algorithms through the seed hook."""
    prepared_dir: Path | None = None
    """Read-only output of `prepare`, shared by all seeds."""
    spec_hash: str = ""
    """Hash of the run-affecting spec; a stored result is reused only under the same hash."""
    workdir: str = ""
    """Its working folder inside the checkout ("" = the root)."""
    accept_exit: tuple[int, ...] = (0,)
    """Exit codes of a normal finish."""
    metric_after_failure: bool = False
    """Read the metrics of a run that exited otherwise, and count it as ok-with-error."""

    @classmethod
    def for_spec(
        cls,
        spec: AuditSpec,
        *,
        key: RunKey,
        command: str,
        source: Source,
        environment: Environment,
        isolation: Isolation,
        run_dir: Path,
        work_dir: Path,
        prepared_dir: Path | None = None,
        spec_hash: str = "",
    ) -> SeedRequest:
        """A request carrying every run-affecting setting of ``spec`` (limits, env, seeding,
        workdir, exits): the one way an audit and ``init --try`` run a seed alike."""
        return cls(
            key=key,
            command=command,
            source=source,
            environment=environment,
            isolation=isolation,
            run_dir=run_dir,
            work_dir=work_dir,
            claims=spec.claims,
            timeout_seconds=spec.timeout_seconds,
            memory_bytes=spec.memory_bytes,
            env=spec.env,
            seed_override=spec.seed_override,
            deterministic=spec.deterministic,
            prepared_dir=prepared_dir,
            spec_hash=spec_hash,
            workdir=spec.workdir,
            accept_exit=spec.accept_exit,
            metric_after_failure=spec.metric_after_failure,
        )


@dataclass(frozen=True)
class SeedCall:
    """One seeding call the seed hook saw (and replaced, under seed_override)."""

    function: str
    """E.g. "torch.manual_seed"."""
    original: int | None
    """The value the code passed."""
    replaced_by: int
    """The value it ran with (equal to ``original`` when nothing was replaced)."""


@dataclass(frozen=True)
class RunResult:
    """A finished seed. A failure is a value, never an exception; build one with ``for_request``."""

    key: RunKey
    """Which run this is."""
    status: RunStatus
    """How it ended."""
    metrics: Mapping[str, float] = field(default_factory=dict)
    """claim.metric -> value, for the metrics that were read."""
    seconds: float = 0.0
    """Wall-clock duration."""
    returncode: int | None = None
    """Exit code; negative when killed by a signal; None when it never started."""
    reason: str = ""
    """Plain words for failed / timeout / no-metric / ok-with-error."""
    cause: str = ""
    """What the run's own output says went wrong: a Python traceback's exception line, else the
    last non-empty line of stderr ("" when it exited normally or printed nothing)."""
    peak_memory_bytes: int | None = None
    """Peak memory of its process tree, sampled."""
    seed_calls: tuple[SeedCall, ...] = ()
    """Seeding calls the seed hook saw, each distinct call once."""
    log_tail: str = ""
    """Last lines of stderr (or stdout), for the report."""
    job_id: str | None = None
    """Slurm job id when run on a cluster."""
    spec_hash: str = ""
    """Hash of the run-affecting spec it ran under (resume matches on it)."""
    isolation: Isolation | None = None
    """The isolation it ran under (None: it never started)."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """The variables repaudit set for it, as it ran (threads, seed, GPUs, [run.env])."""

    @classmethod
    def for_request(cls, request: SeedRequest, status: RunStatus, **fields: object) -> RunResult:
        """The one way a run's outcome is recorded: keyed, hashed and placed like its request."""
        fields.setdefault("isolation", request.isolation)
        return cls(key=request.key, status=status, spec_hash=request.spec_hash, **fields)  # type: ignore[arg-type]

    @property
    def ok(self) -> bool:
        """True when the run's metrics count (ok, or ok-with-error)."""
        return self.status in (RunStatus.OK, RunStatus.OK_WITH_ERROR)

    def value(self, metric: str) -> float | None:
        """The run's value of ``metric``, or None when it was not read."""
        return self.metrics.get(metric)


# ---------------------------------------------------------------- statistics and decisions


@dataclass(frozen=True)
class Interval:
    """A two-sided interval and its confidence (or coverage) level."""

    low: float
    """Lower end."""
    high: float
    """Upper end."""
    level: float = 0.95
    """Coverage, e.g. 0.95."""


@dataclass(frozen=True)
class ArmSummary:
    """Descriptive statistics of one arm's successful seeds for one metric."""

    arm: Arm
    """Which arm."""
    values: tuple[float, ...]
    """Successful seeds, in seed order."""
    n: int
    """Successful seeds."""
    n_failed: int
    """Seeds that failed, timed out or gave no metric."""
    mean: float
    """Mean score."""
    sd: float
    """Sample sd (ddof = 1); 0.0 for n < 2."""
    median: float
    """Median score."""
    minimum: float
    """Lowest score."""
    maximum: float
    """Highest score."""
    mean_interval: Interval | None
    """95% t-interval of the mean; None for n < 2."""
    bootstrap_interval: Interval | None
    """BCa; a description only, never decides."""
    outliers: tuple[float, ...] = ()
    """Runs far below the rest on the metric's bad side (likely diverged; stats.diverged_mask).
    Flagged from 5 seeds on, never dropped."""
    seed_reach: SeedReach = SeedReach.UNKNOWN
    """Whether the audit's seed reached this arm's code (from the runs' seeding calls)."""


@dataclass(frozen=True)
class TestResult:
    """One reported statistical test or effect size."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    """E.g. "Welch one-sided t-test"."""
    statistic: float | None
    """The test statistic or effect size; None where undefined."""
    p_value: float | None
    """None where the test gives none (or cannot reach alpha)."""
    deciding: bool = False
    """One of the rules fixed in advance."""
    assumption: str = ""
    """What it assumes."""
    meaning: str = ""
    """One line a reviewer understands."""
    note: str = ""
    """E.g. "cannot reach p < 0.05 with 3 seeds per arm"."""
    interval: Interval | None = None
    """E.g. the gap's Welch interval, P(improvement)'s bootstrap interval."""
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
    """The answer."""
    reason: str
    """Plain words."""
    prediction_interval: Interval | None = None
    """For one new seed, or the mean of ``runs`` new seeds."""
    claim_percentile: float | None = None
    """Share of seeds below (direction-aware) the claim, 0..100."""
    chance_one_seed_reaches: float | None = None
    """From the t predictive distribution: the chance one new seed (a mean of `runs` new seeds
    for mean claims) is at least as good as the claim."""
    best_of_k: float | None = None
    """Seeds k whose best reaches the claim half the time, from the same predictive chance:
    1 - (1 - chance)^k = 1/2. Single-run claims only."""
    test: TestResult | None = None
    """The t statistic of the claim against the re-runs."""
    arm: Arm = Arm.METHOD
    """The arm whose re-runs the paper's number is checked against."""
    seeds_reaching: int | None = None
    """Successful seeds at or beyond the claim (direction-aware)."""


@dataclass(frozen=True)
class Improvement:
    """Q2: does the claimed improvement hold? Two one-sided tests decide (docs/statistics.md)."""

    decision: ImprovementDecision
    """The answer."""
    reason: str
    """Plain words."""
    claimed_gap: float
    """Δ, signed by direction: positive = claimed improvement."""
    observed_gap: float | None = None
    """d̂ = method mean - baseline mean, with baseline runs."""
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
    tests: tuple[TestResult, ...] = ()
    """Evidence shown beside the deciding tests, never deciding."""
    notes: tuple[str, ...] = ()
    """E.g. the mean-based and rank-based tests disagree."""


@dataclass(frozen=True)
class ClaimResult:
    """Every statistic and decision for one claim."""

    claim: Claim
    """The claim as the spec states it."""
    arms: tuple[ArmSummary, ...]
    """Method first."""
    reproduction: Reproduction
    """Q1."""
    improvement: Improvement | None
    """Q2; None when there is nothing to compare against."""
    repeat_sd: float | None = None
    """Same-seed spread (--repeat-seed): the nondeterminism floor."""
    baseline_reproduction: Reproduction | None = None
    """Q1 for the paper's baseline number, with baseline runs and a claimed baseline."""
    score_factor: float = 1.0
    """What the runs' scores were multiplied by to be on the claim's unit (100: fractions against
    a claim in percent; 0.01: the reverse); every statistic above is on the claim's unit."""


@dataclass(frozen=True)
class LookTest:
    """One deciding test at one look of an adaptive audit: its p-value against its boundary."""

    metric: str
    """The claim's metric."""
    test: SequentialTest
    """Which test."""
    p_value: float | None
    """One-sided p-value at this look; None when the test gave none (too few seeds, an exact
    comparison of seed-invariant scores)."""
    boundary: float | None
    """The nominal level it rejects at in this look (the calibrated boundary; Holm's level across
    claims spent the same way)."""
    crossed: bool
    """The test rejected at this look (the guards with diverged runs applied)."""
    chance: float | None = None
    """The predictive chance that it crosses its boundary by the last look, when it did not cross;
    below sequential.FUTILITY_CHANCE it is futile. None when crossed or already determined."""


@dataclass(frozen=True)
class Look:
    """One look of an adaptive audit (``--seeds auto``): the seeds it had and what it decided."""

    number: int
    """1 for the first look."""
    seeds: int
    """Seeds per arm the look brought each arm to (seeds 1..seeds)."""
    finished: Mapping[Arm, int]
    """Successful seeds per arm at this look."""
    seconds: float
    """Compute time of the runs this look added (the sum of their durations)."""
    tests: tuple[LookTest, ...]
    """Every deciding test of every claim at this look."""
    stop: StopReason
    """Whether the audit stopped here, and why."""
    reason: str
    """The stop (or the wait) in plain words."""


@dataclass(frozen=True)
class Audit:
    """A finished (or failed) audit: what the store keeps and the report renders."""

    audit_id: str
    """The folder name: <owner-repo>-<commit12>-<spec hash8>, or stats-<hash> for user numbers."""
    created_at: str
    """ISO 8601 UTC; the report's timestamp comes from here, so a re-render gives the same bytes."""
    spec: AuditSpec
    """The spec as run."""
    source: Source | None
    """The pinned code; None for `repaudit stats` on numbers a user already has."""
    fingerprint: Fingerprint | None
    """The machine and how the seeds ran; None for user numbers."""
    runs: tuple[RunResult, ...]
    """Every run, failures included, in plan order."""
    results: tuple[ClaimResult, ...]
    """One per claim, in the spec's order."""
    verdict: Verdict
    """The overall answer."""
    verdict_reason: str
    """One paragraph of plain words."""
    audit_dir: Path | None = None
    """Where it is stored (None for an unsaved `repaudit stats`)."""
    rerun_command: str = ""
    """The exact command that re-runs this audit."""
    notes: tuple[str, ...] = ()
    """Warnings: snapshot, weak isolation, a seed without effect, ..."""
    repaudit_version: str = ""
    """The repaudit that made it."""
    inputs: tuple[str, ...] = ()
    """`repaudit stats`: the score files, method first (the report is titled from them)."""
    looks: tuple[Look, ...] = ()
    """The looks of an adaptive audit (``--seeds auto``), in order; empty for a fixed number of
    seeds."""
    format: int = RECORD_FORMAT
    """Version of the record it was read from or will be written as."""
