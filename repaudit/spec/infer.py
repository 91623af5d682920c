"""`repaudit init`: infer a draft audit spec from what a repository shows, for the user to check.

Reads the repository (never runs it): the entry point from the READMEs, docs, shell scripts and
code (infer_entry.py), the seed mechanism (infer_seed.py), the metric and its direction
(infer_metric.py), the working folder, data steps and requirement files. ``Draft`` carries what was
found with its evidence; infer_render.py writes it as TOML with every guess marked. A trial run
(``--try``, trial.py) replaces guesses with what the run printed through ``observed``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from repaudit.model import EnvironmentKind, SeedMechanism
from repaudit.spec.infer_code import Repository, constant_str, dotted, render_command
from repaudit.spec.infer_entry import (
    Entry,
    Prepare,
    downloads_at_run_time,
    find_entries,
    find_prepare,
    relative_workdir,
)
from repaudit.spec.infer_metric import Metric, find_metrics, observe
from repaudit.spec.infer_seed import SeedFinding, find_seed

_OUT_NAMES = (
    "out",
    "output",
    "out_dir",
    "output_dir",
    "outdir",
    "save_dir",
    "save_path",
    "results_dir",
    "result_dir",
    "log_dir",
    "logdir",
    "checkpoint_dir",
    "work_dir",
    "exp_dir",
    "output_path",
    "out_path",
)
_STEP_NAMES = re.compile(
    r"^(n_|num_|max_|total_)?(epochs?|steps|iters|iterations|timesteps|train_steps|train_frames|"
    r"episodes|updates)$"
)
_DECLARATIONS = ("requirements.txt", "pyproject.toml", "setup.py", "environment.yml")


@dataclass(frozen=True)
class Option:
    """One command-line option a script defines (argparse ``add_argument``, click ``option``)."""

    names: tuple[str, ...]
    """Its option strings, e.g. ("-o", "--work-dir"), or the positional's name."""
    where: str
    """``file:line``."""
    keywords: dict[str, ast.expr] = field(default_factory=dict)
    """The call's keyword arguments."""

    @property
    def flag(self) -> str:
        """The long flag, else the first name."""
        return next((n for n in self.names if n.startswith("--")), self.names[0])

    @property
    def key(self) -> str:
        """The flag as an identifier: "--work-dir" -> "work_dir"."""
        return self.flag.lstrip("-").replace("-", "_").lower()


@dataclass(frozen=True)
class Draft:
    """What `repaudit init` found in a repository, with the evidence for each part."""

    entries: tuple[Entry, ...] = ()
    """Entry points, best first; the first is the draft's command."""
    command: str | None = None
    """The active command, with {seed} and {out}, run from ``workdir``."""
    workdir: str = ""
    """The folder the command runs from, relative to the repository root."""
    workdir_evidence: str = ""
    """Why it runs from there."""
    seed: SeedFinding | None = None
    """How the seed reaches the run."""
    metrics: tuple[Metric, ...] = ()
    """Metric candidates, best first; the first is the draft's metric."""
    baseline: str | None = None
    """The baseline arm's command, when the script has a baseline switch."""
    environment: EnvironmentKind = EnvironmentKind.CURRENT
    """venv when the repository declares its requirements."""
    declared: tuple[str, ...] = ()
    """Requirement files found."""
    setup: str | None = None
    """A setup command for requirements outside the root."""
    prepare: tuple[Prepare, ...] = ()
    """Data steps; the first is the draft's ``prepare``."""
    downloads: tuple[str, ...] = ()
    """``file:line`` where the entry point fetches data at run time."""
    env: tuple[tuple[str, str], ...] = ()
    """Variables for the command ([run.env])."""
    shorter: tuple[str, ...] = ()
    """Step and epoch options that shorten a trial run, with their defaults and evidence."""
    to_check: tuple[str, ...] = ()
    """What the user must check or fill in."""
    claims: tuple[str, ...] = ()
    """Numbers of the README's results tables that may be the paper's claim (guesses)."""
    tried: str = ""
    """After a trial run: one line of what it did ("" = not tried)."""

    @property
    def entry(self) -> Entry | None:
        """The proposed entry point."""
        return self.entries[0] if self.entries else None

    @property
    def metric(self) -> Metric | None:
        """The proposed metric."""
        return self.metrics[0] if self.metrics else None

    @property
    def missing(self) -> tuple[str, ...]:
        """What an audit needs and the draft lacks: "entry point", "seed mechanism", "metric"."""
        gaps = []
        if self.command is None:
            gaps.append("entry point")
        if self.seed is None or self.seed.mechanism is SeedMechanism.NONE:
            gaps.append("seed mechanism")
        if self.metric is None or not (self.metric.regex or self.metric.json):
            gaps.append("metric")
        return tuple(gaps)


