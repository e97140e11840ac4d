"""Figures of a network's loss landscape, drawn from synthetic Landscape values (no training here)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from optviz.render.plane import (axis_labels, caption, plot_landscape, save_landscape, save_landscape_1d,
                                 save_landscape_3d, save_landscape_animation, shading)
from optviz.render.style import colour
from optviz.results.landscape import Interpolation, Landscape, Plane, PlanePath

from images import assert_animation, assert_png

LABELS = ("SGD", "Adam", "RMSprop")


def _bowl(alphas, betas):
    grid_a, grid_b = np.meshgrid(alphas, betas)
    return 0.5 + grid_a ** 2 + 3 * grid_b ** 2


def _path(label: str, seed: int, start, explained: float, residual_scale: float, records: int = 30) -> PlanePath:
    """A path spiralling from ``start`` into the bowl's bottom; off the plane by ``residual_scale`` at most."""
    t = np.linspace(0, 1, records)
    decay = np.exp(-4 * t)
    coords = np.stack([start[0] * decay * np.cos(3 * t), start[1] * decay + 0.2 * np.sin(5 * t) * decay], axis=1)
    plane_loss = 0.5 + coords[:, 0] ** 2 + 3 * coords[:, 1] ** 2
    residual = residual_scale * np.sin(np.pi * t)
    return PlanePath(label=label, seed=seed, iterations=np.arange(records) * 10, coords=coords, residual=residual,
                     true_loss=plane_loss + residual ** 2, plane_loss=plane_loss, explained=explained)


def bowl_landscape(kind: str = "pca", explained=(72.3, 18.4), residuals=(0.1, 0.2, 0.3),
                   shares=(0.95, 0.88, 0.81), scale: float = 1.0) -> Landscape:
    alphas, betas = np.linspace(-2, 2, 41), np.linspace(-1.5, 1.5, 31)
    loss = _bowl(alphas, betas) * scale
    size = 50
    plane = Plane(kind=kind, origin=np.zeros(size), d1=np.eye(size)[0], d2=np.eye(size)[1],
                  explained=explained if kind == "pca" else None,
                  origin_text="the mean of the final points" if kind == "pca" else "")
    starts = [(1.8, 1.2), (-1.6, 1.0), (1.2, -1.3)]
    paths = [_path(label, 0, start, share, residual)
             for label, start, share, residual in zip(LABELS, starts, shares, residuals)]
    t = np.linspace(-0.5, 1.5, 41)
    interpolations = [Interpolation(label, 0, t, 0.05 + (t - 1) ** 2 * (index + 1),
                                    0.08 + (t - 1) ** 2 * (index + 1.3)) for index, label in enumerate(LABELS)]
    return Landscape(plane=plane, data="train", alphas=alphas, betas=betas, loss=loss, paths=paths,
                     interpolations=interpolations)


def steep_landscape() -> Landscape:
    """A bowl whose loss spans four decades, and a path that leaves the plane far behind."""
    landscape = bowl_landscape(residuals=(0.1, 0.2, 4.0), shares=(0.95, 0.88, 0.31))
    landscape.loss = landscape.loss ** 3 * 8
    for index, path in enumerate(landscape.paths):
        plane_loss = path.plane_loss ** 3 * 8
        landscape.paths[index] = replace(path, plane_loss=plane_loss, true_loss=plane_loss + path.residual ** 2)
    return landscape


def test_pca_axis_labels_name_the_explained_variance():
    assert axis_labels(bowl_landscape().plane) == ("PC1 (72.3% of variance)", "PC2 (18.4% of variance)")
    assert axis_labels(bowl_landscape(kind="random").plane)[0] == "alpha: random direction 1 (filter-normalized)"


def test_caption_states_each_path_share_and_largest_offplane_distance():
    assert caption(steep_landscape()).splitlines() == [
        "SGD: the plane explains 95% of its movement; largest off-plane distance 0.0999",
        "Adam: the plane explains 88% of its movement; largest off-plane distance 0.2",
        "RMSprop: the plane explains 31% of its movement; largest off-plane distance 3.99",
    ]


def test_colours_are_log_only_when_the_loss_spans_decades():
    assert not shading(bowl_landscape().loss).log
    assert shading(steep_landscape().loss).log


def test_landscape_figure_draws_paths_companion_and_caption(tmp_path):
    landscape = steep_landscape()
    contours, companion = plot_landscape(landscape)
    figure = contours.figure
    assert contours.get_xlabel() == "PC1 (72.3% of variance)"
    assert contours.get_ylabel() == "PC2 (18.4% of variance)"
    (legend,) = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == [
        *LABELS, "start", "origin: the mean of the final points", "true loss (recorded parameters)",
        "plane loss (projected point)"]
    assert "RMSprop: the plane explains 31% of its movement" in figure.get_suptitle()
    # The companion: per path, the true loss (solid) and the plane's loss (dashed), in the path's colour.
    lines = companion.get_lines()
    assert len(lines) == 2 * len(landscape.paths)
    for index, path in enumerate(landscape.paths):
        true_line, plane_line = lines[2 * index], lines[2 * index + 1]
        assert (true_line.get_linestyle(), plane_line.get_linestyle()) == ("-", "--")
        assert true_line.get_color() == plane_line.get_color() == colour(index)
        np.testing.assert_allclose(true_line.get_ydata(), path.true_loss)
        np.testing.assert_allclose(plane_line.get_ydata(), path.plane_loss)
    assert companion.get_yscale() == "log"
    # Each path ends in its final-point marker at its last projected coordinates.
    finals = [line for line in contours.get_lines() if line.get_label() == "_final"]
    np.testing.assert_allclose([line.get_xydata()[0] for line in finals], [path.coords[-1] for path in landscape.paths])


def test_saved_figures_are_drawn_at_their_size(tmp_path):
    landscape = bowl_landscape()
    assert_png(save_landscape(landscape, tmp_path / "landscape.png"), (1320, 638),
               colours=tuple(colour(index) for index in range(3)))
    assert_png(save_landscape_3d(landscape, tmp_path / "landscape-3d.png"), (770, 605))
    assert_png(save_landscape_1d(landscape, tmp_path / "landscape-1d.png"), (770, 605),
               colours=tuple(colour(index) for index in range(3)))


@pytest.mark.parametrize("view", ["2d", "3d"])
def test_animation_has_one_frame_per_record_shown(tmp_path, view):
    path = save_landscape_animation(bowl_landscape(), tmp_path / "race.gif", frames=12, view=view, dpi=50)
    assert_animation(path, frames=12, size=(350, 275))
