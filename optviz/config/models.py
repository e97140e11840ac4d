"""The config's typed models: what each key may hold, checked by pydantic.

A :class:`Config` is a value: frozen once built, so nothing a notebook edits can go
stale behind a cache. Derive a changed one with ``config.model_copy(update=...)`` or
:func:`optviz.config.with_overrides`; checks and plans are made from it afresh.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, PrivateAttr, Tag,
                      field_validator, model_validator)

from ..errors import quote


def python_object(value: Any) -> bool:
    """Whether ``value`` is a Python object given in place of a name (a class, a function), as a notebook
    may: ``{name: MyOptimizer}``. Such a config runs in the process that holds the object, and
    ``config.yaml`` records it without being able to replay it (:mod:`optviz.load.resolved`)."""
    return not isinstance(value, (str, bytes, int, float, bool, list, tuple, dict, type(None), BaseModel)) and (
        isinstance(value, type) or callable(value))


def object_name(value: Any) -> str:
    """A Python object's name for labels and messages: ``MyOptimizer``, ``bowl``."""
    return str(getattr(value, "__name__", None) or type(value).__name__)


def _name_or_class(kind: str) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, str) or isinstance(value, type):
            return value
        raise ValueError(f"must be a string (the name of {kind}) or, from Python, the class itself, got {quote(value)}")
    return BeforeValidator(check)


