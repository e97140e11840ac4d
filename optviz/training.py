"""Trains a network problem with every (optimizer, seed): the engine of ``problem:`` configs.

For each seed S, every optimizer starts from the same initial weights (the model built
under ``torch.manual_seed(S)``) and sees the same minibatches in the same order::

    loader = DataLoader(TensorDataset(x_train, y_train), batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(S))
    for epoch in range(epochs):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)        # the mean over the batch
            loss.backward()
            optimizer.step()
        scheduler.step()                       # interval: epoch (the default); interval: step steps it above

A fresh generator per (optimizer, seed) run, and torch's global generator seeded with S
for the run (for a model's dropout), so that loop, written by hand from the run folder's
``init-seed<S>.pt`` and ``data-seed<S>.npz``, gives the same losses bit for bit.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from typing import Any, Callable, Iterator

import numpy as np

from .config import object_name
from .load.network import LoadedNetwork, param_groups
from .load.record import recorded_steps
from .optimizers import create_graph_override
from .problems.data import Dataset
from .problems.models import group_parameters, pick_parameters
from .results.network import NetworkResult, TrainingRun
from .third_party import StepNeeds, step_needs

Progress = Callable[[str, int, int], None]
# Rows per forward pass when a whole split is evaluated.
EVAL_CHUNK = 4096
# Steps of per-tensor norms kept as separate scalars before they are stacked into one tensor.
FLUSH = 256
# Byte alignment of each parameter in the flat buffer: that of a fresh allocation, so kernels see the same layout.
ALIGN = 64


def train(loaded: LoadedNetwork, *, progress: Progress | None = None,
          initial: dict[int, dict[str, Any]] | None = None) -> NetworkResult:
    """Train every optimizer of ``loaded`` from every seed; returns the :class:`NetworkResult`.

    ``progress(label, done, total)`` is called as each (optimizer, seed) run starts. ``initial``,
    when given, is filled with each seed's initial ``state_dict``.
    """
    config = loaded.config
    result = NetworkResult(config=config, task=loaded.problem.task, classes=None, parameters=loaded.parameters)
    total = len(config.run_seeds) * len(config.optimizers)
    with one_thread():
        _train_all(loaded, result, progress, initial, total)
    return result


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread for the block, the caller's thread count after it.

    Small networks step in about a millisecond; torch's threads spend more than that
    waking each other (100x slower on a busy 2-core machine), and runs are sequential.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train_all(loaded: LoadedNetwork, result: NetworkResult, progress: Progress | None,
               initial: dict[int, dict[str, Any]] | None, total: int) -> None:
    config, problem, seeds = loaded.config, loaded.problem, loaded.config.run_seeds
    done = 0
    for spec, parts in loaded.optimizers:
        for seed in seeds:
            if progress:
                progress(f"{spec.display_label} (seed {seed})", done, total)
            dataset = problem.dataset(seed)
            result.classes = dataset.classes
            state = initial_state(loaded, seed, dataset)
            if initial is not None:
                initial[seed] = state
            name = spec.name if isinstance(spec.name, str) else object_name(spec.name)  # a notebook's class
            result.runs.append(train_one(loaded, spec.display_label, name, parts, seed, dataset, state))
            done += 1


def initial_state(loaded: LoadedNetwork, seed: int, dataset: Dataset) -> dict[str, Any]:
    """The initial ``state_dict`` of ``seed``: the same for every optimizer."""
    return loaded.problem.initial_model(seed, dataset).state_dict()


def train_one(loaded: LoadedNetwork, label: str, name: str, parts: list, seed: int, dataset: Dataset,
              state: dict[str, Any]) -> TrainingRun:
    """One optimizer (``parts``: its resolved pieces and the parameter kind each trains) from one seed."""
    import torch

    config = loaded.config
    spec = config.problem
    device = torch.device(config.device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = loaded.problem.build(dataset)
        model.load_state_dict(state)
        model.to(device)
        flat = _Flat.adopt(model)  # before the optimizers are built on the parameters
        loss_fn = loaded.problem.loss()
        optimizers, schedulers = _build(model, parts)
        x_train, y_train = torch.from_numpy(dataset.x_train), torch.from_numpy(dataset.y_train)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x_train, y_train), spec.batch_size,
                                             shuffle=True, generator=torch.Generator().manual_seed(seed))
        evaluation = _Evaluation(model, loss_fn, dataset, device, config.problem.epochs)
        records = _Records(model, loaded.iterations, loaded.record_every, flat)
        started = time.perf_counter()
        given = next((given for given in config.optimizers if given.display_label == label), None)
        clip = given.clip_grad_norm if given is not None else None
        override = create_graph_override(given) if given is not None else None
        needs = [step_needs(cls, override) for (cls, _, _), *_ in parts]
        with warnings.catch_warnings():  # a Hessian-based step needs the gradient's graph: torch warns of a cycle
            warnings.filterwarnings("ignore", message=r"Using backward\(\) with create_graph=True")
            trace = _train(model, loader, loss_fn, optimizers, schedulers, evaluation, records, spec.epochs, device,
                           loaded.iterations, flat, clip, needs)
        seconds = time.perf_counter() - started
    stats, count, diverged, error = trace
    epochs_of = np.repeat(np.arange(1, spec.epochs + 1), len(loader))[:count]
    parameters, recorded = records.arrays()
    return TrainingRun(
        label=label, optimizer=name, seed=seed, epoch=epochs_of, train_loss=stats[:, 0], lr=stats[:, 1],
        grad_norm=stats[:, 2], update_norm=stats[:, 3], epoch_train_loss=evaluation.train_loss,
        epoch_valid_loss=evaluation.valid_loss,
        epoch_train_accuracy=evaluation.train_accuracy if dataset.classes is not None else None,
        epoch_valid_accuracy=evaluation.valid_accuracy if dataset.classes is not None else None,
        diverged_iteration=diverged, error=error, parameters=parameters, recorded=recorded, seconds=seconds)


def _build(model: Any, parts: list) -> tuple[list, list]:
    """One optimizer per part on the parameters its kind picks (of those not taken yet), and their schedulers."""
    named = dict(model.named_parameters())
    remaining = list(named)
    optimizers, schedulers = [], []
    for (cls, hyperparameters, scheduler), kind, interval, groups in parts:
        picked = [name for name in pick_parameters(model, kind)[0] if name in remaining]
        remaining = [name for name in remaining if name not in picked]
        if groups:  # param groups by kind or name pattern, then the rest with the optimizer's own settings
            grouped, rest = group_parameters(model, picked, [pattern for pattern, _ in groups])
            optimizer = cls(param_groups(named, grouped, [own for _, own in groups], rest), **hyperparameters)
        else:
            optimizer = cls([named[name] for name in picked], **hyperparameters)
        optimizers.append(optimizer)
        if scheduler is not None:
            plateau = scheduler[0].__name__ == "ReduceLROnPlateau"  # it steps on a loss: the batch's or the valid one
            schedulers.append((scheduler[0](optimizer, **scheduler[1]), plateau, interval == "step"))
    return optimizers, schedulers


def _train(model: Any, loader: Any, loss_fn: Callable, optimizers: list, schedulers: list,
           evaluation: "_Evaluation", records: "_Records", epochs: int, device: Any,
           iterations: int, flat: "_Flat | None", clip: float | None = None,
           needs: list[StepNeeds] | None = None) -> tuple[np.ndarray, int, int, str | None]:
    """The loop; returns (per-iteration stats (done, 4), iterations done, diverged iteration or -1, error).

    With ``clip``, the gradient is clipped to that norm over all parameters before each step
    (``torch.nn.utils.clip_grad_norm_``), and the recorded gradient norm is the clipped one.
    ``needs`` says what each optimizer's step needs (:func:`~optviz.third_party.step_needs`): a
    closure re-evaluates the batch's loss (SAM), ``create_graph`` keeps the gradient's graph
    (AdaHessian), and a schedule-free optimizer is in train mode for its steps and in eval mode for
    the end-of-epoch evaluation, as its authors' own loop does.
    """
    import torch

    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if flat is not None:  # parameters live in one buffer: the copy before the step and the update are one op each
        before_flat = torch.empty_like(flat.buffer)
        before = [flat.view(before_flat, parameter) for parameter in parameters]
    else:
        before = [parameter.detach().clone() for parameter in parameters]
    zeros = [torch.zeros_like(parameter) for parameter in parameters]  # the gradient of a parameter the loss skips
    losses: list[float] = []
    lrs: list[float] = []
    # Per-tensor norms of each step: kept as they come (no per-step stack), stacked every FLUSH steps,
    # read once at the end rather than per step.
    pending: list[Any] = []
    chunks: list[Any] = []
    first = optimizers[0]
    on_device = device.type != "cpu"
    needs = needs or [StepNeeds() for _ in optimizers]
    create_graph = any(need.create_graph for need in needs)
    schedule_free = [optimizer for optimizer, need in zip(optimizers, needs) if need.train_mode]

    count = len(parameters)

    def flush() -> None:
        if pending:
            chunks.append(torch.stack(pending).reshape(-1, 2 * count))
            pending.clear()

    def stats() -> np.ndarray:
        # Each row: the per-tensor norms of the gradient, then of the update; whole norms from them at the end.
        flush()
        pairs = np.zeros((0, 2))
        if chunks:
            per_tensor = torch.cat(chunks).double()
            pairs = torch.stack([torch.linalg.vector_norm(per_tensor[:, :count], dim=1),
                                 torch.linalg.vector_norm(per_tensor[:, count:], dim=1)], dim=1).cpu().numpy()
        pairs = np.concatenate([pairs, np.full((len(losses) - len(pairs), 2), np.nan)])
        return np.column_stack([losses, lrs, pairs]) if losses else np.zeros((0, 4))

    iteration = 0
    for epoch in range(epochs):
        model.train()
        for optimizer in schedule_free:
            optimizer.train()
        for x, y in loader:
            if on_device:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            records.take(iteration)
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            value = loss.item()
            losses.append(value)
            lrs.append(float(first.param_groups[0]["lr"]))
            if not math.isfinite(value):
                return stats(), iteration + 1, iteration, None
            try:
                loss.backward(create_graph=create_graph)
                if clip is not None:
                    torch.nn.utils.clip_grad_norm_(parameters, clip)
                with torch.no_grad():
                    grads = [parameter.grad if parameter.grad is not None else zero
                             for parameter, zero in zip(parameters, zeros)]
                    pending.extend(torch._foreach_norm(grads))
                    if flat is not None and flat.intact():
                        before_flat.copy_(flat.buffer)
                    else:
                        flat = None
                        torch._foreach_copy_(before, parameters)
                for optimizer, need in zip(optimizers, needs):
                    optimizer.step(_closure(model, loss_fn, x, y, optimizers, create_graph)) if need.closure \
                        else optimizer.step()
                with torch.no_grad():
                    if flat is not None and flat.intact():
                        before_flat.sub_(flat.buffer)
                    else:  # the optimizer gave a parameter new storage: tensor by tensor from now on
                        flat = None
                        torch._foreach_sub_(before, parameters)
                    pending.extend(torch._foreach_norm(before))
                if len(pending) >= FLUSH * 2 * count:
                    flush()
            except Exception as error:  # a user's model or optimizer may raise anything
                return stats(), iteration + 1, -1, f"{type(error).__name__}: {error}"
            for scheduler, plateau, every_step in schedulers:
                if every_step:
                    scheduler.step(value) if plateau else scheduler.step()
            iteration += 1
        for optimizer in schedule_free:
            optimizer.eval()
        valid_loss = evaluation.epoch(epoch)
        for scheduler, plateau, every_step in schedulers:
            if not every_step:
                scheduler.step(valid_loss) if plateau else scheduler.step()
    records.take(iteration)
    return stats(), iteration, -1, None


def _closure(model: Any, loss_fn: Callable, x: Any, y: Any, optimizers: list, create_graph: bool) -> Callable:
    """The batch's loss and gradient again, at the parameters as they are when the step calls it."""
    def closure():
        for optimizer in optimizers:
            optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward(create_graph=create_graph)
        return loss
    return closure


