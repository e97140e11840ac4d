"""Where trajectories begin: a point, a list of points, a grid or random draws."""

from __future__ import annotations

import numpy as np

from ..config import Config, GridStart, RandomStart
from ..errors import ConfigError, quote
from ..problems import TestFunction, check_box, plot_domain


def resolve_starts(config: Config, function: TestFunction) -> np.ndarray:
    """Return the starting points as a float64 array of shape (starts, dim).

    Random starts are drawn from their own seed (or the config's), so the same
    config always gives the same points.
    """
    dim = function.dim
    spec = config.start
    if isinstance(spec, GridStart):
        box = _box(spec.box, config, function, "start.box")
        if len(spec.grid) != dim:
            raise ConfigError(f"needs {dim} counts for a {dim}D function, got {spec.grid}", path="start.grid")
        if any(count < 1 or count > 4096 for count in spec.grid):
            raise ConfigError(f"each count must be between 1 and 4096, got {spec.grid}", path="start.grid")
        axes = [np.linspace(low, high, count) for (low, high), count in zip(box, spec.grid)]
        mesh = np.meshgrid(*axes, indexing="xy")
        return np.stack([axis.ravel() for axis in mesh], axis=-1)
    if isinstance(spec, RandomStart):
        box = _box(spec.box, config, function, "start.box")
        generator = np.random.default_rng(config.seed if spec.seed is None else spec.seed)
        return box[:, 0] + (box[:, 1] - box[:, 0]) * generator.random((spec.random, dim))
    single = isinstance(spec, list) and bool(spec) and all(_is_number(value) for value in spec)
    if single and dim == 1:  # a flat list for a 1D function is one start per number
        points, single = [[value] for value in spec], len(spec) == 1
    else:
        points = [spec] if single else spec
    array = []
    for index, point in enumerate(points):
        where = "start" if single else f"start[{index}]"
        if _is_number(point):
            point = [point]
        if not isinstance(point, list) or not all(_is_number(value) for value in point):
            raise ConfigError(f"must be a point (a list of {dim} numbers), got {quote(point)}", path=where)
        if len(point) != dim:
            raise ConfigError(f"must have {dim} coordinate{'s' if dim > 1 else ''} for {function.name}, got {len(point)}", path=where)
        if not all(np.isfinite(point)):
            raise ConfigError(f"must be finite, got {point}", path=where)
        array.append([float(value) for value in point])
    if not array:
        raise ConfigError("needs at least one point", path="start")
    return np.asarray(array, dtype=np.float64)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _box(box: list[list[float]] | None, config: Config, function: TestFunction, path: str) -> np.ndarray:
    if box is None:
        return plot_domain(config.domain, function)
    return check_box(box, function.dim, path)
