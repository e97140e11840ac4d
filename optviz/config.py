"""The YAML config: reading, ``--set`` overrides and validation into typed models.

Every failure is a :class:`ConfigError` whose message names the file, the YAML
key path and what would be valid, e.g.
``configs/x.yaml: optimizers[1].lr: must be > 0, got -0.1``.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, ValidationError,
                      field_validator, model_validator)

from .errors import ConfigError


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-3`` as a float (YAML 1.1 wants ``1.0e-3``) and refuses
    duplicate keys, which plain YAML resolves silently by keeping the last one."""

    def construct_mapping(self, node, deep=False):
        first_seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                earlier = first_seen.get(key)
            except TypeError:  # an unhashable key: the base class says so in its own words
                continue
            if earlier is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (also on line {earlier + 1})", key_node.start_mark)
            first_seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def parse_yaml(text: str, *, source: str = "") -> Any:
    """``yaml.safe_load`` with our float rule; syntax errors name line and column."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        hint = _yaml_hint(error)
        raise ConfigError(f"YAML syntax error at {where}: {error.problem}{f'; {hint}' if hint else ''}",
                          source=source) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"YAML error: {error}", source=source) from None


# PyYAML's words for the usual slips, and what to do about them.
_YAML_HINTS = (
    ("found character '\\t'", "indent with spaces; YAML does not allow tabs"),
    ("<block end>", "check the indentation of this line against the lines above"),
    ("mapping values are not allowed here", "put a value containing ': ' in quotes, or start a new line"),
    ("could not find expected ':'", "a key needs ': ' after it"),
    ("expected ',' or ']'", "a [list] is not closed"),
    ("expected ',' or '}'", "a {mapping} is not closed"),
)


def _yaml_hint(error: yaml.MarkedYAMLError) -> str:
    if "quoted scalar" in (error.context or ""):
        return "a quoted string is not closed"
    return next((hint for words, hint in _YAML_HINTS if words in (error.problem or "")), "")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class SchedulerSpec(BaseModel):
    """A torch.optim.lr_scheduler class by name; every other key is passed to it."""

    model_config = ConfigDict(extra="allow")
    name: str

    @property
    def arguments(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class OptimizerSpec(BaseModel):
    """One optimizer: ``name``, optional ``label`` and ``scheduler``; other keys are hyperparameters."""

    model_config = ConfigDict(extra="allow")
    name: str
    label: str | None = None
    scheduler: SchedulerSpec | None = None

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        return self.name.rpartition(":")[2] if ":" in self.name else self.name


class GridStart(_Model):
    """``{grid: [nx, ny]}``: evenly spaced starts over the domain or ``box``."""

    grid: list[int]
    box: list[list[float]] | None = None


class RandomStart(_Model):
    """``{random: N, seed: S}``: uniform random starts over the domain or ``box``."""

    random: int = Field(ge=1, le=10_000_000)
    seed: int | None = None
    box: list[list[float]] | None = None


class AnimationSpec(_Model):
    enabled: bool = False
    frames: int = Field(default=100, ge=2, le=10_000)
    fps: float = Field(default=10, gt=0, le=120)
    trail: int | None = Field(default=None, ge=0)
    format: Literal["gif", "mp4"] = "gif"
    # 2d: heads over the contour map (or along the 1D curve); 3d: over the surface (2D functions).
    view: Literal["2d", "3d"] = "2d"
    quiver: bool = False  # arrows of the negative gradient under the 2D race


class BasinSpec(_Model):
    """``render.basin``: what colours each start of ``basin.png``."""

    # minimum: which known minimum the start ends within record.tolerance of; final_loss: f at
    # the final point; steps: the step from which it stays within that tolerance.
    colour_by: Literal["minimum", "final_loss", "steps"] = "minimum"


class RenderSpec(_Model):
    # surface is drawn for 2D functions only: a 1D function's curve is path's picture.
    figures: list[Literal["loss", "path", "surface", "diagnostics", "basin"]] = Field(
        default_factory=lambda: ["loss", "path", "surface", "diagnostics"])
    size: tuple[float, float] = (7.0, 5.5)
    dpi: int = Field(default=110, ge=30, le=600)
    format: Literal["png", "svg", "pdf"] = "png"
    resolution: int = Field(default=300, ge=20, le=2000)
    animation: AnimationSpec = Field(default_factory=AnimationSpec)
    basin: BasinSpec = Field(default_factory=BasinSpec)
    # A line of text under the title of every figure and animation (optviz tune says there
    # how the lrs were chosen).
    note: str | None = Field(default=None, max_length=400)

    @field_validator("size")
    @classmethod
    def _positive_size(cls, size: tuple[float, float]) -> tuple[float, float]:
        if not all(math.isfinite(side) and 0.5 <= side <= 50 for side in size):
            raise ValueError(f"must be [width, height] in inches between 0.5 and 50, got {list(size)}")
        return size


def _start_form(value: Any) -> str:
    """Which form a ``start`` takes, so that its errors speak of that form alone.

    A mapping is a grid unless it says ``random`` or, lacking both ``grid`` and
    ``random``, has a key that looks like a misspelt random-start key.
    """
    if isinstance(value, (GridStart, RandomStart)):
        return type(value).__name__
    if isinstance(value, dict):
        keys = [str(key) for key in value]
        random_keys = [key for key in RandomStart.model_fields if key not in GridStart.model_fields]
        misspelt = any(difflib.get_close_matches(key, random_keys, n=1, cutoff=0.6) for key in keys)
        return "RandomStart" if "random" in keys or ("grid" not in keys and misspelt) else "GridStart"
    return "Points" if isinstance(value, list) else "Number"


StartSpec = Annotated[
    Union[Annotated[GridStart, Tag("GridStart")], Annotated[RandomStart, Tag("RandomStart")],
          Annotated[list[Any], Tag("Points")], Annotated[float, Tag("Number")]],
    Discriminator(_start_form),
]


class RecordSpec(_Model):
    """``record``: which steps the engine keeps, and when a start counts as converged.

    ``every: N`` keeps steps 0, N, 2N, ... and the last; left out, every step is kept
    unless that would take more memory than optviz records by default (see
    :mod:`optviz.record`). ``tolerance`` is the distance to a known minimum within which
    a start has converged (default: 1% of the domain's diagonal).
    """

    every: int | None = Field(default=None, ge=1)
    tolerance: float | None = Field(default=None, gt=0, allow_inf_nan=False)


class MinimumSpec(_Model):
    """A known minimum of a custom function; its value is computed when not given."""

    point: list[float]
    value: float | None = None
    kind: Literal["global", "local"] | None = None


class FunctionSpec(_Model):
    """A custom function: a formula (``expr``) or a Python callable (``import``), with its domain and minima.

    See :mod:`optviz.custom` for how each key is used.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    expr: str | None = None
    import_: str | None = Field(default=None, alias="import")
    name: str | None = None
    dim: Literal[1, 2] | None = None
    domain: list[list[float]] | None = None
    minima: list[MinimumSpec] | None = None
    log_scale: bool | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "FunctionSpec":
        if self.expr is None and self.import_ is None:
            raise _KeyedError("function", "a custom function needs 'expr' (a formula in x, y) "
                                          "or 'import' (module:function or file.py:function)")
        if self.expr is not None and self.import_ is not None:
            raise _KeyedError("function", "give either 'expr' or 'import', not both")
        return self


# A mapping is a custom function, anything else a name or an import path; picking the
# member up front keeps pydantic from reporting the other member's complaints.
FunctionField = Annotated[
    Union[Annotated[str, Tag("Name")], Annotated[FunctionSpec, Tag("Custom")]],
    Discriminator(lambda value: "Custom" if isinstance(value, (dict, FunctionSpec)) else "Name"),
]


class Config(_Model):
    """A whole optviz run. Build it from a dict or a YAML file (:func:`load_config`)."""

    function: FunctionField
    domain: list[list[float]] | None = None
    start: StartSpec = Field(default_factory=lambda: RandomStart(random=1))
    steps: int = Field(default=100, ge=1, le=1_000_000)
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    optimizers: list[OptimizerSpec] = Field(min_length=1)
    record: RecordSpec = Field(default_factory=RecordSpec)
    render: RenderSpec = Field(default_factory=RenderSpec)
    # Keys to sweep and their values (see optviz.sweep); checked there, after the rest.
    sweep: dict[str, Any] | None = None
    # Where relative import paths (path/to/opt.py:Class) are looked up: the config's folder.
    _base_dir: Path | None = PrivateAttr(default=None)
    # (what it was resolved from, the TestFunction): a file import runs its module once.
    _function: tuple[str, Any] | None = PrivateAttr(default=None)
    # The expanded sweep (optviz.sweep.plan_sweep), built once when the config is checked.
    _sweep: Any = PrivateAttr(default=None)

    @field_validator("function", mode="before")
    @classmethod
    def _function_kind(cls, value: Any) -> Any:
        if not isinstance(value, (str, dict, FunctionSpec)):
            raise _KeyedError("function", "must be a function name (see `optviz list functions`), an import path "
                                          f"'module:function' or a mapping with 'expr' or 'import', got {value!r}")
        return value

    @model_validator(mode="after")
    def _unique_labels(self) -> "Config":
        seen: dict[str, int] = {}
        for index, spec in enumerate(self.optimizers):
            label = spec.display_label
            if label in seen:
                raise _KeyedError(f"optimizers[{index}].label",
                                  f"duplicate label {label!r} (also optimizers[{seen[label]}]); give each optimizer a unique label")
            seen[label] = index
        return self

    def test_function(self):
        """The :class:`~optviz.functions.TestFunction` this config names, defines or imports."""
        from .custom import resolve_function

        key = repr((self.model_dump(mode="json", include={"function", "domain"}), self._base_dir))
        if self._function is None or self._function[0] != key:
            try:
                function = resolve_function(self.function, domain=self.domain, base_dir=self._base_dir)
            except ConfigError as error:
                raise error.with_context(path_prefix="function") from None
            self._function = (key, function)
        return self._function[1]

    @property
    def base_dir(self) -> Path | None:
        return self._base_dir

    @property
    def labels(self) -> list[str]:
        return [spec.display_label for spec in self.optimizers]

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain data, ready for ``config.yaml``."""
        from .optimizers import absolute_import_path, is_import_path

        data = self.model_dump(mode="json", exclude_none=True, by_alias=True)
        data["render"]["size"] = list(self.render.size)
        # A file import relative to the config's folder must still resolve from the run directory.
        if isinstance(data["function"], str) and is_import_path(data["function"]):
            data["function"] = absolute_import_path(data["function"], base_dir=self._base_dir)
        elif isinstance(data["function"], dict) and "import" in data["function"]:
            data["function"]["import"] = absolute_import_path(data["function"]["import"], base_dir=self._base_dir)
        for optimizer in data["optimizers"]:
            if is_import_path(optimizer["name"]):
                optimizer["name"] = absolute_import_path(optimizer["name"], base_dir=self._base_dir)
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)


class _KeyedError(ValueError):
    """A validator's error that knows its own key path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


# --- reading -------------------------------------------------------------------------


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = (), *, safe: bool = False) -> "Config":
    """Read, override and validate a YAML config file; raises :class:`ConfigError`.

    With ``safe``, a config that would import Python code is refused before anything is imported.
    """
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", source=source) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read: {error}", source=source) from None
    data = parse_yaml(text, source=source)
    return config_from_dict(data, overrides=overrides, source=source, base_dir=path.parent, safe=safe)


