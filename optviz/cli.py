"""The ``optviz`` command: parse options, call the library, report.

Exit codes: 0 success, 1 runtime failure, 2 usage or config error, 130 interrupted.
Nothing heavy is imported at module level, so ``optviz --help`` is instant.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import click

from .atomic import ENDING_SIGNALS, check_interrupted, forget_interrupts, interrupt
from .version import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
F = TypeVar("F", bound=Callable[..., Any])


class ConfigProblem(click.ClickException):
    """A config or usage error: one line on stderr, exit code 2."""

    exit_code = 2


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Turn the library's own errors into one-line messages with the right exit code."""
    from .errors import ConfigError, OptvizError

    try:
        yield
        check_interrupted()  # a signal whose exception was lost on the way (see optviz.atomic)
    except ConfigError as error:
        raise ConfigProblem(str(error)) from None
    except OptvizError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:  # the environment: a full disk, a vanished folder; the writers name their file
        where = f"{error.filename}: " if error.filename else ""
        raise click.ClickException(f"{where}{error.strerror or error}") from None
    except KeyboardInterrupt as interrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(128 + getattr(interrupt, "signum", signal.SIGINT))


def _interrupt(signum: int, frame: object) -> None:
    # The first signal ends the command; further ones are ignored while its clean-up runs,
    # so a second Ctrl-C cannot break into a finally block with a traceback.
    for number in ENDING_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    interrupt(signum)


def _handle_ending_signals() -> None:
    """Make SIGTERM and SIGHUP end a command as Ctrl-C does; a signal the process was started
    ignoring (``nohup``, a background job's SIGINT) stays ignored."""
    forget_interrupts()
    for number in ENDING_SIGNALS:
        if signal.getsignal(number) != signal.SIG_IGN:
            signal.signal(number, _interrupt)


def _load(config_path: str, overrides: tuple[str, ...], safe: bool = False) -> Any:
    """The checked config file as an :class:`optviz.load.Loaded`."""
    from .load import load

    return load(config_path, overrides, safe=safe)


SAFE_HELP = "Refuse configs that import Python code (optimizer or function import paths), before importing anything."

# Options several commands share, defined once.
config_argument = click.argument("config_path", metavar="CONFIG", type=click.Path())  # a folder is refused in one line, by read_text
safe_option = click.option("--safe", is_flag=True, help=SAFE_HELP)


def set_option(example: str = "optimizers.SGD.lr=0.05") -> Callable[[F], F]:
    """``--set KEY=VALUE``, repeatable, with an example fitting the command."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help=f"Override a config key (value parsed as YAML), e.g. {example}. Repeatable.")


def out_option(what: str = "Run directory", default: str = "outputs/<config stem>/") -> Callable[[F], F]:
    """``--out DIRECTORY``: where the command writes."""
    return click.option("--out", "out_dir", type=click.Path(file_okay=False), help=f"{what} [default: {default}].")


def json_option(what: str = "the manifest summary") -> Callable[[F], F]:
    """``--json``: print ``what`` as JSON on stdout."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what} as JSON on stdout.")


executor_option = click.option(
    "--executor", default="local", show_default=True, metavar="local|dask[:ADDRESS]",
    help="Where the cells run: here, or as tasks on a Dask cluster (the scheduler at ADDRESS, e.g. "
         "dask:tcp://10.0.0.5:8786; without it, a local cluster of 2 worker processes). Files are written here "
         "either way, and are the same. Needs pip install 'optviz[dask]'.")
report_option = click.option("--report", "report", is_flag=True,
                             help="Also write report.html: the results as one page to open in a browser, offline.")


def _write_report(target: Path, quiet: bool, safe: bool) -> None:
    """``--report``: the page of the folder just written, and where it is."""
    from .pipelines.report import write_report

    path = write_report(target, safe=safe)
    if not quiet:
        click.echo(f"Report: {path}")


def quiet_option(extra: str = "; no progress bar") -> Callable[[F], F]:
    """``-q/--quiet``: print nothing but errors (and --json output)."""
    return click.option("-q", "--quiet", is_flag=True, help=f"Print nothing but errors (and --json output){extra}.")


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="optviz")
def cli() -> None:
    """See how torch.optim optimizers move.

    \b
    Example:
      optviz run configs/peaks.yaml          # trajectories + figures in outputs/peaks/
      optviz animate outputs/peaks --gif     # the race as a GIF
    """


