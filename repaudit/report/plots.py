"""The report's plots: matplotlib figures as deterministic inline SVG, each with a text alternative."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from markupsafe import Markup, escape
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType  # matplotlib >= 3.9; annotations only

from repaudit.improvement import SUPERIORITY_TEST
from repaudit.model import Arm, ClaimKind, ClaimResult
from repaudit.wording import claim_format

METHOD_COLOR = "#2b5d9b"
BASELINE_COLOR = "#7a8594"
CLAIM_COLOR = "#b4531f"
BAND_COLOR = "#dbe6f3"

# Fixed salt, text kept as text, no date: the same audit gives the same SVG bytes.
_SVG_RC: dict[RcKeyType, Any] = {
    "svg.hashsalt": "repaudit",
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#8a94a3",
    "axes.labelcolor": "#333a45",
    "xtick.color": "#4a5361",
    "ytick.color": "#4a5361",
}


@dataclass(frozen=True)
class Plot:
    """One figure of the report."""

    title: str
    """Shown above the caption."""
    alt: str
    """The text alternative: what the plot shows, in numbers."""
    svg: Markup
    """Inline SVG, deterministic bytes."""


def plots(result: ClaimResult, seeds: Sequence[int] = ()) -> list[Plot]:
    """Every plot for one claim: its seeds, method beside baseline, and the gap against 0 and the
    claim. ``seeds`` numbers the method's successful seeds as the seed table does (else 1..n).

    The method arm (the first) must have at least one successful seed.
    """
    drawn = [_seeds_plot(result, seeds)]
    if len(result.arms) > 1 and all(arm.n for arm in result.arms):
        drawn.append(_arms_plot(result))
    gap = _gap_plot(result)
    if gap is not None:
        drawn.append(gap)
    return drawn


def _svg(figure: Figure, alt: str) -> Markup:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # Inline SVG needs neither the XML prologue nor fixed pixel sizes (CSS scales it).
    text = text[text.index("<svg") :]
    head, rest = text.split(">", 1)
    for attribute in ("width", "height"):
        start = head.index(f' {attribute}="')
        end = head.index('"', start + len(attribute) + 3)
        head = head[:start] + head[end + 1 :]
    head += f' role="img" aria-label="{escape(alt)}"'
    return Markup(head + ">" + rest)


def _figure(height: float = 2.6) -> tuple[Figure, Axes]:
    # 4.4 in = 317 pt of SVG width with 10 pt text: on a 390 px phone the plot is about 340 px
    # wide, so its text renders at 10.7 px; report.css caps the plot at 28rem (14 px text).
    # The fixed size (no tight bounding box) gives every plot the same scale.
    figure = Figure(figsize=(4.4, height), layout="constrained")
    return figure, figure.add_subplot()


def _seeds_plot(result: ClaimResult, numbers: Sequence[int]) -> Plot:
    claim, method = result.claim, result.arms[0]
    interval = result.reproduction.prediction_interval
    fmt = claim_format(result.claim, method.values)
    with rc_context(_SVG_RC):
        figure, axes = _figure(3.0)  # the key above takes three rows
        seeds = np.asarray(numbers if len(numbers) == method.n else range(1, method.n + 1))
        if interval is not None:
            axes.axhspan(
                interval.low,
                interval.high,
                color=BAND_COLOR,
                lw=0,
                label=f"{interval.level:.0%} prediction interval",
            )
        axes.axhline(method.mean, color=METHOD_COLOR, lw=0.8, ls=":", label="re-run mean")
        axes.axhline(claim.value, color=CLAIM_COLOR, lw=1.4, label=f"claim {fmt(claim.value)}")
        outlier = np.isin(method.values, method.outliers)
        axes.scatter(
            seeds[~outlier],
            np.asarray(method.values)[~outlier],
            s=26,
            color=METHOD_COLOR,
            zorder=3,
            label="one seed",
        )
        if outlier.any():
            axes.scatter(
                seeds[outlier],
                np.asarray(method.values)[outlier],
                s=30,
                facecolors="white",
                edgecolors=METHOD_COLOR,
                zorder=3,
                label="outlier seed",
            )
        axes.set_xlabel("seed (numbered as in the seed table)")
        axes.set_ylabel(claim.metric)
        axes.set_xticks(seeds if method.n <= 12 else seeds[:: max(1, method.n // 10)])
        _legend_above(axes, columns=2)
        reached = result.reproduction.seeds_reaching
        band = (
            (
                f"; the {interval.level:.0%} prediction interval for one new seed is "
                f"{fmt(interval.low)} to {fmt(interval.high)}"
            )
            if interval
            else ""
        )
        alt = (
            f"{method.n} successful method seeds between {fmt(method.minimum)} and "
            f"{fmt(method.maximum)}, mean {fmt(method.mean)}; the claimed {fmt(claim.value)} "
            f"is reached by {reached} of {method.n}{band}."
        )
        return Plot(
            f"Every seed of the method against the claimed {claim.metric}", alt, _svg(figure, alt)
        )


def _arms_plot(result: ClaimResult) -> Plot:
    claim = result.claim
    fmt = claim_format(result.claim, result.arms[0].values)
    with rc_context(_SVG_RC):
        figure, axes = _figure()
        rng = np.random.default_rng(0)  # fixed jitter so the picture is the same every time
        for position, arm in enumerate(result.arms):
            color = BASELINE_COLOR if arm.arm == Arm.BASELINE else METHOD_COLOR
            jitter = rng.uniform(-0.12, 0.12, arm.n)
            axes.scatter(position + jitter, arm.values, s=22, color=color, alpha=0.85, zorder=3)
            axes.hlines(arm.median, position - 0.25, position + 0.25, color=color, lw=1.2)
            claimed = claim.value if position == 0 else claim.baseline
            if claimed is not None:
                axes.hlines(
                    claimed, position - 0.38, position + 0.38, color=CLAIM_COLOR, lw=1.6, ls="--"
                )
                axes.annotate(
                    f"claim {fmt(claimed)}",
                    (position + 0.4, claimed),
                    color=CLAIM_COLOR,
                    va="center",
                )
        axes.set_xticks(range(len(result.arms)), [a.arm for a in result.arms])
        axes.set_xlim(-0.6, len(result.arms) - 0.1)
        axes.set_ylabel(claim.metric)
        parts = [
            f"{a.arm}: {a.n} seeds, median {fmt(a.median)}, mean {fmt(a.mean)}" for a in result.arms
        ]
        alt = "; ".join(parts) + (
            f". Claimed: method {fmt(claim.value)}, baseline {fmt(claim.baseline)}."
            if claim.baseline is not None
            else "."
        )
        return Plot(
            "Method beside baseline, with both claimed numbers (dashed)", alt, _svg(figure, alt)
        )


@dataclass(frozen=True)
class _Row:
    """One interval of the gap plot: a bar from ``low`` to ``high``, a tick at ``point``."""

    label: str
    low: float
    high: float
    point: float | None
    open_low: bool = False
    """A one-sided bound: the bar runs off the plot's left edge."""


