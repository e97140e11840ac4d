"""Many starts at once: each start's trajectory is the one it has alone, whatever the batch.

Element-wise optimizers share one (dim, starts) tensor; Adafactor gets one tensor per
start; LBFGS, user classes and loss-driven schedulers run start by start. On this
machine batched and lone runs agree bit for bit (checked once by hand over 100 steps,
13 optimizers, 4 functions, both dtypes); the tests allow 1e-6 relative, as vectorized
and scalar kernels (exp, pow) may round differently on another CPU.
"""

import numpy as np
import pytest
import torch

from conftest import OPTIMIZERS
from optviz import config_from_dict, run
from optviz.engine import batch_layout
from optviz.store.rundir import load_run, write_data
from optviz.problems import function_of

TARGETS = {
    "rosenbrock": [[-1.2, 1.0], [0.5, 0.5], [1.5, 2.5], [-0.3, -0.8]],
    "peaks": [[0.0, 0.9], [-1.0, -1.0], [1.5, 0.2], [2.0, -2.5]],
    "six_hump_camel": [[0.5, 0.5], [-1.5, -0.8], [1.9, 1.0], [0.0, -1.1]],
}
RTOL = 1e-6


def config(function, start, spec, *, steps=40, dtype="float64", **extra):
    return config_from_dict({"function": function, "start": start, "steps": steps, "dtype": dtype,
                             "optimizers": [spec], **extra})


