"""What tuning found: each optimizer's scores over the lrs tried, and the lr chosen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config import Config
from ..problems import TestFunction
from .scores import CRITERION_TEXT, HIGHER_IS_BETTER, Score


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

    def values(self, label: str) -> np.ndarray:
        """The criterion for each lr (+inf where half the starts or more diverged)."""
        return np.array([score.value(self.criterion) for score in self.scores[label]])

    @property
    def network(self) -> bool:
        return self.config.problem is not None

    def how(self) -> str:
        """How the lrs were chosen, in words."""
        first, last = self.lrs[0], self.lrs[-1]
        if self.network:
            best = "highest" if self.criterion in HIGHER_IS_BETTER else "lowest"
            seeds = f"{self.starts} seed{'s' if self.starts != 1 else ''}"
            return (f"the {best} {CRITERION_TEXT[self.criterion]} (diverged seeds worst) over {seeds}, "
                    f"of {len(self.lrs)} lrs from {first:g} to {last:g}")
        return (f"the lowest {CRITERION_TEXT[self.criterion]} (diverged starts worst) over {self.starts} random "
                f"starts, of {len(self.lrs)} lrs from {first:g} to {last:g}")

    def note(self) -> str:
        """The line every figure of the tuned run carries."""
        chosen = ", ".join(f"{label} {lr:.3g}" if lr is not None else f"{label} as given (every lr diverged)"
                           for label, lr in self.chosen.items())
        return f"lrs tuned by optviz tune, each {self.how()}: {chosen}"
