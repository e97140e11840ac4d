import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from optviz import config_from_dict  # noqa: E402


@pytest.fixture
def make_config():
    """Build a validated Config from keyword overrides of a small 2D run."""

    def build(**overrides):
        data = {"function": "rosenbrock", "start": [-1.0, 1.5], "steps": 20, "dtype": "float64",
                "optimizers": [{"name": "Adam", "lr": 0.05}]}
        data.update(overrides)
        return config_from_dict(data)

    return build
