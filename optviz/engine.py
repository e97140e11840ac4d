"""Records optimizer trajectories with the real ``torch.optim`` classes.

Step 0 is the start. At every recorded step (:mod:`optviz.load.record`) the engine keeps
the position, f(position), the lr in force for the step taken from there and the
gradient norm. The numbers are those of a plain hand-written loop::

    x = torch.tensor(start, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=0.1)
    for _ in range(steps):
        optimizer.zero_grad()
        function(x).backward()
        optimizer.step()
        scheduler.step()

Many starts run at once, each on its own trajectory, in one of three layouts:

- ``stacked``: optimizers that treat every element on its own (SGD, Adam, ...;
  :data:`~optviz.optimizers.ELEMENTWISE_OPTIMIZERS`) get one ``(dim, starts)``
  tensor. Each coordinate is then a contiguous row, so f and its gradient are a
  few vectorized operations over all starts per step.
- ``separate``: Adafactor gets one ``(dim,)`` tensor per start in a single
  optimizer. Its state and relative step size are per tensor and it does not
  factor vectors, so every start is exactly a lone run; stacking them into one
  matrix would factor its moments across starts.
- ``sequential``: LBFGS (its line search couples every element of a tensor), a
  user's class optviz cannot vouch for, and ReduceLROnPlateau (which reads the
  loss, so its lr differs per start) run each start in its own loop. So does a class
  of the ``optviz[optimizers]`` packages, unless a short check vouches that its update
  is element-wise (:func:`_elementwise_check`): then it is ``stacked``.

Each class is stepped as its authors document (:func:`optviz.third_party.step_needs`):
with a closure that re-evaluates f and its gradient (counted in ``evaluations``), with
``create_graph=True`` on backward for a Hessian-based step, and, schedule-free, in train
mode, its evaluation point read in eval mode at every step (``positions``; the gradient
point is ``gradient_point``). torch's generator is seeded with the config's ``seed`` at
the start of every loop, for a step that draws random numbers.

A sweep's runs of one element-wise optimizer that differ only in its hyperparameters
(:func:`run_batch`) share a fourth layout, ``groups``: ONE optimizer with one param
group per run, each group's parameter a ``(dim, starts)`` view of one ``(dim, runs,
starts)`` tensor, so f and its gradient are still a few vectorized operations per
step. Every group states all its settings and torch applies them group by group, so
each run is exactly the run it has alone (:func:`batch_key` says which runs qualify).

Runs of such a batch that differ only in lr (equal :func:`stack_key`) go further: they
*stack* into one param group whose parameter is a ``(dim, runs, starts)`` view and whose
lr is a tensor with one value per run, assigned to the group after construction (the
constructors refuse a multi-element lr). torch's own ``step`` then updates them all in
a few kernel calls. Where ``step`` refuses a tensor lr (Adam and most others), or the
first stacked run does not equal its lone run bit for bit (checked every batch), the
runs take the param-group route instead, and :class:`BatchRoute` says which and why.

A lone start is always a plain ``(dim,)`` vector, exactly what a hand-written loop
optimizes. Batched and lone runs agree start by start to the last few bits: the
only difference is that vectorized kernels (exp, pow, ...) may round differently
from scalar ones. A start that diverges is marked at that step and recorded as NaN
afterwards; elementwise updates never mix starts, so the others carry on unchanged.

The engine computes on one CPU thread with subnormal floats flushed to zero (below
1.2e-38 in float32). Paths that settle into a minimum or wander onto a flat plateau
produce subnormal intermediates, which x86 CPUs process about a hundred times
slower; flushing them changes nothing above that magnitude. Torch's worker threads
would keep their own setting, so one thread is also what keeps results independent
of the machine.

``engine: fused`` (opt-in, for huge basin maps; :func:`_fused`) is the one exception to all
of the above: f of the whole ``(dim, starts)`` tensor, its gradient (AOTAutograd), the
convergence bookkeeping and torch.optim's own ``step`` each go through ``torch.compile``,
and the starts run as one batch on as many torch threads as the exact engine would fork
workers. It is the same arithmetic fused into fewer loops, so the last bits differ from
the exact engine's, and depend on the CPU, the torch version and the number of threads
(torch's worker threads keep subnormals). ``benchmarks/bench_fused.py`` checks that not one
basin label of the example configs changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from .atomic import ENDING_SIGNALS
from .config import Config, OptimizerSpec
from .errors import ConfigError, RunError
from .load import Loaded, prepare
from .load.record import recorded_steps
from .optimizers import (ELEMENTWISE_OPTIMIZERS, OPTIMIZER_LEVEL_KEYWORDS, coordinate_groups, create_graph_override,
                         resolve_optimizer, resolve_optimizer_spec)
from .problems import Noise, TestFunction, noise_rows
from .results import RunResult, Trajectory
from .results.internals import Internals
from .third_party import failure_hint, package_of, step_needs

Progress = Callable[[str, int, int], None]

# Batched starts run this many rows at a time: the step's temporaries then stay in the CPU's
# caches (1.35x faster on a million starts than one batch), and chunks can go to processes.
CHUNK_ROWS = 65_536
# Rows below which a second process is not worth forking (about a second's work for 500 steps).
MIN_WORKER_ROWS = 16_384
RECORD_KEYS = ("positions", "loss", "grad_norm", "diverged_step", "converged_step")
# Records that are often one row for every start (broadcast), and one that only some optimizers have.
SHARED_KEYS = ("lr", "evaluations")
OPTIONAL_KEYS = ("gradient_point",)
# Steps of two starts that must equal each start alone, bit for bit, before a third-party class batches.
ELEMENTWISE_CHECK_STEPS = 5

__all__ = ["BatchRoute", "CHUNK_ROWS", "Resume", "MIN_WORKER_ROWS", "batch_key", "batch_layout", "default_workers",
           "engine_mode", "run", "run_batch", "run_optimizer", "stack_key", "tensor_lr_refusal"]


@dataclass(frozen=True)
class Resume:
    """Where a run continues from: the steps it took, and each optimizer's final state by label
    (:attr:`~optviz.results.Trajectory.final_state`, as a run folder's ``state/`` keeps it)."""

    steps: int
    states: dict[str, dict[str, Any]]


def run(config: Config | Loaded, *, record_every: int | None = None, progress: Progress | None = None,
        workers: int | None = None, chunk_rows: int | None = None, resume: Resume | None = None) -> RunResult:
    """Run every optimizer of ``config`` from every start and return the trajectories.

    ``config`` is a :class:`Config` (checked here, from what it holds now) or an already
    :class:`~optviz.load.Loaded` one. ``record_every`` overrides ``record.every`` (see
    :mod:`optviz.load.record`).

    While it runs, the engine computes on one torch thread with subnormal floats flushed
    to zero (:func:`engine_mode`); both settings are the caller's again when it returns,
    or raises.

    Batched starts run ``chunk_rows`` rows at a time (None: :data:`CHUNK_ROWS`), and with
    ``workers`` > 1 the chunks are shared out to that many processes (:func:`run_optimizer`);
    None picks :func:`default_workers`. Neither changes a bit of the result. With ``engine:
    fused`` (:func:`compiler_settings`) the starts run as one batch on ``workers`` torch threads.

    With ``resume``, every optimizer continues from its state after ``resume.steps`` steps to
    ``config.steps``, on the stored rows split as they were; the result holds the records of
    the steps after ``resume.steps`` (:func:`optviz.results.continued` joins them to the
    earlier ones), and its numbers are those of one run of ``config.steps`` steps.

    >>> from optviz import config_from_dict, run
    >>> result = run(config_from_dict({"function": "quadratic", "start": [2.0], "steps": 5, "dtype": "float64",
    ...                                "optimizers": [{"name": "SGD", "lr": 0.1}]}))
    >>> result["SGD"].positions[0, :, 0].round(4).tolist()
    [2.0, 0.4, 0.08, 0.016, 0.0032, 0.0006]
    """
    check_single_run(config.config if isinstance(config, Loaded) else config)  # before a sweep is planned
    loaded = config if isinstance(config, Loaded) else prepare(config)
    config = loaded.config
    function = loaded.function
    plan = _plan(loaded, record_every or loaded.record_every)
    if resume is not None:  # the steps after resume.steps, on the grid of the whole run
        plan = dataclasses.replace(plan, first_step=resume.steps, recorded=plan.recorded[plan.recorded > resume.steps])
    starts, start_index, noise_seed = _rows(loaded)
    result = RunResult(config=config, function=function, domain=loaded.domain, starts=starts, record_every=plan.every,
                       tolerance=plan.tolerance if function.minima else None, start_index=start_index,
                       noise_seed=noise_seed)
    chunk_rows = chunk_rows or CHUNK_ROWS
    workers = default_workers(len(starts)) if workers is None else workers
    with engine_mode(), compiler_settings(config.engine, workers):
        for spec in config.optimizers:
            if progress:
                progress(spec.display_label, len(result.trajectories), len(config.optimizers))
            result.trajectories.append(run_optimizer(
                spec, config, function, starts, plan, _keys(start_index, noise_seed), chunk_rows=chunk_rows,
                workers=workers, state=None if resume is None else resume.states[spec.display_label]))
    return result


def default_workers(rows: int) -> int:
    """Processes worth starting for ``rows`` batched rows: one per :data:`MIN_WORKER_ROWS` rows, at
    most one per usable CPU.

    For fewer rows a fork costs more than it saves; without the ``fork`` start method (macOS,
    Windows) a worker would import torch afresh, so there is one.
    """
    import multiprocessing
    import os

    if "fork" not in multiprocessing.get_all_start_methods() or not hasattr(os, "sched_getaffinity"):
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), rows // MIN_WORKER_ROWS))


