"""Safe compiler for user-written surfaces such as ``"(1-x)**2 + 100*(y-x**2)**2"``.

The text is parsed with :mod:`ast` and translated node by node, from an allow-list,
into nested closures. Nothing is handed to ``eval``/``exec``/``compile``, so a config
file can describe a surface but cannot run code. Anything outside the allow-list is
refused before anything runs, with a one-line :class:`~optviz.errors.ConfigError`
that names the construct and quotes the offending part with its column::

    expression: attribute access is not allowed: 'x.real' (column 1)

The same compiled expression evaluates numpy arrays (contour grids) and torch
tensors (gradients flow through it); torch is only touched when given a tensor.

Allowed: int and float literals; the variables (``x`` or ``x, y``); the constants
``pi`` and ``e``; ``+ - * / **`` and unary ``-``/``+``; the functions in
:data:`ALLOWED_FUNCTIONS`; and comparisons ``< <= > >=`` (chains such as
``-1 < x < 1`` included), which are allowed only as the first argument of
``where(condition, if_true, if_false)``, the one place a boolean makes sense.

Sub-expressions without variables are folded at compile time in float64, and one
that is not finite (``10**400``, ``9**9**9``, ``log(0)``) is refused; literals
become floats first, so Python never raises a big integer to a power. Length
(:data:`MAX_LENGTH`) and nesting (:data:`MAX_DEPTH`) are capped before the text is
parsed or walked, so every refusal comes back in microseconds.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import functools
import math
import operator
import re
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Union

import numpy as np

from ..errors import ConfigError, quote

MAX_LENGTH = 2000
"""Longest accepted expression, in characters."""

MAX_DEPTH = 50
"""Deepest accepted nesting, counted both in brackets and in syntax-tree levels.

It keeps the recursive compiler and the closures it builds far from Python's
recursion limit; real formulas stay below ten.
"""

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


class _Function(NamedTuple):
    attribute: str  # spelled the same in numpy and torch
    arity: int


_FUNCTIONS: dict[str, _Function] = {
    "exp": _Function("exp", 1),
    "log": _Function("log", 1),
    "log10": _Function("log10", 1),
    "log2": _Function("log2", 1),
    "sqrt": _Function("sqrt", 1),
    "square": _Function("square", 1),
    "sin": _Function("sin", 1),
    "cos": _Function("cos", 1),
    "tan": _Function("tan", 1),
    "arcsin": _Function("arcsin", 1),
    "asin": _Function("arcsin", 1),
    "arccos": _Function("arccos", 1),
    "acos": _Function("arccos", 1),
    "arctan": _Function("arctan", 1),
    "atan": _Function("arctan", 1),
    "sinh": _Function("sinh", 1),
    "cosh": _Function("cosh", 1),
    "tanh": _Function("tanh", 1),
    "abs": _Function("abs", 1),
    "sign": _Function("sign", 1),
    "min": _Function("minimum", 2),
    "max": _Function("maximum", 2),
    "where": _Function("where", 3),
}

ALLOWED_FUNCTIONS: dict[str, int] = {name: function.arity for name, function in _FUNCTIONS.items()}
"""The functions an expression may call, each with its number of arguments."""

_BINARY_OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY_OPERATORS: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_COMPARISONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_REFUSED_OPERATORS: dict[type, str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Invert: "~",
    ast.Not: "not",
    ast.And: "and",
    ast.Or: "or",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_OPERATOR_HINTS: dict[str, str] = {
    "^": "use ** for powers",
    "==": "compare with <, <=, > or >=",
    "!=": "compare with <, <=, > or >=",
    "and": "nest where(...) calls instead",
    "or": "nest where(...) calls instead",
}
_REFUSED_CONSTRUCTS: dict[type, str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "indexing",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehension",
    ast.SetComp: "comprehension",
    ast.DictComp: "comprehension",
    ast.GeneratorExp: "comprehension",
    ast.List: "list",
    ast.Tuple: "tuple",
    ast.Set: "set",
    ast.Dict: "dict",
    ast.JoinedStr: "f-string",
    ast.IfExp: "conditional expression",
    ast.NamedExpr: "assignment expression",
    ast.Starred: "starred argument",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_REFUSED_LITERALS: dict[type, str] = {
    bool: "boolean",
    type(None): "None",
    complex: "complex number",
    str: "string",
    bytes: "bytes",
    type(...): "ellipsis",
}
_CONSTRUCT_HINTS: dict[type, str] = {ast.IfExp: "use where(condition, if_true, if_false)"}

# Tabs, newlines (YAML block scalars) and non-breaking spaces pasted from the web
# all read as a plain space; one character for one keeps every column right.
_WHITESPACE = re.compile(r"\s")
_LONGEST_QUOTE = 60


@dataclass(frozen=True)
class _Frame:
    """What the closures see during one evaluation: the array library and the coordinates."""

    lib: Any
    coords: tuple[Any, ...]

    def constant(self, value: float) -> Any:
        """``value`` as a 0-d array with the coordinates' dtype (and device, for torch)."""
        like = self.coords[0]
        if self.lib is np:
            return np.asarray(value, dtype=like.dtype)
        return self.lib.as_tensor(value, dtype=like.dtype, device=like.device)


