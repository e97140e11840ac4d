"""Figures of a network's loss landscape: every optimizer's path on one plane, and how far the plane is honest.

A network's landscape is a slice (:class:`~optviz.results.landscape.Plane`), and a path
projected onto it is only its shadow. So ``landscape.png`` puts, beside the contours and
the projected paths, a companion panel with the true loss at the recorded parameters
against the plane's loss at the projected points (where they part, the plane misleads),
and its caption says what share of each path's movement the plane explains and how far
the path strays from it. ``landscape-3d.png`` lifts the paths onto the surface (at the
plane's loss, the height they have on it); ``landscape-1d.png`` draws the straight-line
interpolations from the initial to each final point (Goodfellow et al. 2015).

Colours: log-spaced when the loss on the grid spans decades, as elsewhere in optviz.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .animate import Scene, frame_records
from .style import add_note, blank_figure, colour, halo, literal_text, marker, new_figure, save_figure, spans_decades

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from mpl_toolkits.mplot3d.axes3d import Axes3D

    from ..results.landscape import Landscape, Plane, PlanePath
    from ..results.network import NetworkResult

# Filled contour levels, and every how many of them a thin line is drawn.
LEVELS = 25
# Size in inches of the two-panel landscape.png (contours, companion), and of a one-panel figure.
WIDE = (12.0, 5.8)
SIZE = (7.0, 5.5)
DPI = 110
# Elevation and azimuth of the 3D camera, as surface.png.
VIEW = (38.0, -60.0)
SURFACE_Z, TRAIL_Z, HEAD_Z = 1, 3, 4


@dataclass(frozen=True)
class Shading:
    """How loss values become colours: linear, or log when they span decades."""

    log: bool
    low: float
    high: float

    def norm(self):
        from matplotlib import colors

        return colors.LogNorm(self.low, self.high) if self.log else colors.Normalize(self.low, self.high)

    def height(self, values: np.ndarray) -> np.ndarray:
        """Heights of a 3D surface: log10 of the loss when the colours are log (a linear height would
        flatten every valley into the floor under the walls that span decades), else the loss."""
        values = np.asarray(values, dtype=float)
        if not self.log:
            return values
        with np.errstate(all="ignore"):
            return np.log10(np.clip(values, self.low, None))

    @property
    def height_label(self) -> str:
        return "log10 loss on the plane" if self.log else "loss on the plane"

    def levels(self, count: int = LEVELS) -> np.ndarray:
        return np.geomspace(self.low, self.high, count) if self.log else np.linspace(self.low, self.high, count)


def shading(loss: np.ndarray) -> Shading:
    """The colour scale of a landscape's ``loss``: log when its finite values span two decades or more."""
    finite = np.asarray(loss, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return Shading(False, 0.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        high = low + max(abs(low), 1.0) * 1e-6
    return Shading(spans_decades(finite), low, high)


def axis_labels(plane: Plane) -> tuple[str, str]:
    """The (alpha, beta) axis labels: the kind of direction, and for PCA the share of variance each explains."""
    if plane.kind == "pca":
        names = ["PC1", "PC2"]
        if plane.explained is not None:
            names = [f"{name} ({share:.1f}% of variance)" for name, share in zip(names, plane.explained)]
        return names[0], names[1]
    if plane.kind == "random":
        return "alpha: random direction 1 (filter-normalized)", "beta: random direction 2 (filter-normalized)"
    if plane.kind == "points":
        return "alpha: direction 1 (plane through three points)", "beta: direction 2 (plane through three points)"
    return f"alpha ({plane.kind})", f"beta ({plane.kind})"


def _order(landscape: Landscape, labels: Sequence[str] | None) -> list[str]:
    """Optimizer labels in colour order: ``labels`` (the config's) first, then any others the landscape holds."""
    seen = list(labels or [])
    for item in [*landscape.paths, *landscape.interpolations]:
        if item.label not in seen:
            seen.append(item.label)
    return seen


def path_name(landscape: Landscape, path: PlanePath | object) -> str:
    """A path's name in a legend or caption: its label, and its seed when the landscape holds several."""
    seeds = {item.seed for item in [*landscape.paths, *landscape.interpolations]}
    return f"{path.label} (seed {path.seed})" if len(seeds) > 1 else path.label


def caption(landscape: Landscape) -> str:
    """One line per path: the share of its movement the plane explains and its largest off-plane distance."""
    lines = []
    for path in landscape.paths:
        residual = np.asarray(path.residual, dtype=float)
        farthest = float(np.nanmax(residual)) if residual.size and np.isfinite(residual).any() else float("nan")
        lines.append(f"{path_name(landscape, path)}: the plane explains {100 * path.explained:.0f}% of its movement; "
                     f"largest off-plane distance {farthest:.3g}")
    return "\n".join(lines)


def _contours(axes: Axes, landscape: Landscape, *, colorbar: bool = True):
    """Filled contours of the loss over (alpha, beta), a colour bar and axis labels; returns the Shading."""
    from matplotlib import ticker

    loss = np.ma.masked_invalid(np.asarray(landscape.loss, dtype=float))
    scale = shading(loss.compressed())
    levels = scale.levels()
    grid_a, grid_b = np.meshgrid(landscape.alphas, landscape.betas)
    # Values at the top of the scale would be left blank by contourf: clip them into it.
    shown = np.ma.clip(loss, scale.low, scale.high)
    mappable = axes.contourf(grid_a, grid_b, shown, levels=levels, norm=scale.norm(), cmap="viridis", zorder=0)
    axes.contour(grid_a, grid_b, shown, levels=levels[::2], colors="white", linewidths=0.4, alpha=0.5, zorder=0)
    if colorbar:
        bar = axes.figure.colorbar(mappable, ax=axes, shrink=0.9, pad=0.02)
        bar.set_label(f"loss on the plane ({landscape.data} set{', log scale' if scale.log else ''})")
        if scale.log:
            bar.locator = ticker.LogLocator()
            bar.formatter = ticker.LogFormatterSciNotation()
        else:  # contourf would tick every level (11.25, 9.91, ...): round values read better
            bar.locator = ticker.MaxNLocator(8)
        bar.update_ticks()
    axes.set_xlim(float(np.min(landscape.alphas)), float(np.max(landscape.alphas)))
    axes.set_ylim(float(np.min(landscape.betas)), float(np.max(landscape.betas)))
    xlabel, ylabel = axis_labels(landscape.plane)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    return scale


def _path_handles(landscape: Landscape, order: list[str]) -> list:
    from matplotlib.lines import Line2D

    handles = []
    for path in landscape.paths:
        index = order.index(path.label)
        handles.append(Line2D([], [], color=colour(index), marker=marker(index), markeredgecolor="black",
                              linewidth=1.8, label=path_name(landscape, path)))
    return handles


def _key_handles(landscape: Landscape) -> list:
    """Legend entries shared by every path: where they start, and the plane's origin."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="0.3", marker="o", markerfacecolor="white", markeredgewidth=1.5, linestyle="none",
                      label="start")]
    if landscape.plane.origin_text:
        handles.append(Line2D([], [], color="black", marker="+", markersize=10, markeredgewidth=1.8, linestyle="none",
                              label=f"origin: {landscape.plane.origin_text}"))
    return handles


def plot_landscape(landscape: Landscape, axes: tuple[Axes, Axes] | None = None,
                   labels: Sequence[str] | None = None) -> tuple[Axes, Axes]:
    """Draw the contours with every projected path, and the companion panel; return ``(contours, companion)``.

    ``axes`` is the pair to draw into (by default a new figure of two panels, side by side);
    ``labels`` the optimizers in colour order (by default as the landscape lists them). The
    figure's title holds the :func:`caption`; its legend sits below both panels.
    """
    if axes is None:
        figure = blank_figure(WIDE, DPI)
        axes = tuple(figure.subplots(1, 2, width_ratios=(1.25, 1)))
    contours, companion = axes
    figure = contours.figure
    order = _order(landscape, labels)
    _contours(contours, landscape)
    for path in landscape.paths:
        index = order.index(path.label)
        coords = np.asarray(path.coords, dtype=float)
        contours.plot(coords[:, 0], coords[:, 1], color=colour(index), linewidth=1.8, path_effects=halo(1.8),
                      zorder=3, label="_path")
        contours.plot(coords[0, 0], coords[0, 1], marker="o", markersize=8, color=colour(index),
                      markerfacecolor="white", markeredgewidth=1.5, linestyle="none", zorder=4, label="_start")
        contours.plot(coords[-1, 0], coords[-1, 1], marker=marker(index), markersize=11, color=colour(index),
                      markeredgecolor="black", linestyle="none", zorder=5, label="_final")
    if landscape.plane.origin_text:
        contours.plot(0.0, 0.0, marker="+", markersize=10, markeredgewidth=1.8, color="black", linestyle="none",
                      zorder=5, label="_origin")
    contours.set_title("projected paths; final points marked", fontsize="medium")
    _companion(companion, landscape, order)
    handles = _path_handles(landscape, order) + _key_handles(landscape) + _style_handles()
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize="small",
                  framealpha=0.9)
    kind = "PCA" if landscape.plane.kind == "pca" else landscape.plane.kind
    title = f"loss landscape ({landscape.data} set) on one {kind} plane shared by every path"
    figure.suptitle(title + "\n" + caption(landscape), fontsize="medium")
    return contours, companion


def _style_handles() -> list:
    from matplotlib.lines import Line2D

    return [Line2D([], [], color="0.3", linewidth=1.6, label="true loss (recorded parameters)"),
            Line2D([], [], color="0.3", linewidth=1.6, linestyle="--", label="plane loss (projected point)")]


def _companion(axes: Axes, landscape: Landscape, order: list[str]) -> None:
    """Along each path, the true loss against the plane's loss at the projected point: two lines per path."""
    values = []
    for path in landscape.paths:
        index = order.index(path.label)
        iterations = np.asarray(path.iterations)
        axes.plot(iterations, path.true_loss, color=colour(index), linewidth=1.6, zorder=3,
                  label=f"_true {path_name(landscape, path)}")
        axes.plot(iterations, path.plane_loss, color=colour(index), linewidth=1.6, linestyle="--", zorder=3,
                  label=f"_plane {path_name(landscape, path)}")
        values += [np.asarray(path.true_loss, dtype=float), np.asarray(path.plane_loss, dtype=float)]
    if values and spans_decades(np.concatenate(values)):
        axes.set_yscale("log")
    axes.set_xlabel("iteration")
    axes.set_ylabel(f"loss ({landscape.data} set)")
    axes.set_title("where the plane lies about the path:\ntrue loss (solid) vs plane loss (dashed)",
                   fontsize="medium")
    axes.grid(True, alpha=0.3)


def save_landscape(landscape: Landscape, path: str | Path, *, labels: Sequence[str] | None = None,
                   note: str | None = None, dpi: int = DPI) -> Path:
    """Write ``landscape.png`` (or .svg/.pdf by suffix): :func:`plot_landscape`; return the path."""
    figure = blank_figure(WIDE, dpi)
    axes = tuple(figure.subplots(1, 2, width_ratios=(1.25, 1)))
    plot_landscape(landscape, axes, labels)
    return save_figure(figure, path, note=note)


def _surface(axes: Axes3D, landscape: Landscape) -> Shading:
    """The loss over the plane as a surface (heights: the loss; colours: log when it spans decades)."""
    from matplotlib import cm, colormaps, ticker

    loss = np.ma.masked_invalid(np.asarray(landscape.loss, dtype=float))
    scale = shading(loss.compressed())
    grid_a, grid_b = np.meshgrid(landscape.alphas, landscape.betas)
    cmap = colormaps["viridis"]
    facecolors = cmap(scale.norm()(np.clip(loss.filled(np.nan), scale.low, scale.high)))
    axes.computed_zorder = False
    axes.plot_surface(grid_a, grid_b, np.ma.masked_invalid(scale.height(loss.filled(np.nan))), facecolors=facecolors, rcount=len(landscape.betas),
                      ccount=len(landscape.alphas), linewidth=0, antialiased=False, shade=False, zorder=SURFACE_Z)
    bar = axes.figure.colorbar(cm.ScalarMappable(norm=scale.norm(), cmap=cmap), ax=axes, shrink=0.6, pad=0.1)
    bar.set_label(f"loss ({landscape.data} set{', log scale' if scale.log else ''})")
    if scale.log:
        bar.locator = ticker.LogLocator()
        bar.formatter = ticker.LogFormatterSciNotation()
        bar.update_ticks()
    xlabel, ylabel = axis_labels(landscape.plane)
    axes.set_xlabel(xlabel, fontsize="small")
    axes.set_ylabel(ylabel, fontsize="small")
    axes.set_zlabel(scale.height_label, labelpad=8)
    axes.set_xlim(float(np.min(landscape.alphas)), float(np.max(landscape.alphas)))
    axes.set_ylim(float(np.min(landscape.betas)), float(np.max(landscape.betas)))
    axes.view_init(*VIEW)
    return scale


def _lifted(landscape: Landscape, path: PlanePath, scale: Shading) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A path's (alpha, beta, height of the plane loss), kept inside the grid: a 3D plot does not clip to its box."""
    coords = np.asarray(path.coords, dtype=float)
    alphas = np.clip(coords[:, 0], np.min(landscape.alphas), np.max(landscape.alphas))
    betas = np.clip(coords[:, 1], np.min(landscape.betas), np.max(landscape.betas))
    return alphas, betas, scale.height(path.plane_loss)


def save_landscape_3d(landscape: Landscape, path: str | Path, *, labels: Sequence[str] | None = None,
                      note: str | None = None, size: Sequence[float] = SIZE, dpi: int = DPI) -> Path:
    """Write ``landscape-3d.png``: the loss surface with each path lifted onto it at the plane's loss."""
    figure, axes = new_figure(size, dpi, projection="3d")
    order = _order(landscape, labels)
    scale = _surface(axes, landscape)
    for plane_path in landscape.paths:
        index = order.index(plane_path.label)
        xs, ys, zs = _lifted(landscape, plane_path, scale)
        axes.plot(xs, ys, zs, color=colour(index), linewidth=1.8, path_effects=halo(1.8), zorder=TRAIL_Z,
                  label="_trail")
        axes.plot(xs[:1], ys[:1], zs[:1], marker="o", markersize=8, color=colour(index), markerfacecolor="white",
                  markeredgewidth=1.5, linestyle="none", zorder=HEAD_Z, label="_start")
        axes.plot(xs[-1:], ys[-1:], zs[-1:], marker=marker(index), markersize=11, color=colour(index),
                  markeredgecolor="black", linestyle="none", zorder=HEAD_Z, label="_final")
    handles = _path_handles(landscape, order) + _key_handles(landscape)[:1]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize="small",
                  framealpha=0.9)
    axes.set_title(f"loss surface ({landscape.data} set); paths lifted at the plane's loss", fontsize="medium")
    return save_figure(figure, path, note=note)


def save_landscape_1d(landscape: Landscape, path: str | Path, *, labels: Sequence[str] | None = None,
                      note: str | None = None, size: Sequence[float] = SIZE, dpi: int = DPI) -> Path:
    """Write ``landscape-1d.png``: the loss along the line from the initial point (t=0) to each final point (t=1)."""
    from matplotlib.lines import Line2D

    figure, axes = new_figure(size, dpi)
    order = _order(landscape, labels)
    values = []
    handles = []
    for line in landscape.interpolations:
        index = order.index(line.label)
        axes.plot(line.t, line.train_loss, color=colour(index), linewidth=1.8, label="_train")
        axes.plot(line.t, line.valid_loss, color=colour(index), linewidth=1.8, linestyle="--", label="_valid")
        values += [np.asarray(line.train_loss, dtype=float), np.asarray(line.valid_loss, dtype=float)]
        handles.append(Line2D([], [], color=colour(index), linewidth=1.8, label=path_name(landscape, line)))
    if values and spans_decades(np.concatenate(values)):
        axes.set_yscale("log")
    # Each mark's words sit on the side of its line that is inside the axes, so neither is cut off.
    for t, name, side in ((0.0, "t=0: initial", "left"), (1.0, "t=1: final", "right")):
        axes.axvline(t, color="0.4", linewidth=1.0, linestyle=":", zorder=1)
        axes.annotate(name, (t, 1.0), xycoords=("data", "axes fraction"), xytext=(3 if side == "left" else -3, -3),
                      textcoords="offset points", va="top", ha=side, fontsize="small", color="0.25")
    handles += [Line2D([], [], color="0.3", linewidth=1.8, label="train"),
                Line2D([], [], color="0.3", linewidth=1.8, linestyle="--", label="valid")]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize="small",
                  framealpha=0.9)
    axes.set_xlabel("t along (1 - t) * initial + t * final")
    axes.set_ylabel("loss")
    axes.grid(True, alpha=0.3)
    axes.set_title("loss on the straight line from the initial to each final point", fontsize="medium")
    return save_figure(figure, path, note=note)


