"""Files the audited code controls are read on the host only when safe (issue 10, cases 1-3)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from repaudit.model import Claim, MetricSource
from repaudit.run.files import UnsafeFile, read_untrusted
from repaudit.run.metrics import read_metrics


@pytest.fixture
def run(tmp_path: Path) -> dict[str, Path]:
    """A finished run's folders, and a secret beside them that the sandbox hid from the seed."""
    out, checkout = tmp_path / "run" / "out", tmp_path / "work"
    out.mkdir(parents=True)
    checkout.mkdir()
    (tmp_path / "secret.json").write_text(json.dumps({"test": {"acc": "AKIA-SECRET-0123"}}))
    return {
        "out_dir": out,
        "checkout_dir": checkout,
        "stdout_path": tmp_path / "run" / "stdout.log",
    }


CLAIM = Claim("acc", 0.8, source=MetricSource(json_path="{out}/m.json", key="test.acc"))


def test_a_symlink_out_of_the_run_is_never_read(run: dict[str, Path], tmp_path: Path) -> None:
    (run["out_dir"] / "m.json").symlink_to(tmp_path / "secret.json")
    values, reason = read_metrics([CLAIM], **run)
    assert values == {} and "points outside the run's folders" in reason
    assert "AKIA" not in reason


def test_a_string_value_is_never_copied_into_the_reason(
    run: dict[str, Path], tmp_path: Path
) -> None:
    (run["out_dir"] / "m.json").write_text((tmp_path / "secret.json").read_text())
    values, reason = read_metrics([CLAIM], **run)
    assert values == {} and "is text (16 characters), not a number" in reason
    assert "AKIA" not in reason


def test_a_fifo_does_not_hang_the_reader(run: dict[str, Path]) -> None:
    os.mkfifo(run["out_dir"] / "m.json")
    outcome: list[tuple[dict[str, float], str]] = []
    reader = threading.Thread(target=lambda: outcome.append(read_metrics([CLAIM], **run)))
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert outcome[0] == (
        {},
        "acc: " + str(run["out_dir"] / "m.json") + " is a FIFO, not a regular file; not read",
    )


def test_a_device_is_never_read(run: dict[str, Path]) -> None:
    (run["out_dir"] / "m.json").symlink_to("/dev/zero")
    with pytest.raises(UnsafeFile, match="points outside"):
        read_untrusted(run["out_dir"] / "m.json", roots=(run["out_dir"],))
    with pytest.raises(UnsafeFile, match="a character device"):
        read_untrusted(Path("/dev/zero"), roots=(Path("/dev"),))


def test_reads_are_capped(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b"0" * 2048)
    assert read_untrusted(big, roots=(tmp_path,), limit=4096) == b"0" * 2048
    with pytest.raises(UnsafeFile, match="more than"):
        read_untrusted(big, roots=(tmp_path,), limit=1024)


def test_links_inside_the_run_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    assert read_untrusted(tmp_path / "link.json", roots=(tmp_path,)) == b"{}"
    with pytest.raises(FileNotFoundError):
        read_untrusted(tmp_path / "gone.json", roots=(tmp_path,))
    (tmp_path / "dangling.json").symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(FileNotFoundError):
        read_untrusted(tmp_path / "dangling.json", roots=(tmp_path,))
