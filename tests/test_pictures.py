"""Every figure and animation kind, 1D and 2D, healthy and diverged: drawn where the numbers say."""

from __future__ import annotations

import io
import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib import colors
from matplotlib.animation import FuncAnimation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

from images import (FrameGrabber, assert_animation, assert_pdf, assert_png, assert_svg, figure_pixels,
                    legend_labels)
import optviz
from optviz import config_from_dict
from optviz.cli import cli
from optviz.errors import ConfigError, RunError
from optviz.render import frames
from optviz.render.frames import render_frames
from optviz.progress import ProgressBar
from optviz.render import build_scene
from optviz.pipelines.run import save_figures

ROOT = Path(__file__).parent.parent

# Small runs: one of each dimension, each with an optimizer that diverges.
CONFIGS = {
    "1d": {"function": "peaks1d", "start": [-0.6], "steps": 30, "dtype": "float64",
           "optimizers": [{"name": "Adam", "lr": 0.1}, {"name": "SGD", "lr": 0.01, "momentum": 0.9}]},
    "1d diverged": {"function": "quadratic", "start": [2.0], "steps": 40,
                    "optimizers": [{"name": "SGD", "lr": 0.05}, {"name": "SGD", "label": "SGD lr=0.6", "lr": 0.6}]},
    "2d": {"function": "peaks", "start": [0.0, 0.9], "steps": 30, "dtype": "float64",
           "optimizers": [{"name": "Adam", "lr": 0.1}, {"name": "SGD", "lr": 0.01, "momentum": 0.9}]},
    "2d diverged": {"function": "rosenbrock", "start": [-1.5, 2.0], "steps": 30, "dtype": "float64",
                    "optimizers": [{"name": "Adam", "lr": 0.05}, {"name": "SGD", "lr": 1.0},
                                   {"name": "SGD", "label": "SGD + StepLR", "lr": 0.002,
                                    "scheduler": {"name": "StepLR", "step_size": 10, "gamma": 0.1}}]},
}
SMALL = {"size": [4, 3], "dpi": 60, "resolution": 40}


def small(data: dict, **render) -> dict:
    return {**data, "render": {**SMALL, **render}}


@pytest.fixture(scope="module")
def results():
    return {name: optviz.run(config_from_dict(small(data))) for name, data in CONFIGS.items()}


def diverged_of(result):
    return [trajectory for trajectory in result if trajectory.diverged[0]]


def test_the_diverged_configs_diverge(results):
    assert [t.label for t in diverged_of(results["1d diverged"])] == ["SGD lr=0.6"]
    assert [t.label for t in diverged_of(results["2d diverged"])] == ["SGD"]
    assert not diverged_of(results["1d"]) and not diverged_of(results["2d"])


# --- every figure kind ------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_figure_kind_is_drawn(results, name, tmp_path):
    result = results[name]
    expected = ["loss.png", "path.png", "surface.png", "diagnostics.png"]
    written = save_figures(result, tmp_path, kinds=[name.split(".")[0] for name in expected])
    if result.dim == 1:
        expected.remove("surface.png")  # a 1D function's curve is path.png
    assert written == expected
    for file_name in written:
        assert_png(tmp_path / file_name, scaled_pixels(file_name, 60))


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_new_figures_in_vector_formats(results, fmt, tmp_path):
    result = results["2d diverged"]
    written = save_figures(result, tmp_path, kinds=["surface", "diagnostics"], fmt=fmt)
    assert written == [f"surface.{fmt}", f"diagnostics.{fmt}"]
    panels = ("loss", "distance to the nearest known minimum", "learning rate in force", "gradient norm")
    for name, texts in zip(written, (legend_labels(result), legend_labels(result) + panels)):
        inches = (4 * scale(name)[0], 3 * scale(name)[1])
        if fmt == "svg":
            assert_svg(tmp_path / name, inches, texts=texts)
        else:
            assert_pdf(tmp_path / name, inches)


