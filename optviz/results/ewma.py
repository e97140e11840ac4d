"""Momentum as an exponentially weighted average: the weight each past gradient gets.

A buffer m_t = beta m_{t-1} + (1 - beta) g_t holds sum_k (1 - beta) beta^k g_{t-k}: the gradient k steps
back weighs (1 - beta) beta^k. The weights sum to 1 - beta^T over T steps (to 1 in the long run),
and they fall to 1/e of the newest one's after about 1/(1 - beta) steps, the average's memory.
The seed lesson's momentum.py draws them for beta = 0.98, 0.95, 0.9 and 0.8 over 100 steps.
(torch's SGD leaves out the factor 1 - beta, ``dampening`` = 0: the same weights, times 1/(1 - beta).)

>>> ewma_weights([0.9], steps=3)[0].weights.round(4).tolist()
[0.1, 0.09, 0.081]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError

# The seed lesson's betas and its 100 points.
DEFAULT_BETAS = (0.98, 0.95, 0.9, 0.8)
DEFAULT_STEPS = 100


@dataclass(frozen=True)
class EwmaWeights:
    """The weights (1 - beta) beta^t of the gradients t = 0 .. steps - 1 steps back, for one beta."""

    beta: float
    steps: np.ndarray  # t
    weights: np.ndarray

    @property
    def total(self) -> float:
        """Their sum, 1 - beta^steps: what share of the average the steps shown hold."""
        return float(self.weights.sum())

    @property
    def memory(self) -> float:
        """1 / (1 - beta): about how many steps back the average remembers."""
        return 1.0 / (1.0 - self.beta)

    def total_text(self, minus: str = "-") -> str:
        """The sum to 5 digits, or ``1 - 2e-10`` where that would read as exactly 1."""
        if round(self.total, 5) < 1:
            return f"{self.total:.5g}"
        return f"1 {minus} {self.beta ** len(self.weights):.2g}"

    def describe(self) -> str:
        """One line: ``beta 0.9: the 100 weights sum to 0.99997; memory about 1/(1 - beta) = 10 steps``."""
        return (f"beta {self.beta:g}: the {len(self.weights)} weights sum to {self.total_text()}; "
                f"memory about 1/(1 - beta) = {self.memory:.3g} steps")


def ewma_weights(betas: Sequence[float] = DEFAULT_BETAS, *, steps: int = DEFAULT_STEPS) -> list[EwmaWeights]:
    """The weights for each of ``betas`` over ``steps`` steps, in the order given.

    A beta outside (0, 1), or fewer than 2 or more than 100,000 steps, is a :class:`ConfigError`.
    """
    if not betas:
        raise ConfigError("--beta: give one beta or more, e.g. --beta 0.98 0.95 0.9 0.8")
    for beta in betas:
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and 0 < beta < 1):
            raise ConfigError(f"--beta: each beta must lie between 0 and 1 (exclusive), got {beta!r}")
    if len(set(betas)) != len(betas):
        raise ConfigError(f"--beta: each beta once, got {', '.join(f'{beta:g}' for beta in betas)}")
    if not 2 <= steps <= 100_000:
        raise ConfigError(f"--steps: must be between 2 and 100000, got {steps}")
    t = np.arange(steps)
    return [EwmaWeights(beta=float(beta), steps=t, weights=(1.0 - beta) * float(beta) ** t) for beta in betas]
