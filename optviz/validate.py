"""Checks a config's meaning, after its shape: names resolve, numbers make sense.

Everything here runs before any optimizer steps, so a bad config fails in
milliseconds with a message instead of part-way through a run.
"""

from __future__ import annotations

from .basin import check_basin
from .config import Config
from .custom import check_domain
from .errors import ConfigError
from .optimizers import (
    check_arguments,
    instantiate_check,
    is_import_path,
    resolve_optimizer,
    resolve_scheduler,
)
from .record import record_every
from .starts import check_box, resolve_starts


def check_config(config: Config) -> None:
    """Raise :class:`ConfigError` (with its key path) if ``config`` cannot run."""
    if config.domain is not None:
        check_domain(config.domain)  # before a custom function falls back on it
    function = config.test_function()
    if config.domain is not None:
        check_box(config.domain, function.dim, "domain")
    starts = resolve_starts(config, function)
    record_every(config, len(starts), function.dim)  # too much to record fails here, not as an OOM mid-run
    if "basin" in config.render.figures:
        check_basin(config, function)
    check_animation(function, config.render.animation.view, config.render.animation.quiver)
    for index, spec in enumerate(config.optimizers):
        prefix = f"optimizers[{index}]"
        try:
            check_optimizer(spec, config)
        except ConfigError as error:
            raise error.with_context(path_prefix=prefix) from None
    if config.sweep is not None:
        from .sweep import plan_sweep

        plan_sweep(config)  # every cell is checked as a config of its own


def check_animation(function, view: str, quiver: bool) -> None:
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
    """
    found = [("function", config.function)] if isinstance(config.function, str) else []
    if not isinstance(config.function, str) and config.function.import_ is not None:
        found.append(("function.import", config.function.import_))
    found += [(f"optimizers[{index}].name", spec.name) for index, spec in enumerate(config.optimizers)]
    for path, name in found:
        if is_import_path(name):
            raise ConfigError(f"{name!r} imports Python code, which --safe refuses; "
                              "run without --safe only if you trust this config", path=path)


def check_optimizer(spec, config: Config) -> None:
    """Resolve one optimizer spec and build it (and its scheduler) on a dummy tensor."""
    instantiate_check(*resolve_optimizer_spec(spec, config))


def resolve_optimizer_spec(spec, config: Config) -> tuple[type, dict, tuple[type, dict] | None]:
    """The optimizer class, its checked hyperparameters and (scheduler class, arguments) or None."""
    try:
        cls = resolve_optimizer(spec.name, base_dir=config.base_dir)
    except ConfigError as error:
        raise error.with_context(path_prefix="name") from None
    hyperparameters = check_arguments(cls, spec.hyperparameters, kind="hyperparameter")
    if spec.scheduler is None:
        return cls, hyperparameters, None
    try:
        scheduler_cls = resolve_scheduler(spec.scheduler.name)
    except ConfigError as error:
        raise error.with_context(path_prefix="scheduler.name") from None
    try:
        arguments = scheduler_arguments(scheduler_cls, spec.scheduler.arguments, config.steps)
    except ConfigError as error:
        raise error.with_context(path_prefix="scheduler") from None
    return cls, hyperparameters, (scheduler_cls, arguments)


def scheduler_arguments(scheduler_cls: type, given: dict, steps: int) -> dict:
    """Checked scheduler arguments; OneCycleLR's ``total_steps`` defaults to the run's steps."""
    arguments = check_arguments(scheduler_cls, given, kind="scheduler argument", fixed=("last_epoch",))
    if scheduler_cls.__name__ == "OneCycleLR" and not {"total_steps", "epochs"} & set(arguments):
        arguments["total_steps"] = steps
    return arguments
