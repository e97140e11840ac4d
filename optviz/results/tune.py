"""What tuning found: each optimizer's scores over the lrs tried, the lr chosen, and what it cost.

The budget (:meth:`Tuning.budget`) counts *runs*: one run is one trajectory, from one start
under one noise seed at one lr (for a network config, one training from one seed at one
lr). Per optimizer that is lrs x starts x noise seeds (lrs x seeds), and every optimizer
gets the same. Gradient evaluations are one per step of every run (for a network, one
minibatch gradient per iteration: batches per epoch x epochs); an optimizer that
evaluates its closure more than once a step (LBFGS) takes more than counted.

The best optimizer at an lr (:meth:`Tuning.winners`) is named only when the paired
bootstrap of :func:`optviz.results.intervals.winner` over the rows of every optimizer
(each row's criterion value; rows pair because every optimizer runs from the same starts
under the same noise seeds) says it is surely ahead at 95%; otherwise it is a tie.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Config
from ..problems import TestFunction
from .intervals import winner
from .scores import CRITERION_TEXT, DEFAULT_TARGET_TOLERANCE, HIGHER_IS_BETTER, Score


@dataclass
class Tuning:
    """What tuning found: each optimizer's scores over the lrs tried, and the lr chosen."""

    config: Config  # the config as given
    function: TestFunction | None  # its resolved function; None for a network config (problem:)
    criterion: str
    lrs: np.ndarray
    starts: int  # random starts per lr; for a network, the config's seeds
    scores: dict[str, list[Score]]  # label -> one Score per lr
    chosen: dict[str, float | None]  # label -> the lr chosen; None where every lr diverged
    run_steps: int = 0  # gradient evaluations of one run: the config's steps; a network's minibatch iterations
    target_tolerance: float = DEFAULT_TARGET_TOLERANCE  # steps-to-target's: f <= f* + this counts as reached

    def values(self, label: str) -> np.ndarray:
        """The criterion for each lr (+inf where half the starts or more diverged)."""
        return np.array([score.value(self.criterion) for score in self.scores[label]])

    def diverged_shares(self, label: str) -> np.ndarray:
        """The share of rows (starts x noise seeds, or seeds) that diverged at each lr, 0 to 1."""
        return np.array([score.diverged_share for score in self.scores[label]])

    @property
    def network(self) -> bool:
        return self.config.problem is not None

    @property
    def noise_seeds(self) -> int:
        """Noise seeds each start runs under (1 without a noise block)."""
        return self.config.noise.seeds if self.config.noise else 1

    def criterion_text(self) -> str:
        """The criterion in words, with the tolerance of steps-to-target."""
        text = CRITERION_TEXT[self.criterion]
        if self.criterion == "steps-to-target":
            text = text.replace("tolerance", f"{self.target_tolerance:g}")
        return text

    def how(self) -> str:
        """How the lrs were chosen, in words."""
        first, last = self.lrs[0], self.lrs[-1]
        if self.network:
            best = "highest" if self.criterion in HIGHER_IS_BETTER else "lowest"
            seeds = f"{self.starts} seed{'s' if self.starts != 1 else ''}"
            return (f"the {best} {self.criterion_text()} (diverged seeds worst) over {seeds}, "
                    f"of {len(self.lrs)} lrs from {first:g} to {last:g}")
        noise = f" x {self.noise_seeds} noise seeds" if self.noise_seeds > 1 else ""
        return (f"the lowest {self.criterion_text()} (diverged starts worst) over {self.starts} random "
                f"starts{noise}, of {len(self.lrs)} lrs from {first:g} to {last:g}")

    def note(self) -> str:
        """The line every figure of the tuned run carries."""
        chosen = ", ".join(f"{label} {lr:.3g}" if lr is not None else f"{label} as given (every lr diverged)"
                           for label, lr in self.chosen.items())
        return f"lrs tuned by optviz tune, each {self.how()}: {chosen}"

    def budget(self) -> dict[str, Any]:
        """What the tuning ran (see the module's text): the factors, then runs and gradient evaluations
        per optimizer and in total; a network's has ``seeds`` and ``epochs`` where a function's has
        ``starts`` and ``noise_seeds``, and ``steps`` counts its minibatch iterations per run."""
        optimizers = len(self.config.optimizers)
        if self.network:
            factors = {"lrs": len(self.lrs), "seeds": self.starts, "epochs": self.config.problem.epochs}
            runs = len(self.lrs) * self.starts
        else:
            factors = {"lrs": len(self.lrs), "starts": self.starts, "noise_seeds": self.noise_seeds}
            runs = len(self.lrs) * self.starts * self.noise_seeds
        return {**factors, "steps": self.run_steps, "optimizers": optimizers,
                "runs": {"per_optimizer": runs, "total": runs * optimizers},
                "gradient_evaluations": {"per_optimizer": runs * self.run_steps,
                                         "total": runs * self.run_steps * optimizers}}

    def winners(self) -> list[str | None]:
        """At each lr, the optimizer surely best by the paired bootstrap over rows (see the module's
        text), or None: a tie, or every optimizer diverged."""
        found = []
        for index in range(len(self.lrs)):
            rows = {label: scores[index].row_values(self.criterion) for label, scores in self.scores.items()}
            if not any(np.isfinite(values).any() for values in rows.values()):
                found.append(None)
                continue
            found.append(winner(rows, lower_is_better=self.criterion not in HIGHER_IS_BETTER))
        return found

    def _repr_html_(self) -> str:
        """One row per optimizer, as Jupyter shows it: the lr chosen and its criterion."""
        from .html import MISSING, number, table

        rows = []
        for label, lr in self.chosen.items():
            values = self.values(label)
            at = MISSING if lr is None else number(values[int(np.argmin(np.abs(self.lrs - lr)))])
            rows.append([label, MISSING if lr is None else f"{lr:.3g}", at, int((~np.isfinite(values)).sum())])
        return table(f"lrs tuned: {self.how()}", ["optimizer", "lr chosen", self.criterion_text(), "diverged lrs"],
                     rows)

    def edges(self) -> list[str]:
        """A warning for each optimizer whose chosen lr is the first or last of the grid, with the
        ``--lrs`` that would extend the grid past it (see :func:`extended_lrs`)."""
        warnings = []
        for label, lr in self.chosen.items():
            if lr is None or len(self.lrs) < 2 or lr not in (self.lrs[0], self.lrs[-1]):
                continue
            largest = lr == self.lrs[-1]
            warnings.append(f"{label}'s best lr {lr:g} is the {'largest' if largest else 'smallest'} tried; "
                            f"try --lrs {extended_lrs(lr, len(self.lrs), largest=largest)}")
        return warnings


