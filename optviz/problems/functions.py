"""Registry of 1D/2D optimization test functions, each with its domain and known minima.

Every formula is written once as ``fn(x, lib)`` or ``fn(x, y, lib)``, where ``lib`` is
either ``numpy`` (contour grids) or ``torch`` (batched tensors with autograd). torch
is imported only when a tensor is evaluated, so importing this module stays cheap.

>>> f = get_function("rosenbrock")
>>> float(f([1.0, 1.0]))
0.0
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, NamedTuple

import numpy as np

from ..errors import ConfigError, quote

Array = Any  # a numpy array or a torch tensor; kept loose so torch need not be imported
Domain = tuple[tuple[float, float], ...]


class Minimum(NamedTuple):
    """A known minimum: where it is, its value, and whether it is "global" or "local"."""

    point: tuple[float, ...]
    value: float
    kind: str = "global"


@dataclass(frozen=True)
class TestFunction:
    """A named test function of ``dim`` variables with its plot domain and known minima.

    Call it with a numpy array (or list) or a torch tensor of shape ``(..., dim)``;
    it returns values of shape ``(...)`` in the same library and dtype.
    """

    # Stops pytest from trying to collect this class when a test module imports it.
    __test__ = False

    name: str
    dim: int
    domain: Domain
    minima: tuple[Minimum, ...]
    formula: str
    log_scale: bool
    description: str
    fn: Callable[..., Array] = field(repr=False, compare=False)
    # A finite sum's terms (optviz.problems.sums.FiniteSum): minibatches of them give noisy gradients.
    terms: Any = field(default=None, repr=False, compare=False)
    # The constant Hessian of a quadratic (rows of dim numbers), so that figures can draw what theory
    # predicts there (optviz.results.theory); None for every function that is not quadratic.
    hessian: tuple[tuple[float, ...], ...] | None = None

    def __call__(self, p: Array) -> Array:
        """Evaluate at points ``p`` of shape ``(..., dim)``; returns shape ``(...)``."""
        lib, p = _array_library(p)
        if p.shape[-1:] != (self.dim,):
            raise ValueError(f"{self.name} takes points of shape (..., {self.dim}), got {tuple(p.shape)}")
        return self.fn(*(p[..., axis] for axis in range(self.dim)), lib)

    def grid(self, domain: Domain | None = None, resolution: int = 200) -> tuple[np.ndarray, ...]:
        """Sample on a regular numpy grid: 1D gives ``(xs, values)``, 2D gives ``(X, Y, Z)``.

        The 2D arrays come from ``np.meshgrid`` (shape ``(resolution, resolution)``,
        x along columns), ready for ``ax.contour(X, Y, Z)``.
        """
        axes = [np.linspace(low, high, resolution) for low, high in (domain or self.domain)]
        if self.dim == 1:
            return axes[0], self(axes[0][:, None])
        grid_x, grid_y = np.meshgrid(*axes)
        return grid_x, grid_y, self(np.stack([grid_x, grid_y], axis=-1))

    @property
    def global_minima(self) -> tuple[Minimum, ...]:
        """The minima marked "global"."""
        return tuple(minimum for minimum in self.minima if minimum.kind == "global")

    @property
    def min_value(self) -> float | None:
        """The smallest known minimum value, or None when the function has no minimum."""
        return min((minimum.value for minimum in self.minima), default=None)

    def nearest_minimum(self, points: Any) -> tuple[np.ndarray, np.ndarray]:
        """For points of shape ``(..., dim)``, the index into ``minima`` of the closest
        known minimum and the Euclidean distance to it, each of shape ``(...)``.

        Without known minima the index is -1 and the distance nan.
        """
        points = np.asarray(points, dtype=float)
        batch_shape = points.shape[:-1]
        if not self.minima:
            return np.full(batch_shape, -1, dtype=int), np.full(batch_shape, np.nan)
        centres = np.array([minimum.point for minimum in self.minima])
        with np.errstate(over="ignore", invalid="ignore"):  # a diverged point is just far away (inf)
            distances = np.linalg.norm(points[..., None, :] - centres, axis=-1)
        nearest = np.argmin(distances, axis=-1)
        return nearest, np.take_along_axis(distances, nearest[..., None], axis=-1)[..., 0]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (everything except the callable)."""
        return {
            "name": self.name,
            "dim": self.dim,
            "domain": [list(bounds) for bounds in self.domain],
            "minima": [
                {"point": list(minimum.point), "value": minimum.value, "kind": minimum.kind}
                for minimum in self.minima
            ],
            "formula": self.formula,
            "log_scale": self.log_scale,
            "description": self.description,
            "hessian": None if self.hessian is None else [list(row) for row in self.hessian],
        }


