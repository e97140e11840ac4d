"""Time optviz's training loop against a plain hand-written loop, and ``optviz run configs/digits_lenet.yaml``.

Both loops train the seed lesson's LeNet with SGD(lr=0.01, momentum=0.9) + StepLR on the
same digits split, from the same initial weights, in the same DataLoader order, on one
torch thread, in this process, alternating so that a busy machine slows both alike. The
plain loop is the lesson's own (batch loss and accuracy for its curve, a validation pass
each epoch); optviz's also records the lr, gradient and update norms of every step, full
passes over both splits each epoch and the parameter vectors. Prints the best
time of each over the repeats and their ratio (target: at most 1.15) and, for reference, against a bare loop that
evaluates and records nothing; then the wall time
of the command (target: under 30 s); exits 1 when either target is missed.

    python benchmarks/bench_network.py [--epochs 3] [--repeats 3] [--no-command]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from optviz.load import load_dict
from optviz.training import initial_state, one_thread, train_one

ROOT = Path(__file__).resolve().parent.parent


def bare(loaded, seed: int, state: dict) -> float:
    """The loop with nothing recorded and no evaluation at all: the floor, for reference; returns seconds."""
    dataset = loaded.problem.dataset(seed)
    model = loaded.problem.build(dataset)
    model.load_state_dict(state)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
    data = torch.utils.data.TensorDataset(torch.from_numpy(dataset.x_train), torch.from_numpy(dataset.y_train))
    loader = torch.utils.data.DataLoader(data, loaded.config.problem.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    started = time.perf_counter()
    for _ in range(loaded.config.problem.epochs):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
        scheduler.step()
    return time.perf_counter() - started


def plain(loaded, seed: int, state: dict) -> float:
    """The seed lesson's loop as it is written there: the loss and accuracy of each batch for its
    curve and log, and a validation pass in batches after each epoch; returns seconds."""
    dataset = loaded.problem.dataset(seed)
    model = loaded.problem.build(dataset)
    model.load_state_dict(state)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
    batch_size = loaded.config.problem.batch_size
    train_data = torch.utils.data.TensorDataset(torch.from_numpy(dataset.x_train), torch.from_numpy(dataset.y_train))
    valid_data = torch.utils.data.TensorDataset(torch.from_numpy(dataset.x_valid), torch.from_numpy(dataset.y_valid))
    train_loader = torch.utils.data.DataLoader(train_data, batch_size, shuffle=True,
                                               generator=torch.Generator().manual_seed(seed))
    valid_loader = torch.utils.data.DataLoader(valid_data, batch_size)
    train_curve, valid_curve = [], []
    started = time.perf_counter()
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
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-command", action="store_true", help="skip timing `optviz run`")
    arguments = parser.parse_args()
    config = {"problem": {"data": "digits", "model": "lenet", "batch_size": 16, "epochs": arguments.epochs},
              "seeds": [1], "render": {"figures": []},
              "optimizers": [{"name": "SGD", "lr": 0.01, "momentum": 0.9,
                              "scheduler": {"name": "StepLR", "step_size": 10, "gamma": 0.1}}]}
    loaded = load_dict(config)
    dataset = loaded.problem.dataset(1)
    state = initial_state(loaded, 1, dataset)
    spec, parts = loaded.optimizers[0]
    plain_times, optviz_times, bare_times = [], [], []
    with one_thread():
        for _ in range(arguments.repeats):
            bare_times.append(bare(loaded, 1, state))
            plain_times.append(plain(loaded, 1, state))
            started = time.perf_counter()
            train_one(loaded, spec.display_label, spec.name, parts, 1, dataset, state)
            optviz_times.append(time.perf_counter() - started)
    ratio = min(optviz_times) / min(plain_times)
    print(f"{loaded.iterations} iterations: plain loop {min(plain_times):.3f} s, optviz {min(optviz_times):.3f} s, "
          f"ratio {ratio:.3f} (target <= 1.15)")
    print(f"  for reference, the bare loop (no evaluation, nothing recorded): {min(bare_times):.3f} s, "
          f"optviz / bare {min(optviz_times) / min(bare_times):.3f}")
    ok = ratio <= 1.15
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
