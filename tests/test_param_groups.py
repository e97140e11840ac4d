"""Param groups (issue 17, the seed's add_param_group): per coordinate for a test function, by kind or
name pattern for a network, each exactly a plain torch loop that builds the same groups."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from optviz import config_from_dict, run
from optviz.cli import cli
from optviz.load import load_dict
from optviz.pipelines.run import run_to_dir
from optviz.store.rundir import load_run
from optviz.training import one_thread


STARTS = [[1.5, 0.8], [-1.0, 0.5], [0.3, -0.9]]
CASES = {
    "SGD-momentum": ({"name": "SGD", "lr": 0.01, "momentum": 0.9},
                     [{"dims": [0], "lr": 0.1}, {"dims": [1], "lr": 0.0001}], None),
    "Adam-StepLR": ({"name": "Adam", "lr": 0.05},
                    [{"dims": [0], "lr": 0.1}, {"dims": [1], "lr": 0.001, "betas": [0.8, 0.9]}],
                    {"name": "StepLR", "step_size": 10, "gamma": 0.5}),
    "RMSprop-default-group": ({"name": "RMSprop", "lr": 0.01}, [{"dims": [1], "lr": 0.001, "alpha": 0.9}], None),
}


def config(optimizer: dict, groups: list[dict], scheduler: dict | None, start, steps: int = 30) -> dict:
    spec = {**optimizer, "param_groups": groups, **({"scheduler": scheduler} if scheduler else {})}
    return {"function": "ill_conditioned", "start": start, "steps": steps, "dtype": "float64", "optimizers": [spec]}


def plain_loop(optimizer: dict, groups: list[dict], scheduler: dict | None, starts: np.ndarray, steps: int,
               batched: bool, states: dict[str, list] | None = None):
    """add_param_group's loop: a tensor per group of coordinates (rows of every start when batched)."""
    held = [group["dims"] for group in groups]
    rest = [axis for axis in range(2) if not any(axis in dims for dims in held)]
    dims = held + ([rest] if rest else [])
    rows = starts.T if batched else starts[0]
    params = [torch.tensor(rows[axes], dtype=torch.float64, requires_grad=True) for axes in dims]
    settings = [{key: tuple(value) if isinstance(value, list) else value for key, value in group.items() if key != "dims"}
                for group in groups] + ([{}] if rest else [])
    base = {key: value for key, value in optimizer.items() if key != "name"}
    opt = getattr(torch.optim, optimizer["name"])([{"params": [param], **own} for param, own in zip(params, settings)],
                                                  **base)
    lr_scheduler = None
    if scheduler:
        lr_scheduler = getattr(torch.optim.lr_scheduler, scheduler["name"])(
            opt, **{key: value for key, value in scheduler.items() if key != "name"})
    where = {axis: (index, row) for index, axes in enumerate(dims) for row, axis in enumerate(axes)}
    positions, losses, lrs = [], [], []
    for step in range(steps + 1):
        opt.zero_grad()
        x, y = (params[where[axis][0]][where[axis][1]] for axis in range(2))
        loss = 0.5 * (x**2 + 100.0 * y**2)
        loss.backward(torch.ones_like(loss))
        positions.append(torch.stack([x, y]).detach().reshape(2, -1).T.numpy().copy())
        losses.append(loss.detach().reshape(-1).numpy().copy())
        lrs.append([group["lr"] for group in opt.param_groups])
        if step < steps:
            opt.step()
            if states is not None:  # each named state after the step, axis by axis: (starts, 2)
                for name in opt.state[params[0]]:
                    if torch.is_tensor(opt.state[params[0]][name]) and opt.state[params[0]][name].dim():
                        axes = [opt.state[params[where[axis][0]]][name][where[axis][1]] for axis in range(2)]
                        states.setdefault(name, []).append(torch.stack(axes).reshape(2, -1).T.numpy().copy())
            if lr_scheduler:
                lr_scheduler.step()
    return np.stack(positions, 1), np.stack(losses, 1), np.array(lrs).T


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
@pytest.mark.parametrize("batched", [False, True], ids=["one-start", "three-starts"])
def test_coordinate_groups_equal_a_plain_loop_bit_for_bit(case, batched):
    optimizer, groups, scheduler = CASES[case]
    starts = np.array(STARTS if batched else STARTS[:1])
    result = run(config_from_dict(config(optimizer, groups, scheduler, starts.tolist())))
    trajectory = result.trajectories[0]
    positions, losses, lrs = plain_loop(optimizer, groups, scheduler, starts, 30, batched)
    assert trajectory.positions.tobytes() == positions.tobytes()
    assert trajectory.loss.tobytes() == losses.tobytes()
    assert trajectory.group_lr.shape == (len(starts), len(lrs), 31)
    assert np.array_equal(trajectory.group_lr[0], lrs)
    assert np.array_equal(trajectory.lr[0], lrs[0])  # lr is the first group's
    expected = ["x", "y"] if len(groups) == 2 else ["y", "x"]  # the uncovered coordinate's group comes last
    assert trajectory.group_names == expected