_Kernel = Callable[[_Frame], Any]
# A compiled sub-expression: a Python float where it has no variables (folded at
# compile time), otherwise a closure computing an array from a frame.
_Node = Union[float, _Kernel]
# A compiled condition of where(): a Python bool where it has no variables.
_Condition = Union[bool, _Kernel]
# The syntax-tree nodes that carry a source position.
_Located = Union[ast.expr, ast.keyword]


@dataclass(frozen=True)
class Expression:
    """A compiled formula; call it on points or evaluate it on coordinate arrays.

    >>> f = compile_expression("x**2 + 3*y")
    >>> float(f(np.array([2.0, 1.0])))
    7.0
    """

    source: str
    variables: tuple[str, ...]
    _root: _Node = field(repr=False, compare=False)

    def __call__(self, p: Any) -> Any:
        """Evaluate at points ``p`` of shape ``(..., dim)``; return shape ``(...)``.

        A torch tensor is evaluated with torch (autograd flows through); anything
        else goes through numpy. ``dim`` must equal ``len(self.variables)``.
        """
        # A tensor can only exist once torch is imported, so looking in sys.modules
        # spares numpy-only callers the torch import.
        torch = sys.modules.get("torch")
        lib: Any = torch if torch is not None and isinstance(p, torch.Tensor) else np
        if lib is np:
            p = np.asarray(p)
        dim = len(self.variables)
        if tuple(p.shape[-1:]) != (dim,):
            raise ValueError(f"points must have shape (..., {dim}) for {self.variables}, got {tuple(p.shape)}")
        return self.evaluate(*(p[..., index] for index in range(dim)), lib=lib)

    def evaluate(self, *coords: Any, lib: Any) -> Any:
        """Evaluate on one array per variable (``x, y``), broadcast together.

        ``lib`` is the numpy or the torch module. Integer inputs are promoted to
        floats; the result has the coordinates' dtype and broadcast shape, even for
        an expression without variables. Out-of-domain values (``log(-1)``) give NaN,
        which numpy reports silently.
        """
        if len(coords) != len(self.variables):
            raise ValueError(
                f"expected {len(self.variables)} coordinate arrays for {self.variables}, got {len(coords)}"
            )
        coords = _as_float_arrays(coords, lib)
        with np.errstate(all="ignore") if lib is np else contextlib.nullcontext():
            if isinstance(self._root, float):
                # Not full_like: torch refuses values beyond float32's range there,
                # while addition rounds them to inf like every other operation.
                result = lib.zeros_like(coords[0]) + self._root
            else:
                result = self._root(_Frame(lib, coords))
            if lib is not np and not result.requires_grad and any(coord.requires_grad for coord in coords):
                # A constant (or where(x < 0, 1, 2)) still depends on the coordinates, with
                # gradient zero: backward() needs the graph. 0 * inf would be NaN, so
                # infinite coordinates are swapped out first.
                result = result + lib.where(lib.isfinite(coords[0]), coords[0], 0.0) * 0.0
            return result

    def __reduce__(self) -> tuple[Any, ...]:
        # Closures cannot be pickled; recompiling the source rebuilds them, which
        # lets expressions cross process boundaries and go through copy.deepcopy.
        return (compile_expression, (self.source, self.variables))


