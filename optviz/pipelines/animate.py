"""A stored run folder to an animation: read the trajectories back, draw the frames.

Nothing is recomputed and no optimizer is built: a stored run holds what drawing needs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ..errors import RunError
from ..load import check_animation
from ..render import save_animation
from ..store.rundir import load_run
from .run import animation_name


def animate_dir(run_dir: str | Path, *, out: str | Path | None = None, fmt: str = "gif", frames: int | None = None,
                fps: float | None = None, trail: int | None = None, view: str | None = None,
                quiver: bool | None = None, progress: Callable[[int, int], None] | None = None,
                safe: bool = False) -> Path:
    """Animate an existing run directory without recomputing it (``safe``: refuse one whose config imports code).

    ``view`` ("2d" or "3d") and ``quiver`` default to the run's ``render.animation``.
    ``progress(done, total)`` is called after each frame. Returns the animation's path.
    """
    result = load_run(run_dir, safe=safe)
    view = view or result.config.render.animation.view
    quiver = result.config.render.animation.quiver if quiver is None else quiver
    check_animation(result.function, view, quiver)
    path = Path(out) if out else Path(run_dir) / animation_name(view, fmt)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise RunError(f"{path}: an animation must end in .gif or .mp4")
    if not os.access(path.parent if path.parent.exists() else Path("."), os.W_OK):
        raise RunError(f"{path}: cannot write there")
    return save_animation(result, path, frames=frames, fps=fps, trail=trail, view=view, quiver=quiver,
                          progress=progress)