def test_each_optimizer_keeps_its_colour_and_marker_in_every_figure(results):
    result = results["2d diverged"]
    styles = []
    for legend_entries in (_legend_styles(optviz.plot_loss(result, Figure().add_subplot()).get_legend()),
                           _legend_styles(optviz.plot_path(result, Figure().add_subplot()).get_legend()),
                           _legend_styles(optviz.plot_surface(result, _axes_3d()).get_legend()),
                           _legend_styles(optviz.plot_diagnostics(result, Figure()).ravel()[0].figure.legends[0]),
                           _legend_styles(build_scene(result).figure.axes[0].get_legend())):
        styles.append([entry for entry in legend_entries if entry[0].split(" (")[0] in result.labels])
    first = styles[0]
    assert [label.split(" (")[0] for label, *_ in first] == result.labels
    assert len({(colour, marker) for _, colour, marker in first}) == len(result.labels)
    for other in styles[1:]:
        assert [(label.split(" (")[0], colour, marker) for label, colour, marker in other] == \
               [(label.split(" (")[0], colour, marker) for label, colour, marker in first]


def scale(file_name: str) -> tuple[float, float]:
    """How much larger than render.size a figure is drawn, (width, height): the four diagnostics
    panels and the six internals panels get more room."""
    from optviz.render.internals import SCALE

    if file_name.startswith("diagnostics."):
        return 1.5, 1.5
    return SCALE if file_name.startswith("internals.") else (1.0, 1.0)


def scaled_pixels(file_name: str, dpi: float) -> tuple[int, int]:
    """The pixels of ``file_name`` drawn from a 4 x 3 inch render.size at ``dpi``."""
    width, height = scale(file_name)
    return figure_pixels((4 * width, 3 * height), dpi)


def _legend_styles(legend) -> list[tuple[str, str, str]]:
    return [(text.get_text(), colors.to_hex(handle.get_color()), handle.get_marker())
            for text, handle in zip(legend.get_texts(), legend.legend_handles)
            if hasattr(handle, "get_marker")]


def _axes_3d():
    return Figure().add_subplot(projection="3d")


# --- surface ----------------------------------------------------------------------------


def test_surface_paths_lie_on_the_surface(results):
    result = results["2d"]
    axes = optviz.plot_surface(result, _axes_3d())
    trails = [line for line in axes.get_lines() if line.get_label() == "_trail"]
    assert len(trails) == len(result.trajectories)
    for trail, trajectory in zip(trails, result):
        x, y, z = trail.get_data_3d()
        np.testing.assert_allclose(x, trajectory.positions[0, :, 0])
        np.testing.assert_allclose(y, trajectory.positions[0, :, 1])
        np.testing.assert_allclose(z, trajectory.loss[0], rtol=1e-12, atol=1e-12)


def test_surface_colours_steep_functions_by_orders_of_magnitude(results):
    steep = optviz.plot_surface(results["2d diverged"], _axes_3d())
    plain = optviz.plot_surface(results["2d"], _axes_3d())
    steep_bar, plain_bar = (axes.figure.axes[-1] for axes in (steep, plain))
    assert steep_bar.get_ylabel() == "f, log scale" and steep_bar.get_yscale() == "log"
    assert plain_bar.get_ylabel() == "f(x, y)" and plain_bar.get_yscale() == "linear"


def test_surface_marks_the_minima_and_the_default_view(results):
    axes = optviz.plot_surface(results["2d"], _axes_3d())
    minima = [line for line in axes.get_lines() if line.get_label() in ("known minima", "_minimum")]
    points = sorted((float(line.get_data_3d()[0][0]), float(line.get_data_3d()[1][0])) for line in minima)
    expected = sorted(tuple(minimum.point) for minimum in results["2d"].function.minima)
    np.testing.assert_allclose(points, expected)
    assert (axes.elev, axes.azim) == (38.0, -60.0)


