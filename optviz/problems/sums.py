"""Finite-sum test functions: f(x) = (1/n) sum_i f_i(x), whose minibatches give noisy gradients.

Each is a registered 2D test function (so its paths can be drawn) whose value is the mean
of its n terms, and whose :class:`FiniteSum` lets the engine take a gradient from a
minibatch of them (``noise: {batch_size: B}``; :mod:`optviz.problems.noise` says in which
order). One definition serves both: ``term(x, y, *row, lib)`` is one term at the data row
``row``, evaluated with broadcasting over all rows (the function) or over a minibatch's.

- **least_squares**: fitting a line b = w0 + w1 a to 64 points by mean squared error,
  0.5 (w0 + w1 a_i - b_i)^2, x = the intercept w0, y = the slope w1. The points' a lie in
  [1, 3], away from 0, so intercept and slope trade off: a narrow valley (condition
  number about 50), as in regression on uncentred features.
- **noisy_quadratic**: DeepOBS's noisy quadratic (``quadratic_deep``), in 2D:
  0.5 (x - s_i)^T Q (x - s_i) over 100 samples s_i ~ N(0, I), with Q's eigenvalues drawn as
  DeepOBS draws its spectrum, one from the bulk U(0, 1) and one outlier from U(30, 60):
  the few sharp and many flat directions of a network's Hessian, in the two directions a
  figure can show. The minimum is the samples' mean.

The data are fixed (drawn once from a fixed seed), so a function is the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

import numpy as np

from .functions import Array, Minimum, TestFunction, get_function, register


@dataclass(frozen=True)
class FiniteSum:
    """The terms of a finite-sum function: ``data`` rows ``(terms, fields)`` and ``term(x, y, *row, lib)``."""

    data: np.ndarray
    term: Callable[..., Array] = field(repr=False)
    _columns: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def count(self) -> int:
        return len(self.data)

    def columns(self, lib: ModuleType, like: Any = None) -> tuple[Any, ...]:
        """The data's fields as ``lib`` arrays (torch: of ``like``'s dtype), made once per dtype."""
        if lib is np:
            return tuple(self.data.T)
        key = str(like.dtype)
        if key not in self._columns:
            self._columns[key] = tuple(lib.tensor(column, dtype=like.dtype) for column in self.data.T)
        return self._columns[key]

    def mean(self, coordinates: tuple[Any, ...], lib: ModuleType, indices: Any = None) -> Any:
        """The mean of the terms at ``coordinates`` (arrays of one shape S), over all rows or ``indices``.

        ``indices`` of shape ``(*S[-1:], B)`` picks B rows per point along S's last axis (each
        start its own minibatch), or ``(B,)`` one minibatch for every point. Returns shape S.
        """
        columns = self.columns(lib, coordinates[0])
        if indices is not None:
            picked = lib.as_tensor(indices) if lib is not np else np.asarray(indices)
            columns = tuple(column[picked] for column in columns)
        values = self.term(*(coordinate[..., None] for coordinate in coordinates), *columns, lib)
        return values.mean(-1) if lib is not np else values.mean(axis=-1)


def register_sum(name: str, *, data: np.ndarray, term: Callable[..., Array], domain: tuple, minimum: Minimum,
                 formula: str, log_scale: bool, description: str,
                 hessian: np.ndarray | None = None) -> TestFunction:
    """Register a 2D finite-sum function: its value is the mean of ``term`` over ``data``'s rows
    (``hessian``: the mean's constant Hessian, where it is a quadratic)."""
    terms = FiniteSum(data=np.asarray(data, dtype=np.float64), term=term)

    def fn(x: Array, y: Array, lib: ModuleType) -> Array:
        return terms.mean((x, y), lib)

    register(name, dim=2, domain=domain, minima=(minimum,), formula=formula, log_scale=log_scale,
             description=description, terms=terms,
             hessian=None if hessian is None else tuple(map(tuple, np.asarray(hessian))))(fn)
    return get_function(name)


def _least_squares_data() -> np.ndarray:
    generator = np.random.default_rng(20240601)
    a = generator.uniform(1.0, 3.0, 64)
    b = 2.0 - 0.5 * a + generator.normal(0.0, 0.4, 64)
    return np.column_stack([a, b])


def _least_squares_term(w0: Array, w1: Array, a: Array, b: Array, lib: ModuleType) -> Array:
    return 0.5 * (w0 + w1 * a - b) ** 2


def _least_squares_minimum(data: np.ndarray) -> Minimum:
    a, b = data.T
    design = np.column_stack([np.ones_like(a), a])
    point = np.linalg.lstsq(design, b, rcond=None)[0]
    value = float(np.mean(_least_squares_term(point[0], point[1], a, b, np)))
    return Minimum((float(point[0]), float(point[1])), value)


def _least_squares_hessian(data: np.ndarray) -> np.ndarray:
    """The mean over the points of [[1, a], [a, a^2]]: each term's Hessian in (intercept, slope)."""
    a = data[:, 0]
    return np.array([[1.0, a.mean()], [a.mean(), (a**2).mean()]])


def _quadratic_parts() -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(20240603)
    eigenvalues = np.array([generator.uniform(0.0, 1.0), generator.uniform(30.0, 60.0)])
    angle = np.pi / 6
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    hessian = rotation @ np.diag(eigenvalues) @ rotation.T
    samples = generator.normal(0.0, 1.0, (100, 2))
    return hessian, samples


_HESSIAN, _SAMPLES = _quadratic_parts()


def _quadratic_term(x: Array, y: Array, s: Array, t: Array, lib: ModuleType) -> Array:
    (q11, q12), (_, q22) = _HESSIAN
    dx, dy = x - s, y - t
    return 0.5 * (q11 * dx**2 + 2.0 * q12 * dx * dy + q22 * dy**2)


def _quadratic_minimum() -> Minimum:
    point = _SAMPLES.mean(axis=0)
    value = float(np.mean(_quadratic_term(point[0], point[1], _SAMPLES[:, 0], _SAMPLES[:, 1], np)))
    return Minimum((float(point[0]), float(point[1])), value)


_LEAST_SQUARES = _least_squares_data()
register_sum(
    "least_squares", data=_LEAST_SQUARES, term=_least_squares_term, domain=((-2.0, 6.0), (-2.5, 1.5)),
    minimum=_least_squares_minimum(_LEAST_SQUARES), hessian=_least_squares_hessian(_LEAST_SQUARES),
    formula="mean_i (x + y a_i - b_i)^2 / 2 over 64 points (a_i, b_i)", log_scale=True,
    description="Fitting a line (intercept x, slope y) to 64 points by least squares: a finite sum whose "
                "minibatches (noise: {batch_size: B}) give noisy gradients.")
register_sum(
    "noisy_quadratic", data=_SAMPLES, term=_quadratic_term, domain=((-3.0, 3.0), (-3.0, 3.0)),
    minimum=_quadratic_minimum(), hessian=_HESSIAN, formula="mean_i (p - s_i)^T Q (p - s_i) / 2 over 100 samples s_i ~ N(0, I)",
    log_scale=True,
    description=f"DeepOBS's noisy quadratic in 2D: Q has one bulk eigenvalue {np.linalg.eigvalsh(_HESSIAN)[0]:.2f} "
                f"and one outlier {np.linalg.eigvalsh(_HESSIAN)[1]:.1f}, like a network's Hessian; "
                "minibatches (noise: {batch_size: B}) give noisy gradients.")