@cli.command(context_settings=CONTEXT)
@config_argument
@set_option()
@out_option()
@click.option("--animate/--no-animate", default=None, help="Also write the animation [default: from the config].")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), help="Figure format [default: from the config].")
@click.option("--dpi", type=click.IntRange(30, 600), help="Figure resolution in dots per inch [default: from the config].")
@json_option()
@quiet_option()
@safe_option
@click.option("--strict", is_flag=True, help="Exit with code 1 if any optimizer diverged or failed (files are still written).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Continue the run in this folder (made from CONFIG) for --steps more steps; writes the whole "
                   "history to --out [default: this folder, replaced once all is written].")
@click.option("--steps", "more_steps", type=click.IntRange(1, 1_000_000), help="With --resume: how many steps to add.")
@report_option
def run(config_path: str, overrides: tuple[str, ...], out_dir: str | None, animate: bool | None, fmt: str | None,
        dpi: int | None, as_json: bool, quiet: bool, safe: bool, strict: bool, resume_dir: str | None,
        more_steps: int | None, report: bool) -> None:
    """Run every optimizer of CONFIG and write trajectories and figures.

    \b
    Example:
      optviz run configs/momentum.yaml --set steps=300 --set optimizers.SGD.lr=0.05 --out /tmp/m --json
      optviz run configs/rosenbrock.yaml --resume outputs/rosenbrock --steps 200   # 200 more steps
    """
    if (resume_dir is None) != (more_steps is None):
        raise ConfigProblem("--resume DIR and --steps N go together: N more steps of the run in DIR; a run's own "
                            "steps are set with --set steps=N")
    with reported(), warned(quiet):
        from .engine import check_single_run
        from .pipelines.resume import prepare_resume
        from .pipelines.run import default_out_dir, run_to_dir
        from .progress import ProgressBar

        # Through the config, so config.yaml records the dpi the figures were drawn at.
        config = _load(config_path, overrides + ((f"render.dpi={dpi}",) if dpi else ()), safe)
        check_single_run(config.config, source=config_path)
        resume = prepare_resume(config, resume_dir, more_steps, safe=safe) if resume_dir else None
        target = Path(out_dir) if out_dir else Path(resume_dir) if resume_dir else default_out_dir(config_path)
        with ProgressBar.for_terminal(quiet=quiet) as bar:
            manifest = run_to_dir(config, target, animate=animate, fmt=fmt, progress=bar.runs,
                                  figure_progress=bar.figures, frame_progress=bar.frames, resume=resume)
        if report:
            _write_report(target, quiet or as_json, safe)
    if _announce(manifest, quiet=quiet, as_json=as_json):
        _report(manifest, target)
    problems = _problems(manifest)
    if strict and problems:
        click.echo(f"Error: --strict: {'; '.join(problems)}", err=True)
        sys.exit(1)


def _announce(manifest: dict[str, Any], *, quiet: bool, as_json: bool) -> bool:
    """Print the run's warnings (stderr) and, with --json, the manifest; True if a human report should follow."""
    if not quiet:
        for warning in manifest["warnings"]:
            click.echo(f"Warning: {warning}", err=True)
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
    return not (quiet or as_json)


def _report(manifest: dict[str, Any], target: Path) -> None:
    if "problem" in manifest:
        _report_network(manifest, target)
        return
    width = _label_width(manifest["runs"])
    for entry in manifest["runs"]:
        if "final_loss" in entry:
            status = entry["status"] if entry["status"] != "diverged" else f"diverged at step {entry['diverged_step']}"
            loss = "-" if entry["final_loss"] is None else f"{entry['final_loss']:.6g}"
            click.echo(f"  {entry['label']:<{width}} {status:<22} final loss {loss:<12} "
                       f"distance to minimum {_distance(entry)}")
        else:
            median = entry.get("final_loss_median")
            click.echo(f"  {entry['label']:<{width}} {entry['status']:<22} median final loss "
                       f"{'-' if median is None else f'{median:.6g}'}  ({entry['diverged_starts']} diverged)")
        if "expected_final_loss" in entry:
            click.echo(f"    {_expected(entry['expected_final_loss'], manifest['noise'])}")
        if entry.get("evaluations_per_step", 1) != 1:  # a closure that re-evaluates (LBFGS, SAM)
            click.echo(f"    {entry['evaluations_per_step']:g} f and gradient evaluations per step")
        if entry["status"] == "failed":
            click.echo(f"    failed: {entry.get('error') or 'unknown error'}")
    click.echo(f"Wrote {target}/: {', '.join(manifest['files'])}")


