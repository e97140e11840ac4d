"""Small multiples: one panel per optimizer, on shared axes, in a figure sized to fit them."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..config import RenderSpec


def panel_grid(count: int) -> tuple[int, int]:
    """(rows, columns) for ``count`` panels: one row up to three, then rows of two or three."""
    if count <= 3:
        return 1, count
    columns = 2 if count == 4 else 3
    return math.ceil(count / columns), columns


def panel_figure(render: RenderSpec, count: int, domain: np.ndarray | None = None):
    """A Figure with ``count`` panels sharing x and y; returns ``(figure, panels, spare)``.

    A lone panel is as wide as the configured figure, more are about 60% of it each;
    heights follow the domain's aspect ratio (2D). ``spare`` are the unused cells of
    the last row, turned off so a legend can go there.
    """
    from matplotlib.figure import Figure

    rows, columns = panel_grid(count)
    width = render.size[0] - 1.0 if count == 1 else max(3.2, 0.6 * render.size[0])
    aspect = 0.75
    if domain is not None and len(domain) == 2:
        aspect = float(np.clip((domain[1, 1] - domain[1, 0]) / (domain[0, 1] - domain[0, 0]), 0.5, 1.4))
    figure = Figure(figsize=(columns * width + 1.0, rows * (width * aspect + 0.7) + 0.6), dpi=render.dpi,
                    layout="constrained")
    grid = figure.subplots(rows, columns, squeeze=False, sharex=True, sharey=True)
    cells = list(grid.flat)
    for spare in cells[count:]:
        spare.set_axis_off()
    return figure, cells[:count], cells[count:]


def label_outer(panels: list) -> None:
    """Axis labels and tick labels only on the left column and on the lowest panel of each column."""
    _, columns = panel_grid(len(panels))
    for index, panel in enumerate(panels):
        bottom = index + columns >= len(panels)
        left = index % columns == 0
        panel.tick_params(labelbottom=bottom, labelleft=left)
        if not bottom:
            panel.set_xlabel("")
        if not left:
            panel.set_ylabel("")
