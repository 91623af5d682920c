"""The audits/ folder: paths, versioned records, atomic writes, resume and locking.

`AuditPaths` is the only code that knows the folder layout (docs/architecture.md):

    audits/<audit-id>/audit.toml, environment.json, audit.json, report.html, summary.md, .lock
    audits/<audit-id>/runs/<arm>/seed-<k>[-r<i>]/stdout.log, stderr.log, run.json, out/

Record format history (model.RECORD_FORMAT):
    1  first version: audit.json / --format json with verdict, reproduction, improvement, arms,
       claims, runs, spec, source, fingerprint, notes.
    2  each run (and run.json) records the isolation level and the variables it ran with;
       the fingerprint's variables are those every seed shared, ``varying`` names the others.
       Q2 as two one-sided tests: improvement carries gain_test, size_test, reverse_test,
       gap_interval (1 - 2 alpha), paper_gap_bound, seeds_needed_low/high, and no longer p_value
       or consistent_with_claim; decisions overstated and baseline-understated; each claim has a
       baseline_reproduction; arms carry seed_reach; the claim carries decimals. Format 1
       records still load (missing fields take their defaults).
    3  a run may be ``ok-with-error`` (its metrics count; it exited non-zero afterwards) and records
       ``cause``, the error line its output ended with; metric sources carry csv_path, column,
       tensorboard, reduce, last_n and scale; the spec carries workdir, accept_exit,
       metric_after_failure and commit. Added since, readable by every format-3 reader (unknown
       keys are ignored): the claim's unit, each claim's score_factor, the source's remote,
       `inputs` (the score files of `repaudit stats`).
    4  adaptive audits (``seeds = "auto"``): ``looks``, one entry per look (seeds per arm, the
       successful seeds per arm, the compute time it added, every deciding test's p-value,
       boundary, crossing and chance to cross by the last look, the stop and its reason); the
       spec carries ``looks``. Older records load with no looks; run.json is unchanged since 3.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import fcntl
import json
import os
import re
import types
import typing
import uuid
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from repaudit.errors import RepauditWarning, StoreError
from repaudit.model import RECORD_FORMAT, Audit, RunKey, RunResult, Source


@dataclasses.dataclass(frozen=True)
class AuditPaths:
    """Every path of one audit folder; the only code that knows the layout."""

    root: Path
    """audits/<audit-id>."""

    @property
    def spec_toml(self) -> Path:
        """The resolved spec as run."""
        return self.root / "audit.toml"

    @property
    def environment_json(self) -> Path:
        """The fingerprint."""
        return self.root / "environment.json"

    @property
    def environment_log(self) -> Path:
        """What building the environment printed."""
        return self.root / "environment.log"

    @property
    def audit_json(self) -> Path:
        """The whole audit's record."""
        return self.root / "audit.json"

    @property
    def report_html(self) -> Path:
        """The self-contained report."""
        return self.root / "report.html"

    @property
    def summary_md(self) -> Path:
        """The Markdown summary for CI."""
        return self.root / "summary.md"

    @property
    def error_log(self) -> Path:
        """The traceback of an internal error, when one stopped the audit."""
        return self.root / "error.log"

    @property
    def prepare_dir(self) -> Path:
        """The checkout `prepare` ran in; its outputs are shared read-only with the seeds."""
        return self.root / "prepare"

    @property
    def lock(self) -> Path:
        """Held while an audit writes the folder."""
        return self.root / ".lock"

    @property
    def runs_dir(self) -> Path:
        """Every run's folder lies below."""
        return self.root / "runs"

    def run_dir(self, key: RunKey) -> Path:
        """runs/<arm>/seed-<k>[-r<i>]: the run's logs, run.json and out/."""
        return self.runs_dir / str(key)

    def work_dir(self, key: RunKey) -> Path:
        """The seed's throw-away checkout; beside the runs so it lives on the same (shared) filesystem."""
        return self.root / "work" / str(key)