def _array_library(p: Any) -> tuple[ModuleType, Array]:
    """Return ``(lib, p)``: numpy with ``p`` as a float array, or torch with ``p`` unchanged."""
    if type(p).__module__.startswith("torch"):
        import torch

        return torch, p
    array = np.asarray(p)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(float)
    return np, array


_REGISTRY: dict[str, TestFunction] = {}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def register(
    name: str,
    *,
    dim: int,
    domain: Domain,
    minima: tuple[Minimum, ...] = (),
    formula: str,
    log_scale: bool = False,
    description: str = "",
    terms: Any = None,
    hessian: tuple[tuple[float, ...], ...] | None = None,
) -> Callable[[Callable[..., Array]], Callable[..., Array]]:
    """Decorator registering ``fn(x, lib)`` (dim 1) or ``fn(x, y, lib)`` (dim 2) under ``name``.

    The formula is returned unchanged, so other formulas can build on it;
    ``get_function(name)`` gives the registered ``TestFunction``. ``hessian`` declares a
    quadratic's constant Hessian (``((8.0,),)`` for 4x^2).
    """

    def decorator(fn: Callable[..., Array]) -> Callable[..., Array]:
        key = _normalise(name)
        if key in _REGISTRY:
            raise ValueError(f"test function {key!r} is already registered")
        _REGISTRY[key] = TestFunction(
            name=key,
            dim=dim,
            domain=tuple((float(low), float(high)) for low, high in domain),
            minima=tuple(minima),
            formula=formula,
            log_scale=log_scale,
            description=description,
            fn=fn,
            terms=terms,
            hessian=None if hessian is None else tuple(tuple(float(value) for value in row) for row in hessian),
        )
        return fn

    return decorator


def get_function(name: str) -> TestFunction:
    """The test function registered as ``name`` (case-insensitive, '-' or '_').

    Raises ``ConfigError`` naming the closest valid names when there is none.
    """
    key = _normalise(name)
    if key in _REGISTRY:
        return _REGISTRY[key]
    names = function_names()
    closest = difflib.get_close_matches(key, names)
    if closest:
        raise ConfigError(f"unknown function {quote(name)}; did you mean " + ", ".join(closest) + "?")
    raise ConfigError(f"unknown function {quote(name)}; valid: " + ", ".join(names))


def function_names() -> list[str]:
    """All registered names, sorted."""
    return sorted(_REGISTRY)


# --- The functions -------------------------------------------------------------------
# Minima were found by Newton's method in float64 from a 61x61 grid of starts over each
# domain (gradient norm < 1e-11 there) and are given to 12 decimals. Local minima are
# listed where there are few, for basin-of-attraction maps; the many ripples of
# rastrigin, ackley, levi13 and easom are left out.
# Powers above 3 are written with squares and cubes: torch has fast kernels for ** 2 and
# ** 3 only, and a generic ** 4 or ** 5 costs as much as 35 multiplies (twice: the
# backward takes the power below), which dominated batched runs over many starts.


@register(
    "quadratic",
    dim=1,
    domain=((-3, 3),),
    minima=(Minimum((0.0,), 0.0),),
    formula="4 x^2",
    description="The parabola y = (2x)^2: the simplest convex bowl.",
    hessian=((8.0,),),
)
def quadratic(x: Array, lib: ModuleType) -> Array:
    return 4.0 * x**2


