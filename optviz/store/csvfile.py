"""CSV files through the csv module, written atomically; numbers as exact round trips."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..atomic import atomic_path


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """Write ``header`` and ``rows`` to ``path`` atomically (UTF-8, ``\\n`` line ends, minimal quoting)."""
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_csv_columns(path: Path, header: Sequence[str], blocks: Iterable[Sequence[list[str]]]) -> Path:
    """Like :func:`write_csv`, the rows given as blocks of columns of fields that need no quoting
    (numbers, empty, plain words; :func:`csv_field` quotes one that may): the same bytes, several
    times faster than the csv module row by row."""
    with atomic_path(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerow(header)
        for columns in blocks:
            if columns and len(columns[0]):
                handle.write("\n".join(map(",".join, zip(*columns))) + "\n")
    return path


def csv_field(text: str) -> str:
    """``text`` as the csv module writes it among other fields: quoted only where it must be.

    >>> csv_field("Adam"), csv_field("SGD, lr 0.1")
    ('Adam', '"SGD, lr 0.1"')
    """
    if not text:
        return text
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([text])
    return buffer.getvalue()[:-1]


def number_field(value: float) -> str:
    """repr of a finite float (an exact round trip); empty where there is none (NaN, infinite).

    >>> number_field(0.1), number_field(float("nan"))
    ('0.1', '')
    """
    return repr(float(value)) if np.isfinite(value) else ""


# Column by column rather than value by value: 65,536 starts x several optimizers stay fast.
def float_fields(values: np.ndarray) -> list[str]:
    """repr of each value: an exact round trip, ``nan`` and ``inf`` included."""
    return list(map(repr, np.asarray(values, dtype=np.float64).tolist()))


def finite_fields(values: np.ndarray) -> list[str]:
    """repr of each finite value; empty where there is none."""
    text = float_fields(values)
    for index in np.flatnonzero(~np.isfinite(values)).tolist():
        text[index] = ""
    return text


def step_fields(values: np.ndarray) -> list[str]:
    """Each integer; empty for the -1 that marks "none"."""
    return ["" if value < 0 else str(value) for value in np.asarray(values).tolist()]
