"""Records optimizer trajectories with the real ``torch.optim`` classes.

Step 0 is the start. At every recorded step the engine keeps the position,
f(position), the lr in force for the step taken from there and the gradient
norm. The numbers are those of a plain hand-written loop::

    x = torch.tensor(start, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        function(x).backward()
        optimizer.step()
        scheduler.step()

Independent starts are stacked into one tensor where the optimizer treats every
element on its own (SGD, Adam, ...): one batched computation, each start its own
trajectory. Optimizers whose update couples elements (LBFGS's line search, a
user's class optviz cannot vouch for) or a scheduler that reads the loss run
each start separately, so no state is ever shared between starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .config import Config, OptimizerSpec
from .optimizers import ELEMENTWISE_OPTIMIZERS
from .starts import resolve_starts
from .validate import resolve_optimizer_spec

Progress = Callable[[str, int, int], None]


@dataclass
class Trajectory:
    """One optimizer's record over every start.

    Arrays are indexed ``[start, record]``; ``steps[record]`` is the optimizer
    step each record was taken at (all steps unless thinned).
    """

    label: str
    optimizer: str
    positions: np.ndarray  # (starts, records, dim)
    loss: np.ndarray  # (starts, records)
    lr: np.ndarray  # (starts, records)
    grad_norm: np.ndarray  # (starts, records)
    steps: np.ndarray  # (records,)
    diverged_step: np.ndarray  # (starts,), -1 where every value stayed finite
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

    def summary(self) -> list[dict[str, Any]]:
        """One row per (optimizer, start): final loss, distance to a known minimum, divergence."""
        rows = []
        for trajectory in self.trajectories:
            nearest, distance = self.function.nearest_minimum(trajectory.final_position)
            for index in range(len(self.starts)):
                diverged = int(trajectory.diverged_step[index])
                rows.append({
                    "label": trajectory.label,
                    "start": index,
                    "status": "failed" if trajectory.error else ("diverged" if diverged >= 0 else "ok"),
                    "final_loss": _float_or_none(trajectory.final_loss[index]),
                    "final_position": [_float_or_none(value) for value in trajectory.final_position[index]],
                    "nearest_minimum": int(nearest[index]) if diverged < 0 and nearest[index] >= 0 else None,
                    "distance_to_minimum": _float_or_none(distance[index]) if diverged < 0 else None,
                    "diverged_step": diverged if diverged >= 0 else None,
                })
        return rows


def _float_or_none(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def run(config: Config, *, record_every: int = 1, progress: Progress | None = None) -> RunResult:
    """Run every optimizer of ``config`` from every start and return the trajectories.

    >>> from optviz import config_from_dict, run
    >>> result = run(config_from_dict({"function": "quadratic", "start": [2.0], "steps": 5,
    ...                                "optimizers": [{"name": "SGD", "lr": 0.1}]}))
    >>> result["SGD"].positions[0, :, 0].round(4).tolist()
    [2.0, 0.4, 0.08, 0.016, 0.0032, 0.0006]
    """
    import torch

    function = config.test_function()
    starts = resolve_starts(config, function)
    dtype = getattr(torch, config.dtype)
    recorded = recorded_steps(config.steps, record_every)
    result = RunResult(config=config, function=function, starts=starts)
    for spec in config.optimizers:
        if progress:
            progress(spec.display_label, len(result.trajectories), len(config.optimizers))
        result.trajectories.append(run_optimizer(spec, config, function, starts, dtype, recorded))
    return result


def recorded_steps(steps: int, every: int) -> np.ndarray:
    """Steps 0, every, 2*every, ... and always the last one."""
    return np.unique(np.r_[np.arange(0, steps + 1, max(1, every)), steps])


def run_optimizer(spec: OptimizerSpec, config: Config, function, starts: np.ndarray, dtype,
                  recorded: np.ndarray) -> Trajectory:
    """One optimizer from every start: batched where exact, else one start at a time."""
    cls, hyperparameters, scheduler = resolve_optimizer_spec(spec, config)
    loss_driven = scheduler is not None and scheduler[0].__name__ == "ReduceLROnPlateau"
    elementwise = cls.__module__.startswith("torch.optim") and cls.__name__ in ELEMENTWISE_OPTIMIZERS
    if elementwise and not loss_driven:
        record = _descend(cls, hyperparameters, scheduler, function, starts, dtype, config.steps, recorded)
    else:
        # Coupled updates: an independent optimizer per start, as separate loops would.
        parts = [_descend(cls, hyperparameters, scheduler, function, starts[index:index + 1], dtype,
                          config.steps, recorded) for index in range(len(starts))]
        record = {key: np.concatenate([part[key] for part in parts]) for key in ("positions", "loss", "lr", "grad_norm")}
        record["error"] = next((part["error"] for part in parts if part["error"]), None)
    return Trajectory(
        label=spec.display_label,
        optimizer=cls.__name__,
        steps=recorded,
        diverged_step=_diverged_steps(record["positions"], record["loss"], recorded),
        **record,
    )


def _descend(cls, hyperparameters: dict, scheduler, function, starts: np.ndarray, dtype, steps: int,
             recorded: np.ndarray) -> dict[str, Any]:
    """The optimization loop over a stack of starts, recording at the ``recorded`` steps."""
    import torch

    # A lone start is a plain (dim,) vector, exactly what a hand-written loop optimizes:
    # Adafactor, for one, factors the moments of a (1, dim) matrix but not of a vector.
    position = torch.tensor(starts if len(starts) > 1 else starts[0], dtype=dtype).requires_grad_(True)
    optimizer = cls([position], **hyperparameters)
    lr_scheduler = scheduler[0](optimizer, **scheduler[1]) if scheduler else None
    loss_driven = lr_scheduler is not None and type(lr_scheduler).__name__ == "ReduceLROnPlateau"
    count, dim = starts.shape
    positions = torch.full((count, len(recorded), dim), float("nan"), dtype=dtype)
    losses = torch.full((count, len(recorded)), float("nan"), dtype=dtype)
    grad_norms = torch.full((count, len(recorded)), float("nan"), dtype=dtype)
    lrs = np.full(len(recorded), np.nan)
    is_recorded = np.zeros(steps + 1, dtype=bool)
    is_recorded[recorded] = True
    needs_closure = cls.__name__ == "LBFGS" or _step_requires_closure(cls)

    def closure():
        optimizer.zero_grad()
        loss = function(position).sum()
        loss.backward()
        return loss

    error = None
    slot = 0
    for step in range(steps + 1):
        optimizer.zero_grad()
        loss = function(position)
        loss.sum().backward()
        if is_recorded[step]:
            with torch.no_grad():
                positions[:, slot] = position
                losses[:, slot] = loss
                grad_norms[:, slot] = torch.linalg.vector_norm(position.grad, dim=-1)
            lrs[slot] = float(optimizer.param_groups[0]["lr"])
            slot += 1
        if step == steps:
            break
        if count == 1 and not torch.isfinite(loss).all():
            break  # a lone diverged start has nothing left to show
        try:
            if needs_closure:
                optimizer.step(closure)
            else:
                optimizer.step()
            if lr_scheduler is not None:
                lr_scheduler.step(float(loss.sum())) if loss_driven else lr_scheduler.step()
        except Exception as failure:  # a user's optimizer may raise anything; keep what we have
            error = f"{type(failure).__name__} at step {step}: {failure}"
            break
    return {
        "positions": positions.numpy(),
        "loss": losses.numpy(),
        "lr": np.broadcast_to(lrs, (count, len(recorded))).copy(),
        "grad_norm": grad_norms.numpy(),
        "error": error,
    }


def _step_requires_closure(cls) -> bool:
    import inspect

    parameter = inspect.signature(cls.step).parameters.get("closure")
    return parameter is not None and parameter.default is inspect.Parameter.empty


def _diverged_steps(positions: np.ndarray, loss: np.ndarray, recorded: np.ndarray) -> np.ndarray:
    """First recorded step with a non-finite position or loss, per start; -1 if none."""
    broken = ~(np.isfinite(loss) & np.all(np.isfinite(positions), axis=-1))
    first = broken.argmax(axis=1)
    return np.where(broken.any(axis=1), recorded[first], -1)
