"""`repaudit init`: the entry points of a repository, from evidence, ranked.

The strongest evidence is how the authors say to run it: a ``python ...`` line in a README's code
block. Then the docs and sub-READMEs, shell scripts and Makefiles, console scripts, scripts with a
main block that parses arguments, and last names alone. A library module (no main block, nothing run
at its top level) is never proposed; neither is a script that only downloads or prepares data
(that becomes the ``prepare`` step) or only evaluates a checkpoint when another one trains.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass
from pathlib import PurePosixPath

from repaudit.model import EntryEvidence
from repaudit.spec.infer_code import (
    PythonCall,
    Repository,
    ShellLine,
    constant_str,
    dotted,
    is_readme,
    main_block,
    normalise,
    python_call,
    runs_at_top,
)

_PREPARE = re.compile(r"prepare|download|preprocess|get_data|fetch|make_data|build_data|setup_data")
_NOT_ENTRY = re.compile(
    r"(^|/)(setup|conftest|__init__|version|_version)\.py$|(^|/)tests?/|/docs?/"
)
_EVAL_ONLY = re.compile(
    r"^--?(eval|evaluate|eval[-_]only|test[-_]only|sample[-_]only|predict|inference|demo|export)$"
    r"|^(checkpoint_path|ckpt_path|ckpt)="
)
_DOWNLOADS = re.compile(
    r"requests\.get\(|urlretrieve\(|urlopen\(|\bwget\b|gdown\.|snapshot_download\(|load_dataset\(|"
    r"download\s*=\s*True"
)
_TRAINS = (
    ".backward(",
    ".minimize(",
    ".fit(",
    "optimizer.step(",
    "apply_gradients(",
    "value_and_grad(",
    "jax.grad(",
    "optax.",
    ".train_on_batch(",
    "GradientTape",
    "opt.step(",
)
_PARSES = re.compile(
    r"ArgumentParser\(|add_argument\(|@click\.|typer\.|tyro\.cli\(|fire\.Fire\(|@hydra\.main|"
    r"flags\.DEFINE_|HfArgumentParser\(|sys\.argv|docopt\("
)
# Scripts that launch, sweep or tune many runs of another script, not one training run.
_LAUNCHER = re.compile(r"submit|slurm|launch|sweep|tune|tuning|hparam|benchmark|grid_?search")
_NAME_ORDER = (r"^train", r"^main$", r"^run", r"_test$|^test_", r"^(finetune|pretrain|experiment)")


@dataclass(frozen=True)
class Entry:
    """A script `init` proposes to run, with the evidence for it."""

    script: str
    """Repository-relative path of the script's file."""
    call: PythonCall | None
    """The call as the evidence writes it (its arguments are the authors'), or None."""
    line: ShellLine | None
    """Where that call is written (its ``for`` loops say which variable is a seed)."""
    workdir: str
    """Folder to run from, relative to the repository root ("" = the root)."""
    evidence: EntryEvidence
    """The strongest kind of evidence found."""
    where: tuple[str, ...]
    """Where it was found, strongest first: "README.md:42", "run.sh:7", "train.py (main block)"."""
    trains: bool
    """The script (or what it imports) calls backward / fit / minimize: it trains something."""
    mentions: int
    """How many commands in the documents and scripts run it."""
    position: int = 0
    """Index of its first command among all the documents' commands (the authors' order)."""

    @property
    def invoked(self) -> str:
        """How the command names the script from ``workdir``."""
        if self.call is not None:
            return self.call.target
        return PurePosixPath(self.script).relative_to(self.workdir or ".").as_posix()


@dataclass(frozen=True)
class Prepare:
    """A step that fetches or prepares data, run once before the seeds (network allowed)."""

    command: str
    """The command, as the documents give it."""
    where: str
    """Where it was found."""


def find_entries(repo: Repository) -> list[Entry]:
    """Every entry point, best first."""
    entries = _from_commands(repo)
    known = {e.script for e in entries}
    entries += [e for e in _from_code(repo) if e.script not in known]
    return sorted(entries, key=_rank)


def find_prepare(repo: Repository, entry: Entry) -> list[Prepare]:
    """Data steps shown before the entry's command in the same document: scripts named like
    prepare/download, or that download and train nothing."""
    steps = []
    for line in repo.shell_lines:
        if entry.line is None or line.file != entry.line.file or line.line >= entry.line.line:
            continue
        call = python_call(line)
        script = _resolve(repo, call)[0] if call else None
        if call and script and _is_prepare(repo, script):
            text = line.text if not line.cwd else f"cd {line.cwd} && {line.text}"
            steps.append(Prepare(text, line.where))
    return steps


