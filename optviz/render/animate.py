"""The race: optimizers' heads moving with trailing paths, frame by frame.

One ``update`` function drives both the saved file (fast blitted frames, see
:mod:`optviz.render.frames`) and a live FuncAnimation (``--show``, notebooks), so what
you see live and what is saved are the same frames. The race runs over the
contour map (optionally with arrows of the negative gradient), along a 1D
curve, or over the 3D surface (``view="3d"``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..errors import ConfigError
from ..load.checks import check_animation
from .arrows import KINDS, LONGEST, MAX_ARROW_STARTS, arrow_lengths, arrow_style, side, vectors
from .clip import frozen_coordinates, pin_to_edge
from .landscape import draw_gradient_field, draw_landscape
from .style import add_note, colour, diverged_label, halo, literal_text, marker, new_figure
from .path import shown_starts
from .surface import HEAD_Z, TRAIL_Z, draw_surface, lifted

if TYPE_CHECKING:
    from ..results import RunResult


@dataclass
class Scene:
    """A figure with its moving artists created once, and the update that moves them."""

    figure: object
    update: Callable[[int], list]
    frames: list[int]  # record indices shown, thinned to the configured count
    heads: list
    trails: list
    counter: object
    arrows: list = field(default_factory=list)  # the internals' arrows riding with the heads

    @property
    def artists(self) -> list:
        return [*self.trails, *self.heads, *self.arrows, self.counter]


def frame_records(records: int, frames: int) -> list[int]:
    """Up to ``frames`` record indices spread evenly from the first to the last."""
    return sorted(set(np.linspace(0, records - 1, min(frames, records)).round().astype(int).tolist()))


def build_scene(result: RunResult, *, frames: int | None = None, trail: int | None = None, pyplot: bool = False,
                view: str | None = None, quiver: bool | None = None, internals: bool | None = None) -> Scene:
    """Draw the static landscape once and create one head and one trail artist per optimizer.

    ``view`` "2d" races over the contour map (or along a 1D curve), "3d" over the
    surface; ``quiver`` adds arrows of the negative gradient under a 2D race; ``internals``
    arrows of each head's -gradient, momentum and update (see :mod:`optviz.render.arrows`),
    riding along with it. All default to ``render.animation``.
    """
    render = result.config.render
    frames = frames or render.animation.frames
    trail = render.animation.trail if trail is None else trail
    view = view or render.animation.view
    quiver = render.animation.quiver if quiver is None else quiver
    internals = render.animation.internals if internals is None else internals
    check_animation(result.function, view, quiver)
    if internals:
        check_internals(result, view)
    if view == "3d":
        return _surface_scene(result, frames, trail, pyplot)
    figure, axes = new_figure(render.size, render.dpi, pyplot=pyplot)
    add_note(figure, result.config.figure_note)
    domain = result.domain
    draw_landscape(axes, result.function, domain, resolution=render.resolution)
    if quiver:
        draw_gradient_field(axes, result.function, domain)
    heads, trails = [], []
    for index, trajectory in enumerate(result):
        single = len(trajectory.positions) == 1
        label = diverged_label(trajectory)
        (trail_line,) = axes.plot([], [], color=colour(index), linewidth=1.6 if single else 0.8,
                                  alpha=0.9 if single else 0.35, path_effects=halo(1.6) if single else [], zorder=3)
        (head,) = axes.plot([], [], color=colour(index), marker=marker(index), markersize=10 if single else 5,
                            markeredgecolor="black", markeredgewidth=0.8, linestyle="none", zorder=4, label=label)
        heads.append(head)
        trails.append(trail_line)
    # Clipped to the Axes (where it lies anyway), so that frames redraw the Axes alone.
    counter = axes.text(0.02, 0.97, "", transform=axes.transAxes, va="top", ha="left", zorder=5, clip_on=True,
                        bbox=dict(boxstyle="round", facecolor="white", alpha=0.8), fontsize="medium")
    axes.legend(handles=heads, loc="upper right", fontsize="small", framealpha=0.85)
    axes.set_title(f"{result.function.name}: optimizers racing downhill")
    # Tens of thousands of moving heads would make every frame slow and unreadable: the race
    # shows the same subset of starts as path.png.
    rows = shown_starts(result)
    coordinates = [frozen_coordinates(trajectory, result.dim, rows) for trajectory in result]
    # A head that leaves the plot (a diverging run) waits where it crossed the edge.
    positions = [pin_to_edge(xs, ys, axes.get_xlim(), axes.get_ylim()) for xs, ys in coordinates]
    arrows = _arrows(axes, result, rows[:MAX_ARROW_STARTS]) if internals else []
    if arrows:
        from .arrows import ARROWS_NOTE, legend_handles

        figure.legend(handles=legend_handles(False), loc="outside lower center", ncols=3, fontsize="small",
                      frameon=False, title=ARROWS_NOTE.replace("; ellipse semi-axes: the per-axis effective lr", ""),
                      title_fontsize="x-small")
    update = functools.partial(_update, heads=heads, trails=trails, counter=counter, coordinates=coordinates,
                               positions=positions, steps=result.trajectories[0].steps, trail=trail,
                               total=result.config.steps, arrows=arrows)
    _settle(figure)
    return Scene(figure=figure, update=update, frames=frame_records(len(result.trajectories[0].steps), frames),
                 heads=heads, trails=trails, counter=counter, arrows=[quiver for quiver, *_ in arrows])



def check_internals(result: RunResult, view: str) -> None:
    """Refuse arrows of the internals where they cannot be drawn: a 3D or 1D race, a run that recorded none."""
    if view == "3d" or result.dim != 2:
        raise ConfigError("--internals draws arrows on the flat map of a function of two variables; "
                          + ("it does not combine with --3d" if view == "3d" else f"{result.function.name} has one"),
                          path="render.animation.internals")
    if all(trajectory.internals is None for trajectory in result):
        raise ConfigError("this run recorded no optimizer internals to draw (record.internals: false, or they did not "
                          "fit); run it again with record.internals: true", path="render.animation.internals")


def _arrows(axes, result: RunResult, rows: np.ndarray) -> list[tuple]:
    """One Quiver per optimizer and kind of arrow, with its head positions and scaled vectors per record."""
    longest = LONGEST * side(axes)
    arrows = []
    order = [kind for kind, *_ in KINDS]
    for trajectory in result:
        if trajectory.internals is None:
            continue
        kinds = vectors(trajectory.internals)
        for kind in sorted(kinds, key=order.index):
            scaled = arrow_lengths(kinds[kind][rows], longest)
            points = trajectory.positions[rows]
            quiver = axes.quiver(points[:, 0, 0], points[:, 0, 1], np.zeros(len(rows)), np.zeros(len(rows)),
                                 label=f"_{kind}", **arrow_style(kind))
            arrows.append((quiver, points, scaled))
    return arrows


def _surface_scene(result, frames: int, trail: int | None, pyplot: bool) -> Scene:
    """The race over the 3D surface: paths lifted onto it, heads at f(position)."""
    render = result.config.render
    figure, axes = new_figure(render.size, render.dpi, pyplot=pyplot, projection="3d")
    add_note(figure, result.config.figure_note)
    domain = result.domain
    draw_surface(axes, result.function, domain, resolution=render.resolution)
    heads, trails, coordinates = [], [], []
    rows = shown_starts(result)
    for index, trajectory in enumerate(result):
        single = len(trajectory.positions) == 1
        label = diverged_label(trajectory)
        (trail_line,) = axes.plot([], [], [], color=colour(index), linewidth=1.8 if single else 0.8,
                                  alpha=0.95 if single else 0.35, path_effects=halo(1.8) if single else [],
                                  zorder=TRAIL_Z)
        (head,) = axes.plot([], [], [], color=colour(index), marker=marker(index), markersize=10 if single else 5,
                            markeredgecolor="black", markeredgewidth=0.8, linestyle="none", zorder=HEAD_Z,
                            label=label)
        heads.append(head)
        trails.append(trail_line)
        coordinates.append(lifted(result.function, *frozen_coordinates(trajectory, 2, rows), domain))
    counter = axes.text2D(0.02, 0.97, "", transform=axes.transAxes, va="top", ha="left", zorder=5, clip_on=True,
                          bbox=dict(boxstyle="round", facecolor="white", alpha=0.8), fontsize="medium")
    axes.legend(handles=heads, loc="upper right", fontsize="small", framealpha=0.85)
    axes.set_title(f"{result.function.name}: optimizers racing downhill")
    update = functools.partial(_update_3d, heads=heads, trails=trails, counter=counter, coordinates=coordinates,
                               steps=result.trajectories[0].steps, trail=trail, total=result.config.steps)
    _settle(figure)
    return Scene(figure=figure, update=update, frames=frame_records(len(result.trajectories[0].steps), frames),
                 heads=heads, trails=trails, counter=counter)


def _settle(figure) -> None:
    """Lay the figure out once: constrained layout moves the Axes a pixel between its first and
    second draw, and FuncAnimation's first frame would otherwise differ from the saved one."""
    literal_text(figure)
    figure.draw_without_rendering()


