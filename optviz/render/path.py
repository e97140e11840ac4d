"""Where each optimizer went: points on the curve (1D) or paths over the contour map (2D)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..results import RunResult

from .arrows import ARROWS_NOTE, MAX_ARROW_STARTS, draw_arrows, legend_handles
from .clip import edge_crossing
from .landscape import draw_landscape
from .style import colour, diverged_label, marker, new_figure, save_figure, save_one_or_panels


# More paths than this per optimizer turn into a smear and slow the figure down: a subset
# spread over the starts is drawn and the title says how many.
MAX_PATHS = 400


def plot_path(result: RunResult, axes: Axes | None = None, *, only: int | None = None,
              colorbar: bool | list[Axes] = True, legend: bool = True):
    """Draw the function and every optimizer's path into ``axes`` (a new figure if None); return the Axes.

    ``only`` draws just the optimizer with that index (one panel of :func:`plot_path_panels`).
    """
    render = result.config.render
    if axes is None:
        _, axes = new_figure(render.size, render.dpi)
    domain = result.domain
    draw_landscape(axes, result.function, domain, resolution=render.resolution, colorbar=colorbar)
    chosen = shown_starts(result)
    for index, trajectory in enumerate(result):
        if only is not None and index != only:
            continue
        if len(trajectory.positions) > 1:
            _draw_many(axes, result.dim, trajectory, index, chosen)
            continue
        _draw_one(axes, result.dim, trajectory, index, diverged_label(trajectory))
    arrows = _draw_internals(axes, result, chosen, only)
    axes.set_title(f"{result.function.name}: {_paths(result, chosen)} over {result.config.steps} steps")
    if legend:
        axes.legend(loc="best", fontsize="small", framealpha=0.85)
        if arrows:  # under the plot, where the arrows cannot cover it
            axes.figure.legend(handles=legend_handles(arrows["preconditioned"]), loc="outside lower center",
                               ncols=4, fontsize="small", frameon=False, title=arrow_title(result),
                               title_fontsize="small")
    return axes


def arrow_title(result: RunResult) -> str:
    """The arrows' legend title: at which steps they are drawn, and how their lengths are scaled."""
    return f"At every step divisible by {result.config.render.internals.every}. {ARROWS_NOTE}"


def arrows_wanted(result: RunResult) -> bool:
    """Whether ``path.png`` draws arrows of the internals: asked for, 2D, and recorded by some optimizer."""
    return (result.dim == 2 and result.config.render.internals is not None
            and any(trajectory.internals is not None for trajectory in result))


def _draw_internals(axes, result: RunResult, chosen: np.ndarray, only: int | None) -> dict | None:
    """Arrows of -gradient, momentum and update at every ``render.internals.every``-th step of a 2D run
    (for at most :data:`MAX_ARROW_STARTS` starts of each optimizer); None when there are none to draw."""
    spec = result.config.render.internals
    if spec is None or result.dim != 2:
        return None
    drawn = None
    for index, trajectory in enumerate(result):
        if (only is not None and index != only) or trajectory.internals is None:
            continue
        # The last record takes no step: it has no update to show.
        records = np.flatnonzero(trajectory.steps[:-1] % spec.every == 0)
        rows = chosen[:MAX_ARROW_STARTS]
        draw_arrows(axes, trajectory.positions[rows], _rows(trajectory.internals, rows), records,
                    ellipse_colour=colour(index))
        drawn = drawn or {"preconditioned": False}
        drawn["preconditioned"] |= trajectory.internals.preconditioned
    return drawn


def _rows(internals, rows: np.ndarray):
    from ..results.internals import Internals

    return Internals(gradient=internals.gradient[rows], update=internals.update[rows],
                     state={name: values[rows] for name, values in internals.state.items()})


