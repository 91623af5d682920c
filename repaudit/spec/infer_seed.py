"""`repaudit init`: how a run's seed is chosen, from the authors' command first, then from the code.

In order: a seed the documented command already passes (``--seed 1``, ``train.seed=0``, a per-seed
config file ``configs/${seed}.toml`` in a shell loop); an option of the script or of a module it
imports (argparse, click, typer, absl flags, tyro/HfArgumentParser dataclasses, fire, a
``--key=value`` configurator, a Hydra config key); a committed config file with a ``seed`` key; a
seeding call with a fixed value (then ``seed_override``); and otherwise none at all.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from repaudit.model import SeedMechanism
from repaudit.spec.infer_code import Repository, constant_str, dotted, hydra_config, line_of

SEED_NAMES = (
    "seed",
    "random_seed",
    "rand_seed",
    "manual_seed",
    "rng_seed",
    "seed_value",
    "global_seed",
    "random_state",
    "train_seed",
    "exp_seed",
)
_SEEDING = re.compile(
    r"(^|\.)(seed|manual_seed|manual_seed_all|set_seed|set_random_seed|seed_everything|"
    r"set_seed_everywhere|set_randomness|fix_seed|setup_seed|init_seed|seed_all)$"
)
_SEED_KEY = re.compile(r"""^\s*["']?(""" + "|".join(SEED_NAMES) + r""")["']?\s*[:=]""")
_CONFIG_SUFFIXES = (".toml", ".yaml", ".yml", ".json", ".py", ".cfg", ".ini")
_DATACLASS_PARSERS = re.compile(
    r"tyro\.cli\(|HfArgumentParser\(|simple_parsing|jsonargparse|pyrallis"
)


@dataclass(frozen=True)
class SeedFinding:
    """How the seed reaches a run."""

    mechanism: SeedMechanism
    """The kind of mechanism."""
    args: tuple[str, ...]
    """The script's arguments with ``{seed}`` in place (unchanged for hardcoded / none)."""
    where: str
    """Evidence: "README.md:56 passes --seed 1", "train.py:11 np.random.seed(123)"."""
    name: str = ""
    """The flag, config key or config file template."""
    seeds: tuple[int, ...] = ()
    """Seed values that exist (per-seed config files); empty = any."""
    calls: tuple[str, ...] = field(default=())
    """Hard-coded seeding calls, "file:line call(value)"."""


def find_seed(
    repo: Repository, script: str, args: tuple[str, ...], where: str, loop_vars: tuple[str, ...]
) -> SeedFinding:
    """The seed mechanism of ``script`` run with ``args`` (as the evidence at ``where`` shows)."""
    return (
        _from_args(repo, args, where, loop_vars)
        or _from_options(repo, script, args)
        or _from_config_file(repo, args)
        or _hard_coded(repo, script, args)
    )


# ---------------------------------------------------------------- the authors' command


def _from_args(
    repo: Repository, args: tuple[str, ...], where: str, loop_vars: tuple[str, ...]
) -> SeedFinding | None:
    for index, arg in enumerate(args):
        flag, _, value = arg.partition("=")
        if arg.startswith("-") and _is_seed_name(flag):
            if value:
                changed = (*args[:index], f"{flag}={{seed}}", *args[index + 1 :])
            elif index + 1 < len(args):
                changed = (*args[: index + 1], "{seed}", *args[index + 2 :])
            else:
                continue
            return SeedFinding(SeedMechanism.FLAG, changed, f"{where} passes {arg}", flag)
        if value and not arg.startswith("-") and _is_seed_name(flag.lstrip("+").split(".")[-1]):
            changed = (*args[:index], f"{flag}={{seed}}", *args[index + 1 :])
            return SeedFinding(SeedMechanism.CONFIG_KEY, changed, f"{where} sets {arg}", flag)
        variable = re.search(r"\$\{?(\w+)\}?", arg)
        if variable and (variable[1] in loop_vars or _is_seed_name(variable[1])):
            template = arg[: variable.start()] + "{seed}" + arg[variable.end() :]
            found = _per_seed_files(repo, template)
            if found:
                template, seeds = found
                changed = (*args[:index], template, *args[index + 1 :])
                return SeedFinding(
                    SeedMechanism.CONFIG_FILE,
                    changed,
                    f"{where} runs one config per seed",
                    template,
                    seeds,
                )
    return None


