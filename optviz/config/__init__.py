"""The YAML config: reading, ``--set`` overrides and validation into typed, frozen models.

Every failure is a :class:`~optviz.errors.ConfigError` whose message names the file,
the YAML key path and what would be valid, e.g.
``configs/x.yaml: optimizers[1].lr: must be > 0, got -0.1``.

This package checks a config's shape only. What a config *means* (the function it
names, the optimizers it builds, the sweep it expands) is checked one layer up, by
:mod:`optviz.load`, which is what :func:`optviz.load_config` calls. This package
imports nothing of optviz but :mod:`optviz.errors`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from pydantic import ValidationError

from ..errors import ConfigError
from .messages import check_top_level_keys, check_values, translate, yaml_type
from .models import (AnimationSpec, BasinSpec, LandscapeSpec, Config, NoiseSpec, FrozenConfigError, FunctionSpec, GridStart, MinimumSpec,
                     OptimizerSpec, ParamGroupSpec, ProblemSpec, RandomStart, RecordSpec, RenderSpec, SchedulerSpec, object_name,
                     python_object)
from .overrides import apply_overrides
from .reading import parse_yaml, read_text

__all__ = ["AnimationSpec", "BasinSpec", "LandscapeSpec", "Config", "NoiseSpec", "FrozenConfigError", "FunctionSpec", "GridStart", "MinimumSpec",
           "OptimizerSpec", "ParamGroupSpec", "ProblemSpec", "RandomStart", "RecordSpec", "RenderSpec", "SchedulerSpec", "apply_overrides",
           "check_fields", "object_name", "python_object", "config_model", "parse_yaml", "read_config", "with_overrides"]


def config_model(data: Any, *, overrides: Sequence[str] = (), source: str = "",
                 base_dir: Path | None = None) -> Config:
    """Plain data (as YAML gives it) with ``overrides`` applied, as a :class:`Config`; shape only.

    ``base_dir`` is where relative import paths are looked up (the config file's folder).

    >>> config_model({"function": "peaks", "optimizers": ["Adam"]}).optimizers[0].name
    'Adam'
    """
    if data is None:
        raise ConfigError("the config is empty; it needs at least 'function' and 'optimizers'", source=source)
    if not isinstance(data, dict):
        raise ConfigError(f"the config must be a mapping of keys to values, got a {yaml_type(data)}", source=source)
    data = apply_overrides(data, overrides, source=source)
    check_top_level_keys(data, source)
    check_values(data, source)
    data = _normalise(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise translate(error, data, source) from None
    config._base_dir = base_dir
    return config


def check_fields(config: Config, *, source: str = "") -> None:
    """Check every field of ``config`` again: ``model_copy(update=...)`` derives a config without pydantic's checks.

    >>> config = config_model({"function": "peaks", "optimizers": ["Adam"]})
    >>> check_fields(config.model_copy(update={"steps": 0}))
    Traceback (most recent call last):
    optviz.errors.ConfigError: steps: must be >= 1, got 0
    """
    data = config.to_dict()
    check_values(data, source)
    try:
        Config.model_validate(data)
    except ValidationError as error:
        raise translate(error, data, source) from None


def read_config(path: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config file into a :class:`Config` (shape only; see :func:`config_model`)."""
    path = Path(path)
    data = parse_yaml(read_text(path), source=str(path))
    return config_model(data, overrides=overrides, source=str(path), base_dir=path.parent)


def with_overrides(config: Config, overrides: Sequence[str]) -> Config:
    """A new config: ``config`` with ``--set``-style ``overrides`` applied, validated again.

    >>> config = config_model({"function": "peaks", "steps": 10, "optimizers": ["Adam"]})
    >>> with_overrides(config, ["steps=50"]).steps
    50
    """
    return config_model(config.to_dict(), overrides=overrides, base_dir=config.base_dir)


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    """Accept the shorthands a person writes: ``optimizers: [Adam]``, ``scheduler: StepLR``."""
    data = dict(data)
    optimizers = data.get("optimizers")
    if isinstance(optimizers, dict):  # {SGD: {lr: 0.1}, Adam: {...}}
        optimizers = [{"name": name, **(value or {})} if isinstance(value, (dict, type(None))) else value
                      for name, value in optimizers.items()]
    if isinstance(optimizers, list):
        normalised = []
        for item in optimizers:
            if isinstance(item, (str, type)):  # from Python, the class itself: [MyOptimizer]
                item = {"name": item}
            if isinstance(item, dict) and isinstance(item.get("scheduler"), (str, type)):
                item = {**item, "scheduler": {"name": item["scheduler"]}}
            normalised.append(item)
        data["optimizers"] = normalised
    if isinstance(data.get("start"), (int, float)) and not isinstance(data.get("start"), bool):
        data["start"] = [data["start"]]
    return data
