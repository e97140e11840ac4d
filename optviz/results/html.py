"""Result summaries as HTML tables, which Jupyter shows for a result left at the end of a cell.

Every text from the user (labels, function names, errors) is escaped; numbers are shown to four
significant figures and a value that does not exist (no minimum known, every start diverged) as
an en dash.
"""

from __future__ import annotations

import html
import math
from typing import Any, Sequence

MISSING = "\u2013"


def number(value: Any) -> str:
    """``0.001235``, ``1.2e+04``; an en dash for None, NaN or an infinity."""
    if value is None:
        return MISSING
    value = float(value)
    return f"{value:.4g}" if math.isfinite(value) else MISSING


def count(part: int, whole: int) -> str:
    """``3 / 8``."""
    return f"{part} / {whole}"


def table(caption: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table with a caption, a header row and one row per entry; every cell escaped."""
    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>\n"
                   for row in rows)
    return (f'<table class="optviz-summary">\n<caption>{html.escape(caption)}</caption>\n'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody>\n</table>")
