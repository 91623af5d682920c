"""The report's renderers: golden bytes, self-containment, escaping, every section, CI outputs."""

from __future__ import annotations

import dataclasses
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from markupsafe import escape

from repaudit import report, store, verdict
from repaudit.cli import cli
from repaudit.model import (
    Arm,
    Audit,
    Direction,
    Look,
    LookTest,
    RunKey,
    RunResult,
    RunStatus,
    SequentialTest,
    StopReason,
    Verdict,
)
from repaudit.report import plots, render

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("REPAUDIT_UPDATE_GOLDEN") == "1"  # regenerate after a deliberate change


def stored(audit: Audit, root: Path) -> Path:
    paths = store.AuditPaths(root / audit.audit_id)
    paths.root.mkdir(parents=True)
    store.save_audit(paths, audit)
    return paths.root


@pytest.fixture(scope="module")
def sample_html(sample_audit) -> str:
    return report.render_html(sample_audit)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} changed; see REPAUDIT_UPDATE_GOLDEN"


@pytest.mark.parametrize("fixture", ["sample_audit", "user_numbers_audit"])
def test_stored_audit_renders_golden_bytes(fixture, request, tmp_path):
    audit = store.load_audit(stored(request.getfixturevalue(fixture), tmp_path))
    check_golden(f"{fixture}.html", report.render_html(audit))
    check_golden(f"{fixture}.md", report.render_markdown(audit))
    check_golden(f"{fixture}.junit.xml", report.render_junit(audit))
    assert report.render_html(audit) == report.render_html(request.getfixturevalue(fixture))


def test_html_fetches_nothing_and_runs_no_script(sample_html):
    html = sample_html
    assert "<script" not in html.lower()
    assert not re.findall(r"""(?:src|href|url)\s*[=(]\s*["']?(?!#|data:)[a-z]+:""", html, re.I)
    assert "@import" not in html and "<link" not in html
    assert "default-src 'none'" in html  # the browser itself refuses any fetch


def test_html_shows_every_section(sample_audit, sample_html):
    html = sample_html
    result = sample_audit.results[0]
    assert "The claim does not hold" in html
    assert "is reached only by a lucky seed" in html and "is within seed noise" in html
    assert "2 of 10 method seeds did not finish" in html  # the verdict paragraph, verbatim
    for test in result.improvement.tests:
        assert escape(test.name) in html
        assert test.meaning in html
    assert "independent seeds; no shape assumption" in html
    assert "Seeds per arm for an 80% chance to settle" in html
    assert "Nondeterminism floor" in html and "0.0007 sd" in html
    assert "bubblewrap" in html and "no network" in html
    assert sample_audit.source.commit in html and sample_audit.rerun_command in html
    assert "[[claims]]" in html  # the spec as run
    assert "torch==2.3.1" in html and "<details><summary>Environment fingerprint" in html
    assert html.count("<figure>") == 3 and html.count('role="img"') == 3


def test_the_environment_and_the_date_its_packages_were_resolved_as_of_are_shown(sample_audit):
    words = (
        "venv 1a2b3c4d5e6f (built for this audit): Python 3.8.18 (setup.py python_requires <3.9)"
    )
    fingerprint = dataclasses.replace(
        sample_audit.fingerprint, environment=words, resolved_as_of="2019-06-01"
    )
    html = report.render_html(dataclasses.replace(sample_audit, fingerprint=fingerprint))
    assert f"<dt>Environment</dt><dd><code>{escape(words)}</code></dd>" in html
    assert "<dt>Packages as of</dt><dd><code>2019-06-01</code></dd>" in html


def test_failed_and_timed_out_seeds_are_listed_with_reasons(sample_audit, sample_html):
    html = sample_html
    markdown = report.render_markdown(sample_audit)
    text = report.render_text(sample_audit)
    for output in (html, markdown, text):
        assert "method seed 3" in output and "CUDA out of memory" in output
        assert "method seed 7" in output and "killed at the 30m wall-clock limit" in output
    assert "&lt;GPU 0&gt;" in html  # the log tail, escaped
    assert html.count('<span class="badge good">ok</span>') == 20  # every other run too