def config_from_dict(data: Any, *, overrides: list[str] | tuple[str, ...] = (), source: str = "",
                     base_dir: Path | None = None, safe: bool = False, like: "Config | None" = None) -> "Config":
    """Validate plain data (as YAML would give) into a checked :class:`Config`.

    With ``safe``, a config that would import Python code is refused before anything is imported.
    ``like`` is a config this one derives from (a sweep's cell): its resolved test function
    is reused when ``function`` and ``domain`` are the same, so an import runs once.
    """
    if data is None:
        raise ConfigError("the config is empty; it needs at least 'function' and 'optimizers'", source=source)
    if not isinstance(data, dict):
        raise ConfigError(f"the config must be a mapping of keys to values, got a {_yaml_type(data)}", source=source)
    data = apply_overrides(data, overrides, source=source)
    _check_top_level_keys(data, source)
    data = _normalise(data)
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise _translate(error, data, source) from None
    try:
        from .validate import check_config, check_safe

        if safe:
            check_safe(config)
        config._base_dir = base_dir
        if like is not None:
            config._function = like._function  # test_function() checks that it still applies
        check_config(config)
    except ConfigError as error:
        raise error.with_context(source=source) from None
    return config


def _yaml_type(value: Any) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), type(value).__name__)


def _check_top_level_keys(data: dict, source: str) -> None:
    valid = list(Config.model_fields)
    for key in data:
        if key not in valid:
            raise ConfigError(f"unknown key{_suggest(str(key), valid)}", path=str(key), source=source)


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else f"; valid keys: {', '.join(valid)}"


