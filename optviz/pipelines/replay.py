"""Saying so when a written config cannot replay its run: it names objects defined in a notebook."""

from __future__ import annotations

import warnings
from pathlib import Path

from ..config import Config
from ..errors import OptvizWarning
from ..load.resolved import not_replayable


def warn_not_replayable(config: Config, written: Path, what: str = "run") -> list[str]:
    """Warn (:class:`OptvizWarning`) that ``written`` cannot replay ``config``: it holds objects defined in
    a notebook. Returns the warning, for the manifest; [] when the YAML replays the run."""
    missing = not_replayable(config)
    if not missing:
        return []
    message = f"{written} cannot replay this {what} from YAML: {'; '.join(missing)}"
    warnings.warn(message, OptvizWarning, stacklevel=3)
    return [message]