def plot_path_panels(result: RunResult, figure: Figure | None = None):
    """One panel per optimizer, each with all its starts' paths on the same landscape; return the Figure."""
    from matplotlib.lines import Line2D

    from .panels import label_outer, panel_figure

    render = result.config.render
    domain = result.domain
    if figure is None:
        figure, panels, _ = panel_figure(render, len(result.trajectories), domain if result.dim == 2 else None)
    else:
        panels = figure.axes
    for index, (panel, trajectory) in enumerate(zip(panels, result)):
        plot_path(result, panel, only=index, colorbar=panels if index == len(panels) - 1 else False, legend=False)
        diverged = int(trajectory.diverged.sum())
        panel.set_title(diverged_label(trajectory, trajectory.label + (
            f" ({diverged} of {len(trajectory.diverged)} diverged)" if diverged else "")))
    label_outer(panels)
    neutral = dict(color="0.3", linestyle="none")
    handles = [
        Line2D([], [], color="0.3", alpha=0.6, label="path"),
        Line2D([], [], marker="o", markerfacecolor="white", markersize=5, **neutral, label="start"),
        Line2D([], [], marker="s", markeredgecolor="black", markersize=6, **neutral, label="end"),
        Line2D([], [], marker="*", markerfacecolor="white", markeredgecolor="black", markersize=11, linestyle="none",
               label="known minimum"),
    ]
    if any(trajectory.diverged.any() for trajectory in result):
        handles.append(Line2D([], [], marker="X", markeredgecolor="black", markersize=8, **neutral,
                              label="last point before diverging"))
    if result.dim == 2 and any(trajectory.gradient_point is not None for trajectory in result):
        handles.append(Line2D([], [], color="0.3", linestyle=":", label="gradient point y (schedule-free)"))
    arrows = arrows_wanted(result)
    if arrows:
        handles += legend_handles(any(trajectory.internals.preconditioned for trajectory in result
                                      if trajectory.internals is not None))
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize="small",
                  frameon=False, title=arrow_title(result) if arrows else None, title_fontsize="small")
    if result.noisy:
        figure.suptitle(f"{result.function.name}: {_paths(result, shown_starts(result))} per optimizer "
                        f"({result.rows_in_words()}) over {result.config.steps} steps\n{result.noise_in_words()}")
    else:
        figure.suptitle(f"{result.function.name}: {_paths(result, shown_starts(result))} per optimizer "
                        f"over {result.config.steps} steps")
    return figure


def shown_starts(result: RunResult) -> np.ndarray:
    """Indices of the starts whose paths are drawn: all of them up to :data:`MAX_PATHS`, else a
    subset spread over them (every k-th row and column of a 2D grid, a fixed random draw otherwise)."""
    from ..results.basin import grid_shape

    count = len(result.starts)
    if count <= MAX_PATHS:
        return np.arange(count)
    shape = grid_shape(result.config, result.dim)
    if shape is not None and len(shape) == 2:
        stride = int(np.ceil(np.sqrt(count / MAX_PATHS)))
        rows, columns = np.meshgrid(np.arange(0, shape[0], stride), np.arange(0, shape[1], stride), indexing="ij")
        return (rows * shape[1] + columns).ravel()
    return np.sort(np.random.default_rng(0).choice(count, MAX_PATHS, replace=False))


def _paths(result, chosen: np.ndarray) -> str:
    count = len(result.starts)
    if count == 1:
        return "paths"
    return f"{len(chosen)} of {count} paths" if len(chosen) < count else f"{count} paths"