def _rows(loaded: Loaded) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The run's rows: its starts, or under noise every start under every noise seed, seed by seed,
    with each row's start index and noise seed (None without noise)."""
    if loaded.noise is None:
        return loaded.starts, None, None
    start_index, noise_seed = noise_rows(len(loaded.starts), loaded.noise.seeds)
    return loaded.starts[start_index], start_index, noise_seed


def _keys(start_index: np.ndarray | None, noise_seed: np.ndarray | None) -> np.ndarray | None:
    """``(rows, 2)`` of (noise seed, start index): what each row's noise is a function of."""
    return None if start_index is None else np.column_stack([noise_seed, start_index])


def check_single_run(config: Config, *, source: str = "") -> None:
    """Refuse a config with a ``sweep:`` block: it is many runs, which ``optviz sweep`` makes.

    ``source`` (the config's file) prefixes the :class:`ConfigError`.
    """
    if config.sweep:
        raise ConfigError("this config is a sweep of many runs: run it with `optviz sweep` (optviz.sweep_to_dir), "
                          "or remove the sweep block (--set sweep=null) to run the config as written", path="sweep",
                          source=source)


def batch_key(config: Config) -> str | None:
    """Configs with equal keys run exactly as one optimizer with a param group each (:func:`run_batch`).

    That takes one optimizer of an element-wise torch.optim class, and everything but its
    group-level hyperparameters (the function, starts, steps, dtype, record settings, the
    scheduler and its arguments, :data:`~optviz.optimizers.OPTIMIZER_LEVEL_KEYWORDS`) equal.
    None for a config that runs alone.
    """
    if len(config.optimizers) != 1:
        return None
    return _batch_key(config, resolve_optimizer_spec(config.optimizers[0], config))


def _batch_key(config: Config, resolved: tuple) -> str | None:
    cls, hyperparameters, scheduler = resolved
    # Param groups of its own, or a compiled step (engine: fused): such a config runs alone.
    if config.optimizers[0].param_groups or config.engine != "exact" or batch_layout(cls, scheduler) != "stacked":
        return None
    data = config.to_dict()
    for apart in ("render", "sweep", "optimizers"):  # drawing does not change the numbers; labels neither
        data.pop(apart, None)
    data["optimizer"] = {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "scheduler": [f"{scheduler[0].__module__}.{scheduler[0].__qualname__}", scheduler[1]] if scheduler else None,
        **{key: value for key, value in hyperparameters.items() if key in OPTIMIZER_LEVEL_KEYWORDS},
        "clip_grad_norm": config.optimizers[0].clip_grad_norm,
    }
    # A notebook's function is keyed by the object itself: two of one name are not one function.
    return json.dumps(data, sort_keys=True, default=lambda value: f"{value!r} at {id(value):#x}")


def stack_key(config: Config) -> str | None:
    """Of configs with one non-None :func:`batch_key`, those with equal keys here differ at most in lr.

    :func:`run_batch` stacks such runs into one param group with a tensor lr where torch's
    step allows. None for a config that never stacks: its optimizer's step refuses a tensor
    lr (:func:`tensor_lr_refusal`), or it has a scheduler, which writes one number into
    each group's lr. Keyed by the config as written, which is all a sweep varies.
    """
    spec = config.optimizers[0]
    if spec.scheduler is not None or tensor_lr_refusal(resolve_optimizer(spec.name, base_dir=config.base_dir)):
        return None
    return json.dumps({key: value for key, value in spec.hyperparameters.items() if key != "lr"}, sort_keys=True,
                      default=repr)


@functools.lru_cache(maxsize=None)
def tensor_lr_refusal(cls: type) -> str | None:
    """Why ``cls.step`` refuses a param group's lr given as a tensor of one value per element, in
    words; None when it takes one. Tried once per class, with its default hyperparameters."""
    import torch

    param = torch.zeros(2, 3, requires_grad=True)
    param.grad = torch.ones(2, 3)
    optimizer = cls([param], lr=1e-3)
    optimizer.param_groups[0]["lr"] = torch.tensor([1e-3, 2e-3, 3e-3]).requires_grad_(True)  # see _Batch.stack_lrs
    try:
        optimizer.step()
    except Exception as failure:
        return f"{cls.__name__}.step refuses a tensor lr ({type(failure).__name__}: {failure})"
    return None


@dataclass(frozen=True)
class BatchRoute:
    """How :func:`run_batch` ran one batch of runs, for a sweep's manifest.

    ``route`` is "stacked" (runs that differ only in lr shared a param group whose lr is a
    tensor) or "param groups" (one param group per run); ``reason`` says why, in words.
    """

    label: str  # the optimizer's label
    optimizer: str  # its torch.optim class: SGD
    route: str
    runs: int
    param_groups: int
    reason: str


