"""In a notebook: results that show themselves as tables, the race inline, and Python objects in a config.

Objects "defined in a notebook" are made here inside functions: their qualified names hold
``<locals>``, so, like a class typed into a Jupyter cell (module ``__main__``), no import path
finds them again.
"""

from __future__ import annotations

import base64
import io
import json
import re
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image

import optviz
from optviz import ConfigError, config_from_dict
from optviz.cli import cli
from optviz.config import with_overrides
from optviz.engine import batch_key, batch_layout
from optviz.errors import OptvizWarning
from optviz.load import check_safe, plan_sweep
from optviz.load.resolved import config_hash, config_yaml, not_replayable
from optviz.optimizers import resolve_optimizer_spec
from optviz.results import NetworkResult, TrainingRun

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


class ModuleSGD(torch.optim.SGD):
    """A class of an importable module: a written config finds it again by its import path."""


def notebook_optimizer(name: str = "MySGD") -> type:
    class MySGD(torch.optim.SGD):
        """Plain SGD under another name: a user's class optviz cannot vouch for."""

    MySGD.__name__ = name
    return MySGD


def notebook_scheduler() -> type:
    class Halving(torch.optim.lr_scheduler.LRScheduler):
        def get_lr(self):
            return [group["lr"] * (0.5 if self.last_epoch and self.last_epoch % 2 == 0 else 1.0)
                    for group in self.optimizer.param_groups]

    return Halving


def notebook_functions():
    def bowl(x, y):
        return (x - 1) ** 2 + 2 * (y + 1) ** 2

    def bowl_lib(x, y, lib):
        return (x - 1) ** 2 + 2 * lib.sin(y + 1) ** 2

    bowl.domain = [[-3, 3], [-3, 3]]
    bowl.minima = [[1, -1]]
    return bowl, bowl_lib


def base(**changes):
    return {"function": "matyas", "start": [1.5, -1.0], "steps": 12, "dtype": "float64",
            "render": {"figures": ["loss"]}, **changes}


# --- Python objects in a config -------------------------------------------------------


@pytest.mark.parametrize("optimizers", [
    pytest.param(lambda cls: [{"name": cls, "lr": 0.1}], id="mapping"),
    pytest.param(lambda cls: [cls], id="shorthand"),
    pytest.param(lambda cls: {cls: {"lr": 0.1}}, id="by-name-mapping"),
])
def test_an_optimizer_class_is_accepted_as_itself(optimizers):
    cls = notebook_optimizer()
    config = config_from_dict(base(optimizers=optimizers(cls)))
    assert config.optimizers[0].name is cls
    assert config.labels == ["MySGD"]
    resolved, _, scheduler = resolve_optimizer_spec(config.optimizers[0], config)
    assert resolved is cls and batch_layout(resolved, scheduler) == "sequential"


def test_a_torch_class_given_as_itself_runs_stacked_and_is_written_by_name():
    config = config_from_dict(base(optimizers=[{"name": torch.optim.Adam, "lr": 0.1,
                                                "scheduler": {"name": torch.optim.lr_scheduler.StepLR,
                                                              "step_size": 4}}]))
    cls, _, scheduler = resolve_optimizer_spec(config.optimizers[0], config)
    assert batch_layout(cls, scheduler) == "stacked"
    assert batch_key(config) is not None
    by_name = config_from_dict(base(optimizers=[{"name": "Adam", "lr": 0.1, "scheduler": {"name": "StepLR",
                                                                                          "step_size": 4}}]))
    assert config_yaml(config) == config_yaml(by_name)
    assert not_replayable(config) == []
    np.testing.assert_array_equal(optviz.run(config)["Adam"].positions, optviz.run(by_name)["Adam"].positions)


def test_a_class_of_an_importable_module_is_written_by_its_import_path():
    config = config_from_dict(base(optimizers=[{"name": ModuleSGD, "lr": 0.1}]))
    written = yaml.safe_load(config_yaml(config))
    assert written["optimizers"] == [{"name": f"{ModuleSGD.__module__}:ModuleSGD", "lr": 0.1}]
    assert not_replayable(config) == []