def _draw_many(axes, dim: int, trajectory, index: int, chosen: np.ndarray) -> None:
    """The chosen starts' paths, faint, with each start and end (the head) marked; one artist each."""
    from matplotlib.collections import LineCollection

    last = trajectory.last_finite()[chosen]
    heights = trajectory.loss if dim == 1 else trajectory.positions[..., 1]
    segments = [np.column_stack([trajectory.positions[start, : end + 1, 0], heights[start, : end + 1]])
                for start, end in zip(chosen, last)]
    alpha = float(np.clip(2.0 / np.sqrt(len(chosen)), 0.08, 0.6))
    axes.add_collection(LineCollection(segments, colors=colour(index), linewidths=1.0, alpha=alpha, zorder=3,
                                       label=diverged_label(trajectory)))
    _draw_gradient_points(axes, dim, trajectory, index, chosen, last, alpha=alpha / 2)
    starts = np.array([segment[0] for segment in segments])
    # A path that ends off the plot (a diverged one) is marked where it crossed the edge.
    ends = np.array([edge_crossing(segment[:, 0], segment[:, 1], axes.get_xlim(), axes.get_ylim()) or segment[-1]
                     for segment in segments])
    diverged = trajectory.diverged[chosen]
    few = len(chosen) <= 50
    size = 30 if few else 10
    # Many starts are a dense pattern of dots: kept small and light so the paths still show.
    axes.scatter(starts[:, 0], starts[:, 1], s=size * 0.6 if few else 4, facecolors="white", edgecolors=colour(index),
                 linewidths=1.0 if few else 0.5, alpha=1.0 if few else 0.6, zorder=4, label="starts")
    axes.scatter(ends[~diverged, 0], ends[~diverged, 1], s=size * 1.6, color=colour(index), marker=marker(index),
                 edgecolors="black", linewidths=0.6, zorder=5, label="ends")
    if diverged.any():
        # Unclipped, so a mark on the edge shows whole; a path that never was in view has none.
        (x_low, x_high), (y_low, y_high) = sorted(axes.get_xlim()), sorted(axes.get_ylim())
        in_view = (ends[:, 0] >= x_low) & (ends[:, 0] <= x_high) & (ends[:, 1] >= y_low) & (ends[:, 1] <= y_high)
        axes.scatter(ends[diverged & in_view, 0], ends[diverged & in_view, 1], s=size * 2.5, color=colour(index),
                     marker="X", edgecolors="black", linewidths=0.6, zorder=5, clip_on=False,
                     label=f"last point before diverging ({int(trajectory.diverged.sum())} of {len(trajectory.diverged)})")


def _draw_one(axes, dim: int, trajectory, index: int, label: str) -> None:
    """The path of a lone start, its markers along it, the start circled and the end marked."""
    positions = trajectory.positions[0]
    finite = np.all(np.isfinite(positions), axis=-1) & np.isfinite(trajectory.loss[0])
    last = int(trajectory.last_finite()[0])
    xs = positions[: last + 1, 0]
    ys = trajectory.loss[0, : last + 1] if dim == 1 else positions[: last + 1, 1]
    style = dict(color=colour(index), zorder=3)
    axes.plot(xs, ys, marker=marker(index), markersize=4.5, linewidth=1.5,
              markevery=max(1, len(xs) // 40) if dim == 2 else 1, alpha=0.9, label=label, **style)
    _draw_gradient_points(axes, dim, trajectory, index, np.array([0]), np.array([last]), alpha=0.75)
    axes.plot(xs[0], ys[0], marker="o", markersize=9, markerfacecolor="white", markeredgewidth=1.8,
              linestyle="none", label="_start", **style)
    diverged = trajectory.diverged_step[0] >= 0 or not finite.all()
    # A path that ends off the plot gets its end marker where it crossed the edge.
    crossing = edge_crossing(xs, ys, axes.get_xlim(), axes.get_ylim())
    end_x, end_y = crossing if crossing is not None else (xs[-1], ys[-1])
    axes.plot(end_x, end_y, marker="X" if diverged else marker(index), markersize=12,
              markeredgecolor="black", linestyle="none", label="_end", clip_on=crossing is None, **style)


def _draw_gradient_points(axes, dim: int, trajectory, index: int, chosen: np.ndarray, last: np.ndarray, *,
                          alpha: float) -> None:
    """A schedule-free optimizer's gradient points y as a faint dotted trail beside its path, which
    is the evaluation point x a user's model would use (2D; a 1D curve has no room for it)."""
    from matplotlib.collections import LineCollection

    if trajectory.gradient_point is None or dim != 2:
        return
    trails = [trajectory.gradient_point[start, : end + 1] for start, end in zip(chosen, last)]
    axes.add_collection(LineCollection(trails, colors=colour(index), linewidths=1.0, linestyles=":", alpha=alpha,
                                       zorder=2, label=f"{trajectory.label}: gradient point y"))


def save_path(result: RunResult, path: str | Path) -> Path:
    """Write ``path.png`` (or .svg/.pdf by suffix) for ``result``: small multiples for many starts of several
    optimizers, or for several optimizers with arrows of their internals (one map each stays readable)."""
    if arrows_wanted(result) and len(result.trajectories) > 1:
        return save_figure(plot_path_panels(result), path, note=result.config.figure_note)
    return save_one_or_panels(result, path, plot_path, plot_path_panels)
