"""Faults: runs that diverge or fail, functions that are NaN somewhere, unwritable outputs, interrupts.

Nothing crashes and nothing is lost: every figure still draws, the summary says what
went wrong, and a file appears whole or not at all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from matplotlib.figure import Figure

from images import assert_png, figure_pixels
import optviz
from optviz import config_from_dict
from optviz.cli import cli
from optviz.atomic import atomic_path, staged_directory, write_text
from optviz.store.rundir import manifest as run_manifest

DIVERGING = {"function": "rosenbrock", "start": [-1.5, 2.0], "steps": 40, "dtype": "float64",
             "optimizers": [{"name": "SGD", "lr": 1.0}, {"name": "Adam", "lr": 0.05},
                            {"name": "LBFGS", "lr": 1, "max_iter": 2, "line_search_fn": "strong_wolfe"}],
             "render": {"figures": ["loss", "path"]}}
RENDER = config_from_dict(DIVERGING).render  # the default figure size and dpi


def write_config(folder: Path, data: dict, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def invoke(*args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def snapshot(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()}


def leftovers(directory: Path) -> list[str]:
    """Temporary files in the folder, or staging and set-aside folders beside it, that a write left behind."""
    inside = [path.name for path in directory.iterdir() if path.name.startswith(".") or "part" in path.name]
    beside = [path.name for path in directory.parent.glob(f".{directory.name}.optviz-*")]
    return sorted(inside + beside)


def axes() -> object:
    return Figure(figsize=(6, 4), dpi=80).add_subplot()


def end_markers(ax) -> list:
    return [line for line in ax.get_lines() if line.get_marker() == "X"]


def on_edge(ax, x: float, y: float) -> bool:
    return bool(np.isclose(x, ax.get_xlim()).any() or np.isclose(y, ax.get_ylim()).any())


# --- divergence -----------------------------------------------------------------------


def test_a_diverging_optimizer_is_marked_and_the_others_finish(tmp_path):
    result = invoke("run", write_config(tmp_path, DIVERGING), "--out", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["diverged"] == ["SGD"] and manifest["failed"] == []
    sgd, adam, lbfgs = manifest["runs"]
    assert sgd["status"] == "diverged" and isinstance(sgd["diverged_step"], int)
    assert 0 < sgd["diverged_step"] <= 40
    assert sgd["final_loss"] is None and sgd["distance_to_minimum"] is None
    for finished in (adam, lbfgs):
        assert finished["status"] == "ok" and np.isfinite(finished["final_loss"])
    assert lbfgs["distance_to_minimum"] < 1e-3
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["diverged"] == ["SGD"]
    import csv

    rows = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert (rows[0]["label"], rows[0]["status"], rows[0]["diverged_step"]) == ("SGD", "diverged", str(sgd["diverged_step"]))


def test_the_summary_names_the_diverged_run(tmp_path):
    result = invoke("run", write_config(tmp_path, DIVERGING), "--out", tmp_path / "out")
    assert result.exit_code == 0
    step = json.loads((tmp_path / "out" / "manifest.json").read_text())["runs"][0]["diverged_step"]
    sgd_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("SGD"))
    assert f"diverged at step {step}" in sgd_line


def test_strict_exits_1_when_a_run_diverged_and_still_writes_everything(tmp_path):
    result = invoke("run", write_config(tmp_path, DIVERGING), "--out", tmp_path / "out", "--json", "--strict")
    assert result.exit_code == 1
    manifest = json.loads(result.stdout)
    assert result.stderr == f"Error: --strict: SGD diverged at step {manifest['runs'][0]['diverged_step']}\n"
    assert manifest["files"] == sorted(os.listdir(tmp_path / "out"))
    assert {"loss.png", "path.png", "trajectories.npz", "manifest.json"} <= set(manifest["files"])
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == manifest
    for name in ("loss.png", "path.png"):
        assert_png(tmp_path / "out" / name, figure_pixels(RENDER.size, RENDER.dpi))


def test_strict_exits_0_when_nothing_diverged(tmp_path):
    data = {**DIVERGING, "optimizers": DIVERGING["optimizers"][1:]}
    assert invoke("run", write_config(tmp_path, data), "--out", tmp_path / "out", "--strict", "-q").exit_code == 0


def test_strict_counts_diverged_starts_of_a_batch(tmp_path):
    data = {**DIVERGING, "start": {"grid": [3, 3]}, "optimizers": [{"name": "SGD", "lr": 0.002}, {"name": "Adam", "lr": 0.01}]}
    result = invoke("run", write_config(tmp_path, data), "--out", tmp_path / "out", "--json", "--strict")
    manifest = json.loads(result.stdout)
    sgd = manifest["runs"][0]
    assert 0 < sgd["diverged_starts"] < 9 and manifest["diverged"] == ["SGD"]
    assert result.exit_code == 1
    assert result.stderr == (f"Error: --strict: SGD diverged from {sgd['diverged_starts']} of 9 starts "
                             f"(first at step {sgd['first_diverged_step']})\n")


def test_strict_reports_an_optimizer_that_raised(tmp_path):
    (tmp_path / "fragile.py").write_text(
        "import torch\n\n\nclass Fragile(torch.optim.SGD):\n    def step(self, closure=None):\n"
        "        self.count = getattr(self, 'count', 0) + 1\n        if self.count > 3:\n"
        "            raise RuntimeError('gave up')\n        return super().step(closure)\n")
    data = {**DIVERGING, "optimizers": [{"name": "fragile.py:Fragile", "lr": 0.001}, {"name": "Adam", "lr": 0.05}]}
    result = invoke("run", write_config(tmp_path, data), "--out", tmp_path / "out", "--json", "--strict")
    manifest = json.loads(result.stdout)
    assert manifest["failed"] == ["Fragile"] and manifest["runs"][1]["status"] == "ok"
    assert (result.exit_code, result.stderr) == (1, "Error: --strict: Fragile failed: RuntimeError at step 3: gave up\n")


FLAKY = ("import torch\n\n\nclass Flaky(torch.optim.SGD):\n    def step(self, closure=None):\n"
         "        self.count = getattr(self, 'count', 0) + 1\n        if self.count > 3:\n"
         "            raise RuntimeError('gave up')\n        return super().step(closure)\n")
FLAKY_LABEL = "a flaky optimizer with a long label"


def failing_config(tmp_path: Path, **changes) -> Path:
    """A one-start run whose first optimizer (a long label) raises at step 3, beside SGD."""
    (tmp_path / "flaky.py").write_text(FLAKY)
    return write_config(tmp_path, {"function": "quadratic", "start": [2.0], "steps": 10, "dtype": "float64",
                                   "optimizers": [{"name": "flaky.py:Flaky", "lr": 0.1, "label": FLAKY_LABEL},
                                                  {"name": "SGD", "lr": 0.1}],
                                   "render": {"figures": ["loss", "path"]}, **changes})


def test_a_failed_optimizer_says_why_under_its_row(tmp_path):
    result = invoke("run", failing_config(tmp_path), "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    sgd = json.loads((tmp_path / "out" / "manifest.json").read_text())["runs"][1]
    width = len(FLAKY_LABEL)  # the label column fits the longest label, so the rows stay aligned
    assert result.stdout.splitlines()[:3] == [
        f"  {FLAKY_LABEL} failed                 final loss -            distance to minimum -",
        "    failed: RuntimeError at step 3: gave up",
        f"  {'SGD':<{width}} ok                     final loss {sgd['final_loss']:<12.6g} "
        f"distance to minimum {sgd['distance_to_minimum']:.3g} (global)",
    ]


def test_a_failed_optimizer_in_json_and_summary_csv(tmp_path):
    result = invoke("run", failing_config(tmp_path, start={"random": 2, "seed": 0}), "--out", tmp_path / "out",
                    "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["failed"] == [FLAKY_LABEL]
    assert manifest["runs"][0]["status"] == "failed"
    assert manifest["runs"][0]["error"] == "RuntimeError at step 3: gave up"
    rows = (tmp_path / "out" / "summary.csv").read_text().splitlines()
    assert rows[0] == ("label,start,status,final_loss,final_x,nearest_minimum,distance_to_minimum,"
                       "diverged_step,converged_step")
    # Nothing was reached: every field is empty (nearest_minimum used to say 0, the global minimum).
    assert rows[1:3] == [f"{FLAKY_LABEL},0,failed,,,,,,", f"{FLAKY_LABEL},1,failed,,,,,,"]
    assert rows[3].startswith("SGD,0,ok,") and len(rows) == 5


def test_a_failed_optimizer_agrees_in_summary_manifest_and_csv(tmp_path):
    result = optviz.run(optviz.load_config(failing_config(tmp_path)))
    row = result.summary()[0]
    assert {key: row[key] for key in ("status", "final_loss", "final_position", "nearest_minimum",
                                      "distance_to_minimum", "converged_step")} == {
        "status": "failed", "final_loss": None, "final_position": [None], "nearest_minimum": None,
        "distance_to_minimum": None, "converged_step": None}
    entry = run_manifest(result)["runs"][0]
    assert (entry["final_loss"], entry["nearest_minimum"], entry["distance_to_minimum"]) == (None, None, None)


@pytest.mark.parametrize("start", [[2.0], {"random": 3, "seed": 0}], ids=["one start", "three starts"])
def test_a_failed_optimizer_is_marked_in_the_legends(tmp_path, start):
    result = optviz.run(optviz.load_config(failing_config(tmp_path, start=start)))
    mark = "(failed: RuntimeError at step 3: gave up)"
    for axes in (optviz.plot_loss(result), optviz.plot_path(result)):
        # Long entries wrap onto several lines; read them as one.
        texts = [text.get_text().replace("\n", " ") for text in axes.get_legend().get_texts()]
        flaky = [text for text in texts if text.startswith(FLAKY_LABEL)]
        assert len(flaky) == 1 and flaky[0].endswith(mark), texts
        assert not any("failed" in text for text in texts if text.startswith("SGD"))


def test_a_stored_run_keeps_the_failure_for_later_figures(tmp_path):
    assert invoke("run", failing_config(tmp_path), "--out", tmp_path / "out", "-q").exit_code == 0
    stored = optviz.load_run(tmp_path / "out")
    assert [trajectory.error for trajectory in stored] == ["RuntimeError at step 3: gave up", None]


@pytest.fixture(scope="module")
def diverged():
    return {"2d": optviz.run(config_from_dict(DIVERGING)),
            "1d": optviz.run(config_from_dict({"function": "quadratic", "start": [2.0], "steps": 60,
                                               "optimizers": [{"name": "SGD", "lr": 0.5}, {"name": "Adam", "lr": 0.1}]}))}


@pytest.mark.parametrize("dim", ["1d", "2d"])
def test_the_path_figure_keeps_its_view_and_ends_the_diverged_path_at_the_edge(diverged, dim):
    result = diverged[dim]
    ax = optviz.plot_path(result, axes())
    function = result.function
    np.testing.assert_allclose(ax.get_xlim(), function.domain[0])
    if dim == "2d":
        np.testing.assert_allclose(ax.get_ylim(), function.domain[1])
    else:  # the curve's own range, not the 1e38 the diverged run reached
        curve = function(np.linspace(*function.domain[0], 50)[:, None])
        assert curve.max() <= ax.get_ylim()[1] < 1.2 * curve.max()
    (marker,) = end_markers(ax)
    assert marker.get_color() == ax.get_lines()[[line.get_label() for line in ax.get_lines()].index(
        f"SGD (diverged at step {result['SGD'].diverged_step[0]})")].get_color()
    assert on_edge(ax, marker.get_xdata()[0], marker.get_ydata()[0])
    assert not marker.get_clip_on()  # drawn whole on the edge, not cut in half


@pytest.mark.parametrize("dim", ["1d", "2d"])
def test_the_loss_figure_keeps_the_healthy_runs_readable(diverged, dim):
    result = diverged[dim]
    ax = optviz.plot_loss(result, axes())
    healthy = np.concatenate([trajectory.loss[0] for trajectory in result if not trajectory.diverged[0]])
    bottom, top = ax.get_ylim()
    assert top < 100 * healthy.max() and bottom <= healthy.min()  # not 1e38
    (marker,) = end_markers(ax)
    assert np.isclose(marker.get_ydata()[0], top)
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    # On the quadratic (1D), theory's rate follows: it said so.
    assert f"SGD (diverged at step {result['SGD'].diverged_step[0]})" + ("; theory: ρ = 3 > 1, diverges" if dim == "1d"
                                                                          else "") in labels


@pytest.mark.parametrize("dim", ["1d", "2d"])
def test_every_figure_and_the_animation_draw_a_diverged_run(diverged, dim, tmp_path):
    from PIL import Image

    result = diverged[dim]
    for save, name in ((optviz.save_loss, "loss.png"), (optviz.save_path, "path.png")):
        image = np.asarray(Image.open(save(result, tmp_path / name)).convert("RGB"))
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
    gif = optviz.save_animation(result, tmp_path / "race.gif", frames=6)
    assert Image.open(gif).n_frames == 6


# --- functions that are not finite everywhere -----------------------------------------


@pytest.mark.parametrize("function,start,where", [
    ({"expr": "sqrt(1 - x**2 - y**2) + x", "domain": [[-2, 2], [-2, 2]]}, [0.0, 0.1], "it is finite only within x in"),
    ({"expr": "log(x) + (x - 2)**2", "domain": [[-1, 4]]}, [3.0], "within x in [-1, "),
], ids=["2d-disc", "1d-log"])
def test_nan_regions_are_drawn_blank_hatched_and_reported(tmp_path, function, start, where):
    data = {"function": function, "start": start, "steps": 10, "optimizers": [{"name": "Adam", "lr": 0.05}]}
    result = invoke("run", write_config(tmp_path, data), "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.stderr.splitlines()]
    assert warning.startswith("Warning: the function 'custom' is NaN or infinite at ") and where in warning
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["warnings"] == [warning.removeprefix("Warning: ")]
    assert 0 < manifest["nonfinite"]["fraction"] < 1
    run = optviz.load_run(tmp_path / "out")
    ax = optviz.plot_path(run, axes())
    assert "f not finite" in [text.get_text() for text in ax.get_legend().get_texts()]
    for name in ("loss.png", "path.png"):
        assert_png(tmp_path / "out" / name, figure_pixels(RENDER.size, RENDER.dpi))


def test_a_finite_function_has_no_warning(tmp_path):
    data = {"function": "peaks", "start": [0, 0.5], "steps": 5, "optimizers": ["Adam"]}
    result = invoke("run", write_config(tmp_path, data), "--out", tmp_path / "out", "--json")
    assert result.stderr == "" and json.loads(result.stdout)["warnings"] == []


# --- output that cannot be written ----------------------------------------------------


@pytest.fixture
def no_engine(monkeypatch):
    """Fail loudly if any optimizer runs: the error must come before any work."""

    def refuse(*args, **kwargs):
        raise AssertionError("the engine ran before the output directory was checked")

    monkeypatch.setattr("optviz.pipelines.run.run", refuse)


def test_a_file_in_the_way_is_one_line_before_any_work(tmp_path, no_engine):
    (tmp_path / "taken").write_text("not a directory")
    config = write_config(tmp_path, DIVERGING)
    result = invoke("run", config, "--out", tmp_path / "taken" / "run")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path / 'taken' / 'run'}: cannot write there: {tmp_path / 'taken'} is a file, not a directory\n"
    assert (tmp_path / "taken").read_text() == "not a directory"


def test_an_output_where_nothing_can_be_created_is_one_line(tmp_path, no_engine):
    result = invoke("run", write_config(tmp_path, DIVERGING), "--out", "/proc/optviz-cannot-exist/run")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: /proc/optviz-cannot-exist/run: cannot write there: ")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes through permissions")
def test_a_read_only_directory_is_one_line(tmp_path, no_engine):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = invoke("run", write_config(tmp_path, DIVERGING), "--out", locked / "run")
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {locked / 'run'}: cannot write there: Permission denied\n"


# --- files appear whole or not at all -------------------------------------------------


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = write_text(tmp_path / "manifest.json", "old\n")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_text("half of the new")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["manifest.json"]


def test_a_staged_directory_moves_everything_in_or_nothing(tmp_path, monkeypatch):
    (tmp_path / "config.yaml").write_text("earlier\n")
    with pytest.raises(RuntimeError), staged_directory(tmp_path) as staging:
        (staging / "config.yaml").write_text("new\n")
        raise RuntimeError("failed half-way")
    assert snapshot(tmp_path) == {"config.yaml": b"earlier\n"} and leftovers(tmp_path) == []

    moved = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda source, target: (moved.append(Path(target).name), real_replace(source, target)))
    with staged_directory(tmp_path, last=("manifest.json",)) as staging:
        for name in ("manifest.json", "a.csv", "z.png"):
            (staging / name).write_text(name)
    assert moved == ["a.csv", "z.png", "manifest.json"]
    assert set(snapshot(tmp_path)) == {"config.yaml", "manifest.json", "a.csv", "z.png"} and leftovers(tmp_path) == []


def test_every_file_of_a_run_is_written_atomically(tmp_path, monkeypatch):
    """Each writer renames a complete temporary file onto its name in the staging folder; one rename
    then swaps the whole folder in."""
    renames, folder_renames = [], []
    real_replace, real_rename = os.replace, os.rename
    monkeypatch.setattr(os, "replace", lambda source, target: (renames.append((Path(source), Path(target))),
                                                               real_replace(source, target)))
    monkeypatch.setattr(os, "rename", lambda source, target: (folder_renames.append((Path(source), Path(target))),
                                                              real_rename(source, target)))
    config = config_from_dict({**DIVERGING, "render": {"animation": {"frames": 4}}})
    out = tmp_path / "out"
    manifest = optviz.run_to_dir(config, out, animate=True)
    ((staging, target),) = folder_renames
    assert target == out and staging.parent == out.parent and staging.name.startswith(".out.optviz-staging-")
    final = {target.name for source, target in renames if target.parent == staging}
    states = {target.name for source, target in renames if target.parent == staging / "state"}
    assert states == {path.name for path in (out / "state").iterdir()} and states  # each optimizer's final state
    assert final | {"state"} == set(manifest["files"]) == set(os.listdir(out))
    for source, target in renames:
        # Renamed within one folder: whole or not at all.
        assert source.parent == target.parent and target.parent in (staging, staging / "state")
        assert source.name.startswith(".") and source.name != target.name


def test_an_interrupt_while_drawing_keeps_the_earlier_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    optviz.run_to_dir(config_from_dict({**DIVERGING, "steps": 5}), out)
    before = snapshot(out)

    def interrupted(result, path):
        Path(path).write_bytes(b"half a png")
        raise KeyboardInterrupt

    monkeypatch.setattr("optviz.render.save_path", interrupted)
    with pytest.raises(KeyboardInterrupt):
        optviz.run_to_dir(config_from_dict(DIVERGING), out)
    assert snapshot(out) == before and leftovers(out) == []


# --- SIGINT to a real process ----------------------------------------------------------


def interrupt_when(args: list, ready, cwd: Path, signals: tuple[int, ...] = (signal.SIGINT,)
                   ) -> subprocess.CompletedProcess:
    """Start ``optviz ARGS``, send ``signals`` one after another once ``ready()``, return the finished process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "optviz", *map(str, args)], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
        # A test runner started in the background may ignore SIGINT, and children inherit that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300  # a hang guard, not a speed check
        while not ready():
            if process.poll() is not None:
                pytest.fail(f"optviz ended before it could be interrupted: {process.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail("optviz never reached the point to interrupt")
            time.sleep(0.01)
        for number in signals:
            process.send_signal(number)
            time.sleep(0.05)
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def earlier_run(tmp_path_factory):
    """A finished run directory, with an animation, that the interrupted reruns must leave as it is."""
    folder = tmp_path_factory.mktemp("earlier")
    config = {"function": "peaks", "start": [0.0, 0.9], "steps": 2000, "dtype": "float64",
              "optimizers": [{"name": "SGD", "lr": 0.001}], "render": {"figures": ["loss"], "animation": {"frames": 5}}}
    optviz.run_to_dir(config_from_dict(config), folder / "run", animate=True)
    return folder / "run"


def copy_of(run: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, tmp_path / "run"))


