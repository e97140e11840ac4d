"""A ranking across a suite of problems: every optimizer tuned by one rule on each, then compared with intervals.

``optviz compare SUITE`` reads a suite file (:mod:`optviz.config.suite`): run-config keys shared
by every problem, the tuning rule (``criterion``, ``lrs``, ``starts``) and a list of problems.
Each problem is tuned as ``optviz tune`` does (:func:`~optviz.pipelines.tune.tune_to_dir`: the
same lr grid, criterion and random starts for every optimizer), then its tuned config runs from
its own starts (every optimizer from the same starts and noise seeds), and the ranking is taken
over the rows of that run (:mod:`optviz.results.ranking`).

The lrs are chosen over random starts drawn from ``seed``, the ranking over the rows of
``start``: give ``start`` a seed of its own (configs/suite.yaml does) and the ranking is measured on
starts the tuning never saw.

    OUT/
      ranking.csv     one row per (problem, optimizer): lr, criterion, median, low, high, rank,
                      diverged_share, rows
      ranking.png     the rank table: optimizers by problems, and the mean rank
      manifest.json   versions, the suite's hash, the files, the ranking
      <problem>/      what `optviz tune` writes for that problem: tuned.yaml, tune.csv, tune.png,
                      the tuned run's figures and data, cells/
"""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any, Callable

from ..atomic import check_replaceable, check_writable, published_directory
from ..config.suite import Suite
from ..errors import ConfigError, quote
from ..load import prepare
from ..render.ranking import save_ranking
from ..results.ranking import Ranking, problem_standings
from ..results.scores import CRITERION_TEXT, FUNCTION_CRITERIA
from ..store.ranking import write_compare_manifest, write_ranking_csv
from ..store.rundir import load_run
from .executor import Executor
from .sweep import Progress
from .tune import DEFAULT_STARTS, check_tunable, parse_lrs, tune_to_dir

FILES = ["ranking.csv", "ranking.png"]


def check_suite(suite: Suite, *, source: str = "", safe: bool = False) -> tuple[float, float, int]:
    """Refuse, before any run, what compare cannot do: an unknown criterion, a bad lr grid, a network problem,
    a problem tune would refuse. Returns the lr grid. Errors name ``source`` and the suite's key."""
    if suite.criterion not in FUNCTION_CRITERIA:
        raise ConfigError(f"must be one of {', '.join(FUNCTION_CRITERIA)}, got {quote(suite.criterion)}",
                          path="criterion", source=source)
    try:
        lrs = parse_lrs(suite.lrs)
    except ConfigError as error:
        raise ConfigError(error.message.removeprefix("--lrs: "), path="lrs", source=source) from None
    labels = suite.problems[0].config.labels
    for problem in suite.problems:
        try:
            if problem.config.labels != labels:
                raise ConfigError(f"every problem ranks the same optimizers ({', '.join(labels)}), got "
                                  f"{', '.join(problem.config.labels)}", path="optimizers")
            if problem.config.problem is not None:
                raise ConfigError("compare ranks test functions; a network (problem:) is not supported", path="problem")
            prepare(problem.config, safe=safe)
            try:
                check_tunable(problem.config, suite.criterion)
            except ConfigError as error:  # tune's words name its option; a suite's key has no dashes
                raise ConfigError(error.message.removeprefix("--"), path=error.path) from None
        except ConfigError as error:
            raise problem.keyed(error, source) from None
    return lrs


