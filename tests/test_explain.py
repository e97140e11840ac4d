"""``optviz explain momentum``: the seed's momentum.py figure, its sums, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from images import assert_png, figure_pixels
from optviz.cli import cli
from optviz.errors import ConfigError
from optviz.results.ewma import ewma_weights


def test_the_weights_are_the_seed_s_and_sum_to_one_minus_beta_to_the_steps():
    curves = ewma_weights([0.98, 0.95, 0.9, 0.8])
    for curve, beta in zip(curves, [0.98, 0.95, 0.9, 0.8]):
        # momentum.py's exp_w_func: [(1 - beta) * np.power(beta, exp) for exp in range(100)]
        np.testing.assert_allclose(curve.weights, [(1 - beta) * np.power(beta, t) for t in range(100)], rtol=1e-15)
        assert curve.total == pytest.approx(1 - beta**100, rel=1e-12)
        assert curve.memory == pytest.approx(1 / (1 - beta))
    assert [curve.total_text() for curve in curves] == ["0.86738", "0.99408", "0.99997", "1 - 2e-10"]


def test_explain_momentum_writes_the_figure_and_prints_the_sums(tmp_path):
    out = tmp_path / "ewma.png"
    result = CliRunner().invoke(cli, ["explain", "momentum", "--beta", "0.98", "0.95", "0.9", "0.8", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "beta 0.98: the 100 weights sum to 0.86738; memory about 1/(1 - beta) = 50 steps",
        "beta 0.95: the 100 weights sum to 0.99408; memory about 1/(1 - beta) = 20 steps",
        "beta 0.9: the 100 weights sum to 0.99997; memory about 1/(1 - beta) = 10 steps",
        "beta 0.8: the 100 weights sum to 1 - 2e-10; memory about 1/(1 - beta) = 5 steps",
        f"Wrote {out}",
    ]
    from optviz.render.style import colour

    assert_png(out, figure_pixels((7.0, 5.0), 110), colours=tuple(colour(index) for index in range(4)))


def test_the_figure_draws_each_beta_with_its_memory():
    from optviz.render.ewma import plot_ewma

    curves = ewma_weights([0.98, 0.5], steps=40)
    axes = plot_ewma(curves)
    drawn = [line for line in axes.get_lines() if line.get_label().startswith("β")]
    assert [line.get_label() for line in drawn] == ["β = 0.98: memory ≈ 50 steps, weights sum to 0.5543",
                                                    "β = 0.5: memory ≈ 2 steps, weights sum to 1 − 9.1e-13"]
    for line, curve in zip(drawn, curves):
        np.testing.assert_array_equal(line.get_ydata(), curve.weights)
    texts = [text.get_text() for text in axes.texts]
    assert texts == ["memory 50 →", "2"]  # 0.98's memory lies past the 40 steps drawn: an arrow to the edge


def test_the_defaults_are_the_seed_s_betas_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["explain", "momentum", "-q"])
    assert result.exit_code == 0 and result.output == ""
    assert (tmp_path / "ewma.png").is_file()


@pytest.mark.parametrize("args, message", [
    (["--beta", "1.5"], "--beta: each beta must lie between 0 and 1 (exclusive), got 1.5"),
    (["--beta", "0"], "--beta: each beta must lie between 0 and 1 (exclusive), got 0.0"),
    (["--beta", "0.9", "0.9"], "--beta: each beta once, got 0.9, 0.9"),
    (["--beta", "nan"], "--beta: each beta must lie between 0 and 1 (exclusive), got nan"),
    (["--steps", "1"], "--steps: must be between 2 and 100000, got 1"),
    (["--out", "ewma.txt"], "--out: ewma.txt must end in .png, .svg, .pdf"),
])
def test_bad_input_is_one_error_line(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["explain", "momentum", *args])
    assert (result.exit_code, result.output) == (2, f"Error: {message}\n")
    assert list(tmp_path.iterdir()) == []


def test_no_beta_is_an_error():
    with pytest.raises(ConfigError, match="give one beta or more"):
        ewma_weights([])