def staged(out: Path, name: str | None = None) -> bool:
    pattern = f".{out.name}.optviz-staging-*" + (f"/{name}" if name else "")
    return any(out.parent.glob(pattern))


def check_interrupted(completed, out: Path, before: dict[str, bytes], code: int = 130) -> None:
    assert completed.returncode == code, completed.stderr
    assert completed.stderr.splitlines()[-1] == "Interrupted." and "Traceback" not in completed.stderr
    assert snapshot(out) == before
    assert leftovers(out) == []


def test_sigint_in_the_engine_exits_130_and_keeps_the_earlier_run(earlier_run, tmp_path):
    out = copy_of(earlier_run, tmp_path)
    before = snapshot(out)
    config = write_config(tmp_path, {"function": "quadratic", "start": [2.0], "steps": 1_000_000,
                                     "optimizers": [{"name": "SGD", "lr": 1e-6}]})
    completed = interrupt_when(["run", config, "--out", out], lambda: staged(out), tmp_path)
    check_interrupted(completed, out, before)


@pytest.mark.parametrize("signals,code", [
    ((signal.SIGINT,), 130),
    ((signal.SIGINT, signal.SIGINT), 130),  # a second Ctrl-C during the clean-up prints no traceback
    ((signal.SIGTERM,), 143),
    ((signal.SIGHUP,), 129),
], ids=["sigint", "sigint-twice", "sigterm", "sighup"])
def test_an_ending_signal_while_writing_keeps_the_earlier_run(earlier_run, tmp_path, signals, code):
    out = copy_of(earlier_run, tmp_path)
    before = snapshot(out)
    # Enough rows that the CSV and the figures take a while after trajectories.npz is written.
    config = write_config(tmp_path, {"function": "peaks", "start": {"grid": [30, 30]}, "steps": 1000,
                                     "optimizers": [{"name": "SGD", "lr": 0.001}]})
    completed = interrupt_when(["run", config, "--out", out], lambda: staged(out, "trajectories.npz"), tmp_path,
                               signals)
    check_interrupted(completed, out, before, code)


