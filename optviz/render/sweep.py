"""A sweep's figures: every cell's loss curve coloured by a swept value, final loss over two
swept keys as a heatmap, and each optimizer's best cell drawn over the function.

Each takes a :class:`~optviz.results.sweep.SweepResult` and draws one panel per optimizer of
the config (a lone panel for the usual one-optimizer sweep).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..load.sweep import Axis, show
from .clip import edge_crossing, padded_limits
from .style import save_figure, spans_decades

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..results.sweep import SweepResult

CURVE_COLOURS = "viridis"
HEATMAP_COLOURS = "viridis"
# At most this many ticks along a heatmap's side: every k-th value is labelled.
TICKS = 8
# A heatmap of at most this many squares a side writes each square's number in it.
ANNOTATED_SIDE = 10


def colour_axis(result: SweepResult, label: str) -> Axis | None:
    """The axis that colours ``label``'s curves: its first one with more than one value."""
    return next((axis for axis in result.sweep.axes_of(label) if len(axis.values) > 1), None)


def grid_axes(result: SweepResult, label: str) -> list[Axis]:
    """``label``'s axes with more than one value: the first two span its heatmap."""
    return [axis for axis in result.sweep.axes_of(label) if len(axis.values) > 1]


def heatmap_labels(result: SweepResult) -> list[str]:
    """The optimizers with two or more swept keys, which get a heatmap."""
    return [label for label in result.sweep.labels if len(grid_axes(result, label)) >= 2]


def _panels(result, count: int, domain=None):
    from .panels import panel_figure

    figure, panels, _ = panel_figure(result.sweep.config.render, count, domain)
    return figure, panels


# --- loss curves ----------------------------------------------------------------------------


def plot_sweep_loss(result: SweepResult, figure: Figure | None = None):
    """Every cell's loss against step on one axes per optimizer, coloured by its swept value; returns the Figure.

    This is the seed lesson's figure (one curve per learning rate), with a colour bar in
    place of a legend so that any number of cells stays readable.
    """
    labels = result.sweep.labels
    if figure is None:
        figure, panels = _panels(result, len(labels))
    else:
        panels = figure.axes
    curves = [outcome.curve for outcome in result.outcomes]
    healthy = [outcome.curve for outcome in result.outcomes if outcome.score.diverged_starts == 0
               and not outcome.score.error]
    values = np.concatenate(healthy or curves)
    log = spans_decades(values[values > 0]) if (values > 0).any() else False
    for panel, label in zip(panels, labels):
        _curves(panel, result, label, log)
    # Set rather than autoscaled: a diverged curve's 1e300 would overflow the log transform.
    limits = padded_limits(values, log=log)
    if limits is not None:
        panels[0].set_ylim(*limits)  # shared by every panel
    last = max(outcome.steps[-1] for outcome in result.outcomes)
    if result.sweep.network:  # epochs 1 .. E, whole numbers
        from matplotlib.ticker import MaxNLocator

        panels[0].set_xlim(*((1, last) if last > 1 else (0.5, 1.5)))
        for panel in panels:
            panel.xaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        panels[0].set_xlim(0, last)
    for panel, label in zip(panels, labels):
        _mark_diverged(panel, result, label)
    _label_outer(panels)
    axes = {axis.name for axis in (colour_axis(result, label) for label in labels) if axis is not None}
    coloured = f", coloured by {', '.join(sorted(axes))}" if axes else ""
    what = "valid loss" if result.sweep.network else "loss"
    figure.suptitle(f"{result.sweep.subject}: {what} of every cell{coloured}")
    return figure


