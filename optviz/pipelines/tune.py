"""A fair comparison: every optimizer's lr chosen by the same rule, then the usual run with those lrs.

``optviz tune CONFIG`` tries, for each optimizer of CONFIG, COUNT lrs log-spaced from
FIRST to LAST (``--lrs FIRST:LAST:COUNT``, default 1e-4:10:26), each from the same N
random starts over the plotted domain (``--starts N``, default 8, drawn with the
config's seed), not from one start that may favour one optimizer. It runs them as one
sweep (batched, and resumable: the runs are kept in OUT/cells/), takes for each
optimizer the lr with the lowest criterion (:mod:`optviz.results.scores`; by default the
median final loss, a diverged start counting as worst), and then runs the config with
those lrs from its own starts, as ``optviz run`` would. Every figure says below it
that the lrs were tuned, how, and which were chosen.

It states its budget (:meth:`~optviz.results.tune.Tuning.budget`: lrs x starts x noise
seeds runs of ``steps`` steps per optimizer, and the gradient evaluations that makes) in
the summary, the terminal and tune.png, and warns (:class:`~optviz.errors.OptvizWarning`)
where an optimizer's chosen lr is the first or last of the grid, with a ``--lrs`` that
extends it.

A network config (``problem:``) is tuned the same way, each lr trained from the config's
own seeds (they play the role of the random starts, so ``--starts`` does not apply), by
default for the lowest mean final valid loss (``--criterion final-valid-loss``; also
``final-train-loss`` and ``valid-accuracy``, highest first).

    OUT/
      tuned.yaml   the config with the chosen lrs; `optviz run tuned.yaml` redraws it all
      tune.csv     one row per (optimizer, lr): the criterion, the scores behind it and
                   the share of rows that diverged
      tune.png     the criterion against lr for every optimizer, under it the share of
                   rows that diverged at each lr, and along the bottom the optimizer surely
                   best at each lr (paired bootstrap; "tie" where none is): the ranking
                   changes with the lr; the budget is written under the title
      cells/       the tuning runs
      config.yaml, manifest.json, loss.png, path.png, ...   the run of tuned.yaml
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..atomic import check_writable, write_text
from ..config import Config, RenderSpec, config_model
from ..errors import ConfigError, OptvizWarning, quote
from ..load import Loaded, LoadedNetwork, Sweep, prepare, resolve
from ..load.resolved import config_data, config_yaml
from ..optimizers import constructor_defaults, resolve_optimizer_spec
from ..render.tune import save_tune
from ..results.scores import (CRITERIA, DEFAULT_TARGET_TOLERANCE, FUNCTION_CRITERIA, NETWORK_CRITERIA,
                              default_criterion, rank)
from ..results.tune import Tuning, budget_line
from ..store.tune import write_tune_csv
from .executor import Executor
from .run import run_to_dir
from .sweep import Progress, finish_cells

DEFAULT_LRS = (1e-4, 10.0, 26)
DEFAULT_STARTS = 8


def parse_lrs(text: str) -> tuple[float, float, int]:
    """``"1e-4:10:26"`` -> ``(0.0001, 10.0, 26)``: COUNT lrs log-spaced from FIRST to LAST."""
    parts = text.split(":")
    try:
        first, last, count = float(parts[0]), float(parts[1]), int(parts[2])
        valid = len(parts) == 3 and 0 < first < last and math.isfinite(last) and 2 <= count <= 1000
    except (ValueError, IndexError):
        valid = False
    if not valid:
        raise ConfigError(f"--lrs: expected FIRST:LAST:COUNT with 0 < FIRST < LAST and 2 <= COUNT <= 1000, "
                          f"e.g. 1e-4:10:26, got {quote(text)}")
    return first, last, count


def tuning_config(config: Config, lrs: tuple[float, float, int], starts: int) -> Loaded | LoadedNetwork:
    """The sweep that tunes ``config``, planned: every optimizer over the lrs, from ``starts`` random starts
    (for a network config, from its own seeds: ``starts`` is ignored)."""
    first, last, count = lrs
    data = config.to_dict()  # a notebook's classes and functions stay themselves
    if config.problem is None:
        data["start"] = {"random": starts, "seed": config.seed}
    data["render"] = {key: value for key, value in data["render"].items() if key in ("size", "dpi", "format")}
    # By index: a label may contain dots.
    data["sweep"] = {f"optimizers.{index}.lr": {"geomspace": [first, last, count]}
                     for index in range(len(config.optimizers))}
    return prepare(config_model(data, base_dir=config.base_dir))


def check_tunable(config: Config, criterion: str) -> None:
    """Refuse what tuning cannot do: a sweep config, an optimizer without an lr, distances without minima,
    a function's criterion for a network or a network's for a function."""
    network = config.problem is not None
    valid = NETWORK_CRITERIA if network else FUNCTION_CRITERIA
    if criterion not in valid:
        what = "a network config (problem:)" if network else "a function config"
        raise ConfigError(f"--criterion: must be one of {', '.join(valid)} for {what}, got {quote(criterion)}")
    if config.sweep:
        raise ConfigError("tune sweeps the lrs itself: remove the sweep block (--set sweep=null)", path="sweep")
    for index, spec in enumerate(config.optimizers):
        cls, _, _ = resolve_optimizer_spec(spec, config)
        if "lr" not in constructor_defaults(cls):
            raise ConfigError(f"{cls.__name__} takes no lr to tune", path=f"optimizers[{index}]")
    if network:
        return
    function = resolve(config).function
    if criterion in ("distance", "steps-to-target") and not function.minima:
        raise ConfigError(f"--criterion {criterion} needs known minima and {function.name} has none; "
                          "use median-final-loss or auc")


def tune_to_dir(config: Config, out_dir: str | Path, *, criterion: str | None = None,
                lrs: tuple[float, float, int] = DEFAULT_LRS, starts: int | None = None,
                target_tolerance: float = DEFAULT_TARGET_TOLERANCE, source: str = "",
                progress: Progress | None = None, run_progress: Callable[[str, int, int], None] | None = None,
                figure_progress: Callable[[str, int, int], None] | None = None,
                executor: Executor | None = None) -> dict[str, Any]:
    """Tune every optimizer's lr, write tuned.yaml, tune.csv and tune.png, and run tuned.yaml into ``out_dir``.

    ``criterion`` defaults to :func:`~optviz.results.scores.default_criterion`; ``starts`` to
    :data:`DEFAULT_STARTS` (a network config refuses it: its seeds play that role);
    ``target_tolerance`` is the ``steps-to-target`` criterion's.
    Returns the tuning summary (with the budget under ``"budget"``: see
    :meth:`~optviz.results.tune.Tuning.budget`) with the run's manifest under ``"run"``. ``progress``
    gets a :class:`~optviz.pipelines.sweep.Finished` per tuning run; ``run_progress`` and
    ``figure_progress`` are :func:`~optviz.pipelines.run.run_to_dir`'s. ``source`` (the config's
    file) prefixes a :class:`ConfigError`. The tuning runs go to ``executor`` (see :func:`search_lrs`).

    >>> from optviz import load_config
    >>> summary = tune_to_dir(load_config("configs/peaks.yaml"), "outputs/peaks-tuned")   # doctest: +SKIP
    >>> {entry["label"]: entry["lr"] for entry in summary["optimizers"]}             # doctest: +SKIP
    """
    criterion = criterion or default_criterion(config.problem is not None)
    tuning = search_lrs(config, out_dir, criterion=criterion, lrs=lrs, starts=starts,
                        target_tolerance=target_tolerance, source=source, progress=progress, executor=executor)
    out_dir = Path(out_dir)
    tuned = tuned_config(tuning, out_dir)
    write_text(out_dir / "tuned.yaml", _header(tuning) + config_yaml(tuned.config))
    write_tune_csv(tuning, out_dir / "tune.csv")
    figure = save_tune(tuning, out_dir / f"tune.{config.render.format}").name
    # The run replaces the folder whole, keeping the tuning's own files and cells.
    manifest = run_to_dir(tuned, out_dir, progress=run_progress, figure_progress=figure_progress,
                          carry=("cells", "tuned.yaml", "tune.csv", figure))
    return {"criterion": criterion, "how": tuning.how(), "lrs": tuning.lrs.tolist(), "starts": tuning.starts,
            "budget": tuning.budget(), "optimizers": [_entry(tuning, label) for label in config.labels],
            "warnings": tuning.edges(),
            "files": sorted(["tuned.yaml", "tune.csv", figure, "cells/"]), "run": manifest}


def search_lrs(config: Config, out_dir: str | Path, *, criterion: str | None = None,
               lrs: tuple[float, float, int] = DEFAULT_LRS, starts: int | None = None,
               target_tolerance: float = DEFAULT_TARGET_TOLERANCE, source: str = "",
               progress: Progress | None = None, executor: Executor | None = None) -> Tuning:
    """Try the lrs for every optimizer of ``config`` and choose one each; the runs are kept in ``out_dir/cells``.

    They are the cells of one sweep (:func:`~optviz.pipelines.sweep.finish_cells`), run on ``executor``
    (:mod:`optviz.pipelines.executor`; by default in this process).

    Warns (:class:`~optviz.errors.OptvizWarning`) for each chosen lr at an edge of the grid."""
    out_dir = Path(out_dir)
    network = config.problem is not None
    criterion = criterion or default_criterion(network)
    try:
        if network and starts is not None:
            raise ConfigError("--starts does not apply to a network config: each lr trains from the config's seeds; "
                              "set seeds: [...] instead")
        starts = len(config.run_seeds) if network else starts or DEFAULT_STARTS
        check_tunable(config, criterion)
        sweep = tuning_config(config, lrs, starts).sweep
        _check_the_tuned_config(config, sweep, criterion, starts, out_dir)
    except ConfigError as error:
        raise error.with_context(source=source) from None
    check_writable(out_dir)
    outcomes, _ = finish_cells(sweep.cells, out_dir, progress, target_tolerance=target_tolerance,
                               executor=executor)
    scores = {label: [outcomes[cell.index].score for cell in sweep.cells_of(label)] for label in config.labels}
    chosen = {}
    for label, found in scores.items():
        best = rank(found, criterion)[0]
        chosen[label] = float(sweep.axes_of(label)[0].values[best]) if np.isfinite(found[best].value(criterion)) \
            else None
    tuning = Tuning(config=config, function=sweep.function, criterion=criterion, lrs=np.array(sweep.axes[0].values),
                    starts=starts, scores=scores, chosen=chosen, run_steps=_run_steps(sweep),
                    target_tolerance=target_tolerance)
    for message in tuning.edges():
        warnings.warn(message, OptvizWarning, stacklevel=2)
    return tuning


def _run_steps(sweep: Sweep) -> int:
    """Gradient evaluations of one run: the config's steps, or a network's minibatch iterations."""
    loaded = sweep.cells[0].loaded
    return loaded.iterations if isinstance(loaded, LoadedNetwork) else loaded.config.steps


def _check_the_tuned_config(config: Config, sweep: Sweep, criterion: str, starts: int, out_dir: Path) -> None:
    """Build the tuned config that the longest outcome would give, before any tuning run: what
    the final write needs is known now, so a config it would refuse fails in a second, not after
    every cell has run."""
    longest = Tuning(config=config, function=sweep.function, criterion=criterion, lrs=np.array(sweep.axes[0].values),
                     starts=starts, scores={}, chosen={label: None for label in config.labels})
    limit = RenderSpec.model_fields["note"].metadata[0].max_length
    if len(longest.note()) > limit:
        raise ConfigError(f"the note optviz tune writes under every figure would be {len(longest.note())} characters "
                          f"with these labels (at most {limit}); give the optimizers shorter labels",
                          path="optimizers")
    tuned_config(longest, out_dir)


def tuned_config(tuning: Tuning, out_dir: Path) -> Loaded:
    """The config with each chosen lr and a ``render.note`` saying how they were chosen, checked."""
    data = config_data(tuning.config, keep_objects=True)
    for optimizer, lr in zip(data["optimizers"], tuning.chosen.values()):
        if lr is not None:
            optimizer["lr"] = lr
    data["render"]["note"] = tuning.note()
    source = str(out_dir / "tuned.yaml")
    return prepare(config_model(data, source=source, base_dir=out_dir), source=source)


def _header(tuning: Tuning) -> str:
    lines = [f"# Written by optviz tune: each optimizer's lr is {tuning.how()}."]
    for label, lr in tuning.chosen.items():
        lines.append(f"#   {label}: {lr!r}" if lr is not None else f"#   {label}: every lr diverged; kept as given")
    return "\n".join(lines) + "\n"


def _entry(tuning: Tuning, label: str) -> dict[str, Any]:
    values = tuning.values(label)
    chosen = tuning.chosen[label]
    best = rank(tuning.scores[label], tuning.criterion)[0] if np.isfinite(values).any() else None
    return {"label": label, "lr": chosen, "criterion": None if best is None else float(values[best]),
            "diverged_lrs": int((~np.isfinite(values)).sum())}


def describe(summary: dict[str, Any]) -> list[str]:
    """Lines for a person: the budget, then each optimizer's chosen lr."""
    lines = [budget_line(summary["budget"])]
    width = max((len(entry["label"]) for entry in summary["optimizers"]), default=0)  # long labels stay aligned
    for entry in summary["optimizers"]:
        if entry["lr"] is None:
            lines.append(f"  {entry['label']:<{width}} every lr diverged; kept the config's lr")
        else:
            lines.append(f"  {entry['label']:<{width}} lr {entry['lr']:<10.3g} "
                         f"{summary['criterion']} {entry['criterion']:.4g}")
    return lines
