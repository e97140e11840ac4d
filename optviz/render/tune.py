"""``tune.png``: the tuning criterion against lr for every optimizer, and the best optimizer at each lr.

Where the curves cross, the ranking of the optimizers changes with the lr; the strip
along the bottom shows the winner at each lr in its colour, so a comparison made at
one hand-picked lr can be read for what it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..results.scores import CRITERION_TEXT, HIGHER_IS_BETTER
from .clip import padded_limits
from .style import blank_figure, colour, marker, save_figure, spans_decades

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..results.tune import Tuning

# An optimizer leads at an lr when it is ahead of the next by more than this share of the
# plotted range; closer than that, the strip shows no winner.
TIE = 0.005


def plot_tune(tuning: Tuning, figure: Figure | None = None):
    """Draw the criterion against lr per optimizer (chosen lrs starred, diverged lrs as X along the
    top) above a strip of the best optimizer at each lr; returns the Figure."""
    config = tuning.config
    function = tuning.function
    if figure is None:
        render = config.render
        figure = blank_figure((render.size[0] + 1.0, render.size[1]), render.dpi)
    axes, strip = figure.subplots(2, 1, sharex=True, height_ratios=[1, 0.07])
    shown, label = _shown(tuning, None if function is None else function.min_value)
    finite = np.concatenate([values[np.isfinite(values)] for values in shown.values()])
    log = finite.size > 0 and (finite > 0).all() and spans_decades(finite)
    axes.set_xscale("log")
    if log:
        axes.set_yscale("log")
    limits = padded_limits(finite, log=log)
    if limits is not None:
        axes.set_ylim(*limits)
    top = axes.get_ylim()[1]
    for index, (name, values) in enumerate(shown.items()):
        ok = np.isfinite(values)
        chosen = tuning.chosen[name]
        text = f"{name}: lr {chosen:.3g}" if chosen is not None else f"{name}: every lr diverged"
        axes.plot(tuning.lrs, np.where(ok, values, np.nan), color=colour(index), marker=marker(index), markersize=4,
                  linewidth=1.5, label=text, zorder=3)
        if (~ok).any():
            axes.plot(tuning.lrs[~ok], np.full((~ok).sum(), top), linestyle="none", marker="X", markersize=7,
                      color=colour(index), markeredgecolor="black", markeredgewidth=0.5, clip_on=False, zorder=4)
        if chosen is not None:
            at = int(np.flatnonzero(tuning.lrs == chosen)[0])
            axes.plot(chosen, values[at], marker="*", markersize=17, color=colour(index), markeredgecolor="black",
                      linestyle="none", zorder=5)
    axes.plot([], [], marker="X", color="0.4", markeredgecolor="black", linestyle="none",
              label="a seed or more diverged" if tuning.network else "half the starts or more diverged")
    axes.plot([], [], marker="*", markersize=12, color="0.4", markeredgecolor="black", linestyle="none",
              label="chosen lr")
    axes.set_ylabel(label)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="best", fontsize="small", framealpha=0.85)
    if tuning.network:
        data = config.problem.data
        name = str(data.get("name", "data")) if isinstance(data, dict) else str(data)
        axes.set_title(f"{name}: {CRITERION_TEXT[tuning.criterion]} over {tuning.starts} seed"
                       f"{'s' if tuning.starts != 1 else ''} against lr ({config.problem.epochs} epochs)",
                       fontsize="medium")
    else:
        axes.set_title(f"{function.name}: {CRITERION_TEXT[tuning.criterion]} over {tuning.starts} random starts "
                       f"against lr ({config.steps} steps)", fontsize="medium")
    _winners(strip, tuning, shown)
    return figure


def _shown(tuning, minimum: float | None) -> tuple[dict[str, np.ndarray], str]:
    """The values plotted per optimizer, and the axis label: a loss's excess over the known minimum,
    so a log axis can show how close each gets."""
    values = {label: tuning.values(label) for label in tuning.scores}
    text = CRITERION_TEXT[tuning.criterion]
    finite = np.concatenate([found[np.isfinite(found)] for found in values.values()])
    if tuning.criterion != "distance" and minimum is not None and finite.size and (finite >= minimum).all():
        if minimum != 0:
            values = {label: found - minimum for label, found in values.items()}
            text += f" above the minimum ({minimum:.4g})"
    return values, text


def _winners(strip, tuning, shown: dict[str, np.ndarray]) -> None:
    """The strip: at each lr, the colour of the optimizer with the lowest criterion; grey where no
    optimizer is ahead by more than :data:`TIE` of the plotted range (or every one diverged)."""
    from matplotlib.colors import to_rgb

    lrs = tuning.lrs
    table = np.vstack(list(shown.values()))
    if tuning.criterion in HIGHER_IS_BETTER:  # the best is the highest: rank the negated values
        table = -table
    finite = table[np.isfinite(table)]
    margin = TIE * (np.ptp(finite) if finite.size else 0.0)
    cells = []
    for column in table.T:
        ordered = np.sort(column)
        ahead = np.isfinite(ordered[0]) and (len(ordered) == 1 or ordered[1] - ordered[0] > margin)
        cells.append(to_rgb(colour(int(np.argmin(column)))) if ahead else to_rgb("0.85"))
    edges = np.sqrt(lrs[:-1] * lrs[1:])
    edges = np.r_[lrs[0] ** 2 / edges[0], edges, lrs[-1] ** 2 / edges[-1]]
    strip.pcolormesh(edges, [0, 1], np.array([cells]))
    strip.set_yticks([])
    strip.set_ylabel("best", rotation=0, ha="right", va="center")
    strip.set_xlabel("lr (log scale); the strip: the optimizer ahead at each lr, grey where none is")


def save_tune(tuning: Tuning, path: str | Path) -> Path:
    """Write ``tune.png`` (or .svg/.pdf by suffix)."""
    return save_figure(plot_tune(tuning), path)
