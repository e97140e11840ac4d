"""What theory predicts on quadratics (optviz.results.theory) against torch's SGD and real runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import optviz
from optviz import config_from_dict
from optviz.results.theory import (contraction, iteration_matrices, predicted_rates, stability_limit,
                                   stability_limits)

SETTINGS = [
    pytest.param({}, id="gd"),
    pytest.param({"momentum": 0.9}, id="heavy-ball"),
    pytest.param({"momentum": 0.6, "dampening": 0.3}, id="dampened"),
    pytest.param({"momentum": 0.8, "nesterov": True}, id="nesterov"),
]


@pytest.mark.parametrize("settings", SETTINGS)
def test_the_iteration_matrix_is_torch_s_sgd_step(settings):
    """On f = lambda x^2 / 2, torch's x_k equals the first entry of M^k (x_0, 0), step by step."""
    lam, lr = 3.0, 0.2
    x = torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([x], lr=lr, **settings)
    # torch's first step sets the buffer to the gradient itself, undampened: the state after it is exact.
    optimizer.zero_grad()
    (0.5 * lam * x**2).sum().backward()
    optimizer.step()
    state = np.array([x.item(), optimizer.state[x]["momentum_buffer"].item() if settings else 0.0])
    matrix = iteration_matrices(lr, [lam], settings.get("momentum", 0.0), dampening=settings.get("dampening", 0.0),
                                nesterov=settings.get("nesterov", False))[0]
    for _ in range(30):
        optimizer.zero_grad()
        (0.5 * lam * x**2).sum().backward()
        optimizer.step()
        state = matrix @ state
        assert x.item() == pytest.approx(state[0], rel=1e-9, abs=1e-12)


def test_gradient_descent_contracts_by_the_worst_eigenvalue():
    assert contraction(0.01, [1.0, 100.0]) == pytest.approx(0.99)
    assert contraction(0.015, [1.0, 100.0]) == pytest.approx(0.985)
    assert contraction(0.025, [1.0, 100.0]) == pytest.approx(1.5)  # past 2/100: diverges along y
    assert contraction(0.125, [8.0]) == 0.0  # the seed lesson: lr 1/8 lands on 4x^2's minimum in one step
    assert contraction(0.2, [8.0]) == pytest.approx(0.6)  # and lr 0.2 overshoots, flipping sign each step


def test_heavy_ball_tuned_for_the_condition_number_contracts_by_sqrt_beta():
    # Polyak's tuning for eigenvalues in [1, 100]: lr = 4 / (1 + 10)^2, beta = ((10 - 1) / (10 + 1))^2.
    beta = (9 / 11) ** 2
    assert contraction(4 / 121, [1.0, 100.0], beta) == pytest.approx(np.sqrt(beta), rel=1e-6)


@pytest.mark.parametrize("settings", SETTINGS)
def test_the_stability_limit_is_where_the_contraction_reaches_one(settings):
    momentum = settings.get("momentum", 0.0)
    options = {"dampening": settings.get("dampening", 0.0), "nesterov": settings.get("nesterov", False)}
    limit = stability_limit(20.0, momentum, **options)
    assert contraction(limit * (1 - 1e-6), [1.0, 20.0], momentum, **options) < 1
    assert contraction(limit * (1 + 1e-6), [1.0, 20.0], momentum, **options) > 1


def test_the_stability_limits_read_as_the_textbook_writes_them():
    assert stability_limit(8.0) == 0.25
    assert stability_limit(100.0, 0.9) == pytest.approx(2 * 1.9 / 100)
    function = optviz.get_function("ill_conditioned")
    specs = config_from_dict({"function": "ill_conditioned", "optimizers": [
        {"name": "SGD", "lr": 0.01}, {"name": "Adam"}, {"name": "SGD", "label": "HB", "lr": 0.01, "momentum": 0.9}]}
    ).optimizers
    assert stability_limits(function, specs) == {0: (pytest.approx(0.02), "lr < 2/λmax = 0.02"),
                                                 2: (pytest.approx(0.038), "lr < 2(1+β)/λmax = 0.038")}
    assert stability_limits(optviz.get_function("rosenbrock"), specs) == {}


def _measured_rate(loss: np.ndarray, steps: np.ndarray) -> float:
    """rho from the least-squares slope of log(loss) against step: loss ~ rho^(2k)."""
    slope = np.polyfit(steps, np.log(loss), 1)[0]
    return float(np.exp(slope / 2))


