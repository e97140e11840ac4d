"""Configs: shorthands, --set overrides and one-line errors with key paths."""

import pytest

from optviz import ConfigError, config_from_dict, load_config
from optviz.config import apply_overrides

BASE = {"function": "peaks", "start": [0.0, 0.9], "optimizers": [{"name": "SGD", "lr": 0.01}]}


def error_of(data, overrides=()):
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data, overrides=overrides, source="x.yaml")
    return str(caught.value)


@pytest.mark.parametrize("change,message", [
    ({"function": "peeks"}, "x.yaml: function: unknown function 'peeks'; did you mean peaks, peaks1d?"),
    ({"optimizers": [{"name": "Adamm"}]}, "x.yaml: optimizers[0].name: unknown optimizer 'Adamm'; did you mean Adam, RAdam, NAdam?"),
    ({"optimizers": [{"name": "SGD", "lrr": 0.1}]},
     "x.yaml: optimizers[0].lrr: unknown hyperparameter 'lrr' for SGD; did you mean lr? "
     "accepted: lr, momentum, dampening, weight_decay, nesterov, maximize"),
    ({"optimizers": [{"name": "SGD", "lr": -0.1}]}, "x.yaml: optimizers[0].lr: must be > 0, got -0.1"),
    ({"optimizers": [{"name": "SGD", "momentum": "fast"}]}, "x.yaml: optimizers[0].momentum: must be a number, got 'fast' (str)"),
    ({"optimizers": [{"name": "SGD", "scheduler": {"name": "StepLRR", "step_size": 2}}]},
     "x.yaml: optimizers[0].scheduler.name: unknown scheduler 'StepLRR'; did you mean StepLR, MultiStepLR?"),
    ({"optimizers": [{"name": "SGD", "scheduler": {"name": "StepLR"}}]},
     "x.yaml: optimizers[0].scheduler.step_size: StepLR needs step_size"),
    ({"optimizers": ["SGD", "SGD"]},
     "x.yaml: optimizers[1].label: duplicate label 'SGD' (also optimizers[0]); give each optimizer a unique label"),
    ({"stpes": 3}, "x.yaml: stpes: unknown key; did you mean steps?"),
    ({"steps": 0}, "x.yaml: steps: must be >= 1, got 0"),
    ({"start": [1, 2, 3]}, "x.yaml: start: must have 2 coordinates for peaks, got 3"),
    ({"start": [float("nan"), 2]}, "x.yaml: start: must be finite, got [nan, 2]"),
    ({"dtype": "float16"}, "x.yaml: dtype: must be one of 'float32' or 'float64', got 'float16'"),
    ({"render": {"anim": 3}}, "x.yaml: render.anim: unknown key; did you mean animation?"),
    ({"optimizers": []}, "x.yaml: optimizers: needs at least one optimizer, e.g. [{name: Adam, lr: 0.1}]"),
], ids=lambda value: str(value)[:40] if isinstance(value, dict) else None)
def test_errors_name_file_key_and_fix(change, message):
    assert error_of({**BASE, **change}) == message


def test_empty_and_non_mapping_configs():
    assert error_of(None) == "x.yaml: the config is empty; it needs at least 'function' and 'optimizers'"
    assert error_of(["a"]) == "x.yaml: the config must be a mapping of keys to values, got a list"


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("function: peaks\noptimizers:\n  - name: SGD\n   lr: 3\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: YAML syntax error at line 4, column 4"):
        load_config(path)


def test_shorthands_and_scientific_notation(tmp_path):
    path = tmp_path / "short.yaml"
    path.write_text("function: quadratic\nstart: 2\noptimizers:\n  - Adam\n  - {name: sgd, lr: 1e-3, scheduler: StepLR, }\n"
                    .replace("scheduler: StepLR, ", "scheduler: {name: StepLR, step_size: 3}"))
    config = load_config(path)
    assert config.labels == ["Adam", "sgd"]
    assert config.optimizers[1].hyperparameters == {"lr": 0.001}
    assert config.start == [2]


def test_set_overrides_address_optimizers_by_label():
    data = {**BASE, "optimizers": [{"name": "SGD", "lr": 0.01}, {"name": "Adam", "label": "fast", "lr": 0.1}]}
    changed = apply_overrides(data, ["steps=300", "optimizers.SGD.lr=0.05", "optimizers.fast.betas=[0.8, 0.9]",
                                     "render.animation.fps=24"])
    assert changed["steps"] == 300
    assert changed["optimizers"][0]["lr"] == 0.05
    assert changed["optimizers"][1]["betas"] == [0.8, 0.9]
    assert changed["render"]["animation"]["fps"] == 24
    assert data["optimizers"][0]["lr"] == 0.01  # the input is not modified


@pytest.mark.parametrize("override,message", [
    ("foo.bar=3", "x.yaml: --set foo.bar=3: no key 'foo'; valid keys: function, domain, start, steps, seed, dtype, optimizers, record, render, sweep, problem, seeds, device, engine, noise"),
    ("optimizers.Nope.lr=3", "x.yaml: --set optimizers.Nope.lr=3: no optimizer labelled 'Nope'; labels: SGD"),
    ("steps", "x.yaml: --set steps: expected dotted.key=value"),
    ("optimizers.5.lr=1", "x.yaml: --set optimizers.5.lr=1: index 5 out of range (1 items)"),
])
def test_set_that_names_no_key(override, message):
    assert error_of(BASE, [override]) == message


def test_resolved_config_round_trips():
    config = config_from_dict({**BASE, "optimizers": [{"name": "SGD", "lr": 0.01, "momentum": 0.9,
                                                       "scheduler": {"name": "StepLR", "step_size": 10}}]})
    again = config_from_dict(config.to_dict())
    assert again.to_dict() == config.to_dict()
    assert again.optimizers[0].hyperparameters == {"lr": 0.01, "momentum": 0.9}

