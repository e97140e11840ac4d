"""The one place that decides what "loaded" means: parse, model, resolve the problem,
check, plan the sweep.

:func:`load` (a file) and :func:`load_dict` (plain data) return a :class:`Loaded`: the
frozen config with what it resolves to, made afresh from the config as it is. Nothing
is cached on the config itself, so a config derived in a notebook
(``config.model_copy(update=...)``) is checked and planned anew by :func:`prepare`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence

from ..config import Config, check_fields, config_model, parse_yaml, read_text
from ..errors import ConfigError
from .checks import check_animation, check_safe
from .loaded import Loaded, resolve
from .network import LoadedNetwork, prepare_network
from .sweep import Cell, Sweep, plan_sweep

__all__ = ["Cell", "Loaded", "LoadedNetwork", "Sweep", "check_animation", "check_safe", "config_from_dict", "load", "load_config",
           "load_dict", "plan_sweep", "prepare", "resolve"]


def prepare(config: Config, *, source: str = "", safe: bool = False) -> Loaded | LoadedNetwork:
    """Check ``config`` and resolve what it names; raises :class:`ConfigError` prefixed with ``source``.

    With ``safe``, a config that would import Python code is refused before anything is imported.
    A config with ``problem:`` (a network on data) gives a :class:`LoadedNetwork`.

    >>> from optviz.config import config_model
    >>> loaded = prepare(config_model({"function": "peaks", "start": {"grid": [3, 2]}, "optimizers": ["Adam"]}))
    >>> loaded.starts.shape, loaded.function.name
    ((6, 2), 'peaks')
    """
    try:
        check_fields(config)  # a config derived with model_copy(update=...) has not been through pydantic
        if safe:
            check_safe(config)
        if config.problem is not None:
            network = prepare_network(config)
            if config.sweep is not None:
                network = dataclasses.replace(network, sweep=plan_sweep(config))
            return network
        loaded = resolve(config)
        if config.sweep is not None:
            loaded = dataclasses.replace(loaded, sweep=plan_sweep(config, loaded.function))
    except ConfigError as error:
        raise error.with_context(source=source) from None
    return loaded


def load(path: str | Path, overrides: Sequence[str] = (), *, safe: bool = False) -> Loaded | LoadedNetwork:
    """Read, override, check and plan a YAML config file."""
    path = Path(path)
    data = parse_yaml(read_text(path), source=str(path))
    return load_dict(data, overrides=overrides, source=str(path), base_dir=path.parent, safe=safe)


def load_dict(data: Any, *, overrides: Sequence[str] = (), source: str = "", base_dir: Path | None = None,
              safe: bool = False) -> Loaded | LoadedNetwork:
    """Plain data (as YAML would give) checked and planned: see :func:`prepare`."""
    return prepare(config_model(data, overrides=overrides, source=source, base_dir=base_dir), source=source,
                   safe=safe)


def load_config(path: str | Path, overrides: Sequence[str] = (), *, safe: bool = False) -> Config:
    """Read, override and check a YAML config file; returns the :class:`Config` (see :func:`load`)."""
    return load(path, overrides, safe=safe).config


def config_from_dict(data: Any, *, overrides: Sequence[str] = (), source: str = "", base_dir: Path | None = None,
                     safe: bool = False) -> Config:
    """Validate plain data (as YAML would give) into a checked :class:`Config` (see :func:`load_dict`).

    >>> config_from_dict({"function": "peaks", "optimizers": [{"name": "Adam", "lr": 0.1}]}).labels
    ['Adam']
    """
    return load_dict(data, overrides=overrides, source=source, base_dir=base_dir, safe=safe).config
