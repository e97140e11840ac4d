"""Models for network problems: a registry of small built-in networks, or a user's class by import path.

A model is built from (features shape, outputs) and the config's arguments. Lookup is
case-insensitive and an unknown name fails with the closest names. A user's class
(``file.py:Class`` or ``package.module:Class``) is imported through :mod:`optviz.imports`,
so ``--safe`` refuses it like a user function.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import ConfigError, quote
from ..imports import closest, is_import_path, load_import_path

if TYPE_CHECKING:
    import torch

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "elu", "leaky_relu", "silu")


def model_spec(model: str | dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``mlp`` or ``{name: mlp, hidden: [32]}`` as (name, arguments)."""
    if isinstance(model, str):
        return model, {}
    if "name" not in model:
        raise ConfigError(f"a model mapping needs 'name' (one of {', '.join(MODELS)} or an import path); "
                          f"got keys {', '.join(map(str, model))}")
    return str(model["name"]), {key: value for key, value in model.items() if key != "name"}


def _activation(name: str) -> "torch.nn.Module":
    import torch

    classes = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "gelu": torch.nn.GELU,
               "elu": torch.nn.ELU, "leaky_relu": torch.nn.LeakyReLU, "silu": torch.nn.SiLU}
    if name.lower() not in classes:
        raise ConfigError(f"unknown activation {quote(name)}; {closest(name, list(ACTIVATIONS))}", path="activation")
    return classes[name.lower()]()


def linear(shape: tuple[int, ...], outputs: int) -> "torch.nn.Module":
    """One linear layer on the flattened features (linear regression, or softmax regression)."""
    import torch

    features = 1
    for side in shape:
        features *= side
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(features, outputs))


def mlp(shape: tuple[int, ...], outputs: int, hidden: list[int] | int = (32, 32),
        activation: str = "relu") -> "torch.nn.Module":
    """Linear layers of ``hidden`` widths with ``activation`` between them."""
    import torch

    widths = [hidden] if isinstance(hidden, int) else list(hidden)
    if not all(isinstance(width, int) and not isinstance(width, bool) and 1 <= width <= 100_000 for width in widths):
        raise ConfigError(f"must be a list of layer widths between 1 and 100000, got {quote(hidden)}", path="hidden")
    features = 1
    for side in shape:
        features *= side
    layers: list[torch.nn.Module] = [torch.nn.Flatten()]
    for width in widths:
        layers += [torch.nn.Linear(features, width), _activation(activation)]
        features = width
    layers.append(torch.nn.Linear(features, outputs))
    return torch.nn.Sequential(*layers)


def lenet(shape: tuple[int, ...], outputs: int) -> "torch.nn.Module":
    """The seed lesson's LeNet (conv, pool, conv, pool, three linear layers), sized for 8x8 images."""
    import torch

    if len(shape) != 3 or shape[1:] != (8, 8):
        raise ConfigError(f"lenet takes 8x8 images (shape [channels, 8, 8], like digits), the data has shape "
                          f"{list(shape)}; use mlp")
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(shape[0], 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 2 * 2, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, outputs))


# "logistic" is the linear layer under cross-entropy (or a sigmoid's logit): the same module.
MODELS: dict[str, Callable[..., Any]] = {"linear": linear, "logistic": linear, "mlp": mlp, "lenet": lenet}


def build_model(model: str | dict[str, Any], shape: tuple[int, ...], outputs: int, *,
                base_dir: Path | None = None) -> "torch.nn.Module":
    """The model the config names, built for ``shape`` features and ``outputs`` outputs; raises :class:`ConfigError`.

    Built-in models get (shape, outputs, **arguments); a user's class gets ``args`` as
    keywords only, as written in the config.
    """
    import torch

    name, arguments = model_spec(model)
    if is_import_path(name):
        cls = load_import_path(name, base_dir=base_dir)
        extra = [key for key in arguments if key != "args"]
        if extra:
            raise ConfigError(f"a model by import path takes its arguments under 'args', got {', '.join(extra)}")
        given = arguments.get("args") or {}
        try:
            built = cls(**given)
        except Exception as error:  # the user's class may raise anything while constructing
            raise ConfigError(f"{quote(name)} raised while constructing: {type(error).__name__}: {error}") from None
        if not isinstance(built, torch.nn.Module):
            raise ConfigError(f"{quote(name)} did not build a torch.nn.Module, got {type(built).__name__}")
        return built
    builder = MODELS.get(name.lower())
    if builder is None:
        raise ConfigError(f"unknown model {quote(name)}; {closest(name, list(MODELS))}")
    try:
        return builder(shape, outputs, **arguments)
    except TypeError as error:
        raise ConfigError(f"{name} rejects these arguments: {error}") from None


PARAMETER_KINDS = ("all", "weights", "matrices", "biases")


def pick_parameters(model: "torch.nn.Module", kind: str) -> tuple[list[str], list[str]]:
    """The names of ``model``'s parameters that ``kind`` picks, and of the rest, each in ``model.parameters()`` order.

    ``kind`` is ``all``, ``weights`` (2-D and more), ``matrices`` (exactly 2-D), ``biases``
    (1-D), or a pattern over parameter names (``fnmatch``: ``"0.*"``, ``"*.weight"``).
    """
    import fnmatch

    tests = {"all": lambda name, p: True, "weights": lambda name, p: p.ndim >= 2,
             "matrices": lambda name, p: p.ndim == 2, "biases": lambda name, p: p.ndim == 1}
    test = tests.get(kind.lower(), lambda name, p: fnmatch.fnmatchcase(name, kind))
    picked, rest = [], []
    for name, parameter in model.named_parameters():
        (picked if test(name, parameter) else rest).append(name)
    return picked, rest


def group_parameters(model: "torch.nn.Module", picked: list[str], patterns: list[str]) -> tuple[list[list[str]], list[str]]:
    """Of the parameters ``picked`` (names), those of each param group's ``patterns`` entry (a kind or a
    name pattern, as :func:`pick_parameters` reads it), and the rest, all in ``model.parameters()`` order.

    Raises :class:`ConfigError` keyed ``param_groups[i].params`` for a group that picks none of them, or
    one that picks a parameter an earlier group holds.
    """
    from ..errors import ConfigError, quote

    groups, held = [], {}
    for index, pattern in enumerate(patterns):
        names = [name for name in pick_parameters(model, pattern)[0] if name in picked]
        if not names:
            raise ConfigError(f"{quote(pattern)} picks none of the parameters this optimizer trains "
                              f"({', '.join(picked)})", path=f"param_groups[{index}].params")
        for name in names:
            if name in held:
                raise ConfigError(f"{quote(pattern)} picks {name}, which param_groups[{held[name]}] holds; each "
                                  "parameter belongs to one group", path=f"param_groups[{index}].params")
            held[name] = index
        groups.append(names)
    return groups, [name for name in picked if name not in held]
