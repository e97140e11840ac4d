"""Why each optimizer moves as it does: ``internals.png``, drawn from its recorded state.

Six panels against step, one line per optimizer in its usual colour (the median over
the starts when there are several; see :mod:`optviz.results.internals` for what row k is):

- the effective lr per axis, |update_i| / |grad_i| (log): SGD's constant lr on every
  axis, Adam's own scale per coordinate (x solid, y dashed);
- the cosine between the update and the negative gradient: 1 is straight downhill,
  below 0 is momentum carrying uphill;
- the gradient norm and the update norm;
- the momentum's norm (``momentum_buffer``, or Adam's ``exp_avg``) where there is one;
- the update norm against the gradient norm, step by step (log-log): plain gradient
  descent lies on a line of slope 1 at height lr, a normalized step does not follow the gradient.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..results.internals import effective_lr, norm, update_cosine
from .style import blank_figure, colour, diverged_label, marker, save_figure, spans_decades

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..results import RunResult, Trajectory

# The figure is drawn this much larger than ``render.size`` (width, height): six panels.
SCALE = (1.6, 2.0)
AXIS_STYLES = ("-", "--")  # x, y


def has_internals(result: RunResult) -> bool:
    """Whether any optimizer of ``result`` recorded its internals (``record.internals``)."""
    return any(trajectory.internals is not None for trajectory in result)


def plot_internals(result: RunResult, figure: Figure | None = None):
    """Draw the six panels of ``result`` into ``figure`` (a new one if None); return the 3x2 array of Axes."""
    render = result.config.render
    if figure is None:
        figure = blank_figure((render.size[0] * SCALE[0], render.size[1] * SCALE[1]), render.dpi)
    grid = figure.subplots(3, 2, squeeze=False)
    lr_axes, cosine_axes, gradient_axes, update_axes, momentum_axes, against_axes = grid.ravel()
    drawn = [(index, trajectory) for index, trajectory in enumerate(result) if trajectory.internals is not None]
    without_momentum, momentum_names = [], {}
    for index, trajectory in drawn:
        internals = trajectory.internals
        steps = trajectory.steps[:-1]  # the last record takes no step
        style = _style(index, len(result.trajectories), len(steps))
        label = diverged_label(trajectory)
        ratio = _median(effective_lr(internals))[:-1]
        for axis in range(result.dim):
            lr_axes.plot(steps, ratio[:, axis], linestyle=AXIS_STYLES[axis % 2], label=label if axis == 0 else "_",
                         **style)
        cosine_axes.plot(steps, _median(update_cosine(internals))[:-1], label=label, **style)
        gradient = _median(norm(internals.gradient))[:-1]
        update = _median(norm(internals.update))[:-1]
        gradient_axes.plot(steps, gradient, label=label, **style)
        update_axes.plot(steps, update, label=label, **style)
        if internals.momentum is not None:
            momentum_axes.plot(steps, _median(norm(internals.momentum))[:-1], label=label, **style)
            momentum_names.setdefault(internals.momentum_name, []).append(trajectory.label)
        else:
            without_momentum.append(trajectory.label)
        against_axes.plot(gradient, update, label=label, **{**style, "markevery": 1, "markersize": 3,
                                                            "linewidth": 0.6})
    _finish(lr_axes, "effective lr per axis  |update_i| / |grad_i|", "step size", log=True)
    _finish(cosine_axes, "cosine of update and -gradient  (1: straight downhill)", "cosine")
    cosine_axes.set_ylim(-1.08, 1.08)
    cosine_axes.axhline(0, color="0.5", linewidth=0.8, zorder=1)
    _finish(gradient_axes, "gradient norm  |grad f(x_k)|", "norm")
    _finish(update_axes, "update norm  |x_(k+1) - x_k|", "norm")
    named = "; ".join(f"{name} of {', '.join(labels)}" for name, labels in momentum_names.items())
    _finish(momentum_axes, f"momentum norm ({named})" if named else "momentum norm", "norm")
    if without_momentum:
        # Wrapped here: matplotlib's own wrapping measures the text as mathtext, which a label may break.
        momentum_axes.text(0.98, 0.97, textwrap.fill("no momentum state: " + ", ".join(without_momentum), 50),
                           transform=momentum_axes.transAxes, ha="right", va="top", fontsize="small", color="0.35",
                           bbox=dict(facecolor="white", edgecolor="none", alpha=0.8))
    if not momentum_axes.get_lines():
        momentum_axes.tick_params(left=False, labelleft=False)
    _finish(against_axes, "update norm against gradient norm (one point per step)", "update norm",
            log=True, log_x=True)
    against_axes.set_xlabel("gradient norm")
    for axes in (lr_axes, cosine_axes, gradient_axes, update_axes, momentum_axes):
        axes.set_xlabel("step")
    _legend(figure, result, [index for index, _ in drawn])
    over = f" (median over {result.rows_in_words()})" if len(result.starts) > 1 else ""
    skipped = [trajectory.label for trajectory in result if trajectory.internals is None]
    figure.suptitle(f"{result.function.name}: why each optimizer moves{over}" +
                    (f"\nnot recorded: {', '.join(skipped)}" if skipped else ""))
    return grid


def _style(index: int, count: int, records: int) -> dict:
    every = max(1, records // 12)
    # Markers shifted per optimizer, so curves that coincide stay told apart (as diagnostics.png).
    return dict(color=colour(index), marker=marker(index), markersize=4.5, markeredgecolor="black",
                markeredgewidth=0.5, markevery=(index * every // max(count, 1), every), linewidth=1.4)


def _median(values: np.ndarray) -> np.ndarray:
    """The median over the starts (axis 0), NaN where every start is."""
    if len(values) == 1:
        return values[0]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # records where every start has diverged
        return np.nanmedian(values, axis=0)


def _finish(axes, title: str, ylabel: str, *, log: bool = False, log_x: bool = False) -> None:
    """Title, label and grid; a log axis where asked for or where the values span decades."""
    values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in axes.get_lines()] or [np.array([])])
    if log or spans_decades(values):
        positive = values[np.isfinite(values) & (values > 0)]
        if positive.size:
            axes.set_yscale("log")
    if log_x:
        xs = np.concatenate([np.asarray(line.get_xdata(), dtype=float) for line in axes.get_lines()] or [np.array([])])
        if (np.isfinite(xs) & (xs > 0)).any():
            axes.set_xscale("log")
    axes.set_title(title, fontsize="medium")
    axes.set_ylabel(ylabel)
    axes.grid(True, which="major", alpha=0.3)


def _legend(figure, result: RunResult, indices: list[int]) -> None:
    """One legend under the panels: every optimizer, and for 2D which line style is which axis."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour(index), marker=marker(index), markeredgecolor="black",
                      markeredgewidth=0.5, label=diverged_label(result.trajectories[index])) for index in indices]
    if result.dim == 2:
        handles += [Line2D([], [], color="0.3", linestyle=style, label=f"effective lr along {axis}")
                    for style, axis in zip(AXIS_STYLES, "xy")]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize="small",
                  frameon=False)


def save_internals(result: RunResult, path: str | Path) -> Path:
    """Write ``internals.png`` (or .svg/.pdf by suffix) for ``result``, whose optimizers recorded their internals."""
    render = result.config.render
    figure = blank_figure((render.size[0] * SCALE[0], render.size[1] * SCALE[1]), render.dpi)
    plot_internals(result, figure)
    return save_figure(figure, path, note=result.config.figure_note)
