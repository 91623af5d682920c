"""SlurmExecutor against a real single-node Slurm cluster started by the test (slurm_cluster.py).

Here the store (tmp_path) is local, which is fine on one node; on a real cluster it must be on a
filesystem the compute nodes share.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import fakes
import pytest
import submitit
from conftest import TOY_SPEC, PinnedRepo, ToyRepo, interruptible
from fakes import TOY_CLAIMS, seed_request, sleeping_seed, toy_accuracy
from slurm_cluster import SlurmCluster, unavailable

from repaudit import run
from repaudit.errors import ExecutorError
from repaudit.executors.slurm import SlurmExecutor
from repaudit.model import ExecutorKind, Isolation, RunStatus, SlurmOptions

OPTIONS = SlurmOptions(partition="debug", cpus_per_task=1, mem_gb=0.5, timeout_min=5)
# The tests' own seed runner travels to the node by value (the node cannot import tests/).
cloudpickle.register_pickle_by_value(fakes)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    running = SlurmCluster(tmp_path_factory.mktemp("slurm"))
    running.start()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in running.environment.items():
            patch.setenv(name, value)
        # submitit waits up to 15 s for a dead job's result file on slow shared filesystems.
        patch.setattr(submitit.SlurmJob, "_results_timeout_s", 1)
        yield running
    running.stop()


def test_missing_slurm_commands_is_an_error_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ExecutorError, match=r"needs sbatch, squeue.*--executor local"):
        SlurmExecutor(tmp_path / "slurm", OPTIONS)


@pytest.mark.slurm
def test_seeds_run_as_one_job_array_through_the_sandbox(
    cluster: SlurmCluster, tmp_path: Path, pinned_repo: PinnedRepo
) -> None:
    executor = SlurmExecutor(tmp_path / "slurm", OPTIONS, poll_seconds=0.5)
    paper = pinned_repo()
    requests = [
        seed_request(tmp_path, s, source=paper, claims=TOY_CLAIMS, isolation=Isolation.BUBBLEWRAP)
        for s in (1, 2, 3)
    ]
    started: list[int] = []
    results = list(executor.run_all(requests, on_start=lambda r: started.append(r.key.seed)))
    assert sorted(started) == [1, 2, 3]
    by_seed = {r.key.seed: r for r in results}
    assert {s: r.status for s, r in by_seed.items()} == dict.fromkeys((1, 2, 3), RunStatus.OK)
    assert {s: r.metrics["acc"] for s, r in by_seed.items()} == {
        s: toy_accuracy(s) for s in (1, 2, 3)
    }
    # cpus_per_task = 1 reached the training command as OMP_NUM_THREADS.
    assert {r.metrics["threads"] for r in results} == {1.0}
    # Each node ran at its own level, never stronger than the audit asked for.
    assert {r.isolation for r in results} == {run.detect_isolation()}
    (array_id,) = {str(r.job_id).split("_")[0] for r in results}  # one job array ...
    assert sorted(str(r.job_id) for r in results) == [f"{array_id}_{task}" for task in range(3)]
    assert all(
        (tmp_path / "audit" / "runs" / f"method/seed-{s}" / "stdout.log").exists()
        for s in (1, 2, 3)
    )


@pytest.mark.slurm
def test_a_cancelled_job_is_a_failed_run_and_the_others_finish(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    executor = SlurmExecutor(tmp_path / "slurm", OPTIONS, run_seed=sleeping_seed, poll_seconds=0.5)
    requests = [seed_request(tmp_path, s, sleep=t) for s, t in ((0, 0.5), (1, 60))]
    results = executor.run_all(requests)
    first = next(results)
    assert (first.key.seed, first.status, first.metrics["threads"]) == (0, RunStatus.OK, 1.0)
    cluster.run("scancel", str(first.job_id).split("_")[0] + "_1")
    (cancelled,) = results
    assert cancelled.key.seed == 1 and cancelled.status is RunStatus.FAILED
    assert cancelled.job_id is not None and cancelled.job_id.endswith("_1")
    assert (
        f"Slurm job {cancelled.job_id} ended without a result (state CANCELLED" in cancelled.reason
    )


@pytest.mark.slurm
def test_stopping_the_stream_cancels_the_jobs_still_queued(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    executor = SlurmExecutor(tmp_path / "slurm", OPTIONS, run_seed=sleeping_seed, poll_seconds=0.5)
    requests = [seed_request(tmp_path, s, sleep=0.5 if s == 0 else 300) for s in range(4)]
    results = executor.run_all(requests)
    first = next(results)
    assert first.key.seed == 0
    results.close()  # what Ctrl-C in the caller's loop does to the generator
    array_id = str(first.job_id).split("_")[0]
    deadline = time.monotonic() + 20
    while cluster.run("squeue", "--noheader", "--array", f"--jobs={array_id}").strip():
        assert time.monotonic() < deadline, "jobs still queued after the stream was closed"
        time.sleep(0.5)


@pytest.mark.slurm
def test_an_unknown_partition_is_an_error_listing_the_real_ones(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    options = SlurmOptions(partition="gpu-big")
    with pytest.raises(
        ExecutorError, match=r"partition 'gpu-big' does not exist; this cluster has debug"
    ):
        SlurmExecutor(tmp_path / "slurm", options)


@pytest.mark.slurm
def test_an_unreachable_controller_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    dead = tmp_path / "slurm.conf"
    dead.write_text(
        f"ClusterName=gone\nSlurmctldHost={os.uname().nodename}(127.0.0.1)\nSlurmctldPort=1\n"
        "MessageTimeout=2\nAuthType=auth/none\n"
        f"NodeName={os.uname().nodename} CPUs=1\nPartitionName=debug Nodes=ALL\n"
    )
    monkeypatch.setenv("SLURM_CONF", str(dead))
    with pytest.raises(ExecutorError, match="Slurm is not reachable"):
        SlurmExecutor(tmp_path / "slurm", OPTIONS)


@pytest.mark.slurm
def test_check_on_slurm_records_job_ids_in_the_stored_audit(
    cluster: SlurmCluster, tmp_path: Path, toy_repo: ToyRepo
) -> None:
    from repaudit import audit, store
    from repaudit.executors import executor_factory

    slurm_table = (
        '\n[slurm]\npartition = "debug"\ncpus_per_task = 1\nmem_gb = 0.5\ntimeout_min = 5\n'
    )
    toy_repo(spec=TOY_SPEC.replace("seeds = 4", "seeds = 3") + slurm_table)
    request = audit.AuditRequest(
        target=str(tmp_path / "paper"), store_dir=tmp_path / "audits", cache_dir=tmp_path / "cache"
    )
    result = audit.run_audit(request, executor_factory(ExecutorKind.SLURM))
    assert [r.status for r in result.runs] == [RunStatus.OK] * 6
    assert all(r.job_id and "_" in r.job_id for r in result.runs)
    stored = store.load_audit(result.audit_dir)
    assert [r.job_id for r in stored.runs] == [r.job_id for r in result.runs]
    assert (result.audit_dir / "slurm").is_dir()  # submitit's own folder lives inside the audit


@pytest.mark.slurm
def test_jobs_left_running_are_re_attached_not_submitted_again(
    cluster: SlurmCluster, tmp_path: Path
) -> None:
    """Ctrl-C with --on-interrupt leave: the jobs keep running; the next executor on the same
    folder picks up those jobs (same ids) instead of submitting the seeds again."""
    asked: list[int] = []

    def leave(count: int) -> bool:
        asked.append(count)
        return False

    first = SlurmExecutor(
        tmp_path / "slurm", OPTIONS, run_seed=sleeping_seed, poll_seconds=0.5,
        cancel_on_interrupt=leave,
    )  # fmt: skip
    requests = [seed_request(tmp_path, s, sleep=4) for s in (0, 1)]

    def ctrl_c(request: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        next(first.run_all(requests, on_start=ctrl_c))
    recorded = json.loads((tmp_path / "slurm" / "jobs.json").read_text())
    assert asked == [2]
    assert set(recorded) == {"method/seed-0", "method/seed-1"}
    queued = cluster.run("squeue", "--noheader", "--array", "--format=%i").split()
    assert set(recorded.values()) <= set(queued)  # left running, not cancelled
    again = SlurmExecutor(tmp_path / "slurm", OPTIONS, run_seed=sleeping_seed, poll_seconds=0.5)
    done = list(again.run_all(requests))
    assert {r.key.seed: r.status for r in done} == {0: RunStatus.OK, 1: RunStatus.OK}
    assert {str(r.key): r.job_id for r in done} == recorded


@pytest.mark.slurm
def test_a_job_that_vanished_without_accounting_is_a_failed_seed(
    cluster: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No accounting database: sacct knows nothing of any job, so submitit would call a
    cancelled job UNKNOWN, "not done", forever; squeue shows it is gone."""
    amnesia = tmp_path / "bin"
    amnesia.mkdir()
    (amnesia / "sacct").write_text("#!/bin/sh\necho 'JobID|State|NodeList'\n")
    (amnesia / "sacct").chmod(0o755)
    monkeypatch.setenv("PATH", f"{amnesia}{os.pathsep}{os.environ['PATH']}")
    executor = SlurmExecutor(tmp_path / "slurm", OPTIONS, run_seed=sleeping_seed, poll_seconds=0.5)
    cancelled = []

    def cancel(request: object) -> None:  # once submitted and recorded: gone, without a trace
        (job_id,) = json.loads((tmp_path / "slurm" / "jobs.json").read_text()).values()
        cluster.run("scancel", job_id)
        cancelled.append(job_id)

    started = time.monotonic()
    (vanished,) = executor.run_all([seed_request(tmp_path, 0, sleep=300)], on_start=cancel)
    (job_id,) = cancelled
    assert time.monotonic() - started < 60
    assert vanished.status is RunStatus.FAILED and vanished.returncode is None
    assert f"Slurm job {job_id} is no longer queued and left no result" in vanished.reason


