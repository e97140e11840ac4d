"""Time optviz.show_animation against matplotlib's ``live_animation(result).to_jshtml()`` in a notebook.

Both show the peaks demo's race (configs/peaks.yaml: 101 frames) inline; prints seconds and
the size of the HTML each hands Jupyter, and their ratios, from runs in this one process.

    python benchmarks/bench_notebook.py [--frames 101]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

import optviz

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "peaks.yaml"


def timed(make) -> tuple[float, int]:
    started = time.perf_counter()
    html = make()
    return time.perf_counter() - started, len(html.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--frames", type=int, default=101)
    frames = parser.parse_args().frames
    result = optviz.run(optviz.load_config(CONFIG))
    # matplotlib's default limit drops frames past 20 MB; lifted so that every frame is in its page.
    matplotlib.rcParams["animation.embed_limit"] = 200
    routes = {
        "show_animation gif": lambda: optviz.show_animation(result, frames=frames)._repr_html_(),
        "show_animation mp4": lambda: optviz.show_animation(result, fmt="mp4", frames=frames)._repr_html_(),
        "live_animation().to_jshtml()": lambda: optviz.live_animation(result, frames=frames).to_jshtml(),
    }
    measured = {name: timed(make) for name, make in routes.items()}
    slow, big = measured["live_animation().to_jshtml()"]
    print(f"{frames} frames of {CONFIG.name}")
    for name, (seconds, size) in measured.items():
        print(f"  {name:<30} {seconds:6.2f} s {size / 1e6:8.2f} MB   "
              f"{slow / seconds:5.1f}x faster, {big / size:5.1f}x smaller")


if __name__ == "__main__":
    main()
