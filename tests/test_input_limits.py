"""Inputs that would make optviz read, build, quote or draw without limit: each is one line, exit 2, nothing written.

The YAML limits (aliases, depth, long numbers) have their cases in tests/bad_configs/; these are the
inputs a YAML file cannot hold: files that are not regular files, and files too large to read.
"""

from __future__ import annotations

import os
import sys

import pytest
from click.testing import CliRunner

from optviz.cli import cli
from optviz.config.reading import MAX_FILE_BYTES


def run_refused(config, tmp_path) -> str:
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(config), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert not out.exists()
    return result.stderr


def test_a_directory_is_not_a_config(tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    assert run_refused(folder, tmp_path) == f"Error: {folder}: is a directory, not a config file\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    pipe = tmp_path / "config.yaml"
    os.mkfifo(pipe)
    assert run_refused(pipe, tmp_path) == (
        f"Error: {pipe}: is not a regular file (a device, pipe or socket); give a YAML file\n")


@pytest.mark.skipif(not os.path.exists("/dev/zero") or sys.platform == "win32", reason="needs /dev/zero")
def test_an_endless_device_is_refused():
    result = CliRunner().invoke(cli, ["validate", "/dev/zero"])
    assert (result.exit_code, result.stderr) == (
        2, "Error: /dev/zero: is not a regular file (a device, pipe or socket); give a YAML file\n")


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    config = tmp_path / "big.yaml"
    config.write_text("function: peaks\noptimizers: [Adam]\n" + "#" * MAX_FILE_BYTES + "\n")
    assert run_refused(config, tmp_path) == f"Error: {config}: is larger than 1 MiB; a config is a few kilobytes\n"


def test_a_long_value_is_quoted_short(tmp_path):
    config = tmp_path / "long.yaml"
    config.write_text("function: peaks\nsteps: " + "x" * 5000 + "\noptimizers: [Adam]\n")
    line = run_refused(config, tmp_path)
    assert line.startswith(f"Error: {config}: steps: must be a whole number, got 'xxx")
    assert line.endswith("... (5002 characters)\n")
    assert len(line) - len(str(config)) < 300


def test_mathtext_in_labels_note_and_name_is_drawn_as_written(tmp_path):
    """`$\\frac{$` once crashed matplotlib's mathtext parser at render time, after the run."""
    config = tmp_path / "math.yaml"
    config.write_text('function: {expr: "x**2 + y**2", domain: [[-2, 2], [-2, 2]], name: "$\\\\frac{$"}\n'
                      "steps: 3\nstart: [1, 1]\n"
                      'optimizers: [{name: SGD, lr: 0.1, label: "$\\\\frac{$ lr"}]\n'
                      'render: {note: "costs $5 $\\\\frac{$", animation: {enabled: true, frames: 2}}\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(config), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert {"loss.png", "path.png", "animation.gif", "trajectories.csv"} <= {path.name for path in out.iterdir()}
    assert "$\\frac{$ lr" in (out / "trajectories.csv").read_text(encoding="utf-8")