def _expected(expected: dict[str, Any], noise: dict[str, Any]) -> str:
    """``expected final loss 0.123 +- 0.045 (std over 8 noise seeds x 1 start; IQR 0.09 to 0.15)``."""
    rows = f"{len(noise['noise_seeds'])} noise seeds x {noise['starts']} start{'s' if noise['starts'] != 1 else ''}"
    if expected["mean"] is None:
        return f"expected final loss: infinite ({expected['diverged_rows']} of {expected['rows']} rows diverged)"
    return (f"expected final loss {expected['mean']:.4g} +- {expected['std']:.2g} (std over {rows}; "
            f"IQR {expected['q25']:.4g} to {expected['q75']:.4g})")


def _report_network(manifest: dict[str, Any], target: Path) -> None:
    """Final train and valid loss and valid accuracy per optimizer: mean +- spread over seeds."""
    def shown(value: dict[str, Any], digits: str) -> str:
        if value["mean"] is None:
            return "-"
        spread = f" +- {value['std']:{digits}}" if manifest["seeds"][1:] else ""
        return f"{value['mean']:{digits}}{spread}"

    seeds = len(manifest["seeds"])
    width = max(14, _label_width(manifest["optimizers"]))
    data = manifest["problem"]["data"]
    if isinstance(data, dict):  # {name: moons, ...}, {npz: file.npz} or {csv: file.csv, target: ...}
        data = data.get("name") or data.get("npz") or data.get("csv")
    click.echo(f"  {data}: "
               f"{manifest['parameters']} parameters, {seeds} seed{'s' if seeds > 1 else ''}"
               f"{' (mean +- std over seeds)' if seeds > 1 else ''}")
    for entry in manifest["optimizers"]:
        status = entry["status"] if entry["status"] != "diverged" else (
            f"diverged (seed {', '.join(map(str, entry['diverged_seeds']))})")
        accuracy = shown(entry["final_valid_accuracy"], ".3f")
        click.echo(f"  {entry['label']:<{width}} {status:<12} train loss {shown(entry['final_train_loss'], '.4g'):<20} "
                   f"valid loss {shown(entry['final_valid_loss'], '.4g'):<20} valid accuracy {accuracy}")
    click.echo(f"Trained in {manifest['timing']['training_seconds']:.1f} s "
               f"({manifest['timing']['total_seconds']:.1f} s in all)")
    click.echo(f"Wrote {target}/: {', '.join(manifest['files'])}")


def _label_width(entries: list[dict[str, Any]]) -> int:
    """The width of a report's label column: its longest label, so long labels keep the columns aligned."""
    return max((len(entry["label"]) for entry in entries), default=0)


def _distance(entry: dict[str, Any]) -> str:
    """``0.0012 (global)`` or ``(local)``: how far a one-start run ended from which kind of known minimum."""
    if entry.get("distance_to_minimum") is None:
        return "-"
    nearest = entry.get("nearest_minimum")
    return f"{entry['distance_to_minimum']:.3g}" + (f" ({nearest['kind']})" if nearest else "")


def _problems(manifest: dict[str, Any]) -> list[str]:
    """One phrase per optimizer that diverged or failed, for --strict."""
    if "problem" in manifest:
        return [f"{entry['label']} {entry['status']}" for entry in manifest["optimizers"] if entry["status"] != "ok"]
    problems = []
    for entry in manifest["runs"]:
        if entry["status"] == "failed":
            problems.append(f"{entry['label']} failed: {entry.get('error', 'unknown error')}")
        elif entry["diverged_starts"] and "diverged_step" in entry:
            problems.append(f"{entry['label']} diverged at step {entry['diverged_step']}")
        elif entry["diverged_starts"]:
            problems.append(f"{entry['label']} diverged from {entry['diverged_starts']} of {manifest['starts']} starts "
                            f"(first at step {entry['first_diverged_step']})")
    return problems


@cli.command(context_settings=CONTEXT)
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--gif", "fmt", flag_value="gif", help="Write a GIF [default, unless --out ends in .mp4].")
@click.option("--mp4", "fmt", flag_value="mp4", help="Write an MP4 (H.264).")
@click.option("--frames", type=click.IntRange(2, 10_000),
              help="Number of frames, at most one per recorded step [default: from the config].")
