"""Optimizers and lr schedulers by name: torch.optim classes or a user's own class.

Lookup is case-insensitive and an unknown name fails with the closest valid
names. Hyperparameters are checked against the class's constructor before any
run starts, so a typo is a config error rather than a traceback mid-run.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
from pathlib import Path
from typing import Any

from .config import Config, OptimizerSpec, object_name
from .errors import ConfigError, quote
from .imports import check_replayable, closest, is_import_path, load_import_path
from .third_party import candidates, mentioned, third_party_catalog
from .torch_source import CHECKS, SourceSignature, source_signature, value_error

BUILTIN_OPTIMIZERS = (
    "SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "RMSprop", "Rprop",
    "Adamax", "NAdam", "RAdam", "ASGD", "LBFGS", "Adafactor",
)
# torch.optim classes that train only 2-D weight matrices: for network problems, with
# ``params: matrices`` and a ``rest`` optimizer for the other parameters.
MATRIX_OPTIMIZERS = ("Muon",)
# Updates that treat every element of a parameter on its own: stacking independent
# starts into one tensor gives each start exactly its own trajectory.
ELEMENTWISE_OPTIMIZERS = frozenset(BUILTIN_OPTIMIZERS) - {"LBFGS", "Adafactor"}

# Schedulers whose arguments are Python callables or other scheduler objects, which a
# YAML file cannot express.
UNSUPPORTED_SCHEDULERS = {
    "LambdaLR": "its lr_lambda is a Python callable",
    "MultiplicativeLR": "its lr_lambda is a Python callable",
    "SequentialLR": "it takes other scheduler objects",
    "ChainedScheduler": "it takes other scheduler objects",
}
# Constructor keywords that pick an implementation rather than a hyperparameter: accepted,
# but not advertised in listings.
IMPLEMENTATION_KEYWORDS = frozenset({"foreach", "fused", "differentiable", "capturable"})
# Constructor keywords torch reads from the optimizer as a whole rather than from each param
# group (Adagrad fills its state from initial_accumulator_value when it is built; step()
# reads differentiable from the defaults): runs that differ in one of them cannot share one
# optimizer as param groups.
OPTIMIZER_LEVEL_KEYWORDS = IMPLEMENTATION_KEYWORDS | {"initial_accumulator_value"}


# Keys of a config's optimizer that say how to step it rather than how to build it: the engine reads them.
STEP_KEYWORDS = ("create_graph",)

# (optimizer class, checked hyperparameters, (scheduler class, checked arguments) or None)
ResolvedOptimizer = tuple[type, dict[str, Any], 'tuple[type, dict[str, Any]] | None']


def resolve_optimizer(name: str | type, *, base_dir: Path | None = None) -> type:
    """Return the optimizer class for a torch.optim name (any case), an import path or the class itself.

    A name torch.optim does not have is looked up in the packages of the ``optviz[optimizers]``
    extra (:mod:`optviz.third_party`): it resolves where exactly one has it.
    """
    known = {builtin.lower(): builtin for builtin in (*BUILTIN_OPTIMIZERS, *MATRIX_OPTIMIZERS)}
    if isinstance(name, str) and not is_import_path(name) and name.lower() not in known and not mentioned(name):
        # Neither torch.optim's nor spelled in any package of the extra: refused without importing torch.
        raise _unknown_optimizer(name)
    import torch

    if isinstance(name, type):  # from Python: the class itself
        if not issubclass(name, torch.optim.Optimizer):
            raise ConfigError(f"{object_name(name)} is not a torch.optim.Optimizer subclass")
        return name
    check_replayable(name)
    if is_import_path(name):
        cls = load_import_path(name, base_dir=base_dir)
        if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise ConfigError(f"{quote(name)} is not a torch.optim.Optimizer subclass")
        return cls
    by_lower = {lower: builtin for lower, builtin in known.items() if hasattr(torch.optim, builtin)}
    if name.lower() in by_lower:  # a torch.optim name stays torch's, whatever else has it
        return getattr(torch.optim, by_lower[name.lower()])
    found = candidates(name)
    if len(found) == 1:
        return found[0][1]
    if found:
        raise ConfigError(f"optimizer {quote(name)} is in {len(found)} packages; name one: "
                          f"{', '.join(path for path, _ in found)}")
    raise _unknown_optimizer(name)


def _unknown_optimizer(name: str) -> ConfigError:
    return ConfigError(f"unknown optimizer {quote(name)}; {closest(name, list(BUILTIN_OPTIMIZERS))}")


def canonical_optimizer_name(name: str) -> str:
    """``adam`` -> ``Adam``; import paths are returned as given."""
    by_lower = {builtin.lower(): builtin for builtin in BUILTIN_OPTIMIZERS}
    return by_lower.get(name.lower(), name)


def scheduler_names() -> list[str]:
    """Names of the torch.optim.lr_scheduler classes a config can use."""
    from torch.optim import lr_scheduler

    names = []
    for attr in dir(lr_scheduler):
        obj = getattr(lr_scheduler, attr)
        if (isinstance(obj, type) and not attr.startswith("_") and attr != "LRScheduler"
                and (issubclass(obj, lr_scheduler.LRScheduler) or attr == "ReduceLROnPlateau")):
            names.append(attr)
    return sorted(names)


def resolve_scheduler(name: str | type) -> type:
    """Return the torch.optim.lr_scheduler class called ``name`` (any case), or from Python the class itself."""
    from torch.optim import lr_scheduler

    if isinstance(name, type):
        if not issubclass(name, (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau)):
            raise ConfigError(f"{object_name(name)} is not a torch.optim.lr_scheduler.LRScheduler subclass")
        if getattr(lr_scheduler, name.__name__, None) is name and name.__name__ in UNSUPPORTED_SCHEDULERS:
            raise ConfigError(f"scheduler {name.__name__} cannot be used from a config: "
                              f"{UNSUPPORTED_SCHEDULERS[name.__name__]}")
        return name
    check_replayable(name)
    names = scheduler_names()
    by_lower = {candidate.lower(): candidate for candidate in names}
    canonical = by_lower.get(name.lower())
    if canonical is None:
        raise ConfigError(f"unknown scheduler {quote(name)}; {closest(name, names)}")
    if canonical in UNSUPPORTED_SCHEDULERS:
        raise ConfigError(f"scheduler {canonical} cannot be used from a config: {UNSUPPORTED_SCHEDULERS[canonical]}")
    return getattr(lr_scheduler, canonical)


def constructor_defaults(cls: type | SourceSignature, *, skip: int = 1) -> dict[str, Any]:
    """Keyword parameters of ``cls.__init__`` after the first ``skip`` (params / optimizer)."""
    parameters = list(inspect.signature(cls).parameters.values())[skip:]
    return {
        parameter.name: (None if parameter.default is inspect.Parameter.empty else parameter.default)
        for parameter in parameters
        if parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }


def required_arguments(cls: type | SourceSignature, *, skip: int = 1) -> list[str]:
    parameters = list(inspect.signature(cls).parameters.values())[skip:]
    return [p.name for p in parameters
            if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


def _describe(value: Any) -> str:
    return f"{quote(value)} ({type(value).__name__})"


def _check_value(key: str, value: Any, default: Any) -> Any:
    """Check one hyperparameter against the type of its default; return it normalised."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {_describe(value)}", path=key)
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"must be a number, got {_describe(value)}", path=key)
        if not math.isfinite(value):
            raise ConfigError(f"must be finite, got {value}", path=key)
        return value
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise ConfigError(f"must be a list of {len(default)} values like {list(default)}, got {_describe(value)}", path=key)
        return tuple(_check_value(f"{key}[{index}]", item, sample if sample is not None else 0.0)
                     if item is not None else None
                     for index, (item, sample) in enumerate(zip(value, default)))
    return value


