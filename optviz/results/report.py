"""What an HTML report shows, gathered from a result folder: plain values the page renderer draws.

:func:`optviz.pipelines.report.gather` fills a :class:`ReportPage` from a folder;
:func:`optviz.render.report.render_report` turns it into one self-contained HTML file.
The interactive parts (``race``, ``sweep``) are JSON-ready dicts, as the page's script reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Table:
    """A table as the page shows it: ``rows`` of text, ``note`` under it (rows left out, where the rest is)."""

    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass(frozen=True)
class Figure:
    """A file of the folder shown on the page: a PNG, SVG, GIF or MP4, embedded as it is."""

    name: str
    data: bytes


@dataclass(frozen=True)
class Link:
    """Another report the page links to (a compare's per-problem reports), relative to the page."""

    label: str
    href: str


@dataclass(frozen=True)
class ReportPage:
    """Everything one report.html shows.

    ``kind`` is the folder's kind (run, basin, sweep, tune, compare, network); ``race`` holds the
    contour grid and each optimizer's thinned path for the animation and the 3D surface;
    ``sweep`` the per-cell paths and loss curves behind the sliders.
    """

    title: str
    kind: str
    config_yaml: str
    config_name: str = "config.yaml"
    tables: list[Table] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    config_hash: str = ""
    race: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None
    links: list[Link] = field(default_factory=list)
