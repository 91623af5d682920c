"""`repaudit init`: infer a repaudit.toml from a repository's training script, for the user to check.

Reads the script's syntax tree (never runs it): argparse/click options give the seed and output
flags and a baseline switch; literal ``json.dump({...})`` calls and f-string prints give the metric.
The paper's numbers are never guessed from a README: ``value`` is left for the user.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from repaudit.errors import SpecError, UsageError
from repaudit.spec.load import SpecOverrides, load_spec
from repaudit.spec.toml import toml_value

SPEC_NAME = "repaudit.toml"
_SCRIPTS = ("train.py", "train*.py", "main.py", "run.py", "*/train.py", "*/train*.py", "*/main.py")
_SEED_NAMES = ("seed", "random_seed", "rand_seed", "manual_seed", "rng_seed", "seed_value")
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
)
_METRIC_WORDS = re.compile(
    r"acc|f1|bleu|rouge|auc|map|score|loss|err|perplexity|ppl|reward|return|mse|mae"
)
_LOWER_IS_BETTER = re.compile(r"loss|err|perplexity|ppl|mse|mae|wer|cer")
_SEEDING_CALLS = ("manual_seed", "manual_seed_all", "random.seed", "seed_everything", "set_seed")
_NUMBER = "([-+0-9.eE]+)"


_Option = tuple[list[str], dict[str, ast.expr]]  # option strings, keyword nodes of one call


@dataclass(frozen=True)
class Inferred:
    """A draft spec and what was found and must be checked."""

    text: str
    """The repaudit.toml to write."""
    inferred: tuple[str, ...]
    """What was found, one line each."""
    to_check: tuple[str, ...]
    """What the user must check or fill in."""


def init_spec(folder: Path, *, force: bool = False) -> tuple[Path, Inferred]:
    """Write ``folder/repaudit.toml`` from what infer_spec finds; refuse to overwrite without force."""
    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder: pass the repository's folder")
    path = folder / SPEC_NAME
    if path.exists() and not force:
        raise UsageError(f"{path} exists: edit it, or pass --force to overwrite it")
    result = infer_spec(folder)
    path.write_text(result.text, encoding="utf-8")
    try:  # a placeholder claim: only the rest of the spec is being checked here
        load_spec(folder, overrides=SpecOverrides(claim=0.0))
    except SpecError as error:
        result = Inferred(
            result.text, result.inferred, (*result.to_check, f"it does not load yet: {error}")
        )
    return path, result


def infer_spec(folder: Path) -> Inferred:
    """The spec text and plain-words notes; the folder is only read."""
    inferred: list[str] = []
    check = ["value: the paper's number for its method (or pass --claim); never guessed"]
    env = _environment(folder, inferred)
    script = _find_script(folder)
    tree = _parse(script) if script else None
    if script is None or tree is None:
        reason = "no train*.py or main.py found" if script is None else f"{script} does not parse"
        check.append(f"command: {reason}; write the training command with {{seed}} and {{out}}")
        return Inferred(_render(None, None, None, env), tuple(inferred), tuple(check))
    command, baseline, has_out = _commands(
        script.relative_to(folder).as_posix(), tree, inferred, check
    )
    metric = _json_metric(tree, has_out) or _printed_metric(tree)
    if metric:
        name, source = metric
        where = f"the JSON file {source['json']}" if "json" in source else "the printed line"
        better = "lower" if _LOWER_IS_BETTER.search(name) else "higher"
        inferred.append(f"metric {name} from {where}")
        check.append(f"direction: is {better} better for {name}? and is it the paper's metric?")
    else:
        check.append("metric: nothing found; set [run.metric] json + key, or regex on the output")
    return Inferred(_render(command, baseline, metric, env), tuple(inferred), tuple(check))


def _commands(
    name: str, tree: ast.Module, inferred: list[str], check: list[str]
) -> tuple[str, str | None, bool]:
    """(method command, baseline command or None, whether the script takes an output folder)."""
    options = _options(tree)
    seed_flag, out_flag = _pick(options, _SEED_NAMES), _pick(options, _OUT_NAMES)
    flags = ""
    if seed_flag:
        flags += f" {seed_flag} {{seed}}"
        inferred.append(f"seed flag {seed_flag} of {name}")
    else:
        found = _hard_coded_seeds(tree)
        how = f"it calls {', '.join(found)}" if found else "no seeding call found"
        check.append(
            f"seed: {name} has no seed flag ({how}); set [run] seed_override = true to replace "
            "hard-coded seeds, or make it read REPAUDIT_SEED and set seed_from_env = true"
        )
    if out_flag:
        flags += f" {out_flag} {{out}}"
        inferred.append(f"output flag {out_flag}")
    else:
        check.append(
            f"output: {name} has no output-folder flag; metric files are read from the checkout"
        )
    for flag in _required_flags(options, {seed_flag, out_flag}):
        check.append(f"command: {name} requires {flag}; add it to the command")
    switch = _baseline_switch(options)
    if switch:
        inferred.append(f"baseline arm: {switch}")
        check.append(
            "baseline: the second arm's command; add baseline = <the paper's baseline number>"
        )
    baseline = f"python {name} {switch}{flags}" if switch else None
    return f"python {name}{flags}", baseline, out_flag is not None


def _find_script(folder: Path) -> Path | None:
    for pattern in _SCRIPTS:
        found = [
            p
            for p in sorted(folder.glob(pattern))
            if p.is_file() and "test" not in p.relative_to(folder).as_posix()
        ]
        if found:
            return found[0]
    return None


def _parse(script: Path) -> ast.Module | None:
    try:
        return ast.parse(script.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:
        return None


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _options(tree: ast.Module) -> list[_Option]:
    """(option strings, keyword nodes) of every argparse ``add_argument`` and click ``option`` call."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1] in (
            "add_argument",
            "option",
        ):
            names = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            found.append((names, {k.arg: k.value for k in node.keywords if k.arg}))
    return found


