"""Fast animation frames: draw a figure's static layers once, blit what moves, encode.

``FuncAnimation.save`` redraws the whole figure for every frame, although for
an optimizer race on a contour map almost all of it is static background.
Here the background is drawn once and cached; each frame restores it where
the moving artists can draw (their clip boxes, usually the Axes) and draws
only them over it; static artists that a full draw paints on top of them
(spines, a legend inside the Axes) are laid back over them.  Moving text is
drawn from cached glyphs (:mod:`optviz.render.glyphs`) and moving lines by
replaying their renderer calls with new data (:mod:`optviz.render.fastlines`),
both pixel for pixel as their own draws.  A GIF gets one palette for the whole
animation; each frame looks for changed pixels only where the moving artists
can draw, quantizes only those and stores their box, with unchanged pixels
transparent.

``update`` and ``init`` are the functions ``FuncAnimation`` takes with
``blit=True``: they change artists (``set_data``, ``set_text``) and return them.
"""

from __future__ import annotations

import contextlib
import copy
import os
import queue
import secrets
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import imageio.v2 as imageio
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from PIL import GifImagePlugin, Image

from optviz.errors import ConfigError, RunError
from optviz.render.fastlines import LineReplay
from optviz.render.glyphs import GlyphRenderer, TextReplay, union

Update = Callable[[Any], Iterable[Artist] | None]
Init = Callable[[], Iterable[Artist] | None]
Progress = Callable[[int, int], None]

FORMATS = ("gif", "mp4")

# Frames the GIF palette is built from, spread evenly from first to last: the
# first shows the bare background, the last every trail at full length.
_PALETTE_SAMPLES = 5
# The palette keeps the last of the 256 GIF colour indices free, to mark
# pixels that did not change since the previous frame.
_TRANSPARENT = 255


def render_frames(
    fig: Figure,
    update: Update,
    frames: int | Iterable[Any],
    *,
    animated: Iterable[Artist] | None = None,
    init: Init | None = None,
) -> Iterator[np.ndarray]:
    """Yield an RGB ``uint8`` array ``(height, width, 3)`` of ``fig`` for each frame.

    ``frames`` is a count (meaning ``range(frames)``) or the items to pass to
    ``update`` one by one.  The artists that ``init`` and ``update`` of the
    first frame return, plus ``animated``, are the moving ones: a background
    without them is drawn once, and they are drawn over it for each frame,
    under the static artists a full draw paints above them (spines, a
    legend), so that the frame matches ``fig.canvas.draw()`` of that state.  The
    view must stay put (no changing limits or 3D angles), and ``update``
    must draw a frame from its argument alone, like ``FuncAnimation``'s
    (the first frame is drawn once more before the others).  A frame is
    ``fig.get_size_inches() * fig.dpi`` pixels.

    >>> from matplotlib.figure import Figure
    >>> fig = Figure(figsize=(2, 1), dpi=50)
    >>> line, = fig.add_subplot().plot([], [])
    >>> def update(step):
    ...     line.set_data(range(step + 1), range(step + 1))
    ...     return [line]
    >>> [frame.shape for frame in render_frames(fig, update, 2)]
    [(50, 100, 3), (50, 100, 3)]
    """
    with contextlib.closing(_blit(fig, update, _as_sequence(frames), animated, init)) as drawn:
        for rgba, _ in drawn:
            yield np.array(_rgb_image(rgba))


