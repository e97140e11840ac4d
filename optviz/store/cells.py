"""A sweep's finished cells on disk, so an interrupted sweep resumes and shards can be merged.

    outputs/sgd_grid/cells/
      <key>.npz    the cell's trajectories, exactly as a run directory's trajectories.npz; for a
                   network config, each (optimizer, seed) run's curves and epochs (store.network)
      <key>.json   its resolved config, the versions that computed it and any error

``<key>`` is the sha256 of the cell's resolved config (:func:`optviz.load.resolved.cell_key`).
Each file is written to a temporary name and renamed, the npz first and the json
last: a cell is finished when its json exists, so a process killed at any moment
leaves either a finished cell or none (at worst a hidden ``.part`` file, which
nothing reads).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import write_text
from ..errors import RunError
from ..load import Cell
from ..load.resolved import config_data
from ..results import RunResult
from ..results.network import NetworkResult
from .network import read_network_cell, write_network_cell
from .rundir import read_trajectories_npz, write_trajectories_npz

CELLS = "cells"


def cell_files(out_dir: Path, key: str) -> tuple[Path, Path]:
    """The npz and json of the cell ``key`` under ``out_dir``."""
    folder = Path(out_dir) / CELLS
    return folder / f"{key}.npz", folder / f"{key}.json"


def versions() -> dict[str, str]:
    """What computed a cell; a cell computed by other versions is not reused (see :func:`load_cell`)."""
    import torch

    from ..version import __version__

    return {"optviz": __version__, "torch": torch.__version__, "numpy": np.__version__}


def save_cell(out_dir: Path, cell: Cell, result: RunResult | NetworkResult) -> None:
    """Store a finished cell: its arrays, then the json that marks it finished."""
    npz, meta = cell_files(out_dir, cell.key)
    extra: dict[str, Any] = {}
    if isinstance(result, NetworkResult):
        extra["network"] = write_network_cell(result, npz)
        error = next((run.error for run in result if run.error), None)
    else:
        write_trajectories_npz(result, npz)
        error = result.trajectories[0].error
    config = config_data(cell.config)
    config.pop("render", None)
    write_text(meta, json.dumps({"key": cell.key, "label": cell.label, "config": config, "versions": versions(),
                                 "error": error, **extra}, indent=1) + "\n")


def load_cell(out_dir: Path, cell: Cell, *, same_versions: bool = True) -> RunResult | NetworkResult | None:
    """The stored result of ``cell``, or None if it is not finished here.

    With ``same_versions``, a cell computed by another optviz, torch or numpy counts
    as not finished, so a resumed sweep recomputes it rather than mixing versions.
    A damaged cell (by hand or by a full disk) counts as not finished too (:func:`read_cell` says why).
    """
    try:
        return read_cell(out_dir, cell, same_versions=same_versions)
    except RunError:
        return None


def read_cell(out_dir: Path, cell: Cell, *, same_versions: bool = True) -> RunResult | NetworkResult:
    """The stored result of ``cell``; a :class:`RunError` naming the file and what is wrong where
    it is missing, computed by other versions (with ``same_versions``) or damaged."""
    npz, meta = cell_files(out_dir, cell.key)
    if not meta.is_file():
        raise RunError(f"{meta}: not finished")
    info = read_meta(meta)
    if info is None:
        raise RunError(f"{meta}: not a JSON object")
    missing = [key for key in ("key", "versions") if key not in info]
    if missing:
        raise RunError(f"{meta}: lacks {', '.join(repr(key) for key in missing)}")
    if info["key"] != cell.key:
        raise RunError(f"{meta}: holds cell {str(info['key'])[:80]!r}, not {cell.key!r}")
    error = info.get("error")
    if error is not None and not isinstance(error, str):
        raise RunError(f"{meta}: 'error' must be text or null")
    if same_versions and info["versions"] != versions():
        raise RunError(f"{meta}: computed by other versions")
    if cell.config.problem is not None:
        if not isinstance(info.get("network"), dict):
            raise RunError(f"{meta}: lacks 'network'")
        return read_network_cell(npz, info["network"], cell.config)
    result = read_trajectories_npz(npz, cell.config, cell.loaded.function)
    result.trajectories[0].error = error
    return result


def read_meta(path: Path) -> dict[str, Any] | None:
    """A cell's json, or None where it is missing, not JSON or not a JSON object."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def leftovers(out_dir: Path) -> list[Path]:
    """Temporary files of writes that a killed process never finished."""
    folder = Path(out_dir) / CELLS
    return sorted(folder.glob(".*.part*")) if folder.is_dir() else []
