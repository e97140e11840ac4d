"""Figures of a network run: loss curves, accuracy and training diagnostics, one colour per optimizer.

The seed lesson's figure puts the training loss of every minibatch and the validation
loss at the end of every epoch on one axes; ``curves.png`` does that for every
optimizer. With several seeds each optimizer is drawn as the mean over its seeds and a
min-max band, up to the first iteration where one of them diverged or failed, so the
mean never averages a blow-up with healthy runs. Axis limits follow the optimizers
that stayed finite: a diverged curve leaves through the edge and ends in an X there.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .clip import edge_crossing, exceeds, padded_limits
from .diagnostics import SCALE, _spans_decades
from .style import (blank_figure, clipped_label, colour, diverged_at_label, failed_label, marker, new_figure, save_figure, short_reason,
                    spans_decades)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..results.network import NetworkResult, TrainingRun

# Markers along a per-iteration curve, about this many per optimizer.
MARKS = 12


@dataclass(frozen=True)
class _Curve:
    """One optimizer's values over its seeds: the mean and min-max (None for one seed)."""

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray | None
    high: np.ndarray | None
    healthy: bool  # no seed diverged or failed: these values may set the axis limits


def _healthy_iterations(run: TrainingRun) -> int:
    """How many leading iterations of ``run`` hold values from before it diverged or stopped."""
    if run.diverged:
        return min(run.diverged_iteration, run.iterations)
    finite = np.isfinite(np.asarray(run.train_loss, dtype=float))
    return run.iterations if finite.all() else int(np.argmin(finite))


def _epoch_ends(run: TrainingRun) -> np.ndarray:
    """The iteration count at the end of each epoch of ``run`` that was completed before it diverged or stopped."""
    epochs = np.asarray(run.epoch)
    ends = np.searchsorted(epochs, np.arange(1, len(run.epoch_valid_loss) + 1), side="right")
    # The last epoch of a run that stopped early was cut short although its iterations are all there.
    complete = (ends < epochs.size) | (not run.diverged and not run.error)
    return ends[complete & (ends <= _healthy_iterations(run)) & (ends > 0)]


def _combine(runs: list[TrainingRun], x_of: Callable[[TrainingRun], np.ndarray],
             values_of: Callable[[TrainingRun], np.ndarray | None]) -> _Curve | None:
    """The mean and min-max of ``values_of`` over the ``runs`` that have values, up to the shortest of them."""
    rows = []
    for run in runs:
        values = values_of(run)
        x = x_of(run)
        if values is not None and len(x):
            rows.append((x, np.asarray(values, dtype=float)[: len(x)]))
    if not rows:
        return None
    length = min(len(x) for x, _ in rows)
    healthy = len(rows) == len(runs) and not any(run.diverged or run.error for run in runs)
    if length == 0:
        return None
    stack = np.stack([values[:length] for _, values in rows])
    x = rows[0][0][:length]
    if len(stack) == 1:
        return _Curve(x, stack[0], None, None, healthy)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return _Curve(x, np.nanmean(stack, axis=0), np.nanmin(stack, axis=0), np.nanmax(stack, axis=0), healthy)


def _iterations(run: TrainingRun) -> np.ndarray:
    return np.arange(_healthy_iterations(run))


def _epochs(run: TrainingRun) -> np.ndarray:
    return np.arange(1, len(_epoch_ends(run)) + 1)


def _clipped(result: NetworkResult, label: str) -> str:
    """``label``, saying so when the config clips its gradients."""
    clip = next((spec.clip_grad_norm for spec in result.config.optimizers if spec.display_label == label), None)
    return clipped_label(label, clip)


def _legend_label(label: str, runs: list[TrainingRun]) -> str:
    """The optimizer's legend entry: its label, and which of its seeds diverged or failed, and where."""
    diverged = [run for run in runs if run.diverged]
    failed = [run for run in runs if run.error and not run.diverged]
    if len(runs) == 1:
        run = runs[0]
        if run.diverged:
            return diverged_at_label(label, run.diverged_iteration, "iteration")
        return failed_label(label, run.error) if run.error else label
    notes = []
    if diverged:
        first = min(run.diverged_iteration for run in diverged)
        notes.append(f"{len(diverged)} of {len(runs)} seeds diverged, first at iteration {first}")
    if failed:
        notes.append(f"{len(failed)} of {len(runs)} seeds failed: {short_reason(failed[0].error)}")
    return f"{label} ({'; '.join(notes)})" if notes else label


