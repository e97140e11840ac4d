"""The run directory: the resolved config, the trajectories and a manifest, written and read back.

    outputs/peaks/
      config.yaml         the resolved config (overrides applied)
      manifest.json       versions, config hash, per-optimizer outcome; timings under "timing"
      trajectories.npz    every recorded array, exact (what `optviz animate` reads); the optimizers'
                          internals as gradient_<i>, update_<i> and state_<name>_<i> (optviz.results.internals)
      trajectories.csv    the same in long format, for spreadsheets (skipped when huge)
      summary.csv         one row per (optimizer, start)
      basin.npz           with the basin figure: outcome per start (see optviz.results.basin)
      state/<i>-<label>.pt  each optimizer's final state, to continue from (see optviz.store.state)
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import json
import platform
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..atomic import write_text
from ..config import Config, FunctionSpec, config_model, parse_yaml, read_text
from ..errors import ConfigError, RunError
from ..imports import notebook_name
from ..load import check_safe
from ..load.record import tolerance
from ..load.resolved import config_hash, config_yaml, not_replayable
from ..problems import TestFunction, function_of, plot_domain
from ..results import RunResult, Trajectory, finite_or_none
from ..results.internals import Internals
from ..results.basin import basin_summary
from .basin import write_basin_npz
from .csvfile import csv_field, finite_fields, float_fields, step_fields, write_csv, write_csv_columns
from .npz import checked_array, read_npz, write_npz

# trajectories.csv is for spreadsheets and quick looks: above this many rows (about 20 MB)
# it is left out, and trajectories.npz holds the same numbers.
CSV_ROW_LIMIT = 200_000
# summary.csv is turned into text this many rows at a time (a few MB of strings each).
SUMMARY_BLOCK_ROWS = 32_768
ARRAYS = ("positions", "loss", "lr", "grad_norm", "diverged_step")
# Stored only when the run has them: converged_step needs known minima; evaluations (f and gradient
# evaluations up to each record, one row when every start shares them) and gradient_point (a
# schedule-free optimizer's gradient point y; positions holds its evaluation point x) come from the engine.
OPTIONAL_ARRAYS = ("converged_step", "evaluations", "gradient_point")


def versions() -> dict[str, str]:
    import matplotlib
    import torch

    from ..version import __version__

    return {"optviz": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "matplotlib": matplotlib.__version__, "python": platform.python_version()}


def manifest(result: RunResult, *, timing: dict[str, Any] | None = None, files: list[str] | None = None,
             warnings: list[str] | None = None, nonfinite: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's summary as JSON-ready data; what varies between reruns lives under ``timing``.

    ``warnings`` are sentences for a person; ``nonfinite`` says where the function is
    NaN or infinite over the plotted domain (see :func:`optviz.problems.custom.nonfinite_region`).
    A file :func:`write_data` leaves out is listed under ``skipped``, and warned about.
    ``replayable`` says whether ``config.yaml`` runs again as it is; ``not_replayable`` names
    what it cannot hold (objects defined in a notebook).
    """
    config = result.config
    runs = [_run_entry(result, trajectory) for trajectory in result]
    skipped = skipped_files(result)
    data = {
        "versions": versions(),
        "config_hash": config_hash(config),
        **replay_entry(config),
        "function": result.function.name,
        "dim": result.dim,
        "steps": config.steps,
        "seed": config.seed,
        "dtype": config.dtype,
        "starts": len(result.starts),
        "record_every": result.record_every,
        "tolerance": result.tolerance,
        "runs": runs,
        "diverged": [run["label"] for run in runs if run["diverged_starts"]],
        "failed": [run["label"] for run in runs if run["status"] == "failed"],
        "warnings": [*(warnings or []), *(f"{entry['file']} not written: {entry['why']}" for entry in skipped)],
        "skipped": skipped,
        "nonfinite": nonfinite,
        "files": sorted(files or []),
        "timing": timing or {},
    }
    if result.noisy:
        noise = config.noise
        data["noise"] = {**noise.model_dump(mode="json", exclude_none=True),
                         "starts": result.start_count, "rows": len(result.starts),
                         "noise_seeds": result.noise_seeds}
    if "basin" in config.render.figures:
        data["basin"] = basin_summary(result)
    return data


def replay_entry(config: Config) -> dict[str, Any]:
    """``{"replayable": true}``, or false with ``not_replayable``: the objects ``config.yaml`` only names."""
    missing = not_replayable(config)
    return {"replayable": not missing, **({"not_replayable": missing} if missing else {})}


