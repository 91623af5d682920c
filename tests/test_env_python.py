"""Choosing the interpreter of the paper's era: every kind of declaration, the commit's era,
classifiers as tie-breakers, the [run] python override, and one line when nothing fits."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from packaging.version import Version

from repaudit.env.python import (
    Interpreter,
    choose_python,
    classifier_series,
    declared,
    installed_interpreters,
    released,
)
from repaudit.errors import EnvSetupError

INSTALLED = tuple(
    Interpreter(Version(v), Path(f"/opt/python/{v}/bin/python3"))
    for v in ("3.13.0", "3.12.1", "3.11.7", "3.10.13", "3.9.18", "3.8.18", "3.7.16", "3.6.15")
)


def choose(folder: Path, era: str | None = None, requested: str | None = None) -> tuple[str, str]:
    when = datetime.date.fromisoformat(era) if era else None
    choice = choose_python(folder, requested=requested, era=when, installed=INSTALLED)
    return str(choice.interpreter.version), choice.reason


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.mark.parametrize(
    ("files", "where", "text"),
    [
        ({"pyproject.toml": '[project]\nrequires-python = ">=3.7,<3.9"\n'}, "pyproject.toml requires-python", ">=3.7,<3.9"),
        ({"setup.cfg": "[options]\npython_requires = >=3.7, <3.9\n"}, "setup.cfg python_requires", ">=3.7, <3.9"),
        ({"setup.py": "import setuptools\nsetuptools.setup(name='x', python_requires='>=3.7,<3.9')\n"}, "setup.py python_requires", ">=3.7,<3.9"),
        ({".python-version": "3.8.10\n"}, ".python-version", "3.8.10"),
        ({"runtime.txt": "python-3.8.2\n"}, "runtime.txt", "python-3.8.2"),
        ({"binder/runtime.txt": "python-3.8\n"}, "binder/runtime.txt", "python-3.8"),
        ({"environment.yml": "name: x\ndependencies:\n  - numpy\n  - python=3.8\n"}, "environment.yml python", "=3.8"),
        ({"environment.yaml": "dependencies:\n  - python>=3.7,<3.9\n"}, "environment.yaml python", ">=3.7,<3.9"),
    ],
)  # fmt: skip
def test_every_kind_of_declaration_is_read(
    tmp_path: Path, files: dict[str, str], where: str, text: str
) -> None:
    (declaration,) = declared(write(tmp_path, files))
    assert (declaration.where, declaration.text) == (where, text)
    version, reason = choose(tmp_path)
    assert version == "3.8.18" and reason.startswith(f"{where} {text};")


def test_setup_py_is_read_without_running_it_and_computed_values_are_skipped(
    tmp_path: Path,
) -> None:
    setup = "import sys\nsys.exit('never run')\nfrom setuptools import setup\nsetup(python_requires=WHICH, classifiers=['Programming Language :: Python :: 3.7'])\n"
    write(tmp_path, {"setup.py": setup, ".python-version": "system\n"})
    assert declared(tmp_path) == ()  # a variable, and pyenv's "system": nothing to follow
    assert classifier_series(tmp_path) == {"3.7"}


def test_the_newest_interpreter_released_before_the_era_and_the_oldest_when_none_was(
    tmp_path: Path,
) -> None:
    assert choose(tmp_path, era="2019-06-01") == (
        "3.7.16", "no Python declared; the newest installed released before 2019-06-01"
    )  # fmt: skip
    assert choose(tmp_path, era="2021-11-01")[0] == "3.10.13"  # 3.10 came out on 2021-10-04
    assert choose(tmp_path)[0] == "3.13.0"  # no era: the newest
    version, reason = choose(tmp_path, era="2015-01-01")
    assert version == "3.6.15" and "none installed was released before 2015-01-01" in reason
    write(tmp_path, {"pyproject.toml": '[project]\nrequires-python = "<3.11"\n'})
    assert choose(tmp_path)[0] == "3.10.13"
    assert choose(tmp_path, era="2020-01-01")[0] == "3.8.18"


def test_classifiers_break_ties_within_the_declared_range(tmp_path: Path) -> None:
    classifiers = (
        '["Programming Language :: Python :: 3.8", "Programming Language :: Python :: 3.9"]'
    )
    write(tmp_path, {"pyproject.toml": f'[project]\nrequires-python = ">=3.7"\nclassifiers = {classifiers}\n'})  # fmt: skip
    version, reason = choose(tmp_path)
    assert version == "3.9.18" and "classifiers list 3.8, 3.9" in reason
    # classifiers outside the range are ignored rather than trusted over it
    write(tmp_path, {"setup.cfg": "[options]\npython_requires = >=3.11\n"})
    assert choose(tmp_path)[0] == "3.13.0"


def test_run_python_overrides_the_declarations(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[project]\nrequires-python = ">=3.12"\n'})
    assert choose(tmp_path, requested="3.8") == ("3.8.18", '[run] python = "3.8"')
    assert choose(tmp_path, requested="3.8.18")[0] == "3.8.18"
    with pytest.raises(EnvSetupError, match=r'python = "3.8.2" is not installed \(found CPython 3.6.15, .* 3.13.0\)'):  # fmt: skip
        choose(tmp_path, requested="3.8.2")


def test_when_none_fits_one_line_says_what_was_asked_and_what_was_found(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": '[project]\nrequires-python = ">=3.14"\n', "runtime.txt": "python-3.14.0\n"})  # fmt: skip
    with pytest.raises(EnvSetupError) as error:
        choose(tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert "it asks for pyproject.toml requires-python >=3.14; runtime.txt python-3.14.0" in message
    assert (
        "found CPython 3.6.15, 3.7.16, 3.8.18, 3.9.18, 3.10.13, 3.11.7, 3.12.1, 3.13.0" in message
    )
    assert "uv python install" in message and "[run] python" in message


def test_the_installed_interpreters_are_found_by_uv_and_in_pyenv() -> None:
    found = installed_interpreters()
    pyenv = sorted((Path.home() / ".pyenv" / "versions").glob("3.*"))
    if not pyenv:
        pytest.skip("no pyenv interpreters under ~/.pyenv/versions")
    assert found == tuple(sorted(found, key=lambda i: i.version, reverse=True))
    versions = {str(i.version) for i in found}
    assert {p.name for p in pyenv if Version(p.name) >= Version("3.6")} <= versions
    assert all(i.version >= Version("3.6") and i.path.exists() for i in found)  # no Python 2
    # an old commit with no declarations gets an older Python than the newest installed
    old = choose_python(Path("/nonexistent"), requested=None, era=datetime.date(2019, 6, 1))
    assert old.interpreter.version < found[0].version
    assert released(old.interpreter.series) < datetime.date(2019, 6, 1)
