"""A network run's loss landscape: one plane for every optimizer's path, the loss over it, and what it misses.

Vectors are flattened in the order of ``model.parameters()``. The loss at a vector is the
full pass over a split in eval mode (the mean over its rows), with the seed's initial
buffers; it is evaluated for many vectors at once, in chunks that fit :data:`GRID_BYTES`.
A plain ``nn.Sequential`` of linear layers, flattens and element-wise activations (the
built-in MLPs) runs as batched matrix products, one ``bmm`` per layer for the whole
chunk, its chunks small enough to stay in cache and shared out to one thread per torch
thread; any other model runs through ``torch.func.functional_call`` with ``torch.vmap`` over
the vectors. Cross entropy and mean squared error run over the whole chunk's outputs; any
other loss is vmapped over them. Each value equals
loading the vector into the model (``vector_to_parameters``) and running a forward pass,
to float32 rounding (``benchmarks/bench_landscape.py`` checks 1e-6 relative).

- **pca**: the top two principal components of all optimizers' recorded parameter
  vectors (one seed) taken together, centred on the origin (not on their mean): unit
  vectors, with the % of the vectors' squared distance from the origin each explains.
- **random**: two random directions, filter-normalized (Li et al. 2018): each row of a
  weight (its first dimension: an output unit, a conv filter) is scaled to the norm of
  the same row of the origin's weight; 1-D parameters (biases, normalization scales and
  shifts) get zero, as the paper does, so the plane leaves them at the origin's values.
- **points**: through three points: origin the first, ``d1`` the second minus the first,
  ``d2`` the third minus the first made orthogonal to ``d1`` (Gram-Schmidt, lengths kept
  otherwise), so the second point is at (1, 0) and the third at (c, 1).
- **interpolate**: no plane grid; only the lines from the initial point to each final
  point (computed for every choice, Goodfellow et al. 2015).

A path's coordinates are the least-squares (alpha, beta) of ``p - origin`` against
``[d1 d2]``; its residual the norm of what is left. The share of its movement the plane
explains is ``1 - sum |r_{k+1} - r_k|^2 / sum |p_{k+1} - p_k|^2`` over its recorded steps,
with ``r`` the residual vectors: 1 when every step lies in the plane's directions.
"""

from __future__ import annotations

import math
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from .config import LandscapeSpec
from .errors import ConfigError, OptvizWarning, RunError
from .load.network import LoadedNetwork
from .problems.data import Dataset
from .results.landscape import Interpolation, Landscape, Plane, PlanePath
from .results.network import NetworkResult, TrainingRun

# Memory one chunk of vectors may take (parameters and activations of every vector in it, counted
# twice for vmap's temporaries); each worker thread holds one. Small on purpose: moons' MLP runs
# 100-vector chunks about 2x faster than 800.
GRID_BYTES = 32 * 1024 * 1024
# Activations of one chunk on the stacked route: enough vectors that each op's overhead is small, few
# enough that the two workers' chunks stay near the cache (moons' MLP: about 100 vectors).
CACHE_BYTES = 16 * 1024 * 1024
# Multiply-adds (vectors x rows x parameters) above which the cost is announced first.
COST_BUDGET = 2e10
# Multiply-adds per second assumed for that announcement (a modest CPU).
RATE = 2e9


# Modules that act on each element alone, so a stack of (vectors, rows, features) passes through them
# as it is. Dropout is the identity in eval mode.
ELEMENTWISE = ("ReLU", "Tanh", "Sigmoid", "GELU", "ELU", "LeakyReLU", "SiLU", "Softplus", "Mish", "Hardtanh",
               "Softsign", "Identity", "Dropout")
# Those with an in-place tensor method of the same effect.
IN_PLACE = {"Tanh": "tanh_", "ReLU": "relu_", "Sigmoid": "sigmoid_"}