def _run_entry(result: RunResult, trajectory: Trajectory) -> dict[str, Any]:
    nearest, distance = result.function.nearest_minimum(trajectory.final_position)
    # A failed optimizer reached nothing, as summary.csv says: no loss, no nearest minimum.
    ok = ~trajectory.diverged & (not trajectory.error)
    diverged_starts = int(trajectory.diverged.sum())
    entry: dict[str, Any] = {
        "label": trajectory.label,
        "optimizer": trajectory.optimizer,
        "status": "failed" if trajectory.error else ("diverged" if diverged_starts == len(ok) else
                                                      "partly diverged" if diverged_starts else "ok"),
        "diverged_starts": diverged_starts,
    }
    if trajectory.converged_step is not None:
        entry["converged_starts"] = int(np.count_nonzero(trajectory.converged_step >= 0))
    if len(trajectory.final_loss) == 1:
        step = int(trajectory.diverged_step[0])
        failed = bool(trajectory.error)
        entry.update({
            "final_loss": None if failed else finite_or_none(trajectory.final_loss[0]),
            "final_position": [None if failed else finite_or_none(value) for value in trajectory.final_position[0]],
            "distance_to_minimum": finite_or_none(distance[0]) if ok[0] else None,
            "nearest_minimum": _minimum_entry(result.function, int(nearest[0])) if ok[0] else None,
            "diverged_step": step if step >= 0 else None,
        })
    else:
        with np.errstate(all="ignore"):
            entry.update({
                "final_loss_median": finite_or_none(np.nanmedian(np.where(ok, trajectory.final_loss, np.nan))) if ok.any() else None,
                "final_loss_best": finite_or_none(np.nanmin(np.where(ok, trajectory.final_loss, np.nan))) if ok.any() else None,
                "distance_to_minimum_median": finite_or_none(np.nanmedian(np.where(ok, distance, np.nan))) if ok.any() else None,
                "first_diverged_step": int(trajectory.diverged_step[trajectory.diverged].min()) if diverged_starts else None,
            })
    if result.noisy and not trajectory.error:
        entry["expected_final_loss"] = expected_final_loss(result, trajectory)
    if trajectory.evaluations is not None and trajectory.steps[-1] > 0 and not trajectory.error:
        # The last record's evaluation is its own, for the record: the steps made the others.
        made = (trajectory.evaluations[:, -1] - 1) / trajectory.steps[-1]
        entry["evaluations_per_step"] = round(float(made.mean()), 4)
    if trajectory.batching:
        entry["batching"] = trajectory.batching
    if trajectory.error:
        entry["error"] = trajectory.error
    return entry


def expected_final_loss(result: RunResult, trajectory: Trajectory) -> dict[str, Any]:
    """A noisy run's final loss in expectation over its noise seeds (and starts), with its spread.

    ``mean`` and ``std`` over every row (each start under each noise seed), ``seed_std`` the
    spread of the per-seed means (how much one noise seed's result can be trusted), ``q25`` and
    ``q75`` its quartiles. A diverged row has no final loss: when any diverged, the expectation
    is infinite and ``mean`` is None, with ``diverged_rows`` saying how many.
    """
    final = trajectory.final_loss.astype(np.float64)
    finite = np.isfinite(final) & ~trajectory.diverged
    seeds = np.unique(result.noise_seed)
    per_seed = np.array([final[result.noise_seed == seed].mean() for seed in seeds])
    entry: dict[str, Any] = {"rows": int(len(final)), "diverged_rows": int((~finite).sum())}
    if finite.all():
        q25, q75 = np.percentile(final, [25, 75])
        entry.update(mean=float(final.mean()), std=float(final.std(ddof=1)) if len(final) > 1 else 0.0,
                     seed_std=float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0,
                     q25=float(q25), q75=float(q75))
    else:
        entry.update(mean=None, std=None, seed_std=None, q25=None, q75=None)
    return entry


def _minimum_entry(function: TestFunction, index: int) -> dict[str, Any] | None:
    if index < 0:
        return None
    minimum = function.minima[index]
    return {"index": index, "point": list(minimum.point), "value": minimum.value, "kind": minimum.kind}


# --- writing --------------------------------------------------------------------------


