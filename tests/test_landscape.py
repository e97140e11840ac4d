"""The loss landscape of a network run: landscape.npz alone recomputes any point, paths are
least-squares projections, random directions are filter-normalized, pca shares are shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from optviz.config import LandscapeSpec
from optviz.landscape import LossEvaluator, compute_landscape, filter_normalized, loop_losses
from optviz.load import load_dict
from optviz.pipelines.run import run_to_dir
from optviz.problems.models import build_model
from optviz.store.landscape import read_landscape
from optviz.training import train

MODEL = {"name": "mlp", "hidden": [16, 16], "activation": "tanh"}
PROBLEM = {"data": {"name": "moons", "n_samples": 200, "noise": 0.2}, "model": MODEL, "batch_size": 16,
           "epochs": 4, "valid": 0.25}
OPTIMIZERS = [{"name": "SGD", "lr": 0.05, "momentum": 0.9}, {"name": "Adam", "lr": 0.01}]


def config(landscape: dict) -> dict:
    return {"problem": PROBLEM, "seeds": [3], "render": {"figures": [], "landscape": landscape},
            "optimizers": OPTIMIZERS}


@pytest.fixture(scope="module")
def pca_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("landscape") / "out"
    manifest = run_to_dir(load_dict(config({"directions": "pca", "resolution": 9, "data": "valid"})), out)
    return out, manifest


@pytest.fixture(scope="module")
def trained():
    loaded = load_dict(config({"directions": "pca", "resolution": 7}))
    initial: dict = {}
    return loaded, train(loaded, initial=initial), initial


def test_landscape_npz_alone_recomputes_random_grid_points(pca_run):
    out, manifest = pca_run
    assert "landscape.npz" in manifest["files"]
    stored = np.load(out / "landscape.npz")
    data = np.load(out / "data-seed3.npz")
    assert str(stored["data"]) == "valid"
    assert stored["loss"].shape == (len(stored["betas"]), len(stored["alphas"])) == (9, 9)
    model = build_model(MODEL, (2,), 2)
    model.load_state_dict(torch.load(out / "init-seed3.pt"))
    model.eval()
    x, y = torch.from_numpy(data["x_valid"]), torch.from_numpy(data["y_valid"])
    rng = np.random.default_rng(0)
    for i, j in zip(rng.integers(0, 9, 5), rng.integers(0, 9, 5)):
        point = stored["origin"] + stored["alphas"][j] * stored["d1"] + stored["betas"][i] * stored["d2"]
        torch.nn.utils.vector_to_parameters(torch.from_numpy(point).float(), model.parameters())
        with torch.no_grad():
            loss = float(torch.nn.functional.cross_entropy(model(x), y))
        assert loss == pytest.approx(stored["loss"][i, j], rel=1e-6)


def test_stored_paths_are_the_least_squares_projection_of_the_recorded_parameters(pca_run):
    out, _ = pca_run
    stored, recorded = np.load(out / "landscape.npz"), np.load(out / "trajectories.npz")
    assert list(stored["labels"]) == list(recorded["labels"]) == ["SGD", "Adam"]
    basis = np.stack([stored["d1"], stored["d2"]], axis=1)
    for index in range(2):
        parameters = recorded[f"parameters_{index}"].astype(np.float64)
        expected = np.linalg.lstsq(basis, (parameters - stored["origin"]).T, rcond=None)[0].T
        np.testing.assert_allclose(stored[f"path_{index}"], expected, rtol=1e-9, atol=1e-9)
        residual = np.linalg.norm(parameters - stored["origin"] - expected @ basis.T, axis=1)
        np.testing.assert_allclose(stored[f"residual_{index}"], residual, rtol=1e-9, atol=1e-9)
        assert stored[f"path_{index}"].shape == (len(parameters), 2)


def test_pca_axes_are_orthonormal_and_explain_at_most_everything(pca_run):
    out, _ = pca_run
    landscape = read_landscape(out / "landscape.npz")
    plane = landscape.plane
    assert plane.kind == "pca" and plane.origin_text == "the mean of the final points"
    np.testing.assert_allclose([plane.d1 @ plane.d1, plane.d2 @ plane.d2, plane.d1 @ plane.d2], [1, 1, 0], atol=1e-9)
    assert plane.explained[0] >= plane.explained[1] >= 0 and sum(plane.explained) <= 100
    for path in landscape.paths:
        assert path.explained <= 1 and len(path.true_loss) == len(path.plane_loss) == len(path.coords)


def test_interpolation_endpoints_are_the_initial_and_final_losses(trained):
    loaded, result, initial = trained
    landscape = compute_landscape(loaded, result, initial)
    dataset = loaded.problem.dataset(3)
    model = loaded.problem.build(dataset)
    model.load_state_dict(initial[3])
    loss_fn = loaded.problem.loss()
    for line, run in zip(landscape.interpolations, result):
        assert (line.t[0], line.t[-1]) == (0.0, 1.0)
        initial_train = loop_losses(model, loss_fn, dataset.x_train, dataset.y_train, run.parameters[:1])[0]
        assert line.train_loss[0] == pytest.approx(initial_train, rel=1e-6)
        assert line.train_loss[-1] == pytest.approx(run.epoch_train_loss[-1], rel=1e-6)
        assert line.valid_loss[-1] == pytest.approx(run.epoch_valid_loss[-1], rel=1e-6)


def test_random_directions_are_filter_normalized_with_zero_biases(trained):
    loaded, result, initial = trained
    model = loaded.problem.build(loaded.problem.dataset(3))
    origin = result.runs[0].parameters[-1].astype(np.float64)
    d1, d2 = filter_normalized(model, origin, seed=5)
    assert not np.allclose(d1, d2)
    offset = 0
    for parameter in model.parameters():
        size = parameter.numel()
        for direction in (d1, d2):
            piece = direction[offset:offset + size]
            if parameter.dim() < 2:
                assert not piece.any()
            else:
                rows, weights = piece.reshape(parameter.shape[0], -1), origin[offset:offset + size].reshape(
                    parameter.shape[0], -1)
                np.testing.assert_allclose(np.linalg.norm(rows, axis=1), np.linalg.norm(weights, axis=1), rtol=1e-12)
        offset += size
    again = filter_normalized(model, origin, seed=5)
    np.testing.assert_array_equal(again[0], d1)


def test_points_plane_passes_through_its_three_points(trained):
    loaded, result, initial = trained
    spec = LandscapeSpec(directions="points", points=["init", "final:SGD", "final:Adam"], resolution=5)
    landscape = compute_landscape(loaded, result, initial, spec)
    sgd, adam = result.runs[0].parameters[-1], result.runs[1].parameters[-1]
    plane = landscape.plane
    np.testing.assert_allclose(plane.origin, result.runs[0].parameters[0])
    np.testing.assert_allclose(plane.origin + plane.d1, sgd, atol=1e-6)
    assert abs(plane.d1 @ plane.d2) < 1e-8 * (plane.d1 @ plane.d1)
    assert landscape.paths[1].residual[-1] == pytest.approx(0, abs=1e-5)


def test_the_vmap_grid_equals_a_loop_over_loaded_models(trained):
    loaded, result, initial = trained
    dataset = loaded.problem.dataset(3)
    model = loaded.problem.build(dataset)
    model.load_state_dict(initial[3])
    vectors = np.concatenate([run.parameters for run in result]).astype(np.float64)
    evaluate = LossEvaluator(model, loaded.problem.loss(), dataset.x_train, dataset.y_train, budget=200_000)
    assert evaluate.chunk < len(vectors)  # several chunks
    np.testing.assert_allclose(evaluate(vectors), loop_losses(model, loaded.problem.loss(), dataset.x_train,
                                                              dataset.y_train, vectors), rtol=1e-6)


class Doubled(torch.nn.Module):
    """Not a plain Sequential: the evaluator must take the vmap route for it."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * self.inner(x.flatten(1))


