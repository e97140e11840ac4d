"""A progress bar on stderr for long work: optimizers run, figures drawn, frames rendered.

One line, redrawn in place and erased when the work is done, so the CLI's own
report follows on a clean line. Nothing is written when the stream is not a
terminal (a pipe, a log file, CI) or when the user asked for ``--quiet``::

    with ProgressBar.for_terminal(quiet=False) as bar:
        result = run(config, progress=bar.runs)                  # (label, done, total)
        save_figures(result, out_dir, progress=bar.figures)      # (name, done, total)
        save_animation(result, "race.gif", progress=bar.frames)  # (done, total)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

# Redraws closer together than this are skipped: a GIF frame takes a few milliseconds.
_INTERVAL = 0.1
_WIDTH = 24


class ProgressBar:
    """``frames  [##########..............]  41/101`` on one line of ``stream``; a no-op when disabled."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` gives the time in seconds that paces redraws; a test passes its own to step it."""
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.clock = clock
        self._shown = ""  # the line on screen now, erased before the next or at the end
        self._task: tuple[str, str, int] | None = None
        self._drawn_at = 0.0

    @classmethod
    def for_terminal(cls, *, quiet: bool = False, stream: TextIO | None = None,
                     clock: Callable[[], float] = time.monotonic) -> "ProgressBar":
        """A bar that draws only when ``stream`` (stderr by default) is a terminal and not ``quiet``."""
        stream = stream if stream is not None else sys.stderr
        interactive = bool(getattr(stream, "isatty", lambda: False)())
        return cls(stream, enabled=interactive and not quiet, clock=clock)

    def runs(self, label: str, done: int, total: int) -> None:
        """Engine progress: called as each optimizer starts, ``done`` of ``total`` finished."""
        self.update("runs", done, total, detail=label)

    def figures(self, name: str, done: int, total: int) -> None:
        """Figure progress: called as each figure starts, ``done`` of ``total`` drawn."""
        self.update("figures", done, total, detail=name)

    def frames(self, done: int, total: int) -> None:
        """Animation progress: called after each frame."""
        self.update("frames", done, total)

    def update(self, what: str, done: int, total: int, *, detail: str = "") -> None:
        """Show ``done`` of ``total`` ``what``; the first and last calls of a task always draw."""
        if not self.enabled or total <= 0:
            return
        filled = round(_WIDTH * min(done, total) / total)
        line = f"{what:<8}[{'#' * filled}{'.' * (_WIDTH - filled)}] {done}/{total}"
        if detail:
            line += f"  {detail}"
        now = self.clock()
        # A new task, the next optimizer or the last frame always shows; other frames every _INTERVAL.
        news = done in (0, total) or (what, detail, total) != self._task
        if not news and now - self._drawn_at < _INTERVAL:
            return
        self._write(line)
        self._task = (what, detail, total)
        self._drawn_at = now

    def close(self) -> None:
        """Erase the bar, leaving the cursor at the start of an empty line."""
        if self._shown:
            self._write("")

    def _write(self, line: str) -> None:
        # Pad over the previous line's tail, then return to the line start.
        self.stream.write("\r" + line.ljust(len(self._shown)) + ("\r" if not line else ""))
        self.stream.flush()
        self._shown = line

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
