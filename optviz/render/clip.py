"""Keeping figures readable when a path blows up: limits set by the healthy data, exits marked at the edge.

A diverged optimizer reaches values like 1e38 before it turns into inf. Letting
it set the axis limits would squash every other curve into a line, so the limits
follow the runs that stayed finite, the diverged path leaves through the edge of
the plot, and its end marker sits where it crossed that edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..results import Trajectory

# Room left around the healthy data, as a fraction of its span (in decades on log axes).
_MARGIN = 0.05


def padded_limits(values: np.ndarray, *, log: bool = False) -> tuple[float, float] | None:
    """Axis limits just around the finite ``values`` (positive ones on a log axis); None if there are none."""
    values = floats(values)
    # Reductions over a mask, not over a copy: a million-start map's losses are 11 million values.
    kept = np.isfinite(values)
    if log:
        kept &= values > 0
    if not kept.any():
        return None
    low, high = float(values.min(where=kept, initial=np.inf)), float(values.max(where=kept, initial=-np.inf))
    if log:
        span = max(np.log10(high / low), 1.0)
        return low / 10 ** (_MARGIN * span), high * 10 ** (_MARGIN * span)
    span = high - low if high > low else max(abs(high), 1.0)
    return low - _MARGIN * span, high + _MARGIN * span


def exceeds(values: np.ndarray, limits: tuple[float, float]) -> bool:
    """True when some finite value lies outside ``limits``, or some value is not finite."""
    values = floats(values)
    if values.size == 0:
        return False
    if not np.isfinite(values).all():
        return True
    return float(values.min()) < limits[0] or float(values.max()) > limits[1]


def floats(values: np.ndarray) -> np.ndarray:
    """``values`` as an array of floats, not copied when it is one (float32 losses stay float32:
    their extremes compare with float limits exactly)."""
    values = np.asarray(values)
    return values if values.dtype.kind == "f" else values.astype(float)


def edge_crossing(xs: np.ndarray, ys: np.ndarray, xlim: tuple[float, float],
                  ylim: tuple[float, float], *, log_y: bool = False) -> tuple[float, float] | None:
    """Where a path whose last point lies outside the box last left it through the edge.

    ``xs`` and ``ys`` are the finite points of the path, in order; with ``log_y`` the
    segments are straight in log10(y), as a log axis draws them. Returns None when
    the path ends inside the box, or was never inside it.
    """
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if log_y:
        with np.errstate(all="ignore"):
            crossing = edge_crossing(xs, np.log10(ys), xlim, tuple(np.log10(sorted(ylim))))
        return None if crossing is None else (crossing[0], 10 ** crossing[1])
    inside = _inside(xs, ys, xlim, ylim)
    if inside.size == 0 or inside[-1] or not inside.any():
        return None
    last = int(np.flatnonzero(inside)[-1])
    x, y = _exit_points(xs[last], ys[last], xs[last + 1], ys[last + 1], xlim, ylim)
    return float(x), float(y)


def pin_to_edge(xs: np.ndarray, ys: np.ndarray, xlim: tuple[float, float],
                ylim: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``(starts, records)`` coordinates in which a point outside the box is moved to
    where its path last crossed the edge (or, for a path that began outside, the nearest
    point of the box): an animated head that leaves the plot waits at the edge."""
    xs, ys = np.array(xs, dtype=float), np.array(ys, dtype=float)
    inside = _inside(xs, ys, xlim, ylim)
    exits = ~inside
    exits[:, 0] = False
    exits[:, 1:] &= inside[:, :-1]
    starts, records = np.nonzero(exits)
    exit_x = np.full(xs.shape, np.nan)
    exit_y = np.full(ys.shape, np.nan)
    exit_x[exits], exit_y[exits] = _exit_points(xs[starts, records - 1], ys[starts, records - 1],
                                                xs[starts, records], ys[starts, records], xlim, ylim)
    # Every outside point takes the latest exit before it (inside points reset nothing:
    # leaving again makes a newer exit).
    latest = np.maximum.accumulate(np.where(exits, np.arange(xs.shape[1]), -1), axis=1)
    rows = np.arange(xs.shape[0])[:, None]
    has_exit = latest >= 0
    clamped_x, clamped_y = np.clip(xs, *sorted(xlim)), np.clip(ys, *sorted(ylim))
    pinned_x = np.where(has_exit, exit_x[rows, np.maximum(latest, 0)], clamped_x)
    pinned_y = np.where(has_exit, exit_y[rows, np.maximum(latest, 0)], clamped_y)
    return np.where(inside, xs, pinned_x), np.where(inside, ys, pinned_y)


def _inside(xs: np.ndarray, ys: np.ndarray, xlim: tuple[float, float], ylim: tuple[float, float]) -> np.ndarray:
    (x_low, x_high), (y_low, y_high) = sorted(xlim), sorted(ylim)
    return (xs >= x_low) & (xs <= x_high) & (ys >= y_low) & (ys <= y_high)


def _exit_points(from_x, from_y, to_x, to_y, xlim, ylim) -> tuple[np.ndarray, np.ndarray]:
    """Where segments from inside the box to outside it cross its edge; a segment to a
    non-finite point ends where it began."""
    start = np.stack([np.asarray(from_x, dtype=float), np.asarray(from_y, dtype=float)])
    end = np.stack([np.asarray(to_x, dtype=float), np.asarray(to_y, dtype=float)])
    step = end - start
    fraction = np.ones(start.shape[1:])
    with np.errstate(all="ignore"):
        for axis, (low, high) in enumerate((sorted(xlim), sorted(ylim))):
            fraction = np.fmin(fraction, np.where(step[axis] > 0, (high - start[axis]) / step[axis], np.inf))
            fraction = np.fmin(fraction, np.where(step[axis] < 0, (low - start[axis]) / step[axis], np.inf))
    fraction = np.where(np.isfinite(end).all(axis=0), fraction, 0.0)
    point = start + fraction * np.where(np.isfinite(step), step, 0.0)
    return point[0], point[1]


def frozen_coordinates(trajectory: Trajectory, dim: int = 2,
                       rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """What is plotted per ``[start, record]`` for the starts in ``rows`` (all if None): x and y in 2D,
    x and f(x) in 1D, each held at its last finite point after a divergence."""
    rows = np.arange(len(trajectory.positions)) if rows is None else rows
    last = trajectory.last_finite()[rows]
    held = np.minimum(np.arange(trajectory.positions.shape[1])[None, :], last[:, None])
    second = trajectory.loss[rows] if dim == 1 else trajectory.positions[rows, :, 1]
    return (np.take_along_axis(trajectory.positions[rows, :, 0], held, axis=1),
            np.take_along_axis(second, held, axis=1))
