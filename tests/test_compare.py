"""`optviz compare SUITE` (issue 13): every optimizer tuned by one rule on each problem, then ranked with
bootstrap intervals over the tuned run's rows, sharing a rank where the paired bootstrap cannot tell."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from images import assert_png, figure_pixels
import optviz
from optviz.cli import cli
from optviz.results.intervals import bootstrap_interval
from optviz.results.ranking import Ranking, Standing, ranks
from optviz.render.ranking import default_size
from optviz.store.rundir import load_run

CONFIGS = Path(__file__).parent.parent / "configs"
COLUMNS = ["problem", "label", "lr", "criterion", "median", "low", "high", "rank", "diverged_share", "rows"]
# Two optimizers on two problems; "ascent" climbs (maximize: true), so it is surely the worse.
SMALL = {
    "optimizers": [{"name": "Adam"}, {"name": "SGD", "label": "ascent", "maximize": True}],
    "steps": 20,
    "seed": 0,
    "start": {"random": 6, "seed": 1},
    "render": {"figures": ["loss"], "animation": {"enabled": False}},
    "criterion": "median-final-loss",
    "lrs": "1e-2:1:3",
    "starts": 3,
    "problems": [{"function": "ill_conditioned"},
                 {"function": "himmelblau", "noise": {"kind": "gaussian", "scale": 0.5, "seeds": 2}, "name": "noisy"}],
}


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def write_suite(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    suite = write_suite(folder / "small.yaml", SMALL)
    result = invoke("compare", suite, "--out", folder / "out", "--json", "-q")
    assert result.exit_code == 0, result.output
    with (folder / "out" / "ranking.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return folder / "out", json.loads(result.stdout), rows


def test_ranking_csv_has_one_row_per_problem_and_optimizer(compared):
    out, manifest, rows = compared
    assert list(rows[0]) == COLUMNS
    assert [(row["problem"], row["label"]) for row in rows] == [
        ("ill_conditioned", "Adam"), ("ill_conditioned", "ascent"), ("noisy", "Adam"), ("noisy", "ascent")]
    assert {row["criterion"] for row in rows} == {"median-final-loss"}
    assert manifest["files"] == ["ill_conditioned/", "manifest.json", "noisy/", "ranking.csv", "ranking.png"]
    assert manifest["suite_hash"] and json.loads((out / "manifest.json").read_text()) == manifest


def test_the_median_and_interval_are_of_the_tuned_runs_rows(compared):
    out, _, rows = compared
    for row in rows:
        run = load_run(out / row["problem"])
        trajectory = run[row["label"]]
        # Rows come from the arrays: starts x noise seeds wherever the engine runs the seeds.
        assert int(row["rows"]) == trajectory.loss.shape[0]
        final = np.where(trajectory.diverged | ~np.isfinite(trajectory.final_loss), np.inf, trajectory.final_loss)
        median, low, high = bootstrap_interval(final)
        assert [row["median"], row["low"], row["high"]] == [repr(value) if np.isfinite(value) else ""
                                                            for value in (median, low, high)]
        if row["median"]:
            assert float(row["low"]) <= float(row["median"]) <= (float(row["high"]) if row["high"] else np.inf)
        assert float(row["diverged_share"]) == pytest.approx(np.mean(np.isinf(final)))
        tuned = optviz.load_config(out / row["problem"] / "tuned.yaml")
        lr = tuned.optimizers[tuned.labels.index(row["label"])].hyperparameters.get("lr")
        assert (float(row["lr"]) if row["lr"] else None) == lr


def test_a_clearly_better_optimizer_ranks_first(compared):
    _, manifest, rows = compared
    assert [(row["label"], row["rank"]) for row in rows] == [("Adam", "1"), ("ascent", "2")] * 2
    assert manifest["mean_rank"] == {"Adam": 1.0, "ascent": 2.0}


def test_ranks_share_a_place_only_where_the_paired_bootstrap_cannot_tell():
    rng = np.random.default_rng(0)
    base = rng.normal(size=40)
    # "a" is surely better than "c"; "b" sits between, indistinguishable from both.
    values = {"a": base, "b": base + 0.3 + rng.normal(scale=2.0, size=40), "c": base + 1.0}
    assert ranks(values) == {"a": 1, "b": 1, "c": 2}
    # Rows pair: a constant lead of 0.01 on every row is sure, though the spreads overlap widely.
    assert ranks({"x": base, "y": base + 0.01}) == {"x": 1, "y": 2}
    assert ranks({"x": base, "y": base.copy()}) == {"x": 1, "y": 1}
    # A diverged row counts as +inf; two optimizers that both diverged everywhere tie.
    assert ranks({"x": np.full(5, np.inf), "y": np.full(5, np.inf), "z": np.zeros(5)}) == {"x": 2, "y": 2, "z": 1}


def test_ranking_png_is_drawn_at_its_size(compared):
    out, manifest, _ = compared
    standings = tuple(Standing(problem=entry["problem"], label=entry["label"], lr=entry["lr"], median=0.0, low=0.0,
                               high=0.0, rank=entry["rank"], diverged_share=0.0, rows=entry["rows"])
                      for entry in manifest["standings"])
    ranking = Ranking(criterion="median-final-loss", problems=tuple(manifest["problems"]), labels=("Adam", "ascent"),
                      standings=standings, steps=(20, 20), lrs=(0.01, 1.0, 3), tune_starts=3)
    assert_png(out / "ranking.png", figure_pixels(default_size(ranking), 110))


def test_each_problem_folder_holds_what_tune_writes(compared):
    out, _, _ = compared
    for problem in ("ill_conditioned", "noisy"):
        names = {path.name for path in (out / problem).iterdir()}
        assert {"tuned.yaml", "tune.csv", "tune.png", "loss.png", "manifest.json", "cells"} <= names


def test_the_terminal_shows_the_table_and_where_files_are(tmp_path):
    suite = write_suite(tmp_path / "small.yaml", {**SMALL, "problems": SMALL["problems"][:1], "steps": 5})
    result = invoke("compare", suite, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Ranked by median final loss (rank, median;")
    assert lines[2].split() == ["optimizer", "ill_conditioned", "mean", "rank"]
    assert lines[3].split()[:2] == ["Adam", "1"] and lines[4].split()[:2] == ["ascent", "2"]
    assert lines[-1] == f"Wrote {tmp_path / 'out'}/: ill_conditioned/, manifest.json, ranking.csv, ranking.png"
    progress, *warnings = result.stderr.splitlines()  # then the tuning's edge-of-grid warnings, if any
    assert progress == "[1/1] ill_conditioned" and all(line.startswith("Warning: ") for line in warnings)
    quiet = invoke("compare", suite, "--out", tmp_path / "out", "-q")
    assert (quiet.exit_code, quiet.output) == (0, "")


SUITE_ERRORS = [
    ({"problems": [{"function": "peaks"}, {"function": "peeks"}]},
     "problems[1].function: unknown function 'peeks'; did you mean peaks, peaks1d?"),
    ({"steps": 0}, "steps: must be >= 1, got 0"),
    ({"problems": [{"function": "peaks", "steps": 0}]}, "problems[0].steps: must be >= 1, got 0"),
    ({"criterion": "auk"}, "criterion: must be one of median-final-loss, distance, auc, steps-to-target, got 'auk'"),
    ({"lrs": "1:0.1:3"}, "lrs: expected FIRST:LAST:COUNT with 0 < FIRST < LAST and 2 <= COUNT <= 1000, "
                         "e.g. 1e-4:10:26, got '1:0.1:3'"),
    ({"problems": []}, "problems: needs at least 1 item"),
    ({"problem": [{"function": "peaks"}]}, "problems: required key is missing; list the problems, e.g. problems: "
                                           "[{function: peaks}] (did you mean problems? problem: is a network's key)"),
    ({"problems": [{"function": "peaks"}, {"function": "peaks"}]},
     "problems[1].name: duplicate problem name 'peaks' (also problems[0]); give each problem a unique name"),
    ({"problems": [{"function": "peaks", "name": "a/b"}]},
     "problems[0].name: must be 1 to 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit "
     "(it names the problem's folder), got 'a/b'"),
    ({"problems": [{"function": "peaks"}, {"function": "himmelblau", "optimizers": ["SGD"]}]},
     "problems[1].optimizers: every problem ranks the same optimizers (Adam, ascent), got SGD"),
    ({"problems": [{"function": {"expr": "x**2 + y**2", "domain": [[-1, 1], [-1, 1]]}}], "criterion": "distance"},
     "problems[0]: criterion distance needs known minima and custom has none; use median-final-loss or auc"),
]


@pytest.mark.parametrize("change, message", SUITE_ERRORS, ids=[message.partition(":")[0] for _, message in SUITE_ERRORS])
def test_a_bad_suite_is_one_error_line_with_exit_code_2(tmp_path, change, message):
    data = {key: value for key, value in {**SMALL, **change}.items() if not (key == "problems" and "problem" in change)}
    suite = write_suite(tmp_path / "bad.yaml", data)
    result = invoke("compare", suite, "--out", tmp_path / "out")
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {suite}: {message}\n")
    assert not (tmp_path / "out").exists()


def test_a_run_config_is_not_a_suite():
    result = invoke("compare", CONFIGS / "peaks.yaml", "--out", "/nonexistent/out")
    assert (result.exit_code, result.stderr) == (2, f"Error: {CONFIGS / 'peaks.yaml'}: problems: required key is "
                                                    "missing; list the problems, e.g. problems: [{function: peaks}] "
                                                    "(this reads like a run config: a suite lists its problems)\n")


def test_set_overrides_reach_the_shared_keys_the_rule_and_one_problem():
    from optviz.config.suite import suite_model

    suite = suite_model(SMALL, overrides=["steps=7", "lrs=1e-3:1:4", "problems.1.steps=9", "problems.1.name=other"])
    assert [problem.config.steps for problem in suite.problems] == [7, 9]
    assert (suite.lrs, suite.names) == ("1e-3:1:4", ["ill_conditioned", "other"])
    with pytest.raises(optviz.ConfigError, match=r"^--set problems.5.steps=1: expected problems.INDEX.KEY=VALUE "
                                                  r"with INDEX from 0 to 1$"):
        suite_model(SMALL, overrides=["problems.5.steps=1"])


def test_the_example_suite_runs(tmp_path):
    # Shrunk so the suite stays fast; `optviz compare configs/suite.yaml` itself takes under a minute.
    result = invoke("compare", CONFIGS / "suite.yaml", "--set", "steps=10", "--set", "lrs=1e-2:1:2", "--set", "starts=2",
                    "--set", "start.random=2", "--set", "render.figures=[]", "--out", tmp_path, "--json", "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert len(manifest["problems"]) == 6 and len(manifest["mean_rank"]) == 5
    assert len(manifest["standings"]) == 30


def test_validate_checks_a_suite_as_compare_would(tmp_path):
    result = invoke("validate", CONFIGS / "suite.yaml")
    assert (result.exit_code, result.stdout) == (0, f"ok: {CONFIGS / 'suite.yaml'} (a suite for optviz compare: "
                                                    "6 problems)\n")
    bad = write_suite(tmp_path / "bad.yaml", {**SMALL, "criterion": "auk"})
    result = invoke("validate", bad)
    assert (result.exit_code, result.stderr) == (2, f"Error: {bad}: criterion: must be one of median-final-loss, "
                                                    "distance, auc, steps-to-target, got 'auk'\n")


def test_a_notebook_reads_a_suite_as_the_command_does():
    suite = optviz.read_suite(CONFIGS / "suite.yaml", ["steps=10"])
    assert suite.names == ["rosenbrock", "himmelblau", "ill_conditioned", "peaks-gaussian", "rastrigin-gaussian",
                           "ackley"]
    assert {problem.config.steps for problem in suite.problems} == {10}
    assert suite.problems[3].config.noise.seeds == 4 and suite.hash() == optviz.read_suite(
        CONFIGS / "suite.yaml", ["steps=10"]).hash() != optviz.read_suite(CONFIGS / "suite.yaml").hash()