def run_batch(configs: Sequence[Config | Loaded], *, stack: bool = True,
              routed: Callable[[BatchRoute], None] | None = None) -> list[RunResult]:
    """Run configs of equal :func:`batch_key` as ONE optimizer with one param group per config.

    Result ``i`` equals ``run(configs[i])``: each group's parameter is that config's starts
    and its group holds every setting a lone optimizer would, so torch computes the same
    numbers; a group that diverges leaves the others untouched. The scheduler, if any,
    steps every group's lr as it would step a lone optimizer's.

    With ``stack`` (the default), configs that differ only in lr share one param group
    whose lr is a tensor, where torch's ``step`` takes one and the first such run then
    equals its lone run bit for bit (run here to check); otherwise, and with
    ``stack=False``, every config keeps its own group. ``routed`` is called with the
    :class:`BatchRoute` taken.
    """
    loaded = [config if isinstance(config, Loaded) else prepare(config) for config in configs]
    resolved = [resolve_optimizer_spec(item.config.optimizers[0], item.config) if len(item.config.optimizers) == 1
                else None for item in loaded]
    keys = {None if both is None else _batch_key(item.config, both) for item, both in zip(loaded, resolved)}
    if not loaded or None in keys or len(keys) > 1:
        raise ValueError("run_batch takes configs of one element-wise optimizer that differ only in its "
                         "hyperparameters (equal, non-None batch_key)")
    first = loaded[0]
    function = first.function
    plan = _plan(first, first.record_every)
    starts, start_index, noise_seed = _rows(first)
    cls, _, scheduler = resolved[0]
    plan = dataclasses.replace(plan, clip=first.config.optimizers[0].clip_grad_norm)  # equal in every config
    keys = _keys(start_index, noise_seed)
    runs = [hyperparameters for _, hyperparameters, _ in resolved]
    stacks, reason = _stacks(cls, runs, scheduler) if stack else (None, "stacking was turned off")
    records = None
    with engine_mode():
        if stacks is not None:
            order = [index for members in stacks for index in members]
            try:
                stacked = _descend(cls, [runs[index] for index in order], scheduler, function, starts, "groups", plan,
                                   stop_at_divergence=False, keys=keys, stacks=[len(members) for members in stacks])
            except _StackRefused as refused:  # with these hyperparameters, not with the defaults
                reason = f"{cls.__name__}.step refuses a tensor lr ({refused})"
            else:
                records = [record for _, record in sorted(zip(order, stacked), key=lambda pair: pair[0])]
                checked = next(members[0] for members in stacks if len(members) > 1)
                if _equals_lone_run(records[checked], loaded[checked], starts, plan, keys):
                    reason = (f"{cls.__name__}.step takes a tensor lr, and the first stacked run equals its lone "
                              "run bit for bit")
                else:
                    records, reason = None, "the first stacked run differs from its lone run"
        route = "stacked" if records is not None else "param groups"
        if records is None:
            stacks = [[index] for index in range(len(loaded))]
            records = _descend(cls, runs, scheduler, function, starts, "groups", plan, stop_at_divergence=False,
                               keys=keys)
    if routed:
        routed(BatchRoute(label=first.config.optimizers[0].display_label,
                          optimizer=cls.__name__,
                          route=route, runs=len(loaded), param_groups=len(stacks), reason=reason))
    results = []
    for item, record in zip(loaded, records):
        if not len(plan.minima):
            record["converged_step"] = None
        trajectory = Trajectory(label=item.config.optimizers[0].display_label, optimizer=cls.__name__,
                                steps=plan.recorded, clip_grad_norm=plan.clip, **record)
        results.append(RunResult(config=item.config, function=function, domain=item.domain, starts=starts,
                                 trajectories=[trajectory], record_every=plan.every,
                                 tolerance=plan.tolerance if function.minima else None, start_index=start_index,
                                 noise_seed=noise_seed))
    return results


# Stacking checks its first stacked run by running it alone, which costs about what this many
# param groups of a batch do (configs/quadratic_lr.yaml's 10 lrs ran in 0.44 s as param
# groups, 0.81 s stacked): fewer saved groups would make the sweep slower, not faster.
MIN_STACK_SAVING = 16


class _StackRefused(Exception):
    """torch's step raised on a stacked group's tensor lr."""


def _stacks(cls, runs: list[dict], scheduler) -> tuple[list[list[int]] | None, str]:
    """The runs that can share a param group, as lists of run indices in order of their first run,
    or None and why not: a scheduler steps each group's one lr, the step refuses a tensor lr, or too
    few runs differ only in lr (:data:`MIN_STACK_SAVING`)."""
    if scheduler is not None:
        return None, "a scheduler sets each param group's lr to one number"
    refusal = tensor_lr_refusal(cls)
    if refusal:
        return None, refusal
    members: dict[str, list[int]] = {}
    for index, run in enumerate(runs):
        settings = _group_settings(cls, run)
        settings.pop("lr", None)
        members.setdefault(json.dumps(settings, sort_keys=True, default=repr), []).append(index)
    if all(len(indices) == 1 for indices in members.values()):
        return None, "no two runs differ only in lr"
    if len(runs) - len(members) < MIN_STACK_SAVING:
        return None, (f"stacking would save {len(runs) - len(members)} param groups, fewer than the "
                      f"{MIN_STACK_SAVING} that pay for checking a stacked run alone")
    return list(members.values()), ""


def _equals_lone_run(record: dict[str, Any], loaded: Loaded, starts: np.ndarray, plan: _Plan,
                     keys: np.ndarray | None) -> bool:
    """Whether a stacked run's record is, bit for bit, that of the same config run on its own."""
    spec = loaded.config.optimizers[0]
    alone = run_optimizer(spec, loaded.config, loaded.function, starts, plan, keys)
    names = ["positions", "loss", "grad_norm", "lr", "diverged_step"] + (["converged_step"] if len(plan.minima) else [])
    return record["error"] == alone.error and all(_same_bits(record[name], getattr(alone, name)) for name in names)


def _same_bits(first: np.ndarray, second: np.ndarray) -> bool:
    first, second = np.asarray(first), np.asarray(second)
    return first.shape == second.shape and first.dtype == second.dtype and first.tobytes() == second.tobytes()


@dataclass(frozen=True)
class _Plan:
    """What every optimizer of a run shares: steps, recorded steps, dtype, minima and tolerance."""

    steps: int
    every: int
    recorded: np.ndarray
    dtype: str
    minima: np.ndarray  # (minima, dim)
    tolerance: float
    noise: Noise | None = None
    clip: float | None = None  # the optimizer's clip_grad_norm
    # The optimizer's param groups by coordinate (optviz.optimizers.coordinate_groups): () for one group.
    groups: tuple = ()
    first_step: int = 0  # a resumed run's: the step it continues from (Resume.steps)
    internals: bool = False  # record the optimizer's state, gradient and update (see _Internals)
    create_graph: bool | None = None  # the optimizer's create_graph: true/false; None: as its class says
    seed: int = 0  # torch's random numbers start from it in every loop (a Hessian estimate draws some)
    engine: str = "exact"  # fused: f, its gradient and the step through torch.compile (see _fused)


def _plan(loaded: Loaded, every: int) -> _Plan:
    function = loaded.function
    return _Plan(
        steps=loaded.config.steps,
        every=every,
        recorded=recorded_steps(loaded.config.steps, every),
        dtype=loaded.config.dtype,
        minima=np.array([minimum.point for minimum in function.minima], dtype=np.float64).reshape(-1, function.dim),
        tolerance=loaded.tolerance,
        noise=loaded.noise,
        internals=loaded.internals,
        seed=loaded.config.seed,
        engine=loaded.config.engine,
    )


@contextlib.contextmanager
def engine_mode() -> Iterator[None]:
    """One torch thread and subnormals flushed to zero for the block; the caller's settings after it.

    Flushing is a per-thread CPU mode that torch can set but not report, so it is
    measured: a subnormal halved reads 0 exactly when flushing is on.
    """
    import torch

    threads = torch.get_num_threads()
    flushing = _flushing_subnormals()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    try:
        # The loops seed torch's generator; the caller's stream is theirs again after.
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            # A Hessian-based step needs the graph of the gradient, kept until the next zero_grad.
            warnings.filterwarnings("ignore", message=r"Using backward\(\) with create_graph=True")
            yield
    finally:
        torch.set_flush_denormal(flushing)
        torch.set_num_threads(threads)


def _flushing_subnormals() -> bool:
    import torch

    return torch.tensor([1e-39], dtype=torch.float32).mul_(0.5).item() == 0.0


def batch_layout(cls: type, scheduler: tuple[type, dict[str, Any]] | None) -> str:
    """How the starts of one optimizer run together: "stacked", "separate" or "sequential"."""
    if scheduler is not None and scheduler[0].__name__ == "ReduceLROnPlateau":
        return "sequential"
    if not cls.__module__.startswith("torch.optim"):
        return "sequential"
    if cls.__name__ in ELEMENTWISE_OPTIMIZERS:
        return "stacked"
    return "separate" if cls.__name__ == "Adafactor" else "sequential"


