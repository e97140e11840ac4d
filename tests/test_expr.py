"""Tests for optviz.expr: user formulas compile from an allow-list and run on numpy and torch."""

from __future__ import annotations

import ast
import copy
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optviz.errors import ConfigError
from optviz.problems.expr import ALLOWED_FUNCTIONS, MAX_DEPTH, MAX_LENGTH, Expression, compile_expression

PEAKS = "3*(1-x)**2*exp(-x**2-(y+1)**2) - 10*(x/5 - x**3 - y**5)*exp(-x**2-y**2) - 1/3*exp(-(x+1)**2 - y**2)"


def peaks(x, y, lib):
    """MATLAB's peaks surface, written by hand as the reference."""
    return (
        3 * (1 - x) ** 2 * lib.exp(-(x**2) - (y + 1) ** 2)
        - 10 * (x / 5 - x**3 - y**5) * lib.exp(-(x**2) - y**2)
        - 1 / 3 * lib.exp(-((x + 1) ** 2) - y**2)
    )


# -- numbers ------------------------------------------------------------------


def test_peaks_matches_numpy_formula_on_a_grid():
    x, y = np.meshgrid(np.linspace(-3, 3, 41), np.linspace(-3, 3, 37))
    surface = compile_expression(PEAKS).evaluate(x, y, lib=np)
    assert surface.shape == (37, 41)
    np.testing.assert_allclose(surface, peaks(x, y, np), rtol=1e-12, atol=1e-12)


def test_peaks_matches_torch_formula_and_its_gradient():
    points = torch.tensor([[0.0, 0.0], [0.5, -1.5], [-1.2, 2.0], [2.5, 0.3]], dtype=torch.float64, requires_grad=True)
    value = compile_expression(PEAKS)(points)
    (gradient,) = torch.autograd.grad(value.sum(), points)

    reference_points = points.detach().clone().requires_grad_(True)
    reference = peaks(reference_points[:, 0], reference_points[:, 1], torch)
    (reference_gradient,) = torch.autograd.grad(reference.sum(), reference_points)

    assert value.shape == (4,) and value.dtype == torch.float64
    torch.testing.assert_close(value, reference)
    torch.testing.assert_close(gradient, reference_gradient)


def test_peaks_gradient_matches_central_differences():
    surface = compile_expression(PEAKS)
    point = torch.tensor([0.7, -0.4], dtype=torch.float64, requires_grad=True)
    (gradient,) = torch.autograd.grad(surface(point), point)
    step = 1e-6
    for axis in range(2):
        offset = np.zeros(2)
        offset[axis] = step
        base = point.detach().numpy()
        difference = (surface(base + offset) - surface(base - offset)) / (2 * step)
        assert gradient[axis].item() == pytest.approx(difference, rel=1e-6)


def test_one_variable_expressions():
    parabola = compile_expression("(x - 1)**2 + sin(3*x)", variables=("x",))
    points = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(parabola(points[:, None]), (points - 1) ** 2 + np.sin(3 * points))
    np.testing.assert_allclose(parabola.evaluate(points, lib=np), (points - 1) ** 2 + np.sin(3 * points))

    start = torch.tensor([[0.25]], dtype=torch.float64, requires_grad=True)
    (gradient,) = torch.autograd.grad(parabola(start).sum(), start)
    assert gradient.item() == pytest.approx(2 * (0.25 - 1) + 3 * np.cos(0.75))


def test_y_is_unknown_in_one_dimension():
    with pytest.raises(ConfigError) as error:
        compile_expression("x + y", variables=("x",))
    assert str(error.value) == "expression: unknown name 'y' (column 5); the variables are x and the constants pi, e"


@pytest.mark.parametrize("lib", [np, torch], ids=["numpy", "torch"])
def test_float32_stays_float32(lib):
    surface = compile_expression("pi*x**2 + e*exp(-y) + 2.5 + max(x, 0.1) + where(x > 0, 1, -1)")
    points = lib.ones((5, 2), dtype=lib.float32)
    assert surface(points).dtype == lib.float32


@pytest.mark.parametrize("lib", [np, torch], ids=["numpy", "torch"])
@pytest.mark.parametrize("source", ["5", "2*pi", "where(1 < 2, 3, x)", "1 + 0*x"])
def test_results_broadcast_to_the_batch_shape(lib, source):
    points = lib.zeros((3, 4, 2), dtype=lib.float64)
    result = compile_expression(source)(points)
    assert tuple(result.shape) == (3, 4)


def test_evaluate_broadcasts_separate_coordinates():
    x, y = np.linspace(0, 1, 5)[:, None], np.linspace(0, 1, 3)[None, :]
    np.testing.assert_allclose(compile_expression("x").evaluate(x, y, lib=np), np.broadcast_to(x, (5, 3)))
    assert compile_expression("7").evaluate(x, y, lib=np).shape == (5, 3)