def check_arguments(cls: type | SourceSignature, given: dict[str, Any], *, kind: str, skip: int = 1,
                    fixed: tuple[str, ...] = ()) -> dict[str, Any]:
    """Validate keyword arguments for an optimizer or scheduler class.

    Unknown names fail with the accepted ones listed; values must match the type
    of the constructor's default. Returns the normalised arguments.
    """
    defaults = {name: value for name, value in constructor_defaults(cls, skip=skip).items() if name not in fixed}
    accepted = [name for name in defaults if name not in IMPLEMENTATION_KEYWORDS]
    checked = {}
    for key, value in given.items():
        if key not in defaults:
            close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ConfigError(f"unknown {kind} {quote(key)} for {cls.__name__}; {hint}accepted: {', '.join(accepted)}",
                              path=key)
        checked[key] = _check_value(key, value, defaults[key])
    missing = [name for name in required_arguments(cls, skip=skip) if name not in checked and name not in fixed]
    if missing:
        raise ConfigError(f"{cls.__name__} needs {', '.join(missing)}", path=missing[0])
    if "lr" in checked and isinstance(checked["lr"], (int, float)) and checked["lr"] <= 0:
        raise ConfigError(f"must be > 0, got {checked['lr']}", path="lr")
    return checked


def check_without_torch(spec: OptimizerSpec) -> bool:
    """Check a built-in optimizer's ``spec`` as :func:`resolve_optimizer_spec` and
    :func:`instantiate_check` would, from torch's source and without importing torch.

    Returns True when checked (a :class:`ConfigError` with the same message otherwise);
    False, having checked nothing, where that needs torch: an import path or class, a
    scheduler, an implementation keyword (``fused``, ...) or a source that cannot be read.
    """
    name = spec.name
    if (not isinstance(name, str) or is_import_path(name) or spec.scheduler is not None
            or IMPLEMENTATION_KEYWORDS & set(spec.hyperparameters)):
        return False
    try:  # keyed as resolve_optimizer_spec keys them: a bad name is the name's error
        check_replayable(name)
        canonical = canonical_optimizer_name(name)
    except ConfigError as error:
        raise error.with_context(path_prefix="name") from None
    signature = source_signature(canonical) if canonical in CHECKS else None
    if signature is None:
        return False
    create_graph_override(spec)
    given = {key: value for key, value in spec.hyperparameters.items() if key not in STEP_KEYWORDS}
    hyperparameters = check_arguments(signature, given, kind="hyperparameter")
    message = value_error(canonical, hyperparameters)
    if message is not None:
        raise ConfigError(f"{canonical} rejects these hyperparameters: {message}")
    return True


