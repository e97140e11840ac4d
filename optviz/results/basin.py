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

``optviz basin CONFIG`` (:func:`optviz.pipelines.basin.basin_map`) writes the run,
its files, ``basin.npz`` and ``basin.png``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Config, GridStart
from ..problems import TestFunction
from .trajectory import RunResult

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


def basins(result: RunResult) -> list[Basin]:
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


def minimum_names(function: TestFunction) -> list[str]:
    """"A", "B", ... for the known minima, in the order the function lists them."""
    return [chr(ord("A") + index) if index < 26 else f"M{index}" for index in range(len(function.minima))]


def outcome_name(function: TestFunction, outcome: int) -> str:
    if outcome == NOT_CONVERGED:
        return "not converged"
    if outcome == DIVERGED:
        return "diverged"
    return f"minimum {minimum_names(function)[outcome]}"


def basin_summary(result: RunResult) -> dict[str, Any]:
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