def compare_to_dir(suite: Suite, out_dir: str | Path, *, source: str = "", safe: bool = False,
                   problem_progress: Callable[[str, int, int], None] | None = None,
                   progress: Progress | None = None, run_progress: Callable[[str, int, int], None] | None = None,
                   figure_progress: Callable[[str, int, int], None] | None = None,
                   executor: Executor | None = None) -> dict[str, Any]:
    """Tune and run every problem of ``suite`` into ``out_dir/<problem>/``, rank the optimizers, and write
    ranking.csv, ranking.png and manifest.json; returns the manifest.

    The folder is published whole (:func:`~optviz.atomic.published_directory`): an interrupted
    compare leaves an earlier one as it was. ``problem_progress(name, done, total)`` is called as
    each problem starts; ``progress``, ``run_progress`` and ``figure_progress`` are
    :func:`~optviz.pipelines.tune.tune_to_dir`'s, and so is ``executor``, where the tuning runs go.
    ``source`` (the suite's file) prefixes a :class:`ConfigError`.

    >>> from optviz.config.suite import read_suite
    >>> manifest = compare_to_dir(read_suite("configs/suite.yaml"), "outputs/suite")   # doctest: +SKIP
    >>> manifest["mean_rank"]                                                          # doctest: +SKIP
    """
    lrs = check_suite(suite, source=source, safe=safe)
    out_dir = Path(out_dir)
    check_writable(out_dir)
    check_replaceable(out_dir)
    started = time.perf_counter()
    starts = suite.starts or DEFAULT_STARTS
    standings, folders = [], []
    with published_directory(out_dir) as staging:
        for done, problem in enumerate(suite.problems):
            if problem_progress:
                problem_progress(problem.name, done, len(suite.problems))
            folder = staging / problem.name
            try:
                summary = tune_to_dir(problem.config, folder, criterion=suite.criterion, lrs=lrs, starts=starts,
                                      progress=progress, run_progress=run_progress, figure_progress=figure_progress,
                                      executor=executor)
            except ConfigError as error:
                raise problem.keyed(error, source) from None
            chosen = {entry["label"]: entry["lr"] for entry in summary["optimizers"]}
            standings += problem_standings(problem.name, load_run(folder), suite.criterion, chosen)
            folders.append({"name": problem.name, "function": summary["run"]["function"],
                            "noise": None if problem.config.noise is None
                            else problem.config.noise.model_dump(mode="json", exclude_none=True),
                            "steps": problem.config.steps,
                            "files": sorted(summary["files"] + summary["run"]["files"])})
        ranking = Ranking(criterion=suite.criterion, problems=tuple(suite.names), labels=tuple(suite.problems[0].config.labels),
                          standings=tuple(standings), steps=tuple(problem.config.steps for problem in suite.problems),
                          lrs=lrs, tune_starts=starts)
        write_ranking_csv(ranking, staging / "ranking.csv")
        save_ranking(ranking, staging / "ranking.png")
        timing = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "total_seconds": round(time.perf_counter() - started, 4)}
        manifest = write_compare_manifest(staging, ranking, suite_hash=suite.hash(),
                                          files=[*FILES, *(f"{name}/" for name in suite.names)], problems=folders,
                                          timing=timing)
    return manifest


def describe(manifest: dict[str, Any]) -> list[str]:
    """Lines for a person: the ranking as a table, optimizers by mean rank, each cell ``rank median``."""
    standings = {(entry["problem"], entry["label"]): entry for entry in manifest["standings"]}
    labels = sorted(manifest["mean_rank"], key=lambda label: manifest["mean_rank"][label])
    label_width = max(len("optimizer"), *(len(label) for label in labels))
    widths = [max(len(problem), 13) for problem in manifest["problems"]]
    lines = [f"Ranked by {CRITERION_TEXT[manifest['criterion']]} (rank, median; 1 = best, a shared rank where "
             "the paired 95% bootstrap cannot tell optimizers apart)",
             f"  {manifest['budget']}",
             "  " + "  ".join([f"{'optimizer':<{label_width}}",
                               *(f"{problem:<{width}}" for problem, width in zip(manifest["problems"], widths)),
                               "mean rank"])]
    for label in labels:
        cells = []
        for problem, width in zip(manifest["problems"], widths):
            entry = standings[(problem, label)]
            median = "diverged" if entry["median"] is None else f"{entry['median']:.3g}"
            cells.append(f"{entry['rank']:<2} {median:<{width - 3}}")
        lines.append("  " + "  ".join([f"{label:<{label_width}}", *cells, f"{manifest['mean_rank'][label]:.2f}"]))
    return lines