@click.option("--fps", type=click.FloatRange(0.1, 120), help="Frames per second [default: from the config].")
@click.option("--trail", type=click.IntRange(0), help="Steps of trailing path behind each head [default: all].")
@click.option("--3d/--2d", "three_d", default=None,
              help="Race over the 3D surface (2D functions; written to animation-3d.gif) or over the flat map "
                   "[default: from the config].")
@click.option("--quiver/--no-quiver", default=None,
              help="Arrows of the negative gradient under the flat 2D race (written to animation-quiver.gif) "
                   "[default: from the config].")
@click.option("--internals/--no-internals", default=None,
              help="Arrows of each head's -gradient, momentum and update, from the recorded optimizer state "
                   "(2D; written to animation-internals.gif) [default: from the config].")
@click.option("--out", "out", type=click.Path(), help="Output file [default: RUN_DIR/animation.gif].")
@click.option("--show", is_flag=True, help="Show the animation live in a window instead of writing a file.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors; no progress bar.")
@safe_option
def animate(run_dir: str, fmt: str | None, frames: int | None, fps: float | None, trail: int | None,
            three_d: bool | None, quiver: bool | None, internals: bool | None, out: str | None, show: bool,
            quiet: bool, safe: bool) -> None:
    """Animate an existing run directory without recomputing it.

    \b
    Example:
      optviz animate outputs/peaks --gif --frames 120 --fps 24 --out race.gif
      optviz animate outputs/peaks --3d --mp4      # outputs/peaks/animation-3d.mp4
      optviz animate outputs/peaks --internals     # outputs/peaks/animation-internals.gif
    """
    if three_d and quiver:
        raise ConfigProblem("--quiver draws on the flat map; it does not combine with --3d")
    if three_d and internals:
        raise ConfigProblem("--internals draws on the flat map; it does not combine with --3d")
    if show and (out or fmt):
        raise ConfigProblem(f"--show plays the animation in a window; it does not combine with {'--out' if out else f'--{fmt}'}")
    view = None if three_d is None else ("3d" if three_d else "2d")
    with reported(), warned(quiet):
        from .pipelines.animate import animate_dir, show_dir
        from .progress import ProgressBar

        if show:
            show_dir(run_dir, frames=frames, fps=fps, trail=trail, view=view, quiver=quiver, internals=internals,
                     safe=safe)
            return
        with ProgressBar.for_terminal(quiet=quiet) as bar:
            path = animate_dir(run_dir, out=out, fmt=fmt, frames=frames, fps=fps, trail=trail, view=view,
                               quiver=quiver, internals=internals, progress=bar.frames, safe=safe)
    if not quiet:
        click.echo(f"Wrote {path}")


@contextlib.contextmanager
def warned(quiet: bool) -> Iterator[None]:
    """Print each :class:`optviz.errors.OptvizWarning` raised inside as one ``Warning: ...`` line on stderr.

    numpy's RuntimeWarnings (an all-NaN slice, an overflow) are dropped: a diverged run is NaN
    by design, and the summary, the figures and ``--json`` already say which run diverged.
    """
    import warnings

    from .errors import OptvizWarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        # At once, as the work goes on: a cost estimate must come before the wait it announces.
        if issubclass(category, RuntimeWarning):
            return
        if not issubclass(category, OptvizWarning):  # not ours: shown as Python would have
            shown(message, category, filename, lineno, file, line)
        elif not quiet:
            click.echo(f"Warning: {message}", err=True)

    with warnings.catch_warnings():
        shown = warnings.showwarning
        warnings.showwarning = show
        warnings.simplefilter("always", OptvizWarning)
        yield


@cli.command(context_settings=CONTEXT)
@config_argument
@set_option("start.grid=[64,64]")
@out_option()
@json_option("the manifest, with its basin entry,")
@click.option("--workers", type=click.IntRange(1), default=None,
              help="Processes that share the starts; the results are the same bit for bit "
                   "(engine: fused: torch threads) [default: one per CPU, at most one per 16,384 starts].")