def instantiate_check(optimizer_cls: type, hyperparameters: dict[str, Any],
                      scheduler: tuple[type, dict[str, Any]] | None = None) -> None:
    """Run the optimizer's (and scheduler's) own constructor checks now, on a dummy parameter.

    torch.optim's own classes run their ``__init__`` checks (``Invalid momentum value``,
    betas, eps, nesterov's needs) without being built: see :func:`_unbuilt`. Building one
    would import torch's compiler stack (``torch._dynamo``, about a second) for an optimizer
    that is thrown away. A user's class, or settings that pick an implementation
    (``foreach``, ``fused``, ...), whose checks torch makes after the build, are built for real.
    """
    import torch

    dummy = torch.zeros(2, requires_grad=True)
    unbuilt = (optimizer_cls.__module__.startswith("torch.optim")
               and not IMPLEMENTATION_KEYWORDS & set(hyperparameters))
    try:
        optimizer = (_unbuilt(optimizer_cls) if unbuilt else optimizer_cls)([dummy], **hyperparameters)
    except (ValueError, TypeError, RuntimeError) as error:
        raise ConfigError(f"{optimizer_cls.__name__} rejects these hyperparameters: {error}") from None
    except Exception as error:  # a user's class may raise anything while constructing
        raise ConfigError(f"{optimizer_cls.__name__} raised while constructing: {type(error).__name__}: {error}") from None
    if scheduler is not None:
        scheduler_cls, arguments = scheduler
        try:
            scheduler_cls(optimizer, **arguments)
        except (ValueError, TypeError, KeyError, RuntimeError, ZeroDivisionError) as error:
            raise ConfigError(f"{scheduler_cls.__name__} rejects these arguments: {error}", path="scheduler") from None