def write_trajectories_npz(result: RunResult, path: Path) -> Path:
    """Every array, exactly; byte-identical for identical runs (fixed zip timestamps)."""
    arrays: dict[str, np.ndarray] = {
        "labels": np.array(result.labels),
        "optimizers": np.array([trajectory.optimizer for trajectory in result]),
        "starts": result.starts,
        "steps": result.trajectories[0].steps,
        "record_every": np.array(result.record_every),
    }
    if result.noisy:  # which start and noise seed each row is
        arrays["start_index"] = result.start_index
        arrays["noise_seed"] = result.noise_seed
    for index, trajectory in enumerate(result):
        for name in (*ARRAYS, *OPTIONAL_ARRAYS):
            array = getattr(trajectory, name)
            if name == "lr" and trajectory.shared_lr:
                array = array[:1]  # one row for all starts; load_run broadcasts it back
            if name == "evaluations" and array is not None and (array == array[:1]).all():
                array = array[:1]  # by value: a broadcast row that crossed processes (a Dask task) is copied
            if array is not None:
                arrays[f"{name}_{index}"] = np.ascontiguousarray(array)
        if trajectory.group_lr is not None:  # param groups: each group's lr, one row when every start shares it
            group_lr = trajectory.group_lr
            arrays[f"group_lr_{index}"] = np.ascontiguousarray(
                group_lr[:1] if len(group_lr) <= 1 or group_lr.strides[0] == 0 else group_lr)
            arrays[f"group_names_{index}"] = np.array(trajectory.group_names)
        if trajectory.error:  # so figures drawn later from the folder (optviz animate) still mark it failed
            arrays[f"error_{index}"] = np.array(trajectory.error)
        if trajectory.internals is not None:
            internals = trajectory.internals
            arrays[f"gradient_{index}"] = internals.gradient
            arrays[f"update_{index}"] = internals.update
            arrays.update({f"state_{name}_{index}": values for name, values in internals.state.items()})
    return write_npz(path, arrays)


def csv_rows(result: RunResult) -> int:
    return sum(trajectory.loss.size for trajectory in result)


def skipped_files(result: RunResult) -> list[dict[str, str]]:
    """The files of a run folder that :func:`write_data` leaves out for ``result``, each with why:
    ``[{"file": "trajectories.csv", "why": "..."}]`` or ``[]``."""
    rows = csv_rows(result)
    if rows <= CSV_ROW_LIMIT:
        return []
    return [{"file": "trajectories.csv",
             "why": f"{rows:,} rows is over its limit of {CSV_ROW_LIMIT:,}; trajectories.npz holds the same numbers"}]


def write_trajectories_csv(result: RunResult, path: Path) -> Path:
    """Long format: ``label,start[,noise_seed],step,x[,y],loss,lr,grad_norm``; floats round-trip exactly.

    ``noise_seed`` is there for a noisy run, whose rows are each start under each noise seed.
    """
    axes = ["x"] if result.dim == 1 else ["x", "y"]
    seeds = ["noise_seed"] if result.noisy else []
    blocks = []
    for trajectory in result:
        count, records = trajectory.loss.shape
        blocks.append(zip(
            [trajectory.label] * (count * records),
            step_fields(np.repeat(result.start_of_row, records)),
            *([step_fields(np.repeat(result.noise_seed, records))] if result.noisy else []),
            step_fields(np.tile(trajectory.steps, count)),
            *(float_fields(trajectory.positions[..., axis].ravel()) for axis in range(result.dim)),
            float_fields(trajectory.loss.ravel()),
            float_fields(trajectory.lr.ravel()),
            float_fields(trajectory.grad_norm.ravel()),
        ))
    return write_csv(path, ["label", "start", *seeds, "step", *axes, "loss", "lr", "grad_norm"],
                     itertools.chain(*blocks))


