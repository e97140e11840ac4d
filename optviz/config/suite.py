"""The suite file of ``optviz compare``: shared run keys, the tuning rule, and a list of problems.

::

    optimizers: [{name: SGD, momentum: 0.9}, Adam, RMSprop]   # any run-config key, shared by every problem
    steps: 150
    start: {random: 8, seed: 1}
    criterion: median-final-loss     # one of optviz tune's criteria     [default: median-final-loss]
    lrs: "1e-3:1:7"                  # the tuning grid, FIRST:LAST:COUNT  [default: 1e-4:10:26]
    starts: 8                        # random starts each lr is tried from [default: 8]
    problems:                        # each a partial run config over the shared keys, with an optional name
      - {function: rosenbrock}
      - {function: peaks, noise: {kind: gaussian, scale: 1.0, seeds: 4}, name: peaks-noisy}

A problem's key replaces the shared one, except ``render`` and ``record``, whose keys merge
one by one. Each problem's config is checked as a run config; an error names the problem's
key (``problems[2].function: ...``) where the problem set it, else the shared key. A problem
is named by ``name``, else by its function (with the noise kind when it has noise): the name
is its folder in the output.

Only the shape is checked here; the criterion and the lr grid are checked with tune's own
rules one layer up (:mod:`optviz.pipelines.compare`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from pydantic import Field, ValidationError

from ..errors import ConfigError, quote
from . import config_model
from .messages import suggest, translate, yaml_type
from .models import Config, _Model
from .overrides import apply_overrides
from .reading import parse_yaml, read_text

# The keys a suite adds to a run config's.
SUITE_KEYS = ("problems", "criterion", "lrs", "starts")
# Under these shared keys a problem's mapping merges key by key instead of replacing the whole.
MERGED_KEYS = ("render", "record")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


class SuiteSpec(_Model):
    """The suite's own keys (the rest are run-config keys every problem shares)."""

    problems: list[dict[str, Any]] = Field(min_length=1, max_length=100)
    criterion: str = "median-final-loss"
    lrs: str = "1e-4:10:26"
    starts: int | None = Field(default=None, ge=1, le=10_000)


@dataclass(frozen=True)
class SuiteProblem:
    """One problem of a suite: its name (its output folder), its checked run config, and the keys it set itself."""

    index: int
    name: str
    config: Config
    own_keys: frozenset[str]
    shared_keys: frozenset[str]

    def keyed(self, error: ConfigError, source: str = "") -> ConfigError:
        """``error`` (about this problem's config) at the suite key that caused it: ``problems[i].<key>`` where the
        problem set that key or no shared key did, else the shared key."""
        return _keyed(error, self.index, self.own_keys, self.shared_keys, source)


@dataclass(frozen=True)
class Suite:
    """A checked suite: its problems (each a run config) and the one tuning rule applied to all."""

    problems: tuple[SuiteProblem, ...]
    criterion: str
    lrs: str
    starts: int | None
    data: dict[str, Any]  # the suite as read, overrides applied: what its hash is of

    @property
    def names(self) -> list[str]:
        return [problem.name for problem in self.problems]

    def hash(self) -> str:
        """sha256 of the suite's data (keys sorted): the same suite gives the same hash."""
        return hashlib.sha256(json.dumps(self.data, sort_keys=True).encode()).hexdigest()


def suite_model(data: Any, *, overrides: Sequence[str] = (), source: str = "", base_dir: Path | None = None) -> Suite:
    """Plain data (as YAML gives it) with ``--set`` overrides applied, as a checked :class:`Suite`.

    >>> suite = suite_model({"optimizers": ["Adam"], "problems": [{"function": "peaks"}, {"function": "rosenbrock"}]})
    >>> suite.names, suite.problems[1].config.function
    (['peaks', 'rosenbrock'], 'rosenbrock')
    """
    if data is None:
        raise ConfigError("the suite is empty; it needs 'problems' and the shared keys, e.g. 'optimizers'",
                          source=source)
    if not isinstance(data, dict):
        raise ConfigError(f"the suite must be a mapping of keys to values, got a {yaml_type(data)}", source=source)
    data = _overridden(data, overrides, source)
    valid = [*SUITE_KEYS, *Config.model_fields]
    for key in data:
        if key not in valid:
            raise ConfigError(f"unknown key{suggest(str(key), valid)}", path=str(key), source=source)
    own = {key: value for key, value in data.items() if key in SUITE_KEYS}
    if "problems" not in own:
        hint = (" (did you mean problems? problem: is a network's key)" if "problem" in data else
                " (this reads like a run config: a suite lists its problems)" if "function" in data else "")
        raise ConfigError(f"required key is missing; list the problems, e.g. problems: [{{function: peaks}}]{hint}",
                          path="problems", source=source)
    try:
        spec = SuiteSpec.model_validate(own)
    except ValidationError as error:
        raise translate(error, own, source) from None
    shared = {key: value for key, value in data.items() if key not in SUITE_KEYS}
    problems: list[SuiteProblem] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(spec.problems):
        problem = _problem(index, entry, shared, source, base_dir)
        if problem.name in seen:
            raise ConfigError(f"duplicate problem name {quote(problem.name)} (also problems[{seen[problem.name]}]); "
                              "give each problem a unique name", path=f"problems[{index}].name", source=source)
        seen[problem.name] = index
        problems.append(problem)
    return Suite(problems=tuple(problems), criterion=spec.criterion, lrs=spec.lrs, starts=spec.starts, data=data)