def save_animation(
    fig: Figure,
    update: Update,
    frames: int | Iterable[Any],
    path: str | os.PathLike[str],
    *,
    fps: float = 10,
    init: Init | None = None,
    animated: Iterable[Artist] | None = None,
    format: str | None = None,
    loop: int | None = 0,
    progress: Progress | None = None,
) -> Path:
    """Render ``frames`` as :func:`render_frames` does, write them to ``path`` and return it.

    ``format`` (by default the suffix of ``path``) is ``"gif"``: one global
    palette, played ``loop`` more times (0: for ever, None: once); or
    ``"mp4"``: H.264 in yuv420p, which needs an even width and height, so an
    odd one loses its last pixel column or row.  The file appears only when
    complete: it is written beside ``path`` under a temporary name, renamed
    at the end, and deleted on any error or interrupt, leaving what was at
    ``path`` untouched.  ``progress(done, total)`` is called after each frame.
    For a GIF, a few frames from first to last are drawn beforehand to choose
    the palette.
    """
    path = Path(path)
    kind = (format or path.suffix.lstrip(".")).lower()
    if kind not in FORMATS:
        raise ConfigError(
            f"cannot write {path}: unknown animation format {kind!r}; valid formats: {', '.join(FORMATS)}"
        )
    if not path.parent.is_dir():
        raise RunError(f"cannot write {path}: directory {path.parent} does not exist")
    sequence = _as_sequence(frames)
    # ffmpeg picks the container from the suffix, so the temporary name ends in the format.
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial.{kind}")
    try:
        if kind == "gif":
            _write_gif(fig, update, sequence, partial, init, animated, fps, loop, progress)
        else:
            _write_mp4(fig, update, sequence, partial, init, animated, fps, progress)
        os.replace(partial, path)
    except _EncoderFailed as error:
        partial.unlink(missing_ok=True)
        raise RunError(f"cannot write {path}: {error}") from None
    except OSError as error:  # a full disk, a folder where the file goes: named by the file asked for
        partial.unlink(missing_ok=True)
        raise RunError(f"{path}: cannot write: {error.strerror or error}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def live_animation(
    fig: Figure,
    update: Update,
    frames: int | Iterable[Any],
    *,
    init: Init | None = None,
    interval: float = 100,
    blit: bool = True,
) -> FuncAnimation:
    """Return a ``FuncAnimation`` of the frames :func:`save_animation` writes.

    For a window (``--show``) or a notebook (``anim.to_jshtml()``).  Keep a
    reference to it while it plays: matplotlib stops an animation that is
    garbage collected.
    """
    return FuncAnimation(
        fig, update, frames=_as_sequence(frames), init_func=init, interval=interval, blit=blit
    )


def _as_sequence(frames: int | Iterable[Any]) -> Sequence[Any]:
    if isinstance(frames, int):
        sequence: Sequence[Any] = range(frames)
    elif isinstance(frames, Sequence):
        sequence = frames
    else:
        sequence = list(frames)
    if not sequence:
        raise ValueError("no frames to animate")
    return sequence


def _blit(
    fig: Figure,
    update: Update,
    frames: Sequence[Any],
    animated: Iterable[Artist] | None,
    init: Init | None,
) -> Iterator[tuple[np.ndarray, tuple[slice, slice]]]:
    """Yield the canvas as an RGBA view after drawing each frame, and the rows and columns
    outside which it is the same as the frame before (the whole canvas for the first frame);
    the next frame overwrites it.

    Each frame restores the background only where the frame before drew: the clip boxes of the
    moving artists (see :func:`_drawing_area`) and the glyphs of the moving texts that are not
    clipped, or the whole canvas when something was drawn that cannot be bounded so.
    """
    with _agg_canvas(fig) as canvas:
        moving = _moving_artists(fig, update, frames[0], animated, init)
        covering = _covering_artists(fig, moving)
        with _animated([*moving, *covering]):
            if fig.get_layout_engine() is not None:
                # Constrained layout still nudges the Axes on the second draw; let it settle.
                canvas.draw()
            canvas.draw()
            rgba = np.asarray(canvas.buffer_rgba())
            background = rgba.copy()
            height, width = rgba.shape[:2]
            whole = (0, height, 0, width)
            clipped = _box(_drawing_area(moving, (height, width)), (height, width))
            covers = _Covers(_Cover(canvas, covering, background), (height, width))
            glyphs = GlyphRenderer(canvas.get_renderer())
            texts = TextReplay(glyphs)
            lines = LineReplay(canvas.get_renderer())
            drawn, always_whole = whole, False
            for position, frame in enumerate(frames):
                unknown = set(update(frame) or ()).difference(moving)
                if unknown:
                    raise ValueError(
                        f"update({frame!r}) returned artists that are part of the cached"
                        f" background: {sorted(map(str, unknown))}; return them from init or"
                        " from update of the first frame, or pass them in animated="
                    )
                # Outside what the last frame drew, the canvas is background and covering artists.
                restored = drawn
                rgba[_slices(restored)] = background[_slices(restored)]
                _draw(fig, moving, texts, lines)
                ink, complete = glyphs.take_ink()
                always_whole = always_whole or not complete
                drawn = whole if position == 0 or always_whole else _union(clipped, ink)
                if not _contains(restored, drawn):
                    # A text drew beyond what was restored (moved, grew, or was drawn by Agg): draw
                    # the frame again over the background there too.
                    restored = _union(restored, drawn)
                    rgba[_slices(restored)] = background[_slices(restored)]
                    _draw(fig, moving, texts, lines)
                    glyphs.take_ink()
                covers.within(restored).paint(rgba)
                yield rgba, _slices(restored)