def test_user_numbers_render_without_provenance(user_numbers_audit):
    html = report.render_html(user_numbers_audit)
    assert "<title>repaudit: inconclusive — t5_mnli.csv</title>" in html  # titled from its input
    assert "did not run the training" in html and "<code>t5_mnli.csv</code>" in html
    assert "Environment fingerprint" not in html and "Isolation" not in html
    assert "889" in html and "47%" in html  # seeds needed and the seed-luck chance
    assert html.count("<figure>") == 2  # no baseline runs: no method-beside-baseline plot
    assert "Numbers supplied by the user" in report.render_markdown(user_numbers_audit)


def test_everything_user_written_is_escaped(sample_audit):
    hostile = "<script>alert(1)</script> | a <b>table</b> breaker"
    audit = dataclasses.replace(sample_audit, verdict_reason=hostile, notes=(hostile,))
    html = report.render_html(audit)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    markdown = report.render_markdown(audit)
    assert "<script>" not in markdown and "&lt;b&gt;table&lt;/b&gt; breaker" in markdown
    assert "\\| a" in markdown


def test_junit_has_one_case_per_decision(sample_audit, user_numbers_audit):
    suite = ET.fromstring(report.render_junit(sample_audit)).find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 2 and suite.get("failures") == "1" and suite.get("skipped") == "0"
    # Real durations: the method's runs for the reproduction, every run for the gap and the suite.
    method = sum(r.seconds for r in sample_audit.runs if r.key.arm == "method")
    every = sum(r.seconds for r in sample_audit.runs)
    assert [float(c.get("time")) for c in cases] == pytest.approx([method, every], abs=1e-3)
    assert float(suite.get("time")) == pytest.approx(every, abs=1e-3) and every > 10_000
    assert suite.get("timestamp") == "2026-11-20T09:30:00Z"  # in UTC, and it says so
    assert cases[0].find("failure") is None  # optimistic still holds
    assert cases[1].find("failure").get("type") == "within-noise"
    inconclusive = ET.fromstring(report.render_junit(user_numbers_audit)).find("testsuite")
    assert inconclusive.get("skipped") == "1" and inconclusive.get("failures") == "0"


def test_an_audit_that_could_not_run_renders_everywhere(sample_audit):
    failed = tuple(
        RunResult(r.key, RunStatus.FAILED, reason="exit code 2: no such file train.py")
        for r in sample_audit.runs
    )
    results, overall, reason = verdict.evaluate(sample_audit.spec, failed)  # the real decisions
    assert overall is Verdict.ERROR
    audit = dataclasses.replace(
        sample_audit, runs=failed, results=results, verdict=overall, verdict_reason=reason
    )
    html = report.render_html(audit)
    assert "The audit could not run" in html and "22 runs did not finish" in html
    assert ET.fromstring(report.render_junit(audit)).find("testsuite").get("errors") == "1"
    assert "no such file train.py" in report.render_text(audit)


def test_markdown_stays_under_the_step_summary_cap(sample_audit):
    run = sample_audit.runs[0]
    many = tuple(
        dataclasses.replace(run, key=RunKey(run.key.arm, k), log_tail="x" * 400)
        for k in range(12000)
    )
    markdown = report.render_markdown(dataclasses.replace(sample_audit, runs=many))
    assert len(markdown.encode()) <= render.STEP_SUMMARY_LIMIT // 2
    assert "the seed table is in report.html" in markdown


