"""The function as a 3D surface with every optimizer's path lifted onto it (2D functions only).

A 1D function has no surface to draw: its curve, with the points on it, is
``path.png``; :func:`save_surface` refuses one and the runner leaves
``surface.png`` out for it.

Heights are f itself. Steep functions (``log_scale``: rosenbrock, beale, ...)
rise by orders of magnitude from the valley the optimizers follow, so their
colours measure ``f - floor`` on a log scale: on a linear one the whole valley
would be one colour. (Log heights were tried: a narrow valley sampled on a grid
turns into a comb of spikes.) The paths are drawn on top of the surface (no
depth sorting), so a hill never hides where an optimizer went.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.lines import Line2D

from ..errors import RunError
from .clip import frozen_coordinates, pin_to_edge
from .landscape import minima_in
from .path import shown_starts
from .style import colour, diverged_label, halo, marker, new_figure, save_figure

if TYPE_CHECKING:
    from mpl_toolkits.mplot3d.axes3d import Axes3D

    from ..problems import TestFunction
    from ..results import RunResult

# Grid points per axis of the drawn mesh: more only slows drawing (and blows up SVG/PDF).
MESH = 90
# Elevation and azimuth of the camera, in degrees: high enough to look into valleys,
# turned so that x runs left to right towards the viewer.
VIEW = (38.0, -60.0)
# Drawing order (the axes do not depth-sort): surface, minima marks, trails, heads.
SURFACE_Z, MINIMA_Z, TRAIL_Z, HEAD_Z = 1, 2, 3, 4


@dataclass(frozen=True)
class Shading:
    """How function values become colours: linear, or by orders of magnitude of ``f - floor``."""

    log: bool
    floor: float = 0.0
    smallest: float = 1.0  # shifted values below this take the bottom colour
    top: float = 1.0

    def norm(self, values: np.ndarray):
        from matplotlib import colors

        if self.log:
            return colors.LogNorm(self.smallest, self.top)
        finite = values[np.isfinite(values)]
        return colors.Normalize(float(finite.min()), float(finite.max())) if finite.size else colors.Normalize()

    def shift(self, values: np.ndarray) -> np.ndarray:
        """What the colour scale measures: ``f - floor``, at least ``smallest``, on a log scale."""
        if not self.log:
            return values
        with np.errstate(all="ignore"):
            return np.maximum(values - self.floor, self.smallest)

    @property
    def label(self) -> str:
        if not self.log:
            return "f(x, y)"
        return "f, log scale" if self.floor == 0 else f"f - ({self.floor:.4g}), log scale"


def shading_for(function: TestFunction, values: np.ndarray) -> Shading:
    """The colour scale of ``function`` sampled as ``values``: log for steep functions."""
    if not function.log_scale:
        return Shading(log=False)
    finite = values[np.isfinite(values)]
    floor = float(finite.min()) if finite.size else 0.0
    if function.min_value is not None:
        floor = min(floor, function.min_value)
    shifted = finite - floor
    positive = shifted[shifted > 0]
    top = float(shifted.max()) if shifted.size else 1.0
    # As the contour map's lowest level: seven decades below the top at most.
    smallest = max(float(positive.min()) if positive.size else 1e-3, top * 1e-7)
    return Shading(log=True, floor=floor, smallest=smallest, top=max(top, smallest * 10))


def draw_surface(axes: Axes3D, function: TestFunction, domain: np.ndarray, *, resolution: int = MESH,
                 colorbar: bool = True) -> Shading:
    """Draw ``function`` over ``domain`` as a surface into 3D ``axes``, mark its minima; return the colour scale."""
    from matplotlib import cm, colormaps, ticker

    points = min(resolution, MESH)
    (x_low, x_high), (y_low, y_high) = domain
    grid_x, grid_y = np.meshgrid(np.linspace(x_low, x_high, points), np.linspace(y_low, y_high, points))
    with np.errstate(all="ignore"):
        values = np.ma.masked_invalid(np.asarray(function(np.stack([grid_x, grid_y], axis=-1)), dtype=float))
    shading = shading_for(function, values.compressed())
    norm, cmap = shading.norm(values.compressed()), colormaps["viridis"]
    facecolors = _relief(cmap(norm(shading.shift(values.filled(np.nan)))), values)
    axes.computed_zorder = False
    axes.plot_surface(grid_x, grid_y, values, facecolors=facecolors, rcount=points, ccount=points,
                      linewidth=0, antialiased=False, shade=False, zorder=SURFACE_Z)
    axes.set_xlim(x_low, x_high)
    axes.set_ylim(y_low, y_high)
    axes.set_xlabel("x")
    axes.set_ylabel("y")
    axes.set_zlabel("f(x, y)")
    axes.view_init(*VIEW)
    if colorbar:
        bar = axes.figure.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.6, pad=0.1)
        bar.set_label(shading.label)
        if shading.log:
            bar.locator = ticker.LogLocator()
            bar.formatter = ticker.LogFormatterSciNotation()
            bar.update_ticks()
    _mark_minima(axes, function, domain)
    return shading


def _relief(rgba: np.ndarray, values: np.ma.MaskedArray) -> np.ndarray:
    """``rgba`` lit from the upper left, so hills and valleys read as such without losing the colour scale.

    The slopes are those the 3D box shows (x and y each span the box, z three
    quarters of it); matplotlib's own shading darkens steep walls until their
    colour is lost, the "soft" blend keeps it.
    """
    from matplotlib.colors import LightSource

    finite = values.compressed()
    if finite.size == 0 or finite.max() == finite.min():
        return rgba
    elevation = 0.75 * (values.filled(finite.min()) - finite.min()) / (finite.max() - finite.min())
    spacing = 1 / (len(values) - 1)
    lit = LightSource(azdeg=315, altdeg=45).shade_rgb(rgba[..., :3], elevation, blend_mode="soft",
                                                     dx=spacing, dy=spacing)
    return np.concatenate([lit, rgba[..., 3:]], axis=-1)


def _mark_minima(axes, function, domain: np.ndarray) -> None:
    for minimum, point, label in minima_in(function, domain):
        global_minimum = minimum.kind == "global"
        axes.plot([point[0]], [point[1]], [minimum.value], marker="*",
                  markersize=15 if global_minimum else 10, color="white" if global_minimum else "0.85",
                  markeredgecolor="black", markeredgewidth=0.8, linestyle="none", zorder=MINIMA_Z, label=label)


def lifted(function: TestFunction, xs: np.ndarray, ys: np.ndarray,
           domain: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paths ``(starts, records)`` lifted onto the surface, kept within the plotted box.

    Returns the trail coordinates (x, y, z) and the head coordinates (x, y, z).
    A 3D plot does not clip to its box, so a path that leaves it ends where it
    crossed the edge (and a head waits there); if it comes back later the trail
    breaks instead of cutting across. Heights are the function at the plotted point.
    """
    head_x, head_y = pin_to_edge(xs, ys, tuple(domain[0]), tuple(domain[1]))
    with np.errstate(all="ignore"):
        head_z = np.asarray(function(np.stack([head_x, head_y], axis=-1)), dtype=float)
    inside = (head_x == xs) & (head_y == ys)
    leaving = ~inside
    leaving[:, 1:] &= inside[:, :-1]  # the first point of each excursion: where it crossed the edge
    returns = np.flip(np.logical_or.accumulate(np.flip(inside, axis=1), axis=1), axis=1)
    cut = ~inside & ~leaving & returns
    trail_x, trail_y, trail_z = (np.where(cut, np.nan, values) for values in (head_x, head_y, head_z))
    return trail_x, trail_y, trail_z, head_x, head_y, head_z