def test_a_notebook_optimizer_runs_the_numbers_of_its_torch_class():
    cls = notebook_optimizer()
    config = config_from_dict(base(start={"grid": [2, 2]},
                                   optimizers=[{"name": cls, "lr": 0.1, "momentum": 0.5}, {"name": "SGD", "lr": 0.1,
                                                                                           "momentum": 0.5}]))
    result = optviz.run(config)
    assert result["MySGD"].optimizer == "MySGD"
    np.testing.assert_allclose(result["MySGD"].positions, result["SGD"].positions, rtol=1e-12)


def test_a_scheduler_class_from_a_notebook_sets_the_lr():
    halving = notebook_scheduler()
    config = config_from_dict(base(optimizers=[{"name": "SGD", "lr": 0.8, "scheduler": halving}]))
    assert config.optimizers[0].scheduler.name is halving
    lr = optviz.run(config)["SGD"].lr[0]
    np.testing.assert_allclose(lr[:6], [0.8, 0.8, 0.4, 0.4, 0.2, 0.2])


@pytest.mark.parametrize("which", ["torch-only", "with-lib"])
def test_a_function_from_a_notebook_is_handled_like_an_imported_one(which):
    bowl, bowl_lib = notebook_functions()
    function = bowl if which == "torch-only" else {"import": bowl_lib, "domain": [[-3, 3], [-3, 3]]}
    config = config_from_dict(base(function=function, optimizers=[{"name": "SGD", "lr": 0.1}]))
    result = optviz.run(config)
    expression = ("(x - 1)**2 + 2*(y + 1)**2" if which == "torch-only" else "(x - 1)**2 + 2*sin(y + 1)**2")
    reference = optviz.run(config_from_dict(base(function={"expr": expression, "domain": [[-3, 3], [-3, 3]]},
                                                 optimizers=[{"name": "SGD", "lr": 0.1}])))
    np.testing.assert_allclose(result["SGD"].positions, reference["SGD"].positions, rtol=1e-12)
    assert result.function.name == ("bowl" if which == "torch-only" else "bowl_lib")
    if which == "torch-only":  # its attributes count as an imported callable's do
        assert [minimum.point for minimum in result.function.minima] == [(1.0, -1.0)]


def test_a_function_that_is_not_torch_fails_as_an_imported_one_does():
    def flat(x, y):
        return np.exp(x) + y

    with pytest.raises(ConfigError) as error:
        config_from_dict(base(function=flat, domain=[[-1, 1], [-1, 1]], optimizers=["SGD"]))
    assert str(error.value) == ("function: function flat raised RuntimeError: Can't call numpy() on Tensor that "
                                "requires grad. Use tensor.detach().numpy() instead. (called on torch tensors of "
                                "shape (3,) that require grad)")


@pytest.mark.parametrize("optimizer, message", [
    ({"name": 3}, "optimizers[0].name: must be a string (the name of a torch.optim class) or, from Python, the "
                  "class itself, got 3"),
    ({"name": dict}, "optimizers[0].name: dict is not a torch.optim.Optimizer subclass"),
    ({"name": "SGD", "scheduler": {"name": torch.optim.SGD}},
     "optimizers[0].scheduler.name: SGD is not a torch.optim.lr_scheduler.LRScheduler subclass"),
])
def test_objects_that_are_not_what_the_key_holds_fail_with_the_key(optimizer, message):
    with pytest.raises(ConfigError) as error:
        config_from_dict(base(optimizers=[optimizer]))
    assert str(error.value) == message


