"""What a sweep produced: each cell's outcome, and every cell's run on request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..load.sweep import Cell, Sweep
from .network import NetworkResult
from .scores import Score, default_criterion, rank
from .trajectory import RunResult


@dataclass(frozen=True)
class Outcome:
    """What the table and figures need of a finished cell."""

    cell: Cell
    score: Score
    steps: np.ndarray  # recorded steps; for a network, the epochs 1 .. E
    curve: np.ndarray  # the loss at each recorded step: the start's own, or the median over starts that are finite;
    # for a network, the valid loss after each epoch, the mean over the seeds where it is finite


@dataclass
class SweepResult:
    """A finished sweep: every cell's outcome, and each cell's whole run on request."""

    sweep: Sweep
    outcomes: list[Outcome]  # in cell order
    load: Callable[[Cell], RunResult | NetworkResult]

    def of(self, label: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.cell.label == label]

    def best(self, label: str, criterion: str | None = None) -> Outcome:
        """The optimizer's best cell by ``criterion`` (see :mod:`optviz.results.scores`); by default the
        lowest final loss, or for a network the lowest final valid loss."""
        criterion = criterion or default_criterion(self.sweep.network)
        outcomes = self.of(label)
        return outcomes[rank([outcome.score for outcome in outcomes], criterion)[0]]


    def _repr_html_(self) -> str:
        """One row per optimizer, as Jupyter shows it: its cells, how many diverged, and its best cell."""
        from .html import count, table

        rows = []
        for label in self.sweep.labels:
            outcomes = self.of(label)
            best = self.best(label)
            rows.append([label, len(outcomes), count(sum(outcome.score.status == "diverged" for outcome in outcomes),
                                                     len(outcomes)),
                         best.cell.describe(), describe(best.score)])
        return table(f"sweep over {self.sweep.subject}: {len(self.sweep.cells)} cells", ["optimizer", "cells",
                     "diverged cells", "best cell", "its outcome"], rows)


def describe(score: Score) -> str:
    """The outcome of a cell in words."""
    if score.error:
        return f"failed: {score.error}"
    if score.network:
        seeds = f"{score.starts} seed{'s' if score.starts != 1 else ''}"
        if score.diverged_starts:
            return f"{score.diverged_starts} of {seeds} diverged (first at iteration {score.diverged_step})"
        text = f"final valid loss {score.final_valid_loss:.4g}"
        if np.isfinite(score.valid_accuracy):
            text += f", valid accuracy {score.valid_accuracy:.4g}"
        return text + (f" (mean over {seeds})" if score.starts > 1 else "")
    if score.starts == 1:
        if score.diverged_starts:
            return f"diverged at step {score.diverged_step}"
        text = f"final loss {score.final_loss:.4g}"
        return text + (f", converged at step {score.converged_step:.0f}" if np.isfinite(score.converged_step) else "")
    loss = f"{score.final_loss:.4g}" if np.isfinite(score.final_loss) else "-"
    text = f"median final loss {loss} over {score.over}"
    return text + (f", {score.diverged_starts} diverged (first at step {score.diverged_step})"
                   if score.diverged_starts else "")
