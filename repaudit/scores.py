"""Scores a user already has: reading a file of them (one per line, CSV, JSON list), auditing them.

Every problem is a one-line UsageError naming the file, the line and the fix; NaN and infinite
values are rejected, never dropped, since a dropped failed run would flatter the claim.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import hashlib
import io
import json
import math
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from repaudit.errors import UsageError
from repaudit.model import (
    Arm,
    ArmSpec,
    Audit,
    AuditSpec,
    Claim,
    RunKey,
    RunResult,
    RunStatus,
)
from repaudit.verdict import make_audit


def _number(text: str, where: str) -> float:
    stripped = text.strip()
    try:
        value = float(text)
    except ValueError:
        if stripped.endswith("%"):
            fix = "write it without the % sign (percentages and fractions are both read)"
        else:
            fix = "give one score per line, or pass --column NAME for a CSV file"
        raise UsageError(f"{where}: {stripped!r} is not a number; {fix}") from None
    if not math.isfinite(value):
        raise UsageError(
            f"{where}: {stripped!r} is not a finite score; leave failed runs out of the "
            "file (and say how many failed) instead of writing NaN or inf"
        )
    return value


def printed_number(text: str, *, flag: str) -> tuple[float, int]:
    """A number as the paper printed it: its value and its decimals (0.8300 -> 4, 1e3 -> -3).

    The decimals are the paper's precision: a seed-invariant result is compared with the claim
    at it (rules.precision).
    """
    try:
        printed = Decimal(text.strip())
    except InvalidOperation:
        raise UsageError(f"{flag}: {text.strip()!r} is not a number") from None
    value = float(printed)
    if not math.isfinite(value):
        raise UsageError(f"{flag}: {text.strip()!r} is not a finite number")
    exponent = printed.as_tuple().exponent
    assert isinstance(exponent, int)  # finite Decimals have an integer exponent
    return value, -exponent


def _from_json(text: str, path: Path) -> list[float]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    if not isinstance(data, list):
        raise UsageError(f"{path}: expected a JSON list of numbers, like [0.81, 0.80, 0.82]")
    values = []
    for i, item in enumerate(data, 1):
        if isinstance(item, bool) or not isinstance(item, int | float | str):
            raise UsageError(f"{path}: item {i} is {item!r}, not a number")
        values.append(_number(str(item), f"{path}: item {i}"))
    return values


def _from_csv(text: str, path: Path, column: str) -> list[float]:
    # skipinitialspace: "seed, acc" names the column "acc", as a reader of the file sees it
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    if not reader.fieldnames or column not in reader.fieldnames:
        names = ", ".join(reader.fieldnames or [])
        raise UsageError(f"{path}: no column {column!r} in the header (columns: {names})")
    values = []
    for row in reader:
        where = f"{path}: line {reader.line_num}, column {column!r}"
        cell = (row.get(column) or "").strip()
        if not cell:
            # pandas writes NaN as an empty cell: a failed run, which must not be dropped
            raise UsageError(
                f"{where} is empty; leave failed runs out of the file (and say how many "
                "failed), and put columns of different lengths in separate files"
            )
        values.append(_number(cell, where))
    return values


def _from_lines(text: str, path: Path) -> list[float]:
    values = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if re.fullmatch(r"[-+]?\d+,\d+", stripped):
            raise UsageError(
                f"{path}: line {number}: {stripped!r} has a decimal comma; write it with a "
                f"decimal point ({stripped.replace(',', '.')})"
            )
        if "," in stripped or "\t" in stripped:
            raise UsageError(
                f"{path}: line {number} has several fields; pass --column NAME to read a CSV file"
            )
        values.append(_number(stripped, f"{path}: line {number}"))
    return values


def read_scores(path: str | Path, *, column: str | None = None) -> tuple[float, ...]:
    """The finite scores in ``path``, in file order.

    Formats: a JSON list (``.json`` or text starting with ``[``); a CSV file with a header when
    ``column`` names one of its columns; otherwise one number per line (blank lines and lines
    starting with ``#`` are skipped).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read scores from {path}: {error.strerror}") from None
    # Windows PowerShell's `>` writes UTF-16 with a byte-order mark; anything else must be UTF-8.
    utf16 = raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    try:
        text = raw.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{path}: not UTF-8 text (byte {raw[error.start]:#04x} at offset {error.start}); "
            "save it as UTF-8"
        ) from None
    if column is not None:
        values = _from_csv(text, path, column)
    elif path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        values = _from_json(text, path)
    else:
        values = _from_lines(text, path)
    if not values:
        raise UsageError(f"{path}: no scores found; give one number per line")
    return tuple(values)


def scores_audit(
    claim: Claim,
    method: Sequence[float],
    baseline: Sequence[float] | None,
    *,
    alpha: float,
    inputs: Sequence[str],
    rerun_command: str = "",
) -> Audit:
    """An Audit of scores a user already has (``repaudit stats``): no source, no fingerprint.

    Runs are synthesized as successful seeds 1..n, numbered like the scores in their file (and
    like `check`'s default seeds); the id hashes the claim and the scores, so the same inputs get
    the same id. The report is titled from ``inputs``.
    """
    arms = [ArmSpec(Arm.METHOD, f"scores from {inputs[0]}")]
    runs = [
        RunResult(RunKey(Arm.METHOD, i), RunStatus.OK, {claim.metric: v})
        for i, v in enumerate(method, 1)
    ]
    if baseline is not None:
        arms.append(ArmSpec(Arm.BASELINE, f"scores from {inputs[1]}"))
        runs += [
            RunResult(RunKey(Arm.BASELINE, i), RunStatus.OK, {claim.metric: v})
            for i, v in enumerate(baseline, 1)
        ]
    n_seeds = max(len(method), len(baseline or ()))
    spec = AuditSpec(
        claims=(claim,),
        arms=tuple(arms),
        seeds=tuple(range(1, n_seeds + 1)),
        alpha=alpha,
        origin="stats",
    )
    digest = hashlib.sha256(
        json.dumps([repr(claim), alpha, list(method), baseline and list(baseline)]).encode()
    ).hexdigest()
    audit = make_audit(spec, runs, audit_id=f"stats-{digest[:12]}", rerun_command=rerun_command)
    return dataclasses.replace(audit, inputs=tuple(inputs))
