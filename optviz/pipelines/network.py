"""From a network config (``problem:``) to a finished run folder: train, write the data, draw the figures."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any, Callable

from ..atomic import check_replaceable, check_writable, published_directory
from ..load import LoadedNetwork
from ..landscape import compute_landscape
from ..store.landscape import write_landscape
from ..store.network import network_manifest, write_network_data, write_network_manifest, write_replay_files
from ..training import train
from .replay import warn_not_replayable


def network_to_dir(loaded: LoadedNetwork, out_dir: str | Path, *, fmt: str | None = None,
                   progress: Callable[[str, int, int], None] | None = None,
                   figure_progress: Callable[[str, int, int], None] | None = None,
                   carry: tuple[str, ...] = ()) -> dict[str, Any]:
    """Train every (optimizer, seed) of ``loaded`` and write its folder; returns the manifest.

    The folder is published whole, like :func:`optviz.pipelines.run.run_to_dir`'s. Figures
    are drawn unless ``render.figures`` is empty. ``carry`` names entries of the earlier folder to
    keep (``optviz tune``'s cells and files).
    """
    out_dir = Path(out_dir)
    config = loaded.config
    check_writable(out_dir)
    check_replaceable(out_dir)
    with published_directory(out_dir, carry=carry) as staging:
        started = time.perf_counter()
        initial: dict[int, dict[str, Any]] = {}
        result = train(loaded, progress=progress, initial=initial)
        training_seconds = time.perf_counter() - started
        files = []
        for seed, state in initial.items():
            files += write_replay_files(staging, seed, state, loaded.problem.dataset(seed))
        files += write_network_data(result, staging)
        landscape, landscape_seconds = None, None
        if config.render.landscape is not None:
            if figure_progress:
                figure_progress("landscape", 0, 1)
            landscape_started = time.perf_counter()
            landscape = compute_landscape(loaded, result, initial)
            files.append(write_landscape(landscape, staging / "landscape.npz").name)
            landscape_seconds = time.perf_counter() - landscape_started
        if config.render.figures:
            from ..render.network import save_network_figures

            if figure_progress:
                figure_progress("figures", 0, 1)
            files += save_network_figures(result, staging, fmt or config.render.format)
            if landscape is not None:
                from ..render import save_landscape_figures

                files += save_landscape_figures(landscape, result, staging, fmt or config.render.format)
        warnings = warn_not_replayable(config, out_dir / "config.yaml")
        if not loaded.record_every:
            warnings.append("the parameter vectors were not recorded (trajectories.npz): they would not fit the "
                            "memory budget; set a larger record.every")
        timing = {
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "training_seconds": round(training_seconds, 4),
            **({"landscape_seconds": round(landscape_seconds, 4)} if landscape_seconds is not None else {}),
            "total_seconds": round(time.perf_counter() - started, 4),
        }
        manifest = network_manifest(result, files=files, timing=timing, record_every=loaded.record_every,
                                    warnings=warnings)
        write_network_manifest(staging, manifest)
    return manifest
