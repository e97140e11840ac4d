"""torch.optim's built-in optimizers as their source says, for checking a config without importing torch.

``optviz validate`` spends most of its time importing torch (about a second) only to read
constructor signatures and run their value checks. Here the signature of each built-in
optimizer is read from the installed torch's own source files (``ast``, nothing imported),
so it is that version's, and the value checks its constructor makes before building
(``Invalid momentum value: -0.5``) are repeated with torch's own messages.

The checks are a copy, so ``tests/test_torch_source.py`` holds them to the real
constructors over a table of values: when a torch release changes a check, that test
fails. Where the source cannot be read (a zipped install), :func:`source_signature`
returns None and the caller imports torch as before. What torch checks only once an
optimizer is built (``fused`` with ``foreach``) is left to the callers that build one.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
from pathlib import Path
from typing import Any, Callable

# (is it wrong?, torch's message) for the merged hyperparameters, in the order torch checks them.
Check = tuple[Callable[[dict[str, Any]], bool], Callable[[dict[str, Any]], str]]


class SourceSignature:
    """A torch.optim class known from its source: ``__name__`` and ``__signature__``, as
    :func:`inspect.signature` and the argument checks read them. It cannot build an optimizer."""

    def __init__(self, name: str, signature: inspect.Signature) -> None:
        self.__name__ = name
        self.__signature__ = signature

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{self.__name__} was read from torch's source; resolve it with torch to build one")


def _optim_dir() -> Path | None:
    spec = importlib.util.find_spec("torch")  # a top-level name: finds the package without importing it
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) / "optim" if locations else None


@functools.lru_cache(maxsize=None)
def _class_files() -> dict[str, Path]:
    """Class name -> the source file ``torch/optim/__init__.py`` imports it from."""
    optim = _optim_dir()
    if optim is None or not (optim / "__init__.py").is_file():
        return {}
    files = {}
    for node in ast.parse((optim / "__init__.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            module = node.module.removeprefix("torch.optim.") if node.level == 0 else node.module
            for alias in node.names:
                files[alias.asname or alias.name] = optim / f"{module.replace('.', '/')}.py"
    return files


@functools.lru_cache(maxsize=None)
def source_signature(name: str) -> SourceSignature | None:
    """torch.optim.``name``'s constructor as its installed source declares it (without ``self``);
    None where the source cannot be read or a default is not a plain literal."""
    file = _class_files().get(name)
    if file is None or not file.is_file():
        return None
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef) and node.name == name:
            init = next((item for item in node.body if isinstance(item, ast.FunctionDef) and item.name == "__init__"),
                        None)
            if init is None:
                return None
            try:
                return SourceSignature(name, _signature(init.args))
            except ValueError:  # a default that is an expression, not a literal
                return None
    return None


def _signature(args: ast.arguments) -> inspect.Signature:
    positional = [*args.posonlyargs, *args.args][1:]  # without self
    defaults = [inspect.Parameter.empty] * (len(positional) - len(args.defaults)) + [
        ast.literal_eval(default) for default in args.defaults]
    parameters = [inspect.Parameter(arg.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
                  for arg, default in zip(positional, defaults)]
    parameters += [inspect.Parameter(arg.arg, inspect.Parameter.KEYWORD_ONLY,
                                     default=inspect.Parameter.empty if default is None else ast.literal_eval(default))
                   for arg, default in zip(args.kwonlyargs, args.kw_defaults)]
    return inspect.Signature(parameters)


def _at_least_zero(key: str, what: str) -> Check:
    return (lambda given: not 0.0 <= given[key]), (lambda given: f"Invalid {what}: {given[key]}")


def _beta(index: int) -> Check:
    return ((lambda given: not 0.0 <= given["betas"][index] < 1.0),
            (lambda given: f"Invalid beta parameter at index {index}: {given['betas'][index]}"))


def _adafactor(test: Callable[[dict[str, Any]], bool], message: str, value: Callable[[dict[str, Any]], Any]) -> Check:
    return test, (lambda given: f"{message}: {value(given)}")


LR = _at_least_zero("lr", "learning rate")
EPS = _at_least_zero("eps", "epsilon value")
WEIGHT_DECAY = _at_least_zero("weight_decay", "weight_decay value")
MOMENTUM = _at_least_zero("momentum", "momentum value")
BETAS = [_beta(0), _beta(1)]
BOTH_FLOATS: Check = (lambda given: not all(isinstance(beta, float) for beta in given["betas"]),
                      lambda given: "betas must be either both floats or both Tensors")

# Each built-in optimizer's constructor checks, as torch 2.x makes them before building.
CHECKS: dict[str, list[Check]] = {
    "SGD": [LR, MOMENTUM, WEIGHT_DECAY,
            (lambda given: given["nesterov"] and (given["momentum"] <= 0 or given["dampening"] != 0),
             lambda given: "Nesterov momentum requires a momentum and zero dampening")],
    "Adam": [LR, EPS, *BETAS, WEIGHT_DECAY, BOTH_FLOATS],
    "AdamW": [LR, EPS, *BETAS, WEIGHT_DECAY, BOTH_FLOATS],
    "Adagrad": [LR, _at_least_zero("lr_decay", "lr_decay value"), WEIGHT_DECAY,
                _at_least_zero("initial_accumulator_value", "initial_accumulator_value value"), EPS],
    "Adadelta": [LR, ((lambda given: not 0.0 <= given["rho"] <= 1.0), (lambda given: f"Invalid rho value: {given['rho']}")),
                 EPS, WEIGHT_DECAY],
    "RMSprop": [LR, EPS, MOMENTUM, WEIGHT_DECAY, _at_least_zero("alpha", "alpha value")],
    "Rprop": [LR, ((lambda given: not 0.0 < given["etas"][0] < 1.0 < given["etas"][1]),
                   (lambda given: f"Invalid eta values: {given['etas'][0]}, {given['etas'][1]}"))],
    "Adamax": [LR, EPS, *BETAS, WEIGHT_DECAY],
    "NAdam": [LR, EPS, *BETAS, WEIGHT_DECAY, _at_least_zero("momentum_decay", "momentum_decay value")],
    "RAdam": [LR, EPS, *BETAS, WEIGHT_DECAY],
    "ASGD": [LR, WEIGHT_DECAY],
    "LBFGS": [LR],
    "Adafactor": [
        _adafactor(lambda given: not 0.0 <= given["lr"], "Learning rate should be >= 0 but is", lambda g: g["lr"]),
        _adafactor(lambda given: not 0.0 >= given["beta2_decay"], "beta2_decay should be <= 0 but is",
                   lambda g: g["beta2_decay"]),
        _adafactor(lambda given: given["eps"][0] is not None and not 0.0 <= given["eps"][0],
                   "epsilon1 should be >= 0 but is", lambda g: g["eps"][0]),
        _adafactor(lambda given: not 0.0 <= given["eps"][1], "epsilon2 should be >= 0 but is", lambda g: g["eps"][1]),
        _adafactor(lambda given: not 1.0 <= given["d"], "Clipping threshold d should be >= 1 but is", lambda g: g["d"]),
        _adafactor(lambda given: not 0.0 <= given["weight_decay"], "weight_decay should be >= 0 but is",
                   lambda g: g["weight_decay"]),
    ],
}


def value_error(name: str, hyperparameters: dict[str, Any]) -> str | None:
    """torch's message for the first hyperparameter of built-in optimizer ``name`` its
    constructor would refuse, or None. ``hyperparameters`` are checked ones (numbers of the
    defaults' types); the others take the defaults of :func:`source_signature`."""
    signature = source_signature(name)
    assert signature is not None and name in CHECKS, f"{name}: no source signature or checks"
    given = {parameter.name: parameter.default for parameter in signature.__signature__.parameters.values()}
    given.update(hyperparameters)
    for wrong, message in CHECKS[name]:
        if wrong(given):
            return message(given)
    return None
