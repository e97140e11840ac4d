"""Records optimizer trajectories with the real ``torch.optim`` classes.

Step 0 is the start. At every recorded step (:mod:`optviz.record`) the engine keeps
the position, f(position), the lr in force for the step taken from there and the
gradient norm. The numbers are those of a plain hand-written loop::

    x = torch.tensor(start, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        function(x).backward()
        optimizer.step()
        scheduler.step()

Many starts run at once, each on its own trajectory, in one of three layouts:

- ``stacked``: optimizers that treat every element on its own (SGD, Adam, ...;
  :data:`~optviz.optimizers.ELEMENTWISE_OPTIMIZERS`) get one ``(dim, starts)``
  tensor. Each coordinate is then a contiguous row, so f and its gradient are a
  few vectorized operations over all starts per step.
- ``separate``: Adafactor gets one ``(dim,)`` tensor per start in a single
  optimizer. Its state and relative step size are per tensor and it does not
  factor vectors, so every start is exactly a lone run; stacking them into one
  matrix would factor its moments across starts.
- ``sequential``: LBFGS (its line search couples every element of a tensor), a
  user's class optviz cannot vouch for, and ReduceLROnPlateau (which reads the
  loss, so its lr differs per start) run each start in its own loop.

A lone start is always a plain ``(dim,)`` vector, exactly what a hand-written loop
optimizes. Batched and lone runs agree start by start to the last few bits: the
only difference is that vectorized kernels (exp, pow, ...) may round differently
from scalar ones. A start that diverges is marked at that step and recorded as NaN
afterwards; elementwise updates never mix starts, so the others carry on unchanged.

The engine computes on one CPU thread with subnormal floats flushed to zero (below
1.2e-38 in float32). Paths that settle into a minimum or wander onto a flat plateau
produce subnormal intermediates, which x86 CPUs process about a hundred times
slower; flushing them changes nothing above that magnitude. Torch's worker threads
would keep their own setting, so one thread is also what keeps results independent
of the machine.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .config import Config, OptimizerSpec
from .optimizers import ELEMENTWISE_OPTIMIZERS
from .record import record_every as planned_record_every
from .record import recorded_steps, tolerance as convergence_tolerance
from .starts import resolve_starts
from .validate import resolve_optimizer_spec

Progress = Callable[[str, int, int], None]

__all__ = ["RunResult", "Trajectory", "batch_layout", "recorded_steps", "run", "run_optimizer"]


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
    function: Any
    starts: np.ndarray  # (starts, dim)
    trajectories: list[Trajectory] = field(default_factory=list)
    record_every: int = 1
    tolerance: float | None = None  # distance to a known minimum that counts as converged

    def __getitem__(self, label: str) -> Trajectory:
        for trajectory in self.trajectories:
            if trajectory.label == label:
                return trajectory
        raise KeyError(f"no trajectory labelled {label!r}; labels: {', '.join(self.labels)}")

    def __iter__(self):
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
        is "ok", "diverged" or "failed". Vectorized, so 65,536 starts take milliseconds.
        """
        columns: dict[str, list[np.ndarray]] = {name: [] for name in (
            "label", "start", "status", "final_loss", "final_position", "nearest_minimum",
            "distance_to_minimum", "diverged_step", "converged_step")}
        count = len(self.starts)
        for trajectory in self.trajectories:
            diverged = trajectory.diverged
            nearest, distance = self.function.nearest_minimum(trajectory.final_position)
            status = np.where(diverged, "diverged", "ok").astype(object)
            if trajectory.error:
                status[:] = "failed"
            converged = trajectory.converged_step
            for name, values in (
                ("label", np.full(count, trajectory.label, dtype=object)),
                ("start", np.arange(count)),
                ("status", status),
                ("final_loss", np.where(np.isfinite(trajectory.final_loss), trajectory.final_loss, np.nan)),
                ("final_position", np.where(np.isfinite(trajectory.final_position), trajectory.final_position, np.nan)),
                ("nearest_minimum", np.where(diverged | (nearest < 0), -1, nearest)),
                ("distance_to_minimum", np.where(diverged, np.nan, distance)),
                ("diverged_step", trajectory.diverged_step),
                ("converged_step", np.full(count, -1) if converged is None else converged),
            ):
                columns[name].append(np.asarray(values))
        return {name: np.concatenate(parts) if parts else np.array([]) for name, parts in columns.items()}

    def summary(self) -> list[dict[str, Any]]:
        """One row per (optimizer, start): final loss, distance to a known minimum, divergence, convergence."""
        table = self.summary_table()
        rows = []
        for index in range(len(table["label"])):
            rows.append({
                "label": table["label"][index],
                "start": int(table["start"][index]),
                "status": table["status"][index],
                "final_loss": _float_or_none(table["final_loss"][index]),
                "final_position": [_float_or_none(value) for value in table["final_position"][index]],
                "nearest_minimum": _step_or_none(table["nearest_minimum"][index]),
                "distance_to_minimum": _float_or_none(table["distance_to_minimum"][index]),
                "diverged_step": _step_or_none(table["diverged_step"][index]),
                "converged_step": _step_or_none(table["converged_step"][index]),
            })
        return rows


