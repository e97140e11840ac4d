"""``optviz basin CONFIG``: a run over a grid of starts, with ``basin.npz`` and ``basin.png``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..config import Config
from ..engine import check_single_run
from ..errors import ConfigError
from ..load import Loaded, prepare
from ..load.checks import check_basin
from .run import run_to_dir


def with_basin_figure(config: Config) -> Config:
    """``config`` with "basin" among its figures (a new config; the original is left alone)."""
    if "basin" in config.render.figures:
        return config
    render = config.render.model_copy(update={"figures": [*config.render.figures, "basin"]})
    return config.model_copy(update={"render": render})


def basin_map(config: Config | Loaded, out_dir: str | Path, *, source: str = "", fmt: str | None = None,
              workers: int | None = None, progress: Callable[[str, int, int], None] | None = None,
              figure_progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run ``config`` and write its run directory with ``basin.npz`` and ``basin.png``; return the manifest.

    The manifest's ``basin`` entry has, per optimizer, the share of starts that
    reached each known minimum (see :func:`basin_summary`). ``source`` (the config's
    file) prefixes a :class:`ConfigError` when the basin figure cannot be drawn; the
    progress callbacks are :func:`~optviz.pipelines.run.run_to_dir`'s. ``workers`` is the
    number of processes the starts are shared out to (None: :func:`optviz.engine.default_workers`);
    every file is the same bit for bit whatever it is.

    >>> from optviz import load_config
    >>> manifest = basin_map(load_config("configs/himmelblau_basin.yaml"), "outputs/himmelblau_basin")  # doctest: +SKIP
    >>> [round(minimum["fraction"], 3) for minimum in manifest["basin"]["runs"][0]["minima"]]  # doctest: +SKIP
    [0.255, 0.26, 0.237, 0.247]
    """
    config = with_basin_figure(config.config if isinstance(config, Loaded) else config)
    try:
        check_single_run(config)
        loaded = prepare(config)
        check_basin(config, loaded.function)
        if len(loaded.starts) == 1:
            grid = ",".join(["64"] * loaded.function.dim)
            raise ConfigError(f"a basin map needs a grid of starts, one pixel each, and this config has one start; "
                              f"give it one with --set start.grid=[{grid}]", path="start")
    except ConfigError as error:
        raise error.with_context(source=source) from None
    return run_to_dir(loaded, out_dir, animate=False, fmt=fmt, workers=workers, progress=progress,
                      figure_progress=figure_progress)
