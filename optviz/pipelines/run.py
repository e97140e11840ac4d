"""From a config to a finished run directory: run, write the data, draw the figures."""

from __future__ import annotations

import datetime
import warnings
import time
from pathlib import Path
from typing import Any, Callable

from .. import render
from ..atomic import check_replaceable, check_writable, published_directory
from ..config import Config
from ..engine import check_single_run, run
from ..errors import OptvizWarning, RunError
from ..load import Loaded, LoadedNetwork, prepare
from ..problems import nonfinite_region
from ..results import RunResult, continued
from ..store.rundir import write_data, write_manifest
from ..store.state import write_states
from .network import network_to_dir
from .replay import warn_not_replayable
from .resume import Resumed

FIGURES = {"loss": "save_loss", "path": "save_path", "surface": "save_surface", "diagnostics": "save_diagnostics",
           "internals": "save_internals", "basin": "save_basin"}
# A surface needs two variables: for a 1D function it is left out (path.png draws the curve).
TWO_D_ONLY = {"surface"}


def default_out_dir(config_path: str | Path) -> Path:
    """``outputs/<config stem>/``."""
    return Path("outputs") / Path(config_path).stem


def save_figures(result: RunResult, out_dir: Path, *, kinds: list[str] | None = None,
                 fmt: str | None = None, progress: Callable[[str, int, int], None] | None = None) -> list[str]:
    """Draw each configured figure into ``out_dir``; returns the file names.

    ``progress(name, done, total)`` is called as each figure starts.
    """
    fmt = fmt or result.config.render.format
    kinds = [kind for kind in kinds or result.config.render.figures if kind not in TWO_D_ONLY or result.dim == 2]
    if not render.has_internals(result):  # not recorded: too big for the budget, or record.internals: false
        kinds = [kind for kind in kinds if kind != "internals"]
    written = []
    for kind in kinds:
        name = f"{kind}.{fmt}"
        if progress:
            progress(name, len(written), len(kinds))
        getattr(render, FIGURES[kind])(result, out_dir / name)
        written.append(name)
    return written


def animation_name(view: str, fmt: str, quiver: bool = False, internals: bool = False) -> str:
    """``animation.gif``, ``animation-3d.gif`` for the race over the surface, ``animation-quiver.gif``
    for the flat race over gradient arrows or ``animation-internals.gif`` with the heads' internals,
    so no view replaces another."""
    suffix = "-3d" if view == "3d" else "-quiver" if quiver else ""
    return f"animation{suffix}{'-internals' if internals and view != '3d' else ''}.{fmt}"


def run_to_dir(config: Config | Loaded | LoadedNetwork, out_dir: str | Path, *, animate: bool | None = None, fmt: str | None = None,
               progress: Callable[[str, int, int], None] | None = None,
               figure_progress: Callable[[str, int, int], None] | None = None,
               frame_progress: Callable[[int, int], None] | None = None,
               carry: tuple[str, ...] = (), workers: int | None = None,
               resume: Resumed | None = None) -> dict[str, Any]:
    """Run ``config`` and write everything into ``out_dir``; returns the manifest.

    ``workers`` is :func:`optviz.engine.run`'s: processes that share the starts (None: as many as help).

    ``progress(label, done, total)`` is called as each optimizer starts,
    ``figure_progress(name, done, total)`` as each figure starts and
    ``frame_progress(done, total)`` after each animation frame.

    The run folder is published whole (:func:`~optviz.atomic.published_directory`): written
    beside ``out_dir``, then swapped in with one rename, so a failed or interrupted run
    leaves an earlier run there byte for byte, and a finished one leaves nothing of it.
    ``carry`` names entries of the earlier folder to keep (``optviz tune``'s cells and files).
    A folder that is not optviz's own is refused rather than replaced.

    With ``resume`` (:func:`~optviz.pipelines.resume.prepare_resume`), the stored run continues
    instead (``config`` then only names the run), and the folder holds its whole history;
    ``out_dir`` may be the stored run's own folder, which is replaced only once all is written.
    """
    out_dir = Path(out_dir)
    check_single_run(config.config if isinstance(config, (Loaded, LoadedNetwork)) else config)  # before the directory is made
    loaded = resume.loaded if resume else config if isinstance(config, (Loaded, LoadedNetwork)) else prepare(config)
    if isinstance(loaded, LoadedNetwork):  # a network on data (problem:), not a test function
        return network_to_dir(loaded, out_dir, fmt=fmt, progress=progress, figure_progress=figure_progress,
                              carry=carry)
    config = loaded.config
    check_writable(out_dir)
    check_replaceable(out_dir)
    with published_directory(out_dir, carry=carry) as staging:
        started = time.perf_counter()
        if resume is None:
            result = run(loaded, progress=progress, workers=workers)
        else:
            result = continued(resume.earlier, run(loaded, progress=progress, workers=workers, resume=resume.resume,
                                                   record_every=resume.earlier.record_every))
        engine_seconds = time.perf_counter() - started
        nonfinite = nonfinite_region(result.function, result.domain, config.render.resolution)
        files = write_data(result, staging)
        files += write_states(result, staging)
        files += save_figures(result, staging, fmt=fmt, progress=figure_progress)
        if animate if animate is not None else config.render.animation.enabled:
            animation = config.render.animation
            name = animation_name(animation.view, animation.format, animation.quiver, animation.internals)
            warn_frame_cap(result, None)
            files.append(render.save_animation(result, staging / name, progress=frame_progress).name)
        timing = {
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "engine_seconds": round(engine_seconds, 4),
            "total_seconds": round(time.perf_counter() - started, 4),
        }
        manifest = write_manifest(result, staging, files=files, timing=timing,
                                  warnings=[*([nonfinite.describe(result.function.name)] if nonfinite else []),
                                            *([loaded.internals_skipped] if loaded.internals_skipped else []),
                                            *warn_not_replayable(config, out_dir / "config.yaml")],
                                  nonfinite=nonfinite.to_dict() if nonfinite else None,
                                  resumed_from=resume.manifest_entry() if resume else None)
    return manifest


def warn_frame_cap(result: RunResult, frames: int | None) -> None:
    """Warn (:class:`OptvizWarning`) when more frames are asked for than the run recorded steps."""
    wanted = frames or result.config.render.animation.frames
    records = len(result.trajectories[0].steps)
    if wanted > records:
        warnings.warn(f"asked for {wanted} frames, made {records}: one per recorded step of the run "
                      f"(a frame never repeats a step)", OptvizWarning, stacklevel=3)
