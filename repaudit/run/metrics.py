"""Read each claim's number from a finished run: a regex on the log, a JSON or CSV file, or a
TensorBoard scalar.

Every source gives a series (one value, or one per epoch, episode, row or event); the claim's
``reduce`` over the last ``last_n`` of it, times ``scale``, is the run's number. Every file the run
wrote is read through files.read_untrusted, and a value that is not a number is named by its type or
length, never copied. The spec stage rejects what could never match (spec.schema.check_source), so
a run-time miss is about the run, not the spec.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import statistics
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from repaudit.model import Claim, MetricSource, Reduce
from repaudit.run.files import UnsafeFile, read_untrusted

#: Event files hold every scalar, histogram and image a run logged: allowed more than a metric file.
MAX_EVENT_FILE_BYTES = 256 * 1024 * 1024
_EVENT_FILE = "events.out.tfevents."
_REDUCERS: dict[Reduce, Callable[[list[float]], float]] = {
    Reduce.LAST: lambda values: values[-1],
    Reduce.FIRST: lambda values: values[0],
    Reduce.MAX: max,
    Reduce.MIN: min,
    Reduce.MEAN: statistics.fmean,
    Reduce.MEDIAN: statistics.median,
}


class _Missing(Exception):
    """A claim's number could not be read; the message is the reason, in plain words."""


def read_metrics(
    claims: Sequence[Claim],
    *,
    out_dir: Path,
    checkout_dir: Path,
    stdout_path: Path,
    stderr_path: Path | None = None,
    work_dir: Path | None = None,
) -> tuple[dict[str, float], str]:
    """Each claim's value, and a reason naming every metric that is missing, unparsable, NaN or
    infinite ("" when all were read). A regex that never matches stdout is tried on stderr, where
    Python's logging writes by default. Relative file paths start at ``work_dir`` (the run's working
    folder inside ``checkout_dir``; the checkout itself when None)."""
    reader = _Reader(out_dir, checkout_dir, work_dir or checkout_dir, stdout_path, stderr_path)
    values: dict[str, float] = {}
    problems: list[str] = []
    for claim in claims:
        if claim.metric in values:
            continue
        try:
            values[claim.metric] = reader.value(claim.source)
        except _Missing as problem:
            problems.append(f"{claim.metric}: {problem}")
    return values, "; ".join(problems)


class _Reader:
    """One finished run's outputs, read once per source."""

    def __init__(
        self,
        out_dir: Path,
        checkout_dir: Path,
        work_dir: Path,
        stdout_path: Path,
        stderr_path: Path | None,
    ) -> None:
        self.out_dir, self.work_dir = out_dir, work_dir
        self.roots = (out_dir, checkout_dir)
        self.logs = [p for p in (stdout_path, stderr_path) if p is not None]

    def value(self, source: MetricSource) -> float:
        """The source's series, reduced and scaled; _Missing with the reason otherwise."""
        if source.regex is not None:
            series, what = self.from_log(source.regex)
        elif source.json_path is not None:
            series, what = self.from_json(source)
        elif source.csv_path is not None:
            series, what = self.from_csv(source)
        else:
            assert source.tensorboard is not None
            series, what = self.from_tensorboard(source.tensorboard)
        window = series[-source.last_n :] if source.last_n else series
        if source.reduce in (Reduce.LAST, Reduce.FIRST):  # one value counts; the others may be NaN
            window = [window[-1] if source.reduce is Reduce.LAST else window[0]]
        bad = [v for v in window if not math.isfinite(v)]
        if len(window) == 1 and bad:
            words = "NaN" if math.isnan(bad[0]) else f"{bad[0]} (infinite)"
            raise _Missing(f"the value is {words}: the run diverged or the metric was undefined")
        if bad:
            raise _Missing(
                f"{len(bad)} of the last {len(window)} values ({what}) are NaN or infinite: "
                "the run diverged or the metric was undefined"
            )
        return _REDUCERS[source.reduce](window) * source.scale

    def path(self, template: str) -> Path:
        return self.work_dir / template.replace("{out}", str(self.out_dir))

    def read(self, path: Path, limit: int | None = None) -> bytes:
        try:
            if limit is None:
                return read_untrusted(path, roots=self.roots)
            return read_untrusted(path, roots=self.roots, limit=limit)
        except FileNotFoundError:
            raise _Missing(f"{path} was not written") from None
        except UnsafeFile as error:
            raise _Missing(str(error)) from None
        except OSError as error:
            raise _Missing(f"{path} could not be read ({error.strerror})") from None

    def from_log(self, regex: str) -> tuple[list[float], str]:
        pattern = re.compile(regex)
        for path in self.logs:
            if not path.exists():
                continue
            matches = list(pattern.finditer(path.read_text(encoding="utf-8", errors="replace")))
            if matches:
                what = f"the matches of {regex!r} in {path.name}"
                return [
                    _number(m.group(1), f"a match of {regex!r} in {path.name}") for m in matches
                ], what
        raise _Missing(f"regex {regex!r} never matched the output")

    def from_json(self, source: MetricSource) -> tuple[list[float], str]:
        assert source.json_path is not None and source.key is not None
        path = self.path(source.json_path)
        data = self.read(path)
        what = f"key {source.key!r} in {path}"
        try:
            documents = [json.loads(data)]
        except (UnicodeDecodeError, json.JSONDecodeError):
            documents = _json_lines(data, path)
        found = [_walk(doc, source.key) for doc in documents]
        nodes = [node for node, missing in found if missing is None]
        if not nodes:
            raise _Missing(f"key {source.key!r} not found in {path} ({found[-1][1]})")
        if len(nodes) == 1 and isinstance(nodes[0], list):  # a list of numbers is a series
            return _series([_number(v, f"an item of {what}") for v in nodes[0]], what), what
        return [_number(node, what) for node in nodes], what

    def from_csv(self, source: MetricSource) -> tuple[list[float], str]:
        assert source.csv_path is not None and source.column is not None
        path = self.path(source.csv_path)
        try:
            rows = csv.DictReader(io.StringIO(self.read(path).decode("utf-8-sig")))
            if rows.fieldnames is None or source.column not in rows.fieldnames:
                columns = len(rows.fieldnames or ())
                raise _Missing(
                    f"{path} has no column {source.column!r} in its header ({columns} columns)"
                )
            what = f"column {source.column!r} of {path}"
            cells = [row[source.column] for row in rows]
        except (UnicodeDecodeError, csv.Error) as error:
            raise _Missing(f"{path} is not readable CSV ({type(error).__name__})") from None
        # Loggers that write several kinds of row (train, val) leave the other kinds' cells empty.
        values = [_number(cell, f"a cell of {what}") for cell in cells if cell and cell.strip()]
        return _series(values, what), what

    def from_tensorboard(self, tag: str) -> tuple[list[float], str]:
        try:
            from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
            from tensorboard.util import tensor_util
        except ImportError:
            raise _Missing(
                "the tensorboard package, which reads event files, is not installed where "
                "repaudit runs: pip install 'repaudit[tensorboard]'"
            ) from None
        files = sorted({*_event_files(self.out_dir), *_event_files(self.work_dir)})
        what = f"tag {tag!r} in {len(files)} event file(s)"
        if not files:
            raise _Missing(
                f"no TensorBoard event files ({_EVENT_FILE}*) under {self.out_dir} or {self.work_dir}"
            )
        points: list[tuple[int, float, float]] = []
        with tempfile.TemporaryDirectory(prefix="repaudit-events-") as scratch:
            copy = Path(scratch, "events")
            for path in files:
                # The loader opens paths; it gets a private copy of bytes read the safe way.
                copy.write_bytes(self.read(path, MAX_EVENT_FILE_BYTES))
                try:
                    for event in EventFileLoader(str(copy)).Load():
                        for value in event.summary.value:
                            if value.tag == tag:
                                number = _event_number(value, tensor_util)
                                points.append((event.step, event.wall_time, number))
                except _Missing:
                    raise
                except Exception as error:  # a truncated or forged record: the loader's own errors
                    raise _Missing(
                        f"{path} is not a readable event file ({type(error).__name__})"
                    ) from None
        if not points:
            raise _Missing(f"tag {tag!r} not found in {len(files)} event file(s)")
        return [number for _, _, number in sorted(points)], what


