"""A network run's folder: curves.csv, epochs.csv, the replay files and trajectories.npz.

``init-seed<S>.pt`` (the initial state_dict) and ``data-seed<S>.npz`` (the arrays as fed)
are what a plain loop needs to replay a run; see :mod:`optviz.training` for the loop.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_bytes, write_text
from ..config import Config
from ..errors import RunError
from ..load.resolved import config_hash, config_yaml
from ..problems.data import Dataset
from ..results.network import NetworkResult, TrainingRun
from .csvfile import finite_fields, write_csv
from .npz import read_npz, write_npz
from .rundir import replay_entry, versions

CURVES_HEADER = ("label", "seed", "epoch", "iteration", "train_loss", "lr", "grad_norm", "update_norm")
EPOCHS_HEADER = ("label", "seed", "epoch", "train_loss", "valid_loss")
ACCURACY_HEADER = ("train_accuracy", "valid_accuracy")


def write_replay_files(out_dir: Path, seed: int, state: dict[str, Any], dataset: Dataset) -> list[str]:
    """``init-seed<S>.pt`` and ``data-seed<S>.npz``: a seed's initial weights and its arrays exactly as fed."""
    import torch

    buffer = io.BytesIO()
    torch.save({name: tensor.detach().cpu() for name, tensor in state.items()}, buffer)
    init, data = f"init-seed{seed}.pt", f"data-seed{seed}.npz"
    write_bytes(out_dir / init, buffer.getvalue())
    write_npz(out_dir / data, {"x_train": dataset.x_train, "y_train": dataset.y_train, "x_valid": dataset.x_valid,
                               "y_valid": dataset.y_valid})
    return [init, data]


def write_network_data(result: NetworkResult, out_dir: Path) -> list[str]:
    """curves.csv, epochs.csv, config.yaml and (when recorded) trajectories.npz; returns the file names."""
    files = [write_curves(result, out_dir / "curves.csv").name, write_epochs(result, out_dir / "epochs.csv").name]
    write_text(out_dir / "config.yaml", config_yaml(result.config))
    files.append("config.yaml")
    recorded = [run for run in result if run.parameters is not None]
    if recorded:
        arrays: dict[str, np.ndarray] = {
            "labels": np.array([run.label for run in recorded]), "seeds": np.array([run.seed for run in recorded])}
        for index, run in enumerate(recorded):
            arrays[f"parameters_{index}"] = run.parameters
            arrays[f"iterations_{index}"] = run.recorded
        write_npz(out_dir / "trajectories.npz", arrays)
        files.append("trajectories.npz")
    return files


def write_curves(result: NetworkResult, path: Path) -> Path:
    """One row per (optimizer, seed, iteration); empty fields where a value is NaN."""
    rows = []
    for run in result:
        count = run.iterations
        columns = [[run.label] * count, [run.seed] * count, run.epoch.tolist(), list(range(count)),
                   finite_fields(run.train_loss), finite_fields(run.lr), finite_fields(run.grad_norm),
                   finite_fields(run.update_norm)]
        rows.extend(zip(*columns))
    return write_csv(path, CURVES_HEADER, rows)


def write_epochs(result: NetworkResult, path: Path) -> Path:
    """One row per (optimizer, seed, epoch); accuracies for classification."""
    classification = result.task == "classification"
    rows = []
    for run in result:
        epochs = len(run.epoch_train_loss)
        columns = [[run.label] * epochs, [run.seed] * epochs, list(range(1, epochs + 1)),
                   finite_fields(run.epoch_train_loss), finite_fields(run.epoch_valid_loss)]
        if classification:
            columns += [finite_fields(run.epoch_train_accuracy), finite_fields(run.epoch_valid_accuracy)]
        rows.extend(zip(*columns))
    return write_csv(path, EPOCHS_HEADER + (ACCURACY_HEADER if classification else ()), rows)


def run_summary(run: TrainingRun) -> dict[str, Any]:
    """One (optimizer, seed) run in the manifest: its status and final values."""
    def last(values: np.ndarray | None) -> float | None:
        if values is None or not np.isfinite(values).any():
            return None
        return float(values[np.isfinite(values)][-1])

    status = "failed" if run.error else "diverged" if run.diverged else "ok"
    entry = {"label": run.label, "optimizer": run.optimizer, "seed": run.seed, "status": status,
             "iterations": run.iterations, "final_train_loss": last(run.epoch_train_loss),
             "final_valid_loss": last(run.epoch_valid_loss), "final_valid_accuracy": last(run.epoch_valid_accuracy),
             "seconds": round(run.seconds, 4)}
    if run.diverged:
        entry["diverged_iteration"] = run.diverged_iteration
    if run.error:
        entry["error"] = run.error
    return entry