def extended_lrs(lr: float, count: int, *, largest: bool) -> str:
    """``--lrs`` past an edge of the grid: from whole decades one inside the edge ``lr`` to two beyond it
    (``10`` the largest -> ``1:1000``), the same count.

    >>> extended_lrs(10.0, 26, largest=True)
    '1:1000:26'
    >>> extended_lrs(1e-4, 26, largest=False)
    '1e-6:0.001:26'
    """
    decade = round(math.log10(lr), 9)
    first, last = (decade - 1, decade + 2) if largest else (decade - 2, decade + 1)
    return f"{_decimal(10.0 ** math.floor(first))}:{_decimal(10.0 ** math.ceil(last))}:{count}"


def _decimal(value: float) -> str:
    return f"{value:g}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


def budget_line(budget: dict[str, Any]) -> str:
    """The budget of :meth:`Tuning.budget` in one line."""
    runs, gradients = budget["runs"], budget["gradient_evaluations"]
    plural = "s" if budget["optimizers"] != 1 else ""
    if "seeds" in budget:
        return (f"budget: {budget['lrs']} lrs x {budget['seeds']} seed{'s' if budget['seeds'] != 1 else ''} = "
                f"{runs['per_optimizer']:,} runs of {budget['epochs']} epochs ({budget['steps']:,} minibatch steps) "
                f"per optimizer, {gradients['per_optimizer']:,} minibatch gradients; {budget['optimizers']} "
                f"optimizer{plural}: {runs['total']:,} runs, {gradients['total']:,} gradients")
    return (f"budget: {budget['lrs']} lrs x {budget['starts']} start{'s' if budget['starts'] != 1 else ''} x "
            f"{budget['noise_seeds']} noise seed{'s' if budget['noise_seeds'] != 1 else ''} = "
            f"{runs['per_optimizer']:,} runs of {budget['steps']:,} steps per optimizer, "
            f"{gradients['per_optimizer']:,} gradient evaluations; {budget['optimizers']} optimizer{plural}: "
            f"{runs['total']:,} runs, {gradients['total']:,} gradient evaluations")