def _gap_rows(result: ClaimResult) -> tuple[list[_Row], str] | None:
    """The intervals to draw and the text alternative's words for them; None: nothing to draw."""
    imp, method = result.improvement, result.arms[0]
    assert imp is not None
    fmt = claim_format(result.claim, method.values)
    level = imp.gain_test.level if imp.gain_test and imp.gain_test.level else 0.05
    if imp.gap_interval is not None and imp.observed_gap is not None:
        span, observed = imp.gap_interval, imp.observed_gap
        rows = [_Row(f"mean gap, {span.level:.0%}", span.low, span.high, observed)]
        words = (
            f"The re-runs' mean gap is {fmt.signed(observed)}, {span.level:.0%} interval "
            f"{fmt.span(span, signed=True)}"
        )
        if imp.paper_gap_bound is not None:
            bound = imp.paper_gap_bound
            size = imp.size_test.level if imp.size_test and imp.size_test.level else level
            rows.append(_Row(f"paper-style, {1 - size:.0%}", -math.inf, bound, None, True))
            words += (
                f"; a gap measured the paper's way stays below {fmt.signed(bound)} "
                f"{1 - size:.0%} of the time"
            )
        return rows, words
    if method.n < 2 or method.sd == 0:
        return None
    runs = result.claim.runs if result.claim.kind is ClaimKind.MEAN else 1
    half = float(stats.t.ppf(1 - level, method.n - 1)) * method.sd * math.sqrt(2 / runs)
    what = "two runs" if runs == 1 else f"two means of {runs}"
    words = (
        f"Without baseline runs: the gap between {what} of the same code lies within "
        f"±{fmt(half)} {1 - 2 * level:.0%} of the time (seed noise alone)"
    )
    return [_Row(f"seed noise, {1 - 2 * level:.0%}", -half, half, 0.0)], words


