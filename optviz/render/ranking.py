"""``ranking.png``: the rank table of ``optviz compare``, optimizers down, problems across, and a mean rank.

Each cell shows the rank (1 = best; a shared rank where the paired bootstrap cannot tell two
optimizers apart), the criterion's median over the rows with its 95% interval, and the tuned lr,
coloured by rank. Rows are sorted by mean rank, so the top row did best across the suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .style import blank_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..results.ranking import Ranking, Standing

# Inches per column and per optimizer row: four short lines of text per cell.
COLUMN_WIDTH = 1.55
ROW_HEIGHT = 0.8
# The part of the colour map used: light enough that black text reads on every cell.
SHADES = (0.62, 0.08)  # rank 1, last rank
EXPLAINED = ("Each cell: rank (1 = best; a shared rank where a paired 95% bootstrap over the rows cannot tell the "
             "optimizers apart), median of the criterion [95% bootstrap interval], tuned lr. "
             "Rows sorted by mean rank. diverged: half the rows or more diverged.")


def default_size(ranking: Ranking) -> tuple[float, float]:
    """Inches that keep every cell's text readable: wider with more problems, taller with more optimizers."""
    label_width = 0.25 + 0.075 * max(len(label) for label in ranking.labels)
    return (round(1.0 + label_width + COLUMN_WIDTH * (len(ranking.problems) + 1), 2),
            round(2.3 + ROW_HEIGHT * len(ranking.labels), 2))


def plot_ranking(ranking: Ranking, figure: Figure | None = None, *, size: Sequence[float] | None = None,
                 dpi: int = 110) -> Figure:
    """Draw the rank table (rows: optimizers by mean rank; columns: problems, then the mean rank); returns the Figure."""
    from matplotlib import colormaps

    if figure is None:
        figure = blank_figure(size or default_size(ranking), dpi)
    axes = figure.add_subplot()
    labels = sorted(ranking.labels, key=lambda label: (ranking.mean_rank(label), ranking.labels.index(label)))
    places = len(ranking.labels)
    shades = colormaps["YlGn"]

    def shade(rank: float) -> tuple[float, float, float]:
        share = 0.0 if places == 1 else (rank - 1) / (places - 1)
        return shades(SHADES[0] + (SHADES[1] - SHADES[0]) * share)[:3]

    columns = len(ranking.problems) + 1
    cells = np.ones((len(labels), columns, 3))
    for row, label in enumerate(labels):
        for column, problem in enumerate(ranking.problems):
            standing = ranking.standing(problem, label)
            cells[row, column] = shade(standing.rank)
            _cell_text(axes, column, row, standing)
        mean = ranking.mean_rank(label)
        cells[row, -1] = shade(mean)
        axes.text(columns - 1, row, f"{mean:.2f}", ha="center", va="center", fontsize=12, fontweight="bold")
    axes.imshow(cells, aspect="auto", interpolation="nearest")
    axes.set_xticks(range(columns), [*ranking.problems, "mean rank"], fontsize=9)
    axes.xaxis.tick_top()
    axes.set_yticks(range(len(labels)), labels, fontsize=10)
    axes.tick_params(which="both", length=0)
    axes.set_xticks(np.arange(columns + 1) - 0.5, minor=True)
    axes.set_yticks(np.arange(len(labels) + 1) - 0.5, minor=True)
    axes.grid(which="minor", color="white", linewidth=2)
    axes.axvline(columns - 1.5, color="0.3", linewidth=2)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_title(ranking.title(), fontsize=10)
    return figure


def _cell_text(axes, column: int, row: int, standing: Standing) -> None:
    axes.text(column, row - 0.24, str(standing.rank), ha="center", va="center", fontsize=12, fontweight="bold")
    if np.isfinite(standing.median):
        middle = f"{standing.median:.3g}\n[{_number(standing.low)}, {_number(standing.high)}]"
    else:
        middle = f"diverged\n({standing.diverged_share:.0%} of rows)"
    axes.text(column, row + 0.08, middle, ha="center", va="center", fontsize=7.5, linespacing=1.15)
    lr = "lr as given" if standing.lr is None else f"lr {standing.lr:.3g}"
    if np.isfinite(standing.median) and standing.diverged_share:
        lr += f", {standing.diverged_share:.0%} div."
    axes.text(column, row + 0.36, lr, ha="center", va="center", fontsize=7, color="0.25")


def _number(value: float) -> str:
    return f"{value:.3g}" if np.isfinite(value) else "inf"


def save_ranking(ranking: Ranking, path: str | Path, *, size: Sequence[float] | None = None, dpi: int = 110) -> Path:
    """Write ``ranking.png`` (or .svg/.pdf by suffix); ``size`` in inches defaults to :func:`default_size`."""
    return save_figure(plot_ranking(ranking, size=size, dpi=dpi), path, note=EXPLAINED)