def test_integer_inputs_are_promoted_to_floats():
    assert compile_expression("x / 2 + y").evaluate(np.array([1]), np.array([0]), lib=np).tolist() == [0.5]
    assert compile_expression("x / 2 + y")(torch.tensor([1, 0])).dtype == torch.get_default_dtype()


@pytest.mark.parametrize("name", sorted(ALLOWED_FUNCTIONS))
def test_every_function_agrees_between_numpy_and_torch(name):
    arity = ALLOWED_FUNCTIONS[name]
    if name == "where":
        source = "where(x < y, x, y)"
    else:
        source = f"{name}({', '.join(['x', 'y'][:arity])})"
    # Inside every function's domain (arcsin, log, ...).
    x, y = np.array([0.3, -0.6, 0.9]), np.array([0.5, 0.2, -0.4])
    expected = compile_expression(source).evaluate(np.abs(x), y, lib=np)
    actual = compile_expression(source).evaluate(torch.tensor(np.abs(x)), torch.tensor(y), lib=torch)
    np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-12)


def test_where_min_max_mix_constants_and_tensors_and_keep_gradients():
    surface = compile_expression("where(-1 < x < 1, min(x, 0.5) + max(2, y), 0)")
    points = torch.tensor([[0.9, 3.0], [0.2, 1.0], [2.0, 1.0]], dtype=torch.float64, requires_grad=True)
    value = surface(points)
    (gradient,) = torch.autograd.grad(value.sum(), points)
    assert value.tolist() == [3.5, 2.2, 0.0]
    assert gradient.tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]


def test_constant_conditions_are_decided_at_compile_time():
    points = np.array([[1.0, 2.0]])
    assert compile_expression("where(1 < 2 < 3, x, y)")(points).tolist() == [1.0]
    assert compile_expression("where(2 <= 1, x, y)")(points).tolist() == [2.0]
    assert compile_expression("where(0 < 1 < x + 1, 10, y)")(points).tolist() == [10.0]
    with pytest.raises(ConfigError, match="unknown name 'z'"):
        compile_expression("where(2 < 1 < z, x, y)")


def test_out_of_domain_values_are_nan_without_warnings():
    surface = compile_expression("log(x) + sqrt(y)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = surface(np.array([[-1.0, 1.0], [1.0, -1.0], [1.0, 4.0]]))
    assert np.isnan(values[:2]).all() and values[2] == 2.0


def test_whitespace_and_newlines_from_yaml_block_scalars_are_spaces():
    surface = compile_expression("\tx**2 +\n  y**2\u00a0\n")
    assert surface(np.array([3.0, 4.0])) == 25.0
    assert surface.source == "\tx**2 +\n  y**2\u00a0\n"


def test_expressions_pickle_and_copy_by_recompiling():
    surface = compile_expression("x*y + 1", variables=("x", "y"))
    for clone in (pickle.loads(pickle.dumps(surface)), copy.deepcopy(surface)):
        assert clone == surface
        assert clone(np.array([2.0, 3.0])) == 7.0


def test_numpy_evaluation_does_not_import_torch():
    script = (
        "import sys, numpy as np\n"
        "from optviz.problems.expr import compile_expression\n"
        "compile_expression('x + y')(np.ones((2, 2)))\n"
        "assert 'torch' not in sys.modules\n"
    )
    # `python -c` puts its working directory first on sys.path.
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[1])


def test_wrong_point_shapes_and_variables_are_caller_bugs():
    with pytest.raises(ValueError, match=r"points must have shape \(\.\.\., 2\)"):
        compile_expression("x + y")(np.ones((4, 3)))
    with pytest.raises(ValueError, match="expected 2 coordinate arrays"):
        compile_expression("x + y").evaluate(np.ones(3), lib=np)
    for variables in [(), ("x", "x"), ("pi",), ("exp",), ("1x",)]:
        with pytest.raises(ValueError, match="variables must be distinct names"):
            compile_expression("1", variables=variables)


# -- refusals -----------------------------------------------------------------

FUNCTION_LIST = (
    "abs, acos, arccos, arcsin, arctan, asin, atan, cos, cosh, exp, log, log10, log2, "
    "max, min, sign, sin, sinh, sqrt, square, tan, tanh, where"
)