@quiet_option("")
@safe_option
@report_option
def basin(config_path: str, overrides: tuple[str, ...], out_dir: str | None, as_json: bool, workers: int | None,
          quiet: bool, safe: bool, report: bool) -> None:
    """Map which known minimum each start reaches: basin.png and basin.npz, with the run's files.

    Give CONFIG a grid of starts (start: {grid: [nx, ny]}) for a map with one pixel per
    start; render.basin.colour_by picks minimum, final_loss or steps.

    \b
    Example:
      optviz basin configs/peaks_basin.yaml --set start.grid=[64,64] --out /tmp/basins
    """
    with reported(), warned(quiet):
        from .pipelines.basin import basin_map
        from .pipelines.run import default_out_dir
        from .progress import ProgressBar
        from .results.basin import describe

        config = _load(config_path, overrides, safe)
        target = Path(out_dir) if out_dir else default_out_dir(config_path)
        with ProgressBar.for_terminal(quiet=quiet) as bar:
            manifest = basin_map(config, target, source=config_path, workers=workers, progress=bar.runs,
                                 figure_progress=bar.figures)
        if report:
            _write_report(target, quiet or as_json, safe)
    if _announce(manifest, quiet=quiet, as_json=as_json):
        width = _label_width(manifest["basin"]["runs"])
        for entry in manifest["basin"]["runs"]:
            click.echo(f"  {entry['label']:<{width}} {describe(entry)}")
        click.echo(f"Wrote {target}/: {', '.join(manifest['files'])}")


@cli.command(context_settings=CONTEXT)
@config_argument
@set_option("sweep.optimizers.SGD.lr=[0.01,0.1]")
@out_option("Sweep directory")
@click.option("--shard", metavar="K/N", help="Run only slice K of N (the cells numbered K-1 modulo N) and store its "
                                             "cells; `optviz merge` then writes the table and figures.")
@executor_option
@json_option("sweep.json (with --shard, the slice's summary)")
@quiet_option("; no progress lines")
@safe_option
@report_option
def sweep(config_path: str, overrides: tuple[str, ...], out_dir: str | None, shard: str | None, executor: str,
          as_json: bool, quiet: bool, safe: bool, report: bool) -> None:
    """Run every cell of CONFIG's sweep block: sweep.csv, every loss curve, a heatmap, the best cell.

    One line per finished cell goes to stderr. Finished cells are kept in OUT/cells/,
    so the same command resumes an interrupted sweep without recomputing them.

    \b
    Example:
      optviz sweep configs/sgd_grid.yaml --set 'sweep.optimizers.SGD.lr={logspace: [-4, -2, 8]}'
      optviz sweep configs/big.yaml --shard 3/8 --out outputs/big    # then: optviz merge outputs/big
      optviz sweep configs/sgd_grid.yaml --executor dask:tcp://10.0.0.5:8786
    """
    with reported(), warned(quiet):
        from .load.sweep import parse_shard
        from .pipelines.executor import open_executor, parse_executor
        from .pipelines.run import default_out_dir
        from .pipelines.sweep import sweep_to_dir

        part = parse_shard(shard) if shard else None
        parse_executor(executor)
        config = _load(config_path, overrides, safe)
        target = Path(out_dir) if out_dir else default_out_dir(config_path)
        with open_executor(executor) as runner:
            manifest = sweep_to_dir(config, target, shard=part, progress=None if quiet else _cell_line,
                                    source=config_path, executor=runner)
        if report and not part:  # a slice has no table yet: `optviz merge`, then `optviz report`
            _write_report(target, quiet or as_json, safe)
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
    elif not quiet:
        _report_sweep(manifest, target)


def _cell_line(finished: Any) -> None:
    click.echo(finished.line(), err=True)


def _report_sweep(manifest: dict[str, Any], target: Path) -> None:
    session = manifest["session"]
    done = f"{session['computed']} computed, {session['reused']} reused"
    if session["shard"]:
        click.echo(f"Shard {session['shard']}: {manifest['shard_cells']} of {manifest['cells']} cells ({done}) in "
                   f"{target}/cells/; run `optviz merge {target}` once every shard has finished")
        return
    width = _label_width(manifest["optimizers"])
    for entry in manifest["optimizers"]:
        best = entry["best"]
        loss = "-" if best["final_loss"] is None else f"{best['final_loss']:.4g}"
        if "problem" in manifest:  # a network sweep: means over seeds of the valid loss
            over = "" if entry["starts"] == 1 else f" (mean over {entry['starts']} seeds)"
            diverged = f"; {entry['diverged_cells']} of {entry['cells']} cells diverged" if entry["diverged_cells"] else ""
            click.echo(f"  {entry['label']:<{width}} best {best['describe'].removeprefix(entry['label']).strip()}: "
                       f"final valid loss {loss}{over}{diverged}")
            continue
        over = "" if entry["starts"] == 1 else f" over {entry.get('over', str(entry['starts']) + ' starts')}"
        diverged = f"; {entry['diverged_cells']} of {entry['cells']} cells diverged" if entry["diverged_cells"] else ""
        click.echo(f"  {entry['label']:<{width}} best {best['describe'].removeprefix(entry['label']).strip()}: "
                   f"{'median ' if over else ''}final loss {loss}{over}{diverged}")
    for warning in session.get("warnings", []):
        click.echo(f"Warning: {warning}", err=True)
    click.echo(f"Wrote {target}/ ({manifest['cells']} cells: {done}): {', '.join(manifest['files'])}")


