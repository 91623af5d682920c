"""run_prepare: what counts as its outputs, how seeds get them, failure, and reuse on resume."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PinnedRepo
from fakes import CURRENT

from repaudit.errors import EnvSetupError
from repaudit.model import Isolation
from repaudit.run.prepare import link_prepared, run_prepare
from repaudit.source import checkout

PREPARE = (
    "mkdir -p data/raw && echo rows > data/raw/train.csv && echo changed > config.txt"
    " && date +%s%N > runs.txt"
)


def test_outputs_are_new_folders_whole_and_changed_files(
    tmp_path: Path, pinned_repo: PinnedRepo
) -> None:
    source = pinned_repo(files={"config.txt": "original\n", "train.py": "pass\n"})
    audit = tmp_path / "audit"
    prepared = run_prepare(
        PREPARE,
        source=source,
        environment=CURRENT,
        isolation=Isolation.NONE,
        work_dir=audit / "prepare",
        log_dir=audit,
        timeout_seconds=30,
    )
    seed = checkout(source, tmp_path / "seed")
    root = link_prepared(prepared, tmp_path / "seed")
    assert root == audit / "prepare"
    assert (seed / "data").is_symlink() and (seed / "data").resolve() == root / "data"
    assert (seed / "data" / "raw" / "train.csv").read_text() == "rows\n"
    assert (seed / "config.txt").is_symlink() and (seed / "config.txt").read_text() == "changed\n"
    assert not (seed / "train.py").is_symlink()  # untouched files stay the seed's own
    assert not (seed / ".repaudit-prepared.json").exists()


def test_a_finished_prepare_is_reused_and_a_changed_command_reruns(
    tmp_path: Path, pinned_repo: PinnedRepo
) -> None:
    source = pinned_repo(files={"train.py": "pass\n"})
    audit = tmp_path / "audit"

    def prepare(command: str) -> str:
        folder = run_prepare(
            command,
            source=source,
            environment=CURRENT,
            isolation=Isolation.NONE,
            work_dir=audit / "prepare",
            log_dir=audit,
            timeout_seconds=30,
        )
        return (folder / "runs.txt").read_text()

    stamp = prepare(PREPARE)
    assert prepare(PREPARE) == stamp
    assert prepare(PREPARE + " && true") != stamp


def test_failed_prepare_raises_with_the_tail_and_the_log(
    tmp_path: Path, pinned_repo: PinnedRepo
) -> None:
    source = pinned_repo(files={"train.py": "pass\n"})
    with pytest.raises(EnvSetupError, match=r"(?s)exit code 3.*prepare\.stderr\.log.*no dataset"):
        run_prepare(
            "echo 'no dataset here' >&2; exit 3",
            source=source,
            environment=CURRENT,
            isolation=Isolation.NONE,
            work_dir=tmp_path / "audit" / "prepare",
            log_dir=tmp_path / "audit",
            timeout_seconds=30,
        )


def test_without_a_sandbox_each_seed_gets_its_own_copy(
    tmp_path: Path, pinned_repo: PinnedRepo
) -> None:
    """Isolation none cannot mount anything read-only: a seed that writes into the prepared data
    changes its own copy, never what the next seed reads."""
    source = pinned_repo(files={"config.txt": "original\n", "train.py": "pass\n"})
    audit = tmp_path / "audit"
    prepared = run_prepare(
        PREPARE, source=source, environment=CURRENT, isolation=Isolation.NONE,
        work_dir=audit / "prepare", log_dir=audit, timeout_seconds=30,
    )  # fmt: skip
    first = checkout(source, tmp_path / "seed-1")
    link_prepared(prepared, tmp_path / "seed-1", copy=True)
    assert not (first / "data").is_symlink() and not (first / "config.txt").is_symlink()
    (first / "data" / "raw" / "train.csv").write_text("tampered\n")
    (first / "config.txt").write_text("tampered\n")
    second = checkout(source, tmp_path / "seed-2")
    link_prepared(prepared, tmp_path / "seed-2", copy=True)
    assert (second / "data" / "raw" / "train.csv").read_text() == "rows\n"
    assert (second / "config.txt").read_text() == "changed\n"
    assert (prepared / "data" / "raw" / "train.csv").read_text() == "rows\n"
