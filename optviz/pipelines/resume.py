"""Continue a stored run (``optviz run CONFIG --resume DIR --steps N``): N more steps from each
optimizer's final state, written as one run of all the steps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, with_overrides
from ..engine import Resume
from ..errors import ConfigError, RunError
from ..load import Loaded, LoadedNetwork, prepare
from ..results import RunResult
from ..store.rundir import load_run
from ..store.state import read_states

# What may change between a run and its continuation: neither changes a number of the run.
FREE_KEYS = ("steps", "render")


@dataclass(frozen=True)
class Resumed:
    """A stored run ready to continue: the config of all its steps, checked, and what the run left."""

    loaded: Loaded  # the config with steps = the stored steps + the added ones
    earlier: RunResult  # the stored run's records
    resume: Resume  # the steps it took and each optimizer's final state
    source: Path  # its folder

    def manifest_entry(self) -> dict[str, Any]:
        return {"run": str(self.source), "steps": self.resume.steps}


def prepare_resume(config: Config | Loaded | LoadedNetwork, run_dir: str | Path, steps: int, *,
                   safe: bool = False) -> Resumed:
    """Check that ``run_dir`` holds a run of ``config`` (all but its steps and render settings) that can
    continue, and plan ``steps`` more; raises :class:`ConfigError` or :class:`RunError` in one line.
    With ``safe``, the stored config is read as ``--safe`` reads any (no import paths)."""
    run_dir = Path(run_dir)
    config = config.config if isinstance(config, (Loaded, LoadedNetwork)) else config
    if config.problem is not None:
        raise ConfigError("--resume continues a test function's run; a network's (problem:) cannot be resumed yet")
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run folder to resume")
    earlier = load_run(run_dir, safe=safe)
    difference = first_difference(_compared(earlier.config), _compared(config))
    if difference:
        raise ConfigError(f"{run_dir} was run from another config: {difference}; resume it with the config it was run "
                          f"from (only {' and '.join(FREE_KEYS)} may change)")
    for trajectory in earlier:
        if trajectory.error:
            raise RunError(f"{run_dir}: {trajectory.label} failed in that run ({trajectory.error}), so it cannot "
                           "continue")
    states = read_states(run_dir, earlier)
    total = earlier.config.steps + steps
    loaded = prepare(with_overrides(config, [f"steps={total}"]))
    return Resumed(loaded=loaded, earlier=earlier, resume=Resume(steps=earlier.config.steps, states=states),
                   source=run_dir)


def _compared(config: Config) -> dict[str, Any]:
    return {key: value for key, value in config.to_dict().items() if key not in FREE_KEYS}


def first_difference(stored: Any, given: Any, path: str = "") -> str | None:
    """Where ``given`` first differs from ``stored``, in words: ``optimizers[0].lr is 0.1 there, 0.2 here``."""
    if isinstance(stored, dict) and isinstance(given, dict):
        for key in sorted(set(stored) | set(given), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in given:
                return f"{where} is set there and not here"
            if key not in stored:
                return f"{where} is set here and not there"
            found = first_difference(stored[key], given[key], where)
            if found:
                return found
        return None
    if isinstance(stored, list) and isinstance(given, list) and len(stored) == len(given):
        return next((found for index, (first, second) in enumerate(zip(stored, given))
                     if (found := first_difference(first, second, f"{path}[{index}]"))), None)
    return None if stored == given else f"{path} is {stored!r} there, {given!r} here"
