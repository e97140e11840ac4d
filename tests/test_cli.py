"""The optviz command as a shell user drives it."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from images import assert_animation, assert_png, figure_pixels
from optviz import load_config
from optviz.cli import cli

CONFIGS = Path(__file__).parent.parent / "configs"


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args], catch_exceptions=False)


def test_run_writes_the_run_directory(tmp_path):
    result = invoke("run", CONFIGS / "peaks.yaml", "--out", tmp_path / "peaks", "--no-animate")
    assert result.exit_code == 0, result.output
    header = (tmp_path / "peaks" / "trajectories.csv").read_text().splitlines()[0]
    assert header == "label,start,step,x,y,loss,lr,grad_norm"
    manifest = json.loads((tmp_path / "peaks" / "manifest.json").read_text())
    assert manifest["files"] == sorted(path.name for path in (tmp_path / "peaks").iterdir())
    assert {"trajectories.csv", "trajectories.npz", "loss.png", "path.png", "manifest.json", "config.yaml",
            "summary.csv"} <= set(manifest["files"])
    render = load_config(tmp_path / "peaks" / "config.yaml").render
    for name in ("loss.png", "path.png"):
        assert_png(tmp_path / "peaks" / name, figure_pixels(render.size, render.dpi))
    assert {"optviz", "torch", "python"} <= set(manifest["versions"])
    assert [run["label"] for run in manifest["runs"]] == ["Adadelta", "Adagrad", "SGD", "Adam", "RMSprop"]
    assert all(run["diverged_step"] is None for run in manifest["runs"])
    assert "Wrote" in result.output


def test_run_1d_csv_header_and_animation(tmp_path):
    result = invoke("run", CONFIGS / "peaks1d.yaml", "--animate", "--out", tmp_path, "--set", "render.animation.frames=10")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "trajectories.csv").read_text().startswith("label,start,step,x,loss,lr,grad_norm\n")
    assert_animation(tmp_path / "animation.gif", 10)


def test_set_and_json_for_shell_scripts(tmp_path):
    result = invoke("run", CONFIGS / "momentum.yaml", "--set", "steps=300", "--set", "optimizers.SGD.lr=0.05",
                    "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["steps"] == 300
    config = (tmp_path / "config.yaml").read_text()
    assert "lr: 0.05" in config and "steps: 300" in config
    rows = (tmp_path / "trajectories.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 301


def test_a_skipped_trajectories_csv_is_warned_about_and_listed(tmp_path, monkeypatch):
    monkeypatch.setattr("optviz.store.rundir.CSV_ROW_LIMIT", 10)  # the run below has 2 x 6 rows
    result = invoke("run", CONFIGS / "momentum.yaml", "--set", "steps=5", "--set", "render.figures=[loss]",
                    "--no-animate", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    why = "12 rows is over its limit of 10; trajectories.npz holds the same numbers"
    assert result.stderr.splitlines() == [f"Warning: trajectories.csv not written: {why}"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["skipped"] == [{"file": "trajectories.csv", "why": why}]
    assert "trajectories.csv" not in manifest["files"] and not (tmp_path / "trajectories.csv").exists()


def test_the_summary_says_whether_the_nearest_minimum_is_global_or_local(tmp_path):
    result = invoke("run", CONFIGS / "peaks.yaml", "--set", "render.figures=[loss]", "--no-animate", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    runs = json.loads((tmp_path / "manifest.json").read_text())["runs"]
    width = max(len(run["label"]) for run in runs)
    assert result.stdout.splitlines()[:-1] == [
        f"  {run['label']:<{width}} ok                     final loss {run['final_loss']:<12.6g} "
        f"distance to minimum {run['distance_to_minimum']:.3g} ({run['nearest_minimum']['kind']})" for run in runs]
    assert {run["nearest_minimum"]["kind"] for run in runs} == {"global", "local"}  # peaks' runs end in both


def test_animate_an_existing_run_without_recomputing(tmp_path):
    invoke("run", CONFIGS / "quadratic.yaml", "--out", tmp_path / "run")
    (tmp_path / "run" / "trajectories.csv").unlink()  # the animation reads the exact .npz
    out = tmp_path / "race.gif"
    result = invoke("animate", tmp_path / "run", "--gif", "--frames", 8, "--fps", 24, "--out", out)
    assert result.exit_code == 0, result.output
    assert_animation(out, 8)


@pytest.mark.parametrize("args,code,message", [
    (["run", "missing.yaml"], 2, "Error: missing.yaml: no such file"),
    (["run", CONFIGS / "peaks.yaml", "--set", "optimizers.Nope.lr=1"], 2,
     f"Error: {CONFIGS / 'peaks.yaml'}: --set optimizers.Nope.lr=1: no optimizer labelled 'Nope'; "
     "labels: Adadelta, Adagrad, SGD, Adam, RMSprop"),
    (["animate", "not-a-run"], 1, "Error: not-a-run: not a run directory (no config.yaml); make one with `optviz run CONFIG`"),
])
def test_errors_are_one_line_with_exit_codes(args, code, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, [str(arg) for arg in args])
    assert result.exit_code == code
    assert result.output.strip() == message
    assert "Traceback" not in result.output


def test_list_functions_json_matches_the_registry():
    from optviz import get_function

    entries = json.loads(invoke("list", "functions", "--json").output)
    names = {entry["name"] for entry in entries}
    assert {"quadratic", "peaks", "peaks1d", "rosenbrock", "himmelblau", "saddle", "ill_conditioned"} <= names
    peaks = next(entry for entry in entries if entry["name"] == "peaks")
    assert peaks == json.loads(json.dumps(get_function("peaks").to_dict()))


@pytest.mark.parametrize("what,expected", [("optimizers", "LBFGS"), ("schedulers", "StepLR"), ("functions", "rosenbrock")])
def test_list_tables(what, expected):
    result = invoke("list", what)
    assert result.exit_code == 0 and expected in result.output


def test_validate_reports_each_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("function: peaks\noptimizers: [{name: SGD, lr: -1}]\n")
    result = CliRunner().invoke(cli, ["validate", str(CONFIGS / "peaks.yaml"), str(bad)])
    assert result.exit_code == 2
    assert result.stdout == (f"ok: {CONFIGS / 'peaks.yaml'} (memory about 12.7 MB: figures 12.6 MB, internals 39.5 KB, records 19.7 KB, "
                             "summary 2.9 KB, engine 384 bytes)\n")
    assert result.stderr == f"Error: {bad}: optimizers[0].lr: must be > 0, got -1\n"


def test_validate_states_a_sweep_s_cells_and_memory_per_cell():
    result = CliRunner().invoke(cli, ["validate", str(CONFIGS / "sgd_grid.yaml")])
    assert result.exit_code == 0
    assert result.stdout.startswith(f"ok: {CONFIGS / 'sgd_grid.yaml'} (1024 cells; memory about ")
    assert result.stdout.endswith(" per cell: figures 12.6 MB, internals 39.1 KB, records 19.6 KB, summary 600 bytes, engine 384 bytes)\n")


def test_every_command_has_help_with_an_example():
    for command in ["run", "animate", "list", "validate"]:
        result = invoke(command, "-h")
        assert result.exit_code == 0 and "Example:" in result.output


def test_help_imports_neither_torch_nor_matplotlib():
    code = ("import sys; from optviz.cli import cli\n"
            "try:\n    cli(['--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'matplotlib')))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == "[]"


def test_python_dash_m_and_version():
    result = subprocess.run([sys.executable, "-m", "optviz", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("optviz, version ")


def test_csv_numbers_equal_the_engine(tmp_path):
    import csv

    import optviz

    invoke("run", CONFIGS / "quadratic.yaml", "--out", tmp_path)
    rows = list(csv.DictReader((tmp_path / "trajectories.csv").open()))
    trajectory = optviz.run(optviz.load_config(CONFIGS / "quadratic.yaml"))["SGD"]
    np.testing.assert_array_equal([float(row["x"]) for row in rows], trajectory.positions[0, :, 0])
    np.testing.assert_array_equal([float(row["loss"]) for row in rows], trajectory.loss[0])


# Sweep configs are many runs: tests/test_sweep.py runs them with `optviz sweep`. Network configs
# (problem:) have epochs, not steps: tests/test_network.py runs them shrunk. A suite (problems:) is
# not a run config: tests/test_compare.py runs it with `optviz compare`.
def _top_level_keys(path):
    return {line.partition(":")[0] for line in path.read_text().splitlines() if line[:1].isalpha()}


# Configs that name optimizers of the optviz[optimizers] extra, with the packages they import.
NEEDS_EXTRA = {"new_optimizers.yaml": ("pytorch_optimizer", "schedulefree", "lion_pytorch", "prodigyopt")}


@pytest.mark.parametrize("config", sorted(path.name for path in CONFIGS.glob("*.yaml")
                                          if not {"sweep", "problem", "problems"} & _top_level_keys(path)))
def test_every_example_config_runs(config, tmp_path):
    # Shrunk so the suite stays fast; the full configs run in `make demo` and `make gallery`.
    for package in NEEDS_EXTRA.get(config, ()):  # `make test` installs them: skipped only elsewhere
        pytest.importorskip(package)
    result = invoke("run", CONFIGS / config, "--set", "steps=5", "--no-animate", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # warnings (a big grid's skipped trajectories.csv) go to stderr
    assert summary["steps"] == 5 and summary["runs"]
    assert result.stderr == "".join(f"Warning: {warning}\n" for warning in summary["warnings"])