def infer_spec(folder: Path) -> Draft:
    """What the repository in ``folder`` shows; the folder is only read."""
    repo = Repository(folder)
    declared = tuple(n for n in _DECLARATIONS if repo.is_file(n))
    requirements = [f for f in repo.files if re.search(r"(^|/)requirements[\w.-]*\.txt$", f)]
    draft = Draft(
        environment=EnvironmentKind.VENV if declared else EnvironmentKind.CURRENT,
        declared=declared or tuple(requirements[:1]),
        setup=f"pip install -r {requirements[0]}" if requirements and not declared else None,
    )
    entries = find_entries(repo)
    if not entries:
        return replace(
            draft,
            to_check=(
                "command: no script is run by the READMEs or docs, and none has a main block that "
                "parses arguments; write the training command with {seed} and {out}",
            ),
        )
    return _with_entry(repo, replace(draft, entries=tuple(entries)), entries[0])


def observed(draft: Draft, output: str, summary: str, written: float | None = None) -> Draft:
    """The draft after a trial run printed ``output``: metrics it printed first, each with what it
    matched (regexes built from the output when no guess matched); ``summary`` says how it ran.
    ``written`` is the number the trial read from the draft's JSON metric: that metric stays first,
    observed, since the file the run wrote outranks anything it printed."""
    seen = observe(list(draft.metrics), output)
    first = draft.metric
    if first is not None and first.json and not first.regex and written is not None:
        seen = [replace(first, observed=f"the run wrote {written:g} to {first.json}"), *seen]
    return replace(draft, metrics=tuple(seen) if seen else draft.metrics, tried=summary)


def _with_entry(repo: Repository, draft: Draft, entry: Entry) -> Draft:
    options = _options(repo, entry.script)
    call = entry.call
    args = call.args if call else ()
    line = entry.line
    where = line.where if line else entry.where[0]
    seed = find_seed(repo, entry.script, args, where, line.loop_vars if line else ())
    out = next((o for o in options if o.key in _OUT_NAMES and o.flag.startswith("-")), None)
    args = _with_out(seed.args, out)
    if _hydra(repo, entry.script):
        args = (*args, "hydra.run.dir={out}")
    workdir, because = entry.workdir, "the command's own folder" if entry.workdir else ""
    if not workdir:
        found = relative_workdir(repo, entry.script)
        workdir, because = found or ("", "")
    prefix = call.prefix if call else ("python",)
    module = ("-m",) if call and call.module else ()
    invoked = entry.invoked if workdir == entry.workdir else PurePosixPath(entry.script).name
    command = render_command([*prefix, *module, invoked, *args])
    metrics = find_metrics(repo, entry.script, out is not None or "{out}" in command, args)
    draft = replace(
        draft,
        command=command,
        workdir=workdir,
        workdir_evidence=because,
        seed=seed,
        metrics=tuple(metrics),
        prepare=tuple(find_prepare(repo, entry)),
        baseline=_baseline(options, command),
        downloads=tuple(downloads_at_run_time(repo, entry.script)),
        env=_pythonpath(repo, entry.script, workdir, because),
        shorter=tuple(_shorter(options)),
        claims=tuple(_table_numbers(repo, metrics[0].name) if metrics else ()),
    )
    return replace(draft, to_check=tuple(_to_check(draft, options, args)))


def _with_out(args: tuple[str, ...], out: Option | None) -> tuple[str, ...]:
    """The arguments with the output option's value set to {out} (added when absent)."""
    if out is None:
        return args
    for index, arg in enumerate(args):
        if arg in out.names and index + 1 < len(args):
            return (*args[: index + 1], "{out}", *args[index + 2 :])
        if arg.split("=")[0] in out.names and "=" in arg:
            return (*args[:index], f"{arg.split('=')[0]}={{out}}", *args[index + 1 :])
    return (*args, out.flag, "{out}")


def _options(repo: Repository, script: str) -> list[Option]:
    """argparse ``add_argument`` and click ``option`` calls of the script and what it imports."""
    found = []
    for name, _ in repo.closure(script, depth=2):
        tree = repo.tree(name)
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Call) and dotted(node.func).split(".")[-1] in (
                "add_argument",
                "option",
            ):
                names = tuple(s for a in node.args if (s := constant_str(a)))
                if names:
                    keywords = {k.arg: k.value for k in node.keywords if k.arg}
                    found.append(Option(names, f"{name}:{node.lineno}", keywords))
    return found


def _hydra(repo: Repository, script: str) -> bool:
    return "@hydra.main" in (repo.text(script) or "")


