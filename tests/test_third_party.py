"""Optimizers from the optviz[optimizers] extra, run through the CLI and checked against plain loops.

Each of the four kinds (a plain class, one that needs a closure, a Hessian-based one, a
schedule-free one) is run by ``optviz run`` and its stored trajectory compared, bit for bit,
with a loop written by hand for that class.
"""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from optviz.cli import cli
from optviz.problems import get_function

ROSENBROCK = get_function("rosenbrock")
STARTS = [[-1.5, 2.0], [0.5, -0.5], [1.2, 1.4]]
STEPS = 40


def run_cli(tmp_path: Path, optimizer: dict, *, starts=STARTS, seed: int = 0, figures=("loss",)):
    """``optviz run`` on rosenbrock; returns (npz arrays, the manifest's run entry, the terminal output)."""
    config = {"function": "rosenbrock", "start": starts, "steps": STEPS, "dtype": "float64", "seed": seed,
              "optimizers": [optimizer], "render": {"figures": list(figures)}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(out), "--no-animate"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with np.load(out / "trajectories.npz") as archive:
        arrays = {name: archive[name] for name in archive.files}
    (entry,) = json.loads((out / "manifest.json").read_text())["runs"]
    return arrays, entry, result.output


def plain_loop(make_optimizer, start, *, closure=False, create_graph=False, schedule_free=False, seed=0):
    """The loop a person writes for the class: positions (and, schedule-free, the gradient points y)."""
    torch.manual_seed(seed)
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([x])
    if schedule_free:
        optimizer.train()
    evaluations = 0

    def evaluate():
        nonlocal evaluations
        evaluations += 1
        optimizer.zero_grad()
        loss = ROSENBROCK(x)
        loss.backward(create_graph=create_graph)
        return loss

    positions, gradient_points, counts = [], [], []
    for step in range(STEPS + 1):
        evaluate()
        if schedule_free:  # the evaluation point x, read from a copy so this loop's y is untouched
            gradient_points.append(x.detach().clone().numpy())
            twin = copy.deepcopy(optimizer)
            twin.eval()
            positions.append(twin.param_groups[0]["params"][0].detach().clone().numpy())
        else:
            positions.append(x.detach().clone().numpy())
        counts.append(evaluations)
        if step == STEPS:
            break
        optimizer.step(evaluate) if closure else optimizer.step()
    return np.array(positions), np.array(gradient_points), np.array(counts)


def test_a_plain_class_batches_after_its_check_and_equals_its_loop(tmp_path):
    lion_pytorch = pytest.importorskip("lion_pytorch")
    arrays, entry, _ = run_cli(tmp_path, {"name": "lion_pytorch:Lion", "lr": 0.02})
    assert entry["batching"].startswith("batched: 5 steps of two starts")  # Lion's update is element-wise
    for index, start in enumerate(STARTS):
        positions, _, _ = plain_loop(lambda params: lion_pytorch.Lion(params, lr=0.02), start)
        np.testing.assert_array_equal(arrays["positions_0"][index], positions)
    assert "gradient_point_0" not in arrays


def test_a_class_that_needs_a_closure_gets_one_and_its_evaluations_are_counted(tmp_path):
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    arrays, entry, output = run_cli(tmp_path, {"name": "SAM", "base_optimizer": "SGD", "lr": 0.001, "momentum": 0.9,
                                               "rho": 0.05})
    # SAM perturbs by the gradient's norm over the whole tensor: batched starts would couple.
    assert entry["batching"].startswith("one start at a time")
    for index, start in enumerate(STARTS):
        positions, _, counts = plain_loop(
            lambda params: pytorch_optimizer.SAM(params, torch.optim.SGD, lr=0.001, momentum=0.9, rho=0.05), start,
            closure=True)
        np.testing.assert_array_equal(arrays["positions_0"][index], positions)
    np.testing.assert_array_equal(arrays["evaluations_0"], counts[None])  # one row: every start counts the same
    assert counts.tolist()[:3] == [1, 3, 5]  # the step's gradient, and the closure's at the perturbed point
    assert entry["evaluations_per_step"] == 2
    assert "2 f and gradient evaluations per step" in output


def test_a_hessian_class_gets_create_graph_and_the_runs_seed(tmp_path):
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    arrays, entry, _ = run_cli(tmp_path, {"name": "AdaHessian", "lr": 0.1}, seed=7)
    assert entry["status"] == "ok"
    assert entry["batching"] == "one start at a time: its step draws random numbers"
    for index, start in enumerate(STARTS):  # Hutchinson's random probes: each start from the config's seed
        positions, _, _ = plain_loop(lambda params: pytorch_optimizer.AdaHessian(params, lr=0.1), start,
                                     create_graph=True, seed=7)
        np.testing.assert_array_equal(arrays["positions_0"][index], positions)


def test_create_graph_false_overrides_the_class_and_the_failure_says_what_is_missing(tmp_path):
    pytest.importorskip("pytorch_optimizer")
    _, entry, output = run_cli(tmp_path, {"name": "AdaHessian", "lr": 0.1, "create_graph": False}, starts=STARTS[0],
                               figures=("loss", "path"))
    assert entry["status"] == "failed"
    assert entry["error"].startswith("needs create_graph (add create_graph: true); RuntimeError at step 0")
    assert "failed: needs create_graph" in output


def test_a_schedule_free_class_records_its_evaluation_point_and_its_gradient_point(tmp_path):
    schedulefree = pytest.importorskip("schedulefree")
    arrays, entry, _ = run_cli(tmp_path, {"name": "AdamWScheduleFree", "lr": 0.2, "warmup_steps": 5},
                               figures=("loss", "path"))
    assert entry["status"] == "ok"
    for index, start in enumerate(STARTS):
        positions, gradient_points, _ = plain_loop(
            lambda params: schedulefree.AdamWScheduleFree(params, lr=0.2, warmup_steps=5), start, schedule_free=True)
        np.testing.assert_array_equal(arrays["positions_0"][index], positions)  # x, what a model would use
        np.testing.assert_array_equal(arrays["gradient_point_0"][index], gradient_points)  # y
    assert not np.array_equal(arrays["positions_0"], arrays["gradient_point_0"])
    assert (tmp_path / "out" / "path.png").stat().st_size > 0


def test_a_short_name_in_one_package_resolves_and_a_torch_name_stays_torchs():
    schedulefree = pytest.importorskip("schedulefree")
    pytest.importorskip("pytorch_optimizer")
    from optviz.optimizers import resolve_optimizer

    assert resolve_optimizer("AdamWScheduleFree") is schedulefree.AdamWScheduleFree
    assert resolve_optimizer("adamwschedulefree") is schedulefree.AdamWScheduleFree
    assert resolve_optimizer("Adam") is torch.optim.Adam  # pytorch_optimizer re-exports it; torch's all the same
    assert resolve_optimizer("AdaFactor") is torch.optim.Adafactor  # pytorch_optimizer:AdaFactor by its path


def test_a_short_name_in_two_packages_lists_both(tmp_path):
    pytest.importorskip("pytorch_optimizer")
    pytest.importorskip("prodigyopt")
    path = tmp_path / "x.yaml"
    path.write_text("function: rosenbrock\nstart: [-1.5, 2.0]\noptimizers: [{name: Prodigy}]\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {path}: optimizers[0].name: optimizer 'Prodigy' is in 2 packages; name one: "
                             "pytorch_optimizer:Prodigy, prodigyopt:Prodigy\n")


def test_failure_hints_name_what_to_add():
    from optviz.third_party import failure_hint

    assert failure_hint("NoClosureError: AliG requires closure.") == "needs a closure"
    assert failure_hint("RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn") \
        == "needs create_graph (add create_graph: true)"
    # schedulefree's own words when step() comes before train()
    assert failure_hint("Exception: Optimizer was not in train mode when step is called. Please insert .train() "
                        "and .eval() calls") == "call train()"
    assert failure_hint("ValueError: lr must be positive") is None


def test_a_class_that_needs_a_closure_undocumented_fails_saying_so(tmp_path):
    pytest.importorskip("pytorch_optimizer")
    _, entry, _ = run_cli(tmp_path, {"name": "pytorch_optimizer:AliG", "max_lr": 0.1}, starts=STARTS[0])
    assert entry["error"].startswith("needs a closure; NoClosureError at step 0")


def test_list_optimizers_all_names_each_class_with_its_package():
    pytest.importorskip("pytorch_optimizer")
    pytest.importorskip("schedulefree")
    result = CliRunner().invoke(cli, ["list", "optimizers", "--all", "--json"])
    assert result.exit_code == 0, result.output
    entries = {entry.get("import_path", entry["name"]): entry for entry in json.loads(result.stdout)}
    assert entries["Adam"]["package"] == "torch.optim"
    assert entries["pytorch_optimizer:SAM"]["needs"] == ["closure"]
    assert entries["pytorch_optimizer:AdaHessian"]["needs"] == ["create_graph"]
    assert entries["schedulefree:AdamWScheduleFree"]["needs"] == ["train()/eval()"]
    assert entries["schedulefree:AdamWScheduleFree"]["package"] == "schedulefree"
    assert "pytorch_optimizer:Adam" not in entries  # torch's own class, re-exported
    table = CliRunner().invoke(cli, ["list", "optimizers", "--all"]).output
    assert any(line.startswith("pytorch_optimizer:SAM") and "[needs closure]" in line for line in table.splitlines())


def test_a_network_trains_with_sam_and_its_closure_as_a_plain_loop_does(tmp_path):
    pytorch_optimizer = pytest.importorskip("pytorch_optimizer")
    from optviz.load import load_dict
    from optviz.pipelines.run import run_to_dir
    from optviz.problems.models import mlp
    from optviz.training import one_thread

    config = {"problem": {"data": "moons", "model": {"name": "mlp", "hidden": [8]}, "batch_size": 16, "epochs": 2},
              "seed": 4, "render": {"figures": []},
              "optimizers": [{"name": "SAM", "base_optimizer": "SGD", "lr": 0.05, "rho": 0.05}]}
    out = tmp_path / "out"
    run_to_dir(load_dict(config), out)
    model = mlp((2,), 2, hidden=[8])
    model.load_state_dict(torch.load(out / "init-seed4.pt"))
    data = np.load(out / "data-seed4.npz")
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])), 16,
        shuffle=True, generator=torch.Generator().manual_seed(4))
    optimizer = pytorch_optimizer.SAM(model.parameters(), torch.optim.SGD, lr=0.05, rho=0.05)
    losses = []
    with one_thread():
        for _ in range(2):
            for x, y in loader:
                def closure():
                    optimizer.zero_grad()
                    again = torch.nn.functional.cross_entropy(model(x), y)
                    again.backward()
                    return again

                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(x), y)
                losses.append(loss.item())
                loss.backward()
                optimizer.step(closure)
    with open(out / "curves.csv", newline="") as handle:
        recorded = [float(row["train_loss"]) for row in csv.DictReader(handle)]
    assert recorded == losses


