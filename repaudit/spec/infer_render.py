"""Write a `repaudit init` draft as a repaudit.toml: what was found active, each line with its
evidence, every guess marked GUESS, the alternatives as comments, and what to run next."""

from __future__ import annotations

from pathlib import Path

from repaudit.errors import SpecError, UsageError
from repaudit.model import SeedMechanism
from repaudit.spec.infer import Draft
from repaudit.spec.infer_entry import Entry
from repaudit.spec.schema import check_table
from repaudit.spec.toml import toml_key, toml_literal, toml_value

_ALTERNATIVES = 4  # entry points and metrics shown as comments after the proposed one


def render(draft: Draft, *, next_step: str, commit: str | None = None) -> str:
    """The draft as TOML that load_spec reads once ``value`` is given (or --claim passed)."""
    pinned = f" at commit {commit[:12]}" if commit else ""
    lines = [
        f"# Drafted by `repaudit init`{pinned} from what the repository shows. Lines marked GUESS",
        "# need your eyes; the alternatives it found are the comments beside them. Next:",
        f"#   {next_step}",
        "# Every key is described in docs/spec.md of repaudit (docs/init.md: how this was inferred).",
    ]
    if draft.tried:
        lines.append(f"# Trial run: {draft.tried}")
    lines += ["", *_claim(draft), "", *_run(draft), *_metric(draft)]
    if draft.baseline:
        lines += [
            "",
            "[baseline]",
            f"command = {toml_value(draft.baseline)}  # GUESS: the script's baseline switch",
        ]
    return "\n".join(lines) + "\n"


def _claim(draft: Draft) -> list[str]:
    metric = draft.metric
    name = metric.name if metric else "metric"
    why = f"from {metric.where}" if metric else "nothing found"
    mark = "observed in the trial run" if metric and metric.observed else "GUESS"
    lines = [
        "[claim]",
        f"metric = {toml_value(name)}  # {mark}: {why}",
        f"direction = {toml_value(str(metric.direction) if metric else 'higher')}  # GUESS from the "
        'name: "lower" for losses, errors, NLL, perplexity',
        "# value = 0.0   # FILL IN: the paper's number for its method (or pass --claim); never guessed",
    ]
    lines += [f"#   the README's tables show {c}: GUESS, is it this metric?" for c in draft.claims]
    lines += [
        "# baseline = 0.0   # the paper's number for its baseline, if it compares against one",
        'kind = "single"  # or "mean", with runs = <how many runs the paper averaged>',
    ]
    return lines


def _run(draft: Draft) -> list[str]:
    lines = ["[run]"]
    entry, seed = draft.entry, draft.seed
    command = draft.command
    if command is None or entry is None:
        lines.append('# command = "python train.py --seed {seed} --out {out}"  # FILL IN')
    else:
        if draft.workdir and not _known("run", "workdir", draft.workdir):
            command = f"cd {draft.workdir} && {command}"
        lines.append(f"command = {toml_value(command)}  # {', '.join(entry.where[:2])}")
        for other in draft.entries[1 : 1 + _ALTERNATIVES]:
            lines.append(f"# command = {toml_value(_alternative(other))}  # {other.where[0]}")
        if draft.workdir:
            why = draft.workdir_evidence
            lines.append(_pending("run", "workdir", draft.workdir, why or "the command's folder"))
    if seed is not None:
        lines.append(f"# seed: {seed.mechanism.value}, {seed.where}")
        if seed.mechanism in (SeedMechanism.HARD_CODED, SeedMechanism.NONE):
            lines.append(f"seed_override = true  # {_seed_words(seed.mechanism)}")
        for call in seed.calls[1:4]:
            lines.append(f"#   also {call}")
    seeds = list(seed.seeds[:5]) if seed and seed.seeds else 5
    lines.append(f"seeds = {toml_value(seeds)}")
    lines.append(f"environment = {toml_value(str(draft.environment))}")
    if draft.declared:
        lines.append(f"# built from {', '.join(draft.declared)}")
    if draft.setup:
        lines.append(f"setup = {toml_value(draft.setup)}")
    if draft.prepare:
        first = draft.prepare[0]
        lines.append(
            f"prepare = {toml_value(first.command)}  # {first.where}: fetches or prepares data"
        )
    lines.append('timeout = "30m"')
    lines += [f"# a shorter trial run: {text}" for text in draft.shorter[:4]]
    if draft.metric and draft.metric.regex:
        lines.append(
            "# metric_after_failure = true  # if it crashes after printing its metric (issue 11)"
        )
    if draft.env:
        lines += ["", "[run.env]", *(f"{toml_key(k)} = {toml_value(v)}" for k, v in draft.env)]
    return lines


