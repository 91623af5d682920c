"""Choose the interpreter of the paper's era: what the repository declares, else its commit's date.

Declarations, read without running anything: ``requires-python`` and trove classifiers
(pyproject.toml), ``python_requires`` and classifiers (setup.cfg, or literal arguments of setup() in
setup.py), ``.python-version``, ``runtime.txt`` and a conda ``environment.yml``'s ``python`` pin (at
the root or in ``binder/``). Every range and pin must hold; classifiers only break ties. Among the
interpreters that fit, the newest one released before the era's date wins (a paper's code was
written against the Python of its day), else the oldest that fits. ``[run] python`` overrides.

Interpreters are found by uv's discovery, with pyenv's versions added to its search path (pyenv's
shims only answer for the selected version, so its version folders are searched directly).
"""

from __future__ import annotations

import ast
import configparser
import datetime
import functools
import json
import os
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from uv import find_uv_bin

from repaudit.errors import EnvSetupError

#: The seed hook and the fingerprint probe run inside the seeds' interpreter: f-strings need 3.6.
OLDEST_SUPPORTED = Version("3.6")

# x.y.0 release dates from python.org (no installed library carries them); a series missing here
# counts as released after every date in the table.
_RELEASED = {
    "3.6": datetime.date(2016, 12, 23),
    "3.7": datetime.date(2018, 6, 27),
    "3.8": datetime.date(2019, 10, 14),
    "3.9": datetime.date(2020, 10, 5),
    "3.10": datetime.date(2021, 10, 4),
    "3.11": datetime.date(2022, 10, 24),
    "3.12": datetime.date(2023, 10, 2),
    "3.13": datetime.date(2024, 10, 7),
    "3.14": datetime.date(2025, 10, 7),
}
_CLASSIFIER = re.compile(r"Programming Language :: Python :: (\d+\.\d+)$")


@dataclass(frozen=True)
class Interpreter:
    """An installed CPython the environment can be built on."""

    version: Version
    """Its full version, e.g. 3.10.13."""
    path: Path
    """Its executable."""

    @property
    def series(self) -> str:
        """ "3.10" for 3.10.13."""
        return f"{self.version.major}.{self.version.minor}"


@dataclass(frozen=True)
class Declaration:
    """One thing the repository says about its Python."""

    where: str
    """The file and key, e.g. "pyproject.toml requires-python"."""
    text: str
    """What it says, as written, e.g. "<3.11"."""
    specifier: SpecifierSet
    """The versions it allows."""


@dataclass(frozen=True)
class PythonChoice:
    """The interpreter chosen for an environment, and why, in plain words."""

    interpreter: Interpreter
    reason: str
    """e.g. "requires-python <3.11 (pyproject.toml); the newest of those released before 2023-05-02"."""