@cli.command(context_settings=CONTEXT)
@click.argument("sweep_dir", metavar="DIR", type=click.Path(file_okay=False))
@json_option("sweep.json")
@quiet_option("")
@safe_option
def merge(sweep_dir: str, as_json: bool, quiet: bool, safe: bool) -> None:
    """Combine the slices of a sharded sweep in DIR into the outputs one unsharded sweep writes.

    Exit code 1, naming the missing cells, while some slice has not finished.

    \b
    Example:
      for k in 1 2 3 4; do optviz sweep configs/big.yaml --shard $k/4 --out outputs/big -q & done; wait
      optviz merge outputs/big
    """
    with reported(), warned(quiet):
        from .pipelines.sweep import merge_sweep

        manifest = merge_sweep(sweep_dir, safe=safe)
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
    elif not quiet:
        _report_sweep(manifest, Path(sweep_dir))


@cli.command(context_settings=CONTEXT)
@config_argument
@set_option()
@out_option("Output directory", "outputs/<config stem>-tuned/")
@click.option("--criterion", type=click.Choice(["median-final-loss", "distance", "auc", "steps-to-target",
                                                "final-valid-loss", "final-train-loss", "valid-accuracy"]),
              default=None,
              help="What the lr minimizes, the median over the starts (and noise seeds; a diverged one counts as "
                   "worst): median-final-loss (the default), distance (to the nearest known minimum), auc (area "
                   "under the loss curve per step) or steps-to-target (the first step with f <= f* + "
                   "--target-tolerance, f* the known minimum value; never reaching it counts as worst). For a "
                   "network config (problem:), the mean over its seeds: final-valid-loss (the default), "
                   "final-train-loss or valid-accuracy (maximized).")
@click.option("--target-tolerance", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="For --criterion steps-to-target: how far above the known minimum value f* counts as reached.")
@click.option("--starts", type=click.IntRange(1, 10_000), default=None,
              help="Random starts over the domain that every lr is tried from  [default: 8]. A network config "
                   "trains each lr from its seeds instead and refuses --starts.")
@click.option("--lrs", default="1e-4:10:26", show_default=True, metavar="FIRST:LAST:COUNT",
              help="The lrs tried per optimizer: COUNT values log-spaced from FIRST to LAST. A chosen lr at "
                   "either end is warned about, with a range that extends past it.")
@executor_option
@json_option("the tuning summary, with the run's manifest,")
@quiet_option("; no progress lines")
@safe_option
@report_option
def tune(config_path: str, overrides: tuple[str, ...], out_dir: str | None, criterion: str | None,
         target_tolerance: float, starts: int | None, lrs: str, executor: str, as_json: bool, quiet: bool, safe: bool,
         report: bool) -> None:
    """Pick each optimizer's lr by the same rule, then run CONFIG with those lrs: a fair comparison.

    Writes tuned.yaml (the config with the chosen lrs), tune.csv, tune.png (the criterion
    against lr: the ranking of optimizers changes with the lr; the share of diverged
    starts; the optimizer surely best at each lr, or a tie) and the usual run
    directory; every figure says how the lrs were chosen. It states its budget: lrs x
    starts x noise seeds runs of the config's steps, per optimizer.

    \b
    Example:
      optviz tune configs/peaks.yaml --out outputs/peaks-tuned
      optviz tune configs/rosenbrock.yaml --criterion auc --starts 16 --lrs 1e-5:1:31
    """
    with reported(), warned(quiet):
        from .pipelines.executor import open_executor, parse_executor
        from .pipelines.tune import describe, parse_lrs, tune_to_dir
        from .progress import ProgressBar

        lr_range = parse_lrs(lrs)
        parse_executor(executor)
        config = _load(config_path, overrides, safe).config
        target = Path(out_dir) if out_dir else Path("outputs") / f"{Path(config_path).stem}-tuned"
        with open_executor(executor) as runner, ProgressBar.for_terminal(quiet=quiet) as bar:
            summary = tune_to_dir(config, target, criterion=criterion, lrs=lr_range, starts=starts,
                                  target_tolerance=target_tolerance, source=config_path,
                                  progress=None if quiet else _cell_line, run_progress=bar.runs,
                                  figure_progress=bar.figures, executor=runner)
        if report:
            _write_report(target, quiet or as_json, safe)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    elif not quiet:
        click.echo(f"lrs chosen: {summary['how']}")
        for line in describe(summary):
            click.echo(line)
        click.echo(f"Wrote {target}/: {', '.join(sorted(summary['files'] + summary['run']['files']))}")


