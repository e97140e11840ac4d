"""A sweep: one config, many runs. The ``sweep:`` block names keys and the values each takes.

    function: rosenbrock
    start: [-1.5, 2.0]
    steps: 500
    optimizers: [{name: SGD, lr: 0.001}]
    sweep:
      optimizers.SGD.lr: {logspace: [-5, -2, 32]}           # 10**-5 ... 10**-2, 32 values
      optimizers.SGD.momentum: {linspace: [0, 0.99, 32]}    # 0 ... 0.99, evenly spaced
      # also a list of values, [0, 0.5, 0.9], or {geomspace: [1e-5, 1e-2, 32]} (endpoints, log-spaced)

The keys are ``steps``, ``start``, ``optimizers.<label>.<hyperparameter>`` and
``optimizers.<label>.scheduler.<argument>``; an optimizer is named by its label (any
case) or its index, as with ``--set``. Each optimizer of the config runs over the
product of its own keys and of ``steps`` and ``start``; an optimizer no key names
runs once per value of those, as a reference. Each of these *cells* is an ordinary
run config with that one optimizer, checked like any other config and keyed by a
hash of its resolved config, so the same run in another sweep is the same cell.

Cells are numbered optimizer by optimizer in the config's order, then through the
product with the last key varying fastest; ``--shard K/N`` takes the cells whose
number is K-1 modulo N (:meth:`Sweep.shard`).
"""

from __future__ import annotations

import difflib
import itertools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Config, config_model
from ..errors import ConfigError, quote
from ..optimizers import IMPLEMENTATION_KEYWORDS, constructor_defaults, resolve_optimizer_spec
from ..problems import TestFunction, function_of, plot_domain
from .loaded import Loaded, resolve
from .network import LoadedNetwork, prepare_network
from .resolved import cell_key

# Above this a sweep is almost certainly a typo in a count; shard bigger ones into several sweeps.
MAX_CELLS = 100_000
MAX_VALUES = 10_000
SPACINGS = {"linspace": "first, last", "logspace": "first exponent, last exponent", "geomspace": "first, last"}
SWEEPABLE = "steps, start, optimizers.<label>.<hyperparameter> or optimizers.<label>.scheduler.<argument>"
# A network config (problem:) sweeps its training length and batch size where a function's sweeps steps and start.
NETWORK_SWEEPABLE = ("problem.epochs, problem.batch_size, optimizers.<label>.<hyperparameter> or "
                     "optimizers.<label>.scheduler.<argument>")
GLOBAL_KEYS = ("steps", "start")
NETWORK_GLOBAL_KEYS = ("problem.epochs", "problem.batch_size")
VALUE_FORMS = ("a list of values, {linspace: [first, last, count]}, {logspace: [first exponent, last exponent, "
               "count]} or {geomspace: [first, last, count]}")


@dataclass(frozen=True)
class Axis:
    """One swept key and its values."""

    key: str  # as written in the sweep block: optimizers.SGD.lr
    name: str  # its column in sweep.csv and its label on figures: lr, scheduler.gamma, steps, start, epochs
    values: tuple[Any, ...]
    spacing: str  # "list", "linspace", "logspace" or "geomspace"
    optimizer: int | None  # the index of the optimizer it belongs to; None for steps, start, problem.*

    @property
    def numeric(self) -> bool:
        return all(_is_number(value) for value in self.values)

    @property
    def log(self) -> bool:
        """Best shown on a log scale: log-spaced, or positive numbers spanning two decades or more."""
        if not self.numeric:
            return False
        if self.spacing in ("logspace", "geomspace"):
            return True
        values = np.asarray(self.values, dtype=float)
        return bool(values.min() > 0 and values.max() >= 100 * values.min())

    def apply(self, data: dict[str, Any], value: Any) -> None:
        """Set this key to ``value`` in a cell's config data (whose one optimizer is this axis's)."""
        if self.key.startswith("problem."):
            data["problem"][self.name] = value
        elif self.optimizer is None:
            data[self.name] = value
        elif self.name.startswith("scheduler."):
            data["optimizers"][0]["scheduler"][self.name.removeprefix("scheduler.")] = value
        else:
            data["optimizers"][0][self.name] = value


