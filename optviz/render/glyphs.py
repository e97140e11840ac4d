"""Text of moving artists (a step counter) measured and drawn from glyphs loaded once.

Each time a string changes, Agg measures it by shaping it and loading every
glyph with FreeType's hinter (``FT2Font.set_text``), then shapes it again
(``FT2Font._layout``) and rasterizes every glyph to draw it: about 0.1 ms per
glyph, which for a step counter that changes every frame is more than the
rest of a blitted frame.  What these compute depends on little.  A glyph's
bitmap depends only on the glyph, the size and where it falls within a pixel;
the pen advance between two characters only on that pair; and Agg's measure of
a string (matplotlib 3.11) is the pen position after its last glyph for the
width, and the lowest and highest edge of the glyphs' boxes for height and
descent.  So :class:`GlyphRenderer` stands in for the Agg renderer while frames
are drawn: it shapes each pair once (all pairs of digits in one go), loads each
glyph once, measures from these, rasterizes each glyph once per sub-pixel
offset, and hands the very bitmaps Agg would draw to Agg's own
``draw_text_image``, side by side in one image where their ink does not meet:
the measures and the pixels are the same as Agg's own.  :class:`TextReplay`
then spares a moving text the rest of ``Text.draw`` (its position, graphics
context and angle, found anew each time) while only its string changes.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
from matplotlib.backend_bases import GraphicsContextBase
from matplotlib.backends.backend_agg import RendererAgg, get_hinting_flag
from matplotlib.font_manager import FontProperties, fontManager, get_font
from matplotlib.ft2font import FT2Font, RenderMode
from matplotlib.text import Text

from optviz.render.fastlines import same_style

# FreeType positions in 26.6 fixed point: 64 units to a pixel.
_SUBPIXELS = 64
_IDENTITY = np.array([[0x10000, 0], [0, 0x10000]])


class GlyphRenderer:
    """An Agg renderer that measures and draws text from cached pairs and rasterized glyphs.

    Everything else is the wrapped renderer's.  Math text, rotated text and
    strings whose shaping is more than pairwise (ligatures, fallback fonts
    mixing in) are drawn by Agg as usual.
    """

    def __init__(self, renderer: RendererAgg) -> None:
        self._agg = renderer
        self._glyphs: dict[tuple[Any, ...], tuple[FT2Font, int, float, float] | None] = {}
        self._advances: dict[tuple[Any, ...], float | None] = {}
        self._bitmaps: dict[tuple[Any, ...], tuple[np.ndarray, int, int, int]] = {}
        self._extents: dict[tuple[Any, ...], tuple[int, int, int]] = {}
        self._heights: dict[tuple[Any, ...], tuple[float | None, float | None, float | None]] = {}
        # Fonts whose digits did not shape as single glyphs side by side.
        self._digits_apart: set[tuple[Any, ...]] = set()
        self._last_shaped: tuple[Any, ...] = (None, None, None)
        # Rows and columns (top, bottom, left, right) of the glyphs drawn since the last
        # take_ink(), and whether anything was drawn another way.
        self._ink: tuple[int, int, int, int] | None = None
        self._untracked = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("draw_"):
            self._untracked = True
        return getattr(self._agg, name)

    def take_ink(self) -> tuple[tuple[int, int, int, int] | None, bool]:
        """The rows and columns ``(top, bottom, left, right)`` of the canvas this renderer drew
        glyphs on since it was last asked (None: none), and whether that is all it drew: text
        it handed to Agg (math, rotated) or any other drawing makes it False."""
        ink, complete = self._ink, not self._untracked
        self._ink, self._untracked = None, False
        return ink, complete

    def _get_font_height_metrics(self, prop: FontProperties) -> tuple[float | None, float | None, float | None]:
        """The font's ascent, descent and line gap in pixels, as ``Text._get_layout`` reads them.

        ``Text`` asks a renderer for these when it has this method, and otherwise finds the
        font file and reads its tables at every draw; here they are read the same way, once
        per font, size and dpi.
        """
        key = (*_font_key(prop), self._agg.dpi)
        if key not in self._heights:
            self._heights[key] = _font_height_metrics(prop, self._agg.dpi)
        return self._heights[key]

    def draw_text(self, gc: GraphicsContextBase, x: float, y: float, s: str, prop: FontProperties, angle: float,
                  ismath: bool | str = False, mtext: Text | None = None) -> None:
        """Draw ``s`` as :meth:`RendererAgg.draw_text` does, from cached glyphs where it can."""
        placed = None if ismath or angle else self._shape(s, prop, mtext)
        if placed is None:
            self._untracked = True
            return self._agg.draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)
        size = prop.get_size_in_points()
        height = self._agg.height
        antialiased = gc.get_antialiased()
        pieces = []
        for font, glyph, dx, dy in placed:
            # The position Agg gives FreeType, split into whole pixels and the sub-pixel part.
            pen_x = round(_SUBPIXELS * (x + dx))
            pen_y = round(_SUBPIXELS * (height - y + dy))
            buffer, left, top, inked = self._bitmap(font, size, glyph, pen_x % _SUBPIXELS, pen_y % _SUBPIXELS,
                                                    antialiased)
            if inked:  # a space draws nothing
                pieces.append((buffer, left + pen_x // _SUBPIXELS, top + pen_y // _SUBPIXELS, inked))
        for buffer, left, top in _composed(pieces):
            # draw_text_image's y is downwards, to the bitmap's bottom side.
            row = int(height) - top
            self._agg._renderer.draw_text_image(buffer, left, row + buffer.shape[0], 0, gc)
            box = (row, row + buffer.shape[0], left, left + buffer.shape[1])
            self._ink = box if self._ink is None else union(self._ink, box)

    def get_text_width_height_descent(self, s: str, prop: FontProperties,
                                      ismath: bool | str) -> tuple[float, float, float]:
        """Width, height and descent of ``s`` as :meth:`RendererAgg.get_text_width_height_descent`
        measures them, from glyphs and pairs shaped once.

        Agg shapes ``s`` with the default features and language; its width is where the pen
        stands after the last glyph, its height and descent are the span of the glyphs' boxes
        below and above the baseline (26.6 fixed point).
        """
        placed = None if ismath or not s else self._shape(s, prop, None)
        if placed is None:
            return self._agg.get_text_width_height_descent(s, prop, ismath)
        low = high = None
        for font, glyph, x, y in placed:
            bottom, top, advance = self._extent(font, prop.get_size_in_points(), glyph)
            shift = round(_SUBPIXELS * y)
            low = bottom + shift if low is None else min(low, bottom + shift)
            high = top + shift if high is None else max(high, top + shift)
        width = round(_SUBPIXELS * x) + advance
        return width / _SUBPIXELS, (high - low) / _SUBPIXELS, -low / _SUBPIXELS

    def _extent(self, font: FT2Font, size: float, glyph: int) -> tuple[int, int, int]:
        """The glyph's box bottom and top and its advance, hinted as Agg loads it (26.6)."""
        key = (font, size, glyph)
        if key not in self._extents:
            font.set_size(size, self._agg.dpi)  # also undoes the offset a rasterized glyph left
            loaded = font.load_glyph(glyph, get_hinting_flag())
            _, bottom, _, top = loaded.bbox
            self._extents[key] = (bottom, top, loaded.horiAdvance)
        return self._extents[key]

    def _shape(self, s: str, prop, mtext) -> list[tuple[FT2Font, int, float, float]] | None:
        """``(font, glyph, x, y)`` of each character, as ``FT2Font._layout`` places them, or None.

        A text is measured and then drawn, so the last string shaped is kept.
        """
        font_key = (*_font_key(prop), self._agg.dpi, _layout_options(mtext))
        if self._last_shaped[:2] == (font_key, s):
            return self._last_shaped[2]
        placed = self._shape_anew(s, prop, mtext, font_key)
        self._last_shaped = (font_key, s, placed)
        return placed

    def _shape_anew(self, s: str, prop, mtext, font_key) -> list[tuple[FT2Font, int, float, float]] | None:
        placed = []
        pen = 0.0
        for position, char in enumerate(s):
            glyph = self._glyph(font_key, prop, char, mtext)
            if glyph is None:
                return None
            if position:
                advance = self._advance(font_key, prop, s[position - 1 : position + 1], mtext)
                if advance is None:
                    return None
                pen += advance
            else:
                pen = glyph[3]
            placed.append((glyph[0], glyph[1], pen, glyph[2]))
        return placed

    def _glyph(self, font_key, prop, char: str, mtext) -> tuple[FT2Font, int, float, float] | None:
        key = (font_key, char)
        if key not in self._glyphs:
            items = self._layout(prop, char, mtext)
            self._glyphs[key] = (items[0].ft_object, items[0].glyph_index, items[0].y, items[0].x) if len(items) == 1 else None
        return self._glyphs[key]

    def _advance(self, font_key, prop, pair: str, mtext) -> float | None:
        key = (font_key, pair)
        if key not in self._advances:
            if pair[0] in _DIGITS and pair[1] in _DIGITS and font_key not in self._digits_apart:
                if self._shape_digit_pairs(font_key, prop, mtext):
                    return self._advances[key]
                self._digits_apart.add(font_key)  # shaped one pair at a time from now on
            items = self._layout(prop, pair, mtext)
            self._advances[key] = items[1].x - items[0].x if len(items) == 2 else None
        return self._advances[key]

    def _shape_digit_pairs(self, font_key, prop, mtext) -> bool:
        """Shape all hundred pairs of digits at once, as numbers that change from frame to frame
        will need them; whether that worked (no ligature or substitution changed the glyphs).

        Shaping costs about as much per call as for five more glyphs, so one string in which
        every pair of digits stands side by side costs a seventh of shaping the pairs one by one.
        """
        items = self._layout(prop, _ALL_DIGIT_PAIRS, mtext)
        glyphs = [self._glyph(font_key, prop, digit, mtext) for digit in _ALL_DIGIT_PAIRS]
        if len(items) != len(_ALL_DIGIT_PAIRS) or any(
                glyph is None or (item.ft_object, item.glyph_index) != glyph[:2] for item, glyph in zip(items, glyphs)):
            return False
        for position in range(1, len(items)):
            pair = _ALL_DIGIT_PAIRS[position - 1 : position + 1]
            self._advances[(font_key, pair)] = items[position].x - items[position - 1].x
        return True

    def _layout(self, prop, s: str, mtext) -> list:
        font = self._agg._prepare_font(prop)
        return font._layout(s, flags=get_hinting_flag(),
                            features=mtext.get_fontfeatures() if mtext is not None else None,
                            language=mtext.get_language() if mtext is not None else None)

    def _bitmap(self, font: FT2Font, size: float, glyph: int, sub_x: int, sub_y: int,
                antialiased: bool) -> tuple[np.ndarray, int, int, int]:
        """The glyph rasterized with its origin at ``(sub_x, sub_y) / 64`` px: buffer, left, top
        and how many of its pixels have ink."""
        key = (font, size, glyph, sub_x, sub_y, antialiased)
        if key not in self._bitmaps:
            font.set_size(size, self._agg.dpi)
            font._set_transform(_IDENTITY, [sub_x, sub_y])
            bitmap = font._render_glyph(glyph, get_hinting_flag(),
                                        RenderMode.NORMAL if antialiased else RenderMode.MONO)
            buffer = np.array(bitmap.buffer)
            if not antialiased:
                buffer *= 0xFF
            self._bitmaps[key] = (buffer, bitmap.left, bitmap.top, int(np.count_nonzero(buffer)))
        return self._bitmaps[key]


