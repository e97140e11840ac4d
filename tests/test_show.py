"""``optviz show``: a stored run's table step by step (the seed's learning_rate.py prints it), and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import optviz
from optviz.cli import cli
from optviz.store.npz import read_npz, write_npz

CONFIGS = Path(__file__).parent.parent / "configs"


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    """configs/learning_rate.yaml's run folder: 4x^2 from x = 2 at lrs 0.01, 0.1, 0.125 and 0.2."""
    out = tmp_path_factory.mktemp("lesson")
    optviz.run_to_dir(optviz.load_config(CONFIGS / "learning_rate.yaml", ["render.figures=[]"]), out)
    return out


def _seed_table(lr: float, iterations: int) -> list[tuple[float, float, float]]:
    """learning_rate.py's loop, (x, x.grad, loss) before each update in float32, stepped by torch.optim.SGD
    as optviz steps it (the seed's own ``x.data.sub_(lr * x.grad)`` rounds lr * grad first: a last bit
    apart now and then)."""
    x = torch.tensor([2.0], requires_grad=True)
    optimizer = torch.optim.SGD([x], lr=lr)
    rows = []
    for _ in range(iterations):
        optimizer.zero_grad()
        y = 4.0 * x**2
        y.backward()
        rows.append((x.detach().numpy()[0], x.grad.detach().numpy()[0], y.detach().numpy()[0]))
        optimizer.step()
    return rows


def test_show_prints_the_seed_s_table(lesson):
    result = invoke("show", lesson, "--steps", "0:20", "--label", "lr 0.2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "lr 0.2: start 0 at (2.0), lr 0.2"
    assert lines[1].split() == ["step", "x", "grad", "x", "loss"]
    rows = [line.split() for line in lines[2:22]]
    assert [int(row[0]) for row in rows] == list(range(20))
    for row, (x, grad, loss) in zip(rows, _seed_table(0.2, 20)):  # the same numbers, bit for bit
        assert (np.float32(row[1]), np.float32(row[2]), np.float32(row[3])) == (x, grad, loss)
    assert lines[22:] == ["(grad: as stored, gradient_<i> in trajectories.npz)"]
    assert rows[1][1:] == ["-1.2", "-9.6", "5.76"]  # lr 0.2 overshoots the minimum: x changes sign


def test_show_prints_every_optimizer_by_default(lesson):
    result = invoke("show", lesson, "--steps", "0:2")
    assert result.exit_code == 0, result.output
    titles = [line for line in result.output.splitlines() if line.startswith("lr ")]
    assert titles == ["lr 0.01: start 0 at (2.0), lr 0.01", "lr 0.1: start 0 at (2.0), lr 0.1",
                      "lr 0.125: start 0 at (2.0), lr 0.125", "lr 0.2: start 0 at (2.0), lr 0.2"]
    landing = result.output.split("lr 0.125: ")[1].splitlines()[1:4]
    assert [line.split() for line in landing] == [["step", "x", "grad", "x", "loss"], ["0", "2.0", "16.0", "16.0"],
                                                  ["1", "0.0", "0.0", "0.0"]]  # lr 1/8 lands in one step


def test_recomputed_gradients_have_the_stored_norms(tmp_path):
    from optviz.pipelines.show import recomputed_gradients
    from optviz.store.rundir import load_run

    optviz.run_to_dir(optviz.load_config(CONFIGS / "ill_conditioned.yaml", ["render.figures=[]", "steps=30"]), tmp_path)
    result = load_run(tmp_path)
    for index, gradient in recomputed_gradients(result.function, result, None).items():
        np.testing.assert_allclose(np.linalg.norm(gradient, axis=-1), result.trajectories[index].grad_norm,
                                   rtol=1e-14)


def test_a_stored_gradient_is_shown_as_stored(tmp_path):
    optviz.run_to_dir(optviz.load_config(CONFIGS / "quadratic.yaml", ["render.figures=[]", "steps=3"]), tmp_path)
    arrays = read_npz(tmp_path / "trajectories.npz")
    write_npz(tmp_path / "trajectories.npz", {**arrays, "gradient_0": np.full((1, 4, 1), 7.5, dtype=np.float32)})
    result = invoke("show", tmp_path, "--steps", "1")
    assert result.output.splitlines()[2:] == ["   1 1.84    7.5 13.5424",
                                              "(grad: as stored, gradient_<i> in trajectories.npz)"]


def test_thinned_and_many_start_runs(tmp_path):
    optviz.run_to_dir(optviz.load_config(CONFIGS / "ill_conditioned.yaml", [
        "render.figures=[]", "steps=50", "record.every=10", "start=[[-1.8, 0.6], [1.0, -0.5]]",
        "optimizers=[{name: SGD, lr: 0.01}]"]), tmp_path)
    result = invoke("show", tmp_path, "--steps", "0:35", "--start", "1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "SGD: start 1 of 2 at (1.0, -0.5), lr 0.01"
    assert [line.split()[0] for line in lines[2:6]] == ["0", "10", "20", "30"]
    assert lines[-1] == "(the run recorded every 10th step, and its last, 50: record.every in its config)"


def test_a_noisy_run_shows_the_stored_norm(tmp_path):
    optviz.run_to_dir(optviz.load_config(CONFIGS / "noisy_quadratic.yaml", [
        "render.figures=[]", "steps=5", "noise.seeds=1", "optimizers=[{name: SGD, lr: 0.02}]",
        "record.internals=false"]), tmp_path)  # no gradient vectors stored, and noise rules out recomputing them
    result = invoke("show", tmp_path, "--steps", ":3")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1].split() == ["step", "x", "y", "|grad|", "loss"]


@pytest.mark.parametrize("args, code, message", [
    (["--steps", "5-9"], 2, "--steps: expected START:STOP (e.g. 0:20, 10: or :5) or one step, got '5-9'"),
    (["--steps", "20:10"], 2, "--steps: 20:10 holds no step; STOP must be above START"),
    (["--steps", "30:40"], 2, "--steps 30:40: the run recorded steps 0 to 20; none of them is in that range"),
    (["--label", "lr 9"], 2, "--label: no optimizer labelled 'lr 9'; labels: lr 0.01, lr 0.1, lr 0.125, lr 0.2"),
    (["--start", "3"], 2, "--start: the run has 1 start (0 to 0), got 3"),
])
def test_bad_input_is_one_error_line(lesson, args, code, message):
    result = invoke("show", lesson, *args)
    assert (result.exit_code, result.output) == (code, f"Error: {message}\n")


def test_steps_past_the_end_say_where_the_run_ends(lesson):
    result = invoke("show", lesson, "--steps", "19:40", "--label", "lr 0.1")
    assert [line.split()[0] for line in result.output.splitlines()[2:4]] == ["19", "20"]
    assert result.output.splitlines()[-1] == "(the run ends at step 20)"


def test_a_folder_that_is_not_a_run(tmp_path):
    result = invoke("show", tmp_path / "missing")
    assert (result.exit_code, result.output) == (
        1, f"Error: {tmp_path / 'missing'}: not a run directory (no config.yaml); make one with `optviz run CONFIG`\n")


def test_a_run_without_stored_gradients_shows_them_recomputed(tmp_path):
    optviz.run_to_dir(optviz.load_config(CONFIGS / "quadratic.yaml", ["render.figures=[]", "steps=3",
                                                                       "record.internals=false"]), tmp_path)
    result = invoke("show", tmp_path, "--steps", "0:2")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == ("(grad: f's gradient at the stored point, recomputed; "
                                              "the run stores only its norm)")