def _normalise(data: dict) -> dict:
    """Accept the shorthands a person writes: ``optimizers: [Adam]``, ``scheduler: StepLR``."""
    data = dict(data)
    optimizers = data.get("optimizers")
    if isinstance(optimizers, dict):  # {SGD: {lr: 0.1}, Adam: {...}}
        optimizers = [{"name": name, **(value or {})} if isinstance(value, (dict, type(None))) else value
                      for name, value in optimizers.items()]
    if isinstance(optimizers, list):
        normalised = []
        for item in optimizers:
            if isinstance(item, str):
                item = {"name": item}
            if isinstance(item, dict) and isinstance(item.get("scheduler"), str):
                item = {**item, "scheduler": {"name": item["scheduler"]}}
            normalised.append(item)
        data["optimizers"] = normalised
    if isinstance(data.get("start"), (int, float)) and not isinstance(data.get("start"), bool):
        data["start"] = [data["start"]]
    return data


# --- --set overrides -----------------------------------------------------------------


def apply_overrides(data: dict, overrides: list[str] | tuple[str, ...], *, source: str = "") -> dict:
    """Apply ``dotted.key=value`` overrides (values parsed as YAML) to a copy of ``data``.

    ``optimizers.SGD.lr`` addresses the optimizer labelled (or named) SGD;
    ``optimizers.0.lr`` the first one.
    """
    import copy

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
            raise ConfigError(f"{where}: no key {parts[0]!r}{_suggest(parts[0], list(Config.model_fields))}", source=source)
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
                raise ConfigError(f"{where}: no key {'.'.join(walked)!r}", source=source)
            node[part] = {}
        child = node[part]
        if part == "optimizers" and isinstance(child, dict):
            return child
        if isinstance(child, str) and walked[-2:-1] == ["optimizers"]:
            child = node[part] = {"name": child}
        return child
    if isinstance(node, list):
        index = _list_index(node, part, where, source)
        if isinstance(node[index], str):  # optimizers: [Adam] shorthand
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
    raise ConfigError(f"{where}: no optimizer labelled {part!r}; labels: {known}", source=source)


