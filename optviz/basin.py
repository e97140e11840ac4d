"""Basins of attraction: which known minimum each start ends at, and after how many steps.

A start *converges* to a known minimum when it ends within the run's tolerance of
it (``record.tolerance``, by default 1% of the domain's diagonal); its converged
step is the step from which it stayed there (:mod:`optviz.engine` follows every
step, so this does not depend on how thinly the run records). Every start gets an
outcome: the index of its minimum in ``function.minima``, :data:`NOT_CONVERGED` or
:data:`DIVERGED`.

>>> from optviz import config_from_dict, run
>>> result = run(config_from_dict({"function": "himmelblau", "start": {"grid": [3, 3]}, "steps": 200,
...                                "optimizers": [{"name": "Adam", "lr": 0.1}]}))
>>> basins(result)[0].outcome.reshape(3, 3).tolist()  # rows from y = -5 up; 0 is minimum A at (3, 2)
[[2, 2, 3], [2, 0, 3], [1, 1, 0]]

``optviz basin CONFIG`` is :func:`basin_map`: the run, its files, ``basin.npz``
and ``basin.png``.
"""

from __future__ import annotations

import copy
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .config import Config, GridStart
from .errors import ConfigError

NOT_CONVERGED = -1
DIVERGED = -2


@dataclass
class Basin:
    """One optimizer's outcome for every start (arrays indexed by start)."""

    label: str
    outcome: np.ndarray  # minimum index, NOT_CONVERGED or DIVERGED
    converged_step: np.ndarray  # -1 where the start did not converge
    final_position: np.ndarray  # (starts, dim)
    final_loss: np.ndarray

    def counts(self, minima: int) -> dict[int, int]:
        """Starts per outcome: each minimum index, then NOT_CONVERGED and DIVERGED."""
        return {outcome: int(np.count_nonzero(self.outcome == outcome))
                for outcome in [*range(minima), NOT_CONVERGED, DIVERGED]}


def basins(result) -> list[Basin]:
    """Every optimizer's :class:`Basin`; without known minima every finite start is NOT_CONVERGED."""
    found = []
    for trajectory in result:
        converged = trajectory.converged_step
        if converged is None:
            converged = np.full(len(result.starts), -1)
        nearest, _ = result.function.nearest_minimum(trajectory.final_position)
        outcome = np.where(converged >= 0, nearest, NOT_CONVERGED)
        # A start whose optimizer raised ends at NaN like a diverged one: neither reached anything.
        broken = trajectory.diverged | ~np.isfinite(trajectory.final_position).all(axis=-1)
        outcome = np.where(broken, DIVERGED, outcome)
        found.append(Basin(label=trajectory.label, outcome=outcome.astype(np.int64), converged_step=converged,
                           final_position=trajectory.final_position, final_loss=trajectory.final_loss))
    return found


def grid_shape(config: Config, dim: int) -> tuple[int, ...] | None:
    """``(ny, nx)`` (2D) or ``(nx,)`` (1D) when the starts are a grid, in the order they were made; else None."""
    if not isinstance(config.start, GridStart):
        return None
    return tuple(reversed(config.start.grid)) if dim == 2 else tuple(config.start.grid)


def minimum_names(function) -> list[str]:
    """"A", "B", ... for the known minima, in the order the function lists them."""
    return [chr(ord("A") + index) if index < 26 else f"M{index}" for index in range(len(function.minima))]


def outcome_name(function, outcome: int) -> str:
    if outcome == NOT_CONVERGED:
        return "not converged"
    if outcome == DIVERGED:
        return "diverged"
    return f"minimum {minimum_names(function)[outcome]}"


def check_basin(config: Config, function) -> None:
    """Refuse a basin figure that cannot be drawn: colouring by minimum or steps needs known minima."""
    colour_by = config.render.basin.colour_by
    if colour_by != "final_loss" and not function.minima:
        raise ConfigError(f"colouring by {colour_by!r} needs known minima and {function.name} has none; "
                          "use final_loss, or give the function minima", path="render.basin.colour_by")


def basin_summary(result) -> dict[str, Any]:
    """JSON-ready: per optimizer, the share of starts per outcome and the median converged step."""
    function = result.function
    entries = []
    for basin in basins(result):
        total = len(basin.outcome)
        counts = basin.counts(len(function.minima))
        converged = basin.converged_step[basin.converged_step >= 0]
        entries.append({
            "label": basin.label,
            "starts": total,
            "minima": [{"name": name, "point": list(minimum.point), "value": minimum.value, "kind": minimum.kind,
                        "starts": counts[index], "fraction": counts[index] / total}
                       for index, (name, minimum) in enumerate(zip(minimum_names(function), function.minima))],
            "not_converged": counts[NOT_CONVERGED] / total,
            "diverged": counts[DIVERGED] / total,
            "median_converged_step": float(np.median(converged)) if converged.size else None,
        })
    return {"tolerance": result.tolerance, "colour_by": result.config.render.basin.colour_by,
            "grid": list(grid_shape(result.config, result.dim) or []) or None, "runs": entries}


def describe(entry: dict[str, Any]) -> str:
    """One line for a person: ``Adam  A 41.2%  B 30.1%  not converged 9.7%``."""
    parts = [f"{minimum['name']} {minimum['fraction']:.1%}" for minimum in entry["minima"]]
    parts.append(f"not converged {entry['not_converged']:.1%}")
    if entry["diverged"]:
        parts.append(f"diverged {entry['diverged']:.1%}")
    return "  ".join(parts)


def write_basin_npz(result, path: Path) -> Path:
    """``basin.npz``: starts, grid shape, minima, tolerance and per optimizer (suffix ``_i``) the
    outcome, converged step, final position and final loss. Byte-identical for identical runs."""
    from .io import atomic_path

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
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue(),
                             compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
    return path


def with_basin_figure(config: Config) -> Config:
    """``config`` with "basin" among its figures (a copy; the original is left alone)."""
    if "basin" in config.render.figures:
        return config
    updated = copy.deepcopy(config)
    updated.render.figures = [*config.render.figures, "basin"]
    return updated


def basin_map(config: Config, out_dir: str | Path, *, source: str = "", fmt: str | None = None,
              progress: Callable[[str, int, int], None] | None = None,
              figure_progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run ``config`` and write its run directory with ``basin.npz`` and ``basin.png``; return the manifest.

    The manifest's ``basin`` entry has, per optimizer, the share of starts that
    reached each known minimum (see :func:`basin_summary`). ``source`` (the config's
    file) prefixes a :class:`ConfigError` when the basin figure cannot be drawn; the
    progress callbacks are :func:`~optviz.runner.run_to_dir`'s.

    >>> from optviz import load_config
    >>> manifest = basin_map(load_config("configs/himmelblau_basin.yaml"), "outputs/himmelblau_basin")  # doctest: +SKIP
    >>> [round(minimum["fraction"], 3) for minimum in manifest["basin"]["runs"][0]["minima"]]  # doctest: +SKIP
    [0.255, 0.26, 0.237, 0.247]
    """
    from .engine import check_single_run
    from .runner import run_to_dir

    config = with_basin_figure(config)
    try:
        check_single_run(config)
        check_basin(config, config.test_function())
    except ConfigError as error:
        raise error.with_context(source=source) from None
    return run_to_dir(config, out_dir, animate=False, fmt=fmt, progress=progress, figure_progress=figure_progress)