@register(
    "peaks",
    dim=2,
    domain=((-3, 3), (-3, 3)),
    minima=(
        Minimum((0.228278920556, -1.625534957500), -6.551133332836),
        Minimum((-1.347396244368, 0.204518866097), -3.049849402800, "local"),
        Minimum((0.296445553847, 0.320196247667), -0.064935868256, "local"),
    ),
    formula="3(1-x)^2 e^(-x^2-(y+1)^2) - 10(x/5 - x^3 - y^5) e^(-x^2-y^2) - e^(-(x+1)^2-y^2)/3",
    description="MATLAB's peaks: three maxima and three minima of different depths.",
)
def peaks(x: Array, y: Array, lib: ModuleType) -> Array:
    return (
        3.0 * (1.0 - x) ** 2 * lib.exp(-(x**2) - (y + 1.0) ** 2)
        - 10.0 * (x / 5.0 - x**3 - y * (y**2) ** 2) * lib.exp(-(x**2) - y**2)
        - lib.exp(-((x + 1.0) ** 2) - y**2) / 3.0
    )


@register(
    "peaks1d",
    dim=1,
    domain=((-3, 3),),
    minima=(
        Minimum((-1.590777795463,), -1.252689652888),
        Minimum((0.437829961567,), 0.352436710105, "local"),
    ),
    formula="peaks(x, -0.5)",
    description="A slice of MATLAB's peaks at y = -0.5: a 1D curve with several local minima.",
)
def peaks1d(x: Array, lib: ModuleType) -> Array:
    return peaks(x, -0.5, lib)


