"""Time optviz's training loop against plain hand-written loops, and ``optviz run configs/digits_lenet.yaml``.

Every loop trains the seed lesson's LeNet with SGD(lr=0.01, momentum=0.9) + StepLR on the same
digits split, from the same initial weights, in the same DataLoader order, on one torch thread,
in this process. Each side is timed from building its model to the end of its last epoch (the
data set is made once, outside the timings). The sides:

- **optviz**: ``optviz.training.train_one``, as ``optviz run`` calls it: per step the batch
  loss, the lr, the gradient and update norms and the parameter vector (record.every 1 here);
  per epoch full passes over both splits in eval mode (loss and accuracy).
- **lesson** (the target's baseline): the seed lesson's own loop as it is written there: per
  step the batch loss and accuracy for its curve and log; per epoch a validation pass in
  batches. It records less than optviz (no norms, no parameters, no full pass over the
  training split): this is what a user would write without optviz.
- **same records**, for reference: a plain loop written by hand that records what optviz
  records (batch loss and lr, gradient and update norms from per-tensor norms, the parameter
  vector each step, full passes over both splits each epoch): like against like.
- **bare**, for reference: zero_grad, forward, loss, backward, step, and nothing else.

A noisy shared machine slows whatever runs when it is busy, so: each side is timed by the CPU
time of this thread (``time.thread_time``; torch runs on one thread, the caller's), which leaves
out the time other processes hold the CPU, and by the wall clock too; the sides are interleaved
(each repeat runs all four, in a rotated order); each side's time is its minimum over the
repeats (noise only adds), with the median and the median of the per-repeat ratios printed
too. Target: optviz / lesson at most 1.15 on the minimum CPU times, then the wall time of the
command under 30 s; exits 1 when either is missed.

    python benchmarks/bench_network.py [--epochs 3] [--repeats 11] [--no-command]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from optviz.load import LoadedNetwork, load_dict
from optviz.problems.data import Dataset
from optviz.training import initial_state, one_thread, train_one

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.15


def _setup(loaded: LoadedNetwork, seed: int, dataset: Dataset, state: dict) -> tuple:
    """The model from ``state``, SGD + StepLR on it, and the training loader in the seed's order."""
    model = loaded.problem.build(dataset)
    model.load_state_dict(state)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
    data = torch.utils.data.TensorDataset(torch.from_numpy(dataset.x_train), torch.from_numpy(dataset.y_train))
    loader = torch.utils.data.DataLoader(data, loaded.config.problem.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    return model, optimizer, scheduler, loader


def bare(loaded: LoadedNetwork, seed: int, dataset: Dataset, state: dict) -> None:
    """The loop with nothing recorded and no evaluation at all: the floor."""
    model, optimizer, scheduler, loader = _setup(loaded, seed, dataset, state)
    for _ in range(loaded.config.problem.epochs):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        scheduler.step()


def lesson(loaded: LoadedNetwork, seed: int, dataset: Dataset, state: dict) -> None:
    """The seed lesson's loop as it is written there: the loss and accuracy of each batch for its
    curve and log, and a validation pass in batches after each epoch."""
    model, optimizer, scheduler, train_loader = _setup(loaded, seed, dataset, state)
    valid_data = torch.utils.data.TensorDataset(torch.from_numpy(dataset.x_valid), torch.from_numpy(dataset.y_valid))
    valid_loader = torch.utils.data.DataLoader(valid_data, loaded.config.problem.batch_size)
    train_curve, valid_curve = [], []
    for _ in range(loaded.config.problem.epochs):
        correct = total = 0
        model.train()
        for inputs, labels in train_loader:
            outputs = model(inputs)
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(outputs, labels)
            loss.backward()
            optimizer.step()
            predicted = outputs.detach().argmax(dim=1)
            total += labels.size(0)
            correct += int((predicted == labels).sum())
            train_curve.append(loss.item())
        scheduler.step()
        loss_valid = 0.0
        model.eval()
        with torch.no_grad():
            for inputs, labels in valid_loader:
                outputs = model(inputs)
                loss_valid += torch.nn.functional.cross_entropy(outputs, labels).item()
                correct += int((outputs.argmax(dim=1) == labels).sum())
        valid_curve.append(loss_valid)


def same_records(loaded: LoadedNetwork, seed: int, dataset: Dataset, state: dict) -> None:
    """A plain loop written by hand that records what optviz records: per step the batch loss, the lr,
    the gradient and update norms and the parameter vector; per epoch full passes over both splits."""
    model, optimizer, scheduler, loader = _setup(loaded, seed, dataset, state)
    parameters = list(model.parameters())
    splits = [(torch.from_numpy(dataset.x_train), torch.from_numpy(dataset.y_train)),
              (torch.from_numpy(dataset.x_valid), torch.from_numpy(dataset.y_valid))]
    steps, epochs, vectors = [], [], []
    for _ in range(loaded.config.problem.epochs):
        model.train()
        for x, y in loader:
            vectors.append(torch.nn.utils.parameters_to_vector(parameters).detach().numpy().copy())
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            with torch.no_grad():
                grad_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad)
                                                                  for p in parameters]))
                before = [p.detach().clone() for p in parameters]
            optimizer.step()
            with torch.no_grad():
                update_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p - b)
                                                                    for p, b in zip(parameters, before)]))
            steps.append((loss.item(), optimizer.param_groups[0]["lr"], grad_norm.item(), update_norm.item()))
        scheduler.step()
        model.eval()
        with torch.no_grad():
            row = []
            for x, y in splits:
                outputs = model(x)
                row += [float(torch.nn.functional.cross_entropy(outputs, y)),
                        float((outputs.argmax(dim=1) == y).double().mean())]
            epochs.append(row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--no-command", action="store_true", help="skip timing `optviz run`")
    arguments = parser.parse_args()
    config = {"problem": {"data": "digits", "model": "lenet", "batch_size": 16, "epochs": arguments.epochs},
              "seeds": [1], "render": {"figures": []}, "record": {"every": 1},
              "optimizers": [{"name": "SGD", "lr": 0.01, "momentum": 0.9,
                              "scheduler": {"name": "StepLR", "step_size": 10, "gamma": 0.1}}]}
    loaded = load_dict(config)
    dataset = loaded.problem.dataset(1)
    state = initial_state(loaded, 1, dataset)
    spec, parts = loaded.optimizers[0]

    def optviz(loaded: LoadedNetwork, seed: int, dataset: Dataset, state: dict) -> None:
        train_one(loaded, spec.display_label, spec.name, parts, seed, dataset, state)

    sides: dict[str, Callable] = {"optviz": optviz, "lesson": lesson, "same records": same_records, "bare": bare}
    clocks = {"cpu": time.thread_time, "wall": time.perf_counter}
    times = {clock: {name: [] for name in sides} for clock in clocks}
    names = list(sides)
    with one_thread():
        for name in names:  # warm up: first-call costs (imports, kernel choice) out of the timings
            sides[name](loaded, 1, dataset, state)
        for repeat in range(arguments.repeats):
            for name in names[repeat % len(names):] + names[:repeat % len(names)]:
                gc.collect()
                cpu, wall = time.thread_time(), time.perf_counter()
                sides[name](loaded, 1, dataset, state)
                times["wall"][name].append(time.perf_counter() - wall)
                times["cpu"][name].append(time.thread_time() - cpu)
    print(f"{loaded.iterations} iterations, {arguments.repeats} interleaved repeats, one torch thread; "
          f"seconds, min / median:")
    print(f"  {'':<13} {'cpu (this thread)':>18} {'wall':>14}")
    for name in names:
        print(f"  {name:<13} " + "".join(f"{min(times[clock][name]):>9.3f} / {statistics.median(times[clock][name]):.3f}"
                                         for clock in clocks))

    def ratio_of(clock: str, other: str) -> float:
        return min(times[clock]["optviz"]) / min(times[clock][other])

    def ratios(other: str) -> str:
        parts = []
        for clock in clocks:
            values = times[clock]
            paired = statistics.median(o / b for o, b in zip(values["optviz"], values[other]))
            parts.append(f"{clock} {ratio_of(clock, other):.3f} (medians "
                         f"{statistics.median(values['optviz']) / statistics.median(values[other]):.3f}, "
                         f"paired {paired:.3f})")
        return ", ".join(parts)

    ratio = ratio_of("cpu", "lesson")
    print(f"optviz / lesson        {ratios('lesson')}")
    print(f"  target <= {TARGET} on the minimum cpu times: {ratio:.3f} {'met' if ratio <= TARGET else 'MISSED'}")
    print("  optviz records per step the loss, lr, gradient and update norms and the parameters, and per epoch")
    print("  full passes over both splits; the lesson's loop per step the batch loss and accuracy, and per")
    print("  epoch a validation pass in batches")
    print(f"optviz / same records  {ratios('same records')}")
    print("  (a hand-written loop recording what optviz records)")
    print(f"optviz / bare          {ratios('bare')}")
    print("  (nothing recorded, no evaluation)")
    ok = ratio <= TARGET
    if not arguments.no_command:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "optviz", "run", str(ROOT / "configs" / "digits_lenet.yaml"),
                            "--out", str(Path(folder) / "out"), "--quiet"], check=True)
            seconds = time.perf_counter() - started
        print(f"optviz run configs/digits_lenet.yaml: {seconds:.1f} s (target < 30 s)")
        ok = ok and seconds < 30
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
