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
      cells/              the finished cells (see optviz.store.cells)

A network config's sweep (``problem:``) writes the same files: sweep.csv has the columns
of :func:`optviz.store.sweep.write_sweep_csv` for networks, sweep-loss.png shows each
cell's valid loss per epoch (the mean over seeds), and sweep-best.png is the curves.png
(:func:`optviz.render.network.plot_curves`) of each optimizer's best cell. Its cells
train one after another through :func:`optviz.training.train`.

Cells of one element-wise optimizer that differ only in hyperparameters run as one
optimizer with a param group per cell (:func:`optviz.engine.run_batch`), in batches
of at most :data:`MAX_BATCH_GROUPS` param groups; every other cell runs on its own.
Cells that differ only in lr share one param group with a tensor lr where torch's step
takes it (SGD, RAdam), and sweep.json's ``session.routes`` says which route each
optimizer's cells took and why (for batches run in this process). Each finished cell is
stored at once, so a sweep interrupted at any point resumes from there. The batches run in
this process or, with ``executor=``, as tasks on a Dask cluster
(:mod:`optviz.pipelines.executor`); either way the cells are stored here, and the same.
"""

from __future__ import annotations

import datetime
import functools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..atomic import check_writable, staged_directory, write_text
from ..config import Config
from ..engine import BatchRoute, batch_key, run, run_batch, stack_key
from ..errors import ConfigError, RunError
from ..load import Cell, Loaded, LoadedNetwork, load, plan_sweep, prepare
from ..load.record import AUTO_RECORD_BYTES, record_bytes
from ..load.resolved import config_yaml
from ..render import sweep as figures
from ..results import RunResult
from ..results.network import NetworkResult
from ..results.scores import DEFAULT_TARGET_TOLERANCE, Score, network_score, score
from ..results.sweep import Outcome, SweepResult, describe
from ..store.cells import cell_files, leftovers, load_cell, read_cell, read_meta, save_cell
from ..store.sweep import sweep_manifest, write_sweep_csv
from .executor import Executor, LocalExecutor
from .replay import warn_not_replayable
from ..training import train

# A batch's records stay within this, and within this many param groups, so a killed sweep
# loses little and memory stays bounded whatever the starts per cell. A step costs about the
# same per param group however many cells of a stack (differing only in lr) the group holds.
MAX_BATCH_GROUPS = 256
BATCH_RECORD_BYTES = AUTO_RECORD_BYTES


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


Progress = Callable[[Finished], None]


def batches(cells: list[Cell]) -> list[list[Cell]]:
    """The cells grouped as they run: equal :func:`~optviz.engine.batch_key` together, in order of their first cell."""
    batched: dict[str, list[Cell]] = {}
    groups: list[list[Cell]] = []
    for cell in cells:
        key = None if isinstance(cell.loaded, LoadedNetwork) else batch_key(cell.config)
        if key is None:
            groups.append([cell])
        elif key in batched:
            batched[key].append(cell)
        else:
            batched[key] = [cell]
            groups.append(batched[key])
    chunks = []
    for group in groups:
        if len(group) == 1:
            chunks.append(group)
            continue
        # The cells of a stack (equal stack_key: one param group) run together, in batches of
        # few long stacks; a cell that stacks with none is a param group of its own.
        stacks: dict[Any, list[Cell]] = {}
        for cell in group:
            key = stack_key(cell.config)
            stacks.setdefault(("alone", cell.index) if key is None else key, []).append(cell)
        most_cells, chunk, param_groups = _batch_cells(group[0].loaded), [], 0
        for members in stacks.values():
            for position, cell in enumerate(members):
                if len(chunk) == most_cells or (position == 0 and param_groups == MAX_BATCH_GROUPS):
                    chunks.append(chunk)
                    chunk, param_groups = [], 0
                param_groups += position == 0 or not chunk
                chunk.append(cell)
        chunks.append(chunk)
    return chunks


def _batch_cells(loaded: Loaded) -> int:
    """The most cells of ``loaded``'s shape whose records fit in :data:`BATCH_RECORD_BYTES`."""
    per_cell = record_bytes(loaded.config, len(loaded.starts), loaded.function.dim, loaded.record_every)
    return int(max(1, BATCH_RECORD_BYTES // per_cell))


def compute(cells: list[Cell], finished: Callable[[Cell, RunResult | NetworkResult], None],
            executor: Executor | None = None, *, routed: Callable[[BatchRoute], None] | None = None) -> None:
    """Run ``cells``, batched where exact, calling ``finished(cell, result)`` as each batch ends
    and ``routed`` with the route of each batch of several cells (:class:`~optviz.engine.BatchRoute`).

    A network cell trains on its own, exactly as ``optviz run`` of its config would. The batches
    run on ``executor`` (:mod:`optviz.pipelines.executor`; by default here, in order); ``finished``
    is always called in this process. ``routed`` hears of the batches run here: a Dask worker's
    routes stay on the worker (its results are the same either way)."""
    executor = executor or LocalExecutor()
    runner = functools.partial(run_cells, routed=routed) if isinstance(executor, LocalExecutor) else run_cells
    for batch, results in executor.map(runner, batches(cells)):
        for cell, result in zip(batch, results):
            finished(cell, result)


def run_cells(loaded: list[Loaded | LoadedNetwork], *,
              routed: Callable[[BatchRoute], None] | None = None) -> list[RunResult | NetworkResult]:
    """One batch's results, in order: a network cell trains on its own, function cells run as one
    :func:`~optviz.engine.run_batch` (a lone cell as :func:`~optviz.engine.run`), which tells
    ``routed`` its route. On an executor's worker too: this is what makes a Dask sweep the same
    as a local one."""
    if isinstance(loaded[0], LoadedNetwork):
        return [train(item) for item in loaded]
    return run_batch(loaded, routed=routed) if len(loaded) > 1 else [run(loaded[0])]


def outcome(cell: Cell, result: RunResult | NetworkResult, *,
            target_tolerance: float = DEFAULT_TARGET_TOLERANCE) -> Outcome:
    """What the table and figures keep of a finished cell: its score (``target_tolerance`` is
    :func:`~optviz.results.scores.score`'s) and its loss curve.

    For a network cell, the curve is the valid loss after each epoch, the mean over the seeds
    where it is finite (NaN where none is), against the epochs 1 .. E."""
    if isinstance(result, NetworkResult):
        epochs = cell.config.problem.epochs
        losses = np.full((len(result.runs), epochs), np.nan)
        for row, run in zip(losses, result.runs):
            found = np.asarray(run.epoch_valid_loss, dtype=np.float64)[:epochs]
            row[: len(found)] = found
        finite = np.isfinite(losses)
        with np.errstate(all="ignore"):
            curve = np.where(finite.any(axis=0), np.where(finite, losses, 0.0).sum(axis=0) / finite.sum(axis=0),
                             np.nan)
        return Outcome(cell=cell, score=network_score(result), steps=np.arange(1, epochs + 1), curve=curve)
    trajectory = result.trajectories[0]
    loss = trajectory.loss
    if len(loss) == 1:
        curve = loss[0].astype(np.float64)
    else:
        finite = np.isfinite(loss).any(axis=0)
        curve = np.full(loss.shape[1], np.nan)
        curve[finite] = np.nanmedian(loss[:, finite].astype(np.float64), axis=0)
    return Outcome(cell=cell, score=score(result, target_tolerance=target_tolerance), steps=trajectory.steps,
                   curve=curve)


def run_sweep(config: Config | Loaded | LoadedNetwork, *, progress: Progress | None = None) -> SweepResult:
    """Run every cell of ``config``'s sweep in memory and return the :class:`SweepResult`; writes nothing.

    >>> from optviz import load_config
    >>> result = run_sweep(load_config("configs/quadratic_lr.yaml"))   # doctest: +SKIP
    >>> [round(outcome.score.final_loss, 6) for outcome in result.outcomes][:3]   # doctest: +SKIP
    """
    sweep = planned(config).sweep
    runs: dict[int, RunResult | NetworkResult] = {}
    outcomes: dict[int, Outcome] = {}

    def finished(cell: Cell, result: RunResult | NetworkResult) -> None:
        runs[cell.index] = result
        outcomes[cell.index] = outcome(cell, result)
        if progress:
            progress(Finished(cell, outcomes[cell.index].score, len(outcomes), len(sweep.cells), reused=False))

    compute(sweep.cells, finished)
    return SweepResult(sweep=sweep, outcomes=[outcomes[cell.index] for cell in sweep.cells],
                       load=lambda cell: runs[cell.index])


def sweep_to_dir(config: Config | Loaded | LoadedNetwork, out_dir: str | Path, *, shard: tuple[int, int] | None = None,
                 progress: Progress | None = None, source: str = "", executor: Executor | None = None) -> dict[str, Any]:
    """Run ``config``'s sweep into ``out_dir``, reusing cells already finished there; returns the manifest.

    With ``shard=(K, N)`` only slice K of N runs (see :meth:`~optviz.sweep.Sweep.shard`) and
    only its cells are stored: :func:`merge_sweep` writes the table and figures once every
    slice is done. ``source`` (the config's file) prefixes a :class:`ConfigError`. The cells run
    on ``executor`` (see :func:`compute`); the files are written here either way.
    """
    sweep = planned(config, source=source).sweep
    out_dir = Path(out_dir)
    check_writable(out_dir)
    started = time.perf_counter()
    write_text(out_dir / "sweep.yaml", config_yaml(sweep.config))
    warn_not_replayable(sweep.config, out_dir / "sweep.yaml", "sweep")
    cells = sweep.shard(shard)
    routes: list[BatchRoute] = []
    outcomes, computed = finish_cells(cells, out_dir, progress, executor=executor, routed=routes.append)
    session = _session(started, computed=computed, reused=len(cells) - computed, shard=shard)
    session["routes"] = routes_summary(routes)
    if shard is not None:
        return {"sweep": str(out_dir), "cells": len(sweep.cells), "shard": session["shard"],
                "shard_cells": len(cells), "session": session}
    for path in leftovers(out_dir):  # from an earlier, killed run; every cell is finished now
        path.unlink(missing_ok=True)
    result = SweepResult(sweep=sweep, outcomes=[outcomes[cell.index] for cell in sweep.cells],
                         load=lambda cell: load_cell(out_dir, cell, same_versions=False))
    return write_outputs(result, out_dir, session)


def finish_cells(cells: list[Cell], out_dir: Path, progress: Progress | None = None, *,
                 target_tolerance: float = DEFAULT_TARGET_TOLERANCE,
                 executor: Executor | None = None,
                 routed: Callable[[BatchRoute], None] | None = None) -> tuple[dict[int, Outcome], int]:
    """Every cell's outcome by cell index, reusing those finished in ``out_dir`` and storing each
    one computed as soon as its batch ends; also returns how many were computed. A reused cell
    is scored from its stored rows exactly as a computed one (``target_tolerance``: :func:`outcome`'s).
    The cells to compute run on ``executor``; ``routed`` hears of their routes (see :func:`compute`)."""
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
        outcomes[cell.index] = outcome(cell, result, target_tolerance=target_tolerance)
        report(cell, reused=True)

    def finished(cell: Cell, result: RunResult | NetworkResult) -> None:
        save_cell(out_dir, cell, result)
        outcomes[cell.index] = outcome(cell, result, target_tolerance=target_tolerance)
        report(cell, reused=False)

    compute(todo, finished, executor, routed=routed)
    return outcomes, len(todo)


def routes_summary(routes: list[BatchRoute]) -> list[dict[str, Any]]:
    """For sweep.json: which route the batched cells of each optimizer took and why, one entry per
    (label, route, reason) with its cells and batches counted; cells that ran alone are not listed."""
    summary: dict[tuple[str, str, str], dict[str, Any]] = {}
    for route in routes:
        entry = summary.setdefault((route.label, route.route, route.reason), {
            "label": route.label, "optimizer": route.optimizer, "route": route.route, "cells": 0, "batches": 0,
            "param_groups": 0, "reason": route.reason})
        entry["cells"] += route.runs
        entry["batches"] += 1
        entry["param_groups"] += route.param_groups
    return list(summary.values())


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
    sweep = planned(load(path, safe=safe)).sweep
    outcomes, missing, damaged = [], [], []
    for cell in sweep.cells:
        try:
            outcomes.append(outcome(cell, read_cell(out_dir, cell, same_versions=False)))
        except RunError as error:
            missing.append(cell)
            if cell_files(out_dir, cell.key)[1].is_file():
                damaged.append(str(error))
    if missing:
        numbers = ", ".join(str(cell.index) for cell in missing[:8]) + (", ..." if len(missing) > 8 else "")
        why = f"; {len(damaged)} damaged, the first: {damaged[0]}" if damaged else ""
        raise RunError(f"{out_dir}: {len(missing)} of {len(sweep.cells)} cells are not finished (cells {numbers}{why}); "
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
    fmt = result.sweep.config.render.format
    written = [figures.save_sweep_loss(result, out_dir / f"sweep-loss.{fmt}").name]
    if figures.heatmap_labels(result):
        written.append(figures.save_sweep_heatmap(result, out_dir / f"sweep-heatmap.{fmt}").name)
    if result.sweep.network:
        written.append(figures.save_network_sweep_best(result, out_dir / f"sweep-best.{fmt}").name)
    else:
        written.append(figures.save_sweep_best(result, out_dir / f"sweep-best.{fmt}").name)
    return written


def planned(config: Config | Loaded | LoadedNetwork, *, source: str = "") -> Loaded | LoadedNetwork:
    """``config`` checked with its sweep planned; a config without a sweep block is a :class:`ConfigError`."""
    loaded = config if isinstance(config, (Loaded, LoadedNetwork)) else prepare(config, source=source)
    if loaded.sweep is None:
        try:
            plan_sweep(loaded.config, getattr(loaded, "function", None))  # says the block is missing, and what to write
        except ConfigError as error:
            raise error.with_context(source=source) from None
    return loaded
