"""Checks for a network config (``problem:``) and what it resolves to, before any training.

Everything that can fail on a config fails here, in one line keyed by the config's
path: the data set, the model (built and fed a batch), the model's output against the
data, the device, every optimizer (built on the model's parameters) and the memory
the recorded parameter vectors would take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Config, OptimizerSpec
from ..errors import ConfigError, quote
from ..optimizers import ResolvedOptimizer, group_hyperparameters, resolve_optimizer_spec, scheduler_arguments
from ..problems.data import Dataset
from ..problems.models import group_parameters, pick_parameters
from ..problems.network import NetworkProblem, network_problem
from .budget import Estimate, check_budget
from .record import recorded_steps

# Recorded parameter vectors (trajectories.npz) are kept when they fit this; thinned by
# record.every (or, left out, by the smallest thinning that fits), else left out.
NETWORK_RECORD_BYTES = 32 * 2**20
# Bytes per parameter a training run holds: weights, gradient, two optimizer states and temporaries.
TRAINING_BYTES_PER_PARAMETER = 4 * 8


@dataclass(frozen=True)
class LoadedNetwork:
    """A checked network config and what it resolves to."""

    config: Config
    problem: NetworkProblem
    parameters: int  # trainable parameters of the model
    iterations: int  # minibatch steps of each run
    record_every: int  # thinning of the recorded parameter vectors; 0: none recorded
    memory: Estimate
    sweep: Any = None  # the expanded sweep block (optviz.load.sweep.Sweep), if the config has one and it was planned

    @property
    def optimizers(self) -> list[tuple[OptimizerSpec, list[tuple[ResolvedOptimizer, str, str, list]]]]:
        """Each optimizer spec with its parts (:func:`resolved_parts`), the ``rest`` chain after it."""
        return [(spec, resolved_parts(spec, self.config, self.iterations)) for spec in self.config.optimizers]


def resolved_parts(spec: OptimizerSpec, config: Config,
                   iterations: int) -> list[tuple[ResolvedOptimizer, str, str, list[tuple[str, dict[str, Any]]]]]:
    """``spec`` and its ``rest`` chain, each resolved, with the parameter kind it trains, its scheduler's interval
    and its param groups: (kind or name pattern, the group's own hyperparameters) each."""
    parts = []
    path = ""
    while spec is not None:
        try:
            cls, hyperparameters, scheduler = resolve_optimizer_spec(spec, config)
            if scheduler is not None:
                steps = iterations if spec.scheduler.interval == "step" else config.problem.epochs
                scheduler = (scheduler[0], scheduler_arguments(scheduler[0], spec.scheduler.arguments, steps))
            groups = [(group.params, own) for group, own in zip(spec.param_groups or (), group_hyperparameters(spec, config))]
            for index, group in enumerate(spec.param_groups or ()):
                if group.params is None:
                    raise ConfigError("a network's param group picks its parameters: params: a kind (weights, biases, "
                                      "matrices) or a name pattern such as \"fc1.*\"", path=f"param_groups[{index}]")
                if group.dims is not None:
                    raise ConfigError("dims are a test function's coordinates; a network's param group picks params",
                                      path=f"param_groups[{index}].dims")
        except ConfigError as error:
            raise error.with_context(path_prefix=path.lstrip(".")) from None
        interval = (spec.scheduler.interval or "epoch") if spec.scheduler is not None else "epoch"
        parts.append(((cls, hyperparameters, scheduler), spec.params or "all", interval, groups))
        if spec.rest is not None and not spec.params:
            raise ConfigError("'rest' trains the parameters that 'params' leaves out: give 'params' too",
                              path=f"{path}.rest".lstrip("."))
        spec, path = spec.rest, f"{path}.rest"
    return parts


def prepare_network(config: Config) -> LoadedNetwork:
    """Check ``config`` (which has ``problem:``) and resolve it; raises :class:`ConfigError` with its key path."""
    import torch

    if config.noise is not None:
        raise ConfigError("noise is for test functions; a network's gradients are noisy through its minibatches "
                          "(problem.batch_size) and its seeds", path="noise")
    if config.engine == "fused":
        raise ConfigError("the fused engine is for basin maps of test functions; a network trains on engine: exact",
                          path="engine")
    problem = network_problem(config)
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("cuda was asked for and is not available here; use device: cpu", path="device")
    try:
        dataset = problem.dataset(config.run_seeds[0])
    except ConfigError as error:
        raise error.with_context(path_prefix="problem.data") from None
    model = _checked_model(problem, config, dataset)
    parameters = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    iterations = -(-len(dataset.x_train) // config.problem.batch_size) * config.problem.epochs
    for index, spec in enumerate(config.optimizers):
        try:
            _check_optimizer(spec, config, model, iterations)
        except ConfigError as error:
            raise error.with_context(path_prefix=f"optimizers[{index}]") from None
    runs = len(config.optimizers) * len(config.run_seeds)
    every = network_record_every(config, runs, parameters, iterations)
    records = len(recorded_steps(iterations, every)) if every else 0
    memory = Estimate({
        "records": runs * records * parameters * 4,
        "curves": runs * iterations * 5 * 8 + runs * config.problem.epochs * 6 * 8,
        "engine": parameters * TRAINING_BYTES_PER_PARAMETER + dataset.x_train.nbytes * 3,
    })
    check_budget(memory)
    return LoadedNetwork(config=config, problem=problem, parameters=parameters, iterations=iterations,
                         record_every=every, memory=memory)


def network_record_every(config: Config, runs: int, parameters: int, iterations: int) -> int:
    """``record.every``, or the smallest thinning that fits :data:`NETWORK_RECORD_BYTES`; 0 if nothing fits."""
    def size(every: int) -> int:
        return runs * len(recorded_steps(iterations, every)) * parameters * 4

    if config.record.every is not None:
        return config.record.every if size(config.record.every) <= NETWORK_RECORD_BYTES else 0
    for every in sorted({1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, iterations}):
        if every <= iterations and size(every) <= NETWORK_RECORD_BYTES:
            return every
    return 0


def _checked_model(problem: NetworkProblem, config: Config, dataset: Dataset) -> Any:
    """Build the model and feed it two samples: its output must fit the data."""
    import torch

    try:
        model = problem.initial_model(config.run_seeds[0], dataset)
    except ConfigError as error:
        raise error.with_context(path_prefix="problem.model") from None
    try:
        model.eval()
        with torch.no_grad():
            output = model(torch.from_numpy(dataset.x_train[:2]))
    except Exception as error:  # a user's model may raise anything
        raise ConfigError(f"the model raised on a batch of the data (shape {list(dataset.x_train[:2].shape)}): "
                          f"{type(error).__name__}: {error}", path="problem.model") from None
    wanted = dataset.outputs
    shape = list(getattr(output, "shape", []))
    if shape != [2, wanted]:
        what = f"{wanted} classes" if dataset.classes is not None else f"{wanted} target(s)"
        raise ConfigError(f"the model's output has shape {shape} for 2 samples; {dataset.name} has {what}, "
                          f"so it must be [2, {wanted}]", path="problem.model")
    if not any(parameter.requires_grad for parameter in model.parameters()):
        raise ConfigError("the model has no trainable parameters", path="problem.model")
    return model


def _check_optimizer(spec: OptimizerSpec, config: Config, model: Any, iterations: int) -> None:
    """Build every part of ``spec`` (and its scheduler) on the model's own parameters, so torch's checks run now."""
    parameters = dict(model.named_parameters())
    remaining = list(parameters)
    path = ""
    for (cls, hyperparameters, scheduler), kind, _, groups in resolved_parts(spec, config, iterations):
        picked, _ = pick_parameters(model, kind)
        picked = [name for name in picked if name in remaining]
        if not picked:
            raise ConfigError(f"{quote(kind)} picks none of the model's parameters left ("
                              f"{', '.join(remaining) or 'none left'})", path=f"{path}.params".lstrip("."))
        remaining = [name for name in remaining if name not in picked]
        try:
            grouped, rest = group_parameters(model, picked, [pattern for pattern, _ in groups])
        except ConfigError as error:
            raise error.with_context(path_prefix=path.lstrip(".")) from None
        clones = {name: parameters[name].detach().clone().requires_grad_(True) for name in picked}
        try:
            optimizer = cls(param_groups(clones, grouped, [own for _, own in groups], rest), **hyperparameters)
            if scheduler is not None:
                scheduler[0](optimizer, **scheduler[1])
        except Exception as error:  # torch's checks, or a user's class
            raise ConfigError(f"{cls.__name__} rejects these settings for {kind} parameters: "
                              f"{type(error).__name__}: {error}", path=path.lstrip(".")) from None
        path += ".rest"
    if remaining and spec.params:
        raise ConfigError(f"no optimizer trains {', '.join(remaining)}; add 'rest: {{name: ...}}'",
                          path="params")


def param_groups(parameters: dict[str, Any], grouped: list[list[str]], settings: list[dict[str, Any]],
                 rest: list[str]) -> list[dict[str, Any]]:
    """An optimizer's param groups: each group's parameters (by name) with its own ``settings``, then the
    ``rest`` with the optimizer's settings (left out when empty)."""
    groups = [{"params": [parameters[name] for name in names], **own} for names, own in zip(grouped, settings)]
    return groups + ([{"params": [parameters[name] for name in rest]}] if rest else [])
