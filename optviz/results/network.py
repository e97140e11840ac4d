"""What a network run produced: per (optimizer, seed), the loss at every iteration and at every epoch.

A network problem (``problem:`` in the config) trains a model on data; its records are
curves over iterations and epochs rather than paths over a function. One
:class:`TrainingRun` per (optimizer, seed); a :class:`NetworkResult` holds them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from ..config import Config


@dataclass
class TrainingRun:
    """One optimizer trained from one seed's initial weights on that seed's data order.

    Iteration arrays are indexed by iteration (one minibatch step each, in order); epoch
    arrays by epoch (1 .. epochs). ``train_loss[i]`` is the minibatch loss at iteration i,
    before its step; ``lr[i]`` the lr of that step (first param group); ``grad_norm[i]`` and
    ``update_norm[i]`` the norms over all parameters of the gradient and of the step taken.
    """

    label: str
    optimizer: str
    seed: int
    epoch: np.ndarray  # (iterations,): the epoch (from 1) each iteration belongs to
    train_loss: np.ndarray  # (iterations,)
    lr: np.ndarray  # (iterations,)
    grad_norm: np.ndarray  # (iterations,)
    update_norm: np.ndarray  # (iterations,)
    epoch_train_loss: np.ndarray  # (epochs,): a full pass over the training split in eval mode, after the epoch
    epoch_valid_loss: np.ndarray  # (epochs,): the same over the validation split
    epoch_train_accuracy: np.ndarray | None = None  # (epochs,), classification only
    epoch_valid_accuracy: np.ndarray | None = None
    diverged_iteration: int = -1  # the first iteration whose loss was NaN or infinite; -1 if none
    error: str | None = None  # why training stopped early, if the optimizer or model raised
    # Flattened parameters (in the order of model.parameters()) at the recorded iterations,
    # when they fit the memory budget; None otherwise.
    parameters: np.ndarray | None = None  # (records, n_parameters)
    recorded: np.ndarray | None = None  # (records,): the iteration each row was taken before (0 = initial)
    seconds: float = 0.0  # wall time of this run's training

    @property
    def diverged(self) -> bool:
        return self.diverged_iteration >= 0

    @property
    def iterations(self) -> int:
        return len(self.train_loss)


@dataclass
class NetworkResult:
    """Every (optimizer, seed) run of a network config, in config order, seeds inner."""

    config: Config
    task: str  # "classification" or "regression"
    classes: int | None  # number of classes, for classification
    parameters: int  # number of trainable parameters of the model
    runs: list[TrainingRun] = field(default_factory=list)

    def __iter__(self) -> Iterator[TrainingRun]:
        return iter(self.runs)

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(run.label for run in self.runs))

    @property
    def seeds(self) -> list[int]:
        return list(dict.fromkeys(run.seed for run in self.runs))

    def of(self, label: str) -> list[TrainingRun]:
        """The runs of the optimizer labelled ``label``, one per seed."""
        return [run for run in self.runs if run.label == label]

    def _repr_html_(self) -> str:
        """One row per optimizer, as Jupyter shows it: its status over the seeds and its final losses and
        valid accuracy, means over the seeds that neither diverged nor failed."""
        from .html import MISSING, count, number, table

        header = ["optimizer", "status", "final train loss", "final valid loss", "valid accuracy", "diverged"]
        rows = []
        for label in self.labels:
            runs = self.of(label)
            ok = [run for run in runs if not run.diverged and not run.error]
            status = ("failed" if any(run.error for run in runs) else "ok" if len(ok) == len(runs) else
                      "diverged" if not ok else "partly diverged")

            def mean(values: list[float]) -> str:
                return number(np.mean(values)) if values else MISSING

            accuracy = [float(run.epoch_valid_accuracy[-1]) for run in ok if run.epoch_valid_accuracy is not None
                        and len(run.epoch_valid_accuracy)]
            rows.append([label, status, mean([float(run.epoch_train_loss[-1]) for run in ok if len(run.epoch_train_loss)]),
                         mean([float(run.epoch_valid_loss[-1]) for run in ok if len(run.epoch_valid_loss)]),
                         mean(accuracy), count(sum(run.diverged for run in runs), len(runs))])
        seeds = len(self.seeds)
        data = self.config.problem.data
        name = data.get("name", "data") if isinstance(data, dict) else data
        return table(f"{name}: {self.task}, {self.parameters:,} parameters, means over {seeds} "
                     f"seed{'s' if seeds != 1 else ''}", header, rows)

    def __getitem__(self, key: tuple[str, int]) -> TrainingRun:
        label, seed = key
        for run in self.runs:
            if run.label == label and run.seed == seed:
                return run
        raise KeyError(f"no run labelled {label!r} with seed {seed}; labels: {', '.join(self.labels)}, "
                       f"seeds: {', '.join(map(str, self.seeds))}")
