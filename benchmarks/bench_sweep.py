"""Time sweeps run batched against the same cells run one after another through `optviz run`'s engine.

Two sweeps, 500 steps per cell:

- the seed lesson's 10 learning rates on 4x^2 from x = 2 (configs/quadratic_lr.yaml);
- a 32 x 32 lr x momentum SGD grid on rosenbrock (configs/sgd_grid.yaml).

Batched is what `optviz sweep` does (optviz.pipelines.sweep.compute): cells of one optimizer
that differ only in hyperparameters run as one optimizer, and those that differ only in lr
share a param group whose lr is a tensor (the stacked route) where torch's step takes one;
each batch also runs its first stacked cell alone, to check it bit for bit, and that time
is included. Param groups is the same batches with one param group per cell
(``run_batch(..., stack=False)``), the route before stacking. One after another is
``optviz.run(cell.config)`` for each cell, as a shell loop over `optviz run` would compute
them (without its process start and file writing, which would only widen the gap). The
grid's one-after-another time is measured on an evenly spread subset of its cells
(--subset) and extrapolated per cell; the output says so. All routes get the cell configs
built beforehand (planning is printed apart), and the numbers are checked equal between
them.

Each repeat times the three routes back to back; the output gives the median time of each
and the median of the repeats' ratios, so a busy moment on a shared machine skews one
repeat, not the result. Exits 1 when the grid's ratio is under 100x or the ratio over
both sweeps under 20x. On a shared or busy machine the numbers are pessimistic.

    python benchmarks/bench_sweep.py [--subset 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import optviz
from optviz.engine import run_batch
from optviz.load import plan_sweep
from optviz.pipelines.sweep import batches, compute

MIN_SPEEDUP = 20.0
MIN_GRID_SPEEDUP = 100.0
CONFIGS = Path(__file__).resolve().parent.parent / "configs"
STEPS = 500


def batched(cells, routes: list) -> tuple[float, dict]:
    results = {}
    started = time.perf_counter()
    compute(cells, lambda cell, result: results.__setitem__(cell.index, result), routed=routes.append)
    return time.perf_counter() - started, results


def param_groups(cells) -> tuple[float, dict]:
    results = {}
    started = time.perf_counter()
    for batch in batches(cells):
        together = (run_batch([cell.loaded for cell in batch], stack=False) if len(batch) > 1 else
                    [optviz.run(batch[0].loaded)])
        results.update({cell.index: result for cell, result in zip(batch, together)})
    return time.perf_counter() - started, results


def one_after_another(cells) -> tuple[float, dict]:
    results = {}
    started = time.perf_counter()
    for cell in cells:
        results[cell.index] = optviz.run(cell.config)
    return time.perf_counter() - started, results


def assert_same(results: dict, expected: dict) -> None:
    for index, alone in expected.items():
        got, want = results[index].trajectories[0], alone.trajectories[0]
        for name in ("positions", "loss", "grad_norm", "lr", "diverged_step"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


def measure(name: str, overrides: list[str], subset: int | None, repeats: int) -> tuple[float, float]:
    started = time.perf_counter()
    sweep = plan_sweep(optviz.load_config(CONFIGS / name, [f"steps={STEPS}", *overrides]))
    planning = time.perf_counter() - started
    cells = sweep.cells
    measured = cells if subset is None or subset >= len(cells) else cells[:: len(cells) // subset][:subset]
    stacked_times, groups_times, alone_times, ratios = [], [], [], []
    for _ in range(repeats):
        routes: list = []
        stacked_seconds, stacked_results = batched(cells, routes)
        groups_seconds, groups_results = param_groups(cells)
        alone_seconds, alone_results = one_after_another(measured)
        assert_same(stacked_results, alone_results)
        assert_same(stacked_results, groups_results)
        alone_total = alone_seconds * len(cells) / len(measured)
        stacked_times.append(stacked_seconds)
        groups_times.append(groups_seconds)
        alone_times.append(alone_total)
        ratios.append(alone_total / stacked_seconds)
    how = "" if len(measured) == len(cells) else f" (measured on {len(measured)} cells, extrapolated per cell)"
    taken = sorted({f"{route.route} ({route.reason})" for route in routes})
    print(f"{name}: {len(cells)} cells of {STEPS} steps; planning {planning:.2f} s; medians of {repeats} repeats")
    print(f"  routes taken      {'; '.join(taken) or 'none batched'}")
    print(f"  batched           {statistics.median(stacked_times):8.3f} s   (each: "
          + ", ".join(f"{seconds:.3f}" for seconds in stacked_times) + ")")
    print(f"  param groups      {statistics.median(groups_times):8.3f} s   "
          f"({statistics.median(groups_times) / statistics.median(stacked_times):.1f}x the batched time)")
    print(f"  one after another {statistics.median(alone_times):8.2f} s{how}")
    print(f"  ratio             {statistics.median(ratios):8.1f}x   (each: "
          + ", ".join(f"{ratio:.1f}" for ratio in ratios) + ")")
    return statistics.median(stacked_times), statistics.median(alone_times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subset", type=int, default=64, help="grid cells run one after another (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="times each route is timed (default 3)")
    arguments = parser.parse_args()
    seed = measure("quadratic_lr.yaml", [], None, arguments.repeats)
    grid = measure("sgd_grid.yaml", [], arguments.subset, arguments.repeats)
    together, alone = seed[0] + grid[0], seed[1] + grid[1]
    ratio, grid_ratio = alone / together, grid[1] / grid[0]
    print(f"both sweeps: batched {together:.2f} s, one after another {alone:.2f} s, ratio {ratio:.1f}x "
          f"(target >= {MIN_SPEEDUP:.0f}x)")
    print(f"sgd_grid: ratio of the median times {grid_ratio:.1f}x (target >= {MIN_GRID_SPEEDUP:.0f}x)")
    failed = False
    if ratio < MIN_SPEEDUP:
        print(f"FAILED: batched sweeps are {ratio:.1f}x faster, under the {MIN_SPEEDUP:.0f}x target")
        failed = True
    if grid_ratio < MIN_GRID_SPEEDUP:
        print(f"FAILED: the batched sgd_grid is {grid_ratio:.1f}x faster, under the {MIN_GRID_SPEEDUP:.0f}x target")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