def test_a_figure_that_fails_halfway_leaves_the_earlier_run_byte_identical(earlier_run, tmp_path, monkeypatch):
    out = copy_of(earlier_run, tmp_path)
    before = {path.relative_to(out): path.read_bytes() for path in out.rglob("*") if path.is_file()}

    def broken(result, path):
        Path(path).write_bytes(b"half a png")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("optviz.render.save_path", broken)
    result = invoke("run", CONFIGS / "peaks.yaml", "--set", "steps=5", "--out", out)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr == "Error: No space left on device\n"
    assert {path.relative_to(out): path.read_bytes() for path in out.rglob("*") if path.is_file()} == before
    assert leftovers(out) == []


def test_a_failed_swap_puts_the_earlier_run_back(earlier_run, tmp_path, monkeypatch):
    out = copy_of(earlier_run, tmp_path)
    before = snapshot(out)
    real_rename = os.rename

    def refuse_the_new_folder(source, target):
        if Path(source).name.startswith(f".{out.name}.optviz-staging-"):
            raise OSError(18, "Invalid cross-device link")
        return real_rename(source, target)

    monkeypatch.setattr(os, "rename", refuse_the_new_folder)
    result = invoke("run", CONFIGS / "peaks.yaml", "--set", "steps=5", "--no-animate", "--out", out)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {out}: cannot put the run in place: Invalid cross-device link; the earlier " \
                            "folder is unchanged\n"
    assert snapshot(out) == before and leftovers(out) == []


