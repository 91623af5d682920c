"""What `repaudit init` reads in a repository: its files, Python syntax trees, the repository-local
imports of a script, and the shell commands its READMEs, docs, shell scripts and Makefiles show.

Everything here only reads: nothing in the repository is imported or run.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

# Folders that hold no code of the paper: environments, caches, build and run outputs.
_SKIP_DIRS = {
    ".git",
    ".hg",
    ".venv",
    "venv",
    "env",
    ".env",
    "node_modules",
    "__pycache__",
    "site-packages",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    "build",
    "dist",
    "wandb",
    "mlruns",
    ".ipynb_checkpoints",
}
_MAX_BYTES = 400_000  # larger "source" files are data or vendored code, not what a reader reads
_MAX_FILES = 20_000  # a repository with more (datasets committed file by file) is cut off here
_DOC_SUFFIXES = (".md", ".rst", ".txt", ".markdown")
_PROMPT = re.compile(r"^\s*(?:\(\w[\w.-]*\)\s*)?[$%>]\s+")  # "$ ", "% ", "(env) $ "
_WRAPPERS = {"time", "nohup", "sudo", "exec", "env"}
_RUNNERS = (("uv", "run"), ("poetry", "run"), ("pipenv", "run"), ("pdm", "run"), ("hatch", "run"))
_LAUNCHERS = {"torchrun", "deepspeed", "srun", "mpirun", "horovodrun"}
_PYTHON = re.compile(r"^(?:.*/)?python(?:[23](?:\.\d+)?)?$")


@dataclass(frozen=True)
class ShellLine:
    """One command a document or script shows, continuation lines joined, prompt stripped."""

    file: str
    """Repository-relative path of the README, doc, shell script or Makefile."""
    line: int
    """1-based line number where the command starts."""
    text: str
    """The command as one line."""
    cwd: str
    """The folder it runs from, relative to the repository root ("" = root), after earlier ``cd`` lines."""
    loop_vars: tuple[str, ...] = ()
    """Variables of the shell ``for`` loops around it."""

    @property
    def where(self) -> str:
        """ "README.md:42"."""
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class PythonCall:
    """A ``python ...`` invocation split into its parts."""

    prefix: tuple[str, ...]
    """Tokens before the script: the interpreter, its options, a launcher and its options."""
    target: str
    """The script path as written, or the module after ``-m``."""
    module: bool
    """True for ``python -m target``."""
    args: tuple[str, ...]
    """The script's own arguments."""
    cwd: str
    """Folder it runs from (repository-relative), after ``cd`` in the same line."""


