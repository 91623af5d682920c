"""Run ONE seed of audited code in a clean checkout, contained and recorded; never raises.

The process control (allow-listed environment, bubblewrap / unshare, timeout, memory limit, capped
logs) lives in isolation.py; this module decides what a seed sees:

    cwd          its own clean checkout of the pinned commit (removed afterwards)
    writable     that checkout, {out} = <run dir>/out, HOME = <run dir>/home (removed afterwards)
    read-only    the environment's interpreter, and what `prepare` made (symlinked into the checkout)
    variables    the allow-list, then seed_variables(request): REPAUDIT_SEED, PYTHONHASHSEED, thread
                 counts, CUDA_VISIBLE_DEVICES, CUBLAS_WORKSPACE_CONFIG, the hook's, the spec's [run.env]
    network      none (prepare, run once per audit before the seeds, may use it)

Everything in a SeedRequest is a plain picklable value and nothing here depends on state set up by
the parent, so a Slurm node (submitit) runs ``run_seed`` exactly as a local worker thread does.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from repaudit import source as source_module
from repaudit.errors import EnvSetupError
from repaudit.isolation import (
    Outcome,
    base_environment,
    detect_isolation,
    kill_all_running,
    run_contained,
)
from repaudit.metrics import read_metrics
from repaudit.model import (
    Environment,
    Isolation,
    RunResult,
    RunStatus,
    SeedCall,
    SeedRequest,
    Source,
)

__all__ = [
    "detect_isolation",
    "kill_all_running",
    "run_prepare",
    "run_seed",
    "seed_variables",
]

LOG_TAIL_LINES = 40
_MANIFEST = ".repaudit-prepared.json"
_MAX_SEED_CALLS = 100  # distinct calls kept in the record; the hook logs at most 1000 per process


def seed_variables(request: SeedRequest) -> dict[str, str]:
    """The variables repaudit sets for a seed (recorded in the fingerprint; never secrets)."""
    threads = str(request.threads)
    variables = {
        "REPAUDIT_SEED": str(request.seed),
        "PYTHONHASHSEED": str(request.seed % 2**32),
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "NUMEXPR_NUM_THREADS": threads,
        "CUDA_VISIBLE_DEVICES": ",".join(_physical_gpus(request.gpus)),
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }
    if request.seed_override:
        variables["REPAUDIT_SEED_OVERRIDE"] = str(request.seed)
    if request.deterministic:
        variables["REPAUDIT_DETERMINISTIC"] = "1"
    return {**variables, **request.env}


def _physical_gpus(gpus: tuple[int, ...]) -> list[str]:
    """``request.gpus`` index the GPUs visible to repaudit itself: under a scheduler that already set
    CUDA_VISIBLE_DEVICES (Slurm), slot 0 is the first device it granted, not device 0."""
    granted = [d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if "CUDA_VISIBLE_DEVICES" not in os.environ:
        return [str(g) for g in gpus]
    return [granted[g] for g in gpus if g < len(granted)]


def run_seed(request: SeedRequest) -> RunResult:
    """Check out, run, read the metrics, clean up. Every failure is a RunResult, never an exception."""
    started = time.monotonic()
    home = request.run_dir / "home"
    try:
        return _run_seed(request, home)
    except Exception as error:  # the contract: a seed that cannot run is data, not a crash
        return _result(
            request,
            RunStatus.FAILED,
            time.monotonic() - started,
            reason=f"repaudit could not run this seed: {error}",
        )
    finally:
        shutil.rmtree(request.work_dir, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def _run_seed(request: SeedRequest, home: Path) -> RunResult:
    run_dir, out = request.run_dir, request.run_dir / "out"
    for folder in (out, home, request.work_dir):  # a re-run of an interrupted seed starts afresh
        shutil.rmtree(folder, ignore_errors=True)
    for folder in (out, home):
        folder.mkdir(parents=True)
    checkout = source_module.checkout(request.source, request.work_dir)
    readonly = [request.environment.bin_dir.parent]
    if request.prepared_dir is not None:
        readonly.append(_link_prepared(request.prepared_dir, request.work_dir))
    try:
        command = request.command.format(
            seed=request.seed,
            out=shlex.quote(str(out)),
            threads=request.threads,
            gpu=",".join(str(i) for i in range(len(request.gpus))),  # as the process sees them
        )
    except (KeyError, IndexError, ValueError) as error:
        return _result(
            request,
            RunStatus.FAILED,
            0.0,
            reason=f"the command template {request.command!r} cannot be filled in: {error}",
        )
    seed_log = run_dir / "seed-calls.jsonl"
    seed_log.write_text("")
    env = {
        **base_environment(request.environment.bin_dir),
        "HOME": str(home),
        "TMPDIR": "/tmp" if detect_isolation()[0] is Isolation.BUBBLEWRAP else str(home),
        **seed_variables(request),
    }
    if request.seed_override:
        env["REPAUDIT_SEED_LOG"] = str(seed_log)
    outcome = run_contained(
        command,
        cwd=checkout,
        env=env,
        stdout_path=run_dir / "stdout.log",
        stderr_path=run_dir / "stderr.log",
        timeout_seconds=request.timeout_seconds,
        network=False,
        writable=[request.work_dir, out, home, seed_log],
        readonly=readonly,
        memory_bytes=request.memory_bytes,
        devices=sorted(glob.glob("/dev/nvidia*")) if request.gpus else (),
    )
    status, reason, metrics = _judge(request, outcome, out, checkout)
    return _result(
        request,
        status,
        outcome.seconds,
        reason=reason,
        metrics=metrics,
        returncode=outcome.returncode,
        peak_memory_bytes=outcome.peak_memory_bytes,
        seed_calls=_seed_calls(seed_log),
        log_tail=_log_tail(run_dir),
    )


def _judge(
    request: SeedRequest, outcome: Outcome, out: Path, checkout: Path
) -> tuple[RunStatus, str, dict[str, float]]:
    if outcome.interrupted:
        return RunStatus.FAILED, "interrupted (Ctrl-C): every process of the seed was killed", {}
    if outcome.timed_out:
        return (
            RunStatus.TIMEOUT,
            (
                f"no result after the {_duration(request.timeout_seconds)} wall-clock limit; "
                "every process of the seed was killed"
            ),
            {},
        )
    code = outcome.returncode
    if code != 0:
        if code == 125 and request.memory_bytes:
            return RunStatus.FAILED, "the memory limit could not be set (ulimit -d failed)", {}
        reason = (
            f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        )
        if request.memory_bytes and _mentions_memory(request.run_dir):
            reason += (
                f"; it ran out of memory under the limit of {request.memory_bytes / 2**30:.3g} GiB"
            )
        return RunStatus.FAILED, reason, {}
    metrics, problem = read_metrics(
        request.claims,
        out_dir=out,
        checkout_dir=checkout,
        stdout_path=request.run_dir / "stdout.log",
        stderr_path=request.run_dir / "stderr.log",
    )
    if problem:
        return RunStatus.NO_METRIC, f"exited 0 but {problem}", metrics
    return RunStatus.OK, "", metrics


def _result(request: SeedRequest, status: RunStatus, seconds: float, **fields: object) -> RunResult:
    return RunResult(
        arm=request.arm,
        seed=request.seed,
        status=status,
        seconds=round(seconds, 3),
        repeat=request.repeat,
        spec_hash=request.spec_hash,
        **fields,  # type: ignore[arg-type]
    )


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 60:g}m" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"


def _mentions_memory(run_dir: Path) -> bool:
    text = _log_tail(run_dir)
    return any(
        word in text
        for word in ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")
    )


def _log_tail(run_dir: Path) -> str:
    """The last lines of stderr, or of stdout when stderr is empty."""
    for name in ("stderr.log", "stdout.log"):
        path = run_dir / name
        if path.exists() and path.stat().st_size:
            with open(path, "rb") as log:
                log.seek(max(0, path.stat().st_size - 64 * 1024))
                lines = log.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-LOG_TAIL_LINES:])
    return ""


def _seed_calls(path: Path) -> tuple[SeedCall, ...]:
    """The hook's record, each distinct call once, in the order first made."""
    calls: dict[SeedCall, None] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
                calls[
                    SeedCall(
                        str(record["function"]), record["original"], int(record["replaced_by"])
                    )
                ] = None
            except (ValueError, KeyError, TypeError):
                continue  # a line cut by a killed process
            if len(calls) >= _MAX_SEED_CALLS:
                break
    return tuple(calls)