@pytest.mark.parametrize("case", ["full-disk", "file-too-large", "folder-where-the-file-goes"])
def test_file_system_failures_are_one_line_and_keep_the_earlier_run(earlier_run, tmp_path, monkeypatch, case):
    out = copy_of(earlier_run, tmp_path)
    before = snapshot(out)
    if case == "folder-where-the-file-goes":
        target = tmp_path / "race.gif"
        target.mkdir()
        result = invoke("animate", out, "--frames", 3, "--out", target)
        assert result.stderr == f"Error: {target}: cannot write: Is a directory\n"
    else:
        number, words = (28, "No space left on device") if case == "full-disk" else (27, "File too large")
        real_replace = os.replace

        def failing(source, destination):
            if Path(destination).name == "summary.csv":
                raise OSError(number, words)
            return real_replace(source, destination)

        monkeypatch.setattr(os, "replace", failing)
        result = invoke("run", CONFIGS / "peaks.yaml", "--set", "steps=5", "--out", out)
        staging = next(iter(out.parent.glob(f".{out.name}.optviz-staging-*")), None)
        assert staging is None
        assert result.stderr.startswith(f"Error: {out.parent}/.{out.name}.optviz-staging-")
        assert result.stderr.endswith(f"/summary.csv: cannot write: {words}\n")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert snapshot(out) == before and leftovers(out) == []


