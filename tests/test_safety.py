"""A config from a stranger can be checked and run without risk; random input only ever gives ConfigError."""

from __future__ import annotations

import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from images import assert_png, figure_pixels
import optviz
from optviz import ConfigError, config_from_dict, load_config
from optviz.cli import cli
from optviz.config import parse_yaml
from optviz.problems.expr import compile_expression
from optviz.problems import function_of

# A module that leaves a mark when imported: --safe must refuse before that can happen.
MARKER = '''
from pathlib import Path
import torch

Path(__file__).with_name("imported").write_text("yes")


def surface(x, y):
    return x**2 + y**2


surface.domain = [[-1, 1], [-1, 1]]


class MyAdam(torch.optim.Adam):
    pass
'''

IMPORTING = {
    "function-path": "function: marker.py:surface\nstart: [0.5, 0.5]\noptimizers: [Adam]\n",
    "function-mapping": "function: {import: marker.py:surface}\nstart: [0.5, 0.5]\noptimizers: [Adam]\n",
    "optimizer": "function: peaks\noptimizers: [SGD, {name: marker.py:MyAdam, lr: 0.1}]\n",
    "optimizer-mapping-form": "function: peaks\noptimizers: {SGD: {lr: 0.1}, marker.py:MyAdam: {lr: 0.1}}\n",
}
PATHS = {"function-path": "function", "function-mapping": "function.import", "optimizer": "optimizers[1].name",
         "optimizer-mapping-form": "optimizers[1].name"}


