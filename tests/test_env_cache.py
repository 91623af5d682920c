"""The environments cache: listing, pruning by age and size, crashed builds, and never an
environment a running audit uses; `repaudit cache list` and `repaudit cache prune`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repaudit.env import list_environments, prune_environments
from repaudit.env.cache import hold, write_record

DAY = 86400


def make_venv(
    cache: Path, name: str, *, size: int, days_unused: float, complete: bool = True
) -> Path:
    folder = cache / "venvs" / name
    folder.mkdir(parents=True)
    (folder / "payload").write_bytes(b"x" * size)
    if complete:
        write_record(folder, {"python_version": "3.8.18", "resolved_as_of": "2019-06-01"})
    used = time.time() - days_unused * DAY
    os.utime(folder / (".repaudit-complete" if complete else "payload"), (used, used))
    os.utime(folder, (used, used))
    return folder


def test_list_is_least_recently_used_first_with_size_and_record(tmp_path: Path) -> None:
    make_venv(tmp_path, "new", size=10_000, days_unused=1)
    make_venv(tmp_path, "old", size=20_000, days_unused=40)
    make_venv(tmp_path, "crashed", size=1, days_unused=2, complete=False)
    (tmp_path / "venvs" / ".uv-cache").mkdir()  # uv's own cache is not an environment
    listed = list_environments(tmp_path)
    assert [e.path.name for e in listed] == ["old", "crashed", "new"]
    old = listed[0]
    assert old.complete and old.python == "3.8.18" and old.resolved_as_of == "2019-06-01"
    assert 20_000 <= old.size_bytes < 40_000
    assert not listed[1].complete and listed[1].python == ""


def test_prune_by_age_then_by_size_and_crashed_builds_always(tmp_path: Path) -> None:
    make_venv(tmp_path, "a-40-days", size=100_000, days_unused=40)
    make_venv(tmp_path, "b-20-days", size=100_000, days_unused=20)
    make_venv(tmp_path, "c-10-days", size=100_000, days_unused=10)
    make_venv(tmp_path, "d-today", size=100_000, days_unused=0)
    make_venv(tmp_path, "crashed", size=1, days_unused=0, complete=False)
    removed = prune_environments(tmp_path, older_than_seconds=30 * DAY)
    assert sorted(e.path.name for e in removed) == ["a-40-days", "crashed"]
    # three of ~105 kB on disk (payload and record): the least recently used one goes
    removed = prune_environments(tmp_path, max_size_bytes=250_000)
    assert [e.path.name for e in removed] == ["b-20-days"]
    assert [e.path.name for e in list_environments(tmp_path)] == ["c-10-days", "d-today"]


def test_an_environment_in_use_is_never_pruned(tmp_path: Path) -> None:
    used = make_venv(tmp_path, "in-use", size=1000, days_unused=90)
    hold(used)  # what prepare_environment does for the audit that uses it
    assert prune_environments(tmp_path, older_than_seconds=1, max_size_bytes=1) == []
    assert used.is_dir()
    # another process (the next `repaudit cache prune`) cannot take it either
    code = f"from pathlib import Path; from repaudit.env import prune_environments; print(len(prune_environments(Path({str(tmp_path)!r}), older_than_seconds=1)))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == "0" and used.is_dir()


@pytest.mark.slow
def test_cache_commands(tmp_path: Path) -> None:
    make_venv(tmp_path, "0123abcd", size=2 * 2**20, days_unused=40)
    env = {**os.environ, "REPAUDIT_CACHE": str(tmp_path)}

    def repaudit(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "repaudit", *args], env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = repaudit("cache", "list")
    assert "0123abcd" in listed and "Python 3.8.18, packages as of 2019-06-01" in listed
    assert f"1 environments under {tmp_path / 'venvs'}" in listed
    assert "removed 0 environments" in repaudit("cache", "prune", "--older-than", "60d")
    pruned = repaudit("cache", "prune", "--older-than", "30d", "--max-size", "20G")
    assert "removed 0123abcd" in pruned and "removed 1 environments" in pruned
    bad = subprocess.run([sys.executable, "-m", "repaudit", "cache", "prune", "--older-than", "soon"],
                         env=env, capture_output=True, text=True, check=False)  # fmt: skip
    assert bad.returncode == 2 and "not a positive duration" in bad.stderr