def test_groups_of_one_lr_equal_the_run_without_groups():
    plain = config({"name": "Adam", "lr": 0.05}, [], None, STARTS)
    del plain["optimizers"][0]["param_groups"]
    grouped = config({"name": "Adam", "lr": 0.05}, [{"dims": [1]}, {"dims": [0]}], None, STARTS)
    first, second = run(config_from_dict(plain)).trajectories[0], run(config_from_dict(grouped)).trajectories[0]
    assert first.positions.tobytes() == second.positions.tobytes()
    assert second.group_names == ["y", "x"] and first.group_lr is None


def test_the_run_folder_keeps_each_groups_lr_and_the_figures_draw_them(tmp_path):
    result = CliRunner().invoke(cli, ["run", "configs/param_groups.yaml", "--set", "steps=25", "--out",
                                      str(tmp_path), "--quiet"])
    assert result.exit_code == 0, result.output
    stored = load_run(tmp_path)
    per_axis = stored["SGD, lr per axis"]
    assert per_axis.group_names == ["x", "y"]
    assert per_axis.group_lr[0, :, 0].tolist() == [0.5, 0.005]
    assert per_axis.group_lr[0, :, 21].tolist() == [0.25, 0.0025]  # StepLR halves every group's lr
    assert stored["SGD, one lr"].group_lr is None
    from matplotlib.figure import Figure

    from optviz.render.diagnostics import plot_diagnostics

    grid = plot_diagnostics(stored, Figure())
    lr_lines = [line.get_label() for line in grid[1, 0].get_lines() if not line.get_label().startswith("_")]
    assert "SGD, lr per axis, group x" in lr_lines and "SGD, the seed's groups, group y" in lr_lines
    legend = [text.get_text() for text in grid[0, 0].figure.legends[0].get_texts()]
    assert legend[-2:] == ["lr of group x", "lr of group y"]


def recorded_losses(out, label: str, seed: int) -> list[float]:
    import csv

    with open(out / "curves.csv", newline="") as handle:
        return [float(row["train_loss"]) for row in csv.DictReader(handle)
                if row["label"] == label and int(row["seed"]) == seed]


NETWORK_GROUPS = [{"params": "biases", "weight_decay": 0.0}, {"params": "1.w*", "lr": 0.05}]