MODELS = {
    "mlp-bias-free-gelu": (lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 8, bias=False),
                                                       torch.nn.GELU(), torch.nn.Linear(8, 3)), True),
    "relu-sigmoid-dropout": (lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 8), torch.nn.ReLU(),
                                                         torch.nn.Dropout(0.5), torch.nn.Linear(8, 8),
                                                         torch.nn.Sigmoid(), torch.nn.Linear(8, 3)), True),
    "custom-module": (Doubled, False),
    "batch-norm": (lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8),
                                               torch.nn.Tanh(), torch.nn.Linear(8, 3)), False),
}


@pytest.mark.parametrize("loss", ["cross_entropy", "mse_loss"])
@pytest.mark.parametrize("name", list(MODELS))
def test_both_grid_routes_equal_the_loop(name, loss):
    """Plain Sequentials run as stacked bmm, anything else through vmap; both equal loading each vector."""
    build, stacked = MODELS[name]
    torch.manual_seed(0)
    model = build()
    model.eval()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 2, 3)).astype(np.float32)
    y = (rng.integers(0, 3, 50) if loss == "cross_entropy" else rng.normal(size=(50, 3))).astype(
        np.int64 if loss == "cross_entropy" else np.float32)
    loss_fn = getattr(torch.nn.functional, loss)
    origin = torch.nn.utils.parameters_to_vector(model.parameters()).detach().double().numpy()
    vectors = origin + rng.normal(scale=0.5, size=(23, len(origin)))
    evaluate = LossEvaluator(model, loss_fn, x, y, budget=60_000)
    assert (evaluate.plan is not None) == stacked
    assert 1 < evaluate.chunk < len(vectors)  # several chunks, the last one short
    np.testing.assert_allclose(evaluate(vectors), loop_losses(model, loss_fn, x, y, vectors), rtol=1e-6)


