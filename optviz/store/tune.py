"""``tune.csv``: one row per (optimizer, lr) tried by ``optviz tune``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..results.tune import Tuning


def write_tune_csv(tuning: Tuning, path: Path) -> Path:
    """One row per (optimizer, lr); empty where a value does not exist (diverged, no minima)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["label", "lr", "criterion", "value", "final_loss", "distance_to_minimum", "auc",
                     "diverged_starts", "starts", "chosen"])
    for label, found in tuning.scores.items():
        for lr, score in zip(tuning.lrs, found):
            writer.writerow([label, repr(float(lr)), tuning.criterion, _number(score.value(tuning.criterion)),
                             _number(score.final_loss), _number(score.distance), _number(score.auc),
                             score.diverged_starts, score.starts, "true" if tuning.chosen[label] == lr else "false"])
    with atomic_path(path) as temporary:
        temporary.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _number(value: float) -> str:
    return repr(float(value)) if np.isfinite(value) else ""