def compile_expression(source: str, variables: tuple[str, ...] = ("x", "y")) -> Expression:
    """Compile ``source`` into an :class:`Expression` of ``variables``.

    Raises :class:`~optviz.errors.ConfigError` with a one-line ``expression: ...``
    message for anything outside the allow-list or the limits; the caller adds the
    file and key path. Raises ValueError for unusable ``variables`` (a caller bug).

    >>> compile_expression("sin(x) * exp(-x**2)", variables=("x",)).variables
    ('x',)
    """
    variables = tuple(variables)
    reserved = set(CONSTANTS) | set(_FUNCTIONS)
    if not variables or len(set(variables)) < len(variables) or any(
        not name.isidentifier() or name in reserved for name in variables
    ):
        raise ValueError(f"variables must be distinct names other than the constants and functions, got {variables!r}")
    if not isinstance(source, str):
        raise ConfigError(f"expression: must be a string, got {quote(source)} ({type(source).__name__})")
    text = _WHITESPACE.sub(" ", source)
    stripped = text.lstrip()
    # The parser refuses leading spaces; columns are reported in the user's text.
    indent = len(text) - len(stripped)
    stripped = stripped.rstrip()
    if not stripped:
        raise ConfigError(f"expression: is empty; write a formula in {', '.join(variables)}")
    if len(source) > MAX_LENGTH:
        raise ConfigError(f"expression: too long ({len(source)} characters; the limit is {MAX_LENGTH})")
    _check_characters(stripped, indent)
    _check_brackets(stripped, indent)
    tree = _parse(stripped, indent)
    compiler = _Compiler(stripped, indent, variables)
    compiler.check_depth(tree.body)
    return Expression(source, variables, compiler.compile(tree.body))


def _check_characters(text: str, indent: int) -> None:
    # The parser refuses these too, but in words (and, for NUL, an exception type)
    # that change between Python versions.
    for index, char in enumerate(text):
        if not char.isprintable():
            column = indent + index + 1
            raise ConfigError(f"expression: non-printable character {quote(char)} is not allowed (column {column})")


def _check_brackets(text: str, indent: int) -> None:
    # Checked before parsing: the tokenizer's own bracket limit is 200 and its
    # message would not name ours.
    depth = 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(
                    f"expression: brackets nested more than {MAX_DEPTH} levels deep (column {indent + index + 1})"
                )
        elif char in ")]}":
            depth -= 1


def _parse(text: str, indent: int) -> ast.Expression:
    try:
        # Invalid escapes in string literals warn while parsing; strings are refused anyway.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(text, mode="eval")
    except SyntaxError as error:
        message = re.sub(r" \(detected at line \d+\)", "", error.msg)
        # The parser gives no column (0 or None) for errors at the end of the input.
        if error.offset:
            raise ConfigError(f"expression: syntax error at column {indent + error.offset}: {message}") from None
        raise ConfigError(f"expression: syntax error at the end: {message}") from None
    except (RecursionError, MemoryError):
        # The length and bracket limits should keep the parser clear of these;
        # other Python versions parse deep nesting differently.
        raise ConfigError(f"expression: nested too deeply to parse (the limit is {MAX_DEPTH} levels)") from None