def test_an_out_name_too_long_is_one_line(tmp_path):
    out = tmp_path / ("x" * 300)
    result = invoke("run", CONFIGS / "peaks.yaml", "--set", "steps=5", "--out", out)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {'x' * 40}...: cannot write there: the folder name is too long (300 bytes; " \
                            "at most 223)\n"
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_is_not_optviz_s_own_is_refused(tmp_path):
    (tmp_path / "config.yaml").write_text("mine\n")
    (tmp_path / "notes.txt").write_text("mine too\n")
    result = invoke("run", CONFIGS / "peaks.yaml", "--set", "steps=5", "--out", tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {tmp_path}: not an optviz output folder (it holds config.yaml, notes.txt); a run "
                             "replaces its whole folder, so name a new or empty folder with --out\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config.yaml", "notes.txt"]


def test_a_rerun_leaves_no_file_of_the_earlier_run(earlier_run, tmp_path):
    out = copy_of(earlier_run, tmp_path)
    assert (out / "animation.gif").is_file()
    result = invoke("run", CONFIGS / "peaks.yaml", "--set", "steps=5", "--set", "render.figures=[loss]",
                    "--no-animate", "--out", out)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(path.name for path in out.iterdir()) == sorted(manifest["files"])
    assert "animation.gif" not in manifest["files"] and leftovers(out) == []