def test_step_summary_is_appended_within_its_cap(sample_audit, tmp_path, monkeypatch):
    summary = tmp_path / "step_summary.md"
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    report.append_step_summary("ignored")  # unset: nothing happens
    markdown = report.render_markdown(sample_audit)
    filler = "y" * (render.STEP_SUMMARY_LIMIT - len(markdown) // 2)
    summary.write_text("earlier step\n" + filler, encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report.append_step_summary(markdown)
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step") and "truncated to fit" in text
    assert summary.stat().st_size <= render.STEP_SUMMARY_LIMIT


def test_write_report_is_atomic(sample_audit, tmp_path, monkeypatch):
    target = tmp_path / "report.html"
    report.write_report(sample_audit, target)
    first = target.read_bytes()

    def refuse(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        report.write_report(sample_audit, target)
    assert target.read_bytes() == first and sorted(tmp_path.iterdir()) == [target]


def test_plots_are_deterministic_and_described(sample_audit):
    first, again = plots.plots(sample_audit.results[0]), plots.plots(sample_audit.results[0])
    assert [p.svg for p in first] == [p.svg for p in again]
    for plot in first:
        assert plot.title and plot.alt and f'aria-label="{escape(plot.alt)}"' in plot.svg
        assert "<dc:date>" not in plot.svg and "<?xml" not in plot.svg


def test_templates_are_found_from_the_checkout():
    assert (render.template_dir() / "report.html.j2").is_file()


def test_report_and_list_commands(sample_audit, user_numbers_audit, tmp_path):
    folder = stored(sample_audit, tmp_path)
    stored(user_numbers_audit, tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["report", str(folder)], standalone_mode=False)
    assert result.exception is None and result.return_value == 0
    golden = (GOLDEN / "sample_audit.html").read_text(encoding="utf-8")
    assert (folder / "report.html").read_text(encoding="utf-8") == golden
    assert (folder / "summary.md").is_file()
    listing = runner.invoke(cli, ["list", "--store", str(tmp_path)], standalone_mode=False)
    lines = listing.output.splitlines()
    assert len(lines) == 3 and lines[0].split() == [
        "created",
        "verdict",
        "audited",
        "commit",
        "folder",
    ]
    assert "does-not-hold" in lines[1] and "example-lab/bert-casing" in lines[1]
    assert "inconclusive" in lines[2] and "t5_mnli.csv" in lines[2]


def test_report_command_names_a_folder_without_an_audit(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path)], standalone_mode=False)
    assert "holds no audit.json" in str(result.exception)


def test_several_claims_each_get_a_section_and_test_cases(sample_audit):
    first = sample_audit.results[0]
    second = dataclasses.replace(first, claim=dataclasses.replace(first.claim, metric="sst2_f1"))
    audit = dataclasses.replace(sample_audit, results=(first, second))
    assert "(1 more claim below)" in report.context(audit, with_plots=False)["verdict"]["sentence"]
    markdown = report.render_markdown(audit)
    assert "### sst2_accuracy: claimed" in markdown and "### sst2_f1: claimed" in markdown
    suite = ET.fromstring(report.render_junit(audit)).find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "2"


def test_the_about_line_says_which_way_is_better(user_numbers_audit):
    result = user_numbers_audit.results[0]
    lower = dataclasses.replace(
        result, claim=dataclasses.replace(result.claim, direction=Direction.LOWER)
    )
    audit = dataclasses.replace(user_numbers_audit, results=(lower,))
    assert "lower is better" in report.context(audit, with_plots=False)["claims"][0]["about"]


def svg_texts(svg: str) -> list[str]:
    """The text elements of a plot, as drawn (the SVG keeps text as text)."""
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_the_gap_is_drawn_as_intervals_against_zero_and_the_claim(sample_audit, user_numbers_audit):
    gap = plots.plots(sample_audit.results[0])[-1]
    assert gap.title == "The gap against 0 and the claimed gain"
    assert gap.alt == (
        "The re-runs' mean gap is +0.0034, 90% interval [-0.0004, +0.0072]; a gap measured the "
        "paper's way stays below +0.0152 95% of the time; the claimed gap is +0.0130. "
        "P(improvement) is 0.66, 90% interval [0.45, 0.85] (0.5: no difference)."
    )
    texts = svg_texts(gap.svg)
    for label in ("mean gap, 90%", "paper-style, 95%", "no gain (0)", "claimed +0.0130",
                  "P(impr.), 90%"):  # fmt: skip
        assert label in texts
    alone = plots.plots(user_numbers_audit.results[0])[-1]
    assert alone.alt.startswith("Without baseline runs: the gap between two runs of the same code")
    assert "seed noise, 90%" in svg_texts(alone.svg) and "P(impr.), 90%" not in svg_texts(alone.svg)


def test_the_seed_plot_numbers_seeds_as_the_seed_table_does(sample_audit, user_numbers_audit):
    html = report.render_html(sample_audit)
    seeds_plot = html[html.index("<figure>") : html.index("</figure>")]
    ticks = set(svg_texts(seeds_plot))
    assert {"0", "1", "2", "4", "5", "6", "8", "9"} <= ticks  # seeds 3 and 7 failed
    assert not {"3", "7", "10"} & ticks
    assert "method seed 8" in html  # the table's name for the seed that reaches the claim
    user = report.render_html(user_numbers_audit)
    user_ticks = set(svg_texts(user[user.index("<figure>") : user.index("</figure>")]))
    assert {"1", "19"} <= user_ticks and "0" not in user_ticks
    assert "method seed 1<" in user and "method seed 20<" in user and "method seed 0<" not in user


def test_the_report_says_how_to_report_the_result(sample_audit):
    expected = (
        "0.9194 ± 0.0051 (method) and 0.9161 ± 0.0038 (baseline) over 8 and 10 seeds, mean ± sd; "
        "2 of 10 method seeds failed"
    )
    assert f"<strong>Report it as</strong> {expected}." in report.render_html(sample_audit)
    assert f"Report it as {expected}." in report.render_markdown(sample_audit)
    assert "report it as 0.9194 ± 0.0051 (method)" in report.render_text(sample_audit)


def test_the_environment_is_summed_up_under_the_verdict(sample_audit):
    html = report.render_html(sample_audit)
    glance = html[html.index('<ul class="glance"') : html.index("</ul>", html.index("glance"))]
    assert html.index('id="glance"') < html.index('id="claim-1"') < html.index('id="environment"')
    for text in ("3.11.9 (its own venv)", '<span class="badge good">bubblewrap</span>',
                 "2.3.1, CUDA 12.1", '<a href="#environment">details</a>'):  # fmt: skip
        assert text in glance
    assert "Python: 3.11.9 (its own venv) · Isolation: bubblewrap" in report.render_markdown(
        sample_audit
    )


def test_a_failed_audit_says_why_at_the_top_and_shows_no_empty_tables(sample_audit):
    failed = tuple(
        RunResult(
            r.key,
            RunStatus.FAILED,
            reason="exit code 2",
            log_tail="python: can't open file 'train.py': [Errno 2] No such file or directory\n",
        )  # fmt: skip
        for r in sample_audit.runs
    )
    results, overall, reason = verdict.evaluate(sample_audit.spec, failed)
    audit = dataclasses.replace(
        sample_audit, runs=failed, results=results, verdict=overall, verdict_reason=reason
    )
    html = report.render_html(audit)
    why = html.index('<div class="cause" id="cause">')
    assert why < html.index('id="failures"') < html.index('id="claim-1"')
    assert "<strong>Why:</strong> method seed 0 ended with exit code 2; its log ends:" in html
    assert "[Errno 2] No such file or directory" in html[why : html.index("</div>", why)]
    assert "Every statistic" not in html and "Each arm" not in html
    assert "**Why:** method seed 0 ended with exit code 2." in report.render_markdown(audit)


def test_a_failure_s_cause_reaches_the_why_line_and_the_seed_table(sample_audit):
    """The error line a seed's output ended with (issue 11's cause) beside its reason, in the
    failed audit's "Why" and in the terminal's per-seed table (issue 14)."""
    cause = "ModuleNotFoundError: No module named 'apex'"
    failed = tuple(
        RunResult(r.key, RunStatus.FAILED, reason="exit code 1", cause=cause)
        for r in sample_audit.runs
    )
    results, overall, reason = verdict.evaluate(sample_audit.spec, failed)
    audit = dataclasses.replace(
        sample_audit, runs=failed, results=results, verdict=overall, verdict_reason=reason
    )
    why = f"method seed 0 ended with exit code 1: {cause}"
    assert f"**Why:** {why}." in report.render_markdown(audit)
    text = report.render_text(audit, seed_table=True)
    assert f"failed — {cause} (exit code 1)" in text  # the runs grouped by cause, then each run
    table = text.splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("arm "))
    assert table[header].split() == ["arm", "seed", "status", "value", "duration", "cause"]
    assert table[header + 1].endswith(f"{cause} (exit code 1)")
    assert "arm  seed  status" not in report.render_text(audit)  # the table only where asked