@pytest.fixture
def stranger(tmp_path, monkeypatch):
    """A folder with the marker module, as a downloaded project would have it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "marker.py").write_text(textwrap.dedent(MARKER))
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith("optviz_user_")]:
        del sys.modules[name]


def refusal(config: Path, kind: str) -> str:
    spec = "marker.py:surface" if kind.startswith("function") else "marker.py:MyAdam"
    return (f"Error: {config}: {PATHS[kind]}: {spec!r} imports Python code, which --safe refuses; "
            "run without --safe only if you trust this config\n")


@pytest.mark.parametrize("kind", sorted(IMPORTING))
@pytest.mark.parametrize("command", ["run", "validate"])
def test_safe_refuses_imports_before_importing(stranger, kind, command):
    config = stranger / "stranger.yaml"
    config.write_text(IMPORTING[kind])
    args = [command, "--safe", str(config)] + (["--out", str(stranger / "out")] if command == "run" else [])
    result = CliRunner().invoke(cli, args)
    assert (result.exit_code, result.stderr) == (2, refusal(config, kind))
    assert not (stranger / "imported").exists()
    assert not (stranger / "out").exists()
    # Without --safe the same config does import: the refusal above is what kept it out.
    assert CliRunner().invoke(cli, ["validate", str(config)]).exit_code == 0
    assert (stranger / "imported").read_text() == "yes"


def test_safe_animate_refuses_a_run_directory_whose_config_imports(stranger):
    (stranger / "stranger.yaml").write_text(IMPORTING["function-path"])
    assert CliRunner().invoke(cli, ["run", "stranger.yaml", "--out", "run", "-q", "--set", "steps=3"]).exit_code == 0
    (stranger / "imported").unlink()
    result = CliRunner().invoke(cli, ["animate", "--safe", "run", "--frames", "2"])
    assert result.exit_code == 2
    assert "imports Python code, which --safe refuses" in result.stderr
    assert not (stranger / "imported").exists() and not (stranger / "run" / "animation.gif").exists()


def test_safe_runs_configs_that_import_nothing(tmp_path):
    config = tmp_path / "formula.yaml"
    config.write_text('function: {expr: "(1-x)**2 + 100*(y-x**2)**2", domain: [[-2, 2], [-1, 3]], log_scale: true}\n'
                      "start: [-1, 2]\nsteps: 5\noptimizers: [Adam, {name: SGD, lr: 0.0001, scheduler: {name: StepLR, step_size: 2}}]\n")
    result = CliRunner().invoke(cli, ["run", "--safe", str(config), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 0, result.output
    loaded = load_config(config, safe=True)
    assert_png(tmp_path / "out" / "path.png", figure_pixels(loaded.render.size, loaded.render.dpi))
    assert function_of(loaded).log_scale


@pytest.mark.parametrize("expression", [
    "__import__('os').system('touch pwned')",
    "eval(\"open('pwned', 'w')\")",
    "exec('import os')",
    "x.__class__.__mro__[1].__subclasses__()",
    "open('pwned', 'w')",
    "[c for c in ().__class__.__bases__]",
    "(lambda: 0)()",
    "globals()['__builtins__']",
    "f'{x}'",
])
def test_an_expression_cannot_run_code(expression, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^function\.expr: .*\(column \d+\)"):
        config_from_dict({"function": {"expr": expression, "domain": [[-1, 1], [-1, 1]]}, "optimizers": ["SGD"]},
                         safe=True)
    assert list(tmp_path.iterdir()) == []


def test_check_safe_imports_nothing_itself(monkeypatch):
    def no_imports(*args, **kwargs):
        raise AssertionError("--safe imported something")

    monkeypatch.setattr("optviz.optimizers.load_import_path", no_imports)
    monkeypatch.setattr("optviz.problems.custom.load_import_path", no_imports)
    for data in ({"function": "somewhere.py:f", "optimizers": ["SGD"]},
                 {"function": "peaks", "optimizers": ["SGD", "pkg.mod:Opt"]}):
        with pytest.raises(ConfigError, match="imports Python code, which --safe refuses"):
            config_from_dict(data, safe=True)


# --- random input ---------------------------------------------------------------------

KEYS = ["function", "domain", "start", "steps", "seed", "dtype", "optimizers", "render", "record", "name", "lr",
        "momentum", "betas", "scheduler", "step_size", "gamma", "label", "grid", "random", "box", "figures", "size",
        "dpi", "format", "resolution", "animation", "frames", "fps", "trail", "enabled", "expr", "import", "minima",
        "point", "value", "kind", "dim", "log_scale", "every", "tolerance", "stpes", ""]
WORDS = ["peaks", "quadratic", "rosenbrock", "peaks1d", "himmelblau", "SGD", "adam", "LBFGS", "Rprop", "StepLR",
         "OneCycleLR", "ReduceLROnPlateau", "float64", "gif", "png", "global", "x**2 + y**2", "pkg.mod:Thing",
         "file.py:f", "nope", ".nan", "1e-3", ""]

numbers = st.one_of(st.integers(-10, 100), st.sampled_from([0, -1, 2**31, 10**7 + 1]),
                    st.floats(allow_nan=True, allow_infinity=True, width=64))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.sampled_from(WORDS), st.text(max_size=8))
values = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.sampled_from(KEYS), children, max_size=4)), max_leaves=10)
pairs = st.lists(st.lists(numbers, min_size=2, max_size=2), min_size=1, max_size=3)
tokens = ["x", "y", "z", "1", "2.5", "0", "1e308", "9", "**", "*", "+", "-", "/", "(", ")", ",", "exp", "log",
          "sqrt", "where", "min", "max", "sin", "abs", "sign", "tanh", "<", ">", "==", ".", "__class__", "[", "]",
          "'", "lambda", ":", " ", "pi", "e", "if", "else", "not", "and", "import", "os", "@", "%", "~", "^", "\n"]
token_soup = st.lists(st.sampled_from(tokens), max_size=25).map("".join)
functions = st.one_of(
    st.sampled_from(WORDS),
    st.fixed_dictionaries({"expr": st.one_of(token_soup, st.text(max_size=20))},
                          optional={"domain": st.one_of(pairs, values), "minima": values, "dim": values,
                                    "log_scale": values, "name": values}),
    values,
)
optimizer = st.one_of(
    st.sampled_from(WORDS),
    st.fixed_dictionaries({"name": st.sampled_from(WORDS)},
                          optional={"lr": numbers, "momentum": values, "betas": values, "label": st.text(max_size=4),
                                    "scheduler": st.one_of(st.sampled_from(WORDS), values), "weird": values}),
)
configs = st.fixed_dictionaries({}, optional={
    "function": functions,
    "optimizers": st.one_of(st.lists(optimizer, max_size=3), values),
    "start": st.one_of(st.lists(numbers, max_size=3), pairs, values,
                       st.fixed_dictionaries({"grid": st.lists(st.integers(-1, 6), max_size=3)}),
                       st.fixed_dictionaries({"random": numbers})),
    "steps": st.one_of(numbers, values),
    "domain": st.one_of(pairs, values),
    "dtype": st.one_of(st.sampled_from(["float32", "float64"]), values),
    "render": values,
    "seed": values,
    "stpes": values,
})
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(data=configs)
def test_random_configs_load_or_raise_config_error(data):
    try:
        config = config_from_dict(data, source="random.yaml", safe=True)
    except ConfigError as error:
        assert str(error).startswith("random.yaml: ") and "\n" not in str(error)
    else:
        assert function_of(config).dim in (1, 2)


@FAST
@given(data=configs)
def test_random_configs_round_trip_through_yaml_files(data):
    import yaml

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.yaml"
        try:
            path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        except UnicodeEncodeError:  # lone surrogates cannot be a file's text
            return
        try:
            load_config(path, safe=True)
        except ConfigError:
            pass


@FAST
@given(text=st.one_of(st.text(max_size=60), st.lists(st.sampled_from(
    ["function: ", "peaks", "\n", "  ", "- ", "{", "}", "[", "]", ":", ",", "'", '"', "\t", "&a", "*a", "!!python/object:os.system",
     "optimizers:", "SGD", "lr: ", "1e-3", "#", "? ", "<<: "]), max_size=20).map("".join)))
def test_random_yaml_text_loads_or_raises_config_error(text):
    try:
        data = parse_yaml(text, source="random.yaml")
    except ConfigError as error:
        assert str(error).startswith("random.yaml: ")
        return
    try:
        config_from_dict(data, source="random.yaml", safe=True)
    except ConfigError:
        pass


@FAST
@given(overrides=st.lists(st.one_of(
    st.text(max_size=20),
    st.tuples(st.lists(st.sampled_from(KEYS + ["0", "1", "-1", "SGD", "optimizers.0"]), min_size=1, max_size=3),
              st.sampled_from(["", "=", "=1", "=[1, 2]", "={a: 1}", "=-0.5", "=.nan", "=peaks", "=[", "=null"]))
    .map(lambda parts: ".".join(parts[0]) + parts[1])), max_size=3))
def test_random_set_overrides_apply_or_raise_config_error(overrides):
    base = {"function": "peaks", "start": [0.5, 0.5], "steps": 5, "optimizers": [{"name": "SGD", "lr": 0.1}, "Adam"]}
    try:
        config_from_dict(base, overrides=overrides, source="x.yaml", safe=True)
    except ConfigError:
        pass


@FAST
@given(source=st.one_of(token_soup, st.text(max_size=40)))
def test_random_expressions_compile_or_raise_config_error(source):
    try:
        expression = compile_expression(source, ("x", "y"))
    except ConfigError as error:
        assert str(error).startswith("expression: ") and "\n" not in str(error)
        return
    values = expression(np.random.default_rng(0).uniform(-2, 2, (4, 2)))
    assert values.shape == (4,)


def formulas():
    """Well-formed formulas in x and y: they compile, evaluate and run (perhaps to NaN, never to an exception)."""
    leaves = st.one_of(st.sampled_from(["x", "y", "pi", "e"]), st.floats(-5, 5, allow_nan=False).map(lambda v: f"{v:.3g}"))
    unary = ["exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "abs", "sign", "sinh", "cosh", "-"]

    def extend(children):
        return st.one_of(
            st.tuples(children, st.sampled_from(["+", "-", "*", "/", "**"]), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(unary), children).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(st.sampled_from(["min", "max"]), children, children).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            st.tuples(children, children, children).map(lambda t: f"where({t[0]} < 0, {t[1]}, {t[2]})"),
        )

    return st.recursive(leaves, extend, max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formula=formulas())
def test_well_formed_formulas_run_without_exceptions(formula):
    data = {"function": {"expr": formula, "domain": [[-2, 2], [-2, 2]]}, "start": [[0.3, -0.7], [1.1, 0.4]],
            "steps": 3, "dtype": "float32", "optimizers": ["Adam", {"name": "SGD", "lr": 0.1}]}
    try:
        config = config_from_dict(data, safe=True)
    except ConfigError as error:  # a constant that overflows, or nowhere finite on the domain
        assert "finite" in str(error), str(error)
        return
    function = function_of(config)
    assert function(torch.zeros(5, 2)).shape == (5,)
    result = optviz.run(config)
    for trajectory in result:
        assert trajectory.positions.shape == (2, 4, 2)