def test_sigint_in_animate_exits_130_and_keeps_the_earlier_animation(earlier_run, tmp_path):
    out = copy_of(earlier_run, tmp_path)
    before = snapshot(out)
    completed = interrupt_when(["animate", out, "--frames", 2000], lambda: any(out.glob(".animation.*.partial.gif")),
                               tmp_path)
    check_interrupted(completed, out, before)


def test_when_every_run_diverged_the_loss_figure_shows_the_blow_up():
    result = optviz.run(config_from_dict({"function": "quadratic", "start": [2.0], "steps": 60,
                                          "optimizers": [{"name": "SGD", "lr": 0.5}]}))
    ax = optviz.plot_loss(result, axes())
    last = result["SGD"].last_finite()[0]
    assert ax.get_yscale() == "log" and ax.get_ylim()[1] >= result["SGD"].loss[0, last]


def test_a_user_function_that_raises_mid_run_is_one_line_and_keeps_the_earlier_run(tmp_path):
    (tmp_path / "fragile.py").write_text(
        "def bowl(x, y):\n    if x.requires_grad and (x > 2.5).any():\n"
        "        raise ValueError('left the trusted region')\n    return (x - 3) ** 2 + y**2\n\n\n"
        "bowl.domain = [[-3, 3], [-3, 3]]\n")
    out = tmp_path / "out"
    config = write_config(tmp_path, {"function": "fragile.py:bowl", "start": [2.0, 1.0], "steps": 30,
                                     "optimizers": [{"name": "Adam", "lr": 0.1}], "render": {"figures": ["loss"]}})
    assert invoke("run", config, "--out", out, "--set", "start=[-2, 1]", "--set", "steps=3").exit_code == 0
    before = snapshot(out)
    result = invoke("run", config, "--out", out)  # validation passes; the run reaches x > 2.5
    assert (result.exit_code, result.stderr) == (1, "Error: function bowl raised ValueError: left the trusted region\n")
    assert snapshot(out) == before and leftovers(out) == []