def _item_label(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        if item.get("label"):
            return str(item["label"])
        name = item.get("name")
        if isinstance(name, str):
            return name.rpartition(":")[2] if ":" in name else name
    return None


# --- pydantic errors as one readable line --------------------------------------------


def _translate(error: ValidationError, data: dict, source: str) -> ConfigError:
    first = _pick_error(error.errors())
    location = list(first["loc"])
    context = first.get("ctx") or {}
    if isinstance(context.get("error"), _KeyedError):
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
        return "unknown key" + (_suggest(str(location[-1]), valid) if valid else "")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        symbol = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(context.values()))
        return f"must be {symbol} {bound}, got {given!r}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be a whole number, got {given!r}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number, got {given!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {given!r}"
    if kind in ("string_type",):
        return f"must be a string, got {given!r}"
    if kind == "literal_error":
        return f"must be one of {context.get('expected')}, got {given!r}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {given!r}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping, got {given!r}"
    if kind == "too_short" and location == ["optimizers"]:
        return f"needs at least one optimizer, e.g. [{_EXAMPLE_OPTIMIZER}]"
    if kind == "too_short":
        count = context.get("min_length")
        return f"needs at least {count} item{'' if count == 1 else 's'}"
    if kind == "too_long":
        return f"takes at most {context.get('max_length')} item(s)"
    if kind == "finite_number":
        return f"must be finite, got {given!r}"
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
    import typing

    found = {}
    for argument in typing.get_args(annotation):
        if typing.get_origin(argument) is not Annotated:
            continue
        inner, *metadata = typing.get_args(argument)
        model = _first_model(inner)
        for item in metadata:
            if isinstance(item, Tag) and model is not None:
                found[item.tag] = model
    return found


def _first_model(annotation: Any) -> Any:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in typing.get_args(annotation):
        found = _first_model(argument)
        if found is not None:
            return found
    return None
