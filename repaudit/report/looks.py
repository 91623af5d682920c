"""The report's "Looks" section of an adaptive audit (``--seeds auto``): every look's tests against
their boundaries, where the audit stopped and why, and the seeds and compute time it saved."""

from __future__ import annotations

from typing import Any

from repaudit import formatting
from repaudit.formatting import duration, p_value, percent
from repaudit.model import Audit, Look, LookTest, SequentialTest, StopReason, Tone

STOP_WORDS = {
    StopReason.CONTINUE: ("continued", Tone.WARN),
    StopReason.FAILED: ("stopped: does not hold", Tone.BAD),
    StopReason.SETTLED: ("stopped: settled", Tone.GOOD),
    StopReason.FUTILE: ("stopped: undecidable", Tone.WARN),
    StopReason.LAST_LOOK: ("last look", Tone.WARN),
}
TEST_NAMES = {
    SequentialTest.GAIN: "gain",
    SequentialTest.REVERSE: "reverse",
    SequentialTest.SIZE: "size",
    SequentialTest.CLAIM: "claimed number",
    SequentialTest.BASELINE_CLAIM: "claimed baseline",
    SequentialTest.SEED_LUCK: "seed luck",
}


def looks_context(audit: Audit) -> dict[str, Any] | None:
    """The section's strings; None for an audit that ran a fixed number of seeds."""
    if not audit.looks:
        return None
    last, most = audit.looks[-1], len(audit.spec.seeds)
    planned = audit.spec.looks or (last.seeds,)
    several = len(audit.results) > 1
    arms = len(audit.spec.arms)
    saved = (most - last.seeds) * arms
    ran = [r.seconds for r in audit.runs if r.seconds > 0]
    per_run = sum(ran) / len(ran) if ran else 0.0
    savings = f"{saved} of {most * arms} runs not needed ({saved / (most * arms):.0%})"
    if saved and per_run:
        savings += (
            f", about {duration(saved * per_run)} of compute at the runs' mean {duration(per_run)}"
        )
    return {
        "summary": f"Stopped after look {last.number} of {len(planned)}: {last.seeds} of at most "
        f"{most} seeds per arm. {_sentence(last.reason)}.",
        "saved": savings + ".",
        "schedule": ", ".join(map(str, planned)),
        "rows": [_look(look, most, several) for look in audit.looks],
    }


def _look(look: Look, most: int, several: bool) -> dict[str, Any]:
    words, tone = STOP_WORDS[look.stop]
    return {
        "label": f"Look {look.number}",
        "seeds": f"{look.seeds}",
        "finished": " / ".join(f"{n}" for n in look.finished.values()),
        "time": duration(look.seconds) if look.seconds else "—",
        "stop": words,
        "tone": tone,
        "reason": _sentence(look.reason),
        "tests": [_test(test, most, several) for test in look.tests],
    }


def _test(test: LookTest, most: int, several: bool) -> dict[str, Any]:
    name = TEST_NAMES[test.test] + (f" ({test.metric})" if several else "")
    passing = test.test in (SequentialTest.GAIN, SequentialTest.SEED_LUCK)
    below = test.p_value is not None and test.boundary is not None and test.p_value <= test.boundary
    if test.crossed:
        outcome, tone = "crossed", Tone.GOOD if passing else Tone.BAD
    elif below:  # a t-based rejection the distribution-free check did not confirm (diverged runs)
        outcome, tone = "held back: diverged runs, and the rank check disagrees", Tone.WARN
    elif test.chance is None:
        outcome, tone = "determined", Tone.WARN
    else:
        outcome, tone = f"{percent(test.chance)} chance to cross by {most}", Tone.WARN
    boundary = "—" if test.boundary is None else formatting.number(test.boundary, 2)
    compared = f"p {p_value(test.p_value)}"
    if test.p_value is not None and test.boundary is not None:
        compared += f" {'≤' if below else '>'} {boundary}"
    return {
        "name": name,
        "p": p_value(test.p_value),
        "boundary": boundary,
        "outcome": outcome,
        "tone": tone,
        "line": f"{name}: {compared}, {outcome}",
    }


def _sentence(text: str) -> str:
    """``text`` with its first letter capitalised (the rest as written: names stay lower case)."""
    return text[:1].upper() + text[1:]