def assert_each_start_runs_as_alone(function, starts, spec, **extra):
    """The batched trajectory of every start equals the run of that start on its own."""
    together = run(config(function, starts, spec, **extra)).trajectories[0]
    for index, start in enumerate(starts):
        alone = run(config(function, start, spec, **extra)).trajectories[0]
        np.testing.assert_allclose(together.positions[index], alone.positions[0], rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(together.loss[index], alone.loss[0], rtol=RTOL, atol=1e-12)
        np.testing.assert_allclose(together.grad_norm[index], alone.grad_norm[0], rtol=RTOL, atol=1e-12)
        np.testing.assert_array_equal(together.lr[index], alone.lr[0])
        assert together.diverged_step[index] == alone.diverged_step[0]
        assert together.converged_step[index] == alone.converged_step[0]
    return together


@pytest.mark.parametrize("function", sorted(TARGETS))
@pytest.mark.parametrize("spec", OPTIMIZERS, ids=lambda spec: spec["name"])
def test_batched_equals_each_start_alone(spec, function):
    assert_each_start_runs_as_alone(function, TARGETS[function], spec)


@pytest.mark.parametrize("spec,layout", [
    ({"name": "Adam"}, "stacked"),
    ({"name": "Rprop"}, "stacked"),
    ({"name": "Adam", "scheduler": {"name": "StepLR", "step_size": 5}}, "stacked"),
    ({"name": "Adafactor"}, "separate"),
    ({"name": "LBFGS"}, "sequential"),
    ({"name": "Adam", "scheduler": {"name": "ReduceLROnPlateau", "patience": 2}}, "sequential"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_layout_follows_what_the_update_couples(spec, layout):
    from optviz.optimizers import resolve_optimizer_spec

    built = config("peaks", [0, 0], spec)
    cls, _, scheduler = resolve_optimizer_spec(built.optimizers[0], built)
    assert batch_layout(cls, scheduler) == layout


def test_a_users_optimizer_runs_start_by_start(tmp_path):
    # Moves every element by the norm of the whole tensor: batching it would couple starts.
    (tmp_path / "normed.py").write_text(
        "import torch\n"
        "class NormedGD(torch.optim.Optimizer):\n"
        "    def __init__(self, params, lr=0.1):\n"
        "        super().__init__(params, {'lr': lr})\n"
        "    @torch.no_grad()\n"
        "    def step(self, closure=None):\n"
        "        for group in self.param_groups:\n"
        "            for p in group['params']:\n"
        "                p.add_(p.grad / p.grad.norm(), alpha=-group['lr'])\n")
    spec = {"name": f"{tmp_path}/normed.py:NormedGD", "lr": 0.05}
    together = assert_each_start_runs_as_alone("himmelblau", [[0, 0], [4, -4], [-1, 3]], spec)
    assert together.optimizer == "NormedGD"


def test_adafactor_would_couple_starts_if_stacked_into_a_matrix():
    """Adafactor factors the second moment of a matrix into row and column averages: one
    (starts, dim) matrix would mix starts. The engine's per-start tensors do not."""
    starts = TARGETS["peaks"]
    spec = {"name": "Adafactor", "lr": 0.05}
    engine = run(config("peaks", starts, spec, steps=20)).trajectories[0]
    function = function_of(config("peaks", starts, spec))
    matrix = torch.tensor(starts, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adafactor([matrix], lr=0.05)
    for _ in range(20):
        optimizer.zero_grad()
        function(matrix).sum().backward()
        optimizer.step()
    stacked = matrix.detach().numpy()
    assert np.abs(stacked - engine.final_position).max() > 1e-3
    for index, start in enumerate(starts):
        alone = run(config("peaks", start, spec, steps=20)).trajectories[0]
        np.testing.assert_allclose(engine.final_position[index], alone.final_position[0], rtol=RTOL)


@pytest.mark.parametrize("scheduler", [
    {"name": "StepLR", "step_size": 7, "gamma": 0.5},
    {"name": "CosineAnnealingLR", "T_max": 30},
    {"name": "OneCycleLR", "max_lr": 0.1},
    {"name": "ReduceLROnPlateau", "patience": 2, "factor": 0.5},
], ids=lambda scheduler: scheduler["name"])
def test_schedulers_run_per_start(scheduler):
    spec = {"name": "SGD", "lr": 0.01, "momentum": 0.9, "scheduler": scheduler}
    together = assert_each_start_runs_as_alone("peaks", TARGETS["peaks"], spec)
    # A plateau is each start's own: its lr depends on that start's loss, the others' are shared.
    assert together.shared_lr == (scheduler["name"] != "ReduceLROnPlateau")


def test_a_diverging_start_leaves_the_others_alone():
    starts = [[-1.2, 1.0], [3.5, -3.0], [0.5, 0.5], [-0.3, -0.8]]  # the second blows up at this lr
    spec = {"name": "SGD", "lr": 0.004}
    together = assert_each_start_runs_as_alone("rosenbrock", starts, spec, steps=60)
    step = int(together.diverged_step[1])
    assert 0 < step < 60
    assert not np.isfinite(together.loss[1, step])
    assert np.isnan(together.positions[1, step + 1:]).all() and np.isnan(together.loss[1, step + 1:]).all()
    healthy = [0, 2, 3]
    assert (together.diverged_step[healthy] == -1).all()
    assert np.isfinite(together.positions[healthy]).all()
    # The same healthy starts batched without the diverging one: not a bit changes.
    without = run(config("rosenbrock", [starts[index] for index in healthy], spec, steps=60)).trajectories[0]
    np.testing.assert_array_equal(together.positions[healthy], without.positions)


def test_float32_batches_stay_float32_and_match_alone():
    together = assert_each_start_runs_as_alone("peaks", TARGETS["peaks"], {"name": "Adam", "lr": 0.05},
                                               dtype="float32")
    assert together.positions.dtype == np.float32


# --- what is recorded --------------------------------------------------------------


def test_thinned_records_are_the_full_records_at_those_steps():
    full = run(config("himmelblau", [[0, 0], [1, -4]], {"name": "Adam", "lr": 0.1}, steps=50)).trajectories[0]
    thinned_config = config("himmelblau", [[0, 0], [1, -4]], {"name": "Adam", "lr": 0.1}, steps=50,
                            record={"every": 7})
    thinned = run(thinned_config).trajectories[0]
    assert thinned.steps.tolist() == [0, 7, 14, 21, 28, 35, 42, 49, 50]
    np.testing.assert_array_equal(thinned.positions, full.positions[:, thinned.steps])
    np.testing.assert_array_equal(thinned.loss, full.loss[:, thinned.steps])
    # Convergence is judged at every step, not at the records.
    np.testing.assert_array_equal(thinned.converged_step, full.converged_step)
    # run's record_every overrides the config's record.every.
    overridden = run(config("himmelblau", [[0, 0], [1, -4]], {"name": "Adam", "lr": 0.1}, steps=50,
                            record={"every": 3}), record_every=7).trajectories[0]
    np.testing.assert_array_equal(overridden.steps, thinned.steps)
    np.testing.assert_array_equal(overridden.positions, thinned.positions)


def test_converged_step_is_where_a_start_settles_within_tolerance():
    starts = [[0, 0], [4, 4], [-4, 4], [-4, -4], [0.3, -4.5], [5, 0]]
    result = run(config("himmelblau", starts, {"name": "SGD", "lr": 0.01, "momentum": 0.9}, steps=120,
                        record={"tolerance": 0.05}))
    trajectory = result.trajectories[0]
    minima = np.array([minimum.point for minimum in result.function.minima])
    distance = np.linalg.norm(trajectory.positions[:, :, None, :] - minima, axis=-1).min(axis=-1)
    for start, within in enumerate(distance <= 0.05):
        outside = np.flatnonzero(~within)
        expected = -1 if within[-1] == 0 else (0 if outside.size == 0 else int(outside[-1]) + 1)
        assert trajectory.converged_step[start] == expected
    assert (trajectory.converged_step > 0).all()  # momentum oscillates, then every start settles


def test_default_tolerance_is_a_hundredth_of_the_domain_diagonal():
    assert run(config("himmelblau", [0, 0], {"name": "Adam"}, steps=1)).tolerance == pytest.approx(0.1 * np.sqrt(2))
    assert run(config("saddle", [0, 1], {"name": "Adam"}, steps=1)).trajectories[0].converged_step is None


def test_shared_lr_is_stored_once():
    starts = {"grid": [20, 20]}
    trajectory = run(config("peaks", starts, {"name": "Adam", "scheduler": {"name": "StepLR", "step_size": 3}},
                            steps=10)).trajectories[0]
    assert trajectory.lr.shape == (400, 11) and trajectory.shared_lr
    assert trajectory.lr.strides[0] == 0  # one row, broadcast
    np.testing.assert_allclose(trajectory.lr[123], [0.001] * 3 + [0.0001] * 3 + [1e-5] * 3 + [1e-6] * 2)


def test_run_directory_round_trip_keeps_compact_lr_and_convergence(tmp_path):
    result = run(config("himmelblau", {"grid": [6, 5]}, {"name": "Adam", "lr": 0.1}, steps=30, record={"every": 10}))
    write_data(result, tmp_path)
    with np.load(tmp_path / "trajectories.npz") as archive:
        assert archive["lr_0"].shape == (1, 4)
        assert int(archive["record_every"]) == 10
    loaded = load_run(tmp_path)
    trajectory, original = loaded.trajectories[0], result.trajectories[0]
    assert trajectory.lr.shape == (30, 4) and trajectory.shared_lr
    np.testing.assert_array_equal(trajectory.lr, original.lr)
    np.testing.assert_array_equal(trajectory.converged_step, original.converged_step)
    np.testing.assert_array_equal(trajectory.positions, original.positions)
    assert loaded.record_every == 10 and loaded.tolerance == result.tolerance


def test_records_are_thinned_automatically_when_they_would_not_fit(make_config):
    from optviz.load.record import AUTO_RECORD_BYTES, record_bytes, record_every

    big = make_config(start={"grid": [400, 400]}, steps=500, dtype="float32")
    every = record_every(big, 160_000, 2)
    assert every > 1
    assert record_bytes(big, 160_000, 2, every) <= AUTO_RECORD_BYTES < record_bytes(big, 160_000, 2, every - 1)
    assert record_every(make_config(steps=500), 1, 2) == 1
    assert record_every(make_config(start={"grid": [400, 400]}, steps=500, record={"every": 3}), 160_000, 2) == 3


def test_recording_more_than_memory_allows_is_a_config_error(make_config):
    from optviz import ConfigError

    with pytest.raises(ConfigError) as caught:
        make_config(start={"grid": [2000, 2000]}, steps=2000, record={"every": 1})
    # 4e6 starts x 2001 records x (2 coordinates, f, lr, gradient norm) x 8 bytes
    assert str(caught.value) == ("record.every: recording every 1 step(s) of 4000000 starts would take 298.2 GiB; "
                                 "use 80 or more (at most 4 GiB)")


def test_summary_has_one_row_per_optimizer_and_start(tmp_path):
    from optviz.store.rundir import write_summary_csv

    result = run(config_from_dict({"function": "himmelblau", "start": {"grid": [3, 2]}, "steps": 60, "dtype": "float64",
                                   "optimizers": [{"name": "Adam", "lr": 0.2}, {"name": "SGD", "lr": 0.2, "label": "SGD, big lr"}]}))
    rows = result.summary()
    assert [(row["label"], row["start"]) for row in rows] == [(label, start) for label in ("Adam", "SGD, big lr")
                                                              for start in range(6)]
    lines = write_summary_csv(result, tmp_path / "summary.csv").read_text().splitlines()
    assert lines[0] == ("label,start,status,final_loss,final_x,final_y,nearest_minimum,distance_to_minimum,"
                        "diverged_step,converged_step")
    assert len(lines) == 13
    first = rows[0]
    assert lines[1] == ",".join(["Adam", "0", first["status"], repr(first["final_loss"]),
                                 *map(repr, first["final_position"]), str(first["nearest_minimum"]),
                                 repr(first["distance_to_minimum"]), "", str(first["converged_step"])])
    diverged = next(index for index, row in enumerate(rows) if row["status"] == "diverged")
    assert lines[1 + diverged].startswith(f'"SGD, big lr",{rows[diverged]["start"]},diverged,,,,,,')
