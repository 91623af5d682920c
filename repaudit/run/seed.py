"""Run ONE seed of audited code in a clean checkout, contained and recorded; never raises.

The allow-listed environment and the bubblewrap / unshare wrapper live in isolation.py, running the
tree (timeout, memory limit, capped logs) in process.py, `prepare` in prepare.py; this module decides
what a seed sees:

    cwd          its own clean checkout of the pinned commit (removed afterwards), or the spec's
                 workdir inside it
    writable     that checkout, {out} = <run dir>/out, HOME = <run dir>/home (removed afterwards)
    read-only    the environment's interpreter (its readonly_paths), and what `prepare` made (symlinked into the checkout)
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
import re
import shlex
import shutil
import signal
import time
from pathlib import Path

from repaudit import formatting
from repaudit import source as source_module
from repaudit.model import Isolation, RunResult, RunStatus, SeedCall, SeedRequest
from repaudit.run.files import UnsafeFile, read_untrusted
from repaudit.run.isolation import base_environment, is_secret
from repaudit.run.metrics import read_metrics
from repaudit.run.prepare import link_prepared
from repaudit.run.process import Outcome, log_tail, run_contained

LOG_TAIL_LINES = 40
"""Lines of a seed's log kept in its record for the report."""
MAX_CAUSE_CHARS = 300
"""The most of a run's error line kept in its record."""
_TRACEBACK = "Traceback (most recent call last):"
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MAX_SEED_CALLS = 100  # distinct calls kept in the record; the hook logs at most 1000 per process
_DISK_FULL_BYTES = 64 * 1024  # less free space than this after a failed seed: the disk is full


def seed_variables(request: SeedRequest) -> dict[str, str]:
    """The variables repaudit sets for a seed (recorded in the fingerprint; never secrets)."""
    threads, seed = str(request.threads), request.key.seed
    variables = {
        "REPAUDIT_SEED": str(seed),
        "PYTHONHASHSEED": str(seed % 2**32),
        # Python writes a pipe in blocks: without this a seed's log stays empty for minutes, and a
        # killed seed loses the lines that say how far it got.
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "NUMEXPR_NUM_THREADS": threads,
        "CUDA_VISIBLE_DEVICES": ",".join(_physical_gpus(request.gpus)),
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }
    if request.seed_override:
        variables["REPAUDIT_SEED_OVERRIDE"] = str(seed)
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
        return could_not_run(request, error, time.monotonic() - started)
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
    readonly = list(request.environment.readonly_paths)
    if request.prepared_dir is not None:
        copy = request.isolation is Isolation.NONE
        readonly.append(link_prepared(request.prepared_dir, request.work_dir, copy=copy))
    try:
        command = request.command.format(
            seed=request.key.seed,
            out=shlex.quote(str(out)),
            threads=request.threads,
            gpu=",".join(str(i) for i in range(len(request.gpus))),  # as the process sees them
        )
    except (KeyError, IndexError, ValueError) as error:
        return RunResult.for_request(
            request,
            RunStatus.FAILED,
            reason=f"the command template {request.command!r} cannot be filled in: {error}",
        )
    seed_log = run_dir / "seed-calls.jsonl"
    seed_log.write_text("")
    variables = seed_variables(request)
    env = {
        **base_environment(request.environment.bin_dir),
        "HOME": str(home),
        "TMPDIR": "/tmp" if request.isolation is Isolation.BUBBLEWRAP else str(home),
        **variables,
        # Always: without an override the hook only observes, which tells "the seed never reached
        # the code" from "the result does not depend on it" (verdict.py).
        "REPAUDIT_SEED_LOG": str(seed_log),
    }
    outcome = run_contained(
        command,
        isolation=request.isolation,
        cwd=checkout / request.workdir,
        env=env,
        stdout_path=run_dir / "stdout.log",
        stderr_path=run_dir / "stderr.log",
        timeout_seconds=request.timeout_seconds,
        network=False,
        writable=[request.work_dir, out, home, seed_log],
        readonly=readonly,
        memory_bytes=request.memory_bytes,
        devices=sorted(glob.glob("/dev/nvidia*")) if request.gpus else (),
        # the audit folder: other seeds' logs, outputs and checkouts are not this seed's business
        hidden=[Path(os.path.commonpath([run_dir.absolute(), request.work_dir.absolute()]))],
    )
    # The host, not the seed, failed: no record that would be kept on resume (could_not_run). A
    # log that could not be written whole is never read for a metric (the live view may hold one,
    # but only the pipe's own copy is the seed's output).
    if outcome.log_problem:
        return _host_failed(request, outcome.log_problem, outcome.seconds)
    status, reason, metrics = _judge(request, outcome, out, checkout)
    if status is not RunStatus.OK and (full := _disk_full(run_dir)):
        return _host_failed(request, full, outcome.seconds)
    stdout, stderr = run_dir / "stdout.log", run_dir / "stderr.log"
    # The run's own last words, when it ended by itself (not at repaudit's limit or Ctrl-C).
    ended_itself = not (outcome.timed_out or outcome.interrupted)
    errored = ended_itself and status in (RunStatus.FAILED, RunStatus.OK_WITH_ERROR)
    return RunResult.for_request(
        request,
        status,
        seconds=round(outcome.seconds, 3),
        reason=reason,
        cause=error_line(stdout, stderr) if errored else "",
        metrics=metrics,
        returncode=outcome.returncode,
        peak_memory_bytes=outcome.peak_memory_bytes,
        seed_calls=_seed_calls(seed_log, run_dir),
        log_tail=log_tail(stdout, stderr, LOG_TAIL_LINES),
        variables={k: v for k, v in variables.items() if not is_secret(k, v)},
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
                f"no result after the {formatting.limit(request.timeout_seconds)} wall-clock limit; "
                "every process of the seed was killed"
            ),
            {},
        )
    if outcome.memory_exceeded:
        limit = request.memory_bytes or 0
        return (
            RunStatus.FAILED,
            f"its processes together used more than the memory limit of {limit / 2**30:.3g} GiB; "
            "every process of the seed was killed",
            {},
        )
    code = outcome.returncode
    accepted = code in request.accept_exit
    if not accepted and not request.metric_after_failure:
        return RunStatus.FAILED, _failure_words(request, code), {}
    metrics, problem = read_metrics(
        request.claims,
        out_dir=out,
        checkout_dir=checkout,
        work_dir=checkout / request.workdir,
        stdout_path=request.run_dir / "stdout.log",
        stderr_path=request.run_dir / "stderr.log",
    )
    if accepted:
        if problem:
            return RunStatus.NO_METRIC, f"exited {code} but {problem}", metrics
        return RunStatus.OK, "", metrics
    if problem:  # [run] metric_after_failure, but the run stopped before its numbers
        return RunStatus.FAILED, f"{_failure_words(request, code)}; {problem}", metrics
    return RunStatus.OK_WITH_ERROR, f"{_exit_words(code)} after writing its metrics", metrics