@dataclass(frozen=True)
class Cell:
    """One run of a sweep."""

    index: int
    label: str  # its optimizer's label
    values: dict[str, Any]  # axis key -> this cell's value, for the axes that apply to it
    names: dict[str, str]  # axis key -> axis name
    loaded: Loaded | LoadedNetwork  # an ordinary run config, checked: one optimizer, no sweep block
    key: str  # sha256 of the resolved config, which names the cell's files

    @property
    def config(self) -> Config:
        return self.loaded.config

    def describe(self) -> str:
        """``SGD lr=0.00316 momentum=0.9``."""
        return " ".join([self.label, *(f"{self.names[key]}={show(value)}" for key, value in self.values.items())])


@dataclass(frozen=True)
class Sweep:
    """A config's sweep expanded: its axes and every cell, in order, with the function they share
    (None for a network config, whose cells train a model on data)."""

    config: Config
    function: TestFunction | None
    domain: np.ndarray | None  # (dim, 2): the box the sweep's figures show; None for a network
    axes: list[Axis]
    cells: list[Cell]

    @property
    def network(self) -> bool:
        """Whether the cells train a network (``problem:``) rather than run over a function."""
        return self.config.problem is not None

    @property
    def subject(self) -> str:
        """What the cells run on, for titles: the function's name, or the network's data set."""
        if self.function is not None:
            return self.function.name
        data = self.config.problem.data
        return str(data.get("name", "data")) if isinstance(data, dict) else str(data)

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    def axes_of(self, label: str) -> list[Axis]:
        """The axes that apply to the optimizer labelled ``label``, in the sweep block's order."""
        index = self.labels.index(label)
        return [axis for axis in self.axes if axis.optimizer in (None, index)]

    def cells_of(self, label: str) -> list[Cell]:
        return [cell for cell in self.cells if cell.label == label]

    def shard(self, shard: tuple[int, int] | None) -> list[Cell]:
        """The cells of slice ``(K, N)`` (those numbered K-1 modulo N); all of them for None."""
        if shard is None:
            return list(self.cells)
        part, parts = shard
        return [cell for cell in self.cells if cell.index % parts == part - 1]


def plan_sweep(config: Config, function: TestFunction | None = None) -> Sweep:
    """Expand ``config.sweep`` into its cells, each checked as a config of its own; raises :class:`ConfigError`.

    ``function`` is the config's resolved problem (resolved here when not given). The plan
    is made from the config as it is now: a config derived with other sweep values or
    steps plans anew.

    >>> from optviz.config import config_model
    >>> sweep = plan_sweep(config_model({"function": "quadratic", "start": [2.0], "steps": 10,
    ...     "optimizers": [{"name": "SGD"}], "sweep": {"optimizers.SGD.lr": {"linspace": [0.01, 0.2, 3]}}}))
    >>> [cell.describe() for cell in sweep.cells]
    ['SGD lr=0.01', 'SGD lr=0.105', 'SGD lr=0.2']
    """
    network = config.problem is not None
    if function is None and not network:
        function = function_of(config)
    sweepable = NETWORK_SWEEPABLE if network else SWEEPABLE
    if config.sweep is None:
        raise ConfigError(f"the config has no sweep block; add one, e.g. sweep: "
                          f"{{optimizers.{config.labels[0]}.lr: {{logspace: [-3, 0, 10]}}}}", path="sweep")
    axes = [_axis(config, str(key), spec) for key, spec in config.sweep.items() if spec is not None]
    if not axes:
        raise ConfigError(f"needs at least one key to sweep: {sweepable}", path="sweep")
    _check_distinct(axes)
    base = config.to_dict()  # plain data, but a notebook's classes and functions stay themselves
    base.pop("sweep")
    products = [[axis for axis in axes if axis.optimizer in (None, index)] for index in range(len(config.optimizers))]
    total = sum(math.prod(len(axis.values) for axis in own) for own in products)
    if total > MAX_CELLS:
        raise ConfigError(f"{total:,} cells is more than one sweep runs (at most {MAX_CELLS:,}); "
                          "split it into several sweeps", path="sweep")
    for axis in axes:
        _check_values(config, base, axis)
    cells: list[Cell] = []
    for index, own in enumerate(products):
        for combination in itertools.product(*(axis.values for axis in own)):
            data = _cell_data(base, index)
            for axis, value in zip(own, combination):
                axis.apply(data, value)
            values = {axis.key: value for axis, value in zip(own, combination)}
            names = {axis.key: axis.name for axis in own}
            label = config.labels[index]
            try:
                cell_config = _cell_config(data, config)
            except ConfigError as error:
                where = f"{error.path}: " if error.path else ""
                described = " ".join([label, *(f"{names[key]}={show(value)}" for key, value in values.items())])
                raise ConfigError(f"cell {len(cells)} ({described}): {where}{error.message}", path="sweep") from None
            cells.append(Cell(index=len(cells), label=label, values=values, names=names, loaded=cell_config,
                              key=cell_key(cell_config.config)))
    domain = None if network else plot_domain(config.domain, function)
    return Sweep(config=config, function=function, domain=domain, axes=axes, cells=cells)


