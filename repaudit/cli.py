"""The command line: parse, call the core, print, map to an exit code. No decisions here."""

from __future__ import annotations

import datetime
import enum
import functools
import json
import os
import shlex
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from repaudit import __version__, console
from repaudit.console import Console
from repaudit.errors import InternalError, RepauditError, RepauditWarning, UsageError
from repaudit.formatting import size
from repaudit.model import (
    Audit,
    Claim,
    ClaimKind,
    Decision,
    Direction,
    EnvironmentKind,
    ExecutorKind,
    ExitCode,
    ImprovementDecision,
    Isolation,
    OnInterrupt,
    ReproductionDecision,
    Unit,
    Verdict,
)

EXIT_CODES_HELP = f"""\b
Exit codes:
  {ExitCode.HOLDS:<3} the claim holds (reproduced, optimistic or exceeded; the improvement holds)
  {ExitCode.DOES_NOT_HOLD:<3} the claim does not hold (not-reproduced, baseline-understated,
      overstated, within-noise, reversed)
  {ExitCode.USAGE:<3} usage error (bad flags, spec or input file)
  {ExitCode.INCONCLUSIVE:<3} inconclusive (too few seeds to decide)
  {ExitCode.ERROR:<3} the audit could not run (clone, environment, every seed failed, internal error)
  {ExitCode.INTERRUPTED:<3} interrupted (Ctrl-C); finished seeds are kept
"""
#: -h as well as --help, on every command.
CONTEXT = {"help_option_names": ["-h", "--help"]}
#: Decisions --fail-on may name: every one but those that always pass.
FAIL_ON_CHOICES: tuple[Decision, ...] = tuple(
    d
    for d in (*ReproductionDecision, *ImprovementDecision)
    if d not in (ReproductionDecision.REPRODUCED, ReproductionDecision.EXCEEDED)
    and d is not ImprovementDecision.HOLDS
)
OUTPUT_OPTIONS = ("output_format", "summary_md", "junit", "fail_on")
#: More local slots than any machine has cores: a bigger number is a typo, refused before planning.
MAX_WORKERS = 1024


