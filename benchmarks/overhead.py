"""What repaudit adds to the time of the training runs it audits, and what a second worker buys.

    python benchmarks/overhead.py --seeds 10

In one run, on one machine, over a fresh git copy of examples/paper-repo:
  1. a plain shell loop running the example's training commands (every arm, N seeds) one after
     another, with the thread count one repaudit worker gives each seed;
  2. `repaudit check COPY --seeds N --workers 1` into a fresh store;
  3. the same audit with `--workers 2`;
  4. both 1 and 2 again with one seed per arm, which splits repaudit's overhead into a fixed cost
     per audit and a cost per seed run (overhead = fixed + per_run x runs, solved from the two);
  5. `repaudit stats --format json` on the bundled seed scores, as a whole process;
then prints audit time / loop time (target <= 1.10, goal 1.02), the fixed cost (goal < 1 s), the
per-run cost, the 2-worker speed-up and the `stats` time (goal < 0.5 s).
With --rounds R each is timed R times, interleaved, and the medians are compared.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import git

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from repaudit.executors.local import usable_cpus  # noqa: E402

EXAMPLE = ROOT / "examples" / "paper-repo"
SCORES = ROOT / "examples" / "seed-scores"
TARGET_RATIO, GOAL_RATIO = 1.10, 1.02
FIXED_GOAL, STATS_GOAL = 1.0, 0.5


def git_copy(example: Path, destination: Path) -> Path:
    """A committed copy of the example, so the audit pins a clean commit like any paper repository."""
    shutil.copytree(example, destination, ignore=shutil.ignore_patterns("__pycache__", "runs"))
    repo = git.Repo.init(destination)
    repo.git.add(all=True)
    actor = git.Actor("benchmark", "benchmark@example.com")
    repo.index.commit("paper", author=actor, committer=actor)
    return destination


def arm_commands(paper: Path) -> dict[str, str]:
    """The training command of each arm, from the example's repaudit.toml."""
    spec = tomllib.loads((paper / "repaudit.toml").read_text())
    commands = {"method": spec["run"]["command"]}
    if "baseline" in spec:
        commands["baseline"] = spec["baseline"]["command"]
    return commands


def loop_script(paper: Path, seeds: int, threads: int, out_root: Path) -> str:
    """The shell loop a researcher would write: every arm's command for seeds 1..N, in a row."""
    lines = [
        f"cd {shlex.quote(str(paper))}",
        f"export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}",
    ]
    for arm, command in arm_commands(paper).items():
        for seed in range(1, seeds + 1):
            out = shlex.quote(str(out_root / arm / str(seed)))
            lines.append(
                command.format(seed=seed, out=out, threads=threads, gpu="") + " > /dev/null"
            )
    return "\n".join(lines)


def timed(command: list[str], **kwargs: object) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1, 3):  # a verdict of any kind is fine; 2 and 4 mean it broke
        sys.exit(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per arm (default 10)")
    parser.add_argument("--rounds", type=int, default=1, help="times each is timed (default 1)")
    parser.add_argument("--example", type=Path, default=EXAMPLE)
    args = parser.parse_args()
    threads = usable_cpus()  # what LocalExecutor gives one worker's slot
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
    }
    with tempfile.TemporaryDirectory(prefix="repaudit-overhead-") as scratch:
        work = Path(scratch)
        paper = git_copy(args.example, work / "paper")
        # Warm the page cache (torch's files) so the first timed run is not the only cold one.
        timed(["bash", "-c", loop_script(paper, 1, threads, work / "warm")], env=environment)
        stats_command = [
            sys.executable, "-m", "repaudit", "stats", str(SCORES / "bert-base-uncased-sst2.txt"),
            "--baseline", str(SCORES / "bert-base-cased-sst2.txt"), "--claim", "0.931",
            "--baseline-claim", "0.915", "--format", "json",
        ]  # fmt: skip
        times: dict[tuple[str, int], list[float]] = {}
        stats_times = []
        for round_ in range(args.rounds):
            for seeds in (1, args.seeds):
                script = loop_script(paper, seeds, threads, work / f"loop-{round_}-{seeds}")
                times.setdefault(("loop", seeds), []).append(
                    timed(["bash", "-c", script], env=environment)
                )
                for workers in (1, 2):
                    store = work / f"store-{workers}-{round_}-{seeds}"
                    command = [
                        sys.executable, "-m", "repaudit", "check", str(paper),
                        "--seeds", str(seeds), "--workers", str(workers), "--store", str(store),
                        "--cache-dir", str(work / "cache"), "--quiet",
                    ]  # fmt: skip
                    times.setdefault((f"w{workers}", seeds), []).append(
                        timed(command, env=environment, cwd=work)
                    )
            stats_times.append(timed(stats_command, env=environment, cwd=work))
    median = {key: statistics.median(values) for key, values in times.items()}
    arms = len(arm_commands(args.example))
    runs, few = args.seeds * arms, arms
    loop, one, two = (median[(k, args.seeds)] for k in ("loop", "w1", "w2"))
    # overhead(seeds) = fixed + per_run * runs, from the two seed counts
    overhead_many, overhead_few = one - loop, median[("w1", 1)] - median[("loop", 1)]
    per_run = (overhead_many - overhead_few) / (runs - few)
    fixed = overhead_few - per_run * few
    print(f"{args.seeds} seeds per arm ({runs} training runs), {threads} threads per run, "
          f"{args.rounds} round(s), medians")  # fmt: skip
    print(f"plain shell loop       {loop:7.1f} s   ({loop / runs:.2f} s per run)")
    print(f"repaudit, 1 worker     {one:7.1f} s   ratio {one / loop:.3f} "
          f"(target <= {TARGET_RATIO:.2f}, goal {GOAL_RATIO:.2f})")  # fmt: skip
    print(f"  fixed cost per audit {fixed:7.2f} s   (goal < {FIXED_GOAL:g} s)")
    print(f"  cost per seed run    {per_run:7.3f} s")
    print(f"repaudit, 2 workers    {two:7.1f} s   speed-up {one / two:.2f}x over 1 worker")
    stats = statistics.median(stats_times)
    print(f"repaudit stats --format json {stats:5.2f} s   (goal < {STATS_GOAL:g} s)")


if __name__ == "__main__":
    main()