# A torch class by name (``Adam``, ``StepLR``), an import path, or from Python the class itself.
OptimizerName = Annotated[Any, _name_or_class("a torch.optim class")]
SchedulerName = Annotated[Any, _name_or_class("a torch.optim.lr_scheduler class")]

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SchedulerSpec(BaseModel):
    """A torch.optim.lr_scheduler class by name; every other key is passed to it."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: SchedulerName
    # When the scheduler steps, for network problems: once per epoch (the seed lesson's
    # StepLR) or once per minibatch step. Not passed to torch. A function run has only steps.
    interval: Literal["epoch", "step"] | None = None

    @property
    def arguments(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ParamGroupSpec(BaseModel):
    """One param group of an optimizer (torch's ``add_param_group``): what it holds and its own settings.

    For a test function, ``dims`` lists the coordinates it holds (0 is x, 1 is y); for a network,
    ``params`` picks parameters by kind or name pattern, as an optimizer's ``params`` does. Every
    other key is a hyperparameter of the optimizer that this group sets for itself, e.g.
    ``{dims: [1], lr: 0.0001}``; what a group leaves out it takes from the optimizer.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    dims: list[int] | None = Field(default=None, min_length=1)
    params: str | None = None

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class OptimizerSpec(BaseModel):
    """One optimizer: ``name``, optional ``label`` and ``scheduler``; other keys are hyperparameters.

    For network problems, ``params`` picks the parameters this optimizer trains (a kind:
    ``all``, ``weights`` (>= 2-D), ``matrices`` (2-D), ``biases`` (1-D), or a pattern over
    parameter names such as ``"fc*.weight"``), and ``rest`` is a second optimizer for the
    parameters not picked: ``{name: Muon, params: matrices, rest: {name: AdamW}}``.

    ``param_groups`` splits what the optimizer trains into param groups with their own
    hyperparameters (:class:`ParamGroupSpec`); what no group holds forms a last group with
    the optimizer's own settings.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    name: OptimizerName
    label: str | None = None
    scheduler: SchedulerSpec | None = None
    params: str | None = None
    rest: "OptimizerSpec | None" = None
    param_groups: list[ParamGroupSpec] | None = Field(default=None, min_length=1)
    # Clip each start's gradient to this norm before every step (torch.nn.utils.clip_grad_norm_'s rule;
    # for a network, the norm over its parameters). Never done unless asked; legends then say so.
    clip_grad_norm: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @property
    def hyperparameters(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def display_label(self) -> str:
        if self.label:
            return self.label
        if not isinstance(self.name, str):
            return object_name(self.name)
        return self.name.rpartition(":")[2] if ":" in self.name else self.name


class GridStart(_Model):
    """``{grid: [nx, ny]}``: evenly spaced starts over the domain or ``box``."""

    grid: list[int]
    box: list[list[float]] | None = None


class RandomStart(_Model):
    """``{random: N, seed: S}``: uniform random starts over the domain or ``box``."""

    random: int = Field(ge=1, le=10_000_000)
    seed: int | None = Field(default=None, ge=0)
    box: list[list[float]] | None = None


class AnimationSpec(_Model):
    enabled: bool = False
    frames: int = Field(default=100, ge=2, le=10_000)
    fps: float = Field(default=10, ge=0.01, le=120)  # a GIF frame lasts at most 655 s
    trail: int | None = Field(default=None, ge=0)
    format: Literal["gif", "mp4"] = "gif"
    # 2d: heads over the contour map (or along the 1D curve); 3d: over the surface (2D functions).
    view: Literal["2d", "3d"] = "2d"
    quiver: bool = False  # arrows of the negative gradient under the 2D race
    internals: bool = False  # arrows of -gradient, momentum and update riding along with each head (2D)


class BasinSpec(_Model):
    """``render.basin``: what colours each start of ``basin.png``."""

    # minimum: which known minimum the start ends within record.tolerance of; final_loss: f at
    # the final point; steps: the step from which it stays within that tolerance.
    colour_by: Literal["minimum", "final_loss", "steps"] = "minimum"


class LandscapeSpec(_Model):
    """``render.landscape``: a network run's loss over a plane through weight space, with every path on it.

    ``directions``: pca (the top two principal components of all optimizers' recorded parameters,
    centred on ``origin``), random (two filter-normalized random directions, Li et al. 2018),
    points (the plane through the three ``points``) or interpolate (1D only: the loss on the lines
    from the initial point to each final point). Points are named ``init``, ``final:<label>`` or
    ``mean-final`` (the mean of all optimizers' final points).
    """

    directions: Literal["pca", "random", "points", "interpolate"] = "pca"
    resolution: int = Field(default=41, ge=3, le=401)  # grid points per axis
    data: Literal["train", "valid"] = "train"  # which split the loss is a full pass over
    seed: int | None = None  # whose paths (and, for random, the directions' seed); default: the first seed
    origin: str = "mean-final"  # pca and random: the plane's origin
    points: list[str] | None = Field(default=None, min_length=3, max_length=3)  # points: [origin, d1 end, d2 end]
    # The grid spans the paths' coordinates (and the origin) widened by margin times their extent on each side;
    # span, when given, is the half-width of a grid centred on the origin instead.
    margin: float = Field(default=0.25, ge=0, le=10, allow_inf_nan=False)
    span: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _points_when_needed(self) -> "LandscapeSpec":
        if self.directions == "points" and self.points is None:
            raise ValueError("directions: points needs points: [three named points], e.g. [init, final:SGD, final:Adam]")
        return self


class InternalsSpec(_Model):
    """``render.internals``: arrows of -gradient, momentum and the update on ``path.png`` at every
    ``every``-th step, with the preconditioner's ellipse (see :mod:`optviz.render.arrows`)."""

    every: int = Field(ge=1, le=1_000_000)


class RenderSpec(_Model):
    # surface is drawn for 2D functions only: a 1D function's curve is path's picture.
    # internals is drawn when the run recorded its optimizers' internals (record.internals).
    figures: list[Literal["loss", "path", "surface", "diagnostics", "internals", "basin"]] = Field(
        default_factory=lambda: ["loss", "path", "surface", "diagnostics", "internals"])
    size: tuple[float, float] = (7.0, 5.5)
    dpi: int = Field(default=110, ge=30, le=600)
    format: Literal["png", "svg", "pdf"] = "png"
    resolution: int = Field(default=300, ge=20, le=2000)
    animation: AnimationSpec = Field(default_factory=AnimationSpec)
    basin: BasinSpec = Field(default_factory=BasinSpec)
    landscape: LandscapeSpec | None = None  # network runs only; off unless asked
    internals: InternalsSpec | None = None  # arrows of what moves each optimizer on path.png; off unless asked
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
    :mod:`optviz.load.record`). ``tolerance`` is the distance to a known minimum within which
    a start has converged (default: 1% of the domain's diagonal).
    """

    every: int | None = Field(default=None, ge=1, le=1_000_000)  # steps is at most 1,000,000
    tolerance: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    # The optimizers' state, gradient and update at each recorded step (optviz.results.internals).
    # Left out: recorded when they fit (optviz.load.budget.internals_choice); true: always; false: never.
    internals: bool | None = None


class MinimumSpec(_Model):
    """A known minimum of a custom function; its value is computed when not given."""

    point: list[float]
    value: float | None = None
    kind: Literal["global", "local"] | None = None


class FunctionSpec(_Model):
    """A custom function: a formula (``expr``) or a Python callable (``import``), with its domain and minima.

    See :mod:`optviz.problems.custom` for how each key is used.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
    expr: str | None = None
    # An import path, or from Python the callable itself (handled exactly as the callable a path names).
    import_: Annotated[Any, BeforeValidator(lambda value: _callable_or_path(value))] = Field(default=None, alias="import")
    name: str | None = None
    dim: Literal[1, 2] | None = None
    domain: list[list[float]] | None = None
    minima: list[MinimumSpec] | None = None
    log_scale: bool | None = None
    # A quadratic's constant Hessian, checked against the formula (optviz.problems.quadratic).
    hessian: list[list[float]] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "FunctionSpec":
        if self.expr is None and self.import_ is None:
            raise KeyedError("function", "a custom function needs 'expr' (a formula in x, y) "
                                          "or 'import' (module:function or file.py:function)")
        if self.expr is not None and self.import_ is not None:
            raise KeyedError("function", "give either 'expr' or 'import', not both")
        return self


def _callable_or_path(value: Any) -> Any:
    if value is None or isinstance(value, str) or python_object(value):
        return value
    raise ValueError(f"must be an import path 'module:function' or 'file.py:function', or from Python the function "
                     f"itself, got {quote(value)}")


def _function_form(value: Any) -> str:
    if isinstance(value, (dict, FunctionSpec)):
        return "Custom"
    return "Object" if python_object(value) else "Name"


# A mapping is a custom function, a Python callable (from a notebook) is used as it is, anything
# else is a name or an import path; picking the member up front keeps pydantic from reporting
# the other members' complaints.
FunctionField = Annotated[
    Union[Annotated[str, Tag("Name")], Annotated[FunctionSpec, Tag("Custom")], Annotated[Any, Tag("Object")]],
    Discriminator(_function_form),
]


class NoiseSpec(_Model):
    """``noise:``: what makes a test function's gradient stochastic (see :mod:`optviz.problems.noise`).

    ``kind`` adds noise to every gradient: ``gaussian`` (N(0, scale^2) per coordinate),
    ``student_t`` (scale times a Student t with ``df`` degrees of freedom: heavy tails) or
    ``uniform`` (U(-scale, scale)); ``relative: true`` multiplies it by the gradient's norm.
    ``batch_size`` takes each gradient from a minibatch of a finite-sum function's terms
    (``least_squares``, ``noisy_quadratic``) instead of all of them. Either or both.

    The noise depends only on (noise seed, start index, step): never on the optimizer, nor on
    how many starts run. ``seeds: K`` runs every start under K noise seeds, ``seed``,
    ``seed + 1``, ... ``seed + K - 1``.
    """

    kind: Literal["gaussian", "student_t", "uniform"] | None = None
    scale: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    relative: bool = False
    df: int = Field(default=3, ge=1, le=100)  # student_t only
    batch_size: int | None = Field(default=None, ge=1, le=1_000_000)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    seeds: int = Field(default=1, ge=1, le=1000)

    @model_validator(mode="after")
    def _something_noisy(self) -> "NoiseSpec":
        if self.kind is None and self.batch_size is None:
            raise ValueError("needs kind (gaussian, student_t or uniform) with a scale, or batch_size "
                             "(minibatches of a finite-sum function), or both")
        if self.kind is not None and self.scale is None:
            raise ValueError(f"kind {self.kind} needs a scale, e.g. noise: {{kind: {self.kind}, scale: 0.5}}")
        if self.kind is None and self.scale is not None:
            raise ValueError("scale needs a kind: gaussian, student_t or uniform")
        return self

    @property
    def noise_seeds(self) -> list[int]:
        """The K noise seeds, ``seed`` to ``seed + seeds - 1``."""
        return list(range(self.seed, self.seed + self.seeds))


class ProblemSpec(_Model):
    """``problem:``: a network trained on data, in place of a test function (see :mod:`optviz.problems.network`).

    ``data`` is a data set's name (``digits``, ``moons``, ...), a mapping ``{name: moons,
    noise: 0.2}`` with the generator's arguments, or ``{npz: file.npz}`` / ``{csv: file.csv,
    target: column}``. ``model`` is a name (``mlp``), a mapping ``{name: mlp, hidden: [32],
    activation: relu}``, or an import path ``file.py:Class`` with ``{name: ..., args: {...}}``.
    """

    data: str | dict[str, Any]
    model: str | dict[str, Any] = "mlp"
    loss: Literal["cross_entropy", "mse"] | None = None  # default from the task
    batch_size: int = Field(default=16, ge=1, le=1_000_000)
    epochs: int = Field(default=10, ge=1, le=100_000)
    valid: float = Field(default=0.2, gt=0, lt=1)


class Config(_Model):
    """A whole optviz run. Build it from a dict or a YAML file (:func:`load_config`)."""

    function: FunctionField | None = None
    domain: list[list[float]] | None = None
    start: StartSpec = Field(default_factory=lambda: RandomStart(random=1))
    steps: int = Field(default=100, ge=1, le=1_000_000)
    seed: int = Field(default=0, ge=0)
    dtype: Literal["float32", "float64"] = "float32"
    optimizers: list[OptimizerSpec] = Field(min_length=1)
    record: RecordSpec = Field(default_factory=RecordSpec)
    render: RenderSpec = Field(default_factory=RenderSpec)
    # Keys to sweep and their values (see optviz.sweep); checked there, after the rest.
    sweep: dict[str, Any] | None = None
    # A network trained on data (exactly one of function and problem), the seeds it is
    # trained from (each seed: its own split, initial weights and batch order) and where.
    problem: ProblemSpec | None = None
    seeds: list[Annotated[int, Field(ge=0)]] | None = Field(default=None, min_length=1, max_length=1000)
    device: Literal["cpu", "cuda"] = "cpu"
    # exact: torch.optim's own steps, bit for bit as a plain loop. fused: f, its gradient and the
    # step through torch.compile, for huge basin maps; not bit-exact (see README, "The fused engine").
    engine: Literal["exact", "fused"] = "exact"
    # Gradient noise and minibatches for a test function (a network's noise is its minibatches).
    noise: NoiseSpec | None = None
    # Where relative import paths (path/to/opt.py:Class) are looked up: the config's folder.
    # Set by optviz.config.config_model when the config is built, and kept by model_copy.
    _base_dir: Path | None = PrivateAttr(default=None)

    @field_validator("function", mode="before")
    @classmethod
    def _function_kind(cls, value: Any) -> Any:
        if not isinstance(value, (str, dict, FunctionSpec)) and not python_object(value):
            raise KeyedError("function", "must be a function name (see `optviz list functions`), an import path "
                                          f"'module:function' or a mapping with 'expr' or 'import', got {quote(value)}")
        return value

    @model_validator(mode="after")
    def _one_problem(self) -> "Config":
        if self.function is None and self.problem is None:
            raise KeyedError("function", "required key is missing; name a test function (see `optviz list functions`) "
                                          "or give {expr: ..., domain: ...}")
        if self.function is not None and self.problem is not None:
            raise KeyedError("problem", "give either 'function' (a test function) or 'problem' (a network on data), "
                                         "not both")
        return self

    @property
    def figure_note(self) -> str | None:
        """What every figure of the run writes along its bottom: ``render.note``, and on the fused
        engine that its numbers are not torch.optim's own, bit for bit."""
        fused = "engine: fused (torch.compile): not bit for bit torch.optim's own loop" if self.engine == "fused" else None
        return " · ".join(part for part in (self.render.note, fused) if part) or None

    @property
    def run_seeds(self) -> list[int]:
        """``seeds``, or ``[seed]`` when only ``seed`` is given."""
        return list(self.seeds) if self.seeds else [self.seed]

    @model_validator(mode="after")
    def _unique_labels(self) -> "Config":
        seen: dict[str, int] = {}
        for index, spec in enumerate(self.optimizers):
            label = spec.display_label
            if label in seen:
                raise KeyedError(f"optimizers[{index}].label",
                                  f"duplicate label {quote(label)} (also optimizers[{seen[label]}]); give each optimizer a unique label")
            seen[label] = index
        return self

    @property
    def base_dir(self) -> Path | None:
        return self._base_dir

    @property
    def labels(self) -> list[str]:
        return [spec.display_label for spec in self.optimizers]

    def to_dict(self) -> dict[str, Any]:
        """The config as plain data (JSON types), as YAML would give it; import paths as written.

        Python objects (a notebook's optimizer class or function) stay the objects themselves, so
        the data validates back into the same config. :func:`optviz.load.resolved.config_data` is
        the form written to ``config.yaml``.
        """
        objects: dict[str, Any] = {}

        def keep(value: Any) -> str:  # pydantic's JSON mode has no form for a class: a token, put back below
            token = f"\x00object {len(objects)}"
            objects[token] = value
            return token

        data = _put_back(self.model_dump(mode="json", exclude_none=True, by_alias=True, fallback=keep), objects)
        data["render"]["size"] = list(self.render.size)
        for key, default in (("device", "cpu"), ("engine", "exact")):
            if data.get(key) == default:
                # The default is left out, so configs, their hashes and sweep-cell keys read as before
                # networks (and devices, and engines) existed.
                del data[key]
        return data

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):  # pydantic's own bookkeeping and private attributes
            super().__setattr__(name, value)
            return
        raise FrozenConfigError(
            f"a Config is frozen, so config.{name} cannot be assigned; derive a new one with "
            f"config.model_copy(update={{{name!r}: ...}}) or optviz.config.with_overrides(config, ['{name}=...'])")


def _put_back(data: Any, objects: dict[str, Any]) -> Any:
    if not objects:
        return data
    if isinstance(data, dict):
        return {key: _put_back(value, objects) for key, value in data.items()}
    if isinstance(data, list):
        return [_put_back(value, objects) for value in data]
    return objects.get(data, data) if isinstance(data, str) else data


class FrozenConfigError(TypeError):
    """Raised on assignment to a :class:`Config`: it is a value, derived rather than edited."""


class KeyedError(ValueError):
    """A validator's error that knows its own key path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message

