"""Where a function is NaN or infinite over a domain: blank regions in figures, said in words."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import quote
from .functions import TestFunction


@dataclasses.dataclass(frozen=True)
class NonFinite:
    """Where a function is NaN or infinite on a grid over a domain."""

    fraction: float  # of the grid's points
    points: int  # grid points per axis
    box: tuple[tuple[float, float], ...]  # the smallest box holding every non-finite grid point
    finite_box: tuple[tuple[float, float], ...] | None  # the same for the finite ones; None if there are none
    example: tuple[float, ...]  # one non-finite grid point

    def describe(self, function_name: str) -> str:
        """One sentence for a person: how much of the domain, and where."""
        grid = f"{self.points} points" if len(self.box) == 1 else f"a {self.points} x {self.points} grid"
        example = ", ".join(f"{axis}={value:.4g}" for axis, value in zip("xy", self.example))
        sentence = (f"the function {quote(function_name)} is NaN or infinite at {self.fraction:.1%} of {grid} "
                    f"over the domain (e.g. at {example})")
        if self.finite_box is not None and self.fraction > 0.5:
            return f"{sentence}; it is finite only within {_describe_box(self.finite_box)}; the rest is left blank in the figures"
        return f"{sentence}, within {_describe_box(self.box)}; those parts are left blank in the figures"

    def to_dict(self) -> dict[str, Any]:
        return {"fraction": self.fraction, "grid": self.points, "box": [list(pair) for pair in self.box],
                "finite_box": None if self.finite_box is None else [list(pair) for pair in self.finite_box],
                "example": list(self.example)}


def _describe_box(box: tuple[tuple[float, float], ...]) -> str:
    return ", ".join(f"{axis} in [{low:.4g}, {high:.4g}]" for axis, (low, high) in zip("xy", box))


def _bounding_box(grids: list[np.ndarray], mask: np.ndarray) -> tuple[tuple[float, float], ...] | None:
    if not mask.any():
        return None
    return tuple((float(grid[mask].min()), float(grid[mask].max())) for grid in grids)


def nonfinite_region(function: TestFunction, domain: Any, resolution: int = 200) -> NonFinite | None:
    """Where ``function`` is not finite on a ``resolution``-point grid over ``domain``; None if nowhere.

    >>> from optviz.config import FunctionSpec
    >>> from optviz.problems.custom import resolve_function
    >>> nonfinite_region(resolve_function(FunctionSpec(expr="log(x)", domain=[[-1, 1]])), [[-1, 1]], 5).box
    ((-1.0, 0.0),)
    """
    axes = [np.linspace(low, high, resolution) for low, high in np.asarray(domain, dtype=np.float64)]
    grids = np.meshgrid(*axes)
    with np.errstate(all="ignore"):
        values = np.asarray(function(np.stack(grids, axis=-1)), dtype=np.float64)
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    return NonFinite(
        fraction=float(bad.mean()),
        points=resolution,
        box=_bounding_box(grids, bad),
        finite_box=_bounding_box(grids, ~bad),
        example=tuple(float(grid[bad][0]) for grid in grids),
    )
