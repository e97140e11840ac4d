"""basin.png: every start coloured by where it ended, one panel per optimizer.

``render.basin.colour_by`` picks the colour: the known minimum the start converged
to ("minimum"; grey where it converged to none), f at its final point
("final_loss") or the step from which it stayed within tolerance of a minimum
("steps"). Diverged starts are black in every mode. A grid of starts is drawn as an
image, one pixel per start; other starts as dots; a 1D function as dots on its
curve. Known minima are starred and lettered as in the legend; the landscape's
contour lines show through.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..results.basin import DIVERGED, NOT_CONVERGED, basins, grid_shape, minimum_names
from .style import save_figure, spans_decades

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..results import RunResult

# tab10 without its grey, which means "not converged" here.
MINIMUM_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
                   "#17becf")
NOT_CONVERGED_COLOUR = "#cfcfcf"
DIVERGED_COLOUR = "#000000"


def minimum_colour(index: int) -> str:
    return MINIMUM_COLOURS[index % len(MINIMUM_COLOURS)]


def plot_basin(result: RunResult, figure: Figure | None = None):
    """Draw the basin map of every optimizer of ``result`` (a new Figure if None); return the Figure."""
    from matplotlib import colors

    from .panels import label_outer, panel_figure

    function = result.function
    colour_by = result.config.render.basin.colour_by
    domain = result.domain
    if figure is None:
        figure, panels, _ = panel_figure(result.config.render, len(result.trajectories),
                                         domain if result.dim == 2 else None)
    else:
        panels = figure.axes
    found = basins(result)
    shape = grid_shape(result.config, result.dim)
    mappable, offset = _scale(found, colour_by, function)
    for panel, basin in zip(panels, found):
        rgba = _colours(basin, colour_by, mappable, offset)
        if result.dim == 1:
            _draw_curve(panel, function, domain, result.starts[:, 0], rgba)
        else:
            _draw_map(panel, result.starts, rgba, shape, domain)
            _contour_lines(panel, function, domain)
        _mark_minima(panel, function, domain)
        panel.set_title(f"{basin.label}\n{_shares(basin, function)}", fontsize="medium")
    label_outer(panels)
    if mappable is not None:
        bar = figure.colorbar(mappable, ax=panels, shrink=0.85, pad=0.02)
        if colour_by == "steps":
            bar.set_label("step from which it stays within tolerance of a minimum")
        elif isinstance(mappable.norm, colors.LogNorm):
            bar.set_label(f"f at the final point - ({offset:.4g}), log scale" if offset else "f at the final point, log scale")
        else:
            bar.set_label("f at the final point")
    handles = _legend_handles(found, colour_by, function, result.tolerance)
    # About 3.5 inches per legend column keeps the longest entries inside the figure.
    columns = int(np.clip(figure.get_figwidth() // 3.5, 1, len(handles)))
    figure.legend(handles=handles, loc="outside lower center", ncols=columns, fontsize="small", frameon=False)
    figure.suptitle(_title(result, shape))
    return figure


def save_basin(result: RunResult, path: str | Path) -> Path:
    """Write ``basin.png`` (or .svg/.pdf by suffix) for ``result``."""
    return save_figure(plot_basin(result), path, note=result.config.figure_note)


def _title(result, shape) -> str:
    starts = f"a {' x '.join(map(str, reversed(shape)))} grid of starts" if shape else f"{len(result.starts)} starts"
    return f"{result.function.name}: where {result.config.steps} steps lead from {starts}"


def _shares(basin, function) -> str:
    """``A 41% · B 30% · none 9%``: the share of starts per outcome, those that occur."""
    total = len(basin.outcome)
    names = {index: name for index, name in enumerate(minimum_names(function))}
    names.update({NOT_CONVERGED: "none", DIVERGED: "diverged"})
    parts = [f"{names[outcome]} {count / total:.0%}" for outcome, count in basin.counts(len(function.minima)).items()
             if count]
    return " · ".join(parts)


def _scale(found, colour_by: str, function):
    """``(mappable, offset)``: the colour scale all panels share (None when colouring by minimum) and
    what is subtracted from f first (a log scale counts up from the lowest value, known or reached)."""
    from matplotlib import cm, colors

    if colour_by == "minimum":
        return None, 0.0
    if colour_by == "steps":
        steps = np.concatenate([basin.converged_step for basin in found])
        reached = steps[steps >= 0]
        norm = colors.Normalize(0, max(int(reached.max()) if reached.size else 1, 1))
        return cm.ScalarMappable(norm=norm, cmap="viridis_r"), 0.0
    finals = np.concatenate([basin.final_loss for basin in found])
    finite = finals[np.isfinite(finals)]
    if finite.size == 0:
        return cm.ScalarMappable(norm=colors.Normalize(0, 1), cmap="viridis"), 0.0
    if not (function.log_scale or spans_decades(finite)):
        return cm.ScalarMappable(norm=colors.Normalize(float(finite.min()), float(finite.max())), cmap="viridis"), 0.0
    offset = float(finite.min()) if function.min_value is None else min(float(finite.min()), function.min_value)
    shifted = finite - offset
    positive = shifted[shifted > 0]
    top = float(shifted.max())
    low = max(float(positive.min()) if positive.size else top * 1e-12, top * 1e-12, 1e-300)
    return cm.ScalarMappable(norm=colors.LogNorm(low, max(top, low * 10)), cmap="viridis"), offset


def _colours(basin, colour_by: str, mappable, offset: float) -> np.ndarray:
    """(starts, 4) RGBA: by outcome, or from the shared scale with grey and black for the rest."""
    from matplotlib import colors

    outcome = basin.outcome
    rgba = np.empty((len(outcome), 4))
    if colour_by == "minimum":
        for index in np.unique(outcome[outcome >= 0]):
            rgba[outcome == index] = colors.to_rgba(minimum_colour(int(index)))
    else:
        values = basin.converged_step.astype(float) if colour_by == "steps" else basin.final_loss.astype(float) - offset
        if isinstance(mappable.norm, colors.LogNorm):
            values = np.maximum(values, mappable.norm.vmin)  # at the floor itself
        rgba[:] = mappable.to_rgba(values)
    rgba[outcome == DIVERGED] = colors.to_rgba(DIVERGED_COLOUR)
    if colour_by != "final_loss":
        rgba[outcome == NOT_CONVERGED] = colors.to_rgba(NOT_CONVERGED_COLOUR)
    return rgba


def _draw_map(axes, starts: np.ndarray, rgba: np.ndarray, shape, domain: np.ndarray) -> None:
    """One pixel per start of a grid (``shape`` = (ny, nx)), else a dot per start."""
    if shape is None:
        axes.scatter(starts[:, 0], starts[:, 1], c=rgba, s=12, linewidths=0, zorder=1)
    else:
        xs = starts[:, 0].reshape(shape)[0]
        ys = starts[:, 1].reshape(shape)[:, 0]
        axes.imshow(rgba.reshape(*shape, 4), origin="lower", extent=_extent(xs, ys), interpolation="nearest",
                    aspect="auto", zorder=0)
    axes.set_xlim(*domain[0])
    axes.set_ylim(*domain[1])
    axes.set_xlabel("x")
    axes.set_ylabel("y")


def _extent(xs: np.ndarray, ys: np.ndarray) -> tuple[float, float, float, float]:
    """Pixel edges halfway between grid points, so each pixel is centred on its start."""
    def edges(values):
        half = (values[-1] - values[0]) / (2 * (len(values) - 1)) if len(values) > 1 else 0.5
        return values[0] - half, values[-1] + half

    return (*edges(xs), *edges(ys))


def _draw_curve(axes, function, domain: np.ndarray, xs: np.ndarray, rgba: np.ndarray) -> None:
    """1D: the curve, and a dot on it for every start in its colour."""
    curve = np.linspace(*domain[0], 400)
    with np.errstate(all="ignore"):
        axes.plot(curve, np.asarray(function(curve[:, None]), dtype=float), color="0.35", linewidth=1.4, zorder=1)
        heights = np.asarray(function(xs[:, None]), dtype=float)
    axes.scatter(xs, heights, c=rgba, s=18, linewidths=0, zorder=2)
    axes.set_xlim(*domain[0])
    axes.set_xlabel("x (start)")
    axes.set_ylabel("f(x)")


def _contour_lines(axes, function, domain: np.ndarray, resolution: int = 150) -> None:
    """Thin contour lines of f, so basin borders can be read against the landscape."""
    axes_values = [np.linspace(low, high, resolution) for low, high in domain]
    grid_x, grid_y = np.meshgrid(*axes_values)
    with np.errstate(all="ignore"):
        values = np.ma.masked_invalid(np.asarray(function(np.stack([grid_x, grid_y], axis=-1)), dtype=float))
    if values.count() < 2 or values.min() == values.max():
        return
    if function.log_scale:
        shifted = values - values.min()
        top = float(shifted.max())
        levels = np.geomspace(max(top * 1e-6, 1e-12), top, 14)
        axes.contour(grid_x, grid_y, shifted, levels=levels, colors="black", linewidths=0.4, alpha=0.35, zorder=2)
    else:
        axes.contour(grid_x, grid_y, values, levels=14, colors="black", linewidths=0.4, alpha=0.35, zorder=2)


def _mark_minima(axes, function, domain: np.ndarray) -> None:
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    for index, (name, minimum) in enumerate(zip(minimum_names(function), function.minima)):
        point = np.asarray(minimum.point, dtype=float)
        if np.any(point < domain[:, 0]) or np.any(point > domain[:, 1]):
            continue
        x, y = (point[0], minimum.value) if function.dim == 1 else point
        # Black-edged, so a star shows on its own basin's colour too.
        axes.plot(x, y, marker="*", markersize=14 if minimum.kind == "global" else 11, color=minimum_colour(index),
                  markeredgecolor="black", markeredgewidth=0.9, linestyle="none", zorder=4)
        axes.annotate(name, (x, y), xytext=(5, 4), textcoords="offset points", fontsize="small", fontweight="bold",
                      zorder=5, path_effects=outline)


def _legend_handles(found, colour_by: str, function, tolerance: float | None) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    outcomes = set(np.concatenate([basin.outcome for basin in found]).tolist())
    handles = []
    for index, (name, minimum) in enumerate(zip(minimum_names(function), function.minima)):
        coordinates = ", ".join(f"{value:.3g}" for value in minimum.point)
        text = f"{name} ({coordinates}), f = {minimum.value:.4g}, {minimum.kind}"
        if colour_by == "minimum":
            handles.append(Patch(color=minimum_colour(index), label=text))
        else:
            handles.append(Line2D([], [], marker="*", color=minimum_colour(index), markeredgecolor="black",
                                  markersize=11, linestyle="none", label=text))
    if colour_by != "final_loss" and NOT_CONVERGED in outcomes:
        handles.append(Patch(color=NOT_CONVERGED_COLOUR, label=f"none within {tolerance:.3g} at the end"))
    if DIVERGED in outcomes:
        handles.append(Patch(color=DIVERGED_COLOUR, label="diverged"))
    return handles
