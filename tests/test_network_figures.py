"""Network figures show what a person should see: the curves where the data is, the band's meaning,
diverged and failed runs named, a log axis when losses span decades."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from images import assert_png, figure_pixels
from optviz.config import config_model
from optviz.render import (plot_accuracy, plot_curves, plot_training_diagnostics, save_network_figures)
from optviz.render.style import colour
from optviz.results.network import NetworkResult, TrainingRun

EPOCHS, PER_EPOCH = 4, 25


def training_run(label: str, seed: int, *, decay: float = 1.0, diverged: int = -1, error: str | None = None,
                 stop: int | None = None, classification: bool = True) -> TrainingRun:
    rng = np.random.default_rng(seed)
    iterations = np.arange(EPOCHS * PER_EPOCH)
    base = 0.002 + 2.0 * np.exp(-2 * iterations / (decay * PER_EPOCH))
    train_loss = base * np.exp(rng.normal(0, 0.2, len(iterations)))
    ends = np.arange(1, EPOCHS + 1) * PER_EPOCH - 1
    valid_loss = base[ends] * 1.2
    accuracy = 1 - 0.8 * np.exp(-np.arange(1, EPOCHS + 1) / decay)
    epoch = iterations // PER_EPOCH + 1
    lr = np.full(len(iterations), 0.01)
    grad_norm = 3 * base
    if diverged >= 0:
        train_loss[diverged - 5: diverged] *= np.exp(np.arange(1, 6) * 8.0)
        train_loss[diverged:] = np.nan
        grad_norm = grad_norm.copy()
        grad_norm[diverged:] = np.nan
        valid_loss[diverged // PER_EPOCH:] = np.nan
    if stop is not None:
        epoch, train_loss, lr, grad_norm = epoch[:stop], train_loss[:stop], lr[:stop], grad_norm[:stop]
        valid_loss, accuracy = valid_loss[: stop // PER_EPOCH], accuracy[: stop // PER_EPOCH]
    return TrainingRun(label, label, seed, epoch, train_loss, lr, grad_norm, lr * grad_norm, valid_loss * 0.9,
                       valid_loss, accuracy if classification else None,
                       accuracy - 0.05 if classification else None, diverged, error)


def network_result(seeds=(1,), classification: bool = True, special: dict | None = None) -> NetworkResult:
    special = special or {}
    runs = [training_run(label, seed, decay=1.0 + index, classification=classification,
                         **special.get((label, seed), {}))
            for index, label in enumerate(["SGD", "Adam", "RMSprop"]) for seed in seeds]
    config = config_model({"function": "peaks", "optimizers": ["SGD", "Adam", "RMSprop"],
                           "render": {"size": [6, 4.5], "dpi": 60}})
    return NetworkResult(config, "classification" if classification else "regression",
                         3 if classification else None, 100, runs)


BAD = {("Adam", 1): {"error": "RuntimeError: mat1 and mat2 shapes cannot be multiplied", "stop": 60},
       ("RMSprop", 1): {"diverged": 70}}


def axes():
    return Figure(figsize=(6, 4.5), dpi=60, layout="constrained").add_subplot()


def legend_texts(ax) -> list[str]:
    return [text.get_text() for text in ax.get_legend().get_texts()]


def lines_of(ax, label: str):
    return [line for line in ax.get_lines() if to_hex(line.get_color()) == colour(["SGD", "Adam", "RMSprop"].index(label)).lower()]


def test_curves_draw_train_per_iteration_and_valid_at_epoch_ends():
    result = network_result()
    ax = plot_curves(result, axes())
    run = result["SGD", 1]
    train, valid = lines_of(ax, "SGD")
    np.testing.assert_array_equal(train.get_xdata(), np.arange(EPOCHS * PER_EPOCH))
    np.testing.assert_allclose(train.get_ydata(), run.train_loss)
    # The seed lesson's x for the validation loss: the iteration count when the epoch ends.
    np.testing.assert_array_equal(valid.get_xdata(), np.arange(1, EPOCHS + 1) * PER_EPOCH)
    np.testing.assert_allclose(valid.get_ydata(), run.epoch_valid_loss)
    assert valid.get_marker() not in ("None", "", None) and train.get_linewidth() < valid.get_linewidth()
    assert legend_texts(ax) == ["SGD", "Adam", "RMSprop", "training loss, per iteration", "validation loss, per epoch"]
    assert ax.get_yscale() == "log"  # 2.0 down to about 0.003
    assert ax.get_xlabel() == "iteration"


def test_curves_stay_linear_when_losses_do_not_span_decades():
    result = network_result()
    for run in result:
        run.train_loss = 1.0 + 0.1 * np.cos(np.arange(run.iterations))
        run.epoch_valid_loss = np.full(EPOCHS, 1.05)
    assert plot_curves(result, axes()).get_yscale() == "linear"


def test_several_seeds_draw_the_mean_and_a_band_named_in_the_legend():
    result = network_result(seeds=(1, 2, 3))
    ax = plot_curves(result, axes())
    assert "mean, band: min-max over 3 seeds" in legend_texts(ax)
    stack = np.stack([run.train_loss for run in result.of("Adam")])
    train = lines_of(ax, "Adam")[0]
    np.testing.assert_allclose(train.get_ydata(), stack.mean(axis=0))
    bands = [collection for collection in ax.collections if to_hex(collection.get_facecolor()[0][:3]) == colour(1).lower()]
    assert len(bands) == 2  # the training loss's and the validation loss's
    low, high = bands[0].get_paths()[0].vertices[:, 1].min(), bands[0].get_paths()[0].vertices[:, 1].max()
    assert np.isclose(low, stack.min()) and np.isclose(high, stack.max())
    assert ax.get_title() == "training and validation loss, 3 seeds"


def test_diverged_and_failed_runs_are_named_and_end_where_their_data_does():
    result = network_result(special=BAD)
    ax = plot_curves(result, axes())
    texts = legend_texts(ax)
    assert "RMSprop (diverged at iteration 70)" in texts
    assert "Adam (failed: RuntimeError: mat1 and mat2 shapes cannot be multiplied)" in [
        text.replace("\n", " ") for text in texts]
    train, valid = lines_of(ax, "RMSprop")[:2]
    assert train.get_xdata()[-1] == 69 and np.isfinite(train.get_ydata()).all()
    np.testing.assert_array_equal(valid.get_xdata(), [25, 50])  # the epoch it diverged in never ended
    # The limits follow the runs that stayed finite: the blow-up leaves through the top and ends in an X there.
    assert ax.get_ylim()[1] < 100
    (cross,) = [line for line in ax.get_lines() if line.get_marker() == "X"]
    assert np.isclose(cross.get_ydata()[0], ax.get_ylim()[1])
    adam_train, adam_valid = lines_of(ax, "Adam")[:2]
    assert len(adam_train.get_xdata()) == 60 and list(adam_valid.get_xdata()) == [25, 50]


def test_one_diverged_seed_ends_the_mean_and_is_counted():
    result = network_result(seeds=(1, 2, 3), special={("RMSprop", 2): {"diverged": 70}})
    ax = plot_curves(result, axes())
    assert "RMSprop (1 of 3 seeds diverged, first at iteration 70)" in legend_texts(ax)
    assert lines_of(ax, "RMSprop")[0].get_xdata()[-1] == 69


def test_accuracy_per_epoch_as_percent_for_classification_only():
    result = network_result(seeds=(1, 2, 3))
    ax = plot_accuracy(result, axes())
    train, valid = lines_of(ax, "SGD")
    np.testing.assert_array_equal(train.get_xdata(), np.arange(1, EPOCHS + 1))
    np.testing.assert_allclose(valid.get_ydata(), np.mean([run.epoch_valid_accuracy for run in result.of("SGD")], axis=0))
    assert train.get_linestyle() == "--" and valid.get_linestyle() == "-"
    assert legend_texts(ax)[-3:] == ["training accuracy", "validation accuracy", "mean, band: min-max over 3 seeds"]
    assert ax.get_ylim()[1] <= 1.02 and ax.get_ylim()[0] >= 0
    assert ax.yaxis.get_major_formatter()(0.5, 0) == "50%"
    with pytest.raises(ValueError, match="accuracy is for classification; this result's task is regression"):
        plot_accuracy(network_result(classification=False), axes())


def test_diagnostics_panels_follow_the_data():
    result = network_result(special=BAD)
    figure = Figure(figsize=(9, 4.5), dpi=60, layout="constrained")
    panels = plot_training_diagnostics(result, figure)
    assert [panel.get_title() for panel in panels] == ["learning rate in force", "gradient norm", "update norm"]
    sgd_grad = lines_of(panels[1], "SGD")[0]
    np.testing.assert_allclose(sgd_grad.get_ydata(), result["SGD", 1].grad_norm)
    assert panels[1].get_yscale() == "log" and panels[0].get_yscale() == "linear"
    texts = [text.get_text() for text in figure.legends[0].get_texts()]
    assert "RMSprop (diverged at iteration 70)" in texts


@pytest.mark.parametrize("seeds", [(1,), (1, 2, 3)], ids=["1 seed", "3 seeds"])
@pytest.mark.parametrize("classification", [True, False], ids=["classification", "regression"])
def test_save_network_figures_writes_each_figure(tmp_path, seeds, classification):
    result = network_result(seeds, classification, special=BAD if seeds == (1,) else None)
    names = save_network_figures(result, tmp_path, "png")
    assert names == (["curves.png", "accuracy.png", "diagnostics.png"] if classification
                     else ["curves.png", "diagnostics.png"])
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(names)
    size, dpi = result.config.render.size, result.config.render.dpi
    line_colours = tuple(colour(index) for index in range(3))
    assert_png(tmp_path / "curves.png", figure_pixels(size, dpi), colours=line_colours)
    if classification:
        assert_png(tmp_path / "accuracy.png", figure_pixels(size, dpi), colours=line_colours)
    assert_png(tmp_path / "diagnostics.png", figure_pixels((size[0] * 1.5, size[1]), dpi), colours=line_colours)


def test_save_network_figures_in_vector_formats(tmp_path):
    names = save_network_figures(network_result(), tmp_path, "svg")
    assert names == ["curves.svg", "accuracy.svg", "diagnostics.svg"]
    assert all((tmp_path / name).read_text().lstrip().startswith("<?xml") for name in names)
