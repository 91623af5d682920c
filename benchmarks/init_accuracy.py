"""How often `repaudit init` proposes what a human expert answers, over the public research
repositories of benchmarks/init_repos.toml (issue 12).

    python benchmarks/init_accuracy.py /work/.mirror            # static inference only
    python benchmarks/init_accuracy.py /work/.mirror --try      # and a trial seed where one can run

SNAPSHOTS is a folder of fetched repositories, one per ``owner+name`` (a bare git directory, or
``repo/.git``, inside it); fetching is done beforehand. Each repository is laid out at its pinned
commit in a fresh git repository (blobs a snapshot lacks are left out), `init` infers a draft, and
four answers are compared with the expert's:

    command    the same script run from the same folder (the arguments are the authors' choice of
               experiment and are shown, not scored); "rank" says where the expected script is
               among the proposed entry points
    seed       the same mechanism: the flag, the config key, the per-seed config file, the file of a
               hard-coded seeding call, or none
    metric     a printed metric: the same file as the expert's print, and its regex gives the same
               number as the expert's on the printed output (the TOML's ``printed`` sample, or the
               trial's real output with --try), under the expert's reduce/last_n; a metric that is
               not printed: the same source (JSON key, TensorBoard tag, CSV column)
    direction  the same, where a metric was proposed

--try runs the draft's first seed (trial.try_draft, --timeout, default 120 s) for the repositories
whose ``runnable_here.ok`` is true, under the interpreter running this script (install their
packages into it first; the draft's own environment would download e.g. a CUDA torch). General
rules only: nothing here or in repaudit special-cases a repository of the set.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from repaudit import source, spec
from repaudit.model import EnvironmentKind, SeedMechanism
from repaudit.spec.infer_code import ShellLine, normalise, python_call
from repaudit.trial import try_draft

ANSWERS = Path(__file__).with_name("init_repos.toml")
FIELDS = ("command", "seed", "metric", "direction")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshots", type=Path, help="folder of fetched owner+name snapshots")
    parser.add_argument("--try", dest="try_it", action="store_true", help="also run a trial seed")
    parser.add_argument("--timeout", type=float, default=120.0, help="trial seconds (default 120)")
    parser.add_argument("--only", help="only repositories whose name contains this")
    options = parser.parse_args()
    repos = tomllib.loads(ANSWERS.read_text())["repo"]
    rows = []
    with tempfile.TemporaryDirectory(prefix="init-accuracy-") as scratch:
        for answer in repos:
            if options.only and options.only not in answer["repo"]:
                continue
            folder = lay_out(options.snapshots, answer, Path(scratch))
            row = {
                "repo": answer["repo"],
                **score(spec.infer_spec(folder), answer, answer["printed"]),
            }
            if options.try_it and answer["runnable_here"]["ok"]:
                row["tried"] = tried(folder, answer, Path(scratch), options.timeout)
            rows.append(row)
            print_row(row)
    print_totals(rows)
    return 0


def lay_out(snapshots: Path, answer: dict[str, Any], scratch: Path) -> Path:
    """The repository's files at the pinned commit, committed into a fresh git repository."""
    snapshot = snapshots / answer["repo"].replace("/", "+")
    git_dir = next(
        (
            d
            for d in (snapshot / "repo" / ".git", snapshot / "repo", snapshot)
            if (d / "HEAD").is_file()
        ),
        None,
    )
    if git_dir is None:
        sys.exit(f"{answer['repo']}: no snapshot under {snapshot}; fetch it first")
    folder = scratch / answer["repo"].replace("/", "+")
    clone = scratch / "clone"
    shutil.rmtree(clone, ignore_errors=True)
    git("clone", "-q", "--no-checkout", str(git_dir), str(clone))
    git("-C", str(clone), "checkout", "-q", answer["commit"], check=False)  # missing blobs: skipped
    shutil.rmtree(clone / ".git")
    clone.rename(folder)
    git("-C", str(folder), "init", "-q")
    git("-C", str(folder), "add", "-A")
    git(
        "-C",
        str(folder),
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@localhost",
        "commit",
        "-qm",
        "snapshot",
    )
    return folder


def git(*args: str, check: bool = True) -> None:
    subprocess.run(["git", *args], check=check, capture_output=True)


# ---------------------------------------------------------------- scoring


def score(draft: spec.Draft, answer: dict[str, Any], output: str) -> dict[str, Any]:
    """Each of FIELDS right or wrong, and what was proposed."""
    expected = expected_script(answer)
    scripts = [e.script for e in draft.entries]
    entry = draft.entry
    command_right = (
        entry is not None and entry.script == expected and draft.workdir == answer["workdir"]
    )
    metric = draft.metric
    return {
        "command": command_right,
        "rank": scripts.index(expected) + 1 if expected in scripts else None,
        "proposed": (f"(cd {draft.workdir}) " if draft.workdir else "") + (draft.command or "-"),
        "seed": seed_right(draft, answer),
        "seed_found": f"{draft.seed.mechanism.value}: {draft.seed.where}" if draft.seed else "-",
        "metric": metric_right(metric, answer, output),
        "metric_found": describe(metric),
        "direction": metric is not None and str(metric.direction) == answer["direction"],
    }


def expected_script(answer: dict[str, Any]) -> str | None:
    call = python_call(ShellLine("", 0, answer["command"], answer["workdir"]))
    if call is None:
        return None
    target = call.target.replace(".", "/") + ".py" if call.module else call.target
    return normalise(f"{call.cwd}/{target}" if call.cwd else target)


