"""The command line: parse, call the core, print, map to an exit code. No decisions here."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from repaudit import __version__
from repaudit.errors import RepauditError, UsageError
from repaudit.model import Audit, Claim, ClaimKind, Direction, ExitCode, Verdict

EXIT_CODES_HELP = """\b
Exit codes:
  0  the claim holds (reproduced, optimistic or exceeded; the improvement holds)
  1  the claim does not hold (not-reproduced, baseline-understated, overstated,
     within-noise, reversed)
  2  usage error (bad flags, spec or input file)
  3  inconclusive (too few seeds to decide)
  4  the audit could not run (clone, environment, or every seed failed)
"""


@click.group(epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="repaudit")
def cli() -> None:
    """Audit a published machine-learning result: re-run it under many seeds and test the claim."""


# ---------------------------------------------------------------- check

DECISION_NAMES = ("not-reproduced", "baseline-understated", "optimistic", "inconclusive",
                  "overstated", "within-noise", "reversed")  # fmt: skip
OUTPUT_OPTIONS = ("output_format", "summary_md", "junit", "fail_on")


def _parse_fail_on(
    ctx: click.Context, param: click.Parameter, text: str | None
) -> frozenset[str] | None:
    if not text:
        return None
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = names - set(DECISION_NAMES)
    if unknown:
        raise click.BadParameter(
            f"unknown decision(s) {', '.join(sorted(unknown))}; choose from {', '.join(DECISION_NAMES)}"
        )
    return names


def ci_output_options(command: Callable[..., int]) -> Callable[..., int]:
    """--format, --summary-md, --junit and --fail-on: `check` and `stats` answer CI jobs alike."""
    options = [
        click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True),
        click.option("--summary-md", type=click.Path(dir_okay=False, path_type=Path), help="Also write the Markdown summary here."),
        click.option("--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write a JUnit XML file (one case per decision)."),
        click.option("--fail-on", callback=_parse_fail_on, help=f"Comma-separated decisions that fail the job, from: {', '.join(DECISION_NAMES)}."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def emit_verdict(
    audit: Audit,
    *,
    output_format: str,
    summary_md: Path | None,
    junit: Path | None,
    fail_on: frozenset[str] | None,
) -> int:
    """Print the verdict (text or the JSON record), write the CI files, and return the exit code."""
    from repaudit import report, store, verdict

    if output_format == "json":
        click.echo(json.dumps(store.to_record(audit), indent=2))
    else:
        click.echo(report.render_text(audit))
    markdown = report.render_markdown(audit)
    if summary_md:
        store.write_text_atomic(summary_md, markdown)
    report.append_step_summary(markdown)
    if junit:
        store.write_text_atomic(junit, report.render_junit(audit))
    code = verdict.exit_code(audit.verdict, audit.results, fail_on)
    if code is ExitCode.HOLDS and audit.verdict is not Verdict.HOLDS:
        click.echo(
            f"warning: the verdict is {audit.verdict.value}; --fail-on lets it pass", err=True
        )
    return code


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("target")
@click.option(
    "--claim", type=float, help="The paper's number for its method (overrides [claim] value)."
)
@click.option("--baseline-claim", type=float, help="The paper's number for its baseline.")
@click.option(
    "--seeds", type=click.IntRange(1), help="Seeds per arm (default: the spec's, else 5)."
)
@click.option(
    "--workers",
    type=click.IntRange(1),
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
@click.option(
    "--direction", type=click.Choice(["higher", "lower"]), help="Is higher or lower better?"
)
@click.option(
    "--claim-kind",
    type=click.Choice(["single", "mean"]),
    help="The claim is one run, or a mean over runs.",
)
@click.option(
    "--claim-runs", type=click.IntRange(1), help="With --claim-kind mean: runs the paper averaged."
)
@click.option(
    "--environment", type=click.Choice(["current", "venv"]), help="Interpreter for the seeds."
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
@click.option("--alpha", type=float, help="Significance level (default 0.05).")
@click.option(
    "--allow-dirty", is_flag=True, help="Audit uncommitted changes (snapshotted, and said so)."
)
@click.option(
    "--executor",
    "executor_name",
    type=click.Choice(["local", "slurm"]),
    default="local",
    show_default=True,
)
@click.option("--slurm-partition", help="Slurm partition (with --executor slurm).")
@click.option(
    "--store",
    "store_dir",
    type=click.Path(path_type=Path),
    default=Path("audits"),
    show_default=True,
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    help="Clones and environments (default ~/.cache/repaudit).",
)
@ci_output_options
@click.option("--quiet", is_flag=True, help="No live progress.")
def check(target: str, **options: Any) -> int:
    """Re-run TARGET's training under N seeds and test its claim.

    TARGET is a URL, owner/name[@ref], a local git repository, a folder inside one, or a plain folder.
    """
    from repaudit import audit as audit_stage
    from repaudit.executor import executor_factory
    from repaudit.progress import TerminalProgress
    from repaudit.spec import SpecOverrides

    outputs = {name: options.pop(name) for name in OUTPUT_OPTIONS}
    workers, executor_name = options.pop("workers"), options.pop("executor_name")
    slurm_partition, quiet = options.pop("slurm_partition"), options.pop("quiet")
    request = audit_stage.AuditRequest(
        target=target,
        ref=options.pop("ref"),
        allow_dirty=options.pop("allow_dirty"),
        spec_path=options.pop("spec_path"),
        store_dir=options.pop("store_dir"),
        cache_dir=options.pop("cache_dir"),
        overrides=SpecOverrides(**options),
        argv=tuple(sys.argv[1:]),
    )
    progress = None if quiet else TerminalProgress()
    make_executor = executor_factory(
        executor_name, workers=workers, slurm_partition=slurm_partition
    )
    try:
        result = audit_stage.run_audit(request, make_executor, progress)
    except KeyboardInterrupt:
        click.echo(
            f"interrupted: finished seeds are kept under {request.store_dir}; run the same command again to resume",
            err=True,
        )
        return 130
    return emit_verdict(result, **outputs)


# ---------------------------------------------------------------- stats


@cli.command(epilog=EXIT_CODES_HELP)
@click.argument("method_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--baseline", "baseline_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The baseline's per-seed scores, same format.")  # fmt: skip
@click.option("--claim", "claim_value", metavar="NUMBER", required=True,
              help="The paper's number, as printed (its decimals are its precision).")  # fmt: skip
@click.option("--baseline-claim", metavar="NUMBER", help="The paper's number for its baseline.")
@click.option("--claim-kind", type=click.Choice(["single", "mean"]), default="single",
              show_default=True, help="The paper reports one run, or a mean over --claim-runs.")  # fmt: skip
@click.option("--claim-runs", type=click.IntRange(2),
              help="Runs the paper averaged (needs --claim-kind mean).")  # fmt: skip
@click.option("--direction", type=click.Choice(["higher", "lower"]), default="higher",
              show_default=True, help="Whether higher or lower scores are better.")  # fmt: skip
@click.option("--alpha", type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
              default=0.05, show_default=True, help="Significance level.")  # fmt: skip
@click.option("--metric", default="score", show_default=True, help="Metric name for the report.")
@click.option("--column", help="CSV column holding the scores (files with a header row).")
@ci_output_options
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the self-contained HTML report here.")  # fmt: skip
def stats(method_file: Path, baseline_file: Path | None, **options: Any) -> int:
    """Test a claim on per-seed scores you already have (no training is run).

    METHOD_FILE holds one score per line, a CSV file (with --column), or a JSON list.
    """
    from repaudit import report, scores

    column, kind, runs = options["column"], ClaimKind(options["claim_kind"]), options["claim_runs"]
    if (runs is None) != (kind is ClaimKind.SINGLE):
        raise UsageError("--claim-runs K and --claim-kind mean go together: a mean claim needs "
                         "the number of runs the paper averaged, a single-run claim has none")  # fmt: skip
    value, decimals = scores.printed_number(options["claim_value"], flag="--claim")
    baseline_claim = None
    if options["baseline_claim"] is not None:
        baseline_claim, baseline_decimals = scores.printed_number(
            options["baseline_claim"], flag="--baseline-claim"
        )
        decimals = max(decimals, baseline_decimals)
    claim = Claim(metric=options["metric"], value=value, direction=Direction(options["direction"]),
                  kind=kind, runs=runs or 1, baseline=baseline_claim, decimals=decimals)  # fmt: skip
    method = scores.read_scores(method_file, column=column)
    baseline = None if baseline_file is None else scores.read_scores(baseline_file, column=column)
    inputs = [str(method_file)] + ([str(baseline_file)] if baseline_file else [])
    result = scores.scores_audit(
        claim, method, baseline, alpha=options["alpha"], inputs=inputs,
        rerun_command=shlex.join(["repaudit", *sys.argv[1:]]),
    )  # fmt: skip
    if options["html_path"]:
        report.write_report(result, options["html_path"])
    return emit_verdict(result, **{name: options[name] for name in OUTPUT_OPTIONS})


# ---------------------------------------------------------------- init


@cli.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing repaudit.toml.")
def init(folder: Path, force: bool) -> int:
    """Write FOLDER/repaudit.toml, inferred from its training script, for you to check.

    The paper's numbers are never guessed: fill in [claim] value (or pass --claim to check).
    """
    from repaudit.infer import init_spec

    path, result = init_spec(folder, force=force)
    click.echo(f"wrote {path}")
    for line in result.inferred:
        click.echo(f"  inferred  {line}")
    for line in result.to_check:
        click.echo(f"  check     {line}")
    return 0


@cli.command()
@click.argument("audit_dir", type=click.Path(file_okay=False, path_type=Path))
def report(audit_dir: Path) -> int:
    """Re-render AUDIT_DIR's report.html and summary.md from its audit.json."""
    from repaudit import store
    from repaudit.audit import write_outputs

    paths = store.AuditPaths(audit_dir)
    write_outputs(store.load_audit(audit_dir), paths)
    click.echo(f"wrote {paths.report_html} and {paths.summary_md}")
    return ExitCode.HOLDS


