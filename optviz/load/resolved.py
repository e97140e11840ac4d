"""A config as it is written back: plain data whose import paths resolve from anywhere.

``config.yaml`` in a run folder, the config hash in its manifest and the key that
names a sweep cell's files all come from :func:`config_data`, so the same run gives
the same files and the same hashes wherever its config was read from.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from ..config import Config
from ..imports import absolute_import_path, is_import_path


def config_data(config: Config) -> dict[str, Any]:
    """``config.to_dict()`` with relative file imports made absolute, so a run folder's copy finds them."""
    data = config.to_dict()
    base_dir = config.base_dir
    if isinstance(data["function"], str) and is_import_path(data["function"]):
        data["function"] = absolute_import_path(data["function"], base_dir=base_dir)
    elif isinstance(data["function"], dict) and "import" in data["function"]:
        data["function"]["import"] = absolute_import_path(data["function"]["import"], base_dir=base_dir)
    for optimizer in data["optimizers"]:
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