# ---------------------------------------------------------------- prepare


def run_prepare(
    command: str,
    *,
    source: Source,
    environment: Environment,
    work_dir: Path,
    log_dir: Path,
    timeout_seconds: float,
    env: Mapping[str, str] | None = None,
) -> Path:
    """Run the spec's ``prepare`` once per audit, with network, in its own checkout at ``work_dir``;
    return that checkout's audited folder (the seeds' ``prepared_dir``).

    The files and folders prepare creates or changes inside the checkout are its outputs: each seed's
    checkout gets a symlink to each, read-only under bubblewrap. A finished prepare of the same
    command and commit is reused (resume). Raises EnvSetupError when it fails.
    """
    folder = work_dir / source.subdirectory
    manifest = folder / _MANIFEST
    if manifest.exists():
        record = json.loads(manifest.read_text())
        if record.get("command") == command and record.get("commit") == source.commit:
            return folder
    shutil.rmtree(work_dir, ignore_errors=True)
    home = work_dir.with_name(work_dir.name + "-home")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    folder = source_module.checkout(source, work_dir)
    before = _files(work_dir)
    stdout, stderr = log_dir / "prepare.stdout.log", log_dir / "prepare.stderr.log"
    try:
        outcome = run_contained(
            command,
            cwd=folder,
            env={
                **base_environment(environment.bin_dir, network=True),
                "HOME": str(home),
                **(env or {}),
            },
            stdout_path=stdout,
            stderr_path=stderr,
            timeout_seconds=timeout_seconds,
            network=True,
            writable=[work_dir, home],
            readonly=[environment.bin_dir.parent],
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if outcome.returncode != 0 or outcome.timed_out:
        what = (
            f"timed out after {_duration(timeout_seconds)}"
            if outcome.timed_out
            else f"failed with exit code {outcome.returncode}"
        )
        raise EnvSetupError(
            f"prepare command {command!r} {what}; fix the spec's [run] prepare and re-run "
            f"(full logs: {stderr} and {stdout}). Last lines:\n{_prepare_tail(stdout, stderr)}"
        )
    outputs = _new_entries(before, _files(work_dir))
    manifest.write_text(
        json.dumps(
            {"command": command, "commit": source.commit, "root": str(work_dir), "outputs": outputs}
        )
    )
    return folder


def _prepare_tail(stdout: Path, stderr: Path) -> str:
    for path in (stderr, stdout):
        if path.exists() and path.stat().st_size:
            return "\n".join(path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
    return "(no output)"


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``root``: relative path -> (size, mtime) for files, (-1, 0) for folders."""
    entries: dict[str, tuple[int, int]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            stat = os.lstat(path)
            key = os.path.relpath(path, root)
            entries[key] = (
                (-1, 0)
                if name in dirs and not os.path.islink(path)
                else (stat.st_size, stat.st_mtime_ns)
            )
    return entries


def _new_entries(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> list[str]:
    """What prepare made: new or changed files, and new folders as a whole (not their contents)."""
    outputs: list[str] = []
    new_folders: set[Path] = set()
    for path in sorted(after):
        if new_folders.intersection(Path(path).parents):
            continue
        if before.get(path) != after[path]:
            outputs.append(path)
            if after[path] == (-1, 0):
                new_folders.add(Path(path))
    return outputs


def _link_prepared(prepared_dir: Path, work_dir: Path) -> Path:
    """Symlink prepare's outputs into a seed's checkout; return the prepared checkout's root."""
    record = json.loads((prepared_dir / _MANIFEST).read_text())
    root = Path(record["root"])
    for relative in record["outputs"]:
        target = work_dir / relative
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(root / relative)
    return root
