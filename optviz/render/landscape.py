"""The function itself, drawn under the paths: a curve (1D) or a contour map (2D)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..problems import TestFunction

from .clip import padded_limits


def draw_landscape(axes: Axes, function: TestFunction, domain: np.ndarray, *, resolution: int = 300,
                   colorbar: bool | list[Axes] = True):
    """Draw ``function`` over ``domain`` into ``axes``; mark its known minima. Returns the mappable (2D).

    ``colorbar``: True for a colour bar beside ``axes``, False for none, or a list of
    Axes that share one bar (small multiples drawing the same landscape).
    """
    low, high = domain[0]
    if function.dim == 1:
        xs = np.linspace(low, high, max(resolution, 400))
        with np.errstate(all="ignore"):
            ys = np.ma.masked_invalid(np.asarray(function(xs[:, None]), dtype=float))
        axes.plot(xs, ys, color="0.35", linewidth=1.6, zorder=1, label="_f")
        axes.set_xlim(low, high)
        # Fixed to the curve, so a diverging path leaves through the top instead of squashing it.
        limits = padded_limits(ys.compressed())
        if limits is not None:
            axes.set_ylim(*limits)
        axes.set_xlabel("x")
        axes.set_ylabel(f"f(x) = {function.formula}" if len(function.formula) < 30 else "f(x)")
        axes.grid(True, alpha=0.3)
        _mark_undefined(axes, xs, np.ma.getmaskarray(ys))
        _mark_minima(axes, function, domain)
        return None
    return _contour(axes, function, domain, resolution=resolution, colorbar=colorbar)


def _contour(axes, function, domain, *, resolution: int, colorbar):
    from matplotlib import colors, ticker

    (x_low, x_high), (y_low, y_high) = domain
    xs = np.linspace(x_low, x_high, resolution)
    ys = np.linspace(y_low, y_high, resolution)
    grid_x, grid_y = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        values = np.asarray(function(np.stack([grid_x, grid_y], axis=-1)), dtype=float)
    values = np.ma.masked_invalid(values)
    _mark_undefined(axes, None, np.ma.getmaskarray(values), extent=(x_low, x_high, y_low, y_high))
    if function.log_scale:
        # Steep valleys (rosenbrock, beale) vanish under linear levels: space them by
        # orders of magnitude above the lowest value.
        floor = float(values.min())
        if function.min_value is not None:
            floor = min(floor, function.min_value)
        shifted = values - floor
        positive = shifted[shifted > 0]
        smallest = max(float(positive.min()) if positive.size else 1e-3, float(shifted.max()) * 1e-7)
        levels = np.geomspace(smallest, float(shifted.max()), 25)
        mappable = axes.contourf(grid_x, grid_y, np.ma.maximum(shifted, smallest), levels=levels,
                                 norm=colors.LogNorm(), cmap="viridis", alpha=0.85, zorder=0)
        axes.contour(grid_x, grid_y, shifted, levels=levels[::2], colors="white", linewidths=0.4,
                     alpha=0.5, zorder=0)
        label = f"f - ({floor:.4g}), log scale" if floor != 0 else "f, log scale"
    else:
        levels = 30
        mappable = axes.contourf(grid_x, grid_y, values, levels=levels, cmap="viridis", alpha=0.85, zorder=0)
        axes.contour(grid_x, grid_y, values, levels=15, colors="white", linewidths=0.4, alpha=0.5, zorder=0)
        label = "f"
    if colorbar:
        bar = axes.figure.colorbar(mappable, ax=colorbar if isinstance(colorbar, list) else axes, shrink=0.9, pad=0.02)
        bar.set_label(label)
        if function.log_scale:
            bar.locator = ticker.LogLocator()
            bar.formatter = ticker.LogFormatterSciNotation()
            bar.update_ticks()
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    _mark_minima(axes, function, domain)
    return mappable


def _mark_undefined(axes, xs, undefined: np.ndarray, extent=None) -> None:
    """Hatch where f is NaN or infinite, so a blank reads as "not defined" rather than "not drawn"."""
    if not undefined.any():
        return
    style = dict(facecolor="none", edgecolor="0.6", hatch="///", linewidth=0, label="f not finite")
    if extent is None:  # 1D: vertical bands over the x where the curve has no value
        axes.fill_between(xs, 0, 1, where=undefined, transform=axes.get_xaxis_transform(), zorder=0, **style)
    else:  # 2D: under the contours, showing through where they are masked
        from matplotlib.patches import Rectangle

        x_low, x_high, y_low, y_high = extent
        axes.add_patch(Rectangle((x_low, y_low), x_high - x_low, y_high - y_low, zorder=-1, **style))


def minima_in(function: TestFunction, domain: np.ndarray):
    """Yield ``(minimum, point, label)`` for the known minima inside ``domain``; only the first
    carries the legend label, so the legend has one "known minima" entry."""
    label = "known minima"
    for minimum in function.minima:
        point = np.asarray(minimum.point, dtype=float)
        if np.all(point >= domain[:, 0]) and np.all(point <= domain[:, 1]):
            yield minimum, point, label
            label = "_minimum"


def _mark_minima(axes, function, domain) -> None:
    for minimum, point, label in minima_in(function, domain):
        global_minimum = minimum.kind == "global"
        if function.dim == 1:
            axes.plot(point[0], minimum.value, marker="*", markersize=14 if global_minimum else 10,
                      color="black" if global_minimum else "0.5", markeredgecolor="white", linestyle="none",
                      zorder=2, label=label)
        else:
            axes.plot(point[0], point[1], marker="*", markersize=15 if global_minimum else 10,
                      color="white" if global_minimum else "0.85", markeredgecolor="black", markeredgewidth=0.8,
                      linestyle="none", zorder=2, label=label)


# Arrows per side of the gradient field: enough to read the flow, few enough to see the map.
ARROWS = 21
# Arrow lengths shrink with log10 of |grad f| over this many decades below the steepest
# arrow; flat regions keep a short arrow, so their direction still shows.
ARROW_DECADES = 3.0


def draw_gradient_field(axes: Axes, function: TestFunction, domain: np.ndarray, *, arrows: int = ARROWS):
    """Arrows of the negative gradient (the way down) over a 2D ``domain``; returns the Quiver.

    The gradient is taken by central differences on the numpy formula, so it
    needs no autograd and works for any function optviz can draw.
    """
    (x_low, x_high), (y_low, y_high) = domain
    # Inset by half a cell, so no arrow starts on the frame.
    x_cell, y_cell = (x_high - x_low) / arrows, (y_high - y_low) / arrows
    grid_x, grid_y = np.meshgrid(np.linspace(x_low + x_cell / 2, x_high - x_cell / 2, arrows),
                                 np.linspace(y_low + y_cell / 2, y_high - y_cell / 2, arrows))
    points = np.stack([grid_x, grid_y], axis=-1)
    gradient = np.empty_like(points)
    with np.errstate(all="ignore"):
        for axis, span in enumerate((x_high - x_low, y_high - y_low)):
            step = np.zeros(2)
            step[axis] = 1e-6 * span
            gradient[..., axis] = (np.asarray(function(points + step), dtype=float)
                                   - np.asarray(function(points - step), dtype=float)) / (2 * step[axis])
        norm = np.hypot(gradient[..., 0], gradient[..., 1])
        steepest = np.nanmax(norm) if np.isfinite(norm).any() else 0.0
        length = np.clip(1 + np.log10(norm / steepest) / ARROW_DECADES, 0.2, 1.0) if steepest > 0 else norm
        direction = -gradient / norm[..., None]
    usable = np.isfinite(direction).all(axis=-1) & (norm > 0)
    # One scale for both components keeps each arrow pointing along -grad f in data space.
    longest = 0.85 * min(x_cell, y_cell)
    u = np.where(usable, direction[..., 0] * length * longest, np.nan)
    v = np.where(usable, direction[..., 1] * length * longest, np.nan)
    return axes.quiver(grid_x, grid_y, u, v, angles="xy", scale_units="xy", scale=1, color="white", alpha=0.55,
                       width=0.0035, headwidth=3.5, headlength=4, headaxislength=3.5, pivot="middle", zorder=1,
                       label="_gradient")