def test_landscape_is_off_unless_asked_and_points_need_points():
    assert load_dict({"problem": PROBLEM, "seeds": [3], "optimizers": OPTIMIZERS}).config.render.landscape is None
    with pytest.raises(Exception, match="directions: points needs points"):
        load_dict(config({"directions": "points"}))


@pytest.mark.parametrize("view", ["2d", "3d"])
def test_animate_races_a_network_run_over_its_landscape(pca_run, tmp_path, view):
    import imageio.v3 as iio
    from click.testing import CliRunner

    from optviz.cli import cli

    out, _ = pca_run
    target = tmp_path / f"race-{view}.gif"
    result = CliRunner().invoke(cli, ["animate", str(out), "--frames", "4", f"--{view}", "--out", str(target)])
    assert (result.exit_code, result.stdout) == (0, f"Wrote {target}\n"), result.output
    frames = iio.imread(target, index=None)
    assert frames.shape[0] == 4 and frames[0].std() > 10 and not np.array_equal(frames[0], frames[-1])


def test_animate_says_what_a_network_run_without_a_landscape_needs(tmp_path):
    from click.testing import CliRunner

    from optviz.cli import cli

    out = tmp_path / "out"
    run_to_dir(load_dict({"problem": {**PROBLEM, "epochs": 1}, "seeds": [3], "optimizers": OPTIMIZERS[:1]}), out)
    before = sorted(path.name for path in out.iterdir())
    result = CliRunner().invoke(cli, ["animate", str(out)])
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {out}: a network run races over its loss landscape, and this run has none (no "
                             "landscape.npz); add render: {landscape: {directions: pca}} to its config and run it "
                             "again\n")
    assert sorted(path.name for path in out.iterdir()) == before


def test_a_costly_grid_says_its_estimate_before_the_wait(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import yaml

    from optviz.cli import cli

    monkeypatch.setattr("optviz.landscape.COST_BUDGET", 0.0)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({**config({"directions": "pca", "resolution": 5}),
                                    "problem": {**PROBLEM, "epochs": 1}}))
    result = CliRunner().invoke(cli, ["run", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("Warning: the landscape grid is 25 points x ") and line.endswith(
        "lower render.landscape.resolution to make it faster")
