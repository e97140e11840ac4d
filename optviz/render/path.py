"""Where each optimizer went: points on the curve (1D) or paths over the contour map (2D)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..starts import plot_domain
from .clip import edge_crossing
from .landscape import draw_landscape
from .style import colour, diverged_label, marker, new_figure, save_figure


def plot_path(result, axes=None):
    """Draw the function and every optimizer's path into ``axes`` (a new figure if None); return the Axes."""
    render = result.config.render
    if axes is None:
        _, axes = new_figure(render.size, render.dpi)
    domain = plot_domain(result.config, result.function)
    draw_landscape(axes, result.function, domain, resolution=render.resolution)
    for index, trajectory in enumerate(result):
        faint = len(trajectory.positions) > 1
        for start in range(len(trajectory.positions)):
            diverged = int(trajectory.diverged_step[start])
            label = diverged_label(trajectory.label, diverged if diverged >= 0 and not faint else None)
            if faint and start:
                label = "_"
            elif faint and trajectory.diverged.any():
                label = f"{trajectory.label} ({int(trajectory.diverged.sum())} of {len(trajectory.positions)} diverged)"
            _draw_one(axes, result.dim, trajectory, start, index, label, faint=faint)
    axes.set_title(f"{result.function.name}: paths over {result.config.steps} steps")
    axes.legend(loc="best", fontsize="small", framealpha=0.85)
    return axes


def _draw_one(axes, dim: int, trajectory, start: int, index: int, label: str, *, faint: bool) -> None:
    positions = trajectory.positions[start]
    finite = np.all(np.isfinite(positions), axis=-1) & np.isfinite(trajectory.loss[start])
    last = int(trajectory.last_finite()[start])
    xs = positions[: last + 1, 0]
    ys = trajectory.loss[start, : last + 1] if dim == 1 else positions[: last + 1, 1]
    style = dict(color=colour(index), zorder=3)
    alpha = 0.35 if faint else 0.9
    axes.plot(xs, ys, marker=marker(index), markersize=3 if faint else 4.5, linewidth=1.0 if faint else 1.5,
              markevery=max(1, len(xs) // 40) if dim == 2 else 1, alpha=alpha, label=label, **style)
    axes.plot(xs[0], ys[0], marker="o", markersize=9, markerfacecolor="white", markeredgewidth=1.8,
              linestyle="none", label="_start", **style)
    diverged = trajectory.diverged_step[start] >= 0 or not finite.all()
    # A path that ends off the plot gets its end marker where it crossed the edge.
    crossing = edge_crossing(xs, ys, axes.get_xlim(), axes.get_ylim())
    end_x, end_y = crossing if crossing is not None else (xs[-1], ys[-1])
    axes.plot(end_x, end_y, marker="X" if diverged else marker(index), markersize=12 if not faint else 7,
              markeredgecolor="black", linestyle="none", label="_end", clip_on=crossing is None, **style)


def save_path(result, path: str | Path) -> Path:
    """Write ``path.png`` (or .svg/.pdf by suffix) for ``result``."""
    figure, axes = new_figure(result.config.render.size, result.config.render.dpi)
    plot_path(result, axes)
    return save_figure(figure, path)
