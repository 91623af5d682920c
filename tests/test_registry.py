"""The registry (audits/registry/<owner>/<repo>.toml): every entry loads as `repaudit check
owner/repo` would find it, pins its commit, and together the entries cover the shapes of issue 11."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from repaudit.errors import SpecError
from repaudit.model import AuditSpec, Reduce
from repaudit.spec import load_spec

REGISTRY = Path(__file__).resolve().parents[1] / "audits" / "registry"
ENTRIES = sorted(REGISTRY.glob("*/*.toml"))
HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def key(entry: Path) -> str:
    return f"{entry.parent.name}/{entry.stem}"


def load(entry: Path) -> AuditSpec:
    return load_spec(Path("/nonexistent"), registry_dir=REGISTRY, registry_key=key(entry))


@pytest.mark.parametrize("entry", ENTRIES, ids=key)
def test_every_entry_loads_pinned_and_sourced(entry: Path) -> None:
    uses_tensorboard = "\ntensorboard =" in entry.read_text(encoding="utf-8")
    if uses_tensorboard and not HAS_TENSORBOARD:
        with pytest.raises(SpecError, match=r"repaudit\[tensorboard\]"):
            load(entry)
        return
    spec = load(entry)
    assert spec.origin == f"registry:{key(entry)}"
    assert spec.commit is not None and re.fullmatch(r"[0-9a-f]{40}", spec.commit)
    text = entry.read_text(encoding="utf-8")
    # Every claimed number says where it comes from: a comment right above its table.
    for table in re.finditer(r"^\[\[?claims?\]\]?$", text, flags=re.MULTILINE):
        above = text[: table.start()].rstrip("\n").splitlines()[-1]
        assert above.startswith("#"), f"{entry.name}: {table.group()} has no source comment above"


def test_the_entries_cover_every_shape_of_issue_11() -> None:
    specs = [load(e) for e in ENTRIES if HAS_TENSORBOARD or "tensorboard =" not in e.read_text()]
    sources = [c.source for s in specs for c in s.claims]
    shapes = {
        "hard-coded seed": any(s.seed_override for s in specs),
        "dotted config override": any(
            re.search(r"\w\.\w+=\{seed\}", a.command) for s in specs for a in s.arms
        ),
        "per-epoch or per-episode metric reduced": any(
            src.reduce is not Reduce.LAST or src.last_n for src in sources
        ),
        "subfolder workdir": any(s.workdir for s in specs),
        "crash after the metric": any(s.metric_after_failure for s in specs),
    }
    if HAS_TENSORBOARD:
        shapes["TensorBoard-only metric"] = any(src.tensorboard for src in sources)
    assert all(shapes.values()), [name for name, covered in shapes.items() if not covered]
    assert len(ENTRIES) >= 5
