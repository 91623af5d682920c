"""The package's shape: stages import only downward, subpackages are entered through their
``__init__``, public definitions are documented, and start-up imports nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "repaudit"
SUBPACKAGES = ("spec", "env", "run", "executors", "report")

# What each stage must never import (docs/architecture.md: lower layers never import higher ones).
FORBIDDEN = {
    "model": {"*"},
    "errors": {"*"},
    "formatting": {"stats", "store", "report", "run", "executors", "env", "spec", "source", "audit", "cli", "verdict", "wording"},
    "stats": {"store", "report", "run", "executors", "env", "spec", "source", "audit", "cli", "verdict"},
    "aso": {"store", "report", "run", "executors", "env", "spec", "source", "audit", "cli", "verdict"},
    "power": {"store", "report", "run", "executors", "env", "spec", "source", "audit", "cli", "verdict"},
    "sequential": {"store", "report", "run", "executors", "env", "spec", "source", "audit", "cli", "verdict"},
    "stopping": {"store", "report", "run", "executors", "env", "spec", "source", "audit", "cli", "verdict"},
    "verdict": {"store", "report", "run", "executors", "env", "spec", "source", "audit", "cli"},
    "wording": {"store", "report", "run", "executors", "env", "spec", "source", "audit", "cli"},
    "run": {"executors", "report", "audit", "cli", "env", "spec", "store", "verdict", "stats"},
    "executors": {"report", "audit", "cli", "spec", "store", "verdict"},
    "store": {"report", "audit", "cli", "run", "executors", "env", "verdict"},
    "source": {"report", "audit", "cli", "run", "executors", "env", "spec", "store", "verdict"},
    "spec": {"report", "audit", "cli", "run", "executors", "env", "store", "verdict"},
    "report": {"audit", "cli", "executors"},
    "trial": {"report", "audit", "cli", "executors", "store", "verdict", "console", "progress"},
    "audit": {"report", "cli", "console", "progress"},
    "units": {"store", "report", "run", "executors", "env", "spec", "source", "audit", "cli", "verdict", "stats"},
    "console": {"stats", "store", "report", "run", "executors", "env", "spec", "source", "audit", "cli", "verdict", "wording", "units", "progress", "trial"},
    "progress": {"stats", "store", "report", "run", "executors", "env", "spec", "source", "audit", "cli", "verdict", "wording", "units", "trial"},
}  # fmt: skip


def modules() -> Iterator[Path]:
    yield from sorted(PACKAGE.rglob("*.py"))


def stage_of(module: str) -> str:
    """'repaudit.run.seed' -> 'run'; 'repaudit.stats' -> 'stats'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    """Every repaudit module ``path`` imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("repaudit")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("repaudit"):
            assert node.module is not None
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if _exists(name)}


def _exists(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_lower_stages_never_import_higher_ones() -> None:
    wrong = []
    for path in modules():
        if "hook" in path.parts:
            continue  # runs inside the audited code's interpreter: standard library only
        here = stage_of(module_name(path))
        banned = FORBIDDEN.get(here, set())
        for name in imports(path):
            there = stage_of(name)
            if there and there != here and ("*" in banned or there in banned):
                wrong.append(f"{module_name(path)} imports {name}")
    assert wrong == []


def test_subpackages_are_entered_through_their_init() -> None:
    wrong = []
    for path in modules():
        here = module_name(path)
        for name in imports(path):
            parts = name.split(".")
            inside = len(parts) > 2 and parts[1] in SUBPACKAGES
            if inside and stage_of(here) != parts[1]:
                wrong.append(f"{here} imports {name}: import from repaudit.{parts[1]}")
    assert wrong == []


def test_no_import_cycle_between_stages() -> None:
    graph: dict[str, set[str]] = {}
    for path in modules():
        here = stage_of(module_name(path))
        graph.setdefault(here, set()).update(
            stage_of(n) for n in imports(path) if stage_of(n) not in ("", here)
        )
    visiting: list[str] = []
    done: set[str] = set()

    def visit(stage: str) -> None:
        assert stage not in visiting, f"import cycle: {' -> '.join([*visiting, stage])}"
        if stage in done:
            return
        visiting.append(stage)
        for nxt in sorted(graph.get(stage, ())):
            visit(nxt)
        visiting.pop()
        done.add(stage)

    for stage in sorted(graph):
        visit(stage)


def public_definitions(path: Path) -> Iterator[tuple[str, bool]]:
    """(name, has a docstring) for each public function, class, method and dataclass field."""
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def walk(body: list[ast.stmt], prefix: str, in_class: bool) -> Iterator[tuple[str, bool]]:
        for i, node in enumerate(body):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name.startswith("_"):
                    continue
                yield f"{prefix}{node.name}", ast.get_docstring(node) is not None
                if isinstance(node, ast.ClassDef):
                    yield from walk(node.body, f"{prefix}{node.name}.", True)
            elif in_class and isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                if node.target.id.startswith("_") or "ClassVar" in ast.unparse(node.annotation):
                    continue
                following = body[i + 1] if i + 1 < len(body) else None
                documented = (
                    isinstance(following, ast.Expr)
                    and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)
                )
                yield f"{prefix}{node.target.id}", documented

    yield from walk(tree.body, f"{module_name(path)}.", False)


def test_public_definitions_are_documented() -> None:
    found = [item for path in modules() for item in public_definitions(path)]
    missing = [name for name, documented in found if not documented]
    share = 1 - len(missing) / len(found)
    assert share >= 0.9, f"{share:.0%} documented; missing: {missing}"


@pytest.mark.parametrize(
    ("code", "heavy"),
    [
        ("import repaudit.cli", ("matplotlib", "scipy", "numpy", "torch", "git", "jinja2")),
        ("from repaudit import report", ("matplotlib", "torch", "git")),
        ("from repaudit import audit", ("matplotlib", "torch")),
    ],
)
def test_start_up_imports_nothing_heavy(code: str, heavy: tuple[str, ...]) -> None:
    """matplotlib only when a report is drawn, scipy only when statistics run, torch never."""
    probe = f"import sys; {code}; print(' '.join(m for m in {heavy!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