def _band_text(seeds: int) -> str:
    return f"mean, band: min-max over {seeds} seeds"


def _set_limits(axes: Axes, curves: list[_Curve], *, log_allowed: bool = True) -> bool:
    """Log scale when the healthy values span decades, and limits around them; returns whether it is log."""
    parts = [curve.mean if curve.low is None else np.concatenate([curve.low, curve.high])
             for curve in curves]
    healthy = [part for part, curve in zip(parts, curves) if curve.healthy]
    values = np.concatenate(healthy or parts) if parts else np.array([])
    if not healthy and values.size:  # every optimizer diverged: their start is all that is trustworthy
        values = np.concatenate([part[:1] for part in parts] + [values])
    elif parts:
        values = np.concatenate([values] + [part[:1] for part in parts])
    log = log_allowed and spans_decades(values)
    if log:
        with np.errstate(over="ignore"):
            axes.set_yscale("log")
    limits = padded_limits(values, log=log)
    if limits is not None and any(exceeds(part, limits) for part in parts):
        axes.set_ylim(*limits)
    return log


def _mark_ends(axes: Axes, ends: list[tuple[np.ndarray, np.ndarray, str]], log: bool) -> None:
    """An X where each diverged curve ends, on the edge if it left the plot first."""
    for x, y, line_colour in ends:
        crossing = edge_crossing(x, y, axes.get_xlim(), axes.get_ylim(), log_y=log)
        end_x, end_y = crossing if crossing is not None else (x[-1], y[-1])
        axes.plot(end_x, end_y, marker="X", markersize=10, color=line_colour, markeredgecolor="black",
                  linestyle="none", zorder=5, clip_on=crossing is None, label="_diverged")


def _draw(axes: Axes, curve: _Curve, index: int, **style) -> None:
    axes.plot(curve.x, curve.mean, color=colour(index), **style)
    if curve.low is not None:
        axes.fill_between(curve.x, curve.low, curve.high, color=colour(index), alpha=0.18, linewidth=0,
                          step="post" if style.get("drawstyle") == "steps-post" else None)


def _diverged_end(curve: _Curve, runs: list[TrainingRun]) -> bool:
    return any(run.diverged for run in runs) and curve.mean.size > 0


def _key(axes: Axes, entries: list, seeds: int) -> None:
    """The legend under the axes, clear of the data: optimizers by colour, then how to read the
    lines (and the band, with several seeds)."""
    from matplotlib.patches import Patch

    handles = list(entries)
    if seeds > 1:
        handles.append(Patch(color="0.5", alpha=0.35, label=_band_text(seeds)))
    # Below the x label; constrained layout makes room for it.
    axes.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=2, fontsize="small",
                frameon=False)


