"""Each optimizer's final state in a run folder: what ``optviz run --resume`` continues from.

    state/0-Adam.pt    torch.save of {"label", "optimizer", "steps", "segments"}: for each
                       range of rows run as one batch, its final positions (at full precision,
                       whatever record.every kept), the optimizer's and the scheduler's
                       state_dict, and each row's divergence and convergence so far

A plain loop continues one with ``optimizer.load_state_dict(segment["optimizer"])`` and
``scheduler.load_state_dict(segment["scheduler"])`` on tensors holding ``segment["params"]``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from ..atomic import write_bytes
from ..errors import RunError
from ..results import RunResult

STATE_DIR = "state"


def state_file(index: int, label: str) -> str:
    """``state/<index>-<label>.pt``, the label kept to letters, digits, ``.``, ``_`` and ``-``."""
    return f"{STATE_DIR}/{index}-{re.sub(r'[^A-Za-z0-9._-]+', '_', label)[:60]}.pt"


def write_states(result: RunResult, out_dir: Path) -> list[str]:
    """Write every optimizer's final state (each file atomically, byte-identical for identical runs); returns
    ``["state"]``, the folder's entry in the run folder (``[]`` when none was written)."""
    import torch

    written = []
    for index, trajectory in enumerate(result):
        if trajectory.final_state is None:
            continue
        name = state_file(index, trajectory.label)
        buffer = io.BytesIO()  # saved in memory, so the archive's inner name is not the temporary file's
        torch.save({"label": trajectory.label, "optimizer": trajectory.optimizer, "steps": result.config.steps,
                    **trajectory.final_state}, buffer)
        write_bytes(out_dir / name, buffer.getvalue())
        written.append(name)
    return [STATE_DIR] if written else []


def read_states(run_dir: Path, result: RunResult) -> dict[str, dict[str, Any]]:
    """The final state of every optimizer of ``result`` (the run stored in ``run_dir``), by label.

    A missing, unreadable or mismatched file is a :class:`RunError` naming it.
    """
    import torch

    states = {}
    for index, trajectory in enumerate(result):
        path = run_dir / state_file(index, trajectory.label)
        if not path.is_file():
            raise RunError(f"{run_dir}: {path.relative_to(run_dir)} is missing, so {trajectory.label} cannot "
                           "continue; the folder keeps no final state of it (run the config again to make one)")
        try:
            state = torch.load(path, weights_only=True)
        except Exception as error:  # a damaged file can raise anything while unpickling
            raise RunError(f"{path}: cannot be read: {type(error).__name__}: {error}") from None
        if not isinstance(state, dict) or state.get("label") != trajectory.label or \
                state.get("steps") != result.config.steps or not state.get("segments"):
            raise RunError(f"{path}: is not the final state of {trajectory.label} after {result.config.steps} steps")
        states[trajectory.label] = state
    return states
