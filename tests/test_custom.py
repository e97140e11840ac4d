"""Custom functions: a formula in the config or a callable by import path, checked before anything runs."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from images import assert_animation, figure_pixels
import optviz
from optviz import ConfigError, config_from_dict
from optviz.config import FunctionSpec
from optviz.problems import resolve_function
from optviz.cli import cli
from optviz.problems import nonfinite_region
from optviz.problems import function_of

PEAKS = "3*(1-x)**2*exp(-x**2-(y+1)**2) - 10*(x/5 - x**3 - y**5)*exp(-x**2-y**2) - exp(-(x+1)**2-y**2)/3"

SURFACES = '''
import torch


def bowl(x, y):
    """A bowl centred on (1, -1)."""
    return (x - 1) ** 2 + 2 * (y + 1) ** 2


bowl.domain = [[-3, 3], [-3, 3]]
bowl.minima = [[1, -1]]


def wave(x, lib):
    return lib.cos(3 * x) + x**2 / 4


def torch_only(x, y):
    return torch.exp(-(x**2) - y**2) * -1.0


def numpy_inside(x, y):
    import numpy
    return numpy.exp(x) + y


def three(a, b, c):
    return a + b + c


def shapeless(*coordinates):
    return sum(value**2 for value in coordinates)


not_callable = 42
'''


@pytest.fixture
def surfaces(tmp_path):
    (tmp_path / "surfaces.py").write_text(textwrap.dedent(SURFACES))
    return tmp_path


def build(function, start=(0.5, 0.5), base_dir=None, **extra):
    data = {"function": function, "start": list(start), "steps": 20, "dtype": "float64",
            "optimizers": [{"name": "Adam", "lr": 0.05}], **extra}
    return config_from_dict(data, source="x.yaml", base_dir=base_dir)


def error_of(function, **keywords) -> str:
    with pytest.raises(ConfigError) as caught:
        function_of(build(function, **keywords))
    return str(caught.value)


def test_an_expression_is_the_registered_function_it_spells():
    custom = function_of(build({"expr": PEAKS, "domain": [[-3, 3], [-3, 3]], "minima": [{"point": [0.228, -1.626]}]}))
    peaks = optviz.get_function("peaks")
    points = np.random.default_rng(0).uniform(-3, 3, (50, 2))
    np.testing.assert_allclose(custom(points), peaks(points), rtol=1e-12)
    tensor = torch.tensor(points, requires_grad=True)
    custom(tensor).sum().backward()
    expected = torch.tensor(points, requires_grad=True)
    peaks(expected).sum().backward()
    torch.testing.assert_close(tensor.grad, expected.grad)
    assert (custom.name, custom.dim, custom.domain) == ("custom", 2, ((-3.0, 3.0), (-3.0, 3.0)))
    # The value of a minimum is computed where the config leaves it out.
    (minimum,) = custom.minima
    assert minimum.kind == "global" and minimum.value == pytest.approx(float(peaks(np.array([0.228, -1.626]))))


def test_a_custom_run_equals_the_same_run_on_the_registered_function():
    custom = optviz.run(build({"expr": PEAKS, "domain": [[-3, 3], [-3, 3]]}))
    registered = optviz.run(build("peaks"))
    np.testing.assert_allclose(custom["Adam"].positions, registered["Adam"].positions, rtol=1e-12)


@pytest.mark.parametrize("minima,kinds", [
    ([{"point": [1, 1]}, {"point": [0, 0]}], ["global", "local"]),  # value computed: f(1,1)=0 < f(0,0)=1
    ([{"point": [0, 0], "value": -5}], ["global"]),  # a given value is kept
    ([{"point": [0, 0], "kind": "local"}, {"point": [1, 1]}], ["local", "global"]),
], ids=["computed", "given-value", "given-kind"])
def test_minima_kinds_follow_their_values(minima, kinds):
    function = function_of(build({"expr": "(1-x)**2 + 100*(y-x**2)**2", "domain": [[-2, 2], [-1, 3]], "minima": minima,
                      "log_scale": True, "name": "banana"}))
    assert [minimum.kind for minimum in function.minima] == kinds
    assert function.log_scale and function.name == "banana"


def test_a_one_dimensional_formula_and_the_top_level_domain():
    function = function_of(build({"expr": "x**4 - 3*x**2 + x"}, start=[1.5], domain=[[-2.5, 2.5]]))
    assert function.dim == 1 and function.domain == ((-2.5, 2.5),)
    assert "unknown name 'y'" in error_of({"expr": "x + y", "domain": [[-1, 1]]}, start=[0.5])


@pytest.mark.parametrize("function,message", [
    ({"expr": "x + y"}, "x.yaml: function.domain: a formula needs a domain: [[x_low, x_high], [y_low, y_high]], "
                        "or [[x_low, x_high]] for a function of x alone"),
    ({"expr": "x + y", "domain": [[-1, 1], [-1, 1]], "dim": 1}, "x.yaml: function.domain: must be 1 [low, high] pair, "
                                                               "got [[-1.0, 1.0], [-1.0, 1.0]]"),
    ({"expr": "x + y", "domain": [[-1, 1], [-1, 1], [0, 1]]},
     "x.yaml: function.domain: must be [[x_low, x_high]] for a 1D function or [[x_low, x_high], [y_low, y_high]] for "
     "a 2D one, got [[-1.0, 1.0], [-1.0, 1.0], [0.0, 1.0]]"),
    ({"expr": "sqrt(-1 - x**2 - y**2)", "domain": [[-1, 1], [-1, 1]]},
     "x.yaml: function.expr: is not a finite number anywhere on the domain [[-1.0, 1.0], [-1.0, 1.0]]; "
     "check the formula and the domain"),
    ({"expr": "x**2", "domain": [[-1, 1], [-1, 1]], "minima": [{"point": [0, 0], "value": float("inf")}]},
     "x.yaml: function.minima[0].value: must be finite, got inf"),
    ({"expr": "lambda: 0", "domain": [[-1, 1], [-1, 1]]}, "x.yaml: function.expr: lambda is not allowed: 'lambda: 0' (column 1)"),
], ids=["no-domain", "dim-vs-domain", "three-pairs", "never-finite", "infinite-minimum", "lambda"])
def test_expression_errors(function, message):
    assert error_of(function) == message


def test_an_imported_callable_with_attributes(surfaces):
    function = function_of(build("surfaces.py:bowl", base_dir=surfaces))
    assert (function.name, function.dim, function.domain) == ("bowl", 2, ((-3.0, 3.0), (-3.0, 3.0)))
    assert function.minima == (optviz.problems.functions.Minimum((1.0, -1.0), 0.0, "global"),)
    assert function.description == "A bowl centred on (1, -1)."
    # The config's keys win over the callable's attributes.
    named = build({"import": "surfaces.py:bowl", "domain": [[0, 2], [-2, 0]], "name": "b"}, base_dir=surfaces)
    assert function_of(named).domain == ((0.0, 2.0), (-2.0, 0.0)) and function_of(named).name == "b"
    result = optviz.run(build("surfaces.py:bowl", base_dir=surfaces, steps=300, optimizers=[{"name": "Adam", "lr": 0.1}]))
    np.testing.assert_allclose(result["Adam"].final_position[0], [1, -1], atol=1e-3)


def test_a_lib_callable_gets_numpy_for_grids_and_torch_for_gradients(surfaces):
    function = function_of(build({"import": "surfaces.py:wave", "domain": [[-2, 2]]}, start=[1.0], base_dir=surfaces))
    xs = np.linspace(-2, 2, 7)[:, None]
    np.testing.assert_allclose(function(xs), np.cos(3 * xs[:, 0]) + xs[:, 0] ** 2 / 4)
    assert function.dim == 1


def test_a_torch_only_callable_still_draws_a_numpy_grid(surfaces):
    function = function_of(build({"import": "surfaces.py:torch_only", "domain": [[-2, 2], [-2, 2]]}, base_dir=surfaces))
    grid_x, grid_y, values = function.grid(resolution=5)
    assert isinstance(values, np.ndarray) and values.shape == (5, 5)
    np.testing.assert_allclose(values, -np.exp(-(grid_x**2) - grid_y**2))


def test_registered_functions_and_test_functions_import_as_themselves():
    function = function_of(build({"import": "optviz.problems.functions:rosenbrock", "name": "banana"}))
    rosenbrock = optviz.get_function("rosenbrock")
    assert (function.name, function.domain, function.minima, function.log_scale) == (
        "banana", rosenbrock.domain, rosenbrock.minima, True)


@pytest.mark.parametrize("function,message", [
    ({"import": "surfaces.py:numpy_inside", "domain": [[-1, 1], [-1, 1]]},
     "x.yaml: function.import: function numpy_inside raised RuntimeError: Can't call numpy() on Tensor that requires "
     "grad. Use tensor.detach().numpy() instead. (called on torch tensors of shape (3,) that require grad)"),
    ({"import": "surfaces.py:three", "domain": [[-1, 1], [-1, 1]]},
     "x.yaml: function.import: three takes 3 coordinates (a, b, c); optviz draws functions of 1 or 2"),
    ({"import": "surfaces.py:bowl", "dim": 1}, "x.yaml: function.import: bowl takes 2 coordinate argument(s) (x, y) "
                                               "but the function is 1D"),
    ({"import": "surfaces.py:shapeless", "domain": [[-1, 1], [-1, 1]]},
     "x.yaml: function.import: cannot tell how many coordinates shapeless takes; give function.dim (1 or 2)"),
    ({"import": "surfaces.py:torch_only"}, "x.yaml: function.domain: torch_only needs a domain: give function.domain, "
                                           "e.g. [[-3, 3], [-3, 3]], or set torch_only.domain"),
    ("surfaces.py:not_callable", "x.yaml: function: 'surfaces.py:not_callable' is a int, not a function"),
    ("surfaces.py:bwol", "x.yaml: function: cannot import 'surfaces.py:bwol': module has no attribute 'bwol'; "
                         "did you mean bowl?"),
], ids=["numpy-on-tensors", "three-coordinates", "dim-mismatch", "star-args", "no-domain", "not-callable", "typo"])
def test_import_errors(surfaces, function, message):
    assert error_of(function, base_dir=surfaces) == message


def test_a_star_args_callable_with_a_dim_runs(surfaces):
    function = function_of(build({"import": "surfaces.py:shapeless", "domain": [[-1, 1], [-1, 1]], "dim": 2},
                     base_dir=surfaces))
    assert float(function(np.array([3.0, 4.0]))) == 25.0


def test_a_relative_file_import_is_written_absolute_so_animate_finds_it(surfaces, tmp_path, monkeypatch):
    (surfaces / "custom.yaml").write_text("function: surfaces.py:bowl\nstart: [-2, 2]\nsteps: 10\noptimizers: [Adam]\n")
    monkeypatch.chdir(tmp_path.parent)  # neither the config's folder nor the run's
    result = CliRunner().invoke(cli, ["run", str(surfaces / "custom.yaml"), "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "config.yaml").read_text().startswith(f"function: {surfaces.resolve() / 'surfaces.py'}:bowl\n")
    animated = CliRunner().invoke(cli, ["animate", str(tmp_path / "run"), "--frames", "3", "-q"])
    assert animated.exit_code == 0, animated.output
    render = optviz.load_config(tmp_path / "run" / "config.yaml").render
    assert_animation(tmp_path / "run" / "animation.gif", 3, figure_pixels(render.size, render.dpi))


def test_the_config_round_trips_with_its_function_mapping():
    config = build({"expr": "x**2 + y**2", "domain": [[-1, 1], [-1, 1]], "minima": [{"point": [0, 0]}]})
    data = config.to_dict()
    assert data["function"] == {"expr": "x**2 + y**2", "domain": [[-1.0, 1.0], [-1.0, 1.0]],
                                "minima": [{"point": [0.0, 0.0]}]}
    assert config_from_dict(data).to_dict() == data


def test_a_file_module_runs_once_per_config(surfaces):
    (surfaces / "counted.py").write_text("import builtins\nbuiltins.optviz_loads = getattr(builtins, 'optviz_loads', 0) + 1\n"
                                        "def f(x, y):\n    return x**2 + y**2\nf.domain = [[-1, 1], [-1, 1]]\n")
    import builtins

    config = build("counted.py:f", base_dir=surfaces)
    optviz.run(config)
    function_of(config)
    assert builtins.optviz_loads == 1
    del builtins.optviz_loads


@pytest.mark.parametrize("expr,domain,fraction,box", [
    ("log(x) + y", [[-1, 1], [-1, 1]], 0.6, ((-1.0, 0.0), (-1.0, 1.0))),  # log(0) is -inf too
    ("1/x", [[-1, 1]], 0.2, ((0.0, 0.0),)),
    ("x**2 + y**2", [[-1, 1], [-1, 1]], None, None),
], ids=["half-plane", "pole", "finite"])
def test_where_a_function_is_not_finite(expr, domain, fraction, box):
    function = function_of(build({"expr": expr, "domain": domain}, start=[0.5] * len(domain)))
    region = nonfinite_region(function, domain, resolution=5)
    if fraction is None:
        assert region is None
    else:
        assert (region.fraction, region.box) == (fraction, box)


def test_a_constant_formula_has_a_zero_gradient():
    config = build({"expr": "pi", "domain": [[-1, 1], [-1, 1]]}, start=[[0.5, 0.5], [-0.5, 0.25]])
    points = torch.tensor([[0.5, 0.5], [float("inf"), 0.0]], requires_grad=True)
    function_of(config)(points).sum().backward()
    assert points.grad.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    trajectory = optviz.run(config)["Adam"]
    np.testing.assert_array_equal(trajectory.positions[:, -1], [[0.5, 0.5], [-0.5, 0.25]])
    np.testing.assert_allclose(trajectory.loss, np.pi)


def test_a_piecewise_constant_formula_has_a_zero_gradient():
    function = function_of(build({"expr": "where(x < 0, 1, 2)", "domain": [[-1, 1], [-1, 1]]}))
    points = torch.tensor([[-0.5, 0.5], [0.5, 0.0]], requires_grad=True)
    values = function(points)
    values.sum().backward()
    assert values.tolist() == [1.0, 2.0] and points.grad.tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_a_declared_quadratic_keeps_its_hessian_and_finds_its_minimum():
    function = resolve_function(FunctionSpec(expr="x**2 + 10*y**2 + x - 2*y", domain=[[-2, 2], [-1, 1]],
                                             hessian=[[2, 0], [0, 20]]))
    assert function.hessian == ((2.0, 0.0), (0.0, 20.0))
    (minimum,) = function.minima
    np.testing.assert_allclose(minimum.point, (-0.5, 0.1), atol=1e-12)
    assert minimum.value == pytest.approx(-0.25 - 0.1, abs=1e-12)
    given = resolve_function(FunctionSpec(expr="x**2 + 10*y**2", domain=[[-2, 2], [-1, 1]], hessian=[[2, 0], [0, 20]],
                                          minima=[{"point": [0, 0]}]))
    assert [minimum.point for minimum in given.minima] == [(0.0, 0.0)]  # the config's own minima win