def test_objects_survive_overrides_sweeps_and_safe():
    cls = notebook_optimizer()
    bowl, _ = notebook_functions()
    config = config_from_dict(base(function=bowl, optimizers=[{"name": cls, "lr": 0.1}]))
    derived = with_overrides(config, ["steps=5", "optimizers.MySGD.lr=0.2"])
    assert derived.optimizers[0].name is cls and derived.function is bowl and derived.steps == 5
    assert derived.optimizers[0].hyperparameters == {"lr": 0.2}
    check_safe(config)  # an object is already in the process: nothing to refuse
    sweep = plan_sweep(config_from_dict({**base(function=bowl, optimizers=[{"name": cls, "lr": 0.1}]),
                                         "sweep": {"optimizers.MySGD.lr": [0.01, 0.1]}}))
    assert [cell.config.optimizers[0].name for cell in sweep.cells] == [cls, cls]
    assert all(cell.config.function is bowl for cell in sweep.cells)
    assert len({cell.key for cell in sweep.cells}) == 2


def test_a_sweep_of_a_torch_class_given_as_itself_batches(tmp_path):
    bowl, _ = notebook_functions()
    config = config_from_dict({**base(function=bowl, optimizers=[{"name": torch.optim.SGD, "lr": 0.1}]),
                               "sweep": {"optimizers.SGD.lr": [0.01, 0.05, 0.1]}})
    keys = {batch_key(cell.config) for cell in plan_sweep(config).cells}
    assert len(keys) == 1 and None not in keys
    with pytest.warns(OptvizWarning, match="function: bowl was defined in a notebook"):
        manifest = optviz.sweep_to_dir(config, tmp_path / "sweep")
    assert manifest["cells"] == 3 and manifest["replayable"] is False


def test_the_config_hash_follows_the_source_of_a_notebook_class():
    def config_of(cls):
        return config_from_dict(base(optimizers=[{"name": cls, "lr": 0.1}]))

    class MySGD(torch.optim.SGD):
        """Another class of the same name, with other source."""

        def step(self, closure=None):
            return super().step(closure)

    first = notebook_optimizer()
    assert config_hash(config_of(first)) == config_hash(config_of(notebook_optimizer()))  # same source
    assert config_hash(config_of(first)) != config_hash(config_of(MySGD))


# --- the run folder of a notebook run -------------------------------------------------


def test_a_run_folder_says_what_it_cannot_replay(tmp_path):
    cls = notebook_optimizer()
    bowl, _ = notebook_functions()
    config = config_from_dict(base(function=bowl, optimizers=[{"name": cls, "lr": 0.1}, {"name": "Adam", "lr": 0.1}]))
    out = tmp_path / "run"
    with pytest.warns(OptvizWarning) as caught:
        manifest = optviz.run_to_dir(config, out)
    notes = ["function: bowl was defined in a notebook (the config hash covers its name and source)",
             "optimizers[0].name: MySGD was defined in a notebook (the config hash covers its name and source)"]
    warning = f"{out / 'config.yaml'} cannot replay this run from YAML: {'; '.join(notes)}"
    assert [str(item.message) for item in caught] == [warning]
    assert manifest["replayable"] is False
    assert manifest["not_replayable"] == notes
    assert manifest["warnings"] == [warning]
    assert json.loads((out / "manifest.json").read_text())["not_replayable"] == notes
    written = yaml.safe_load((out / "config.yaml").read_text())
    assert re.fullmatch(r"<defined in a notebook: bowl, source sha256 [0-9a-f]{12}>", written["function"])
    first = written["optimizers"][0]
    assert re.fullmatch(r"<defined in a notebook: MySGD, source sha256 [0-9a-f]{12}>", first.pop("name"))
    assert first == {"label": "MySGD", "lr": 0.1}


def test_a_replayable_run_says_so(tmp_path):
    manifest = optviz.run_to_dir(config_from_dict(base(optimizers=[{"name": torch.optim.SGD, "lr": 0.1}])),
                                 tmp_path / "run")
    assert manifest["replayable"] is True and "not_replayable" not in manifest


