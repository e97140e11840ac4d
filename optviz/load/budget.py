"""What a run will take in memory, estimated before any work starts, and the budget it must fit.

The big parts grow with what a config asks for: figures with their pixels (render.size
x render.dpi, squared), recorded steps with starts x records, the engine and the
summary with the number of starts. A config whose estimate exceeds
:data:`MEMORY_BUDGET` is refused with the estimate and the setting to change, rather
than ending in an out-of-memory crash part-way through a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config
from ..errors import ConfigError
from .record import record_bytes

MEMORY_BUDGET = 4 * 2**30
# Bytes per pixel a figure holds while it is drawn and written: the RGBA canvas, the copy
# the PNG/GIF writer makes, and matplotlib's renderer state.
FIGURE_BYTES_PER_PIXEL = 16
# Bytes per start and coordinate the engine holds for one optimizer: the parameter, its
# gradient, two state tensors and the temporaries of a step.
ENGINE_BYTES_PER_VALUE = 8
# Bytes per (optimizer, start) row of the summary: numpy columns, then Python strings for summary.csv.
SUMMARY_BYTES_PER_ROW = 600
# What fixes each part, for the message that refuses it.
KNOBS = {
    "figures": ("render", "use a smaller render.size or render.dpi"),
    "records": ("record.every", "record fewer steps (a larger record.every)"),
    "engine": ("start", "use fewer starts"),
    "summary": ("start", "use fewer starts or fewer optimizers"),
}


@dataclass(frozen=True)
class Estimate:
    """Bytes a run is expected to need, by part: figures, records, engine, summary."""

    parts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        """``about 1.2 GB``: the total, in words."""
        return f"about {_size(self.total)}"

    def breakdown(self) -> str:
        """``records 0.8 GB, summary 0.3 GB, ...``: the parts, largest first."""
        parts = sorted(self.parts.items(), key=lambda item: -item[1])
        return ", ".join(f"{name} {_size(size)}" for name, size in parts)


def estimate(config: Config, dim: int, starts: int, every: int) -> Estimate:
    """The memory a run of ``config`` with ``starts`` starts of ``dim`` coordinates needs, by part."""
    itemsize = 4 if config.dtype == "float32" else 8
    width, height = config.render.size
    pixels = int(width * config.render.dpi) * int(height * config.render.dpi)
    return Estimate({
        "figures": pixels * FIGURE_BYTES_PER_PIXEL + config.render.resolution**2 * 8 * 8,
        "records": record_bytes(config, starts, dim, every),
        "engine": starts * (dim + 4) * itemsize * ENGINE_BYTES_PER_VALUE,
        "summary": starts * len(config.optimizers) * SUMMARY_BYTES_PER_ROW,
    })


def check_budget(found: Estimate, budget: int = MEMORY_BUDGET) -> None:
    """Refuse an estimate over ``budget`` with one line naming it, its largest part and what to change."""
    if found.total <= budget:
        return
    largest = max(found.parts, key=found.parts.get)
    path, advice = KNOBS[largest]
    raise ConfigError(f"this run would need {found.describe()} of memory ({found.breakdown()}), more than "
                      f"optviz allows ({_size(budget)}); {advice}", path=path)


def _size(size: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"
