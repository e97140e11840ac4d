"""A config as it is written back: plain data whose import paths resolve from anywhere.

``config.yaml`` in a run folder, the config hash in its manifest and the key that
names a sweep cell's files all come from :func:`config_data`, so the same run gives
the same files and the same hashes wherever its config was read from.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from ..config import Config
from ..imports import absolute_import_path, is_import_path


def config_data(config: Config) -> dict[str, Any]:
    """``config.to_dict()`` with relative file imports made absolute, so a run folder's copy finds them."""
    data = config.to_dict()
    base_dir = config.base_dir
    function = data.get("function")
    if isinstance(function, str) and is_import_path(function):
        data["function"] = absolute_import_path(function, base_dir=base_dir)
    elif isinstance(function, dict) and "import" in function:
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
    optimizers = list(data["optimizers"])
    while optimizers:
        optimizer = optimizers.pop()
        if is_import_path(optimizer["name"]):
            optimizer["name"] = absolute_import_path(optimizer["name"], base_dir=base_dir)
        if optimizer.get("rest"):
            optimizers.append(optimizer["rest"])
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
