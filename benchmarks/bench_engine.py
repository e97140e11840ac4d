"""Time optviz's batched engine against a plain per-start torch.optim loop, and `optviz basin` end to end.

The work is configs/peaks_basin.yaml: Adam on MATLAB's peaks from a 256 x 256 grid of
starts, 500 steps each, float32. In one process:

1. a plain loop, as a person writes it (one tensor, one torch.optim.Adam and 500 steps
   per start), over an evenly spread subset of the starts: nanoseconds per start-step;
2. optviz's engine over all 65,536 starts: seconds, and nanoseconds per start-step;
   the subset's final points are compared with the plain loop's;
3. ``optviz basin configs/peaks_basin.yaml`` in a fresh child process: wall seconds,
   figure included, and the child's peak resident memory.

Prints the figures and the ratio of (1) to (2); exits 1 when a target is missed:
engine <= 3 s, >= 2,000 times less per start-step than the plain loop, end to end
<= 10 s, peak memory < 1.5 GB. The machine is shared: numbers under load are pessimistic.

    python benchmarks/bench_engine.py [--plain-starts 24] [--config configs/peaks_basin.yaml]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from optviz import load_config, run  # noqa: E402
from optviz.load.starts import resolve_starts  # noqa: E402

MAX_ENGINE_SECONDS = 3.0
MIN_SPEEDUP = 2000.0
MAX_END_TO_END_SECONDS = 10.0
MAX_PEAK_BYTES = 1.5e9


def plain_loop(function, start: np.ndarray, steps: int, lr: float, dtype) -> np.ndarray:
    """One start the way the seed notebook does it; returns the final point."""
    x = torch.tensor(start, dtype=dtype, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        function(x).backward()
        optimizer.step()
    return x.detach().numpy()


def end_to_end(config_path: Path) -> tuple[float, int, str]:
    """Wall seconds and peak RSS (bytes) of `optviz basin CONFIG` in a fresh process; and its stdout."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        completed = subprocess.run([sys.executable, "-m", "optviz", "basin", str(config_path), "--out", out],
                                   cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
        seconds = time.perf_counter() - started
    if completed.returncode != 0:
        sys.exit(f"optviz basin failed:\n{completed.stderr}")
    # ru_maxrss is in kilobytes on Linux: the largest of the children waited for, here the only one.
    return seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, completed.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "peaks_basin.yaml")
    parser.add_argument("--plain-starts", type=int, default=24, help="starts the plain loop runs (a spread subset)")
    arguments = parser.parse_args()

    # First, before this process has done anything else: the child's peak memory is its own.
    e2e_seconds, peak_bytes, e2e_report = end_to_end(arguments.config)

    config = load_config(arguments.config)
    function = config.test_function()
    starts = resolve_starts(config, function)
    spec = config.optimizers[0]
    assert spec.name == "Adam" and len(config.optimizers) == 1, "the benchmark times one Adam run"
    lr, dtype, steps = spec.hyperparameters.get("lr", 1e-3), getattr(torch, config.dtype), config.steps

    subset = np.linspace(0, len(starts) - 1, arguments.plain_starts).round().astype(int)
    plain_loop(function, starts[0], 2, lr, dtype)  # the first optimizer imports torch._dynamo: not timed
    started = time.perf_counter()
    plain_finals = np.array([plain_loop(function, starts[index], steps, lr, dtype) for index in subset])
    plain_ns = (time.perf_counter() - started) / (len(subset) * steps) * 1e9

    started = time.perf_counter()
    result = run(config)
    engine_seconds = time.perf_counter() - started
    engine_ns = engine_seconds / (len(starts) * steps) * 1e9
    engine_finals = result.trajectories[0].final_position[subset]
    with np.errstate(all="ignore"):
        difference = float(np.nanmax(np.abs(engine_finals - plain_finals)))
    same = np.array_equal(engine_finals, plain_finals, equal_nan=True)
    speedup = plain_ns / engine_ns

    print(f"work: {spec.name} lr={lr} on {function.name}, {len(starts):,} starts x {steps} steps, {config.dtype}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads available")
    print(f"plain per-start loop   {plain_ns:12,.0f} ns per start-step   ({len(subset)} starts x {steps} steps)")
    print(f"optviz batched engine  {engine_ns:12,.1f} ns per start-step   ({engine_seconds:.2f} s for all starts)")
    print(f"ratio                  {speedup:12,.0f} x less per start-step")
    print(f"same final points      {'bit for bit' if same else f'max difference {difference:.3g}'} "
          f"on the {len(subset)} starts both ran")
    print(f"optviz basin, end to end {e2e_seconds:.2f} s, peak memory {peak_bytes / 1e9:.2f} GB")
    print("  " + e2e_report.strip().replace("\n", "\n  "))

    missed = [f"{name}: {value} (target {target})" for name, value, target, ok in [
        ("engine seconds", f"{engine_seconds:.2f}", f"<= {MAX_ENGINE_SECONDS}", engine_seconds <= MAX_ENGINE_SECONDS),
        ("speedup", f"{speedup:,.0f}x", f">= {MIN_SPEEDUP:,.0f}x", speedup >= MIN_SPEEDUP),
        ("end to end seconds", f"{e2e_seconds:.2f}", f"<= {MAX_END_TO_END_SECONDS}", e2e_seconds <= MAX_END_TO_END_SECONDS),
        ("peak memory", f"{peak_bytes / 1e9:.2f} GB", f"< {MAX_PEAK_BYTES / 1e9} GB", peak_bytes < MAX_PEAK_BYTES),
        ("final points", f"differ by {difference:.3g}", "<= 1e-5", difference <= 1e-5),
    ] if not ok]
    for line in missed:
        print(f"MISSED {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
