"""Custom test functions: a formula written in the config, or a Python callable by import path.

A config's ``function`` is one of::

    function: peaks                          # registered (`optviz list functions`)
    function: mypkg.surfaces:bowl            # a callable, imported: runs the user's code
    function: path/to/surfaces.py:bowl       # the same from a file (relative to the config)
    function:
      expr: "(1-x)**2 + 100*(y-x**2)**2"     # a formula, compiled from an allow-list (optviz.problems.expr)
      domain: [[-2, 2], [-1, 3]]
      minima: [{point: [1, 1]}]              # optional: markers and distances; values computed
      log_scale: true                        # optional: contour levels by orders of magnitude
      name: banana                           # optional: what titles and the manifest call it
      hessian: [[2, 0], [0, 20]]             # optional, for a quadratic: figures then draw its theory
    function:
      import: path/to/surfaces.py:bowl       # a callable, with the same optional keys
      domain: [[-3, 3], [-3, 3]]

An imported callable takes one argument per coordinate, ``bowl(x, y)``, and may take
a last argument ``lib``, which receives the array library (numpy or torch) as the
registered formulas do. Without ``lib`` it is only ever given torch tensors: the
numpy grids of the contour map go through torch and back. ``dim``, ``domain``,
``minima``, ``log_scale`` and ``formula`` may be attributes of the callable
(``bowl.domain = [[-3, 3], [-3, 3]]``); the config's keys win. An imported
:class:`~optviz.problems.functions.TestFunction`, or a formula registered with
:func:`optviz.problems.functions.register`, comes with its own. A custom function's domain is
``function.domain``, else the callable's, else the config's top-level ``domain``.

Everything is checked while the config is validated: the formula compiles, the
function is finite somewhere on its domain, an imported callable returns a torch
tensor with a gradient, and each minimum lies where the function is finite.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from ..config import FunctionSpec, MinimumSpec, object_name, python_object
from ..errors import ConfigError, OptvizError, RunError, quote
from ..imports import absolute_import_path, check_replayable, is_import_path, load_import_path
from .domain import check_domain
from .expr import Expression, compile_expression
from .functions import Minimum, TestFunction, function_names, get_function
from .quadratic import declared_hessian

# The validation grid: coarse, so a slow user function still validates quickly.
_CHECK_RESOLUTION = 41
# Minima within this relative distance of the lowest one are global.
_GLOBAL_TOLERANCE = 1e-6


def resolve_function(spec: Any, *, domain: Sequence[Sequence[float]] | None = None,
                     base_dir: Path | None = None) -> TestFunction:
    """The :class:`TestFunction` that a config's ``function`` value names, defines or imports.

    ``domain`` is the config's top-level domain (already checked), used when a custom
    function has none of its own. Errors are :class:`ConfigError` with key paths
    relative to ``function``. Results are cached on what they depend on (the spec, the
    domain, the folder and an imported file's modification time), so checking and then
    running a config, or every cell of a sweep, resolves and checks the function once.
    A callable given as itself (from a notebook: ``function: bowl`` or ``{import: bowl, ...}``)
    is handled exactly as the callable an import path names, cached on the object.

    >>> resolve_function(FunctionSpec(expr="(x - 1)**2", domain=[[-3, 3]])).dim
    1
    """
    if python_object(spec):
        return _resolve_object(spec, FunctionSpec(import_=spec), domain, "")
    if isinstance(spec, FunctionSpec) and python_object(spec.import_):
        return _resolve_object(spec.import_, spec, domain, "import")
    written = spec if isinstance(spec, str) else spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    key = json.dumps([written, domain], sort_keys=True, default=repr)
    source = spec if isinstance(spec, str) else spec.import_
    return _resolve_cached(key, None if base_dir is None else str(base_dir), _file_stamp(source, base_dir))


def _resolve_object(target: Any, spec: FunctionSpec, domain: Sequence[Sequence[float]] | None, key: str) -> TestFunction:
    rest = spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"import_"})
    settings = json.dumps([rest, domain, key], sort_keys=True)
    try:
        hash(target)
    except TypeError:  # an unhashable callable object: checked every time
        return _resolve_target(target, settings)
    return _resolve_target_cached(target, settings)


def _resolve_target(target: Any, settings: str) -> TestFunction:
    rest, domain, key = json.loads(settings)
    spec = FunctionSpec.model_validate({**rest, "import": target})
    function = _from_import(spec, domain, None, key, target=target)
    _check_finite_somewhere(function, key)
    return _declared(function, spec)


# Keyed on the object itself: a function redefined in a notebook is a new object, resolved anew.
_resolve_target_cached = functools.lru_cache(maxsize=64)(_resolve_target)


def _file_stamp(source: str | None, base_dir: Path | None) -> tuple[str, int] | None:
    """(resolved path, modification time) of an imported file, so an edit is seen; None otherwise."""
    if source is None or not is_import_path(source):
        return None
    file = absolute_import_path(source, base_dir=base_dir).rpartition(":")[0]
    try:
        return file, Path(file).stat().st_mtime_ns
    except OSError:
        return None


@functools.lru_cache(maxsize=256)
def _resolve_cached(key: str, base_dir: str | None, stamp: tuple[str, int] | None) -> TestFunction:
    written, domain = json.loads(key)
    spec = written if isinstance(written, str) else FunctionSpec.model_validate(written)
    return _resolve(spec, domain, None if base_dir is None else Path(base_dir))


def _resolve(spec: str | FunctionSpec, domain: Sequence[Sequence[float]] | None,
             base_dir: Path | None) -> TestFunction:
    if isinstance(spec, str):
        check_replayable(spec)
        if not is_import_path(spec):
            return get_function(spec)
        spec, key = FunctionSpec(import_=spec), ""
    else:
        check_replayable(spec.import_)
        key = "expr" if spec.expr is not None else "import"
    if spec.expr is not None:
        function = _from_expression(spec, domain)
    else:
        function = _from_import(spec, domain, base_dir, key)
    _check_finite_somewhere(function, key)
    return _declared(function, spec)


def _declared(function: TestFunction, spec: FunctionSpec) -> TestFunction:
    """``function`` with the minima and the Hessian ``spec`` declares, each checked."""
    if spec.minima is not None:
        function = _with_minima(function, spec.minima)
    return function if spec.hessian is None else declared_hessian(function, spec.hessian)


# --- formulas from the config ---------------------------------------------------------


class ExpressionFormula:
    """A compiled :class:`~optviz.problems.expr.Expression` as a registry formula ``fn(x, y, lib)``."""

    def __init__(self, expression: Expression) -> None:
        self.expression = expression

    def __call__(self, *arguments: Any) -> Any:
        *coordinates, lib = arguments
        return self.expression.evaluate(*coordinates, lib=lib)


def _from_expression(spec: FunctionSpec, fallback_domain: list[list[float]] | None) -> TestFunction:
    box = spec.domain if spec.domain is not None else fallback_domain
    if box is None:
        raise ConfigError("a formula needs a domain: [[x_low, x_high], [y_low, y_high]], or [[x_low, x_high]] "
                          "for a function of x alone", path="domain")
    box = check_domain(box, spec.dim, "domain")
    variables = ("x",) if len(box) == 1 else ("x", "y")
    try:
        expression = compile_expression(spec.expr, variables)
    except ConfigError as error:
        raise ConfigError(error.message.removeprefix("expression: "), path="expr") from None
    return TestFunction(
        name=spec.name or "custom",
        dim=len(box),
        domain=_as_domain(box),
        minima=(),
        formula=" ".join(spec.expr.split()),
        log_scale=bool(spec.log_scale),
        description="A formula from the config.",
        fn=ExpressionFormula(expression),
    )


# --- callables by import path ---------------------------------------------------------


class UserFormula:
    """A user's ``f(x, y)`` or ``f(x, y, lib)`` called as a registry formula ``fn(x, y, lib)``.

    Without ``lib``, numpy coordinates are evaluated through float64 torch tensors.
    Anything the function raises becomes a :class:`RunError` naming it.
    """

    def __init__(self, target: Any, *, takes_lib: bool, label: str) -> None:
        self.target = target
        self.takes_lib = takes_lib
        self.label = label

    def __call__(self, *arguments: Any) -> Any:
        *coordinates, lib = arguments
        if self.takes_lib:
            return self._call(*coordinates, lib)
        if lib is not np:
            return self._call(*coordinates)
        import torch

        arrays = np.broadcast_arrays(*(np.asarray(coordinate, dtype=np.float64) for coordinate in coordinates))
        with torch.no_grad():
            values = self._call(*(torch.tensor(array) for array in arrays))
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        return np.broadcast_to(np.asarray(values, dtype=np.float64), arrays[0].shape).copy()

    def _call(self, *arguments: Any) -> Any:
        try:
            return self.target(*arguments)
        except OptvizError:
            raise
        except Exception as error:  # the user's code may raise anything
            raise RunError(f"function {self.label} raised {type(error).__name__}: {error}") from error


class _Signature(NamedTuple):
    coordinates: tuple[str, ...] | None  # None: cannot tell (``*args``, a builtin)
    takes_lib: bool


def _from_import(spec: FunctionSpec, fallback_domain: list[list[float]] | None, base_dir: Path | None,
                 key: str, *, target: Any = None) -> TestFunction:
    """The function ``spec.import_`` names, or ``target`` when the caller holds the object itself."""
    if target is None:
        written = spec.import_
        try:
            target = load_import_path(written, base_dir=base_dir)
        except ConfigError as error:
            raise error.with_context(path_prefix=key) from None
    else:
        written = object_name(target)
    known = target if isinstance(target, TestFunction) else _registered(target)
    if known is not None:
        return _override(known, spec)
    if not callable(target):
        raise ConfigError(f"{quote(written)} is a {type(target).__name__}, not a function", path=key)
    label = getattr(target, "__name__", None) or written.rpartition(":")[2]
    signature = _signature(target)
    dim = spec.dim or getattr(target, "dim", None) or (len(signature.coordinates) if signature.coordinates else None)
    if dim is None:
        raise ConfigError(f"cannot tell how many coordinates {label} takes; give function.dim (1 or 2)", path=key)
    if dim not in (1, 2):
        names = f" ({', '.join(signature.coordinates)})" if signature.coordinates else ""
        raise ConfigError(f"{label} takes {dim} coordinates{names}; optviz draws functions of 1 or 2", path=key)
    if signature.coordinates is not None and len(signature.coordinates) != dim:
        raise ConfigError(f"{label} takes {len(signature.coordinates)} coordinate argument(s) "
                          f"({', '.join(signature.coordinates)}) but the function is {dim}D", path=key)
    box = spec.domain if spec.domain is not None else getattr(target, "domain", None)
    if box is None:
        box = fallback_domain
    if box is None:
        raise ConfigError(f"{label} needs a domain: give function.domain, e.g. "
                          f"{[[-3, 3]] * dim}, or set {label}.domain", path="domain")
    box = check_domain(box, dim, "domain")
    function = TestFunction(
        name=spec.name or label,
        dim=dim,
        domain=_as_domain(box),
        minima=(),
        formula=str(getattr(target, "formula", None) or written),
        log_scale=bool(spec.log_scale if spec.log_scale is not None else getattr(target, "log_scale", False)),
        description=(inspect.getdoc(target) or "").partition("\n")[0],
        fn=UserFormula(target, takes_lib=signature.takes_lib, label=label),
    )
    _check_torch(function, label, key)
    minima = getattr(target, "minima", None)
    if spec.minima is None and minima is not None:
        function = _with_minima(function, _minima_from_attribute(minima, label, key), key=key, owner=label)
    return function


def _registered(target: Any) -> TestFunction | None:
    """The registered TestFunction whose formula is ``target``, if any."""
    for name in function_names():
        function = get_function(name)
        if function.fn is target:
            return function
    return None


def _override(function: TestFunction, spec: FunctionSpec) -> TestFunction:
    """A known TestFunction with the config's name, domain and log_scale in place of its own."""
    if spec.dim is not None and spec.dim != function.dim:
        raise ConfigError(f"{function.name} is {function.dim}D, not {spec.dim}D", path="dim")
    changes: dict[str, Any] = {}
    if spec.name:
        changes["name"] = spec.name
    if spec.domain is not None:
        changes["domain"] = _as_domain(check_domain(spec.domain, function.dim, "domain"))
    if spec.log_scale is not None:
        changes["log_scale"] = spec.log_scale
    return dataclasses.replace(function, **changes)


def _signature(target: Any) -> _Signature:
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):  # builtins and some C callables have none
        return _Signature(None, False)
    if any(parameter.kind is inspect.Parameter.VAR_POSITIONAL for parameter in parameters):
        return _Signature(None, False)
    positional = [parameter.name for parameter in parameters
                  if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                  and parameter.default is inspect.Parameter.empty]
    takes_lib = bool(positional) and positional[-1] == "lib"
    return _Signature(tuple(positional[:-1] if takes_lib else positional), takes_lib)