def _per_seed_files(repo: Repository, template: str) -> tuple[str, tuple[int, ...]] | None:
    """The committed files ``template`` names, one per seed (``out/{seed}.toml`` -> 0, 1, ...); when
    the documented folder is made by an earlier step, the sibling folder holding such files."""
    pattern = re.escape(template).replace(re.escape("{seed}"), r"(\d+)")
    folder = PurePosixPath(template).parent.as_posix()
    for candidate in (pattern, pattern.replace(re.escape(PurePosixPath(folder).name), r"[^/]+", 1)):
        numbered: dict[str, list[int]] = {}
        for name in repo.files:
            match = re.fullmatch(candidate, name)
            if match:
                numbered.setdefault(PurePosixPath(name).parent.as_posix(), []).append(int(match[1]))
        if numbered:
            best = max(sorted(numbered), key=lambda f: len(numbered[f]))
            stem = PurePosixPath(template).name
            return f"{best}/{stem}", tuple(sorted(numbered[best]))
    return None


# ---------------------------------------------------------------- options in the code


def _from_options(repo: Repository, script: str, args: tuple[str, ...]) -> SeedFinding | None:
    """The first seed option of the script or a module it imports; its tokens go after ``args``."""
    for name, _ in repo.closure(script, depth=2):
        tree = repo.tree(name)
        if tree is None:
            continue
        text = repo.text(name) or ""
        found = (
            _argparse_like(tree, name)
            or _dataclass_field(tree, name, text)
            or _configurator(tree, name, text)
            or _hydra_key(repo, tree, name)
        )
        if found:
            tokens, mechanism, where = found
            flag = tokens[0].split("=")[0]
            return SeedFinding(mechanism, (*args, *tokens), where, flag)
    return None


def _argparse_like(
    tree: ast.Module, name: str
) -> tuple[tuple[str, ...], SeedMechanism, str] | None:
    """``add_argument("--seed")``, ``click.option("--seed")``, ``flags.DEFINE_integer("seed", ...)``,
    typer/fire functions with a ``seed`` parameter."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = dotted(node.func).split(".")[-1]
        strings = [s for a in node.args if (s := constant_str(a))]
        if function in ("add_argument", "option", "Option"):
            for flag in strings:
                if flag.startswith("-") and _is_seed_name(flag):
                    return (
                        (flag, "{seed}"),
                        SeedMechanism.FLAG,
                        f"{name}:{node.lineno} defines {flag}",
                    )
        if function.startswith("DEFINE_") and strings and _is_seed_name(strings[0]):
            where = f"{name}:{node.lineno} defines flag {strings[0]}"
            return (f"--{strings[0]}", "{seed}"), SeedMechanism.FLAG, where
        if dotted(node.func) in ("fire.Fire", "typer.run", "typer.Typer"):  # parameters are flags
            for definition in ast.walk(tree):
                if isinstance(definition, ast.FunctionDef):
                    for arg in definition.args.args:
                        if _is_seed_name(arg.arg):
                            where = f"{name}:{definition.lineno} fire takes {arg.arg}"
                            return (f"--{arg.arg}", "{seed}"), SeedMechanism.FLAG, where
    return None


def _dataclass_field(
    tree: ast.Module, name: str, text: str
) -> tuple[tuple[str, ...], SeedMechanism, str] | None:
    """``seed: int = 1`` in a dataclass that tyro / HfArgumentParser turns into flags."""
    if not _DATACLASS_PARSERS.search(text):
        return None
    dashes = "tyro" in text  # tyro writes --random-seed; HfArgumentParser keeps --random_seed
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    field_name = item.target.id
                    if _is_seed_name(field_name):
                        flag = "--" + (field_name.replace("_", "-") if dashes else field_name)
                        where = f"{name}:{item.lineno} field {field_name} of {node.name}"
                        return (flag, "{seed}"), SeedMechanism.FLAG, where
    return None


def _configurator(
    tree: ast.Module, name: str, text: str
) -> tuple[tuple[str, ...], SeedMechanism, str] | None:
    """A module-level ``seed = 1`` that an exec'd configurator overrides with ``--seed=2``."""
    if not re.search(r"exec\(open\(", text):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and _is_seed_name(target.id):
                where = f"{name}:{node.lineno} {target.id}, set by --{target.id}=N (configurator)"
                return (f"--{target.id}={{seed}}",), SeedMechanism.FLAG, where
    return None