def _failure_words(request: SeedRequest, code: int | None) -> str:
    """How a run that exited otherwise than accepted ended, with the memory limit when it mattered."""
    if code == 125 and request.memory_bytes:
        return "the memory limit could not be set (ulimit -d failed)"
    reason = _exit_words(code)
    if request.memory_bytes and _mentions_memory(request.run_dir):
        reason += (
            f"; it ran out of memory under the limit of {request.memory_bytes / 2**30:.3g} GiB"
        )
    return reason


def error_line(stdout_path: Path, stderr_path: Path) -> str:
    """What a run's output says went wrong: the exception line of its last Python traceback, else
    the last non-empty line of stderr (of stdout when stderr is empty); "" when it printed nothing."""
    lines = log_tail(stdout_path, stderr_path, 400).splitlines()
    lines = [line for line in lines if line.strip() and not line.startswith("[repaudit:")]
    starts = [i for i, line in enumerate(lines) if line.strip() == _TRACEBACK]
    after = lines[starts[-1] + 1 :] if starts else []
    # The exception line is the first one after the traceback that is not indented (frames are).
    line = next((ln for ln in after if not ln[0].isspace()), lines[-1] if lines else "")
    # Terminal escapes (colours, or worse) from the audited code never reach the auditor's terminal.
    return _CONTROL.sub("", _ESCAPE.sub("", line)).strip()[:MAX_CAUSE_CHARS]


def _host_failed(request: SeedRequest, problem: str, seconds: float) -> RunResult:
    """A seed the host failed (its log or disk), to run again: ``problem`` and the fix."""
    return could_not_run(request, OSError(f"{problem}; free space and re-run"), seconds)


def could_not_run(request: SeedRequest, error: BaseException, seconds: float = 0.0) -> RunResult:
    """A seed repaudit itself could not run (no exit code): a failed RunResult, never a lost audit."""
    return RunResult.for_request(
        request,
        RunStatus.FAILED,
        seconds=round(seconds, 3),
        reason=f"repaudit could not run this seed: {type(error).__name__}: {error}",
    )


def _exit_words(code: int | None) -> str:
    """ "exit code 1", or which signal ended the run (a shell reports signal n as exit code 128+n)."""
    number = -code if code is not None and code < 0 else (code or 0) - 128
    if code is None or not 0 < number < signal.NSIG:
        return f"exit code {code}"
    name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
    words = f"killed by {name}" if code < 0 else f"exit code {code}: killed by {name}"
    if number == signal.SIGKILL:
        words += " (when repaudit did not send it, usually the kernel's out-of-memory killer)"
    return words


def _disk_full(folder: Path) -> str | None:
    """Why the disk holding ``folder`` can take no more (its free space is gone), else None: a seed
    that failed then may have failed for the auditor's disk, not for its code."""
    try:
        free = os.statvfs(folder)
    except OSError:
        return None
    out_of_inodes = free.f_files and not free.f_favail  # (filesystems without inodes report 0 of 0)
    if free.f_bavail * free.f_frsize >= _DISK_FULL_BYTES and not out_of_inodes:
        return None
    return f"the disk holding {folder} is full"


def _mentions_memory(run_dir: Path) -> bool:
    text = log_tail(run_dir / "stdout.log", run_dir / "stderr.log", LOG_TAIL_LINES)
    return any(
        word in text
        for word in ("MemoryError", "bad_alloc", "Cannot allocate memory", "out of memory")
    )


def _seed_calls(path: Path, run_dir: Path) -> tuple[SeedCall, ...]:
    """The hook's record, each distinct call once, in the order first made. The seed can write this
    file (or replace it), so it is read like any file the audited code controls."""
    try:
        text = read_untrusted(path, roots=(run_dir,)).decode("utf-8", "replace")
    except (OSError, UnsafeFile):
        return ()
    calls: dict[SeedCall, None] = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
            call = SeedCall(
                str(record["function"])[:100], _int(record["original"]), int(record["replaced_by"])
            )
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a killed process
        calls[call] = None
        if len(calls) >= _MAX_SEED_CALLS:
            break
    return tuple(calls)


def _int(value: object) -> int | None:
    """An integer seed value, or None (the hook logs only integers; anything else was forged)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
