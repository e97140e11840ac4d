"""The HTML report: one self-contained page drawn from a :class:`~optviz.results.report.ReportPage`.

Pure: it takes the page's values and returns text; reading the folder is
:mod:`optviz.pipelines.report`'s job. The page's script, style and template are package
data in ``assets/``.
"""

from .page import render_report

__all__ = ["render_report"]