def write_summary_csv(result: RunResult, path: Path, *, block_rows: int | None = None) -> Path:
    """One row per (optimizer, start[, noise seed]); empty cells where a value does not exist (NaN, no minimum).

    The table and its text are made ``block_rows`` rows at a time (None:
    :data:`SUMMARY_BLOCK_ROWS`), each block written before the next is made: a million rows
    never exist as Python strings, nor as whole columns, at once. The bytes do not depend on
    ``block_rows``.
    """
    axes = ["x"] if result.dim == 1 else ["x", "y"]
    header = ["label", "start", *(["noise_seed"] if result.noisy else []), "status", "final_loss", *[f"final_{axis}" for axis in axes],
              "nearest_minimum", "distance_to_minimum", "diverged_step", "converged_step"]
    labels = {label: csv_field(label) for label in result.labels}

    def columns(part: RunResult) -> list[list[str]]:
        table = part.summary_table()
        return [
            [labels[label] for label in table["label"].tolist()], step_fields(table["start"]),
            *([step_fields(table["noise_seed"])] if result.noisy else []), table["status"].tolist(),
            finite_fields(table["final_loss"]),
            *(finite_fields(table["final_position"][:, axis]) for axis in range(result.dim)),
            step_fields(table["nearest_minimum"]), finite_fields(table["distance_to_minimum"]),
            step_fields(table["diverged_step"]), step_fields(table["converged_step"]),
        ]

    return write_csv_columns(path, header, map(columns, _row_blocks(result, block_rows or SUMMARY_BLOCK_ROWS)))


def _row_blocks(result: RunResult, block_rows: int) -> Iterator[RunResult]:
    """``result`` in the summary's order as small results of one optimizer and ``block_rows`` rows (views)."""
    start_of_row = result.start_of_row
    for trajectory in result:
        for begin in range(0, len(result.starts), block_rows):
            rows = slice(begin, begin + block_rows)
            part = dataclasses.replace(
                trajectory, positions=trajectory.positions[rows], loss=trajectory.loss[rows], lr=trajectory.lr[rows],
                grad_norm=trajectory.grad_norm[rows], diverged_step=trajectory.diverged_step[rows],
                converged_step=None if trajectory.converged_step is None else trajectory.converged_step[rows])
            yield dataclasses.replace(result, starts=result.starts[rows], trajectories=[part],
                                      start_index=start_of_row[rows],
                                      noise_seed=None if result.noise_seed is None else result.noise_seed[rows])


def write_data(result: RunResult, out_dir: Path) -> list[str]:
    """config.yaml, trajectories.npz/.csv and summary.csv; returns the file names written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "config.yaml", config_yaml(result.config))
    written = ["config.yaml", "trajectories.npz", "summary.csv"]
    # zlib and numpy's copies release the GIL: the npz files compress on a second core while
    # this thread makes the CSV text, which holds it.
    with concurrent.futures.ThreadPoolExecutor(1) as background:
        archives = [background.submit(write_trajectories_npz, result, out_dir / "trajectories.npz")]
        if "basin" in result.config.render.figures:
            archives.append(background.submit(write_basin_npz, result, out_dir / "basin.npz"))
        write_summary_csv(result, out_dir / "summary.csv")
        if "trajectories.csv" not in {entry["file"] for entry in skipped_files(result)}:
            write_trajectories_csv(result, out_dir / "trajectories.csv")
            written.append("trajectories.csv")
        names = [archive.result().name for archive in archives]
    return written + names[1:]


def write_manifest(result: RunResult, out_dir: Path, *, files: list[str], timing: dict[str, Any],
                   warnings: list[str] | None = None, nonfinite: dict[str, Any] | None = None,
                   resumed_from: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``manifest.json``; a resumed run's says where it continued from (``resumed_from``: run, steps)."""
    data = manifest(result, timing=timing, files=[*files, "manifest.json"], warnings=warnings, nonfinite=nonfinite)
    if resumed_from is not None:
        data["resumed_from"] = resumed_from
    write_text(out_dir / "manifest.json", json.dumps(data, indent=2) + "\n")
    return data


# --- reading back ---------------------------------------------------------------------


def load_run(run_dir: str | Path, *, safe: bool = False) -> RunResult:
    """Read a run directory written by :func:`write_data` back into a :class:`RunResult`.

    Only the function is resolved: no optimizer is built, so drawing a stored run
    needs neither the optimizers' classes nor torch's compiler stack. With ``safe``, a
    run whose config imports Python code is refused before anything is imported.
    """
    run_dir = Path(run_dir)
    config_file, npz_file = run_dir / "config.yaml", run_dir / "trajectories.npz"
    for required in (config_file, npz_file):
        if not required.is_file():
            raise RunError(f"{run_dir}: not a run directory (no {required.name}); make one with `optviz run CONFIG`")
    source = str(config_file)
    config = config_model(parse_yaml(read_text(config_file), source=source), source=source, base_dir=run_dir)
    written = config.function.import_ if isinstance(config.function, FunctionSpec) else config.function
    if notebook_name(written) is not None:  # the figures need the function, which only the notebook held
        raise RunError(f"{run_dir}: its function {notebook_name(written)} was defined in a notebook and the folder "
                       "cannot call it; draw the run from Python, from the result optviz.run gave")
    try:
        if safe:
            check_safe(config)
        function = function_of(config)
    except ConfigError as error:
        raise error.with_context(source=source) from None
    return read_trajectories_npz(npz_file, config, function)


