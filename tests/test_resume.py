"""Resume (issue 17, the seed's state_dict): a run folder keeps each optimizer's final state, and
`optviz run --resume DIR --steps N` continues it; 60 + 40 steps are one run of 100, bit for bit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from optviz import config_from_dict
from optviz.cli import cli
from optviz.engine import Resume, run
from optviz.results import continued
from optviz.store.rundir import load_run

ADAM_STEPLR = {"name": "Adam", "lr": 0.05, "scheduler": {"name": "StepLR", "step_size": 15, "gamma": 0.5}}
ARRAYS = ("positions", "loss", "lr", "grad_norm", "steps", "diverged_step", "converged_step")


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def write(tmp_path: Path, data: dict) -> Path:
    import yaml

    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def same(first, second) -> None:
    for name in ARRAYS:
        assert np.asarray(getattr(first, name)).tobytes() == np.asarray(getattr(second, name)).tobytes(), name


@pytest.mark.parametrize("data", [
    {"function": "rosenbrock", "start": [-1.5, 2.0], "optimizers": [ADAM_STEPLR]},
    {"function": "himmelblau", "start": {"random": 6, "seed": 3}, "record": {"every": 7},
     "noise": {"kind": "gaussian", "scale": 0.5, "seeds": 2},
     "optimizers": [ADAM_STEPLR, {"name": "LBFGS", "lr": 0.5, "max_iter": 2}, {"name": "Adafactor", "lr": 0.05},
                    {"name": "SGD", "lr": 0.002, "momentum": 0.9, "param_groups": [{"dims": [1], "lr": 0.001}]}]},
    pytest.param({"function": "rosenbrock", "start": {"random": 3, "seed": 5}, "record": {"every": 4},
                  "optimizers": [ADAM_STEPLR, {"name": "SAM", "base_optimizer": "SGD", "lr": 0.0005, "rho": 0.02},
                                 {"name": "AdamWScheduleFree", "lr": 0.05}, {"name": "pytorch_optimizer:Lion", "lr": 0.01}]},
                 marks=pytest.mark.skipif(not all(__import__("importlib").util.find_spec(package)
                                                  for package in ("pytorch_optimizer", "schedulefree")),
                                          reason="needs optviz[optimizers]"), id="third-party-closure-schedule-free"),
], ids=["Adam-StepLR-one-start", "batched-noisy-thinned", "third-party-closure-schedule-free"])
def test_60_and_40_steps_are_one_run_of_100_bit_for_bit(data, tmp_path):
    config = write(tmp_path, {**data, "render": {"figures": ["loss"]}})
    first, resumed, whole = tmp_path / "first", tmp_path / "resumed", tmp_path / "whole"
    assert invoke("run", config, "--set", "steps=60", "--out", first, "-q").exit_code == 0
    result = invoke("run", config, "--resume", first, "--steps", 40, "--out", resumed, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["resumed_from"] == {"run": str(first), "steps": 60}
    assert invoke("run", config, "--set", "steps=100", "--out", whole, "-q").exit_code == 0
    for name in ("trajectories.npz", "summary.csv", "config.yaml"):
        assert (resumed / name).read_bytes() == (whole / name).read_bytes(), name
    for state in (whole / "state").iterdir():  # what a third part would continue from
        assert (resumed / "state" / state.name).read_bytes() == state.read_bytes()
    adam = torch.load(first / "state" / "0-Adam.pt", weights_only=True)
    (segment,) = adam["segments"] if len(load_run(first).starts) == 1 else adam["segments"][:1]
    assert segment["scheduler"]["last_epoch"] == 60
    assert segment["optimizer"]["param_groups"][0]["lr"] == 0.05 * 0.5**4  # StepLR halved it at 15, 30, 45, 60


def test_a_run_split_over_chunks_and_workers_continues_on_the_same_split():
    data = {"function": "peaks", "start": {"random": 7, "seed": 2}, "record": {"every": 4},
            "optimizers": [ADAM_STEPLR, {"name": "RMSprop", "lr": 0.01, "param_groups": [{"dims": [0], "lr": 0.03}]}]}
    whole = run(config_from_dict({**data, "steps": 50}), chunk_rows=3)
    first = run(config_from_dict({**data, "steps": 30}), chunk_rows=3, workers=2)
    assert [segment["rows"] for segment in first["Adam"].final_state["segments"]] == [[0, 3], [3, 6], [6, 7]]
    later = run(config_from_dict({**data, "steps": 50}), workers=2,
                resume=Resume(30, {trajectory.label: trajectory.final_state for trajectory in first}))
    assert later["Adam"].steps.tolist() == [32, 36, 40, 44, 48, 50]
    joined = continued(first, later)
    for before, after in zip(whole, joined):
        same(before, after)
    assert np.array_equal(whole["RMSprop"].group_lr, joined["RMSprop"].group_lr)


def test_resuming_in_place_replaces_the_folder_with_the_whole_history(tmp_path):
    config = write(tmp_path, {"function": "quadratic", "start": [2.0], "optimizers": [{"name": "SGD", "lr": 0.1}],
                              "render": {"figures": ["diagnostics"]}})
    out = tmp_path / "out"
    assert invoke("run", config, "--set", "steps=10", "--out", out, "-q").exit_code == 0
    assert invoke("run", config, "--resume", out, "--steps", 5, "-q").exit_code == 0
    stored = load_run(out)
    assert stored.config.steps == 15 and stored["SGD"].steps.tolist() == list(range(16))
    assert json.loads((out / "manifest.json").read_text())["resumed_from"]["steps"] == 10
    assert "state" in json.loads((out / "manifest.json").read_text())["files"] and (out / "state" / "0-SGD.pt").is_file()


@pytest.fixture
def stored(tmp_path):
    config = write(tmp_path, {"function": "rosenbrock", "start": [-1.5, 2.0], "steps": 10,
                              "optimizers": [ADAM_STEPLR, {"name": "SGD", "lr": 0.001}], "render": {"figures": []}})
    out = tmp_path / "out"
    assert invoke("run", config, "--out", out, "-q").exit_code == 0
    return config, out


def test_resume_errors_are_one_line(stored, tmp_path):
    config, out = stored
    cases = [
        (["--resume", tmp_path / "nowhere", "--steps", 5], 1, f"Error: {tmp_path / 'nowhere'}: no such run folder to resume"),
        (["--steps", 5], 2, "Error: --resume DIR and --steps N go together: N more steps of the run in DIR; a run's "
                            "own steps are set with --set steps=N"),
        (["--resume", out], 2, "Error: --resume DIR and --steps N go together: N more steps of the run in DIR; a "
                               "run's own steps are set with --set steps=N"),
        (["--resume", out, "--steps", 5, "--set", "optimizers.Adam.lr=0.1"], 2,
         f"Error: {out} was run from another config: optimizers[0].lr is 0.05 there, 0.1 here; resume it with the "
         "config it was run from (only steps and render may change)"),
        (["--resume", out, "--steps", 5, "--set", "start=[1, 1]"], 2,
         f"Error: {out} was run from another config: start[0] is -1.5 there, 1 here; resume it with the config "
         "it was run from (only steps and render may change)"),
    ]
    before = {path.name: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    for args, code, line in cases:
        result = invoke("run", config, *args)
        assert (result.exit_code, result.stderr) == (code, line + "\n"), args
    assert {path.name: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before


def test_a_missing_or_damaged_state_is_named(stored):
    config, out = stored
    (out / "state" / "1-SGD.pt").unlink()
    result = invoke("run", config, "--resume", out, "--steps", 5)
    assert (result.exit_code, result.stderr) == (1, f"Error: {out}: state/1-SGD.pt is missing, so SGD cannot continue; "
                                                    "the folder keeps no final state of it (run the config again to "
                                                    "make one)\n")
    (out / "state" / "1-SGD.pt").write_bytes(b"not a torch file")
    result = invoke("run", config, "--resume", out, "--steps", 5)
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {out / 'state' / '1-SGD.pt'}: cannot be read: ")


def test_a_network_run_is_refused(tmp_path):
    config = write(tmp_path, {"problem": {"data": "moons"}, "optimizers": ["SGD"]})
    result = invoke("run", config, "--resume", tmp_path, "--steps", 5)
    assert (result.exit_code, result.stderr) == (2, "Error: --resume continues a test function's run; a network's "
                                                    "(problem:) cannot be resumed yet\n")


def test_safe_reads_the_stored_run_s_config_as_safely_as_the_given_one(tmp_path):
    config = write(tmp_path, {"function": "rosenbrock", "start": [-1.5, 2.0], "optimizers": [{"name": "SGD", "lr": 0.001}],
                              "render": {"figures": ["loss"]}})
    first = tmp_path / "first"
    assert invoke("run", config, "--set", "steps=5", "--out", first, "-q").exit_code == 0
    stored = first / "config.yaml"
    stored.write_text(stored.read_text().replace("name: SGD", "name: 'torch.optim:SGD'"))
    result = invoke("run", config, "--resume", first, "--steps", 3, "--safe")
    assert result.exit_code == 2
    assert result.output.strip().endswith("imports Python code, which --safe refuses; run without --safe only if you "
                                          "trust this config")
