"""The engine's numbers equal a plain, hand-written torch.optim loop."""

import numpy as np
import pytest
import torch

from conftest import OPTIMIZERS
from optviz import config_from_dict, get_function, run

TARGETS = [
    ("rosenbrock", [-1.2, 1.0]),
    ("peaks", [0.0, 0.9]),
    ("peaks1d", [-0.6]),
]


def plain_loop(function, start, dtype, spec, steps, scheduler=None):
    """What a person writes by hand: returns positions and losses, step 0 first."""
    hyperparameters = {key: value for key, value in spec.items() if key not in ("name", "label")}
    x = torch.tensor(start, dtype=dtype, requires_grad=True)
    optimizer = getattr(torch.optim, spec["name"])([x], **hyperparameters)
    lr_scheduler = None
    if scheduler:
        arguments = {key: value for key, value in scheduler.items() if key != "name"}
        lr_scheduler = getattr(torch.optim.lr_scheduler, scheduler["name"])(optimizer, **arguments)

    def closure():
        optimizer.zero_grad()
        loss = function(x)
        loss.backward()
        return loss

    positions, losses, lrs = [], [], []
    for step in range(steps + 1):
        optimizer.zero_grad()
        loss = function(x)
        loss.backward()
        positions.append(x.detach().clone().numpy())
        losses.append(loss.item())
        lrs.append(optimizer.param_groups[0]["lr"])
        if step == steps:
            break
        optimizer.step(closure) if spec["name"] == "LBFGS" else optimizer.step()
        if lr_scheduler:
            lr_scheduler.step()
    return np.array(positions), np.array(losses), np.array(lrs)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("function_name,start", TARGETS, ids=[name for name, _ in TARGETS])
@pytest.mark.parametrize("spec", OPTIMIZERS, ids=[spec["name"] for spec in OPTIMIZERS])
def test_engine_equals_plain_loop(spec, function_name, start, dtype):
    steps = 25
    config = config_from_dict({"function": function_name, "start": start, "steps": steps, "dtype": dtype,
                               "optimizers": [spec]})
    trajectory = run(config).trajectories[0]
    positions, losses, _ = plain_loop(get_function(function_name), start, getattr(torch, dtype), spec, steps)
    # After a divergence the engine stops stepping that start; compare up to and including it.
    broken = ~np.isfinite(losses)
    shown = int(broken.argmax()) + 1 if broken.any() else steps + 1
    np.testing.assert_array_equal(trajectory.positions[0, :shown], positions[:shown])
    np.testing.assert_array_equal(trajectory.loss[0, :shown], losses[:shown])
    assert trajectory.diverged_step[0] == (shown - 1 if broken.any() else -1)
    assert trajectory.steps.tolist() == list(range(steps + 1))


@pytest.mark.parametrize("scheduler", [
    {"name": "StepLR", "step_size": 10, "gamma": 0.1},
    {"name": "ExponentialLR", "gamma": 0.9},
    {"name": "CosineAnnealingLR", "T_max": 30},
    {"name": "MultiStepLR", "milestones": [5, 15], "gamma": 0.5},
], ids=lambda scheduler: scheduler["name"])
def test_engine_with_scheduler_equals_plain_loop(scheduler):
    spec = {"name": "SGD", "lr": 0.002, "momentum": 0.9}
    config = config_from_dict({"function": "rosenbrock", "start": [-1.2, 1.0], "steps": 30, "dtype": "float64",
                               "optimizers": [{**spec, "scheduler": scheduler}]})
    trajectory = run(config).trajectories[0]
    positions, _, lrs = plain_loop(get_function("rosenbrock"), [-1.2, 1.0], torch.float64, spec, 30, scheduler)
    np.testing.assert_array_equal(trajectory.positions[0], positions)
    np.testing.assert_array_equal(trajectory.lr[0], lrs)


def test_steplr_staircase_is_recorded():
    config = config_from_dict({"function": "quadratic", "start": [2.0], "steps": 25,
                               "optimizers": [{"name": "SGD", "lr": 0.1, "momentum": 0.9,
                                               "scheduler": {"name": "StepLR", "step_size": 10, "gamma": 0.1}}]})
    lr = run(config)["SGD"].lr[0]
    np.testing.assert_allclose(lr[:10], 0.1)
    np.testing.assert_allclose(lr[10:20], 0.01)
    np.testing.assert_allclose(lr[20:], 0.001)


def test_gradient_norm_is_recorded_at_each_position():
    config = config_from_dict({"function": "quadratic", "start": [2.0], "steps": 3, "dtype": "float64",
                               "optimizers": [{"name": "SGD", "lr": 0.1}]})
    trajectory = run(config)["SGD"]
    np.testing.assert_allclose(trajectory.grad_norm[0], np.abs(8 * trajectory.positions[0, :, 0]))


def test_divergence_is_marked_and_the_others_carry_on():
    config = config_from_dict({"function": "rosenbrock", "start": [-1.5, 2.0], "steps": 50, "dtype": "float64",
                               "optimizers": [{"name": "SGD", "lr": 1.0}, {"name": "Adam", "lr": 0.05}]})
    result = run(config)
    diverged, healthy = result["SGD"], result["Adam"]
    step = int(diverged.diverged_step[0])
    assert 0 < step < 50
    assert not np.isfinite(diverged.loss[0, step])
    assert np.all(np.isfinite(diverged.loss[0, :step]))
    assert healthy.diverged_step[0] == -1 and np.all(np.isfinite(healthy.loss))
    rows = {row["label"]: row for row in result.summary()}
    assert rows["SGD"]["status"] == "diverged" and rows["SGD"]["diverged_step"] == step
    assert rows["Adam"]["status"] == "ok"


def test_user_optimizer_from_a_file(tmp_path):
    (tmp_path / "myopt.py").write_text(
        "import torch\n"
        "class PlainGD(torch.optim.Optimizer):\n"
        "    def __init__(self, params, lr=0.1):\n"
        "        super().__init__(params, {'lr': lr})\n"
        "    @torch.no_grad()\n"
        "    def step(self, closure=None):\n"
        "        for group in self.param_groups:\n"
        "            for p in group['params']:\n"
        "                p.add_(p.grad, alpha=-group['lr'])\n")
    config = config_from_dict({"function": "quadratic", "start": [2.0], "steps": 5, "dtype": "float64",
                               "optimizers": [{"name": f"{tmp_path}/myopt.py:PlainGD", "lr": 0.1},
                                              {"name": "SGD", "lr": 0.1}]})
    result = run(config)
    np.testing.assert_array_equal(result["PlainGD"].positions, result["SGD"].positions)