REFUSED = [
    ("__import__('os').system('ls')", "attribute access is not allowed: \"__import__('os').system\" (column 1)"),
    ("__import__('os')", f"unknown function '__import__' (column 1); the functions are {FUNCTION_LIST}"),
    ("eval('1')", f"unknown function 'eval' (column 1); the functions are {FUNCTION_LIST}"),
    ("exec('x')", f"unknown function 'exec' (column 1); the functions are {FUNCTION_LIST}"),
    ("x.real", "attribute access is not allowed: 'x.real' (column 1)"),
    ("().__class__.__bases__", "attribute access is not allowed: '().__class__.__bases__' (column 1)"),
    ("x[0]", "indexing is not allowed: 'x[0]' (column 1)"),
    ("lambda: 1", "lambda is not allowed: 'lambda: 1' (column 1)"),
    ("(lambda: 1)()", "lambda is not allowed: 'lambda: 1' (column 2)"),
    ("(x + 1)(2)", "only named functions can be called: '(x + 1)(2)' (column 1)"),
    ("x(2)", "'x' is not a function: 'x(2)' (column 1)"),
    ("[x for x in y]", "comprehension is not allowed: '[x for x in y]' (column 1)"),
    ("[x, y]", "list is not allowed: '[x, y]' (column 1)"),
    ("x, y", "tuple is not allowed: 'x, y' (column 1)"),
    ("'abc'", "string is not allowed: \"'abc'\" (column 1)"),
    ("b'abc'", "bytes is not allowed: \"b'abc'\" (column 1)"),
    ('f"{x}"', "f-string is not allowed: 'f\"{x}\"' (column 1)"),
    ("z + 1", "unknown name 'z' (column 1); the variables are x, y and the constants pi, e"),
    ("x + é", "unknown name 'é' (column 5); the variables are x, y and the constants pi, e"),
    ("é + zz", "unknown name 'é' (column 1); the variables are x, y and the constants pi, e"),
    ("x*é*zz", "unknown name 'é' (column 3); the variables are x, y and the constants pi, e"),
    ("exp", "function 'exp' must be called: 'exp' (column 1); write exp(...)"),
    ("exp2(x)", "unknown function 'exp2' (column 1); did you mean exp?"),
    ("1 + sinn(y)", "unknown function 'sinn' (column 5); did you mean sin?"),
    ("exp(x, y)", "exp takes 1 argument, got 2: 'exp(x, y)' (column 1)"),
    ("max(x)", "max takes 2 arguments, got 1: 'max(x)' (column 1)"),
    ("exp(x=1)", "keyword argument is not allowed: 'x=1' (column 5)"),
    ("exp(*x)", "starred argument is not allowed: '*x' (column 5)"),
    (
        "x if y else 1",
        "conditional expression is not allowed: 'x if y else 1' (column 1); use where(condition, if_true, if_false)",
    ),
    ("x // 2", "operator '//' is not allowed: 'x // 2' (column 1)"),
    ("x % 2", "operator '%' is not allowed: 'x % 2' (column 1)"),
    ("x & y", "operator '&' is not allowed: 'x & y' (column 1)"),
    ("x ^ 2", "operator '^' is not allowed: 'x ^ 2' (column 1); use ** for powers"),
    ("~x", "operator '~' is not allowed: '~x' (column 1)"),
    ("x and y", "operator 'and' is not allowed: 'x and y' (column 1); nest where(...) calls instead"),
    (
        "x > 0",
        "comparison is not allowed here: 'x > 0' (column 1); comparisons go in where(condition, if_true, if_false)",
    ),
    (
        "where(x, 1, 0)",
        "the condition of where must be a comparison: 'x' (column 7); write e.g. where(x > 0, x, -x)",
    ),
    (
        "where(x == 0, 1, 0)",
        "operator '==' is not allowed: 'x == 0' (column 7); compare with <, <=, > or >=",
    ),
    ("True", "boolean is not allowed: 'True' (column 1)"),
    ("None", "None is not allowed: 'None' (column 1)"),
    ("...", "ellipsis is not allowed: '...' (column 1)"),
    ("1j", "complex number is not allowed: '1j' (column 1)"),
    ("(x := 2)", "assignment expression is not allowed: 'x := 2' (column 2)"),
    ("await x", "await is not allowed: 'await x' (column 1)"),
    ("(yield)", "yield is not allowed: 'yield' (column 2)"),
    ("", "is empty; write a formula in x, y"),
    ("     ", "is empty; write a formula in x, y"),
    ("x" * 5000, f"too long (5000 characters; the limit is {MAX_LENGTH})"),
    ("(" * 100_000, f"too long (100000 characters; the limit is {MAX_LENGTH})"),
    ("(" * 200 + "x" + ")" * 200, f"brackets nested more than {MAX_DEPTH} levels deep (column 51)"),
    ("-" * 60 + "x", f"nested more than {MAX_DEPTH} levels deep (column 51)"),
    ("x**" * 600 + "x", f"nested more than {MAX_DEPTH} levels deep (column 151)"),
    ("9**9**9", "constant '9**9**9' evaluates to inf, not a finite number (column 1)"),
    ("x + 10**400", "constant '10**400' evaluates to inf, not a finite number (column 5)"),
    ("2**10000", "constant '2**10000' evaluates to inf, not a finite number (column 1)"),
    ("1/0", "constant '1/0' evaluates to inf, not a finite number (column 1)"),
    ("log(0)", "constant 'log(0)' evaluates to -inf, not a finite number (column 1)"),
    ("x*sqrt(-1)", "constant 'sqrt(-1)' evaluates to nan, not a finite number (column 3)"),
    ("x**1e400", "number '1e400' is too large for a float (column 4)"),
    ("1" * 400, f"number '{'1' * 57}...' is too large for a float (column 1)"),
    ("x +", "syntax error at the end: invalid syntax"),
    ("x y", "syntax error at column 3: invalid syntax"),
    ("  exp(x", "syntax error at column 6: '(' was never closed"),
    ("'abc", "syntax error at column 1: unterminated string literal"),
    ("x\x00", "non-printable character '\\x00' is not allowed (column 2)"),
    ("x + \x7f", "non-printable character '\\x7f' is not allowed (column 5)"),
]