def _curves(axes, result, label: str, log: bool) -> None:
    from matplotlib.collections import LineCollection

    # Diverged curves first, so the ones that stayed finite are drawn over them.
    outcomes = sorted(result.of(label), key=lambda outcome: outcome.score.status not in ("diverged", "failed"))
    axis = colour_axis(result, label)
    count = len(outcomes)
    width, alpha = (1.8, 1.0) if count <= 12 else (1.0, 0.8) if count <= 100 else (0.6, 0.5)
    segments = [np.column_stack([outcome.steps, outcome.curve]) for outcome in outcomes]
    if axis is None:
        colours = ["#0072B2"] * count
    else:
        mappable = _mappable(axis)
        colours = [mappable.to_rgba(_position(axis, outcome.cell.values[axis.key])) for outcome in outcomes]
        bar = axes.figure.colorbar(mappable, ax=axes, pad=0.02)
        _label_bar(bar, axis)
        _stability_on_bar(axes, bar, result, label, axis)
    if log:
        axes.set_yscale("log", nonpositive="clip")  # a loss of exactly 0 drops to the bottom edge
    axes.add_collection(LineCollection(segments, colors=colours, linewidths=width, alpha=alpha, zorder=2),
                        autolim=False)
    minimum = _minimum(result)
    if minimum is not None and (not log or minimum > 0):
        axes.axhline(minimum, color="0.3", linestyle=":", linewidth=1, zorder=1, label=f"global minimum {minimum:.4g}")
    diverged = sum(outcome.score.status in ("diverged", "failed") for outcome in outcomes)
    starts = outcomes[0].score.starts
    if result.sweep.network:
        what = "valid loss" if starts == 1 else f"mean valid loss over {starts} seeds"
    else:
        what = "loss" if starts == 1 else f"median loss over {outcomes[0].score.over}"
    axes.set_title(f"{label}: {count} cell{'s' if count != 1 else ''}" + (f", {diverged} diverged" if diverged else ""))
    axes.set_xlabel("epoch" if result.sweep.network else "step")
    axes.set_ylabel(what)
    axes.grid(True, which="both", alpha=0.3)


def stability(result: SweepResult, label: str) -> tuple[float, str] | None:
    """The lr past which theory says ``label``'s SGD diverges on the sweep's quadratic and how it reads
    (:func:`optviz.results.theory.stability_limits`); None where theory does not say, or where another
    swept key (momentum, say) changes it from cell to cell."""
    from ..results.theory import stability_limits

    sweep = result.sweep
    if sweep.function is None or sweep.config.noise:
        return None
    if any(axis.name not in ("lr", "steps", "start") for axis in grid_axes(result, label)):
        return None
    return stability_limits(sweep.function, sweep.config.optimizers).get(sweep.labels.index(label))


def _stability_on_bar(axes, bar, result, label: str, axis: Axis) -> None:
    """Where the lr colours a sweep's curves: its stability limit as a line across the colour bar, and in words."""
    found = stability(result, label) if axis.name == "lr" else None
    if found is None:
        return
    limit, text = found
    low, high = min(axis.values), max(axis.values)
    if low <= limit <= high:
        bar.ax.axhline(limit, color="black", linestyle=(0, (4, 2)), linewidth=1.6)
        bar.ax.axhline(limit, color="white", linestyle=(2, (2, 4)), linewidth=1.6)
    where = "dashed on the colour bar" if low <= limit <= high else "above every lr swept" if limit > high \
        else "below every lr swept"
    axes.plot([], [], color="black", linestyle=(0, (4, 2)) if low <= limit <= high else "none", linewidth=1.6,
              label=f"theory: stable for {text}\n({where})")


def _minimum(result) -> float | None:
    """The function's known minimum value; None for a network."""
    function = result.sweep.function
    return None if function is None else function.min_value


def _mark_diverged(axes, result, label: str) -> None:
    """An X where each diverged curve left the plot (or ended), for up to 50 cells; a legend entry for all."""
    outcomes = [outcome for outcome in result.of(label) if outcome.score.status in ("diverged", "failed")]
    log = axes.get_yscale() == "log"
    for outcome in outcomes[:50]:
        finite = np.isfinite(outcome.curve)
        if not finite.any():
            continue
        last = int(np.flatnonzero(finite)[-1])
        steps, loss = outcome.steps[: last + 1], outcome.curve[: last + 1]
        crossing = edge_crossing(steps, loss, axes.get_xlim(), axes.get_ylim(), log_y=log)
        end_x, end_y = crossing if crossing is not None else (steps[-1], loss[-1])
        axes.plot(end_x, end_y, marker="X", markersize=8, color="0.25", markeredgecolor="white", linestyle="none",
                  zorder=4, clip_on=crossing is None)
    if outcomes:
        axes.plot([], [], marker="X", markersize=8, color="0.25", markeredgecolor="white", linestyle="none",
                  label=f"diverged ({len(outcomes)})")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best", fontsize="small")


