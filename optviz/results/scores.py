"""What a run scored, and the criteria that rank a sweep's cells and ``optviz tune``'s lrs.

Each number is taken over the run's starts: one start gives its own value, several
give the median, where a start that diverged (or whose optimizer failed) counts as
the worst possible value, +inf. A cell where half its starts or more diverged thus
scores +inf (an empty field in ``sweep.csv``), and an lr that is fast from most
starts but blows up from some is not the one chosen.

The criteria (``optviz tune --criterion``):

- ``median-final-loss`` (the default): f at the last step.
- ``distance``: the distance from the last point to the nearest known minimum
  (needs a function with known minima).
- ``auc``: the area under the loss curve divided by the number of steps, i.e. the
  mean of f over the run; it rewards getting low early, not only ending low.

Lower is better for all three. Ties, such as several lrs all reaching exactly 0,
go to the lower ``auc``, then to the earlier cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .trajectory import RunResult

CRITERIA = {"median-final-loss": "final_loss", "distance": "distance", "auc": "auc"}
CRITERION_TEXT = {"median-final-loss": "median final loss", "distance": "median distance to the nearest minimum",
                  "auc": "median area under the loss curve per step"}


@dataclass(frozen=True)
class Score:
    """A run's numbers over its starts (medians, a diverged start counting as +inf)."""

    starts: int
    final_loss: float
    distance: float  # NaN when the function has no known minimum
    auc: float
    converged_step: float  # the step from which it stayed within tolerance; +inf if not; NaN without minima
    diverged_starts: int
    diverged_step: int  # the first step at which a start diverged; -1 if none did
    error: str | None  # why the optimizer stopped, if it raised

    @property
    def status(self) -> str:
        if self.error:
            return "failed"
        if self.diverged_starts:
            return "diverged" if self.diverged_starts == self.starts else "partly diverged"
        return "ok"

    def value(self, criterion: str) -> float:
        """The criterion's value; +inf where it does not exist, so it ranks last."""
        value = getattr(self, CRITERIA[criterion])
        return value if np.isfinite(value) else np.inf


def score(result: RunResult) -> Score:
    """The :class:`Score` of a one-optimizer :class:`~optviz.results.RunResult` (a sweep's cell)."""
    trajectory = result.trajectories[0]
    # A failed start stops with NaN records, like a diverged one: both reached nothing.
    broken = trajectory.diverged | ~np.isfinite(trajectory.final_loss)
    _, distance = result.function.nearest_minimum(trajectory.final_position)
    steps = trajectory.steps.astype(np.float64)
    loss = trajectory.loss.astype(np.float64)
    with np.errstate(all="ignore"):
        area = ((loss[:, 1:] + loss[:, :-1]) / 2 * np.diff(steps)).sum(axis=1) / steps[-1]
    converged = np.nan
    if trajectory.converged_step is not None:
        converged = _median(np.where(trajectory.converged_step >= 0, trajectory.converged_step, np.inf), broken)
    diverged = trajectory.diverged_step[trajectory.diverged_step >= 0]
    return Score(
        starts=len(broken),
        final_loss=_median(trajectory.final_loss, broken),
        distance=_median(distance, broken) if result.function.minima else np.nan,
        auc=_median(area, broken),
        converged_step=converged,
        diverged_starts=int(trajectory.diverged.sum()),
        diverged_step=int(diverged.min()) if diverged.size else -1,
        error=trajectory.error,
    )


def rank(scores: list[Score], criterion: str = "median-final-loss") -> list[int]:
    """Indices of ``scores``, best first by ``criterion``; ties go to the lower auc, then the lower index."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; valid: {', '.join(CRITERIA)}")
    return sorted(range(len(scores)), key=lambda index: (scores[index].value(criterion), scores[index].value("auc"),
                                                          index))


def _median(values: np.ndarray, broken: np.ndarray) -> float:
    return float(np.median(np.where(broken, np.inf, np.asarray(values, dtype=np.float64))))
