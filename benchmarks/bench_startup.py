"""Time ``optviz validate configs/peaks.yaml`` in fresh interpreters, against a baseline.

Each run is a new ``python -m optviz validate`` process, so import time counts, as it
does for a user. The two commands alternate, back to back, to share the machine's load.
The baseline is one of:

- ``--base DIR``: the same command in a checkout of an older commit (e.g. made with
  ``git worktree add /tmp/startup-base f839a42``), run with that checkout first on the path;
- by default, this code's validate followed, in the same process, by what validation did
  before: import torch and build each of the config's optimizers on a dummy parameter
  (the first build imports ``torch._dynamo``).

Prints min and median wall and CPU seconds of each and the ratio of the medians; exits 1
when the current command's median wall time is more than half the baseline's (the
figures are printed either way).

    python benchmarks/bench_startup.py [--runs 7] [--base DIR] [--config configs/peaks.yaml]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_RATIO = 0.5

# This code's validate, then the old check: torch imported and every optimizer built.
OLD_WAY = """
import sys
import torch
from optviz.cli import main
from optviz.load import load_config
sys.argv = ["optviz", "validate", sys.argv[1]]
try:
    main()
except SystemExit:
    pass
for spec in load_config(sys.argv[2]).optimizers:
    getattr(torch.optim, spec.name)([torch.zeros(2, requires_grad=True)], **spec.hyperparameters)
"""


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of one run of ``command`` with ``cwd`` first on the path."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env={**os.environ, "PYTHONPATH": str(cwd)}, check=True,
                   stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def describe(name: str, times: list[tuple[float, float]]) -> str:
    walls, cpus = [wall for wall, _ in times], [cpu for _, cpu in times]
    return (f"{name:9} wall min {min(walls):.2f} s, median {statistics.median(walls):.2f} s; "
            f"CPU min {min(cpus):.2f} s, median {statistics.median(cpus):.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--base", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "peaks.yaml")
    args = parser.parse_args()
    config = args.config.resolve()
    current = [sys.executable, "-m", "optviz", "validate", str(config)]
    if args.base is not None:
        base, base_cwd, label = current, args.base.resolve(), f"base ({args.base})"
    else:
        base, base_cwd, label = [sys.executable, "-c", OLD_WAY, str(config), str(config)], ROOT, "old way"
    timed(current, ROOT)  # the first run warms the file cache for both
    now_times, base_times = [], []
    for _ in range(args.runs):
        base_times.append(timed(base, base_cwd))
        now_times.append(timed(current, ROOT))
    print(f"optviz validate {config.relative_to(ROOT) if config.is_relative_to(ROOT) else config}, "
          f"{args.runs} runs each, alternating")
    print(describe(label, base_times))
    print(describe("now", now_times))
    wall_ratio = statistics.median(w for w, _ in now_times) / statistics.median(w for w, _ in base_times)
    cpu_ratio = statistics.median(c for _, c in now_times) / statistics.median(c for _, c in base_times)
    print(f"now / {label}: wall {wall_ratio:.2f}, CPU {cpu_ratio:.2f} (target: wall at most {MAX_RATIO})")
    return 0 if wall_ratio <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
