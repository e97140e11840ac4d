"""What a written figure or animation holds, decoded and looked at the way a person would.

A file that merely exists, or is large, can still be a blank canvas or a truncated
write; these helpers open it: the picture's size, that something is drawn on it, the
text an SVG draws, a PDF's pages, an animation's frames. Each returns what it decoded,
so a test can look closer. FrameGrabber keeps the frames FuncAnimation draws, for
comparing them with optviz's own.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from xml.etree import ElementTree

import imageio.v3 as iio
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.animation import AbstractMovieWriter
from PIL import Image

SVG = "{http://www.w3.org/2000/svg}"
# A blank canvas has one colour; a figure with axes, ticks and antialiased text has a few
# hundred, a GIF frame of a single curve (quantised to a palette) a few dozen.
DRAWN_COLOURS = 50
DRAWN_FRAME_COLOURS = 16
DRAWN_SPREAD = 5.0  # standard deviation of the RGB values, 0 to 255


def figure_pixels(size: tuple[float, float], dpi: float, scale: float = 1.0) -> tuple[int, int]:
    """``(width, height)`` in pixels of a figure of ``size`` inches saved at ``dpi``."""
    return round(size[0] * dpi * scale), round(size[1] * dpi * scale)


def legend_labels(result) -> tuple[str, ...]:
    """Each optimizer's legend entry in a figure of a one-start ``result``: its label, and where it diverged."""
    return tuple(f"{trajectory.label} (diverged at step {trajectory.diverged_step[0]})" if trajectory.diverged[0]
                 else trajectory.label for trajectory in result)


def assert_drawn(pixels: np.ndarray, name: str = "the image", colours: int = DRAWN_COLOURS) -> None:
    """``pixels`` (rows, columns, RGB) are not a flat canvas: more than ``colours`` colours, spread apart."""
    distinct = len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0))
    spread = float(pixels.std())
    assert distinct > colours and spread > DRAWN_SPREAD, f"{name} is nearly blank: {distinct=} {spread=:.2f}"


def assert_png(path: str | Path, size: tuple[int, int] | None = None, *, colours: tuple[str, ...] = ()) -> np.ndarray:
    """Decode the PNG at ``path``; returns its RGB pixels.

    It is ``size`` ``(width, height)`` pixels when given, not blank, and each of ``colours``
    (say the optimizers' line colours) is painted on at least a few pixels.
    """
    with Image.open(path) as image:
        assert image.format == "PNG", f"{path} is {image.format}, not PNG"
        if size is not None:
            assert image.size == tuple(size), f"{path} is {image.size} pixels, expected {tuple(size)}"
        pixels = np.asarray(image.convert("RGB"))
    assert_drawn(pixels, str(path))
    for colour in colours:
        target = np.array(mcolors.to_rgb(colour)) * 255
        painted = int((np.abs(pixels.astype(float) - target).max(axis=-1) <= 8).sum())
        assert painted >= 5, f"{path}: {colour} is painted on {painted} pixels"
    return pixels


def assert_svg(path: str | Path, inches: tuple[float, float] | None = None, *,
               texts: tuple[str, ...] = ()) -> list[str]:
    """Parse the SVG at ``path``; returns the texts it draws, in order.

    It is an ``<svg>`` of ``inches`` (width, height) when given, draws shapes, and shows
    each of ``texts``. Matplotlib draws letters as paths and writes each text beside
    them in a comment, which is where the texts are read from.
    """
    parser = ElementTree.XMLParser(target=ElementTree.TreeBuilder(insert_comments=True))
    root = ElementTree.parse(path, parser).getroot()
    assert root.tag == f"{SVG}svg", f"{path}: the root is {root.tag}, not <svg>"
    if inches is not None:
        assert (root.get("width"), root.get("height")) == (f"{inches[0] * 72:g}pt", f"{inches[1] * 72:g}pt")
    shapes = [element for element in root.iter(f"{SVG}path") if element.get("d", "").strip()]
    assert len(shapes) > 20, f"{path} draws only {len(shapes)} paths"
    shown = [element.text.strip() for element in root.iter(ElementTree.Comment) if element.text]
    missing = [text for text in texts if text not in shown]
    assert not missing, f"{path} does not show {missing}; it shows {shown}"
    return shown


def assert_pdf(path: str | Path, inches: tuple[float, float] | None = None, *, pages: int = 1) -> list[bytes]:
    """Check the PDF at ``path`` has ``pages`` pages that draw lines and text; returns their content streams.

    A light structural check, enough for the PDFs matplotlib writes: the header and the
    end-of-file mark, the page tree's count, each page's size when ``inches`` is given,
    and each page's (Flate-compressed) drawing operators.
    """
    data = Path(path).read_bytes()
    assert data.startswith(b"%PDF-"), f"{path} does not start with %PDF-"
    assert data.rstrip().endswith(b"%%EOF"), f"{path} is truncated: no %%EOF at its end"
    (count,) = re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", data)
    assert int(count) == pages, f"{path} has {int(count)} pages, expected {pages}"
    page_objects = re.findall(rb"/Type\s*/Page\b(?!s).*?>>", data, re.S)
    assert len(page_objects) == pages
    contents = []
    for page in page_objects:
        if inches is not None:
            (box,) = re.findall(rb"/MediaBox\s*\[([^\]]*)\]", page)
            np.testing.assert_allclose([float(value) for value in box.split()], [0, 0, inches[0] * 72, inches[1] * 72])
        (number,) = re.findall(rb"/Contents\s+(\d+)\s+0\s+R", page)
        stream = re.search(rb"(?:^|\s)" + number + rb"\s+0\s+obj\s*<<(.*?)>>\s*stream\r?\n", data, re.S)
        assert stream is not None, f"{path}: no content stream {number.decode()} for a page"
        body = data[stream.end(): data.index(b"endstream", stream.end())]
        content = zlib.decompress(body) if b"/FlateDecode" in stream.group(1) else body
        operators = re.findall(rb"(?<=\s)(m|l|c|re|Tj|TJ|Do)(?=\s)", content)
        assert operators.count(b"l") + operators.count(b"c") > 20, f"{path}: a page draws almost no lines"
        assert {b"Tj", b"TJ"} & set(operators), f"{path}: a page shows no text"
        contents.append(content)
    return contents


def assert_animation(path: str | Path, frames: int | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode the GIF or MP4 at ``path``; returns its ``(frames, height, width, RGB)`` pixels.

    It has ``frames`` frames (more than one when not given) of ``size`` ``(width, height)``
    when given; the first is drawn and the last differs from it (something moved).
    """
    decoded = iio.imread(path, index=None)[..., :3]
    if frames is None:
        assert decoded.shape[0] > 1, f"{path} is a still: {decoded.shape[0]} frame"
    else:
        assert decoded.shape[0] == frames, f"{path} has {decoded.shape[0]} frames, expected {frames}"
    if size is not None:
        shown = (decoded.shape[2], decoded.shape[1])
        assert shown == tuple(size), f"{path} frames are {shown} pixels, expected {tuple(size)}"
    assert_drawn(decoded[0], f"{path} frame 0", DRAWN_FRAME_COLOURS)
    if decoded.shape[0] > 1:
        assert not np.array_equal(decoded[0], decoded[-1]), f"{path}: nothing moves from the first to the last frame"
    return decoded


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
