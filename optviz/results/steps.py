"""The seed lesson's table of a run, step by step: Iter, X, X.grad and loss (learning_rate.py prints it).

:func:`step_tables` picks the rows from a :class:`~optviz.results.RunResult` (no figure, no file);
:meth:`StepTable.lines` writes them as aligned text. Numbers are written as stored, in full
(the shortest text that reads back to the same float32 or float64).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from .trajectory import RunResult


@dataclass(frozen=True)
class StepRange:
    """``--steps START:STOP``: optimizer steps START .. STOP - 1, as a Python slice reads; either end may be left out."""

    start: int = 0
    stop: int | None = None

    @classmethod
    def parse(cls, text: str) -> "StepRange":
        """``0:20``, ``5:``, ``:10`` or one step ``7``; anything else is a :class:`ConfigError`."""
        match = re.fullmatch(r"\s*(\d*)\s*(:\s*(\d*))?\s*", text)
        if not match or (not match.group(1) and match.group(2) is None):
            raise ConfigError(f"--steps: expected START:STOP (e.g. 0:20, 10: or :5) or one step, got {text!r}")
        start = int(match.group(1)) if match.group(1) else 0
        if match.group(2) is None:
            return cls(start, start + 1)
        stop = int(match.group(3)) if match.group(3) else None
        if stop is not None and stop <= start:
            raise ConfigError(f"--steps: {text} holds no step; STOP must be above START")
        return cls(start, stop)

    def describe(self) -> str:
        return f"{self.start}:{'' if self.stop is None else self.stop}"


@dataclass(frozen=True)
class StepTable:
    """One optimizer's rows at one start: each recorded step's position, gradient and loss."""

    label: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The title, the header and the rows, right-aligned, then the notes."""
        widths = [max(len(text) for text in column) for column in zip(self.columns, *self.rows)]
        table = [" ".join(text.rjust(width) for text, width in zip(row, widths)) for row in [self.columns, *self.rows]]
        return [self.title, *table, *self.notes]


def step_tables(result: RunResult, steps: StepRange, *, label: str | None = None, start: int = 0,
                gradients: dict[int, np.ndarray] | None = None, gradient_source: str = "") -> list[StepTable]:
    """The table of every optimizer (or the one labelled ``label``) at row ``start``, over ``steps``.

    ``gradients`` holds each optimizer's gradient vectors (rows, records, dim) by index where they are
    known, ``gradient_source`` says where they come from; without them the table shows the stored
    gradient norm. Unknown labels, rows and steps outside the record are :class:`ConfigError`.
    """
    if label is not None and label not in result.labels:
        raise ConfigError(f"--label: no optimizer labelled {label!r}; labels: {', '.join(result.labels)}")
    rows = len(result.starts)
    if not 0 <= start < rows:
        raise ConfigError(f"--start: the run has {_count(rows, 'start')} (0 to {rows - 1}), got {start}")
    recorded = result.trajectories[0].steps
    last = int(recorded[-1])
    chosen = (recorded >= steps.start) & (recorded < (steps.stop if steps.stop is not None else last + 1))
    if not chosen.any():
        every = f", every {result.record_every}" if result.record_every > 1 else ""
        raise ConfigError(f"--steps {steps.describe()}: the run recorded steps 0 to {last}{every}; none of them is "
                          "in that range")
    notes = []
    if result.record_every > 1:
        notes.append(f"(the run recorded every {result.record_every}th step, and its last, {last}: "
                     "record.every in its config)")
    if steps.stop is not None and steps.stop > last + 1:
        notes.append(f"(the run ends at step {last})")
    axes = ["x"] if result.dim == 1 else ["x", "y"]
    tables = []
    for index, trajectory in enumerate(result.trajectories):
        if label is not None and trajectory.label != label:
            continue
        gradient = None if gradients is None else gradients.get(index)
        columns = ["step", *axes]
        columns += [f"grad {axis}" for axis in axes] if gradient is not None else ["|grad|"]
        columns.append("loss")
        lrs = trajectory.lr[start]
        changing = bool(np.any(lrs != lrs[0]))
        if changing:
            columns.append("lr")
        table_rows = []
        for record in np.flatnonzero(chosen):
            row = [str(int(recorded[record])), *(_number(value) for value in trajectory.positions[start, record])]
            if gradient is not None:
                row += [_number(value) for value in gradient[start, record]]
            else:
                row.append(_number(trajectory.grad_norm[start, record]))
            row.append(_number(trajectory.loss[start, record]))
            if changing:
                row.append(_number(lrs[record]))
            table_rows.append(row)
        where = ", ".join(_number(value) for value in result.starts[start])
        of = f" of {rows}" if rows > 1 else ""
        title = f"{trajectory.label}: start {start}{of} at ({where})" + ("" if changing else f", lr {lrs[0]:g}")
        extra = [gradient_source] if gradient is not None and gradient_source else []
        if trajectory.error:
            extra.append(f"(it failed: {trajectory.error})")
        elif trajectory.diverged_step[start] >= 0:
            extra.append(f"(it diverged at step {int(trajectory.diverged_step[start])})")
        tables.append(StepTable(trajectory.label, title, columns, table_rows, [*extra, *notes]))
    return tables


def _number(value: np.generic) -> str:
    """The shortest text that reads back to the stored value (numpy's repr of its own type)."""
    return str(value) if isinstance(value, np.floating) else f"{float(value)!r}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' if number != 1 else ''}"
