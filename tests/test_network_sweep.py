"""Sweeps, shards, merge and tune of network configs (issue 11): a sweep's cell is the run of its config,
bit for bit; shards merged give the unsharded table; a resumed sweep computes only what is missing."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from optviz.cli import cli
from optviz.load import load_dict
from optviz.results.scores import Score, rank

ROOT = Path(__file__).resolve().parent.parent
TINY = {
    "problem": {"data": {"name": "moons", "n_samples": 200, "noise": 0.2},
                "model": {"name": "mlp", "hidden": [8], "activation": "tanh"}, "batch_size": 32, "epochs": 2},
    "seeds": [1, 2],
    "optimizers": [{"name": "SGD", "lr": 0.1, "momentum": 0.9}],
    "render": {"size": [5, 4], "dpi": 60},
}
LRS = [0.05, 0.5]


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8")))


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def swept(tmp_path: Path, sweep: dict | None = None, **extra) -> Path:
    return write(tmp_path / "sweep.yaml", {**TINY, **extra, "sweep": sweep or {"optimizers.SGD.lr": LRS}})


def test_each_cell_equals_the_lone_run_of_its_config(tmp_path):
    config = swept(tmp_path)
    result = invoke("sweep", config, "--out", tmp_path / "sweep", "-q")
    assert result.exit_code == 0, result.output
    table = rows(tmp_path / "sweep" / "sweep.csv")
    assert list(table[0]) == ["cell", "label", "lr", "seeds", "status", "final_train_loss", "final_valid_loss",
                              "valid_accuracy", "diverged_seeds", "hash"]
    assert [row["lr"] for row in table] == ["0.05", "0.5"]
    for row, lr in zip(table, LRS):
        alone = write(tmp_path / f"run-{lr}.yaml", {**TINY, "optimizers": [{"name": "SGD", "lr": lr, "momentum": 0.9}],
                                                    "render": {"figures": []}})
        out = tmp_path / f"run-{lr}"
        ran = invoke("run", alone, "--out", out, "-q")
        assert ran.exit_code == 0, ran.output
        epochs = rows(out / "epochs.csv")
        last = [epoch for epoch in epochs if epoch["epoch"] == "2"]
        assert len(last) == 2
        valid = np.mean(np.array([float(epoch["valid_loss"]) for epoch in last]))
        train = np.mean(np.array([float(epoch["train_loss"]) for epoch in last]))
        accuracy = np.mean(np.array([float(epoch["valid_accuracy"]) for epoch in last]))
        assert float(row["final_valid_loss"]) == valid  # bit for bit
        assert float(row["final_train_loss"]) == train
        assert float(row["valid_accuracy"]) == accuracy
        assert (row["status"], row["seeds"], row["diverged_seeds"]) == ("ok", "2", "0")
    manifest = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    assert manifest["problem"]["epochs"] == 2 and manifest["seeds"] == [1, 2]
    best = min(table, key=lambda row: float(row["final_valid_loss"]))
    assert manifest["optimizers"][0]["best"]["cell"] == int(best["cell"])
    assert {"sweep-loss.png", "sweep-best.png", "sweep.csv", "sweep.json"} <= set(manifest["files"])


def test_shards_merged_give_the_unsharded_table_and_resume_computes_only_what_is_missing(tmp_path):
    config = swept(tmp_path, {"optimizers.SGD.lr": LRS, "problem.epochs": [1, 2]})
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert invoke("sweep", config, "--out", whole, "-q").exit_code == 0
    for shard in ("1/2", "2/2"):
        result = invoke("sweep", config, "--out", parts, "--shard", shard, "-q")
        assert result.exit_code == 0, result.output
    merged = invoke("merge", parts, "-q")
    assert merged.exit_code == 0, merged.output
    assert (parts / "sweep.csv").read_bytes() == (whole / "sweep.csv").read_bytes()
    assert (whole / "sweep-heatmap.png").is_file()  # two swept keys
    assert [row["epochs"] for row in rows(whole / "sweep.csv")] == ["1", "2", "1", "2"]
    # Resume: a lost cell is the only one computed again.
    cells = sorted((whole / "cells").glob("*.json"))
    assert len(cells) == 4
    cells[0].unlink()
    again = invoke("sweep", config, "--out", whole, "--json", "-q")
    assert again.exit_code == 0, again.output
    session = json.loads(again.stdout)["session"]
    assert (session["computed"], session["reused"]) == (1, 3)
    assert (whole / "sweep.csv").read_bytes() == (parts / "sweep.csv").read_bytes()


def test_tune_picks_the_lowest_final_valid_loss_and_runs_it(tmp_path):
    config = write(tmp_path / "run.yaml", TINY)
    out = tmp_path / "tuned"
    result = invoke("tune", config, "--lrs", "0.01:1:3", "--out", out, "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["criterion"] == "final-valid-loss" and summary["starts"] == 2
    # 3 lrs x 2 seeds, each 2 epochs of ceil(160 train samples / 32) = 5 minibatch steps: one gradient per step.
    assert summary["budget"] == {"lrs": 3, "seeds": 2, "epochs": 2, "steps": 10, "optimizers": 1,
                                 "runs": {"per_optimizer": 6, "total": 6},
                                 "gradient_evaluations": {"per_optimizer": 60, "total": 60}}
    table = rows(out / "tune.csv")
    best = min(table, key=lambda row: float(row["value"]))
    assert best["chosen"] == "true"
    tuned = yaml.safe_load((out / "tuned.yaml").read_text())
    assert tuned["optimizers"][0]["lr"] == float(best["lr"]) == summary["optimizers"][0]["lr"]
    assert {"epochs.csv", "curves.csv", "manifest.json", "tune.png"} <= {path.name for path in out.iterdir()}
    assert json.loads((out / "manifest.json").read_text())["optimizers"][0]["label"] == "SGD"


def test_tune_refuses_starts_and_a_function_criterion_for_a_network(tmp_path):
    config = write(tmp_path / "run.yaml", TINY)
    result = invoke("tune", config, "--starts", "4", "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "--starts does not apply to a network config" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    result = invoke("tune", config, "--criterion", "distance", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "final-valid-loss" in result.stderr and len(result.stderr.splitlines()) == 1


def test_valid_accuracy_ranks_highest_first():
    def scored(accuracy: float) -> Score:
        return Score(starts=1, final_loss=1.0, distance=np.nan, auc=np.nan, converged_step=np.nan, diverged_starts=0,
                     diverged_step=-1, error=None, valid_accuracy=accuracy, network=True)

    assert rank([scored(0.5), scored(0.9), scored(np.nan)], "valid-accuracy") == [1, 0, 2]


@pytest.mark.parametrize(("key", "message"), [
    ("steps", "cannot be swept in a network config (problem:); sweep problem.epochs, problem.batch_size"),
    ("problem.valid", "cannot be swept; sweep problem.epochs"),
])
def test_keys_a_network_cannot_sweep_are_one_error(key, message):
    with pytest.raises(Exception) as raised:
        load_dict({**TINY, "sweep": {key: [1, 2]}})
    assert message in str(raised.value)


def test_the_example_sweep_config_runs(tmp_path):
    out = tmp_path / "moons"
    result = invoke("sweep", ROOT / "configs" / "moons_sweep.yaml", "--out", out, "-q",
                    "--set", "problem.epochs=2", "--set", "problem.data.n_samples=200", "--set", "seeds=[1]",
                    "--set", "sweep.optimizers.SGD.lr=[0.01,0.1]", "--set", "sweep.optimizers.Adam.lr=[0.001,0.01]")
    assert result.exit_code == 0, result.output
    table = rows(out / "sweep.csv")
    assert [row["label"] for row in table] == ["SGD", "SGD", "Adam", "Adam"]
    assert all(row["status"] == "ok" and row["final_valid_loss"] for row in table)
