"""Is ``engine: fused`` honest, and what does it buy? Basin labels and time against the exact engine.

``engine: fused`` runs f, its gradient and torch.optim's own step through ``torch.compile``: the
same arithmetic fused into fewer loops, so positions differ from the exact engine in the last
bits. A basin map is only worth having if those bits never move a start to another basin, so:

1. **labels**: every basin example config in ``configs/`` (those that draw ``basin``), run on
   both engines in this process at its own size; for every optimizer, the share of starts whose
   basin label (the minimum it ends at, not converged, or diverged) differs, and the largest
   difference of a final coordinate. The target is 0 on every one: otherwise the option must
   not ship.
2. **time**: each of those runs, and a ``--side`` x ``--side`` map of configs/peaks_basin.yaml
   (1024: a million starts), timed end to end in this process (``optviz.run``: no figures):
   the exact engine on its defaults (chunks, and two processes where there are two CPUs);
   the fused engine cold, compiling into an empty cache (``TORCHINDUCTOR_CACHE_DIR`` is a fresh
   folder), and warm, a second run in the same process. The speed-up printed is exact over
   cold: compile time included.

Exits 1 when a label differs anywhere.

    python benchmarks/bench_fused.py [--side 1024] [--no-big]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = tempfile.TemporaryDirectory(prefix="optviz-inductor-")
os.environ["TORCHINDUCTOR_CACHE_DIR"] = CACHE.name  # cold compiles: set before torch is imported

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from optviz import config_from_dict, run  # noqa: E402
from optviz.results.basin import basins  # noqa: E402


def basin_configs() -> list[Path]:
    """The example configs that draw a basin map."""
    found = []
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "basin" in ((data.get("render") or {}).get("figures") or []):
            found.append(path)
    return found


def timed(data: dict) -> tuple[float, object]:
    started = time.perf_counter()
    result = run(config_from_dict(data))
    return time.perf_counter() - started, result


def compare(name: str, data: dict) -> bool:
    """Both engines on ``data``; prints labels and times; True when every label agrees."""
    exact_s, exact = timed(data)
    cold_s, fused = timed({**data, "engine": "fused"})
    warm_s, _ = timed({**data, "engine": "fused"})
    starts = len(exact.starts)
    print(f"{name}: {starts:,} starts x {data['steps']} steps   exact {exact_s:.2f} s   fused cold {cold_s:.2f} s "
          f"(compile included)   warm {warm_s:.2f} s   exact / cold {exact_s / cold_s:.2f}x   "
          f"exact / warm {exact_s / warm_s:.2f}x")
    agree = True
    for exact_basin, fused_basin in zip(basins(exact), basins(fused)):
        differing = float(np.mean(exact_basin.outcome != fused_basin.outcome))
        with np.errstate(invalid="ignore"):
            moved = float(np.nanmax(np.abs(exact_basin.final_position - fused_basin.final_position)))
        agree &= differing == 0
        print(f"  {exact_basin.label:<16} labels differing {differing:.4%} of starts   "
              f"largest final-coordinate difference {moved:.2e}")
    return agree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1024, help="side of the big peaks map (default 1024)")
    parser.add_argument("--no-big", action="store_true", help="skip the big map")
    arguments = parser.parse_args()
    run(config_from_dict({"function": "peaks", "steps": 2, "optimizers": ["Adam"]}))  # imports: not timed
    agree = True
    for path in basin_configs():
        agree &= compare(path.name, yaml.safe_load(path.read_text()))
    if not arguments.no_big:
        data = yaml.safe_load((ROOT / "configs" / "peaks_basin.yaml").read_text())
        data["start"] = {"grid": [arguments.side, arguments.side]}
        agree &= compare(f"peaks_basin.yaml at {arguments.side} x {arguments.side}", data)
    print("every basin label agrees: engine: fused may ship" if agree
          else "some basin label differs: engine: fused must not ship")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
