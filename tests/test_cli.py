"""The command line as a terminal user and a CI script meet it: the same flags on every command,
stdout for the result and stderr for the rest, colour only on a terminal, JSON errors, one alpha
range, and `--fail-on` that says what it let through.

Colour needs a real terminal: those tests run `python -m repaudit` on a pseudo-terminal.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from repaudit import store
from repaudit.cli import cli

ROOT = Path(__file__).resolve().parent.parent
SCORES = ROOT / "examples" / "seed-scores"
UNCASED, CASED = SCORES / "bert-base-uncased-sst2.txt", SCORES / "bert-base-cased-sst2.txt"
# The README's example: does-not-hold (not-reproduced, overstated), exit 1.
STATS = ["stats", str(UNCASED), "--baseline", str(CASED), "--claim", "0.931",
         "--baseline-claim", "0.915"]  # fmt: skip
ANSI = "\x1b["


def repaudit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m repaudit ARGS` with pipes for stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "repaudit", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)  # fmt: skip


def on_a_terminal(*args: str, no_color: bool = False) -> str:
    """What `python -m repaudit ARGS` writes to a pseudo-terminal (stdout and stderr both)."""
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    if no_color:
        env["NO_COLOR"] = "1"
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "repaudit", *args], stdout=follower,
                               stderr=follower, stdin=subprocess.DEVNULL, env=env)  # fmt: skip
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the follower closed: the program ended
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode()


def every_command(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every command under ``group`` ("check", "cache list", ...)."""
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += every_command(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


@pytest.mark.parametrize("path", every_command(), ids=" ".join)
def test_every_command_takes_help_verbose_and_quiet(path):
    result = CliRunner().invoke(cli, [*path, "-h"], standalone_mode=False)
    assert result.exception is None, result.output
    for flag in ("-v, --verbose", "-q, --quiet", "-h, --help"):
        assert flag in result.output, f"repaudit {' '.join(path)} lacks {flag}"


def test_verbose_and_quiet_together_are_refused():
    done = repaudit("list", "-q", "-v")
    assert done.returncode == 2
    assert done.stderr == "error: --verbose and --quiet contradict each other: give one of them\n"


def test_colour_on_a_terminal_and_never_for_no_color_or_a_pipe():
    coloured = on_a_terminal(*STATS)
    assert "\x1b[31m\x1b[1mTHE CLAIM DOES NOT HOLD" in coloured  # the verdict, in red
    assert ANSI not in on_a_terminal(*STATS, no_color=True)
    piped = repaudit(*STATS)
    assert piped.returncode == 1 and "THE CLAIM DOES NOT HOLD" in piped.stdout
    assert ANSI not in piped.stdout + piped.stderr


def test_warnings_go_to_stderr_and_stdout_stays_the_result(sample_audit, tmp_path):
    from repaudit.cli import emit_verdict
    from repaudit.console import Console

    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        emit_verdict(sample_audit, Console(), output_format="json", summary_md=None, junit=None,
                     fail_on=None)  # fmt: skip
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    assert json.loads(stdout)["audit_id"] == sample_audit.audit_id  # nothing else on stdout
    assert stderr == f"warning: {sample_audit.notes[0]}\n"


def test_errors_are_json_on_stdout_with_format_json(tmp_path):
    missing = tmp_path / "missing.txt"
    done = repaudit("stats", str(missing), "--claim", "0.8", "--format", "json")
    message = f"cannot read scores from {missing}: No such file or directory"
    assert done.returncode == 2
    assert json.loads(done.stdout) == {"error": message, "exit_code": 2}
    assert done.stderr == f"error: {message}\n"  # a person reading the log sees it too
    usage = repaudit("list", "--format=json", "--bogus")
    assert usage.returncode == 2
    assert json.loads(usage.stdout)["exit_code"] == 2 and "--bogus" in usage.stdout
    plain = repaudit("stats", str(missing), "--claim", "0.8")
    assert plain.stdout == "" and plain.stderr == f"error: {message}\n"


@pytest.mark.parametrize("alpha", ["0.5", "0", "0.7"])
def test_one_alpha_range_and_one_message_everywhere(alpha, tmp_path, sample_audit):
    folder = tmp_path / sample_audit.audit_id
    folder.mkdir()
    store.save_audit(store.AuditPaths(folder), sample_audit)
    spec = tmp_path / "repaudit.toml"
    spec.write_text(f'[claim]\nvalue = 0.8\n[run]\ncommand = "t {{seed}}"\n[run.metric]\n'
                    f'regex = "acc ([0-9.]+)"\n[stats]\nalpha = {alpha}\n')  # fmt: skip
    expected = f"--alpha {alpha} is outside (0, 0.5): use e.g. 0.05"
    for args in (
        ["stats", str(UNCASED), "--claim", "0.93", "--alpha", alpha],
        ["diff", str(folder), str(folder), "--alpha", alpha],
        ["check", str(tmp_path / "nowhere"), "--alpha", alpha],
    ):
        done = repaudit(*args)
        assert (done.returncode, done.stderr) == (2, f"error: {expected}\n"), args
    from_file = repaudit("spec-check", str(spec))
    assert from_file.returncode == 2
    assert f"[stats] alpha = {alpha} is outside (0, 0.5): use e.g. 0.05" in from_file.stderr
    assert repaudit(*STATS, "--alpha", "0.49").returncode == 1  # inside the range


def test_fail_on_names_on_stderr_what_it_let_through():
    done = repaudit(*STATS, "--fail-on", "reversed")
    assert done.returncode == 0  # not-reproduced and overstated no longer fail the job...
    assert done.stderr == (  # ...and the log says so
        "warning: --fail-on let these through: score reproduction: not-reproduced; "
        "score improvement: overstated\n"
    )
    named = repaudit(*STATS, "--fail-on", "overstated")
    assert named.returncode == 1
    assert "let these through: score reproduction: not-reproduced" in named.stderr
    assert "improvement: overstated" not in named.stderr


def test_list_has_a_header_a_json_form_and_says_when_the_store_is_empty(
    sample_audit, user_numbers_audit, tmp_path
):
    for audit in (sample_audit, user_numbers_audit):
        (tmp_path / audit.audit_id).mkdir()
        store.save_audit(store.AuditPaths(tmp_path / audit.audit_id), audit)
    runner = CliRunner()
    text = runner.invoke(cli, ["list", "--store", str(tmp_path)], standalone_mode=False)
    header, first, second = text.stdout.splitlines()
    assert header.split() == ["created", "verdict", "audited", "commit", "folder"]
    assert first.index("does-not-hold") == header.index("verdict")  # columns line up
    assert "t5_mnli.csv" in second
    quiet = runner.invoke(cli, ["list", "-q", "--store", str(tmp_path)], standalone_mode=False)
    assert quiet.stdout.splitlines() == [first, second]
    verbose = runner.invoke(cli, ["list", "-v", "--store", str(tmp_path)], standalone_mode=False)
    assert "    sst2_accuracy 0.93: optimistic, within-noise" in verbose.stdout
    listed = runner.invoke(cli, ["list", "--format", "json", "--store", str(tmp_path)],
                           standalone_mode=False)  # fmt: skip
    rows = json.loads(listed.stdout)
    assert [r["verdict"] for r in rows] == ["does-not-hold", "inconclusive"]
    assert rows[0]["commit"] == sample_audit.source.commit and rows[1]["commit"] is None
    assert rows[0]["claims"][0]["decisions"] == ["optimistic", "within-noise"]
    empty = runner.invoke(cli, ["list", "--store", str(tmp_path / "none")], standalone_mode=False)
    assert empty.stdout == "" and "no audits under" in empty.stderr
    none = runner.invoke(cli, ["list", "--format", "json", "--store", str(tmp_path / "none")],
                         standalone_mode=False)  # fmt: skip
    assert json.loads(none.stdout) == []


def test_stats_verbose_names_what_it_read_and_quiet_says_nothing_else(tmp_path):
    runner = CliRunner()
    verbose = runner.invoke(cli, [*STATS, "-v", "--html", str(tmp_path / "r.html")],
                            standalone_mode=False)  # fmt: skip
    assert f"read 20 scores from {UNCASED}" in verbose.stderr
    assert f"wrote {tmp_path / 'r.html'}" in verbose.stderr
    quiet = runner.invoke(cli, [*STATS, "-q", "--html", str(tmp_path / "q.html")],
                          standalone_mode=False)  # fmt: skip
    assert quiet.stderr == "" and quiet.stdout.startswith("THE CLAIM DOES NOT HOLD")
