"""Checks a config's meaning, after its shape: names resolve, numbers make sense.

Everything here runs before any optimizer steps, so a bad config fails in
milliseconds with a message instead of part-way through a run.
"""

from __future__ import annotations

import numpy as np

from ..config import Config, FunctionSpec, OptimizerSpec, object_name
from ..errors import ConfigError, quote
from ..imports import is_import_path
from ..optimizers import (ELEMENTWISE_OPTIMIZERS, canonical_optimizer_name, check_without_torch, group_hyperparameters,
                          instantiate_check, resolve_optimizer_spec)
from ..problems import TestFunction, check_box, function_names, get_function
from .budget import Estimate, check_budget, internals_choice
from .record import record_every
from .starts import resolve_starts


def check_config(config: Config, function: TestFunction) -> tuple[np.ndarray, int, Estimate, str | None]:
    """Raise :class:`ConfigError` (with its key path) if ``config`` cannot run as one run.

    ``function`` is the config's resolved problem. Returns the starts, the record
    thinning in force, the memory estimate (within :data:`~optviz.load.budget.MEMORY_BUDGET`; with an
    ``internals`` part when the optimizers' internals are recorded) and, when they are not for lack of
    memory, why (:func:`~optviz.load.budget.internals_choice`). A ``sweep`` block is not expanded here: :func:`optviz.load.plan_sweep`
    checks each of its cells with this function.
    """
    if config.domain is not None:
        check_box(config.domain, function.dim, "domain")
    starts = resolve_starts(config, function)
    check_noise(config, function)
    rows = len(starts) * (config.noise.seeds if config.noise else 1)  # every start under every noise seed
    every = record_every(config, rows, function.dim)  # too much to record fails here, not as an OOM
    memory, skipped = internals_choice(config, function.dim, rows, every)
    check_budget(memory)
    if "basin" in config.render.figures:
        check_basin(config, function)
    check_animation(function, config.render.animation.view, config.render.animation.quiver)
    check_engine(config)
    for index, spec in enumerate(config.optimizers):
        try:
            check_optimizer(spec, config)
            check_coordinate_groups(spec, config, function)
        except ConfigError as error:
            raise error.with_context(path_prefix=f"optimizers[{index}]") from None
    return starts, every, memory, skipped


def check_noise(config: Config, function: TestFunction) -> None:
    """Refuse noise a function cannot have: minibatches of a function that is not a finite sum, or
    larger than its terms; and a basin map over several noise seeds (it colours each start once)."""
    noise = config.noise
    if noise is None:
        return
    if noise.batch_size is not None:
        if function.terms is None:
            sums = ", ".join(name for name in function_names() if get_function(name).terms is not None)
            raise ConfigError(f"minibatches need a finite-sum function ({sums}); {function.name} is not one: "
                              "use kind and scale for gradient noise instead", path="noise.batch_size")
        if noise.batch_size > function.terms.count:
            raise ConfigError(f"must be at most {function.name}'s {function.terms.count} terms, got {noise.batch_size}",
                              path="noise.batch_size")
    if noise.seeds > 1 and "basin" in config.render.figures:
        raise ConfigError(f"a basin map colours each start once, so it takes one noise seed, got seeds: {noise.seeds}; "
                          "drop basin from render.figures to see the fans of paths", path="noise.seeds")


def check_engine(config: Config) -> None:
    """Refuse what ``engine: fused`` cannot run: it compiles one step of one batch of starts, with
    constant hyperparameters, for torch.optim's element-wise optimizers."""
    if config.engine != "fused":
        return
    if config.sweep is not None:
        raise ConfigError("the fused engine runs one map at a time, not a sweep's cells; use engine: exact to sweep",
                          path="engine")
    if config.noise is not None:
        raise ConfigError("the fused engine has no gradient noise or minibatches; use engine: exact for noise",
                          path="engine")
    for index, spec in enumerate(config.optimizers):
        path = f"optimizers[{index}]"
        # A class given from Python is not torch's, whatever its name.
        if not isinstance(spec.name, str) or canonical_optimizer_name(spec.name) not in ELEMENTWISE_OPTIMIZERS:
            fused = ", ".join(sorted(ELEMENTWISE_OPTIMIZERS))
            written = spec.name if isinstance(spec.name, str) else object_name(spec.name)
            raise ConfigError(f"engine: fused compiles torch.optim's element-wise optimizers ({fused}); "
                              f"{quote(written)} runs on engine: exact", path=f"{path}.name")
        if spec.scheduler is not None:
            raise ConfigError("engine: fused keeps the lr constant (a scheduler would recompile the step at every "
                              "change); use engine: exact with a scheduler", path=f"{path}.scheduler")
        if spec.param_groups:
            raise ConfigError("engine: fused runs one param group; use engine: exact for param_groups",
                              path=f"{path}.param_groups")


