"""What a run scored, and the criteria that rank a sweep's cells and ``optviz tune``'s lrs.

Each number is taken over the run's rows (every start, under every noise seed when the
config has ``noise.seeds``): one row gives its own value, several give the median,
where a row that diverged (or whose optimizer failed) counts as the worst possible
value, +inf. A cell where half its rows or more diverged thus scores +inf (an empty
field in ``sweep.csv``), and an lr that is fast from most starts but blows up from
some is not the one chosen. A :class:`Score` keeps each row's value too
(:meth:`Score.row_values`), for the paired bootstrap of :mod:`optviz.results.intervals`.

The criteria (``optviz tune --criterion``):

- ``median-final-loss`` (the default): f at the last step.
- ``distance``: the distance from the last point to the nearest known minimum
  (needs a function with known minima).
- ``auc``: the area under the loss curve divided by the number of steps, i.e. the
  mean of f over the run; it rewards getting low early, not only ending low.
- ``steps-to-target``: the first recorded step at which f is within a tolerance of
  the function's known minimum value f* (f <= f* + tolerance; ``--target-tolerance``,
  default :data:`DEFAULT_TARGET_TOLERANCE`); a row that never gets there counts as
  +inf, like a diverged one (needs a function with known minima). With
  ``record.every`` above 1 it is counted in recorded steps.

Lower is better for all four. Ties, such as several lrs all reaching exactly 0,
go to the lower ``auc``, then to the earlier cell.

A network config (``problem:``) is scored over its seeds instead, by the mean over
seeds of the last epoch's value, a seed that diverged or failed counting as worst
(+inf for a loss, 0 for an accuracy):

- ``final-valid-loss`` (the default for networks): the valid loss after the last epoch.
- ``final-train-loss``: the train loss (a full pass in eval mode) after the last epoch.
- ``valid-accuracy``: the valid accuracy after the last epoch (classification only);
  higher is better, and the cells rank so.

Ties go to the earlier cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .network import NetworkResult
from .trajectory import RunResult

CRITERIA = {"median-final-loss": "final_loss", "distance": "distance", "auc": "auc",
            "steps-to-target": "steps_to_target",
            "final-valid-loss": "final_valid_loss", "final-train-loss": "final_train_loss",
            "valid-accuracy": "valid_accuracy"}
CRITERION_TEXT = {"median-final-loss": "median final loss", "distance": "median distance to the nearest minimum",
                  "auc": "median area under the loss curve per step",
                  "steps-to-target": "median steps to reach f* + tolerance",
                  "final-valid-loss": "mean final valid loss", "final-train-loss": "mean final train loss",
                  "valid-accuracy": "mean final valid accuracy"}
FUNCTION_CRITERIA = ("median-final-loss", "distance", "auc", "steps-to-target")
NETWORK_CRITERIA = ("final-valid-loss", "final-train-loss", "valid-accuracy")
HIGHER_IS_BETTER = frozenset({"valid-accuracy"})
# f within this of the known minimum value counts as reached, for ``steps-to-target``: small
# next to the values of the registered functions near their minima, large next to float error.
DEFAULT_TARGET_TOLERANCE = 1e-3


def default_criterion(network: bool) -> str:
    """The criterion a sweep or tune ranks by unless told: the final loss, or for a network the final valid loss."""
    return "final-valid-loss" if network else "median-final-loss"


@dataclass(frozen=True)
class Score:
    """A run's numbers over its rows (medians, a diverged row counting as +inf), and each row's own."""

    starts: int  # rows: starts x noise seeds; for a network, its seeds
    final_loss: float
    distance: float  # NaN when the function has no known minimum
    auc: float
    converged_step: float  # the step from which it stayed within tolerance; +inf if not; NaN without minima
    diverged_starts: int
    diverged_step: int  # the first step at which a start diverged; -1 if none did
    error: str | None  # why the optimizer stopped, if it raised
    # A network cell's numbers (means over seeds; see the module's text); NaN for a function's.
    final_train_loss: float = np.nan
    final_valid_loss: float = np.nan
    valid_accuracy: float = np.nan
    network: bool = False  # ``starts`` counts seeds, ``final_loss`` is ``final_valid_loss``
    steps_to_target: float = np.nan  # NaN without minima, and for a network
    # Each row's value by attribute (``final_loss``, ...), a broken row worst: what the medians are of.
    rows: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    noise_seeds: int = 1  # the noise seeds each start ran under (``starts`` counts starts x noise seeds)

    @property
    def over(self) -> str:
        """What the numbers are taken over: ``8 starts``, or ``2 starts x 4 noise seeds``."""
        if self.noise_seeds == 1:
            return f"{self.starts} start{'s' if self.starts != 1 else ''}"
        starts = self.starts // self.noise_seeds
        return f"{starts} start{'s' if starts != 1 else ''} x {self.noise_seeds} noise seeds"

    @property
    def status(self) -> str:
        if self.error:
            return "failed"
        if self.diverged_starts:
            return "diverged" if self.diverged_starts == self.starts else "partly diverged"
        return "ok"

    def value(self, criterion: str) -> float:
        """The criterion's value; where it does not exist, +inf (-inf where higher is better), so it ranks last."""
        value = getattr(self, CRITERIA[criterion])
        if np.isfinite(value):
            return value
        return -np.inf if criterion in HIGHER_IS_BETTER else np.inf

    def row_values(self, criterion: str) -> np.ndarray:
        """The criterion's value for each row (start under a noise seed, or network seed), a diverged or
        failed row counting as worst: +inf, or for ``valid-accuracy`` 0. NaN where it does not exist."""
        found = self.rows.get(CRITERIA[criterion])
        return np.full(self.starts, np.nan) if found is None else found.copy()

    @property
    def diverged_share(self) -> float:
        """The share of rows that diverged, 0 to 1."""
        return self.diverged_starts / self.starts if self.starts else 0.0


