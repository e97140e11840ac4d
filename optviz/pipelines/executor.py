"""Where a sweep's batches of cells run: in this process, or as tasks on a Dask cluster.

``optviz sweep CONFIG --executor dask[:ADDRESS]`` (and ``tune``, ``compare``) sends each
batch of cells (:func:`optviz.pipelines.sweep.batches`) to a Dask distributed cluster as
one task: a ``distributed.Client(ADDRESS)``, or without ADDRESS a ``LocalCluster`` of two
single-threaded worker processes. A task carries each cell's config as plain data (what
``Config.to_dict`` gives, with its folder), never torch objects; the worker rebuilds and
checks the cells, runs them exactly as this process would (the sweep's ``run_cells``) and sends back
the numpy arrays of their results. Everything else stays here: the cell hashing, the reuse of
finished cells and the writing of every file, so the outputs are byte for byte those of a
local sweep. Scheduling, retries and the dashboard are Dask's.

>>> parse_executor("dask:tcp://10.0.0.5:8786")
('dask', 'tcp://10.0.0.5:8786')
>>> parse_executor("local")
('local', None)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from ..config import config_model
from ..errors import ConfigError, RunError, quote
from ..load import Cell, Loaded, LoadedNetwork, prepare
from ..load.resolved import cell_key
from ..results import RunResult
from ..results.network import NetworkResult
from ..store.cells import versions

Result = RunResult | NetworkResult
INSTALL_HINT = "pip install 'optviz[dask]'"
LOCAL_WORKERS = 2


# What runs one batch: its cells' loaded configs in, their results out, in order
# (:func:`optviz.pipelines.sweep.run_cells`). A module-level function, so Dask sends it by name.
RunCells = Callable[[list[Loaded | LoadedNetwork]], list[Result]]


class Executor(Protocol):
    """Runs batches of cells with ``run_cells``; yields each batch with its results, in any order, as they finish."""

    def map(self, run_cells: RunCells, batches: list[list[Cell]]) -> Iterator[tuple[list[Cell], list[Result]]]: ...


class LocalExecutor:
    """Every batch in this process, one after another, in order."""

    def map(self, run_cells: RunCells, batches: list[list[Cell]]) -> Iterator[tuple[list[Cell], list[Result]]]:
        for batch in batches:
            yield batch, run_cells([cell.loaded for cell in batch])


@dataclasses.dataclass(frozen=True)
class DaskExecutor:
    """Every batch as one task on the cluster behind ``client``; results come back as they finish."""

    client: Any  # distributed.Client

    def map(self, run_cells: RunCells, batches: list[list[Cell]]) -> Iterator[tuple[list[Cell], list[Result]]]:
        from distributed import KilledWorker, as_completed

        futures = {self.client.submit(run_task, run_cells, [_payload(cell) for cell in batch], pure=False): batch
                   for batch in batches}
        expected = versions()
        finished = as_completed(futures, with_results=True)
        while futures:
            try:
                future, (found, arrays) = next(finished)
            except KilledWorker as error:  # Dask gave up after its own retries
                raise RunError(f"Dask workers died running cells ({error}); the finished cells are kept: "
                               "run the same command again to go on") from None
            batch = futures.pop(future)
            if found != expected:
                raise RunError(f"a Dask worker runs {_versions(found)} where this process runs {_versions(expected)}; "
                               "its cells would not match a local sweep: install the same versions on the workers")
            yield batch, [_rebuild(cell, fields) for cell, fields in zip(batch, arrays)]


def parse_executor(text: str) -> tuple[str, str | None]:
    """``"local"``, ``"dask"`` or ``"dask:ADDRESS"`` -> ``(kind, address)``; a :class:`ConfigError` otherwise."""
    kind, colon, address = text.partition(":")
    if kind == "local" and not colon:
        return "local", None
    if kind == "dask" and (address.strip() or not colon):
        return "dask", address.strip() or None
    raise ConfigError(f"--executor: expected local, dask or dask:ADDRESS (a scheduler, e.g. "
                      f"dask:tcp://10.0.0.5:8786), got {quote(text)}")


@contextlib.contextmanager
def open_executor(text: str = "local") -> Iterator[Executor]:
    """The executor ``text`` names (see :func:`parse_executor`), open for the block: for ``dask``, a client of
    the scheduler at ADDRESS, or of a new ``LocalCluster`` of two single-threaded worker processes, closed after.

    A missing ``distributed`` and a scheduler that cannot be reached are each a :class:`RunError`."""
    kind, address = parse_executor(text)
    if kind == "local":
        yield LocalExecutor()
        return
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise RunError(f"--executor dask needs Dask's distributed, which is not installed: {INSTALL_HINT}") from None
    with contextlib.ExitStack() as stack:
        if address is None:
            cluster = stack.enter_context(LocalCluster(n_workers=LOCAL_WORKERS, threads_per_worker=1,
                                                       processes=True, silence_logs=logging.ERROR))
            target: Any = cluster
        else:
            target = address
        try:
            client = stack.enter_context(Client(target))
        except (OSError, ValueError, TypeError) as error:
            reason = " ".join(str(error).split()) or type(error).__name__
            raise RunError(f"--executor dask:{address}: cannot reach a Dask scheduler there ({reason})") from None
        yield DaskExecutor(client)


def run_task(run_cells: RunCells,
             payloads: list[tuple[dict[str, Any], str | None, str]]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """What a worker does with one batch: rebuild each cell's config from its data and folder, check it
    hashes to the cell's key, run the batch with ``run_cells`` and return this process's versions with
    each result's fields but its config and function, which the driver holds already."""
    loaded = []
    for data, base_dir, key in payloads:
        cell = prepare(config_model(data, base_dir=Path(base_dir) if base_dir is not None else None))
        if cell_key(cell.config) != key:
            raise RunError(f"a Dask worker read cell {key[:12]} as another run (key {cell_key(cell.config)[:12]}): "
                           "do the workers see the same files as this process?")
        loaded.append(cell)
    return versions(), [_fields(result) for result in run_cells(loaded)]


def _payload(cell: Cell) -> tuple[dict[str, Any], str | None, str]:
    base_dir = cell.config.base_dir
    return cell.config.to_dict(), None if base_dir is None else str(base_dir), cell.key


def _fields(result: Result) -> dict[str, Any]:
    fields = {field.name: getattr(result, field.name) for field in dataclasses.fields(result)
              if field.name not in ("config", "function")}
    if isinstance(result, RunResult):
        # A pickled broadcast array arrives whole, and a shared lr would then be stored per row:
        # it travels as its one row, and is broadcast again where it lands.
        fields["trajectories"] = [(dataclasses.replace(trajectory, lr=trajectory.lr[:1]), len(trajectory.lr))
                                  if trajectory.shared_lr else (trajectory, None)
                                  for trajectory in result.trajectories]
    return fields


def _rebuild(cell: Cell, fields: dict[str, Any]) -> Result:
    if isinstance(cell.loaded, LoadedNetwork):
        return NetworkResult(config=cell.config, **fields)
    trajectories = [trajectory if rows is None else
                    dataclasses.replace(trajectory, lr=np.broadcast_to(trajectory.lr[0], (rows, trajectory.lr.shape[1])))
                    for trajectory, rows in fields.pop("trajectories")]
    return RunResult(config=cell.config, function=cell.loaded.function, trajectories=trajectories, **fields)


def _versions(found: dict[str, str]) -> str:
    return ", ".join(f"{name} {version}" for name, version in found.items())
