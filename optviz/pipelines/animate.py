"""A stored run folder to an animation: read the trajectories back, draw the frames.

Nothing is recomputed and no optimizer is built: a stored run holds what drawing needs. A
network run races over the plane of its ``landscape.npz``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ..config import read_config
from ..errors import ConfigError, RunError
from ..load import check_animation, check_safe
from ..render import check_display, live_animation, save_animation
from ..render.animate import check_internals
from ..render.plane import save_landscape_animation
from ..results import RunResult
from ..store.landscape import read_landscape
from ..store.rundir import load_run
from .run import animation_name, warn_frame_cap

FORMATS = ("gif", "mp4")


def animate_dir(run_dir: str | Path, *, out: str | Path | None = None, fmt: str | None = None,
                frames: int | None = None, fps: float | None = None, trail: int | None = None,
                view: str | None = None, quiver: bool | None = None, internals: bool | None = None,
                progress: Callable[[int, int], None] | None = None, safe: bool = False) -> Path:
    """Animate an existing run directory without recomputing it (``safe``: refuse one whose config imports code).

    ``fmt`` ("gif" or "mp4") defaults to ``out``'s suffix, else gif; an ``out`` whose suffix
    says otherwise is a :class:`ConfigError`. ``view`` ("2d" or "3d"), ``quiver`` and ``internals``
    (arrows of each head's -gradient, momentum and update) default to the run's ``render.animation``. ``progress(done, total)`` is called after each frame.
    Asking for more frames than the run recorded steps gives one frame per step, with an
    :class:`OptvizWarning` saying so. Returns the animation's path.
    """
    path = _target(run_dir, out, fmt)
    if (Path(run_dir) / "curves.csv").is_file():  # a network run: its race is over the loss landscape
        if internals:
            raise ConfigError("--internals draws a test function run's recorded internals; a network run races "
                              "over its loss landscape without them")
        return _animate_landscape(Path(run_dir), path, fmt=fmt, frames=frames, fps=fps, trail=trail, view=view,
                                  quiver=quiver, progress=progress, safe=safe)
    result = load_run(run_dir, safe=safe)
    view = view or result.config.render.animation.view
    quiver = result.config.render.animation.quiver if quiver is None else quiver
    internals = result.config.render.animation.internals if internals is None else internals
    check_animation(result.function, view, quiver)
    if internals:
        check_internals(result, view)
    if path is None:
        path = Path(run_dir) / animation_name(view, fmt or "gif", quiver, internals)
    if not os.access(path.parent if path.parent.exists() else Path("."), os.W_OK):
        raise RunError(f"{path}: cannot write there")
    warn_frame_cap(result, frames)
    return save_animation(result, path, frames=frames, fps=fps, trail=trail, view=view, quiver=quiver,
                          internals=internals, progress=progress)


def _animate_landscape(run_dir: Path, path: Path | None, *, fmt: str | None, frames: int | None, fps: float | None,
                       trail: int | None, view: str | None, quiver: bool | None,
                       progress: Callable[[int, int], None] | None, safe: bool) -> Path:
    """The race of a network run's optimizers over the plane of its ``landscape.npz``."""
    if quiver:
        raise ConfigError("--quiver draws a test function's gradient arrows; a network run races over its loss "
                          "landscape without them")
    source = run_dir / "config.yaml"
    try:
        config = read_config(source)
        if safe:
            check_safe(config)
    except ConfigError as error:
        raise error.with_context(source=str(source)) from None
    file = run_dir / "landscape.npz"
    if not file.is_file():
        raise RunError(f"{run_dir}: a network run races over its loss landscape, and this run has none (no "
                       "landscape.npz); add render: {landscape: {directions: pca}} to its config and run it again")
    landscape = read_landscape(file)
    if landscape.loss.size == 0:
        raise RunError(f"{file}: directions: interpolate draws lines, not a plane to race over; use pca, random "
                       "or points")
    animation = config.render.animation
    view = view or animation.view
    path = path or run_dir / animation_name(view, fmt or animation.format)
    return save_landscape_animation(landscape, path, frames=frames or animation.frames, fps=fps or animation.fps,
                                    trail=trail if trail is not None else animation.trail, view=view,
                                    labels=config.labels, note=config.render.note, size=config.render.size,
                                    dpi=config.render.dpi, progress=progress)


def show_dir(run_dir: str | Path, *, frames: int | None = None, fps: float | None = None, trail: int | None = None,
             view: str | None = None, quiver: bool | None = None, internals: bool | None = None,
             safe: bool = False) -> None:
    """Play the race of a stored run in a window until it is closed; a :class:`RunError` where
    there is no display to open one on."""
    check_display()
    result = load_run(run_dir, safe=safe)
    warn_frame_cap(result, frames)
    import matplotlib.pyplot as plt

    animation = live_animation(result, frames=frames, fps=fps, trail=trail, view=view, quiver=quiver,
                               internals=internals, pyplot=True)
    plt.show()
    del animation  # kept alive until the window closes


def _target(run_dir: str | Path, out: str | Path | None, fmt: str | None) -> Path | None:
    """``out`` checked against ``fmt``, before anything is read; None: the default name, once the view is known."""
    if out is None:
        return None
    path = Path(out)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise RunError(f"{path}: an animation must end in .gif or .mp4")
    if fmt is not None and fmt != suffix:
        raise ConfigError(f"--{fmt} conflicts with --out {path}: the file name says .{suffix}; "
                          f"drop --{fmt}, or name the file .{fmt}")
    return path