def plot_curves(result: NetworkResult, axes: Axes | None = None):
    """Draw the training loss per iteration (thin) and the validation loss per epoch (markers at the
    iteration where the epoch ends) of every optimizer into ``axes`` (a new figure if None); return the Axes.
    """
    from matplotlib.lines import Line2D

    if axes is None:
        _, axes = new_figure(result.config.render.size, result.config.render.dpi)
    seeds = len(result.seeds)
    curves, ends, entries = [], [], []
    for index, label in enumerate(result.labels):
        runs = result.of(label)
        train = _combine(runs, _iterations, lambda run: run.train_loss)
        valid = _combine(runs, lambda run: _epoch_ends(run), lambda run: run.epoch_valid_loss)
        if train is not None:
            _draw(axes, train, index, linewidth=0.7, alpha=0.55)
            curves.append(train)
            if _diverged_end(train, runs):
                ends.append((train.x, train.mean, colour(index)))
        if valid is not None:
            _draw(axes, valid, index, linewidth=1.8, marker=marker(index), markersize=6, markeredgecolor="black",
                  markeredgewidth=0.6, zorder=4)
            curves.append(valid)
        entries.append(Line2D([], [], color=colour(index), linewidth=1.8, marker=marker(index), markersize=6,
                              markeredgecolor="black", markeredgewidth=0.6, label=_legend_label(_clipped(result, label), runs)))
    log = _set_limits(axes, curves) if curves else False
    _mark_ends(axes, ends, log)
    entries += [Line2D([], [], color="0.35", linewidth=0.7, label="training loss, per iteration"),
                Line2D([], [], color="0.35", linewidth=1.8, marker="o", markersize=6, markeredgecolor="black",
                       markeredgewidth=0.6, label="validation loss, per epoch")]
    _key(axes, entries, seeds)
    axes.set_xlabel("iteration")
    axes.set_ylabel("loss")
    # Room above the axes for an X where a diverged curve left through the top.
    axes.set_title(_title(result, "training and validation loss"), pad=12 if ends else 6)
    axes.grid(True, which="major", alpha=0.3)
    return axes


