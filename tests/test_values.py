"""Values, not hidden state: a frozen config, plans made afresh, user files run once,
and library calls that leave the process as they found it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import optviz
from optviz.atomic import write_text
from optviz.cli import cli
from optviz.config import FrozenConfigError, with_overrides
from optviz.load import plan_sweep
from optviz.engine import engine_mode

ROOT = Path(__file__).resolve().parent.parent

# A user optimizer whose module counts how often it is executed, in a file beside it.
COUNTED = textwrap.dedent('''
    from pathlib import Path
    import torch

    counter = Path(__file__).with_name("executions.txt")
    counter.write_text(str(int(counter.read_text()) + 1) if counter.exists() else "1")


    class PlainGD(torch.optim.Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for param in group["params"]:
                    param.add_(param.grad, alpha=-group["lr"])
''')


def counted_config(folder: Path, sweep: bool) -> Path:
    (folder / "plain.py").write_text(COUNTED)
    text = "function: quadratic\nstart: [2.0]\nsteps: 5\noptimizers: [{name: plain.py:PlainGD, label: GD}]\n"
    if sweep:
        text += "sweep: {optimizers.GD.lr: [0.01, 0.02, 0.05, 0.1]}\n"
    (folder / "counted.yaml").write_text(text)
    return folder / "counted.yaml"


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_a_user_optimizer_file_runs_once_per_command(tmp_path, command):
    # In a fresh process, as a user runs it: the cache is per process.
    config = counted_config(tmp_path, sweep=command == "sweep")
    done = subprocess.run([sys.executable, "-m", "optviz", command, str(config), "--out", str(tmp_path / "out"), "-q"],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "executions.txt").read_text() == "1"


def test_an_edited_user_file_is_executed_again(tmp_path):
    config = counted_config(tmp_path, sweep=False)
    optviz.run(optviz.load_config(config))
    source = tmp_path / "plain.py"
    source.write_text(source.read_text() + "\n# edited\n")
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    optviz.run(optviz.load_config(config))
    assert int((tmp_path / "executions.txt").read_text()) == 2


def test_assigning_to_a_config_raises_a_clear_error():
    config = optviz.config_from_dict({"function": "peaks", "optimizers": ["Adam"]})
    with pytest.raises(FrozenConfigError, match=r"config.steps cannot be assigned; derive a new one with "
                                                r"config.model_copy\(update=\{'steps': \.\.\.\}\)"):
        config.steps = 50
    with pytest.raises(Exception, match="frozen"):
        config.render.dpi = 50


def test_a_notebook_edit_gives_the_new_plan():
    config = optviz.load_config(ROOT / "configs" / "quadratic_lr.yaml",
                                ["sweep.optimizers.SGD.lr=[0.1, 0.2]", "steps=10"])
    assert [len(plan_sweep(config).cells), plan_sweep(config).cells[0].config.steps] == [2, 10]
    edited = config.model_copy(update={"sweep": {"optimizers.SGD.lr": [0.1, 0.2, 0.3, 0.4]}, "steps": 50})
    sweep = plan_sweep(edited)
    assert len(sweep.cells) == 4 and {cell.config.steps for cell in sweep.cells} == {50}
    assert [cell.config.optimizers[0].hyperparameters["lr"] for cell in sweep.cells] == [0.1, 0.2, 0.3, 0.4]
    result = optviz.run_sweep(edited)
    assert [outcome.steps[-1] for outcome in result.outcomes] == [50] * 4
    # The override helper validates what it derives.
    assert with_overrides(config, ["steps=7"]).steps == 7
    with pytest.raises(optviz.ConfigError, match="steps: must be >= 1, got 0"):
        with_overrides(config, ["steps=0"])


def test_a_derived_config_runs_what_it_now_says():
    config = optviz.config_from_dict({"function": "quadratic", "start": [2.0], "steps": 5,
                                      "optimizers": [{"name": "SGD", "lr": 0.1}]})
    longer = config.model_copy(update={"steps": 8})
    assert optviz.run(longer)["SGD"].positions.shape[1] == 9
    with pytest.raises(optviz.ConfigError, match="steps: must be >= 1, got -1"):  # checked when run, not only loaded
        optviz.run(config.model_copy(update={"steps": -1}))


@pytest.mark.parametrize("threads,flushing", [(2, False), (3, True)])
def test_the_engine_restores_threads_and_subnormal_flushing(threads, flushing):
    before_threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(flushing)
        with engine_mode():
            assert torch.get_num_threads() == 1
            assert torch.tensor([1e-39]).mul(0.5).item() == 0.0
        optviz.run(optviz.config_from_dict({"function": "peaks", "steps": 3, "optimizers": ["Adam"]}))
        assert torch.get_num_threads() == threads
        assert (torch.tensor([1e-39]).mul(0.5).item() == 0.0) is flushing
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(before_threads)


def test_the_engine_restores_them_when_a_run_raises():
    torch.set_flush_denormal(False)
    threads = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with engine_mode():
            raise RuntimeError("inside")
    assert torch.get_num_threads() == threads and torch.tensor([1e-39]).mul(0.5).item() != 0.0


def test_atomic_writes_never_touch_the_umask(tmp_path, monkeypatch):
    mask = os.umask(0o027)
    os.umask(mask | 0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda *_: pytest.fail("os.umask called"))
        path = write_text(tmp_path / "file.txt", "hello")
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~(mask | 0o027)
        assert path.read_text() == "hello" and [p.name for p in tmp_path.iterdir()] == ["file.txt"]
    finally:
        monkeypatch.undo()
        os.umask(mask)


def test_drawing_a_stored_run_builds_no_optimizer(tmp_path):
    out = tmp_path / "peaks"
    assert CliRunner().invoke(cli, ["run", str(ROOT / "configs" / "peaks.yaml"), "--set", "steps=5", "--no-animate",
                                    "--out", str(out), "-q"]).exit_code == 0
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "optviz", "animate", str(out), "--frames", "3",
                           "--out", str(tmp_path / "race.gif"), "-q"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "matplotlib" in imported  # the log is real
    assert not any(name.startswith("torch._dynamo") for name in imported)


def test_a_derived_config_meets_the_same_limits_as_a_file():
    config = optviz.config_from_dict({"function": "quadratic", "start": [2.0], "steps": 5,
                                      "optimizers": [{"name": "SGD", "lr": 0.1}]})
    huge = config.model_copy(update={"optimizers": [config.optimizers[0].model_copy(update={"momentum": 10**400})]})
    with pytest.raises(optviz.ConfigError) as raised:
        optviz.run(huge)
    assert str(raised.value).startswith("optimizers[0].momentum: ")
    assert "digits" in str(raised.value) and len(str(raised.value)) < 300
