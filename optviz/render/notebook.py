"""The race shown inline in a notebook: optviz's own GIF or MP4 writer, embedded as a data URI.

``live_animation(result).to_jshtml()`` draws every frame through matplotlib and embeds each
as a PNG: for the peaks demo's 101 frames about 20 s and 17 MB, and matplotlib drops frames
past its 20 MB limit. :func:`show_animation` embeds the file ``optviz animate`` would write
(a single GIF with a global palette, or an H.264 MP4) in an ``<img>`` or ``<video>`` tag.
"""

from __future__ import annotations

import base64
import html
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import write_bytes
from ..errors import ConfigError, quote
from ..load.checks import check_animation
from ..results import RunResult
from .animate import build_scene

FORMATS = {"gif": "image/gif", "mp4": "video/mp4"}


@dataclass(frozen=True)
class InlineAnimation:
    """An animation's bytes, which Jupyter shows inline (an ``<img>`` for a GIF, a ``<video>`` for an MP4).

    ``data`` is the file's bytes, ``format`` ``"gif"`` or ``"mp4"``, ``frames`` how many frames it has.
    """

    data: bytes
    format: str
    frames: int
    fps: float

    @property
    def mimetype(self) -> str:
        return FORMATS[self.format]

    def data_uri(self) -> str:
        """``data:image/gif;base64,...``: the file, embeddable in any page."""
        return f"data:{self.mimetype};base64,{base64.b64encode(self.data).decode('ascii')}"

    def _repr_html_(self) -> str:
        title = html.escape(f"optviz animation, {self.frames} frames at {self.fps:g} fps", quote=True)
        if self.format == "gif":
            return f'<img src="{self.data_uri()}" alt="{title}" title="{title}"/>'
        # muted: browsers autoplay only silent videos; playsinline keeps phones from going full screen.
        return (f'<video controls="" autoplay="" loop="" muted="" playsinline="" title="{title}" '
                f'src="{self.data_uri()}"></video>')

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/html": self._repr_html_(), "text/plain": repr(self)}

    def __repr__(self) -> str:
        return f"<InlineAnimation {self.format}, {self.frames} frames, {len(self.data):,} bytes>"

    def save(self, path: str | Path) -> Path:
        """Write the animation to ``path`` (written whole or not at all) and return the path."""
        return write_bytes(path, self.data)


def show_animation(result: RunResult, *, fmt: str = "gif", frames: int | None = None, fps: float | None = None,
                   trail: int | None = None, view: str | None = None, quiver: bool | None = None) -> InlineAnimation:
    """The race of ``result``'s optimizers, as an object a notebook shows inline; see :class:`InlineAnimation`.

    The options are ``optviz animate``'s and default to the config's ``render.animation``. The
    file is written by :func:`optviz.render.frames.save_animation` into a temporary folder and
    read back, so what a notebook shows is exactly what ``optviz animate`` writes.

    >>> import optviz
    >>> result = optviz.run(optviz.load_config("configs/peaks.yaml"))   # doctest: +SKIP
    >>> optviz.show_animation(result, frames=50)                         # doctest: +SKIP
    """
    from .frames import save_animation as write_frames

    if fmt not in FORMATS:
        raise ConfigError(f"fmt: must be gif or mp4, got {quote(fmt)}")
    animation = result.config.render.animation
    check_animation(result.function, view or animation.view, animation.quiver if quiver is None else quiver)
    scene = build_scene(result, frames=frames, trail=trail, view=view, quiver=quiver)
    fps = fps or animation.fps
    with tempfile.TemporaryDirectory(prefix="optviz-") as folder:
        path = write_frames(scene.figure, scene.update, scene.frames, Path(folder) / f"animation.{fmt}", fps=fps)
        data = path.read_bytes()
    return InlineAnimation(data=data, format=fmt, frames=len(scene.frames), fps=fps)
