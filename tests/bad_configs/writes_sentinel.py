"""Imported only if --safe failed: leaves a file behind that the safety tests look for."""

import os
from pathlib import Path

Path(os.environ.get("OPTVIZ_SENTINEL", "optviz-sentinel")).write_text("imported")


def surface(x, y):
    return x**2 + y**2


MyAdam = None