def _pick(options: list[_Option], wanted: tuple[str, ...]) -> str | None:
    """The script's flag for the first of ``wanted`` it has (dashes and underscores alike)."""
    flags = {
        n.lstrip("-").replace("-", "_").lower(): n
        for names, _ in options
        for n in names
        if n.startswith("--")
    }
    return next((flags[name] for name in wanted if name in flags), None)


def _required_flags(options: list[_Option], known: set[str | None]) -> list[str]:
    required = []
    for names, keywords in options:
        flag = next((n for n in names if n.startswith("--")), names[0] if names else "")
        positional = bool(names) and not names[0].startswith("-")
        flagged = keywords.get("required")
        marked = isinstance(flagged, ast.Constant) and flagged.value is True
        nargs = keywords.get("nargs")
        optional_positional = isinstance(nargs, ast.Constant) and nargs.value in ("?", "*")
        if flag not in known and (
            marked or (positional and not optional_positional and "default" not in keywords)
        ):
            required.append(f"the argument {flag}" if positional else flag)
    return required


def _baseline_switch(options: list[_Option]) -> str | None:
    """``--model baseline`` when a flag's choices include a baseline, ``--baseline`` for a switch."""
    for names, keywords in options:
        flag = next((n for n in names if n.startswith("--")), None)
        choices = keywords.get("choices")
        if flag and isinstance(choices, ast.List | ast.Tuple):
            values = [
                c.value
                for c in choices.elts
                if isinstance(c, ast.Constant) and isinstance(c.value, str)
            ]
            baseline = next((v for v in values if "baseline" in v.lower()), None)
            if baseline:
                return f"{flag} {baseline}"
        if flag and flag.lstrip("-").lower() == "baseline":
            return flag
    return None


def _hard_coded_seeds(tree: ast.Module) -> list[str]:
    calls = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and _dotted(node.func).endswith(_SEEDING_CALLS)):
            continue
        first = node.args[0] if node.args else None
        if isinstance(first, ast.Constant) and isinstance(first.value, int):
            calls.append(f"{_dotted(node.func)}({first.value})")
    return list(dict.fromkeys(calls))


