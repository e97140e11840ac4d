"""Moving lines redrawn from what Agg was asked the first time, with only their data new.

``Line2D.draw`` spends most of its time on the way to the renderer: it recaches the
data, builds a transformed path, a graphics context, colours and marker transforms, and
then makes one or two renderer calls. In an animation a trail or a head changes only its
data from one frame to the next, so :class:`LineReplay` records the renderer calls of a
line's ordinary draw once and, while nothing but the data has changed, makes the same
calls again with a path of the new data. The calls are the ones ``Line2D.draw`` makes, with
the same arguments, so the pixels are the same as a full draw's.

A line is replayed only when it is a plain ``Line2D`` (not a subclass such as a 3D line), on a
transform with no non-linear part, with default draw style, no ``markevery``, no path
effects or sketch, and float data of up to 1000 points (beyond that matplotlib may draw only
the visible slice of sorted data). Its style is compared at every frame; any change is
drawn and recorded afresh.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.path import Path

# matplotlib draws only the visible slice of a line's sorted data above this many points.
_SUBSLICE_POINTS = 1000


class _NotReplayable(Exception):
    """The line called the renderer in a way the replay does not repeat."""


class _Recorder:
    """Passes a line's renderer calls through, keeping the two kinds a replay repeats."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def open_group(self, *args: Any, **kwargs: Any) -> None:
        self._renderer.open_group(*args, **kwargs)

    def close_group(self, *args: Any, **kwargs: Any) -> None:
        self._renderer.close_group(*args, **kwargs)

    def new_gc(self) -> Any:
        return self._renderer.new_gc()

    def points_to_pixels(self, points: float) -> float:
        return self._renderer.points_to_pixels(points)

    def draw_path(self, gc: Any, path: Path, transform: Any, rgbFace: Any = None) -> None:  # noqa: N803 - Agg's name
        self.calls.append(("draw_path", (self._kept(gc), transform, rgbFace)))
        self._renderer.draw_path(gc, path, transform, rgbFace)

    def draw_markers(self, gc: Any, marker_path: Path, marker_trans: Any, path: Path, trans: Any,
                     rgbFace: Any = None) -> None:  # noqa: N803 - Agg's name
        self.calls.append(("draw_markers", (self._kept(gc), marker_path, marker_trans, trans, rgbFace)))
        self._renderer.draw_markers(gc, marker_path, marker_trans, path, trans, rgbFace)

    def _kept(self, gc: Any) -> Any:
        """A copy of ``gc`` as it is now: a line changes its context between two calls (dashes
        over a gap colour)."""
        kept = self._renderer.new_gc()
        kept.copy_properties(gc)
        return kept

    def __getattr__(self, name: str) -> Any:
        if name.startswith("draw_"):
            raise _NotReplayable(name)
        return getattr(self._renderer, name)


class LineReplay:
    """Draws moving ``Line2D`` artists on ``renderer``, replaying their recorded calls where it can."""

    def __init__(self, renderer: Any) -> None:
        self._renderer = renderer
        self._recorded: dict[int, tuple[tuple[Any, ...], list[tuple[str, tuple[Any, ...]]]]] = {}
        self._refused: set[int] = set()

    def draw(self, line: Line2D) -> None:
        """Draw ``line`` as ``line.draw(renderer)`` would."""
        key = id(line)
        if key in self._refused:
            line.draw(self._renderer)
            return
        style = _style(line)
        data = _replayable_data(line)
        recorded = self._recorded.get(key)
        if data is not None and recorded is not None and same_style(recorded[0], style):
            self._replay(recorded[1], Path(data))
            line.stale = False
            return
        # A new line or a new style: check everything, draw it the ordinary way and record its calls.
        if data is None or not _replayable_kind(line):
            self._recorded.pop(key, None)
            line.draw(self._renderer)
            return
        recorder = _Recorder(self._renderer)
        try:
            line.draw(recorder)
        except _NotReplayable:
            # Nothing was drawn by the refused call; draw the line the ordinary way from now on.
            self._refused.add(key)
            self._recorded.pop(key, None)
            line.draw(self._renderer)
            return
        if len(data):  # an empty line makes no calls, which would replay as nothing for ever
            self._recorded[key] = (style, recorder.calls)
        else:
            self._recorded.pop(key, None)

    def _replay(self, calls: list[tuple[str, tuple[Any, ...]]], path: Path) -> None:
        renderer = self._renderer
        renderer.open_group("line2d", None)
        for name, args in calls:
            if name == "draw_path":
                gc, transform, face = args
                renderer.draw_path(gc, path, transform, face)
            else:
                gc, marker_path, marker_trans, transform, face = args
                renderer.draw_markers(gc, marker_path, marker_trans, path, transform, face)
        renderer.close_group("line2d")


def _replayable_kind(line: Line2D) -> bool:
    """Whether the way ``line`` is drawn, data aside, is one a replay repeats exactly. All it
    reads is part of :data:`_style`, so it is asked again only when the style changes."""
    return (type(line) is Line2D and line.get_visible() and line.get_drawstyle() == "default"
            and line.get_markevery() is None and not line.get_path_effects() and line.get_sketch_params() is None
            and line.get_transform().is_affine and line.get_gid() is None)


def _replayable_data(line: Line2D) -> np.ndarray | None:
    """The line's points as ``(n, 2)`` floats when they are plain numbers a replay draws exactly,
    else None."""
    x, y = line.get_xdata(orig=True), line.get_ydata(orig=True)
    if type(x) is not np.ndarray or type(y) is not np.ndarray or x.dtype.kind not in "fiu" \
            or y.dtype.kind not in "fiu" or x.ndim != 1 or x.shape != y.shape or len(x) > _SUBSLICE_POINTS:
        return None
    # What Line2D.recache builds: the points as one float array, the path's vertices.
    points = np.empty((len(x), 2))
    points[:, 0] = x
    points[:, 1] = y
    return points


# What the renderer calls of ``Line2D.draw`` depend on, besides the data: its style, read in one
# call from the attributes its setters write (matplotlib is pinned, so their names hold). A
# new marker, clip box or transform is a new object; the view itself must stay put, as the
# cached background already requires.
_style = operator.attrgetter(
    "_color", "_alpha", "_linewidth", "_linestyle", "_dash_pattern", "_unscaled_dash_pattern", "_gapcolor",
    "_dashcapstyle", "_dashjoinstyle", "_solidcapstyle", "_solidjoinstyle", "_antialiased", "_snap", "_url",
    "_marker", "_markersize", "_markeredgewidth", "_markeredgecolor", "_markerfacecolor", "_markerfacecoloralt",
    "_clipon", "clipbox", "_clippath", "_transform", "_visible", "_drawstyle", "_markevery", "_path_effects",
    "_sketch", "_gid",
)


def same_style(first: tuple[Any, ...], second: tuple[Any, ...]) -> bool:
    """Whether two styles are equal; a comparison with no single answer (a colour given as an
    array, say) counts as a change."""
    try:
        return bool(first == second)
    except (TypeError, ValueError):
        return False
