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

from .version import __version__

_EXPORTS = {
    "ConfigError": "errors",
    "OptvizError": "errors",
    "RunError": "errors",
    "Config": "config",
    "with_overrides": "config",
    "Loaded": "load",
    "load_config": "load",
    "config_from_dict": "load",
    "plan_sweep": "load",
    "get_function": "problems",
    "function_names": "problems",
    "TestFunction": "problems",
    "RunResult": "results",
    "Trajectory": "results",
    "run": "engine",
    "run_batch": "engine",
    "run_to_dir": "pipelines.run",
    "animate_dir": "pipelines.animate",
    "basin_map": "pipelines.basin",
    "run_sweep": "pipelines.sweep",
    "sweep_to_dir": "pipelines.sweep",
    "merge_sweep": "pipelines.sweep",
    "tune_to_dir": "pipelines.tune",
    "read_suite": "config.suite",
    "suite_model": "config.suite",
    "compare_to_dir": "pipelines.compare",
    "load_run": "store.rundir",
    "plot_loss": "render",
    "plot_path": "render",
    "save_loss": "render",
    "save_path": "render",
    "plot_basin": "render",
    "save_basin": "render",
    "plot_sweep_loss": "render",
    "save_sweep_loss": "render",
    "plot_sweep_heatmap": "render",
    "save_sweep_heatmap": "render",
    "plot_sweep_best": "render",
    "save_sweep_best": "render",
    "plot_tune": "render",
    "save_tune": "render",
    "plot_ranking": "render.ranking",
    "save_ranking": "render.ranking",
    "plot_surface": "render",
    "save_surface": "render",
    "plot_diagnostics": "render",
    "save_diagnostics": "render",
    "save_animation": "render",
    "live_animation": "render",
    "show_animation": "render.notebook",
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