def run_optimizer(spec: OptimizerSpec, config: Config, function: TestFunction, starts: np.ndarray,
                  plan: _Plan, keys: np.ndarray | None = None, *, chunk_rows: int = CHUNK_ROWS,
                  workers: int = 1, state: dict[str, Any] | None = None) -> Trajectory:
    """One optimizer from every start (row), in the layout :func:`batch_layout` picks for it.

    ``keys`` holds each row's (noise seed, start index) when the run is noisy. Batched rows
    run ``chunk_rows`` at a time (at most a ``workers``-th of them), the chunks in order or, with
    ``workers`` > 1, shared out to that many forked processes of one torch thread each. Rows never mix (element-wise updates;
    each row's noise is a function of its own keys), so every split gives the bits of one
    batch. Should an optimizer raise in some chunk, the rows are run again as one batch, so
    the error and where it stopped are those of one batch too.

    ``state`` (a :attr:`~optviz.results.Trajectory.final_state`) continues a run from
    ``plan.first_step``: its rows split as its segments were, each segment from its state.
    """
    cls, hyperparameters, scheduler = resolve_optimizer_spec(spec, config)
    groups = tuple(coordinate_groups(spec, config, function.dim))
    layout = batch_layout(cls, scheduler)
    if groups and layout == "separate":  # a tensor per start and group: each start alone, as a plain loop has it
        layout = "sequential"
    plan = dataclasses.replace(plan, clip=spec.clip_grad_norm, groups=groups, create_graph=create_graph_override(spec))
    batching = None
    if layout == "sequential" and package_of(cls) and len(starts) > 1 and scheduler is None and not groups:
        layout, batching = _elementwise_check(cls, hyperparameters, function, starts, plan, keys)
    # A coupled update may loop or raise on NaN (a line search): such a start stops where it
    # diverged. Element-wise ones step on harmlessly, alone or batched, so both agree.
    stop = layout == "sequential"
    segments = {segment["rows"][0]: segment for segment in state["segments"]} if state is not None else {}
    if plan.engine == "fused":  # one batch, compiled once: a chunk or a worker of its own would compile again
        chunk_rows, workers = max(len(starts), 1), 1
    if len(starts) > 1 and not stop:
        job = _Job(cls, hyperparameters, scheduler, function, starts, layout, plan, keys, segments)
        if workers > 1:  # at least a chunk for each worker
            chunk_rows = min(chunk_rows, -(-len(starts) // workers))
        chunks = [(begin, min(begin + chunk_rows, len(starts))) for begin in range(0, len(starts), chunk_rows)]
        chunks = [tuple(segment["rows"]) for segment in segments.values()] if segments else chunks
        record = _assemble(_run_chunks(job, chunks, workers), chunks)
        if record["error"] and len(chunks) > 1 and not segments:
            record = _assemble(iter([job.descend(0, len(starts))]), [(0, len(starts))])
    else:
        parts = [_descend(cls, hyperparameters, scheduler, function, starts[index:index + 1], "vector", plan,
                          stop_at_divergence=stop, keys=None if keys is None else keys[index:index + 1],
                          state=segments.get(index))[0]
                 for index in range(len(starts))]
        record = {key: np.concatenate([part[key] for part in parts]) for key in RECORD_KEYS}
        record.update({key: _shared_lr(np.concatenate([part[key] for part in parts])) for key in SHARED_KEYS})
        record.update({key: None if parts[0][key] is None else np.concatenate([part[key] for part in parts])
                       for key in OPTIONAL_KEYS})
        record["group_lr"] = _shared_lr(np.concatenate([part["group_lr"] for part in parts])) if groups else None
        record["error"] = next((part["error"] for part in parts if part["error"]), None)
        record["final_state"] = {"segments": [{"rows": [index, index + 1], **part["state"]}
                                              for index, part in enumerate(parts)]}
        if plan.internals:
            record["internals"] = _joined([part["internals"] for part in parts])
    if not len(plan.minima):
        record["converged_step"] = None
    return Trajectory(label=spec.display_label, optimizer=cls.__name__, steps=plan.recorded,
                      clip_grad_norm=spec.clip_grad_norm, group_names=_group_names(groups, function.dim),
                      batching=batching, **record)


def _group_names(groups: tuple, dim: int) -> list[str] | None:
    """Each coordinate group by its axes, ``x`` or ``x, y``; None for one group."""
    axes = ("x", "y") if dim == 2 else ("x",)
    return [", ".join(axes[coordinate] for coordinate in dims) for dims, _ in groups] or None


def _elementwise_check(cls, hyperparameters: dict, function, starts: np.ndarray, plan: _Plan,
                       keys: np.ndarray | None) -> tuple[str, str]:
    """The layout for a third-party class's starts, and why in words: "stacked" where
    :data:`ELEMENTWISE_CHECK_STEPS` steps of the first and last start run as one batch equal
    each of them run alone, bit for bit, and draw no random numbers (a Hessian estimate's probes:
    their values would depend on the batch's shape); "sequential" (one start at a time) otherwise."""
    import torch

    steps = min(ELEMENTWISE_CHECK_STEPS, plan.steps)
    # From the starts, as the run's first part made it (a resumed run must split its rows the same way).
    short = dataclasses.replace(plan, steps=steps, recorded=np.arange(steps + 1), first_step=0, internals=False)
    rows = [0, len(starts) - 1]
    pair_keys = None if keys is None else keys[rows]
    seeded = torch.manual_seed(plan.seed).get_state()
    (batched,) = _descend(cls, hyperparameters, None, function, starts[rows], "stacked", short,
                          stop_at_divergence=False, keys=pair_keys)
    if not torch.equal(torch.random.get_rng_state(), seeded):  # its draws would depend on the batch's shape
        return "sequential", "one start at a time: its step draws random numbers"
    alone = [_descend(cls, hyperparameters, None, function, starts[row:row + 1], "vector", short,
                      stop_at_divergence=False, keys=None if keys is None else pair_keys[index:index + 1])[0]
             for index, row in enumerate(rows)]
    names = ["positions", "loss", "grad_norm", "evaluations", *(key for key in OPTIONAL_KEYS if batched[key] is not None)]
    same = batched["error"] is None and all(
        _same_bits(batched[name][index], part[name][0]) for index, part in enumerate(alone) for name in names)
    if same:
        return "stacked", (f"batched: {steps} steps of two starts as one batch equal each start run alone, "
                           "bit for bit")
    if batched["error"]:
        return "sequential", f"one start at a time: two starts as one batch failed ({batched['error']})"
    return "sequential", (f"one start at a time: {steps} steps of two starts as one batch differ from each "
                          "start run alone")


def _shared_lr(lrs: np.ndarray) -> np.ndarray:
    """``lrs`` (rows, records), as one row broadcast when every row holds the same."""
    return np.broadcast_to(lrs[0], lrs.shape) if np.array_equal(lrs, lrs[:1].repeat(len(lrs), 0),
                                                                equal_nan=True) else lrs


@dataclass(frozen=True)
class _Job:
    """One optimizer over a batch of rows, run a chunk of rows at a time."""

    cls: type
    hyperparameters: dict[str, Any]
    scheduler: tuple[type, dict[str, Any]] | None
    function: TestFunction
    starts: np.ndarray
    layout: str
    plan: _Plan
    keys: np.ndarray | None
    segments: dict[int, dict[str, Any]] = field(default_factory=dict)  # a resumed run's states by first row

    def descend(self, begin: int, end: int) -> dict[str, Any]:
        """The records of rows ``begin:end``, and the optimizer's state after them."""
        (record,) = _descend(self.cls, self.hyperparameters, self.scheduler, self.function, self.starts[begin:end],
                             self.layout, self.plan, stop_at_divergence=False,
                             keys=None if self.keys is None else self.keys[begin:end], state=self.segments.get(begin))
        return record


def _run_chunks(job: _Job, chunks: list[tuple[int, int]], workers: int) -> Iterator[dict[str, Any]]:
    """Each chunk's records, in order: here, or from a pool of ``workers`` forked processes.

    Forked workers inherit ``job`` as it is (a function defined in a notebook included),
    so nothing but row ranges and records crosses between processes. Where processes cannot
    be forked, the chunks run here.
    """
    import multiprocessing

    if workers <= 1 or len(chunks) <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for begin, end in chunks:
            yield job.descend(begin, end)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(min(workers, len(chunks)), initializer=_start_worker, initargs=(job,)) as pool:
        yield from pool.imap(_worker_chunk, chunks)


_worker_job: _Job | None = None  # set once in each forked worker, which ends with the pool


def _start_worker(job: _Job) -> None:
    """A worker's set-up: its job, the engine's one thread with subnormals flushed (for its lifetime), and
    the signals' default ways: the parent alone ends the command (Ctrl-C reaches the whole process group)
    and then ends the pool with SIGTERM, which must end a worker quietly, not with the command's handler."""
    import signal

    import torch

    for number in ENDING_SIGNALS:
        signal.signal(number, signal.SIG_IGN if number == signal.SIGINT else signal.SIG_DFL)
    global _worker_job
    _worker_job = job
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)


def _worker_chunk(chunk: tuple[int, int]) -> dict[str, Any]:
    import io

    import torch

    record = _worker_job.descend(*chunk)
    state = io.BytesIO()
    torch.save(record["state"], state)  # as bytes: tensors pickled whole, not through shared memory
    # One row of lr for all (see _assemble), not one per row pickled.
    return {**record, **{key: record[key][:1] for key in SHARED_KEYS}, "state": state.getvalue()}


def _assemble(parts: Iterator[dict[str, Any]], chunks: list[tuple[int, int]]) -> dict[str, Any]:
    """The chunks' records as one record of every row, each chunk copied in as it arrives.

    A chunk's rows share one lr (one param group), so each chunk gives its first row of it.
    """
    rows = chunks[-1][1]
    record: dict[str, Any] = {}
    import io

    import torch

    group_lrs, errors, segments, internals = [], [], [], []
    shared: dict[str, list] = {key: [] for key in SHARED_KEYS}
    for (begin, end), part in zip(chunks, parts):
        for key in (*RECORD_KEYS, *OPTIONAL_KEYS):
            if part[key] is None:
                record[key] = None
                continue
            if key not in record:
                record[key] = np.empty((rows, *part[key].shape[1:]), dtype=part[key].dtype)
            record[key][begin:end] = part[key]
        for key in SHARED_KEYS:
            shared[key].append(part[key][0])
        group_lrs.append(None if part["group_lr"] is None else part["group_lr"][0])
        errors.append(part["error"])
        state = part["state"]
        state = torch.load(io.BytesIO(state), weights_only=True) if isinstance(state, bytes) else state
        segments.append({"rows": [begin, end], **state})
        if "internals" in part:
            internals.append(part["internals"])
    sizes = [end - begin for begin, end in chunks]
    for key, values in shared.items():
        record[key] = _per_row(values, sizes)
    record["group_lr"] = None if group_lrs[0] is None else _per_row(group_lrs, sizes)
    record["error"] = next((error for error in errors if error), None)
    record["final_state"] = {"segments": segments}
    if internals:
        record["internals"] = _joined(internals)
    return record


def _per_row(firsts: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """Every row's value from each chunk's one value (``sizes[i]`` rows each): one broadcast when all are equal."""
    stacked = np.stack(firsts)
    if np.array_equal(stacked, stacked[:1].repeat(len(stacked), 0), equal_nan=True):
        return np.broadcast_to(stacked[0], (sum(sizes), *stacked.shape[1:]))
    return np.repeat(stacked, sizes, axis=0)


def _joined(parts: list[Internals]) -> Internals:
    """Internals of consecutive rows as one; a state a part lacks is NaN there."""
    if len(parts) == 1:
        return parts[0]
    names = list(dict.fromkeys(name for part in parts for name in part.state))

    def rows(part: Internals, name: str) -> np.ndarray:
        return part.state[name] if name in part.state else np.full_like(part.gradient, np.nan)

    return Internals(gradient=np.concatenate([part.gradient for part in parts]),
                     update=np.concatenate([part.update for part in parts]),
                     state={name: np.concatenate([rows(part, name) for part in parts]) for name in names})


class _Batch:
    """The starts as an optimizer's parameters, in one layout; every view is ``(dim, count)``.

    ``count`` is the number of starts, times the number of runs in the ``groups``
    layout (run by run, each run's starts together). There ``stacks`` gives the runs
    of each param group: a group of several takes a ``(dim, runs, starts)`` view, or
    ``(dim, runs)`` for one start, and its lr becomes a tensor (:meth:`stack_lrs`).
    """

    def __init__(self, starts: np.ndarray, layout: str, dtype, groups: int = 1,
                 stacks: Sequence[int] | None = None, split: Sequence[tuple] = ()) -> None:
        import torch

        self.layout = layout
        # Coordinate param groups (vector and stacked layouts): one parameter per group, each
        # holding its coordinates' rows, in the group's order; rows[i] is (parameter, row) of coordinate i.
        self.split = [list(dims) for dims, _ in split]
        self.split_settings = [own for _, own in split]
        self.rows = sorted((dims[row], index, row) for index, dims in enumerate(self.split) for row in range(len(dims)))
        self.dim = starts.shape[1]
        self.count = len(starts) * groups
        self.stacks = list(stacks) if stacks is not None else [1] * groups
        self.stacked = any(size > 1 for size in self.stacks)
        self.run_lrs: list[float] = []
        self.create_graph = False  # backward keeps the gradient's graph, for a step that differentiates it
        # f of the whole (dim, count) parameter at once, for the fused engine (see _fused); None: function.fn.
        self.whole: Callable[[Any], Any] | None = None
        if self.split:
            rows = starts[0] if layout == "vector" else starts.T
            self.params = [torch.tensor(rows[dims], dtype=dtype).contiguous().requires_grad_(True) for dims in self.split]
        elif layout == "vector":
            self.params = [torch.tensor(starts[0], dtype=dtype, requires_grad=True)]
        elif layout == "stacked":
            self.params = [torch.tensor(starts.T, dtype=dtype).contiguous().requires_grad_(True)]
        elif layout == "groups":
            # f is evaluated on the (dim, groups, starts) leaf; each group's parameter is a view
            # of its storage, a leaf of its own whose .grad is a view of one shared buffer.
            self.leaf = torch.tensor(starts.T, dtype=dtype)[:, None, :].repeat(1, groups, 1).requires_grad_(True)
            storage = self.leaf.detach()
            self.grad = torch.zeros_like(storage)
            self.params = []
            first = 0
            for size in self.stacks:
                runs = slice(first, first + size) if size > 1 else first
                param, gradient = storage[:, runs], self.grad[:, runs]
                if size > 1 and len(starts) == 1:
                    # torch squeezes a tensor lr before using it: (runs, 1) would become (runs,)
                    # and broadcast against (dim, runs, 1) the wrong way, so drop the starts axis.
                    param, gradient = param[..., 0], gradient[..., 0]
                param.requires_grad_(True)
                param.grad = gradient
                self.params.append(param)
                first += size
        else:
            self.params = [torch.tensor(start, dtype=dtype, requires_grad=True) for start in starts]
        # d(sum of f)/dx without building the sum: each start's f seeds its own gradient.
        shape = () if layout == "vector" else (groups, len(starts)) if layout == "groups" else (self.count,)
        self.seed = torch.ones(shape, dtype=dtype)

    def param_groups(self, cls, hyperparameters: dict | list[dict]) -> list:
        """What the optimizer is built from: the parameters, or in the ``groups`` layout one
        group per entry of ``hyperparameters``, each stating every setting of its lone run."""
        if self.split:
            return [{"params": [param], **own} for param, own in zip(self.params, self.split_settings)]
        if self.layout != "groups":
            return self.params
        settings = [_group_settings(cls, run) for run in hyperparameters]
        self.run_lrs = [float(run["lr"]) for run in settings]
        firsts = np.cumsum([0, *self.stacks[:-1]])
        return [{"params": [param], **settings[first]} for param, first in zip(self.params, firsts)]

    def stack_lrs(self, optimizer) -> None:
        """Give each group of several runs their lrs as one tensor, one value per run, shaped
        to broadcast over its parameter; groups of one run keep their number."""
        import torch

        if not self.stacked:
            return
        first = 0
        for group, size in zip(optimizer.param_groups, self.stacks):
            if size > 1:
                (param,) = group["params"]
                lr = torch.tensor(self.run_lrs[first:first + size], dtype=param.dtype)
                lr = lr[:, None].expand(param.shape[1:]).contiguous() if param.dim() == 3 else lr
                # SGD's step multiplies by a tensor lr only where it requires grad (its path for a
                # learned lr). The step runs under no_grad, so nothing is recorded for autograd.
                group["lr"] = lr.requires_grad_(True)
            first += size

    def lrs(self, param_groups: list[dict]) -> list[float]:
        """The lr in force for every run (the one group's, outside the ``groups`` layout)."""
        if not self.stacked:
            return [float(group.get("lr", float("nan"))) for group in param_groups]  # NaN: a class without one (AliG)
        # Stacked batches have no scheduler, so each run's lr is the one it started with.
        return self.run_lrs

    def evaluate(self, function, optimizer):
        """f at every start, its gradient left in the parameters' ``.grad``; returns f."""
        import torch

        if self.layout == "groups":
            loss = function.fn(*self.leaf.unbind(0), torch)
            (gradient,) = torch.autograd.grad(loss, self.leaf, self.seed, materialize_grads=True)
            # Overwritten rather than zeroed and accumulated into, which would turn a
            # gradient of -0.0 into +0.0 where a lone run keeps it.
            self.grad.copy_(gradient)
            return loss
        optimizer.zero_grad()
        loss = function.fn(*self.coordinates(), torch) if self.whole is None else self.whole(self.params[0])
        torch.autograd.backward(loss, self.seed, create_graph=self.create_graph)
        return loss

    def add_noise(self, noise, relative: bool) -> None:
        """Add ``noise`` (dim, starts) to every start's gradient, times its norm when ``relative``.

        In the ``groups`` layout every group's starts get the same noise: it depends on the
        start, never on the hyperparameters.
        """
        if self.layout == "separate":
            for index, param in enumerate(self.params):
                column = noise[:, index]
                param.grad.add_(column * param.grad.square().sum(0).sqrt() if relative else column)
            return
        if self.split:  # the norm is the whole gradient's, each group takes its coordinates' noise
            noise = noise * self.gradient().square().sum(0).sqrt() if relative else noise
            for param, dims in zip(self.params, self.split):
                param.grad.add_(noise[dims, 0] if self.layout == "vector" else noise[dims])
            return
        gradient = self.grad if self.layout == "groups" else self.params[0].grad
        if self.layout == "vector":
            noise = noise[:, 0]
        elif self.layout == "groups":
            noise = noise[:, None, :]
        gradient.add_(noise * gradient.square().sum(0).sqrt() if relative else noise)

    def clip(self, max_norm: float) -> None:
        """Scale each start's gradient down to norm ``max_norm`` where it is longer, as
        ``torch.nn.utils.clip_grad_norm_`` does for one model: by max_norm / (norm + 1e-6), at most 1."""
        import torch

        if self.split:  # one norm over every group's coordinates
            scale = torch.clamp(max_norm / (self.gradient().square().sum(0).sqrt() + 1e-6), max=1.0)
            for param in self.params:
                param.grad.mul_(scale[0] if self.layout == "vector" else scale)
            return
        gradients = ([param.grad for param in self.params] if self.layout == "separate" else
                     [self.grad if self.layout == "groups" else self.params[0].grad])
        for gradient in gradients:
            norm = gradient.square().sum(0).sqrt()
            gradient.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))

    def coordinates(self) -> tuple:
        """x (and y) of every start, for ``function.fn``; autograd flows back to the parameters."""
        import torch

        if self.layout == "separate":
            return torch.stack(self.params, dim=1).unbind(0)
        if self.split:
            rows = [param.unbind(0) for param in self.params]
            return tuple(rows[index][row] for _, index, row in self.rows)
        return self.params[0].unbind(0)

    def position(self):
        import torch

        if self.layout == "separate":
            return torch.stack([param.detach() for param in self.params], dim=1)
        if self.split:
            return torch.stack([self.params[index].detach()[row] for _, index, row in self.rows]).reshape(self.dim, -1)
        if self.layout == "groups":
            return self.leaf.detach().reshape(self.dim, -1)
        return self.params[0].detach().reshape(self.dim, -1)

    def gradient(self):
        import torch

        if self.layout == "separate":
            return torch.stack([param.grad for param in self.params], dim=1)
        if self.split:
            return torch.stack([self.params[index].grad[row] for _, index, row in self.rows]).reshape(self.dim, -1)
        if self.layout == "groups":
            return self.grad.reshape(self.dim, -1)
        return self.params[0].grad.reshape(self.dim, -1)

    def state(self, optimizer) -> dict[str, Any]:
        """Each tensor of the optimizer's state that has its parameter's shape, by name, as ``(dim, count)``.

        Named state a parameter lacks (not made yet) is left out; names that are not plain
        identifiers (a third-party class's own keys) too, as they could not name an array.
        """
        import torch

        states = [optimizer.state.get(param, {}) for param in self.params]
        names = [name for name, value in states[0].items()
                 if isinstance(name, str) and name.isidentifier() and all(
                     isinstance(state.get(name), torch.Tensor) and state[name].shape == param.shape
                     for state, param in zip(states, self.params))]
        if self.layout == "separate":
            return {name: torch.stack([state[name] for state in states], dim=1) for name in names}
        if self.split:  # each group holds its coordinates' rows: put every axis back in its place
            return {name: torch.stack([states[index][name][row] for _, index, row in self.rows]).reshape(self.dim, -1)
                    for name in names}
        return {name: torch.cat([state[name].reshape(self.dim, -1) for state in states], dim=1) for name in names}