def _check_torch(function: TestFunction, label: str, key: str) -> None:
    """Call the function on a few torch points, as the engine will, and check a gradient flows."""
    import torch

    box = np.asarray(function.domain)
    points = torch.tensor(box[:, 0] + (box[:, 1] - box[:, 0]) * np.array([[0.5], [0.25], [0.75]]),
                          dtype=torch.float64, requires_grad=True)
    advice = "write it with torch operations (torch.exp, not math.exp or numpy.exp) or take a 'lib' argument"
    try:
        values = function(points)
    except RunError as error:
        raise ConfigError(f"{error} (called on torch tensors of shape (3,) that require grad)", path=key) from None
    if not isinstance(values, torch.Tensor) or values.shape != (3,):
        got = (f"a tensor of shape {tuple(values.shape)}" if isinstance(values, torch.Tensor)
               else f"a {type(values).__module__}.{type(values).__name__}")
        raise ConfigError(f"{label} must return a torch tensor of shape (3,) for 3 points, got {got}; {advice}",
                          path=key)
    try:
        values.sum().backward()
    except RuntimeError as error:
        raise ConfigError(f"{label} gives no gradient ({error}); {advice}", path=key) from None
    if points.grad is None:
        raise ConfigError(f"{label} gives no gradient; {advice}", path=key)


