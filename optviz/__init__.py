"""optviz: see how torch.optim optimizers move.

>>> import optviz
>>> config = optviz.load_config("configs/peaks.yaml")          # doctest: +SKIP
>>> result = optviz.run(config)                                 # doctest: +SKIP
>>> result["Adam"].positions.shape                              # doctest: +SKIP
(1, 101, 2)

Heavy modules (torch, matplotlib) load on first use, so ``optviz --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ConfigError": "errors",
    "OptvizError": "errors",
    "RunError": "errors",
    "Config": "config",
    "load_config": "config",
    "config_from_dict": "config",
    "get_function": "functions",
    "function_names": "functions",
    "TestFunction": "functions",
    "run": "engine",
    "RunResult": "engine",
    "Trajectory": "engine",
    "run_to_dir": "runner",
    "animate_dir": "runner",
    "load_run": "rundir",
    "plot_loss": "render",
    "plot_path": "render",
    "save_loss": "render",
    "save_path": "render",
    "plot_basin": "render",
    "save_basin": "render",
    "basin_map": "basin",
    "run_batch": "engine",
    "plan_sweep": "sweep",
    "run_sweep": "sweepdir",
    "sweep_to_dir": "sweepdir",
    "merge_sweep": "sweepdir",
    "tune_to_dir": "tune",
    "plot_sweep_loss": "render",
    "save_sweep_loss": "render",
    "plot_sweep_heatmap": "render",
    "save_sweep_heatmap": "render",
    "plot_sweep_best": "render",
    "save_sweep_best": "render",
    "plot_tune": "render",
    "save_tune": "render",
    "plot_surface": "render",
    "save_surface": "render",
    "plot_diagnostics": "render",
    "save_diagnostics": "render",
    "save_animation": "render",
    "live_animation": "render",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'optviz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