class Repository:
    """A checked-out repository, read lazily and cached: file list, texts, syntax trees."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @functools.cached_property
    def files(self) -> tuple[str, ...]:
        """Repository-relative POSIX paths of every file, sorted, without skipped folders."""
        found: list[str] = []
        for folder, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
            base = Path(folder).relative_to(self.root)
            found += [(base / name).as_posix() for name in sorted(names)]
            if len(found) > _MAX_FILES:
                break
        return tuple(found)

    @functools.cached_property
    def _file_set(self) -> frozenset[str]:
        return frozenset(self.files)

    def exists(self, relative: str) -> bool:
        """Whether ``relative`` (normalised) is a file or folder of the repository."""
        path = normalise(relative)
        return path is not None and (self.root / path).exists()

    def is_file(self, relative: str) -> bool:
        """Whether ``relative`` (normalised) is one of the repository's files."""
        path = normalise(relative)
        return path is not None and path in self._file_set

    def named(self, name: str) -> list[str]:
        """Files whose path ends with ``name`` (a file name or a tail such as ``bin/mlp.py``)."""
        tail = "/" + name.lstrip("/")
        return [f for f in self.files if f == name or f.endswith(tail)]

    @functools.cache  # noqa: B019 (one Repository per inference: freed with it)
    def text(self, relative: str) -> str | None:
        """The file's text, or None when it is absent, too large or not text."""
        path = self.root / relative
        try:
            if path.stat().st_size > _MAX_BYTES:
                return None
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    @functools.cache  # noqa: B019
    def tree(self, relative: str) -> ast.Module | None:
        """The Python file's syntax tree, or None when it does not parse (Python 2 code, say)."""
        text = self.text(relative)
        if text is None:
            return None
        try:
            return ast.parse(text)
        except (SyntaxError, ValueError):
            return None

    @functools.cached_property
    def python_files(self) -> tuple[str, ...]:
        """Every ``.py`` file that parses."""
        return tuple(f for f in self.files if f.endswith(".py") and self.tree(f) is not None)

    def resolve_module(self, dotted: str, from_file: str, level: int = 0) -> str | None:
        """The repository file a (relative) import names, looked up the way Python would from a
        script in ``from_file``'s folder, then from the repository root."""
        parts = dotted.split(".") if dotted else []
        here = PurePosixPath(from_file).parent
        if level:
            bases = [here.parents[level - 2] if level > 1 else here]
        else:
            bases = [here, PurePosixPath(".")]
        for base in bases:
            stem = base.joinpath(*parts) if parts else base
            for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
                found = normalise(candidate)
                if found and found in self._file_set:
                    return found
        return None

    @functools.cache  # noqa: B019
    def imports(self, relative: str) -> list[str]:
        """Repository files ``relative`` imports (at any depth of its syntax tree), in source order."""
        tree = self.tree(relative)
        found: list[str] = []
        for node in ast.walk(tree) if tree else ():
            names: list[tuple[str, int]] = []
            if isinstance(node, ast.Import):
                names = [(a.name, 0) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                names = [(base, node.level)]
                names += [(f"{base}.{a.name}" if base else a.name, node.level) for a in node.names]
            for name, level in names:
                module = self.resolve_module(name, relative, level)
                if module and module != relative and module not in found:
                    found.append(module)
        return found

    def closure(self, relative: str, depth: int = 3) -> list[tuple[str, int]]:
        """``relative`` and the repository files it imports, breadth first: (file, import depth)."""
        seen = {relative: 0}
        frontier = [relative]
        for level in range(1, depth + 1):
            frontier = [m for f in frontier for m in self.imports(f) if m not in seen]
            for module in frontier:
                seen.setdefault(module, level)
        return list(seen.items())

    @functools.cached_property
    def shell_lines(self) -> tuple[ShellLine, ...]:
        """Every command in the READMEs, docs (code blocks), shell scripts and Makefiles."""
        lines: list[ShellLine] = []
        for name in self.files:
            text = self.text(name) if _is_command_source(name) else None
            if text is None:
                continue
            folder = PurePosixPath(name).parent.as_posix()
            folder = "" if folder == "." else folder
            if name.endswith(_DOC_SUFFIXES):
                lines += _doc_commands(name, text, folder)
            else:
                lines += _script_commands(name, text, folder, make=_is_makefile(name))
        return tuple(lines)


def normalise(relative: str) -> str | None:
    """``a/./b/../c`` -> ``a/c``; None when it climbs out of the repository."""
    parts: list[str] = []
    for part in PurePosixPath(relative).parts:
        if part in (".", ""):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


def is_readme(name: str) -> bool:
    """A README-like document at the repository root (README.md, README_deit.md, ...)."""
    return "/" not in name and PurePosixPath(name).name.lower().startswith("readme")


def _is_makefile(name: str) -> bool:
    return PurePosixPath(name).name in ("Makefile", "makefile", "GNUmakefile")


def _is_command_source(name: str) -> bool:
    return name.endswith((*_DOC_SUFFIXES, ".sh", ".bash")) or _is_makefile(name)


def _doc_commands(name: str, text: str, folder: str) -> list[ShellLine]:
    """Commands in a document's code blocks (fenced, indented, one-line ```...```) and inline code."""
    found: list[ShellLine] = []
    block: list[tuple[int, str]] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        single = re.fullmatch(r"```+\s*([^`]+?)\s*```+", stripped)
        if single and block is None:
            found += _block_commands(name, [(number, single[1])], folder)
            continue
        if stripped.startswith(("```", "~~~")):
            if block is None:
                block = []
            else:
                found += _block_commands(name, block, folder)
                block = None
            continue
        if block is not None:
            block.append((number, raw))
        else:
            for span in re.findall(r"`([^`]+)`", raw):
                if _PYTHON.match(span.split()[0] if span.split() else ""):
                    found += _block_commands(name, [(number, span)], folder)
    if block:
        found += _block_commands(name, block, folder)
    return found


def _block_commands(name: str, block: list[tuple[int, str]], folder: str) -> list[ShellLine]:
    return _script_commands(name, "\n".join(t for _, t in block), folder, first=block[0][0])


def _script_commands(
    name: str, text: str, folder: str, *, first: int = 1, make: bool = False
) -> list[ShellLine]:
    """Commands of a shell script (or code block, or Makefile recipe), with ``cd`` and ``for`` kept."""
    found: list[ShellLine] = []
    cwd, loops = folder, []
    pending, start = "", 0
    for offset, raw in enumerate(text.splitlines()):
        if make and not raw.startswith("\t"):
            continue
        line = _PROMPT.sub("", raw).strip().lstrip("@")
        if not pending:
            start = first + offset
            if line.startswith("#") or not line:
                continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        loop = re.match(r"for\s*(?:\(\(\s*(\w+)|(\w+)\s+in\b)", line)
        if loop:
            loops.append(loop[1] or loop[2])
        if re.fullmatch(r"done\b.*", line) and loops:
            loops.pop()
        line = re.sub(r"^(?:for\b.*?;\s*)?do\s+", "", line)
        moved = re.fullmatch(r"cd\s+([^\s;&|]+)", line)
        if moved:
            cwd = _moved(cwd, moved[1])
            continue
        found.append(ShellLine(name, start, line, cwd, tuple(loops)))
    return found


def _moved(cwd: str, target: str) -> str:
    target = target.strip("'\"")
    if target.startswith(
        ("$", "~", "/")
    ):  # $PROJECT_DIR, ~/x: the root, as far as the docs mean it
        return ""
    return normalise(f"{cwd}/{target}" if cwd else target) or ""


def python_call(line: ShellLine) -> PythonCall | None:
    """The ``python ...`` call in ``line`` (after ``cd x &&``, env assignments, ``uv run``, a launcher),
    or None when it runs no Python script or module."""
    cwd = line.cwd
    for segment in re.split(r"\s*(?:&&|;|\|\|)\s*", line.text):
        try:
            tokens = shlex.split(segment, comments=True)
        except ValueError:
            tokens = segment.split()
        if tokens[:1] == ["cd"] and len(tokens) == 2:
            cwd = _moved(cwd, tokens[1])
            continue
        call = _split_call(tokens, cwd)
        if call:
            return call
    return None


def _split_call(tokens: list[str], cwd: str) -> PythonCall | None:
    prefix: list[str] = []
    while tokens and (re.fullmatch(r"[A-Za-z_]\w*=\S*", tokens[0]) or tokens[0] in _WRAPPERS):
        tokens = tokens[1:]
    for runner in _RUNNERS:
        if tuple(tokens[:2]) == runner:
            tokens = tokens[2:]
    if tokens[:2] == ["accelerate", "launch"] or (tokens and tokens[0] in _LAUNCHERS):
        return _launched(tokens, cwd)
    if not tokens or not _PYTHON.match(tokens[0]):
        return None
    prefix.append("python")
    rest = tokens[1:]
    while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-c"):
        takes_value = rest[0] in ("-W", "-X")
        prefix += rest[: 2 if takes_value else 1]
        rest = rest[2 if takes_value else 1 :]
    if not rest or rest[0] == "-c":
        return None
    if rest[0] == "-m":
        if len(rest) < 2:
            return None
        if rest[1].startswith("torch.distributed."):
            launched = _launched(rest[1:], cwd)
            return launched and PythonCall(
                ("python", "-m", *launched.prefix), launched.target, False, launched.args, cwd
            )
        return PythonCall(tuple(prefix), rest[1], True, tuple(rest[2:]), cwd)
    if not rest[0].endswith(".py"):
        return None
    return PythonCall(tuple(prefix), rest[0], False, tuple(rest[1:]), cwd)


def _launched(tokens: list[str], cwd: str) -> PythonCall | None:
    """``torchrun --nproc_per_node=4 train.py ...``: the first ``.py`` token is the script."""
    for index, token in enumerate(tokens):
        if token.endswith(".py"):
            return PythonCall(tuple(tokens[:index]), token, False, tuple(tokens[index + 1 :]), cwd)
    return None


def render_command(tokens: list[str] | tuple[str, ...]) -> str:
    """A shell command from tokens, quoting only what the shell needs (placeholders stay bare)."""
    quoted = []
    for token in tokens:
        bare = re.sub(r"\{(seed|out|threads|gpu)\}", "x", token)
        quoted.append(token if shlex.quote(bare) == bare else shlex.quote(token))
    return " ".join(quoted)


# ---------------------------------------------------------------- syntax-tree helpers


def dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain (calls and subscripts in between are skipped)."""
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return dotted(node.func)
    if isinstance(node, ast.Subscript):
        return dotted(node.value)
    return ""


def constant_str(node: ast.AST | None) -> str | None:
    """The node's value when it is a string literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def main_block(tree: ast.Module) -> ast.If | None:
    """The module's ``if __name__ == "__main__":`` block."""
    for node in tree.body:
        if (
            isinstance(node, ast.If)
            and isinstance(node.test, ast.Compare)
            and dotted(node.test.left) == "__name__"
            and any(constant_str(c) == "__main__" for c in node.test.comparators)
        ):
            return node
    return None


def runs_at_top(tree: ast.Module) -> bool:
    """Whether the module does work when run, not only defines things: a main block, or calls at
    its top level beyond imports, definitions and constant assignments."""
    if main_block(tree):
        return True
    return any(
        isinstance(node, ast.Expr | ast.For | ast.While | ast.With)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
        for node in tree.body
    )


def line_of(node: ast.AST) -> int:
    """The node's 1-based line number (0 when it has none)."""
    return getattr(node, "lineno", 0)


def hydra_config(repo: Repository, tree: ast.Module, name: str) -> str | None:
    """The primary config file of a ``@hydra.main`` script (``""`` when it is not in the
    repository), or None when the script is not a Hydra app."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and dotted(node.func).endswith("hydra.main"):
            keywords = {k.arg: constant_str(k.value) for k in node.keywords}
            folder = keywords.get("config_path") or "."
            config = (keywords.get("config_name") or "config").removesuffix(".yaml")
            base = PurePosixPath(name).parent / folder / f"{config}.yaml"
            path = base.as_posix().removeprefix("./")
            return path if repo.is_file(path) else ""
    return None