def optimizer_summary(result: NetworkResult, label: str) -> dict[str, Any]:
    """Mean and spread (standard deviation) over seeds of the final losses and valid accuracy."""
    runs = [run_summary(run) for run in result.of(label)]
    entry: dict[str, Any] = {"label": label, "seeds": len(runs),
                             "status": "ok" if all(run["status"] == "ok" for run in runs) else
                             "failed" if any(run["status"] == "failed" for run in runs) else "diverged",
                             "diverged_seeds": [run["seed"] for run in runs if run["status"] == "diverged"]}
    for key in ("final_train_loss", "final_valid_loss", "final_valid_accuracy"):
        values = [run[key] for run in runs if run[key] is not None and run["status"] == "ok"]
        entry[key] = {"mean": float(np.mean(values)) if values else None,
                      "std": float(np.std(values)) if values else None}
    return entry


def network_manifest(result: NetworkResult, *, files: list[str], timing: dict[str, Any],
                     record_every: int, warnings: list[str] | None = None) -> dict[str, Any]:
    """The network run's summary as JSON-ready data."""
    config = result.config
    return {
        "versions": {**versions(), "scikit-learn": _sklearn_version()},
        "config_hash": config_hash(config),
        **replay_entry(config),
        "problem": config.problem.model_dump(mode="json", exclude_none=True),
        "task": result.task,
        "classes": result.classes,
        "parameters": result.parameters,
        "seeds": result.seeds,
        "device": config.device,
        "record_every": record_every,
        "optimizers": [optimizer_summary(result, label) for label in result.labels],
        "runs": [run_summary(run) for run in result],
        "diverged": [label for label in result.labels if any(run.diverged for run in result.of(label))],
        "failed": [label for label in result.labels if any(run.error for run in result.of(label))],
        "warnings": list(warnings or []),
        "files": sorted([*files, "manifest.json"]),
        "timing": timing,
    }


def write_network_manifest(out_dir: Path, data: dict[str, Any]) -> dict[str, Any]:
    write_text(out_dir / "manifest.json", json.dumps(data, indent=2) + "\n")
    return data


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


# A network sweep's cell (optviz.store.cells): every run's curves and epochs, exactly, without the
# parameter vectors; what is not an array goes into the cell's json under "network".
CELL_ARRAYS = ("epoch", "train_loss", "lr", "grad_norm", "update_norm", "epoch_train_loss", "epoch_valid_loss",
               "epoch_train_accuracy", "epoch_valid_accuracy")


def write_network_cell(result: NetworkResult, path: Path) -> dict[str, Any]:
    """Write ``result``'s runs to the npz ``path``; returns what the cell's json keeps of it."""
    arrays: dict[str, np.ndarray] = {}
    for index, run in enumerate(result):
        for name in CELL_ARRAYS:
            value = getattr(run, name)
            if value is not None:
                arrays[f"{name}_{index}"] = value
    write_npz(path, arrays)
    return {"task": result.task, "classes": result.classes, "parameters": result.parameters,
            "runs": [{"label": run.label, "optimizer": run.optimizer, "seed": run.seed,
                      "diverged_iteration": run.diverged_iteration, "error": run.error, "seconds": run.seconds}
                     for run in result]}


def read_network_cell(path: Path, info: dict[str, Any], config: Config) -> NetworkResult:
    """The :class:`NetworkResult` of ``config`` stored by :func:`write_network_cell`; a :class:`RunError` if damaged."""
    arrays = read_npz(path)
    try:
        result = NetworkResult(config=config, task=str(info["task"]), classes=info["classes"],
                               parameters=int(info["parameters"]))
        for index, run in enumerate(info["runs"]):
            values = {name: arrays.get(f"{name}_{index}") for name in CELL_ARRAYS}
            missing = [name for name in CELL_ARRAYS[:7] if values[name] is None]
            if missing:
                raise RunError(f"{path}: lacks {', '.join(f'{name}_{index}' for name in missing)}")
            result.runs.append(TrainingRun(label=str(run["label"]), optimizer=str(run["optimizer"]),
                                           seed=int(run["seed"]), diverged_iteration=int(run["diverged_iteration"]),
                                           error=run["error"], seconds=float(run["seconds"]), **values))
    except (KeyError, TypeError, ValueError) as error:
        raise RunError(f"{path}: not a network cell ({type(error).__name__}: {error})") from None
    return result