@cli.command(name="list")
@click.option("--store", "store_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("audits"), show_default=True)  # fmt: skip
def list_audits(store_dir: Path) -> int:
    """Stored audits, oldest first: date, verdict, repository, commit and folder."""
    from repaudit import store

    audits = store.list_audits(store_dir)
    if not audits:
        click.echo(f"no audits under {store_dir}")
    for audit in audits:
        subject = audit.source.display_name if audit.source else "user numbers"
        commit = audit.source.commit[:12] if audit.source else "-"
        click.echo(f"{audit.created_at[:16].replace('T', ' ')}  {audit.verdict.value:<13}  "
                   f"{subject}  {commit}  {audit.audit_dir}")  # fmt: skip
    return ExitCode.HOLDS


@cli.command()
@click.argument("before_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("after_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--alpha", type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
              default=0.05, show_default=True, help="Significance level of each Welch test.")  # fmt: skip
def diff(before_dir: Path, after_dir: Path, alpha: float) -> int:
    """Compare two audits of one repository: which numbers moved, beyond seed noise or not.

    Exits 1 when a number moved beyond seed noise (Welch's two-sided test per arm), else 0.
    """
    from repaudit import diff as comparison
    from repaudit import store

    before, after = store.load_audit(before_dir), store.load_audit(after_dir)
    result = comparison.diff_audits(before, after, alpha)
    click.echo(comparison.render_diff(result))
    return ExitCode.DOES_NOT_HOLD if result.moved else ExitCode.HOLDS


def main() -> None:
    """Console entry point: the one place where a RepauditError becomes a line and an exit code."""
    try:
        # Commands return their model.ExitCode; click.Exit (e.g. --help) returns its own code.
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except RepauditError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    sys.exit(int(code) if isinstance(code, int) else 0)
