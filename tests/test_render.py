"""Figures show what the numbers say: drawn where the data is, not blank, diverged runs named."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from images import assert_pdf, assert_svg, legend_labels
import optviz
from optviz import config_from_dict

CONFIGS = {
    "1d": {"function": "peaks1d", "start": [-0.6], "steps": 30, "dtype": "float64",
           "optimizers": [{"name": "Adam", "lr": 0.1}, {"name": "SGD", "lr": 0.01, "momentum": 0.9}]},
    "2d": {"function": "rosenbrock", "start": [-1.5, 2.0], "steps": 40, "dtype": "float64",
           "optimizers": [{"name": "Adam", "lr": 0.05}, {"name": "SGD", "lr": 1.0}]},  # SGD diverges
}


@pytest.fixture(params=sorted(CONFIGS))
def result(request):
    return optviz.run(config_from_dict(CONFIGS[request.param]))


def axes():
    return Figure(figsize=(6, 4), dpi=80).add_subplot()


def test_path_lines_follow_the_trajectories(result):
    ax = optviz.plot_path(result, axes())
    for trajectory in result:
        last = trajectory.last_finite()[0]
        line = next(line for line in ax.get_lines() if line.get_label().startswith(trajectory.label))
        x, y = line.get_data()
        np.testing.assert_allclose(x, trajectory.positions[0, : last + 1, 0])
        expected_y = trajectory.loss[0, : last + 1] if result.dim == 1 else trajectory.positions[0, : last + 1, 1]
        np.testing.assert_allclose(y, expected_y)


def test_divergence_is_named_in_the_legends(result):
    for plot in (optviz.plot_path, optviz.plot_loss):
        labels = [text.get_text() for text in plot(result, axes()).get_legend().get_texts()]
        for trajectory in result:
            if trajectory.diverged[0]:
                assert f"{trajectory.label} (diverged at step {trajectory.diverged_step[0]})" in labels


def test_loss_uses_log_scale_when_values_span_decades():
    quadratic = optviz.run(config_from_dict({"function": "quadratic", "start": [2.0], "steps": 30,
                                             "optimizers": [{"name": "SGD", "lr": 0.05}]}))
    assert optviz.plot_loss(quadratic, axes()).get_yscale() == "log"
    peaks = optviz.run(config_from_dict({"function": "peaks", "start": [0.0, 0.9], "steps": 30,
                                         "optimizers": [{"name": "Adam", "lr": 0.1}]}))
    assert optviz.plot_loss(peaks, axes()).get_yscale() == "linear"  # negative losses


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_vector_formats(result, tmp_path, fmt):
    size = result.config.render.size
    for save, name in ((optviz.save_loss, "loss"), (optviz.save_path, "path")):
        target = tmp_path / f"{name}.{fmt}"
        assert save(result, target) == target
        if fmt == "svg":
            assert_svg(target, size, texts=legend_labels(result))
        else:
            assert_pdf(target, size)


def test_animation_moves_heads_to_the_recorded_positions(result):
    from optviz.render import build_scene

    scene = build_scene(result, frames=5, trail=3)
    assert len(scene.frames) == 5 and scene.frames[0] == 0 and scene.frames[-1] == result.config.steps
    assert scene.frames == sorted(set(scene.frames))
    record = scene.frames[2]
    changed = scene.update(record)
    assert set(map(id, changed)) == set(map(id, scene.artists))
    view = scene.figure.axes[0]
    for head, trail, trajectory in zip(scene.heads, scene.trails, result):
        last = min(record, trajectory.last_finite()[0])
        x, y = head.get_data()
        position = (trajectory.positions[0, last, 0],
                    trajectory.loss[0, last] if result.dim == 1 else trajectory.positions[0, last, 1])
        if view.get_xlim()[0] <= position[0] <= view.get_xlim()[1] and view.get_ylim()[0] <= position[1] <= view.get_ylim()[1]:
            assert (x[0], y[0]) == position
        else:  # a diverged head waits on the edge it left through
            assert np.isclose(x[0], view.get_xlim()).any() or np.isclose(y[0], view.get_ylim()).any()
        trail_x, _ = trail.get_data()
        assert len(trail_x) == 3 + 1 + 1  # the last three steps, the head, the NaN separator
    assert scene.counter.get_text() == f"step {record} / {result.config.steps}"