def read_trajectories_npz(path: Path, config: Config, function: TestFunction) -> RunResult:
    """The :class:`RunResult` of ``config`` (whose function is ``function``) stored in ``path``
    by :func:`write_trajectories_npz`.

    Every array is checked (present, numeric or text, shapes that agree with each other and
    with ``function``'s dimension); a damaged file is a :class:`RunError` naming it.
    """
    arrays = read_npz(path)

    def array(name: str, **check: Any) -> np.ndarray:
        return checked_array(arrays, path, name, **check)

    labels = array("labels", text=True, ndim=1).tolist()
    if not labels:
        raise RunError(f"{path}: array 'labels' is empty; a run has at least one optimizer")
    optimizers = array("optimizers", text=True, shape=(len(labels),)).tolist()
    starts = array("starts", shape=(None, function.dim))
    steps = array("steps", ndim=1)
    count, records = len(starts), len(steps)
    if not count or not records:
        raise RunError(f"{path}: holds no records ({count} starts, {records} steps)")
    shapes = {"positions": (count, records, function.dim), "loss": (count, records), "grad_norm": (count, records),
              "diverged_step": (count,), "converged_step": (count,), "evaluations": (None, records),
              "gradient_point": (count, records, function.dim)}
    trajectories = []
    for index, (label, optimizer) in enumerate(zip(labels, optimizers)):
        lr = array(f"lr_{index}", shape=(None, records))
        if len(lr) not in (1, count):
            raise RunError(f"{path}: array 'lr_{index}' has shape {lr.shape}, but the other arrays say "
                           f"(1, {records}) or ({count}, {records})")
        found = {name: array(f"{name}_{index}", shape=shapes[name]) for name in ARRAYS if name != "lr"}
        found.update({name: array(f"{name}_{index}", shape=shapes[name]) for name in OPTIONAL_ARRAYS
                      if f"{name}_{index}" in arrays})
        found["lr"] = np.broadcast_to(lr, (count, records))  # stored once when shared
        if "evaluations" in found:
            found["evaluations"] = np.broadcast_to(found["evaluations"], (count, records))
        error = str(array(f"error_{index}", text=True, shape=())) if f"error_{index}" in arrays else None
        if f"group_lr_{index}" in arrays:
            names = array(f"group_names_{index}", text=True, ndim=1).tolist()
            group_lr = array(f"group_lr_{index}", shape=(None, len(names), records))
            if len(group_lr) not in (1, count):
                raise RunError(f"{path}: array 'group_lr_{index}' has shape {group_lr.shape}, but the other arrays "
                               f"say (1, {len(names)}, {records}) or ({count}, {len(names)}, {records})")
            found.update(group_lr=np.broadcast_to(group_lr, (count, len(names), records)), group_names=names)
        clip = config.optimizers[index].clip_grad_norm if index < len(config.optimizers) else None
        internals = None
        if f"gradient_{index}" in arrays:
            shape = (count, records, function.dim)
            prefix, suffix = "state_", f"_{index}"
            names = [name[len(prefix):-len(suffix)] for name in arrays
                     if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix)]
            internals = Internals(gradient=array(f"gradient_{index}", shape=shape),
                                  update=array(f"update_{index}", shape=shape),
                                  state={name: array(f"{prefix}{name}{suffix}", shape=shape) for name in names})
        trajectories.append(Trajectory(label=label, optimizer=optimizer, steps=steps, error=error,
                                       clip_grad_norm=clip, internals=internals, **found))
    record_every = int(array("record_every", shape=())) if "record_every" in arrays else 1
    noisy = "noise_seed" in arrays
    start_index = array("start_index", shape=(count,)).astype(np.int64) if noisy else None
    noise_seed = array("noise_seed", shape=(count,)).astype(np.int64) if noisy else None
    return RunResult(config=config, function=function, domain=plot_domain(config.domain, function), starts=starts,
                     trajectories=trajectories, record_every=record_every,
                     tolerance=tolerance(config, function) if function.minima else None, start_index=start_index,
                     noise_seed=noise_seed)