def save_landscape_figures(landscape: Landscape, result: NetworkResult, out_dir: Path, fmt: str) -> list[str]:
    """Draw the landscape figures of a network run folder into ``out_dir``: ``landscape`` and ``landscape-3d``
    when there is a grid, ``landscape-1d`` when there are interpolations, each as ``<name>.<fmt>``;
    return the file names written, in that order."""
    out_dir = Path(out_dir)
    render = result.config.render
    common = dict(labels=result.labels, note=render.note, dpi=render.dpi)
    written = []
    if np.size(landscape.loss):
        written.append(save_landscape(landscape, out_dir / f"landscape.{fmt}", **common).name)
        written.append(save_landscape_3d(landscape, out_dir / f"landscape-3d.{fmt}", size=render.size,
                                         **common).name)
    if landscape.interpolations:
        written.append(save_landscape_1d(landscape, out_dir / f"landscape-1d.{fmt}", size=render.size,
                                         **common).name)
    return written


def landscape_scene(landscape: Landscape, *, frames: int = 100, trail: int | None = None, view: str = "2d",
                    labels: Sequence[str] | None = None, note: str | None = None, size: Sequence[float] = SIZE,
                    dpi: int = DPI, pyplot: bool = False) -> Scene:
    """The race over the plane: the static contours (``view`` "2d") or surface ("3d") drawn once, and a head
    with a trail per path; ``trail`` records of trail (None: all of it)."""
    if view not in ("2d", "3d"):
        from ..errors import ConfigError

        raise ConfigError(f"landscape animation: view must be 2d or 3d, got {view!r}")
    three = view == "3d"
    figure, axes = new_figure(size, dpi, pyplot=pyplot, **({"projection": "3d"} if three else {}))
    add_note(figure, note)
    order = _order(landscape, labels)
    scale = _surface(axes, landscape) if three else _contours(axes, landscape)
    heads, trails, coordinates = [], [], []
    for path in landscape.paths:
        index = order.index(path.label)
        empty = ([], [], []) if three else ([], [])
        (trail_line,) = axes.plot(*empty, color=colour(index), linewidth=1.8, path_effects=halo(1.8),
                                  zorder=TRAIL_Z)
        (head,) = axes.plot(*empty, color=colour(index), marker=marker(index), markersize=10,
                            markeredgecolor="black", markeredgewidth=0.8, linestyle="none", zorder=HEAD_Z,
                            label=path_name(landscape, path))
        heads.append(head)
        trails.append(trail_line)
        coordinates.append(_lifted(landscape, path, scale) if three else tuple(np.asarray(path.coords, dtype=float).T))
    text = axes.text2D if three else axes.text
    # Clipped to the Axes (where it lies anyway), so that frames redraw the Axes alone.
    counter = text(0.02, 0.97, "", transform=axes.transAxes, va="top", ha="left", zorder=6, clip_on=True,
                   bbox=dict(boxstyle="round", facecolor="white", alpha=0.8), fontsize="medium")
    figure.legend(handles=heads, loc="outside lower center", ncols=min(len(heads), 4), fontsize="small",
                  framealpha=0.9)
    axes.set_title(f"the race over the loss landscape ({landscape.data} set)", fontsize="medium")
    longest = max(landscape.paths, key=lambda plane_path: len(plane_path.iterations))
    iterations = np.asarray(longest.iterations)
    update = functools.partial(_update, heads=heads, trails=trails, counter=counter, coordinates=coordinates,
                               iterations=iterations, trail=trail, three=three)
    literal_text(figure)
    figure.draw_without_rendering()  # constrained layout settles on its second draw; lay it out before frame 0
    return Scene(figure=figure, update=update, frames=frame_records(len(iterations), frames), heads=heads,
                 trails=trails, counter=counter)