def _metric(draft: Draft) -> list[str]:
    lines = ["", "[run.metric]"]
    metric = draft.metric
    if metric is None:
        return lines + [
            '# json = "{out}/metrics.json"   # FILL IN: where the number is written ...',
            '# key = "test.acc"',
            "# regex = 'test acc: ([0-9.]+)'  # ... or the printed line it appears on",
        ]
    seen = f"the trial printed it: {metric.observed}" if metric.observed else "GUESS"
    lines.append(f"# {metric.where}: {metric.shown[:90]}  ({seen})")
    if metric.regex:
        lines.append(f"regex = {toml_literal(metric.regex)}")
    elif metric.json:
        lines += [f"json = {toml_value(metric.json)}", f"key = {toml_value(metric.key)}"]
    elif metric.csv:
        lines.append(_pending("metric", "csv", metric.csv, "a CSV file the run writes"))
        lines.append(_pending("metric", "column", metric.column, "its column"))
    elif metric.tensorboard:
        lines.append(_pending("metric", "tensorboard", metric.tensorboard, "a TensorBoard scalar"))
    if metric.regex and metric.repeated:
        lines.append(
            _pending("metric", "reduce", "last", 'printed repeatedly: or "max", "min", "mean"')
        )
    if metric.percent:
        lines.append("# printed in percent: if the paper gives a fraction, scale = 0.01 (GUESS)")
    if metric.tensorboard and metric.regex:
        lines.append(f"# tensorboard = {toml_value(metric.tensorboard)}  # the same series")
    for other in draft.metrics[1 : 1 + _ALTERNATIVES]:
        source = (
            f"regex = {toml_literal(other.regex)}"
            if other.regex
            else f"json = {toml_value(other.json)}, key = {toml_value(other.key)}"
            if other.json
            else f"csv = {toml_value(other.csv)}, column = {toml_value(other.column)}"
            if other.csv
            else f"tensorboard = {toml_value(other.tensorboard)}"
        )
        lines.append(f"# {source}  # {other.name}, {other.where}")
    return lines


def _alternative(entry: Entry) -> str:
    call = entry.call
    runner = " ".join(call.prefix) if call else "python"
    target = f"-m {call.target}" if call and call.module else entry.invoked
    args = " ".join(call.args) if call else ""
    text = f"{runner} {target} {args}".strip()
    return f"cd {entry.workdir} && {text}" if entry.workdir else text


def _seed_words(mechanism: SeedMechanism) -> str:
    if mechanism is SeedMechanism.HARD_CODED:
        return "a fixed seed and no option: the seed hook replaces it with the audit's"
    return "no seed anywhere: runs differ by chance alone; nothing for the hook to replace"


def _known(table: str, key: str, value: object) -> bool:
    """Whether this repaudit's spec format has ``key`` in ``table`` (keys added by issue 11 are
    written as comments until it does)."""
    try:
        check_table({key: value}, table, "probe")
    except SpecError:
        return False
    return True


def _pending(table: str, key: str, value: object, why: str) -> str:
    line = f"{key} = {toml_value(value)}  # {why}"
    return line if _known(table, key, value) else f"# {line} (a key of a newer repaudit)"


def refuse_overwrite(path: Path, *, force: bool) -> None:
    """UsageError when ``path`` exists and ``force`` is not given: a user's spec is never lost."""
    if path.exists() and not force:
        raise UsageError(f"{path} exists: edit it, or pass --force to overwrite it")


def write_draft(text: str, path: Path, *, force: bool = False) -> Path:
    """Write the draft to ``path``; an existing file is kept unless ``force``."""
    refuse_overwrite(path, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