def seed_right(draft: spec.Draft, answer: dict[str, Any]) -> bool:
    kind, _, detail = answer["seed"].partition(":")
    found = draft.seed
    if found is None or found.mechanism.value != kind:
        return False
    if found.mechanism is SeedMechanism.HARD_CODED:
        return bool(found.calls) and found.calls[0].split(":")[0] == detail.split(":")[0]
    if found.mechanism is SeedMechanism.NONE:
        return True
    return found.name == detail


def metric_right(metric: spec.Metric | None, answer: dict[str, Any], output: str) -> bool:
    if metric is None:
        return False
    if not answer["metric_regex"] or not (metric.regex or metric.json):  # the same other source
        return (
            (
                bool(answer["json"])
                and metric.key == answer["key"]
                and name_of(metric.json) == name_of(answer["json"])
            )
            or (
                bool(answer["tensorboard"])
                and metric.tensorboard == answer["tensorboard"]
                and not metric.regex
            )
            or (
                bool(answer["csv"])
                and metric.column == answer["column"]
                and name_of(metric.csv) == name_of(answer["csv"])
            )
        )
    if metric.regex is None or name_of(metric.where.split(":")[0]) != name_of(print_file(answer)):
        return False
    want = reduced(answer["metric_regex"], output, answer)
    got = reduced(metric.regex, output, answer)
    return want is not None and got is not None and abs(want - got) <= 1e-9 * max(1.0, abs(want))


def print_file(answer: dict[str, Any]) -> str:
    """The file of the expert's print statement (the first ``path:line`` of evidence.metric)."""
    match = re.search(r"([\w./-]+\.py):\d+", answer["evidence"]["metric"])
    return match[1] if match else ""


def name_of(path: str | None) -> str:
    return PurePosixPath(path or "").name


def reduced(regex: str, output: str, answer: dict[str, Any]) -> float | None:
    """The number ``regex`` gives on ``output`` under the expert's reduce and last_n."""
    values = [float(m.group(1).rstrip(".") or "nan") for m in re.finditer(regex, output)]
    if answer["last_n"]:
        values = values[-answer["last_n"] :]
    if not values:
        return None
    how = {"last": lambda v: v[-1], "first": lambda v: v[0], "max": max, "min": min,
           "mean": statistics.fmean, "median": statistics.median}  # fmt: skip
    return float(how[answer["reduce"]](values))


def describe(metric: spec.Metric | None) -> str:
    if metric is None:
        return "-"
    if metric.regex or metric.json:
        source = metric.regex or f"json {metric.json} {metric.key}"
    else:
        source = (
            f"csv {metric.csv} column {metric.column}"
            if metric.csv
            else f"tensorboard {metric.tensorboard}"
        )
    return f"{metric.name} ({metric.direction.value}) {source}  [{metric.where}]"


def tried(folder: Path, answer: dict[str, Any], scratch: Path, timeout: float) -> dict[str, Any]:
    """The draft after one trial seed, scored on the trial's real output."""
    draft = dataclasses.replace(
        spec.infer_spec(folder), environment=EnvironmentKind.CURRENT, setup=None
    )
    cache = scratch / "cache"
    pinned = source.resolve_source(str(folder), cache_dir=cache)
    run_dir = scratch / "trials" / folder.name
    trial = try_draft(
        draft, pinned, folder, cache_dir=cache, run_dir=run_dir, timeout_seconds=timeout
    )
    output = "\n".join(
        (run_dir / "seed" / n).read_text(errors="replace")
        for n in ("stdout.log", "stderr.log")
        if (run_dir / "seed" / n).exists()
    )
    real = (
        output if reduced(answer["metric_regex"], output, answer) is not None else answer["printed"]
    )
    return {
        **score(trial.draft, answer, real),
        "trial": trial.draft.tried,
        "real_output": real is output,
    }


# ---------------------------------------------------------------- printing


def mark(value: bool) -> str:
    return "yes" if value else "NO"


def print_row(row: dict[str, Any]) -> None:
    print(f"\n{row['repo']}")
    print(
        f"  command   {mark(row['command']):<4}{row['proposed']}  (expected script rank: {row['rank']})"
    )
    print(f"  seed      {mark(row['seed']):<4}{row['seed_found']}")
    print(f"  metric    {mark(row['metric']):<4}{row['metric_found']}")
    print(f"  direction {mark(row['direction'])}")
    if "tried" in row:
        t = row["tried"]
        on = (
            "the trial's output"
            if t["real_output"]
            else "the printed sample (the trial printed no expected line)"
        )
        print(f"  --try     {t['trial']}")
        print(f"            metric {mark(t['metric'])} on {on}: {t['metric_found']}")


def print_totals(rows: list[dict[str, Any]]) -> None:
    def final(row: dict[str, Any]) -> dict[str, Any]:
        return row.get("tried", row)

    n = len(rows)
    print(f"\n{'':<42}{'command':>9}{'seed':>6}{'metric':>8}{'direction':>11}{'all four':>10}")
    for label, pick in (("without --try", lambda r: r), ("with --try where it ran", final)):
        counts = [sum(pick(r)[f] for r in rows) for f in FIELDS]
        whole = sum(all(pick(r)[f] for f in FIELDS) for r in rows)
        print(
            f"{label:<42}"
            + "".join(
                f"{c:>{w}}/{n}" for c, w in zip([*counts, whole], (6, 3, 5, 8, 7), strict=True)
            )
        )


if __name__ == "__main__":
    sys.exit(main())