def check_basin(config: Config, function: TestFunction) -> None:
    """Refuse a basin figure that cannot be drawn: colouring by minimum or steps needs known minima."""
    colour_by = config.render.basin.colour_by
    if colour_by != "final_loss" and not function.minima:
        raise ConfigError(f"colouring by {quote(colour_by)} needs known minima and {function.name} has none; "
                          "use final_loss, or give the function minima", path="render.basin.colour_by")


def check_animation(function: TestFunction, view: str, quiver: bool) -> None:
    """Refuse an animation ``function`` cannot have: a 3D view or gradient arrows of a 1D function."""
    if function.dim == 2:
        return
    if view == "3d":
        raise ConfigError(f"a 3D view (--3d) needs a function of two variables; {function.name} has one",
                          path="render.animation.view")
    if quiver:
        raise ConfigError(f"gradient arrows (--quiver) need a function of two variables; {function.name} has one",
                          path="render.animation.quiver")


def check_safe(config: Config) -> None:
    """Refuse a config that would import Python code (``--safe``); imports nothing itself.

    Import paths are the only way a config runs code: YAML is read with a safe
    loader, expressions go through an allow-list and schedulers are torch's own.
    Python objects given from a notebook are not refused: they are already in the process.
    """
    found = [("function", config.function)] if isinstance(config.function, str) else []
    if isinstance(config.function, FunctionSpec) and isinstance(config.function.import_, str):
        found.append(("function.import", config.function.import_))
    if config.problem is not None:
        model = config.problem.model
        name = model if isinstance(model, str) else model.get("name")
        if isinstance(name, str):
            found.append(("problem.model" if isinstance(model, str) else "problem.model.name", name))
    rests = [(f"optimizers[{index}]", spec) for index, spec in enumerate(config.optimizers)]
    while rests:
        path, spec = rests.pop(0)
        found.append((f"{path}.name", spec.name))
        if spec.rest is not None:
            rests.append((f"{path}.rest", spec.rest))
    for path, name in found:
        if is_import_path(name):
            raise ConfigError(f"{quote(name)} imports Python code, which --safe refuses; "
                              "run without --safe only if you trust this config", path=path)


def check_optimizer(spec: OptimizerSpec, config: Config) -> None:
    """Resolve one optimizer spec and run its constructor's checks (and its scheduler's).

    A built-in optimizer without a scheduler is checked from torch's source, so validating
    a config imports no torch (about a second); the others resolve and check with torch.
    """
    if not check_without_torch(spec):
        instantiate_check(*resolve_optimizer_spec(spec, config))




def check_coordinate_groups(spec: OptimizerSpec, config: Config, function: TestFunction) -> None:
    """Refuse param groups a test function cannot have: without ``dims``, with a network's ``params``,
    or with coordinates out of range or held twice; then check each group's hyperparameters."""
    held: dict[int, int] = {}
    for index, group in enumerate(spec.param_groups or ()):
        path = f"param_groups[{index}]"
        if group.params is not None:
            raise ConfigError("params picks a network's parameters; a test function's param group holds "
                              "coordinates: dims: [0] for x, [1] for y", path=f"{path}.params")
        if group.dims is None:
            raise ConfigError("a test function's param group needs dims, the coordinates it holds, "
                              "e.g. {dims: [0], lr: 0.1}", path=path)
        for coordinate in group.dims:
            if not 0 <= coordinate < function.dim:
                valid = "0" if function.dim == 1 else f"0 to {function.dim - 1}"
                raise ConfigError(f"{coordinate} is not a coordinate of {function.name} ({valid})", path=f"{path}.dims")
            if coordinate in held:
                other = "this group" if held[coordinate] == index else f"param_groups[{held[coordinate]}]"
                raise ConfigError(f"coordinate {coordinate} is already in {other}; each coordinate belongs to one group",
                                  path=f"{path}.dims")
            held[coordinate] = index
    group_hyperparameters(spec, config)
