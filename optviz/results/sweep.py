"""What a sweep produced: each cell's outcome, and every cell's run on request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..load.sweep import Cell, Sweep
from .scores import Score, rank
from .trajectory import RunResult


@dataclass(frozen=True)
class Outcome:
    """What the table and figures need of a finished cell."""

    cell: Cell
    score: Score
    steps: np.ndarray  # recorded steps
    curve: np.ndarray  # the loss at each recorded step: the start's own, or the median over starts that are finite


@dataclass
class SweepResult:
    """A finished sweep: every cell's outcome, and each cell's whole run on request."""

    sweep: Sweep
    outcomes: list[Outcome]  # in cell order
    load: Callable[[Cell], RunResult]

    def of(self, label: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.cell.label == label]

    def best(self, label: str, criterion: str = "median-final-loss") -> Outcome:
        """The optimizer's best cell: lowest ``criterion`` (see :mod:`optviz.results.scores`)."""
        outcomes = self.of(label)
        return outcomes[rank([outcome.score for outcome in outcomes], criterion)[0]]


def describe(score: Score) -> str:
    """The outcome of a cell in words."""
    if score.error:
        return f"failed: {score.error}"
    if score.starts == 1:
        if score.diverged_starts:
            return f"diverged at step {score.diverged_step}"
        text = f"final loss {score.final_loss:.4g}"
        return text + (f", converged at step {score.converged_step:.0f}" if np.isfinite(score.converged_step) else "")
    loss = f"{score.final_loss:.4g}" if np.isfinite(score.final_loss) else "-"
    text = f"median final loss {loss} over {score.starts} starts"
    return text + (f", {score.diverged_starts} diverged (first at step {score.diverged_step})"
                   if score.diverged_starts else "")
