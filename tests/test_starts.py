"""Where trajectories begin: every form of ``start`` becomes a (starts, dim) float64 array."""

import numpy as np
import pytest

from optviz import ConfigError, config_from_dict
from optviz.load.starts import resolve_starts
from optviz.problems import function_of

BASE = {"function": "peaks", "optimizers": ["Adam"]}


def starts_of(start, **changes):
    config = config_from_dict({**BASE, "start": start, **changes})
    return resolve_starts(config, function_of(config))


def error_of(start, **changes):
    with pytest.raises(ConfigError) as caught:
        config_from_dict({**BASE, "start": start, **changes}, source="x.yaml")
    return str(caught.value)


@pytest.mark.parametrize("start,changes,expected", [
    ([0.5, -1.0], {}, [[0.5, -1.0]]),
    ([[0.5, -1.0], [2, 3]], {}, [[0.5, -1.0], [2.0, 3.0]]),
    ([[1, 2]], {}, [[1.0, 2.0]]),
    ([-0.6], {"function": "peaks1d"}, [[-0.6]]),
    ([-0.6, 0.4, 2], {"function": "peaks1d"}, [[-0.6], [0.4], [2.0]]),  # 1D: one start per number
    (1.5, {"function": "quadratic"}, [[1.5]]),
    ({"grid": [3, 2]}, {}, [[-3, -3], [0, -3], [3, -3], [-3, 3], [0, 3], [3, 3]]),  # x fastest, from the bottom row
    ({"grid": [2, 2], "box": [[0, 1], [10, 20]]}, {}, [[0, 10], [1, 10], [0, 20], [1, 20]]),
    ({"grid": [3, 1]}, {"domain": [[-1, 1], [5, 6]]}, [[-1, 5], [0, 5], [1, 5]]),  # a lone count sits at low
    ({"grid": [3]}, {"function": "quadratic"}, [[-3], [0], [3]]),
], ids=["point", "points", "one-point-list", "1d-point", "1d-list", "1d-number", "grid", "grid-box",
        "grid-config-domain", "grid-1d"])
def test_start_forms(start, changes, expected):
    starts = starts_of(start, **changes)
    assert starts.dtype == np.float64
    np.testing.assert_array_equal(starts, np.array(expected, dtype=np.float64))


def test_random_starts_are_seeded_and_inside_their_box():
    box = [[-1, 0], [2, 5]]
    first = starts_of({"random": 500, "seed": 3, "box": box})
    assert first.shape == (500, 2)
    assert np.all((first >= [-1, 2]) & (first <= [0, 5]))
    np.testing.assert_array_equal(first, starts_of({"random": 500, "seed": 3, "box": box}))
    assert not np.array_equal(first, starts_of({"random": 500, "seed": 4, "box": box}))
    # Without its own seed a draw follows the config's, over the domain.
    by_config = starts_of({"random": 20}, seed=9)
    np.testing.assert_array_equal(by_config, starts_of({"random": 20, "seed": 9}))
    assert np.all((by_config >= -3) & (by_config <= 3))


@pytest.mark.parametrize("start,changes,message", [
    ({"grid": [4]}, {}, "x.yaml: start.grid: needs 2 counts for a 2D function, got [4]"),
    ({"grid": [0, 5]}, {}, "x.yaml: start.grid: each count must be between 1 and 4096, got [0, 5]"),
    ({"grid": [5000, 2]}, {}, "x.yaml: start.grid: each count must be between 1 and 4096, got [5000, 2]"),
    ({"grid": [2, 2], "box": [[0, 1]]}, {}, "x.yaml: start.box: must be 2 [low, high] pairs, got [[0.0, 1.0]]"),
    ({"grid": [2, 2], "box": [[1, 0], [0, 1]]}, {},
     "x.yaml: start.box: each pair must have low < high, got [[1.0, 0.0], [0.0, 1.0]]"),
    ({"random": 0}, {}, "x.yaml: start.random: must be >= 1, got 0"),
    ({"random": 4, "sede": 1}, {}, "x.yaml: start.sede: unknown key; did you mean seed?"),
    ({"rnadom": 4}, {}, "x.yaml: start.rnadom: unknown key; did you mean random?"),
    ({"gird": [3, 3]}, {}, "x.yaml: start.gird: unknown key; did you mean grid?"),
    ({"seed": 3}, {}, "x.yaml: start.random: required key is missing"),
    ({"grid": [3, 3], "seed": 1}, {}, "x.yaml: start.seed: unknown key; valid keys: grid, box"),
    ([[0, 1], [2]], {}, "x.yaml: start[1]: must have 2 coordinates for peaks, got 1"),
    ([[0, 1], [2, float("inf")]], {}, "x.yaml: start[1]: must be finite, got [2, inf]"),
    ([[0, 1], "here"], {}, "x.yaml: start[1]: must be a point (a list of 2 numbers), got 'here'"),
    ([], {}, "x.yaml: start: needs at least one point"),
], ids=lambda value: str(value)[:30] if not isinstance(value, dict) or value else None)
def test_bad_starts_say_what_is_wrong(start, changes, message):
    assert error_of(start, **changes) == message
