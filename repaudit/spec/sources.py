"""The metric source rules: the keys that make a source, and what could never give a number.

A source is checked here once, when the spec is loaded (spec/schema.py builds it from the TOML), so a
miss at run time (run/metrics.py) is about the run, never about the spec.
"""

from __future__ import annotations

import importlib.util
import math
import re

from repaudit.errors import SpecError
from repaudit.model import MetricSource, Reduce

#: The keys of a metric source, in [run.metric], [baseline.metric] and each claim's own table.
SOURCE_KEYS = ("json", "key", "regex", "csv", "column", "tensorboard", "reduce", "last_n", "scale")
#: The keys that name where the series comes from; exactly one per source.
SOURCE_KINDS = frozenset({"json", "regex", "csv", "tensorboard"})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def check_source(source: MetricSource, *, where: str) -> None:
    """Raise SpecError (naming ``where``, e.g. "repaudit.toml [run.metric]") for a source that can
    never give a number."""
    kinds = (
        ("json", source.json_path),
        ("regex", source.regex),
        ("csv", source.csv_path),
        ("tensorboard", source.tensorboard),
    )
    given = [name for name, value in kinds if value is not None]
    if len(given) != 1:
        found = f" (it has {' and '.join(given)})" if given else ""
        raise SpecError(
            f"{where}: give exactly one metric source{found}: json (with key), regex, csv (with "
            'column) or tensorboard (a tag), e.g. json = "{out}/metrics.json" and key = "test.acc"'
        )
    kind = given[0]
    for extra, owner in (("key", "json"), ("column", "csv")):
        if getattr(source, extra) is not None and kind != owner:
            raise SpecError(
                f"{where}: {extra} applies to {owner} only; remove {extra} or use {owner}"
            )
    if source.regex is not None:
        _check_regex(source.regex, where)
    if source.json_path is not None:
        _check_path(source.json_path, "json", where)
        if not source.key:
            raise SpecError(
                f'{where}: json needs a key, the dotted path to the number, e.g. key = "test.acc"'
            )
        if any(not part for part in source.key.split(".")):
            raise SpecError(
                f'{where}: key {source.key!r} has an empty part; write it like "test.acc"'
            )
    if source.csv_path is not None:
        _check_path(source.csv_path, "csv", where)
        if not source.column:
            raise SpecError(
                f'{where}: csv needs a column, the header of the number, e.g. column = "test_acc"'
            )
    if source.tensorboard is not None:
        if not source.tensorboard.strip():
            raise SpecError(
                f'{where}: tensorboard is empty: give the scalar\'s tag, e.g. tensorboard = "eval/return"'
            )
        if importlib.util.find_spec("tensorboard") is None:
            raise SpecError(
                f"{where}: tensorboard sources are read with the tensorboard package, which is not "
                "installed: pip install 'repaudit[tensorboard]' (or use a regex on the printed value)"
            )
    if source.last_n is not None:
        if source.last_n < 1:
            raise SpecError(
                f"{where}: last_n = {source.last_n}: give 1 or more values to reduce over"
            )
        if source.reduce is Reduce.LAST:
            raise SpecError(
                f'{where}: last_n = {source.last_n} with reduce = "last" picks the last value anyway: '
                'set reduce to "mean", "median", "max", "min" or "first", or remove last_n'
            )
    if not (math.isfinite(source.scale) and source.scale != 0):
        raise SpecError(
            f"{where}: scale = {source.scale}: give a finite, non-zero factor such as 100 or 0.01"
        )


def _check_regex(regex: str, where: str) -> None:
    try:
        groups = re.compile(regex).groups
    except re.error as error:
        raise SpecError(f"{where}: regex {regex!r} does not compile ({error})") from None
    if groups != 1:
        raise SpecError(
            f"{where}: regex {regex!r} has {groups} capturing groups; it needs exactly "
            "one around the number, e.g. 'test acc: ([0-9.]+)' (use (?:...) for the others)"
        )


def _check_path(path: str, key: str, where: str) -> None:
    unknown = [name for name in _PLACEHOLDER.findall(path) if name != "out"]
    if unknown:
        raise SpecError(
            f"{where}: {key} path {path!r} uses {{{unknown[0]}}}; only {{out}} "
            "(the run's output folder) is known there"
        )
