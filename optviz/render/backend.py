"""matplotlib, imported here before any renderer, so an unusable ``MPLBACKEND`` is one line naming
the variable instead of a traceback from inside matplotlib's import."""

from __future__ import annotations

import os
import sys

from ..errors import RunError

try:
    import matplotlib  # noqa: F401 - imported for its check of MPLBACKEND
except ValueError as error:
    if "backend" not in str(error) or "MPLBACKEND" not in os.environ:
        raise
    raise RunError(f"MPLBACKEND={os.environ['MPLBACKEND'][:80]!r} is not a matplotlib backend; unset it, "
                   "or set it to one matplotlib knows, e.g. MPLBACKEND=Agg") from None


def check_display() -> None:
    """Refuse a live window (``--show``) that could not open: a non-interactive backend such as
    Agg, or Linux with neither ``DISPLAY`` nor ``WAYLAND_DISPLAY`` set; a :class:`RunError` saying which."""
    from matplotlib.backends import BackendFilter, backend_registry

    backend = matplotlib.get_backend().lower()  # resolves the automatic choice, which is Agg without a display
    if backend in backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE):
        raise RunError(f"--show needs a window, but matplotlib's backend is {backend}, which cannot open one; "
                       "set MPLBACKEND to an interactive backend (e.g. TkAgg), or drop --show to write a file")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RunError("--show needs a display, but neither DISPLAY nor WAYLAND_DISPLAY is set; "
                       "drop --show to write a file")
