"""The report's plots: matplotlib figures as deterministic inline SVG, each with a text alternative."""

from __future__ import annotations

import io
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

from repaudit import stats as repaudit_stats
from repaudit.model import Arm, ClaimKind, ClaimResult

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


def plots(result: ClaimResult) -> list[Plot]:
    """Every plot for one claim: its seeds, method beside baseline, and the gap under seed noise.

    The method arm (the first) must have at least one successful seed.
    """
    drawn = [_seeds_plot(result)]
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


def _seeds_plot(result: ClaimResult) -> Plot:
    claim, method = result.claim, result.arms[0]
    interval = result.reproduction.prediction_interval
    with rc_context(_SVG_RC):
        figure, axes = _figure(3.0)  # the key above takes three rows
        seeds = np.arange(1, method.n + 1)
        if interval is not None:
            axes.axhspan(
                interval.low, interval.high, color=BAND_COLOR, lw=0, label="95% prediction interval"
            )
        axes.axhline(method.mean, color=METHOD_COLOR, lw=0.8, ls=":", label="re-run mean")
        axes.axhline(claim.value, color=CLAIM_COLOR, lw=1.4, label=f"claim {claim.value:g}")
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
        axes.set_xlabel("successful seed (in seed order)")
        axes.set_ylabel(claim.metric)
        axes.set_xticks(seeds if method.n <= 12 else seeds[:: max(1, method.n // 10)])
        _legend_above(axes, columns=2)
        reached = result.reproduction.seeds_reaching
        band = (
            (
                f"; the 95% prediction interval for one new seed is {interval.low:.4g} "
                f"to {interval.high:.4g}"
            )
            if interval
            else ""
        )
        alt = (
            f"{method.n} successful method seeds between {method.minimum:.4g} and "
            f"{method.maximum:.4g}, mean {method.mean:.4g}; the claimed {claim.value:.4g} "
            f"is reached by {reached} of {method.n}{band}."
        )
        return Plot(
            f"Every seed of the method against the claimed {claim.metric}", alt, _svg(figure, alt)
        )


def _arms_plot(result: ClaimResult) -> Plot:
    claim = result.claim
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
                    f"claim {claimed:g}",
                    (position + 0.4, claimed),
                    color=CLAIM_COLOR,
                    va="center",
                )
        axes.set_xticks(range(len(result.arms)), [a.arm for a in result.arms])
        axes.set_xlim(-0.6, len(result.arms) - 0.1)
        axes.set_ylabel(claim.metric)
        parts = [
            f"{a.arm}: {a.n} seeds, median {a.median:.4g}, mean {a.mean:.4g}" for a in result.arms
        ]
        alt = "; ".join(parts) + (
            f". Claimed: method {claim.value:.4g}, baseline {claim.baseline:.4g}."
            if claim.baseline is not None
            else "."
        )
        return Plot(
            "Method beside baseline, with both claimed numbers (dashed)", alt, _svg(figure, alt)
        )


def _gap_plot(result: ClaimResult) -> Plot | None:
    """The gap seed noise alone produces: between the arms' means, or between two single runs."""
    improvement = result.improvement
    method = result.arms[0]
    if improvement is None or method.n < 2 or method.sd == 0:
        return None
    if len(result.arms) > 1 and result.arms[1].n >= 2:
        baseline = result.arms[1]
        tests = repaudit_stats.gap_tests(
            np.asarray(method.values), np.asarray(baseline.values), improvement.claimed_gap
        )
        scale, dof = float(tests.se), float(tests.df)
        what = "difference of the two arms' means"
    else:
        runs = result.claim.runs if result.claim.kind is ClaimKind.MEAN else 1
        scale, dof = method.sd * float(np.sqrt(2 / runs)), method.n - 1
        what = "difference between two runs of the same method"
    noise = stats.t(dof, scale=scale)
    with rc_context(_SVG_RC):
        figure, axes = _figure(2.3)
        limit = max(
            4 * scale,
            abs(improvement.claimed_gap) * 1.15,
            abs(improvement.observed_gap or 0) * 1.15,
        )
        grid = np.linspace(-limit, limit, 400)
        density = noise.pdf(grid)
        axes.plot(grid, density, color=BASELINE_COLOR, lw=1.2)
        # Shade what the deciding number measures: beyond the observed gap with baseline runs
        # (the one-sided p), beyond the claimed gap without (the seed-luck chance).
        edge = (
            improvement.claimed_gap
            if improvement.observed_gap is None
            else improvement.observed_gap
        )
        tail = grid >= edge
        axes.fill_between(grid[tail], density[tail], color=CLAIM_COLOR, alpha=0.18, lw=0)
        axes.axvline(
            improvement.claimed_gap,
            color=CLAIM_COLOR,
            lw=1.4,
            ls="--",
            label=f"claimed gap {improvement.claimed_gap:+.3g}",
        )
        if improvement.observed_gap is not None:
            axes.axvline(
                improvement.observed_gap,
                color=METHOD_COLOR,
                lw=1.4,
                label=f"observed gap {improvement.observed_gap:+.3g}",
            )
        axes.set_yticks([])
        axes.spines["left"].set_visible(False)
        axes.set_xlabel(f"{what} (positive = method better)", wrap=True)
        _legend_above(axes, columns=2)
        alt = (
            f"Under seed noise alone the {what} is spread with standard error {scale:.3g}; "
            f"it reaches the claimed gap of {improvement.claimed_gap:+.3g} with chance "
            f"{noise.sf(improvement.claimed_gap):.2g}."
        )
        if improvement.observed_gap is not None:
            alt += (
                f" The re-runs show {improvement.observed_gap:+.3g}; noise alone gives at "
                f"least that with chance {noise.sf(edge):.2g} (shaded)."
            )
        return Plot("How large a gap seed noise alone produces", alt, _svg(figure, alt))


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