def _mappable(axis: Axis):
    """Colours for the axis's values: a log or linear scale for numbers, one colour per value otherwise."""
    from matplotlib import cm, colormaps, colors

    count = len(axis.values)
    if not axis.numeric:
        cmap = colors.ListedColormap(colormaps[CURVE_COLOURS](np.linspace(0, 0.9, count)))
        return cm.ScalarMappable(norm=colors.BoundaryNorm(np.arange(count + 1) - 0.5, count), cmap=cmap)
    values = np.asarray(axis.values, dtype=float)
    low, high = values.min(), values.max()
    norm = colors.LogNorm(low, high) if axis.log else colors.Normalize(low, high)
    return cm.ScalarMappable(norm=norm, cmap=CURVE_COLOURS)


def _position(axis: Axis, value) -> float:
    """Where a value sits on its colour scale: the value itself, or its index for values that are not numbers."""
    return float(value) if axis.numeric else float(axis.values.index(value))


def _label_bar(bar, axis: Axis) -> None:
    from matplotlib import ticker

    bar.set_label(axis.name + (" (log scale)" if axis.log else ""))
    if not axis.numeric:
        bar.set_ticks(np.arange(len(axis.values)), labels=[show(value) for value in axis.values])
    elif axis.log:
        bar.locator = ticker.LogLocator()
        bar.formatter = ticker.LogFormatterSciNotation()
        bar.update_ticks()


def _label_outer(panels: list) -> None:
    from .panels import label_outer

    label_outer(panels)


def save_sweep_loss(result: SweepResult, path: str | Path) -> Path:
    """Write ``sweep-loss.png`` (or .svg/.pdf by suffix)."""
    return save_figure(plot_sweep_loss(result), path, note=result.sweep.config.render.note)


# --- heatmap --------------------------------------------------------------------------------


def plot_sweep_heatmap(result: SweepResult, figure: Figure | None = None):
    """Final loss over the first two swept keys of each optimizer that has two, log colours,
    diverged cells hatched and the best cell starred; returns the Figure.

    With a third swept key, each square shows the best value over it (the title says so).
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .panels import panel_grid
    from .style import blank_figure

    labels = heatmap_labels(result)
    if not labels:
        raise ValueError("a heatmap needs an optimizer with two swept keys of two or more values each")
    if figure is None:
        # Not panel_figure's shared axes: each optimizer has its own keys and values.
        rows, columns = panel_grid(len(labels))
        render = result.sweep.config.render
        figure = blank_figure((max(render.size[0], 5.8 * columns), 4.8 * rows + 0.6), render.dpi)
        cells = list(figure.subplots(rows, columns, squeeze=False).flat)
        for spare in cells[len(labels):]:
            spare.set_axis_off()
        panels = cells[: len(labels)]
    else:
        panels = figure.axes
    diverged = [_heatmap(panel, result, label) for panel, label in zip(panels, labels)]
    handles = [Line2D([], [], marker="*", markersize=13, color="white", markeredgecolor="black", linestyle="none",
                      label="best")]
    if any(diverged):
        many = "a seed or more" if result.sweep.network else "half the starts or more"
        handles.insert(0, Patch(facecolor="0.85", edgecolor="0.4", hatch="xxx",
                                label=f"diverged (from {many})" if result.outcomes[0].score.starts > 1
                                else "diverged"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small", frameon=False)
    sweep = result.sweep
    starts = result.outcomes[0].score.starts
    if sweep.network:
        over = f" (mean over {starts} seeds)" if starts > 1 else ""
        figure.suptitle(f"{sweep.subject}: final valid loss of every cell after {sweep.config.problem.epochs} epochs"
                        f"{over}" if not any(axis.name == "epochs" for axis in sweep.axes) else
                        f"{sweep.subject}: final valid loss of every cell{over}")
        return figure
    over = f" (median over {result.outcomes[0].score.over})" if starts > 1 else ""
    figure.suptitle(f"{sweep.subject}: final loss of every cell after {sweep.config.steps} steps{over}"
                    if not any(axis.name == "steps" for axis in sweep.axes) else
                    f"{sweep.subject}: final loss of every cell{over}")
    return figure


def _heatmap(axes, result, label: str) -> bool:
    """One optimizer's heatmap; returns whether any square is hatched."""
    from matplotlib import colors, ticker
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    x_axis, y_axis, *rest = grid_axes(result, label)
    outcomes = result.of(label)
    grid = np.full((len(y_axis.values), len(x_axis.values)), np.inf)
    for outcome in outcomes:
        column = x_axis.values.index(outcome.cell.values[x_axis.key])
        row = y_axis.values.index(outcome.cell.values[y_axis.key])
        grid[row, column] = min(grid[row, column], outcome.score.value("median-final-loss"))
    broken = ~np.isfinite(grid)
    shown, bar_label, norm = _heatmap_scale(grid, broken, _minimum(result))
    if result.sweep.network:
        bar_label = bar_label.replace("final loss", "final valid loss")
    mesh = axes.pcolormesh(np.arange(grid.shape[1] + 1) - 0.5, np.arange(grid.shape[0] + 1) - 0.5,
                           np.ma.masked_array(shown, broken), norm=norm, cmap=HEATMAP_COLOURS, zorder=1)
    bar = axes.figure.colorbar(mesh, ax=axes, pad=0.02)
    bar.set_label(bar_label)
    if isinstance(norm, colors.LogNorm):
        bar.locator = ticker.LogLocator()
        bar.formatter = ticker.LogFormatterSciNotation()
        bar.update_ticks()
    rows, cols = np.nonzero(broken)
    if rows.size:
        axes.add_collection(PatchCollection([Rectangle((col - 0.5, row - 0.5), 1, 1) for row, col in zip(rows, cols)],
                                            facecolor="0.85", edgecolor="0.4", hatch="xxx", linewidth=0, zorder=1))
    if max(grid.shape) <= ANNOTATED_SIDE:
        for (row, col), value in np.ndenumerate(grid):
            if np.isfinite(value):
                light = mesh.cmap(mesh.norm(shown[row, col]))[:3]
                axes.text(col, row, f"{value:.2g}", ha="center", va="center", fontsize="x-small", zorder=3,
                          color="black" if np.dot(light, [0.299, 0.587, 0.114]) > 0.5 else "white", clip_on=True)
    best = result.best(label)
    column = x_axis.values.index(best.cell.values[x_axis.key])
    row = y_axis.values.index(best.cell.values[y_axis.key])
    if np.isfinite(best.score.final_loss):
        axes.plot(column, row, marker="*", markersize=15, color="white", markeredgecolor="black", zorder=4)
    _ticks(axes.xaxis, x_axis)
    _ticks(axes.yaxis, y_axis)
    axes.set_xlim(-0.5, grid.shape[1] - 0.5)
    axes.set_ylim(-0.5, grid.shape[0] - 0.5)
    axes.set_xlabel(x_axis.name + (" (log-spaced)" if x_axis.log else ""))
    axes.set_ylabel(y_axis.name + (" (log-spaced)" if y_axis.log else ""))
    over = f"\neach square: the best over {', '.join(axis.name for axis in rest)}" if rest else ""
    axes.set_title(f"{label}: best {best.cell.describe().removeprefix(label).strip()}{over}", fontsize="medium")
    return bool(rows.size)