def _minima_from_attribute(minima: Any, label: str, key: str) -> list[MinimumSpec]:
    """``callable.minima``: Minimum tuples, ``{point, value, kind}`` mappings or bare points."""
    try:
        specs = []
        for minimum in minima:
            if isinstance(minimum, Minimum):
                specs.append(MinimumSpec(point=list(np.atleast_1d(minimum.point)), value=minimum.value,
                                         kind=minimum.kind))
            elif isinstance(minimum, dict):
                specs.append(MinimumSpec.model_validate(minimum))
            else:
                specs.append(MinimumSpec(point=list(np.atleast_1d(minimum))))
        return specs
    except Exception:  # pydantic's errors, or values that are not numbers at all
        raise ConfigError(f"{label}.minima must be a list of points or {{point, value}} mappings, "
                          f"got {quote(minima)}", path=key) from None


# --- checks shared by both ------------------------------------------------------------


def _as_domain(box: np.ndarray) -> tuple[tuple[float, float], ...]:
    return tuple((float(low), float(high)) for low, high in box)


def _evaluate(function: TestFunction, points: Any, key: str) -> np.ndarray:
    try:
        with np.errstate(all="ignore"):
            return np.asarray(function(points), dtype=np.float64)
    except RunError as error:
        raise ConfigError(str(error), path=key) from None