def _drawing_area(moving: Sequence[Artist], shape: tuple[int, int]) -> tuple[slice, slice]:
    """The rows and columns of the canvas the moving artists other than unclipped texts can draw
    on: the union of their clip boxes, or the whole canvas when one of them is not clipped to a
    box. (Unclipped texts are bounded frame by frame by the glyphs they drew.)

    Agg's antialiasing touches the pixel next to a clip box's edge, rounded outwards; three
    pixels of margin keep that inside with room to spare.
    """
    height, width = shape
    bounded = [artist for artist in moving if not isinstance(artist, Text) or artist.get_clip_on()]
    boxes = [artist.get_clip_box() for artist in bounded]
    if not all(artist.get_clip_on() for artist in bounded) or any(box is None for box in boxes):
        return slice(None), slice(None)
    if not boxes:
        return slice(0, 0), slice(0, 0)
    x0, y0 = np.min([box.p0 for box in boxes], axis=0)
    x1, y1 = np.max([box.p1 for box in boxes], axis=0)
    # Display coordinates count up from the bottom; rows count down from the top.
    rows = slice(max(int(np.floor(height - y1)) - 3, 0), min(int(np.ceil(height - y0)) + 3, height))
    columns = slice(max(int(np.floor(x0)) - 3, 0), min(int(np.ceil(x1)) + 3, width))
    return rows, columns