def test_surface_shows_and_names_a_diverged_run(results):
    result = results["2d diverged"]
    axes = optviz.plot_surface(result, _axes_3d())
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    sgd = result["SGD"]
    assert f"SGD (diverged at step {sgd.diverged_step[0]})" in labels
    ends = [line for line in axes.get_lines() if line.get_label() == "_end" and line.get_marker() == "X"]
    assert len(ends) == 1
    x, y, z = (float(values[0]) for values in ends[0].get_data_3d())
    (x_low, x_high), (y_low, y_high) = result.function.domain
    # It left the box: its end sits on the edge where it crossed it, on the surface.
    assert np.isclose(x, x_low) or np.isclose(x, x_high) or np.isclose(y, y_low) or np.isclose(y, y_high)
    assert x_low <= x <= x_high and y_low <= y <= y_high
    assert np.isclose(z, float(result.function(np.array([x, y]))))


def test_surface_of_a_1d_function_is_refused(results):
    with pytest.raises(RunError) as error:
        optviz.plot_surface(results["1d"], _axes_3d())
    assert str(error.value) == ("surface: peaks1d is a 1D function; a surface needs two variables "
                                "(path.png draws its curve)")


# --- diagnostics ------------------------------------------------------------------------


def _panel_lines(axes, result):
    return {line.get_label().split(" (")[0]: line for line in axes.get_lines()
            if line.get_label().split(" (")[0] in result.labels}


@pytest.mark.parametrize("name", ["1d", "2d diverged"])
def test_diagnostics_panels_draw_the_recorded_numbers(results, name):
    result = results[name]
    grid = optviz.plot_diagnostics(result, Figure())
    assert grid.shape == (2, 2)
    loss, distance, lr, grad_norm = grid.ravel()
    assert [axes.get_title() for axes in grid.ravel()] == [
        "loss", "distance to the nearest known minimum", "learning rate in force", "gradient norm"]
    assert all(axes.get_shared_x_axes().joined(loss, axes) for axes in grid.ravel())
    for axes, expected_of in ((loss, lambda t: t.loss), (lr, lambda t: t.lr), (grad_norm, lambda t: t.grad_norm),
                              (distance, lambda t: result.function.nearest_minimum(t.positions)[1])):
        lines = _panel_lines(axes, result)
        for trajectory in result:
            x, y = lines[trajectory.label].get_data()
            last = int(trajectory.last_finite()[0])
            np.testing.assert_array_equal(x, trajectory.steps)
            np.testing.assert_allclose(y[: last + 1], expected_of(trajectory)[0, : last + 1])
            assert np.isnan(y[last + 1:]).all()  # a diverged run ends at its last finite record
    assert all(line.get_drawstyle() == "steps-post" for line in _panel_lines(lr, result).values())


def test_diagnostics_show_the_steplr_staircase_on_a_log_axis(results):
    result = results["2d diverged"]
    lr = optviz.plot_diagnostics(result, Figure()).ravel()[2]
    assert lr.get_yscale() == "log"
    _, values = _panel_lines(lr, result)["SGD + StepLR"].get_data()
    assert sorted(set(np.round(values, 12)), reverse=True) == [0.002, 0.0002, 2e-05, 2e-06]


def test_diagnostics_use_log_scales_only_where_values_span_decades(results):
    loss = optviz.plot_diagnostics(results["1d"], Figure()).ravel()[0]
    assert loss.get_yscale() == "linear"  # peaks1d's values go negative
    panels = optviz.plot_diagnostics(results["1d diverged"], Figure()).ravel()
    # SGD shrinks x by 0.6 a step: loss, distance and gradient fall by decades; lr 0.05 and 0.6 do not.
    assert [axes.get_yscale() for axes in panels] == ["log", "log", "linear", "log"]