def test_provenance_names_the_origin_and_a_local_path_says_so(sample_audit, tmp_path):
    html = report.render_html(sample_audit)
    assert (
        "<dt>Repository</dt><dd><code>https://github.com/example-lab/bert-casing.git</code>" in html
    )
    assert "runs only" not in html  # a URL and a commit: anyone can re-run it
    local = dataclasses.replace(sample_audit.source, url=None, target="paper", repo_path=tmp_path)
    audit = dataclasses.replace(sample_audit, source=local)
    html = report.render_html(audit)
    assert f"<dd><code>{tmp_path} (a local path: no remote is known to hold the commit)" in html
    assert "no remote is known to hold this commit: the command runs only there" in html
    pushed = dataclasses.replace(local, remote="https://git.example.org/lab/paper.git")
    html = report.render_html(dataclasses.replace(audit, source=pushed))
    assert "<code>https://git.example.org/lab/paper.git</code>" in html and "runs only" not in html


def test_an_adaptive_audit_shows_its_looks_everywhere(sample_audit):
    looks = (
        Look(1, 3, {Arm.METHOD: 3, Arm.BASELINE: 3}, 30.0,
             (LookTest("acc", SequentialTest.GAIN, 0.054, 0.0041, False, chance=0.97),
              LookTest("acc", SequentialTest.SIZE, 0.33, 0.0039, False, chance=0.007)),
             StopReason.CONTINUE, "the gain test may still cross by 20 seeds per arm (chance up to 97%)"),
        Look(2, 5, {Arm.METHOD: 5, Arm.BASELINE: 4}, 20.0,
             (LookTest("acc", SequentialTest.GAIN, 0.0019, 0.005, True),
              LookTest("acc", SequentialTest.SIZE, 0.39, 0.0055, False, chance=0.00003)),
             StopReason.SETTLED, "the gain test crossed its boundary at 5 seeds per arm, and no "
             "failing test can cross by 20: more seeds would not change the verdict"),
    )  # fmt: skip
    spec = dataclasses.replace(
        sample_audit.spec, seeds=tuple(range(1, 21)), looks=(3, 5, 8, 12, 20)
    )
    runs = tuple(dataclasses.replace(r, seconds=10.0) for r in sample_audit.runs)
    audit = dataclasses.replace(sample_audit, spec=spec, runs=runs, looks=looks)
    summary = (
        "Stopped after look 2 of 5: 5 of at most 20 seeds per arm. The gain test crossed its "
        "boundary at 5 seeds per arm"
    )
    saved = "30 of 40 runs not needed (75%), about 5m 00s of compute at the runs' mean 10s."
    html = report.render_html(audit)
    assert "Looks: adaptive seeds" in html and summary in html and str(escape(saved)) in html
    assert "97% chance to cross by 20" in html and ">crossed<" in html
    assert "auto: looks at 3, 5, 8, 12, 20 per arm" in html  # provenance
    markdown = report.render_markdown(audit)
    assert f"**Adaptive seeds.** {summary}" in markdown
    assert (
        "| Look 2 | 5 | stopped: settled | gain: p 0.0019 ≤ 0.005, crossed; size: p 0.39"
        in markdown
    )
    text = report.render_text(audit)
    assert "Adaptive seeds: Stopped after look 2 of 5" in text
    assert "Looks" not in report.render_html(sample_audit)  # a fixed number of seeds: no section


def test_user_text_cannot_close_the_markdown_code_fence(sample_audit) -> None:
    """A newline and backticks in --command end up in the re-run command: the summary's fence
    must still hold all of it, so nothing after it renders as Markdown or HTML."""
    injected = "python t.py --seed {seed}\n````\n<img src=x onerror=alert(1)>\n## pwned\n```"
    audit = dataclasses.replace(
        sample_audit, rerun_command=f"repaudit check x --command '{injected}'"
    )
    lines = report.render_markdown(audit).splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip("`") == "sh")
    fence = lines[start][: -len("sh")]
    end = next(
        i
        for i in range(start + 1, len(lines))
        if set(lines[i]) == {"`"} and len(lines[i]) >= len(fence)
    )
    assert len(fence) == 5 and lines[end] == fence  # longer than the 4 backticks inside
    inside = "\n".join(lines[start + 1 : end])
    assert "<img src=x onerror=alert(1)>" in inside and "## pwned" in inside
    assert all("<img" not in line for line in lines[end:])
