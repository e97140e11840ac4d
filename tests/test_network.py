"""Network problems (issue 11): a plain loop replays a run folder bit for bit; every optimizer of a seed
starts from the same weights on the same batches; a diverging optimizer is marked while the others finish."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from optviz.cli import cli
from optviz.config import config_model
from optviz.errors import ConfigError
from optviz.load import load_dict
from optviz.pipelines.run import run_to_dir
from optviz.problems.models import lenet
from optviz.training import one_thread

ROOT = Path(__file__).resolve().parent.parent
NO_FIGURES = {"figures": []}

USER_MODEL = '''
import torch


class Net(torch.nn.Module):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.first = torch.nn.Linear(2, hidden)
        self.second = torch.nn.Linear(hidden, 2)

    def forward(self, x):
        return self.second(torch.tanh(self.first(x)))
'''


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def plain_loop(model: torch.nn.Module, out: Path, seed: int, optimizer: dict, epochs: int, batch_size: int,
               loss_fn) -> list[float]:
    """The seed lesson's loop, from the run folder's files alone."""
    model.load_state_dict(torch.load(out / f"init-seed{seed}.pt"))
    data = np.load(out / f"data-seed{seed}.npz")
    x_train, y_train = torch.from_numpy(data["x_train"]), torch.from_numpy(data["y_train"])
    settings = {key: value for key, value in optimizer.items() if key not in ("name", "scheduler")}
    opt = getattr(torch.optim, optimizer["name"])(model.parameters(), **settings)
    scheduler = None
    if "scheduler" in optimizer:
        arguments = {key: value for key, value in optimizer["scheduler"].items() if key not in ("name", "interval")}
        scheduler = getattr(torch.optim.lr_scheduler, optimizer["scheduler"]["name"])(opt, **arguments)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_train, y_train), batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    losses = []
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            losses.append(loss.item())
            loss.backward()
            opt.step()
        if scheduler is not None:
            scheduler.step()
    return losses


def recorded_losses(out: Path, label: str, seed: int) -> list[float]:
    return [float(row["train_loss"]) for row in rows(out / "curves.csv") if row["label"] == label
            and int(row["seed"]) == seed]


LESSON_SGD = {"name": "SGD", "lr": 0.01, "momentum": 0.9,
              "scheduler": {"name": "StepLR", "step_size": 1, "gamma": 0.5, "interval": "epoch"}}
ADAM = {"name": "Adam", "lr": 0.001}


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lenet") / "out"
    config = {"problem": {"data": "digits", "model": "lenet", "batch_size": 16, "epochs": 2, "valid": 0.5},
              "seeds": [1, 2], "render": NO_FIGURES, "optimizers": [LESSON_SGD, ADAM]}
    manifest = run_to_dir(load_dict(config), out)
    return out, manifest


@pytest.mark.parametrize("optimizer", [LESSON_SGD, ADAM], ids=["SGD-StepLR", "Adam"])
@pytest.mark.parametrize("seed", [1, 2])
def test_a_plain_loop_replays_lenet_bit_for_bit(lenet_run, optimizer, seed):
    out, _ = lenet_run
    with one_thread():  # optviz trains on one thread; the same kernels give the same bits
        losses = plain_loop(lenet((1, 8, 8), 10), out, seed, optimizer, 2, 16, torch.nn.functional.cross_entropy)
    assert recorded_losses(out, optimizer["name"], seed) == losses


def test_a_plain_loop_replays_a_user_model_by_import_path(tmp_path):
    (tmp_path / "usernet.py").write_text(USER_MODEL)
    config = {"problem": {"data": "moons", "model": {"name": "usernet.py:Net", "args": {"hidden": 6}},
                          "batch_size": 8, "epochs": 2},
              "seed": 3, "render": NO_FIGURES, "optimizers": [{"name": "SGD", "lr": 0.1}]}
    out = tmp_path / "out"
    run_to_dir(load_dict(config, base_dir=tmp_path), out)
    import importlib.util

    spec = importlib.util.spec_from_file_location("usernet_replay", tmp_path / "usernet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with one_thread():
        losses = plain_loop(module.Net(hidden=6), out, 3, {"name": "SGD", "lr": 0.1}, 2, 8,
                            torch.nn.functional.cross_entropy)
    assert recorded_losses(out, "SGD", 3) == losses
    assert "usernet.py:Net" in (out / "config.yaml").read_text()


def test_every_optimizer_of_a_seed_starts_from_the_same_weights_on_the_same_batches(lenet_run):
    out, _ = lenet_run
    trajectories = np.load(out / "trajectories.npz")
    labels, seeds = trajectories["labels"].tolist(), trajectories["seeds"].tolist()
    for seed in (1, 2):
        init = torch.load(out / f"init-seed{seed}.pt")
        flat = torch.nn.utils.parameters_to_vector(init.values()).numpy()
        starts = [trajectories[f"parameters_{index}"][0] for index, (label, run_seed) in enumerate(zip(labels, seeds))
                  if run_seed == seed]
        assert len(starts) == 2
        for start in starts:
            np.testing.assert_array_equal(start, flat)
        # Same weights and the same first batch: the same first loss, whatever the optimizer.
        assert recorded_losses(out, "SGD", seed)[0] == recorded_losses(out, "Adam", seed)[0]
    one, two = torch.load(out / "init-seed1.pt"), torch.load(out / "init-seed2.pt")
    assert any(not torch.equal(one[name], two[name]) for name in one)
    first, second = np.load(out / "data-seed1.npz"), np.load(out / "data-seed2.npz")
    assert not np.array_equal(first["y_train"], second["y_train"])  # each seed its own split


def test_the_flat_parameter_buffer_records_what_tensor_by_tensor_records(monkeypatch):
    """The loop's speed-up (parameters as views of one buffer) changes no recorded number, nor does falling back
    to tensor by tensor mid-run, as it does when an optimizer gives a parameter new storage."""
    from optviz import training

    config = {"problem": {"data": "digits", "model": "lenet", "batch_size": 32, "epochs": 2},
              "seeds": [1], "render": NO_FIGURES, "record": {"every": 3}, "optimizers": [LESSON_SGD, ADAM]}

    def records():
        result = training.train(load_dict(config))
        return [[run.train_loss, run.grad_norm, run.update_norm, run.epoch_train_loss, run.epoch_valid_loss,
                 run.parameters, run.recorded] for run in result.runs]

    flat = records()
    calls = iter(range(10 ** 6))
    intact = training._Flat.intact
    monkeypatch.setattr(training._Flat, "intact", lambda self: next(calls) < 50 and intact(self))
    broken = records()
    monkeypatch.setattr(training._Flat, "adopt", classmethod(lambda cls, model: None))
    separate = records()
    for one, two, three in zip(flat, broken, separate):
        for a, b, c in zip(one, two, three):
            assert a.tobytes() == b.tobytes() == c.tobytes()


def test_the_run_folder_holds_the_interface_files(lenet_run):
    out, manifest = lenet_run
    with open(out / "curves.csv", newline="") as handle:
        assert next(csv.reader(handle)) == ["label", "seed", "epoch", "iteration", "train_loss", "lr", "grad_norm",
                                            "update_norm"]
    with open(out / "epochs.csv", newline="") as handle:
        assert next(csv.reader(handle)) == ["label", "seed", "epoch", "train_loss", "valid_loss", "train_accuracy",
                                            "valid_accuracy"]
    assert len(rows(out / "epochs.csv")) == 2 * 2 * 2
    data = np.load(out / "data-seed1.npz")
    assert sorted(data.files) == ["x_train", "x_valid", "y_train", "y_valid"]
    assert data["x_train"].shape[1:] == (1, 8, 8)
    # Standardized on the training split.
    assert abs(float(data["x_train"].mean())) < 1e-5
    lrs = {row["epoch"]: float(row["lr"]) for row in rows(out / "curves.csv") if row["label"] == "SGD"}
    assert lrs == {"1": 0.01, "2": 0.005}  # StepLR stepped once, after the first epoch
    assert json.loads((out / "manifest.json").read_text())["seeds"] == [1, 2]
    assert {entry["label"] for entry in manifest["optimizers"]} == {"SGD", "Adam"}


def test_a_diverging_optimizer_is_marked_and_the_others_finish(tmp_path):
    config = {"problem": {"data": "moons", "model": "mlp", "epochs": 2},
              "seeds": [1], "render": NO_FIGURES,
              "optimizers": [{"name": "SGD", "lr": 1e12}, {"name": "Adam", "lr": 0.01}]}
    manifest = run_to_dir(load_dict(config), tmp_path / "out")
    sgd, adam = manifest["optimizers"]
    assert (sgd["status"], sgd["diverged_seeds"], adam["status"]) == ("diverged", [1], "ok")
    assert manifest["diverged"] == ["SGD"]
    run = manifest["runs"][0]
    assert run["diverged_iteration"] >= 1 and run["iterations"] == run["diverged_iteration"] + 1
    assert manifest["runs"][1]["iterations"] == 2 * 20  # 320 training samples in batches of 16


def test_muon_trains_the_matrices_and_adamw_the_rest(tmp_path):
    config = {"problem": {"data": "moons", "model": {"name": "mlp", "hidden": [8]}, "epochs": 1}, "seeds": [1],
              "render": NO_FIGURES,
              "optimizers": [{"name": "Muon", "lr": 0.02, "params": "matrices", "rest": {"name": "AdamW", "lr": 0.01}}]}
    manifest = run_to_dir(load_dict(config), tmp_path / "out")
    assert manifest["optimizers"][0]["status"] == "ok"
    with pytest.raises(ConfigError, match=r"^optimizers\[0\]: Muon rejects these settings for all parameters"):
        load_dict({**config, "optimizers": [{"name": "Muon"}]})
    with pytest.raises(ConfigError, match=r"^optimizers\[0\]\.params: no optimizer trains 1\.bias, 3\.bias; add 'rest"):
        load_dict({**config, "optimizers": [{"name": "AdamW", "params": "weights"}]})


@pytest.mark.skipif(torch.cuda.is_available(), reason="cuda is present here")
def test_cuda_asked_for_and_absent_is_one_line():
    with pytest.raises(ConfigError) as error:
        load_dict({"problem": {"data": "moons"}, "device": "cuda", "optimizers": ["SGD"]})
    assert str(error.value) == "device: cuda was asked for and is not available here; use device: cpu"


def test_seed_is_the_one_seed_and_seeds_the_list():
    assert config_model({"problem": {"data": "moons"}, "seed": 4, "optimizers": ["SGD"]}).run_seeds == [4]
    assert config_model({"problem": {"data": "moons"}, "seeds": [1, 2], "optimizers": ["SGD"]}).run_seeds == [1, 2]


def test_regression_data_trains_with_mse(tmp_path):
    config = {"problem": {"data": {"name": "regression", "n_features": 3}, "model": "linear", "epochs": 2},
              "render": NO_FIGURES, "optimizers": [{"name": "Adam", "lr": 0.1}]}
    out = tmp_path / "out"
    manifest = run_to_dir(load_dict(config), out)
    assert manifest["task"] == "regression"
    assert "train_accuracy" not in rows(out / "epochs.csv")[0]


@pytest.mark.parametrize("name, overrides", [
    ("digits_lenet", ["problem.epochs=1", "seeds=[1]"]),
    ("moons_mlp", ["problem.epochs=2"]),
], ids=["digits_lenet", "moons_mlp"])
def test_the_shipped_configs_run(name, overrides, tmp_path):
    out = tmp_path / name
    arguments = ["run", str(ROOT / "configs" / f"{name}.yaml"), "--out", str(out), "--set", "render.figures=[]"]
    for override in overrides:
        arguments += ["--set", override]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    assert "valid accuracy" in result.stdout and "Trained in" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(entry["status"] == "ok" for entry in manifest["optimizers"])
    json_result = CliRunner().invoke(cli, [*arguments, "--json", "--out", str(tmp_path / "json")])
    assert 0 < json.loads(json_result.stdout)["optimizers"][0]["final_valid_accuracy"]["mean"] <= 1


def test_a_network_clips_its_gradient_only_when_asked_and_says_so(tmp_path):
    from optviz.render.network import _clipped
    from optviz.training import train

    config = {"problem": {"data": "moons", "model": {"name": "mlp", "hidden": [8]}, "epochs": 1}, "seeds": [1],
              "render": NO_FIGURES, "optimizers": [{"name": "SGD", "lr": 0.5},
                                                   {"name": "SGD", "lr": 0.5, "clip_grad_norm": 0.05,
                                                    "label": "clipped"}]}
    result = train(load_dict(config))
    plain, clipped = result.runs
    assert plain.grad_norm.max() > 0.1  # nothing clips unless asked
    assert clipped.grad_norm.max() <= 0.05 + 1e-6
    assert not np.array_equal(plain.train_loss, clipped.train_loss)
    assert _clipped(result, "clipped") == "clipped [grad clipped to norm 0.05]" and _clipped(result, "SGD") == "SGD"
