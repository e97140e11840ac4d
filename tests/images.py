"""Test helpers for pictures: the frames FuncAnimation draws."""

from __future__ import annotations

import numpy as np
from matplotlib.animation import AbstractMovieWriter


class FrameGrabber(AbstractMovieWriter):
    """A movie writer that keeps the frames FuncAnimation drew, as RGB arrays."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[np.ndarray] = []

    def setup(self, fig, outfile, dpi=None) -> None:  # abstract, though the base does the work
        super().setup(fig, outfile, dpi)

    def grab_frame(self, **savefig_kwargs) -> None:
        self.frames.append(np.asarray(self.fig.canvas.buffer_rgba())[..., :3].copy())

    def finish(self) -> None:
        pass
