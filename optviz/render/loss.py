"""Loss against step, one curve (or a median and interquartile band) per optimizer."""

from __future__ import annotations

import dataclasses
import textwrap
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .clip import edge_crossing, exceeds, padded_limits
from .style import colour, diverged_label, marker, new_figure, save_one_or_panels, spans_decades

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..results import RunResult


def plot_loss(result: RunResult, axes: Axes | None = None, *, only: int | None = None, legend: bool = True,
              log: bool | None = None):
    """Draw every optimizer's loss against step into ``axes`` (a new figure if None); return the Axes.

    ``only`` draws just the optimizer with that index (one panel of :func:`plot_loss_panels`);
    ``log`` then says the scale shared by every panel (by default, whether the drawn values span decades).
    With many starts and one optimizer on the axes, each start's curve is drawn faintly
    under the median and interquartile band.
    """
    if axes is None:
        _, axes = new_figure(result.config.render.size, result.config.render.dpi)
    alone = only is not None or len(result.trajectories) == 1
    theory = _theory(result, only)
    curves, healthy, starts, ends = [], [], [], []
    for index, trajectory in enumerate(result):
        if only is not None and index != only:
            continue
        steps = trajectory.steps
        # The limits follow the starts that stayed finite; a diverged curve leaves through the edge.
        healthy.append(trajectory.loss[~trajectory.diverged].ravel())
        starts.append(trajectory.loss[:, 0])
        if trajectory.loss.shape[0] == 1:
            loss = trajectory.loss[0]
            diverged = int(trajectory.diverged_step[0])
            label = diverged_label(trajectory) + _rate(theory, index)
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
            over = f" over {result.rows_in_words()}" if result.noisy else ""
            label = diverged_label(trajectory, f"{trajectory.label} (median, IQR{over})" +
                                   (f"; {diverged} of {len(trajectory.loss)} diverged" if diverged else "")) + \
                _rate(theory, index)
            if alone:
                _draw_each_start(axes, result, trajectory, index)
                curves.append(trajectory.loss)  # a diverged start's curve must not stretch the axes either
            axes.plot(steps, median, color=colour(index), marker=marker(index), markersize=4,
                      markevery=max(1, len(steps) // 15), linewidth=1.6, label=label)
            axes.fill_between(steps, lower, upper, color=colour(index), alpha=0.2, linewidth=0)
            curves.extend([lower, upper])
    values = np.concatenate(healthy)
    if values.size:
        values = np.concatenate([values, *starts])
    else:  # every start diverged: then the blow-up itself is the story
        values = np.concatenate([curve.ravel() for curve in curves])
    if spans_decades(_landed(values, result)) if log is None else log:
        with np.errstate(over="ignore"):  # autoscaling over a diverged curve's 1e300 before the limits below
            axes.set_yscale("log", nonpositive="clip")  # a loss of exactly f* = 0 drops to the bottom edge
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
    _draw_theory(axes, result, theory)
    axes.set_xlabel("step")
    axes.set_ylabel("loss f(x)")
    title = f"{result.function.name}: loss per step" + (f", {result.noise_in_words()}" if result.noisy else "")
    axes.set_title(title if only is None else result.trajectories[only].label)
    axes.grid(True, which="both", alpha=0.3)
    if legend:
        axes.legend(loc="best", fontsize="small")
    return axes


def _landed(values: np.ndarray, result) -> np.ndarray:
    """``values`` without the exact zeros of a run that landed on a known minimum of 0 (4x^2 with lr 1/8
    does, in one step), so that the other values decide the scale; all of them otherwise."""
    if result.function.min_value == 0 and (values[np.isfinite(values)] >= 0).all():
        return values[values != 0]
    return values


def _theory(result, only: int | None):
    """The theory lines (:mod:`optviz.results.theory`) of the optimizers on these axes, or None."""
    from ..results.theory import predicted_rates

    theory = predicted_rates(result)
    if theory is None or only is None:
        return theory
    return dataclasses.replace(theory, lines={index: line for index, line in theory.lines.items() if index == only},
                               notes=[note for note in theory.notes
                                      if result.trajectories[only].label in note or "theory lines" in note])


def _rate(theory, index: int) -> str:
    """What a curve's legend entry adds where theory draws its line: its rho."""
    line = None if theory is None else theory.lines.get(index)
    if line is None:
        return ""
    if line.rate is None:
        return "; theory: ρ per step from its lr"
    return f"; theory: ρ = {line.rate:.3g}" + (", lands in one step" if line.rate == 0 else
                                               " > 1, diverges" if line.rate > 1 else "")


def _draw_theory(axes, result, theory) -> None:
    """Dashed in each SGD's colour, the loss theory predicts on a quadratic, within the limits the
    measured curves set; a grey entry says what the dashes are, and one line each why an SGD has none."""
    if theory is None or not (theory.lines or theory.notes):
        return
    limits = axes.get_xlim(), axes.get_ylim()
    log = axes.get_yscale() == "log"
    for index, line in theory.lines.items():
        shown = np.where(line.loss > 0, line.loss, np.nan) if log else line.loss  # landed on f* = 0: off a log axis
        # Broad and pale under the curve, so that it shows where theory is exact (GD in 1D) too.
        axes.plot(line.steps, shown, color=colour(index), linestyle=(0, (3, 2)), linewidth=4.5, alpha=0.45, zorder=1.5)
    axes.set_xlim(*limits[0])
    axes.set_ylim(*limits[1])
    if theory.lines:
        kinds = {line.bound for line in theory.lines.values()}
        rho = ["max|1 − lr·λ| over the Hessian's λ (GD: a bound)" if True in kinds else "",
               "the 2x2 iteration matrix's spectral\nradius (momentum: the asymptotic rate)" if False in kinds else ""]
        axes.plot([], [], color="0.35", linestyle=(0, (3, 2)), linewidth=4.5, alpha=0.45,
                  label="dashed: theory, f* + (f(x₀) − f*)·ρ²ᵏ,\nρ = " + "\nor ".join(part for part in rho if part))
    for note in theory.notes:
        axes.plot([], [], linestyle="none", label=textwrap.fill(note, 48))


def _draw_each_start(axes, result, trajectory, index: int) -> None:
    """Each shown start's curve (see :func:`~optviz.render.path.shown_starts`), faint, as one artist."""
    from matplotlib.collections import LineCollection

    from .path import shown_starts

    chosen = shown_starts(result)
    segments = [np.column_stack([trajectory.steps, trajectory.loss[start]]) for start in chosen]
    alpha = float(np.clip(2.0 / np.sqrt(len(chosen)), 0.05, 0.4))
    axes.add_collection(LineCollection(segments, colors=colour(index), linewidths=0.8, alpha=alpha, zorder=1,
                                       label=f"{_each(result)} ({len(chosen)} of {len(result.starts)})"
                                       if len(chosen) < len(result.starts) else _each(result)))


def _each(result) -> str:
    if not result.noisy:
        return "each start"
    return "each noise seed" if result.start_count == 1 else "each start and noise seed"


def _over(result) -> str:
    """`` over noise seeds`` (or starts and noise seeds) for a noisy run's band; "" otherwise."""
    if not result.noisy:
        return ""
    return " over noise seeds" if result.start_count == 1 else " over starts and noise seeds"


def plot_loss_panels(result: RunResult, figure: Figure | None = None):
    """One panel per optimizer with its starts, their median and interquartile band; return the Figure."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from .panels import label_outer, panel_figure

    if figure is None:
        figure, panels, _ = panel_figure(result.config.render, len(result.trajectories))
    else:
        panels = figure.axes
    # The panels share their y axis, so one scale for all: a log scale chosen from one optimizer's
    # positive losses would hide another's negative ones.
    healthy = [trajectory.loss[~trajectory.diverged].ravel() for trajectory in result]
    values = np.concatenate([*healthy, *(trajectory.loss[:, 0] for trajectory in result)])
    log = spans_decades(_landed(values, result)) if np.isfinite(values).any() else None
    for index, panel in enumerate(panels):
        plot_loss(result, panel, only=index, legend=False, log=log)
        trajectory = result.trajectories[index]
        diverged = int(trajectory.diverged.sum())
        if diverged or trajectory.error:
            panel.set_title(diverged_label(trajectory, trajectory.label + (
                f" ({diverged} of {len(result.starts)} diverged)" if diverged else "")))
    label_outer(panels)
    over = _over(result)
    handles = [Line2D([], [], color="0.3", linewidth=0.8, alpha=0.5, label=_each(result)),
               Line2D([], [], color="0.3", linewidth=1.6, label=f"median{over}"),
               Patch(color="0.3", alpha=0.2, label=f"interquartile range{over}")]
    minimum = result.function.min_value
    if minimum is not None and (panels[0].get_yscale() == "linear" or minimum > 0):  # as plot_loss draws it
        handles.append(Line2D([], [], color="0.3", linestyle=":", linewidth=1, label=f"global minimum {minimum:.4g}"))
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize="small", frameon=False)
    if result.noisy:
        figure.suptitle(f"{result.function.name}: loss per step from {result.rows_in_words()}\n"
                        f"{result.noise_in_words()}")
    else:
        figure.suptitle(f"{result.function.name}: loss per step from {len(result.starts)} starts")
    return figure


def save_loss(result: RunResult, path: str | Path) -> Path:
    """Write ``loss.png`` (or .svg/.pdf by suffix) for ``result``: small multiples for many starts of several optimizers."""
    return save_one_or_panels(result, path, plot_loss, plot_loss_panels)
