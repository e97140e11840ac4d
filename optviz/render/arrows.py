"""Arrows of what moves an optimizer, drawn at its positions: -gradient, momentum and the update taken.

From the recorded internals (:mod:`optviz.results.internals`), at a record k of a 2D run:

- **-gradient**: the way down at x_k;
- **momentum**: the negative of the momentum state (``momentum_buffer``, Adam's ``exp_avg``),
  the way it pushes; only for optimizers that keep one;
- **update**: x_{k+1} - x_k, the step actually taken.

Directions are exact. Lengths are not to one scale, since a gradient of 10 and a step of
0.001 would leave one of them invisible: for each optimizer and kind of arrow, the longest
is :data:`LONGEST` of the plot's smaller side and shorter ones shrink with the log of their
norm over :data:`DECADES` decades (at least a fifth of the longest), as the quiver field of
``optviz animate --quiver`` does. The legend says so.

For optimizers that scale each coordinate by its gradients' running size (Adam, RMSprop,
Adagrad, ...: :attr:`Internals.preconditioned`), an ellipse at x_k whose semi-axes are the
effective lr along x and y, |update_i| / |grad_i|, scaled so the optimizer's largest is
:data:`ELLIPSE` of the plot's smaller side: its shape is the preconditioner's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..results.internals import Internals, effective_lr, norm

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# (kind, legend text, face colour, edge colour), drawn in this order (the update on top).
KINDS = (
    ("gradient", "-gradient", "black", "white"),
    ("momentum", "momentum (-buffer)", "#C51B7D", "white"),
    ("update", "update taken", "white", "black"),
)
LONGEST = 0.08  # of the plot's smaller side
# Starts per optimizer whose internals get arrows (on path.png and riding with the animation's heads):
# more would hide the map.
MAX_ARROW_STARTS = 8
DECADES = 3.0
ELLIPSE = 0.05  # the largest semi-axis, of the plot's smaller side


def vectors(internals: Internals) -> dict[str, np.ndarray]:
    """The arrows' vectors by kind, ``(starts, records, 2)``; no momentum for optimizers without one."""
    found = {"gradient": -internals.gradient, "update": internals.update}
    if internals.momentum is not None:
        found["momentum"] = -internals.momentum
    return found


def arrow_lengths(values: np.ndarray, longest: float) -> np.ndarray:
    """``values`` (..., 2) rescaled for drawing: directions kept, the largest norm ``longest``, smaller
    ones shorter by the log of their norm over :data:`DECADES` decades (at least ``longest`` / 5). NaN
    where a vector is missing or zero."""
    lengths = norm(values)
    finite = lengths[np.isfinite(lengths) & (lengths > 0)]
    if not finite.size:
        return np.full_like(values, np.nan)
    with np.errstate(all="ignore"):
        scale = np.clip(1 + np.log10(lengths / finite.max()) / DECADES, 0.2, 1.0) * longest / lengths
    scaled = values * scale[..., None]
    return np.where(np.isfinite(scaled).all(-1, keepdims=True) & (lengths > 0)[..., None], scaled, np.nan)


def side(axes: Axes) -> float:
    """The plot's smaller side in data units (arrows are drawn with one scale for x and y)."""
    (x_low, x_high), (y_low, y_high) = sorted(axes.get_xlim()), sorted(axes.get_ylim())
    return min(x_high - x_low, y_high - y_low)


def arrow_style(kind: str) -> dict:
    face, edge = next((face, edge) for name, _, face, edge in KINDS if name == kind)
    return dict(angles="xy", scale_units="xy", scale=1, color=face, edgecolor=edge, linewidth=0.6, width=0.005,
                headwidth=3.6, headlength=4.2, headaxislength=3.8, zorder=6)


def draw_arrows(axes: Axes, positions: np.ndarray, internals: Internals, records: np.ndarray,
                *, ellipse_colour: str) -> None:
    """Arrows at ``positions`` (starts, records, 2) for the ``records`` chosen, and the preconditioner's ellipses."""
    longest = LONGEST * side(axes)
    points = positions[:, records]
    for kind, values in sorted(vectors(internals).items(), key=lambda item: [k for k, *_ in KINDS].index(item[0])):
        scaled = arrow_lengths(values, longest)[:, records]
        shown = np.isfinite(scaled).all(-1) & np.isfinite(points).all(-1)
        if shown.any():
            axes.quiver(points[shown][:, 0], points[shown][:, 1], scaled[shown][:, 0], scaled[shown][:, 1],
                        label=f"_{kind}", **arrow_style(kind))
    if internals.preconditioned:
        _ellipses(axes, points, effective_lr(internals)[:, records], ellipse_colour)


def _ellipses(axes: Axes, points: np.ndarray, ratios: np.ndarray, edge: str) -> None:
    from matplotlib.collections import EllipseCollection

    usable = np.isfinite(ratios).all(-1) & (ratios > 0).all(-1) & np.isfinite(points).all(-1)
    if not usable.any():
        return
    semi = ratios[usable] * (ELLIPSE * side(axes) / ratios[usable].max())
    axes.add_collection(EllipseCollection(2 * semi[:, 0], 2 * semi[:, 1], np.zeros(len(semi)), units="xy",
                                          offsets=points[usable], offset_transform=axes.transData,
                                          facecolors="none", edgecolors=edge, linewidths=1.2, zorder=5,
                                          label="_preconditioner"))


def legend_handles(preconditioned: bool) -> list:
    """Legend entries for the three kinds of arrow (and the ellipse), with how they are scaled."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=face, marker=r"$\rightarrow$", markersize=14, markeredgecolor=edge,
                      markeredgewidth=0.4, linestyle="none", label=text) for _, text, face, edge in KINDS]
    if preconditioned:
        handles.append(Line2D([], [], color="0.3", marker="o", markerfacecolor="none", markersize=9,
                              linestyle="none", label="per-axis effective lr (ellipse)"))
    return handles


ARROWS_NOTE = (f"Directions exact; lengths: per optimizer and kind the longest is {LONGEST:.0%} of the plot,\n"
               f"shorter ones by the log of their norm over {DECADES:g} decades; ellipse semi-axes: the per-axis effective lr")