def score(result: RunResult, *, target_tolerance: float = DEFAULT_TARGET_TOLERANCE) -> Score:
    """The :class:`Score` of a one-optimizer :class:`~optviz.results.RunResult` (a sweep's cell);
    ``target_tolerance`` is ``steps-to-target``'s (see the module's text)."""
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
    rows = {"final_loss": _worst(trajectory.final_loss, broken), "auc": _worst(area, broken)}
    if result.function.minima:
        rows["distance"] = _worst(distance, broken)
        rows["steps_to_target"] = _worst(_steps_to(loss, steps, result.function.min_value + target_tolerance), broken)
    return Score(
        starts=len(broken),
        final_loss=_median_of(rows["final_loss"]),
        distance=_median_of(rows["distance"]) if "distance" in rows else np.nan,
        auc=_median_of(rows["auc"]),
        converged_step=converged,
        diverged_starts=int(trajectory.diverged.sum()),
        diverged_step=int(diverged.min()) if diverged.size else -1,
        error=trajectory.error,
        steps_to_target=_median_of(rows["steps_to_target"]) if "steps_to_target" in rows else np.nan,
        rows=rows,
        noise_seeds=max(1, len(result.noise_seeds)),
    )


def _steps_to(loss: np.ndarray, steps: np.ndarray, target: float) -> np.ndarray:
    """Per row, the first recorded step with loss <= ``target``; +inf where there is none."""
    with np.errstate(invalid="ignore"):
        reached = loss <= target
    return np.where(reached.any(axis=1), steps[reached.argmax(axis=1)], np.inf)


def network_score(result: NetworkResult) -> Score:
    """The :class:`Score` of a one-optimizer :class:`~optviz.results.network.NetworkResult` (a network sweep's cell):
    means over its seeds of the last epoch's values, a diverged or failed seed counting as worst."""
    runs = result.runs
    broken = np.array([run.diverged or run.error is not None or not len(run.epoch_valid_loss)
                       or not np.isfinite(run.epoch_valid_loss[-1]) for run in runs])

    rows: dict[str, np.ndarray] = {}

    def mean_last(name: str, values: list[np.ndarray | None], worst: float) -> float:
        last = np.array([np.nan if found is None or not len(found) else float(found[-1]) for found in values])
        rows[name] = np.where(broken, worst, last)
        if np.isnan(last[~broken]).any():
            return np.nan
        with np.errstate(all="ignore"):
            return float(np.mean(rows[name]))

    valid = mean_last("final_valid_loss", [run.epoch_valid_loss for run in runs], np.inf)
    accuracy = (mean_last("valid_accuracy", [run.epoch_valid_accuracy for run in runs], 0.0)
                if result.task == "classification" else np.nan)
    train_loss = mean_last("final_train_loss", [run.epoch_train_loss for run in runs], np.inf)
    rows["final_loss"] = rows["final_valid_loss"]
    diverged = [run.diverged_iteration for run in runs if run.diverged]
    return Score(
        starts=len(runs), final_loss=valid, distance=np.nan, auc=np.nan, converged_step=np.nan,
        diverged_starts=len(diverged), diverged_step=min(diverged) if diverged else -1,
        error=next((run.error for run in runs if run.error), None),
        final_train_loss=train_loss, final_valid_loss=valid, valid_accuracy=accuracy, network=True, rows=rows,
    )


def rank(scores: list[Score], criterion: str = "median-final-loss") -> list[int]:
    """Indices of ``scores``, best first by ``criterion`` (highest first where higher is better); ties go
    to the lower auc, then the lower index."""
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; valid: {', '.join(CRITERIA)}")
    sign = -1.0 if criterion in HIGHER_IS_BETTER else 1.0
    return sorted(range(len(scores)), key=lambda index: (sign * scores[index].value(criterion),
                                                          scores[index].value("auc"), index))


def _worst(values: np.ndarray, broken: np.ndarray) -> np.ndarray:
    """``values`` as floats, +inf at the broken rows."""
    return np.where(broken, np.inf, np.asarray(values, dtype=np.float64))


def _median_of(values: np.ndarray) -> float:
    return float(np.median(values))


def _median(values: np.ndarray, broken: np.ndarray) -> float:
    return _median_of(_worst(values, broken))