def test_running_the_yaml_of_a_notebook_run_is_one_error_line(tmp_path):
    out = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptvizWarning)
        optviz.run_to_dir(config_from_dict(base(optimizers=[{"name": notebook_optimizer(), "lr": 0.1}])), out)
    result = CliRunner().invoke(cli, ["run", str(out / "config.yaml"), "--out", str(tmp_path / "again")])
    assert result.exit_code == 2
    assert result.output.strip() == (f"Error: {out / 'config.yaml'}: optimizers[0].name: MySGD was defined in a "
                                     "notebook, which a YAML file cannot replay; run this config from Python, "
                                     "passing MySGD itself")


def test_animating_a_notebook_run_needs_only_its_function(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptvizWarning)
        optviz.run_to_dir(config_from_dict(base(optimizers=[{"name": notebook_optimizer(), "lr": 0.1}])),
                          tmp_path / "optimizer")
        bowl, _ = notebook_functions()
        optviz.run_to_dir(config_from_dict(base(function=bowl, optimizers=["SGD"])), tmp_path / "function")
    stored = optviz.load_run(tmp_path / "optimizer")
    assert stored.labels == ["MySGD"] and stored.config.labels == ["MySGD"]
    result = CliRunner().invoke(cli, ["animate", str(tmp_path / "optimizer"), "--frames", "4"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "optimizer" / "animation.gif").is_file()
    result = CliRunner().invoke(cli, ["animate", str(tmp_path / "function"), "--frames", "4"])
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {tmp_path / 'function'}: its function bowl was defined in a notebook "
                                     "and the folder cannot call it; draw the run from Python, from the result "
                                     "optviz.run gave")


# --- results as HTML ------------------------------------------------------------------


def parsed_table(html: str) -> tuple[str, list[list[str]]]:
    """The caption and the rows (header first) of the one table in ``html``; fails on invalid markup."""
    root = ElementTree.fromstring(f"<div>{html}</div>")
    (table,) = root.iter("table")
    rows = [["".join(cell.itertext()) for cell in row] for row in table.iter("tr")]
    return "".join(table.find("caption").itertext()), rows


def test_a_run_result_shows_its_summary_table():
    config = config_from_dict({"function": "himmelblau", "start": {"grid": [2, 2]}, "steps": 60,
                               "optimizers": [{"name": "SGD", "lr": 0.01, "label": "<SGD & co>"},
                                              {"name": "SGD", "lr": 5, "label": "wild"}]})
    html = optviz.run(config)._repr_html_()
    assert "&lt;SGD &amp; co&gt;" in html
    caption, rows = parsed_table(html)
    assert caption == "himmelblau: 60 steps from 4 starts"
    assert rows == [
        ["optimizer", "status", "final loss (median over 4 starts)",
         "distance to nearest minimum (median over 4 starts)", "diverged", "converged"],
        ["<SGD & co>", "ok", rows[1][2], rows[1][3], "0 / 4", "4 / 4"],
        ["wild", "diverged", "\u2013", "\u2013", "4 / 4", "0 / 4"],
    ]
    assert float(rows[1][2]) < 1e-6 and float(rows[1][3]) < 1e-3


def test_a_single_start_shows_its_own_numbers():
    result = optviz.run(config_from_dict(base(optimizers=[{"name": "SGD", "lr": 0.1}])))
    caption, rows = parsed_table(result._repr_html_())
    assert caption == "matyas: 12 steps from 1 start"
    assert rows[0][2:4] == ["final loss", "distance to nearest minimum"]
    assert rows[1][2] == f"{result['SGD'].final_loss[0]:.4g}"


def test_a_noisy_run_says_what_its_medians_are_over():
    config = config_from_dict(base(start={"grid": [2, 1]}, noise={"kind": "gaussian", "scale": 0.1, "seeds": 3},
                                   optimizers=[{"name": "SGD", "lr": 0.1}]))
    _, rows = parsed_table(optviz.run(config)._repr_html_())
    assert rows[0][2] == "final loss (median over 3 noise seeds x 2 starts)"