class _Evaluation:
    """Full passes over both splits in eval mode at the end of each epoch."""

    def __init__(self, model: Any, loss_fn: Callable, dataset: Dataset, device: Any, epochs: int) -> None:
        import torch

        self.model, self.loss_fn, self.device = model, loss_fn, device
        self.splits = [(torch.from_numpy(dataset.x_train).to(device), torch.from_numpy(dataset.y_train).to(device)),
                       (torch.from_numpy(dataset.x_valid).to(device), torch.from_numpy(dataset.y_valid).to(device))]
        self.classification = dataset.classes is not None
        self.train_loss, self.valid_loss, self.train_accuracy, self.valid_accuracy = (
            np.full(epochs, np.nan) for _ in range(4))

    def epoch(self, epoch: int) -> float:
        import torch

        self.model.eval()
        with torch.no_grad():
            for (x, y), losses, accuracies in zip(self.splits, (self.train_loss, self.valid_loss),
                                                  (self.train_accuracy, self.valid_accuracy)):
                outputs = torch.cat([self.model(x[start:start + EVAL_CHUNK]) for start in range(0, len(x), EVAL_CHUNK)])
                losses[epoch] = float(self.loss_fn(outputs, y))
                if self.classification:
                    accuracies[epoch] = float((outputs.argmax(dim=1) == y).double().mean())
        return float(self.valid_loss[epoch])