def test_a_class_whose_step_draws_random_numbers_never_batches(tmp_path):
    pytest.importorskip("pytorch_optimizer")
    # SophiaH's probes come every 10 steps: the first 5 of a batch can equal lone runs, the 11th cannot.
    _, entry, _ = run_cli(tmp_path, {"name": "SophiaH", "lr": 0.05})
    assert entry["batching"] == "one start at a time: its step draws random numbers"


def test_a_misspelt_optimizer_is_refused_before_torch_or_any_package_is_imported():
    """Importing the extra's packages to look for 'Adma' took about six seconds; none of them spells it."""
    import subprocess
    import sys

    probe = ("import sys\n"
             "from optviz.errors import ConfigError\n"
             "from optviz.optimizers import resolve_optimizer\n"
             "try:\n"
             "    resolve_optimizer('Adma')\n"
             "except ConfigError as error:\n"
             "    print(error)\n"
             "print(sorted(name for name in ('torch', 'pytorch_optimizer', 'heavyball', 'schedulefree') "
             "if name in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    message, imported = done.stdout.strip().splitlines()
    assert message.startswith("unknown optimizer 'Adma'; did you mean Adamax, Adam")
    assert imported == "[]"


def test_a_package_is_searched_only_when_its_source_spells_the_name():
    pytest.importorskip("pytorch_optimizer")
    from optviz.third_party import mentions

    assert mentions("pytorch_optimizer", "adabelief")  # any case, as names are matched
    assert not mentions("pytorch_optimizer", "Adma")
    assert not mentions("no_such_package_here", "Adam")