def test_a_network_result_shows_one_row_per_optimizer():
    def run(label, seed, loss, diverged=-1):
        curve = np.array([1.0, loss])
        return TrainingRun(label=label, optimizer="SGD", seed=seed, epoch=np.array([1, 2]), train_loss=curve,
                           lr=np.full(2, 0.1), grad_norm=curve, update_norm=curve, epoch_train_loss=curve,
                           epoch_valid_loss=curve + 0.5, epoch_valid_accuracy=np.array([0.5, 0.9]),
                           diverged_iteration=diverged)

    config = config_from_dict({"problem": {"data": "moons"}, "seeds": [0, 1], "optimizers": ["SGD", "Adam"]})
    result = NetworkResult(config=config, task="classification", classes=2, parameters=1234,
                           runs=[run("SGD", 0, 0.2), run("SGD", 1, 0.4), run("Adam", 0, 0.1), run("Adam", 1, np.nan, 1)])
    caption, rows = parsed_table(result._repr_html_())
    assert caption == "moons: classification, 1,234 parameters, means over 2 seeds"
    assert rows == [["optimizer", "status", "final train loss", "final valid loss", "valid accuracy", "diverged"],
                    ["SGD", "ok", "0.3", "0.8", "0.9", "0 / 2"],
                    ["Adam", "partly diverged", "0.1", "0.6", "0.9", "1 / 2"]]


def test_a_sweep_result_shows_its_best_cells():
    config = config_from_dict({**base(function="himmelblau", optimizers=[{"name": "SGD"}]),
                               "sweep": {"optimizers.SGD.lr": [0.001, 0.01, 5.0]}})
    result = optviz.run_sweep(config)
    caption, rows = parsed_table(result._repr_html_())
    assert caption == "sweep over himmelblau: 3 cells"
    assert rows[0] == ["optimizer", "cells", "diverged cells", "best cell", "its outcome"]
    assert rows[1][:4] == ["SGD", "3", "1 / 3", "SGD lr=0.01"]
    assert rows[1][4].startswith("final loss ")


# --- the race inline ------------------------------------------------------------------


@pytest.fixture(scope="module")
def peaks_result():
    return optviz.run(optviz.load_config(CONFIGS / "peaks.yaml"))


def embedded(html: str, tag: str) -> tuple[str, bytes]:
    root = ElementTree.fromstring(f"<div>{html}</div>")
    (element,) = root.iter(tag)
    mimetype, _, payload = element.get("src").removeprefix("data:").partition(";base64,")
    return mimetype, base64.b64decode(payload, validate=True)


def test_show_animation_embeds_a_gif_of_the_frames_asked_for(peaks_result, tmp_path):
    animation = optviz.show_animation(peaks_result, frames=12, fps=5)
    assert animation.frames == 12
    mimetype, data = embedded(animation._repr_html_(), "img")
    assert mimetype == "image/gif" and data == animation.data
    with Image.open(io.BytesIO(data)) as image:
        assert image.n_frames == 12
        assert image.info["duration"] == 200
    assert animation._repr_mimebundle_()["text/html"] == animation._repr_html_()
    saved = animation.save(tmp_path / "race.gif")
    assert saved.read_bytes() == animation.data


def test_show_animation_embeds_an_mp4_as_a_video(peaks_result):
    animation = optviz.show_animation(peaks_result, fmt="mp4", frames=8)
    mimetype, data = embedded(animation._repr_html_(), "video")
    assert mimetype == "video/mp4" and data[4:8] == b"ftyp"
    root = ElementTree.fromstring(animation._repr_html_())
    assert {"controls", "autoplay", "loop"} <= set(root.attrib)


def test_show_animation_refuses_an_unknown_format(peaks_result):
    with pytest.raises(ConfigError) as error:
        optviz.show_animation(peaks_result, fmt="webm")
    assert str(error.value) == "fmt: must be gif or mp4, got 'webm'"