def _group_settings(cls, hyperparameters: dict) -> dict:
    """Every setting a lone ``cls(params, **hyperparameters)`` puts in its param group.

    A group given all of them takes nothing from the optimizer's defaults, which are
    built from the first group's hyperparameters.
    """
    import torch

    lone = cls([torch.zeros(1, requires_grad=True)], **hyperparameters)
    settings = {key: value for key, value in lone.param_groups[0].items() if key != "params"}
    # Left unspecified, foreach means torch's for-loop implementation on CPU (its foreach
    # kernels are for CUDA); saying so spares it deciding again for every group at every step.
    if "foreach" in settings and settings["foreach"] is None and not settings.get("fused"):
        settings["foreach"] = False
    return settings


def _descend(cls, hyperparameters: dict | list[dict], scheduler, function, starts: np.ndarray, layout: str,
             plan: _Plan, *, stop_at_divergence: bool, keys: np.ndarray | None = None,
             stacks: Sequence[int] | None = None, state: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The optimization loop over a batch of starts; returns the records as numpy arrays.

    ``hyperparameters`` is one dict, or in the ``groups`` layout one per run; the result
    holds one record per run. There ``stacks`` gives the number of runs of each param
    group, in order (one each when None): runs of a group of more differ only in lr and
    share a tensor lr (raises :class:`_StackRefused` if the step refuses it). Records of a
    start after it diverged are NaN, whether or not the loop stops there. Under noise,
    ``keys`` holds each start's (noise seed, start index).

    Outside the ``groups`` layout, each record's ``state`` is what continuing the loop takes
    (positions, the optimizer's and scheduler's ``state_dict``, divergence and convergence so
    far); given as ``state``, the loop continues from it at ``plan.first_step``.
    """
    import torch

    dtype = getattr(torch, plan.dtype)
    groups = hyperparameters if layout == "groups" else [hyperparameters]
    batch = _Batch(starts, layout, dtype, groups=len(groups), stacks=stacks, split=plan.groups)
    count, dim = batch.count, batch.dim
    torch.manual_seed(plan.seed)  # for a step that draws random numbers (a Hessian estimate): as a lone run
    needs = step_needs(cls, plan.create_graph)
    batch.create_graph = needs.create_graph
    optimizer = cls(batch.param_groups(cls, hyperparameters), **groups[0])
    batch.stack_lrs(optimizer)
    if needs.train_mode:  # schedule-free: steps in train mode, its evaluation point read in eval mode
        optimizer.train()
    lr_scheduler = scheduler[0](optimizer, **scheduler[1]) if scheduler else None
    loss_driven = lr_scheduler is not None and type(lr_scheduler).__name__ == "ReduceLROnPlateau"
    records = _Records(count, len(plan.recorded), dim, dtype,
                       groups=len(groups) if layout == "groups" else len(optimizer.param_groups))
    # A resumed run whose first step is on the recording grid also records that step's internals
    # (as its first row): the stored run's last row lacks the step it had not taken yet.
    lead_step = plan.first_step if plan.internals and plan.first_step > 0 and plan.first_step % plan.every == 0 else -1
    internals = _Internals(count, len(plan.recorded) + (lead_step >= 0), dim, dtype) if plan.internals else None
    # f and gradient evaluations so far (the engine's one per step, and every call of the closure).
    evaluations, counted = [0], np.zeros(len(plan.recorded), dtype=np.int64)
    gradient_points = torch.full((count, len(plan.recorded), dim), float("nan"), dtype=dtype) if needs.train_mode else None
    convergence = _Convergence(plan.minima, plan.tolerance, count, dtype)
    step_of = optimizer.step
    if plan.engine == "fused":
        step_of = _fused(function, batch, optimizer, convergence)
    diverged_step = torch.full((count,), -1, dtype=torch.int64)
    is_recorded = np.zeros(plan.steps + 1, dtype=bool)
    is_recorded[plan.recorded] = True
    if state is not None:
        _restore(state, batch, optimizer, lr_scheduler, diverged_step, convergence)

    stochastic = _Stochastic(plan.noise, function, keys, layout, dtype) if plan.noise is not None else None

    def evaluate():
        evaluations[0] += 1
        loss = batch.evaluate(function, optimizer) if stochastic is None else stochastic.evaluate(batch, optimizer)
        if plan.clip is not None:
            with torch.no_grad():
                batch.clip(plan.clip)
        return loss

    closure = evaluate
    error = None
    for step in range(plan.first_step, plan.steps + 1):
        if stochastic is not None:
            stochastic.begin(step)
        loss = evaluate()
        with torch.no_grad():
            position, loss = batch.position(), loss.detach().reshape(count)
            if needs.train_mode:  # recorded: the evaluation point x; the gradient was taken at y
                gradient_point, position = position.clone(), _evaluation_point(optimizer, batch)
                loss = function.fn(*position.unbind(0), torch).reshape(count)
            already_diverged = _mark_divergence(diverged_step, position, loss, step)
            gradient = batch.gradient() if is_recorded[step] or step == lead_step else None
            if is_recorded[step]:
                counted[records.slot] = evaluations[0]
                if gradient_points is not None:
                    gradient_points[:, records.slot] = gradient_point.T
                records.write(position, loss, gradient, batch.lrs(optimizer.param_groups), already_diverged)
            if internals is not None and gradient is not None:
                internals.before_step(batch, gradient, already_diverged)
            convergence.update(step, position)
        if step == plan.steps:
            break
        if stop_at_divergence and diverged_step[0] >= 0:
            convergence.stop()
            break
        try:
            step_of(closure) if needs.closure else step_of()
            if internals is not None and (is_recorded[step] or step == lead_step):
                internals.after_step(batch, optimizer)
            if lr_scheduler is not None:
                lr_scheduler.step(float(loss.sum())) if loss_driven else lr_scheduler.step()
        except RunError:  # the fused engine could not compile: not the optimizer's doing
            raise
        except Exception as failure:  # a user's optimizer may raise anything; keep what we have
            if batch.stacked:
                raise _StackRefused(f"{type(failure).__name__}: {failure}") from failure
            hint = failure_hint(f"{type(failure).__name__}: {failure}")
            error = f"{hint + '; ' if hint else ''}{type(failure).__name__} at step {step}: {failure}"
            convergence.stop()
            break
    arrays = records.arrays()
    diverged = diverged_step.numpy()
    converged = convergence.converged_step(plan.steps, diverged)
    per_group = len(starts)
    final = None if layout == "groups" else {
        "params": [param.detach().clone() for param in batch.params], "optimizer": optimizer.state_dict(),
        "scheduler": None if lr_scheduler is None else lr_scheduler.state_dict(), "diverged_step": diverged_step,
        "settled_from": convergence.settled_from, "stopped": convergence.stopped}
    return [{
        "positions": arrays["positions"][part], "loss": arrays["loss"][part], "grad_norm": arrays["grad_norm"][part],
        "lr": np.broadcast_to(arrays["lr"][group], (per_group, len(plan.recorded))),
        "group_lr": arrays["lr"][None] if plan.groups else None,  # (1, param groups, records): one row for all
        "evaluations": np.broadcast_to(counted, (per_group, len(plan.recorded))),
        "gradient_point": None if gradient_points is None else gradient_points.numpy()[part],
        "diverged_step": diverged[part], "converged_step": converged[part], "error": error,
        **({} if final is None else {"state": final}),
        **({"internals": internals.part(part)} if internals is not None else {}),
    } for group, part in ((group, slice(group * per_group, (group + 1) * per_group)) for group in range(len(groups)))]


# Compiled steps kept per code object: one per optimizer of a run, and a process may run many.
RECOMPILE_LIMIT = 256


def _fused(function: TestFunction, batch: "_Batch", optimizer, convergence: "_Convergence") -> Callable[[], Any]:
    """``engine: fused``: f of the batch's whole parameter (its gradient compiled with it, by
    AOTAutograd), the convergence bookkeeping of every step, and the optimizer's own ``step``,
    each through ``torch.compile``; returns the compiled step. The same arithmetic as the exact
    engine, fused into fewer loops, so values differ in the last bits (benchmarks/bench_fused.py
    measures how often a basin label differs). A failure to compile is a :class:`RunError`,
    never a silent fallback to the exact engine.
    """
    import torch

    whole = torch.compile(lambda parameter: function.fn(*parameter.unbind(0), torch), dynamic=False)
    update = torch.compile(convergence.update)
    step = torch.compile(optimizer.step, dynamic=False)
    batch.whole = functools.partial(_compiling, whole)
    convergence.update = functools.partial(_compiling, update)
    return functools.partial(_compiling, step)


def _compiling(compiled: Callable[..., Any], *arguments: Any) -> Any:
    """Call a compiled function; a compiler failure (no C++ compiler, an op inductor lacks) as a RunError."""
    import torch._dynamo

    try:
        return compiled(*arguments)
    except torch._dynamo.exc.TorchDynamoException as failure:
        if isinstance(failure.__cause__ or failure.__context__, KeyboardInterrupt):  # Ctrl-C while compiling
            raise (failure.__cause__ or failure.__context__) from None
        first = str(failure).strip().splitlines()[0] if str(failure).strip() else type(failure).__name__
        raise RunError(f"engine: fused could not compile with torch.compile ({type(failure).__name__}: {first}); "
                       "it needs a working C++ compiler; run with engine: exact") from None


@contextlib.contextmanager
def compiler_settings(engine: str, threads: int) -> Iterator[None]:
    """For ``engine: fused``, settings for the block, the caller's after it: ``threads`` torch
    threads (the compiled loops share out their elements, where the exact engine forks as many
    processes), a step compiled per optimizer (a process may run many: a limit that fails loudly
    rather than falling back to uncompiled code) and torch.compile's notes on what it leaves out
    of a graph (the step's profiler label) kept from the user. Nothing for the exact engine."""
    if engine != "fused":
        yield
        return
    import logging

    import torch._dynamo

    notes = logging.getLogger("torch._dynamo")
    level = notes.level
    notes.setLevel(logging.ERROR)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT, fail_on_recompile_limit_hit=True):
            yield
    finally:
        notes.setLevel(level)
        torch.set_num_threads(previous)