def choose_python(
    checkout_dir: Path,
    *,
    requested: str | None,
    era: datetime.date | None,
    installed: tuple[Interpreter, ...] | None = None,
) -> PythonChoice:
    """The interpreter for this checkout: ``requested`` ("3.8" or "3.8.18", the spec's [run] python)
    if given, else the newest one that fits the declarations and was released before ``era`` (the
    oldest that fits when none was; the newest that fits when ``era`` is None).

    ``installed``: the interpreters to choose from (default: installed_interpreters()).
    Raises EnvSetupError, naming what was asked for and what was found, when none fits.
    """
    found = installed_interpreters() if installed is None else installed
    if requested is not None:
        matches = [i for i in found if _matches(i.version, requested)]
        if not matches:
            raise EnvSetupError(
                f'[run] python = "{requested}" is not installed (found {_listing(found)}): install it '
                f"(`uv python install {requested}` or `pyenv install {requested}`) or ask for one of those"
            )
        return PythonChoice(max(matches, key=lambda i: i.version), f'[run] python = "{requested}"')
    declarations = declared(checkout_dir)
    fitting = [i for i in found if all(i.version in d.specifier for d in declarations)]
    asked = "; ".join(f"{d.where} {d.text}" for d in declarations)
    if not fitting:
        raise EnvSetupError(
            f"no installed Python fits this repository: it asks for {asked or 'nothing'}, and "
            f"repaudit found {_listing(found)}; install a fitting one (`uv python install <version>` "
            'or `pyenv install <version>`) or choose one with [run] python = "3.x" (--python)'
        )
    listed = classifier_series(checkout_dir)
    preferred = [i for i in fitting if i.series in listed] or fitting
    ties = f"; classifiers list {', '.join(sorted(listed, key=Version))}" if listed else ""
    words = (asked or "no Python declared") + ties
    if era is None:
        return PythonChoice(
            max(preferred, key=lambda i: i.version), f"{words}; the newest installed"
        )
    before = [i for i in preferred if released(i.series) < era]
    if before:
        chosen = max(before, key=lambda i: i.version)
        return PythonChoice(chosen, f"{words}; the newest installed released before {era}")
    chosen = min(preferred, key=lambda i: i.version)
    return PythonChoice(chosen, f"{words}; none installed was released before {era}: the oldest")


def released(series: str) -> datetime.date:
    """The release date of a Python series ("3.8"); unknown series count as the newest."""
    return _RELEASED.get(series, datetime.date.max)


def _matches(version: Version, requested: str) -> bool:
    """ "3.8" matches every 3.8.x; "3.8.18" only itself."""
    return str(version) == requested or str(version).startswith(requested + ".")


def _listing(found: tuple[Interpreter, ...]) -> str:
    if not found:
        return "no CPython 3.6 or newer"
    return "CPython " + ", ".join(str(i.version) for i in sorted(found, key=lambda i: i.version))


# ---------------------------------------------------------------- installed interpreters


@functools.cache
def installed_interpreters() -> tuple[Interpreter, ...]:
    """CPython 3.6+ interpreters installed here (uv's discovery plus pyenv's versions), newest first,
    one per version."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    searched = [str(p) for p in sorted(pyenv.glob("*/bin"))]
    # pyenv's shims fail for every version but the selected one (and say so on stderr).
    searched += [p for p in os.environ.get("PATH", "").split(os.pathsep) if not p.endswith("shims")]
    try:
        done = subprocess.run(
            [find_uv_bin(), "python", "list", "--only-installed", "--output-format", "json"],
            env={**os.environ, "PATH": os.pathsep.join(searched), "UV_PYTHON_DOWNLOADS": "never"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        entries = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        entries = []
    found: dict[Version, Interpreter] = {}
    for entry in entries:
        try:
            version = Version(entry["version"])
        except (InvalidVersion, KeyError, TypeError):
            continue
        usable = entry.get("implementation") == "cpython" and entry.get("variant") == "default"
        if usable and not version.is_prerelease and version >= OLDEST_SUPPORTED:
            found.setdefault(version, Interpreter(version, Path(entry["path"])))
    return tuple(sorted(found.values(), key=lambda i: i.version, reverse=True))


# ---------------------------------------------------------------- what the repository declares


def declared(checkout_dir: Path) -> tuple[Declaration, ...]:
    """Every Python range or pin the repository declares (classifiers are not ranges: see
    classifier_series)."""
    found: list[Declaration] = []
    project = _pyproject(checkout_dir).get("project", {})
    if isinstance(project.get("requires-python"), str):
        found += _declaration("pyproject.toml requires-python", project["requires-python"])
    options = _setup_cfg(checkout_dir, "options")
    if "python_requires" in options:
        found += _declaration("setup.cfg python_requires", options["python_requires"])
    setup_py = _setup_py_arguments(checkout_dir).get("python_requires")
    if isinstance(setup_py, str):
        found += _declaration("setup.py python_requires", setup_py)
    for folder in (checkout_dir, checkout_dir / "binder", checkout_dir / ".binder"):
        prefix = f"{folder.relative_to(checkout_dir)}/" if folder != checkout_dir else ""
        found += _series_pin(folder / ".python-version", prefix, r"\s*(\d+\.\d+)")
        found += _series_pin(folder / "runtime.txt", prefix, r"\s*python-(\d+\.\d+)")
        for name in ("environment.yml", "environment.yaml"):
            found += _conda_pin(folder / name, prefix)
    return tuple(found)


def classifier_series(checkout_dir: Path) -> frozenset[str]:
    """The Python series ("3.7") the package's trove classifiers list."""
    lists = [
        _pyproject(checkout_dir).get("project", {}).get("classifiers", []),
        _setup_cfg(checkout_dir, "metadata").get("classifiers", "").splitlines(),
        _setup_py_arguments(checkout_dir).get("classifiers", []),
    ]
    return frozenset(
        match[1]
        for entries in lists
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, str) and (match := _CLASSIFIER.match(entry.strip()))
    )


