"""``optviz explain``: the seed lesson's own demonstrations, drawn from the library."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import ConfigError
from ..render.ewma import save_ewma
from ..results.ewma import DEFAULT_BETAS, DEFAULT_STEPS, EwmaWeights, ewma_weights

SUFFIXES = (".png", ".svg", ".pdf")


def explain_momentum(out: str | Path = "ewma.png", betas: Sequence[float] = DEFAULT_BETAS, *,
                     steps: int = DEFAULT_STEPS, dpi: int = 110) -> tuple[list[EwmaWeights], Path]:
    """Write the seed's momentum.py figure, the weights (1 - beta) beta^t for each beta, to ``out``;
    returns the weights and the path written."""
    path = Path(out)
    if path.suffix.lower() not in SUFFIXES:
        raise ConfigError(f"--out: {path} must end in {', '.join(SUFFIXES)}")
    curves = ewma_weights(betas, steps=steps)
    return curves, save_ewma(curves, path, dpi=dpi)
