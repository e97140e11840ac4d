"""From a config to a finished run directory: run, write the data, draw the figures."""

from __future__ import annotations

import datetime
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .config import Config
from .custom import nonfinite_region
from .engine import RunResult, check_single_run, run
from .errors import RunError
from .io import staged_directory
from .rundir import load_run, write_data, write_manifest
from .starts import plot_domain

FIGURES = {"loss": "save_loss", "path": "save_path", "surface": "save_surface", "diagnostics": "save_diagnostics",
           "basin": "save_basin"}
# A surface needs two variables: for a 1D function it is left out (path.png draws the curve).
TWO_D_ONLY = {"surface"}


def default_out_dir(config_path: str | Path) -> Path:
    """``outputs/<config stem>/``."""
    return Path("outputs") / Path(config_path).stem


def check_writable(out_dir: Path) -> None:
    """Fail before any work if ``out_dir`` cannot hold the run's files."""
    for parent in [out_dir, *out_dir.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise RunError(f"{out_dir}: cannot write there: {parent} is a file, not a directory")
            break
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as error:
        raise RunError(f"{out_dir}: cannot write there: {error.strerror or error}") from None


def save_figures(result: RunResult, out_dir: Path, *, kinds: list[str] | None = None,
                 fmt: str | None = None, progress: Callable[[str, int, int], None] | None = None) -> list[str]:
    """Draw each configured figure into ``out_dir``; returns the file names.

    ``progress(name, done, total)`` is called as each figure starts.
    """
    from . import render

    fmt = fmt or result.config.render.format
    kinds = [kind for kind in kinds or result.config.render.figures if kind not in TWO_D_ONLY or result.dim == 2]
    written = []
    for kind in kinds:
        name = f"{kind}.{fmt}"
        if progress:
            progress(name, len(written), len(kinds))
        getattr(render, FIGURES[kind])(result, out_dir / name)
        written.append(name)
    return written


def run_to_dir(config: Config, out_dir: str | Path, *, animate: bool | None = None, fmt: str | None = None,
               progress: Callable[[str, int, int], None] | None = None,
               figure_progress: Callable[[str, int, int], None] | None = None,
               frame_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run ``config`` and write everything into ``out_dir``; returns the manifest.

    ``progress(label, done, total)`` is called as each optimizer starts,
    ``figure_progress(name, done, total)`` as each figure starts and
    ``frame_progress(done, total)`` after each animation frame.

    The files are written into a hidden staging folder and moved into ``out_dir``
    together at the end, so a failed or interrupted run leaves an earlier run there intact.
    """
    out_dir = Path(out_dir)
    check_single_run(config)  # before the directory is made: a config error changes nothing
    check_writable(out_dir)
    with staged_directory(out_dir, last=("manifest.json",)) as staging:
        started = time.perf_counter()
        result = run(config, progress=progress)
        engine_seconds = time.perf_counter() - started
        nonfinite = nonfinite_region(result.function, plot_domain(config, result.function), config.render.resolution)
        files = write_data(result, staging)
        files += save_figures(result, staging, fmt=fmt, progress=figure_progress)
        if animate if animate is not None else config.render.animation.enabled:
            name = animation_name(config.render.animation.view, config.render.animation.format)
            files.append(animate_result(result, staging / name, progress=frame_progress).name)
        timing = {
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "engine_seconds": round(engine_seconds, 4),
            "total_seconds": round(time.perf_counter() - started, 4),
        }
        manifest = write_manifest(result, staging, files=files, timing=timing,
                                  warnings=[nonfinite.describe(result.function.name)] if nonfinite else [],
                                  nonfinite=nonfinite.to_dict() if nonfinite else None)
    return manifest


def animation_name(view: str, fmt: str) -> str:
    """``animation.gif``, or ``animation-3d.gif`` for the race over the surface, so neither replaces the other."""
    return f"animation{'-3d' if view == '3d' else ''}.{fmt}"


def animate_result(result: RunResult, path: Path, *, frames: int | None = None, fps: float | None = None,
                   trail: int | None = None, view: str | None = None, quiver: bool | None = None,
                   progress=None) -> Path:
    from .render import save_animation

    return save_animation(result, path, frames=frames, fps=fps, trail=trail, view=view, quiver=quiver,
                          progress=progress)


def animate_dir(run_dir: str | Path, *, out: str | Path | None = None, fmt: str = "gif", frames: int | None = None,
                fps: float | None = None, trail: int | None = None, view: str | None = None,
                quiver: bool | None = None, progress=None, safe: bool = False) -> Path:
    """Animate an existing run directory without recomputing it (``safe``: refuse one whose config imports code).

    ``view`` ("2d" or "3d") and ``quiver`` default to the run's ``render.animation``.
    """
    result = load_run(run_dir, safe=safe)
    view = view or result.config.render.animation.view
    path = Path(out) if out else Path(run_dir) / animation_name(view, fmt)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise RunError(f"{path}: an animation must end in .gif or .mp4")
    if not os.access(path.parent if path.parent.exists() else Path("."), os.W_OK):
        raise RunError(f"{path}: cannot write there")
    return animate_result(result, path, frames=frames, fps=fps, trail=trail, view=view, quiver=quiver,
                          progress=progress)
