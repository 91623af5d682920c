"""Compare two audits of one repository: which numbers moved, and whether beyond seed noise.

Each arm's seeds in the two audits are independent samples, so a move is tested with Welch's
two-sided t-test on them (scipy); the environments are compared through their fingerprints.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from repaudit import stats
from repaudit.errors import UsageError
from repaudit.formatting import ScoreFormat, p_value
from repaudit.model import Arm, ArmSummary, Audit, Fingerprint


@dataclass(frozen=True)
class Move:
    """One arm's number for one metric, before and after."""

    metric: str
    """The claim's metric."""
    arm: Arm
    """Which arm."""
    before: ArmSummary
    """The arm in the earlier audit."""
    after: ArmSummary
    """The arm in the later audit."""
    p_value: float | None
    """Welch two-sided; None when an audit has fewer than 2 seeds."""
    beyond_noise: bool | None
    """None: too few seeds to tell."""

    @property
    def change(self) -> float:
        """After minus before, in the metric's units."""
        return self.after.mean - self.before.mean


@dataclass(frozen=True)
class AuditDiff:
    """What changed between two audits of one repository."""

    before: Audit
    """The earlier audit."""
    after: Audit
    """The later audit."""
    moves: tuple[Move, ...]
    """Every arm of every claim both audits share."""
    decisions: tuple[tuple[str, str, str], ...]
    """(what, before, after) for each changed decision."""
    environment: tuple[str, ...]
    """Plain-words differences between the two fingerprints."""
    alpha: float
    """Level of each Welch test."""

    @property
    def moved(self) -> bool:
        """True when any number moved beyond seed noise."""
        return any(m.beyond_noise for m in self.moves)


def diff_audits(before: Audit, after: Audit, alpha: float = 0.05) -> AuditDiff:
    """The numbers and decisions that changed from `before` to `after`, tested against seed noise."""
    names = [a.source.display_name if a.source else None for a in (before, after)]
    if names[0] != names[1]:
        raise UsageError(
            f"diff compares two audits of the same repository, got {names[0] or 'user numbers'} "
            f"and {names[1] or 'user numbers'}: pass two audit folders of one repository"
        )
    moves, decisions = [], []
    later = {r.claim.metric: r for r in after.results}
    for old in before.results:
        new = later.get(old.claim.metric)
        if new is None:
            continue
        arms = {a.arm: a for a in new.arms}
        moves += [_move(old.claim.metric, a, arms[a.arm], alpha) for a in old.arms if a.arm in arms]
        pairs: list[tuple[str, enum.StrEnum, enum.StrEnum]] = [
            ("reproduction", old.reproduction.decision, new.reproduction.decision)
        ]
        if old.improvement and new.improvement:
            pairs.append(("improvement", old.improvement.decision, new.improvement.decision))
        decisions += [
            (f"{old.claim.metric} {what}", a.value, b.value) for what, a, b in pairs if a != b
        ]
    if before.verdict != after.verdict:
        decisions.insert(0, ("verdict", before.verdict.value, after.verdict.value))
    return AuditDiff(
        before, after, tuple(moves), tuple(decisions), _environment(before, after), alpha
    )


def _move(metric: str, before: ArmSummary, after: ArmSummary, alpha: float) -> Move:
    if before.n < 2 or after.n < 2:
        return Move(metric, before.arm, before, after, None, None)
    if before.sd == 0 and after.sd == 0:
        # Every seed tied in both audits: the t-test is undefined, and any change is not noise.
        return Move(metric, before.arm, before, after, None, before.mean != after.mean)
    p = stats.welch_two_sided(after.values, before.values)
    assert p is not None  # both sds zero is handled above
    return Move(metric, before.arm, before, after, p, p < alpha)


def _environment(before: Audit, after: Audit) -> tuple[str, ...]:
    changes = []
    if before.source and after.source and before.source.commit != after.source.commit:
        changes.append(f"commit {before.source.commit[:12]} → {after.source.commit[:12]}")
    if before.spec != after.spec:
        changes.append("the audit spec differs (commands, seeds or settings)")
    old, new = before.fingerprint, after.fingerprint
    if old is None or new is None:
        return tuple(changes)
    for label, field in (
        ("python", "python"),
        ("platform", "platform"),
        ("CPU", "cpu"),
        ("GPUs", "gpus"),
        ("torch", "torch"),
        ("CUDA", "cuda"),
        ("cuDNN", "cudnn"),
        ("isolation", "isolation"),
    ):
        a, b = getattr(old, field), getattr(new, field)
        if a != b:
            changes.append(f"{label} {_show(a)} → {_show(b)}")
    changes += _package_changes(old, new)
    for name in sorted(set(old.variables) | set(new.variables)):
        a, b = old.variables.get(name), new.variables.get(name)
        if a != b:
            changes.append(f"${name} {_show(a)} → {_show(b)}")
    return tuple(changes)


def _package_changes(old: Fingerprint, new: Fingerprint) -> list[str]:
    def versions(fp: Fingerprint) -> dict[str, str]:
        return dict(p.partition("==")[::2] for p in fp.packages)

    a, b = versions(old), versions(new)
    return [
        f"package {name} {_show(a.get(name))} → {_show(b.get(name))}"
        for name in sorted(set(a) | set(b))
        if a.get(name) != b.get(name)
    ]


def _show(value: object) -> str:
    if value is None or value == "":
        return "(none)"
    return ", ".join(value) if isinstance(value, tuple) else str(value)


def render_diff(diff: AuditDiff) -> str:
    """The comparison in plain words, for the terminal."""
    before, after = diff.before, diff.after
    subject = before.source.display_name if before.source else "user numbers"
    lines = [f"{subject}: {_label(before)} → {_label(after)}"]
    lines += [f"{what}: {a} → {b}" for what, a, b in diff.decisions]
    for move in diff.moves:
        fmt = ScoreFormat((*move.before.values, *move.after.values))
        if move.beyond_noise is None:
            verdict = "too few seeds to tell"
        else:
            where = "beyond" if move.beyond_noise else "within"
            p = "" if move.p_value is None else f" (Welch p = {p_value(move.p_value)})"
            verdict = f"{where} seed noise{p}"
        lines.append(
            f"  {move.metric} {move.arm}: {fmt(move.before.mean)} → {fmt(move.after.mean)} "
            f"({fmt.signed(move.change)}), {verdict}"
        )
    if diff.environment:
        lines.append("What differs between the two audits:")
        lines += [f"  {change}" for change in diff.environment]
    elif before.fingerprint is None or after.fingerprint is None:
        lines.append("No environment fingerprint to compare (numbers supplied by the user).")
    else:
        lines.append("Same commit, spec and environment fingerprint.")
    return "\n".join(lines)


def _label(audit: Audit) -> str:
    commit = audit.source.commit[:12] if audit.source else audit.audit_id
    return f"{commit} ({audit.created_at[:10]}, {audit.verdict.value})"
