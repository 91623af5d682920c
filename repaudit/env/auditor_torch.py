"""The auditor's own torch, offered to an environment of the same Python series.

torch is gigabytes; when the auditor already has one that fits the repository, the environment
reuses it instead of downloading another. Exactly torch and its own dependencies become visible:
symbolic links to their folders and metadata in one folder of the venv, which a .pth file puts on
sys.path after the venv's own site-packages (so anything the venv installs itself wins). Nothing
else of the auditor's leaks in.

The resolver is told about these packages as they are installed (their versions as constraints,
their installed dependency lists as uv's static dependency metadata, their dates exempt from the
resolution date), so a repository that pins another torch, or a package that needs one, fails that
resolution and gets torch installed like any other requirement instead.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

_PTH = "repaudit_auditor_torch.pth"


@dataclass(frozen=True)
class Package:
    """One installed distribution of the auditor's: torch or one of its dependencies."""

    name: str
    """Its canonical name, e.g. "typing-extensions"."""
    version: str
    """As installed, e.g. "2.13.0+cpu"."""
    requires: tuple[str, ...]
    """Its Requires-Dist entries, as installed (a CPU build lists no CUDA libraries)."""
    requires_python: str | None
    """Its Requires-Python, as installed."""
    entries: tuple[Path, ...]
    """What it put into its site folder: packages, modules and its .dist-info folder."""


@dataclass(frozen=True)
class AuditorTorch:
    """torch and its own dependencies as the interpreter running repaudit has them installed."""

    packages: tuple[Package, ...]
    """torch first."""

    @property
    def version(self) -> str:
        """torch's version, e.g. "2.13.0+cpu"."""
        return self.packages[0].version

    @property
    def names(self) -> frozenset[str]:
        """The packages' canonical names."""
        return frozenset(p.name for p in self.packages)

    @property
    def key(self) -> str:
        """What the environment's cache key must cover: the versions and where they live."""
        return " ".join(f"{p.name}=={p.version}@{p.entries[0].parent}" for p in self.packages)

    @property
    def folders(self) -> tuple[Path, ...]:
        """The site folders the links point into (read-only for the seeds)."""
        return tuple(dict.fromkeys(e.parent for p in self.packages for e in p.entries))

    def constraints(self) -> str:
        """A constraints file holding each package at its installed version."""
        return "".join(f"{p.name}=={Version(p.version).public}\n" for p in self.packages)

    def uv_config(self) -> str:
        """uv.toml telling the resolver each package's installed dependencies (the index's may
        differ: PyPI's torch lists CUDA libraries a CPU build does without)."""
        blocks = []
        for package in self.packages:
            blocks.append(
                "[[dependency-metadata]]\n"
                f"name = {json.dumps(package.name)}\n"
                f"version = {json.dumps(Version(package.version).public)}\n"
                f"requires-dist = {json.dumps(list(package.requires))}\n"
                + (
                    f"requires-python = {json.dumps(package.requires_python)}\n"
                    if package.requires_python
                    else ""
                )
            )
        return "\n".join(blocks)

    def link(self, venv: Path, site_packages: Path) -> Path:
        """Make the packages visible in ``venv`` (links in one folder, a .pth naming it); return
        the folder."""
        folder = venv / "auditor-torch"
        folder.mkdir(exist_ok=True)
        for entry in {e.name: e for p in self.packages for e in p.entries}.values():
            (folder / entry.name).symlink_to(entry)
        (site_packages / _PTH).write_text(f"{folder}\n")
        return folder


def find_auditor_torch(series: str) -> AuditorTorch | None:
    """The running interpreter's torch and its dependencies, when it runs Python ``series`` ("3.11")
    and has torch installed with a RECORD to link from; else None."""
    if series != f"{sys.version_info.major}.{sys.version_info.minor}":
        return None
    packages: dict[str, Package] = {}
    queue = ["torch"]
    while queue:
        name = canonicalize_name(queue.pop(0))
        if name in packages:
            continue
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "torch":
                return None
            continue  # a dependency for another platform, or an optional one torch does without
        entries = _entries(distribution)
        if not entries:
            return None  # installed without a RECORD: nothing to link, so nothing to reuse
        requires = tuple(distribution.requires or ())
        packages[name] = Package(
            name,
            distribution.version,
            requires,
            distribution.metadata["Requires-Python"],
            entries,
        )
        queue += _needed(requires)
    return AuditorTorch(tuple(packages.values()))


def _needed(requires: tuple[str, ...]) -> list[str]:
    """The names among ``requires`` this interpreter needs (no extras, markers that hold here)."""
    names = []
    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names


def _entries(distribution: importlib.metadata.Distribution) -> tuple[Path, ...]:
    """The top-level files and folders a distribution installed into its site folder, from its
    RECORD; the .dist-info folder first."""
    tops = {
        f.parts[0]
        for f in distribution.files or ()
        if f.parts and f.parts[0] not in ("..", "__pycache__")
    }
    paths = [Path(str(distribution.locate_file(top))) for top in sorted(tops)]
    paths = [p for p in paths if p.exists()]
    return tuple(sorted(paths, key=lambda p: not p.name.endswith(".dist-info")))