@cli.command(context_settings=CONTEXT)
@click.argument("suite_path", metavar="SUITE", type=click.Path())
@set_option("problems.0.steps=50")
@out_option("Output directory", "outputs/<suite stem>/")
@executor_option
@json_option("the manifest, with the ranking,")
@quiet_option("; no progress lines")
@safe_option
@report_option
def compare(suite_path: str, overrides: tuple[str, ...], out_dir: str | None, executor: str, as_json: bool,
            quiet: bool, safe: bool, report: bool) -> None:
    """Rank optimizers across a suite of problems, each tuned by the same rule: ranking.csv and ranking.png.

    SUITE lists problems (partial configs over shared keys) and the tuning rule (criterion,
    lrs, starts). Each problem is tuned as `optviz tune` does, into OUT/<problem>/; the ranks
    come with 95% bootstrap intervals over starts x noise seeds, and tie where they overlap.

    \b
    Example:
      optviz compare configs/suite.yaml
      optviz compare configs/suite.yaml --set steps=50 --set lrs=1e-3:1:4 --out /tmp/quick
    """
    with reported(), warned(quiet):
        from .config.suite import read_suite
        from .pipelines.compare import compare_to_dir, describe
        from .pipelines.executor import open_executor, parse_executor
        from .pipelines.run import default_out_dir
        from .progress import ProgressBar

        parse_executor(executor)
        suite = read_suite(suite_path, overrides)
        target = Path(out_dir) if out_dir else default_out_dir(suite_path)
        with open_executor(executor) as runner, ProgressBar.for_terminal(quiet=quiet) as bar:
            manifest = compare_to_dir(suite, target, source=suite_path, safe=safe, problem_progress=None if quiet
                                      else lambda name, done, total: click.echo(f"[{done + 1}/{total}] {name}", err=True),
                                      run_progress=bar.runs, figure_progress=bar.figures, executor=runner)
        if report:
            _write_report(target, quiet or as_json, safe)
    if as_json:
        click.echo(json.dumps(manifest, indent=2))
    elif not quiet:
        click.echo("\n".join(describe(manifest)))
        click.echo(f"Wrote {target}/: {', '.join(manifest['files'])}")


@cli.command("report", context_settings=CONTEXT)
@click.argument("folder", metavar="DIR", type=click.Path(file_okay=False))
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@safe_option
def report_(folder: str, quiet: bool, safe: bool) -> None:
    """Write DIR/report.html: any optviz result folder as one page that opens offline in a browser.

    The page holds the config, the tables (sortable), the warnings, every figure, the versions
    and, for a 2D function, the race with a step slider and a rotatable 3D surface; a sweep gets
    one slider per swept key. Run, basin, sweep, tune, compare and network folders all work.

    \b
    Example:
      optviz report outputs/peaks          # then open outputs/peaks/report.html
    """
    with reported(), warned(quiet):
        from .pipelines.report import write_report

        path = write_report(folder, safe=safe)
    if not quiet:
        click.echo(f"Wrote {path}")


@cli.command(context_settings=CONTEXT)
@click.argument("run_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--steps", default="0:20", show_default=True, metavar="START:STOP",
              help="The optimizer steps START to STOP - 1 (either may be left out), or one step.")
@click.option("--label", help="Only the optimizer with this label [default: all].")
@click.option("--start", type=click.IntRange(0), default=0, show_default=True,
              help="Which start of a run with many (its row in summary.csv).")
