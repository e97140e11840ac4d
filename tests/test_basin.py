"""Basin maps: which known minimum each start reaches, the files that say so, and the figures."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.figure import Figure

from images import assert_png
from optviz import ConfigError, config_from_dict, load_config, run
from optviz.pipelines.basin import basin_map
from optviz.results.basin import DIVERGED, NOT_CONVERGED, basin_summary, basins, grid_shape
from optviz.cli import cli
from optviz.problems.functions import get_function
from optviz.render import plot_basin
from optviz.render.basin import DIVERGED_COLOUR, NOT_CONVERGED_COLOUR, minimum_colour

CONFIGS = Path(__file__).parent.parent / "configs"
# Small, so the suite stays fast; the configs' own sizes are for people and benchmarks.
SHRINK = ("--set", "start.grid=[24,20]", "--set", "steps=120", "--set", "record.every=40")


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


@pytest.mark.parametrize("function", ["peaks", "himmelblau", "six_hump_camel"])
def test_a_start_near_a_minimum_ends_there(function):
    """Every known minimum gets the starts placed just beside it: the map is labelled right."""
    minima = get_function(function).minima
    offsets = np.array([[0.02, -0.01], [-0.015, 0.02]])
    starts = [list(np.add(minimum.point, offset)) for minimum in minima for offset in offsets]
    result = run(config_from_dict({"function": function, "start": starts, "steps": 300, "dtype": "float64",
                                   "optimizers": [{"name": "SGD", "lr": 0.005}, {"name": "Adam", "lr": 0.01}]}))
    for basin in basins(result):
        assert basin.outcome.tolist() == [index for index in range(len(minima)) for _ in offsets]
        assert (basin.converged_step >= 0).all()


def test_outcome_is_the_minimum_the_final_point_is_within_tolerance_of():
    result = run(config_from_dict({"function": "himmelblau", "start": {"grid": [12, 12]}, "steps": 40,
                                   "dtype": "float64", "record": {"tolerance": 0.05},
                                   "optimizers": [{"name": "SGD", "lr": 0.01}, {"name": "SGD", "lr": 0.03, "label": "fast"}]}))
    minima = np.array([minimum.point for minimum in result.function.minima])
    for basin, trajectory in zip(basins(result), result):
        distance = np.linalg.norm(trajectory.final_position[:, None] - minima, axis=-1)
        within = distance.min(axis=1) <= 0.05
        finite = np.isfinite(trajectory.final_position).all(axis=1)
        expected = np.where(within, distance.argmin(axis=1), NOT_CONVERGED)
        expected = np.where(finite & ~trajectory.diverged, expected, DIVERGED)
        np.testing.assert_array_equal(basin.outcome, expected)
    outcomes = np.concatenate([basin.outcome for basin in basins(result)])
    assert {NOT_CONVERGED, DIVERGED, 0, 1, 2, 3} <= set(outcomes.tolist())  # 40 steps: some not there yet


def test_summary_shares_add_up_and_name_the_minima():
    result = run(config_from_dict({"function": "himmelblau", "start": {"grid": [10, 10]}, "steps": 150,
                                   "optimizers": [{"name": "Adam", "lr": 0.1}]}))
    summary = basin_summary(result)
    assert summary["grid"] == [10, 10] and summary["tolerance"] == pytest.approx(0.1 * np.sqrt(2))
    entry = summary["runs"][0]
    assert [minimum["name"] for minimum in entry["minima"]] == ["A", "B", "C", "D"]
    assert sum(minimum["fraction"] for minimum in entry["minima"]) + entry["not_converged"] + entry["diverged"] \
        == pytest.approx(1.0)
    assert sum(minimum["starts"] for minimum in entry["minima"]) == 100 - round(100 * entry["not_converged"])


def test_grid_shape_is_rows_then_columns():
    config = config_from_dict({"function": "peaks", "start": {"grid": [5, 3]}, "optimizers": ["Adam"]})
    assert grid_shape(config, 2) == (3, 5)
    assert grid_shape(config_from_dict({"function": "peaks", "start": [0, 0], "optimizers": ["Adam"]}), 2) is None


def test_colouring_by_minimum_needs_known_minima():
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"function": "saddle", "start": {"grid": [4, 4]}, "optimizers": ["Adam"],
                          "render": {"figures": ["basin"]}}, source="x.yaml")
    assert str(caught.value) == ("x.yaml: render.basin.colour_by: colouring by 'minimum' needs known minima and "
                                 "saddle has none; use final_loss, or give the function minima")
    config_from_dict({"function": "saddle", "start": {"grid": [4, 4]}, "optimizers": ["Adam"],
                      "render": {"figures": ["basin"], "basin": {"colour_by": "final_loss"}}})


@pytest.mark.parametrize("change,message", [
    ({"render": {"basin": {"colour_by": "depth"}}},
     "x.yaml: render.basin.colour_by: must be one of 'minimum', 'final_loss' or 'steps', got 'depth'"),
    ({"record": {"tolerance": 0}}, "x.yaml: record.tolerance: must be > 0, got 0"),
    ({"record": {"tolerance": float("inf")}}, "x.yaml: record.tolerance: must be finite, got inf"),
    ({"record": {"every": 0}}, "x.yaml: record.every: must be >= 1, got 0"),
    ({"record": {"evry": 2}}, "x.yaml: record.evry: unknown key; did you mean every?"),
], ids=["colour_by", "tolerance", "tolerance-inf", "every", "every-typo"])
def test_record_and_basin_settings_are_checked(change, message):
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"function": "peaks", "start": [0, 0], "optimizers": ["Adam"], **change}, source="x.yaml")
    assert str(caught.value) == message


# --- the figure --------------------------------------------------------------------


def basin_result(colour_by="minimum", **changes):
    data = {"function": "himmelblau", "start": {"grid": [16, 12]}, "steps": 100, "dtype": "float64",
            "optimizers": [{"name": "SGD", "lr": 0.01}, {"name": "SGD", "lr": 0.04, "label": "too fast"}],
            "render": {"figures": ["basin"], "basin": {"colour_by": colour_by}}}
    return run(config_from_dict({**data, **changes}))


def images(figure):
    return [axes.get_images()[0] for axes in figure.axes if axes.get_images()]


def test_each_pixel_is_its_start_coloured_by_outcome():
    from matplotlib.colors import to_rgba

    result = basin_result()
    figure = plot_basin(result)
    shown = images(figure)
    assert len(shown) == 2
    for image, basin in zip(shown, basins(result)):
        pixels = np.asarray(image.get_array())
        assert pixels.shape == (12, 16, 4)
        # One pixel per start, centred on it: the extent reaches half a grid step beyond the starts.
        assert image.get_extent() == pytest.approx([-5 - 10 / 30, 5 + 10 / 30, -5 - 10 / 22, 5 + 10 / 22])
        outcome = basin.outcome.reshape(12, 16)
        for label, colour in [(0, minimum_colour(0)), (3, minimum_colour(3)), (NOT_CONVERGED, NOT_CONVERGED_COLOUR),
                              (DIVERGED, DIVERGED_COLOUR)]:
            assert (pixels[outcome == label] == to_rgba(colour)).all()
    # The start at the bottom-left corner (-5, -5) is pixel [0, 0].
    np.testing.assert_array_equal(result.starts[0], [-5, -5])
    titles = [axes.get_title() for axes in figure.axes if axes.get_images()]
    assert titles[0].startswith("SGD\n") and "diverged" in titles[1]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend[0] == "A (3, 2), f = 0, global" and "diverged" in legend


@pytest.mark.parametrize("colour_by,label", [("final_loss", "f at the final point - (0), log scale"),
                                             ("steps", "step from which it stays within tolerance of a minimum")])
def test_continuous_colourings_share_one_colour_bar(colour_by, label):
    figure = plot_basin(basin_result(colour_by))
    bars = [axes for axes in figure.axes if axes.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylabel() in (label, label.replace(" - (0)", ""))
    first, second = images(figure)
    assert first.get_array().shape == second.get_array().shape == (12, 16, 4)


def test_scattered_starts_and_1d_functions_are_drawn_as_dots():
    scattered = plot_basin(basin_result(start={"random": 50, "seed": 1}))
    assert not images(scattered)
    assert all(len(axes.collections[0].get_offsets()) == 50 for axes in scattered.axes if axes.collections)
    quadratic = run(config_from_dict({"function": "quadratic", "start": {"grid": [9]}, "steps": 30,
                                      "optimizers": [{"name": "SGD", "lr": 0.05}], "render": {"figures": ["basin"]}}))
    axes = plot_basin(quadratic).axes[0]
    dots = next(collection for collection in axes.collections if len(collection.get_offsets()) == 9)
    np.testing.assert_allclose(dots.get_offsets()[:, 0], np.linspace(-3, 3, 9))


def test_saved_basin_figure_is_not_blank(tmp_path):
    from PIL import Image

    from optviz.render import save_basin

    path = save_basin(basin_result(), tmp_path / "basin.png")
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[0] > 300 and image.shape[1] > 600
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 20


# --- files and the command ---------------------------------------------------------


def test_basin_map_writes_basin_npz_and_png(tmp_path):
    config = load_config(CONFIGS / "himmelblau_basin.yaml", [part for part in SHRINK if part != "--set"])
    manifest = basin_map(config, tmp_path)
    assert {"basin.npz", "basin.png", "summary.csv", "trajectories.npz", "config.yaml", "manifest.json"} <= set(
        manifest["files"])
    assert [run["label"] for run in manifest["basin"]["runs"]] == ["SGD", "SGD momentum", "Adam"]
    with np.load(tmp_path / "basin.npz") as archive:
        assert archive["labels"].tolist() == ["SGD", "SGD momentum", "Adam"]
        assert archive["grid"].tolist() == [20, 24] and archive["starts"].shape == (480, 2)
        assert archive["minima"].shape == (4, 2) and float(archive["tolerance"]) == pytest.approx(0.1 * np.sqrt(2))
        assert archive["outcome_2"].shape == (480,) and archive["final_position_2"].shape == (480, 2)
        result = basins(run(config_from_dict(json.loads(json.dumps(config.to_dict())))))
        np.testing.assert_array_equal(archive["outcome_1"], result[1].outcome)
        np.testing.assert_array_equal(archive["converged_step_1"], result[1].converged_step)
    with np.load(tmp_path / "trajectories.npz") as archive:
        assert archive["steps"].tolist() == [0, 40, 80, 120]  # thinned as record.every asks
    assert "basin" in (tmp_path / "config.yaml").read_text()  # rerunning config.yaml draws it again


@pytest.mark.parametrize("name", ["peaks_basin.yaml", "himmelblau_basin.yaml"])
def test_basin_command_on_the_example_configs(tmp_path, name):
    result = invoke("basin", CONFIGS / name, *SHRINK, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1].startswith(f"Wrote {tmp_path}/: basin.npz, basin.png")
    assert lines[0].split()[1] == "A" and "not converged" in lines[0]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"] == sorted(path.name for path in tmp_path.iterdir())
    # The map paints every minimum some start reached in that minimum's colour, the rest in grey.
    reached = sorted({index for entry in manifest["basin"]["runs"] for index, minimum in enumerate(entry["minima"])
                      if minimum["starts"]})
    assert reached and any(entry["not_converged"] for entry in manifest["basin"]["runs"])
    assert_png(tmp_path / "basin.png", colours=(*map(minimum_colour, reached), NOT_CONVERGED_COLOUR))
    for name in manifest["files"]:
        if name.endswith(".png"):
            assert_png(tmp_path / name)


def test_basin_command_json_and_quiet(tmp_path):
    result = invoke("basin", CONFIGS / "himmelblau_basin.yaml", *SHRINK, "--out", tmp_path / "a", "--json")
    assert result.exit_code == 0
    manifest = json.loads(result.output)
    assert manifest["basin"]["grid"] == [20, 24] and manifest["record_every"] == 40
    quiet = invoke("basin", CONFIGS / "himmelblau_basin.yaml", *SHRINK, "--out", tmp_path / "b", "--quiet")
    assert (quiet.exit_code, quiet.output) == (0, "")


def test_basin_command_adds_the_figure_to_any_config(tmp_path):
    result = invoke("basin", CONFIGS / "peaks.yaml", "--set", "start={grid: [8, 8]}", "--set", "steps=20",
                    "--out", tmp_path, "--quiet")
    assert result.exit_code == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {"basin.png", "path.png"} <= set(manifest["files"])
    assert manifest["basin"]["grid"] == [8, 8]
    assert_png(tmp_path / "basin.png")
    assert_png(tmp_path / "path.png")


def test_basin_command_errors_are_one_line(tmp_path):
    config = tmp_path / "saddle.yaml"
    config.write_text("function: saddle\nstart: {grid: [4, 4]}\noptimizers: [Adam]\n")
    result = invoke("basin", config, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.strip() == (f"Error: {config}: render.basin.colour_by: colouring by 'minimum' needs known "
                                     "minima and saddle has none; use final_loss, or give the function minima")
    assert not (tmp_path / "out").exists()


def test_peaks_starts_config_draws_every_path_in_one_panel_per_optimizer(tmp_path):
    from matplotlib.collections import LineCollection

    from optviz.render.loss import plot_loss_panels
    from optviz.render.path import plot_path_panels
    from optviz.store.rundir import load_run

    result = invoke("run", CONFIGS / "peaks_starts.yaml", "--set", "steps=30", "--out", tmp_path, "--quiet")
    assert result.exit_code == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {"path.png", "loss.png", "trajectories.csv", "summary.csv"} <= set(manifest["files"])
    loaded = load_run(tmp_path)
    assert len(loaded.starts) == 16 and len(loaded.trajectories) == 5
    figure = plot_path_panels(loaded)
    panels = [axes for axes in figure.axes if axes.get_title()]
    assert [axes.get_title() for axes in panels] == ["Adadelta", "Adagrad", "SGD", "Adam", "RMSprop"]
    for axes, trajectory in zip(panels, loaded):
        paths = next(collection for collection in axes.collections if isinstance(collection, LineCollection)
                     and collection.get_label() == trajectory.label)
        assert len(paths.get_segments()) == 16
        np.testing.assert_array_equal(paths.get_segments()[5], trajectory.positions[5])
    assert len(figure.legends) == 1
    loss = plot_loss_panels(loaded)
    assert [axes.get_title() for axes in loss.axes if axes.get_title()] == ["Adadelta", "Adagrad", "SGD", "Adam",
                                                                            "RMSprop"]
    # The files are these panel figures, at their size.
    for name, drawn in (("path.png", figure), ("loss.png", loss)):
        assert_png(tmp_path / name, tuple(round(side) for side in drawn.get_size_inches() * drawn.dpi))


def test_many_paths_are_thinned_to_a_spread_subset():
    from optviz.render.path import MAX_PATHS, shown_starts

    result = basin_result(start={"grid": [60, 50]}, steps=3)
    chosen = shown_starts(result)
    assert len(chosen) <= MAX_PATHS
    picked = result.starts[chosen]
    # Every row and column of the sub-grid is used: the subset covers the whole square.
    assert len(np.unique(picked[:, 0])) == 20 and len(np.unique(picked[:, 1])) == 17
    assert picked[:, 0].min() == -5 and picked[:, 1].min() == -5
    random = basin_result(start={"random": 1000, "seed": 2}, steps=3)
    assert len(shown_starts(random)) == MAX_PATHS
    np.testing.assert_array_equal(shown_starts(random), shown_starts(random))
    axes = Figure().add_subplot()
    from optviz.render import plot_path

    plot_path(result, axes)
    assert "400 of 3000 paths" in axes.get_title() or f"{len(chosen)} of 3000 paths" in axes.get_title()


# --- chunks and processes: the same bits -------------------------------------------------

TRAJECTORY_ARRAYS = ("positions", "loss", "lr", "grad_norm", "diverged_step", "converged_step")
# Stacked (SGD with a schedule, Adam), separate (Adafactor); on rosenbrock the last diverges in places.
CHUNKED = [
    {"name": "SGD", "lr": 0.02, "momentum": 0.9, "scheduler": {"name": "StepLR", "step_size": 5, "gamma": 0.5}},
    {"name": "Adam", "lr": 0.05},
    {"name": "Adafactor", "lr": 0.05},
    {"name": "SGD", "lr": 0.004, "label": "SGD too fast"},
]


def assert_same_bits(one, other):
    np.testing.assert_array_equal(one.starts, other.starts)
    for first, second in zip(one, other, strict=True):
        for name in TRAJECTORY_ARRAYS:
            expected, got = getattr(first, name), getattr(second, name)
            assert got.dtype == expected.dtype and got.shape == expected.shape, (first.label, name)
            assert got.tobytes() == expected.tobytes(), (first.label, name)
        assert second.shared_lr == first.shared_lr and second.error == first.error


@pytest.mark.parametrize("chunk_rows,workers", [(7, 1), (50, 2), (128, 2)], ids=["chunks", "2-processes",
                                                                                "2-processes-one-partial-chunk"])
def test_chunked_and_two_process_runs_equal_one_batch(chunk_rows, workers):
    config = config_from_dict({"function": "rosenbrock", "start": {"grid": [15, 13]}, "steps": 30, "dtype": "float32",
                               "record": {"every": 7}, "optimizers": CHUNKED})
    one = run(config, workers=1, chunk_rows=10**6)
    assert one["SGD too fast"].diverged.any() and not one["SGD too fast"].diverged.all()
    assert_same_bits(one, run(config, workers=workers, chunk_rows=chunk_rows))


def test_default_workers_is_one_per_enough_rows_up_to_the_cpus():
    from optviz.engine import MIN_WORKER_ROWS, default_workers

    assert default_workers(1) == 1 and default_workers(2 * MIN_WORKER_ROWS - 1) == 1
    assert default_workers(2 * MIN_WORKER_ROWS) == min(2, len(os.sched_getaffinity(0)))
    assert default_workers(10**9) == len(os.sched_getaffinity(0))


def test_chunked_and_two_process_basin_maps_write_the_same_files(tmp_path, monkeypatch):
    import optviz.engine
    import optviz.store.rundir

    config = load_config(CONFIGS / "himmelblau_basin.yaml", ["start.grid=[24,20]", "steps=60", "record.every=20"])
    basin_map(config, tmp_path / "one", workers=1)
    monkeypatch.setattr(optviz.engine, "CHUNK_ROWS", 64)  # 480 starts: 8 chunks, the last one short
    monkeypatch.setattr(optviz.store.rundir, "SUMMARY_BLOCK_ROWS", 100)  # summary.csv in 15 blocks
    basin_map(config, tmp_path / "chunks", workers=1)
    manifest = basin_map(config, tmp_path / "two", workers=2)
    for name in ("summary.csv", "basin.npz", "trajectories.npz", "config.yaml"):
        expected = (tmp_path / "one" / name).read_bytes()
        for other in ("chunks", "two"):
            assert (tmp_path / other / name).read_bytes() == expected, (other, name)
    one = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert {**manifest, "timing": None} == {**one, "timing": None}


def test_basin_command_takes_a_number_of_workers(tmp_path):
    result = invoke("basin", CONFIGS / "peaks_basin.yaml", *SHRINK, "--workers", 2, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "Adam" in result.output
    bad = invoke("basin", CONFIGS / "peaks_basin.yaml", *SHRINK, "--workers", 0, "--out", tmp_path)
    assert bad.exit_code == 2 and "--workers" in bad.output


def test_summary_csv_is_the_same_in_any_blocks_and_quotes_labels_as_csv_does(tmp_path):
    import csv

    from optviz.store.rundir import write_summary_csv

    result = run(config_from_dict({"function": "rosenbrock", "start": {"grid": [9, 7]}, "steps": 30, "optimizers": [
        {"name": "SGD", "lr": 0.004, "label": 'SGD, "fast"'}, "Adam"]}))
    whole = write_summary_csv(result, tmp_path / "whole.csv").read_bytes()
    for block_rows in (1, 10, 63):
        assert write_summary_csv(result, tmp_path / "blocks.csv", block_rows=block_rows).read_bytes() == whole
    with open(tmp_path / "whole.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["label"] for row in rows] == ['SGD, "fast"'] * 63 + ["Adam"] * 63
    assert {row["status"] for row in rows[:63]} == {"ok", "diverged"}
