"""A result folder to ``report.html``: one self-contained page to open in a browser.

The folder's kind is told by the files it holds (:func:`report_kind`); everything is read
back through :mod:`optviz.store`'s readers, nothing is recomputed, and the page is drawn by
:func:`optviz.render.report.render_report`.

    optviz report outputs/peaks        # -> outputs/peaks/report.html
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..atomic import write_text
from ..errors import RunError
from ..load import load
from ..load.resolved import config_data
from ..render.report import render_report
from ..render.surface import shading_for
from ..results import RunResult
from ..results.report import Figure, Link, ReportPage, Table
from ..store.cells import read_cell
from ..store.rundir import load_run
from .sweep import planned, outcome

REPORT = "report.html"
# What the page embeds of a folder's files, in this order; anything else (data, replay files) stays out.
FIGURE_SUFFIXES = (".png", ".svg", ".gif", ".mp4")
# A path or loss curve on the page has at most this many points: the figure looks the same and the page stays small.
MAX_POINTS = 200
# The animation draws at most this many paths in all (a basin's thousands of starts are sampled evenly).
MAX_PATHS = 24
# Grid points per axis of the contour map and the 3D surface.
MESH = 80
# A table longer than this shows its first rows and says where the rest is.
MAX_ROWS = 300
KINDS = ("compare", "sweep", "network", "tune", "basin", "run")


def report_kind(folder: str | Path) -> str:
    """The kind of result folder ``folder`` is, from the files it holds: one of :data:`KINDS`.

    A folder that is none of them is a :class:`RunError` (exit code 1), as a missing run folder is elsewhere.
    """
    folder = Path(folder)
    has = lambda name: (folder / name).is_file()  # noqa: E731 - a short predicate
    if has("ranking.csv") and has("manifest.json"):
        return "compare"
    if has("sweep.yaml") and has("sweep.json"):
        return "sweep"
    if has("curves.csv") and has("config.yaml"):
        return "network"
    if has("config.yaml") and has("trajectories.npz"):
        return "tune" if has("tune.csv") else "basin" if has("basin.npz") else "run"
    if not folder.is_dir():
        raise RunError(f"{folder}: no such folder; make one with `optviz run CONFIG`")
    raise RunError(f"{folder}: not an optviz result folder (no config.yaml with trajectories.npz or curves.csv, "
                   "sweep.json or ranking.csv); make one with `optviz run CONFIG`")


def write_report(folder: str | Path, *, safe: bool = False) -> Path:
    """Write ``folder/report.html`` for the result folder ``folder`` (any kind); returns its path.

    A compare folder's page links to a report of each problem, written into the problem's folder first.
    With ``safe``, a folder whose config imports Python code is refused before anything is imported.
    """
    folder = Path(folder)
    page = gather(folder, safe=safe)
    return write_text(folder / REPORT, render_report(page))


def gather(folder: str | Path, *, safe: bool = False) -> ReportPage:
    """What the report of ``folder`` shows, read from its files (``safe``: as :func:`write_report`)."""
    folder = Path(folder)
    kind = report_kind(folder)
    if kind == "compare":
        return _compare_page(folder, safe)
    if kind == "sweep":
        return _sweep_page(folder, safe)
    if kind == "network":
        return _network_page(folder)
    return _run_page(folder, kind, safe)


# --- the parts every kind shares -------------------------------------------------------


def _manifest(folder: Path, name: str = "manifest.json") -> dict[str, Any]:
    path = folder / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: not readable as JSON ({error})") from None
    return data if isinstance(data, dict) else {}


def _figures(folder: Path) -> list[Figure]:
    """Every figure, image and video of the folder, by name (the report itself aside)."""
    return [Figure(name=path.name, data=path.read_bytes()) for path in sorted(folder.iterdir())
            if path.is_file() and path.suffix.lower() in FIGURE_SUFFIXES and not path.name.startswith(".")]


def _csv_table(path: Path, title: str) -> Table | None:
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return None
    header, body = rows[0], rows[1:]
    note = f"The first {MAX_ROWS} of {len(body)} rows; {path.name} holds them all." if len(body) > MAX_ROWS else ""
    return Table(title=title, header=header, rows=[_shown_row(row) for row in body[:MAX_ROWS]], note=note)


def _shown_row(row: list[str]) -> list[str]:
    """Numbers with 6 significant digits: a table to read, not to copy (the csv has them exactly)."""
    shown = []
    for field in row:
        try:
            number = float(field)
        except ValueError:
            shown.append(field)
            continue
        shown.append(field if field.lstrip("-").isdigit() else f"{number:.6g}")
    return shown


def _warnings(manifest: dict[str, Any]) -> list[str]:
    """The manifest's warnings, and each diverged or failed optimizer (a network's: each seed) with why."""
    found = list(manifest.get("warnings", []))
    for entry in manifest.get("runs", []):
        status = entry.get("status", "ok")
        seed = f" (seed {entry['seed']})" if "seed" in entry else ""
        if status == "failed":
            found.append(f"{entry['label']}{seed} failed: {entry.get('error') or 'unknown error'}")
        elif "diverged_iteration" in entry:
            found.append(f"{entry['label']}{seed} diverged at iteration {entry['diverged_iteration']}")
        elif entry.get("diverged_step") is not None:
            found.append(f"{entry['label']} diverged at step {entry['diverged_step']}")
        elif status in ("diverged", "partly diverged"):
            first = entry.get("first_diverged_step")
            found.append(f"{entry['label']} {status}: from {entry['diverged_starts']} of {manifest.get('starts')} starts"
                         + (f", the first at step {first}" if first is not None else ""))
    return found


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


# --- run, basin, tune ------------------------------------------------------------------


def _run_page(folder: Path, kind: str, safe: bool) -> ReportPage:
    result = load_run(folder, safe=safe)
    manifest = _manifest(folder)
    tables = [table for table in (_csv_table(folder / "summary.csv", "Summary (summary.csv)"),) if table]
    if kind == "tune":
        tables.insert(0, _csv_table(folder / "tune.csv", "The lrs tried (tune.csv)"))
    title = {"run": "Run", "basin": "Basins", "tune": "Tuned run"}[kind]
    return ReportPage(
        title=f"{title}: {', '.join(result.labels)} on {result.function.name} ({folder.name})", kind=kind,
        config_yaml=_read_text(folder / "config.yaml"), tables=tables, warnings=_warnings(manifest),
        figures=_figures(folder), versions=manifest.get("versions", {}), config_hash=manifest.get("config_hash", ""),
        race=race_data(result))


def thinned(count: int, points: int = MAX_POINTS) -> np.ndarray:
    """At most ``points`` indices into ``count`` records, evenly spread, the first and the last among them."""
    if count <= points:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, points).round().astype(np.int64))


def _landscape(function: Any, domain: np.ndarray) -> tuple[dict[str, Any], Any]:
    """The function over ``domain`` as the page draws it, and how values become its shown heights."""
    with np.errstate(all="ignore"):
        if function.dim == 1:
            xs, values = function.grid([tuple(row) for row in domain], MESH * 4)
            values = np.asarray(values, dtype=np.float64)
            return {"x": xs.astype(np.float32), "f": values.astype(np.float32), "label": "f(x)"}, None
        grid_x, grid_y, values = function.grid([tuple(row) for row in domain], MESH)
        values = np.asarray(values, dtype=np.float64)
    shading = shading_for(function, values)
    return {"x": grid_x[0].astype(np.float32), "y": grid_y[:, 0].astype(np.float32),
            "z": _shown(shading, values).astype(np.float32), "label": shading.label}, shading


def _shown(shading: Any, values: np.ndarray) -> np.ndarray:
    """Heights as the surface and contour show them: log10 of ``f - floor`` for a steep function."""
    with np.errstate(all="ignore"):
        values = np.asarray(values, dtype=np.float64)
        return np.log10(shading.shift(values)) if shading is not None and shading.log else values


def race_data(result: RunResult) -> dict[str, Any] | None:
    """The animation's and the 3D surface's data: the landscape and each drawn path, thinned to
    :data:`MAX_POINTS` records; a run with many starts draws :data:`MAX_PATHS` of them in all."""
    if result.dim > 2:
        return None
    landscape, shading = _landscape(result.function, result.domain)
    steps = result.trajectories[0].steps
    records = thinned(len(steps))
    per_optimizer = max(1, MAX_PATHS // len(result.trajectories))
    rows = np.unique(np.linspace(0, len(result.starts) - 1, min(per_optimizer, len(result.starts))).round().astype(int))
    paths = []
    for trajectory in result:
        for row in rows:
            positions = trajectory.positions[row, records].astype(np.float64)
            with np.errstate(all="ignore"):  # a diverged path overflows float32: infinite, as it was
                height = np.asarray(result.function(positions), dtype=np.float64)
                path = {"label": trajectory.label, "start": int(row), "x": positions[:, 0].astype(np.float32),
                        "f": _shown(shading, height).astype(np.float32) if result.dim == 2 else height.astype(np.float32)}
                if result.dim == 2:
                    path["y"] = positions[:, 1].astype(np.float32)
            paths.append(path)
    return {"dim": result.dim, "domain": result.domain.tolist(), "landscape": landscape,
            "steps": steps[records].astype(np.float32), "paths": paths,
            "starts": len(result.starts), "drawn_starts": len(rows)}


# --- sweep -----------------------------------------------------------------------------


def _sweep_page(folder: Path, safe: bool) -> ReportPage:
    manifest = _manifest(folder, "sweep.json")
    sweep = planned(load(folder / "sweep.yaml", safe=safe)).sweep
    table = _csv_table(folder / "sweep.csv", "Cells (sweep.csv)")
    return ReportPage(
        title=f"Sweep: {', '.join(sweep.labels)} on {sweep.subject} ({folder.name}, {len(sweep.cells)} cells)",
        kind="sweep", config_yaml=_read_text(folder / "sweep.yaml"), config_name="sweep.yaml",
        tables=[table] if table else [], warnings=list(manifest.get("session", {}).get("warnings", [])),
        figures=_figures(folder), versions=manifest.get("versions", {}), config_hash=manifest.get("config_hash", ""),
        sweep=sweep_data(folder, sweep))


def sweep_data(folder: Path, sweep: Any) -> dict[str, Any]:
    """Per optimizer: its axes and every finished cell's score, thinned path and loss curve, and the
    YAML that reproduces it (a template and each cell's differing lines)."""
    landscape = None
    if sweep.function is not None and sweep.function.dim <= 2:
        landscape = _landscape(sweep.function, sweep.domain)[0]
    optimizers = []
    for label in sweep.labels:
        axes = sweep.axes_of(label)
        cells, texts, missing = [], [], 0
        for cell in sweep.cells_of(label):
            try:
                result = read_cell(folder, cell, same_versions=False)
            except RunError:
                missing += 1
                continue
            found = outcome(cell, result)
            records = thinned(len(found.steps))
            entry = _cell_entry(cell, axes, result, found, records, sweep.network)
            cells.append(entry)
            texts.append(_cell_yaml(cell.config))
        optimizers.append({"label": label, "missing": missing, "cells": cells, "yaml": _yaml_template(texts),
                           "axes": [{"name": axis.name, "key": axis.key, "log": axis.log, "numeric": axis.numeric,
                                     "values": [_axis_value(value) for value in axis.values]} for axis in axes]})
    return {"landscape": landscape, "network": sweep.network,
            "value": "final valid loss" if sweep.network else "final loss", "optimizers": optimizers}


def _cell_entry(cell: Any, axes: list[Any], result: Any, found: Any, records: np.ndarray, network: bool) -> dict[str, Any]:
    """One cell as the page keeps it: where it sits on the axes, its score, its loss curve and path, thinned."""
    entry: dict[str, Any] = {
        "index": cell.index, "at": [list(axis.values).index(cell.values[axis.key]) for axis in axes],
        "status": found.score.status, "value": _finite(_cell_value(found.score, network)),
        "describe": cell.describe(), "steps": np.asarray(found.steps)[records].astype(np.float32)}
    with np.errstate(all="ignore"):  # a diverged cell's numbers overflow float32: infinite, as they were
        entry["loss"] = np.asarray(found.curve)[records].astype(np.float32)
        if isinstance(result, RunResult):
            positions = result.trajectories[0].positions[0, thinned(result.trajectories[0].positions.shape[1])]
            entry["x"] = positions[:, 0].astype(np.float32)
            if result.dim == 2:
                entry["y"] = positions[:, 1].astype(np.float32)
            else:  # a 1D path is drawn over the curve: its heights; a 2D one over the contour needs none
                entry["f"] = np.asarray(result.function(positions.astype(np.float64)), dtype=np.float32)
    return entry


def _cell_yaml(config: Any) -> str:
    """What ``config.yaml`` of the cell's run would hold (:func:`~optviz.load.resolved.config_yaml`), through
    libyaml where it is there: a 32 x 32 sweep's YAML in a second rather than seven."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(config_data(config), Dumper=dumper, sort_keys=False, default_flow_style=None)


def _cell_value(score: Any, network: bool) -> float:
    return score.final_valid_loss if network else score.final_loss


def _finite(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _axis_value(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) else json.dumps(value)


def _yaml_template(texts: list[str]) -> dict[str, Any]:
    """The cells' YAML, compact: the lines every cell shares once, and each cell's lines where they differ.

    Cells whose YAML has a different number of lines than the first (a swept list) keep their whole text.
    """
    if not texts:
        return {"lines": [], "varying": [], "cells": []}
    lines = [text.splitlines() for text in texts]
    first = lines[0]
    if any(len(each) != len(first) for each in lines):
        return {"lines": [], "varying": [], "cells": texts}
    varying = [position for position in range(len(first)) if any(each[position] != first[position] for each in lines)]
    return {"lines": first, "varying": varying, "cells": [[each[position] for position in varying] for each in lines]}


# --- network, compare ------------------------------------------------------------------


def _network_page(folder: Path) -> ReportPage:
    manifest = _manifest(folder)
    rows = [[entry["label"], entry["status"],
             *(_mean(entry.get(key)) for key in ("final_train_loss", "final_valid_loss", "final_valid_accuracy")),
             str(entry.get("seeds", ""))] for entry in manifest.get("optimizers", [])]
    tables = [Table(title="Summary (mean +- std over seeds)",
                    header=["label", "status", "final_train_loss", "final_valid_loss", "final_valid_accuracy", "seeds"],
                    rows=rows)] if rows else []
    epochs = _csv_table(folder / "epochs.csv", "Per epoch (epochs.csv)")
    data = manifest.get("problem", {}).get("data", "data")
    name = data.get("name") or data.get("npz") or data.get("csv") if isinstance(data, dict) else data
    return ReportPage(
        title=f"Network: {', '.join(entry['label'] for entry in manifest.get('optimizers', []))} on {name} ({folder.name})",
        kind="network", config_yaml=_read_text(folder / "config.yaml"), tables=tables + ([epochs] if epochs else []),
        warnings=_warnings(manifest), figures=_figures(folder), versions=manifest.get("versions", {}),
        config_hash=manifest.get("config_hash", ""))


def _mean(value: dict[str, Any] | None) -> str:
    if not value or value.get("mean") is None:
        return ""
    return f"{value['mean']:.4g}" + (f" +- {value['std']:.2g}" if value.get("std") else "")


def _compare_page(folder: Path, safe: bool) -> ReportPage:
    manifest = _manifest(folder)
    links = []
    for problem in manifest.get("problem_folders", []):
        name = problem.get("folder") or problem.get("name") if isinstance(problem, dict) else str(problem)
        if name and (folder / name).is_dir():
            write_report(folder / name, safe=safe)
            links.append(Link(label=str(problem.get("name", name)) if isinstance(problem, dict) else name,
                              href=f"{name}/{REPORT}"))
    rule = {key: manifest[key] for key in ("criterion", "lrs", "tune_starts", "problems") if key in manifest}
    table = _csv_table(folder / "ranking.csv", "Ranking (ranking.csv)")
    return ReportPage(
        title=f"Compare: {len(manifest.get('problems', []))} problems ({folder.name})", kind="compare",
        config_yaml=yaml.safe_dump(rule, sort_keys=False, default_flow_style=None), config_name="the ranking's rule",
        tables=[table] if table else [], figures=_figures(folder), versions=manifest.get("versions", {}),
        config_hash=manifest.get("suite_hash", ""), links=links)