def _gap_plot(result: ClaimResult) -> Plot | None:
    """The gap as interval estimates (rliable's style) against 0 and the claimed gap, with
    P(improvement) and its interval beneath when there are baseline runs."""
    imp = result.improvement
    if imp is None:
        return None
    found = _gap_rows(result)
    if found is None:
        return None
    rows, words = found
    fmt = claim_format(result.claim, result.arms[0].values)
    claimed = imp.claimed_gap
    superiority = next(
        (t for t in imp.tests if t.name == SUPERIORITY_TEST and t.interval is not None), None
    )
    ends = [x for r in rows for x in (r.low, r.high) if math.isfinite(x)] + [0.0, claimed]
    pad = 0.12 * (max(ends) - min(ends) or 1.0)
    left, right = min(ends) - pad, max(ends) + pad
    with rc_context(_SVG_RC):
        height = 1.55 + 0.42 * len(rows) + (0.85 if superiority else 0)
        figure = Figure(figsize=(4.4, height), layout="constrained")
        ratios = [len(rows) + 0.4, 1] if superiority else [1]
        grid = figure.add_gridspec(len(ratios), 1, height_ratios=ratios)
        axes = figure.add_subplot(grid[0])
        for y, row in enumerate(rows):
            low = left if row.open_low else row.low
            axes.barh(
                y,
                row.high - low,
                left=low,
                height=0.46,
                color=METHOD_COLOR,
                alpha=0.35 if row.open_low else 0.7,
                lw=0,
            )
            if row.open_low:  # the bound itself, as a cap: the bar has no left end
                axes.vlines(row.high, y - 0.23, y + 0.23, color=METHOD_COLOR, lw=2)
            if row.point is not None:
                axes.vlines(row.point, y - 0.3, y + 0.3, color="#1d2430", lw=2)
        axes.axvline(0, color=BASELINE_COLOR, lw=1.1, ls="--", label="no gain (0)")
        axes.axvline(claimed, color=CLAIM_COLOR, lw=1.6, label=f"claimed {fmt.signed(claimed)}")
        axes.set_yticks(range(len(rows)), [r.label for r in rows])
        axes.set_ylim(len(rows) - 0.4, -0.6)
        axes.set_xlim(left, right)
        axes.set_xlabel("gap: method − baseline (> 0: method better)")
        _legend_above(axes, columns=2)
        alt = f"{words}; the claimed gap is {fmt.signed(claimed)}."
        if superiority is not None:
            assert superiority.statistic is not None and superiority.interval is not None
            span = superiority.interval
            lower = figure.add_subplot(grid[1])
            lower.barh(
                0,
                span.high - span.low,
                left=span.low,
                height=0.46,
                color=METHOD_COLOR,
                alpha=0.7,
                lw=0,
            )
            lower.vlines(superiority.statistic, -0.3, 0.3, color="#1d2430", lw=2)
            lower.axvline(0.5, color=BASELINE_COLOR, lw=1.1, ls="--")
            lower.set_xlim(0, 1)
            lower.set_ylim(0.6, -0.6)
            lower.set_yticks([0], [f"P(impr.), {span.level:.0%}"])
            lower.set_xlabel("chance a method seed beats a baseline seed")
            alt += (
                f" P(improvement) is {superiority.statistic:.2f}, {span.level:.0%} interval "
                f"[{span.low:.2f}, {span.high:.2f}] (0.5: no difference)."
            )
        return Plot("The gap against 0 and the claimed gain", alt, _svg(figure, alt))


def _legend_above(axes: Axes, columns: int) -> None:
    """Above the axes, so the key never hides a seed (the band can fill the whole plot)."""
    # A figure legend "outside": the constrained layout reserves its rows above the axes.
    axes.figure.legend(
        loc="outside upper left",
        ncols=columns,
        frameon=False,
        borderaxespad=0,
        handlelength=1.6,
        columnspacing=1.2,
    )
