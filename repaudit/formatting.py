"""How numbers read everywhere: scores, gaps, chances, p-values, durations and sizes.

The terminal, the report, the summary, the wording of the verdict and ``repaudit diff`` all format
through these functions, so one number never appears as 0.81 in one place and 0.81000 in another.
Every function accepts any float (huge, tiny, infinite, NaN) without raising.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from repaudit.model import Interval

#: Scores print with two significant digits of their seed sd, within these many decimals; beyond
#: them (and with no spread) four significant digits.
MAX_DECIMALS = 8
#: Beyond this magnitude fixed-point notation is unreadable: scores switch to four significant digits.
FIXED_LIMIT = 1e15


def _spread(values: list[float]) -> float:
    """Sample sd of finite ``values`` (0.0 for fewer than two); inf when it overflows."""
    finite = [float(v) for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return 0.0
    mean = math.fsum(finite) / len(finite)
    try:
        return math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / (len(finite) - 1))
    except OverflowError:
        return math.inf


class ScoreFormat:
    """Formats scores with two significant digits of their seed sd: 0.8040 ± 0.0060.

    Built from the scores of one arm (or any sample). Never fewer decimals than the paper's
    ``printed`` ones (up to MAX_DECIMALS), so a claimed 3.254 is not shown as 3.25 beside a seed
    that scored 3.25. Without a usable spread (none, or one that would need more than
    MAX_DECIMALS decimals or fewer than none) the printed decimals are used when given, else four
    significant digits; never hundreds of digits.
    """

    def __init__(self, values: Iterable[float], *, printed: int | None = None) -> None:
        spread = _spread([float(v) for v in values])
        decimals = 1 - math.floor(math.log10(spread)) if 0 < spread < math.inf else printed
        if decimals is not None and printed is not None and 0 <= decimals <= MAX_DECIMALS:
            decimals = max(decimals, min(printed, MAX_DECIMALS))
        self.decimals: int | None = (
            decimals if decimals is not None and 0 <= decimals <= MAX_DECIMALS else None
        )
        """Decimals every score gets; None: four significant digits each."""

    def __call__(self, x: float) -> str:
        if self.decimals is None or not abs(x) < FIXED_LIMIT:
            return f"{x:.4g}"
        return f"{x:.{self.decimals}f}"

    def signed(self, x: float) -> str:
        """A gap, always with its sign: "+0.0048", "-0.0012"."""
        text = self(x)
        return text if text.startswith("-") else f"+{text}"

    def span(self, interval: Interval, *, signed: bool = False) -> str:
        """ "[low, high]" in this format (signed for gaps)."""
        write = self.signed if signed else self
        return f"[{write(interval.low)}, {write(interval.high)}]"


def percent(chance: float) -> str:
    """A probability as a whole percentage; "<1%" and ">99%" rather than a misleading 0% or 100%."""
    if not math.isfinite(chance):
        return "—"
    if 0 < chance < 0.005:
        return "<1%"
    if 0.995 < chance < 1:
        return ">99%"
    return f"{chance:.0%}"


def with_article(word: str) -> str:
    """ "a 10%" but "an 8%", "an 80%", "an 11%", "an 18%": the article follows how the number is read."""
    spoken = word.lstrip("<>")
    vowel = spoken[:1] == "8" or spoken.startswith(("11", "18")) and spoken[2:3] in ("%", "")
    return f"{'an' if vowel else 'a'} {word}"


def chance_phrase(chance: float) -> str:
    """ "an 8% chance", "a 10% chance"."""
    return f"{with_article(percent(chance))} chance"


def p_value(p: float | None) -> str:
    """A p-value to two significant digits; "—" when there is none."""
    if p is None or not math.isfinite(p):
        return "—"
    return "< 0.0001" if p < 0.0001 else f"{p:.2g}"


def number(x: float | None, digits: int = 3) -> str:
    """A statistic (t, ε, g) to ``digits`` significant digits; "—" when there is none."""
    return "—" if x is None else f"{x:.{digits}g}"


def interval(low: float, high: float, fmt: Callable[[float], str]) -> str:
    """ "[low, high]" in the given number format."""
    return f"[{fmt(low)}, {fmt(high)}]"


def duration(seconds: float) -> str:
    """A measured duration: "4.2s", "37s", "3m 05s", "2h 07m"."""
    if not math.isfinite(seconds):
        return "—"
    if seconds < 10:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def limit(seconds: float) -> str:
    """A configured time limit as the spec spells it: "90s", "30m", "2h"."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    return f"{seconds / 60:g}m" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"


def size(size_bytes: int | None) -> str:
    """A memory size: "512 MiB", "3.2 GiB"; "—" when unknown."""
    if size_bytes is None:
        return "—"
    return (
        f"{size_bytes / 2**30:.1f} GiB" if size_bytes >= 2**30 else f"{size_bytes / 2**20:.0f} MiB"
    )