def plot_accuracy(result: NetworkResult, axes: Axes | None = None):
    """Draw the training (dashed) and validation (solid) accuracy per epoch of every optimizer into
    ``axes`` (a new figure if None); return the Axes. Classification only.
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    if result.task != "classification":
        raise ValueError(f"accuracy is for classification; this result's task is {result.task}")
    if axes is None:
        _, axes = new_figure(result.config.render.size, result.config.render.dpi)
    curves, entries = [], []
    for index, label in enumerate(result.labels):
        runs = result.of(label)
        for values_of, linestyle in ((lambda run: run.epoch_train_accuracy, "--"),
                                     (lambda run: run.epoch_valid_accuracy, "-")):
            curve = _combine(runs, _epochs, values_of)
            if curve is not None:
                _draw(axes, curve, index, linewidth=1.6, linestyle=linestyle, marker=marker(index), markersize=5,
                      markeredgecolor="black", markeredgewidth=0.5,
                      markerfacecolor="white" if linestyle == "--" else colour(index))
                curves.append(curve)
        entries.append(Line2D([], [], color=colour(index), linewidth=1.6, marker=marker(index), markersize=5,
                              markeredgecolor="black", markeredgewidth=0.5, label=_legend_label(_clipped(result, label), runs)))
    if curves:
        _set_limits(axes, curves, log_allowed=False)
        low, high = axes.get_ylim()
        axes.set_ylim(max(low, 0.0), min(high, 1.0 + 0.02 * (high - low)))  # a fraction never leaves [0, 1]
    entries += [Line2D([], [], color="0.35", linewidth=1.6, linestyle="--", marker="o", markersize=5,
                       markerfacecolor="white", markeredgecolor="black", label="training accuracy"),
                Line2D([], [], color="0.35", linewidth=1.6, marker="o", markersize=5, markeredgecolor="black",
                       label="validation accuracy")]
    _key(axes, entries, len(result.seeds))
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("accuracy")
    axes.set_title(_title(result, "accuracy"))
    axes.grid(True, which="major", alpha=0.3)
    return axes


# (title, y label, values of a run, drawn as a staircase)
DIAGNOSTICS = (
    ("learning rate in force", "lr", lambda run: run.lr, True),
    ("gradient norm", "|grad|", lambda run: run.grad_norm, False),
    ("update norm", "|step|", lambda run: run.update_norm, False),
)


def plot_training_diagnostics(result: NetworkResult, figure: Figure | None = None):
    """Draw lr, gradient norm and update norm per iteration, one panel each, into ``figure`` (a new
    one if None); return the row of Axes. Like :func:`~optviz.render.plot_diagnostics`, a panel turns
    logarithmic when its values span decades and limits follow the optimizers that stayed finite.
    """
    from matplotlib.lines import Line2D

    render = result.config.render
    if figure is None:
        figure = blank_figure((render.size[0] * SCALE, render.size[1]), render.dpi)
    panels = figure.subplots(1, len(DIAGNOSTICS), sharex=True, squeeze=False)[0]
    entries = []
    for axes, (title, ylabel, values_of, staircase) in zip(panels, DIAGNOSTICS):
        curves, ends = [], []
        for index, label in enumerate(result.labels):
            runs = result.of(label)
            curve = _combine(runs, _iterations, values_of)
            if curve is None:
                continue
            every = max(1, len(curve.x) // MARKS)
            # Markers shifted per optimizer, so curves that coincide (the same lr) stay told apart.
            _draw(axes, curve, index, linewidth=0.9, marker=marker(index), markersize=5, markeredgecolor="black",
                  markeredgewidth=0.5, markevery=(index * every // max(1, len(result.labels)), every),
                  drawstyle="steps-post" if staircase else "default")
            curves.append(curve)
            if _diverged_end(curve, runs):
                ends.append((curve.x, curve.mean, colour(index)))
        log = False
        if curves:
            values = np.concatenate([curve.mean for curve in curves if curve.healthy] or [curve.mean for curve in curves])
            log = _set_limits(axes, curves, log_allowed=_spans_decades(values))
        _mark_ends(axes, ends, log)
        axes.set_title(title, fontsize="medium")
        axes.set_ylabel(ylabel)
        axes.set_xlabel("iteration")
        axes.grid(True, which="major", alpha=0.3)
    for index, label in enumerate(result.labels):
        entries.append(Line2D([], [], color=colour(index), linewidth=1.2, marker=marker(index), markersize=5,
                              markeredgecolor="black", markeredgewidth=0.5, label=_legend_label(_clipped(result, label), result.of(label))))
    if len(result.seeds) > 1:
        from matplotlib.patches import Patch

        entries.append(Patch(color="0.5", alpha=0.35, label=_band_text(len(result.seeds))))
    figure.legend(handles=entries, loc="outside lower center", ncols=min(len(entries), 3), fontsize="small",
                  framealpha=0.9)
    figure.suptitle(_title(result, "training diagnostics"))
    return panels


def _title(result: NetworkResult, what: str) -> str:
    seeds = len(result.seeds)
    return f"{what}, {seeds} seed{'s' if seeds != 1 else ''}" if seeds > 1 else what


def save_curves(result: NetworkResult, path: str | Path) -> Path:
    """Write ``curves.png`` (or .svg/.pdf by suffix): :func:`plot_curves` at ``render.size``."""
    figure, axes = new_figure(result.config.render.size, result.config.render.dpi)
    plot_curves(result, axes)
    return save_figure(figure, path, note=result.config.render.note)


def save_accuracy(result: NetworkResult, path: str | Path) -> Path:
    """Write ``accuracy.png`` (or .svg/.pdf by suffix): :func:`plot_accuracy` at ``render.size``."""
    figure, axes = new_figure(result.config.render.size, result.config.render.dpi)
    plot_accuracy(result, axes)
    return save_figure(figure, path, note=result.config.render.note)


def save_training_diagnostics(result: NetworkResult, path: str | Path) -> Path:
    """Write ``diagnostics.png`` (or .svg/.pdf by suffix): three panels, ``SCALE`` times as wide as ``render.size``."""
    render = result.config.render
    figure = blank_figure((render.size[0] * SCALE, render.size[1]), render.dpi)
    plot_training_diagnostics(result, figure)
    return save_figure(figure, path, note=render.note)


def save_network_figures(result: NetworkResult, out_dir: Path, fmt: str) -> list[str]:
    """Draw the figures of a network run folder into ``out_dir``: curves, accuracy (classification
    only) and diagnostics, each as ``<name>.<fmt>``; return the file names written, in that order.
    """
    out_dir = Path(out_dir)
    saves = [("curves", save_curves)]
    if result.task == "classification":
        saves.append(("accuracy", save_accuracy))
    saves.append(("diagnostics", save_training_diagnostics))
    written = []
    for name, save in saves:
        written.append(save(result, out_dir / f"{name}.{fmt}").name)
    return written