def _heatmap_scale(grid: np.ndarray, broken: np.ndarray, minimum: float | None):
    """What the colours show (final loss, or its excess over the known minimum), its label and norm."""
    from matplotlib import colors

    shown, label = grid, "final loss"
    if minimum is not None and minimum != 0 and (grid[~broken] >= minimum).all():
        shown, label = grid - minimum, f"final loss - ({minimum:.4g})"
    values = shown[~broken]
    positive = values[values > 0]
    if positive.size and (values >= 0).all() and spans_decades(positive, 1.0):
        floor = positive.min()
        # An exact 0 (a cell that landed on the minimum) takes the lowest colour.
        return np.maximum(shown, floor), label + " (log scale)", colors.LogNorm(floor, positive.max())
    low, high = (values.min(), values.max()) if values.size else (0.0, 1.0)
    return shown, label, colors.Normalize(low, high)


def _ticks(axis, swept: Axis) -> None:
    """Every k-th value labelled, at most :data:`TICKS`; long labels on the x axis slanted."""
    count = len(swept.values)
    every = max(1, int(np.ceil(count / TICKS)))
    positions = list(range(0, count, every))
    labels = [f"{swept.values[position]:.2g}" if isinstance(swept.values[position], float)
              else show(swept.values[position]) for position in positions]
    axis.set_ticks(positions, labels=labels)
    if axis.axis_name == "x" and max(len(label) for label in labels) > 4:
        for text in axis.get_ticklabels():
            text.set(rotation=30, ha="right", rotation_mode="anchor")


def save_sweep_heatmap(result: SweepResult, path: str | Path) -> Path:
    """Write ``sweep-heatmap.png`` (or .svg/.pdf by suffix)."""
    return save_figure(plot_sweep_heatmap(result), path, note=result.sweep.config.render.note)