def test_diagnostics_show_and_name_a_diverged_run(results):
    result = results["2d diverged"]
    grid = optviz.plot_diagnostics(result, Figure())
    legend = [text.get_text() for text in grid.ravel()[0].figure.legends[0].get_texts()]
    assert f"SGD (diverged at step {result['SGD'].diverged_step[0]})" in legend
    for axes in grid.ravel():
        assert len([line for line in axes.get_lines() if line.get_label() == "_diverged"]) == 1
    loss = grid.ravel()[0]
    healthy = np.concatenate([t.loss[0] for t in result if not t.diverged[0]])
    # The limits follow the runs that stayed finite; the blow-up leaves through the top.
    assert loss.get_ylim()[1] < 100 * healthy.max()


def test_diagnostics_of_a_function_without_known_minima():
    result = optviz.run(config_from_dict(small({
        "function": {"expr": "x**2 + 3*y**2", "domain": [[-2, 2], [-2, 2]]}, "start": [1.5, 1.0], "steps": 10,
        "optimizers": [{"name": "SGD", "lr": 0.1}]})))
    distance = optviz.plot_diagnostics(result, Figure()).ravel()[1]
    assert [text.get_text() for text in distance.texts] == [f"{result.function.name} has no known minima"]
    assert not distance.get_lines()


# --- animations -------------------------------------------------------------------------


def test_3d_race_moves_heads_along_the_surface(results):
    result = results["2d"]
    scene = build_scene(result, frames=6, trail=4, view="3d")
    assert scene.figure.axes[0].name == "3d"
    record = scene.frames[3]
    assert set(map(id, scene.update(record))) == set(map(id, scene.artists))
    for head, trail, trajectory in zip(scene.heads, scene.trails, result):
        x, y, z = head.get_data_3d()
        np.testing.assert_allclose([x[0], y[0]], trajectory.positions[0, record])
        np.testing.assert_allclose(z[0], trajectory.loss[0, record], rtol=1e-12, atol=1e-12)
        assert len(trail.get_data_3d()[0]) == 4 + 1 + 1  # four steps back, the head, the NaN separator
    assert scene.counter.get_text() == f"step {record} / {result.config.steps}"


@pytest.mark.parametrize("view, quiver", [("2d", False), ("2d", True), ("3d", False)], ids=["2d", "quiver", "3d"])
def test_race_frames_redraw_only_the_axes_and_lose_nothing(results, view, quiver, monkeypatch):
    """Every moving artist of the race, its counter too, is clipped to the Axes, so frames restore
    and compare the Axes alone; the frames are those a whole-canvas restore gives, bit for bit."""
    scene = build_scene(results["2d"], frames=8, view=view, quiver=quiver)
    narrowed = list(render_frames(scene.figure, scene.update, scene.frames))
    assert frames._drawing_area(scene.artists, narrowed[0].shape[:2]) != (slice(None), slice(None))
    monkeypatch.setattr(frames, "_drawing_area", lambda moving, shape: (slice(None), slice(None)))
    scene = build_scene(results["2d"], frames=8, view=view, quiver=quiver)
    for frame, reference in zip(narrowed, render_frames(scene.figure, scene.update, scene.frames), strict=True):
        assert np.array_equal(frame, reference)


def test_quiver_arrows_point_down_the_gradient():
    result = optviz.run(config_from_dict(small({"function": "saddle", "start": [1.0, 0.5], "steps": 5,
                                                "optimizers": [{"name": "SGD", "lr": 0.05}]})))
    assert not [artist for artist in build_scene(result).figure.axes[0].collections if isinstance(artist, Quiver)]
    scene = build_scene(result, quiver=True)
    (quiver,) = [artist for artist in scene.figure.axes[0].collections if isinstance(artist, Quiver)]
    x, y = quiver.X, quiver.Y
    gradient = np.column_stack([2 * x, -2 * y])  # saddle: x^2 - y^2
    arrows = np.column_stack([quiver.U, quiver.V])
    usable = np.linalg.norm(gradient, axis=1) > 1e-9
    cosine = np.sum(-gradient[usable] * arrows[usable], axis=1) / (
        np.linalg.norm(gradient[usable], axis=1) * np.linalg.norm(arrows[usable], axis=1))
    np.testing.assert_allclose(cosine, 1.0, atol=1e-6)


