"""A progress bar on stderr for long work: optimizers run, figures drawn, frames rendered.

One line, redrawn in place and erased when the work is done, so the CLI's own
report follows on a clean line. When the stream is not a terminal (a pipe, a log
file, a batch job), a long command instead prints a plain line every
:data:`HEARTBEAT` seconds saying what it is doing, so a log never sits silent for
minutes. Nothing is written when the user asked for ``--quiet``::

    with ProgressBar.for_terminal(quiet=False) as bar:
        result = run(config, progress=bar.runs)                  # (label, done, total)
        save_figures(result, out_dir, progress=bar.figures)      # (name, done, total)
        save_animation(result, "race.gif", progress=bar.frames)  # (done, total)
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

# Redraws closer together than this are skipped: a GIF frame takes a few milliseconds.
_INTERVAL = 0.1
_WIDTH = 24
# Without a terminal: a line every this many seconds while the work goes on
# (OPTVIZ_HEARTBEAT=SECONDS changes it; 0 turns it off).
HEARTBEAT = 10.0


class ProgressBar:
    """``frames  [##########..............]  41/101`` on one line of ``stream``; a no-op when disabled."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic, heartbeat: float | None = None) -> None:
        """``clock`` gives the time in seconds that paces redraws; a test passes its own to step it.

        With ``heartbeat`` (seconds) and ``enabled`` false, a background thread prints the
        latest progress as a plain line every ``heartbeat`` seconds instead of a bar.
        """
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.clock = clock
        self._shown = ""  # the line on screen now, erased before the next or at the end
        self._task: tuple[str, str, int] | None = None
        self._drawn_at = 0.0
        self._latest = "starting"
        self._stopped = threading.Event()
        self._beating = None
        if heartbeat is not None and not enabled:
            started = time.monotonic()
            self._beating = threading.Thread(target=self._beat, args=(heartbeat, started), daemon=True)
            self._beating.start()

    @classmethod
    def for_terminal(cls, *, quiet: bool = False, stream: TextIO | None = None,
                     clock: Callable[[], float] = time.monotonic) -> "ProgressBar":
        """A bar that draws only when ``stream`` (stderr by default) is a terminal and not ``quiet``."""
        stream = stream if stream is not None else sys.stderr
        interactive = bool(getattr(stream, "isatty", lambda: False)())
        return cls(stream, enabled=interactive and not quiet, clock=clock,
                   heartbeat=None if quiet or interactive else _heartbeat())

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
        if total <= 0:
            return
        self._latest = f"{what} {done}/{total}{f' ({detail})' if detail else ''}"
        if not self.enabled:
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
        """Erase the bar, leaving the cursor at the start of an empty line; stop the heartbeat."""
        self._stopped.set()
        if self._beating is not None:
            self._beating.join()
        if self._shown:
            self._write("")

    def _beat(self, every: float, started: float) -> None:
        while not self._stopped.wait(every):
            self.stream.write(f"optviz: still working after {time.monotonic() - started:.0f} s: {self._latest}\n")
            self.stream.flush()

    def _write(self, line: str) -> None:
        # Pad over the previous line's tail, then return to the line start.
        self.stream.write("\r" + line.ljust(len(self._shown)) + ("\r" if not line else ""))
        self.stream.flush()
        self._shown = line

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _heartbeat() -> float | None:
    """Seconds between plain progress lines: OPTVIZ_HEARTBEAT if set (0: none), else :data:`HEARTBEAT`."""
    import os

    try:
        seconds = float(os.environ.get("OPTVIZ_HEARTBEAT", HEARTBEAT))
    except ValueError:
        seconds = HEARTBEAT
    return seconds if seconds > 0 else None