class EnumChoice(click.Choice):  # type: ignore[type-arg]
    """A click choice of an enum's *values* ("unshare-net"), given to the command as the member
    (click's own enum choices spell members by their Python names, "unshare_net")."""

    def __init__(self, enum: type[enum.Enum]) -> None:
        self.enum = enum
        super().__init__([member.value for member in enum], case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The enum member the typed value names."""
        return self.enum(super().convert(value, param, ctx))


def _choice(enum: Any) -> EnumChoice:
    """A click choice of ``enum``'s values, given to the command as the enum member."""
    return EnumChoice(enum)


def store_option(
    help_text: str = "Where audits are stored.",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--store (into ``store_dir``), the audits folder, with this command's help."""
    return click.option(
        "--store",
        "store_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("audits"),
        show_default=True,
        help=help_text,
    )


def cache_dir_option(
    help_text: str = "Default: $REPAUDIT_CACHE, else ~/.cache/repaudit.",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--cache-dir, repaudit's cache of clones and environments, with this command's help."""
    return click.option(
        "--cache-dir", type=click.Path(file_okay=False, path_type=Path), help=help_text
    )


def verbosity(command: Callable[..., int]) -> Callable[..., int]:
    """-v/--verbose and -q/--quiet on a command, handed to it as its ``console``."""

    @functools.wraps(command)
    def with_console(*args: Any, verbose: bool, quiet: bool, **kwargs: Any) -> int:
        if verbose and quiet:
            raise UsageError("--verbose and --quiet contradict each other: give one of them")
        return command(*args, console=Console.for_terminal(quiet=quiet, verbose=verbose), **kwargs)

    quiet = click.option(
        "-q", "--quiet", is_flag=True, help="Only the result, warnings and errors: no progress."
    )
    verbose = click.option(
        "-v", "--verbose", is_flag=True, help="Also the details (each seed, log paths, inputs)."
    )
    return verbose(quiet(with_console))


def _alpha(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A significance level, refused in the same words as the spec's [stats] alpha."""
    from repaudit.spec import check_alpha

    return None if value is None else check_alpha(value)


def _wants_json(args: list[str]) -> bool:
    """--format json among the arguments: an error is then JSON on stdout too."""
    pairs = zip(args, [*args[1:], ""], strict=True)
    return "--format=json" in args or any(a == "--format" and b == "json" for a, b in pairs)


@click.group(epilog=EXIT_CODES_HELP, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="repaudit")
def cli() -> None:
    """Audit a published machine-learning result: re-run it under many seeds and test the claim."""


# ---------------------------------------------------------------- check


def _metric_name(ctx: click.Context, param: click.Parameter, text: str) -> str:
    if not text.strip():
        raise click.BadParameter("is empty; name the metric, e.g. --metric accuracy")
    return text.strip()


def _parse_fail_on(
    ctx: click.Context, param: click.Parameter, text: str | None
) -> frozenset[Decision] | None:
    if not text:
        return None
    names = {n.strip() for n in text.split(",") if n.strip()}
    known = {d.value: d for d in FAIL_ON_CHOICES}
    unknown = sorted(names - set(known))
    if unknown:
        raise click.BadParameter(
            f"unknown decision(s) {', '.join(unknown)}; choose from {', '.join(known)}"
        )
    return frozenset(known[n] for n in names)


class SeedsParam(click.ParamType):
    """--seeds: a count of seeds per arm (1 or more), or "auto" (adaptive, in looks)."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The count as an int, or the string "auto"."""
        if isinstance(value, int) or value == "auto":
            return value
        try:
            count = int(value)
        except ValueError:
            count = 0
        if count < 1:
            self.fail(f"{value!r} is neither a count of seeds (1 or more) nor auto", param, ctx)
        return count


def _parse_looks(
    ctx: click.Context, param: click.Parameter, text: str | None
) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a list of seed counts: write e.g. 3,5,8,12,20"
        ) from None


def _parse_exit_codes(
    ctx: click.Context, param: click.Parameter, text: str | None
) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(code) for code in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give exit codes separated by commas, e.g. 0,1"
        ) from None


def ci_output_options(command: Callable[..., int]) -> Callable[..., int]:
    """--format, --summary-md, --junit and --fail-on: `check` and `stats` answer CI jobs alike."""
    options = [
        click.option(
            "--format",
            "output_format",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="What stdout gets: the short verdict, or the whole JSON record.",
        ),
        click.option(
            "--summary-md",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Also write the Markdown summary here.",
        ),
        click.option(
            "--junit",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Also write a JUnit XML file (one case per decision).",
        ),
        click.option(
            "--fail-on",
            callback=_parse_fail_on,
            help="Comma-separated decisions that fail the job, from: "
            + ", ".join(dict.fromkeys(d.value for d in FAIL_ON_CHOICES)),
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def emit_verdict(
    audit: Audit,
    console: Console,
    *,
    output_format: str,
    summary_md: Path | None,
    junit: Path | None,
    fail_on: frozenset[Decision] | None,
    seed_table: bool = False,
) -> ExitCode:
    """Print the verdict (text or the JSON record) on stdout and its warnings on stderr, write the
    CI files, and return the exit code."""
    from repaudit import report, store, verdict

    if output_format == "json":
        console.result(json.dumps(store.to_record(audit), indent=2))
    else:
        text = report.render_text(audit, seed_table=seed_table, colour=console.colour_out)
        console.result(text)
    for note in audit.notes:
        console.warn(note)
    markdown = report.render_markdown(audit)
    if summary_md:
        store.write_text_atomic(summary_md, markdown)
    report.append_step_summary(markdown)
    if junit:
        store.write_text_atomic(junit, report.render_junit(audit))
    code = verdict.exit_code(audit.verdict, audit.results, fail_on)
    passed = verdict.let_through(audit.results, {d.value for d in fail_on}) if fail_on else []
    if passed and audit.verdict is not Verdict.ERROR:
        console.warn(f"--fail-on let these through: {'; '.join(passed)}")
    return code


@cli.command(epilog=EXIT_CODES_HELP, context_settings=CONTEXT)
@click.argument("target")
@click.option(
    "--claim", type=float, help="The paper's number for its method (overrides [claim] value)."
)
@click.option("--baseline-claim", type=float, help="The paper's number for its baseline.")
@click.option(
    "--seeds",
    type=SeedsParam(),
    help="Seeds per arm, or auto: run them in looks and stop once the verdict is settled "
    "(default: the spec's, else 5).",
)
@click.option(
    "--max-seeds",
    type=click.IntRange(3),
    help="With --seeds auto: the most seeds per arm, the last look (default 20).",
)
@click.option(
    "--looks",
    callback=_parse_looks,
    help="With --seeds auto: seeds per arm after each look, e.g. 3,5,8,12,20.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_WORKERS),
    default=1,
    show_default=True,
    help="Seeds run at once (local executor).",
)
@click.option("--ref", help="Branch, tag or commit to audit; the resolved SHA is recorded.")
@click.option(
    "--spec",
    "spec_path",
    type=click.Path(path_type=Path),
    help="Audit spec file (default: repaudit.toml in the repository).",
)
@click.option("--command", help="Training command with {seed} and {out} placeholders.")
@click.option("--baseline-command", help="The baseline arm's training command.")
@click.option("--metric-json", help="JSON file the metric is read from, e.g. '{out}/metrics.json'.")
@click.option("--metric-key", help="Dotted key into --metric-json, e.g. 'test.acc'.")
@click.option(
    "--metric-regex", help="Regex with one group; its last match in stdout is the metric."
)
@click.option("--metric-name", help="Name of the metric shown in the report.")
@click.option("--direction", type=_choice(Direction), help="Is higher or lower better?")
@click.option(
    "--claim-kind", type=_choice(ClaimKind), help="The claim is one run, or a mean over runs."
)
@click.option(
    "--claim-runs", type=click.IntRange(1), help="With --claim-kind mean: runs the paper averaged."
)
@click.option("--environment", type=_choice(EnvironmentKind), help="Interpreter for the seeds.")
@click.option(
    "--python", help="The venv's Python version, e.g. 3.8 (default: the repository's era)."
)
@click.option(
    "--resolve-as-of",
    help="Resolve the venv's packages as of: commit, today or a date (2019-06-01).",
)
@click.option("--timeout", help="Wall-clock limit per seed, e.g. 30m, 2h, 90s.")
@click.option("--memory", help="Memory limit per seed, e.g. 8G.")
@click.option(
    "--seed-override/--no-seed-override",
    default=None,
    help="Also replace hard-coded seeds in the code.",
)
@click.option(
    "--deterministic/--no-deterministic",
    default=None,
    help="torch.use_deterministic_algorithms(True) in every seed.",
)
@click.option(
    "--repeat-seed",
    type=click.IntRange(2),
    help="Run the first seed R times to measure nondeterminism.",
)
@click.option("--gpus-per-seed", type=click.IntRange(0), help="GPUs given to each seed.")
@click.option("--workdir", help="Folder the command runs from, relative to the repository's root.")
@click.option(
    "--metric-after-failure/--no-metric-after-failure",
    default=None,
    help="Count a run that wrote its metrics and then exited non-zero (as ok-with-error).",
)
@click.option(
    "--accept-exit",
    callback=_parse_exit_codes,
    help="Comma-separated exit codes of a normal finish (default 0), e.g. 0,1.",
)
@click.option(
    "--alpha", type=float, callback=_alpha, help="Significance level (default 0.05), in (0, 0.5)."
)
@click.option(
    "--allow-dirty", is_flag=True, help="Audit uncommitted changes (snapshotted, and said so)."
)
@click.option(
    "--executor",
    "executor_kind",
    type=_choice(ExecutorKind),
    default=ExecutorKind.LOCAL,
    show_default=True,
    help="What runs the seeds.",
)
@click.option("--slurm-partition", help="Slurm partition (with --executor slurm).")
@click.option(
    "--require-isolation",
    type=_choice(Isolation),
    help="Exit 4 instead of running seeds under weaker isolation than this.",
)
@click.option(
    "--on-interrupt",
    type=_choice(OnInterrupt),
    help="With --executor slurm: what Ctrl-C does to the jobs still queued or running "
    "(default: ask on a terminal, else cancel; leave: the same command picks them up again).",
)
@store_option()
@cache_dir_option("Clones and environments (default: $REPAUDIT_CACHE, else ~/.cache/repaudit).")
@ci_output_options
@verbosity
def check(target: str, console: Console, **options: Any) -> ExitCode:
    """Re-run TARGET's training under N seeds and test its claim.

    TARGET is a URL, owner/name[@ref], a local git repository, a folder inside one, or a plain folder.
    """
    from repaudit import report, store
    from repaudit.audit import AuditRequest, run_audit
    from repaudit.executors import executor_factory
    from repaudit.progress import TerminalProgress
    from repaudit.spec import SpecOverrides

    outputs = {name: options.pop(name) for name in OUTPUT_OPTIONS}
    on_interrupt = options.pop("on_interrupt") or (
        OnInterrupt.ASK if sys.stdin.isatty() else OnInterrupt.CANCEL
    )
    make_executor = executor_factory(
        options.pop("executor_kind"),
        workers=options.pop("workers"),
        slurm_partition=options.pop("slurm_partition"),
        cancel_on_interrupt=_cancel_question(on_interrupt),
    )
    request = AuditRequest(
        target=target,
        ref=options.pop("ref"),
        allow_dirty=options.pop("allow_dirty"),
        spec_path=options.pop("spec_path"),
        store_dir=options.pop("store_dir"),
        cache_dir=options.pop("cache_dir"),
        require_isolation=options.pop("require_isolation"),
        argv=tuple(sys.argv[1:]),
        overrides=SpecOverrides(**options),
    )
    progress = TerminalProgress(colour=console.colour_err, verbose=console.verbose)
    try:
        if console.quiet:
            result = run_audit(request, make_executor)
        else:
            with progress:
                result = run_audit(request, make_executor, progress)
    except KeyboardInterrupt:
        click.echo(
            f"interrupted: finished seeds are kept under {request.store_dir}; "
            "run the same command again to resume",
            err=True,
        )
        return ExitCode.INTERRUPTED
    assert result.audit_dir is not None
    report.write_outputs(result, store.AuditPaths(result.audit_dir))
    return emit_verdict(result, console, seed_table=True, **outputs)


def _cancel_question(choice: OnInterrupt) -> Callable[[int], bool]:
    """--on-interrupt as the Slurm executor's question on Ctrl-C: cancel the jobs still running?"""

    def ask(count: int) -> bool:
        try:
            return click.confirm(
                f"\n{count} Slurm job(s) of this audit are still queued or running. Cancel them? "
                "(no: they keep running, and the same command picks up their results)",
                default=True,
                err=True,
            )
        except (click.Abort, EOFError):  # a second Ctrl-C, or no answer: cancel
            return True

    match choice:
        case OnInterrupt.CANCEL:
            return lambda count: True
        case OnInterrupt.LEAVE:
            return lambda count: False
        case OnInterrupt.ASK:
            return ask


# ---------------------------------------------------------------- stats


@cli.command(epilog=EXIT_CODES_HELP, context_settings=CONTEXT)
@click.argument("method_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--baseline",
    "baseline_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The baseline's per-seed scores, same format.",
)
@click.option(
    "--claim",
    "claim_value",
    metavar="NUMBER",
    required=True,
    help="The paper's number, as printed (its decimals are its precision).",
)
@click.option("--baseline-claim", metavar="NUMBER", help="The paper's number for its baseline.")
@click.option(
    "--claim-kind",
    type=_choice(ClaimKind),
    default=ClaimKind.SINGLE,
    show_default=True,
    help="The paper reports one run, or a mean over --claim-runs.",
)
@click.option(
    "--claim-runs",
    type=click.IntRange(2),
    help="Runs the paper averaged (needs --claim-kind mean).",
)
@click.option(
    "--direction",
    type=_choice(Direction),
    default=Direction.HIGHER,
    show_default=True,
    help="Whether higher or lower scores are better.",
)
@click.option(
    "--alpha",
    type=float,
    callback=_alpha,
    default=0.05,
    show_default=True,
    help="Significance level, in (0, 0.5).",
)
@click.option(
    "--metric",
    default="score",
    show_default=True,
    callback=_metric_name,
    help="Metric name for the report.",
)
@click.option("--column", help="CSV column holding the scores (files with a header row).")
@click.option(
    "--unit",
    type=_choice(Unit),
    help="The unit the claim is printed in; the scores are put on it (default: inferred).",
)
@ci_output_options
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the self-contained HTML report here.",
)
@verbosity
def stats(
    method_file: Path, baseline_file: Path | None, console: Console, **options: Any
) -> ExitCode:
    """Test a claim on per-seed scores you already have (no training is run).

    METHOD_FILE holds one score per line, a CSV file (with --column), or a JSON list.
    """
    from repaudit import report, scores

    column, kind, runs = options["column"], options["claim_kind"], options["claim_runs"]
    if (runs is None) != (kind is ClaimKind.SINGLE):
        raise UsageError(
            "--claim-runs K and --claim-kind mean go together: a mean claim needs the number of "
            "runs the paper averaged, a single-run claim has none"
        )
    value, decimals = scores.printed_number(options["claim_value"], flag="--claim")
    baseline_claim = None
    if options["baseline_claim"] is not None:
        baseline_claim, baseline_decimals = scores.printed_number(
            options["baseline_claim"], flag="--baseline-claim"
        )
        decimals = max(decimals, baseline_decimals)
    claim = Claim(
        metric=options["metric"],
        value=value,
        direction=options["direction"],
        kind=kind,
        runs=runs or 1,
        baseline=baseline_claim,
        decimals=decimals,
        unit=options["unit"],
    )
    method = scores.read_scores(method_file, column=column)
    baseline = None if baseline_file is None else scores.read_scores(baseline_file, column=column)
    inputs = [str(method_file)] + ([str(baseline_file)] if baseline_file else [])
    for path, values in zip(inputs, (method, baseline), strict=False):
        console.detail(f"read {len(values or ())} scores from {path}")
    result = scores.scores_audit(
        claim,
        method,
        baseline,
        alpha=options["alpha"],
        inputs=inputs,
        rerun_command=shlex.join(["repaudit", *sys.argv[1:]]),
    )
    if options["html_path"]:
        report.write_report(result, options["html_path"])
        console.info(f"wrote {options['html_path']}")
    return emit_verdict(result, console, **{name: options[name] for name in OUTPUT_OPTIONS})


# ---------------------------------------------------------------- init, report, list, diff


@cli.command(context_settings=CONTEXT)
@click.argument("target")
@click.option("--ref", help="Branch, tag or commit to read; the resolved SHA is recorded.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the spec here (default: into a local folder, else audits/registry/<owner>/<repo>.toml).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing spec.")
@click.option(
    "--try",
    "try_it",
    is_flag=True,
    help="Run the draft for one seed (sandboxed, short timeout) and keep what it printed.",
)
@click.option("--timeout", default="2m", show_default=True, help="The trial seed's time limit.")
@click.option("--allow-dirty", is_flag=True, help="Try uncommitted changes (snapshotted).")
@store_option("Audits folder, whose registry/ holds specs of remote repositories.")
@cache_dir_option(
    "Clones, environments and trial logs (default: $REPAUDIT_CACHE, else ~/.cache/repaudit)."
)
@verbosity
def init(
    target: str, timeout: str, cache_dir: Path | None, console: Console, **options: Any
) -> ExitCode:
    """Infer an audit spec for TARGET from its READMEs and code, for you to check.

    TARGET is what `check` takes: a URL, owner/name[@ref] or a folder. The paper's numbers are
    never filled in: pass --claim to `check`.
    """
    from repaudit.env import default_cache_dir
    from repaudit.spec import parse_duration
    from repaudit.trial import init_repository

    try:
        seconds = parse_duration(timeout)
    except ValueError as error:
        raise UsageError(f"--timeout {error}") from None
    cache = (cache_dir or default_cache_dir()).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    result = init_repository(target, timeout_seconds=seconds, cache_dir=cache, **options)
    console.result(f"wrote {result.path}")
    if not console.quiet:
        console.result(
            "\n".join([*(f"  {line}" for line in result.lines()), f"next: {result.next_step}"])
        )
    return ExitCode.HOLDS


@cli.command(context_settings=CONTEXT)
@click.argument("audit_dir", type=click.Path(file_okay=False, path_type=Path))
@verbosity
def report(audit_dir: Path, console: Console) -> ExitCode:
    """Re-render AUDIT_DIR's report.html and summary.md from its audit.json."""
    from repaudit import report as outputs
    from repaudit import store

    paths = store.AuditPaths(audit_dir)
    outputs.write_outputs(store.load_audit(audit_dir), paths)
    console.info(f"wrote {paths.report_html} and {paths.summary_md}")
    return ExitCode.HOLDS


@cli.command(name="list", context_settings=CONTEXT)
@store_option()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="A table with a header line, or a JSON list.",
)
@verbosity
def list_audits(store_dir: Path, output_format: str, console: Console) -> ExitCode:
    """Stored audits, oldest first: date, verdict, what was audited, commit and folder."""
    from repaudit import report, store

    rows = [report.listing_row(audit) for audit in store.list_audits(store_dir)]
    if output_format == "json":
        console.result(json.dumps(rows, indent=2))
        return ExitCode.HOLDS
    if not rows:
        console.info(f"no audits under {store_dir}")
        return ExitCode.HOLDS
    console.result(report.render_listing(rows, header=not console.quiet, claims=console.verbose))
    return ExitCode.HOLDS


@cli.command(context_settings=CONTEXT)
@click.argument("before_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("after_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--alpha",
    type=float,
    callback=_alpha,
    default=0.05,
    show_default=True,
    help="Significance level of each Welch test, in (0, 0.5).",
)
@verbosity
def diff(before_dir: Path, after_dir: Path, alpha: float, console: Console) -> ExitCode:
    """Compare two audits of one repository: which numbers moved, beyond seed noise or not.

    Exits 1 when a number moved beyond seed noise (Welch's two-sided test per arm), else 0.
    """
    from repaudit import report, store

    before, after = store.load_audit(before_dir), store.load_audit(after_dir)
    result = report.diff_audits(before, after, alpha)
    console.result(report.render_diff(result))
    return ExitCode.DOES_NOT_HOLD if result.moved else ExitCode.HOLDS


# ---------------------------------------------------------------- the spec: check it, its schema


@cli.command(name="spec-check", context_settings=CONTEXT)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@verbosity
def spec_check(files: tuple[Path, ...], console: Console) -> ExitCode:
    """Check spec FILES (default: ./repaudit.toml) as `check` reads them, without running anything.

    Exits 0 when every file is valid; else 2 with the first problem in one line (file, key, fix).
    A pyproject.toml is checked through its [tool.repaudit] table. The pre-commit hook runs this.
    """
    from repaudit.spec import check_spec_file

    for path in files or (Path("repaudit.toml"),):
        spec = check_spec_file(path)
        claims = ", ".join(f"{c.metric} {c.value:g}" for c in spec.claims)
        arms = " and ".join(arm.name for arm in spec.arms)
        console.info(f"{path}: valid ({claims}; {arms}; {len(spec.seeds)} seeds)")
    return ExitCode.HOLDS


@cli.command(name="spec-schema", context_settings=CONTEXT)
@verbosity
def spec_schema(console: Console) -> ExitCode:
    """Print the JSON Schema of repaudit.toml (docs/repaudit.schema.json), for editors and CI."""
    from repaudit.spec import json_schema

    console.result(json.dumps(json_schema(), indent=2))
    return ExitCode.HOLDS


# ---------------------------------------------------------------- the environment cache


@cli.group(context_settings=CONTEXT)
def cache() -> None:
    """The cached environments (virtual environments of the audited repositories)."""


def _cache_line(environment: Any) -> str:
    """One cached environment: folder, size, last use, Python and resolution date."""
    used = datetime.datetime.fromtimestamp(environment.last_used).strftime("%Y-%m-%d %H:%M")
    what = (
        f"Python {environment.python}, packages as of {environment.resolved_as_of or '(auditor)'}"
        if environment.complete
        else "incomplete build"
    )
    return f"{environment.path.name}  {size(environment.size_bytes):>9}  used {used}  {what}"


@cache.command(name="list", context_settings=CONTEXT)
@cache_dir_option()
@verbosity
def cache_list(cache_dir: Path | None, console: Console) -> ExitCode:
    """Cached environments, least recently used first: size, last use, Python, resolution date."""
    from repaudit.env import default_cache_dir, list_environments

    folder = cache_dir or default_cache_dir()
    environments = list_environments(folder)
    for environment in environments:
        console.result(_cache_line(environment))
    total = sum(e.size_bytes for e in environments)
    if not console.quiet:  # the total is part of the listing
        console.result(f"{len(environments)} environments under {folder / 'venvs'}, {size(total)}")
    return ExitCode.HOLDS


@cache.command(context_settings=CONTEXT)
@cache_dir_option()
@click.option("--older-than", help="Remove environments unused for longer than this, e.g. 30d.")
@click.option(
    "--max-size", help="Then remove the least recently used until the rest fit, e.g. 20G."
)
@verbosity
def prune(
    cache_dir: Path | None, older_than: str | None, max_size: str | None, console: Console
) -> ExitCode:
    """Remove unused environments (and crashed builds); never one a running audit uses."""
    from repaudit.env import default_cache_dir, prune_environments
    from repaudit.spec import parse_duration, parse_size

    try:
        seconds = parse_duration(older_than) if older_than else None
        limit = parse_size(max_size) if max_size else None
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    removed = prune_environments(
        cache_dir or default_cache_dir(), older_than_seconds=seconds, max_size_bytes=limit
    )
    for environment in removed:
        console.result(f"removed {_cache_line(environment)}")
    freed = sum(e.size_bytes for e in removed)
    if not console.quiet:
        console.result(f"removed {len(removed)} environments, {size(freed)}")
    return ExitCode.HOLDS


def _save_crash(error: BaseException) -> InternalError:
    """An exception no stage turned into a RepauditError: its traceback goes under the cache."""
    from repaudit.env import default_cache_dir

    stamp = time.strftime("%Y%m%dT%H%M%S")
    return InternalError.saved(error, default_cache_dir() / "errors" / f"{stamp}-{os.getpid()}.log")


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A RepauditWarning is one "warning:" line on stderr; other warnings look as Python shows them."""
    if issubclass(category, RepauditWarning):
        Console.for_terminal().warn(str(message))
    else:
        _PYTHON_SHOWWARNING(message, category, filename, lineno, file, line)


_PYTHON_SHOWWARNING = warnings.showwarning


def main() -> None:
    """Console entry point: the one place an error becomes a line and an exit code.

    A RepauditError prints its message; a full or read-only disk is a StoreError; any other
    exception is a bug in repaudit, never a verdict: exit 4 with one line naming the saved traceback.
    With --format json the error is also ``{"error": ..., "exit_code": ...}`` on stdout.
    """
    as_json = _wants_json(sys.argv[1:])
    warnings.showwarning = _show_warning
    try:
        # Commands return their ExitCode; click.Exit (e.g. --help) returns its own code.
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        console.error("aborted", ExitCode.INTERRUPTED, as_json=as_json)
        sys.exit(ExitCode.INTERRUPTED)
    except click.ClickException as error:
        if as_json:
            console.error(error.format_message(), error.exit_code, as_json=True)
        else:
            error.show()
        sys.exit(error.exit_code)
    except RepauditError as error:
        console.error(str(error), error.exit_code, as_json=as_json)
        sys.exit(error.exit_code)
    except Exception as error:
        from repaudit.store import unwritable

        if isinstance(error, OSError) and (problem := unwritable(error, Path("."))):
            console.error(str(problem), problem.exit_code, as_json=as_json)
            sys.exit(problem.exit_code)
        crash = _save_crash(error)
        console.error(str(crash), crash.exit_code, as_json=as_json)
        sys.exit(crash.exit_code)
    sys.exit(int(code) if isinstance(code, int) else 0)
