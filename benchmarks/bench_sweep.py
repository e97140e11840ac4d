"""Time sweeps run batched against the same cells run one after another through `optviz run`'s engine.

Two sweeps, 500 steps per cell:

- the seed lesson's 10 learning rates on 4x^2 from x = 2 (configs/quadratic_lr.yaml);
- a 32 x 32 lr x momentum SGD grid on rosenbrock (configs/sgd_grid.yaml).

Batched is what `optviz sweep` does: cells of one optimizer that differ only in
hyperparameters run as one optimizer with a param group per cell
(optviz.pipelines.sweep.compute). One after another is ``optviz.run(cell.config)`` for each
cell, as a shell loop over `optviz run` would compute them (without its process start
and file writing, which would only widen the gap). The grid's one-after-another time is
measured on an evenly spread subset of its cells (--subset) and extrapolated per cell;
the output says so. Both routes get the cell configs built beforehand (planning is
printed apart), and the subset's numbers are checked equal between the routes.

Prints each sweep's times and ratio, and the ratio over both; exits 1 when the ratio
over both sweeps is under 20x. On a shared or busy machine the numbers are pessimistic.

    python benchmarks/bench_sweep.py [--subset 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import optviz
from optviz.load import plan_sweep
from optviz.pipelines.sweep import compute

MIN_SPEEDUP = 20.0
CONFIGS = Path(__file__).resolve().parent.parent / "configs"
STEPS = 500


def batched(cells) -> tuple[float, dict]:
    results = {}
    started = time.perf_counter()
    compute(cells, lambda cell, result: results.__setitem__(cell.index, result))
    return time.perf_counter() - started, results


def one_after_another(cells) -> tuple[float, dict]:
    results = {}
    started = time.perf_counter()
    for cell in cells:
        results[cell.index] = optviz.run(cell.config)
    return time.perf_counter() - started, results


def measure(name: str, overrides: list[str], subset: int | None) -> tuple[float, float]:
    started = time.perf_counter()
    sweep = plan_sweep(optviz.load_config(CONFIGS / name, [f"steps={STEPS}", *overrides]))
    planning = time.perf_counter() - started
    cells = sweep.cells
    batched_seconds, batched_results = batched(cells)
    measured = cells if subset is None or subset >= len(cells) else cells[:: len(cells) // subset][:subset]
    alone_seconds, alone_results = one_after_another(measured)
    for index, alone in alone_results.items():
        together = batched_results[index].trajectories[0]
        np.testing.assert_array_equal(together.positions, alone.trajectories[0].positions)
    alone_total = alone_seconds * len(cells) / len(measured)
    how = "" if len(measured) == len(cells) else f" (measured on {len(measured)} cells, extrapolated per cell)"
    print(f"{name}: {len(cells)} cells of {STEPS} steps; planning {planning:.2f} s")
    print(f"  batched           {batched_seconds:8.2f} s")
    print(f"  one after another {alone_total:8.2f} s{how}")
    print(f"  ratio             {alone_total / batched_seconds:8.1f}x")
    return batched_seconds, alone_total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subset", type=int, default=64, help="grid cells run one after another (default 64)")
    arguments = parser.parse_args()
    seed = measure("quadratic_lr.yaml", [], None)
    grid = measure("sgd_grid.yaml", [], arguments.subset)
    together, alone = seed[0] + grid[0], seed[1] + grid[1]
    ratio = alone / together
    print(f"both sweeps: batched {together:.2f} s, one after another {alone:.2f} s, ratio {ratio:.1f}x "
          f"(target >= {MIN_SPEEDUP:.0f}x)")
    if ratio < MIN_SPEEDUP:
        print(f"FAILED: batched sweeps are {ratio:.1f}x faster, under the {MIN_SPEEDUP:.0f}x target")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
