"""Reading, on the host, files the audited code controls (its metric files, its seed-call log).

A seed can leave a symlink to a file the sandbox hid from it, a FIFO that blocks every reader, or a
device that never ends where repaudit expects its numbers. So such files are read only when they
resolve inside the seed's own folders, are regular files, and are small: never a link out, never a
blocking open, never more than a cap. No library does this check, so it is written here.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

#: The most repaudit reads of one file a seed wrote (a metrics file or a log of seeding calls).
MAX_UNTRUSTED_BYTES = 16 * 1024 * 1024


class UnsafeFile(ValueError):
    """A file the seed controls was not read; the message says why, in plain words."""


def read_untrusted(path: Path, *, roots: Sequence[Path], limit: int = MAX_UNTRUSTED_BYTES) -> bytes:
    """The bytes of ``path``, a file the audited code may have replaced.

    Raises FileNotFoundError when it does not exist, and UnsafeFile when it resolves outside every
    folder in ``roots`` (a symlink out of the seed's folders), is not a regular file (FIFO, device,
    directory, socket), or holds more than ``limit`` bytes. Opening never blocks.
    """
    resolved = Path(os.path.realpath(path))
    allowed = [Path(os.path.realpath(root)) for root in roots]
    if not any(resolved.is_relative_to(root) for root in allowed):
        if not os.path.lexists(path):
            raise FileNotFoundError(path)
        raise UnsafeFile(f"{path} points outside the run's folders (to {resolved}); not read")
    try:
        # O_NONBLOCK: opening a FIFO with no writer would otherwise wait forever.
        fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise UnsafeFile(f"{path} cannot be opened ({error.strerror}); not read") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise UnsafeFile(f"{path} is {_kind(mode)}, not a regular file; not read")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UnsafeFile(f"{path} holds more than {limit // 2**20} MiB; not read")
    return data


def _kind(mode: int) -> str:
    """Plain words for a file type that is not a regular file."""
    for test, words in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return words
    return "a special file"
