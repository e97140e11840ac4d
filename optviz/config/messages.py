"""Pydantic's validation errors as one line a person can act on."""

from __future__ import annotations

import difflib
import re
import sys
import typing
from typing import Annotated, Any

from pydantic import BaseModel, Tag, ValidationError

from ..errors import ConfigError, quote
from .models import Config, KeyedError


def yaml_type(value: Any) -> str:
    """What YAML calls the type of ``value``: list, string, number, boolean."""
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)


def check_top_level_keys(data: dict[str, Any], source: str) -> None:
    """Refuse a top-level key no config has, suggesting the closest."""
    valid = list(Config.model_fields)
    for key in data:
        if key not in valid:
            raise ConfigError(f"unknown key{suggest(str(key), valid)}", path=str(key), source=source)


def check_values(data: Any, source: str, location: tuple = ()) -> None:
    """Refuse, at the key that holds it, a value no check further on could hold: an integer beyond a
    float's range (``math.isfinite`` raises on it) or a string with a lone surrogate (no file or figure
    can hold it)."""
    if isinstance(data, dict):
        for key, value in data.items():
            check_values(key, source, location)
            check_values(value, source, (*location, key))
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            check_values(value, source, (*location, index))
    elif isinstance(data, int) and not isinstance(data, bool) and abs(data) > sys.float_info.max:
        raise ConfigError(f"must be within a float's range, +-{sys.float_info.max:.4g}, got {quote(data)}",
                          path=_format_path(list(location)), source=source)
    elif isinstance(data, str) and any("\ud800" <= char <= "\udfff" for char in data):
        raise ConfigError(f"holds a lone surrogate, which no file or figure can hold: {quote(data)}",
                          path=_format_path(list(location)), source=source)


def suggest(key: str, valid: list[str]) -> str:
    """``; did you mean X?`` for a close match, else the valid keys."""
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else f"; valid keys: {', '.join(valid)}"




def translate(error: ValidationError, data: dict[str, Any], source: str) -> ConfigError:
    """The first actionable error of ``error`` as a :class:`ConfigError` with its key path."""
    first = _pick_error(error.errors())
    location = list(first["loc"])
    context = first.get("ctx") or {}
    if isinstance(context.get("error"), KeyedError):
        keyed = context["error"]
        return ConfigError(keyed.message, path=keyed.path, source=source)
    # Union members (start: point | grid | random) add their model name to the location.
    location = [part for part in location if not (isinstance(part, str) and (part[:1].isupper() or "[" in part))]
    pairs = _value_at(data, location[:-1]) if location[-2:-1] in (["domain"], ["box"]) else None
    if isinstance(pairs, list) and pairs and all(type(value) in (int, float) for value in pairs):
        # domain: [-3, 3] for [[-3, 3]], the usual slip: name the whole value and what to write.
        return ConfigError(f"must be a list of [low, high] pairs, one per variable, e.g. [{pairs}] for x alone "
                           f"or [{pairs}, {pairs}] for x and y; got {pairs}", path=_format_path(location[:-1]),
                           source=source)
    path = _format_path(location)
    return ConfigError(_message(first, location), path=path, source=source)


def _value_at(data: Any, location: list) -> Any:
    """The value at a pydantic error location, or None where the location does not lead."""
    for part in location:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


_EXAMPLE_OPTIMIZER = "{name: Adam, lr: 0.1}"
# What to write where a required key is missing, by key path ([] for any index).
_MISSING_HINTS = {
    "function": "name a test function (see `optviz list functions`) or give {expr: ..., domain: ...}",
    "optimizers": f"e.g. optimizers: [{_EXAMPLE_OPTIMIZER}]",
    "optimizers[].name": "name a torch.optim class, e.g. Adam (see `optviz list optimizers`)",
    "optimizers[].scheduler.name": "name a torch.optim.lr_scheduler class (see `optviz list schedulers`)",
    "function.minima[].point": "give the minimum's coordinates, e.g. point: [1, 1]",
}


def _pick_error(errors: list[dict]) -> dict:
    """Prefer the error a person can act on (not the union's 'not a float' alternatives);
    a misspelt key before the required key it leaves missing."""
    for kinds in (("value_error", "assertion_error"), ("extra_forbidden",)):
        for error in errors:
            if error["type"] in kinds:
                return error
    return errors[0]


def _format_path(location: list) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(error: dict, location: list) -> str:
    kind = error["type"]
    context = error.get("ctx") or {}
    given = error.get("input")
    if kind == "missing":
        path = _format_path(location)
        hint = _MISSING_HINTS.get(re.sub(r"\[\d+\]", "[]", path), "")
        return f"required key is missing{f'; {hint}' if hint else ''}"
    if kind == "extra_forbidden":
        parent = _model_at(list(error["loc"])[:-1])  # with union tags, which name the model
        valid = [field.alias or name for name, field in parent.model_fields.items()] if parent else []
        return "unknown key" + (suggest(str(location[-1]), valid) if valid else "")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        symbol = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(context.values()))
        bound = f"{bound:g}" if isinstance(bound, float) else bound  # 0, not the 0.0 of a float field
        return f"must be {symbol} {bound}, got {quote(given)}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, got {quote(given)}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number, got {quote(given)}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {quote(given)}"
    if kind in ("string_type",):
        return f"must be a string, got {quote(given)}"
    if kind == "literal_error":
        return f"must be one of {context.get('expected')}, got {quote(given)}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {quote(given)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping, got {quote(given)}"
    if kind == "too_short" and location == ["optimizers"]:
        return f"needs at least one optimizer, e.g. [{_EXAMPLE_OPTIMIZER}]"
    if kind == "too_short":
        count = context.get("min_length")
        return f"needs at least {count} item{'' if count == 1 else 's'}"
    if kind == "too_long":
        return f"takes at most {context.get('max_length')} item(s)"
    if kind == "finite_number":
        return f"must be finite, got {quote(given)}"
    message = str(error.get("msg", "invalid value"))
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _model_at(location: list) -> type[BaseModel] | None:
    model: Any = Config
    annotation: Any = None
    for part in location:
        if isinstance(part, int):
            continue
        if isinstance(part, str) and part in _tagged_models(annotation):  # a union member's tag
            model = _tagged_models(annotation)[part]
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        model = _first_model(annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _tagged_models(annotation: Any) -> dict[str, type[BaseModel]]:
    """The models of a tagged union (``Annotated[Model, Tag(...)]`` members) by tag; empty for anything else."""


    found = {}
    for argument in typing.get_args(annotation):
        if typing.get_origin(argument) is not Annotated:
            continue
        inner, *metadata = typing.get_args(argument)
        if typing.get_origin(inner) is typing.Union:  # an optional tagged union: its members' tags
            found.update(_tagged_models(inner))
            continue
        model = _first_model(inner)
        for item in metadata:
            if isinstance(item, Tag) and model is not None:
                found[item.tag] = model
    return found


def _first_model(annotation: Any) -> Any:


    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _first_model(argument)
        if found is not None:
            return found
    return None