def downloads_at_run_time(repo: Repository, script: str) -> list[str]:
    """``file:line`` of calls in the script (or what it imports) that fetch data from the network."""
    found = []
    for name, _ in repo.closure(script, depth=2):
        for number, text in enumerate((repo.text(name) or "").splitlines(), start=1):
            if _DOWNLOADS.search(text) and not text.lstrip().startswith("#"):
                found.append(f"{name}:{number}")
    return found


def relative_workdir(repo: Repository, script: str) -> tuple[str, str] | None:
    """(folder, evidence) when the script expects to run from its own folder: it extends sys.path
    with ``..``, or opens a relative path that exists from its folder but not from the root."""
    folder = PurePosixPath(script).parent.as_posix()
    if folder == ".":
        return None
    for name, _ in repo.closure(script, depth=1):
        tree = repo.tree(name)
        for node in ast.walk(tree) if tree else ():
            if not isinstance(node, ast.Call):
                continue
            if dotted(node.func) in ("sys.path.append", "sys.path.insert"):
                path = next((constant_str(a) for a in node.args if constant_str(a)), None)
                if path and path.startswith(".."):
                    return folder, f"{name}:{node.lineno} sys.path gets {path!r}"
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                path = constant_str(arg)
                if path and _relative_data(repo, folder, path):
                    return folder, f"{name}:{node.lineno} reads {path!r} relative to {folder}/"
        for default in _string_defaults(tree):
            if _relative_data(repo, folder, default):
                return folder, f"{name} reads {default!r} relative to {folder}/"
    return None


def _relative_data(repo: Repository, folder: str, path: str) -> bool:
    if not path.startswith(("./", "../")) or len(path) < 4:
        return False
    inside = normalise(f"{folder}/{path}")
    return bool(inside) and repo.exists(inside or "") and not repo.exists(path)


def _string_defaults(tree: ast.Module | None) -> list[str]:
    """String defaults of function parameters (``def load_data(path="../data/cora/")``)."""
    found = []
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found += [s for d in node.args.defaults if (s := constant_str(d))]
    return found


# ---------------------------------------------------------------- evidence from commands


def _from_commands(repo: Repository) -> list[Entry]:
    """Scripts the documents, shell scripts and Makefiles run; a script a README runs makes its
    own commands README evidence."""
    called_by = _scripts_run_by_docs(repo)
    seen: dict[str, list[tuple[EntryEvidence, ShellLine, PythonCall, str]]] = {}
    first: dict[str, int] = {}
    for index, line in enumerate(repo.shell_lines):
        call = python_call(line)
        if call is None:
            continue
        script, workdir = _resolve(repo, call)
        if script is None or _NOT_ENTRY.search(script) or _is_prepare(repo, script):
            continue
        kind = _kind(line.file, called_by)
        seen.setdefault(script, []).append((kind, line, call, workdir))
        first.setdefault(script, index)
    entries = []
    for script, found in seen.items():
        order = sorted(range(len(found)), key=lambda i: (-found[i][0], i))
        best = min(order, key=lambda i: _call_rank(found[i][0], found[i][1], found[i][2], i))
        kind, line, call, workdir = found[best]
        where = [line.where] + [found[i][1].where for i in order if i != best]
        if line.file in called_by:
            where[0] = f"{called_by[line.file]} runs {line.where}"
        trains = _trains(repo, script)
        strongest = found[order[0]][0]
        entries.append(
            Entry(
                script,
                call,
                line,
                workdir,
                strongest,
                tuple(where),
                trains,
                len(found),
                first[script],
            )
        )
    return entries


def _scripts_run_by_docs(repo: Repository) -> dict[str, str]:
    """Shell scripts a README runs (``./run_experiments.sh``): script -> "README.md:11"."""
    found: dict[str, str] = {}
    for line in repo.shell_lines:
        first = line.text.split()[0] if line.text.split() else ""
        if is_readme(line.file) and first.endswith(".sh"):
            script = normalise(f"{line.cwd}/{first}" if line.cwd else first)
            if script and repo.is_file(script):
                found.setdefault(script, line.where)
    return found


def _kind(file: str, called_by: dict[str, str]) -> EntryEvidence:
    if is_readme(file) or file in called_by:
        return EntryEvidence.README
    if file.endswith((".md", ".rst", ".txt", ".markdown")):
        return EntryEvidence.DOCS
    return EntryEvidence.SHELL


