"""``ewma.png``: the weights momentum gives past gradients, (1 - beta) beta^t, one curve per beta."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from .style import colour, marker, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..results.ewma import EwmaWeights


def plot_ewma(curves: Sequence[EwmaWeights], axes: Axes | None = None, *, size: tuple[float, float] = (7.0, 5.0),
              dpi: int = 110):
    """Draw each beta's weights against steps back, with a dotted line at its memory 1/(1 - beta) and
    its sum in the legend, into ``axes`` (a new figure if None); returns the Axes."""
    if axes is None:
        _, axes = new_figure(size, dpi)
    last = max(int(curve.steps[-1]) for curve in curves)
    for index, curve in enumerate(curves):
        axes.plot(curve.steps, curve.weights, color=colour(index), marker=marker(index), markersize=3.5,
                  markevery=max(1, len(curve.steps) // 20), linewidth=1.6,
                  label=f"β = {curve.beta:g}: memory ≈ {curve.memory:.3g} steps, weights sum to "
                        f"{curve.total_text('−')}")
        if curve.memory <= last:
            height = (1.0 - curve.beta) * curve.beta ** curve.memory  # about 1/e of the newest weight
            axes.vlines(curve.memory, 0, height, color=colour(index), linestyle=":", linewidth=1.3)
            axes.annotate(f"{curve.memory:.3g}", (curve.memory, height), xytext=(4, 4), textcoords="offset points",
                          color=colour(index), fontsize="small")
        else:
            axes.annotate(f"memory {curve.memory:.3g} →", (1.0, curve.weights[-1]), xycoords=("axes fraction", "data"),
                          xytext=(-4, 4), textcoords="offset points", ha="right", color=colour(index),
                          fontsize="small")
    # To the step after the last weight drawn: the last tick is labelled, and the frame is whole.
    axes.set_xlim(0, last + 1)
    axes.set_ylim(bottom=0)
    axes.set_xlabel("t: steps back (0 is the newest gradient)")
    axes.set_ylabel("weight (1 − β)·βᵗ")
    steps = len(curves[0].steps)
    axes.set_title(f"Momentum as an exponentially weighted average: the last {steps} gradients' weights\n"
                   "dotted: the memory 1/(1 − β), where a weight has fallen to about 1/e of the newest",
                   fontsize="medium")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right", fontsize="small")
    return axes


def save_ewma(curves: Sequence[EwmaWeights], path: str | Path, *, dpi: int = 110) -> Path:
    """Write ``ewma.png`` (or .svg/.pdf by suffix) of :func:`plot_ewma`."""
    axes = plot_ewma(curves, dpi=dpi)
    return save_figure(axes.figure, path)