def _json_metric(tree: ast.Module, has_out: bool) -> tuple[str, dict[str, str]] | None:
    """A metric leaf of a literal dict passed to json.dump(s), and the .json file name in the script."""
    keys: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and _dotted(node.func) in ("json.dump", "json.dumps")
            and node.args
        ):
            keys += _leaves(node.args[0], "")
    files = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.endswith(".json")
    ]
    keys = [k for k in keys if _METRIC_WORDS.search(k.lower())]
    if not keys or not files:
        return None
    key = _prefer_test(keys)
    file = next((f for f in files if re.search("metric|result", f)), files[0])
    path = f"{{out}}/{Path(file).name}" if has_out else file
    return key.replace(".", "_"), {"json": path, "key": key}


def _leaves(node: ast.expr, prefix: str) -> list[str]:
    if not isinstance(node, ast.Dict):
        return [prefix] if prefix else []
    leaves = []
    for key, value in zip(node.keys, node.values, strict=True):
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            leaves += _leaves(value, f"{prefix}.{key.value}" if prefix else key.value)
    return leaves


def _printed_metric(tree: ast.Module) -> tuple[str, dict[str, str]] | None:
    """From an f-string like f"test acc {acc:.4f}": the text before the number becomes the regex."""
    labels = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for before, part in zip(node.values, node.values[1:], strict=False):
                if (
                    isinstance(part, ast.FormattedValue)
                    and isinstance(before, ast.Constant)
                    and _METRIC_WORDS.search(str(before.value).lower())
                ):
                    labels.append(str(before.value).lstrip(" :,;|-=").rstrip("\n"))
    if not labels:
        return None
    label = _prefer_test(labels)
    # Escaped by hand: re.escape also escapes spaces, which makes the written regex hard to read.
    pattern = re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", label) + _NUMBER
    return "_".join(re.findall(r"[a-z0-9]+", label.lower())), {"regex": pattern}


def _prefer_test(candidates: list[str]) -> str:
    return next((c for c in candidates if "test" in c.lower()), candidates[0])


def _environment(folder: Path, inferred: list[str]) -> str:
    declared = [
        n
        for n in ("requirements.txt", "pyproject.toml", "setup.py", "environment.yml")
        if (folder / n).is_file()
    ]
    if declared:
        inferred.append(f"environment venv, built from {declared[0]}")
        return "venv"
    return "current"


def _render(
    command: str | None, baseline: str | None, metric: tuple[str, dict[str, str]] | None, env: str
) -> str:
    name, source = metric or ("metric", {})
    direction = "lower" if _LOWER_IS_BETTER.search(name) else "higher"
    lines = [
        "# Inferred by `repaudit init`: check every line, then run `repaudit check <this folder>`.",
        "# Every key is described in docs/spec.md of repaudit.",
        "",
        "[claim]",
        f"metric = {toml_value(name)}",
        f'direction = {toml_value(direction)}  # CHECK: "lower" for losses and error rates',
        "# value = 0.0   # FILL IN: the paper's number for its method (or pass --claim); never guessed",
        "# baseline = 0.0   # the paper's number for its baseline, if it compares against one",
        'kind = "single"  # or "mean", with runs = <how many runs the paper averaged>',
        "",
        "[run]",
        f"command = {toml_value(command)}"
        if command
        else '# command = "python train.py --seed {seed} --out {out}"  # FILL IN',
        f"environment = {toml_value(env)}",
        "seeds = 5",
        'timeout = "30m"',
        "",
        "[run.metric]",
    ]
    lines += [f"{k} = {toml_value(v)}" for k, v in source.items()] or [
        '# json = "{out}/metrics.json"   # FILL IN: where the number is written ...',
        '# key = "test.acc"',
        "# regex = 'test acc: ([0-9.]+)'  # ... or the printed line it appears on",
    ]
    if baseline:
        lines += ["", "[baseline]", f"command = {toml_value(baseline)}"]
    return "\n".join(lines) + "\n"