def _cell_config(data: dict[str, Any], config: Config) -> Loaded | LoadedNetwork:
    """A cell's data as a checked run config, its imports found from the sweep config's folder."""
    cell = config_model(data, base_dir=config.base_dir)
    return prepare_network(cell) if cell.problem is not None else resolve(cell)


def parse_shard(text: str) -> tuple[int, int]:
    """``"3/8"`` -> ``(3, 8)``: slice K of N, counted from 1."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise ConfigError(f"--shard: expected K/N with 1 <= K <= N, e.g. 3/8, got {quote(text)}")
    return int(match[1]), int(match[2])


def show(value: Any) -> str:
    """A swept value, short: 0.00316, 500, true, [-1.5, 2]."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {show(item)}" for key, item in value.items()) + "}"
    return str(value)


def _cell_data(base: dict[str, Any], optimizer: int) -> dict[str, Any]:
    data = _copy({key: value for key, value in base.items() if key != "optimizers"})
    data["optimizers"] = [_copy(base["optimizers"][optimizer])]
    return data


def _copy(data: Any) -> Any:
    """A copy of plain data's lists and mappings; anything else (a number, a notebook's class) is shared,
    so every cell holds the very object the config does."""
    if isinstance(data, dict):
        return {key: _copy(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_copy(value) for value in data]
    return data


def _axis(config: Config, key: str, spec: Any) -> Axis:
    path = f"sweep.{key}"
    network = config.problem is not None
    own, other = (NETWORK_GLOBAL_KEYS, GLOBAL_KEYS) if network else (GLOBAL_KEYS, NETWORK_GLOBAL_KEYS)
    if key in own:
        optimizer, name = None, key.removeprefix("problem.")
    elif key in other:
        what = "a network config (problem:)" if network else "a function config"
        raise ConfigError(f"cannot be swept in {what}; sweep {NETWORK_SWEEPABLE if network else SWEEPABLE}",
                          path=path)
    else:
        optimizer, name = _optimizer_key(config, key, path)
    values, spacing = _values(spec, path)
    if name in ("steps", "epochs", "batch_size"):  # linspace gives 100.0 where a count is meant
        values = tuple(int(value) if isinstance(value, float) and value.is_integer() else value for value in values)
    seen: set[str] = set()
    for value in values:
        text = json.dumps(value, sort_keys=True, default=repr)
        if text in seen:
            raise ConfigError(f"value {show(value)} is given twice", path=path)
        seen.add(text)
    return Axis(key=key, name=name, values=values, spacing=spacing, optimizer=optimizer)


def _optimizer_key(config: Config, key: str, path: str) -> tuple[int, str]:
    """(optimizer index, hyperparameter or scheduler.<argument>) of ``optimizers.<label>.<name>``."""
    head, _, rest = key.partition(".")
    if head != "optimizers" or not rest:
        network = config.problem is not None
        close = difflib.get_close_matches(key, list(NETWORK_GLOBAL_KEYS if network else GLOBAL_KEYS), n=1, cutoff=0.7)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ConfigError(f"cannot be swept{hint}; sweep {NETWORK_SWEEPABLE if network else SWEEPABLE}", path=path)
    labels = config.labels
    # The longest label that prefixes the rest: a label may itself contain dots.
    names = [*((label, index) for index, label in enumerate(labels)), *((str(index), index) for index in range(len(labels)))]
    matches = [(name, index) for name, index in names if rest.lower().startswith(name.lower() + ".")]
    if not matches:
        whole = next((label for label, _ in names if label.lower() == rest.lower()), None)
        if whole is not None:
            raise ConfigError(f"name a hyperparameter of {whole}, e.g. optimizers.{whole}.lr", path=path)
        raise ConfigError(f"no optimizer labelled {quote(rest.split('.')[0])}; labels: {', '.join(labels)}", path=path)
    written, index = max(matches, key=lambda match: len(match[0]))
    name = rest[len(written) + 1:]
    if name in ("name", "label"):
        raise ConfigError(f"cannot sweep {name}: list each optimizer under optimizers instead", path=path)
    cls, _, scheduler = resolve_optimizer_spec(config.optimizers[index], config)
    if name.startswith("scheduler"):
        argument = name.removeprefix("scheduler").removeprefix(".")
        if scheduler is None:
            raise ConfigError(f"{labels[index]} has no scheduler; give it one to sweep its arguments", path=path)
        if argument in ("", "name"):
            raise ConfigError("cannot sweep the scheduler itself: list an optimizer per scheduler instead", path=path)
        accepted = [option for option in constructor_defaults(scheduler[0]) if option != "last_epoch"]
        kind, owner = "scheduler argument", scheduler[0].__name__
    else:
        argument = name
        accepted = [option for option in constructor_defaults(cls) if option not in IMPLEMENTATION_KEYWORDS]
        kind, owner = "hyperparameter", cls.__name__
    if argument not in accepted and argument not in IMPLEMENTATION_KEYWORDS:
        close = difflib.get_close_matches(argument, accepted, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"unknown {kind} {quote(argument)} for {owner}; {hint}accepted: {', '.join(accepted)}", path=path)
    return index, name


def _values(spec: Any, path: str) -> tuple[tuple[Any, ...], str]:
    if isinstance(spec, list):
        if not spec:
            raise ConfigError("needs at least one value", path=path)
        if len(spec) > MAX_VALUES:
            raise ConfigError(f"takes at most {MAX_VALUES} values, got {len(spec)}", path=path)
        return tuple(spec), "list"
    if not isinstance(spec, dict):
        raise ConfigError(f"must be {VALUE_FORMS}, got {quote(spec)}", path=path)
    for key in spec:
        if key not in SPACINGS:
            close = difflib.get_close_matches(str(key), list(SPACINGS), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else f"valid keys: {', '.join(SPACINGS)}"
            raise ConfigError(f"unknown key; {hint}", path=f"{path}.{key}")
    if len(spec) != 1:
        raise ConfigError(f"give one of {', '.join(SPACINGS)}, not {len(spec)}", path=path)
    ((spacing, arguments),) = spec.items()
    where = f"{path}.{spacing}"
    if not (isinstance(arguments, list) and len(arguments) == 3 and all(_is_number(value) for value in arguments)):
        raise ConfigError(f"must be [{SPACINGS[spacing]}, count], got {quote(arguments)}", path=where)
    first, last, count = arguments
    if not (isinstance(count, int) and 1 <= count <= MAX_VALUES):
        raise ConfigError(f"the count must be a whole number from 1 to {MAX_VALUES}, got {quote(count)}", path=where)
    if not (math.isfinite(first) and math.isfinite(last)):
        raise ConfigError(f"must be finite, got {quote(arguments)}", path=where)
    if spacing == "geomspace" and (first <= 0 or last <= 0):
        raise ConfigError(f"needs positive endpoints (the values themselves, log-spaced), got {quote(arguments)}",
                          path=where)
    spaced = {"linspace": np.linspace, "logspace": np.logspace, "geomspace": np.geomspace}[spacing]
    with np.errstate(over="ignore"):
        values = spaced(first, last, count)
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"gives values too large to represent: {spacing} {quote(arguments)}", path=where)
    return tuple(float(value) for value in values), spacing


def _check_distinct(axes: list[Axis]) -> None:
    """Two keys for one setting (a label and an index) would make a cell ambiguous."""
    seen: dict[tuple[int | None, str], str] = {}
    for axis in axes:
        target = (axis.optimizer, axis.name)
        if target in seen:
            raise ConfigError(f"sweeps the same setting as {seen[target]}", path=f"sweep.{axis.key}")
        seen[target] = axis.key


def _check_values(config: Config, base: dict[str, Any], axis: Axis) -> None:
    """Each value on its own, so a bad one is reported at its key rather than in some cell."""
    for value in axis.values:
        data = _cell_data(base, axis.optimizer or 0)
        axis.apply(data, value)
        try:
            _cell_config(data, config)
        except ConfigError as error:
            raise ConfigError(f"value {show(value)}: {error.message}", path=f"sweep.{axis.key}") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
