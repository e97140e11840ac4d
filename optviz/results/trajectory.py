"""What a run produced: each optimizer's :class:`Trajectory`, and the :class:`RunResult` of them all.

Writers and renderers take these and nothing else: a result carries its config, its
resolved function and the box its figures show, so no figure recomputes them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from ..config import Config
from ..problems import TestFunction
from .internals import Internals


@dataclass
class Trajectory:
    """One optimizer's record over every start.

    Arrays are indexed ``[start, record]``; ``steps[record]`` is the optimizer
    step each record was taken at (all steps unless thinned). ``lr`` is often the
    same for every start; it is then one row broadcast (read-only) to that shape.
    """

    label: str
    optimizer: str
    positions: np.ndarray  # (starts, records, dim)
    loss: np.ndarray  # (starts, records)
    lr: np.ndarray  # (starts, records)
    grad_norm: np.ndarray  # (starts, records)
    steps: np.ndarray  # (records,)
    diverged_step: np.ndarray  # (starts,), -1 where every value stayed finite
    # (starts,): the step from which the start stayed within the run's tolerance of a known
    # minimum to the end, -1 where it did not end there; None when no minimum is known.
    converged_step: np.ndarray | None = None
    error: str | None = None  # why the run stopped early, if the optimizer raised
    clip_grad_norm: float | None = None  # the norm its gradients were clipped to, if the config asked
    # With param groups (config: param_groups), the lr of each group, (starts, groups, records), and the
    # groups' names (a test function's: their axes, "x" or "x, y"); ``lr`` is then the first group's.
    group_lr: np.ndarray | None = None
    group_names: list[str] | None = None
    # What continuing the run takes (optviz run --resume): {"segments": [...]}, each segment a range of
    # rows with its positions and its optimizer's and scheduler's state_dict (see optviz.engine).
    final_state: dict[str, Any] | None = None
    # The optimizer's state, gradient and update per start and record, when the run recorded them.
    internals: Internals | None = None
    # (starts, records): f and gradient evaluations made up to each record, the step's own included
    # (one a step, more where a closure re-evaluates: LBFGS, SAM). None where not recorded.
    evaluations: np.ndarray | None = None
    # (starts, records, dim): a schedule-free optimizer's gradient point y, where ``positions`` holds
    # its evaluation point x (what a user's model would use); None for any other optimizer.
    gradient_point: np.ndarray | None = None
    # How a third-party class's starts ran: batched (its check said the update is element-wise)
    # or one at a time, in words; None for torch's own classes and a user's.
    batching: str | None = None

    @property
    def final_position(self) -> np.ndarray:
        return self.positions[:, -1]

    @property
    def final_loss(self) -> np.ndarray:
        return self.loss[:, -1]

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_step >= 0

    @property
    def shared_lr(self) -> bool:
        """True when every start had the same lr at every record (stored once)."""
        return self.lr.shape[0] <= 1 or self.lr.strides[0] == 0

    def last_finite(self) -> np.ndarray:
        """Index of the last record before divergence, per start."""
        finite = np.isfinite(self.loss) & np.all(np.isfinite(self.positions), axis=-1)
        broken = ~finite
        first_bad = np.where(broken.any(axis=1), broken.argmax(axis=1), self.loss.shape[1])
        return np.maximum(first_bad - 1, 0)


@dataclass
class RunResult:
    """Everything a run produced; figures and files are drawn from this alone."""

    config: Config
    function: TestFunction
    domain: np.ndarray  # (dim, 2): the box the figures show
    # (rows, dim): where each row of the trajectories began. Without noise a row is a start;
    # under noise (config.noise) it is a start under one noise seed, seed by seed.
    starts: np.ndarray
    trajectories: list[Trajectory] = field(default_factory=list)
    record_every: int = 1
    tolerance: float | None = None  # distance to a known minimum that counts as converged
    start_index: np.ndarray | None = None  # (rows,): which start each row is; None without noise
    noise_seed: np.ndarray | None = None  # (rows,): each row's noise seed; None without noise

    @property
    def noisy(self) -> bool:
        return self.noise_seed is not None

    @property
    def start_of_row(self) -> np.ndarray:
        """(rows,): the start each row began from (the row itself without noise)."""
        return np.arange(len(self.starts)) if self.start_index is None else self.start_index

    @property
    def start_count(self) -> int:
        """How many distinct starts the rows began from (the rows themselves without noise)."""
        return len(self.starts) if self.start_index is None else len(np.unique(self.start_index))

    @property
    def noise_seeds(self) -> list[int]:
        """The distinct noise seeds, in order; [] without noise."""
        return [] if self.noise_seed is None else sorted(set(self.noise_seed.tolist()))

    def noise_in_words(self) -> str:
        """The run's noise for titles, ``gaussian gradient noise 0.5, minibatches of 8``; "" without noise."""
        from ..problems import Noise

        return Noise.of(self.config.noise).describe() if self.config.noise else ""

    def rows_in_words(self) -> str:
        """``8 starts``, or ``8 noise seeds x 2 starts`` under noise."""
        if not self.noisy:
            count = len(self.starts)
            return f"{count} start{'s' if count != 1 else ''}"
        seeds, starts = len(self.noise_seeds), self.start_count
        return f"{seeds} noise seed{'s' if seeds != 1 else ''} x {starts} start{'s' if starts != 1 else ''}"

    def __getitem__(self, label: str) -> Trajectory:
        for trajectory in self.trajectories:
            if trajectory.label == label:
                return trajectory
        raise KeyError(f"no trajectory labelled {label!r}; labels: {', '.join(self.labels)}")

    def __iter__(self) -> Iterator[Trajectory]:
        return iter(self.trajectories)

    @property
    def labels(self) -> list[str]:
        return [trajectory.label for trajectory in self.trajectories]

    @property
    def dim(self) -> int:
        return self.function.dim

    def summary_table(self) -> dict[str, np.ndarray]:
        """The summary as columns of equal length, one entry per (optimizer, start).

        Missing values are NaN (floats) or -1 (steps and minimum indices); ``status``
        is "ok", "diverged" or "failed". A failed optimizer reached nothing: its final
        loss, position, nearest minimum, distance and convergence are all missing, as
        its manifest entry says. Vectorized, so 65,536 starts take milliseconds.
        """
        columns: dict[str, list[np.ndarray]] = {name: [] for name in (
            "label", "start", "noise_seed", "status", "final_loss", "final_position", "nearest_minimum",
            "distance_to_minimum", "diverged_step", "converged_step")}
        count = len(self.starts)
        for trajectory in self.trajectories:
            diverged = trajectory.diverged
            failed = np.full(count, bool(trajectory.error))
            lost = diverged | failed  # ended nowhere: no nearest minimum, no distance to it
            nearest, distance = self.function.nearest_minimum(trajectory.final_position)
            status = np.where(failed, "failed", np.where(diverged, "diverged", "ok")).astype(object)
            converged = np.full(count, -1) if trajectory.converged_step is None else trajectory.converged_step
            final_loss, final_position = trajectory.final_loss, trajectory.final_position
            for name, values in (
                ("label", np.full(count, trajectory.label, dtype=object)),
                ("start", self.start_of_row),
                ("noise_seed", np.full(count, -1) if self.noise_seed is None else self.noise_seed),
                ("status", status),
                ("final_loss", np.where(np.isfinite(final_loss) & ~failed, final_loss, np.nan)),
                ("final_position", np.where(np.isfinite(final_position) & ~failed[:, None], final_position, np.nan)),
                ("nearest_minimum", np.where(lost | (nearest < 0), -1, nearest)),
                ("distance_to_minimum", np.where(lost, np.nan, distance)),
                ("diverged_step", trajectory.diverged_step),
                ("converged_step", np.where(failed, -1, converged)),
            ):
                columns[name].append(np.asarray(values))
        return {name: np.concatenate(parts) if parts else np.array([]) for name, parts in columns.items()}

    def optimizer_rows(self) -> list[dict[str, Any]]:
        """One row per optimizer: its status, final loss and distance to the nearest known minimum (its
        start's, or the median over its rows with ``over`` saying of what), and how many rows diverged
        and converged (``converged`` is None without known minima). Diverged and failed rows are left
        out of the medians; ``status`` is "ok", "partly diverged", "diverged" or "failed"."""
        rows = []
        for trajectory in self.trajectories:
            nearest, distance = self.function.nearest_minimum(trajectory.final_position)
            kept = ~trajectory.diverged & (not trajectory.error)
            diverged = int(trajectory.diverged.sum())
            with np.errstate(all="ignore"):
                loss = float(np.nanmedian(np.where(kept, trajectory.final_loss, np.nan))) if kept.any() else None
                away = (float(np.nanmedian(np.where(kept & (nearest >= 0), distance, np.nan)))
                        if (kept & (nearest >= 0)).any() else None)
            rows.append({
                "label": trajectory.label,
                "status": "failed" if trajectory.error else ("diverged" if diverged == len(kept) else
                                                             "partly diverged" if diverged else "ok"),
                "final_loss": loss,
                "distance_to_minimum": away,
                "over": self.rows_in_words(),
                "rows": len(kept),
                "diverged": diverged,
                "converged": None if trajectory.converged_step is None or trajectory.error
                else int(np.count_nonzero(trajectory.converged_step >= 0)),
            })
        return rows

    def _repr_html_(self) -> str:
        """The summary table, one row per optimizer, as Jupyter shows it."""
        from .html import MISSING, count, number, table

        median = f" (median over {self.rows_in_words()})" if len(self.starts) > 1 else ""
        header = ["optimizer", "status", f"final loss{median}", f"distance to nearest minimum{median}", "diverged",
                  "converged"]
        rows = [[row["label"], row["status"], number(row["final_loss"]), number(row["distance_to_minimum"]),
                 count(row["diverged"], row["rows"]),
                 MISSING if row["converged"] is None else count(row["converged"], row["rows"])]
                for row in self.optimizer_rows()]
        steps = self.config.steps
        return table(f"{self.function.name}: {steps} step{'s' if steps != 1 else ''} from {self.rows_in_words()}",
                     header, rows)

    def summary(self) -> list[dict[str, Any]]:
        """One row per (optimizer, start): final loss, distance to a known minimum, divergence, convergence."""
        table = self.summary_table()
        rows = []
        for index in range(len(table["label"])):
            rows.append({
                "label": table["label"][index],
                "start": int(table["start"][index]),
                **({"noise_seed": int(table["noise_seed"][index])} if self.noisy else {}),
                "status": table["status"][index],
                "final_loss": finite_or_none(table["final_loss"][index]),
                "final_position": [finite_or_none(value) for value in table["final_position"][index]],
                "nearest_minimum": _step_or_none(table["nearest_minimum"][index]),
                "distance_to_minimum": finite_or_none(table["distance_to_minimum"][index]),
                "diverged_step": _step_or_none(table["diverged_step"][index]),
                "converged_step": _step_or_none(table["converged_step"][index]),
            })
        return rows