def test_network_groups_by_kind_and_name_equal_a_plain_loop_bit_for_bit(tmp_path):
    optimizer = {"name": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}
    data = {"problem": {"data": "moons", "model": {"name": "mlp", "hidden": [8]}, "batch_size": 16, "epochs": 2},
            "seed": 2, "render": {"figures": []}, "optimizers": [{**optimizer, "param_groups": NETWORK_GROUPS}]}
    run_to_dir(load_dict(data), tmp_path)
    from optviz.problems.models import build_model

    model = build_model({"name": "mlp", "hidden": [8]}, (2,), 2)
    model.load_state_dict(torch.load(tmp_path / "init-seed2.pt"))
    named = dict(model.named_parameters())
    groups = [{"params": [named["1.bias"], named["3.bias"]], "weight_decay": 0.0},
              {"params": [named["1.weight"]], "lr": 0.05},
              {"params": [named["3.weight"]]}]
    stored = np.load(tmp_path / "data-seed2.npz")
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(stored["x_train"]), torch.from_numpy(stored["y_train"])), 16,
        shuffle=True, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.SGD(groups, lr=0.1, momentum=0.9, weight_decay=0.01)
    losses = []
    with one_thread():
        for _ in range(2):
            model.train()
            for x, y in loader:
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                losses.append(loss.item())
                loss.backward()
                opt.step()
    assert recorded_losses(tmp_path, "SGD", 2) == losses


@pytest.mark.parametrize("groups, message", [
    ([{"params": "fc9.*", "lr": 0.1}],
     "optimizers[0].param_groups[0].params: 'fc9.*' picks none of the parameters this optimizer trains "
     "(1.weight, 1.bias, 3.weight, 3.bias)"),
    ([{"params": "biases", "lr": 0.1}, {"params": "1.*", "lr": 0.01}],
     "optimizers[0].param_groups[1].params: '1.*' picks 1.bias, which param_groups[0] holds; each parameter "
     "belongs to one group"),
    ([{"dims": [0], "lr": 0.1}],
     "optimizers[0].param_groups[0]: a network's param group picks its parameters: params: a kind (weights, "
     "biases, matrices) or a name pattern such as \"fc1.*\""),
    ([{"params": "weights", "lrr": 0.1}],
     "optimizers[0].param_groups[0].lrr: unknown hyperparameter 'lrr' for SGD; did you mean lr? accepted: lr, "
     "momentum, dampening, weight_decay, nesterov, maximize"),
], ids=["matches-nothing", "overlap", "dims-on-a-network", "unknown-hyperparameter"])
def test_bad_network_groups_fail_with_their_key(groups, message, tmp_path):
    import yaml

    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump({"problem": {"data": "moons", "model": {"name": "mlp", "hidden": [8]}},
                                    "optimizers": [{"name": "SGD", "lr": 0.1, "param_groups": groups}]}))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr == f"Error: {path}: {message}\n"


@pytest.mark.parametrize("case", ["SGD-momentum", "Adam-StepLR"])
def test_recorded_internals_of_coordinate_groups_are_the_loop_s_optimizer_state(case):
    optimizer, groups, scheduler = CASES[case]
    starts = np.array(STARTS)
    trajectory = run(config_from_dict(config(optimizer, groups, scheduler, starts.tolist()))).trajectories[0]
    states: dict[str, list] = {}
    plain_loop(optimizer, groups, scheduler, starts, 30, True, states)
    assert trajectory.internals is not None and set(states) <= set(trajectory.internals.state)
    for name, rows in states.items():
        # Row k of the record is the state after the step from x_k; the last row has no step.
        assert trajectory.internals.state[name][:, :-1].tobytes() == np.stack(rows, 1).tobytes(), name


def test_a_group_is_checked_without_the_step_s_own_keywords():
    """create_graph is for the step (third_party.step_needs), not the constructor: a group merged with it passes."""
    loaded = load_dict({"function": "ill_conditioned", "start": [1.0, 1.0], "steps": 3, "optimizers": [
        {"name": "Adam", "create_graph": False, "param_groups": [{"dims": [1], "lr": 0.01}]}]})
    assert run(loaded.config).trajectories[0].error is None


def test_run_batch_refuses_configs_with_param_groups_rather_than_dropping_them():
    from optviz.engine import run_batch

    data = {"function": "himmelblau", "start": [[1.0, 1.0]], "steps": 5,
            "optimizers": [{"name": "SGD", "lr": 0.01, "param_groups": [{"dims": [0], "lr": 0.1}]}]}
    with pytest.raises(ValueError, match="equal, non-None batch_key"):
        run_batch([config_from_dict(data), config_from_dict(data)])
