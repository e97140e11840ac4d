"""Colours, markers and figures shared by every renderer, so an optimizer looks the same everywhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .clip import floats

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..results import RunResult, Trajectory

# Okabe & Ito's colour-blind-safe palette (black moved last: it is reserved for minima marks).
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def colour(index: int) -> str:
    """The colour of the ``index``-th optimizer of a run (stable across figures)."""
    return COLOURS[index % len(COLOURS)]


def marker(index: int) -> str:
    return MARKERS[index % len(MARKERS)]


def halo(linewidth: float) -> list:
    """Path effects that outline a line of ``linewidth`` in white, so it stands out on any colour map."""
    from matplotlib import patheffects

    return [patheffects.Stroke(linewidth=linewidth + 2.2, foreground="white", alpha=0.75), patheffects.Normal()]


def new_figure(size: Sequence[float] = (7.0, 5.5), dpi: int = 110, *, pyplot: bool = False, **subplot_kw: Any):
    """A Figure with one Axes, detached from pyplot's global state unless ``pyplot`` (a live window)."""
    figure = blank_figure(size, dpi, pyplot=pyplot)
    axes = figure.add_subplot(**subplot_kw)
    return figure, axes


def blank_figure(size: Sequence[float] = (7.0, 5.5), dpi: int = 110, *, pyplot: bool = False):
    """A Figure without Axes and with constrained layout, detached from pyplot unless ``pyplot``."""
    if pyplot:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=tuple(size), dpi=dpi, layout="constrained")
    from matplotlib.figure import Figure

    return Figure(figsize=tuple(size), dpi=dpi, layout="constrained")


def save_figure(figure: Figure, path: str | Path, *, dpi: int | None = None, note: str | None = None) -> Path:
    """Write ``figure`` atomically (temporary file, then rename); the format follows the suffix.

    ``note`` (a config's ``render.note``) is written along the bottom (see :func:`add_note`).
    """
    from ..atomic import atomic_path

    add_note(figure, note)
    literal_text(figure)
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=dpi or figure.dpi, format=path.suffix.lstrip(".") or "png")
    return path


def literal_text(figure: Figure) -> None:
    """Draw every title, legend entry, note and annotation of ``figure`` as written: they hold user
    strings (labels, function names, ``render.note``), and matplotlib reads a pair of ``$`` as
    mathtext, which crashes on ``$\\frac{$``. Tick labels and axis offsets keep their mathtext
    (``10^{-3}``); optviz writes no other. Safe to call more than once.
    """
    from matplotlib.text import Text

    axis_texts = {id(text) for axes in figure.axes for axis in _axes_axes(axes) for text in axis.findobj(Text)}
    for text in figure.findobj(Text):
        if id(text) not in axis_texts:
            text.set_parse_math(False)


def _axes_axes(axes: Axes) -> list:
    return [axis for axis in (getattr(axes, "xaxis", None), getattr(axes, "yaxis", None), getattr(axes, "zaxis", None))
            if axis is not None]


def add_note(figure: Figure, note: str | None) -> None:
    """Write ``note`` along the bottom of ``figure``, wrapped to its width, in a smaller grey type."""
    if not note:
        return
    import textwrap

    # About 14 characters of small type per inch of figure.
    text = textwrap.fill(note, max(40, int(figure.get_figwidth() * 14)))
    # A figure legend along the bottom takes the note as its title, so the two stack instead of
    # overlapping (a supxlabel and an outside legend both claim the bottom edge).
    bottom = [legend for legend in figure.legends if getattr(legend, "_outside_loc", None) == "lower"]
    if bottom:
        bottom[0].set_title(text, prop={"size": "small"})
        bottom[0].get_title().set_color("0.3")
    else:
        figure.supxlabel(text, fontsize="small", color="0.3")


# A legend entry holds the start of a failed optimizer's reason; the terminal and manifest hold all of it.
FAILED_REASON_LIMIT = 60
# A legend entry longer than this wraps onto further lines, so the legend stays inside the figure.
LEGEND_WIDTH = 40


def diverged_label(trajectory: Trajectory, label: str | None = None) -> str:
    """``trajectory``'s legend entry: ``label`` (by default its own label), marked ``(failed: reason)``
    when its optimizer raised, or ``(diverged at step N)`` when its one start diverged.

    Every figure names its optimizers through this, so a failure is marked in each of them.
    """
    text = trajectory.label if label is None else label
    if getattr(trajectory, "clip_grad_norm", None):
        text = clipped_label(text, trajectory.clip_grad_norm)
    if trajectory.error:
        return failed_label(text, trajectory.error)
    if len(trajectory.diverged_step) == 1 and trajectory.diverged_step[0] >= 0:
        return diverged_at_label(text, int(trajectory.diverged_step[0]))
    return _wrapped(text)


def clipped_label(label: str, clip_grad_norm: float | None) -> str:
    """``label``, saying its gradients were clipped when they were: clipping is never silent."""
    return f"{label} [grad clipped to norm {clip_grad_norm:g}]" if clip_grad_norm else label


def diverged_at_label(label: str, diverged_step: int | None, unit: str = "step") -> str:
    """``label`` as a legend names it, with the ``unit`` (step, iteration) where it diverged if it did."""
    return _wrapped(f"{label} (diverged at {unit} {diverged_step})" if diverged_step is not None else label)


def failed_label(label: str, error: str) -> str:
    """``label`` with the first line of why its run stopped, short enough for a legend."""
    return _wrapped(f"{label} (failed: {short_reason(error)})")


def short_reason(error: str, width: int = FAILED_REASON_LIMIT) -> str:
    """The first line of ``error``, cut to ``width`` characters."""
    reason = error.strip().splitlines()[0] if error.strip() else "unknown error"
    return reason if len(reason) <= width else reason[: width - 3].rstrip() + "..."


def _wrapped(text: str) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, LEGEND_WIDTH, break_long_words=True)) if len(text) > LEGEND_WIDTH else text


def spans_decades(values: np.ndarray, decades: float = 2.0) -> bool:
    """True when positive values spread over at least ``decades`` powers of ten."""
    values = floats(values)
    finite = np.isfinite(values)  # a mask, not a copy: a million-start map has 11 million losses
    if not finite.any():
        return False
    low = values.min(where=finite, initial=np.inf)
    if low <= 0:
        return False
    with np.errstate(over="ignore"):  # a blow-up reaching 1e308 spans decades all the same
        return np.log10(values.max(where=finite, initial=-np.inf) / low) >= decades


def save_one_or_panels(result: RunResult, path: str | Path, plot: Callable[[RunResult, Axes], object],
                       plot_panels: Callable[[RunResult], Figure]) -> Path:
    """Write ``plot(result, axes)`` on one Axes, or ``plot_panels(result)``'s small multiples when
    several optimizers each have many starts (their faint paths would hide each other)."""
    note = result.config.figure_note
    if len(result.trajectories) > 1 and len(result.starts) > 1:
        return save_figure(plot_panels(result), path, note=note)
    figure, axes = new_figure(result.config.render.size, result.config.render.dpi)
    plot(result, axes)
    return save_figure(figure, path, note=note)