def _restore(state: dict[str, Any], batch: "_Batch", optimizer, lr_scheduler, diverged_step, convergence) -> None:
    """Put a stored loop state back: positions, optimizer and scheduler state, divergence and convergence."""
    import torch

    with torch.no_grad():
        for param, stored in zip(batch.params, state["params"]):
            param.copy_(stored)
    optimizer.load_state_dict(state["optimizer"])  # the groups' lrs too, as the scheduler left them
    if lr_scheduler is not None:
        lr_scheduler.load_state_dict(state["scheduler"])
    diverged_step.copy_(state["diverged_step"])
    convergence.settled_from.copy_(state["settled_from"])
    convergence.stopped = state["stopped"]


class _Stochastic:
    """A noisy objective for one batch of starts (see :mod:`optviz.problems.noise`).

    Its gradient comes from a minibatch of a finite sum's terms (with ``batch_size``) and/or
    has noise added; the loss it returns, which is recorded, is the function's true value.
    The noise of each start is a function of its (noise seed, start index), the step, and
    how many gradients the step has taken before (a closure may take several).
    """

    def __init__(self, noise: Noise, function: TestFunction, keys: np.ndarray, layout: str, dtype) -> None:
        self.noise, self.function, self.layout, self.dtype = noise, function, layout, dtype
        self.seeds, self.starts = keys[:, 0], keys[:, 1]
        self.minibatches = function.terms is not None and noise.batch_size is not None
        self._step = 0
        self.evaluation = 0

    def begin(self, step: int) -> None:
        """A new step: its gradients are counted from 0 again."""
        self._step, self.evaluation = step, 0

    def evaluate(self, batch: "_Batch", optimizer):
        import torch

        evaluation, self.evaluation = self.evaluation, self.evaluation + 1
        if self.minibatches:
            indices = self.noise.minibatch(self.seeds, self._step, self.function.terms.count)
            batch.evaluate(_Minibatch(self.function, indices[0] if self.layout == "vector" else indices), optimizer)
            with torch.no_grad():
                loss = self.function.fn(*batch.position().unbind(0), torch)
            loss = loss.reshape(()) if self.layout == "vector" else loss
        else:
            loss = batch.evaluate(self.function, optimizer)
        draws = self.noise.gradient_noise(self.seeds, self.starts, self._step, evaluation, batch.dim)
        if draws is not None:
            with torch.no_grad():
                batch.add_noise(torch.from_numpy(draws).to(self.dtype), self.noise.relative)
        return loss


