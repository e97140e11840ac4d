"""`optviz tune`: every optimizer's lr chosen by one documented rule over several starts, then the usual run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from matplotlib.colors import to_hex

from images import assert_png, figure_pixels
import optviz
from optviz import config_from_dict
from optviz.cli import cli
from optviz.results import RunResult, Trajectory
from optviz.errors import OptvizWarning
from optviz.results.scores import FUNCTION_CRITERIA, rank, score
from optviz.results.tune import Tuning, extended_lrs
from optviz.problems import function_of

CONFIGS = Path(__file__).parent.parent / "configs"
SHRUNK = ["--set", "steps=30", "--set", "render.figures=[loss, path]", "--set", "render.animation.enabled=false",
          "--lrs", "1e-3:1:7", "--starts", "4"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def median_final_loss(config, lr: float, starts: int) -> float:
    """The default criterion, computed here from plain runs: diverged starts count as +inf."""
    data = config.to_dict()
    data["start"] = {"random": starts, "seed": config.seed}
    data["optimizers"][0]["lr"] = lr
    trajectory = optviz.run(config_from_dict(data)).trajectories[0]
    final = np.where(trajectory.diverged | ~np.isfinite(trajectory.final_loss), np.inf, trajectory.final_loss)
    return float(np.median(final))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    out = tmp_path_factory.mktemp("tuned")
    result = invoke("tune", CONFIGS / "peaks.yaml", *SHRUNK, "--out", out, "--json", "-q")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_each_lr_is_the_lowest_median_final_loss_over_the_starts(tuned):
    out, summary = tuned
    config = optviz.load_config(CONFIGS / "peaks.yaml", ["steps=30"])
    lrs = np.geomspace(1e-3, 1, 7)
    np.testing.assert_allclose(summary["lrs"], lrs, rtol=1e-12)
    written = optviz.load_config(out / "tuned.yaml")
    for index, entry in enumerate(summary["optimizers"]):
        alone = config.model_copy(update={"optimizers": [config.optimizers[index]]})
        values = [median_final_loss(alone, lr, 4) for lr in lrs]
        assert entry["criterion"] == pytest.approx(min(values), rel=1e-12)
        assert values[list(lrs).index(pytest.approx(entry["lr"], rel=1e-12))] == min(values)
        assert written.optimizers[index].hyperparameters["lr"] == entry["lr"]
    with (out / "tune.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 * 7 and {row["criterion"] for row in rows} == {"median-final-loss"}
    assert [float(row["lr"]) for row in rows if row["chosen"] == "true"] == [entry["lr"] for entry in summary["optimizers"]]


def test_the_tuned_run_is_the_config_with_those_lrs_and_says_so(tuned):
    out, summary = tuned
    text = (out / "tuned.yaml").read_text()
    assert text.startswith("# Written by optviz tune: each optimizer's lr is the lowest median final loss (diverged "
                           "starts worst) over 4 random starts, of 7 lrs from 0.001 to 1.\n")
    note = yaml.safe_load(text)["render"]["note"]
    assert note.startswith("lrs tuned by optviz tune, each the lowest median final loss") and "Adam " in note
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == summary["run"]
    assert {"loss.png", "path.png", "trajectories.npz"} <= set(manifest["files"])
    assert summary["files"] == ["cells/", "tune.csv", "tune.png", "tuned.yaml"]
    render = optviz.load_config(out / "tuned.yaml").render
    for name in ("loss.png", "path.png"):
        assert_png(out / name, figure_pixels(render.size, render.dpi))
    # The run is the tuned config's, from the config's own start, and `optviz run tuned.yaml` redoes it.
    again = optviz.run(optviz.load_config(out / "tuned.yaml"))
    stored = optviz.load_run(out)
    assert stored.starts.tolist() == [[0.0, 0.9]]
    for trajectory in again:
        np.testing.assert_array_equal(trajectory.positions, stored[trajectory.label].positions)


def test_a_figures_note_is_written_under_it(tmp_path):
    from optviz.render.style import save_figure

    result = optviz.run(config_from_dict({"function": "quadratic", "start": [2.0], "steps": 5,
                                          "optimizers": [{"name": "SGD", "lr": 0.1}],
                                          "render": {"note": "lrs tuned by optviz tune"}}))
    axes = optviz.plot_loss(result)
    save_figure(axes.figure, tmp_path / "loss.png", note=result.config.render.note)
    assert axes.figure.get_supxlabel() == "lrs tuned by optviz tune"


def test_tune_png_shows_every_optimizer_against_lr(tuned):
    from optviz.render.tune import plot_tune
    from optviz.pipelines.tune import search_lrs

    out, summary = tuned
    config = optviz.load_config(CONFIGS / "peaks.yaml", ["steps=30"])
    with pytest.warns(OptvizWarning, match="is the largest tried"):  # the runs are in out/cells already
        tuning = search_lrs(config, out, lrs=(1e-3, 1, 7), starts=4)
    assert tuning.chosen == {entry["label"]: entry["lr"] for entry in summary["optimizers"]}
    figure = plot_tune(tuning)
    axes, share, strip = figure.axes
    curves = {line.get_label(): line for line in axes.lines}
    for entry in summary["optimizers"]:
        line = curves[f"{entry['label']}: lr {entry['lr']:.3g}"]
        shown = tuning.values(entry["label"]) - function_of(config).min_value  # above the minimum
        np.testing.assert_allclose(line.get_ydata(), np.where(np.isfinite(shown), shown, np.nan))
    stars = [line for line in axes.lines if line.get_marker() == "*" and len(line.get_xdata())]
    assert sorted(float(star.get_xdata()[0]) for star in stars) == sorted(entry["lr"] for entry in summary["optimizers"])
    assert axes.get_xscale() == "log" and strip.get_ylabel() == "best"
    # The cells were reused from disk, and still give each row's value: the medians are of them.
    for label, scores in tuning.scores.items():
        for found in scores:
            rows = found.row_values("median-final-loss")
            assert rows.shape == (4,) and np.median(rows) == found.value("median-final-loss")
    # The budget is drawn along the bottom, inside the figure.
    assert figure.get_supxlabel() == ("budget: 7 lrs x 4 starts x 1 noise seed = 28 runs of 30 steps per optimizer, "
                                      "840 gradient evaluations\n5 optimizers: 140 runs, 4,200 gradient evaluations")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    figure.draw(renderer)
    box = figure._supxlabel.get_window_extent(renderer)
    assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= figure.bbox.width and box.y1 <= figure.bbox.height
    # tune.png is this figure: its size, every optimizer's curve in its colour.
    chosen = [curves[f"{entry['label']}: lr {entry['lr']:.3g}"] for entry in summary["optimizers"]]
    assert_png(out / "tune.png", tuple(round(side) for side in figure.get_size_inches() * figure.dpi),
               colours=tuple(to_hex(line.get_color()) for line in chosen))


def test_a_second_tune_reuses_the_tuning_runs(tuned, tmp_path):
    out, summary = tuned
    cells = sorted(path.name for path in (out / "cells").iterdir())
    result = invoke("tune", CONFIGS / "peaks.yaml", *SHRUNK, "--out", out)
    assert result.exit_code == 0, result.output
    assert sum(line.endswith("(reused)") for line in result.stderr.splitlines()) == 35
    assert sorted(path.name for path in (out / "cells").iterdir()) == cells
    assert result.stdout.splitlines()[:2] == [
        "lrs chosen: the lowest median final loss (diverged starts worst) over 4 random starts, of 7 lrs from 0.001 to 1",
        "budget: 7 lrs x 4 starts x 1 noise seed = 28 runs of 30 steps per optimizer, 840 gradient evaluations; "
        "5 optimizers: 140 runs, 4,200 gradient evaluations"]


def test_tune_json_states_its_budget(tuned):
    _, summary = tuned
    # 5 optimizers x 7 lrs x 4 starts x 1 noise seed, 30 steps each: one gradient per step of every run.
    assert summary["budget"] == {"lrs": 7, "starts": 4, "noise_seeds": 1, "steps": 30, "optimizers": 5,
                                 "runs": {"per_optimizer": 28, "total": 140},
                                 "gradient_evaluations": {"per_optimizer": 840, "total": 4200}}


def test_the_budget_counts_noise_seeds():
    config = config_from_dict({"function": "quadratic", "start": [1.0], "steps": 50,
                               "noise": {"kind": "gaussian", "scale": 0.1, "seeds": 3},
                               "optimizers": [{"name": "SGD"}, {"name": "Adam"}]})
    tuning = Tuning(config=config, function=function_of(config), criterion="median-final-loss",
                    lrs=np.geomspace(1e-3, 1, 4), starts=8, scores={}, chosen={"SGD": None, "Adam": None}, run_steps=50)
    assert tuning.budget() == {"lrs": 4, "starts": 8, "noise_seeds": 3, "steps": 50, "optimizers": 2,
                               "runs": {"per_optimizer": 96, "total": 192},
                               "gradient_evaluations": {"per_optimizer": 4800, "total": 9600}}
    assert tuning.how() == ("the lowest median final loss (diverged starts worst) over 8 random starts x 3 noise "
                            "seeds, of 4 lrs from 0.001 to 1")


def test_other_criteria_choose_by_their_own_numbers(tmp_path):
    result = invoke("tune", CONFIGS / "rosenbrock.yaml", "--set", "steps=40", "--set", "optimizers=[SGD, Adam]",
                    "--set", "render.figures=[loss]", "--criterion", "auc", "--lrs", "1e-4:1:5", "--starts", "3",
                    "--out", tmp_path, "--json", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    with (tmp_path / "tune.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for entry in summary["optimizers"]:
        mine = [row for row in rows if row["label"] == entry["label"]]
        finite = [float(row["auc"]) for row in mine if row["auc"]]
        assert entry["criterion"] == min(finite)
        assert [float(row["lr"]) for row in mine if row["chosen"] == "true"] == [entry["lr"]]
    assert summary["how"].startswith("the lowest median area under the loss curve per step")


# --- the scores behind the criteria ----------------------------------------------------------------


def cell(final_losses, *, diverged=(), loss_curves=None, converged=None):
    """A one-optimizer RunResult on quadratic whose starts end at the given losses (x = sqrt(f / 4))."""
    config = config_from_dict({"function": "quadratic", "start": [1.0], "steps": 2,
                               "optimizers": [{"name": "SGD", "lr": 0.1}]})
    final = np.asarray(final_losses, dtype=float)
    count = len(final)
    loss = np.array(loss_curves, dtype=float) if loss_curves is not None else np.column_stack([final + 2, final + 1, final])
    positions = np.sqrt(np.abs(loss) / 4)[..., None]
    diverged_step = np.full(count, -1)
    for start in diverged:
        diverged_step[start] = 1
        loss[start, 1:] = np.nan
        positions[start, 1:] = np.nan
    trajectory = Trajectory(label="SGD", optimizer="SGD", positions=positions, loss=loss,
                            lr=np.full((count, 3), 0.1), grad_norm=np.zeros((count, 3)), steps=np.arange(3),
                            diverged_step=diverged_step,
                            converged_step=np.asarray(converged if converged is not None else [-1] * count))
    return RunResult(config=config, function=function_of(config), domain=np.array([[-3.0, 3.0]]), starts=np.ones((count, 1)),
                     trajectories=[trajectory])


@pytest.mark.parametrize("finals,diverged,expected", [
    ([4.0], (), 4.0),
    ([1.0, 2.0, 3.0], (), 2.0),
    ([1.0, 2.0, 3.0, 4.0], (), 2.5),
    ([1.0, 2.0, 3.0], (0,), 3.0),  # a diverged start counts as the worst, not as missing
    ([1.0, 2.0, 3.0, 4.0], (0, 1), np.inf),  # half diverged: the median is infinite
], ids=["one", "odd", "even", "one-diverged", "half-diverged"])
def test_median_final_loss_counts_a_diverged_start_as_worst(finals, diverged, expected):
    numbers = score(cell(finals, diverged=diverged))
    assert numbers.final_loss == expected and numbers.value("median-final-loss") == expected
    assert numbers.diverged_starts == len(diverged)


def test_distance_and_auc():
    numbers = score(cell([4.0, 16.0, 36.0]))  # x = 1, 2, 3 from the minimum at 0
    assert numbers.distance == 2.0
    # Losses f+2, f+1, f at steps 0, 1, 2: the trapezoids give (f + 1.5 + f + 0.5) / 2 per step.
    assert numbers.auc == pytest.approx(16.0 + 1.0)


def test_ties_go_to_the_lower_area_under_the_curve_then_the_earlier():
    slow = score(cell([0.0], loss_curves=[[9.0, 9.0, 0.0]]))
    fast = score(cell([0.0], loss_curves=[[9.0, 0.0, 0.0]]))
    assert rank([slow, fast, fast]) == [1, 2, 0]
    assert rank([slow, fast], "auc") == [1, 0]


@pytest.mark.parametrize("args,message", [
    (["--lrs", "1:0.1:5"], "--lrs: expected FIRST:LAST:COUNT with 0 < FIRST < LAST and 2 <= COUNT <= 1000, "
                           "e.g. 1e-4:10:26, got '1:0.1:5'"),
    (["--lrs", "1e-3:1"], "--lrs: expected FIRST:LAST:COUNT with 0 < FIRST < LAST and 2 <= COUNT <= 1000, "
                          "e.g. 1e-4:10:26, got '1e-3:1'"),
], ids=["reversed", "two-parts"])
def test_bad_lrs_are_usage_errors(args, message, tmp_path):
    result = invoke("tune", CONFIGS / "quadratic.yaml", *args, "--out", tmp_path / "out")
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    assert not (tmp_path / "out").exists()


def test_what_cannot_be_tuned_is_a_config_error(tmp_path):
    bowl = tmp_path / "bowl.yaml"
    bowl.write_text("function: {expr: 'x**2 + y**2', domain: [[-1, 1], [-1, 1]]}\noptimizers: [SGD]\n")
    for criterion in ("distance", "steps-to-target"):
        result = invoke("tune", bowl, "--criterion", criterion, "--out", tmp_path / "out")
        assert (result.exit_code, result.stderr) == (2, f"Error: {bowl}: --criterion {criterion} needs known minima "
                                                        "and custom has none; use median-final-loss or auc\n")
    result = invoke("tune", CONFIGS / "quadratic_lr.yaml", "--out", tmp_path / "out")
    assert (result.exit_code, result.stderr) == (2, f"Error: {CONFIGS / 'quadratic_lr.yaml'}: sweep: tune sweeps the lrs "
                                                    "itself: remove the sweep block (--set sweep=null)\n")
    (tmp_path / "plain.py").write_text(
        "import torch\nclass Fixed(torch.optim.Optimizer):\n    def __init__(self, params, step=0.1):\n"
        "        super().__init__(params, {'step': step})\n    def step(self, closure=None):\n        pass\n")
    plain = tmp_path / "plain.yaml"
    plain.write_text("function: quadratic\noptimizers: [{name: plain.py:Fixed}]\n")
    result = invoke("tune", plain, "--out", tmp_path / "out")
    assert (result.exit_code, result.stderr) == (2, f"Error: {plain}: optimizers[0]: Fixed takes no lr to tune\n")
    assert not (tmp_path / "out").exists()


def test_a_tuned_config_that_could_not_be_written_fails_before_any_tuning_run(tmp_path):
    # Long labels make the note under every figure too long: known before a single cell runs.
    labels = [f"{name} with a label long enough to crowd the note under every figure" for name in
              ("SGD", "Adam", "RMSprop", "Adagrad", "Adadelta")]
    config = tmp_path / "long.yaml"
    config.write_text("function: peaks\nstart: [0.0, 0.9]\nsteps: 20\noptimizers:\n"
                      + "".join(f"  - {{name: {label.split()[0]}, label: '{label}'}}\n" for label in labels))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["tune", str(config), "--out", str(out), "--lrs", "1e-3:1:4", "--starts", "2"])
    note = (f"lrs tuned by optviz tune, each the lowest median final loss (diverged starts worst) over 2 random "
            f"starts, of 4 lrs from 0.001 to 1: " + ", ".join(f"{label} as given (every lr diverged)" for label in labels))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {config}: optimizers: the note optviz tune writes under every figure would be "
                             f"{len(note)} characters with these labels (at most 400); give the optimizers shorter "
                             "labels\n")
    assert not out.exists()


# --- steps to the target ---------------------------------------------------------------------------


def test_steps_to_target_is_the_first_step_within_tolerance_of_the_minimum_value():
    # quadratic's minimum value is 0; the target is f <= 0 + 1e-3.
    curves = [[9.0, 5e-4, 0.0], [9.0, 4.0, 1e-4], [9.0, 9.0, 9.0], [9.0, 1e-3, 1.0]]
    numbers = score(cell([0.0] * 4, loss_curves=curves))
    np.testing.assert_array_equal(numbers.row_values("steps-to-target"), [1, 2, np.inf, 1])
    assert numbers.steps_to_target == 1.5 and numbers.value("steps-to-target") == 1.5
    # A looser target is reached sooner; a diverged row never counts as reached.
    assert score(cell([0.0] * 4, loss_curves=curves), target_tolerance=5).steps_to_target == 1.0
    diverged = score(cell([0.0] * 4, loss_curves=curves, diverged=(0, 1)))
    np.testing.assert_array_equal(diverged.row_values("steps-to-target"), [np.inf, np.inf, np.inf, 1])


def test_tune_by_steps_to_target_picks_the_fewest_steps(tmp_path):
    result = invoke("tune", CONFIGS / "quadratic.yaml", "--set", "steps=40", "--set", "render.figures=[loss]",
                    "--set", "render.animation.enabled=false", "--criterion", "steps-to-target",
                    "--target-tolerance", "0.01", "--lrs", "1e-3:0.1:5", "--starts", "3", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    with (tmp_path / "tune.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    reached = [row for row in rows if row["steps_to_target"]]
    assert reached and all(row["value"] == row["steps_to_target"] for row in rows)
    best = min(reached, key=lambda row: float(row["steps_to_target"]))
    assert summary["optimizers"][0]["lr"] == float(best["lr"]) and best["chosen"] == "true"
    assert summary["how"].startswith("the lowest median steps to reach f* + 0.01 (diverged starts worst)")


def test_every_criterion_is_documented():
    import optviz.results.scores as scores

    options = {option.name: option for option in cli.commands["tune"].params}
    for criterion in FUNCTION_CRITERIA:
        assert f"``{criterion}``" in scores.__doc__
        assert criterion in options["criterion"].type.choices and criterion in options["criterion"].help
    assert options["target_tolerance"].default == scores.DEFAULT_TARGET_TOLERANCE
    assert "--target-tolerance" in invoke("tune", "--help").output


# --- divergence, ties and the edges of the grid ----------------------------------------------------


def test_the_share_of_diverged_starts_is_in_tune_csv_and_drawn(tmp_path):
    # SGD on x^4 blows up from |x| > 1/sqrt(2 lr): from some starts and not others.
    config = tmp_path / "quartic.yaml"
    config.write_text("function: {expr: 'x**4', domain: [[-3, 3]], minima: [{point: [0.0], value: 0.0}]}\n"
                      "start: [1.0]\nsteps: 30\noptimizers: [SGD]\n"
                      "render: {figures: [loss], size: [5, 4], dpi: 60, animation: {enabled: false}}\n")
    result = invoke("tune", config, "--lrs", "1e-2:1:3", "--starts", "12", "--out", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "tune.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    loaded = optviz.load_config(config)
    expected = []
    for lr in (0.01, 0.1, 1.0):
        data = loaded.to_dict()
        data["start"] = {"random": 12, "seed": loaded.seed}
        data["optimizers"][0]["lr"] = lr
        expected.append(float(optviz.run(config_from_dict(data)).trajectories[0].diverged.mean()))
    assert [float(row["diverged_share"]) for row in rows] == expected
    assert [int(row["diverged_starts"]) for row in rows] == [round(share * 12) for share in expected]
    assert expected[0] == 0 and 0 < expected[1] < 0.5 < expected[2] < 1  # partial: not only "half or more"

    from optviz.pipelines.tune import search_lrs
    from optviz.render.tune import plot_tune

    tuning = search_lrs(loaded, tmp_path / "out", lrs=(1e-2, 1, 3), starts=12)
    _, share, _ = plot_tune(tuning).axes
    (line,) = share.lines
    np.testing.assert_allclose(line.get_ydata(), 100 * np.array(expected))
    assert share.get_ylim() == (-8, 108) and share.get_ylabel() == "diverged\n(% of starts)"
    assert_png(tmp_path / "out" / "tune.png", (360, 312))


def two_optimizers(first: list[list[float]], second: list[list[float]]) -> Tuning:
    """A Tuning of optimizers A and B whose rows at each lr end at the given final losses."""
    config = config_from_dict({"function": "quadratic", "start": [1.0], "steps": 2,
                               "optimizers": [{"name": "SGD", "label": "A"}, {"name": "SGD", "label": "B"}]})
    scores = {"A": [score(cell(rows)) for rows in first], "B": [score(cell(rows)) for rows in second]}
    return Tuning(config=config, function=function_of(config), criterion="median-final-loss",
                  lrs=np.geomspace(0.01, 1.0, len(first)), starts=len(first[0]), scores=scores,
                  chosen={"A": 0.01, "B": 0.01}, run_steps=2)


def test_a_difference_smaller_than_the_spread_is_a_tie_and_a_consistent_one_wins():
    spread = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
    # At the first lr B is A give or take 1, row by row; at the second, B is A + 1 at every row: A
    # is surely better there although the two spreads overlap almost whole.
    jitter = [value + (1.0 if row % 2 else -0.9) for row, value in enumerate(spread)]
    tuning = two_optimizers([spread, spread], [jitter, [value + 1.0 for value in spread]])
    assert tuning.winners() == [None, "A"]

    from optviz.render.style import colour
    from optviz.render.tune import plot_tune

    _, _, strip = plot_tune(tuning).axes
    assert [text.get_text() for text in strip.texts] == ["tie"]
    assert strip.texts[0].get_position()[0] == pytest.approx(0.01, rel=1e-9)  # centred on the tied lr
    cells = strip.collections[0].get_array()[0]
    assert to_hex(cells[1]) == to_hex(colour(0)) and to_hex(cells[0]) == to_hex("0.85")
    assert any(patch.get_hatch() == "///" for patch in strip.patches)


def test_the_strip_is_grey_without_a_tie_where_every_optimizer_diverged():
    tuning = two_optimizers([[1.0, 2.0]], [[3.0, 4.0]])
    assert tuning.winners() == ["A"]
    everything = two_optimizers([[1.0, 2.0]], [[3.0, 4.0]])
    everything.scores = {label: [score(cell([1.0, 2.0], diverged=(0, 1)))] for label in ("A", "B")}
    assert everything.winners() == [None]


@pytest.mark.parametrize("lr,largest,expected", [
    (10.0, True, "1:1000:26"),
    (1e-4, False, "1e-6:0.001:26"),
    (0.0316, True, "0.001:10:26"),
    (0.3, False, "0.001:10:26"),
], ids=["largest-decade", "smallest-decade", "largest-between", "smallest-between"])
def test_the_range_past_an_edge_is_whole_decades(lr, largest, expected):
    assert extended_lrs(lr, 26, largest=largest) == expected


@pytest.mark.parametrize("lrs,message", [
    ("1e-4:1e-2:3", "SGD's best lr 0.01 is the largest tried; try --lrs 0.001:1:3"),
    ("0.1:0.24:3", "SGD's best lr 0.1 is the smallest tried; try --lrs 0.001:1:3"),
], ids=["largest", "smallest"])
def test_a_chosen_lr_at_the_edge_of_the_grid_is_warned_about(lrs, message, tmp_path):
    # On 4x^2, SGD's step multiplies x by 1 - 8 lr: the larger lr is the faster below 0.125.
    result = invoke("tune", CONFIGS / "quadratic.yaml", "--set", "steps=30", "--set", "render.figures=[loss]",
                    "--set", "render.animation.enabled=false", "--set", "optimizers=[SGD]", "--lrs", lrs,
                    "--starts", "2", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if line.startswith("Warning:")] == [f"Warning: {message}"]
    as_json = invoke("tune", CONFIGS / "quadratic.yaml", "--set", "steps=30", "--set", "render.figures=[loss]",
                     "--set", "render.animation.enabled=false", "--set", "optimizers=[SGD]", "--lrs", lrs,
                     "--starts", "2", "--out", tmp_path, "--json", "-q")
    assert json.loads(as_json.stdout)["warnings"] == [message]  # --json -q prints no Warning line: it is here
    with pytest.warns(OptvizWarning, match=message.replace("+", r"\+")):
        from optviz.pipelines.tune import search_lrs

        first, last, count = lrs.split(":")
        search_lrs(optviz.load_config(CONFIGS / "quadratic.yaml", ["steps=30", "optimizers=[SGD]"]), tmp_path,
                   lrs=(float(first), float(last), int(count)), starts=2)


def test_no_warning_where_the_chosen_lr_is_inside_the_grid(tmp_path):
    result = invoke("tune", CONFIGS / "quadratic.yaml", "--set", "steps=30", "--set", "render.figures=[loss]",
                    "--set", "render.animation.enabled=false", "--set", "optimizers=[SGD]", "--lrs", "1e-2:1:5",
                    "--starts", "2", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "Warning:" not in result.stderr