def _hydra_key(
    repo: Repository, tree: ast.Module, name: str
) -> tuple[tuple[str, ...], SeedMechanism, str] | None:
    """A Hydra app's config key: from the seeding call's argument (``cfg.train.seed``), else the
    config file's ``seed`` key."""
    config = hydra_config(repo, tree, name)
    if config is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _SEEDING.search(dotted(node.func)) and node.args:
            chain = dotted(node.args[0]).split(".")
            if len(chain) >= 2 and _is_seed_name(chain[-1]):
                start = next(
                    (i + 1 for i, p in enumerate(chain) if re.fullmatch(r"c(on)?fi?g|cfg|conf", p)),
                    1,
                )
                key = ".".join(chain[start:])
                where = f"{name}:{node.lineno} seeds from the config's {key}"
                return (f"{key}={{seed}}",), SeedMechanism.CONFIG_KEY, where
    key_line = _yaml_seed_key(repo.text(config) or "")
    if key_line:
        key, number = key_line
        return (f"{key}={{seed}}",), SeedMechanism.CONFIG_KEY, f"{config}:{number} {key}"
    return None


def _yaml_seed_key(text: str) -> tuple[str, int] | None:
    """The dotted path of the first ``seed:`` key of a YAML file and its line. A small indentation
    reader, because only key paths are needed and a YAML library is not a dependency."""
    stack: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r"^(\s*)([A-Za-z_][\w.-]*)\s*:", line)
        if not match or line.lstrip().startswith("#"):
            continue
        indent = len(match[1])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, match[2]))
        if _is_seed_name(match[2]):
            return ".".join(k for _, k in stack), number
    return None


def _from_config_file(repo: Repository, args: tuple[str, ...]) -> SeedFinding | None:
    """A config file the command passes whose own ``seed`` key decides: one file per seed when
    numbered siblings exist, else the key is fixed (hard-coded for the audit)."""
    for index, arg in enumerate(args):
        if not arg.endswith(_CONFIG_SUFFIXES) or not repo.is_file(arg):
            continue
        line = _seed_line(repo.text(arg) or "")
        if line is None:
            continue
        stem = PurePosixPath(arg)
        if stem.stem.isdigit():
            template = (stem.parent / f"{{seed}}{stem.suffix}").as_posix()
            found = _per_seed_files(repo, template)
            if found:
                changed = (*args[:index], found[0], *args[index + 1 :])
                return SeedFinding(
                    SeedMechanism.CONFIG_FILE,
                    changed,
                    f"{arg}:{line} seed, one file per seed",
                    found[0],
                    found[1],
                )
        return SeedFinding(
            SeedMechanism.HARD_CODED, args, f"{arg}:{line} sets the seed", calls=(f"{arg}:{line}",)
        )
    return None


def _seed_line(text: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if _SEED_KEY.match(line):
            return number
    return None


# ---------------------------------------------------------------- seeding calls


def _hard_coded(repo: Repository, script: str, args: tuple[str, ...]) -> SeedFinding:
    calls = []
    for name, _ in repo.closure(script, depth=2):
        tree = repo.tree(name)
        constants = _module_constants(tree) if tree else {}
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Call) and _SEEDING.search(dotted(node.func)) and node.args:
                fixed = _fixed_value(node.args[0], constants)
                if fixed is not None:
                    line, value = fixed if fixed[0] else (line_of(node), fixed[1])
                    calls.append(f"{name}:{line} {dotted(node.func)}({value})")
    if calls:
        return SeedFinding(
            SeedMechanism.HARD_CODED,
            args,
            f"{calls[0]}: a fixed seed, no option",
            calls=tuple(calls),
        )
    return SeedFinding(SeedMechanism.NONE, args, f"no seeding call in {script} or what it imports")


def _module_constants(tree: ast.Module) -> dict[str, tuple[int, int]]:
    """Module-level ``name = <int>`` assignments: name -> (line, value)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            value = node.value.value
            if isinstance(value, int) and not isinstance(value, bool):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = (node.lineno, value)
    return found


def _fixed_value(node: ast.expr, constants: dict[str, tuple[int, int]]) -> tuple[int, str] | None:
    """(line of the constant's assignment or 0, the value as written) when the seeding call's
    argument is a literal, a module constant, or arithmetic on one."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return 0, str(node.value)
    if isinstance(node, ast.Name) and node.id in constants:
        line, value = constants[node.id]
        return line, str(value)
    if isinstance(node, ast.BinOp):
        sides = (node.left, node.right)
        literal = any(isinstance(n, ast.Constant) and isinstance(n.value, int) for n in sides)
        from_options = any("." in dotted(n) or isinstance(n, ast.Subscript) for n in sides)
        if literal and not from_options:  # 1337 + seed_offset, not args.seed + 1
            return 0, ast.unparse(node)
    return None


def _is_seed_name(name: str) -> bool:
    return name.lstrip("-").replace("-", "_").lower() in SEED_NAMES
