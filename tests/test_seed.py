"""run_seed / run_prepare on real toy repositories: statuses, secrets, network, timeout, memory,
filesystem, seed override, prepare sharing, Ctrl-C, log caps."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PinnedRepo
from fakes import CLAIM, CURRENT, seed_request

from repaudit import run
from repaudit.env import prepare_environment
from repaudit.model import (
    ArmSpec,
    AuditSpec,
    Claim,
    Isolation,
    MetricSource,
    RunStatus,
    SeedCall,
    SeedRequest,
    Source,
)
from repaudit.run import detect_isolation, isolation, process
from repaudit.run import seed as seed_module

LEVEL = isolation.detect_isolation()
needs_bwrap = pytest.mark.skipif(
    LEVEL is not Isolation.BUBBLEWRAP,
    reason="bubblewrap (bwrap) is not installed or cannot run here",
)
needs_netns = pytest.mark.skipif(
    LEVEL is Isolation.NONE, reason="neither bwrap nor unshare --net can run here"
)
# The levels this machine can run, weakest included, so every fallback is exercised where it exists.
LEVELS = [level for level in Isolation if run.weakest((level, LEVEL)) is level]


def make_request(
    tmp_path: Path, source: Source, command: str, *, seed: int = 1, **fields: object
) -> SeedRequest:
    """A request for ``command`` under this machine's strongest isolation (unless ``fields`` say)."""
    fields.setdefault("isolation", LEVEL)
    return seed_request(tmp_path, seed, source=source, command=command, **fields)  # type: ignore[arg-type]


TRAIN = """
    import json, os, random, sys
    seed = int(sys.argv[1]); out = sys.argv[2]
    random.seed(seed)
    os.makedirs(out, exist_ok=True)
    json.dump({"test": {"acc": random.random()}}, open(os.path.join(out, "metrics.json"), "w"))
    print("trained with seed", seed)
"""


@pytest.fixture
def paper(pinned_repo: PinnedRepo) -> Source:
    return pinned_repo(files={"train.py": TRAIN}, toy=False)


def test_ok_run_reads_the_metric_and_cleans_up(tmp_path: Path, paper: Source) -> None:
    request = make_request(tmp_path, paper, "python train.py {seed} {out}", seed=7)
    result = run.run_seed(request)
    assert result.status is RunStatus.OK, result.reason
    assert 0 <= result.metrics["acc"] <= 1
    assert result.returncode == 0 and result.seconds > 0 and result.spec_hash == "abc123"
    assert result.peak_memory_bytes and result.peak_memory_bytes > 1_000_000
    assert (request.run_dir / "stdout.log").read_text() == "trained with seed 7\n"
    assert (request.run_dir / "out" / "metrics.json").exists()
    assert not request.work_dir.exists() and not (request.run_dir / "home").exists()
    other = run.run_seed(make_request(tmp_path, paper, "python train.py {seed} {out}", seed=8))
    assert other.metrics["acc"] != result.metrics["acc"]


