"""A :class:`~optviz.results.report.ReportPage` to one HTML file: no request leaves the page.

The static parts (title, warnings, tables, figures, config, versions) are HTML written here,
so they read without JavaScript; the animation, the 3D surface and a sweep's sliders are
drawn in the page by plotly, whose bundle travels gzip-compressed (about 1.4 MB of its
4.8 MB) and is inflated by the browser's ``DecompressionStream``.
"""

from __future__ import annotations

import base64
import functools
import html
import string
from importlib import resources
from pathlib import PurePath

from ...results.report import Figure, ReportPage, Table
from .pack import gzipped, pack
from ..style import COLOURS

MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif", ".mp4": "video/mp4"}
KIND_TEXT = {"run": "run", "basin": "basin map", "tune": "tuned run", "sweep": "sweep", "compare": "comparison",
             "network": "network run"}


def asset(name: str) -> str:
    """The text of ``assets/name``, read as package data (works from a wheel, a zip or an editable install)."""
    return resources.files(__package__).joinpath("assets", name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=2)
def plotly_block(version: str) -> str:
    """plotly's offline bundle of ``version`` (the installed one), gzip-compressed, base64: about 1.9 MB."""
    from plotly.offline import get_plotlyjs

    return gzipped(get_plotlyjs())


def render_report(page: ReportPage) -> str:
    """The whole report as one HTML document: style, script, data, figures and plotly all inside.

    plotly goes in only when the page has something interactive to draw (an animation, a sweep).
    """
    interactive = page.race is not None or page.sweep is not None
    # The figures' palette, so an optimizer has one colour on the page and in every PNG.
    text, block = pack({"race": page.race, "sweep": page.sweep, "kind": page.kind, "colours": list(COLOURS)})
    if interactive:
        import plotly

        library = plotly_block(plotly.__version__)
    else:
        library = ""
    return string.Template(asset("report.html")).substitute(
        title=html.escape(page.title),
        style=asset("report.css"),
        script=asset("report.js"),
        kind=html.escape(KIND_TEXT.get(page.kind, page.kind)),
        body="\n".join(part for part in (_warnings(page.warnings), _tables(page.tables), _interactive(page),
                                         _links(page), _figures(page.figures), _config(page), _versions(page)) if part),
        data=_script_text(text),
        block=block,
        plotly=library,
    )


def _script_text(text: str) -> str:
    """JSON placed inside a <script> element: ``</`` cannot close it early."""
    return text.replace("</", "<\\/")


def _section(ident: str, title: str, content: str) -> str:
    return f'<section id="{ident}">\n<h2>{html.escape(title)}</h2>\n{content}\n</section>'


def _warnings(warnings: list[str]) -> str:
    if not warnings:
        return ""
    items = "\n".join(f"<li>{html.escape(warning)}</li>" for warning in warnings)
    return _section("warnings", f"Warnings ({len(warnings)})", f'<ul class="warnings">\n{items}\n</ul>')


def _tables(tables: list[Table]) -> str:
    parts = []
    for number, table in enumerate(tables):
        head = "".join(f'<th scope="col" title="Sort by {html.escape(name)}">{html.escape(name)}</th>'
                       for name in table.header)
        rows = "\n".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                         for row in table.rows)
        note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
        parts.append(f'<h3>{html.escape(table.title)}</h3>\n<div class="scroll"><table class="sortable" id="table-{number}">'
                     f"<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody></table></div>{note}")
    if not parts:
        return ""
    return _section("tables", "Tables", '<p class="hint">Click a column header to sort.</p>\n' + "\n".join(parts))


def _interactive(page: ReportPage) -> str:
    parts = []
    if page.sweep is not None:
        parts.append(_section("explore", "Explore the sweep", asset("sweep.html")))
    if page.race is not None:
        parts.append(_section("race", "The race", asset("race.html")))
        if page.race["dim"] == 2:
            parts.append(_section("surface", "The surface in 3D",
                                  '<p class="hint">Drag to rotate, scroll to zoom.</p><div id="surface-plot" '
                                  'class="plot tall"></div>'))
    return "\n".join(parts)


def _links(page: ReportPage) -> str:
    if not page.links:
        return ""
    items = "\n".join(f'<li><a href="{html.escape(link.href)}">{html.escape(link.label)}</a></li>' for link in page.links)
    return _section("problems", "Each problem's report", f"<ul>\n{items}\n</ul>")


def _figures(figures: list[Figure]) -> str:
    if not figures:
        return ""
    parts = []
    for figure in figures:
        suffix = PurePath(figure.name).suffix.lower()
        source = f"data:{MIME[suffix]};base64,{base64.b64encode(figure.data).decode()}"
        name = html.escape(figure.name)
        if suffix == ".mp4":
            shown = f'<video controls loop muted src="{source}" title="{name}"></video>'
        else:
            shown = f'<img src="{source}" alt="{name}" loading="lazy">'
        parts.append(f"<figure>{shown}<figcaption>{name}</figcaption></figure>")
    return _section("figures", "Figures", "\n".join(parts))


def _config(page: ReportPage) -> str:
    if not page.config_yaml:
        return ""
    return _section("config", f"Config ({page.config_name})",
                    '<div class="code"><button type="button" class="copy" data-copy="config-yaml">Copy</button>'
                    f'<pre class="yaml" id="config-yaml">{html.escape(page.config_yaml)}</pre></div>')


def _versions(page: ReportPage) -> str:
    rows = "".join(f"<tr><th scope=\"row\">{html.escape(name)}</th><td>{html.escape(str(version))}</td></tr>"
                   for name, version in page.versions.items())
    if page.config_hash:
        rows += f'<tr><th scope="row">config hash</th><td><code>{html.escape(page.config_hash)}</code></td></tr>'
    return _section("versions", "Versions", f'<table class="versions">{rows}</table>') if rows else ""