@functools.lru_cache(maxsize=None)
def _unbuilt(optimizer_cls: type) -> type:
    """``optimizer_cls`` with ``torch.optim.Optimizer.__init__`` left out: its own checks, no build.

    A torch.optim class checks its hyperparameters in its ``__init__`` and then calls
    ``super().__init__(params, defaults)``. In this subclass that call reaches ``_Stop``
    (C3 puts it between the class and ``Optimizer``), which keeps one param group as
    ``Optimizer`` would, without ``add_param_group``: that method is wrapped in
    ``torch._disable_dynamo``, whose first call imports ``torch._dynamo``. What ``Optimizer``
    itself checks (an empty or non-leaf parameter list) cannot fail on the dummy parameter.
    The result is an ``Optimizer`` a scheduler accepts; it is never stepped.
    """
    from collections import defaultdict

    from torch.optim import Optimizer

    class _Stop(Optimizer):
        def __init__(self, params: Any, defaults: dict[str, Any]) -> None:  # no super(): that is the point
            self.defaults = defaults
            self.state = defaultdict(dict)
            self.param_groups = [{**defaults, "params": list(params)}]

    return type(optimizer_cls.__name__, (optimizer_cls, _Stop), {"__module__": __name__})


def optimizer_catalog(*, third_party: bool = False) -> list[dict[str, Any]]:
    """Every built-in optimizer with its documented hyperparameters and defaults (JSON-ready).

    With ``third_party``, also every optimizer class of the installed packages of the
    ``optviz[optimizers]`` extra, with its ``package``, ``import_path`` and what its step ``needs``.
    """
    import torch

    catalog = []
    for name in BUILTIN_OPTIMIZERS:
        cls = getattr(torch.optim, name)
        catalog.append({"name": name, "package": "torch.optim", "elementwise": name in ELEMENTWISE_OPTIMIZERS,
                        "hyperparameters": _documented_defaults(cls)})
    if third_party:
        for entry in third_party_catalog():
            cls = entry.pop("cls")
            catalog.append({**entry, "hyperparameters": _documented_defaults(cls)})
    return catalog


def _documented_defaults(cls: type) -> dict[str, Any]:
    try:
        defaults = constructor_defaults(cls)
    except (TypeError, ValueError):  # a signature inspect cannot read
        return {}
    return {key: _jsonable(value) for key, value in defaults.items() if key not in IMPLEMENTATION_KEYWORDS}


def scheduler_catalog() -> list[dict[str, Any]]:
    """Every usable lr scheduler with its arguments (required ones have no default)."""
    from torch.optim import lr_scheduler

    catalog = []
    for name in scheduler_names():
        if name in UNSUPPORTED_SCHEDULERS:
            continue
        cls = getattr(lr_scheduler, name)
        arguments = {key: _jsonable(value) for key, value in constructor_defaults(cls).items() if key != "last_epoch"}
        catalog.append({"name": name, "required": required_arguments(cls), "arguments": arguments})
    return catalog


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def resolve_optimizer_spec(spec: OptimizerSpec, config: Config) -> ResolvedOptimizer:
    """The optimizer class, its checked hyperparameters and (scheduler class, arguments) or None."""
    try:
        cls = resolve_optimizer(spec.name, base_dir=config.base_dir)
    except ConfigError as error:
        raise error.with_context(path_prefix="name") from None
    create_graph_override(spec)
    given = {key: value for key, value in spec.hyperparameters.items() if key not in STEP_KEYWORDS}
    hyperparameters = _check_hyperparameters(cls, given, config.base_dir)
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


