"""What runs produce, as values: trajectories, run and sweep results, scores and basins.

The engine builds these; the store writes and reads them; renderers draw them. None
of those import each other: they meet here.
"""

from __future__ import annotations

from .network import NetworkResult, TrainingRun
from .trajectory import RunResult, Trajectory, continued, finite_or_none

__all__ = ["NetworkResult", "RunResult", "TrainingRun", "Trajectory", "continued", "finite_or_none"]