class _Flat:
    """The model's parameters as aligned views of one buffer, so that whole-model copies and differences are one op.

    Each parameter starts at a multiple of :data:`ALIGN` bytes, as a fresh allocation does, and its values are
    unchanged, so the forward, backward and step compute exactly what they computed on separate tensors. An
    optimizer that gives a parameter new storage (``p.data = ...``) breaks :meth:`intact`; the loop then goes
    tensor by tensor.
    """

    def __init__(self, buffer: Any, parameters: list, offsets: list[int]) -> None:
        import torch

        self.buffer, self.parameters, self.offsets = buffer, parameters, offsets
        self.pointers = [parameter.data_ptr() for parameter in parameters]
        # Positions of the values (not the padding), in model.parameters() order, for the parameter records.
        self.values = torch.cat([torch.arange(offset, offset + parameter.numel())
                                 for parameter, offset in zip(parameters, offsets)])

    @classmethod
    def adopt(cls, model: Any) -> "_Flat | None":
        """Move ``model``'s parameters into one buffer; None (nothing moved) for mixed dtypes or devices."""
        import torch

        parameters = list(model.parameters())
        if not parameters or len({(parameter.dtype, parameter.device) for parameter in parameters}) != 1:
            return None
        step = max(1, ALIGN // parameters[0].element_size())
        offsets, size = [], 0
        for parameter in parameters:
            offsets.append(size)
            size += -(-parameter.numel() // step) * step
        buffer = torch.zeros(size, dtype=parameters[0].dtype, device=parameters[0].device)
        with torch.no_grad():
            for parameter, offset in zip(parameters, offsets):
                view = buffer[offset:offset + parameter.numel()].view_as(parameter)
                view.copy_(parameter)
                parameter.data = view
        return cls(buffer, parameters, offsets)

    def view(self, buffer: Any, parameter: Any) -> Any:
        """``parameter``'s place in ``buffer`` (one shaped like :attr:`buffer`)."""
        offset = self.offsets[next(index for index, other in enumerate(self.parameters) if other is parameter)]
        return buffer[offset:offset + parameter.numel()].view_as(parameter)

    def intact(self) -> bool:
        """Every parameter still lives in the buffer."""
        return all(parameter.data_ptr() == pointer for parameter, pointer in zip(self.parameters, self.pointers))


class _Records:
    """Flattened parameters (``model.parameters()`` order) before iterations 0, every, 2 every, ... and after the last."""

    def __init__(self, model: Any, iterations: int, every: int, flat: _Flat | None = None) -> None:
        self.parameters = list(model.parameters())
        self.steps = recorded_steps(iterations, every) if every else np.zeros(0, dtype=int)
        self.wanted = set(self.steps.tolist())
        count = sum(parameter.numel() for parameter in model.parameters())
        # Rows are written as they are taken and only the taken ones are read: no fill (it cost ~3% of a run).
        self.values = np.empty((len(self.steps), count), dtype=np.float32) if every else None
        self.taken = 0
        import torch

        # One gather from the flat buffer when it holds float32 on the CPU; else a cat of the parameters.
        self.flat = flat if flat is not None and flat.buffer.dtype == torch.float32 \
            and flat.buffer.device.type == "cpu" else None

    def take(self, iteration: int) -> None:
        if iteration not in self.wanted:
            return
        import torch

        with torch.no_grad():
            row = torch.from_numpy(self.values[self.taken])
            if self.flat is not None and self.flat.intact():
                torch.index_select(self.flat.buffer, 0, self.flat.values, out=row)
            else:
                torch.cat([parameter.detach().reshape(-1).cpu() for parameter in self.parameters], out=row)
        self.taken += 1

    def arrays(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self.values is None:
            return None, None
        return self.values[:self.taken], self.steps[:self.taken]
