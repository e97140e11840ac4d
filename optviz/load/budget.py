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
from .record import AUTO_INTERNALS_BYTES, internals_bytes, record_bytes

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
    "internals": ("record.internals", "record no optimizer internals (record.internals: false) or fewer steps"),
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


def estimate(config: Config, dim: int, starts: int, every: int, *, internals: bool = False) -> Estimate:
    """The memory a run of ``config`` with ``starts`` starts of ``dim`` coordinates needs, by part
    (with ``internals``, the optimizers' recorded state too)."""
    itemsize = 4 if config.dtype == "float32" else 8
    width, height = config.render.size
    pixels = int(width * config.render.dpi) * int(height * config.render.dpi)
    return Estimate({
        "figures": pixels * FIGURE_BYTES_PER_PIXEL + config.render.resolution**2 * 8 * 8,
        "records": record_bytes(config, starts, dim, every),
        "engine": starts * (dim + 4) * itemsize * ENGINE_BYTES_PER_VALUE,
        "summary": starts * len(config.optimizers) * SUMMARY_BYTES_PER_ROW,
        **({"internals": internals_bytes(config, starts, dim, every)} if internals else {}),
    })


def internals_choice(config: Config, dim: int, starts: int, every: int,
                     budget: int = MEMORY_BUDGET) -> tuple[Estimate, str | None]:
    """The run's estimate with the optimizers' internals when they are recorded, and why not (a
    sentence for the terminal) when ``record.internals`` is left out and they do not fit.

    Left out, internals are recorded when they take at most :data:`AUTO_INTERNALS_BYTES` and the run
    stays within ``budget``; ``record.internals: true`` asks for them whatever they take (the budget
    still refuses the run), ``false`` never records them. Which of these it is: ``"internals"`` in
    the estimate's parts.
    """
    without = estimate(config, dim, starts, every)
    wanted = config.record.internals
    if wanted is False:
        return without, None
    with_them = estimate(config, dim, starts, every, internals=True)
    if wanted is None:
        needed = with_them.parts["internals"]
        if needed > AUTO_INTERNALS_BYTES or with_them.total > budget:
            limit = (f"more than the {_size(AUTO_INTERNALS_BYTES)} optviz records them in" if needed > AUTO_INTERNALS_BYTES
                     else f"which would take the run past its memory budget ({_size(budget)})")
            return without, (f"optimizer internals (state, gradient, update) not recorded: they would take "
                             f"{_size(needed)}, {limit}; record fewer steps (record.every) or starts, or set "
                             "record.internals: true")
    return with_them, None


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