def union(first: tuple[int, int, int, int], second: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """The smallest box ``(top, bottom, left, right)`` holding both boxes."""
    return (min(first[0], second[0]), max(first[1], second[1]), min(first[2], second[2]),
            max(first[3], second[3]))


def _all_pairs(alphabet: str) -> str:
    """A string of ``alphabet`` in which every ordered pair of its characters stands side by side
    once: each step appends the last character in ``alphabet`` not yet paired with the one before
    (a de Bruijn sequence)."""
    text, used = alphabet[0], set()
    while True:
        following = next((char for char in reversed(alphabet) if text[-1] + char not in used), None)
        if following is None:
            return text
        used.add(text[-1] + following)
        text += following


_DIGITS = "0123456789"
_ALL_DIGIT_PAIRS = _all_pairs(_DIGITS)


def _composed(pieces: list[tuple[np.ndarray, int, int, int]]) -> list[tuple[np.ndarray, int, int]]:
    """Glyph bitmaps ``(buffer, left, top, inked)`` as the fewest images Agg blends alike.

    Agg blends a text image pixel by pixel and leaves the pixels without ink alone, so glyphs
    whose inked pixels do not meet can be laid into one image and blended in one call, which
    costs a single conversion of the graphics context instead of one per glyph. Where two
    glyphs' ink meets (kerned pairs, italics), blending them one after the other differs, so
    they stay apart. ``top`` counts upwards, as FreeType does.
    """
    if len(pieces) < 2:
        return [piece[:3] for piece in pieces]
    left = min(piece[1] for piece in pieces)
    top = max(piece[2] for piece in pieces)
    right = max(piece[1] + piece[0].shape[1] for piece in pieces)
    bottom = min(piece[2] - piece[0].shape[0] for piece in pieces)
    image = np.zeros((top - bottom, right - left), dtype=np.uint8)
    for buffer, x, y, _ in pieces:
        area = image[top - y : top - y + buffer.shape[0], x - left : x - left + buffer.shape[1]]
        np.maximum(area, buffer, out=area)
    if np.count_nonzero(image) != sum(piece[3] for piece in pieces):
        return [piece[:3] for piece in pieces]
    return [(image, left, top)]


def _font_key(prop) -> tuple[Any, ...]:
    """What picks and sizes the font of a ``FontProperties``, as a hashable key."""
    return (tuple(prop.get_family()), prop.get_style(), prop.get_variant(), prop.get_weight(),
            prop.get_stretch(), prop.get_size_in_points(), prop.get_file())


def _layout_options(mtext) -> tuple[Any, Any]:
    """The font features and language ``RendererAgg.draw_text`` shapes with, as a hashable key."""
    if mtext is None:
        return None, None
    features = mtext.get_fontfeatures()
    language = mtext.get_language()
    return (tuple(features) if features is not None else None,
            tuple(language) if isinstance(language, list) else language)


def _font_height_metrics(prop: FontProperties, dpi: float) -> tuple[float | None, float | None, float | None]:
    """What ``Text._get_layout`` computes from the font's OS/2 or hhea table (matplotlib 3.11):
    ascent, descent and line gap scaled to the size and dpi; Nones where the font has neither."""
    font = get_font(fontManager._find_fonts_by_props(prop))
    for table_name, gap_key, ascent_key, descent_key in (
            ("OS/2", "sTypoLineGap", "sTypoAscender", "sTypoDescender"), ("hhea", "lineGap", "ascent", "descent")):
        table = font.get_sfnt_table(table_name)
        if table is None:
            continue
        scale = 1 / font.get_sfnt_table("head")["unitsPerEm"] * prop.get_size_in_points() * dpi / 72
        return table[ascent_key] * scale, -table[descent_key] * scale, table[gap_key] * scale
    return None, None, None


class _NotReplayable(Exception):
    """The text called the renderer in a way a replay does not repeat."""


class _TextRecorder:
    """Passes a text's renderer calls to a :class:`GlyphRenderer`, keeping its ``draw_text`` calls."""

    def __init__(self, glyphs: GlyphRenderer) -> None:
        self._glyphs = glyphs
        self.calls: list[tuple[GraphicsContextBase, float, float, float]] = []

    def draw_text(self, gc: GraphicsContextBase, x: float, y: float, s: str, prop: FontProperties, angle: float,
                  ismath: bool | str = False, mtext: Text | None = None) -> None:
        kept = self._glyphs.new_gc()
        kept.copy_properties(gc)
        self.calls.append((kept, x, y, angle))
        self._glyphs.draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("draw_"):
            raise _NotReplayable(name)
        return getattr(self._glyphs, name)


class TextReplay:
    """Draws moving ``Text`` artists through a :class:`GlyphRenderer`, skipping what ``Text.draw``
    redoes for every frame although only the string changed.

    ``Text.draw`` lays the string out, then finds the text's position on the canvas, builds a
    graphics context (colour, clipping) and its angle, and draws each line at its place in the
    layout plus that position. The first draw of a text is an ordinary one, which is recorded;
    while its style is unchanged, later draws lay the new string out in the same way and draw
    its lines with the recorded context and position. A text with a box, path effects, TeX,
    wrapping, a filter or rasterization is always drawn the ordinary way.
    """

    def __init__(self, glyphs: GlyphRenderer) -> None:
        self._glyphs = glyphs
        self._recorded: dict[int, tuple[tuple[Any, ...], GraphicsContextBase, float, float, float, float]] = {}

    def draw(self, text: Text) -> None:
        """Draw ``text`` as ``text.draw(glyphs)`` would."""
        style = _text_style(text)
        recorded = self._recorded.get(id(text))
        if recorded is not None and same_style(recorded[0], style):
            self._replay(text, *recorded[1:])
            return
        self._recorded.pop(id(text), None)
        if not _replayable_text(text):
            text.draw(self._glyphs)
            return
        recorder = _TextRecorder(self._glyphs)
        try:
            text.draw(recorder)
        except _NotReplayable:
            # Nothing was drawn by the refused call; draw the text the ordinary way.
            text.draw(self._glyphs)
            return
        placed = self._placement(text, recorder.calls)
        if placed is not None:
            self._recorded[id(text)] = (style, *placed)

    def _placement(self, text: Text, calls: list[tuple[GraphicsContextBase, float, float, float]]
                   ) -> tuple[GraphicsContextBase, float, float, float, float] | None:
        """The context, position, canvas height and angle the text was drawn with, when the calls
        are exactly its layout's lines at that position; else None."""
        if not calls:
            return None
        posx, posy = text.get_transform().transform(
            (float(text.convert_xunits(text._x)), float(text.convert_yunits(text._y))))
        height = self._glyphs.get_canvas_width_height()[1]
        _, info, _ = text._get_layout(self._glyphs)
        gc, _, _, angle = calls[0]
        expected = [(x + posx, height - (y + posy)) for _, _, (x, y) in info]
        if [(x, y) for _, x, y, _ in calls] != expected or any(call[3] != angle for call in calls):
            return None
        return gc, posx, posy, height, angle

    def _replay(self, text: Text, gc: GraphicsContextBase, posx: float, posy: float, height: float,
                angle: float) -> None:
        if text.get_text() == "":
            return
        glyphs = self._glyphs
        _, info, _ = text._get_layout(glyphs)
        for line, _, (x, y) in info:
            clean_line, ismath = text._preprocess_math(line)
            glyphs.draw_text(gc, x + posx, height - (y + posy), clean_line, text._fontproperties, angle,
                             ismath=ismath, mtext=text if len(info) == 1 else None)
        text.stale = False


def _replayable_text(text: Text) -> bool:
    """Whether ``text`` is drawn by ``Text.draw`` itself with nothing around its lines: no box,
    path effects, TeX, wrapping, filter or rasterization. All it reads is part of the style."""
    return (type(text) is Text and text.get_visible() and text.get_bbox_patch() is None
            and not text.get_path_effects() and not text.get_usetex() and not text.get_wrap()
            and text.get_agg_filter() is None and not text.get_rasterized())


# What Text.draw's context, position and angle depend on, and what decides whether it is
# replayed; the layout itself is redone for each frame.
_text_attributes = operator.attrgetter(
    "_x", "_y", "_transform", "_color", "_alpha", "_url", "_antialiased", "_snap", "_clipon", "clipbox",
    "_clippath", "_rotation", "_transform_rotates_text", "_rotation_mode", "_bbox_patch", "_usetex", "_wrap",
    "_path_effects", "_visible", "_gid", "_sketch", "_agg_filter", "_rasterized",
)


def _text_style(text: Text) -> tuple[Any, ...]:
    return (*_text_attributes(text), type(text))

