"""A checked config and what it resolves to: the value every run starts from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..config import Config
from ..problems import Noise, TestFunction, function_of, plot_domain
from .budget import Estimate
from .checks import check_config
from .record import tolerance

if TYPE_CHECKING:
    from .sweep import Sweep


@dataclass(frozen=True)
class Loaded:
    """A checked config and what it resolves to: everything a run or a sweep starts from."""

    config: Config
    function: TestFunction
    domain: np.ndarray  # (dim, 2): the box the figures show
    starts: np.ndarray  # (starts, dim)
    record_every: int  # the thinning in force (record.every, or what fits the memory budget)
    tolerance: float  # the distance to a known minimum that counts as converged
    memory: Estimate  # what the run is expected to need, by part
    # Record the optimizers' state, gradient and update (optviz.results.internals); when record.internals
    # is left out and they do not fit, why not, in a sentence.
    internals: bool = False
    internals_skipped: str | None = None
    sweep: Sweep | None = None  # the expanded sweep block, if the config has one and it was planned
    noise: Noise | None = None  # gradient noise and minibatches (noise:), each start run under every noise seed


def resolve(config: Config) -> Loaded:
    """Check ``config`` as one run and resolve its function, starts and records; raises :class:`ConfigError`.

    A ``sweep`` block is left unplanned (see :func:`optviz.load.prepare`).
    """
    function = function_of(config)
    starts, every, memory, skipped = check_config(config, function)
    return Loaded(config=config, function=function, domain=plot_domain(config.domain, function), starts=starts,
                  record_every=every, tolerance=tolerance(config, function), memory=memory,
                  internals="internals" in memory.parts, internals_skipped=skipped,
                  noise=Noise.of(config.noise) if config.noise else None)
