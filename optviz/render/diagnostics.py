"""Four panels against step: loss, distance to the nearest known minimum, lr in force, gradient norm.

Each optimizer keeps its colour and marker from the other figures; with many
starts a panel shows the median and the interquartile band. A panel turns
logarithmic when its values span decades (a StepLR staircase, a gradient norm
shrinking to 1e-8). A diverged optimizer is drawn up to its last finite record,
ends in an X and is named in the legend; the axis limits follow the runs that
stayed finite, so the blow-up leaves through the edge instead of flattening
every other curve. An optimizer with param groups draws one lr line per group,
in its colour with a line style per group, which the figure's legend names.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .clip import edge_crossing, exceeds, padded_limits
from .style import blank_figure, colour, diverged_label, marker, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..results import RunResult

# The panels are drawn this much larger than ``render.size``, which is one panel's worth.
SCALE = 1.5
# Decades the finite positive values must span before a panel turns logarithmic.
LOG_DECADES = 2.0
# One per param group of an optimizer, in the lr panel.
GROUP_LINESTYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class Panel:
    title: str
    ylabel: str
    values: Callable  # (result, trajectory) -> array (starts, records)
    staircase: bool = False  # constant between records: the lr in force for the step taken from there


def _distance(result, trajectory) -> np.ndarray:
    return result.function.nearest_minimum(trajectory.positions)[1]


PANELS = (
    Panel("loss", "f(x)", lambda result, trajectory: trajectory.loss),
    Panel("distance to the nearest known minimum", "distance", _distance),
    Panel("learning rate in force", "lr", lambda result, trajectory: trajectory.lr, staircase=True),
    Panel("gradient norm", "|grad f(x)|", lambda result, trajectory: trajectory.grad_norm),
)


def plot_diagnostics(result: RunResult, figure: Figure | None = None):
    """Draw the four panels of ``result`` into ``figure`` (a new one if None); return the 2x2 array of Axes."""
    render = result.config.render
    if figure is None:
        figure = blank_figure(tuple(side * SCALE for side in render.size), render.dpi)
    grid = figure.subplots(2, 2, sharex=True, squeeze=False)
    for axes, panel in zip(grid.ravel(), PANELS):
        if panel.values is _distance and not result.function.minima:
            _no_minima(axes, result.function.name)
            continue
        _draw_panel(axes, result, panel)
    for axes in grid[-1]:
        axes.set_xlabel("step")
    handles = [line for line in grid[0, 0].get_lines() if not line.get_label().startswith("_")] + _group_keys(result)
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize="small",
                  framealpha=0.9)
    figure.suptitle(f"{result.function.name}: diagnostics over {result.config.steps} steps")
    return grid


def _no_minima(axes, name: str) -> None:
    axes.set_title("distance to the nearest known minimum", fontsize="medium")
    axes.text(0.5, 0.5, f"{name} has no known minima", transform=axes.transAxes, ha="center", va="center",
              color="0.4")
    axes.tick_params(left=False, labelleft=False)


def _draw_panel(axes, result, panel: Panel) -> None:
    curves, healthy, ends = [], [], []
    count = len(result.trajectories)
    for index, trajectory, values, group, linestyle in _series(result, panel):
        steps = trajectory.steps
        every = max(1, len(steps) // 12)
        # Markers shifted per optimizer, so curves that coincide (the same lr) stay told apart.
        style = dict(color=colour(index), marker=marker(index), markersize=5, markeredgecolor="black",
                     markeredgewidth=0.5, markevery=(index * every // count, every), linewidth=1.5,
                     drawstyle="steps-post" if panel.staircase else "default", linestyle=linestyle)
        healthy.extend([values[~trajectory.diverged].ravel(), values[:, 0]])
        if len(values) == 1:
            diverged = int(trajectory.diverged_step[0])
            if diverged >= 0:
                # The record that diverged may still hold a finite lr: end every panel at the same step.
                values = values.copy()
                values[0, int(trajectory.last_finite()[0]) + 1:] = np.nan
            axes.plot(steps, values[0], label=diverged_label(trajectory, _named(trajectory.label, group)), **style)
            curves.append(values[0])
            if diverged >= 0:
                last = int(trajectory.last_finite()[0])
                ends.append((steps[: last + 1], values[0, : last + 1], colour(index)))
        else:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # steps where every start has diverged
                lower, median, upper = np.nanpercentile(values, [25, 50, 75], axis=0)
            diverged = int(trajectory.diverged.sum())
            over = f" over {result.rows_in_words()}" if result.noisy else ""
            label = diverged_label(trajectory, f"{_named(trajectory.label, group)} (median, IQR{over})" +
                                   (f"; {diverged} of {len(values)} diverged" if diverged else ""))
            axes.plot(steps, median, label=label, **style)
            axes.fill_between(steps, lower, upper, color=colour(index), alpha=0.2, linewidth=0,
                              step="post" if panel.staircase else None)
            curves.extend([lower, upper])
    values = np.concatenate(healthy) if healthy else np.array([])
    log = _spans_decades(values)
    if log:
        axes.set_yscale("log")
    minimum = result.function.min_value
    if panel is PANELS[0] and minimum is not None and (not log or minimum > 0):
        axes.axhline(minimum, color="0.3", linestyle=":", linewidth=1, label=f"global minimum {minimum:.4g}")
        values = np.append(values, minimum)
    limits = padded_limits(values, log=log)
    if limits is not None and any(exceeds(curve, limits) for curve in curves):
        axes.set_ylim(*limits)
    for steps, values, line_colour in ends:
        crossing = edge_crossing(steps, values, axes.get_xlim(), axes.get_ylim(), log_y=log)
        end_x, end_y = crossing if crossing is not None else (steps[-1], values[-1])
        axes.plot(end_x, end_y, marker="X", markersize=10, color=line_colour, markeredgecolor="black",
                  linestyle="none", zorder=5, clip_on=crossing is None, label="_diverged")
    axes.set_title(panel.title, fontsize="medium")
    axes.set_ylabel(panel.ylabel)
    axes.grid(True, which="major", alpha=0.3)


def _series(result, panel: Panel):
    """(optimizer index, trajectory, values (starts, records), param group name or None, line style) of each
    line of ``panel``: one per optimizer, or in the lr panel one per param group of an optimizer that has them."""
    for index, trajectory in enumerate(result):
        if panel.staircase and trajectory.group_lr is not None:
            for number, name in enumerate(trajectory.group_names):
                yield (index, trajectory, np.asarray(trajectory.group_lr[:, number], dtype=float), name,
                       GROUP_LINESTYLES[number % len(GROUP_LINESTYLES)])
        else:
            yield index, trajectory, np.asarray(panel.values(result, trajectory), dtype=float), None, "-"


def _group_keys(result) -> list:
    """Legend entries for the lr panel's line styles, one per param group position: ``lr of group x``."""
    from matplotlib.lines import Line2D

    names: dict[int, list[str]] = {}
    for trajectory in result:
        for number, name in enumerate(trajectory.group_names or ()):
            if name not in names.setdefault(number % len(GROUP_LINESTYLES), []):
                names[number % len(GROUP_LINESTYLES)].append(name)
    return [Line2D([], [], color="0.25", linestyle=GROUP_LINESTYLES[number], linewidth=1.5,
                   label=f"lr of group {' / '.join(found)}") for number, found in sorted(names.items())]


def _named(label: str, group: str | None) -> str:
    """An optimizer's label, with the param group a line is of: ``SGD, group x``."""
    return label if group is None else f"{label}, group {group}"


def _spans_decades(values: np.ndarray) -> bool:
    """True when no value is negative and the positive ones spread over ``LOG_DECADES``.

    Zeros are allowed (an optimizer landing exactly on a minimum): a log axis leaves them out.
    """
    finite = values[np.isfinite(values)]
    positive = finite[finite > 0]
    if positive.size == 0 or np.any(finite < 0):
        return False
    with np.errstate(over="ignore"):
        return bool(np.log10(positive.max() / positive.min()) >= LOG_DECADES)


def save_diagnostics(result: RunResult, path: str | Path) -> Path:
    """Write ``diagnostics.png`` (or .svg/.pdf by suffix) for ``result``; it is ``SCALE`` times ``render.size``."""
    render = result.config.render
    figure = blank_figure(tuple(side * SCALE for side in render.size), render.dpi)
    plot_diagnostics(result, figure)
    return save_figure(figure, path, note=result.config.figure_note)
