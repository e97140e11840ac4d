"""``tune.png``: the tuning criterion against lr for every optimizer, the share of its rows that
diverged, and the best optimizer at each lr.

Where the curves cross, the ranking of the optimizers changes with the lr; the strip
along the bottom shows the winner at each lr in its colour, so a comparison made at
one hand-picked lr can be read for what it is. A winner is named only where the paired
bootstrap over rows says so (:meth:`optviz.results.tune.Tuning.winners`); elsewhere the
strip is hatched grey and says "tie". The panel between shows, at every lr, the share of
rows (starts x noise seeds) that diverged, so an lr that blows up from a few starts
shows although its median is fine. The budget is written along the bottom.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..results.tune import budget_line
from .clip import padded_limits
from .style import blank_figure, colour, marker, save_figure, spans_decades

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..results.tune import Tuning

TIE_COLOUR = "0.85"
TIE_HATCH = "///"
TIE_LABEL = "tie: none surely best\n(paired bootstrap, 95%)"


def plot_tune(tuning: Tuning, figure: Figure | None = None):
    """Draw the criterion against lr per optimizer (chosen lrs starred, lrs where half the rows or more
    diverged as X along the top), the share of diverged rows under it, and a strip of the surely best
    optimizer at each lr (or a tie); the budget along the bottom. Returns the Figure."""
    config = tuning.config
    function = tuning.function
    if figure is None:
        render = config.render
        figure = blank_figure((render.size[0] + 1.0, render.size[1] + 1.2), render.dpi)
    axes, share, strip = figure.subplots(3, 1, sharex=True, height_ratios=[1, 0.25, 0.07])
    shown, label = _shown(tuning, None if function is None else function.min_value)
    finite = np.concatenate([values[np.isfinite(values)] for values in shown.values()])
    log = finite.size > 0 and (finite > 0).all() and spans_decades(finite)
    axes.set_xscale("log")
    if log:
        axes.set_yscale("log")
    limits = padded_limits(finite, log=log)
    if limits is not None:
        axes.set_ylim(*limits)
    top = axes.get_ylim()[1]
    for index, (name, values) in enumerate(shown.items()):
        ok = np.isfinite(values)
        chosen = tuning.chosen[name]
        text = f"{name}: lr {chosen:.3g}" if chosen is not None else f"{name}: every lr diverged"
        axes.plot(tuning.lrs, np.where(ok, values, np.nan), color=colour(index), marker=marker(index), markersize=4,
                  linewidth=1.5, label=text, zorder=3)
        if (~ok).any():
            axes.plot(tuning.lrs[~ok], np.full((~ok).sum(), top), linestyle="none", marker="X", markersize=7,
                      color=colour(index), markeredgecolor="black", markeredgewidth=0.5, clip_on=False, zorder=4)
        if chosen is not None:
            at = int(np.flatnonzero(tuning.lrs == chosen)[0])
            axes.plot(chosen, values[at], marker="*", markersize=17, color=colour(index), markeredgecolor="black",
                      linestyle="none", zorder=5)
    _stability(axes, tuning)
    missed = "half the starts or more diverged\nor never reached the target" if tuning.criterion == "steps-to-target" \
        else "half the starts or more diverged"
    axes.plot([], [], marker="X", color="0.4", markeredgecolor="black", linestyle="none",
              label="a seed or more diverged" if tuning.network else missed)
    axes.plot([], [], marker="*", markersize=12, color="0.4", markeredgecolor="black", linestyle="none",
              label="chosen lr")
    axes.fill_between([], [], facecolor=TIE_COLOUR, hatch=TIE_HATCH, edgecolor="0.45", linewidth=0,
                      label=TIE_LABEL)
    axes.set_ylabel(label)
    axes.grid(True, which="both", alpha=0.3)
    # Beside the axes, not over them: the curves fill the panel wherever an lr diverges.
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", framealpha=0.85)
    if tuning.network:
        data = config.problem.data
        name = str(data.get("name", "data")) if isinstance(data, dict) else str(data)
        title = (f"{name}: {tuning.criterion_text()} over {tuning.starts} seed{'s' if tuning.starts != 1 else ''} "
                 f"against lr ({config.problem.epochs} epochs)")
    else:
        noise = f" x {tuning.noise_seeds} noise seeds" if tuning.noise_seeds > 1 else ""
        title = (f"{function.name}: {tuning.criterion_text()} over {tuning.starts} random starts{noise} "
                 f"against lr ({config.steps} steps)")
    axes.set_title(_wrapped(figure, title), fontsize="medium")
    _diverged(share, tuning)
    _winners(strip, tuning)
    _budget(figure, budget_line(tuning.budget()))
    return figure


def _stability(axes, tuning: Tuning) -> None:
    """On a quadratic, a dashed vertical line in each SGD's colour at the lr past which theory says it
    diverges (:func:`optviz.results.theory.stability_limits`), where that lr is in the tried range."""
    from ..results.theory import stability_limits

    if tuning.function is None or tuning.noise_seeds > 1 or tuning.config.noise:
        return
    labels = list(tuning.scores)
    limits = {index: found for index, found in stability_limits(tuning.function, tuning.config.optimizers).items()
              if index < len(labels)}
    for index, (limit, _) in limits.items():
        inside = tuning.lrs[0] <= limit <= tuning.lrs[-1]
        axes.axvline(limit, color=colour(index), linestyle=(0, (4, 2)), linewidth=1.4, zorder=2,
                     label=f"{labels[index]}: stable below {limit:.3g}" + ("" if inside else " (beyond the lrs tried)"),
                     alpha=1.0 if inside else 0.0)
    if limits:
        rules = sorted({text.partition(" = ")[0].removeprefix("lr < ") for _, text in limits.values() if " = " in text})
        axes.plot([], [], color="0.4", linestyle=(0, (4, 2)), linewidth=1.4,
                  label="dashed: theory's stability limit\non this quadratic" + (f", lr < {' or '.join(rules)}"
                                                                                  if rules else ""))


def _shown(tuning, minimum: float | None) -> tuple[dict[str, np.ndarray], str]:
    """The values plotted per optimizer, and the axis label: a loss's excess over the known minimum,
    so a log axis can show how close each gets."""
    values = {label: tuning.values(label) for label in tuning.scores}
    text = tuning.criterion_text()
    finite = np.concatenate([found[np.isfinite(found)] for found in values.values()])
    loss = tuning.criterion in ("median-final-loss", "auc")
    if loss and minimum is not None and finite.size and (finite >= minimum).all():
        if minimum != 0:
            values = {label: found - minimum for label, found in values.items()}
            text += f" above the minimum ({minimum:.4g})"
    return values, text


def _wrapped(figure: Figure, text: str) -> str:
    """``text`` wrapped to the width of the axes, which the legend beside them leaves narrower than the figure."""
    import textwrap

    return textwrap.fill(text, max(30, int((figure.get_figwidth() - 2.2) * 13)))


def _budget(figure: Figure, line: str) -> None:
    """The budget along the bottom: its per-optimizer and total parts on a line each, wrapped to the width."""
    import textwrap

    width = max(40, int(figure.get_figwidth() * 14))  # about 14 characters of small type per inch
    figure.supxlabel("\n".join(textwrap.fill(part, width) for part in line.split("; ")), fontsize="small",
                     color="0.25")


def _diverged(share, tuning: Tuning) -> None:
    """The panel of the share of rows that diverged at each lr, 0-100%, per optimizer."""
    for index, label in enumerate(tuning.scores):
        share.plot(tuning.lrs, 100 * tuning.diverged_shares(label), color=colour(index), marker=marker(index),
                   markersize=3, linewidth=1.2)
    share.set_ylim(-8, 108)
    share.set_yticks([0, 50, 100])
    rows = "seeds" if tuning.network else "starts" if tuning.noise_seeds == 1 else "rows"
    share.set_ylabel(f"diverged\n(% of {rows})", fontsize="small")
    share.grid(True, which="both", alpha=0.3)


def _winners(strip, tuning: Tuning) -> None:
    """The strip: at each lr, the colour of the optimizer surely best (:meth:`Tuning.winners`); hatched
    grey with "tie" where none is, plain grey where every optimizer diverged."""
    from matplotlib.colors import to_rgb

    lrs = tuning.lrs
    labels = list(tuning.scores)
    winners = tuning.winners()
    reached = [any(np.isfinite(tuning.scores[label][index].row_values(tuning.criterion)).any() for label in labels)
               for index in range(len(lrs))]
    cells = [to_rgb(colour(labels.index(name))) if name is not None else to_rgb(TIE_COLOUR if found else "0.6")
             for name, found in zip(winners, reached)]
    edges = np.sqrt(lrs[:-1] * lrs[1:]) if len(lrs) > 1 else np.array([lrs[0] * 1.5])
    edges = np.r_[lrs[0] ** 2 / edges[0], edges, lrs[-1] ** 2 / edges[-1]]
    strip.pcolormesh(edges, [0, 1], np.array([cells]))
    ties = [name is None and found for name, found in zip(winners, reached)]
    index = 0
    while index < len(ties):  # each run of tied lrs: one hatched span, named once
        if not ties[index]:
            index += 1
            continue
        end = index
        while end + 1 < len(ties) and ties[end + 1]:
            end += 1
        strip.axvspan(edges[index], edges[end + 1], facecolor=TIE_COLOUR, hatch=TIE_HATCH, edgecolor="0.45",
                      linewidth=0)
        strip.text(np.sqrt(edges[index] * edges[end + 1]), 0.5, "tie", ha="center", va="center", fontsize=7,
                   bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.85})
        index = end + 1
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.set_ylabel("best", rotation=0, ha="right", va="center")
    none = "; dark grey: every optimizer diverged" if not all(reached) else ""
    strip.set_xlabel(_wrapped(strip.figure, f"lr (log scale); the strip: the optimizer surely ahead at each lr, "
                                            f"or a tie{none}"))


def save_tune(tuning: Tuning, path: str | Path) -> Path:
    """Write ``tune.png`` (or .svg/.pdf by suffix)."""
    return save_figure(plot_tune(tuning), path)
