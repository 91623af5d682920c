"""The published JSON Schema of the spec and the pre-commit hook, held to the parser.

docs/repaudit.schema.json is generated from the parser's key table (`repaudit spec-schema`), so the
two cannot drift: the committed file must equal the generated one (REPAUDIT_UPDATE_GOLDEN=1
rewrites it), every spec the repository ships must pass both, and specs the parser refuses for
a key or a type the schema must refuse too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from repaudit.cli import cli
from repaudit.errors import SpecError
from repaudit.spec import check_spec_file, json_schema
from repaudit.spec.schema import _SCHEMA

jsonschema = pytest.importorskip("jsonschema")
yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "docs" / "repaudit.schema.json"
SHIPPED = sorted([*ROOT.glob("examples/**/repaudit.toml"), *ROOT.glob("audits/registry/**/*.toml")])
VALID = """\
[claim]
value = 0.8
[run]
command = "python train.py --seed {seed} --out {out}"
[run.metric]
json = "{out}/metrics.json"
key = "test.acc"
"""


@pytest.fixture(scope="module")
def validator():
    schema = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_the_published_schema_is_the_generated_one():
    generated = json.dumps(json_schema(), indent=2) + "\n"
    if os.environ.get("REPAUDIT_UPDATE_GOLDEN") == "1":
        PUBLISHED.write_text(generated, encoding="utf-8")
    assert PUBLISHED.read_text(encoding="utf-8") == generated, (
        "docs/repaudit.schema.json is stale: run `repaudit spec-schema > docs/repaudit.schema.json`"
    )
    printed = CliRunner().invoke(cli, ["spec-schema"], standalone_mode=False)
    assert printed.stdout == generated


def test_every_key_the_parser_accepts_is_in_the_schema_and_no_other(validator):
    schema = validator.schema
    tables = {"": schema, **schema["definitions"]}
    assert set(tables) == set(_SCHEMA)
    for name, keys in _SCHEMA.items():
        assert set(tables[name]["properties"]) == set(keys), name
        assert tables[name]["additionalProperties"] is False


def test_there_are_shipped_specs_to_check():
    assert any("examples" in p.parts for p in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_spec_passes_the_parser_and_the_schema(path, validator):
    check_spec_file(path)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(raw)] == []


def documented_specs() -> list[tuple[str, str]]:
    """Every ```toml block of README.md and docs/*.md that holds a spec table."""
    blocks = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        for k, block in enumerate(re.findall(r"```toml\n(.*?)```", text, re.S)):
            if re.search(r"^\[\[?(claim|claims|run)\]\]?", block, re.M):
                blocks.append((f"{doc.name}#{k}", block))
    return blocks


DOCUMENTED = documented_specs()


@pytest.mark.parametrize(("where", "block"), DOCUMENTED, ids=[where for where, _ in DOCUMENTED])
def test_every_documented_spec_passes_the_schema(where, block, validator):
    assert [e.message for e in validator.iter_errors(tomllib.loads(block))] == [], where


@pytest.mark.parametrize(
    "broken",
    [
        VALID.replace("[run]", "[run]\ncomand = 'x'"),  # an unknown key
        VALID.replace("value = 0.8", 'value = "0.8"'),  # a wrong type
        VALID.replace("value = 0.8", 'value = 0.8\ndirection = "up"'),  # not a choice
        VALID.replace("value = 0.8", 'value = 0.8\nunit = "percent"'),
        VALID + "[stats]\nalpha = 0.5\n",  # out of range
        VALID + "[stats]\nalpha = 0\n",
        VALID.replace("[run]", "[run]\nseeds = 0"),
        VALID.replace("[run]", "[run]\nseeds = [1, 1]"),
        VALID.replace("[run]", "[run]\nrepeat_seed = 1"),
        VALID.replace("[run]", '[run]\ntimeout = "soon"'),
        VALID.replace("[run]", '[run]\nresolve_as_of = "2019"\nenvironment = "venv"'),
        VALID.replace("[run]", "[run]\nenv = { N = 1 }"),
        VALID + "[[claims]]\nvalue = 0.7\n",  # both forms
        VALID + "[slurm]\ncpus_per_task = 0\n",
        VALID.replace("[run]", "[run]\nseeds = 1001"),  # the keys of real repositories (issue 11)
        VALID.replace("[run]", '[run]\nworkdir = "../elsewhere"'),
        VALID.replace("[run]", '[run]\nworkdir = "/abs"'),
        VALID.replace("[run]", '[run]\nworkdir = "a/../../b"'),
        VALID.replace("[run]", "[run]\naccept_exit = [0, 256]"),
        VALID.replace("[run]", "[run]\naccept_exit = []"),
        VALID.replace("[run]", "[run]\nmetric_after_failure = 1"),
        VALID.replace('key = "test.acc"', 'key = "test.acc"\nreduce = "avg"'),
        VALID.replace('key = "test.acc"', 'key = "test.acc"\nlast_n = 0\nreduce = "mean"'),
        VALID.replace('key = "test.acc"', 'key = "test.acc"\nscale = 0'),
        VALID.replace("value = 0.8", 'value = 0.8\nreduce = "avg"'),
        VALID + '[source]\ncommit = "abc123"\n',
        VALID.replace("[run]", '[run]\nseeds = "many"'),  # adaptive seeds (issue 15)
        VALID.replace("[run]", '[run]\nseeds = "auto"\nmax_seeds = 2000'),
        VALID.replace("[run]", '[run]\nseeds = "auto"\nlooks = [2, 5]'),
    ],
)
def test_what_the_parser_refuses_for_a_key_or_a_type_the_schema_refuses(
    broken, validator, tmp_path
):
    path = tmp_path / "repaudit.toml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(SpecError):
        check_spec_file(path)
    assert list(validator.iter_errors(tomllib.loads(broken)))


def test_the_pre_commit_hook_runs_spec_check_on_repaudit_toml_files(tmp_path):
    (hook,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "repaudit-spec-check" and hook["language"] == "python"
    files = re.compile(hook["files"])
    assert files.search("repaudit.toml") and files.search("papers/a/repaudit.toml")
    assert not files.search("pyproject.toml") and not files.search("myrepaudit.toml")
    good, bad = tmp_path / "good" / "repaudit.toml", tmp_path / "bad" / "repaudit.toml"
    good.parent.mkdir()
    bad.parent.mkdir()
    good.write_text(VALID, encoding="utf-8")
    bad.write_text(VALID.replace("{seed}", "{sed}"), encoding="utf-8")
    program, *args = shlex.split(hook["entry"])
    assert program == "repaudit"
    command = [sys.executable, "-m", "repaudit", *args]  # pre-commit passes the staged files
    passed = subprocess.run([*command, str(good)], capture_output=True, text=True, check=False)
    assert passed.returncode == 0 and passed.stdout == ""
    assert passed.stderr == f"{good}: valid (test.acc 0.8; method; 5 seeds)\n"
    refused = subprocess.run([*command, str(good), str(bad)], capture_output=True, text=True,
                             check=False)  # fmt: skip
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1] == (
        f"error: {bad}: [run] command has an unknown placeholder {{sed}}: use only {{seed}} "
        "{out} {threads} {gpu}, and {{ }} for literal braces (e.g. ${{HOME}} for a shell variable)"
    )


def test_spec_check_defaults_to_repaudit_toml_and_reads_pyproject(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    missing = runner.invoke(cli, ["spec-check"], standalone_mode=False)
    assert "repaudit.toml does not exist" in str(missing.exception)
    (tmp_path / "repaudit.toml").write_text(VALID, encoding="utf-8")
    assert runner.invoke(cli, ["spec-check"], standalone_mode=False).return_value == 0
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "paper"\n'
        + VALID.replace("[claim]", "[tool.repaudit.claim]")
        .replace("[run]", "[tool.repaudit.run]")
        .replace("[run.metric]", "[tool.repaudit.run.metric]"),
        encoding="utf-8",
    )
    checked = runner.invoke(cli, ["spec-check", "pyproject.toml"], standalone_mode=False)
    assert checked.return_value == 0, checked.output
    pyproject.write_text('[project]\nname = "paper"\n', encoding="utf-8")
    bare = runner.invoke(cli, ["spec-check", "pyproject.toml"], standalone_mode=False)
    assert "no [tool.repaudit] table" in str(bare.exception)