def _resolve(repo: Repository, call: PythonCall | None) -> tuple[str | None, str]:
    """(the script's file, the folder the command runs from) for a call; None when the script is
    not in the repository (``path/to/x.py``, an installed tool)."""
    if call is None:
        return None, ""
    if call.module:
        stem = call.target.replace(".", "/")
        for base in (call.cwd, ""):
            for name in (f"{stem}.py", f"{stem}/__main__.py"):
                path = normalise(f"{base}/{name}" if base else name)
                if path and repo.is_file(path):
                    return path, base
        return None, call.cwd
    target = call.target.removeprefix("./")
    for base in (call.cwd, ""):
        path = normalise(f"{base}/{target}" if base else target)
        if path and repo.is_file(path):
            return path, base
    matches = repo.named(target)
    if len(matches) == 1:  # `python train.py` where train.py lives in one subfolder: run from there
        return matches[0], matches[0][: -len(target)].rstrip("/")
    return None, call.cwd


def _call_rank(
    kind: EntryEvidence, line: ShellLine, call: PythonCall, index: int
) -> tuple[int, ...]:
    """Which of a script's documented calls the draft takes: not an evaluation-only call, from the
    strongest evidence, one that varies the seed (it shows how the authors do it), the first."""
    varies = any(
        re.match(r"--?\w*seed\b|[\w.]*seed=", arg)
        or any(f"${v}" in arg or f"${{{v}}}" in arg for v in line.loop_vars)
        for arg in call.args
    )
    return (int(_eval_only(call)), -int(kind), -int(varies), index)


def _eval_only(call: PythonCall) -> bool:
    return any(_EVAL_ONLY.match(arg) for arg in call.args)


def _is_prepare(repo: Repository, script: str) -> bool:
    name = PurePosixPath(script).stem.lower()
    if _PREPARE.search(name):
        return True
    text = repo.text(script) or ""
    return bool(_DOWNLOADS.search(text)) and not any(t in text for t in _TRAINS)


def _trains(repo: Repository, script: str) -> bool:
    return any(
        any(token in (repo.text(name) or "") for token in _TRAINS)
        for name, _ in repo.closure(script, depth=2)
    )


# ---------------------------------------------------------------- evidence from code


def _from_code(repo: Repository) -> list[Entry]:
    """Console scripts, scripts whose main block parses arguments, and training-like names."""
    entries = _console_scripts(repo)
    known = {e.script for e in entries}
    for name in repo.python_files:
        tree = repo.tree(name)
        if name in known or tree is None or _NOT_ENTRY.search(name) or _is_prepare(repo, name):
            continue
        block = main_block(tree)
        texts = (repo.text(m) or "" for m, _ in repo.closure(name, depth=1))
        if block is not None and any(_PARSES.search(t) for t in texts):
            kind, where = (
                EntryEvidence.MAIN_BLOCK,
                f"{name}:{block.lineno} (main block parses arguments)",
            )
        elif _name_rank(name) < len(_NAME_ORDER) and runs_at_top(tree):
            kind, where = EntryEvidence.NAME, f"{name} (its name; it runs code when started)"
        else:
            continue
        entries.append(Entry(name, None, None, "", kind, (where,), _trains(repo, name), 0))
    return entries


def _console_scripts(repo: Repository) -> list[Entry]:
    """``[project.scripts]`` of pyproject.toml and ``console_scripts`` of setup.py."""
    found: list[tuple[str, str]] = []
    if repo.is_file("pyproject.toml"):
        try:
            project = tomllib.loads(repo.text("pyproject.toml") or "").get("project", {})
        except tomllib.TOMLDecodeError:
            project = {}
        found += [
            (str(v), "pyproject.toml [project.scripts]")
            for v in project.get("scripts", {}).values()
        ]
    setup = repo.text("setup.py") or ""
    found += [(m, "setup.py console_scripts") for m in re.findall(r"=\s*([\w.]+:\w+)", setup)]
    entries = []
    for target, where in found:
        module = repo.resolve_module(target.split(":")[0], "setup.py")
        if module:
            entries.append(
                Entry(
                    module,
                    None,
                    None,
                    "",
                    EntryEvidence.CONSOLE_SCRIPT,
                    (where,),
                    _trains(repo, module),
                    0,
                )
            )
    return entries


def _name_rank(name: str) -> int:
    stem = PurePosixPath(name).stem.lower()
    return next((i for i, p in enumerate(_NAME_ORDER) if re.search(p, stem)), len(_NAME_ORDER))


def _rank(entry: Entry) -> tuple[int, int, int, int, int, int, int, str]:
    """Training scripts first, launchers of other scripts last, then the strongest evidence, the
    most mentioned, the first the documents show, the best name, the shallowest path."""
    return (
        -int(entry.trains),
        int(bool(_LAUNCHER.search(PurePosixPath(entry.script).stem.lower()))),
        -int(entry.evidence),
        -entry.mentions,
        entry.position,
        _name_rank(entry.script),
        entry.script.count("/"),
        entry.script,
    )
