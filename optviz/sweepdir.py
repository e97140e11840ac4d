"""The sweep directory: a sweep's cells run into it (batched where exact), then its table and figures.

    outputs/sgd_grid/
      sweep.yaml          the resolved config, sweep block included: what `optviz merge` reads
      sweep.csv           one row per cell: swept values, final loss, distance to the nearest
                          known minimum, step it converged at, area under the loss curve, divergence
      sweep.json          versions, config hash, axes, each optimizer's best cell, files; what
                          varies between invocations (times, cells computed or reused) under "session"
      sweep-loss.png      every cell's loss curve on one axes, coloured by a swept value
      sweep-heatmap.png   final loss over two swept keys (an optimizer with two or more)
      sweep-best.png      each optimizer's best cell: its path over the function
      cells/              the finished cells (see optviz.cells)

Cells of one element-wise optimizer that differ only in hyperparameters run as one
optimizer with a param group per cell (:func:`optviz.engine.run_batch`), in batches
of at most :data:`MAX_BATCH_CELLS`; every other cell runs on its own. Each finished
cell is stored at once, so a sweep interrupted at any point resumes from there.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .cells import cell_files, leftovers, load_cell, read_meta, save_cell
from .config import Config, load_config
from .engine import RunResult, batch_key, run, run_batch
from .errors import ConfigError, RunError
from .io import staged_directory, write_text
from .record import AUTO_RECORD_BYTES, record_bytes, record_every
from .scores import Score, rank, score
from .starts import resolve_starts
from .sweep import Cell, Sweep, plan_sweep

# A batch's records stay within this, and within this many cells, so a killed sweep loses
# little and memory stays bounded whatever the starts per cell.
MAX_BATCH_CELLS = 256
BATCH_RECORD_BYTES = AUTO_RECORD_BYTES


@dataclass(frozen=True)
class Outcome:
    """What the table and figures need of a finished cell."""

    cell: Cell
    score: Score
    steps: np.ndarray  # recorded steps
    curve: np.ndarray  # the loss at each recorded step: the start's own, or the median over starts that are finite


@dataclass
class SweepResult:
    """A finished sweep: every cell's outcome, and each cell's whole run on request."""

    sweep: Sweep
    outcomes: list[Outcome]  # in cell order
    load: Callable[[Cell], RunResult]

    def of(self, label: str) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if outcome.cell.label == label]

    def best(self, label: str, criterion: str = "median-final-loss") -> Outcome:
        """The optimizer's best cell: lowest ``criterion`` (see :mod:`optviz.scores`)."""
        outcomes = self.of(label)
        return outcomes[rank([outcome.score for outcome in outcomes], criterion)[0]]


@dataclass(frozen=True)
class Finished:
    """A progress report: ``cell`` is done, ``done`` of ``total``; ``reused`` if found finished on disk."""

    cell: Cell
    score: Score
    done: int
    total: int
    reused: bool

    def line(self) -> str:
        """``[  3/100] SGD lr=0.0316 momentum=0.5: final loss 0.0123, converged at step 87``."""
        width = len(str(self.total))
        return f"[{self.done:>{width}}/{self.total}] {self.cell.describe()}: {describe(self.score)}" + (
            " (reused)" if self.reused else "")


def describe(score: Score) -> str:
    """The outcome of a cell in words."""
    if score.error:
        return f"failed: {score.error}"
    if score.starts == 1:
        if score.diverged_starts:
            return f"diverged at step {score.diverged_step}"
        text = f"final loss {score.final_loss:.4g}"
        return text + (f", converged at step {score.converged_step:.0f}" if np.isfinite(score.converged_step) else "")
    loss = f"{score.final_loss:.4g}" if np.isfinite(score.final_loss) else "-"
    text = f"median final loss {loss} over {score.starts} starts"
    return text + (f", {score.diverged_starts} diverged (first at step {score.diverged_step})"
                   if score.diverged_starts else "")


Progress = Callable[[Finished], None]