@register(
    "rosenbrock",
    dim=2,
    domain=((-2, 2), (-1, 3)),
    minima=(Minimum((1.0, 1.0), 0.0),),
    formula="(1-x)^2 + 100(y-x^2)^2",
    log_scale=True,
    description="Rosenbrock's banana: a curved, flat-bottomed valley leading to (1, 1).",
)
def rosenbrock(x: Array, y: Array, lib: ModuleType) -> Array:
    return (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2


@register(
    "beale",
    dim=2,
    domain=((-4.5, 4.5), (-4.5, 4.5)),
    minima=(Minimum((3.0, 0.5), 0.0),),
    formula="(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
    log_scale=True,
    description="Beale: flat plateaus and sharp ridges around a minimum at (3, 0.5).",
)
def beale(x: Array, y: Array, lib: ModuleType) -> Array:
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


@register(
    "himmelblau",
    dim=2,
    domain=((-5, 5), (-5, 5)),
    minima=(
        Minimum((3.0, 2.0), 0.0),
        Minimum((-2.805118086953, 3.131312518251), 0.0),
        Minimum((-3.779310253378, -3.283185991286), 0.0),
        Minimum((3.584428340330, -1.848126526964), 0.0),
    ),
    formula="(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
    log_scale=True,
    description="Himmelblau: four equally deep minima, so the start decides which one is found.",
)
def himmelblau(x: Array, y: Array, lib: ModuleType) -> Array:
    return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2


@register(
    "rastrigin",
    dim=2,
    domain=((-5.12, 5.12), (-5.12, 5.12)),
    minima=(Minimum((0.0, 0.0), 0.0),),
    formula="20 + x^2 - 10 cos(2 pi x) + y^2 - 10 cos(2 pi y)",
    description="Rastrigin: a bowl covered in a regular grid of local minima.",
)
def rastrigin(x: Array, y: Array, lib: ModuleType) -> Array:
    return 20.0 + x**2 - 10.0 * lib.cos(2.0 * math.pi * x) + y**2 - 10.0 * lib.cos(2.0 * math.pi * y)


def _radius(x: Array, y: Array, lib: ModuleType) -> Array:
    """sqrt(x^2 + y^2) with gradient 0 (not nan) at the origin.

    The plain sqrt has an infinite derivative at 0, which autograd turns into nan;
    0 is a valid subgradient of the cone there. The inner ``where`` keeps the sqrt
    away from 0 so that the branch not taken cannot leak a nan into the gradient.
    """
    squared = x**2 + y**2
    at_origin = squared == 0.0
    return lib.where(at_origin, 0.0, lib.sqrt(lib.where(at_origin, 1.0, squared)))


@register(
    "ackley",
    dim=2,
    domain=((-5, 5), (-5, 5)),
    minima=(Minimum((0.0, 0.0), 0.0),),
    formula="-20 e^(-0.2 sqrt((x^2+y^2)/2)) - e^((cos 2 pi x + cos 2 pi y)/2) + e + 20",
    description="Ackley: a nearly flat, bumpy outer region around a deep funnel at the origin.",
)
def ackley(x: Array, y: Array, lib: ModuleType) -> Array:
    return (
        -20.0 * lib.exp(-0.2 * math.sqrt(0.5) * _radius(x, y, lib))
        - lib.exp(0.5 * (lib.cos(2.0 * math.pi * x) + lib.cos(2.0 * math.pi * y)))
        + math.e
        + 20.0
    )


@register(
    "booth",
    dim=2,
    domain=((-10, 10), (-10, 10)),
    minima=(Minimum((1.0, 3.0), 0.0),),
    formula="(x + 2y - 7)^2 + (2x + y - 5)^2",
    log_scale=True,
    description="Booth: a tilted convex quadratic with its minimum at (1, 3).",
    hessian=((10.0, 8.0), (8.0, 10.0)),
)
def booth(x: Array, y: Array, lib: ModuleType) -> Array:
    return (x + 2.0 * y - 7.0) ** 2 + (2.0 * x + y - 5.0) ** 2


@register(
    "matyas",
    dim=2,
    domain=((-10, 10), (-10, 10)),
    minima=(Minimum((0.0, 0.0), 0.0),),
    formula="0.26(x^2 + y^2) - 0.48xy",
    log_scale=True,
    description="Matyas: a convex quadratic with a long diagonal valley.",
    hessian=((0.52, -0.48), (-0.48, 0.52)),
)
def matyas(x: Array, y: Array, lib: ModuleType) -> Array:
    return 0.26 * (x**2 + y**2) - 0.48 * x * y


@register(
    "three_hump_camel",
    dim=2,
    domain=((-2.5, 2.5), (-2.5, 2.5)),
    minima=(
        Minimum((0.0, 0.0), 0.0),
        Minimum((1.747552345830, -0.873776172915), 0.298638442237, "local"),
        Minimum((-1.747552345830, 0.873776172915), 0.298638442237, "local"),
    ),
    formula="2x^2 - 1.05x^4 + x^6/6 + xy + y^2",
    log_scale=True,
    description="Three-hump camel: a global minimum at the origin flanked by two local ones.",
)
def three_hump_camel(x: Array, y: Array, lib: ModuleType) -> Array:
    return 2.0 * x**2 - 1.05 * (x**2) ** 2 + (x**2) ** 3 / 6.0 + x * y + y**2


@register(
    "six_hump_camel",
    dim=2,
    domain=((-2, 2), (-1.2, 1.2)),
    minima=(
        Minimum((0.089842013100, -0.712656403021), -1.031628453490),
        Minimum((-0.089842013100, 0.712656403021), -1.031628453490),
        Minimum((1.703606714970, -0.796083568673), -0.215463824384, "local"),
        Minimum((-1.703606714970, 0.796083568673), -0.215463824384, "local"),
        Minimum((1.607104752920, 0.568651454884), 2.104250310311, "local"),
        Minimum((-1.607104752920, -0.568651454884), 2.104250310311, "local"),
    ),
    formula="(4 - 2.1x^2 + x^4/3)x^2 + xy + (4y^2 - 4)y^2",
    description="Six-hump camel: two global and four local minima.",
)
def six_hump_camel(x: Array, y: Array, lib: ModuleType) -> Array:
    return (4.0 - 2.1 * x**2 + (x**2) ** 2 / 3.0) * x**2 + x * y + (4.0 * y**2 - 4.0) * y**2


@register(
    "goldstein_price",
    dim=2,
    domain=((-2, 2), (-2, 2)),
    minima=(
        Minimum((0.0, -1.0), 3.0),
        Minimum((-0.6, -0.4), 30.0, "local"),
        Minimum((1.8, 0.2), 84.0, "local"),
        Minimum((1.2, 0.8), 840.0, "local"),
    ),
    formula="[1 + (x+y+1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]"
    " [30 + (2x-3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]",
    log_scale=True,
    description="Goldstein-Price: values spanning six orders of magnitude, minimum 3 at (0, -1).",
)
def goldstein_price(x: Array, y: Array, lib: ModuleType) -> Array:
    first = 1.0 + (x + y + 1.0) ** 2 * (19.0 - 14.0 * x + 3.0 * x**2 - 14.0 * y + 6.0 * x * y + 3.0 * y**2)
    second = 30.0 + (2.0 * x - 3.0 * y) ** 2 * (
        18.0 - 32.0 * x + 12.0 * x**2 + 48.0 * y - 36.0 * x * y + 27.0 * y**2
    )
    return first * second


@register(
    "easom",
    dim=2,
    # The usual [-100, 100]^2 would show a flat sheet: the hole is about 2 wide.
    domain=((0, 6), (0, 6)),
    minima=(Minimum((math.pi, math.pi), -1.0),),
    formula="-cos x cos y e^(-((x-pi)^2 + (y-pi)^2))",
    description="Easom: a flat plane with one narrow hole at (pi, pi).",
)
def easom(x: Array, y: Array, lib: ModuleType) -> Array:
    return -lib.cos(x) * lib.cos(y) * lib.exp(-((x - math.pi) ** 2) - (y - math.pi) ** 2)


@register(
    "levi13",
    dim=2,
    domain=((-4, 6), (-4, 6)),
    minima=(Minimum((1.0, 1.0), 0.0),),
    formula="sin^2(3 pi x) + (x-1)^2 (1 + sin^2(3 pi y)) + (y-1)^2 (1 + sin^2(2 pi y))",
    description="Levi N.13: ripples of many local minima around a global one at (1, 1).",
)
def levi13(x: Array, y: Array, lib: ModuleType) -> Array:
    return (
        lib.sin(3.0 * math.pi * x) ** 2
        + (x - 1.0) ** 2 * (1.0 + lib.sin(3.0 * math.pi * y) ** 2)
        + (y - 1.0) ** 2 * (1.0 + lib.sin(2.0 * math.pi * y) ** 2)
    )


@register(
    "mccormick",
    dim=2,
    domain=((-1.5, 4), (-3, 4)),
    # Exact: the gradient vanishes where x - y = 1 and cos(x + y) = -1/2; minima are
    # the points with sin(x + y) < 0, i.e. x + y = -2pi/3 + 2k pi (k = 0, 1 in the domain).
    minima=(
        Minimum((0.5 - math.pi / 3, -0.5 - math.pi / 3), -math.sqrt(3) / 2 - math.pi / 3),
        Minimum((0.5 + 2 * math.pi / 3, -0.5 + 2 * math.pi / 3), 2 * math.pi / 3 - math.sqrt(3) / 2, "local"),
    ),
    formula="sin(x + y) + (x - y)^2 - 1.5x + 2.5y + 1",
    description="McCormick: a tilted bowl bent by a sine along the diagonal.",
)
def mccormick(x: Array, y: Array, lib: ModuleType) -> Array:
    return lib.sin(x + y) + (x - y) ** 2 - 1.5 * x + 2.5 * y + 1.0


@register(
    "styblinski_tang",
    dim=2,
    domain=((-5, 5), (-5, 5)),
    minima=(
        Minimum((-2.903534027771, -2.903534027771), -78.332331407543),
        Minimum((-2.903534027771, 2.746802770991), -64.195612359055, "local"),
        Minimum((2.746802770991, -2.903534027771), -64.195612359055, "local"),
        Minimum((2.746802770991, 2.746802770991), -50.058893310568, "local"),
    ),
    formula="(x^4 - 16x^2 + 5x + y^4 - 16y^2 + 5y) / 2",
    description="Styblinski-Tang: one global and three local minima in the corners.",
)
def styblinski_tang(x: Array, y: Array, lib: ModuleType) -> Array:
    return 0.5 * ((x**2) ** 2 - 16.0 * x**2 + 5.0 * x + (y**2) ** 2 - 16.0 * y**2 + 5.0 * y)


@register(
    "saddle",
    dim=2,
    domain=((-2, 2), (-2, 2)),
    formula="x^2 - y^2",
    description="A saddle point at the origin; unbounded below, so there is no minimum.",
)
def saddle(x: Array, y: Array, lib: ModuleType) -> Array:
    return x**2 - y**2


@register(
    "ill_conditioned",
    dim=2,
    domain=((-2, 2), (-1, 1)),
    minima=(Minimum((0.0, 0.0), 0.0),),
    formula="(x^2 + 100y^2) / 2",
    log_scale=True,
    description="An ill-conditioned quadratic (condition number 100): a narrow valley along x.",
    hessian=((1.0, 0.0), (0.0, 100.0)),
)
def ill_conditioned(x: Array, y: Array, lib: ModuleType) -> Array:
    return 0.5 * (x**2 + 100.0 * y**2)
