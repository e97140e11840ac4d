"""Every registered test function against its listed minima, domain and both array libraries."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from optviz.errors import ConfigError
from optviz.problems.functions import function_names, get_function

NAMES = function_names()
WITH_MINIMA = [name for name in NAMES if get_function(name).minima]

# One case per known minimum: (function name, index into minima), id "peaks-1-local".
MINIMA_CASES = [
    pytest.param(name, index, id=f"{name}-{index}-{minimum.kind}")
    for name in NAMES
    for index, minimum in enumerate(get_function(name).minima)
]


def _at(name: str, point, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Value and gradient of function ``name`` at one point, via autograd."""
    p = torch.tensor(point, dtype=dtype, requires_grad=True)
    value = get_function(name)(p)
    value.backward()
    return value.detach(), p.grad


@pytest.mark.parametrize("name, index", MINIMA_CASES)
def test_value_at_minimum_matches_listed_value(name, index):
    minimum = get_function(name).minima[index]
    value, _ = _at(name, minimum.point)
    assert value.item() == pytest.approx(minimum.value, abs=1e-6)


@pytest.mark.parametrize("name, index", MINIMA_CASES)
def test_gradient_vanishes_at_minimum(name, index):
    _, gradient = _at(name, get_function(name).minima[index].point)
    assert torch.linalg.norm(gradient).item() < 1e-5


@pytest.mark.parametrize("name, index", MINIMA_CASES)
def test_small_perturbations_never_go_lower(name, index):
    function = get_function(name)
    centre = torch.tensor(function.minima[index].point, dtype=torch.float64)
    generator = torch.Generator().manual_seed(index)
    directions = torch.randn(256, function.dim, generator=generator, dtype=torch.float64)
    directions /= torch.linalg.norm(directions, dim=-1, keepdim=True)
    for radius in (1e-4, 1e-3):
        values = function(centre + radius * directions)
        assert values.min().item() >= function(centre).item() - 1e-12


@pytest.mark.parametrize("name", WITH_MINIMA)
def test_global_minima_come_first_and_give_min_value(name):
    function = get_function(name)
    kinds = [minimum.kind for minimum in function.minima]
    assert set(kinds) <= {"global", "local"}
    assert kinds == sorted(kinds, key=lambda kind: kind != "global")
    assert function.global_minima
    assert function.min_value == min(minimum.value for minimum in function.global_minima)


@pytest.mark.parametrize("name", WITH_MINIMA)
def test_global_minimum_is_below_every_grid_value(name):
    function = get_function(name)
    values = function.grid(resolution=200)[-1]
    assert values.min() >= function.min_value - 1e-9


@pytest.mark.parametrize("name", WITH_MINIMA)
def test_minima_lie_inside_domain(name):
    function = get_function(name)
    for minimum in function.minima:
        assert len(minimum.point) == function.dim
        for coordinate, (low, high) in zip(minimum.point, function.domain):
            assert low <= coordinate <= high


