"""Sweeps: the sweep block, exact batched cells, `optviz sweep`, shards and merge, resuming.

Batched cells are compared with `optviz run`'s engine (optviz.run of the cell's own
config) for exact equality, bit for bit. Each param group's update is the same
element-wise arithmetic on the same numbers as the lone run, and f and its gradient
are the same element-wise formulas; the only possible difference would be a
vectorized kernel rounding differently from the one a lone run takes, which on x86
torch does not do for these functions (checked here on polynomials and on exp).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from images import assert_png
import optviz
from optviz import config_from_dict
from optviz.cli import cli
from optviz.engine import batch_key, run_batch
from optviz.load import plan_sweep
from optviz.pipelines.sweep import batches, run_sweep

CONFIGS = Path(__file__).parent.parent / "configs"


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def sweep_config(sweep, *, function="rosenbrock", start=(-1.5, 2.0), steps=30, dtype="float64", optimizers=None,
                 **extra):
    return config_from_dict({"function": function, "start": list(start), "steps": steps, "dtype": dtype,
                             "optimizers": optimizers or [{"name": "SGD", "lr": 0.001}], "sweep": sweep, **extra})


def assert_same_run(together, alone):
    """A batched cell's trajectory equals the lone run's, bit for bit."""
    got, expected = together.trajectories[0], alone.trajectories[0]
    for name in ("positions", "loss", "grad_norm", "lr", "diverged_step"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    if expected.converged_step is None:
        assert got.converged_step is None
    else:
        np.testing.assert_array_equal(got.converged_step, expected.converged_step)
    assert (got.label, got.optimizer, together.record_every) == (expected.label, expected.optimizer, alone.record_every)


# --- the sweep block ------------------------------------------------------------------------


def test_cells_are_the_product_of_an_optimizers_keys_and_steps():
    config = sweep_config({"optimizers.SGD.lr": [0.001, 0.002], "optimizers.SGD.momentum": {"linspace": [0, 0.9, 3]},
                           "steps": [10, 20]},
                          optimizers=[{"name": "SGD", "lr": 0.001}, {"name": "Adam", "lr": 0.1}])
    sweep = plan_sweep(config)
    described = [cell.describe() for cell in sweep.cells]
    assert described[:3] == ["SGD lr=0.001 momentum=0 steps=10", "SGD lr=0.001 momentum=0 steps=20",
                             "SGD lr=0.001 momentum=0.45 steps=10"]  # the last key varies fastest
    assert len(sweep.cells) == 2 * 3 * 2 + 2  # Adam, named by no key, runs once per steps value
    assert described[-2:] == ["Adam steps=10", "Adam steps=20"]
    cell = sweep.cells[8]
    assert (cell.config.steps, cell.config.optimizers[0].hyperparameters) == (10, {"lr": 0.002, "momentum": 0.45})
    assert cell.config.sweep is None and len(cell.config.optimizers) == 1
    assert len({cell.key for cell in sweep.cells}) == len(sweep.cells)


@pytest.mark.parametrize("spec,values", [
    ([0.1, 0.2], (0.1, 0.2)),
    ({"linspace": [0.01, 0.2, 3]}, (0.01, 0.105, 0.2)),
    ({"logspace": [-3, 0, 4]}, (0.001, 0.01, 0.1, 1.0)),
    ({"geomspace": [1e-3, 1, 4]}, (0.001, 0.01, 0.1, 1.0)),
], ids=["list", "linspace", "logspace", "geomspace"])
def test_value_forms(spec, values):
    axis = plan_sweep(sweep_config({"optimizers.SGD.lr": spec})).axes[0]
    np.testing.assert_allclose(axis.values, values, rtol=1e-12)
    assert axis.spacing == ("list" if isinstance(spec, list) else next(iter(spec)))


def test_labels_with_dots_and_indices_address_optimizers():
    config = sweep_config({"optimizers.SGD lr.x.lr": [0.001, 0.002], "optimizers.1.lr": [0.1]},
                          optimizers=[{"name": "SGD", "label": "SGD lr.x"}, {"name": "Adam"}])
    assert [cell.describe() for cell in plan_sweep(config).cells] == ["SGD lr.x lr=0.001", "SGD lr.x lr=0.002",
                                                                     "Adam lr=0.1"]


SWEEP_ERRORS = [
    ({"seed": [1, 2]}, "sweep.seed: cannot be swept; sweep steps, start, optimizers.<label>.<hyperparameter> or "
                       "optimizers.<label>.scheduler.<argument>"),
    ({"step": [1, 2]}, "sweep.step: cannot be swept; did you mean steps?; sweep steps, start, "
                       "optimizers.<label>.<hyperparameter> or optimizers.<label>.scheduler.<argument>"),
    ({"optimizers.SDG.lr": [0.1]}, "sweep.optimizers.SDG.lr: no optimizer labelled 'SDG'; labels: SGD"),
    ({"optimizers.SGD": [0.1]}, "sweep.optimizers.SGD: name a hyperparameter of SGD, e.g. optimizers.SGD.lr"),
    ({"optimizers.SGD.lrr": [0.1]}, "sweep.optimizers.SGD.lrr: unknown hyperparameter 'lrr' for SGD; did you mean "
                                    "lr? accepted: lr, momentum, dampening, weight_decay, nesterov, maximize"),
    ({"optimizers.SGD.name": ["Adam"]}, "sweep.optimizers.SGD.name: cannot sweep name: list each optimizer under "
                                        "optimizers instead"),
    ({"optimizers.SGD.scheduler.gamma": [0.5]}, "sweep.optimizers.SGD.scheduler.gamma: SGD has no scheduler; give it "
                                                "one to sweep its arguments"),
    ({"optimizers.SGD.lr": 0.1}, "sweep.optimizers.SGD.lr: must be a list of values, {linspace: [first, last, count]}, "
                                 "{logspace: [first exponent, last exponent, count]} or {geomspace: [first, last, "
                                 "count]}, got 0.1"),
    ({"optimizers.SGD.lr": []}, "sweep.optimizers.SGD.lr: needs at least one value"),
    ({"optimizers.SGD.lr": [0.1, 0.1]}, "sweep.optimizers.SGD.lr: value 0.1 is given twice"),
    ({"optimizers.SGD.lr": {"linspce": [0.1, 1, 3]}}, "sweep.optimizers.SGD.lr.linspce: unknown key; did you mean "
                                                      "linspace?"),
    ({"optimizers.SGD.lr": {"linspace": [0.1, 1]}}, "sweep.optimizers.SGD.lr.linspace: must be [first, last, count], "
                                                    "got [0.1, 1]"),
    ({"optimizers.SGD.lr": {"logspace": [-3, 0, 2.5]}}, "sweep.optimizers.SGD.lr.logspace: the count must be a whole "
                                                        "number from 1 to 10000, got 2.5"),
    ({"optimizers.SGD.lr": {"logspace": [0, 400, 3]}}, "sweep.optimizers.SGD.lr.logspace: gives values too large to "
                                                       "represent: logspace [0, 400, 3]"),
    ({"optimizers.SGD.lr": {"geomspace": [0, 1, 3]}}, "sweep.optimizers.SGD.lr.geomspace: needs positive endpoints "
                                                      "(the values themselves, log-spaced), got [0, 1, 3]"),
    ({"optimizers.SGD.momentum": [0.5, -1]}, "sweep.optimizers.SGD.momentum: value -1: SGD rejects these "
                                             "hyperparameters: Invalid momentum value: -1"),
    ({"optimizers.SGD.lr": [0.1, "fast"]}, "sweep.optimizers.SGD.lr: value fast: must be a number, got 'fast' (str)"),
    ({"steps": [10, 0]}, "sweep.steps: value 0: must be >= 1, got 0"),
    ({"start": [[0, 0], [1]]}, "sweep.start: value [1]: must have 2 coordinates for rosenbrock, got 1"),
    ({"optimizers.SGD.lr": [0.1], "optimizers.0.lr": [0.2]}, "sweep.optimizers.0.lr: sweeps the same setting as "
                                                             "optimizers.SGD.lr"),
    ({"optimizers.SGD.nesterov": [False, True]}, "sweep.optimizers.SGD.nesterov: value true: SGD rejects these "
                                                 "hyperparameters: Nesterov momentum requires a momentum and zero "
                                                 "dampening"),
    ({"optimizers.SGD.lr": {"logspace": [-5, 0, 400]}, "optimizers.SGD.momentum": {"linspace": [0, 1, 300]}},
     "sweep: 120,000 cells is more than one sweep runs (at most 100,000); split it into several sweeps"),
    ({}, "sweep: needs at least one key to sweep: steps, start, optimizers.<label>.<hyperparameter> or "
         "optimizers.<label>.scheduler.<argument>"),
]


@pytest.mark.parametrize("sweep,message", SWEEP_ERRORS, ids=[message.split(":")[0] + f"-{index}"
                                                             for index, (_, message) in enumerate(SWEEP_ERRORS)])
def test_a_bad_sweep_is_one_line_naming_its_key(sweep, message):
    with pytest.raises(optviz.ConfigError) as error:
        config_from_dict({"function": "rosenbrock", "start": [-1.5, 2.0], "steps": 5,
                          "optimizers": [{"name": "SGD", "lr": 0.001}], "sweep": sweep}, source="x.yaml")
    assert str(error.value) == f"x.yaml: {message}"


def test_values_fine_alone_but_not_together_name_the_cell():
    with pytest.raises(optviz.ConfigError) as error:
        config_from_dict({"function": "rosenbrock", "steps": 5, "optimizers": [{"name": "SGD", "momentum": 0.9}],
                          "sweep": {"optimizers.SGD.nesterov": [False, True], "optimizers.SGD.momentum": [0.9, 0]}},
                         source="x.yaml")
    assert str(error.value) == ("x.yaml: sweep: cell 3 (SGD nesterov=true momentum=0): optimizers[0]: SGD rejects these "
                                "hyperparameters: Nesterov momentum requires a momentum and zero dampening")


def test_the_cli_reports_a_bad_sweep_with_exit_code_2_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("function: quadratic\noptimizers: [SGD]\nsweep:\n  optimizers.SGD.lr: {linspace: [0.1, 1]}\n")
    result = invoke("sweep", path, "--out", tmp_path / "out")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: {path}: sweep.optimizers.SGD.lr.linspace: must be [first, last, count], got [0.1, 1]\n"
    assert not (tmp_path / "out").exists()


def test_set_overrides_a_sweep_key_and_null_drops_it():
    config = optviz.load_config(CONFIGS / "sgd_grid.yaml", ["sweep.optimizers.SGD.lr=[0.001, 0.002]",
                                                            "sweep.optimizers.SGD.momentum=null"])
    assert [cell.describe() for cell in plan_sweep(config).cells] == ["SGD lr=0.001", "SGD lr=0.002"]


def test_run_refuses_a_sweep_config_and_sweep_needs_one(tmp_path):
    result = invoke("run", CONFIGS / "quadratic_lr.yaml", "--out", tmp_path / "out")
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    assert result.stderr == (f"Error: {CONFIGS / 'quadratic_lr.yaml'}: sweep: this config is a sweep of many runs: "
                             "run it with `optviz sweep` (optviz.sweep_to_dir), or remove the sweep block "
                             "(--set sweep=null) to run the config as written\n")
    result = invoke("sweep", CONFIGS / "quadratic.yaml", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {CONFIGS / 'quadratic.yaml'}: sweep: the config has no sweep block; add one, "
                             "e.g. sweep: {optimizers.SGD.lr: {logspace: [-3, 0, 10]}}\n")


# --- batched cells equal lone runs ------------------------------------------------------------

BATCHED = [
    ("SGD", {"name": "SGD", "lr": 0.001}, {"optimizers.SGD.lr": [0.0005, 0.001, 0.0015],
                                           "optimizers.SGD.momentum": [0, 0.9]}),
    ("SGD-nesterov", {"name": "SGD", "lr": 0.001, "momentum": 0.9},
     {"optimizers.SGD.nesterov": [False, True], "optimizers.SGD.weight_decay": [0, 0.1]}),
    ("Adam", {"name": "Adam"}, {"optimizers.Adam.lr": {"logspace": [-2, -1, 3]},
                                "optimizers.Adam.betas": [[0.9, 0.999], [0.5, 0.9]], "optimizers.Adam.amsgrad": [False, True]}),
    ("AdamW", {"name": "AdamW"}, {"optimizers.AdamW.weight_decay": [0.0, 0.1, 1.0]}),
    ("RMSprop", {"name": "RMSprop", "lr": 0.01}, {"optimizers.RMSprop.alpha": [0.9, 0.99],
                                                  "optimizers.RMSprop.centered": [False, True],
                                                  "optimizers.RMSprop.momentum": [0, 0.5]}),
    ("Adagrad", {"name": "Adagrad"}, {"optimizers.Adagrad.lr": [0.1, 0.3], "optimizers.Adagrad.lr_decay": [0, 0.01]}),
    ("Adadelta", {"name": "Adadelta"}, {"optimizers.Adadelta.lr": [1.0, 2.0], "optimizers.Adadelta.rho": [0.9, 0.5]}),
    ("Rprop", {"name": "Rprop"}, {"optimizers.Rprop.lr": [0.01, 0.05], "optimizers.Rprop.etas": [[0.5, 1.2], [0.3, 1.5]]}),
    ("Adamax", {"name": "Adamax"}, {"optimizers.Adamax.lr": [0.01, 0.05, 0.2]}),
    ("NAdam", {"name": "NAdam"}, {"optimizers.NAdam.lr": [0.01, 0.05], "optimizers.NAdam.momentum_decay": [0.004, 0.01]}),
    ("RAdam", {"name": "RAdam"}, {"optimizers.RAdam.lr": [0.002, 0.02], "optimizers.RAdam.decoupled_weight_decay":
                                  [False, True], "optimizers.RAdam.weight_decay": [0.1]}),
    ("ASGD", {"name": "ASGD", "lr": 0.002}, {"optimizers.ASGD.t0": [5, 20], "optimizers.ASGD.lambd": [1e-4, 1e-2]}),
    ("SGD+StepLR", {"name": "SGD", "scheduler": {"name": "StepLR", "step_size": 7, "gamma": 0.5}},
     {"optimizers.SGD.lr": [0.0005, 0.001], "optimizers.SGD.momentum": [0, 0.9]}),
    ("Adam+CosineAnnealingLR", {"name": "Adam", "scheduler": {"name": "CosineAnnealingLR", "T_max": 20}},
     {"optimizers.Adam.lr": [0.01, 0.05, 0.1]}),
    ("SGD+OneCycleLR", {"name": "SGD", "scheduler": {"name": "OneCycleLR", "max_lr": 0.002}},
     {"optimizers.SGD.momentum": [0.5, 0.9]}),
]


@pytest.mark.parametrize("function,start", [("rosenbrock", [-1.5, 2.0]), ("peaks", [0.0, 0.9])],
                         ids=["rosenbrock", "peaks-exp"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,optimizer,sweep", BATCHED, ids=[name for name, _, _ in BATCHED])
def test_batched_cells_equal_optviz_run_exactly(name, optimizer, sweep, dtype, function, start):
    config = sweep_config(sweep, function=function, start=start, dtype=dtype, optimizers=[optimizer])
    cells = plan_sweep(config).cells
    (batch,) = batches(cells)  # one optimizer, a param group per cell (or per stack of lrs)
    assert sorted(cell.index for cell in batch) == [cell.index for cell in cells]
    for cell, together in zip(cells, run_batch([cell.config for cell in cells])):
        assert_same_run(together, optviz.run(cell.config))


def test_many_starts_per_cell_batch_exactly():
    config = sweep_config({"optimizers.Adam.lr": [0.01, 0.1], "optimizers.Adam.betas": [[0.9, 0.999], [0.0, 0.9]]},
                          function="himmelblau", start=[[0, 0], [1, -3], [-4, 4]], optimizers=[{"name": "Adam"}],
                          record={"every": 4})
    cells = plan_sweep(config).cells
    for cell, together in zip(cells, run_batch([cell.config for cell in cells])):
        assert together.trajectories[0].positions.shape == (3, 9, 2)
        assert_same_run(together, optviz.run(cell.config))


def test_one_diverging_cell_leaves_the_others_exactly_as_they_were():
    lrs = [0.001, 0.05, 0.002]  # 0.05 blows up on rosenbrock within a few steps
    config = sweep_config({"optimizers.SGD.lr": lrs}, steps=40)
    cells = plan_sweep(config).cells
    together = run_batch([cell.config for cell in cells])
    diverged = together[1].trajectories[0]
    assert 0 < diverged.diverged_step[0] < 40 and not np.isfinite(diverged.final_loss[0])
    without = run_batch([cells[0].config, cells[2].config])
    for kept, alone in zip([together[0], together[2]], without):
        assert_same_run(kept, alone)
        assert kept.trajectories[0].diverged_step[0] == -1 and np.isfinite(kept.trajectories[0].loss).all()


@pytest.mark.parametrize("optimizer,sweep,apart", [
    ({"name": "Adagrad"}, {"optimizers.Adagrad.initial_accumulator_value": [0.0, 0.5]}, "read when constructed"),
    ({"name": "SGD", "scheduler": {"name": "StepLR", "step_size": 5}}, {"optimizers.SGD.scheduler.gamma": [0.5, 0.9]},
     "one scheduler steps a whole optimizer"),
    ({"name": "SGD", "lr": 0.001}, {"steps": [10, 20]}, "a different number of steps"),
    ({"name": "SGD", "lr": 0.001}, {"start": [[-1.5, 2.0], [0, 0]]}, "other starts"),
    ({"name": "LBFGS", "max_iter": 2}, {"optimizers.LBFGS.lr": [0.5, 1.0]}, "a coupled update"),
    ({"name": "SGD", "scheduler": {"name": "ReduceLROnPlateau", "patience": 2}}, {"optimizers.SGD.lr": [0.001, 0.002]},
     "the scheduler reads the loss"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_cells_that_cannot_share_an_optimizer_run_apart_and_still_match(optimizer, sweep, apart):
    cells = plan_sweep(sweep_config(sweep, optimizers=[optimizer], steps=12)).cells
    assert len(batches(cells)) == len(cells)
    result = run_sweep(sweep_config(sweep, optimizers=[optimizer], steps=12))
    for cell in cells:
        assert_same_run(result.load(cell), optviz.run(cell.config))


# --- stacked cells: runs that differ only in lr share a param group with a tensor lr -------------

# 20 lrs per stack: stacking pays only from MIN_STACK_SAVING saved param groups on.
LRS = np.geomspace(1e-4, 3e-3, 20).tolist()
STACKED = [
    ("SGD", {"name": "SGD"}, {"optimizers.SGD.lr": LRS, "optimizers.SGD.momentum": [0, 0.9]}),
    ("SGD-nesterov-decay", {"name": "SGD", "momentum": 0.5, "nesterov": True, "weight_decay": 0.01},
     {"optimizers.SGD.lr": LRS, "optimizers.SGD.momentum": [0.5, 0.9]}),
    ("SGD-clipped", {"name": "SGD", "momentum": 0.9, "clip_grad_norm": 5.0}, {"optimizers.SGD.lr": LRS}),
    ("RAdam", {"name": "RAdam"}, {"optimizers.RAdam.lr": (np.array(LRS) * 30).tolist(),
                                  "optimizers.RAdam.decoupled_weight_decay": [False, True],
                                  "optimizers.RAdam.weight_decay": [0.1]}),
]


def stacked_routes(configs, **options):
    routes = []
    return run_batch(configs, routed=routes.append, **options), routes


@pytest.mark.parametrize("start", [[-1.5, 2.0], [[-1.5, 2.0], [0.0, 0.9], [1.2, 1.1]]], ids=["one-start", "3-starts"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,optimizer,sweep", STACKED, ids=[name for name, _, _ in STACKED])
def test_stacked_cells_equal_param_group_cells_and_lone_runs_exactly(name, optimizer, sweep, dtype, start):
    config = sweep_config(sweep, steps=60, dtype=dtype, optimizers=[optimizer], start=start)
    cells = plan_sweep(config).cells
    stacked, routes = stacked_routes([cell.config for cell in cells])
    assert [route.route for route in routes] == ["stacked"]
    assert routes[0].param_groups == len(cells) // len(LRS) and routes[0].runs == len(cells)
    assert routes[0].reason.endswith(".step takes a tensor lr, and the first stacked run equals its lone run bit for bit")
    grouped, routes = stacked_routes([cell.config for cell in cells], stack=False)
    assert [(route.route, route.reason) for route in routes] == [("param groups", "stacking was turned off")]
    for cell, together, apart in zip(cells, stacked, grouped):
        assert_same_run(together, apart)
        assert_same_run(together, optviz.run(cell.config))
    if name == "SGD":  # the largest lrs with momentum blow up: divergence stays in its own cells
        diverged = [result.trajectories[0].diverged_step.max() >= 0 for result in stacked]
        assert any(diverged) and not all(diverged)


def test_a_sweeps_stacks_run_in_one_batch_of_few_param_groups(monkeypatch):
    import optviz.pipelines.sweep as sweepdir

    cells = plan_sweep(optviz.load_config(CONFIGS / "sgd_grid.yaml")).cells
    (batch,) = batches(cells)  # 32 stacks of 32 lrs: one batch, lr-major order regrouped by momentum
    assert sorted(cell.index for cell in batch) == list(range(1024))
    assert [cell.values["optimizers.SGD.momentum"] for cell in batch[:33]] == [0.0] * 32 + [batch[32].values[
        "optimizers.SGD.momentum"]] and batch[32].values["optimizers.SGD.momentum"] > 0
    monkeypatch.setattr(sweepdir, "MAX_BATCH_GROUPS", 5)
    assert [len(chunk) for chunk in batches(cells)] == [160] * 6 + [64]


def test_few_cells_do_not_stack_as_checking_one_alone_would_cost_more():
    cells = plan_sweep(sweep_config({"optimizers.SGD.lr": LRS[:10]})).cells
    results, routes = stacked_routes([cell.config for cell in cells])
    assert [(route.route, route.reason) for route in routes] == [("param groups", "stacking would save 9 param groups, "
                                                                  "fewer than the 16 that pay for checking a stacked run alone")]
    assert_same_run(results[3], optviz.run(cells[3].config))


def test_a_stacked_run_unlike_its_lone_run_falls_back_to_param_groups(monkeypatch):
    import optviz.engine as engine

    checked = []
    monkeypatch.setattr(engine, "_equals_lone_run", lambda record, loaded, *rest: checked.append(loaded) or False)
    cells = plan_sweep(sweep_config({"optimizers.SGD.lr": LRS, "optimizers.SGD.momentum": [0, 0.9]})).cells
    results, routes = stacked_routes([cell.config for cell in cells])
    assert [(route.route, route.param_groups, route.reason) for route in routes] == [
        ("param groups", 40, "the first stacked run differs from its lone run")]
    assert [item.config for item in checked] == [cells[0].config]  # the first stacked cell, checked once
    for cell, result in zip(cells, results):
        assert_same_run(result, optviz.run(cell.config))


def test_optimizers_whose_step_refuses_a_tensor_lr_keep_param_groups(monkeypatch):
    import optviz.engine as engine

    assert engine.tensor_lr_refusal(torch.optim.SGD) is None and engine.tensor_lr_refusal(torch.optim.RAdam) is None
    assert engine.tensor_lr_refusal(torch.optim.Adam).startswith("Adam.step refuses a tensor lr (TypeError: ")
    cells = plan_sweep(sweep_config({"optimizers.Adam.lr": LRS}, optimizers=[{"name": "Adam"}])).cells
    assert {engine.stack_key(cell.config) for cell in cells} == {None}
    results, routes = stacked_routes([cell.config for cell in cells])
    assert [(route.route, route.reason) for route in routes] == [("param groups", engine.tensor_lr_refusal(torch.optim.Adam))]
    # Were it not known beforehand, the step's refusal itself sends the batch to param groups.
    monkeypatch.setattr(engine, "tensor_lr_refusal", lambda cls: None)
    again, routes = stacked_routes([cell.config for cell in cells])
    assert routes[0].route == "param groups" and routes[0].reason.startswith("Adam.step refuses a tensor lr (TypeError: ")
    for cell, result, second in zip(cells, results, again):
        assert_same_run(result, optviz.run(cell.config))
        assert_same_run(second, result)


def test_sweep_json_says_which_route_each_optimizers_cells_took(tmp_path, monkeypatch):
    import optviz.engine as engine

    config = sweep_config({"optimizers.SGD.lr": LRS, "optimizers.Adam.lr": LRS[:2]},
                          optimizers=[{"name": "SGD"}, {"name": "Adam"}, {"name": "LBFGS", "lr": 0.1}], steps=12)
    manifest = optviz.sweep_to_dir(config, tmp_path / "out")
    routes = json.loads((tmp_path / "out" / "sweep.json").read_text())["session"]["routes"]
    assert routes == manifest["session"]["routes"] == [
        {"label": "SGD", "optimizer": "SGD", "route": "stacked", "cells": 20, "batches": 1, "param_groups": 1,
         "reason": "SGD.step takes a tensor lr, and the first stacked run equals its lone run bit for bit"},
        {"label": "Adam", "optimizer": "Adam", "route": "param groups", "cells": 2, "batches": 1, "param_groups": 2,
         "reason": engine.tensor_lr_refusal(torch.optim.Adam)}]  # LBFGS runs alone: not a batch
    monkeypatch.setattr(engine, "_equals_lone_run", lambda *arguments: False)
    manifest = optviz.sweep_to_dir(config, tmp_path / "fallback")
    assert manifest["session"]["routes"][0] == {"label": "SGD", "optimizer": "SGD", "route": "param groups",
                                                "cells": 20, "batches": 1, "param_groups": 20,
                                                "reason": "the first stacked run differs from its lone run"}
    assert (tmp_path / "out" / "sweep.csv").read_bytes() == (tmp_path / "fallback" / "sweep.csv").read_bytes()


def test_run_batch_refuses_configs_that_differ_in_more_than_hyperparameters():
    cells = plan_sweep(sweep_config({"steps": [10, 20]})).cells
    assert batch_key(cells[0].config) != batch_key(cells[1].config)
    with pytest.raises(ValueError, match="equal, non-None batch_key"):
        run_batch([cell.config for cell in cells])


# --- optviz sweep ------------------------------------------------------------------------------


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8")))


def test_the_seeds_ten_learning_rates(tmp_path):
    result = invoke("sweep", CONFIGS / "quadratic_lr.yaml", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 10 and lines[0] == "[ 1/10] SGD lr=0.01: final loss 9.156e-07, converged at step 43"
    table = rows(tmp_path / "sweep.csv")
    assert [float(row["lr"]) for row in table] == np.linspace(0.01, 0.2, 10).tolist()
    config = optviz.load_config(CONFIGS / "quadratic_lr.yaml", ["sweep=null", "optimizers.SGD.lr=0.2"])
    trajectory = optviz.run(config)["SGD"]
    assert float(table[-1]["final_loss"]) == float(trajectory.final_loss[0])
    assert float(table[0]["final_loss"]) == float(optviz.run(optviz.load_config(
        CONFIGS / "quadratic_lr.yaml", ["sweep=null"]))["SGD"].final_loss[0])
    assert table[-1]["converged_step"] == str(trajectory.converged_step[0])
    assert table[-1]["distance_to_minimum"] == repr(float(abs(trajectory.final_position[0, 0])))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["cells", "sweep-best.png", "sweep-loss.png", "sweep.csv",
                                                                "sweep.json", "sweep.yaml"]
    summary = json.loads((tmp_path / "sweep.json").read_text())
    assert summary["files"] == ["sweep-best.png", "sweep-loss.png", "sweep.csv", "sweep.json"] and summary["cells"] == 10
    for name in ("sweep-best.png", "sweep-loss.png"):
        assert_png(tmp_path / name)
    assert len(list((tmp_path / "cells").glob("*.npz"))) == len(list((tmp_path / "cells").glob("*.json"))) == 10
    assert result.stdout.splitlines()[-1].startswith(f"Wrote {tmp_path}/ (10 cells: 10 computed, 0 reused): ")


def test_the_seed_figure_colours_each_curve_by_its_lr():
    from matplotlib.collections import LineCollection

    from optviz.render.sweep import plot_sweep_loss

    config = optviz.load_config(CONFIGS / "quadratic_lr.yaml", ["steps=30"])
    result = run_sweep(config)
    from matplotlib import colormaps

    figure = plot_sweep_loss(result)
    axes, bar = figure.axes
    (curves,) = [artist for artist in axes.collections if isinstance(artist, LineCollection)]
    lrs = np.linspace(0.01, 0.2, 10)
    np.testing.assert_allclose(curves.get_colors(), colormaps["viridis"]((lrs - 0.01) / 0.19))
    assert bar.get_ylabel() == "lr" and bar.get_ylim() == pytest.approx((0.01, 0.2))
    np.testing.assert_array_equal(curves.get_segments()[9][:, 1], result.outcomes[9].curve)
    assert axes.get_yscale() == "log"


def test_a_two_key_grid_draws_a_heatmap_with_diverged_cells_hatched(tmp_path):
    from matplotlib.collections import PatchCollection, QuadMesh

    from optviz.render.sweep import plot_sweep_heatmap

    overrides = ["sweep.optimizers.SGD.lr={logspace: [-4, -2, 4]}", "sweep.optimizers.SGD.momentum=[0, 0.5, 0.9]",
                 "steps=60"]
    result = invoke("sweep", CONFIGS / "sgd_grid.yaml", *[part for override in overrides for part in ("--set", override)],
                    "--out", tmp_path, "--json", "-q")
    assert result.exit_code == 0 and result.stderr == ""
    manifest = json.loads(result.stdout)
    assert manifest["files"] == ["sweep-best.png", "sweep-heatmap.png", "sweep-loss.png", "sweep.csv", "sweep.json"]
    table = rows(tmp_path / "sweep.csv")
    diverged = [(row["lr"], row["momentum"]) for row in table if row["status"] == "diverged"]
    assert diverged and all(row["final_loss"] == "" and row["diverged_step"] for row in table
                            if row["status"] == "diverged")
    sweep = run_sweep(optviz.load_config(CONFIGS / "sgd_grid.yaml", overrides))
    figure = plot_sweep_heatmap(sweep)
    axes = figure.axes[0]
    (mesh,) = [artist for artist in axes.collections if isinstance(artist, QuadMesh)]
    (hatched,) = [artist for artist in axes.collections if isinstance(artist, PatchCollection)]
    assert len(hatched.get_paths()) == len(diverged) and hatched.get_hatch() == "xxx"
    grid = mesh.get_array().reshape(3, 4)  # momentum rows, lr columns
    for row in table:
        column = [f"{value:.2g}" for value in np.logspace(-4, -2, 4)].index(f"{float(row['lr']):.2g}")
        line = [0, 0.5, 0.9].index(float(row["momentum"]))
        assert np.ma.is_masked(grid[line, column]) == (row["status"] == "diverged")
        if row["status"] == "ok":
            assert grid[line, column] == pytest.approx(float(row["final_loss"]))
    best = manifest["optimizers"][0]["best"]
    assert best["final_loss"] == min(float(row["final_loss"]) for row in table if row["final_loss"])
    assert axes.get_xlabel() == "lr (log-spaced)" and axes.get_ylabel() == "momentum"
    star = [line for line in axes.lines if line.get_marker() == "*"]
    assert [(float(star[0].get_xdata()[0]), float(star[0].get_ydata()[0]))] == [
        (np.logspace(-4, -2, 4).tolist().index(best["values"]["lr"]), [0, 0.5, 0.9].index(best["values"]["momentum"]))]


def test_big_runs_shrunk(tmp_path):
    overrides = ["steps=20", "start={random: 4, seed: 1}", "sweep.optimizers.SGD.lr=[0.001, 0.01]",
                 "sweep.optimizers.Adam.lr=[0.01, 0.1]", "sweep.optimizers.RMSprop.lr=[0.001]",
                 "sweep.optimizers.Adagrad.lr=[0.1, 1]"]
    result = invoke("sweep", CONFIGS / "big.yaml", *[part for override in overrides for part in ("--set", override)],
                    "--out", tmp_path, "--json", "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["cells"] == 2 * 4 + 2 * 3 + 1 * 2 + 2
    assert [entry["label"] for entry in manifest["optimizers"]] == ["SGD", "Adam", "RMSprop", "Adagrad"]
    assert rows(tmp_path / "sweep.csv")[0]["starts"] == "4"


@pytest.mark.parametrize("config", sorted(path.name for path in CONFIGS.glob("*.yaml") if "\nsweep:" in path.read_text()))
def test_every_sweep_config_is_checked_and_has_its_cells(config):
    sweep = plan_sweep(optviz.load_config(CONFIGS / config))
    assert {"quadratic_lr.yaml": 10, "sgd_grid.yaml": 1024, "big.yaml": 160, "moons_sweep.yaml": 14}[config] == len(sweep.cells)


def test_quiet_prints_nothing_and_json_is_the_manifest(tmp_path):
    result = invoke("sweep", CONFIGS / "quadratic_lr.yaml", "--set", "steps=5", "--out", tmp_path, "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    again = invoke("sweep", CONFIGS / "quadratic_lr.yaml", "--set", "steps=5", "--out", tmp_path, "--json", "-q")
    manifest = json.loads(again.stdout)
    assert manifest == json.loads((tmp_path / "sweep.json").read_text())
    assert manifest["session"]["computed"] == 0 and manifest["session"]["reused"] == 10


def test_an_unwritable_out_dir_is_exit_code_1(tmp_path):
    (tmp_path / "file").write_text("")
    result = invoke("sweep", CONFIGS / "quadratic_lr.yaml", "--out", tmp_path / "file" / "out")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'file' / 'out'}: cannot write there: {tmp_path / 'file'} is a file, " \
                            "not a directory\n"


# --- shards and merge ----------------------------------------------------------------------------

GRID = ["--set", "sweep.optimizers.SGD.lr={logspace: [-4, -2, 5]}", "--set", "sweep.optimizers.SGD.momentum=[0, 0.9]",
        "--set", "steps=40"]


@pytest.mark.parametrize("shard,message", [("0/4", "'0/4'"), ("5/4", "'5/4'"), ("a/b", "'a/b'"), ("3", "'3'")])
def test_a_bad_shard_is_a_usage_error(shard, message, tmp_path):
    result = invoke("sweep", CONFIGS / "quadratic_lr.yaml", "--shard", shard, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == f"Error: --shard: expected K/N with 1 <= K <= N, e.g. 3/8, got {message}\n"


def test_shards_merged_give_what_one_sweep_gives(tmp_path):
    whole, sliced = tmp_path / "whole", tmp_path / "sliced"
    assert invoke("sweep", CONFIGS / "sgd_grid.yaml", *GRID, "--out", whole, "-q").exit_code == 0
    done = []
    for part in (1, 2, 3):
        result = invoke("sweep", CONFIGS / "sgd_grid.yaml", *GRID, "--shard", f"{part}/3", "--out", sliced, "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        indices = [int(line.split("]")[0].split("/")[0].strip("[ ")) for line in result.stderr.splitlines()]
        assert summary["shard"] == f"{part}/3" and summary["shard_cells"] == len(indices) == (4 if part == 1 else 3)
        assert not (sliced / "sweep.csv").exists()
        done.append(summary["shard_cells"])
        if part == 2:
            early = invoke("merge", sliced)
            assert early.exit_code == 1
            assert early.stderr == (f"Error: {sliced}: 3 of 10 cells are not finished (cells 2, 5, 8); run the missing "
                                    f"shards, or `optviz sweep {sliced / 'sweep.yaml'} --out {sliced}` to compute them "
                                    "here\n")
    assert sum(done) == 10
    merged = invoke("merge", sliced, "--json")
    assert merged.exit_code == 0, merged.output
    assert (sliced / "sweep.csv").read_bytes() == (whole / "sweep.csv").read_bytes()
    one, other = json.loads((whole / "sweep.json").read_text()), json.loads(merged.stdout)
    assert one.pop("session")["computed"] == 10 and other.pop("session")["computed"] == 0
    assert one == other
    assert one["files"] == ["sweep-best.png", "sweep-heatmap.png", "sweep-loss.png", "sweep.csv", "sweep.json"]
    for name in ("sweep-best.png", "sweep-heatmap.png", "sweep-loss.png"):  # the same numbers: the same pictures
        np.testing.assert_array_equal(assert_png(sliced / name), assert_png(whole / name), err_msg=name)


def test_merge_of_a_folder_that_is_no_sweep_is_exit_code_1(tmp_path):
    result = invoke("merge", tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {tmp_path}: not a sweep directory (no sweep.yaml); make one with "
                             f"`optviz sweep CONFIG --out {tmp_path}`\n")


# --- resuming ---------------------------------------------------------------------------------


def test_a_failure_mid_sweep_keeps_the_finished_cells_and_a_rerun_computes_only_the_rest(tmp_path, monkeypatch):
    import optviz.pipelines.sweep as sweepdir

    # Different steps: each cell runs on its own, so the failure lands between cells.
    def config():
        return optviz.load_config(CONFIGS / "quadratic_lr.yaml", ["sweep.steps=[5, 6, 7, 8, 9, 10, 11, 12]",
                                                                  "sweep.optimizers.SGD.lr=null"])

    calls = []
    real_run = sweepdir.run

    def failing(cell_config):  # a Loaded cell
        calls.append(cell_config.config.steps)
        if len(calls) == 3:
            raise RuntimeError("the machine went away")
        return real_run(cell_config)

    monkeypatch.setattr(sweepdir, "run", failing)
    with pytest.raises(RuntimeError, match="went away"):
        sweepdir.sweep_to_dir(config(), tmp_path)
    cells = tmp_path / "cells"
    assert len(list(cells.glob("*.json"))) == len(list(cells.glob("*.npz"))) == 2
    assert not (tmp_path / "sweep.csv").exists() and list(cells.glob(".*")) == []

    calls.clear()
    monkeypatch.setattr(sweepdir, "run", lambda cell_config: calls.append(cell_config.config.steps) or real_run(cell_config))
    manifest = sweepdir.sweep_to_dir(config(), tmp_path)
    assert (manifest["session"]["computed"], manifest["session"]["reused"]) == (6, 2) and len(calls) == 6
    sweepdir.sweep_to_dir(config(), tmp_path / "fresh")
    assert (tmp_path / "sweep.csv").read_bytes() == (tmp_path / "fresh" / "sweep.csv").read_bytes()


def sweep_process(config: Path, out: Path) -> subprocess.Popen:
    # A shell's background job inherits SIGINT as ignored; give the child the default, as a terminal would.
    return subprocess.Popen([sys.executable, "-m", "optviz", "sweep", str(config), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_sweep_leaves_only_whole_cells_and_resumes(kill, tmp_path):
    config = tmp_path / "slow.yaml"
    # Each cell alone (its own steps) and long enough (a few tenths of a second) that the
    # kill lands while one is running.
    config.write_text("function: quadratic\nstart: [2.0]\ndtype: float64\noptimizers: [{name: SGD, lr: 0.0001}]\n"
                      "sweep:\n  steps: [800, 801, 802, 803, 804, 805]\n")
    out = tmp_path / "out"
    process = sweep_process(config, out)
    try:
        deadline = time.monotonic() + 240
        while not list((out / "cells").glob("*.json")) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        process.send_signal(kill)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    finished = sorted(path.stem for path in (out / "cells").glob("*.json"))
    assert 1 <= len(finished) < 6, "the kill should land mid-sweep"
    if kill == signal.SIGINT:
        assert process.returncode == 130 and stderr.splitlines()[-1] == "Interrupted."
    else:
        assert process.returncode == -signal.SIGKILL
    # Every finished cell has both files; at most one cell was caught between its npz and its
    # json, and that npz is whole (renamed into place) and will be rewritten.
    arrays = {path.stem for path in (out / "cells").glob("*.npz")}
    assert set(finished) <= arrays and len(arrays - set(finished)) <= 1
    for key in arrays:
        with np.load(out / "cells" / f"{key}.npz") as archive:
            assert np.isfinite(archive["positions_0"]).any()
    assert not (out / "sweep.csv").exists()

    resumed = invoke("sweep", config, "--out", out, "--json")
    assert resumed.exit_code == 0, resumed.output
    session = json.loads(resumed.stdout)["session"]
    assert session["reused"] >= len(finished) and session["computed"] + session["reused"] == 6
    assert sum(line.endswith("(reused)") for line in resumed.stderr.splitlines()) == session["reused"]
    assert list((out / "cells").glob(".*")) == []
    optviz.sweep_to_dir(optviz.load_config(config), tmp_path / "fresh")
    assert (out / "sweep.csv").read_bytes() == (tmp_path / "fresh" / "sweep.csv").read_bytes()


def test_a_cell_from_other_versions_is_recomputed_but_merged_as_it_is(tmp_path):
    args = ("sweep", CONFIGS / "quadratic_lr.yaml", "--set", "steps=5", "--out", tmp_path, "--json", "-q")
    assert invoke(*args).exit_code == 0
    meta = next((tmp_path / "cells").glob("*.json"))
    data = json.loads(meta.read_text())
    data["versions"]["torch"] = "0.0.1"
    meta.write_text(json.dumps(data))
    assert json.loads(invoke("merge", tmp_path, "--json").stdout)["session"]["warnings"][0].startswith(
        "the cells were computed by 2 different sets of versions")
    assert json.loads(invoke(*args).stdout)["session"]["computed"] == 1
    assert os.path.exists(meta) and json.loads(meta.read_text())["versions"]["torch"] != "0.0.1"
