"""Time the batched landscape grid against a loop over loaded models, and the 41 x 41
landscape of ``configs/moons_landscape.yaml``.

Both sides evaluate the same grid (the config's pca plane, resolution x resolution points) on
the same split in eval mode, in this process, with torch's default threads:

- **batched**: :class:`optviz.landscape.LossEvaluator`: the config's MLP (a plain
  ``nn.Sequential``) as one ``bmm`` per layer over the chunk's stacked weights, in chunks that
  stay in cache, shared out to one thread per torch thread; other models through
  ``torch.func.functional_call`` with ``torch.vmap``.
- **loop** (the baseline): for each grid point, ``vector_to_parameters`` into the model and one
  forward pass over the split (:func:`optviz.landscape.loop_losses`).

Each side's time is its minimum over the repeats (noise only adds). A second line times both
sides on one thread (one torch thread, one worker): the ratio of the arithmetic alone, which a
busy machine moves least; the target is on the first line. Targets: loop / batched at
least 10 (min over repeats, each side timed back to back within a repeat), values equal to 1e-6 relative, and ``compute_landscape`` of the config (planes,
projections, grid, interpolations; training excluded) at most 10 s; exits 1 when one is missed.

    python benchmarks/bench_landscape.py [--repeats 15] [--config configs/moons_landscape.yaml]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from optviz.landscape import (LossEvaluator, compute_landscape, grid_axes, grid_vectors, loop_losses, make_plane,
                              project)
from optviz.load import load
from optviz.training import train

ROOT = Path(__file__).resolve().parent.parent
RATIO_TARGET, SECONDS_TARGET, AGREEMENT = 10.0, 10.0, 1e-6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--config", default=str(ROOT / "configs" / "moons_landscape.yaml"))
    args = parser.parse_args()
    loaded = load(args.config)
    spec = loaded.config.render.landscape
    initial: dict = {}
    result = train(loaded, initial=initial)
    seed = result.seeds[0]
    runs = [run for run in result if run.seed == seed]
    dataset = loaded.problem.dataset(seed)
    model = loaded.problem.build(dataset)
    model.load_state_dict(initial[seed])
    loss_fn = loaded.problem.loss()
    x, y = (dataset.x_train, dataset.y_train) if spec.data == "train" else (dataset.x_valid, dataset.y_valid)
    paths = {run.label: run.parameters.astype(np.float64) for run in runs}
    plane = make_plane(spec, runs, paths, model, seed)

    alphas, betas = grid_axes(spec, [project(plane, vectors)[0] for vectors in paths.values()])
    vectors = grid_vectors(plane, alphas, betas)

    evaluate = LossEvaluator(model, loss_fn, x, y)
    evaluate(vectors)  # its worker threads and their buffers, made once per evaluator
    vmap_times, loop_times, landscape_times = [], [], []
    for repeat in range(args.repeats):  # the two sides in turns, each first every other time
        for side in ((0, 1) if repeat % 2 else (1, 0)):
            started = time.perf_counter()
            if side:
                batched = evaluate(vectors)
            else:
                looped = loop_losses(model, loss_fn, x, y, vectors)
            (vmap_times if side else loop_times).append(time.perf_counter() - started)
    for _ in range(3):
        started = time.perf_counter()
        compute_landscape(loaded, result, initial)
        landscape_times.append(time.perf_counter() - started)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    single = LossEvaluator(model, loss_fn, x, y)
    single_batched, single_loop = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        single(vectors)
        single_batched.append(time.perf_counter() - started)
        started = time.perf_counter()
        loop_losses(model, loss_fn, x, y, vectors)
        single_loop.append(time.perf_counter() - started)
    torch.set_num_threads(threads)
    worst = float(np.max(np.abs(batched - looped) / np.abs(looped)))
    ratio = min(loop_times) / min(vmap_times)
    print(f"grid {len(betas)} x {len(alphas)} = {len(vectors)} points, {len(x)} rows, {evaluate.count} parameters, "
          f"chunk {evaluate.chunk}")
    route = "stacked bmm" if evaluate.plan is not None else "vmap"
    print(f"batched ({route}) {min(vmap_times):.3f} s   loop {min(loop_times):.3f} s   loop / batched {ratio:.1f}x "
          f"(target >= {RATIO_TARGET:.0f}x)")
    print(f"one thread each: batched {min(single_batched):.3f} s   loop {min(single_loop):.3f} s   "
          f"loop / batched {min(single_loop) / min(single_batched):.1f}x   ({threads} torch threads above)")
    print(f"largest relative difference {worst:.2e} (target <= {AGREEMENT:.0e})")
    print(f"compute_landscape of {Path(args.config).name}: {min(landscape_times):.3f} s "
          f"(target <= {SECONDS_TARGET:.0f} s)")
    return 0 if ratio >= RATIO_TARGET and worst <= AGREEMENT and min(landscape_times) <= SECONDS_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
