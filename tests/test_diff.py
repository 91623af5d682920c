"""`repaudit diff`: moves between two audits of one repository, against seed noise."""

from __future__ import annotations

import dataclasses
import statistics

import pytest
from click.testing import CliRunner

from repaudit import store
from repaudit.cli import cli
from repaudit.errors import UsageError
from repaudit.model import Audit, Verdict
from repaudit.report import diff_audits, render_diff


def shifted(audit: Audit, arm: str, delta: float) -> Audit:
    """The same audit with one arm's seeds moved by delta, as a later commit might."""
    result = audit.results[0]
    arms = []
    for summary in result.arms:
        if summary.arm == arm:
            values = tuple(v + delta for v in summary.values)
            summary = dataclasses.replace(summary, values=values, mean=statistics.fmean(values),
                                          median=statistics.median(values))  # fmt: skip
        arms.append(summary)
    return dataclasses.replace(audit, results=(dataclasses.replace(result, arms=tuple(arms)),))


def test_an_audit_compared_with_itself_moved_nowhere(sample_audit):
    diff = diff_audits(sample_audit, sample_audit)
    assert not diff.moved and not diff.decisions and not diff.environment
    assert [m.p_value for m in diff.moves] == [1.0, 1.0]
    assert "Same commit, spec and environment fingerprint." in render_diff(diff)


def test_a_move_beyond_seed_noise_and_a_changed_environment(sample_audit):
    after = shifted(sample_audit, "method", 0.01)
    fingerprint = dataclasses.replace(
        sample_audit.fingerprint,
        torch="2.4.0",
        packages=("numpy==2.0.1", "torch==2.4.0", "transformers==4.41.2"),
    )
    source = dataclasses.replace(sample_audit.source, commit="9" * 40)
    after = dataclasses.replace(after, fingerprint=fingerprint, source=source,
                                verdict=Verdict.HOLDS)  # fmt: skip
    diff = diff_audits(sample_audit, after)
    method, baseline = diff.moves
    assert method.beyond_noise and method.p_value < 0.01  # a 2-sd shift with 8 seeds
    assert method.change == pytest.approx(0.01)
    assert baseline.beyond_noise is False and baseline.change == 0
    assert ("verdict", "does-not-hold", "holds") in diff.decisions
    text = render_diff(diff)
    assert "sst2_accuracy method: 0.9194 → 0.9294 (+0.0100), beyond seed noise" in text
    assert "sst2_accuracy baseline: 0.9161 → 0.9161 (+0.0000), within seed noise" in text
    assert "torch 2.3.1 → 2.4.0" in text and "package numpy 1.26.4 → 2.0.1" in text
    assert "commit 3f9c2a1b7d4e → 999999999999" in text


def test_a_small_move_stays_within_seed_noise(sample_audit):
    diff = diff_audits(sample_audit, shifted(sample_audit, "method", 0.001))
    assert not diff.moved and 0.5 < diff.moves[0].p_value < 1


def test_tied_seeds_have_a_stated_behaviour(user_numbers_audit):
    result = user_numbers_audit.results[0]
    tied = dataclasses.replace(result.arms[0], values=(0.8,) * 5, n=5, mean=0.8, sd=0.0)
    before = dataclasses.replace(
        user_numbers_audit, results=(dataclasses.replace(result, arms=(tied,)),)
    )
    same = diff_audits(before, before).moves[0]
    assert same.p_value is None and same.beyond_noise is False
    after = shifted(before, "method", 0.001)
    after_arm = dataclasses.replace(after.results[0].arms[0], sd=0.0)
    after = dataclasses.replace(
        after, results=(dataclasses.replace(after.results[0], arms=(after_arm,)),)
    )
    assert diff_audits(before, after).moves[0].beyond_noise is True
    assert "No environment fingerprint to compare" in render_diff(diff_audits(before, after))


def test_different_repositories_are_refused(sample_audit, user_numbers_audit):
    with pytest.raises(UsageError, match="same repository"):
        diff_audits(sample_audit, user_numbers_audit)


def test_diff_command_exits_1_when_a_number_moved(sample_audit, tmp_path):
    folders = []
    for name, audit in (("a", sample_audit), ("b", shifted(sample_audit, "method", 0.01))):
        paths = store.AuditPaths(tmp_path / name)
        paths.root.mkdir()
        store.save_audit(paths, audit)
        folders.append(str(paths.root))
    runner = CliRunner()
    moved = runner.invoke(cli, ["diff", *folders], standalone_mode=False)
    assert moved.return_value == 1 and "beyond seed noise" in moved.output
    same = runner.invoke(cli, ["diff", folders[0], folders[0]], standalone_mode=False)
    assert same.return_value == 0