def test_crash_is_a_failed_run_with_the_log_tail(tmp_path: Path, pinned_repo: PinnedRepo) -> None:
    source = pinned_repo(files={"train.py": "print('epoch 1')\n1 / 0\n"})
    result = run.run_seed(make_request(tmp_path, source, "python train.py"))
    assert result.status is RunStatus.FAILED
    assert result.returncode == 1 and result.reason == "exit code 1"
    assert "ZeroDivisionError" in result.log_tail
    killed = pinned_repo(
        "k", files={"train.py": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"}
    )
    result = run.run_seed(make_request(tmp_path / "k", killed, "python train.py"))
    assert result.status is RunStatus.FAILED and "killed by SIGKILL" in result.reason
    assert "out-of-memory killer" in result.reason


def test_missing_and_nan_metrics_are_no_metric(tmp_path: Path, pinned_repo: PinnedRepo) -> None:
    source = pinned_repo(
        files={
            "nan.py": "import sys, json; json.dump({'test': {'acc': float('nan')}}, open(sys.argv[1] + '/metrics.json', 'w'))"
        },
    )
    missing = run.run_seed(make_request(tmp_path, source, "true"))
    assert missing.status is RunStatus.NO_METRIC and "was not written" in missing.reason
    nan = run.run_seed(make_request(tmp_path, source, "python nan.py {out}", seed=2))
    assert nan.status is RunStatus.NO_METRIC and "NaN" in nan.reason and nan.metrics == {}


def test_a_bad_template_is_a_failed_run_not_an_exception(tmp_path: Path, paper: Source) -> None:
    result = run.run_seed(make_request(tmp_path, paper, "python train.py {sed}"))
    assert result.status is RunStatus.FAILED and "{sed}" in result.reason


def test_secrets_never_reach_the_code_or_the_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pinned_repo: PinnedRepo
) -> None:
    secrets = {
        "GITHUB_TOKEN": "ghp_s3cr3t0000000000",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIsecretKEY",
        "MY_SERVICE_PASSWORD": "hunter2-password",
        "HTTPS_PROXY": "http://user:pr0xypass@proxy.example:3128",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LANG", "C.UTF-8")
    dump = "import json, os, sys; print(json.dumps(dict(os.environ))); open(sys.argv[1] + '/env.json', 'w').write(json.dumps(dict(os.environ)))"
    source = pinned_repo(files={"dump.py": dump, "train.py": TRAIN})
    request = make_request(tmp_path, source, "python dump.py {out} && python train.py {seed} {out}")
    result = run.run_seed(request)
    assert result.status is RunStatus.OK, result.reason
    seen = json.loads((request.run_dir / "out" / "env.json").read_text())
    assert not set(secrets) & set(seen)
    assert seen["LANG"] == "C.UTF-8" and seen["REPAUDIT_SEED"] == "1"
    assert seen["HOME"].startswith(str(request.run_dir))
    written = b"".join(p.read_bytes() for p in (tmp_path / "audit").rglob("*") if p.is_file())
    for value in secrets.values():
        assert value.encode() not in written


@pytest.mark.sandbox
@pytest.mark.parametrize("isolation_level", LEVELS, ids=str)
def test_timeout_kills_the_grandchild_too(
    tmp_path: Path, isolation_level: Isolation, pinned_repo: PinnedRepo
) -> None:
    marker = f"repaudit-grandchild-{os.getpid()}-{isolation_level}"
    script = f"""
        import subprocess, sys, time
        # a grandchild in its own session, which a plain process-group kill would miss
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{marker}"], start_new_session=True)
        time.sleep(120)
    """
    source = pinned_repo(files={"train.py": script})
    started = time.monotonic()
    request = make_request(
        tmp_path, source, "python train.py", timeout_seconds=2, isolation=isolation_level
    )
    result = run.run_seed(request)
    assert result.status is RunStatus.TIMEOUT and "2s" in result.reason
    assert result.isolation is isolation_level
    assert time.monotonic() - started < 15
    time.sleep(0.3)
    alive = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if marker.encode() in cmdline.read_bytes():
                alive.append(cmdline.parent.name)
        except OSError:
            pass
    assert alive == [], f"processes left after the timeout: {alive}"


def test_memory_limit_fails_the_run_with_a_plain_reason(
    tmp_path: Path, pinned_repo: PinnedRepo
) -> None:
    script = "import time\nblock = bytearray(1_500_000_000)\nprint('allocated')\n"
    source = pinned_repo(files={"train.py": script})
    request = make_request(tmp_path, source, "python train.py", memory_bytes=400 * 2**20)
    result = run.run_seed(request)
    assert result.status is RunStatus.FAILED
    assert "MemoryError" in result.log_tail and "the limit of 0.391 GiB" in result.reason


def test_memory_limit_covers_the_whole_tree_of_workers(
    tmp_path: Path, pinned_repo: PinnedRepo
) -> None:
    """Each worker stays under the per-process limit; together they pass it."""
    script = """
        import multiprocessing, time
        def work():
            block = b"x" * 150_000_000  # written, so resident
            time.sleep(60)
        if __name__ == "__main__":
            workers = [multiprocessing.Process(target=work) for _ in range(3)]
            for w in workers: w.start()
            for w in workers: w.join()
    """
    source = pinned_repo(files={"train.py": script})
    request = make_request(tmp_path, source, "python train.py", memory_bytes=300 * 2**20)
    started = time.monotonic()
    result = run.run_seed(request)
    assert result.status is RunStatus.FAILED and time.monotonic() - started < 30
    assert "processes together used more than the memory limit of 0.293 GiB" in result.reason
    assert result.peak_memory_bytes and result.peak_memory_bytes > 300 * 2**20


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on the host's loopback: the stand-in for "the network"."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            connection.sendall(b"dataset-bytes")
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


DOWNLOAD = """
    import os, socket, sys
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
        data = s.recv(100)
    os.makedirs("data", exist_ok=True)
    open("data/train.bin", "wb").write(data)
"""
USE_DATA = """
    import json, sys
    data = open("data/train.bin", "rb").read()
    assert data == b"dataset-bytes", data
    try:
        open("data/train.bin", "wb").write(b"tampered")
        tamper = "written"
    except OSError:
        tamper = "refused"
    json.dump({"test": {"acc": 1.0}, "tamper": tamper}, open(sys.argv[1] + "/metrics.json", "w"))
"""


@pytest.mark.sandbox
@needs_netns
def test_training_has_no_network_but_prepare_does_and_shares_its_files(
    tmp_path: Path, listener: int, pinned_repo: PinnedRepo
) -> None:
    source = pinned_repo(files={"download.py": DOWNLOAD, "train.py": USE_DATA})
    offline = run.run_seed(make_request(tmp_path, source, f"python download.py {listener}"))
    assert offline.status is RunStatus.FAILED
    assert "Error" in offline.log_tail  # ConnectionRefusedError / OSError: network unreachable
    audit = tmp_path / "audit"
    prepared = run.run_prepare(
        f"python download.py {listener}",
        source=source,
        environment=CURRENT,
        isolation=LEVEL,
        work_dir=audit / "prepare",
        log_dir=audit,
        timeout_seconds=30,
    )
    assert (prepared / "data" / "train.bin").read_bytes() == b"dataset-bytes"
    seeds = [
        run.run_seed(
            make_request(tmp_path, source, "python train.py {out}", seed=s, prepared_dir=prepared)
        )
        for s in (1, 2)
    ]
    assert [r.status for r in seeds] == [RunStatus.OK, RunStatus.OK], seeds[0].log_tail
    assert (prepared / "data" / "train.bin").read_bytes() == b"dataset-bytes"  # nobody tampered
    tamper = json.loads((audit / "runs" / "method" / "seed-1" / "out" / "metrics.json").read_text())
    assert tamper["tamper"] == "refused"  # mounted read-only, at both levels that can do that
    # resume: the same prepare of the same commit is not run again
    written = (prepared / "data" / "train.bin").stat().st_mtime_ns
    again = run.run_prepare(
        f"python download.py {listener}", source=source, environment=CURRENT, isolation=LEVEL,
        work_dir=audit / "prepare", log_dir=audit, timeout_seconds=30,
    )  # fmt: skip
    assert again == prepared and (again / "data" / "train.bin").stat().st_mtime_ns == written


@pytest.mark.sandbox
@needs_bwrap
def test_bubblewrap_refuses_writes_outside_the_checkout(
    tmp_path: Path, pinned_repo: PinnedRepo
) -> None:
    outside = tmp_path / "outside.txt"
    sibling = tmp_path / "audit" / "runs" / "method" / "seed-2" / "out" / "metrics.json"
    sibling.parent.mkdir(parents=True)
    sibling.write_text('{"test": {"acc": 0.99}}')
    system = Path(sys.prefix) / "repaudit-was-here"
    script = f"""
        import json, sys
        results = {{}}
        for path in [{str(system)!r}, "/etc/repaudit-was-here", {str(outside)!r},
                     {str(Path.home() / "repaudit-was-here")!r}]:
            try:
                open(path, "w").write("x")
                results[path] = "written"
            except OSError as error:
                results[path] = type(error).__name__
        try:  # another seed's output in the same audit folder
            open({str(sibling)!r}).read()
            results["sibling"] = "read"
        except OSError as error:
            results["sibling"] = type(error).__name__
        open("inside.txt", "w").write("fine")
        json.dump({{"test": {{"acc": 1}}, "results": results}}, open(sys.argv[1] + "/metrics.json", "w"))
    """
    source = pinned_repo(files={"train.py": script})
    request = make_request(tmp_path, source, "python train.py {out}")
    result = run.run_seed(request)
    assert result.status is RunStatus.OK, result.log_tail
    results = json.loads((request.run_dir / "out" / "metrics.json").read_text())["results"]
    assert results[str(system)] == results["/etc/repaudit-was-here"] == "OSError"
    assert results["sibling"] == "FileNotFoundError"
    # /tmp and the home folder are private, throw-away copies: the write lands nowhere real
    assert not outside.exists() and not system.exists()
    assert not (Path.home() / "repaudit-was-here").exists()


@pytest.mark.sandbox
@needs_bwrap
def test_bubblewrap_hides_host_unix_sockets(tmp_path: Path, pinned_repo: PinnedRepo) -> None:
    """A read-only mount still lets code connect() to a socket file such as /run/docker.sock."""
    path = Path("/run") / f"repaudit-test-{os.getpid()}.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    script = f"""
        import json, socket, sys
        try:
            socket.socket(socket.AF_UNIX).connect({str(path)!r})
            reached = "connected"
        except OSError as error:
            reached = type(error).__name__
        json.dump({{"test": {{"acc": 1}}, "reached": reached}}, open(sys.argv[1] + "/metrics.json", "w"))
    """
    try:
        source = pinned_repo(files={"train.py": script})
        request = make_request(tmp_path, source, "python train.py {out}")
        result = run.run_seed(request)
    finally:
        server.close()
        path.unlink()
    assert result.status is RunStatus.OK, result.log_tail
    reached = json.loads((request.run_dir / "out" / "metrics.json").read_text())["reached"]
    assert reached == "FileNotFoundError"


@pytest.mark.slow
def test_seed_override_changes_hard_coded_torch_seeds(
    tmp_path: Path, pinned_repo: PinnedRepo
) -> None:
    script = """
        import json, sys, torch
        torch.manual_seed(42)
        json.dump({"test": {"acc": torch.rand(1).item()}}, open(sys.argv[1] + "/metrics.json", "w"))
    """
    source = pinned_repo(files={"train.py": script})

    def values(override: bool) -> list[float]:
        spec = AuditSpec(
            claims=(CLAIM,), arms=(ArmSpec("method", "python -I train.py {out}"),), seeds=(1, 2),
            seed_override=override,
        )  # fmt: skip
        env = prepare_environment(
            spec,
            source,
            source.repo_path,
            cache_dir=tmp_path / "cache",
            log_path=tmp_path / "env.log",
            isolation=detect_isolation(),
        )
        results = []
        for seed in spec.seeds:
            request = make_request(
                tmp_path / f"o{override}", source, "python -I train.py {out}", seed=seed,
                environment=env, seed_override=override,
            )  # fmt: skip
            result = run.run_seed(request)
            assert result.status is RunStatus.OK, result.log_tail
            if override:
                replaced = [c for c in result.seed_calls if c.function == "torch.manual_seed"]
                assert len(replaced) == 1 and replaced[0].original == 42
                assert replaced[0].replaced_by != 42
            else:  # observed, not replaced: the seed never reached the code
                assert result.seed_calls == (SeedCall("torch.manual_seed", 42, 42),)
            results.append(result.metrics["acc"])
        return results

    same = values(override=False)
    assert same[0] == same[1]
    different = values(override=True)
    assert different[0] != different[1]


def test_seed_variables_and_gpu_slots(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, paper: Source
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    request = make_request(tmp_path, paper, "x", seed=3, threads=4, gpus=(1,), env={"EXTRA": "1"})
    variables = run.seed_variables(request)
    assert variables["REPAUDIT_SEED"] == "3" and variables["PYTHONHASHSEED"] == "3"
    assert variables["OMP_NUM_THREADS"] == variables["MKL_NUM_THREADS"] == "4"
    assert variables["CUDA_VISIBLE_DEVICES"] == "1" and variables["EXTRA"] == "1"
    assert variables["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    assert "REPAUDIT_SEED_OVERRIDE" not in variables
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")  # what Slurm granted: slot 1 is device 5
    assert run.seed_variables(request)["CUDA_VISIBLE_DEVICES"] == "5"
    no_gpu = make_request(tmp_path, paper, "x", seed_override=True, deterministic=True)
    variables = run.seed_variables(no_gpu)
    assert variables["CUDA_VISIBLE_DEVICES"] == ""
    assert variables["REPAUDIT_SEED_OVERRIDE"] == "1" and variables["REPAUDIT_DETERMINISTIC"] == "1"


def test_gpu_placeholder_is_the_device_as_the_process_sees_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pinned_repo: PinnedRepo
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    script = "import json, os, sys; json.dump({'test': {'acc': 1}, 'cuda': os.environ['CUDA_VISIBLE_DEVICES'], 'gpu': sys.argv[2]}, open(sys.argv[1] + '/metrics.json', 'w'))"
    source = pinned_repo(files={"train.py": script})
    request = make_request(tmp_path, source, "python train.py {out} 'cuda:{gpu}'", gpus=(3,))
    result = run.run_seed(request)
    assert result.status is RunStatus.OK, result.log_tail
    written = json.loads((request.run_dir / "out" / "metrics.json").read_text())
    assert written["cuda"] == "3" and written["gpu"] == "cuda:0"


def test_kill_all_running_stops_seeds_and_says_interrupted(
    tmp_path: Path, pinned_repo: PinnedRepo
) -> None:
    source = pinned_repo(files={"train.py": "import time\ntime.sleep(120)\n"})
    results = []
    worker = threading.Thread(
        target=lambda: results.append(
            run.run_seed(make_request(tmp_path, source, "python train.py"))
        )
    )
    worker.start()
    time.sleep(1.0)
    run.kill_all_running()
    worker.join(timeout=15)
    assert results and results[0].status is RunStatus.FAILED
    assert results[0].reason.startswith("interrupted")


def test_logs_are_capped_with_the_cut_stated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pinned_repo: PinnedRepo
) -> None:
    monkeypatch.setattr(process, "LOG_HEAD_BYTES", 1000)
    monkeypatch.setattr(process, "LOG_TAIL_BYTES", 500)
    script = "for i in range(20000):\n    print('line', i)\nprint('acc 0.75')\n"
    source = pinned_repo(files={"train.py": script})
    claim = Claim("acc", 0.5, source=MetricSource(regex=r"acc ([0-9.]+)"))
    request = make_request(tmp_path, source, "python train.py", claims=(claim,))
    result = run.run_seed(request)
    log = (request.run_dir / "stdout.log").read_text()
    assert len(log) < 1700 and "bytes cut here" in log and log.startswith("line 0\n")
    assert result.status is RunStatus.OK and result.metrics == {"acc": 0.75}  # the tail was kept


def test_run_seed_is_picklable_for_slurm(tmp_path: Path, paper: Source) -> None:
    import pickle

    request = make_request(tmp_path, paper, "python train.py {seed} {out}")
    assert pickle.loads(pickle.dumps(request)) == request
    assert pickle.loads(pickle.dumps(run.run_seed)) is run.run_seed


CHAINED = """\
Traceback (most recent call last):
  File "train.py", line 3, in <module>
    import gym
ModuleNotFoundError: No module named 'gym'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "train.py", line 5, in <module>
    raise ImportError("cannot import name 'Vocab' from 'torchtext.vocab'")
ImportError: cannot import name 'Vocab' from 'torchtext.vocab'
Exception ignored in atexit callback: <function _exit at 0x7f>
"""


@pytest.mark.parametrize(
    ("stdout", "stderr", "cause"),
    [
        ("", CHAINED, "ImportError: cannot import name 'Vocab' from 'torchtext.vocab'"),
        ("", "warning: x\nCUDA error: out of memory (simulated crash)\n\n", "CUDA error: out of memory (simulated crash)"),
        ("step 10 loss 2.0\nSegmentation fault\n", "", "Segmentation fault"),
        ("Traceback (most recent call last):\n  File \"a\"\nKeyError: 'lr'\n", "", "KeyError: 'lr'"),
        ("", "x" * 1000, "x" * seed_module.MAX_CAUSE_CHARS),
        ("", "", ""),
        ("", "_pickle.UnpicklingError: \x1b[1mdo those steps\x1b[0m.\x1b]0;title\x07\x07\n", "_pickle.UnpicklingError: do those steps."),
    ],
)  # fmt: skip
def test_error_line_is_the_exception_else_the_last_line(
    tmp_path: Path, stdout: str, stderr: str, cause: str
) -> None:
    (tmp_path / "stdout.log").write_text(stdout)
    (tmp_path / "stderr.log").write_text(stderr)
    assert seed_module.error_line(tmp_path / "stdout.log", tmp_path / "stderr.log") == cause


def test_a_run_that_prints_its_metric_then_crashes(tmp_path: Path, pinned_repo: PinnedRepo) -> None:
    source = pinned_repo(
        files={"exp/a/run.py": "print('acc: 0.75')\nraise RuntimeError('plot failed')\n"}, toy=False
    )
    claims = (Claim("acc", 0.7, source=MetricSource(regex=r"acc: ([0-9.]+)")),)
    request = make_request(
        tmp_path, source, "python run.py", claims=claims, workdir="exp/a", metric_after_failure=True
    )
    result = run.run_seed(request)
    assert (result.status, result.metrics, result.returncode) == (
        RunStatus.OK_WITH_ERROR, {"acc": 0.75}, 1,
    )  # fmt: skip
    assert result.reason == "exit code 1 after writing its metrics" and result.ok
    assert result.cause == "RuntimeError: plot failed"
    accepted = run.run_seed(make_request(tmp_path / "b", source, "python run.py", claims=claims,
                                         workdir="exp/a", accept_exit=(0, 1)))  # fmt: skip
    assert (accepted.status, accepted.cause) == (RunStatus.OK, "")
    plain = run.run_seed(make_request(tmp_path / "c", source, "python run.py", claims=claims,
                                      workdir="exp/a"))  # fmt: skip
    assert (plain.status, plain.reason, plain.cause, plain.metrics) == (
        RunStatus.FAILED, "exit code 1", "RuntimeError: plot failed", {},
    )  # fmt: skip


@pytest.mark.sandbox
@pytest.mark.parametrize("isolation_level", LEVELS, ids=str)
def test_a_seed_cannot_forge_or_empty_its_own_log(
    tmp_path: Path, isolation_level: Isolation, pinned_repo: PinnedRepo
) -> None:
    """The seed knows where its log lies ({out}/../stdout.log): appending a better number there,
    or emptying it, changes nothing; the log is what came through the pipe."""
    script = """
        import os, subprocess, sys
        print("acc 0.5", flush=True)
        log = os.path.join(sys.argv[1], "..", "stdout.log")
        for mode in ("a", "w"):
            try:
                open(log, mode).write("acc 0.99\\n")
            except OSError:
                pass
        # a detached child that keeps stdout open long after the seed exits
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    """
    source = pinned_repo(files={"train.py": script})
    claim = Claim("acc", 0.5, source=MetricSource(regex=r"acc ([0-9.]+)"))
    request = make_request(
        tmp_path, source, "python train.py {out}", claims=(claim,), isolation=isolation_level
    )
    started = time.monotonic()
    result = run.run_seed(request)
    assert result.status is RunStatus.OK, result.reason
    assert result.metrics == {"acc": 0.5}
    assert (request.run_dir / "stdout.log").read_text() == "acc 0.5\n"
    assert time.monotonic() - started < 20  # the detached child did not hold the log open


@pytest.mark.parametrize("problem", ["log", "disk"])
def test_a_full_disk_is_never_a_seed_result_kept_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pinned_repo: PinnedRepo, problem: str
) -> None:
    """The seed exits 0 but its metric never reaches the disk: repaudit could not run it (no exit
    code, so it runs again on resume), not "no-metric"."""
    import errno

    source = pinned_repo(files={"train.py": "print('acc 0.5')\n"})
    claim = Claim("acc", 0.5, source=MetricSource(regex=r"acc ([0-9.]+)"))
    if problem == "log":  # repaudit's own log writer hits ENOSPC

        def full(*args: object, **kwargs: object) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(process, "_replace", full)
    else:  # the disk is full when the seed ends

        class Full:
            f_bavail, f_frsize, f_files, f_favail = 0, 4096, 100, 10

        monkeypatch.setattr(seed_module.os, "statvfs", lambda path: Full())
        claim = Claim("acc", 0.5, source=MetricSource(regex=r"accuracy ([0-9.]+)"))
    request = make_request(tmp_path, source, "python train.py", claims=(claim,))
    result = run.run_seed(request)
    assert result.status is RunStatus.FAILED and result.returncode is None, result
    expected = "No space left on device" if problem == "log" else "is full"
    assert expected in result.reason and "re-run" in result.reason