def _float_or_none(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _step_or_none(value) -> int | None:
    return int(value) if value >= 0 else None


def run(config: Config, *, record_every: int | None = None, progress: Progress | None = None) -> RunResult:
    """Run every optimizer of ``config`` from every start and return the trajectories.

    ``record_every`` overrides ``record.every`` (see :mod:`optviz.record`).

    >>> from optviz import config_from_dict, run
    >>> result = run(config_from_dict({"function": "quadratic", "start": [2.0], "steps": 5,
    ...                                "optimizers": [{"name": "SGD", "lr": 0.1}]}))
    >>> result["SGD"].positions[0, :, 0].round(4).tolist()
    [2.0, 0.4, 0.08, 0.016, 0.0032, 0.0006]
    """
    function = config.test_function()
    starts = resolve_starts(config, function)
    every = record_every or planned_record_every(config, len(starts), function.dim)
    plan = _Plan(
        steps=config.steps,
        recorded=recorded_steps(config.steps, every),
        dtype=config.dtype,
        minima=np.array([minimum.point for minimum in function.minima], dtype=np.float64).reshape(-1, function.dim),
        tolerance=convergence_tolerance(config, function),
    )
    result = RunResult(config=config, function=function, starts=starts, record_every=every,
                       tolerance=plan.tolerance if function.minima else None)
    with _one_thread_flushing_subnormals():
        for spec in config.optimizers:
            if progress:
                progress(spec.display_label, len(result.trajectories), len(config.optimizers))
            result.trajectories.append(run_optimizer(spec, config, function, starts, plan))
    return result


@dataclass(frozen=True)
class _Plan:
    """What every optimizer of a run shares: steps, recorded steps, dtype, minima and tolerance."""

    steps: int
    recorded: np.ndarray
    dtype: str
    minima: np.ndarray  # (minima, dim)
    tolerance: float


@contextlib.contextmanager
def _one_thread_flushing_subnormals():
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(threads)


def batch_layout(cls: type, scheduler: tuple[type, dict] | None) -> str:
    """How the starts of one optimizer run together: "stacked", "separate" or "sequential"."""
    if scheduler is not None and scheduler[0].__name__ == "ReduceLROnPlateau":
        return "sequential"
    if not cls.__module__.startswith("torch.optim"):
        return "sequential"
    if cls.__name__ in ELEMENTWISE_OPTIMIZERS:
        return "stacked"
    return "separate" if cls.__name__ == "Adafactor" else "sequential"


def run_optimizer(spec: OptimizerSpec, config: Config, function, starts: np.ndarray, plan: _Plan) -> Trajectory:
    """One optimizer from every start, in the layout :func:`batch_layout` picks for it."""
    cls, hyperparameters, scheduler = resolve_optimizer_spec(spec, config)
    layout = batch_layout(cls, scheduler)
    # A coupled update may loop or raise on NaN (a line search): such a start stops where it
    # diverged. Element-wise ones step on harmlessly, alone or batched, so both agree.
    stop = layout == "sequential"
    if len(starts) > 1 and not stop:
        record = _descend(cls, hyperparameters, scheduler, function, starts, layout, plan, stop_at_divergence=stop)
    else:
        parts = [_descend(cls, hyperparameters, scheduler, function, starts[index:index + 1], "vector", plan,
                          stop_at_divergence=stop) for index in range(len(starts))]
        record = {key: np.concatenate([part[key] for part in parts])
                  for key in ("positions", "loss", "grad_norm", "diverged_step", "converged_step")}
        lrs = np.concatenate([part["lr"] for part in parts])
        record["lr"] = np.broadcast_to(lrs[0], lrs.shape) if np.array_equal(lrs, lrs[:1].repeat(len(lrs), 0),
                                                                            equal_nan=True) else lrs
        record["error"] = next((part["error"] for part in parts if part["error"]), None)
    if not len(plan.minima):
        record["converged_step"] = None
    return Trajectory(label=spec.display_label, optimizer=cls.__name__, steps=plan.recorded, **record)


class _Batch:
    """The starts as an optimizer's parameters, in one layout; every view is ``(dim, starts)``."""

    def __init__(self, starts: np.ndarray, layout: str, dtype) -> None:
        import torch

        self.layout = layout
        self.dim = starts.shape[1]
        if layout == "vector":
            self.params = [torch.tensor(starts[0], dtype=dtype, requires_grad=True)]
        elif layout == "stacked":
            self.params = [torch.tensor(starts.T, dtype=dtype).contiguous().requires_grad_(True)]
        else:
            self.params = [torch.tensor(start, dtype=dtype, requires_grad=True) for start in starts]

    def coordinates(self) -> tuple:
        """x (and y) of every start, for ``function.fn``; autograd flows back to the parameters."""
        import torch

        if self.layout == "separate":
            return torch.stack(self.params, dim=1).unbind(0)
        return self.params[0].unbind(0)

    def position(self):
        import torch

        if self.layout == "separate":
            return torch.stack([param.detach() for param in self.params], dim=1)
        return self.params[0].detach().reshape(self.dim, -1)

    def gradient(self):
        import torch

        if self.layout == "separate":
            return torch.stack([param.grad for param in self.params], dim=1)
        return self.params[0].grad.reshape(self.dim, -1)


def _descend(cls, hyperparameters: dict, scheduler, function, starts: np.ndarray, layout: str, plan: _Plan, *,
             stop_at_divergence: bool) -> dict[str, Any]:
    """The optimization loop over a batch of starts; returns the records as numpy arrays.

    Records of a start after it diverged are NaN, whether or not the loop stops there.
    """
    import torch

    dtype = getattr(torch, plan.dtype)
    count, dim = starts.shape
    batch = _Batch(starts, layout, dtype)
    optimizer = cls(batch.params, **hyperparameters)
    lr_scheduler = scheduler[0](optimizer, **scheduler[1]) if scheduler else None
    loss_driven = lr_scheduler is not None and type(lr_scheduler).__name__ == "ReduceLROnPlateau"
    needs_closure = cls.__name__ == "LBFGS" or _step_requires_closure(cls)
    records = _Records(count, len(plan.recorded), dim, dtype)
    convergence = _Convergence(plan.minima, plan.tolerance, count, dtype)
    diverged_step = torch.full((count,), -1, dtype=torch.int64)
    is_recorded = np.zeros(plan.steps + 1, dtype=bool)
    is_recorded[plan.recorded] = True
    # d(sum of f)/dx without building the sum: each start's f seeds its own gradient.
    seed = torch.ones(() if layout == "vector" else count, dtype=dtype)

    def closure():
        optimizer.zero_grad()
        loss = function.fn(*batch.coordinates(), torch)
        torch.autograd.backward(loss, seed)
        return loss

    error = None
    for step in range(plan.steps + 1):
        optimizer.zero_grad()
        loss = function.fn(*batch.coordinates(), torch)
        torch.autograd.backward(loss, seed)
        with torch.no_grad():
            position, loss = batch.position(), loss.detach().reshape(count)
            already_diverged = _mark_divergence(diverged_step, position, loss, step)
            if is_recorded[step]:
                records.write(position, loss, batch.gradient(), optimizer.param_groups[0]["lr"], already_diverged)
            convergence.update(step, position)
        if step == plan.steps:
            break
        if stop_at_divergence and diverged_step[0] >= 0:
            convergence.stop()
            break
        try:
            optimizer.step(closure) if needs_closure else optimizer.step()
            if lr_scheduler is not None:
                lr_scheduler.step(float(loss.sum())) if loss_driven else lr_scheduler.step()
        except Exception as failure:  # a user's optimizer may raise anything; keep what we have
            error = f"{type(failure).__name__} at step {step}: {failure}"
            convergence.stop()
            break
    return {**records.arrays(), "diverged_step": diverged_step.numpy(),
            "converged_step": convergence.converged_step(plan.steps, diverged_step.numpy()), "error": error}


def _mark_divergence(diverged_step, position, loss, step: int):
    """Set ``diverged_step`` where a value first turned non-finite; return who had diverged before."""
    import torch

    if bool(torch.isfinite(loss.sum() + position.sum())):
        return None  # any inf or NaN makes the sum non-finite: the common case costs two sums
    before = diverged_step >= 0
    broken = ~(torch.isfinite(loss) & torch.isfinite(position).all(0))
    diverged_step.masked_fill_(broken & ~before, step)
    return before


class _Records:
    """Preallocated ``[start, record]`` buffers, filled in place at each recorded step."""

    def __init__(self, count: int, records: int, dim: int, dtype) -> None:
        import torch

        self.positions = torch.full((count, records, dim), float("nan"), dtype=dtype)
        self.loss = torch.full((count, records), float("nan"), dtype=dtype)
        self.grad_norm = torch.full((count, records), float("nan"), dtype=dtype)
        self.lr = np.full(records, np.nan)
        self.slot = 0

    def write(self, position, loss, gradient, lr: float, hidden) -> None:
        """One record of every start; those in ``hidden`` (diverged earlier) stay NaN."""
        import torch

        slot = self.slot
        self.positions[:, slot] = position.T
        self.loss[:, slot] = loss
        # Not linalg.vector_norm(dim=0): reducing across rows of (dim, starts) is far slower.
        self.grad_norm[:, slot] = gradient.square().sum(0).sqrt_()
        if hidden is not None:
            self.positions[hidden, slot] = float("nan")
            self.loss[hidden, slot] = float("nan")
            self.grad_norm[hidden, slot] = float("nan")
        self.lr[slot] = float(lr)
        self.slot += 1

    def arrays(self) -> dict[str, np.ndarray]:
        count = self.loss.shape[0]
        return {"positions": self.positions.numpy(), "loss": self.loss.numpy(), "grad_norm": self.grad_norm.numpy(),
                "lr": np.broadcast_to(self.lr, (count, len(self.lr)))}


class _Convergence:
    """Per start, the step from which it has stayed within ``tolerance`` of a known minimum.

    Updated every step, so the converged step is exact however thinly the run records.
    """

    def __init__(self, minima: np.ndarray, tolerance: float, count: int, dtype) -> None:
        import torch

        self.minima = [torch.tensor(point, dtype=dtype) for point in minima]
        self.squared_tolerance = tolerance**2
        # One past the last step the start was outside every tolerance ball (0: never).
        self.settled_from = torch.zeros(count, dtype=torch.int32)
        self.nearest = torch.empty(count, dtype=dtype)
        self.squared = torch.empty(count, dtype=dtype)
        self.stopped = False

    def update(self, step: int, position) -> None:
        import torch

        if not self.minima:
            return
        for index, point in enumerate(self.minima):
            # In place, one coordinate at a time: this runs every step over every start.
            distance = self.nearest if index == 0 else self.squared
            torch.sub(position[0], point[0], out=distance).square_()
            for axis in range(1, len(point)):
                distance.add_((position[axis] - point[axis]).square_())
            if index:
                torch.minimum(self.nearest, distance, out=self.nearest)
        # Steps only grow, so a running maximum replaces a masked write at a tenth of the cost.
        # NaN compares as within; converged_step() rules out the diverged starts instead.
        outside = (self.nearest > self.squared_tolerance).to(torch.int32).mul_(step + 1)
        torch.maximum(self.settled_from, outside, out=self.settled_from)

    def stop(self) -> None:
        """The run ended early: it did not stay anywhere to the end."""
        self.stopped = True

    def converged_step(self, steps: int, diverged_step: np.ndarray) -> np.ndarray:
        settled = self.settled_from.numpy().astype(np.int64)
        if self.stopped or not self.minima:
            return np.full(len(settled), -1)
        return np.where((settled <= steps) & (diverged_step < 0), settled, -1)


def _step_requires_closure(cls) -> bool:
    import inspect

    parameter = inspect.signature(cls.step).parameters.get("closure")
    return parameter is not None and parameter.default is inspect.Parameter.empty
