"""``tune.csv``: one row per (optimizer, lr) tried by ``optviz tune``."""

from __future__ import annotations

from pathlib import Path

from ..results.tune import Tuning
from .csvfile import number_field, write_csv


def write_tune_csv(tuning: Tuning, path: Path) -> Path:
    """One row per (optimizer, lr); empty where a value does not exist (diverged, no minima).

    ``starts`` counts the rows scored (starts x noise seeds; a network's seeds), ``diverged_share``
    is ``diverged_starts / starts``."""
    rows = [[label, repr(float(lr)), tuning.criterion, number_field(score.value(tuning.criterion)),
             number_field(score.final_loss), number_field(score.distance), number_field(score.auc),
             number_field(score.steps_to_target), score.diverged_starts, score.starts,
             number_field(score.diverged_share), "true" if tuning.chosen[label] == lr else "false"]
            for label, found in tuning.scores.items() for lr, score in zip(tuning.lrs, found)]
    return write_csv(path, ["label", "lr", "criterion", "value", "final_loss", "distance_to_minimum", "auc",
                            "steps_to_target", "diverged_starts", "starts", "diverged_share", "chosen"], rows)
