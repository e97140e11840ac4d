"""Damaged stored folders: every broken run or sweep file is one line naming it, never a traceback.

A run folder's trajectories.npz or config.yaml, or a sweep cell's npz or json, damaged by
hand, by a full disk or by a stranger: `optviz animate` and `optviz merge` say which file
and what is wrong (exit code 1) and write nothing; a resumed sweep recomputes the cell.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import optviz
from optviz import config_from_dict
from optviz.cli import cli

CONFIGS = Path(__file__).parent.parent / "configs"
SWEEP = [CONFIGS / "quadratic_lr.yaml", "--set", "steps=5"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file()}


def arrays_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def without(name: str):
    return lambda path: np.savez(path, **{key: value for key, value in arrays_of(path).items() if key != name})


def replaced(name: str, value):
    return lambda path: np.savez(path, **{**arrays_of(path), name: value(arrays_of(path)[name])})


# (id, damage done to an npz, what is wrong with it, after "Error: <file>: ")
NPZ_DAMAGE = [
    ("empty", lambda path: path.write_bytes(b""), "the file is empty"),
    ("truncated", lambda path: path.write_bytes(path.read_bytes()[:200]),
     "not a readable .npz archive (File is not a zip file)"),
    ("not a zip", lambda path: path.write_text("hello"), "not an .npz archive (no zip header)"),
    ("a .npy", lambda path: np.save(path.open("wb"), np.zeros(3)), "not an .npz archive (no zip header)"),
    ("missing labels", without("labels"), "array 'labels' is missing"),
    ("missing loss", without("loss_0"), "array 'loss_0' is missing"),
    ("object array", replaced("loss_0", lambda loss: np.array([[1, "a"]], dtype=object)),
     "array 'loss_0' cannot be read without pickle (Object arrays cannot be loaded when allow_pickle=False)"),
    ("text for numbers", replaced("steps", lambda steps: steps.astype(str)),
     "array 'steps' must hold numbers, got dtype <U21"),
    ("mismatched shapes", replaced("loss_0", lambda loss: loss[:, :3]),
     "array 'loss_0' has shape (1, 3), but the other arrays say (1, 6)"),
    ("mismatched dimension", replaced("positions_0", lambda positions: positions[..., :1]),
     "array 'positions_0' has shape (1, 6, 1), but the other arrays say (1, 6, 2)"),
]


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stored") / "run"
    config = {"function": "peaks", "start": [0.0, 0.9], "steps": 5, "optimizers": [{"name": "SGD", "lr": 0.01}],
              "render": {"figures": ["loss"]}}
    optviz.run_to_dir(config_from_dict(config), folder, animate=False)
    return folder


def damaged_run(stored_run: Path, tmp_path: Path, name: str, damage) -> Path:
    run = Path(shutil.copytree(stored_run, tmp_path / "run"))
    damage(run / name)
    return run


@pytest.mark.parametrize("damage,wrong", [case[1:] for case in NPZ_DAMAGE], ids=[case[0] for case in NPZ_DAMAGE])
def test_animate_names_the_damaged_npz_and_writes_nothing(stored_run, tmp_path, damage, wrong):
    run = damaged_run(stored_run, tmp_path, "trajectories.npz", damage)
    before = snapshot(run)
    result = invoke("animate", run, "--frames", "3")
    assert (result.exit_code, result.stderr) == (1, f"Error: {run / 'trajectories.npz'}: {wrong}\n")
    assert snapshot(run) == before


@pytest.mark.parametrize("text,wrong", [
    ("", "the config is empty; it needs at least 'function' and 'optimizers'"),
    ("- 1\n", "the config must be a mapping of keys to values, got a list"),
], ids=["empty", "a list"])
def test_animate_names_a_damaged_config_yaml(stored_run, tmp_path, text, wrong):
    run = damaged_run(stored_run, tmp_path, "config.yaml", lambda path: path.write_text(text))
    before = snapshot(run)
    result = invoke("animate", run, "--frames", "3")
    assert (result.exit_code, result.stderr) == (2, f"Error: {run / 'config.yaml'}: {wrong}\n")
    assert snapshot(run) == before


# --- sweep cells -------------------------------------------------------------------------------

JSON_DAMAGE = [
    ("empty", lambda path: path.write_text("")),
    ("a list", lambda path: path.write_text("[1, 2]")),
    ("no key", lambda path: path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items()
                                                         if k != "key"}))),
    ("no versions", lambda path: path.write_text(json.dumps({k: v for k, v in json.loads(path.read_text()).items()
                                                              if k != "versions"}))),
    ("error not text", lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), "error": [1]}))),
]


@pytest.fixture(scope="module")
def stored_sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stored") / "sweep"
    assert invoke("sweep", *SWEEP, "--out", folder, "-q").exit_code == 0
    return folder


def damaged_cell(stored_sweep: Path, tmp_path: Path, suffix: str, damage) -> tuple[Path, Path]:
    sweep = Path(shutil.copytree(stored_sweep, tmp_path / "sweep"))
    cell = sorted((sweep / "cells").glob(f"*{suffix}"))[3]
    damage(cell)
    return sweep, cell


CELL_DAMAGE = [(f"npz {case[0]}", ".npz", case[1]) for case in NPZ_DAMAGE
               if case[0] not in ("mismatched dimension",)] + [(f"json {case[0]}", ".json", case[1]) for case in JSON_DAMAGE]


@pytest.mark.parametrize("suffix,damage", [case[1:] for case in CELL_DAMAGE], ids=[case[0] for case in CELL_DAMAGE])
def test_a_resumed_sweep_recomputes_a_damaged_cell(stored_sweep, tmp_path, suffix, damage):
    sweep, _ = damaged_cell(stored_sweep, tmp_path, suffix, damage)
    result = invoke("sweep", *SWEEP, "--out", sweep, "--json", "-q")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["session"] == {**json.loads(result.stdout)["session"], "computed": 1, "reused": 9}
    assert snapshot(sweep)["sweep.csv"] == snapshot(stored_sweep)["sweep.csv"]


def test_merge_names_a_damaged_cell_and_writes_nothing(stored_sweep, tmp_path):
    sweep, cell = damaged_cell(stored_sweep, tmp_path, ".npz", without("loss_0"))
    before = snapshot(sweep)
    result = invoke("merge", sweep)
    assert result.exit_code == 1
    index = next(cell_index for cell_index, key in enumerate(_cell_keys(sweep)) if cell.stem == key)
    assert result.stderr == (f"Error: {sweep}: 1 of 10 cells are not finished (cells {index}; 1 damaged, the first: "
                             f"{cell}: array 'loss_0' is missing); run the missing shards, or "
                             f"`optviz sweep {sweep / 'sweep.yaml'} --out {sweep}` to compute them here\n")
    assert snapshot(sweep) == before


def test_merge_names_a_cell_json_that_is_a_list(stored_sweep, tmp_path):
    sweep, cell = damaged_cell(stored_sweep, tmp_path, ".json", lambda path: path.write_text("[]"))
    result = invoke("merge", sweep)
    assert result.exit_code == 1
    assert f"1 damaged, the first: {cell}: not a JSON object);" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("Error: ")


def _cell_keys(sweep: Path) -> list[str]:
    from optviz.load import load

    return [cell.key for cell in load(sweep / "sweep.yaml").sweep.cells]


# --- the environment ---------------------------------------------------------------------------

def test_an_unknown_mplbackend_is_one_line_naming_the_variable(tmp_path):
    import os
    import subprocess
    import sys

    # A fresh process: this one has imported matplotlib already.
    env = {**os.environ, "MPLBACKEND": "nonsense", "PYTHONPATH": str(Path(__file__).parent.parent)}
    completed = subprocess.run([sys.executable, "-m", "optviz", "run", CONFIGS / "peaks.yaml", "--set", "steps=5",
                                "--out", tmp_path / "out", "-q"], env=env, capture_output=True, text=True, timeout=120)
    assert (completed.returncode, completed.stdout) == (1, "")
    assert completed.stderr == ("Error: MPLBACKEND='nonsense' is not a matplotlib backend; unset it, or set it to one "
                                "matplotlib knows, e.g. MPLBACKEND=Agg\n")
    assert not (tmp_path / "out").exists()


# --- animate flags, frame caps, basin with one start ------------------------------------------

@pytest.fixture
def run_copy(stored_run, tmp_path):
    return Path(shutil.copytree(stored_run, tmp_path / "run"))


@pytest.mark.parametrize("flags, message", [
    (["--mp4", "--out", "x.gif"], "Error: --mp4 conflicts with --out x.gif: the file name says .gif; drop --mp4, "
                                  "or name the file .mp4"),
    (["--gif", "--out", "x.mp4"], "Error: --gif conflicts with --out x.mp4: the file name says .mp4; drop --gif, "
                                  "or name the file .gif"),
    (["--show", "--out", "x.gif"], "Error: --show plays the animation in a window; it does not combine with --out"),
], ids=["mp4 to a gif", "gif to an mp4", "show and out"])
def test_animate_flag_conflicts_are_usage_errors(run_copy, flags, message):
    before = snapshot(run_copy)
    result = invoke("animate", run_copy, *flags)
    assert (result.exit_code, result.stderr) == (2, message + "\n")
    assert snapshot(run_copy) == before and not Path("x.gif").exists() and not Path("x.mp4").exists()


def test_show_without_a_display_is_an_error(run_copy, monkeypatch):
    before = snapshot(run_copy)
    result = invoke("animate", run_copy, "--show")  # the suite runs with MPLBACKEND=Agg
    assert (result.exit_code, result.stderr) == (1, "Error: --show needs a window, but matplotlib's backend is agg, "
                                                    "which cannot open one; set MPLBACKEND to an interactive backend "
                                                    "(e.g. TkAgg), or drop --show to write a file\n")
    assert snapshot(run_copy) == before


def test_quiver_writes_its_own_file_beside_the_plain_race(run_copy):
    assert invoke("animate", run_copy, "--frames", 3, "-q").exit_code == 0
    plain = (run_copy / "animation.gif").read_bytes()
    result = invoke("animate", run_copy, "--frames", 3, "--quiver")
    assert (result.exit_code, result.stdout) == (0, f"Wrote {run_copy / 'animation-quiver.gif'}\n")
    assert (run_copy / "animation.gif").read_bytes() == plain


def test_more_frames_than_steps_says_what_was_made(run_copy):
    result = invoke("animate", run_copy, "--frames", 120)
    assert result.exit_code == 0, result.output
    assert result.stderr == ("Warning: asked for 120 frames, made 6: one per recorded step of the run "
                             "(a frame never repeats a step)\n")
    assert invoke("animate", run_copy, "--frames", 120, "-q").stderr == ""


def test_a_run_whose_animation_asks_for_more_frames_than_steps_says_so(tmp_path):
    result = invoke("run", CONFIGS / "peaks.yaml", "--set", "steps=5", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert result.stderr == ("Warning: asked for 101 frames, made 6: one per recorded step of the run "
                             "(a frame never repeats a step)\n")


def test_basin_with_one_start_asks_for_a_grid(tmp_path):
    result = invoke("basin", CONFIGS / "peaks.yaml", "--out", tmp_path / "out")
    assert (result.exit_code, result.stderr) == (2, f"Error: {CONFIGS / 'peaks.yaml'}: start: a basin map needs a grid "
                                                    "of starts, one pixel each, and this config has one start; give it "
                                                    "one with --set start.grid=[64,64]\n")
    assert not (tmp_path / "out").exists()