def _box(area: tuple[slice, slice], shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """``(top, bottom, left, right)`` of rows and columns given as slices of a canvas of ``shape``;
    None when they hold no pixel."""
    (top, bottom, _), (left, right, _) = (part.indices(size) for part, size in zip(area, shape))
    return (top, bottom, left, right) if top < bottom and left < right else None


def _union(first: tuple[int, int, int, int] | None,
           second: tuple[int, int, int, int] | None) -> tuple[int, int, int, int] | None:
    """The smallest box holding both boxes (None: no pixel)."""
    return first if second is None else second if first is None else union(first, second)


def _contains(outer: tuple[int, int, int, int] | None, inner: tuple[int, int, int, int] | None) -> bool:
    if inner is None:
        return True
    return outer is not None and outer[0] <= inner[0] and outer[1] >= inner[1] and outer[2] <= inner[2] \
        and outer[3] >= inner[3]


def _slices(box: tuple[int, int, int, int] | None) -> tuple[slice, slice]:
    """The rows and columns of a box, as slices (empty for None)."""
    if box is None:
        return slice(0, 0), slice(0, 0)
    top, bottom, left, right = box
    return slice(top, bottom), slice(left, right)


def _moving_artists(
    fig: Figure,
    update: Update,
    first: Any,
    animated: Iterable[Artist] | None,
    init: Init | None,
) -> list[Artist]:
    """The artists to leave out of the background, in the order a full draw paints them."""
    found = list(init() or ()) if init else []
    found += update(first) or ()
    found += animated or ()
    if not found:
        raise ValueError(
            "update returned no artists: return the artists it changes (as FuncAnimation's"
            " func does with blit=True) or pass them in animated="
        )
    axes_order = {axes: position for position, axes in enumerate(fig.axes)}
    # A full draw paints Axes by Axes, each in zorder; figure-level artists come last.
    return sorted(
        dict.fromkeys(found),
        key=lambda artist: (axes_order.get(artist.axes, len(axes_order)), artist.get_zorder()),
    )


def _covering_artists(fig: Figure, moving: Sequence[Artist]) -> list[Artist]:
    """Static artists that a full draw paints over a moving one: spines, a legend, labels."""
    moving_set = set(moving)
    covering = []
    for parent in dict.fromkeys(artist.axes or fig for artist in moving):
        # Axes.draw and Figure.draw paint their patch first, then the rest in zorder.
        in_order = sorted(
            (child for child in parent.get_children() if child is not parent.patch),
            key=lambda child: child.get_zorder(),
        )
        first = next((i for i, child in enumerate(in_order) if child in moving_set), len(in_order))
        covering += [
            child
            for child in in_order[first + 1 :]
            if child not in moving_set and child.get_visible() and not child.get_animated()
        ]
    return covering


class _Cover:
    """The covering artists, kept out of the background and laid over each frame.

    Where no moving artist touched a pixel under them, the frame gets the full
    static picture back exactly; where one did, the covering artists, drawn once
    on a transparent layer, are blended over it.  Pixels are handled as uint32
    RGBA words, which numpy gathers and compares far faster than rows of bytes.
    """

    def __init__(self, canvas: FigureCanvasAgg, artists: Sequence[Artist], background: np.ndarray) -> None:
        fig = canvas.figure
        words = _words(np.asarray(canvas.buffer_rgba()))
        below = words.copy()
        _draw(fig, artists)
        static = words.copy()
        canvas.get_renderer().clear()
        _draw(fig, artists)
        layer = words.copy()
        words[:] = _words(background)
        self.pixels = np.flatnonzero(_bytes(layer)[:, 3])
        self.below = below[self.pixels]
        self.static = static[self.pixels]
        self.layer = _bytes(layer[self.pixels]).astype(np.int32)

    def within(self, changing: tuple[slice, slice], shape: tuple[int, int]) -> _Cover:
        """The covering pixels inside ``changing`` (rows, columns) of a canvas of ``shape``: once a
        frame has every covering pixel laid, only those are restored and drawn over again."""
        rows, columns = np.divmod(self.pixels, shape[1])
        (top, bottom, _), (left, right, _) = (part.indices(size) for part, size in zip(changing, shape))
        keep = (rows >= top) & (rows < bottom) & (columns >= left) & (columns < right)
        inside = copy.copy(self)
        inside.pixels, inside.below, inside.static, inside.layer = (
            self.pixels[keep], self.below[keep], self.static[keep], self.layer[keep])
        return inside

    def paint(self, rgba: np.ndarray) -> None:
        """Lay the covering artists over ``rgba``, the canvas after the moving artists are drawn."""
        words = _words(rgba)
        now = words[self.pixels]
        touched = np.flatnonzero(now != self.below)
        words[self.pixels] = self.static
        if touched.size:
            layer = self.layer[touched]
            alpha = layer[:, 3:]
            blended = _bytes(now[touched]).copy()
            blended[:, :3] = (layer[:, :3] * alpha + blended[:, :3] * (255 - alpha) + 127) // 255
            words[self.pixels[touched]] = blended.view(np.uint32).ravel()


class _Covers:
    """The covering pixels inside a box of the canvas, chosen once for each new box."""

    def __init__(self, cover: _Cover, shape: tuple[int, int]) -> None:
        self._cover = cover
        self._shape = shape
        self._chosen: tuple[tuple[int, int, int, int], _Cover] | None = None

    def within(self, box: tuple[int, int, int, int] | None) -> _Cover:
        if self._chosen is None or self._chosen[0] != box:
            self._chosen = (box, self._cover.within(_slices(box), self._shape))
        return self._chosen[1]


def _words(rgba: np.ndarray) -> np.ndarray:
    """A flat uint32 view of an RGBA image: one word per pixel."""
    return rgba.view(np.uint32).reshape(-1)


def _bytes(words: np.ndarray) -> np.ndarray:
    """The ``(pixels, 4)`` RGBA bytes of uint32 pixel words."""
    return words.view(np.uint8).reshape(-1, 4)


def _draw(fig: Figure, artists: Iterable[Artist], texts: TextReplay | None = None,
          lines: LineReplay | None = None) -> None:
    """Draw ``artists`` on the figure's canvas; text through ``texts`` and lines through
    ``lines`` when given."""
    renderer = fig.canvas.get_renderer()
    for artist in artists:
        if hasattr(artist, "do_3d_projection"):
            # Axes3D.draw projects 3D collections; drawing artists one by one skips it.
            artist.do_3d_projection()
        if lines is not None and isinstance(artist, Line2D):
            lines.draw(artist)
        elif texts is not None and isinstance(artist, Text):
            texts.draw(artist)
        else:
            artist.draw(renderer)


@contextlib.contextmanager
def _agg_canvas(fig: Figure) -> Iterator[FigureCanvasAgg]:
    """The figure's canvas if it renders with Agg, else a temporary Agg canvas."""
    if isinstance(fig.canvas, FigureCanvasAgg):
        yield fig.canvas
        return
    original = fig.canvas
    try:
        yield FigureCanvasAgg(fig)
    finally:
        fig.set_canvas(original)


@contextlib.contextmanager
def _animated(artists: Sequence[Artist]) -> Iterator[None]:
    """Mark artists animated, so that a draw leaves them out; restore their flags after."""
    previous = [artist.get_animated() for artist in artists]
    for artist in artists:
        artist.set_animated(True)
    try:
        yield
    finally:
        for artist, was_animated in zip(artists, previous):
            artist.set_animated(was_animated)


def _rgb_image(rgba: np.ndarray) -> Image.Image:
    """Copy an RGBA canvas into an RGB image (Pillow drops the alpha far faster than numpy)."""
    height, width = rgba.shape[:2]
    return Image.frombytes("RGB", (width, height), rgba, "raw", "RGBX")


def _write_gif(
    fig: Figure,
    update: Update,
    frames: Sequence[Any],
    path: Path,
    init: Init | None,
    animated: Iterable[Artist] | None,
    fps: float,
    loop: int | None,
    progress: Progress | None,
) -> None:
    count = len(frames)
    positions = sorted({round(i * (count - 1) / (_PALETTE_SAMPLES - 1)) for i in range(_PALETTE_SAMPLES)})
    samples = [frames[position] for position in positions]
    with (
        contextlib.closing(_blit(fig, update, [*samples, *frames], animated, init)) as drawn,
        open(path, "wb") as gif,
    ):
        sample_images = [_rgb_image(next(drawn)[0]) for _ in samples]
        palette = _global_palette(sample_images)
        gif.write(_gif_header(sample_images[0].size, palette, loop))
        indices = previous = None
        for done, (rgba, changing) in enumerate(drawn, start=1):
            if indices is None:
                indices = _quantize(rgba, palette)
                _write_gif_patch(gif, indices, (0, 0), 1000 / fps, transparency=None)
                previous = _words(rgba).copy()
            else:
                patch, origin = _changed_patch(rgba, changing, previous, indices, palette)
                _write_gif_patch(gif, patch, origin, 1000 / fps)
            if progress:
                progress(done, count)
        gif.write(b";")


def _quantize(rgba: np.ndarray, palette: Image.Image) -> np.ndarray:
    """The palette index of each pixel of ``rgba``: the nearest colour, no dithering."""
    image = _rgb_image(np.ascontiguousarray(rgba))
    return np.array(image.quantize(palette=palette, dither=Image.Dither.NONE))


def _changed_patch(
    rgba: np.ndarray, changing: tuple[slice, slice], previous: np.ndarray, indices: np.ndarray, palette: Image.Image
) -> tuple[np.ndarray, tuple[int, int]]:
    """The box of colour indices that changed since the last frame, unchanged pixels transparent,
    and its ``(top, left)``; ``changing`` (rows, columns) bounds what can have changed, and
    ``previous`` (the last frame's pixel words) and ``indices`` (its colour indices) are brought up
    to this frame.

    Only the pixels that differ are quantized: without dithering each pixel's index depends on
    its colour alone, so they get the indices a whole-frame quantization would give them.
    """
    width = rgba.shape[1]
    words = _words(rgba)
    changed = _differing(words, previous, rgba.shape[:2], changing)
    colours = changed
    if changed.size:
        now = words[changed]
        previous[changed] = now
        row = Image.frombytes("RGB", (changed.size, 1), now, "raw", "RGBX")
        colours = np.asarray(row.quantize(palette=palette, dither=Image.Dither.NONE)).reshape(-1)
        flat = indices.reshape(-1)
        # A pixel whose new colour maps to the index it had is unchanged in the GIF.
        differs = colours != flat[changed]
        changed, colours = changed[differs], colours[differs]
        flat[changed] = colours
    if not changed.size:
        # A repeated frame still needs its own delay: it becomes one transparent pixel.
        return np.full((1, 1), _TRANSPARENT, dtype=np.uint8), (0, 0)
    rows, columns = np.divmod(changed, width)
    top, left = int(rows[0]), int(columns.min())
    patch = np.full((int(rows[-1]) + 1 - top, int(columns.max()) + 1 - left), _TRANSPARENT, dtype=np.uint8)
    patch[rows - top, columns - left] = colours
    return patch, (top, left)


def _differing(words: np.ndarray, previous: np.ndarray, shape: tuple[int, int],
               changing: tuple[slice, slice]) -> np.ndarray:
    """The positions, in ascending order, of the pixel words that differ from ``previous`` within
    ``changing`` (rows, columns) of a frame of ``shape``.

    Where the rows allow it, pixels are compared two at a time as 64-bit words, which halves the
    work of the search over the frame; the few pairs that differ are then told apart.
    """
    height, width = shape
    (top, bottom, _), (left, right, _) = (part.indices(size) for part, size in zip(changing, shape))
    if width % 2 == 0:
        first, last = left // 2, (right + 1) // 2  # the pairs of columns the box touches
        pairs = (slice(top, bottom), slice(first, last))
        inside = np.flatnonzero(words.view(np.uint64).reshape(height, width // 2)[pairs]
                                != previous.view(np.uint64).reshape(height, width // 2)[pairs])
        # Each differing pair as its two pixels, in the frame; then those in the box that differ.
        candidates = (inside // (last - first) + top) * width + 2 * (inside % (last - first) + first)
        candidates = np.column_stack([candidates, candidates + 1]).reshape(-1)
        column = candidates % width
        return candidates[(words[candidates] != previous[candidates]) & (column >= left) & (column < right)]
    box = (slice(top, bottom), slice(left, right))
    inside = np.flatnonzero(words.reshape(height, width)[box] != previous.reshape(height, width)[box])
    return (inside // (right - left) + top) * width + inside % (right - left) + left


def _global_palette(samples: list[Image.Image]) -> Image.Image:
    """A palette image of at most 255 colours, from the sample frames stacked together."""
    width, height = samples[0].size
    mosaic = Image.new("RGB", (width, height * len(samples)))
    for row, sample in enumerate(samples):
        mosaic.paste(sample, (0, row * height))
    # FASTOCTREE keeps the few pixels of thin coloured lines closer than MEDIANCUT, and is faster.
    return mosaic.quantize(_TRANSPARENT, method=Image.Quantize.FASTOCTREE)


def _gif_header(size: tuple[int, int], palette: Image.Image, loop: int | None) -> bytes:
    """GIF89a signature, screen descriptor, 256-entry global colour table and loop count."""
    width, height = size
    colours = bytes(palette.getpalette()).ljust(3 * 256, b"\0")
    # 0xF7: a global colour table of 256 colours with 8 bits per primary.
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + colours
    if loop is not None:
        header += b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\0"
    return header


def _write_gif_patch(
    gif: BinaryIO, patch: np.ndarray, origin: tuple[int, int], duration: float, transparency: int | None = _TRANSPARENT
) -> None:
    """Write one GIF frame: ``patch`` of colour indices at ``origin`` (top, left), pixels of
    index ``transparency`` leaving the previous frame's showing."""
    top, left = origin
    # Pillow's GIF block writer: LZW-compressed indices after a header with no local
    # colour table; disposal 1 leaves each frame in place for the next one to patch.
    blocks = GifImagePlugin.getdata(
        Image.fromarray(patch), (left, top), duration=duration, disposal=1, transparency=transparency
    )
    gif.writelines(blocks)


def _write_mp4(
    fig: Figure,
    update: Update,
    frames: Sequence[Any],
    path: Path,
    init: Init | None,
    animated: Iterable[Artist] | None,
    fps: float,
    progress: Progress | None,
) -> None:
    count = len(frames)
    video = imageio.get_writer(
        path, format="FFMPEG", fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=1
    )
    with contextlib.closing(_blit(fig, update, frames, animated, init)) as drawn, _Encoder(video) as encoder:
        for done, (rgba, _) in enumerate(drawn, start=1):
            height, width = rgba.shape[:2]
            # yuv420p stores colour per 2x2 pixels, so H.264 needs an even width and height.
            # A copy: the canvas is redrawn for the next frame while ffmpeg still reads this one.
            encoder.put(rgba[: height - height % 2, : width - width % 2].copy())
            if progress:
                progress(done, count)


class _EncoderFailed(Exception):
    """The video writer stopped; save_animation names the file in the message."""


class _Encoder:
    """Feeds frames to a video writer from a thread, so drawing does not wait on ffmpeg's pipe.

    The queue is bounded, so drawing runs at most ``depth`` frames ahead and memory stays
    flat.  A writer that fails stops the drawing at the next ``put`` with one
    error; an error or Ctrl-C while drawing drops the queued frames and
    closes the writer before it propagates, so no thread or ffmpeg is left behind.
    """

    def __init__(self, video: Any, depth: int = 8) -> None:
        self._video = video
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._failure: BaseException | None = None
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._encode, name="optviz-mp4", daemon=True)

    def __enter__(self) -> _Encoder:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        if error is not None:
            self._abandoned.set()
        self._finish()
        try:
            self._video.close()
        except Exception as failure:  # noqa: BLE001 - ffmpeg's errors are many kinds; each is one line here
            self._failure = self._failure or failure
        if error is None:
            self._check()

    def put(self, frame: np.ndarray) -> None:
        """Queue ``frame``; wait while the queue is full; raise if the writer has failed."""
        while True:
            self._check()
            try:
                self._queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def _encode(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self._failure is None and not self._abandoned.is_set():
                try:
                    self._video.append_data(frame)
                except BaseException as failure:  # noqa: BLE001 - handed to the drawing thread
                    self._failure = failure

    def _finish(self) -> None:
        """Let the thread write (or, when abandoned, drop) what is queued, then end it."""
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join()

    def _check(self) -> None:
        if self._failure is not None:
            # imageio-ffmpeg puts the reason on its first line and the command line after it.
            message = str(self._failure).strip()
            reason = message.splitlines()[0] if message else type(self._failure).__name__
            raise _EncoderFailed(f"ffmpeg failed: {reason}") from None