def create_graph_override(spec: OptimizerSpec) -> bool | None:
    """The config's ``create_graph: true``/``false`` for this optimizer; None where it leaves it to the class."""
    value = spec.hyperparameters.get("create_graph")
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"must be true or false, got {_describe(value)}", path="create_graph")
    return value


def _check_hyperparameters(cls: type, given: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """Checked hyperparameters; a wrapper's ``base_optimizer`` named as text resolves to its class, and the
    keys the wrapper does not take are checked as the base optimizer's (``{name: SAM, base_optimizer: SGD,
    lr: 0.01, rho: 0.05}``)."""
    base = given.get("base_optimizer")
    own = constructor_defaults(cls)
    if "base_optimizer" not in own or not isinstance(base, (str, type)):
        return check_arguments(cls, given, kind="hyperparameter")
    try:
        base_cls = resolve_optimizer(base, base_dir=base_dir)
    except ConfigError as error:
        raise error.with_context(path_prefix="base_optimizer") from None
    checked = check_arguments(cls, {key: value for key, value in given.items() if key in own and key != "base_optimizer"},
                              kind="hyperparameter", fixed=("base_optimizer",))
    checked.update(check_arguments(base_cls, {key: value for key, value in given.items() if key not in own},
                                   kind="hyperparameter"))
    return {**checked, "base_optimizer": base_cls}


def scheduler_arguments(scheduler_cls: type, given: dict[str, Any], steps: int) -> dict[str, Any]:
    """Checked scheduler arguments; OneCycleLR's ``total_steps`` defaults to the run's steps."""
    arguments = check_arguments(scheduler_cls, given, kind="scheduler argument", fixed=("last_epoch",))
    if scheduler_cls.__name__ == "OneCycleLR" and not {"total_steps", "epochs"} & set(arguments):
        arguments["total_steps"] = steps
    return arguments



def group_hyperparameters(spec: OptimizerSpec, config: Config) -> list[dict[str, Any]]:
    """What each of ``spec.param_groups`` sets for itself, checked as the optimizer's own settings are.

    Each group is checked merged over the optimizer's hyperparameters (names, types and the
    constructor's own checks, which torch's ``add_param_group`` does not make), keyed under
    ``param_groups[i]``. Settings torch reads from the optimizer as a whole
    (:data:`OPTIMIZER_LEVEL_KEYWORDS`) are refused in a group. [] without param groups.
    """
    groups = []
    for index, group in enumerate(spec.param_groups or ()):
        own = group.hyperparameters
        try:
            for key in own:
                if key in OPTIMIZER_LEVEL_KEYWORDS:
                    raise ConfigError("belongs on the optimizer, not in a param group: torch reads it from the "
                                      "optimizer as a whole", path=key)
            merged = OptimizerSpec(name=spec.name, **{**spec.hyperparameters, **own})
            if not check_without_torch(merged):
                cls, hyperparameters, _ = resolve_optimizer_spec(merged, config)
                instantiate_check(cls, hyperparameters)
            cls = resolve_optimizer(spec.name, base_dir=config.base_dir)
            given = {key: value for key, value in {**spec.hyperparameters, **own}.items() if key not in STEP_KEYWORDS}
            checked = check_arguments(cls, given, kind="hyperparameter")
        except ConfigError as error:
            raise error.with_context(path_prefix=f"param_groups[{index}]") from None
        groups.append({key: checked[key] for key in own})
    return groups


def coordinate_groups(spec: OptimizerSpec, config: Config, dim: int) -> list[tuple[tuple[int, ...], dict[str, Any]]]:
    """A test function's param groups: (coordinates, the group's own hyperparameters) each, in config order,
    then the coordinates no group holds with the optimizer's own settings ({}). [] without param groups."""
    if not spec.param_groups:
        return []
    groups = [(tuple(group.dims or ()), own) for group, own in zip(spec.param_groups, group_hyperparameters(spec, config))]
    held = {coordinate for dims, _ in groups for coordinate in dims}
    rest = tuple(coordinate for coordinate in range(dim) if coordinate not in held)
    return groups + ([(rest, {})] if rest else [])
