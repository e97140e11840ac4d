"""``optviz compare``'s files: ``ranking.csv`` (one row per problem and optimizer) and ``manifest.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..results import finite_or_none
from ..results.ranking import Ranking
from .csvfile import number_field, write_csv
from .rundir import versions

COLUMNS = ["problem", "label", "lr", "criterion", "median", "low", "high", "rank", "diverged_share", "rows"]


def write_ranking_csv(ranking: Ranking, path: Path) -> Path:
    """One row per (problem, optimizer), problems in suite order; empty where a value is infinite (a median
    over rows half or more of which diverged) or missing (no lr where every lr diverged)."""
    rows = [[standing.problem, standing.label, "" if standing.lr is None else repr(standing.lr), ranking.criterion,
             number_field(standing.median), number_field(standing.low), number_field(standing.high), standing.rank,
             repr(standing.diverged_share), standing.rows]
            for standing in ranking.standings]
    return write_csv(path, COLUMNS, rows)


def ranking_summary(ranking: Ranking) -> dict[str, Any]:
    """The ranking as JSON-ready data: each optimizer's mean rank, and every standing."""
    first, last, count = ranking.lrs
    return {
        "criterion": ranking.criterion,
        "budget": ranking.budget(),
        "lrs": {"first": first, "last": last, "count": count},
        "tune_starts": ranking.tune_starts,
        "problems": list(ranking.problems),
        "mean_rank": {label: ranking.mean_rank(label) for label in ranking.labels},
        "standings": [{"problem": standing.problem, "label": standing.label, "lr": standing.lr,
                       "median": finite_or_none(standing.median), "low": finite_or_none(standing.low),
                       "high": finite_or_none(standing.high), "rank": standing.rank,
                       "diverged_share": standing.diverged_share, "rows": standing.rows}
                      for standing in ranking.standings],
    }


def write_compare_manifest(out_dir: Path, ranking: Ranking, *, suite_hash: str, files: list[str],
                           problems: list[dict[str, Any]], timing: dict[str, Any]) -> dict[str, Any]:
    """manifest.json of a compare folder: versions, the suite's hash, the files, each problem's folder and
    the ranking; what varies between reruns lives under ``timing``. Returns what it wrote."""
    data = {"versions": versions(), "suite_hash": suite_hash, **ranking_summary(ranking),
            "problem_folders": problems, "files": sorted([*files, "manifest.json"]), "timing": timing}
    write_text(out_dir / "manifest.json", json.dumps(data, indent=2) + "\n")
    return data
