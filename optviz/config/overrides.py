"""``--set dotted.key=value`` overrides, applied to plain config data before it is checked."""

from __future__ import annotations

import copy
from typing import Any

from ..errors import ConfigError, quote
from .messages import suggest
from .models import Config, object_name
from .reading import parse_yaml


def apply_overrides(data: dict, overrides: list[str] | tuple[str, ...], *, source: str = "") -> dict:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML) to a copy of ``data``.

    ``optimizers.SGD.lr`` addresses the optimizer labelled (or named) SGD;
    ``optimizers.0.lr`` the first one.
    """
    data = copy.deepcopy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        where = f"--set {override}"
        if not sep or not key.strip():
            raise ConfigError(f"{where}: expected dotted.key=value", source=source)
        value = parse_yaml(raw, source=source) if raw.strip() else None
        parts = key.strip().split(".")
        if parts[0] == "sweep" and len(parts) > 2:  # a sweep's keys are dotted paths themselves
            parts = ["sweep", ".".join(parts[1:])]
        if parts[0] not in Config.model_fields:
            raise ConfigError(f"{where}: no key {quote(parts[0])}{suggest(parts[0], list(Config.model_fields))}", source=source)
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            node = _descend(node, part, parts[: depth + 1], where, source, create=True)
        last = parts[-1]
        if isinstance(node, list):
            index = _list_index(node, last, where, source)
            node[index] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ConfigError(f"{where}: {'.'.join(parts[:-1])} is not a mapping", source=source)
    return data


def _descend(node: Any, part: str, walked: list[str], where: str, source: str, *, create: bool) -> Any:
    if isinstance(node, dict):
        if part not in node or node[part] is None:
            if not create:
                raise ConfigError(f"{where}: no key {quote('.'.join(walked))}", source=source)
            node[part] = {}
        child = node[part]
        if part == "optimizers" and isinstance(child, dict):
            return child
        if isinstance(child, str) and walked[-2:-1] == ["optimizers"]:
            child = node[part] = {"name": child}
        return child
    if isinstance(node, list):
        index = _list_index(node, part, where, source)
        if isinstance(node[index], (str, type)):  # optimizers: [Adam] shorthand, or from Python [MyOptimizer]
            node[index] = {"name": node[index]}
        return node[index]
    raise ConfigError(f"{where}: {'.'.join(walked[:-1])} is not a mapping", source=source)


def _list_index(items: list, part: str, where: str, source: str) -> int:
    if part.lstrip("-").isdigit():
        index = int(part)
        if -len(items) <= index < len(items):
            return index
        raise ConfigError(f"{where}: index {index} out of range ({len(items)} items)", source=source)
    labels = [_item_label(item) for item in items]
    for index, label in enumerate(labels):
        if label is not None and label.lower() == part.lower():
            return index
    known = ", ".join(label for label in labels if label)
    raise ConfigError(f"{where}: no optimizer labelled {quote(part)}; labels: {known}", source=source)


def _item_label(item: Any) -> str | None:
    if isinstance(item, (str, type)):
        item = {"name": item}
    if isinstance(item, dict):
        if item.get("label"):
            return str(item["label"])
        name = item.get("name")
        if isinstance(name, type):  # from Python, the class itself
            return object_name(name)
        if isinstance(name, str):
            return name.rpartition(":")[2] if ":" in name else name
    return None

