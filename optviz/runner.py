"""From a config to a finished run directory: run, write the data, draw the figures."""

from __future__ import annotations

import datetime
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .config import Config
from .engine import RunResult, run
from .errors import RunError
from .rundir import load_run, write_data, write_manifest

FIGURES = {"loss": "save_loss", "path": "save_path"}


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
                 fmt: str | None = None) -> list[str]:
    """Draw each configured figure into ``out_dir``; returns the file names."""
    from . import render

    fmt = fmt or result.config.render.format
    written = []
    for kind in kinds or result.config.render.figures:
        name = f"{kind}.{fmt}"
        getattr(render, FIGURES[kind])(result, out_dir / name)
        written.append(name)
    return written


def run_to_dir(config: Config, out_dir: str | Path, *, animate: bool | None = None, fmt: str | None = None,
               progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run ``config`` and write everything into ``out_dir``; returns the manifest."""
    out_dir = Path(out_dir)
    check_writable(out_dir)
    started = time.perf_counter()
    result = run(config, progress=progress)
    engine_seconds = time.perf_counter() - started
    files = write_data(result, out_dir)
    files += save_figures(result, out_dir, fmt=fmt)
    if animate if animate is not None else config.render.animation.enabled:
        files.append(animate_result(result, out_dir / f"animation.{config.render.animation.format}").name)
    timing = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "engine_seconds": round(engine_seconds, 4),
        "total_seconds": round(time.perf_counter() - started, 4),
    }
    return write_manifest(result, out_dir, files=files, timing=timing)


def animate_result(result: RunResult, path: Path, *, frames: int | None = None, fps: float | None = None,
                   trail: int | None = None, progress=None) -> Path:
    from .render import save_animation

    return save_animation(result, path, frames=frames, fps=fps, trail=trail, progress=progress)


def animate_dir(run_dir: str | Path, *, out: str | Path | None = None, fmt: str = "gif", frames: int | None = None,
                fps: float | None = None, trail: int | None = None, progress=None) -> Path:
    """Animate an existing run directory without recomputing it."""
    result = load_run(run_dir)
    path = Path(out) if out else Path(run_dir) / f"animation.{fmt}"
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise RunError(f"{path}: an animation must end in .gif or .mp4")
    if not os.access(path.parent if path.parent.exists() else Path("."), os.W_OK):
        raise RunError(f"{path}: cannot write there")
    return animate_result(result, path, frames=frames, fps=fps, trail=trail, progress=progress)