@pytest.mark.parametrize("name", NAMES)
def test_torch_and_numpy_agree_on_grid(name):
    function = get_function(name)
    *axes, values = function.grid(resolution=50)
    points = np.stack(axes, axis=-1) if function.dim == 2 else axes[0][:, None]
    torch_values = function(torch.from_numpy(points)).numpy()
    np.testing.assert_allclose(torch_values, values, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_grid_shapes(name):
    function = get_function(name)
    arrays = function.grid(resolution=30)
    assert len(arrays) == function.dim + 1
    assert all(array.shape == (30,) * function.dim for array in arrays)
    assert arrays[0].min() == function.domain[0][0] and arrays[0].max() == function.domain[0][1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("batch_shape", [(), (7,), (3, 4)], ids=["single", "batch", "grid"])
@pytest.mark.parametrize("name", NAMES)
def test_torch_batches_keep_shape_dtype_and_gradients(name, batch_shape, dtype):
    function = get_function(name)
    low, high = torch.tensor(function.domain, dtype=dtype).T
    generator = torch.Generator().manual_seed(0)
    unit = torch.rand(*batch_shape, function.dim, generator=generator, dtype=dtype)
    points = (low + unit * (high - low)).requires_grad_(True)
    values = function(points)
    assert values.shape == batch_shape
    assert values.dtype == dtype
    values.sum().backward()
    assert points.grad.shape == points.shape
    assert torch.isfinite(points.grad).all()


@pytest.mark.parametrize("batch_shape", [(), (7,), (3, 4)], ids=["single", "batch", "grid"])
@pytest.mark.parametrize("name", NAMES)
def test_numpy_batches_keep_shape(name, batch_shape):
    function = get_function(name)
    values = function(np.zeros((*batch_shape, function.dim)))
    assert np.shape(values) == batch_shape


def test_lists_evaluate_with_numpy():
    assert float(get_function("rosenbrock")([1, 1])) == 0.0


def test_wrong_trailing_dimension_is_rejected():
    with pytest.raises(ValueError, match=r"rosenbrock takes points of shape \(\.\.\., 2\), got \(3,\)"):
        get_function("rosenbrock")(np.zeros(3))


def test_ackley_gradient_at_origin_is_zero_not_nan():
    _, gradient = _at("ackley", (0.0, 0.0), dtype=torch.float32)
    assert torch.equal(gradient, torch.zeros(2))


@pytest.mark.parametrize(
    "spelling, name",
    [
        ("Rosenbrock", "rosenbrock"),
        ("PEAKS", "peaks"),
        ("six-hump-camel", "six_hump_camel"),
        ("Three-Hump_Camel", "three_hump_camel"),
    ],
)
def test_get_function_ignores_case_and_dashes(spelling, name):
    assert get_function(spelling).name == name


def test_unknown_name_lists_closest_names():
    with pytest.raises(ConfigError) as error:
        get_function("peeks")
    assert str(error.value) == "unknown function 'peeks'; did you mean peaks, peaks1d?"


def test_unknown_name_without_close_match_lists_all_names():
    with pytest.raises(ConfigError) as error:
        get_function("zzz")
    assert str(error.value) == "unknown function 'zzz'; valid: " + ", ".join(NAMES)


def test_function_names_are_sorted_and_complete():
    assert NAMES == sorted(NAMES)
    assert {"quadratic", "peaks", "peaks1d", "rosenbrock", "himmelblau", "saddle"} <= set(NAMES)


def test_nearest_minimum_finds_each_himmelblau_minimum():
    function = get_function("himmelblau")
    points = np.array([minimum.point for minimum in function.minima])
    indices, distances = function.nearest_minimum(points)
    np.testing.assert_array_equal(indices, [0, 1, 2, 3])
    np.testing.assert_array_equal(distances, [0.0, 0.0, 0.0, 0.0])


def test_nearest_minimum_keeps_batch_shape():
    indices, distances = get_function("himmelblau").nearest_minimum(np.full((2, 3, 2), 2.0))
    assert indices.shape == distances.shape == (2, 3)
    assert (indices == 0).all()
    np.testing.assert_array_equal(distances, np.ones((2, 3)))


def test_nearest_minimum_without_minima():
    function = get_function("saddle")
    indices, distances = function.nearest_minimum(np.zeros((5, 2)))
    np.testing.assert_array_equal(indices, np.full(5, -1))
    assert np.isnan(distances).all()
    assert function.min_value is None
    assert function.global_minima == ()


@pytest.mark.parametrize("name", NAMES)
def test_to_dict_is_json_ready(name):
    function = get_function(name)
    data = json.loads(json.dumps(function.to_dict()))
    assert data["name"] == name
    assert data["dim"] == function.dim
    assert data["domain"] == [list(bounds) for bounds in function.domain]
    assert [tuple(minimum["point"]) for minimum in data["minima"]] == [m.point for m in function.minima]
    assert set(data) == {"name", "dim", "domain", "minima", "formula", "log_scale", "description", "hessian"}
    assert data["hessian"] == (None if function.hessian is None else [list(row) for row in function.hessian])


QUADRATICS = [name for name in NAMES if get_function(name).hessian is not None]


def test_the_quadratics_declare_their_hessian():
    assert {"quadratic", "ill_conditioned", "booth", "matyas", "least_squares", "noisy_quadratic"} <= set(QUADRATICS)


@pytest.mark.parametrize("name", QUADRATICS)
def test_a_declared_hessian_is_the_formula_s_autograd_hessian(name):
    function = get_function(name)
    box = np.asarray(function.domain)
    for share in (0.2, 0.5, 0.9):
        point = torch.tensor(box[:, 0] + share * (box[:, 1] - box[:, 0]), dtype=torch.float64)
        hessian = torch.autograd.functional.hessian(lambda p: function(p), point)
        np.testing.assert_allclose(hessian.numpy(), np.array(function.hessian), rtol=1e-12, atol=1e-12)