class _Minibatch:
    """A finite sum's minibatch as a function the batch evaluates: the mean of the picked terms."""

    def __init__(self, function: TestFunction, indices: np.ndarray) -> None:
        self.terms, self.indices = function.terms, indices

    def fn(self, *coordinates):
        *coordinates, lib = coordinates
        return self.terms.mean(tuple(coordinates), lib, self.indices)


def _mark_divergence(diverged_step, position, loss, step: int):
    """Set ``diverged_step`` where a value first turned non-finite; return who had diverged before."""
    import torch

    if bool(torch.isfinite(loss.sum() + position.sum())):
        return None  # any inf or NaN makes the sum non-finite: the common case costs two sums
    before = diverged_step >= 0
    broken = ~(torch.isfinite(loss) & torch.isfinite(position).all(0))
    diverged_step.masked_fill_(broken & ~before, step)
    return before


class _Records:
    """Preallocated ``[start, record]`` buffers, filled in place at each recorded step; the lr per param group."""

    def __init__(self, count: int, records: int, dim: int, dtype, groups: int = 1) -> None:
        import torch

        self.positions = torch.full((count, records, dim), float("nan"), dtype=dtype)
        self.loss = torch.full((count, records), float("nan"), dtype=dtype)
        self.grad_norm = torch.full((count, records), float("nan"), dtype=dtype)
        self.lr = np.full((groups, records), np.nan)
        self.slot = 0

    def write(self, position, loss, gradient, lrs: list[float], hidden) -> None:
        """One record of every start, and the lr of each group; starts in ``hidden`` (diverged earlier) stay NaN."""
        import torch

        slot = self.slot
        self.positions[:, slot] = position.T
        self.loss[:, slot] = loss
        # Not linalg.vector_norm(dim=0): reducing across rows of (dim, starts) is far slower.
        self.grad_norm[:, slot] = gradient.square().sum(0).sqrt_()
        if hidden is not None:
            self.positions[hidden, slot] = float("nan")
            self.loss[hidden, slot] = float("nan")
            self.grad_norm[hidden, slot] = float("nan")
        self.lr[:, slot] = lrs[:len(self.lr)]
        self.slot += 1

    def arrays(self) -> dict[str, np.ndarray]:
        """The records as numpy arrays; ``lr`` is ``(groups, records)``."""
        return {"positions": self.positions.numpy(), "loss": self.loss.numpy(), "grad_norm": self.grad_norm.numpy(),
                "lr": self.lr}