def _declaration(where: str, text: str) -> list[Declaration]:
    try:
        return [Declaration(where, text.strip(), SpecifierSet(text))]
    except InvalidSpecifier:
        return []  # not a range a resolver could use either; the build will say more if it matters


def _series_pin(path: Path, prefix: str, pattern: str) -> list[Declaration]:
    """A file that pins a version (".python-version 3.8.10", "runtime.txt python-3.7.3"): the whole
    series fits, since which patch release is installed rarely matters and seldom matches."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    first = next((line for line in text.splitlines() if line.strip() and line[0] != "#"), "")
    match = re.match(pattern, first)
    if not match:
        return []  # "system", a conda or PyPy name: nothing a CPython choice can follow
    return [Declaration(f"{prefix}{path.name}", first.strip(), SpecifierSet(f"=={match[1]}.*"))]


def _conda_pin(path: Path, prefix: str) -> list[Declaration]:
    """The ``- python=3.7`` entry of a conda environment file. A line pattern instead of a YAML
    parser: this one entry is all repaudit reads there, and PyYAML would be a dependency for it."""
    if not path.is_file():
        return []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = re.match(r"""\s*-\s*["']?python\s*([<>=!~][^"'#]*)""", line)
        if not match:
            continue
        text = match[1].strip()
        where = f"{prefix}{path.name} python"
        series = re.fullmatch(r"==?\s*(\d+\.\d+)[.\d*]*", text)  # conda's "=3.7" is 3.7.*
        if series:
            return [Declaration(where, text, SpecifierSet(f"=={series[1]}.*"))]
        return _declaration(where, text)
    return []


def _pyproject(checkout_dir: Path) -> dict:
    path = checkout_dir / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def _setup_cfg(checkout_dir: Path, section: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(checkout_dir / "setup.cfg", encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return {}
    return dict(parser[section]) if parser.has_section(section) else {}


def _setup_py_arguments(checkout_dir: Path) -> dict[str, object]:
    """The literal keyword arguments of setup() in setup.py, read from its syntax tree (never run)."""
    path = checkout_dir / "setup.py"
    try:
        tree = ast.parse(path.read_bytes()) if path.is_file() else None
    except (SyntaxError, ValueError):  # e.g. a Python 2 setup.py
        return {}
    for node in ast.walk(tree) if tree else ():
        callee = node.func if isinstance(node, ast.Call) else None
        name = getattr(callee, "id", None) or getattr(callee, "attr", None)
        if isinstance(node, ast.Call) and name == "setup":
            arguments = {}
            for keyword in node.keywords:
                try:
                    arguments[keyword.arg] = ast.literal_eval(keyword.value)
                except (ValueError, TypeError, SyntaxError, RecursionError):
                    continue  # computed at run time: unknown without running setup.py
            return {k: v for k, v in arguments.items() if k}
    return {}
