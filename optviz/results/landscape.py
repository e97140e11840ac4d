"""Where networks travel: a 2D plane through weight space, the loss over it, and each path on it.

A network has thousands of weights, so a landscape is a slice: the plane
``origin + alpha * d1 + beta * d2`` (vectors flattened in the order of
``model.parameters()``). Every optimizer's recorded parameters are projected onto that
one plane by least squares; what the projection leaves out (the residual) is kept, so
a figure can say how much of each path the plane explains.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Plane:
    """``origin + alpha * d1 + beta * d2``; how it was chosen, and for PCA the variance each axis explains."""

    kind: str  # "pca", "random" or "points"
    origin: np.ndarray  # (n_parameters,)
    d1: np.ndarray  # (n_parameters,)
    d2: np.ndarray  # (n_parameters,)
    explained: tuple[float, float] | None = None  # % of the paths' variance along d1 and d2 (pca only)
    origin_text: str = ""  # what the origin is, in words ("the mean of the final points")


@dataclass(frozen=True)
class PlanePath:
    """One (optimizer, seed) run's recorded parameters as seen on the plane."""

    label: str
    seed: int
    iterations: np.ndarray  # (records,): the iteration each record was taken before
    coords: np.ndarray  # (records, 2): the least-squares (alpha, beta) of each record
    residual: np.ndarray  # (records,): the norm of what the projection leaves out (off-plane distance)
    true_loss: np.ndarray  # (records,): the loss at the recorded parameters
    plane_loss: np.ndarray  # (records,): the loss at the projected point on the plane
    explained: float  # share (0..1) of the path's movement the plane explains


@dataclass(frozen=True)
class Interpolation:
    """The loss along the straight line from the initial point to one optimizer's final point
    (Goodfellow et al. 2015): ``theta(t) = (1 - t) * initial + t * final``."""

    label: str
    seed: int
    t: np.ndarray  # (points,), 0 at the initial point, 1 at the final one (may extend past both)
    train_loss: np.ndarray  # (points,)
    valid_loss: np.ndarray  # (points,)


@dataclass
class Landscape:
    """The loss over a plane's grid, with every path on it: ``loss[i, j]`` is at
    ``origin + alphas[j] * d1 + betas[i] * d2``."""

    plane: Plane
    data: str  # which split the loss is a full pass over: "train" or "valid"
    alphas: np.ndarray  # (A,)
    betas: np.ndarray  # (B,)
    loss: np.ndarray  # (B, A)
    paths: list[PlanePath] = field(default_factory=list)
    interpolations: list[Interpolation] = field(default_factory=list)
