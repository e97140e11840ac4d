"""Why an optimizer moves: its own state, the gradient and the update at each recorded step.

The engine (:mod:`optviz.engine`) keeps, for every start and recorded step k (the same
steps as the positions, thinned by ``record.every``):

- ``gradient[k]``: the gradient at x_k, as the optimizer saw it (noisy, clipped if asked);
- ``update[k]``: the step actually taken from there, x_{k+1} - x_k;
- ``state[name][k]``: each tensor of ``optimizer.state[param]`` that has the parameter's
  shape, by its own name (``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``, ``square_avg``,
  ``sum``, ...), read *after* that step: the state that produced the update.

So row k describes the step taken from x_k. The last recorded step takes no step: its
update and state are NaN, as are the rows of a start after it diverged.

Derived here, in numpy alone: the effective step size per axis ``|update_i| / |grad_i|``,
the cosine between the update and the negative gradient, and the norms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# State tensors that carry a momentum (a running mean of gradients), in order of preference.
MOMENTUM_STATES = ("momentum_buffer", "exp_avg")
# State tensors that precondition each coordinate by a running size of its gradients (Adam,
# RMSprop, Adagrad and kin): where one is present, the per-axis effective lr is a preconditioner.
PRECONDITIONER_STATES = ("exp_avg_sq", "square_avg", "sum")


@dataclass
class Internals:
    """One optimizer's internals over every start: arrays indexed ``[start, record, axis]``."""

    gradient: np.ndarray  # (starts, records, dim): the gradient at x_k
    update: np.ndarray  # (starts, records, dim): x_{k+1} - x_k, NaN at the last record
    state: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (starts, records, dim), after step k

    @property
    def momentum_name(self) -> str | None:
        """The state tensor that is a momentum (``momentum_buffer`` or ``exp_avg``), if any."""
        return next((name for name in MOMENTUM_STATES if name in self.state), None)

    @property
    def momentum(self) -> np.ndarray | None:
        name = self.momentum_name
        return None if name is None else self.state[name]

    @property
    def preconditioned(self) -> bool:
        """Whether the optimizer scales each coordinate by its gradients' running size (Adam, RMSprop, Adagrad)."""
        return any(name in self.state for name in PRECONDITIONER_STATES)


def effective_lr(internals: Internals) -> np.ndarray:
    """``|update_i| / |grad_i|`` per start, record and axis: the step size each coordinate actually got.

    NaN where the gradient's coordinate is 0 (no ratio) or the record has no update (the last).
    Plain SGD gives its lr on every axis; Adam a different one per axis.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.abs(internals.update) / np.abs(internals.gradient)
    return np.where(np.isfinite(ratio), ratio, np.nan)


def update_cosine(internals: Internals) -> np.ndarray:
    """The cosine between the update and the negative gradient, per start and record (starts, records).

    1: straight downhill; 0: across the slope; below 0: uphill (momentum carrying on). NaN
    where either vector is zero or missing.
    """
    update, downhill = internals.update, -internals.gradient
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a diverged start's 1e300s
        cosine = (update * downhill).sum(-1) / (norm(update) * norm(downhill))
    return np.where(np.isfinite(cosine), np.clip(cosine, -1.0, 1.0), np.nan)


def norm(vectors: np.ndarray) -> np.ndarray:
    """The Euclidean norm over the last axis: ``(starts, records, dim)`` to ``(starts, records)``; inf
    where a diverged start's squares overflow."""
    with np.errstate(over="ignore"):
        return np.sqrt(np.square(vectors).sum(-1))