def _check_finite_somewhere(function: TestFunction, key: str) -> None:
    axes = [np.linspace(low, high, _CHECK_RESOLUTION) for low, high in function.domain]
    points = np.stack(np.meshgrid(*axes), axis=-1)
    if not np.isfinite(_evaluate(function, points, key)).any():
        raise ConfigError(f"is not a finite number anywhere on the domain {[list(pair) for pair in function.domain]}; "
                          "check the formula and the domain", path=key)


def _with_minima(function: TestFunction, given: list[MinimumSpec], *, key: str = "", owner: str = "") -> TestFunction:
    """``function`` with the given minima; missing values are computed, kinds follow the values.

    Errors point at ``minima[i]`` in the config, or, for minima that are attributes of
    an imported callable (``owner``), at its import key.
    """

    def error(index: int, field: str, message: str) -> ConfigError:
        if owner:
            return ConfigError(f"{owner}.minima[{index}].{field} {message}", path=key)
        return ConfigError(message, path=f"minima[{index}].{field}")

    points, values = [], []
    for index, minimum in enumerate(given):
        point = np.asarray(minimum.point, dtype=np.float64)
        if point.shape != (function.dim,):
            plural = "s" if function.dim > 1 else ""
            raise error(index, "point", f"must have {function.dim} coordinate{plural}, got {minimum.point}")
        if not np.isfinite(point).all():
            raise error(index, "point", f"must be finite, got {minimum.point}")
        value = minimum.value
        if value is None:
            value = float(_evaluate(function, point, key if owner else f"minima[{index}].point"))
            if not math.isfinite(value):
                raise error(index, "point", f"f is {value} there, which cannot be a minimum; check the point")
        elif not math.isfinite(value):
            raise error(index, "value", f"must be finite, got {value}")
        points.append(tuple(float(coordinate) for coordinate in point))
        values.append(float(value))
    lowest = min(values, default=0.0)
    tolerance = _GLOBAL_TOLERANCE * max(1.0, abs(lowest))
    minima = tuple(
        Minimum(point, value, minimum.kind or ("global" if value <= lowest + tolerance else "local"))
        for point, value, minimum in zip(points, values, given)
    )
    return dataclasses.replace(function, minima=minima)
