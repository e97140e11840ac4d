"""Time optviz's batched engine and `optviz basin` end to end against a plain per-start torch.optim loop.

The work is configs/peaks_basin.yaml: Adam on MATLAB's peaks, 500 steps per start,
float32, recording every 50th step. In one process, repeated ``--repeat`` times (medians
are printed, as the machine may be shared):

1. a plain loop, as a person writes it (one tensor, one torch.optim.Adam and 500 steps
   per start), over an evenly spread subset of the starts: nanoseconds per start-step.
   The loop's time for a whole map is estimated from it: every start costs the same;
2. optviz's engine over the config's 256 x 256 starts: nanoseconds per start-step; the
   subset's final points are compared with the plain loop's;
3. ``optviz basin`` in a fresh child process, figures and files included, on the 256 x 256
   grid and on a 1024 x 1024 grid (``--set start.grid=[1024,1024]``): wall seconds, the
   ratio of the plain loop's estimated time to it, and peak memory. Peak memory is the
   largest sum, over the child and the worker processes it forks, of their proportional
   set sizes (PSS: a page shared by n processes counts 1/n in each), sampled every 20 ms
   from /proc; the largest resident set of any one child process (getrusage) is printed too.

Exits 1 when a target is missed: the engine >= 2,000 times less per start-step than the
plain loop; end to end >= 2,000x on 256 x 256 and >= 7,000x on 1024 x 1024; peak memory
< 1.5 GB and <= 1.0 GB; the same final points.

    python benchmarks/bench_engine.py [--repeat 3] [--plain-starts 24] [--config configs/peaks_basin.yaml]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from optviz import run  # noqa: E402
from optviz.load import load  # noqa: E402

MIN_ENGINE_SPEEDUP = 2000.0
# (grid side, end-to-end speed-up at least, peak bytes at most)
MAPS = [(256, 2000.0, 1.5e9), (1024, 7000.0, 1.0e9)]


def plain_loop(function, start: np.ndarray, steps: int, lr: float, dtype) -> np.ndarray:
    """One start the way the seed notebook does it; returns the final point."""
    x = torch.tensor(start, dtype=dtype, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        function(x).backward()
        optimizer.step()
    return x.detach().numpy()


def tree_pss(pid: int) -> int:
    """Bytes of PSS of ``pid`` and its descendants now (0 for a process already gone)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) * 1024 for line in rollup if line.startswith("Pss:"))
            with open(f"/proc/{current}/task/{current}/children") as children:
                pending += [int(child) for child in children.read().split()]
        except (OSError, StopIteration, ValueError):
            continue
    return total


def end_to_end(config_path: Path, side: int) -> tuple[float, int]:
    """`optviz basin CONFIG` on a side x side grid in a fresh process: wall seconds and the peak PSS
    of its process tree (bytes)."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "optviz", "basin", str(config_path), "--set", f"start.grid=[{side},{side}]",
                   "--out", out, "--quiet"]
        started = time.perf_counter()
        child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "MPLBACKEND": "Agg"})
        peak = [0]

        def sample() -> None:
            while child.poll() is None:
                peak[0] = max(peak[0], tree_pss(child.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, stderr = child.communicate()
        seconds = time.perf_counter() - started
        sampler.join()
    if child.returncode != 0:
        sys.exit(f"optviz basin failed:\n{stderr}")
    return seconds, peak[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "peaks_basin.yaml")
    parser.add_argument("--plain-starts", type=int, default=24, help="starts the plain loop runs (a spread subset)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every measurement; medians are printed")
    arguments = parser.parse_args()

    loaded = load(arguments.config)
    config, function, starts = loaded.config, loaded.function, loaded.starts
    spec = config.optimizers[0]
    assert spec.name == "Adam" and len(config.optimizers) == 1, "the benchmark times one Adam run"
    lr, dtype, steps = spec.hyperparameters.get("lr", 1e-3), getattr(torch, config.dtype), config.steps
    subset = np.linspace(0, len(starts) - 1, arguments.plain_starts).round().astype(int)
    plain_loop(function, starts[0], 2, lr, dtype)  # the first optimizer imports torch._dynamo: not timed

    plain_ns, engine_ns, maps = [], [], {side: [] for side, _, _ in MAPS}
    for _ in range(arguments.repeat):
        # The child processes first: a big map's memory is then not reused from this process's.
        for side, _, _ in MAPS:
            maps[side].append(end_to_end(arguments.config, side))
        started = time.perf_counter()
        plain_finals = np.array([plain_loop(function, starts[index], steps, lr, dtype) for index in subset])
        plain_ns.append((time.perf_counter() - started) / (len(subset) * steps) * 1e9)
        started = time.perf_counter()
        result = run(loaded, workers=1)
        engine_ns.append((time.perf_counter() - started) / (len(starts) * steps) * 1e9)
    plain, engine = statistics.median(plain_ns), statistics.median(engine_ns)
    engine_finals = result.trajectories[0].final_position[subset]
    with np.errstate(all="ignore"):
        difference = float(np.nanmax(np.abs(engine_finals - plain_finals)))
    same = np.array_equal(engine_finals, plain_finals, equal_nan=True)

    print(f"work: {spec.name} lr={lr} on {function.name}, {steps} steps, {config.dtype}, record.every "
          f"{loaded.record_every}; torch {torch.__version__}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the end; medians of {arguments.repeat}")
    print(f"plain per-start loop   {plain:12,.0f} ns per start-step   ({len(subset)} starts x {steps} steps)")
    print(f"optviz engine, 1 proc  {engine:12,.1f} ns per start-step   ({len(starts):,} starts; "
          f"{engine * len(starts) * steps / 1e9:.2f} s)")
    print(f"ratio                  {plain / engine:12,.0f} x less per start-step")
    print(f"same final points      {'bit for bit' if same else f'max difference {difference:.3g}'} "
          f"on the {len(subset)} starts both ran")
    checks = [("engine speed-up", f"{plain / engine:,.0f}x", f">= {MIN_ENGINE_SPEEDUP:,.0f}x",
               plain / engine >= MIN_ENGINE_SPEEDUP),
              ("final points", f"differ by {difference:.3g}", "<= 1e-5", difference <= 1e-5)]
    for side, min_speedup, max_peak in MAPS:
        seconds = statistics.median(timing[0] for timing in maps[side])
        peak = max(timing[1] for timing in maps[side])
        loop_seconds = plain * side * side * steps / 1e9
        speedup = loop_seconds / seconds
        print(f"optviz basin {side} x {side}: {seconds:6.2f} s end to end (runs: "
              f"{', '.join(f'{timing[0]:.2f}' for timing in maps[side])}); the plain loop would take "
              f"{loop_seconds:,.0f} s: {speedup:,.0f}x; peak memory {peak / 1e9:.2f} GB (PSS of all its processes)")
        checks += [(f"{side} x {side} end to end", f"{speedup:,.0f}x", f">= {min_speedup:,.0f}x",
                    speedup >= min_speedup),
                   (f"{side} x {side} peak memory", f"{peak / 1e9:.2f} GB", f"<= {max_peak / 1e9} GB",
                    peak <= max_peak)]
    # ru_maxrss is in kilobytes on Linux: the largest of every descendant waited for.
    print(f"largest resident set of any one process  {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1e6:.2f} GB")
    missed = [f"{name}: {value} (target {target})" for name, value, target, ok in checks if not ok]
    for line in missed:
        print(f"MISSED {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
