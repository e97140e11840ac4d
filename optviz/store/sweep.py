"""A sweep's table and manifest: ``sweep.csv`` (one row per cell) and ``sweep.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..load import Sweep
from ..load.resolved import config_hash
from ..results import finite_or_none
from ..results.sweep import SweepResult
from .csvfile import number_field, write_csv
from .rundir import replay_entry, versions


def columns(sweep: Sweep) -> list[str]:
    """The swept names, as sweep.csv's columns: each once, in the order the sweep block gives them."""
    return list(dict.fromkeys(axis.name for axis in sweep.axes))


NETWORK_COLUMNS = ("seeds", "status", "final_train_loss", "final_valid_loss", "valid_accuracy", "diverged_seeds",
                   "hash")


def write_sweep_csv(result: SweepResult, path: Path) -> Path:
    """One row per cell; a value is empty where it does not apply or does not exist."""
    swept = columns(result.sweep)
    if result.sweep.network:
        return _write_network_csv(result, swept, path)
    rows = []
    for item in result.outcomes:
        cell, numbers = item.cell, item.score
        values = {cell.names[key]: value for key, value in cell.values.items()}
        rows.append([cell.index, cell.label, *(_field(values[name]) if name in values else "" for name in swept),
                     numbers.starts, numbers.status, number_field(numbers.final_loss), number_field(numbers.distance),
                     _step(numbers.converged_step), number_field(numbers.auc), numbers.diverged_starts,
                     numbers.diverged_step if numbers.diverged_step >= 0 else "", cell.key])
    return write_csv(path, ["cell", "label", *swept, "starts", "status", "final_loss", "distance_to_minimum",
                            "converged_step", "auc", "diverged_starts", "diverged_step", "hash"], rows)


def _write_network_csv(result: SweepResult, swept: list[str], path: Path) -> Path:
    """A network sweep's table: the means over seeds that :func:`~optviz.results.scores.network_score` gives."""
    rows = []
    for item in result.outcomes:
        cell, numbers = item.cell, item.score
        values = {cell.names[key]: value for key, value in cell.values.items()}
        rows.append([cell.index, cell.label, *(_field(values[name]) if name in values else "" for name in swept),
                     numbers.starts, numbers.status, number_field(numbers.final_train_loss),
                     number_field(numbers.final_valid_loss), number_field(numbers.valid_accuracy),
                     numbers.diverged_starts, cell.key])
    return write_csv(path, ["cell", "label", *swept, *NETWORK_COLUMNS], rows)


def _field(value: Any) -> str:
    """A swept value exactly: repr of a float, true/false, JSON of a list or mapping."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _step(value: float) -> str:
    """A step: a whole number, or x.5 as the median of an even number of starts; empty for none."""
    if not np.isfinite(value):
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def sweep_manifest(result: SweepResult, files: list[str], session: dict[str, Any]) -> dict[str, Any]:
    """sweep.json: JSON-ready, with what varies between invocations under ``session``."""
    sweep = result.sweep
    optimizers = []
    for label in sweep.labels:
        outcomes = result.of(label)
        best = result.best(label)
        extra = {}
        if sweep.network:
            extra = {"final_train_loss": finite_or_none(best.score.final_train_loss),
                     "final_valid_loss": finite_or_none(best.score.final_valid_loss),
                     "valid_accuracy": finite_or_none(best.score.valid_accuracy)}
        optimizers.append({
            "label": label,
            "cells": len(outcomes),
            "starts": outcomes[0].score.starts,
            "noise_seeds": outcomes[0].score.noise_seeds,
            "over": outcomes[0].score.over,
            "diverged_cells": sum(outcome.score.status == "diverged" for outcome in outcomes),
            "partly_diverged_cells": sum(outcome.score.status == "partly diverged" for outcome in outcomes),
            "failed_cells": sum(outcome.score.status == "failed" for outcome in outcomes),
            "best": {"cell": best.cell.index,
                     "values": {best.cell.names[key]: value for key, value in best.cell.values.items()},
                     "describe": best.cell.describe(), "status": best.score.status,
                     "final_loss": finite_or_none(best.score.final_loss),
                     "distance_to_minimum": finite_or_none(best.score.distance),
                     "converged_step": finite_or_none(best.score.converged_step), **extra, "hash": best.cell.key},
        })
    return {
        "versions": versions(),
        "config_hash": config_hash(sweep.config),
        **replay_entry(sweep.config),
        **({"problem": sweep.config.problem.model_dump(mode="json", exclude_none=True), "seeds": sweep.config.run_seeds}
           if sweep.network else {"function": sweep.function.name}),
        "cells": len(sweep.cells),
        "axes": [{"key": axis.key, "name": axis.name, "spacing": axis.spacing, "values": list(axis.values)}
                 for axis in sweep.axes],
        "optimizers": optimizers,
        "files": sorted(files),
        "session": session,
    }