def _update_3d(record: int, *, heads, trails, counter, coordinates, steps, trail, total):
    first = 0 if trail is None else max(0, record - trail)
    for head, trail_line, (xs, ys, zs, head_xs, head_ys, head_zs) in zip(heads, trails, coordinates):
        head.set_data(head_xs[:, record], head_ys[:, record])
        head.set_3d_properties(head_zs[:, record])
        gap = np.full((len(xs), 1), np.nan)  # NaN breaks the line between starts
        segment = [np.hstack([values[:, first:record + 1], gap]).ravel() for values in (xs, ys, zs)]
        trail_line.set_data(segment[0], segment[1])
        trail_line.set_3d_properties(segment[2])
    counter.set_text(f"step {int(steps[record])} / {total}")
    return [*trails, *heads, counter]


def _update(record: int, *, heads, trails, counter, coordinates, positions, steps, trail, total, arrows=()):
    first = 0 if trail is None else max(0, record - trail)
    for quiver, points, scaled in arrows:
        quiver.set_offsets(np.nan_to_num(points[:, record]))
        vector = np.ma.masked_invalid(scaled[:, record])
        quiver.set_UVC(vector[:, 0], vector[:, 1])
    for head, trail_line, (xs, ys), (head_xs, head_ys) in zip(heads, trails, coordinates, positions):
        head.set_data(head_xs[:, record], head_ys[:, record])
        segment_x, segment_y = xs[:, first:record + 1], ys[:, first:record + 1]
        gap = np.full((len(xs), 1), np.nan)  # NaN breaks the line between starts
        trail_line.set_data(np.hstack([segment_x, gap]).ravel(), np.hstack([segment_y, gap]).ravel())
    counter.set_text(f"step {int(steps[record])} / {total}")
    return [*trails, *heads, *(quiver for quiver, *_ in arrows), counter]


def save_animation(result: RunResult, path: str | Path, *, frames: int | None = None, fps: float | None = None,
                   trail: int | None = None, view: str | None = None, quiver: bool | None = None,
                   internals: bool | None = None, progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the race to ``path`` (.gif or .mp4) and return the path; ``progress(done, total)`` per frame."""
    from .frames import save_animation as write_frames

    scene = build_scene(result, frames=frames, trail=trail, view=view, quiver=quiver, internals=internals)
    fps = fps or result.config.render.animation.fps
    return write_frames(scene.figure, scene.update, scene.frames, Path(path), fps=fps, progress=progress)


def live_animation(result: RunResult, *, frames: int | None = None, trail: int | None = None, fps: float | None = None,
                   view: str | None = None, quiver: bool | None = None, internals: bool | None = None,
                   pyplot: bool = False):
    """A matplotlib FuncAnimation of the same frames, for ``--show`` and notebooks (``.to_jshtml()``)."""
    from .frames import live_animation as animate_live

    scene = build_scene(result, frames=frames, trail=trail, pyplot=pyplot, view=view, quiver=quiver,
                        internals=internals)
    fps = fps or result.config.render.animation.fps
    return animate_live(scene.figure, scene.update, scene.frames, interval=1000 / fps)
