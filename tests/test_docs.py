"""The documentation names only files that are in the repository.

A path is checked when it begins with one of the repository's own top-level entries
(``docs/ci.md``, ``examples/paper-repo``, ``.pre-commit-hooks.yaml``), or is a source file named
inside a folder of the repository (``env/build.py``, which must end a tracked path): paths in an audited
repository (``requirements.txt``) or in an audit's output (``audits/<id>/report.html``, with a
placeholder) are not the repository's. Relative Markdown links are checked the same way, and
a Markdown file named on its own (``DESIGN.md``) must be somewhere in the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from repaudit.store import AuditPaths

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A run of path segments; what precedes it must not make it part of a longer path or a URL.
CANDIDATE = re.compile(r"(?<![\w/.~<>{}$@:-])(\.?[\w-][\w.-]*(?:/[\w.-]+)*/?)")
LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)#\s]+)")
#: Files of these kinds named by a partial path (``spec/schema.py``) must end a tracked path.
SOURCE_SUFFIXES = (".py", ".md", ".toml", ".yml", ".yaml", ".json", ".j2", ".css")
MARKDOWN_NAME = re.compile(r"(?<![\w/.-])([A-Za-z][\w-]*\.md)\b")


def tracked() -> set[str]:
    """Every file git tracks here, and every folder above one."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split()  # fmt: skip
    folders = {str(Path(f).parents[k]) for f in listed for k in range(len(Path(f).parents) - 1)}
    return set(listed) | folders


TRACKED = tracked()
TOP = {name.split("/")[0] for name in TRACKED}
FOLDERS = {Path(name).name for name in TRACKED if not Path(name).suffix}  # spec, env, hook, ...


def mentioned(text: str) -> set[str]:
    """The repository paths a document names (module docstring)."""
    found = set()
    for match in CANDIDATE.finditer(text):
        path, after = match.group(1).rstrip("."), text[match.end() : match.end() + 1]
        if after in "<{*" and after:
            continue  # a placeholder follows: audits/<id>, {out}/metrics.json
        first = path.split("/")[0]
        if first in TOP and ("/" in path or "." in path):
            found.add(path.rstrip("/"))
        elif first in FOLDERS and path.endswith(SOURCE_SUFFIXES):
            found.add(path)  # a module named inside its package: env/build.py
    found |= {link.rstrip("/") for link in LINK.findall(text)}
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_a_document_names_exists(doc):
    text = doc.read_text(encoding="utf-8")
    names = mentioned(text)
    missing = sorted(
        n
        for n in names
        if n not in TRACKED
        and not (ROOT / n).exists()
        and not any(t.endswith("/" + n) for t in TRACKED)
    )
    assert missing == []
    markdown = {Path(n).name for n in TRACKED if n.endswith(".md")}
    markdown.add(AuditPaths(Path()).summary_md.name)  # what every audit writes, not a source file
    assert sorted(set(MARKDOWN_NAME.findall(text)) - markdown) == []


def test_the_check_sees_a_missing_file():
    """Guard the guard: a made-up path and a made-up Markdown file are caught."""
    text = ("see `docs/nowhere.md`, [this](examples/none.txt), env/gone.py and DESIGN.md; "
            "not audits/<id>/x.json")  # fmt: skip
    assert mentioned(text) == {"docs/nowhere.md", "examples/none.txt", "env/gone.py"}
    assert MARKDOWN_NAME.findall(text) == ["DESIGN.md"]
