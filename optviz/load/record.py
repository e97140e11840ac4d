"""What the engine keeps of a run: which steps it records, and when a start has converged.

A run records, for every start, the position, f, the lr and the gradient norm at
steps 0, N, 2N, ... and always the last step (``record: {every: N}``). Left out,
every step is recorded unless that would take more than :data:`AUTO_RECORD_BYTES`;
then the engine thins the steps evenly so it does not. Asking for more than
:data:`MAX_RECORD_BYTES` is a config error, not an out-of-memory crash part-way.

Whatever is recorded, the engine follows every step of every start to find the
step from which it stays within ``record.tolerance`` of a known minimum (its
converged step), so basin maps and steps-to-tolerance never depend on thinning.
"""

from __future__ import annotations

import numpy as np

from ..config import Config
from ..errors import ConfigError
from ..problems import TestFunction, plot_domain

AUTO_RECORD_BYTES = 64 * 2**20
# Optimizer internals (see optviz.results.internals) are recorded unless they would take more than this
# (or push the run past the memory budget): a basin map of thousands of starts does not pay for them.
AUTO_INTERNALS_BYTES = 16 * 2**20
# Arrays of internals per optimizer, at most, for the estimate: the gradient, the update and up to three
# state tensors (Adam with amsgrad keeps exp_avg, exp_avg_sq and max_exp_avg_sq).
INTERNALS_ARRAYS = 5
MAX_RECORD_BYTES = 4 * 2**30
# Of the plotted domain's diagonal, when record.tolerance is left out.
DEFAULT_TOLERANCE_FRACTION = 0.01


def recorded_steps(steps: int, every: int) -> np.ndarray:
    """Steps 0, every, 2*every, ... and always the last one.

    >>> recorded_steps(10, 4).tolist()
    [0, 4, 8, 10]
    """
    return np.unique(np.r_[np.arange(0, steps + 1, max(1, every)), steps])


def record_bytes(config: Config, starts: int, dim: int, every: int) -> int:
    """Memory the records of a run take: position, f, lr and gradient norm per start and record."""
    itemsize = 4 if config.dtype == "float32" else 8
    records = len(recorded_steps(config.steps, every))
    return starts * records * (dim + 3) * itemsize * len(config.optimizers)


def internals_bytes(config: Config, starts: int, dim: int, every: int) -> int:
    """Memory the optimizers' internals take at most: :data:`INTERNALS_ARRAYS` arrays of the positions' size each."""
    itemsize = 4 if config.dtype == "float32" else 8
    records = len(recorded_steps(config.steps, every))
    return starts * records * dim * itemsize * INTERNALS_ARRAYS * len(config.optimizers)


def record_every(config: Config, starts: int, dim: int) -> int:
    """The thinning in force: ``record.every``, or the smallest that fits :data:`AUTO_RECORD_BYTES`."""
    every = config.record.every
    if every is not None:
        needed = record_bytes(config, starts, dim, every)
        if needed > MAX_RECORD_BYTES:
            smallest = _smallest_every(config, starts, dim, MAX_RECORD_BYTES)
            raise ConfigError(f"recording every {every} step(s) of {starts} starts would take {needed / 2**30:.1f} GiB; "
                              f"use {smallest} or more (at most {MAX_RECORD_BYTES // 2**30} GiB)", path="record.every")
        return every
    return _smallest_every(config, starts, dim, AUTO_RECORD_BYTES)


def _smallest_every(config: Config, starts: int, dim: int, budget: int) -> int:
    """The smallest thinning whose records fit ``budget`` (fewer records as it grows); at most ``steps``."""
    low, high = 1, config.steps
    while low < high:
        middle = (low + high) // 2
        if record_bytes(config, starts, dim, middle) <= budget:
            high = middle
        else:
            low = middle + 1
    return low


def tolerance(config: Config, function: TestFunction) -> float:
    """``record.tolerance``, or 1% of the diagonal of the plotted domain."""
    if config.record.tolerance is not None:
        return float(config.record.tolerance)
    domain = plot_domain(config.domain, function)
    return float(DEFAULT_TOLERANCE_FRACTION * np.linalg.norm(domain[:, 1] - domain[:, 0]))
