"""Time optviz.render.frames.save_animation against matplotlib's FuncAnimation + PillowWriter.

Both routes write the same scene: five descent paths racing across a contour
map of MATLAB's peaks function, 640x480 pixels, a step counter and a legend.
Times are CPU time of this process, which a busy machine disturbs far less
than wall time.  Prints, for each route, ms per frame over the whole save
(set-up included) and the file size; for optviz also the ms of one frame once
drawing is under way (the median gap between progress reports), and its
ratio to a FuncAnimation frame, which runs once in the same process (optviz's
routes run ``--repeats`` times, medians shown).  Exits 1 when optviz is not at
least 10x faster per frame, a GIF frame under way takes more than 2.5 ms, or
the GIF is over half the size (the figures are printed either way), so it
can serve as a check.

    python benchmarks/bench_animation.py [--frames 100] [--repeats 5] [--out DIR]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.animation import FuncAnimation, PillowWriter
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text

from optviz.render.frames import save_animation

MIN_SPEEDUP = 10.0
MAX_SIZE_RATIO = 0.5
MAX_FRAME_MS = 2.5

# (label, start, learning rate, momentum): heavy-ball gradient descent variants
# whose paths keep moving for most of the 100 steps and stay inside the map.
DESCENTS = [
    ("GD lr=0.01", (1.6, -2.5), 0.01, 0.0),
    ("GD lr=0.004", (0.8, 1.0), 0.004, 0.0),
    ("momentum 0.9 lr=0.01", (-2.6, 0.6), 0.01, 0.9),
    ("momentum 0.9 lr=0.003", (-1.0, 1.5), 0.003, 0.9),
    ("momentum 0.9 lr=0.004", (0.0, -0.3), 0.004, 0.9),
]


def peaks(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """MATLAB's peaks surface, meant for [-3, 3]^2: three maxima and three minima."""
    return (
        3 * (1 - x) ** 2 * np.exp(-(x**2) - (y + 1) ** 2)
        - 10 * (x / 5 - x**3 - y**5) * np.exp(-(x**2) - y**2)
        - np.exp(-((x + 1) ** 2) - y**2) / 3
    )


def descent_path(start: tuple[float, float], lr: float, momentum: float, steps: int) -> np.ndarray:
    """``(steps, 2)`` points of heavy-ball descent on peaks (central-difference gradients)."""
    h = 1e-6
    point = np.array(start, dtype=float)
    velocity = np.zeros(2)
    path = [point]
    for _ in range(steps - 1):
        x, y = point
        gradient = np.array(
            [peaks(x + h, y) - peaks(x - h, y), peaks(x, y + h) - peaks(x, y - h)]
        ) / (2 * h)
        velocity = momentum * velocity - lr * gradient
        point = np.clip(point + velocity, -3, 3)
        path.append(point)
    return np.array(path)


def update(
    step: int, paths: list[np.ndarray], trails: list[Line2D], heads: list[Line2D], counter: Text
) -> list[Artist]:
    for path, trail, head in zip(paths, trails, heads):
        trail.set_data(path[: step + 1, 0], path[: step + 1, 1])
        head.set_data(path[step : step + 1, 0], path[step : step + 1, 1])
    counter.set_text(f"step {step}")
    return [*trails, *heads, counter]


