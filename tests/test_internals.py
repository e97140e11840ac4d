"""The optimizers' internals: the recorded state, gradient and update equal a plain loop's, bit for bit.

Row k of the internals describes the step taken from x_k: the gradient at x_k, the state
``optimizer.state[x]`` after that step and the update x_{k+1} - x_k (NaN at the last record).
"""

import numpy as np
import pytest
import torch

from optviz import config_from_dict, get_function, run
from optviz.engine import run_batch
from optviz.load import load_dict
from optviz.results.internals import Internals, effective_lr, norm, update_cosine

STARTS = [[0.0, 0.9], [-1.0, -1.0], [1.5, 0.2]]
SPECS = [
    {"name": "Adam", "lr": 0.1},
    {"name": "SGD", "lr": 0.01, "momentum": 0.9},
    {"name": "RMSprop", "lr": 0.05, "alpha": 0.9, "momentum": 0.5},
    {"name": "Adagrad", "lr": 0.3},
    {"name": "Adadelta", "lr": 2.0},
]
STEPS, EVERY = 12, 5  # records at steps 0, 5, 10 and 12


def plain_loop(starts, spec, steps=STEPS):
    """By hand, over one tensor: a (dim,) vector for one start, a (dim, starts) matrix for several (f summed).

    Returns, per step, the gradient before the step, x_{k+1} - x_k and a copy of optimizer.state[x] after it.
    """
    function = get_function("peaks")
    points = np.asarray(starts, dtype=np.float64)
    x = torch.tensor(points if points.ndim == 1 else points.T, dtype=torch.float64, requires_grad=True)
    optimizer = getattr(torch.optim, spec["name"])([x], **{key: value for key, value in spec.items() if key != "name"})
    gradients, updates, states = [], [], []
    for _ in range(steps):
        optimizer.zero_grad()
        function.fn(*x.unbind(0), torch).sum().backward()
        before = x.detach().clone()
        gradients.append(x.grad.clone())
        optimizer.step()
        updates.append(x.detach() - before)
        states.append({name: value.clone() for name, value in optimizer.state[x].items()
                       if isinstance(value, torch.Tensor) and value.shape == x.shape})
    return gradients, updates, states


def rows(tensor, single: bool) -> np.ndarray:
    """A plain loop's tensor as the engine's [start, axis] rows."""
    return tensor.numpy()[None] if single else tensor.numpy().T


def assert_equals_plain_loop(internals: Internals, steps: np.ndarray, starts, spec) -> None:
    single = np.asarray(starts).ndim == 1
    gradients, updates, states = plain_loop(starts, spec)
    assert set(internals.state) == set(states[0])
    for record, step in enumerate(steps):
        if step == STEPS:  # the last record takes no step
            assert np.isnan(internals.update[:, record]).all()
            assert all(np.isnan(values[:, record]).all() for values in internals.state.values())
            continue
        np.testing.assert_array_equal(internals.gradient[:, record], rows(gradients[step], single))
        np.testing.assert_array_equal(internals.update[:, record], rows(updates[step], single))
        for name, values in internals.state.items():
            np.testing.assert_array_equal(values[:, record], rows(states[step][name], single), err_msg=name)


def internals_config(start, specs, **extra):
    return config_from_dict({"function": "peaks", "start": start, "steps": STEPS, "dtype": "float64",
                             "record": {"every": EVERY}, "optimizers": specs, **extra})


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec["name"])
def test_one_start_records_the_plain_loops_state_bit_for_bit(spec):
    trajectory = run(internals_config(STARTS[0], [spec])).trajectories[0]
    assert trajectory.steps.tolist() == [0, 5, 10, 12]
    assert_equals_plain_loop(trajectory.internals, trajectory.steps, STARTS[0], spec)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec["name"])
def test_a_batched_run_records_the_plain_loops_state_bit_for_bit(spec):
    """Stacked into one (dim, starts) tensor, as the engine runs them: the same tensor by hand."""
    trajectory = run(internals_config(STARTS, [spec])).trajectories[0]
    assert trajectory.internals.gradient.shape == (3, 4, 2)
    assert_equals_plain_loop(trajectory.internals, trajectory.steps, STARTS, spec)