@pytest.mark.parametrize("settings, tolerance", [
    pytest.param({"lr": 0.01}, 1e-6, id="gd"),
    pytest.param({"lr": 0.015}, 1e-6, id="gd-faster"),
    # Momentum's loss oscillates about its envelope: the fitted slope is its rate to a few parts in a thousand.
    pytest.param({"lr": 0.01, "momentum": 0.9}, 5e-3, id="heavy-ball"),
])
def test_theory_lines_match_the_measured_rate_of_sgd_on_ill_conditioned(settings, tolerance):
    config = config_from_dict({"function": "ill_conditioned", "start": [-1.8, 0.6], "steps": 400, "dtype": "float64",
                               "optimizers": [{"name": "SGD", **settings}, {"name": "Adam", "lr": 0.1}]})
    result = optviz.run(config)
    theory = predicted_rates(result)
    assert list(theory.lines) == [0] and theory.notes == []  # Adam has no line, and needs no note
    line = theory.lines[0]
    trajectory = result.trajectories[0]
    later = trajectory.steps >= 100  # past the faster eigenvector's transient
    measured = _measured_rate(trajectory.loss[0, later], trajectory.steps[later])
    assert measured == pytest.approx(line.rate, rel=tolerance)
    if line.bound:  # GD's line bounds the loss from above at every step
        assert (trajectory.loss[0] <= line.loss * (1 + 1e-12)).all()
    np.testing.assert_array_equal(line.steps, trajectory.steps)
    assert line.loss[0] == trajectory.loss[0, 0]


def test_theory_lines_follow_an_lr_schedule_step_by_step():
    config = config_from_dict({"function": "quadratic", "start": [2.0], "steps": 12, "dtype": "float64",
                               "optimizers": [{"name": "SGD", "lr": 0.1,
                                               "scheduler": {"name": "StepLR", "step_size": 4, "gamma": 0.5}}]})
    result = optviz.run(config)
    line = predicted_rates(result).lines[0]
    assert line.rate is None
    # In 1D gradient descent's prediction is exact: x shrinks by |1 - 8 lr_k| at each step.
    np.testing.assert_allclose(line.loss, result.trajectories[0].loss[0], rtol=1e-12)


@pytest.mark.parametrize("change, note", [
    ({"noise": {"kind": "gaussian", "scale": 0.1}},
     "no theory lines: the gradients are noisy, and the rates are those of exact gradients"),
    ({"optimizers": [{"name": "SGD", "lr": 0.01, "weight_decay": 0.1}]},
     "no theory line for SGD: weight decay moves the minimum"),
    ({"optimizers": [{"name": "SGD", "lr": 0.01, "clip_grad_norm": 1.0}]},
     "no theory line for SGD: its gradients are clipped"),
    ({"optimizers": [{"name": "SGD", "lr": 0.01, "scheduler": {"name": "StepLR", "step_size": 4}}],
      "record": {"every": 3}},
     "no theory line for SGD: its lr changes, and is recorded only every 3 steps"),
    ({"optimizers": [{"name": "SGD", "lr": 0.01, "param_groups": [{"dims": [0], "lr": 0.5}, {"dims": [1], "lr": 0.005}]}]},
     "no theory line for SGD: its param groups step each axis by its own lr"),
    ({"optimizers": [{"name": "SGD", "label": "a", "lr": 0.01, "weight_decay": 0.1},
                     {"name": "SGD", "label": "b", "lr": 0.02, "weight_decay": 0.2}]},
     "no theory line for a and b: weight decay moves the minimum"),
])
def test_runs_theory_does_not_cover_say_why(change, note):
    base = {"function": "ill_conditioned", "start": [-1.8, 0.6], "steps": 20, "optimizers": [{"name": "SGD", "lr": 0.01}]}
    theory = predicted_rates(optviz.run(config_from_dict({**base, **change})))
    assert theory.lines == {} and theory.notes == [note]


def test_functions_that_are_not_quadratics_get_no_theory():
    result = optviz.run(config_from_dict({"function": "rosenbrock", "steps": 5, "optimizers": [{"name": "SGD"}]}))
    assert predicted_rates(result) is None


CONFIGS = Path(__file__).parent.parent / "configs"


