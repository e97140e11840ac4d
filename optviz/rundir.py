"""The run directory: the resolved config, the trajectories and a manifest, written and read back.

    outputs/peaks/
      config.yaml         the resolved config (overrides applied)
      manifest.json       versions, config hash, per-optimizer outcome; timings under "timing"
      trajectories.npz    every recorded array, exact (what `optviz animate` reads)
      trajectories.csv    the same in long format, for spreadsheets (skipped when huge)
      summary.csv         one row per (optimizer, start)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import platform
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .config import config_from_dict, parse_yaml
from .engine import RunResult, Trajectory
from .errors import RunError
from .io import atomic_path, write_text

CSV_ROW_LIMIT = 1_000_000
ARRAYS = ("positions", "loss", "lr", "grad_norm", "diverged_step")


def config_hash(config) -> str:
    """sha256 of the resolved config's YAML: the same runs give the same hash."""
    return hashlib.sha256(config.to_yaml().encode()).hexdigest()


def versions() -> dict[str, str]:
    import matplotlib
    import torch

    from . import __version__

    return {"optviz": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "matplotlib": matplotlib.__version__, "python": platform.python_version()}


def manifest(result: RunResult, *, timing: dict[str, Any] | None = None, files: list[str] | None = None,
             warnings: list[str] | None = None, nonfinite: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's summary as JSON-ready data; what varies between reruns lives under ``timing``.

    ``warnings`` are sentences for a person; ``nonfinite`` says where the function is
    NaN or infinite over the plotted domain (see :func:`optviz.custom.nonfinite_region`).
    """
    config = result.config
    runs = [_run_entry(result, trajectory) for trajectory in result]
    return {
        "versions": versions(),
        "config_hash": config_hash(config),
        "function": result.function.name,
        "dim": result.dim,
        "steps": config.steps,
        "seed": config.seed,
        "dtype": config.dtype,
        "starts": len(result.starts),
        "runs": runs,
        "diverged": [run["label"] for run in runs if run["diverged_starts"]],
        "failed": [run["label"] for run in runs if run["status"] == "failed"],
        "warnings": list(warnings or []),
        "nonfinite": nonfinite,
        "files": sorted(files or []),
        "timing": timing or {},
    }


def _run_entry(result: RunResult, trajectory: Trajectory) -> dict[str, Any]:
    nearest, distance = result.function.nearest_minimum(trajectory.final_position)
    ok = ~trajectory.diverged
    diverged_starts = int(trajectory.diverged.sum())
    entry: dict[str, Any] = {
        "label": trajectory.label,
        "optimizer": trajectory.optimizer,
        "status": "failed" if trajectory.error else ("diverged" if diverged_starts == len(ok) else
                                                      "partly diverged" if diverged_starts else "ok"),
        "diverged_starts": diverged_starts,
    }
    if len(trajectory.final_loss) == 1:
        step = int(trajectory.diverged_step[0])
        entry.update({
            "final_loss": _finite(trajectory.final_loss[0]),
            "final_position": [_finite(value) for value in trajectory.final_position[0]],
            "distance_to_minimum": _finite(distance[0]) if ok[0] else None,
            "nearest_minimum": _minimum_entry(result.function, int(nearest[0])) if ok[0] else None,
            "diverged_step": step if step >= 0 else None,
        })
    else:
        with np.errstate(all="ignore"):
            entry.update({
                "final_loss_median": _finite(np.nanmedian(np.where(ok, trajectory.final_loss, np.nan))) if ok.any() else None,
                "final_loss_best": _finite(np.nanmin(np.where(ok, trajectory.final_loss, np.nan))) if ok.any() else None,
                "distance_to_minimum_median": _finite(np.nanmedian(np.where(ok, distance, np.nan))) if ok.any() else None,
                "first_diverged_step": int(trajectory.diverged_step[~ok].min()) if diverged_starts else None,
            })
    if trajectory.error:
        entry["error"] = trajectory.error
    return entry


def _minimum_entry(function, index: int) -> dict[str, Any] | None:
    if index < 0:
        return None
    minimum = function.minima[index]
    return {"index": index, "point": list(minimum.point), "value": minimum.value, "kind": minimum.kind}


def _finite(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


# --- writing --------------------------------------------------------------------------


def write_trajectories_npz(result: RunResult, path: Path) -> Path:
    """Every array, exactly; byte-identical for identical runs (fixed zip timestamps)."""
    arrays: dict[str, np.ndarray] = {
        "labels": np.array(result.labels),
        "optimizers": np.array([trajectory.optimizer for trajectory in result]),
        "starts": result.starts,
        "steps": result.trajectories[0].steps,
    }
    for index, trajectory in enumerate(result):
        for name in ARRAYS:
            arrays[f"{name}_{index}"] = np.ascontiguousarray(getattr(trajectory, name))
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())
    return path


def csv_rows(result: RunResult) -> int:
    return sum(trajectory.loss.size for trajectory in result)


def write_trajectories_csv(result: RunResult, path: Path) -> Path:
    """Long format: ``label,start,step,x[,y],loss,lr,grad_norm``; floats round-trip exactly."""
    axes = ["x"] if result.dim == 1 else ["x", "y"]
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["label", "start", "step", *axes, "loss", "lr", "grad_norm"])
        for trajectory in result:
            for start in range(trajectory.loss.shape[0]):
                for record, step in enumerate(trajectory.steps):
                    writer.writerow([
                        trajectory.label, start, int(step),
                        *(_number(value) for value in trajectory.positions[start, record]),
                        _number(trajectory.loss[start, record]),
                        _number(trajectory.lr[start, record]),
                        _number(trajectory.grad_norm[start, record]),
                    ])
    return path


def _number(value) -> str:
    return repr(float(value))


def write_summary_csv(result: RunResult, path: Path) -> Path:
    """One row per (optimizer, start)."""
    rows = result.summary()
    axes = ["x"] if result.dim == 1 else ["x", "y"]
    columns = ["label", "start", "status", "final_loss", *[f"final_{axis}" for axis in axes],
               "nearest_minimum", "distance_to_minimum", "diverged_step"]
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row["label"], row["start"], row["status"], _blank(row["final_loss"]),
                             *(_blank(value) for value in row["final_position"]),
                             _blank(row["nearest_minimum"]), _blank(row["distance_to_minimum"]),
                             _blank(row["diverged_step"])])
    return path


def _blank(value) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def write_data(result: RunResult, out_dir: Path) -> list[str]:
    """config.yaml, trajectories.npz/.csv and summary.csv; returns the file names written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", result.config.to_yaml())
    written = ["config.yaml", "trajectories.npz", "summary.csv"]
    write_trajectories_npz(result, out_dir / "trajectories.npz")
    write_summary_csv(result, out_dir / "summary.csv")
    if csv_rows(result) <= CSV_ROW_LIMIT:
        write_trajectories_csv(result, out_dir / "trajectories.csv")
        written.append("trajectories.csv")
    return written


def write_manifest(result: RunResult, out_dir: Path, *, files: list[str], timing: dict[str, Any],
                   warnings: list[str] | None = None, nonfinite: dict[str, Any] | None = None) -> dict[str, Any]:
    data = manifest(result, timing=timing, files=[*files, "manifest.json"], warnings=warnings, nonfinite=nonfinite)
    write_text(out_dir / "manifest.json", json.dumps(data, indent=2) + "\n")
    return data


# --- reading back ---------------------------------------------------------------------


def load_run(run_dir: str | Path, *, safe: bool = False) -> RunResult:
    """Read a run directory written by :func:`write_data` back into a :class:`RunResult`.

    With ``safe``, a run whose config imports Python code is refused before anything is imported.
    """
    run_dir = Path(run_dir)
    config_file, npz_file = run_dir / "config.yaml", run_dir / "trajectories.npz"
    for required in (config_file, npz_file):
        if not required.is_file():
            raise RunError(f"{run_dir}: not a run directory (no {required.name}); make one with `optviz run CONFIG`")
    data = parse_yaml(config_file.read_text(encoding="utf-8"), source=str(config_file))
    config = config_from_dict(data, source=str(config_file), base_dir=run_dir, safe=safe)
    function = config.test_function()
    with np.load(npz_file, allow_pickle=False) as archive:
        labels = archive["labels"].tolist()
        optimizers = archive["optimizers"].tolist()
        steps = archive["steps"]
        trajectories = [
            Trajectory(label=label, optimizer=optimizer, steps=steps,
                       **{name: archive[f"{name}_{index}"] for name in ARRAYS})
            for index, (label, optimizer) in enumerate(zip(labels, optimizers))
        ]
        starts = archive["starts"]
    return RunResult(config=config, function=function, starts=starts, trajectories=trajectories)
