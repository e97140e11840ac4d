"""The function itself, drawn under the paths: a curve (1D) or a contour map (2D)."""

from __future__ import annotations

import numpy as np

from .clip import padded_limits


def draw_landscape(axes, function, domain: np.ndarray, *, resolution: int = 300, colorbar: bool = True):
    """Draw ``function`` over ``domain`` into ``axes``; mark its known minima. Returns the mappable (2D)."""
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


def _contour(axes, function, domain, *, resolution: int, colorbar: bool):
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
        bar = axes.figure.colorbar(mappable, ax=axes, shrink=0.9, pad=0.02)
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


def _mark_minima(axes, function, domain) -> None:
    first = True
    for minimum in function.minima:
        point = np.asarray(minimum.point, dtype=float)
        if np.any(point < domain[:, 0]) or np.any(point > domain[:, 1]):
            continue
        global_minimum = minimum.kind == "global"
        label = "known minima" if first else "_minimum"
        first = False
        if function.dim == 1:
            axes.plot(point[0], minimum.value, marker="*", markersize=14 if global_minimum else 10,
                      color="black" if global_minimum else "0.5", markeredgecolor="white", linestyle="none",
                      zorder=2, label=label)
        else:
            axes.plot(point[0], point[1], marker="*", markersize=15 if global_minimum else 10,
                      color="white" if global_minimum else "0.85", markeredgecolor="black", markeredgewidth=0.8,
                      linestyle="none", zorder=2, label=label)
