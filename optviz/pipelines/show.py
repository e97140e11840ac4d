"""``optviz show``: a stored run's table, step by step, as the seed's learning_rate.py prints it.

The gradient vector is the one the run stored, if it did; else, for a run without gradient
noise, f's gradient at each stored point, recomputed here with autograd in the run's dtype (the
gradient the optimizer was given there; its norm is the stored ``grad_norm``); else only the
stored norm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..problems import TestFunction
from ..results import RunResult
from ..results.steps import StepRange, StepTable, step_tables
from ..store.rundir import load_run


def show_run(run_dir: str | Path, steps: str | StepRange = "0:20", *, label: str | None = None, start: int = 0,
             safe: bool = False) -> list[StepTable]:
    """The tables of the run in ``run_dir`` (one per optimizer, or the one labelled ``label``) at ``start``."""
    steps = StepRange.parse(steps) if isinstance(steps, str) else steps
    result = load_run(run_dir, safe=safe)
    gradients, source = stored_gradients(result)
    if not gradients and not result.noisy:
        gradients = recomputed_gradients(result.function, result, label)
        source = "(grad: f's gradient at the stored point, recomputed; the run stores only its norm)"
    return step_tables(result, steps, label=label, start=start, gradients=gradients or None, gradient_source=source)


def stored_gradients(result: RunResult) -> tuple[dict[int, np.ndarray], str]:
    """Each optimizer's stored gradient vectors by index (its recorded internals), and a note naming
    where they are; empty if none is stored."""
    found = {index: trajectory.internals.gradient for index, trajectory in enumerate(result.trajectories)
             if trajectory.internals is not None}
    return (found, "(grad: as stored, gradient_<i> in trajectories.npz)") if found else ({}, "")


def recomputed_gradients(function: TestFunction, result: RunResult, label: str | None) -> dict[int, np.ndarray]:
    """f's gradient at every stored point of each optimizer (or ``label``'s), in the stored dtype."""
    import torch

    gradients = {}
    for index, trajectory in enumerate(result.trajectories):
        if label is not None and trajectory.label != label:
            continue
        points = torch.tensor(trajectory.positions, requires_grad=True)
        with np.errstate(all="ignore"):
            function(points).sum().backward()
        gradients[index] = points.grad.numpy()
    return gradients