# --- the best cell --------------------------------------------------------------------------


def plot_sweep_best(result: SweepResult, figure: Figure | None = None, *, criterion: str = "median-final-loss"):
    """Each optimizer's best cell (lowest ``criterion``) drawn over the function: its paths over the
    contour map, or its points on the curve in 1D; returns the Figure."""
    from .path import plot_path

    sweep = result.sweep
    labels = sweep.labels
    domain = sweep.domain
    if figure is None:
        figure, panels = _panels(result, len(labels), domain if len(domain) == 2 else None)
    else:
        panels = figure.axes
    for index, (panel, label) in enumerate(zip(panels, labels)):
        best = result.best(label, criterion)
        run = result.load(best.cell)
        alone = len(panels) == 1
        plot_path(run, panel, colorbar=True if alone else (panels if index == len(panels) - 1 else False),
                  legend=alone)
        values = best.cell.describe().removeprefix(label).strip()
        outcome = _describe_best(best.score)
        panel.set_title(f"{label}: {values}\n{outcome}", fontsize="medium")
    if len(panels) > 1:
        _label_outer(panels)
        _path_legend(figure, any(result.best(label, criterion).score.diverged_starts for label in labels))
    cells = len(sweep.cells)
    figure.suptitle(f"{sweep.function.name}: the best of {cells} cells"
                    + (" for each optimizer" if len(labels) > 1 else "") + " (lowest final loss)")
    return figure


def _path_legend(figure, diverged: bool) -> None:
    from matplotlib.lines import Line2D

    neutral = dict(color="0.3", linestyle="none")
    handles = [Line2D([], [], color="0.3", alpha=0.6, label="path"),
               Line2D([], [], marker="o", markerfacecolor="white", markersize=5, **neutral, label="start"),
               Line2D([], [], marker="o", markeredgecolor="black", markersize=6, **neutral, label="end"),
               Line2D([], [], marker="*", markerfacecolor="white", markeredgecolor="black", markersize=11,
                      linestyle="none", label="known minimum")]
    if diverged:
        handles.append(Line2D([], [], marker="X", markeredgecolor="black", markersize=8, **neutral,
                              label="last point before diverging"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small", frameon=False)


def _describe_best(score) -> str:
    if not np.isfinite(score.final_loss):
        return "every cell diverged; this one lasted longest" if score.diverged_starts else "no cell finished"
    loss = f"final loss {score.final_loss:.3g}" if score.starts == 1 else \
        f"median final loss {score.final_loss:.3g} over {score.over}"
    return loss + (f", converged at step {score.converged_step:.0f}" if np.isfinite(score.converged_step) else "")


def save_sweep_best(result: SweepResult, path: str | Path) -> Path:
    """Write ``sweep-best.png`` (or .svg/.pdf by suffix)."""
    return save_figure(plot_sweep_best(result), path, note=result.sweep.config.render.note)


def plot_network_sweep_best(result: SweepResult):
    """A network sweep's best cell of each optimizer (lowest final valid loss): their curves.png
    (:func:`~optviz.render.network.plot_curves`) on one axes, each labelled with its cell; returns the Figure."""
    import dataclasses

    from ..results.network import NetworkResult
    from .network import plot_curves
    from .style import new_figure

    sweep = result.sweep
    runs = []
    first = None
    for label in sweep.labels:
        best = result.best(label)
        found = result.load(best.cell)
        first = first or found
        runs += [dataclasses.replace(run, label=best.cell.describe()) for run in found.runs]
    combined = NetworkResult(config=sweep.config, task=first.task, classes=first.classes,
                             parameters=first.parameters, runs=runs)
    figure, axes = new_figure(sweep.config.render.size, sweep.config.render.dpi)
    plot_curves(combined, axes)
    cells = len(sweep.cells)
    axes.set_title(f"{sweep.subject}: the best of {cells} cells" + (" for each optimizer" if len(sweep.labels) > 1
                                                                     else "") + " (lowest final valid loss)",
                   fontsize="medium")
    return figure


def save_network_sweep_best(result: SweepResult, path: str | Path) -> Path:
    """Write a network sweep's ``sweep-best.png`` (or .svg/.pdf by suffix): :func:`plot_network_sweep_best`."""
    return save_figure(plot_network_sweep_best(result), path, note=result.sweep.config.render.note)
