"""Domains: the [low, high] box of each variable, checked; the box a figure shows."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, quote
from .functions import TestFunction


def plot_domain(domain: Sequence[Sequence[float]] | None, function: TestFunction) -> np.ndarray:
    """The (dim, 2) box the figures show: the config's ``domain`` if given, else the function's own."""
    box = domain if domain is not None else function.domain
    return np.asarray(box, dtype=np.float64).reshape(function.dim, 2)


# Beyond this a plot's grid spacing, ticks and margins overflow or lose every digit; float32 ends near 3.4e38.
MAX_COORDINATE = 1e30


def check_box(box: Any, dim: int, path: str) -> np.ndarray:
    """Validate a [[low, high], ...] box with one pair per dimension."""
    array = np.asarray(box, dtype=np.float64)
    if array.shape != (dim, 2):
        raise ConfigError(f"must be {dim} [low, high] pair{'s' if dim > 1 else ''}, got {quote(box)}", path=path)
    if not np.all(np.isfinite(array)):
        raise ConfigError(f"must be finite, got {quote(box)}", path=path)
    if np.any(np.abs(array) > MAX_COORDINATE):
        raise ConfigError(f"must lie within +-{MAX_COORDINATE:g}, got {quote(box)}", path=path)
    if np.any(array[:, 0] >= array[:, 1]):
        raise ConfigError(f"each pair must have low < high, got {quote(box)}", path=path)
    return array


def check_domain(box: Any, dim: int | None = None, path: str = "domain") -> np.ndarray:
    """Check a plot domain: 1 or 2 finite ``[low, high]`` pairs (``dim`` of them if given)."""
    try:
        count = dim or (len(box) if isinstance(box, (list, tuple)) else 0)
        if count not in (1, 2):
            raise ConfigError("must be [[x_low, x_high]] for a 1D function or [[x_low, x_high], [y_low, y_high]] "
                              f"for a 2D one, got {quote(box)}", path=path)
        return check_box(box, count, path)
    except (TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"must be a list of [low, high] pairs of numbers, got {quote(box)}", path=path) from None
