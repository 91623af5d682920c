"""Read each claim's number from a finished run: a JSON file with a dotted key, or a regex on the log.

Two small sources, chosen by which field of ``MetricSource`` is set. The spec stage rejects what
could never match (spec.schema.check_source), so a run-time miss is about the run, not the spec.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

from repaudit.model import Claim, MetricSource
from repaudit.run.files import UnsafeFile, read_untrusted


def read_metrics(
    claims: Sequence[Claim],
    *,
    out_dir: Path,
    checkout_dir: Path,
    stdout_path: Path,
    stderr_path: Path | None = None,
) -> tuple[dict[str, float], str]:
    """Each claim's value, and a reason naming every metric that is missing, unparsable, NaN or
    infinite ("" when all were read). A regex that never matches stdout is tried on stderr, where
    Python's logging writes by default."""
    values: dict[str, float] = {}
    problems: list[str] = []
    for claim in claims:
        if claim.metric in values:
            continue
        source = claim.source
        if source.regex is not None:
            value, problem = _from_log(source.regex, stdout_path, stderr_path)
        else:
            value, problem = _from_json(source, out_dir, checkout_dir)
        if problem is None and value is not None:
            problem = _not_finite(value)
        if problem is None and value is not None:
            values[claim.metric] = value
        else:
            problems.append(f"{claim.metric}: {problem}")
    return values, "; ".join(problems)


def _from_json(
    source: MetricSource, out_dir: Path, checkout_dir: Path
) -> tuple[float | None, str | None]:
    assert source.json_path is not None and source.key is not None
    path = checkout_dir / source.json_path.replace("{out}", str(out_dir))
    try:
        document = json.loads(read_untrusted(path, roots=(out_dir, checkout_dir)))
    except FileNotFoundError:
        return None, f"{path} was not written"
    except UnsafeFile as error:
        return None, str(error)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return None, f"{path} is not readable JSON ({type(error).__name__})"
    node = document
    for depth, part in enumerate(source.key.split(".")):
        node, found = _child(node, part)
        if not found:
            walked = ".".join(source.key.split(".")[:depth]) or "the top level"
            return None, f"key {source.key!r} not found in {path} (no {part!r} under {walked})"
    return _number(node, f"key {source.key!r} in {path}")


def _child(node: object, part: str) -> tuple[object, bool]:
    if isinstance(node, dict):
        return node.get(part), part in node
    if isinstance(node, list) and re.fullmatch(r"-?\d+", part):
        index = int(part)
        if -len(node) <= index < len(node):
            return node[index], True
    return None, False


def _from_log(
    regex: str, stdout_path: Path, stderr_path: Path | None
) -> tuple[float | None, str | None]:
    pattern = re.compile(regex)
    for path in (stdout_path, stderr_path):
        if path is None or not path.exists():
            continue
        matches = list(pattern.finditer(path.read_text(encoding="utf-8", errors="replace")))
        if matches:
            return _number(matches[-1].group(1), f"the last match of {regex!r} in {path.name}")
    return None, f"regex {regex!r} never matched the output"


def _number(value: object, what: str) -> tuple[float | None, str | None]:
    """The value as a float; a value that is not a number is named by its type only, never copied
    (a metric file can hold anything the audited code could read, secrets included)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None, f"{what} is {_json_type(value)}, not a number"
    try:
        return float(value), None
    except ValueError:
        return None, f"{what} is text ({len(str(value))} characters), not a number"


def _json_type(value: object) -> str:
    """ "a list", "an object", "null", "true": what a JSON value is, without its content."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    return "a list" if isinstance(value, list) else "an object"


def _not_finite(value: float) -> str | None:
    if math.isnan(value):
        return "the value is NaN (the run diverged or the metric was undefined)"
    if math.isinf(value):
        return f"the value is {value} (infinite)"
    return None