class _Compiler:
    """Translates a parsed expression into constants and closures, refusing the rest."""

    def __init__(self, text: str, indent: int, variables: tuple[str, ...]) -> None:
        self.text = text
        self.indent = indent
        self.variables = variables

    # -- locating and reporting ---------------------------------------------

    def column(self, node: _Located) -> int:
        """1-based column of ``node`` in the user's text (ast counts UTF-8 bytes)."""
        prefix = self.text.encode("utf-8")[: node.col_offset]
        return self.indent + len(prefix.decode("utf-8", errors="ignore")) + 1

    def quote(self, node: _Located) -> str:
        segment = ast.get_source_segment(self.text, node) or ""
        if len(segment) > _LONGEST_QUOTE:
            segment = segment[: _LONGEST_QUOTE - 3] + "..."
        return repr(segment)

    def error(self, node: _Located, message: str, hint: str = "") -> ConfigError:
        """``expression: {message}: '{segment}' (column N)[; hint]``."""
        suffix = f"; {hint}" if hint else ""
        return ConfigError(f"expression: {message}: {self.quote(node)} (column {self.column(node)}){suffix}")

    def refuse_operator(self, node: ast.expr, op: ast.AST) -> ConfigError:
        symbol = _REFUSED_OPERATORS[type(op)]
        return self.error(node, f"operator '{symbol}' is not allowed", _OPERATOR_HINTS.get(symbol, ""))

    def check_depth(self, root: ast.expr) -> None:
        """Refuse trees nested deeper than MAX_DEPTH, walking without recursion."""
        stack = [(root, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise ConfigError(f"expression: nested more than {MAX_DEPTH} levels deep (column {self.column(node)})")
            for child in ast.iter_child_nodes(node):
                stack.append((child, depth + isinstance(child, ast.expr)))

    # -- compiling ------------------------------------------------------------

    def compile(self, node: ast.expr) -> _Node:
        if isinstance(node, ast.Constant):
            return self.number(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Compare):
            hint = "comparisons go in where(condition, if_true, if_false)"
            raise self.error(node, "comparison is not allowed here", hint)
        if isinstance(node, ast.BoolOp):
            raise self.refuse_operator(node, node.op)
        # Node types newer than this table (t-strings in 3.14) are refused too.
        construct = _REFUSED_CONSTRUCTS.get(type(node), type(node).__name__)
        raise self.error(node, f"{construct} is not allowed", _CONSTRUCT_HINTS.get(type(node), ""))

    def number(self, node: ast.Constant) -> float:
        value = node.value
        if type(value) not in (int, float):
            raise self.error(node, f"{_REFUSED_LITERALS[type(value)]} is not allowed")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if math.isinf(number):
            raise ConfigError(
                f"expression: number {self.quote(node)} is too large for a float (column {self.column(node)})"
            )
        return number

    def name(self, node: ast.Name) -> _Node:
        if node.id in self.variables:
            index = self.variables.index(node.id)
            return lambda frame: frame.coords[index]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in _FUNCTIONS:
            raise self.error(node, f"function '{node.id}' must be called", f"write {node.id}(...)")
        raise ConfigError(
            f"expression: unknown name {quote(node.id)} (column {self.column(node)}); "
            f"the variables are {', '.join(self.variables)} and the constants {', '.join(CONSTANTS)}"
        )

    def binary(self, node: ast.BinOp) -> _Node:
        function = _BINARY_OPERATORS.get(type(node.op))
        if function is None:
            raise self.refuse_operator(node, node.op)
        left, right = self.compile(node.left), self.compile(node.right)
        if isinstance(left, float) and isinstance(right, float):
            return self.fold(node, function, left, right)
        return _combine(function, left, right)

    def unary(self, node: ast.UnaryOp) -> _Node:
        function = _UNARY_OPERATORS.get(type(node.op))
        if function is None:
            raise self.refuse_operator(node, node.op)
        operand = self.compile(node.operand)
        if isinstance(operand, float):
            return self.fold(node, function, operand)
        return lambda frame: function(operand(frame))

    def call(self, node: ast.Call) -> _Node:
        if not isinstance(node.func, ast.Name):
            # Report what is being called first: 'attribute access' says more than 'call'.
            self.compile(node.func)
            raise self.error(node, "only named functions can be called")
        name = node.func.id
        if name not in _FUNCTIONS:
            raise self.unknown_function(node, name)
        if node.keywords:
            raise self.error(node.keywords[0], "keyword argument is not allowed")
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                raise self.error(argument, "starred argument is not allowed")
        arity = _FUNCTIONS[name].arity
        if len(node.args) != arity:
            plural = "" if arity == 1 else "s"
            raise self.error(node, f"{name} takes {arity} argument{plural}, got {len(node.args)}")
        if name == "where":
            return self.where(*node.args)
        arguments = [self.compile(argument) for argument in node.args]
        function_name = _FUNCTIONS[name].attribute
        if all(isinstance(argument, float) for argument in arguments):
            return self.fold(node, getattr(np, function_name), *arguments)
        kernels = [_argument(argument) for argument in arguments]
        return lambda frame: getattr(frame.lib, function_name)(*(kernel(frame) for kernel in kernels))

    def unknown_function(self, node: ast.Call, name: str) -> ConfigError:
        if name in self.variables or name in CONSTANTS:
            return self.error(node, f"'{name}' is not a function")
        close = difflib.get_close_matches(name, list(_FUNCTIONS), n=1)
        hint = f"did you mean {close[0]}?" if close else f"the functions are {', '.join(sorted(_FUNCTIONS))}"
        return ConfigError(f"expression: unknown function {quote(name)} (column {self.column(node)}); {hint}")

    def where(self, condition_node: ast.expr, true_node: ast.expr, false_node: ast.expr) -> _Node:
        condition = self.condition(condition_node)
        if_true, if_false = self.compile(true_node), self.compile(false_node)
        if isinstance(condition, bool):
            return if_true if condition else if_false
        true_kernel, false_kernel = _argument(if_true), _argument(if_false)
        return lambda frame: frame.lib.where(condition(frame), true_kernel(frame), false_kernel(frame))

    def condition(self, node: ast.expr) -> _Condition:
        """Compile where()'s first argument: a comparison, possibly chained (``0 < x < 1``)."""
        if not isinstance(node, ast.Compare):
            raise self.error(node, "the condition of where must be a comparison", "write e.g. where(x > 0, x, -x)")
        parts: list[_Kernel] = []
        # Every comparator is compiled, so a false constant pair cannot hide an error further on.
        always_false = False
        left = self.compile(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            function = _COMPARISONS.get(type(op))
            if function is None:
                raise self.refuse_operator(node, op)
            right = self.compile(comparator)
            if isinstance(left, float) and isinstance(right, float):
                always_false = always_false or not function(left, right)
            else:
                parts.append(_combine(function, left, right))
            left = right
        if always_false:
            return False
        if not parts:
            return True
        return lambda frame: functools.reduce(frame.lib.logical_and, [part(frame) for part in parts])

    def fold(self, node: ast.expr, function: Callable[..., Any], *operands: float) -> float:
        """Compute a constant sub-expression now, in float64, refusing inf and NaN.

        numpy scalars overflow to inf instead of raising, and Python floats never
        become big integers, so ``9**9**9`` takes microseconds.
        """
        with np.errstate(all="ignore"):
            value = float(function(*(np.float64(operand) for operand in operands)))
        if not math.isfinite(value):
            raise ConfigError(
                f"expression: constant {self.quote(node)} evaluates to {value}, not a finite number "
                f"(column {self.column(node)})"
            )
        return value


def _combine(function: Callable[[Any, Any], Any], left: _Node, right: _Node) -> _Kernel:
    """A closure applying an operator; a constant operand stays a Python float so it never upcasts float32."""
    if isinstance(left, float):
        return lambda frame: function(left, right(frame))
    if isinstance(right, float):
        return lambda frame: function(left(frame), right)
    return lambda frame: function(left(frame), right(frame))


def _argument(node: _Node) -> _Kernel:
    """A closure for a function argument; a constant becomes a 0-d array, since torch.minimum takes tensors only."""
    if isinstance(node, float):
        return lambda frame: frame.constant(node)
    return node


def _as_float_arrays(coords: tuple[Any, ...], lib: Any) -> tuple[Any, ...]:
    """Coordinates as floating arrays of one broadcast shape, so every result has that shape."""
    if lib is np:
        arrays = [np.asarray(coord) for coord in coords]
        arrays = [array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64) for array in arrays]
        return tuple(np.broadcast_arrays(*arrays))
    tensors = [lib.as_tensor(coord) for coord in coords]
    tensors = [tensor if tensor.is_floating_point() else tensor.to(lib.get_default_dtype()) for tensor in tensors]
    return tuple(lib.broadcast_tensors(*tensors))
