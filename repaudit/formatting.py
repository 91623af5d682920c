"""How numbers read everywhere: scores, gaps, chances, p-values, durations and sizes.

The terminal, the report, the summary, the wording of the verdict and ``repaudit diff`` all format
through these functions, so one number never appears as 0.81 in one place and 0.81000 in another.
Every function accepts any float (huge, tiny, infinite, NaN) without raising.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

#: Scores print with two significant digits of their seed sd, and never more decimals than this.
MAX_DECIMALS = 8
#: Beyond this magnitude fixed-point notation is unreadable: scores switch to scientific notation.
FIXED_LIMIT = 1e9


def _spread(values: Sequence[float]) -> float:
    """Sample sd of finite ``values`` (0.0 for fewer than two); inf when it overflows."""
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < 2:
        return 0.0
    mean = math.fsum(finite) / len(finite)
    try:
        return math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / (len(finite) - 1))
    except OverflowError:
        return math.inf


class ScoreFormat:
    """Formats scores with two significant digits of their seed sd: 0.8040 ± 0.0060.

    Built from the scores of one arm (or any sample); with no spread, or scores so large that
    fixed-point notation would be unreadable, it prints four significant digits instead.
    """

    def __init__(self, values: Sequence[float]) -> None:
        spread = _spread(list(values))
        self.decimals: int | None = None
        """Decimals every score gets; None: four significant digits each."""
        if 0 < spread < math.inf:
            self.decimals = min(MAX_DECIMALS, max(0, 1 - math.floor(math.log10(spread))))

    def __call__(self, x: float) -> str:
        if self.decimals is None or not math.isfinite(x) or abs(x) >= FIXED_LIMIT:
            return f"{x:.4g}"
        return f"{x:.{self.decimals}f}"

    def signed(self, x: float) -> str:
        """A gap: always with its sign, "+0.0048" or "-0.0012"."""
        text = self(abs(x)) if math.isfinite(x) else f"{abs(x):.4g}"
        return ("-" if x < 0 else "+") + text


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
