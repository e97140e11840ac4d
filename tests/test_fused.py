"""``engine: fused``: torch.compile of f, its gradient and the step; the same basins, not the same bits.

The compiled runs need a C++ compiler (inductor's CPU backend); without one they are skipped
here, and the CLI case below shows what a user sees instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from optviz import config_from_dict, run
from optviz.errors import ConfigError
from optviz.load import prepare
from optviz.results.basin import basins

HAS_COMPILER = any(shutil.which(name) for name in (os.environ.get("CXX", "g++"), "g++", "c++", "clang++"))
needs_compiler = pytest.mark.skipif(not HAS_COMPILER, reason="torch.compile needs a C++ compiler")

# torch.compile imports a module that uses a deprecated torch.jit decorator; not optviz's doing.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

# Each optimizer compiles its own step (seconds): one here, Adam on peaks below.
MAP = {"function": "himmelblau", "start": {"grid": [12, 12]}, "steps": 150, "record": {"every": 50},
       "optimizers": [{"name": "SGD", "lr": 0.002, "momentum": 0.9}]}


@needs_compiler
def test_fused_basins_equal_exact_ones():
    exact = run(config_from_dict(MAP))
    fused = run(config_from_dict({**MAP, "engine": "fused"}))
    for exact_basin, fused_basin in zip(basins(exact), basins(fused)):
        np.testing.assert_array_equal(fused_basin.outcome, exact_basin.outcome)
        np.testing.assert_array_equal(fused_basin.converged_step >= 0, exact_basin.converged_step >= 0)
        np.testing.assert_allclose(fused_basin.final_position, exact_basin.final_position, atol=1e-3)
    # Every record is there, as on the exact engine: the steps, positions and losses.
    for exact_run, fused_run in zip(exact, fused):
        assert fused_run.positions.shape == exact_run.positions.shape
        np.testing.assert_array_equal(fused_run.steps, exact_run.steps)
        np.testing.assert_allclose(fused_run.loss, exact_run.loss, rtol=1e-3, atol=1e-3)


@needs_compiler
def test_fused_runs_are_compiled_not_the_exact_steps():
    """Not the exact engine under another name: some bits differ (float32 Adam fuses its arithmetic)."""
    data = {"function": "peaks", "start": {"grid": [16, 16]}, "steps": 200, "optimizers": [{"name": "Adam", "lr": 0.05}]}
    exact = run(config_from_dict(data))
    fused = run(config_from_dict({**data, "engine": "fused"}))
    assert not np.array_equal(exact["Adam"].final_position, fused["Adam"].final_position)
    np.testing.assert_allclose(fused["Adam"].final_position, exact["Adam"].final_position, atol=1e-2)
    np.testing.assert_array_equal(basins(fused)[0].outcome, basins(exact)[0].outcome)


def test_the_engine_is_written_only_when_it_is_not_the_default():
    assert "engine" not in config_from_dict(MAP).to_dict()  # configs and sweep-cell hashes as before
    assert config_from_dict({**MAP, "engine": "fused"}).to_dict()["engine"] == "fused"


@pytest.mark.parametrize(("change", "path", "words"), [
    ({"sweep": {"optimizers.Adam.lr": [0.1, 0.2]}}, "engine", "one map at a time"),
    ({"noise": {"kind": "gaussian", "scale": 0.1}}, "engine", "no gradient noise"),
    ({"optimizers": [{"name": "LBFGS"}]}, "optimizers[0].name", "element-wise optimizers"),
    ({"optimizers": [{"name": "Adam", "scheduler": {"name": "StepLR", "step_size": 5}}]}, "optimizers[0].scheduler",
     "keeps the lr constant"),
    ({"optimizers": [{"name": "Adam", "param_groups": [{"dims": [0], "lr": 0.1}]}]}, "optimizers[0].param_groups",
     "one param group"),
])
def test_what_the_fused_engine_cannot_run_is_refused_before_anything_runs(change, path, words):
    with pytest.raises(ConfigError) as refused:
        prepare(config_from_dict({**MAP, "engine": "fused", **change}))
    assert refused.value.path == path and words in refused.value.message


def test_a_network_is_refused_on_the_fused_engine():
    data = {"problem": {"data": {"name": "moons", "n_samples": 40}, "epochs": 1}, "engine": "fused",
            "optimizers": ["Adam"]}
    with pytest.raises(ConfigError) as refused:
        prepare(config_from_dict(data))
    assert refused.value.path == "engine"


def test_without_a_compiler_the_run_ends_in_one_error_line(tmp_path):
    """What a user without a C++ compiler sees: one line, exit code 1 (the environment), no fallback."""
    config = tmp_path / "fused.yaml"
    config.write_text("function: himmelblau\nstart: {grid: [3, 3]}\nsteps: 5\nengine: fused\noptimizers: [Adam]\n")
    environment = {**os.environ, "CXX": str(tmp_path / "no-such-compiler"),
                   "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache"), "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-m", "optviz", "run", str(config), "--out", str(tmp_path / "out"),
                           "--quiet"], capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: engine: fused could not compile"), done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "trajectories.npz").exists()


def test_every_figure_of_a_fused_run_says_it_is_not_bit_exact():
    assert config_from_dict(MAP).figure_note is None
    fused = config_from_dict({**MAP, "engine": "fused", "render": {"note": "lrs tuned"}})
    assert fused.figure_note == "lrs tuned · engine: fused (torch.compile): not bit for bit torch.optim's own loop"
