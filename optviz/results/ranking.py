"""A ranking across a suite of problems: per (problem, optimizer), the criterion's median over the tuned
run's rows with a 95% bootstrap interval, and a rank that shares places it cannot tell apart.

The rows of a run are its starts under each noise seed (taken from the trajectory arrays, never
assumed to be the starts alone). Each row's value is the tuning criterion of that row alone,
computed by :func:`optviz.results.scores.score` as for a one-start run, so a diverged row counts as
+inf. Intervals and comparisons are :mod:`optviz.results.intervals`'s.

The rank of an optimizer on a problem is 1 plus the number of optimizers *surely* better than it:
with a lower median, and a paired 95% bootstrap interval of the difference of medians that lies
wholly below 0 (rows pair: every optimizer runs from the same starts under the same noise seeds).
So the best median ranks 1, and an optimizer whose paired interval with a better one includes 0
shares that one's rank; one that a single other optimizer surely beats ranks 2, whatever ties
with it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .intervals import bootstrap_interval, paired_difference
from .scores import CRITERION_TEXT, score
from .trajectory import RunResult


@dataclass(frozen=True)
class Standing:
    """One optimizer on one problem: its tuned lr, the criterion's median [low, high] over the rows, and its rank."""

    problem: str
    label: str
    lr: float | None  # the tuned lr; None where every lr diverged (the config's lr was kept)
    median: float  # +inf where half the rows or more diverged
    low: float
    high: float
    rank: int
    diverged_share: float  # the share of rows that diverged or failed
    rows: int  # starts x noise seeds


@dataclass(frozen=True)
class Ranking:
    """Every optimizer's standing on every problem, and the rule that made them comparable."""

    criterion: str
    problems: tuple[str, ...]
    labels: tuple[str, ...]
    standings: tuple[Standing, ...]
    steps: tuple[int, ...]  # per problem
    lrs: tuple[float, float, int]  # the tuning grid: FIRST, LAST, COUNT
    tune_starts: int  # random starts each lr was tried from

    def standing(self, problem: str, label: str) -> Standing:
        """The standing of ``label`` on ``problem``."""
        for standing in self.standings:
            if standing.problem == problem and standing.label == label:
                return standing
        raise KeyError(f"no standing for {label!r} on {problem!r}")

    def mean_rank(self, label: str) -> float:
        """``label``'s rank averaged over the problems."""
        return float(np.mean([standing.rank for standing in self.standings if standing.label == label]))

    def budget(self) -> str:
        """What every optimizer was given, in words: steps, the lr grid, the starts and rows."""
        low, high = min(self.steps), max(self.steps)
        steps = f"{low} steps" if low == high else f"{low}-{high} steps"
        rows = sorted({standing.rows for standing in self.standings})
        over = f"{rows[0]}" if len(rows) == 1 else f"{rows[0]}-{rows[-1]}"
        first, last, count = self.lrs
        return (f"{steps}; lr tuned per problem and optimizer: the best of {count} from {first:g} to {last:g} over "
                f"{self.tune_starts} random starts; median [95% interval] over {over} rows (starts x noise seeds)")

    def title(self) -> str:
        """The criterion and the budget, for a figure's title."""
        return f"Rank by {CRITERION_TEXT[self.criterion]} (1 = best)\n{self.budget()}"


def row_values(result: RunResult, label: str, criterion: str) -> np.ndarray:
    """The criterion of each row of ``label``'s trajectory on its own (+inf for a diverged or failed row).

    A row is one start under one noise seed; the count comes from the trajectory's arrays.
    """
    trajectory = result[label]
    values = []
    for row in range(trajectory.loss.shape[0]):
        alone = dataclasses.replace(
            trajectory, positions=trajectory.positions[row:row + 1], loss=trajectory.loss[row:row + 1],
            lr=trajectory.lr[row:row + 1], grad_norm=trajectory.grad_norm[row:row + 1],
            diverged_step=trajectory.diverged_step[row:row + 1],
            converged_step=None if trajectory.converged_step is None else trajectory.converged_step[row:row + 1])
        one = dataclasses.replace(result, starts=trajectory.positions[row:row + 1, 0], trajectories=[alone])
        values.append(score(one).value(criterion))
    return np.array(values, dtype=np.float64)


def ranks(values: dict[str, np.ndarray], *, seed: int = 0) -> dict[str, int]:
    """Each label's rank (lower values better): 1 plus the number of labels surely better (a lower median and a
    paired bootstrap interval of the difference wholly below 0), so labels not told apart share a rank.

    >>> ranks({"good": np.array([1.0, 1.1, 0.9, 1.0]), "bad": np.array([5.0, 5.2, 4.9, 5.1])})
    {'good': 1, 'bad': 2}
    """
    medians = {label: float(np.median(np.where(np.isnan(rows), np.inf, rows))) for label, rows in values.items()}
    found = {}
    for label, rows in values.items():
        better = 0
        for other, other_rows in values.items():
            if other != label and medians[other] < medians[label]:
                better += paired_difference(other_rows, rows, seed=seed)[1] < 0
        found[label] = 1 + better
    return found


def problem_standings(problem: str, result: RunResult, criterion: str,
                      lrs: dict[str, float | None]) -> list[Standing]:
    """The standings of every optimizer of the tuned run ``result`` on ``problem``, in the run's order."""
    values = {label: row_values(result, label, criterion) for label in result.labels}
    placed = ranks(values)
    standings = []
    for trajectory in result:
        median, low, high = bootstrap_interval(values[trajectory.label])
        broken = trajectory.diverged | ~np.isfinite(trajectory.final_loss)
        standings.append(Standing(problem=problem, label=trajectory.label, lr=lrs.get(trajectory.label),
                                  median=median, low=low, high=high, rank=placed[trajectory.label],
                                  diverged_share=float(broken.mean()), rows=int(len(broken))))
    return standings