@safe_option
def show(run_dir: str, steps: str, label: str | None, start: int, safe: bool) -> None:
    """Print a stored run step by step: position, gradient and loss, as the seed's learning_rate.py does.

    \b
    Example:
      optviz run configs/learning_rate.yaml && optviz show outputs/learning_rate --steps 0:20 --label "lr 0.2"
    """
    with reported():
        from .pipelines.show import show_run

        tables = show_run(run_dir, steps, label=label, start=start, safe=safe)
    click.echo("\n\n".join("\n".join(table.lines()) for table in tables))


@cli.group(context_settings=CONTEXT)
def explain() -> None:
    """Draw the seed lesson's own demonstrations.

    \b
    Example:
      optviz explain momentum --beta 0.98 0.95 0.9 0.8 --out ewma.png
    """


@explain.command(context_settings=CONTEXT)
@click.argument("more_betas", metavar="[BETA]...", nargs=-1, type=float)
@click.option("--beta", "betas", type=float, multiple=True,
              help="A momentum beta in (0, 1); the values after it count too: --beta 0.98 0.95 0.9 0.8 "
                   "[default: 0.98 0.95 0.9 0.8].")
@click.option("--steps", type=int, default=100, show_default=True, help="Steps back to draw.")
@click.option("--out", type=click.Path(dir_okay=False), default="ewma.png", show_default=True,
              help="The figure (.png, .svg or .pdf).")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def momentum(more_betas: tuple[float, ...], betas: tuple[float, ...], steps: int, out: str, quiet: bool) -> None:
    """Momentum's weights on past gradients, (1 - beta) beta^t for each beta, with their sums and
    memories of about 1/(1 - beta) steps: the seed's momentum.py figure.

    \b
    Example:
      optviz explain momentum --beta 0.98 0.95 0.9 0.8 --out ewma.png
    """
    with reported():
        from .pipelines.explain import DEFAULT_BETAS, explain_momentum

        curves, path = explain_momentum(out, list(betas + more_betas) or DEFAULT_BETAS, steps=steps)
    if not quiet:
        for curve in curves:
            click.echo(curve.describe())
        click.echo(f"Wrote {path}")


@cli.command("list", context_settings=CONTEXT)
@click.argument("what", type=click.Choice(["functions", "optimizers", "schedulers"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--all", "third_party", is_flag=True,
              help="Optimizers: also every class of the installed optviz[optimizers] packages.")
def list_(what: str, as_json: bool, third_party: bool) -> None:
    """List the test functions, optimizers or lr schedulers a config can name.

    \b
    Example:
      optviz list functions --json
      optviz list optimizers --all     # with pytorch_optimizer:Lion, schedulefree:AdamWScheduleFree, ...
    """
    from .pipelines.catalog import catalog, format_catalog

    entries = catalog(what, third_party=third_party)
    click.echo(json.dumps(entries, indent=2) if as_json else format_catalog(what, entries))


@cli.command(context_settings=CONTEXT)
@click.argument("config_paths", metavar="CONFIG...", nargs=-1, required=True, type=click.Path())
@set_option()
@click.option("-q", "--quiet", is_flag=True, help="Print only errors.")
@safe_option
def validate(config_paths: tuple[str, ...], overrides: tuple[str, ...], quiet: bool, safe: bool) -> None:
    """Check configs (and compare's suites) without running them; exit code 2 if any is invalid.

    \b
    Example:
      optviz validate configs/*.yaml
      optviz validate --safe downloaded.yaml    # refuses configs that would import code
    """
    from .config.suite import is_suite

    failed = 0
    for config_path in config_paths:
        try:
            with reported():  # Ctrl-C, or a file that cannot be read, as in every other command
                if is_suite(config_path):
                    from .config.suite import read_suite
                    from .pipelines.compare import check_suite

                    suite = read_suite(config_path, overrides)
                    check_suite(suite, source=config_path, safe=safe)
                    loaded = None
                else:
                    loaded = _load(config_path, overrides, safe)
        except ConfigProblem as error:
            failed += 1
            click.echo(f"Error: {error.message}", err=True)
            continue
        if not quiet and loaded is None:
            click.echo(f"ok: {config_path} (a suite for optviz compare: {len(suite.problems)} problems)")
        elif not quiet:
            cells = f"{len(loaded.sweep.cells)} cells; " if loaded.sweep else ""
            memory = loaded.memory
            click.echo(f"ok: {config_path} ({cells}memory {memory.describe()}{' per cell' if cells else ''}: "
                       f"{memory.breakdown()})")
    if failed:
        sys.exit(2)


def main() -> None:
    """Console-script entry point."""
    _handle_ending_signals()
    cli(prog_name="optviz")