@pytest.mark.slurm
@pytest.mark.slow
def test_ctrl_c_with_on_interrupt_leave_then_check_again_re_attaches(
    cluster: SlurmCluster, tmp_path: Path, toy_repo: ToyRepo
) -> None:
    """The real command: Ctrl-C leaves the jobs running (--on-interrupt leave, as CI would say),
    and `repaudit check` run again collects them without submitting anything again."""
    import signal
    import subprocess
    import sys

    slurm_table = (
        '\n[slurm]\npartition = "debug"\ncpus_per_task = 1\nmem_gb = 0.5\ntimeout_min = 5\n'
    )
    toy_repo(spec=TOY_SPEC.replace("seeds = 4", "seeds = 2") + slurm_table,
             behaviour={"sleep": {"1": 6, "2": 6}})  # fmt: skip
    command = [sys.executable, "-m", "repaudit", "check", "paper", "--executor", "slurm", "--quiet"]
    env = {**os.environ, "REPAUDIT_CACHE": str(tmp_path / "cache")}
    process = subprocess.Popen(
        [*command, "--on-interrupt", "leave"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    deadline = time.monotonic() + 120
    while not list((tmp_path / "audits").glob("*/slurm/jobs.json")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    (jobs_json,) = (tmp_path / "audits").glob("*/slurm/jobs.json")
    submitted = json.loads(jobs_json.read_text())
    assert len(submitted) == 4
    queued = cluster.run("squeue", "--noheader", "--array", "--format=%i").split()
    assert set(submitted.values()) & set(queued)  # left running
    again = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode in (0, 1, 3), again.stderr
    (record,) = (tmp_path / "audits").glob("*/audit.json")
    runs = json.loads(record.read_text())["runs"]
    assert {f"{r['arm']}/seed-{r['seed']}": r["job_id"] for r in runs} == submitted


def test_on_interrupt_choices_answer_the_cancel_question() -> None:
    from click.testing import CliRunner

    from repaudit.cli import _cancel_question
    from repaudit.model import OnInterrupt

    assert _cancel_question(OnInterrupt.CANCEL)(3) is True
    assert _cancel_question(OnInterrupt.LEAVE)(3) is False
    ask = _cancel_question(OnInterrupt.ASK)
    for answer, expected in (("n\n", False), ("y\n", True), ("\n", True), ("", True)):
        with CliRunner().isolation(input=answer) as (_, err, _):
            assert ask(3) is expected
            said = err.getvalue().decode()
            assert not answer or "3 Slurm job(s) of this audit are still queued or running" in said