def finite_or_none(value: float | np.floating) -> float | None:
    """``value`` as a float, or None where it is NaN or infinite (JSON has no NaN)."""
    value = float(value)
    return value if np.isfinite(value) else None


def _step_or_none(value: int | np.integer) -> int | None:
    return int(value) if value >= 0 else None


def continued(earlier: RunResult, later: RunResult) -> RunResult:
    """One result of a run continued (``optviz run --resume``): ``earlier``'s records, then ``later``'s.

    ``later`` holds the steps after ``earlier``'s last, on the grid of the whole run (steps 0,
    every, 2 every, ... and the last). Of ``earlier`` the records on that grid are kept: its last
    step is dropped when it is not a multiple of ``record_every``, as one run of all the steps
    would not have recorded it. Divergence, convergence, errors and final states are ``later``'s,
    which carried them on.
    """
    every = later.record_every
    kept = earlier.trajectories[0].steps % every == 0
    trajectories = []
    for before, after in zip(earlier.trajectories, later.trajectories):
        joined = {name: _joined(getattr(before, name), kept, getattr(after, name), axis=1)
                  for name in ("positions", "loss", "lr", "grad_norm")}
        group_lr = None if after.group_lr is None else _joined(before.group_lr, kept, after.group_lr, axis=2)
        internals = (None if before.internals is None or after.internals is None
                     else _joined_internals(before.internals, kept, after.internals, len(after.steps)))
        gradient_point = (None if before.gradient_point is None or after.gradient_point is None
                          else _joined(before.gradient_point, kept, after.gradient_point, axis=1))
        evaluations = None
        if before.evaluations is not None and after.evaluations is not None:
            # Counted from the resumed step's evaluation, which the stored run counted already.
            evaluations = _joined(before.evaluations, kept, after.evaluations + (before.evaluations[:, -1:] - 1),
                                  axis=1)
        trajectories.append(dataclasses.replace(after, steps=np.concatenate([before.steps[kept], after.steps]),
                                                group_lr=group_lr, internals=internals, gradient_point=gradient_point,
                                                evaluations=evaluations, **joined))
    return dataclasses.replace(later, trajectories=trajectories)