def batches(cells: list[Cell]) -> list[list[Cell]]:
    """The cells grouped as they run: equal :func:`~optviz.engine.batch_key` together, in order of their first cell."""
    batched: dict[str, list[Cell]] = {}
    groups: list[list[Cell]] = []
    for cell in cells:
        key = batch_key(cell.config)
        if key is None:
            groups.append([cell])
        elif key in batched:
            batched[key].append(cell)
        else:
            batched[key] = [cell]
            groups.append(batched[key])
    chunks = []
    for group in groups:
        size = _batch_size(group[0].config)
        chunks += [group[first:first + size] for first in range(0, len(group), size)]
    return chunks


def _batch_size(config: Config) -> int:
    function = config.test_function()
    starts = len(resolve_starts(config, function))
    per_cell = record_bytes(config, starts, function.dim, record_every(config, starts, function.dim))
    return int(max(1, min(MAX_BATCH_CELLS, BATCH_RECORD_BYTES // per_cell)))


def compute(cells: list[Cell], finished: Callable[[Cell, RunResult], None]) -> None:
    """Run ``cells``, batched where exact, calling ``finished(cell, result)`` as each batch ends."""
    for batch in batches(cells):
        results = run_batch([cell.config for cell in batch]) if len(batch) > 1 else [run(batch[0].config)]
        for cell, result in zip(batch, results):
            finished(cell, result)


def outcome(cell: Cell, result: RunResult) -> Outcome:
    trajectory = result.trajectories[0]
    loss = trajectory.loss
    if len(loss) == 1:
        curve = loss[0].astype(np.float64)
    else:
        finite = np.isfinite(loss).any(axis=0)
        curve = np.full(loss.shape[1], np.nan)
        curve[finite] = np.nanmedian(loss[:, finite].astype(np.float64), axis=0)
    return Outcome(cell=cell, score=score(result), steps=trajectory.steps, curve=curve)


def run_sweep(config: Config, *, progress: Progress | None = None) -> SweepResult:
    """Run every cell of ``config``'s sweep in memory and return the :class:`SweepResult`; writes nothing.

    >>> from optviz import load_config
    >>> result = run_sweep(load_config("configs/quadratic_lr.yaml"))   # doctest: +SKIP
    >>> [round(outcome.score.final_loss, 6) for outcome in result.outcomes][:3]   # doctest: +SKIP
    """
    sweep = plan_sweep(config)
    runs: dict[int, RunResult] = {}
    outcomes: dict[int, Outcome] = {}

    def finished(cell: Cell, result: RunResult) -> None:
        runs[cell.index] = result
        outcomes[cell.index] = outcome(cell, result)
        if progress:
            progress(Finished(cell, outcomes[cell.index].score, len(outcomes), len(sweep.cells), reused=False))

    compute(sweep.cells, finished)
    return SweepResult(sweep=sweep, outcomes=[outcomes[cell.index] for cell in sweep.cells],
                       load=lambda cell: runs[cell.index])


def sweep_to_dir(config: Config, out_dir: str | Path, *, shard: tuple[int, int] | None = None,
                 progress: Progress | None = None, source: str = "") -> dict[str, Any]:
    """Run ``config``'s sweep into ``out_dir``, reusing cells already finished there; returns the manifest.

    With ``shard=(K, N)`` only slice K of N runs (see :meth:`~optviz.sweep.Sweep.shard`) and
    only its cells are stored: :func:`merge_sweep` writes the table and figures once every
    slice is done. ``source`` (the config's file) prefixes a :class:`ConfigError`.
    """
    from .runner import check_writable

    try:
        sweep = plan_sweep(config)
    except ConfigError as error:
        raise error.with_context(source=source) from None
    out_dir = Path(out_dir)
    check_writable(out_dir)
    started = time.perf_counter()
    write_text(out_dir / "sweep.yaml", config.to_yaml())
    cells = sweep.shard(shard)
    outcomes, computed = finish_cells(cells, out_dir, progress)
    session = _session(started, computed=computed, reused=len(cells) - computed, shard=shard)
    if shard is not None:
        return {"sweep": str(out_dir), "cells": len(sweep.cells), "shard": session["shard"],
                "shard_cells": len(cells), "session": session}
    for path in leftovers(out_dir):  # from an earlier, killed run; every cell is finished now
        path.unlink(missing_ok=True)
    result = SweepResult(sweep=sweep, outcomes=[outcomes[cell.index] for cell in sweep.cells],
                         load=lambda cell: load_cell(out_dir, cell, same_versions=False))
    return write_outputs(result, out_dir, session)


def finish_cells(cells: list[Cell], out_dir: Path,
                 progress: Progress | None = None) -> tuple[dict[int, Outcome], int]:
    """Every cell's outcome by cell index, reusing those finished in ``out_dir`` and storing each
    one computed as soon as its batch ends; also returns how many were computed."""
    outcomes: dict[int, Outcome] = {}

    def report(cell: Cell, reused: bool) -> None:
        if progress:
            progress(Finished(cell, outcomes[cell.index].score, len(outcomes), len(cells), reused=reused))

    todo = []
    for cell in cells:
        result = load_cell(out_dir, cell)
        if result is None:
            todo.append(cell)
            continue
        outcomes[cell.index] = outcome(cell, result)
        report(cell, reused=True)

    def finished(cell: Cell, result: RunResult) -> None:
        save_cell(out_dir, cell, result)
        outcomes[cell.index] = outcome(cell, result)
        report(cell, reused=False)

    compute(todo, finished)
    return outcomes, len(todo)


def merge_sweep(out_dir: str | Path, *, safe: bool = False) -> dict[str, Any]:
    """Combine the slices stored in ``out_dir`` into the table and figures an unsharded sweep writes.

    Fails with :class:`RunError` naming the cells that no slice has finished yet.
    """
    out_dir = Path(out_dir)
    started = time.perf_counter()
    path = out_dir / "sweep.yaml"
    if not path.is_file():
        raise RunError(f"{out_dir}: not a sweep directory (no sweep.yaml); make one with "
                       f"`optviz sweep CONFIG --out {out_dir}`")
    sweep = plan_sweep(load_config(path, safe=safe))
    outcomes, missing = [], []
    for cell in sweep.cells:
        result = load_cell(out_dir, cell, same_versions=False)
        if result is None:
            missing.append(cell)
        else:
            outcomes.append(outcome(cell, result))
    if missing:
        numbers = ", ".join(str(cell.index) for cell in missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise RunError(f"{out_dir}: {len(missing)} of {len(sweep.cells)} cells are not finished (cells {numbers}); "
                       f"run the missing shards, or `optviz sweep {path} --out {out_dir}` to compute them here")
    for leftover in leftovers(out_dir):
        leftover.unlink(missing_ok=True)
    result = SweepResult(sweep=sweep, outcomes=outcomes,
                         load=lambda cell: load_cell(out_dir, cell, same_versions=False))
    computed_by = sorted({json.dumps(read_meta(cell_files(out_dir, cell.key)[1])["versions"], sort_keys=True)
                          for cell in sweep.cells})
    session = _session(started, computed=0, reused=len(sweep.cells), shard=None)
    if len(computed_by) > 1:
        session["warnings"] = [f"the cells were computed by {len(computed_by)} different sets of versions: "
                               + "; ".join(computed_by)]
    return write_outputs(result, out_dir, session)


def _session(started: float, *, computed: int, reused: int, shard: tuple[int, int] | None) -> dict[str, Any]:
    return {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(time.perf_counter() - started, 4), "computed": computed, "reused": reused,
            "shard": f"{shard[0]}/{shard[1]}" if shard else None}


def write_outputs(result: SweepResult, out_dir: Path, session: dict[str, Any]) -> dict[str, Any]:
    """sweep.csv, the figures and sweep.json, moved into ``out_dir`` together; returns the manifest."""
    with staged_directory(out_dir, last=("sweep.json",)) as staging:
        files = [write_sweep_csv(result, staging / "sweep.csv").name]
        files += save_sweep_figures(result, staging)
        manifest = sweep_manifest(result, [*files, "sweep.json"], session)
        write_text(staging / "sweep.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def save_sweep_figures(result: SweepResult, out_dir: Path) -> list[str]:
    """Draw the sweep's figures into ``out_dir``; returns their file names."""
    from .render import sweep as figures

    fmt = result.sweep.config.render.format
    written = [figures.save_sweep_loss(result, out_dir / f"sweep-loss.{fmt}").name]
    if figures.heatmap_labels(result):
        written.append(figures.save_sweep_heatmap(result, out_dir / f"sweep-heatmap.{fmt}").name)
    written.append(figures.save_sweep_best(result, out_dir / f"sweep-best.{fmt}").name)
    return written


def columns(sweep: Sweep) -> list[str]:
    """The swept names, as sweep.csv's columns: each once, in the order the sweep block gives them."""
    return list(dict.fromkeys(axis.name for axis in sweep.axes))


def write_sweep_csv(result: SweepResult, path: Path) -> Path:
    """One row per cell; a value is empty where it does not apply or does not exist."""
    from .io import atomic_path

    swept = columns(result.sweep)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["cell", "label", *swept, "starts", "status", "final_loss", "distance_to_minimum",
                     "converged_step", "auc", "diverged_starts", "diverged_step", "hash"])
    for item in result.outcomes:
        cell, numbers = item.cell, item.score
        values = {cell.names[key]: value for key, value in cell.values.items()}
        writer.writerow([cell.index, cell.label, *(_field(values[name]) if name in values else "" for name in swept),
                         numbers.starts, numbers.status, _number(numbers.final_loss), _number(numbers.distance),
                         _step(numbers.converged_step), _number(numbers.auc), numbers.diverged_starts,
                         numbers.diverged_step if numbers.diverged_step >= 0 else "", cell.key])
    with atomic_path(path) as temporary:
        temporary.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def _field(value: Any) -> str:
    """A swept value exactly: repr of a float, true/false, JSON of a list or mapping."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _number(value: float) -> str:
    """repr of a finite float (an exact round trip); empty for none."""
    return repr(float(value)) if np.isfinite(value) else ""


def _step(value: float) -> str:
    """A step: a whole number, or x.5 as the median of an even number of starts; empty for none."""
    if not np.isfinite(value):
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def sweep_manifest(result: SweepResult, files: list[str], session: dict[str, Any]) -> dict[str, Any]:
    """sweep.json: JSON-ready, with what varies between invocations under ``session``."""
    from .rundir import config_hash, versions

    sweep = result.sweep
    optimizers = []
    for label in sweep.labels:
        outcomes = result.of(label)
        best = result.best(label)
        optimizers.append({
            "label": label,
            "cells": len(outcomes),
            "starts": outcomes[0].score.starts,
            "diverged_cells": sum(outcome.score.status == "diverged" for outcome in outcomes),
            "partly_diverged_cells": sum(outcome.score.status == "partly diverged" for outcome in outcomes),
            "failed_cells": sum(outcome.score.status == "failed" for outcome in outcomes),
            "best": {"cell": best.cell.index,
                     "values": {best.cell.names[key]: value for key, value in best.cell.values.items()},
                     "describe": best.cell.describe(), "status": best.score.status,
                     "final_loss": _json_number(best.score.final_loss),
                     "distance_to_minimum": _json_number(best.score.distance),
                     "converged_step": _json_number(best.score.converged_step), "hash": best.cell.key},
        })
    return {
        "versions": versions(),
        "config_hash": config_hash(sweep.config),
        "function": sweep.config.test_function().name,
        "cells": len(sweep.cells),
        "axes": [{"key": axis.key, "name": axis.name, "spacing": axis.spacing, "values": list(axis.values)}
                 for axis in sweep.axes],
        "optimizers": optimizers,
        "files": sorted(files),
        "session": session,
    }


def _json_number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