@pytest.mark.parametrize("name, view, quiver, message", [
    ("1d", "3d", False, "render.animation.view: a 3D view (--3d) needs a function of two variables; "
                        "peaks1d has one"),
    ("1d", "2d", True, "render.animation.quiver: gradient arrows (--quiver) need a function of two variables; "
                       "peaks1d has one"),
])
def test_1d_animation_refuses_what_needs_two_variables(results, name, view, quiver, message):
    with pytest.raises(ConfigError) as error:
        build_scene(results[name], view=view, quiver=quiver)
    assert str(error.value) == message
    with pytest.raises(ConfigError) as error:
        config_from_dict(small(CONFIGS[name], animation={"view": view, "quiver": quiver}), source="x.yaml")
    assert str(error.value) == f"x.yaml: {message}"


@pytest.mark.parametrize("name, view, quiver", [
    ("1d", "2d", False), ("2d diverged", "2d", True), ("2d diverged", "3d", False),
], ids=["1d curve", "2d contour with quiver", "3d surface"])
def test_saved_frames_match_funcanimation(results, name, view, quiver, tmp_path):
    result = results[name]
    scene = build_scene(result, frames=5, trail=3, view=view, quiver=quiver)
    blitted = list(render_frames(scene.figure, scene.update, scene.frames))
    scene = build_scene(result, frames=5, trail=3, view=view, quiver=quiver)
    FigureCanvasAgg(scene.figure)
    grabber = FrameGrabber()
    FuncAnimation(scene.figure, scene.update, frames=scene.frames, blit=False).save(tmp_path / "x", writer=grabber)
    assert len(grabber.frames) == len(blitted) == 5
    assert not np.array_equal(blitted[0], blitted[-1])
    for frame, reference in zip(blitted, grabber.frames):
        difference = np.abs(frame.astype(int) - reference.astype(int))
        identical = (difference.max(axis=-1) == 0).mean()
        assert difference.mean() < 1 and identical > 0.99, f"{difference.mean()=:.3f} {identical=:.4f}"


# --- the command line -------------------------------------------------------------------


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    dirs = {}
    for name in ("1d", "2d diverged"):
        target = tmp_path_factory.mktemp(name.replace(" ", "-"))
        config = target / "config-in.yaml"
        config.write_text(json.dumps(small(CONFIGS[name])))
        result = invoke("run", config, "--out", target / "run", "-q")
        assert result.exit_code == 0, result.output
        dirs[name] = target / "run"
    return dirs


@pytest.mark.parametrize("name, figures", [
    ("2d diverged", ["diagnostics.png", "internals.png", "loss.png", "path.png", "surface.png"]),
    ("1d", ["diagnostics.png", "internals.png", "loss.png", "path.png"]),  # a 1D function's curve is path.png
])
def test_run_writes_every_figure_by_default(results, run_dirs, name, figures):
    run_dir, result = run_dirs[name], results[name]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["files"] == sorted(path.name for path in run_dir.iterdir())
    assert [file_name for file_name in manifest["files"] if file_name.endswith(".png")] == figures
    assert [run["label"] for run in manifest["runs"]] == result.labels
    for file_name in figures:
        assert_png(run_dir / file_name, scaled_pixels(file_name, 60))
    # Every optimizer's line is painted in its own colour.
    for file_name, plot in (("loss.png", optviz.plot_loss), ("path.png", optviz.plot_path)):
        styles = _legend_styles(plot(result, Figure().add_subplot()).get_legend())
        assert_png(run_dir / file_name, colours=tuple(colour for label, colour, _ in styles
                                                       if label.split(" (")[0] in result.labels))


