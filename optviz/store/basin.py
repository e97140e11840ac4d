"""``basin.npz``: the outcome of every start, beside the run's other files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..results import RunResult
from ..results.basin import basins, grid_shape
from .npz import write_npz


def write_basin_npz(result: RunResult, path: Path) -> Path:
    """``basin.npz``: starts, grid shape, minima, tolerance and per optimizer (suffix ``_i``) the
    outcome, converged step, final position and final loss. Byte-identical for identical runs."""
    function = result.function
    arrays: dict[str, np.ndarray] = {
        "labels": np.array(result.labels),
        "starts": result.starts,
        "grid": np.array(grid_shape(result.config, result.dim) or (), dtype=np.int64),
        "minima": np.array([minimum.point for minimum in function.minima], dtype=np.float64).reshape(-1, result.dim),
        "minimum_values": np.array([minimum.value for minimum in function.minima], dtype=np.float64),
        "tolerance": np.array(np.nan if result.tolerance is None else result.tolerance),
    }
    for index, basin in enumerate(basins(result)):
        arrays[f"outcome_{index}"] = basin.outcome
        arrays[f"converged_step_{index}"] = basin.converged_step
        arrays[f"final_position_{index}"] = np.ascontiguousarray(basin.final_position)
        arrays[f"final_loss_{index}"] = np.ascontiguousarray(basin.final_loss)
    return write_npz(path, arrays)
