"""Loss against step, one curve (or a median and interquartile band) per optimizer."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .clip import edge_crossing, exceeds, padded_limits
from .style import colour, diverged_label, marker, new_figure, save_figure, spans_decades


def plot_loss(result, axes=None):
    """Draw every optimizer's loss against step into ``axes`` (a new figure if None); return the Axes."""
    if axes is None:
        _, axes = new_figure(result.config.render.size, result.config.render.dpi)
    curves, healthy, ends = [], [], []
    for index, trajectory in enumerate(result):
        steps = trajectory.steps
        # The limits follow the starts that stayed finite; a diverged curve leaves through the edge.
        healthy.extend([trajectory.loss[~trajectory.diverged].ravel(), trajectory.loss[:, 0]])
        if trajectory.loss.shape[0] == 1:
            loss = trajectory.loss[0]
            diverged = int(trajectory.diverged_step[0])
            label = diverged_label(trajectory.label, diverged if diverged >= 0 else None)
            axes.plot(steps, loss, color=colour(index), marker=marker(index), markersize=4,
                      markevery=max(1, len(steps) // 15), linewidth=1.6, label=label)
            if diverged >= 0:
                last = trajectory.last_finite()[0]
                ends.append((steps[: last + 1], loss[: last + 1], colour(index)))
            curves.append(loss)
        else:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # steps where every start has diverged
                lower, median, upper = np.nanpercentile(trajectory.loss, [25, 50, 75], axis=0)
            diverged = int(trajectory.diverged.sum())
            label = f"{trajectory.label} (median, IQR)" + (f"; {diverged} of {len(trajectory.loss)} diverged" if diverged else "")
            axes.plot(steps, median, color=colour(index), marker=marker(index), markersize=4,
                      markevery=max(1, len(steps) // 15), linewidth=1.6, label=label)
            axes.fill_between(steps, lower, upper, color=colour(index), alpha=0.2, linewidth=0)
            curves.extend([lower, upper])
    values = np.concatenate(healthy) if healthy else np.array([])
    if spans_decades(values):
        axes.set_yscale("log")
    minimum = result.function.min_value
    show_minimum = minimum is not None and (axes.get_yscale() == "linear" or minimum > 0)
    if show_minimum:
        axes.axhline(minimum, color="0.3", linestyle=":", linewidth=1, label=f"global minimum {minimum:.4g}")
        values = np.append(values, minimum)
    limits = padded_limits(values, log=axes.get_yscale() == "log")
    if limits is not None and any(exceeds(curve, limits) for curve in curves):
        axes.set_ylim(*limits)
    for steps, loss, line_colour in ends:
        crossing = edge_crossing(steps, loss, axes.get_xlim(), axes.get_ylim(), log_y=axes.get_yscale() == "log")
        end_x, end_y = crossing if crossing is not None else (steps[-1], loss[-1])
        axes.plot(end_x, end_y, marker="X", markersize=11, color=line_colour, markeredgecolor="black",
                  linestyle="none", zorder=5, clip_on=crossing is None)
    axes.set_xlabel("step")
    axes.set_ylabel("loss f(x)")
    axes.set_title(f"{result.function.name}: loss per step")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="best", fontsize="small")
    return axes


def save_loss(result, path: str | Path) -> Path:
    """Write ``loss.png`` (or .svg/.pdf by suffix) for ``result``."""
    figure, axes = new_figure(result.config.render.size, result.config.render.dpi)
    plot_loss(result, axes)
    return save_figure(figure, path)