def test_run_dpi_and_format_flags(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps(small(CONFIGS["2d"])))
    result = invoke("run", config, "--out", tmp_path / "run", "--dpi", 50, "-q")
    assert result.exit_code == 0, result.output
    assert_png(tmp_path / "run" / "surface.png", figure_pixels((4, 3), 50))
    assert "dpi: 50" in (tmp_path / "run" / "config.yaml").read_text()
    result = invoke("run", config, "--out", tmp_path / "svg", "--format", "svg", "-q")
    assert result.exit_code == 0, result.output
    figures = [name for name in json.loads((tmp_path / "svg" / "manifest.json").read_text())["files"]
               if name.endswith((".png", ".svg"))]
    assert figures == ["diagnostics.svg", "internals.svg", "loss.svg", "path.svg", "surface.svg"]
    for name in figures:
        assert_svg(tmp_path / "svg" / name, (4 * scale(name)[0], 3 * scale(name)[1]))


@pytest.mark.parametrize("flags, name, frames", [
    (["--3d"], "animation-3d.gif", 6),
    (["--3d", "--mp4"], "animation-3d.mp4", 6),
    (["--quiver"], "animation-quiver.gif", 6),
], ids=["3d gif", "3d mp4", "quiver gif"])
def test_animate_3d_and_quiver(run_dirs, flags, name, frames):
    run_dir = run_dirs["2d diverged"]
    result = invoke("animate", run_dir, *flags, "--frames", frames)
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote {run_dir / name}\n"
    decoded = iio.imread(run_dir / name, index=None)
    assert decoded.shape[:3] == (frames, 180, 240)


@pytest.mark.parametrize("flags, message", [
    (["--3d", "--quiver"], "Error: --quiver draws on the flat map; it does not combine with --3d"),
])
def test_animate_flag_conflicts(run_dirs, flags, message):
    result = CliRunner().invoke(cli, ["animate", str(run_dirs["2d diverged"]), *flags])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == message


def test_animate_3d_of_a_1d_run_is_a_one_line_error(run_dirs):
    result = CliRunner().invoke(cli, ["animate", str(run_dirs["1d"]), "--3d"])
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: render.animation.view: a 3D view (--3d) needs a function of two "
                                     "variables; peaks1d has one")


# --- progress bar -----------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """A clock the test moves by hand: redraw pacing does not depend on how fast the machine is."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_bar_draws_on_a_terminal_and_erases_itself():
    stream, clock = Terminal(), Clock()
    with ProgressBar.for_terminal(stream=stream, clock=clock) as bar:
        bar.runs("Adam", 0, 2)
        bar.runs("SGD", 1, 2)
        bar.figures("loss.png", 0, 1)
        for done, seconds in ((1, 0.0), (2, 0.05), (3, 0.15), (4, 0.16)):
            clock.now = seconds
            bar.frames(done, 4)
    screens = [screen.rstrip() for screen in stream.getvalue().split("\r")]
    # Frame 2 comes within a tenth of a second of frame 1: skipped. Frame 3 comes after that
    # tenth and frame 4 is the last: both drawn.
    assert screens == ["", "runs    [" + "." * 24 + "] 0/2  Adam",
                       "runs    [" + "#" * 12 + "." * 12 + "] 1/2  SGD",
                       "figures [" + "." * 24 + "] 0/1  loss.png",
                       "frames  [" + "#" * 6 + "." * 18 + "] 1/4",
                       "frames  [" + "#" * 18 + "." * 6 + "] 3/4",
                       "frames  [" + "#" * 24 + "] 4/4",
                       "", ""]  # erased: spaces over the bar, the cursor back at the line start
    assert stream.getvalue().endswith("\r" + " " * len(screens[-3]) + "\r")


@pytest.mark.parametrize("stream, quiet", [(io.StringIO(), False), (Terminal(), True)], ids=["pipe", "--quiet"])
def test_progress_bar_is_silent_off_a_terminal_or_when_quiet(stream, quiet):
    with ProgressBar.for_terminal(quiet=quiet, stream=stream) as bar:
        bar.runs("Adam", 0, 1)
        bar.figures("loss.png", 0, 1)
        bar.frames(1, 1)
    assert stream.getvalue() == ""