def _event_files(folder: Path) -> Iterator[Path]:
    """Event files below ``folder``; symbolic links to folders are not followed."""
    for parent, _, names in os.walk(folder):
        for name in names:
            if name.startswith(_EVENT_FILE):
                yield Path(parent, name)


def _event_number(value: Any, tensor_util: Any) -> float:
    """A scalar summary's number (the loader migrates simple_value into a one-element tensor)."""
    if value.HasField("tensor"):
        array = tensor_util.make_ndarray(value.tensor)
        if array.size != 1:
            raise _Missing(f"tag {value.tag!r} holds {array.size} numbers per step, not a scalar")
        return float(array.reshape(()))
    if value.HasField("simple_value"):
        return float(value.simple_value)
    raise _Missing(f"tag {value.tag!r} is not a scalar (an image, histogram or text)")


def _json_lines(data: bytes, path: Path) -> list[object]:
    """JSON lines (one document per line), as logs such as DeiT's log.txt are written."""
    try:
        lines = data.decode("utf-8").splitlines()
        documents = [json.loads(line) for line in lines if line.strip()]
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise _Missing(f"{path} is not readable JSON ({type(error).__name__})") from None
    if not documents:
        raise _Missing(f"{path} is empty")
    return documents


def _walk(document: object, key: str) -> tuple[object, str | None]:
    """(the node at the dotted key, None), or (None, what was missing)."""
    node = document
    parts = key.split(".")
    for depth, part in enumerate(parts):
        node, found = _child(node, part)
        if not found:
            walked = ".".join(parts[:depth]) or "the top level"
            return None, f"no {part!r} under {walked}"
    return node, None


def _child(node: object, part: str) -> tuple[object, bool]:
    if isinstance(node, dict):
        return node.get(part), part in node
    if isinstance(node, list) and re.fullmatch(r"-?\d+", part):
        index = int(part)
        if -len(node) <= index < len(node):
            return node[index], True
    return None, False


def _number(value: object, what: str) -> float:
    """The value as a float ("6.58e-05", "-1.2E+3", "nan" and "inf" included); a value that is not a
    number is named by its type only, never copied (a metric file can hold anything the audited code
    could read, secrets included)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Missing(f"{what} is {_json_type(value)}, not a number")
    try:
        return float(value)
    except ValueError:
        raise _Missing(f"{what} is text ({len(str(value))} characters), not a number") from None


def _series(values: list[float], what: str) -> list[float]:
    if not values:
        raise _Missing(f"{what} holds no values")
    return values


def _json_type(value: object) -> str:
    """ "a list", "an object", "null", "true": what a JSON value is, without its content."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return "a list" if isinstance(value, list) else "an object"