def read_suite(path: str | Path, overrides: Sequence[str] = ()) -> Suite:
    """Read a suite YAML file into a :class:`Suite` (shape only; see :func:`suite_model`)."""
    path = Path(path)
    return suite_model(parse_yaml(read_text(path), source=str(path)), overrides=overrides, source=str(path),
                       base_dir=path.parent)


def is_suite(path: str | Path) -> bool:
    """True when ``path`` holds a YAML mapping with ``problems:`` (a suite, not a run config); False where it
    cannot be read (a run config's reader then says why)."""
    try:
        data = parse_yaml(read_text(path), source=str(path))
    except ConfigError:
        return False
    return isinstance(data, dict) and "problems" in data


def _problem(index: int, entry: dict[str, Any], shared: dict[str, Any], source: str,
             base_dir: Path | None) -> SuiteProblem:
    where = f"problems[{index}]"
    entry = dict(entry)
    name = entry.pop("name", None)
    for key in entry:
        if key not in Config.model_fields:
            raise ConfigError(f"unknown key{suggest(str(key), ['name', *Config.model_fields])}", path=f"{where}.{key}",
                              source=source)
    merged = copy.deepcopy(shared)
    for key, value in entry.items():
        if key in MERGED_KEYS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    try:
        config = config_model(merged, source=source, base_dir=base_dir)
    except ConfigError as error:
        raise _keyed(error, index, frozenset(entry), frozenset(shared), source) from None
    if name is None:
        name = _default_name(config, index)
    elif not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"must be 1 to 64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit "
                          f"(it names the problem's folder), got {quote(name)}", path=f"{where}.name", source=source)
    return SuiteProblem(index=index, name=name, config=config, own_keys=frozenset(entry), shared_keys=frozenset(shared))


def _keyed(error: ConfigError, index: int, own: frozenset[str], shared: frozenset[str], source: str) -> ConfigError:
    top = re.split(r"[.\[]", error.path, maxsplit=1)[0]
    mine = not top or top in own or top not in shared
    return error.with_context(source=source, path_prefix=f"problems[{index}]" if mine else "")


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        merged[key] = _merged(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) \
            else copy.deepcopy(value)
    return merged


def _default_name(config: Config, index: int) -> str:
    """The function's name (after any import path's colon), with the noise kind when noisy."""
    function = config.function
    text = function if isinstance(function, str) else getattr(function, "name", None) or f"problem{index + 1}"
    text = re.sub(r"[^A-Za-z0-9_.+-]", "_", text.rpartition(":")[2]).lstrip("._+-")[:48] or f"problem{index + 1}"
    if config.noise is not None:
        text += f"-{config.noise.kind or 'minibatch'}"
    return text


def _overridden(data: dict[str, Any], overrides: Sequence[str], source: str) -> dict[str, Any]:
    """``--set`` on a suite: a shared run key as for a run config, ``criterion``/``lrs``/``starts``/``problems``,
    or one problem's key as ``problems.INDEX.KEY``."""
    data = copy.deepcopy(data)
    for override in overrides:
        key, sep, raw = override.partition("=")
        parts = key.strip().split(".")
        if not sep or parts[0] not in SUITE_KEYS:
            data = apply_overrides(data, [override], source=source) if parts[0] in Config.model_fields or not sep \
                else _unknown(override, parts[0], source)
            continue
        value = parse_yaml(raw, source=source) if raw.strip() else None
        if len(parts) == 1:
            data[parts[0]] = value
            continue
        problems = data.get("problems")
        if parts[0] != "problems" or not isinstance(problems, list) or not parts[1].lstrip("-").isdigit() \
                or not -len(problems) <= int(parts[1]) < len(problems) or len(parts) < 3:
            raise ConfigError(f"--set {override}: expected problems.INDEX.KEY=VALUE with INDEX from 0 to "
                              f"{len(problems) - 1 if isinstance(problems, list) else 0}", source=source)
        problem = problems[int(parts[1])]
        if not isinstance(problem, dict):
            raise ConfigError(f"--set {override}: problems[{parts[1]}] is not a mapping", source=source)
        if parts[2:] == ["name"]:
            problem["name"] = value
            continue
        rest = ".".join(parts[2:])
        name = problem.pop("name", None)
        try:
            problem = apply_overrides(problem, [f"{rest}={raw}"], source=source)
        except ConfigError as error:
            raise ConfigError(error.message.replace(f"--set {rest}={raw}", f"--set {override}"),
                              source=source) from None
        problems[int(parts[1])] = problem if name is None else {**problem, "name": name}
    return data


def _unknown(override: str, key: str, source: str) -> dict[str, Any]:
    valid = [*SUITE_KEYS, *Config.model_fields]
    raise ConfigError(f"--set {override}: no key {quote(key)}{suggest(key, valid)}", source=source)