def audit_id(source: Source, spec_hash: str) -> str:
    """`owner-repo-<commit12>-<spec hash8>`: readable, and unique per code version and run-affecting spec."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", source.display_name).strip("-").lower() or "repo"
    return f"{slug}-{source.commit[:12]}-{spec_hash[:8]}"


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path`` and rename it, so a crash never leaves half a file.

    The file gets the mode any file the user writes gets (0666 less the umask, usually 0644), not
    mkstemp's 0600: reports are meant to be read by others. StoreError when the folder cannot take
    it (full disk, read-only or foreign folder)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError) and (problem := unwritable(error, path)):
            raise problem from None
        raise


def unwritable(error: OSError, path: Path) -> StoreError | None:
    """The one-line StoreError for an OSError that says the disk or folder cannot take a write
    (full, over quota, read-only, not the user's); None for any other OSError."""
    where = error.filename or path
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreError(
            f"cannot write {where}: {error.strerror}; free space on that disk (or pass --store "
            "with a folder on another one) and re-run the same command: finished seeds are kept"
        )
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StoreError(
            f"cannot write {where}: {error.strerror}; pass --store with a folder you can write to"
        )
    return None


def write_json_atomic(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written atomically (NaN is refused, never written)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


@contextlib.contextmanager
def locked(paths: AuditPaths) -> Iterator[None]:
    """Hold an exclusive lock on the audit folder: two audits never write one folder."""
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
        handle = open(paths.lock, "a+", encoding="utf-8")  # noqa: SIM115 (closed below)
    except OSError as error:
        raise unwritable(error, paths.lock) or error from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise StoreError(
                f"audit folder {paths.root} is in use by another repaudit process (pid {holder}): "
                "wait for it to finish, or pass --store to use another folder"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------- records


def to_plain(value: Any) -> Any:
    """Dataclasses, enums, paths and mappings -> JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if (
        isinstance(value, float) and value != value
    ):  # NaN is not JSON; stats never emit it on purpose
        return None
    return value


# What a JSON value of each plain field type may be (a JSON number is an int or a float).
_PLAIN_TYPES: dict[Any, tuple[type, ...]] = {
    int: (int,),
    float: (float, int),
    str: (str,),
    bool: (bool,),
}


# The standard library has dataclasses.asdict but no inverse; this typed rebuild of model.py's
# frozen dataclasses is small enough to keep here rather than add a dependency (cattrs).
def _from_plain(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return _from_plain(options[0], value)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        return tuple(_from_plain(item, v) for v in _of(list, value))
    if origin in (Mapping, dict) or kind is Mapping:
        args = typing.get_args(kind)
        items = _of(dict, value).items()
        return {_of(str, k): _from_plain(args[1], v) for k, v in items} if args else dict(items)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        value = _of(dict, value)
        hints = typing.get_type_hints(kind)
        fields = {f.name for f in dataclasses.fields(kind)}
        return kind(**{k: _from_plain(hints[k], v) for k, v in value.items() if k in fields})
    if isinstance(kind, type) and issubclass(kind, enum.Enum | Path):
        return kind(value)
    if kind in _PLAIN_TYPES:
        wrong_bool = isinstance(value, bool) and kind is not bool  # JSON true is no number
        if wrong_bool or not isinstance(value, _PLAIN_TYPES[kind]):
            raise TypeError(f"{value!r} is not {_PLAIN_TYPES[kind][0].__name__}")
    return float(value) if kind is float else value


def _of(kind: type, value: Any) -> Any:
    """``value`` when it is a ``kind``, else TypeError (a record of the wrong shape)."""
    if not isinstance(value, kind):
        raise TypeError(f"{value!r} is not {kind.__name__}")
    return value


def run_to_record(result: RunResult) -> dict[str, Any]:
    """A run as run.json and audit.json hold it: its key flattened to arm, seed and repeat."""
    plain = to_plain(result)
    return {**plain.pop("key"), **plain}


def run_from_record(plain: Mapping[str, Any]) -> RunResult:
    """Inverse of run_to_record (extra keys, such as audit.json's derived "value", are ignored)."""
    key = {name: plain[name] for name in ("arm", "seed", "repeat") if name in plain}
    return _from_plain(RunResult, {**plain, "key": key})


def to_record(audit: Audit) -> dict[str, Any]:
    """The one JSON document: audit.json on disk and `--format json` on stdout."""
    primary = audit.results[0] if audit.results else None
    metric = audit.spec.claim.metric
    runs = [{**run_to_record(r), "value": r.value(metric)} for r in audit.runs]
    return {
        "format": audit.format,
        "audit_id": audit.audit_id,
        "created_at": audit.created_at,
        "verdict": audit.verdict.value,
        "verdict_reason": audit.verdict_reason,
        "reproduction": to_plain(primary.reproduction) if primary else None,
        "improvement": to_plain(primary.improvement) if primary else None,
        "arms": {a.arm: to_plain(a) for a in primary.arms} if primary else {},
        "claims": to_plain(audit.results),
        "runs": runs,
        "spec": to_plain(audit.spec),
        "source": to_plain(audit.source),
        "fingerprint": to_plain(audit.fingerprint),
        "looks": to_plain(audit.looks),
        "notes": list(audit.notes),
        "inputs": list(audit.inputs),
        "rerun_command": audit.rerun_command,
        "repaudit_version": audit.repaudit_version,
        "audit_dir": str(audit.audit_dir) if audit.audit_dir else None,
    }


def from_record(record: Mapping[str, Any]) -> Audit:
    """Inverse of to_record; derived convenience keys (reproduction, arms, ...) are ignored."""
    version = record.get("format")
    if not isinstance(version, int) or version > RECORD_FORMAT:
        raise StoreError(
            f"audit record format {version!r} is not one this repaudit reads (up to {RECORD_FORMAT}): "
            "upgrade repaudit"
        )
    fields = {f.name for f in dataclasses.fields(Audit)}
    plain = {k: v for k, v in record.items() if k in fields}
    plain["results"] = record.get("claims", [])
    plain["runs"] = []
    audit = _from_plain(Audit, plain)
    return dataclasses.replace(
        audit, runs=tuple(run_from_record(r) for r in record.get("runs", []))
    )


# ---------------------------------------------------------------- reading and writing audits


def save_run(paths: AuditPaths, result: RunResult) -> None:
    """run.json of a finished seed, written atomically the moment it finishes."""
    run_json = paths.run_dir(result.key) / "run.json"
    write_json_atomic(run_json, {"format": RECORD_FORMAT, **run_to_record(result)})


def load_runs(paths: AuditPaths, spec_hash: str) -> dict[RunKey, RunResult]:
    """Finished runs of this audit whose spec hash matches, by key (resume).

    A run.json that cannot be read as this version's record of the seed in its folder (cut short,
    of the wrong shape, written by another version, or for another seed) is not a finished seed:
    a RepauditWarning names it, and the seed runs again."""
    finished: dict[RunKey, RunResult] = {}
    for run_json in sorted(paths.runs_dir.glob("*/*/run.json")):
        try:
            plain = json.loads(run_json.read_text(encoding="utf-8"))
            version = _of(dict, plain).pop("format", None)
            if not isinstance(version, int) or version > RECORD_FORMAT:
                # a newer repaudit's (older formats still load)
                raise ValueError(f"not a record of format {RECORD_FORMAT} or older")
            result = run_from_record(plain)
            if paths.run_dir(result.key) != run_json.parent:
                raise ValueError(f"it records {result.key}")
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as error:
            warnings.warn(
                f"{run_json} is not a finished seed's record ({error}); the seed runs again",
                RepauditWarning,
                stacklevel=2,
            )
            continue
        if result.spec_hash == spec_hash:
            finished[result.key] = result
    return finished


def save_audit(paths: AuditPaths, audit: Audit) -> None:
    """audit.json, written atomically."""
    write_json_atomic(paths.audit_json, to_record(audit))


def load_audit(audit_dir: Path) -> Audit:
    """The stored audit in ``audit_dir``; StoreError naming the fix when it cannot be read."""
    audit_json = Path(audit_dir) / "audit.json"
    try:
        record = json.loads(audit_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(
            f"{audit_dir} holds no audit.json: pass a folder under the store, e.g. audits/<audit-id>"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StoreError(f"{audit_json} cannot be read ({error}): re-run the audit") from None
    try:
        audit = from_record(_of(dict, record))
    except (ValueError, TypeError, KeyError) as error:
        raise StoreError(
            f"{audit_json} is not an audit record this repaudit reads ({error}): re-run the audit"
        ) from None
    return dataclasses.replace(audit, audit_dir=Path(audit_dir))


def list_audits(store_dir: Path) -> list[Audit]:
    """Every readable stored audit under store_dir, oldest first; a RepauditWarning names each
    folder whose audit.json cannot be read, and the others are still listed."""
    audits = []
    for record in sorted(Path(store_dir).glob("*/audit.json")):
        try:
            audits.append(load_audit(record.parent))
        except StoreError as error:
            warnings.warn(f"skipped {record.parent}: {error}", RepauditWarning, stacklevel=2)
    return sorted(audits, key=lambda a: (a.created_at, a.audit_id))