def test_numpy_runtime_warnings_never_reach_the_user(tmp_path):
    (tmp_path / "noisy.py").write_text(
        "import warnings\n\n\ndef bowl(x, y):\n"
        "    warnings.warn('All-NaN slice encountered', RuntimeWarning)\n    return x**2 + y**2\n\n\n"
        "bowl.domain = [[-2, 2], [-2, 2]]\n")
    config = write_config(tmp_path, {"function": "noisy.py:bowl", "start": [1.0, 1.0], "steps": 5,
                                     "optimizers": [{"name": "SGD", "lr": 0.1}]})
    result = invoke("run", config, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the swallowed one, on purpose
def test_an_interrupt_whose_exception_was_swallowed_still_stops_the_commit(tmp_path):
    """A signal landing in a __del__ or weakref callback loses its exception ("Exception ignored");
    the next commit point raises it again, so the earlier folder and file stay as they were."""
    import weakref

    from optviz import atomic

    class Dying:
        pass

    def callback(_reference):  # where the handler's exception is lost, as Python drops it here
        atomic.interrupt(signal.SIGINT)

    earlier = tmp_path / "run"
    earlier.mkdir()
    (earlier / "manifest.json").write_text("{}")
    try:
        thing = Dying()
        reference = weakref.ref(thing, callback)
        del thing  # the callback's Interrupted is printed and ignored, not raised here
        assert reference() is None
        with pytest.raises(atomic.Interrupted):
            with atomic.published_directory(earlier) as staging:
                (staging / "manifest.json").write_text('{"new": true}')
        with pytest.raises(atomic.Interrupted):
            write_text(tmp_path / "file.txt", "new")
    finally:
        atomic.forget_interrupts()
    assert (earlier / "manifest.json").read_text() == "{}" and not (tmp_path / "file.txt").exists()
    assert [path.name for path in tmp_path.iterdir()] == ["run"]  # no staging folder left behind


def _children(pid: int) -> list[str]:
    """The process ids whose parent is ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if fields[1] == str(pid):
            found.append(stat.parent.name)
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process tree from /proc")
def test_ctrl_c_to_a_basin_with_workers_ends_every_process_without_a_traceback(tmp_path):
    """A terminal's Ctrl-C reaches the whole process group: the forked workers must leave the ending
    to the parent (which terminates the pool), not each print the command's interrupt as a traceback."""
    process = subprocess.Popen(
        [sys.executable, "-m", "optviz", "basin", str(CONFIGS / "peaks_basin.yaml"), "--set", "start.grid=[512,512]",
         "--workers", "2", "--out", str(tmp_path / "basin")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300  # a hang guard, not a speed check
        while len(_children(process.pid)) < 2:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the basin never had its two workers running: {process.poll()}")
            time.sleep(0.05)
        workers = _children(process.pid)
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1] == "Interrupted." and not (tmp_path / "basin").exists()
    time.sleep(0.5)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()
                and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()]