def _joined_internals(first: Internals, kept: np.ndarray, second: Internals, records: int) -> Internals:
    """``first``'s kept records, then ``second``'s. When ``second`` has one record more than its
    ``records`` steps, that first one is the step the run was resumed from, taken now: it replaces
    ``first``'s last row, whose state and update were not known yet."""
    lead = second.gradient.shape[1] - records

    def join(before: np.ndarray | None, after: np.ndarray | None) -> np.ndarray:
        before = np.full_like(first.gradient, np.nan) if before is None else before
        after = np.full_like(second.gradient, np.nan) if after is None else after
        before = np.compress(kept, before, axis=1)
        if lead:
            before = before.copy()
            before[:, -1] = after[:, 0]
        return np.concatenate([before, after[:, lead:]], axis=1)

    names = list(dict.fromkeys([*first.state, *second.state]))
    return Internals(gradient=join(first.gradient, second.gradient), update=join(first.update, second.update),
                     state={name: join(first.state.get(name), second.state.get(name)) for name in names})


def _joined(first: np.ndarray, kept: np.ndarray, second: np.ndarray, axis: int) -> np.ndarray:
    """The ``kept`` records of ``first``, then ``second``, along ``axis``; one row broadcast again when both
    were one row broadcast (an lr every start shares)."""
    if all(len(part) <= 1 or part.strides[0] == 0 for part in (first, second)):
        row = np.concatenate([np.compress(kept, first[:1], axis=axis), second[:1]], axis=axis)
        return np.broadcast_to(row, (len(second), *row.shape[1:]))
    return np.concatenate([np.compress(kept, first, axis=axis), second], axis=axis)