@pytest.mark.parametrize(("source", "message"), REFUSED, ids=[repr(source[:24]) for source, _ in REFUSED])
def test_refused_with_exact_message(source, message):
    with pytest.raises(ConfigError) as error:
        compile_expression(source)
    assert str(error.value) == f"expression: {message}"


def test_non_string_sources_are_refused():
    with pytest.raises(ConfigError) as error:
        compile_expression(5)  # type: ignore[arg-type]
    assert str(error.value) == "expression: must be a string, got 5 (int)"


def test_parser_recursion_is_reported_as_the_depth_limit(monkeypatch):
    def overflow(*args, **kwargs):
        raise RecursionError

    monkeypatch.setattr(ast, "parse", overflow)
    with pytest.raises(ConfigError) as error:
        compile_expression("x")
    assert str(error.value) == f"expression: nested too deeply to parse (the limit is {MAX_DEPTH} levels)"


def test_the_caller_adds_file_and_key_path():
    with pytest.raises(ConfigError) as error:
        compile_expression("x.real")
    located = error.value.with_context(source="configs/a.yaml", path_prefix="function.expr")
    assert str(located) == (
        "configs/a.yaml: function.expr: expression: attribute access is not allowed: 'x.real' (column 1)"
    )


# -- properties ---------------------------------------------------------------


def compile_or_refuse(source: str) -> Expression | None:
    """The only outcomes allowed: an Expression, or a one-line ConfigError."""
    try:
        return compile_expression(source)
    except ConfigError as error:
        assert str(error).startswith("expression: ") and "\n" not in str(error)
        return None


TOKENS = [
    "x", "y", "z", "pi", "e", "0", "1", "2.5", "9", "1e308", "400", "(", ")", ",", "+", "-", "*", "/", "**",
    "//", "%", "<", ">=", "==", ".", "[", "]", "'s'", "lambda", ":", "if", "else", "and", "not", "=", ":=",
    "exp", "log", "sqrt", "min", "where", "eval", "__import__", "__class__", "\n", " ", "\\", "#", "{", "}",
]  # fmt: skip

LEAVES = st.sampled_from(["x", "y", "pi", "e", "0", "1", "2.5", "9", "400", "1e308", "-3"])
OPERATORS = st.sampled_from(["+", "-", "*", "/", "**", "<", ">=", "//", "."])
FUNCTIONS = st.sampled_from([*ALLOWED_FUNCTIONS, "exp2", "eval"])


def grow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, OPERATORS, children).map(lambda parts: f"({parts[0]} {parts[1]} {parts[2]})"),
        st.tuples(FUNCTIONS, st.lists(children, min_size=1, max_size=3)).map(
            lambda parts: f"{parts[0]}({', '.join(parts[1])})"
        ),
        children.map(lambda child: f"-{child}"),
    )


TREES = st.recursive(LEAVES, grow, max_leaves=40)
PROPERTY = settings(deadline=500, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.text(max_size=300))
def test_any_text_compiles_or_is_refused(source):
    compile_or_refuse(source)


@PROPERTY
@given(st.lists(st.sampled_from(TOKENS), max_size=60).map("".join))
def test_any_token_soup_compiles_or_is_refused(source):
    compile_or_refuse(source)


@PROPERTY
@given(TREES)
def test_compiled_trees_evaluate_on_numpy_and_torch(source):
    expression = compile_or_refuse(source)
    if expression is None:
        return
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 5), np.linspace(-2, 2, 4)), axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert expression(grid).shape == (4, 5)
    points = torch.tensor(grid, dtype=torch.float32, requires_grad=True)
    values = expression(points)
    assert values.shape == (4, 5) and values.dtype == torch.float32
    if values.requires_grad:
        (gradient,) = torch.autograd.grad(values.sum(), points)
        assert gradient.shape == points.shape