def test_adam_and_sgd_name_their_own_state():
    result = run(internals_config(STARTS, [SPECS[0], SPECS[1], {"name": "SGD", "lr": 0.01, "label": "plain SGD"}]))
    assert sorted(result["Adam"].internals.state) == ["exp_avg", "exp_avg_sq"]
    assert sorted(result["SGD"].internals.state) == ["momentum_buffer"]
    assert result["plain SGD"].internals.state == {}  # no momentum, no state


@pytest.mark.parametrize("spec", [
    {"name": "Adafactor", "lr": 0.05},  # one tensor per start
    {"name": "LBFGS", "lr": 0.5, "max_iter": 3},  # start by start; its direction d has x's shape
], ids=lambda spec: spec["name"])
def test_separate_and_sequential_layouts_record_each_starts_own_state(spec):
    together = run(internals_config(STARTS, [spec])).trajectories[0].internals
    for index, start in enumerate(STARTS):
        alone = run(internals_config(start, [spec])).trajectories[0].internals
        assert set(together.state) == set(alone.state) and together.state
        for name in ("gradient", "update"):
            np.testing.assert_array_equal(getattr(together, name)[index], getattr(alone, name)[0])
        for name in alone.state:
            np.testing.assert_array_equal(together.state[name][index], alone.state[name][0])


@pytest.mark.parametrize("count,stacked", [(3, False), (18, True)])
def test_a_sweeps_param_groups_record_each_runs_state(count, stacked):
    """run_batch's groups layout (and its stacked tensor lr) gives each run the internals it has alone."""
    lrs = np.linspace(0.001, 0.02, count).tolist()
    configs = [internals_config(STARTS, [{"name": "SGD", "lr": lr, "momentum": 0.9}]) for lr in lrs]
    routes = []
    together = run_batch(configs, routed=routes.append)
    assert (routes[0].route == "stacked") == stacked
    for config, result in zip(configs, together):
        alone = run(config).trajectories[0].internals
        got = result.trajectories[0].internals
        for name in ("gradient", "update"):
            np.testing.assert_array_equal(getattr(got, name), getattr(alone, name))
        np.testing.assert_array_equal(got.state["momentum_buffer"], alone.state["momentum_buffer"])


def test_noisy_and_clipped_gradients_are_recorded_as_the_optimizer_saw_them():
    config = internals_config(STARTS, [{"name": "SGD", "lr": 0.01, "clip_grad_norm": 0.5}],
                              noise={"kind": "gaussian", "scale": 0.3, "seeds": 2})
    trajectory = run(config).trajectories[0]
    internals = trajectory.internals
    np.testing.assert_allclose(norm(internals.gradient), trajectory.grad_norm, rtol=1e-12)
    assert (norm(internals.gradient) <= 0.5 + 1e-9).all()
    # Plain SGD: the update is -lr times the gradient it saw.
    np.testing.assert_allclose(internals.update[:, :-1], -0.01 * internals.gradient[:, :-1], rtol=1e-12)


def test_chunks_and_workers_join_the_internals_as_one_batch():
    config = config_from_dict({"function": "peaks", "start": {"grid": [6, 5]}, "steps": 9, "dtype": "float64",
                               "optimizers": [{"name": "Adam", "lr": 0.1}]})
    whole = run(config).trajectories[0].internals
    for options in ({"chunk_rows": 7}, {"chunk_rows": 8, "workers": 2}):
        parts = run(config, **options).trajectories[0].internals
        for name in ("gradient", "update"):
            np.testing.assert_array_equal(getattr(parts, name), getattr(whole, name))
        for name in whole.state:
            np.testing.assert_array_equal(parts.state[name], whole.state[name])


# --- derived ----------------------------------------------------------------------------


