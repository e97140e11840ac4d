"""Noisy gradients: common random numbers, exact batching under noise, finite sums, clipping on request."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from optviz import config_from_dict, run
from optviz.engine import run_batch
from optviz.problems import Noise, get_function
from optviz.problems.noise import noise_rows
from optviz.store.rundir import load_run
from optviz.pipelines.run import run_to_dir

STARTS = [[-1.0, 1.0], [0.5, -1.5], [1.2, 0.3], [-0.3, -0.4]]


def noisy(noise: dict, optimizers: list, **extra) -> dict:
    return {"function": "peaks", "start": STARTS, "steps": 25, "optimizers": optimizers, "noise": noise, **extra}


# Stacked (SGD, Adam), separate (Adafactor) and sequential (LBFGS, a plateau scheduler) layouts.
LAYOUTS = [
    {"name": "SGD", "lr": 0.02, "momentum": 0.9},
    {"name": "Adam", "lr": 0.05},
    {"name": "Adafactor", "lr": 0.05},
    {"name": "LBFGS", "lr": 0.1},
    {"name": "SGD", "lr": 0.02, "label": "plateau", "scheduler": {"name": "ReduceLROnPlateau", "patience": 2}},
]
NOISES = {
    "gaussian": {"kind": "gaussian", "scale": 0.5, "seeds": 3},
    "student_t-relative": {"kind": "student_t", "scale": 0.3, "df": 3, "relative": True, "seeds": 2, "seed": 7},
    "uniform": {"kind": "uniform", "scale": 1.0, "seeds": 2},
}


@pytest.mark.parametrize("noise", list(NOISES))
def test_identical_optimizers_under_two_labels_see_identical_noise(noise):
    spec = {"name": "Adam", "lr": 0.05}
    result = run(config_from_dict(noisy(NOISES[noise], [spec, {**spec, "label": "twin"}])))
    first, second = result["Adam"], result["twin"]
    np.testing.assert_array_equal(first.positions, second.positions)
    np.testing.assert_array_equal(first.loss, second.loss)
    np.testing.assert_array_equal(first.grad_norm, second.grad_norm)


@pytest.mark.parametrize("noise", list(NOISES))
def test_the_first_starts_of_a_batch_get_the_noise_they_get_alone(noise):
    whole = run(config_from_dict(noisy(NOISES[noise], LAYOUTS)))
    part = run(config_from_dict(noisy(NOISES[noise], LAYOUTS, start=STARTS[:2])))
    rows = whole.start_index < 2
    np.testing.assert_array_equal(part.start_index, whole.start_index[rows])
    np.testing.assert_array_equal(part.noise_seed, whole.noise_seed[rows])
    for label in whole.labels:
        np.testing.assert_array_equal(part[label].positions, whole[label].positions[rows], err_msg=label)
        np.testing.assert_array_equal(part[label].loss, whole[label].loss[rows], err_msg=label)


def test_rows_are_every_start_under_every_seed_seed_by_seed():
    result = run(config_from_dict(noisy({"kind": "gaussian", "scale": 0.1, "seeds": 3, "seed": 5},
                                        [{"name": "SGD", "lr": 0.01}])))
    assert result.start_index.tolist() == [0, 1, 2, 3] * 3
    assert result.noise_seed.tolist() == [5] * 4 + [6] * 4 + [7] * 4
    np.testing.assert_array_equal(result.starts, np.array(STARTS * 3, dtype=float))
    assert result.rows_in_words() == "3 noise seeds x 4 starts"


def hand_loop(start: list[float], noise: Noise, seed: int, start_index: int, steps: int, lr: float,
              clip: float | None = None) -> np.ndarray:
    """A plain torch.optim loop with the noise added by hand: what every batched row must equal."""
    function = get_function("peaks")
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=lr)
    path = [x.detach().clone().numpy()]
    for step in range(steps):
        optimizer.zero_grad()
        function(x).backward()
        draw = noise.gradient_noise(np.array([seed]), np.array([start_index]), step, 0, 2)[:, 0]
        with torch.no_grad():
            scale = x.grad.square().sum().sqrt() if noise.relative else 1.0
            x.grad.add_(torch.from_numpy(draw) * scale)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_([x], clip)
        optimizer.step()
        path.append(x.detach().clone().numpy())
    return np.array(path)


@pytest.mark.parametrize("noise", ["gaussian", "student_t-relative"])
@pytest.mark.parametrize("clip", [None, 1.0])
def test_batched_rows_equal_a_hand_written_loop_with_the_same_noise(noise, clip):
    spec = {"name": "Adam", "lr": 0.05, **({"clip_grad_norm": clip} if clip else {})}
    config = config_from_dict(noisy(NOISES[noise], [spec], dtype="float64"))
    result = run(config)
    for row in range(len(result.starts)):
        expected = hand_loop(list(result.starts[row]), Noise.of(config.noise), int(result.noise_seed[row]),
                             int(result.start_index[row]), 25, 0.05, clip)
        np.testing.assert_allclose(result["Adam"].positions[row], expected, rtol=1e-12, atol=1e-12)


def test_a_different_noise_seed_gives_a_different_path_and_the_same_seed_the_same():
    def paths(seed: int) -> np.ndarray:
        config = noisy({"kind": "gaussian", "scale": 0.5, "seed": seed}, [{"name": "SGD", "lr": 0.02}])
        return run(config_from_dict(config))["SGD"].positions

    np.testing.assert_array_equal(paths(1), paths(1))
    assert not np.allclose(paths(1)[:, 1:], paths(2)[:, 1:])


def test_noise_has_the_asked_distribution_and_does_not_depend_on_the_other_rows():
    seeds, starts = noise_rows(2000, (0, 1))
    seeds, starts = starts * 0 + seeds, starts  # (noise seed, start index) per row
    gaussian = Noise(kind="gaussian", scale=2.0, relative=False, df=3, batch_size=None, seeds=(0, 1))
    draws = gaussian.gradient_noise(seeds, starts, 3, 0, 2)
    assert draws.shape == (2, 4000)
    assert abs(draws.mean()) < 0.1 and abs(draws.std() - 2.0) < 0.1
    assert abs(np.corrcoef(draws[0], draws[1])[0, 1]) < 0.05  # the coordinates are independent
    np.testing.assert_array_equal(gaussian.gradient_noise(seeds[5:9], starts[5:9], 3, 0, 2), draws[:, 5:9])
    assert not np.array_equal(gaussian.gradient_noise(seeds, starts, 4, 0, 2), draws)  # each step its own
    uniform = Noise(kind="uniform", scale=0.5, relative=False, df=3, batch_size=None, seeds=(0, 1))
    values = uniform.gradient_noise(seeds, starts, 0, 0, 2)
    assert values.min() >= -0.5 and values.max() <= 0.5 and abs(values.std() - 0.5 / np.sqrt(3)) < 0.02
    heavy = Noise(kind="student_t", scale=1.0, relative=False, df=2, batch_size=None, seeds=(0, 1))
    tails = np.abs(heavy.gradient_noise(seeds, starts, 0, 0, 2))
    assert (tails > 5).mean() > 3 * (np.abs(draws / 2.0) > 5).mean() + 0.005  # far heavier than a normal's


def test_minibatches_visit_every_term_once_per_epoch_in_an_order_of_seed_and_step():
    noise = Noise(kind=None, scale=0.0, relative=False, df=3, batch_size=8, seeds=(0,))
    terms = get_function("least_squares").terms.count
    epoch = np.concatenate([noise.minibatch(np.array([3]), step, terms)[0] for step in range(terms // 8)])
    assert sorted(epoch.tolist()) == list(range(terms))
    shared = noise.minibatch(np.array([3, 3, 4]), 2, terms)
    np.testing.assert_array_equal(shared[0], shared[1])  # every start under one seed: the same minibatch
    assert not np.array_equal(shared[0], shared[2])
    assert not np.array_equal(noise.minibatch(np.array([3]), terms // 8, terms)[0], epoch[:8])  # a new epoch


def test_a_minibatch_gradient_is_the_mean_of_its_terms_gradients():
    config = config_from_dict({"function": "least_squares", "start": [[0.0, 0.0], [3.0, -1.0]], "steps": 12,
                               "dtype": "float64", "optimizers": [{"name": "SGD", "lr": 0.1}],
                               "noise": {"batch_size": 5, "seeds": 2}})
    result = run(config)
    noise, terms = Noise.of(config.noise), get_function("least_squares").terms
    a, b = terms.data.T
    for row in range(len(result.starts)):
        w = result.starts[row].copy()
        for step in range(12):
            picked = noise.minibatch(result.noise_seed[row:row + 1], step, terms.count)[0]
            residual = w[0] + w[1] * a[picked] - b[picked]
            w = w - 0.1 * np.array([residual.mean(), (residual * a[picked]).mean()])
        np.testing.assert_allclose(result["SGD"].positions[row, -1], w, rtol=1e-12)
        # The recorded loss is the whole sum's, not the minibatch's.
        np.testing.assert_allclose(result["SGD"].loss[row, -1], get_function("least_squares")(w), rtol=1e-12)


def test_a_sweep_cell_under_noise_equals_its_run_alone():
    configs = [config_from_dict(noisy(NOISES["gaussian"], [{"name": "SGD", "lr": lr, "momentum": 0.9}]))
               for lr in (0.01, 0.02, 0.05)]
    for together, config in zip(run_batch(configs), configs):
        alone = run(config)
        np.testing.assert_array_equal(together.trajectories[0].positions, alone.trajectories[0].positions)
        np.testing.assert_array_equal(together.noise_seed, alone.noise_seed)


@pytest.mark.parametrize("noise", ["gaussian", "student_t-relative"])
@pytest.mark.parametrize("clip", [None, 1.0], ids=["unclipped", "clipped"])
def test_stacked_sweep_cells_under_noise_equal_param_groups_and_runs_alone(noise, clip):
    # 20 lrs x 2 momenta stack into 2 param groups with a tensor lr each; every cell's row sees
    # the noise of its (noise seed, start index, step), whatever its lr.
    configs = [config_from_dict(noisy(NOISES[noise], [{"name": "SGD", "lr": lr, "momentum": momentum,
                                                       "clip_grad_norm": clip}]))
               for momentum in (0.0, 0.9) for lr in np.geomspace(0.001, 0.05, 20).tolist()]
    routes = []
    stacked = run_batch(configs, routed=routes.append)
    assert [(route.route, route.param_groups) for route in routes] == [("stacked", 2)]
    grouped = run_batch(configs, stack=False)
    for index, config in enumerate(configs):
        expected = grouped[index].trajectories[0]
        if index % 7 == 0:  # a few lone runs too; param groups equal them (test above)
            alone = run(config).trajectories[0]
            np.testing.assert_array_equal(expected.positions, alone.positions)
        got = stacked[index].trajectories[0]
        for name in ("positions", "loss", "grad_norm", "lr", "diverged_step"):
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
        np.testing.assert_array_equal(stacked[index].noise_seed, grouped[index].noise_seed)


def test_clipping_only_on_request_and_the_legend_says_so():
    from optviz.render.style import diverged_label

    plain = run(config_from_dict(noisy({"kind": "gaussian", "scale": 3.0}, [{"name": "SGD", "lr": 0.01}])))
    clipped = run(config_from_dict(noisy({"kind": "gaussian", "scale": 3.0},
                                         [{"name": "SGD", "lr": 0.01, "clip_grad_norm": 1.0}])))
    assert np.nanmax(plain["SGD"].grad_norm) > 2  # nothing clips unless asked
    assert np.nanmax(clipped["SGD"].grad_norm) <= 1.0 + 1e-5
    assert diverged_label(plain["SGD"]) == "SGD"
    assert diverged_label(clipped["SGD"]) == "SGD [grad clipped to norm 1]"


def test_a_noisy_run_folder_keeps_its_rows_and_states_the_expected_final_loss(tmp_path):
    config = config_from_dict(noisy({"kind": "gaussian", "scale": 0.5, "seeds": 4},
                                    [{"name": "Adam", "lr": 0.05, "clip_grad_norm": 2.0}],
                                    render={"figures": ["loss", "path"]}))
    manifest = run_to_dir(config, tmp_path / "out")
    back = load_run(tmp_path / "out")
    np.testing.assert_array_equal(back.noise_seed, np.repeat([0, 1, 2, 3], 4))
    np.testing.assert_array_equal(back.start_index, np.tile(np.arange(4), 4))
    assert back["Adam"].clip_grad_norm == 2.0
    with open(tmp_path / "out" / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:4] == ["label", "start", "noise_seed", "status"]
    assert [(row["start"], row["noise_seed"]) for row in rows[:5]] == [("0", "0"), ("1", "0"), ("2", "0"),
                                                                      ("3", "0"), ("0", "1")]
    expected = manifest["runs"][0]["expected_final_loss"]
    final = back["Adam"].final_loss.astype(float)
    assert expected["mean"] == pytest.approx(final.mean())
    assert expected["rows"] == 16 and expected["diverged_rows"] == 0
    assert manifest["noise"]["noise_seeds"] == [0, 1, 2, 3]
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["noise"]["kind"] == "gaussian"


def test_the_cli_summary_states_the_expected_final_loss(tmp_path):
    from click.testing import CliRunner

    from optviz.cli import cli

    path = tmp_path / "noisy.yaml"
    path.write_text("function: peaks\nstart: [[-0.5, 1.6]]\nsteps: 30\noptimizers: [{name: Adam, lr: 0.1}]\n"
                    "noise: {kind: gaussian, scale: 1.0, seeds: 5}\nrender: {figures: [loss]}\n")
    output = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "out")])
    assert output.exit_code == 0, output.output
    assert "expected final loss" in output.output and "(std over 5 noise seeds x 1 start; IQR" in output.output


@pytest.mark.parametrize("noise", [*NOISES, "minibatches"])
def test_chunked_and_two_process_noisy_runs_equal_one_batch(noise):
    """Rows of one start under several noise seeds land in different chunks; each keeps its noise."""
    if noise == "minibatches":
        config = config_from_dict({"function": "noisy_quadratic", "start": STARTS, "steps": 25, "dtype": "float64",
                                   "noise": {"batch_size": 10, "seeds": 3, "kind": "gaussian", "scale": 0.1},
                                   "optimizers": LAYOUTS[:3]})
    else:
        config = config_from_dict(noisy(NOISES[noise], LAYOUTS[:3]))
    one = run(config, workers=1, chunk_rows=10**6)
    for chunk_rows, workers in ((3, 1), (5, 2)):
        other = run(config, workers=workers, chunk_rows=chunk_rows)
        np.testing.assert_array_equal(other.start_index, one.start_index)
        np.testing.assert_array_equal(other.noise_seed, one.noise_seed)
        for first, second in zip(one, other, strict=True):
            for name in ("positions", "loss", "lr", "grad_norm", "diverged_step"):
                assert getattr(second, name).tobytes() == getattr(first, name).tobytes(), (first.label, name, workers)