def _update(record: int, *, heads, trails, counter, coordinates, iterations, trail, three):
    for head, trail_line, values in zip(heads, trails, coordinates):
        last = min(record, len(values[0]) - 1)  # a shorter path waits at its end
        first = 0 if trail is None else max(0, last - trail)
        head.set_data(values[0][last:last + 1], values[1][last:last + 1])
        trail_line.set_data(values[0][first:last + 1], values[1][first:last + 1])
        if three:
            head.set_3d_properties(values[2][last:last + 1])
            trail_line.set_3d_properties(values[2][first:last + 1])
    counter.set_text(f"iteration {int(iterations[record])} / {int(iterations[-1])}")
    return [*trails, *heads, counter]


def save_landscape_animation(landscape: Landscape, path: str | Path, *, frames: int = 100, fps: float = 10,
                             trail: int | None = None, view: str = "2d", labels: Sequence[str] | None = None,
                             note: str | None = None, size: Sequence[float] = SIZE, dpi: int = DPI,
                             progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the race over the plane (``view`` "2d" or "3d") to ``path`` (.gif or .mp4); return the path."""
    from .frames import save_animation as write_frames

    scene = landscape_scene(landscape, frames=frames, trail=trail, view=view, labels=labels, note=note, size=size,
                            dpi=dpi)
    return write_frames(scene.figure, scene.update, scene.frames, Path(path), fps=fps, progress=progress)
