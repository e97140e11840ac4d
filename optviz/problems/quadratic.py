"""Quadratics declared with their constant Hessian: the check that the formula is one, and its minimum.

A config may say that its formula is a quadratic::

    function:
      expr: "x**2 + 10*y**2"
      domain: [[-2, 2], [-1, 1]]
      hessian: [[2, 0], [0, 20]]

Figures then draw what theory predicts there (:mod:`optviz.results.theory`). The claim is
checked against the formula: for a quadratic, second differences give its Hessian exactly
(up to rounding) at every point and with any step, so they are taken at two points of the
domain with steps of a quarter of its width. Where the Hessian is positive definite and no
minimum was given, the minimum is found from it: x* = c - H^-1 grad f(c), whose gradient
central differences also give exactly.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from .functions import Minimum, TestFunction

# Second differences of a true quadratic agree with its Hessian to about this share of the
# values involved (float64 rounding); a formula that is not quadratic misses by far more.
_RELATIVE_TOLERANCE = 1e-7


def second_differences(function: TestFunction, point: Sequence[float], steps: Sequence[float]) -> np.ndarray:
    """The (dim, dim) matrix of f's central second differences at ``point`` with ``steps`` per axis.

    For a quadratic this is its Hessian; for any smooth f, the Hessian as the steps shrink.
    """
    point, steps = np.asarray(point, dtype=np.float64), np.asarray(steps, dtype=np.float64)
    dim = len(point)
    unit = np.eye(dim) * steps
    matrix = np.empty((dim, dim))
    for row in range(dim):
        for column in range(dim):
            corners = point + np.array([unit[row] + unit[column], unit[row] - unit[column],
                                        -unit[row] + unit[column], -unit[row] - unit[column]])
            values = np.asarray(function(corners), dtype=np.float64)
            matrix[row, column] = (values[0] - values[1] - values[2] + values[3]) / (4 * steps[row] * steps[column])
    return matrix


def declared_hessian(function: TestFunction, hessian: Sequence[Sequence[float]]) -> TestFunction:
    """``function`` declared quadratic with ``hessian``, once the formula is checked to be one with it.

    Where the Hessian is positive definite and ``function`` knows no minimum, its minimum is
    added. Errors are :class:`ConfigError` keyed ``hessian``.
    """
    dim = function.dim
    matrix = np.asarray(hessian, dtype=np.float64) if _is_matrix(hessian) else None
    if matrix is None or matrix.shape != (dim, dim):
        example = "[[a]] for a function of x" if dim == 1 else "[[a, b], [b, c]] for a function of x and y"
        raise ConfigError(f"must be a {dim} x {dim} matrix, {example}, got {list(hessian)}", path="hessian")
    if not np.isfinite(matrix).all():
        raise ConfigError(f"must be finite, got {_text(matrix)}", path="hessian")
    if not np.array_equal(matrix, matrix.T):
        raise ConfigError(f"must be symmetric (a Hessian is), got {_text(matrix)}", path="hessian")
    box = np.asarray(function.domain, dtype=np.float64)
    steps = (box[:, 1] - box[:, 0]) / 4
    for share in (0.5, 0.3):  # the centre, and a point off it: a quartic agrees at one point only by chance
        point = box[:, 0] + share * (box[:, 1] - box[:, 0])
        with np.errstate(all="ignore"):
            found = second_differences(function, point, steps)
            scale = np.abs(function(point + np.array([[0.0] * dim, *np.diag(steps)]))).max() / steps.min() ** 2
        if not np.isfinite(found).all() or np.abs(found - matrix).max() > _RELATIVE_TOLERANCE * (
                np.abs(matrix).max() + scale):
            at = ", ".join(f"{value:.3g}" for value in point)
            raise ConfigError(f"{_text(matrix)} is not the formula's Hessian: its second differences at ({at}) "
                              f"give {_text(found)} (or the formula is not a quadratic)", path="hessian")
    declared = dataclasses.replace(function, hessian=tuple(tuple(float(value) for value in row) for row in matrix))
    if function.minima or np.linalg.eigvalsh(matrix).min() <= 0:
        return declared
    return dataclasses.replace(declared, minima=(_minimum(declared, matrix, box.mean(axis=1), steps),))


def _text(matrix: np.ndarray) -> str:
    """``[[2, 0], [0, 20]]``: a matrix as a config writes it, to 4 significant digits."""
    return "[" + ", ".join("[" + ", ".join(f"{value:.4g}" for value in row) + "]" for row in matrix) + "]"


def _is_matrix(value: object) -> bool:
    """Rows of numbers, all as long as the first (a ragged list would not make an array)."""
    return isinstance(value, (list, tuple)) and all(
        isinstance(row, (list, tuple)) and len(row) == len(value[0]) and all(isinstance(entry, (int, float))
                                                                             for entry in row) for row in value)


def _minimum(function: TestFunction, hessian: np.ndarray, centre: np.ndarray, steps: np.ndarray) -> Minimum:
    """Where a positive definite quadratic is lowest: one Newton step from ``centre``."""
    unit = np.diag(steps)
    values = np.asarray(function(np.concatenate([centre + unit, centre - unit])), dtype=np.float64)
    gradient = (values[: len(steps)] - values[len(steps):]) / (2 * steps)
    point = centre - np.linalg.solve(hessian, gradient)
    return Minimum(tuple(float(value) for value in point), float(function(point)))