def test_sgds_effective_lr_is_its_lr_on_every_axis_and_adams_differs_per_axis():
    result = run(internals_config(STARTS[1], [{"name": "SGD", "lr": 0.01}, {"name": "Adam", "lr": 0.1}]))
    sgd = effective_lr(result["SGD"].internals)[0, :-1]
    np.testing.assert_allclose(sgd, 0.01, rtol=1e-9)
    assert np.isnan(effective_lr(result["SGD"].internals)[0, -1]).all()  # the last record has no update
    adam = effective_lr(result["Adam"].internals)[0, :-1]
    assert not np.allclose(adam[:, 0], adam[:, 1])
    # Adam's first step moves every axis by lr: |update_i| = lr, so its effective lr is lr / |grad_i|.
    np.testing.assert_allclose(adam[0], 0.1 / np.abs(result["Adam"].internals.gradient[0, 0]), rtol=1e-6)


def test_cosine_and_ratios_on_hand_made_vectors():
    gradient = np.array([[[1.0, 0.0], [0.0, 2.0], [3.0, 4.0], [0.0, 0.0]]])
    update = np.array([[[-0.5, 0.0], [1.0, 0.0], [3.0, 4.0], [1.0, 1.0]]])
    internals = Internals(gradient=gradient, update=update)
    np.testing.assert_allclose(update_cosine(internals)[0, :3], [1.0, 0.0, -1.0])
    assert np.isnan(update_cosine(internals)[0, 3])  # no gradient, no angle
    np.testing.assert_allclose(norm(update)[0], [0.5, 1.0, 5.0, np.sqrt(2)])
    ratio = effective_lr(internals)[0]
    np.testing.assert_allclose(ratio[0], [0.5, np.nan])
    np.testing.assert_allclose(ratio[2], [1.0, 1.0])
    assert np.isnan(ratio[3]).all()


def test_momentum_and_preconditioner_are_found_by_name():
    empty = np.zeros((1, 1, 2))
    assert Internals(empty, empty, {"momentum_buffer": empty}).momentum_name == "momentum_buffer"
    adam = Internals(empty, empty, {"exp_avg": empty, "exp_avg_sq": empty})
    assert adam.momentum_name == "exp_avg" and adam.preconditioned
    assert Internals(empty, empty, {"sum": empty}).momentum is None
    assert not Internals(empty, empty).preconditioned


# --- when they are recorded ------------------------------------------------------------


def test_internals_are_recorded_by_default_within_their_budget_and_not_beyond():
    small = load_dict({"function": "peaks", "start": [0.0, 0.9], "optimizers": ["Adam"]})
    assert small.internals and small.internals_skipped is None
    assert "internals" in small.memory.parts
    big = load_dict({"function": "peaks", "start": {"grid": [300, 300]}, "steps": 100, "record": {"every": 1},
                     "optimizers": ["Adam"]})
    assert not big.internals
    assert big.internals_skipped == (
        "optimizer internals (state, gradient, update) not recorded: they would take 346.8 MB, more than the "
        "16.0 MB optviz records them in; record fewer steps (record.every) or starts, or set record.internals: true")
    assert run(big.config.model_copy(update={"start": [[0.0, 0.9]]})).trajectories[0].internals is not None


def test_record_internals_false_and_true():
    off = load_dict({"function": "peaks", "start": [0.0, 0.9], "record": {"internals": False},
                     "optimizers": ["Adam"]})
    assert not off.internals and off.internals_skipped is None
    assert run(off).trajectories[0].internals is None
    forced = load_dict({"function": "peaks", "start": {"grid": [300, 300]}, "steps": 100, "record": {"every": 1,
                        "internals": True}, "optimizers": ["Adam"]})
    assert forced.internals and forced.internals_skipped is None


def test_a_run_folder_keeps_the_internals_exactly(tmp_path):
    from optviz.store.rundir import load_run, write_data

    result = run(internals_config(STARTS, SPECS[:2]))
    write_data(result, tmp_path)
    back = load_run(tmp_path)
    for before, after in zip(result, back):
        for name in ("gradient", "update"):
            np.testing.assert_array_equal(getattr(after.internals, name), getattr(before.internals, name))
        assert sorted(after.internals.state) == sorted(before.internals.state)
        for name, values in before.internals.state.items():
            np.testing.assert_array_equal(after.internals.state[name], values)
    assert sorted(name for name in np.load(tmp_path / "trajectories.npz").files if "state" in name) == [
        "state_exp_avg_0", "state_exp_avg_sq_0", "state_momentum_buffer_1"]