def _baseline(options: list[Option], command: str) -> str | None:
    """The command with ``--model baseline`` when a flag's choices include a baseline, or with a
    ``--baseline`` switch."""
    for option in options:
        choices = option.keywords.get("choices")
        if option.flag.startswith("--") and isinstance(choices, ast.List | ast.Tuple):
            values = [s for c in choices.elts if (s := constant_str(c))]
            chosen = next((v for v in values if "baseline" in v.lower()), None)
            if chosen:
                return _set_flag(command, option.flag, chosen)
        if option.key == "baseline":
            return f"{command} {option.flag}"
    return None


def _set_flag(command: str, flag: str, value: str) -> str:
    if re.search(rf"(^|\s){re.escape(flag)}[\s=]\S+", command):
        return re.sub(rf"((?:^|\s){re.escape(flag)}[\s=])\S+", rf"\g<1>{value}", command)
    script = re.search(r"\.py\b|-m \S+", command)
    cut = script.end() if script else len(command)
    return f"{command[:cut]} {flag} {value}{command[cut:]}"


def _pythonpath(
    repo: Repository, script: str, workdir: str, because: str
) -> tuple[tuple[str, str], ...]:
    """PYTHONPATH to the root when a script run from a subfolder imports a package that lives at
    the root (``from pygcn.utils import ...`` run from pygcn/), unless it extends sys.path itself."""
    if not workdir or "sys.path" in because:
        return ()
    tree = repo.tree(script)
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            top = node.module.split(".")[0]
            inside = repo.resolve_module(node.module, f"{workdir}/x.py")
            if inside and inside.startswith(f"{top}/") and not repo.exists(f"{workdir}/{top}"):
                return (("PYTHONPATH", "/".join([".."] * (workdir.count("/") + 1))),)
    return ()


def _shorter(options: list[Option]) -> list[str]:
    found = []
    for option in options:
        if _STEP_NAMES.match(option.key) and option.flag.startswith("-"):
            default = option.keywords.get("default")
            text = f" (default {ast.unparse(default)})" if default is not None else ""
            found.append(f"{option.flag} N{text}, {option.where}")
    return found


def _to_check(draft: Draft, options: list[Option], args: tuple[str, ...]) -> list[str]:
    check = ["value: the paper's number for its method (or pass --claim); never guessed"]
    seed, metric = draft.seed, draft.metric
    if seed is not None and seed.mechanism is SeedMechanism.HARD_CODED:
        check.append(
            f"seed: no option sets it ({seed.where}); seed_override = true replaces the fixed "
            "seeds with the audit's (random, numpy, torch, lightning, transformers; not TensorFlow)"
        )
    if seed is not None and seed.mechanism is SeedMechanism.NONE:
        check.append(
            f"seed: none ({seed.where}): every run differs by chance alone, so the audit measures "
            "exactly that spread, but no run can be repeated; seed_override = true is set so the "
            "spec loads, with nothing to replace"
        )
    if metric is None:
        check.append(
            "metric: no printed or written metric found; set [run.metric] regex or json + key"
        )
    given = set(args)
    for option in options:
        required = option.keywords.get("required")
        positional = not option.names[0].startswith("-")
        optional = option.keywords.get("nargs")
        needed = (isinstance(required, ast.Constant) and required.value is True) or (
            positional
            and "default" not in option.keywords
            and not (isinstance(optional, ast.Constant) and optional.value in ("?", "*"))
        )
        if needed and not given & set(option.names) and not (positional and args):
            what = f"the argument {option.flag}" if positional else option.flag
            check.append(f"command: {option.where} requires {what}; add it to the command")
    if draft.downloads:
        check.append(
            f"data: it downloads at run time ({draft.downloads[0]}); seeds have no network: run "
            "the download once in [run] prepare"
        )
    return check


def _table_numbers(repo: Repository, metric: str) -> list[str]:
    """Numbers of the root READMEs' Markdown tables in a column whose header names the metric's
    kind ("Accuracy", "acc@1", "Return"): candidates for the claim, never used unasked."""
    words = {w for w in re.findall(r"[a-z]+", metric.lower()) if len(w) > 2} - {
        "test",
        "val",
        "eval",
        "max",
        "best",
        "avg",
    }
    found = []
    for name in (f for f in repo.files if "/" not in f and f.lower().startswith("readme")):
        header: list[str] = []
        for number, line in enumerate((repo.text(name) or "").splitlines(), start=1):
            cells = (
                [c.strip() for c in line.strip().strip("|").split("|")]
                if line.lstrip().startswith("|")
                else []
            )
            if not cells:
                header = []
                continue
            if not header:
                header = cells
                continue
            for title, cell in zip(header, cells, strict=False):
                value = re.fullmatch(r"[-+]?\d+(?:\.\d+)?", cell.split("±")[0].strip())
                if value and any(w in title.lower() for w in words | {w[:3] for w in words}):
                    found.append(
                        f"{value[0]}  ({name}:{number}, row {cells[0]!r}, column {title!r})"
                    )
    return found[:5]