def peaks_scene(steps: int) -> tuple[Figure, Callable[[int], list[Artist]]]:
    """A 640x480 figure of the race and its ``update(step)``."""
    fig = Figure(figsize=(6.4, 4.8), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    grid = np.linspace(-3, 3, 200)
    x, y = np.meshgrid(grid, grid)
    z = peaks(x, y)
    filled = ax.contourf(x, y, z, levels=20, cmap="viridis")
    ax.contour(x, y, z, levels=20, colors="k", linewidths=0.4)
    fig.colorbar(filled, ax=ax, label="f(x, y)")
    ax.set(xlabel="x", ylabel="y", title="peaks")
    paths = [descent_path(start, lr, momentum, steps) for _, start, lr, momentum in DESCENTS]
    trails = [ax.plot([], [], lw=2, label=label)[0] for label, *_ in DESCENTS]
    heads = [ax.plot([], [], "o", color=trail.get_color(), ms=7, mec="k")[0] for trail in trails]
    counter = ax.text(0.02, 0.96, "", transform=ax.transAxes, va="top", color="w", fontsize=11)
    ax.legend(loc="lower left", fontsize=8)
    return fig, functools.partial(update, paths=paths, trails=trails, heads=heads, counter=counter)


def timed(write: Callable[[], object], frames: int) -> float:
    """CPU milliseconds per frame that ``write`` takes in this process (all its threads)."""
    start = time.process_time()
    write()
    return (time.process_time() - start) * 1000 / frames


def timed_save(path: Path, frames: int) -> tuple[float, float]:
    """Save the race with optviz: ms per frame over the whole save, and the median ms of one frame
    once under way (between consecutive progress reports, so the set-up is left out)."""
    fig, step = peaks_scene(frames)
    reports: list[float] = []
    whole = timed(
        lambda: save_animation(fig, step, frames, path, fps=10,
                               progress=lambda *_: reports.append(time.process_time())),
        frames,
    )
    gaps = [later - earlier for earlier, later in zip(reports, reports[1:])]
    return whole, statistics.median(gaps) * 1000 if gaps else whole


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100, help="frames per animation (default 100)")
    parser.add_argument("--repeats", type=int, default=5, help="saves per optviz route, medians shown (default 5)")
    parser.add_argument("--out", type=Path, help="directory for the files (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.frames < 2:
        parser.error("--frames must be at least 2")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch)
        out.mkdir(parents=True, exist_ok=True)
        frames = args.frames

        fig, step = peaks_scene(frames)
        plain_gif = out / "plain.gif"
        plain_ms = timed(
            lambda: FuncAnimation(fig, step, frames=frames, blit=False).save(
                plain_gif, writer=PillowWriter(fps=10)
            ),
            frames,
        )
        fast_gif, fast_mp4 = out / "optviz.gif", out / "optviz.mp4"
        gif_runs = [timed_save(fast_gif, frames) for _ in range(args.repeats)]
        mp4_runs = [timed_save(fast_mp4, frames) for _ in range(args.repeats)]
        fast_ms, frame_ms = (statistics.median(run[i] for run in gif_runs) for i in (0, 1))
        mp4_ms, mp4_frame_ms = (statistics.median(run[i] for run in mp4_runs) for i in (0, 1))

        plain_kb = plain_gif.stat().st_size / 1024
        fast_kb = fast_gif.stat().st_size / 1024
        speedup = plain_ms / fast_ms
        frame_speedup = plain_ms / frame_ms
        size_ratio = fast_kb / plain_kb
        print(f"{frames} frames, 640x480, in {out}; optviz medians of {args.repeats} saves")
        print(f"{'route (CPU ms)':<36}{'ms/frame':>10}{'under way':>11}{'size KiB':>10}")
        print(f"{'FuncAnimation + PillowWriter (gif)':<36}{plain_ms:>10.1f}{'':>11}{plain_kb:>10.0f}")
        print(f"{'optviz save_animation (gif)':<36}{fast_ms:>10.1f}{frame_ms:>11.2f}{fast_kb:>10.0f}")
        print(f"{'optviz save_animation (mp4)':<36}{mp4_ms:>10.1f}{mp4_frame_ms:>11.2f}"
              f"{fast_mp4.stat().st_size / 1024:>10.0f}")
        print(f"gif speed-up {speedup:.1f}x (target >= {MIN_SPEEDUP:g}x), "
              f"size ratio {size_ratio:.2f} (target <= {MAX_SIZE_RATIO:g})")
        print(f"gif frame under way: {frame_ms:.2f} ms (target <= {MAX_FRAME_MS:g} ms), "
              f"1/{frame_speedup:.0f} of a FuncAnimation frame")
    missed = []
    if speedup < MIN_SPEEDUP:
        missed.append(f"speed-up {speedup:.1f}x is below {MIN_SPEEDUP:g}x")
    if frame_ms > MAX_FRAME_MS:
        missed.append(f"a gif frame under way takes {frame_ms:.2f} ms, over {MAX_FRAME_MS:g} ms")
    if size_ratio > MAX_SIZE_RATIO:
        missed.append(f"size ratio {size_ratio:.2f} is above {MAX_SIZE_RATIO:g}")
    for message in missed:
        print(f"target missed: {message}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