def test_the_learning_rate_lesson_lands_in_one_step_and_oscillates():
    """configs/learning_rate.yaml is the seed's learning_rate.py: lr 1/8 lands on 4x^2's minimum in one step,
    0.2 overshoots it every step; theory's rho says both."""
    result = optviz.run(optviz.load_config(CONFIGS / "learning_rate.yaml"))
    landing, oscillating = result["lr 0.125"], result["lr 0.2"]
    assert landing.positions[0, 1:, 0].tolist() == [0.0] * 20 and landing.loss[0, 1] == 0.0
    signs = np.sign(oscillating.positions[0, :, 0])
    assert (signs[1:] == -signs[:-1]).all()
    rates = {line.label: line.rate for line in predicted_rates(result).lines.values()}
    assert rates == {"lr 0.01": pytest.approx(0.92), "lr 0.1": pytest.approx(0.2), "lr 0.125": 0.0,
                     "lr 0.2": pytest.approx(0.6)}


def test_the_loss_figure_draws_each_sgd_s_line_in_its_colour():
    from matplotlib.colors import same_color

    from optviz.render.loss import plot_loss
    from optviz.render.style import colour

    result = optviz.run(optviz.load_config(CONFIGS / "ill_conditioned.yaml", ["steps=60"]))
    axes = plot_loss(result)
    dashed = [line for line in axes.get_lines() if line.get_linestyle() == "--" and len(line.get_xdata())]
    assert len(dashed) == 3  # the three SGDs; Adam has none
    for index, line in enumerate(dashed):
        assert same_color(line.get_color(), colour(index))
        np.testing.assert_array_equal(line.get_xdata(), result.trajectories[index].steps)
    labels = axes.get_legend_handles_labels()[1]
    assert "GD, lr 2/101; theory: ρ = 0.98" in labels and "Adam" in labels
    assert any(label.startswith("dashed: theory, f* + (f(x₀) − f*)·ρ²ᵏ") for label in labels)
    # The lines stay inside the limits the measured curves set: heavy ball's falls far below them by step 60.
    assert axes.get_ylim()[0] > predicted_rates(result).lines[1].loss[-1]


def test_sweep_and_tune_figures_mark_the_stability_limit(tmp_path):
    from optviz.pipelines.sweep import run_sweep
    from optviz.pipelines.tune import search_lrs
    from optviz.render.sweep import plot_sweep_loss
    from optviz.render.tune import plot_tune

    # The seed's lrs stop at 0.2, short of 4x^2's limit 2/8: the figure says so.
    sweep = run_sweep(optviz.load_config(CONFIGS / "quadratic_lr.yaml", ["steps=10"]))
    panel = plot_sweep_loss(sweep).axes[0]
    assert "theory: stable for lr < 2/λmax = 0.25\n(above every lr swept)" in panel.get_legend_handles_labels()[1]
    wider = run_sweep(optviz.load_config(CONFIGS / "quadratic_lr.yaml", [
        "steps=10", "sweep={optimizers.SGD.lr: {linspace: [0.01, 0.3, 6]}}"]))
    figure = plot_sweep_loss(wider)
    panel, bar = figure.axes
    assert "theory: stable for lr < 2/λmax = 0.25\n(dashed on the colour bar)" in panel.get_legend_handles_labels()[1]
    assert [line.get_ydata()[0] for line in bar.lines] == [0.25, 0.25]
    # Past the limit the cells blow up, and below it they do not.
    for outcome in wider.outcomes:
        assert (outcome.curve[-1] > outcome.curve[0]) == (outcome.cell.values["optimizers.SGD.lr"] > 0.25)

    config = optviz.load_config(CONFIGS / "ill_conditioned.yaml", [
        "steps=20", "optimizers=[{name: SGD, lr: 0.01}, {name: SGD, label: HB, lr: 0.01, momentum: 0.9}, {name: Adam}]"])
    tuning = search_lrs(config, tmp_path, lrs=(1e-3, 1, 7), starts=2)
    axes = plot_tune(tuning).axes[0]
    limits = {line.get_label(): line.get_xdata()[0] for line in axes.lines if line.get_label().endswith(("0.02", "0.038"))}
    assert limits == {"SGD: stable below 0.02": pytest.approx(0.02), "HB: stable below 0.038": pytest.approx(0.038)}