def test_run_progress_reaches_every_optimizer_figure_and_frame(tmp_path):
    calls = []
    config = config_from_dict(small(CONFIGS["1d"], figures=["loss", "surface", "diagnostics"],
                                    animation={"enabled": True, "frames": 4}))
    optviz.run_to_dir(config, tmp_path, progress=lambda label, done, total: calls.append(("runs", label, done, total)),
                      figure_progress=lambda name, done, total: calls.append(("figures", name, done, total)),
                      frame_progress=lambda done, total: calls.append(("frames", done, total)))
    assert calls == [("runs", "Adam", 0, 2), ("runs", "SGD", 1, 2),
                     ("figures", "loss.png", 0, 2), ("figures", "diagnostics.png", 1, 2),  # no surface in 1D
                     ("frames", 1, 4), ("frames", 2, 4), ("frames", 3, 4), ("frames", 4, 4)]


# --- the gallery ------------------------------------------------------------------------


def test_readme_shows_the_committed_gallery():
    import re

    readme = (ROOT / "README.md").read_text()
    shown = re.findall(r"!\[[^\]]*\]\((docs/[^)]+)\)", readme)
    assert any(name.endswith(".gif") for name in shown) and len(shown) >= 4
    for name in shown:
        assert name.endswith((".png", ".gif")), f"README shows {name}, neither a PNG nor a GIF"
        assert (ROOT / name).is_file(), f"README shows {name}, which is missing"
        if name.endswith(".gif"):
            assert_animation(ROOT / name)
        else:
            assert_png(ROOT / name)
    gif = next(ROOT / name for name in shown if name.endswith(".gif"))
    assert gif.stat().st_size < 1_000_000  # the README stays quick to load


def test_run_draws_the_bar_on_a_terminal_stderr_only(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    config = tmp_path / "c.yaml"
    config.write_text(json.dumps(small(CONFIGS["1d"])))
    controller, terminal = pty.openpty()
    completed = subprocess.run([sys.executable, "-m", "optviz", "run", config, "--out", tmp_path / "run"],
                               stdout=subprocess.PIPE, stderr=terminal, text=True, timeout=120,
                               env={**os.environ, "MPLBACKEND": "Agg"})
    os.close(terminal)
    shown = os.read(controller, 65536).decode()
    os.close(controller)
    assert completed.returncode == 0
    assert "runs    [" in shown and "figures [" in shown and shown.endswith("\r")
    assert "[" not in completed.stdout  # the report on stdout stays clean
    piped = invoke("run", config, "--out", tmp_path / "piped")  # CliRunner's stderr is no terminal
    assert piped.exit_code == 0 and piped.stderr == ""


def test_without_a_terminal_a_long_command_says_every_so_often_what_it_does():
    import io

    from optviz.progress import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(stream, enabled=False, heartbeat=0.05)
    bar.runs("Adam", 1, 5)
    import time

    time.sleep(0.3)  # a few heartbeats; the assertion is on their text, not on their timing
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines and all(line.startswith("optviz: still working after ") and line.endswith(" s: runs 1/5 (Adam)")
                         for line in lines)
    assert stream.getvalue() == "\n".join(lines) + "\n"  # whole lines, no bar, no carriage returns
    quiet = io.StringIO()
    with ProgressBar.for_terminal(quiet=True, stream=quiet) as silent:
        silent.runs("Adam", 1, 5)
    assert quiet.getvalue() == "" and silent._beating is None
    import os

    os.environ["OPTVIZ_HEARTBEAT"] = "10"  # the conftest turns it off for every other test
    logged = ProgressBar.for_terminal(stream=io.StringIO())
    assert logged._beating is not None
    logged.close()