def plot_surface(result: RunResult, axes: Axes3D | None = None):
    """Draw the surface and every optimizer's path lifted onto it into 3D ``axes``; return the Axes.

    With ``axes`` None a new figure is made; else ``axes`` must be a 3D Axes
    (``figure.add_subplot(projection="3d")``).
    """
    if result.dim != 2:
        raise RunError(f"surface: {result.function.name} is a {result.dim}D function; a surface needs two "
                       "variables (path.png draws its curve)")
    render = result.config.render
    if axes is None:
        _, axes = new_figure(render.size, render.dpi, projection="3d")
    domain = result.domain
    draw_surface(axes, result.function, domain, resolution=render.resolution)
    handles = [line for line in axes.get_lines() if line.get_label() == "known minima"]
    rows = shown_starts(result)  # the same subset as path.png when there are very many starts
    if len(result.starts) > 1:
        # Every optimizer sets off from the same points: mark them once, not in five colours over each other.
        starts = np.clip(result.starts[rows], domain[:, 0], domain[:, 1])  # a 3D plot does not clip to its box
        xs, ys = starts[:, 0], starts[:, 1]
        with np.errstate(all="ignore"):
            zs = np.asarray(result.function(starts), dtype=float)
        handles += axes.plot(xs, ys, zs, marker="o", markersize=6, color="white", markeredgecolor="black",
                             markeredgewidth=1.0, linestyle="none", zorder=HEAD_Z, label="starts")
    for index, trajectory in enumerate(result):
        many = len(trajectory.positions) > 1
        xs, ys = frozen_coordinates(trajectory, 2, rows)
        trail_x, trail_y, trail_z, head_x, head_y, head_z = lifted(result.function, xs, ys, domain)
        last = trajectory.last_finite()[rows]
        diverged = trajectory.diverged[rows]
        for start in range(len(xs)):
            end = int(last[start])
            # Markers along a 3D path only clutter it: the legend and the end marker carry the shape.
            axes.plot(trail_x[start, :end + 1], trail_y[start, :end + 1], trail_z[start, :end + 1],
                      color=colour(index), linewidth=1.0 if many else 1.8, alpha=0.4 if many else 0.95,
                      path_effects=[] if many else halo(1.8), zorder=TRAIL_Z, label="_trail")
            if not many:
                axes.plot([head_x[start, 0]], [head_y[start, 0]], [head_z[start, 0]], marker="o", markersize=8,
                          color=colour(index), markerfacecolor="white", markeredgewidth=1.8, linestyle="none",
                          zorder=HEAD_Z, label="_start")
            axes.plot([head_x[start, end]], [head_y[start, end]], [head_z[start, end]],
                      marker="X" if diverged[start] else marker(index), markersize=7 if many else 11,
                      color=colour(index), markeredgecolor="black", linestyle="none", zorder=HEAD_Z, label="_end")
        handles.append(Line2D([], [], color=colour(index), marker=marker(index), markeredgecolor="black",
                              linewidth=1.8, label=_label(trajectory)))
    axes.set_title(f"{result.function.name}: paths on the surface over {result.config.steps} steps")
    axes.legend(handles=handles, loc="upper left", fontsize="small", framealpha=0.85)
    return axes


def _label(trajectory) -> str:
    """The legend entry: the label, and when and how often the optimizer diverged, or why it failed."""
    count = int(trajectory.diverged.sum())
    many = len(trajectory.positions) > 1 and count
    return diverged_label(trajectory, trajectory.label + (f" ({count} of {len(trajectory.positions)} diverged)" if many else ""))


def save_surface(result: RunResult, path: str | Path) -> Path:
    """Write ``surface.png`` (or .svg/.pdf by suffix) for ``result``, a run on a 2D function."""
    render = result.config.render
    figure, axes = new_figure(render.size, render.dpi, projection="3d")
    plot_surface(result, axes)
    return save_figure(figure, path, note=result.config.figure_note)
