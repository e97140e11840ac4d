"""A config as it is written back: plain data whose import paths resolve from anywhere.

``config.yaml`` in a run folder, the config hash in its manifest and the key that
names a sweep cell's files all come from :func:`config_data`, so the same run gives
the same files and the same hashes wherever its config was read from.

A Python object given in place of a name (a notebook's optimizer class, scheduler class or
function) is written by name where a name finds it again (``torch.optim.Adam`` as ``Adam``,
a class of an importable module as ``package.module:Class``), and otherwise as a marker,
``<defined in a notebook: MyOptimizer, source sha256 3f2a9c01d2e4>``, that no config read
from YAML can run (:func:`not_replayable` lists them). The marker holds a digest of the
object's qualified name and source, so the hashes follow the code.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, object_name, python_object
from ..errors import ConfigError
from ..imports import (absolute_import_path, importable_path, is_import_path, notebook_marker, notebook_name,
                       object_source_digest)
from ..optimizers import resolve_optimizer, resolve_scheduler
from ..problems import TestFunction, function_names, get_function


def config_data(config: Config, *, keep_objects: bool = False) -> dict[str, Any]:
    """``config.to_dict()`` with relative file imports made absolute, so a run folder's copy finds them,
    and Python objects by name or as a notebook marker (see the module's docstring); with
    ``keep_objects``, the objects themselves, for a config derived in this process."""
    return _with_absolute_paths(config) if keep_objects else _written(config)[0]


def not_replayable(config: Config) -> list[str]:
    """What keeps ``config.yaml`` from replaying ``config``: one sentence per object defined in a notebook,
    ``optimizers[0].name: MyOptimizer was defined in a notebook (...)``; [] for a config a YAML file holds."""
    return _written(config)[1]


def _written(config: Config) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    data = _recorded(_with_absolute_paths(config), "", notes)
    for optimizer in _optimizers(data):
        label = notebook_name(optimizer["name"])
        if label is not None and "label" not in optimizer:  # its legend keeps the class's name when read back
            items = list(optimizer.items())
            optimizer.clear()
            optimizer.update([items[0], ("label", label), *items[1:]])
    return data, notes


def _optimizers(data: dict[str, Any]) -> list[dict[str, Any]]:
    found, pending = [], list(data["optimizers"])
    while pending:
        optimizer = pending.pop()
        found.append(optimizer)
        if optimizer.get("rest"):
            pending.append(optimizer["rest"])
    return found


def _recorded(value: Any, path: str, notes: list[str]) -> Any:
    """``value`` with every Python object replaced by a name that finds it again, or by a marker (noted)."""
    if isinstance(value, dict):
        return {key: _recorded(item, f"{path}.{key}" if path else str(key), notes) for key, item in value.items()}
    if isinstance(value, list):
        return [_recorded(item, f"{path}[{index}]", notes) for index, item in enumerate(value)]
    if not python_object(value):
        return value
    name = _name_that_finds(value, path)
    if name is not None:
        return name
    hashed = "its name and source" if object_source_digest(value) else "its name alone: Python keeps no source for it"
    notes.append(f"{path}: {object_name(value)} was defined in a notebook (the config hash covers {hashed})")
    return notebook_marker(value, object_name(value))


def _name_that_finds(value: Any, path: str) -> str | None:
    """The name by which a config read from YAML finds ``value`` again, if there is one."""
    resolve = {"scheduler.name": resolve_scheduler, "name": resolve_optimizer}
    for ending, resolver in resolve.items():
        if path.startswith("optimizers") and path.endswith(ending) and isinstance(value, type):
            try:
                if resolver(value.__name__) is value:  # torch's own class, by its name
                    return value.__name__
            except ConfigError:
                pass
            break
    if path in ("function", "function.import"):
        for registered in function_names():
            function = get_function(registered)
            if value is function or value is function.fn:
                return registered
        if isinstance(value, TestFunction):
            return None
    return importable_path(value)


def _with_absolute_paths(config: Config) -> dict[str, Any]:
    data = config.to_dict()
    base_dir = config.base_dir
    function = data.get("function")
    if isinstance(function, str) and is_import_path(function):
        data["function"] = absolute_import_path(function, base_dir=base_dir)
    elif isinstance(function, dict) and isinstance(function.get("import"), str):
        function["import"] = absolute_import_path(function["import"], base_dir=base_dir)
    problem = data.get("problem")
    if problem is not None:
        model = problem.get("model")
        if isinstance(model, str) and is_import_path(model):
            problem["model"] = absolute_import_path(model, base_dir=base_dir)
        elif isinstance(model, dict) and isinstance(model.get("name"), str) and is_import_path(model["name"]):
            model["name"] = absolute_import_path(model["name"], base_dir=base_dir)
        data_set = problem.get("data")
        for kind in ("npz", "csv"):
            if isinstance(data_set, dict) and isinstance(data_set.get(kind), str) and base_dir is not None:
                file = Path(data_set[kind])
                found = file if file.is_file() else base_dir / file
                data_set[kind] = str(found.resolve()) if found.is_file() else data_set[kind]
    for optimizer in _optimizers(data):
        if is_import_path(optimizer["name"]):
            optimizer["name"] = absolute_import_path(optimizer["name"], base_dir=base_dir)
    return data


def config_yaml(config: Config) -> str:
    """The resolved config as YAML: what ``config.yaml`` holds."""
    return yaml.safe_dump(config_data(config), sort_keys=False, default_flow_style=None)


def config_hash(config: Config) -> str:
    """sha256 of the resolved config's YAML: the same runs give the same hash."""
    return hashlib.sha256(config_yaml(config).encode()).hexdigest()


def cell_key(config: Config) -> str:
    """sha256 of a run config as resolved, without ``render`` (drawing does not change the numbers)."""
    data = config_data(config)
    data.pop("render", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
