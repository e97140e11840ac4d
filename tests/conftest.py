import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from optviz import config_from_dict  # noqa: E402

# Every listed optimizer with hyperparameters that make it move, in the shape of the YAML:
# test_engine.py checks each against a plain torch.optim loop, test_batched.py many starts at once.
# The element-wise ones come first; LBFGS and Adafactor couple coordinates.
OPTIMIZERS = [
    {"name": "SGD", "lr": 0.002, "momentum": 0.9, "nesterov": True},
    {"name": "Adam", "lr": 0.05},
    {"name": "AdamW", "lr": 0.05, "weight_decay": 0.1},
    {"name": "Adagrad", "lr": 0.3},
    {"name": "Adadelta", "lr": 2.0},
    {"name": "RMSprop", "lr": 0.01, "alpha": 0.9, "momentum": 0.5},
    {"name": "Rprop", "lr": 0.01},
    {"name": "Adamax", "lr": 0.05},
    {"name": "NAdam", "lr": 0.05},
    {"name": "RAdam", "lr": 0.002},
    {"name": "ASGD", "lr": 0.002, "t0": 5},
    {"name": "LBFGS", "lr": 0.5, "max_iter": 3, "history_size": 5, "line_search_fn": "strong_wolfe"},
    {"name": "Adafactor", "lr": 0.05},
]


@pytest.fixture
def make_config():
    """Build a validated Config from keyword overrides of a small 2D run."""

    def build(**overrides):
        data = {"function": "rosenbrock", "start": [-1.0, 1.5], "steps": 20, "dtype": "float64",
                "optimizers": [{"name": "Adam", "lr": 0.05}]}
        data.update(overrides)
        return config_from_dict(data)

    return build

# Fixture files for the bad-config corpus, not tests: one raises on import by design.
collect_ignore_glob = ["bad_configs/*"]


@pytest.fixture(autouse=True)
def no_heartbeat(monkeypatch):
    """Commands without a terminal print a line every 10 s; on a loaded machine that would land
    in the stderr of a slow test. tests/test_pictures.py checks the heartbeat on its own."""
    monkeypatch.setenv("OPTVIZ_HEARTBEAT", "0")