def stacked_plan(model: Any, x: Any) -> list[tuple[str, Any]] | None:
    """How :class:`LossEvaluator` runs ``model`` on a stack of vectors with batched matrix products.

    ``(index, module)`` per layer of a plain ``nn.Sequential`` whose layers are linear layers,
    ``Flatten()`` or :data:`ELEMENTWISE` modules, fed rows of one feature axis (after a leading
    ``Flatten()``) and without buffers; ``None`` for any other model (it goes through vmap).
    Exact types only: a subclass may change what its forward does.
    """
    import torch

    if type(model) is not torch.nn.Sequential or any(True for _ in model.buffers()):
        return None
    plan = []
    for position, (index, module) in enumerate(model.named_children()):
        kind = type(module)
        if kind is torch.nn.Flatten and module.start_dim == 1 and module.end_dim == -1:
            if position == 0:
                continue  # applied to the rows once
        elif not (kind is torch.nn.Linear or (kind.__module__.startswith("torch.nn.modules")
                                               and kind.__name__ in ELEMENTWISE)):
            return None
        plan.append((index, module))
    leading_flatten = len(plan) < len(model)
    return plan if x.dim() == 2 or leading_flatten else None


class LossEvaluator:
    """The full-pass loss of a split at many flat parameter vectors, batched over the vectors."""

    def __init__(self, model: Any, loss_fn: Callable, x: np.ndarray, y: np.ndarray, *,
                 budget: int = GRID_BYTES) -> None:
        import torch

        self.model = model.eval()
        self.loss_fn = loss_fn
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        named = list(model.named_parameters())
        self.names = [name for name, _ in named]
        self.shapes = [tuple(parameter.shape) for _, parameter in named]
        self.sizes = [parameter.numel() for _, parameter in named]
        self.dtype = named[0][1].dtype
        self.buffers = {name: buffer.detach() for name, buffer in model.named_buffers()}
        self.count = sum(self.sizes)
        self.plan = stacked_plan(model, self.x)
        self.rows_t = self.x.flatten(1).t().contiguous()  # (features, rows), as the stacked plan runs
        # The rows with a row of ones under them: the first layer's bias rides in its product.
        self.rows_ones = torch.cat([self.rows_t, torch.ones(1, self.rows_t.shape[1], dtype=self.rows_t.dtype)])
        self._local = threading.local()  # each worker's activation buffers
        # For two classes: +1 where the target is class 0, -1 where it is class 1 (see stacked_losses).
        self._other_sign = (1 - 2 * self.y).to(self.dtype) if self.y.dim() == 1 else None
        activations = self._activation_bytes()  # one forward pass of a row, with hooks
        # Parameters plus every module's output over the whole split (twice: vmap keeps temporaries).
        self.chunk = max(1, budget // (self.count * self.x.element_size() + 2 * activations))
        if self.plan is not None:
            self.chunk = min(self.chunk, max(1, CACHE_BYTES // activations))
        # Chunks of the stacked route are shared out to threads that each run torch on one core:
        # no barrier at every small op, which costs most on a shared machine.
        self.workers = torch.get_num_threads() if self.plan is not None else 1
        self._pool: ThreadPoolExecutor | None = None  # its idle threads end when the evaluator is collected

    def _activation_bytes(self) -> int:
        """Every module's output over the whole split, for one vector."""
        import torch

        outputs = [0]
        hooks = [module.register_forward_hook(lambda _m, _i, out: outputs.append(
            out.numel() if isinstance(out, torch.Tensor) else 0)) for module in self.model.modules()]
        try:
            with torch.no_grad():
                self.model(self.x[:1])
        finally:
            for hook in hooks:
                hook.remove()
        return len(self.x) * sum(outputs) * self.x.element_size()

    def parameters_of(self, vectors: Any) -> dict[str, Any]:
        """``vectors`` (k, n) as a dict of (k, *shape) tensors in the model's names."""
        pieces = vectors.split(self.sizes, dim=1)
        return {name: piece.reshape(len(vectors), *shape) for name, piece, shape in zip(self.names, pieces, self.shapes)}

    def stacked_outputs(self, parameters: dict[str, Any], k: int) -> Any:
        """The model's outputs for ``k`` stacked parameter sets, by :attr:`plan`, as (k, outputs, rows).

        Features run along dim 1 and rows along dim 2, so each linear layer is one ``bmm`` of its
        weights (k, out, in) by the activations (k, in, rows) into a buffer kept across chunks,
        its bias added in place (the first layer's joins its product, against a row of ones);
        tanh, ReLU and sigmoid act in place. Fresh activations for every chunk cost more than the
        arithmetic (2x on moons' MLP).
        """
        import torch

        hidden = self.rows_t.expand(k, *self.rows_t.shape)
        for index, module in self.plan:
            if isinstance(module, torch.nn.Linear):
                weight, bias = parameters[f"{index}.weight"], parameters.get(f"{index}.bias")
                buffer = self._scratch(index, (k, module.out_features, hidden.shape[2]))
                if bias is not None and hidden.data_ptr() == self.rows_t.data_ptr():
                    weight = torch.cat([weight, bias.unsqueeze(2)], dim=2)
                    hidden, bias = self.rows_ones.expand(k, *self.rows_ones.shape), None
                hidden = torch.bmm(weight, hidden, out=buffer)
                if bias is not None:
                    hidden.add_(bias.unsqueeze(2))
            elif isinstance(module, torch.nn.Flatten):
                continue  # features are one axis already
            elif type(module).__name__ in IN_PLACE and hidden.data_ptr() != self.rows_t.data_ptr():
                hidden = getattr(hidden, IN_PLACE[type(module).__name__])()
            else:
                hidden = module(hidden)
        return hidden

    def _scratch(self, index: str, shape: tuple[int, ...]) -> Any:
        """This thread's buffer of ``shape`` for layer ``index``, reused while its shape fits."""
        import torch

        buffers = self._local.__dict__.setdefault("buffers", {})
        buffer = buffers.get(index)
        if buffer is None or buffer.shape[1:] != shape[1:] or len(buffer) < shape[0]:
            buffer = buffers[index] = torch.empty(shape, dtype=self.dtype)
        return buffer[:shape[0]]

    def stacked_losses(self, outputs: Any) -> Any:
        """The loss of each of the k stacked ``outputs`` (k, outputs, rows): a mean over its rows.

        torch's cross entropy (classes on dim 1, as it takes them) and mean squared error run
        once over the whole stack with ``reduction="none"``; any other loss is vmapped over the k.
        """
        import torch

        functional = torch.nn.functional
        k = len(outputs)
        if self.loss_fn is functional.cross_entropy and self.y.dim() == 1:
            if outputs.shape[1] == 2:
                # Two classes: -log softmax of the target is softplus(other logit - target logit),
                # one element-wise pass over (k, rows) instead of a softmax over (k, 2, rows).
                margin = torch.sub(outputs[:, 1], outputs[:, 0]).mul_(self._other_sign)
                return functional.softplus(margin).mean(1)
            # What cross_entropy computes (log_softmax, then the target's entry), without its
            # slow per-row nll_loss over a (k, classes, rows) stack.
            picked = functional.log_softmax(outputs, dim=1).gather(1, self.y.expand(k, 1, -1))
            return picked.mean((1, 2)).neg_()
        if self.loss_fn is functional.mse_loss and self.y.dim() == 2 and outputs.shape[1:] == self.y.t().shape:
            return functional.mse_loss(outputs, self.y.t().expand_as(outputs), reduction="none").flatten(1).mean(1)
        return torch.vmap(lambda output: self.loss_fn(output.t(), self.y))(outputs)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        """The loss at each row of ``vectors`` (k, n), as float64 (k,)."""
        import torch
        from torch.func import functional_call

        def loss(parameters: dict[str, Any]) -> Any:
            return self.loss_fn(functional_call(self.model, (parameters, self.buffers), (self.x,)), self.y)

        batched = torch.vmap(loss)
        values = np.empty(len(vectors))

        def evaluate(start: int) -> None:
            with torch.no_grad():
                chunk = torch.from_numpy(np.ascontiguousarray(vectors[start:start + size])).to(self.dtype)
                parameters = self.parameters_of(chunk)
                value = (batched(parameters) if self.plan is None
                         else self.stacked_losses(self.stacked_outputs(parameters, len(chunk))))
                values[start:start + len(chunk)] = value.double().numpy()

        size = self.chunk
        if self.workers > 1:  # a whole number of chunks for each worker, so that none finishes alone
            count = -(-len(vectors) // size)
            size = -(-len(vectors) // (-(-count // self.workers) * self.workers))
        starts = range(0, len(vectors), size)
        if self.workers < 2 or len(starts) < 2:
            for start in starts:
                evaluate(start)
            return values
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if self._pool is None:  # kept: its threads keep their activation buffers from call to call
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="optviz-grid")
            for _ in self._pool.map(evaluate, starts):
                pass
        finally:
            torch.set_num_threads(threads)
        return values


def loop_losses(model: Any, loss_fn: Callable, x: np.ndarray, y: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """The reference: load each vector into ``model`` and run one forward pass (what :class:`LossEvaluator` must equal)."""
    import torch

    model.eval()
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    values = np.empty(len(vectors))
    with torch.no_grad():
        for index, vector in enumerate(vectors):
            torch.nn.utils.vector_to_parameters(torch.from_numpy(np.ascontiguousarray(vector)).to(xs.dtype),
                                                model.parameters())
            values[index] = float(loss_fn(model(xs), ys))
    return values


def grid_vectors(plane: Plane, alphas: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Row ``i * len(alphas) + j``: ``origin + alphas[j] * d1 + betas[i] * d2`` (float64)."""
    b, a = np.meshgrid(betas, alphas, indexing="ij")
    return plane.origin + a.reshape(-1, 1) * plane.d1 + b.reshape(-1, 1) * plane.d2


def compute_landscape(loaded: LoadedNetwork, result: NetworkResult, initial: dict[int, dict[str, Any]],
                      spec: LandscapeSpec | None = None) -> Landscape:
    """The :class:`Landscape` of ``spec`` (default: the config's ``render.landscape``) for one seed's runs.

    ``initial`` holds each seed's initial ``state_dict`` (as :func:`optviz.training.train` fills it).
    A :class:`RunError` when the parameter vectors were not recorded.
    """
    from threadpoolctl import threadpool_limits

    # numpy's BLAS threads spin for a while after each product, taking a core from the grid's
    # workers (the grid ran 1.5x to 2x slower after the plane's products here); the plane's
    # products are small, and one thread does them as fast.
    with threadpool_limits(limits=1, user_api="blas"):
        return _compute_landscape(loaded, result, initial, spec or loaded.config.render.landscape or LandscapeSpec())


def _compute_landscape(loaded: LoadedNetwork, result: NetworkResult, initial: dict[int, dict[str, Any]],
                       spec: LandscapeSpec) -> Landscape:
    seed = spec.seed if spec.seed is not None else result.seeds[0]
    if seed not in result.seeds:
        raise ConfigError(f"no run has seed {seed}; seeds: {', '.join(map(str, result.seeds))}",
                          path="render.landscape.seed")
    runs = [run for run in result if run.seed == seed]
    if any(run.parameters is None or not len(run.parameters) for run in runs):
        raise RunError("render.landscape needs the recorded parameter vectors, and they were not recorded "
                       "(they would not fit the memory budget); set a larger record.every")
    dataset = loaded.problem.dataset(seed)
    model = loaded.problem.build(dataset)
    model.load_state_dict(initial[seed])
    loss_fn = loaded.problem.loss()
    evaluators = {split: LossEvaluator(model, loss_fn, *_split(dataset, split)) for split in ("train", "valid")}
    evaluate = evaluators[spec.data]
    paths = {run.label: _finite(run.parameters).astype(np.float64) for run in runs}

    plane = None if spec.directions == "interpolate" else make_plane(spec, runs, paths, model, seed)
    alphas = betas = np.zeros(0)
    loss = np.zeros((0, 0))
    plane_paths: list[PlanePath] = []
    if plane is not None:
        projected = {label: project(plane, vectors) for label, vectors in paths.items()}
        alphas, betas = grid_axes(spec, [coords for coords, _ in projected.values()])
        _announce_cost(len(alphas) * len(betas), len(evaluate.x), evaluate.count)
        loss = evaluate(grid_vectors(plane, alphas, betas)).reshape(len(betas), len(alphas))
        for run in runs:
            coords, residual = projected[run.label]
            vectors = paths[run.label]
            on_plane = plane.origin + coords[:, :1] * plane.d1 + coords[:, 1:] * plane.d2
            plane_paths.append(PlanePath(
                label=run.label, seed=seed, iterations=np.asarray(run.recorded[:len(vectors)]), coords=coords,
                residual=residual, true_loss=evaluate(vectors), plane_loss=evaluate(on_plane),
                explained=explained_share(plane, vectors)))
    else:
        plane = Plane(kind="interpolate", origin=np.zeros(evaluate.count), d1=np.zeros(evaluate.count),
                      d2=np.zeros(evaluate.count), origin_text="no plane: interpolation only")
    interpolations = [interpolate(paths[run.label], run, seed, spec.resolution, evaluators) for run in runs]
    return Landscape(plane=plane, data=spec.data, alphas=alphas, betas=betas, loss=loss, paths=plane_paths,
                     interpolations=interpolations)


def _split(dataset: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    return (dataset.x_train, dataset.y_train) if split == "train" else (dataset.x_valid, dataset.y_valid)


def _finite(parameters: np.ndarray) -> np.ndarray:
    """The rows before the first non-finite one (a diverged run's last records)."""
    bad = ~np.isfinite(parameters).all(axis=1)
    return parameters[:int(np.argmax(bad))] if bad.any() else parameters


def named_point(name: str, paths: dict[str, np.ndarray], key: str) -> np.ndarray:
    """``init``, ``final:<label>`` or ``mean-final`` as a vector; a ConfigError at ``key`` otherwise."""
    first = next(iter(paths.values()))
    if name == "init":
        return first[0]
    if name == "mean-final":
        return np.mean([vectors[-1] for vectors in paths.values()], axis=0)
    if name.startswith("final:") and name[6:] in paths:
        return paths[name[6:]][-1]
    valid = ["init", "mean-final", *(f"final:{label}" for label in paths)]
    raise ConfigError(f"unknown point {name!r}; valid: {', '.join(valid)}", path=key)


def make_plane(spec: LandscapeSpec, runs: list[TrainingRun], paths: dict[str, np.ndarray], model: Any,
               seed: int) -> Plane:
    """The plane of ``spec.directions`` (pca, random or points) for one seed's ``paths``."""
    if spec.directions == "points":
        points = [named_point(name, paths, f"render.landscape.points[{index}]") for index, name in enumerate(spec.points)]
        origin, d1 = points[0], points[1] - points[0]
        d2 = points[2] - points[0]
        if d1 @ d1 > 0:
            d2 = d2 - (d2 @ d1) / (d1 @ d1) * d1
        return Plane(kind="points", origin=origin, d1=d1, d2=d2, origin_text=spec.points[0])
    origin = named_point(spec.origin, paths, "render.landscape.origin")
    text = "the mean of the final points" if spec.origin == "mean-final" else spec.origin
    if spec.directions == "random":
        d1, d2 = filter_normalized(model, origin, seed)
        return Plane(kind="random", origin=origin, d1=d1, d2=d2, origin_text=text)
    d1, d2, explained = principal_plane(np.concatenate(list(paths.values())), origin)
    return Plane(kind="pca", origin=origin, d1=d1, d2=d2, explained=explained, origin_text=text)


def principal_plane(vectors: np.ndarray, origin: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The top two principal directions of ``vectors - origin`` (unit vectors) and the % of its squared norm each explains."""
    centred = vectors - origin
    # The smaller Gram matrix: records x records, since records are usually fewer than parameters.
    gram = centred @ centred.T
    values, vectors_small = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:2]
    total = float(np.trace(gram))
    directions = []
    for index in order:
        direction = centred.T @ vectors_small[:, index]
        norm = np.linalg.norm(direction)
        direction = direction / norm if norm > 0 else direction
        # A sign convention, so the same runs give the same plane: the largest component positive.
        directions.append(direction * (1 if direction[np.argmax(np.abs(direction))] >= 0 else -1))
    while len(directions) < 2:
        directions.append(np.zeros(len(origin)))
    shares = [100 * max(float(values[index]), 0.0) / total if total > 0 else 0.0 for index in order]
    shares += [0.0] * (2 - len(shares))
    return directions[0], directions[1], (shares[0], shares[1])


def filter_normalized(model: Any, origin: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two random directions (torch's generator seeded with ``seed``), filter-normalized against ``origin``.

    Each row of a parameter with 2 or more dimensions is scaled to the norm of the same row
    of the origin's parameter; 1-D parameters (biases, normalization) are zero.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    shapes = [tuple(parameter.shape) for parameter in model.parameters()]
    directions = []
    for _ in range(2):
        pieces, offset = [], 0
        for shape in shapes:
            size = math.prod(shape)
            weights = origin[offset:offset + size].reshape(shape)
            offset += size
            if len(shape) < 2:
                pieces.append(np.zeros(size))
                continue
            random = torch.randn(shape, generator=generator, dtype=torch.float64).numpy()
            rows = random.reshape(shape[0], -1)
            scale = np.linalg.norm(weights.reshape(shape[0], -1), axis=1) / np.maximum(
                np.linalg.norm(rows, axis=1), 1e-300)
            pieces.append((rows * scale[:, None]).reshape(-1))
        directions.append(np.concatenate(pieces))
    return directions[0], directions[1]


def project(plane: Plane, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The least-squares (alpha, beta) of each row of ``vectors`` on ``plane`` (records, 2) and the residual norms (records,)."""
    basis = np.stack([plane.d1, plane.d2], axis=1)
    offsets = (vectors - plane.origin).T
    coords = np.linalg.lstsq(basis, offsets, rcond=None)[0].T
    residual = np.linalg.norm(offsets.T - coords @ basis.T, axis=1)
    return coords, residual


def explained_share(plane: Plane, vectors: np.ndarray) -> float:
    """``1 - sum |r_{k+1} - r_k|^2 / sum |p_{k+1} - p_k|^2``: the share of the path's steps the plane holds."""
    basis = np.stack([plane.d1, plane.d2], axis=1)
    coords = project(plane, vectors)[0]
    residuals = (vectors - plane.origin) - coords @ basis.T
    moved = float(np.sum(np.diff(vectors, axis=0) ** 2))
    if moved == 0:
        return 1.0
    return float(1 - np.sum(np.diff(residuals, axis=0) ** 2) / moved)


def grid_axes(spec: LandscapeSpec, coords: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``alphas`` and ``betas``: ``span`` around the origin, or the paths' extent (with the origin) widened by ``margin``."""
    if spec.span is not None:
        axis = np.linspace(-spec.span, spec.span, spec.resolution)
        return axis, axis.copy()
    every = np.concatenate([*coords, np.zeros((1, 2))])
    axes = []
    for column in every.T:
        low, high = float(column.min()), float(column.max())
        width = high - low if high > low else 1.0
        axes.append(np.linspace(low - spec.margin * width, high + spec.margin * width, spec.resolution))
    return axes[0], axes[1]


def interpolate(vectors: np.ndarray, run: TrainingRun, seed: int, resolution: int,
                evaluators: dict[str, LossEvaluator]) -> Interpolation:
    """The train and valid loss at ``(1 - t) * initial + t * final`` for ``resolution`` values of t in [0, 1]."""
    t = np.linspace(0.0, 1.0, resolution)
    line = (1 - t)[:, None] * vectors[0] + t[:, None] * vectors[-1]
    return Interpolation(label=run.label, seed=seed, t=t, train_loss=evaluators["train"](line),
                         valid_loss=evaluators["valid"](line))


def _announce_cost(points: int, rows: int, parameters: int) -> None:
    work = float(points) * rows * parameters
    if work > COST_BUDGET:
        warnings.warn(f"the landscape grid is {points} points x {rows} rows x {parameters} parameters: about "
                      f"{work / RATE:.0f} s; lower render.landscape.resolution to make it faster", OptvizWarning,
                      stacklevel=3)