class _Internals:
    """The optimizer's own state, the gradient and the update at each recorded step, per start
    (see :mod:`optviz.results.internals` for what row k holds): ``[start, record, axis]`` buffers.

    The gradient is copied before the step, the update and the state after it. A state tensor is
    whatever ``optimizer.state[param]`` holds with the parameter's shape, so any class's state is
    found by its own names; its buffer is made when it first appears, NaN before.
    """

    def __init__(self, count: int, records: int, dim: int, dtype) -> None:
        import torch

        self.shape, self.dtype = (count, records, dim), dtype
        self.gradient = torch.full(self.shape, float("nan"), dtype=dtype)
        self.update = torch.full(self.shape, float("nan"), dtype=dtype)
        self.state: dict[str, Any] = {}
        self.slot = -1
        self.before = self.hidden = None

    def before_step(self, batch: "_Batch", gradient, hidden) -> None:
        """A recorded step: the gradient at x_k (``batch.gradient()``), and x_k to measure the update from."""
        self.slot += 1
        self.gradient[:, self.slot] = gradient.T
        self.before, self.hidden = batch.position().clone(), hidden
        if hidden is not None:
            self.gradient[hidden, self.slot] = float("nan")

    def after_step(self, batch: "_Batch", optimizer) -> None:
        """x_{k+1} - x_k and the state that produced it."""
        import torch

        slot = self.slot
        self.update[:, slot] = (batch.position() - self.before).T
        for name, value in batch.state(optimizer).items():
            if name not in self.state:
                self.state[name] = torch.full(self.shape, float("nan"), dtype=self.dtype)
            self.state[name][:, slot] = value.T
        if self.hidden is not None:
            for buffer in (self.update, *self.state.values()):
                buffer[self.hidden, slot] = float("nan")

    def part(self, rows: slice) -> Internals:
        return Internals(gradient=self.gradient[rows].numpy(), update=self.update[rows].numpy(),
                         state={name: buffer[rows].numpy() for name, buffer in self.state.items()})


class _Convergence:
    """Per start, the step from which it has stayed within ``tolerance`` of a known minimum.

    Updated every step, so the converged step is exact however thinly the run records.
    """

    def __init__(self, minima: np.ndarray, tolerance: float, count: int, dtype) -> None:
        import torch

        self.minima = [torch.tensor(point, dtype=dtype) for point in minima]
        self.squared_tolerance = tolerance**2
        # One past the last step the start was outside every tolerance ball (0: never).
        self.settled_from = torch.zeros(count, dtype=torch.int32)
        self.nearest = torch.empty(count, dtype=dtype)
        self.squared = torch.empty(count, dtype=dtype)
        self.stopped = False

    def update(self, step: int, position) -> None:
        import torch

        if not self.minima:
            return
        for index, point in enumerate(self.minima):
            # In place, one coordinate at a time: this runs every step over every start.
            distance = self.nearest if index == 0 else self.squared
            torch.sub(position[0], point[0], out=distance).square_()
            for axis in range(1, len(point)):
                distance.add_((position[axis] - point[axis]).square_())
            if index:
                torch.minimum(self.nearest, distance, out=self.nearest)
        # Steps only grow, so a running maximum replaces a masked write at a tenth of the cost.
        # NaN compares as within; converged_step() rules out the diverged starts instead.
        outside = (self.nearest > self.squared_tolerance).to(torch.int32).mul_(step + 1)
        torch.maximum(self.settled_from, outside, out=self.settled_from)

    def stop(self) -> None:
        """The run ended early: it did not stay anywhere to the end."""
        self.stopped = True

    def converged_step(self, steps: int, diverged_step: np.ndarray) -> np.ndarray:
        settled = self.settled_from.numpy().astype(np.int64)
        if self.stopped or not self.minima:
            return np.full(len(settled), -1)
        return np.where((settled <= steps) & (diverged_step < 0), settled, -1)


def _evaluation_point(optimizer, batch: _Batch):
    """A schedule-free optimizer's evaluation point x, (dim, count), read in eval mode.

    The parameters hold the gradient point y in train mode; ``eval()`` moves them to x and
    ``train()`` back, which rounds, so y is put back as it was: the steps are those of a loop
    that never called ``eval()``.
    """
    import torch

    kept = [param.detach().clone() for param in batch.params]
    optimizer.eval()
    point = batch.position().clone()
    optimizer.train()
    for param, value in zip(batch.params, kept):
        param.detach().copy_(value)
    return point