def test_a_run_too_big_for_internals_says_so_in_its_warnings(tmp_path):
    from optviz.pipelines.run import run_to_dir

    manifest = run_to_dir(load_dict({"function": "peaks", "start": {"grid": [300, 300]}, "steps": 20,
                                     "record": {"every": 1}, "render": {"figures": []},
                                     "optimizers": [{"name": "Adam", "lr": 0.1}]}), tmp_path / "run")
    assert any(warning.startswith("optimizer internals (state, gradient, update) not recorded")
               for warning in manifest["warnings"])


# --- figures and animation ------------------------------------------------------------


def test_run_writes_internals_png_and_arrows_on_path_png(tmp_path):
    from PIL import Image

    from optviz.pipelines.run import run_to_dir
    from optviz.render import save_path

    config = internals_config([0.0, 0.9], SPECS[:2], render={"figures": ["path", "internals"],
                                                              "internals": {"every": 5}})
    manifest = run_to_dir(config, tmp_path / "run")
    assert {"internals.png", "path.png"} <= set(manifest["files"])
    image = np.asarray(Image.open(tmp_path / "run" / "internals.png").convert("L"))
    assert image.std() > 10  # drawn, not blank
    # The arrows are drawn: path.png differs from the same run without them.
    result = run(config)
    plain = run(config.model_copy(update={"render": config.render.model_copy(update={"internals": None})}))
    save_path(result, tmp_path / "with.png")
    save_path(plain, tmp_path / "without.png")
    with_arrows = np.asarray(Image.open(tmp_path / "with.png").convert("L"), dtype=int)
    without = np.asarray(Image.open(tmp_path / "without.png").convert("L"), dtype=int)
    assert with_arrows.shape != without.shape or np.abs(with_arrows - without).sum() > 0


def test_internals_png_is_left_out_when_nothing_was_recorded(tmp_path):
    from optviz.pipelines.run import run_to_dir

    config = internals_config([0.0, 0.9], SPECS[:1], record={"every": EVERY, "internals": False},
                              render={"figures": ["loss", "internals"]})
    files = run_to_dir(config, tmp_path / "run")["files"]
    assert "internals.png" not in files and "loss.png" in files


def test_animate_internals_writes_frames_with_arrows_riding_along(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from optviz.cli import cli
    from optviz.pipelines.run import run_to_dir

    run_to_dir(internals_config([0.0, 0.9], SPECS[:2], render={"figures": []}), tmp_path / "run")
    runner = CliRunner()
    arrows = runner.invoke(cli, ["animate", str(tmp_path / "run"), "--internals", "-q", "--frames", "4"])
    assert arrows.exit_code == 0, arrows.output
    plain = runner.invoke(cli, ["animate", str(tmp_path / "run"), "-q", "--frames", "4"])
    assert plain.exit_code == 0, plain.output
    with Image.open(tmp_path / "run" / "animation-internals.gif") as gif, \
            Image.open(tmp_path / "run" / "animation.gif") as bare:
        assert gif.n_frames == 4
        gif.seek(1)
        bare.seek(1)
        assert np.asarray(gif.convert("RGB")).shape == np.asarray(bare.convert("RGB")).shape
        assert np.abs(np.asarray(gif.convert("L"), dtype=int) - np.asarray(bare.convert("L"), dtype=int)).sum() > 0
    both = runner.invoke(cli, ["animate", str(tmp_path / "run"), "--internals", "--3d"])
    assert both.exit_code == 2
    assert both.output.strip().splitlines()[-1] == "Error: --internals draws on the flat map; it does not combine with --3d"


def test_animate_internals_of_a_run_without_them_is_one_error_line(tmp_path):
    from click.testing import CliRunner

    from optviz.cli import cli
    from optviz.pipelines.run import run_to_dir

    run_to_dir(internals_config([0.0, 0.9], SPECS[:1], record={"internals": False}, render={"figures": []}),
               tmp_path / "run")
    outcome = CliRunner().invoke(cli, ["animate", str(tmp_path / "run"), "--internals"])
    assert outcome.exit_code == 2
    assert outcome.output.strip() == (
        "Error: render.animation.internals: this run recorded no optimizer internals to draw (record.internals: "
        "false, or they did not fit); run it again with record.internals: true")
