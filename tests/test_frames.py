"""optviz.frames: blitted frames equal full redraws, and the files written from them."""

from __future__ import annotations

import doctest
import functools
import string
import threading
from collections.abc import Callable
from pathlib import Path

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest
from matplotlib.animation import FuncAnimation
from matplotlib.artist import Artist
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.text import Text
from PIL import Image

from images import FrameGrabber
from optviz.render import frames
from optviz.errors import ConfigError, RunError
from optviz.render.frames import live_animation, render_frames, save_animation
from optviz.render import glyphs
from optviz.render.glyphs import GlyphRenderer, TextReplay

STEPS = 12

Scene = tuple[Figure, Callable[[int], list[Artist]]]


def spiral(turns: float, radius: float, phase: float) -> np.ndarray:
    """``(STEPS, 2)`` points spiralling in towards the origin."""
    t = np.linspace(0, 1, STEPS)
    angle = phase + 2 * np.pi * turns * t
    return radius * (1 - 0.8 * t)[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])


def race(
    step: int, paths: list[np.ndarray], trails: list[Line2D], heads: list[Line2D], counter: Text
) -> list[Artist]:
    for path, trail, head in zip(paths, trails, heads):
        trail.set_data(path[: step + 1, 0], path[: step + 1, 1])
        head.set_data(path[step : step + 1, 0], path[step : step + 1, 1])
    counter.set_text(f"step {step}")
    return [*trails, *heads, counter]


def contour_scene(figsize: tuple[float, float] = (3.2, 2.4), dpi: float = 80) -> Scene:
    """Five spirals racing on a filled contour map, with a colorbar, legend and step counter."""
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x, y = np.meshgrid(np.linspace(-2, 2, 60), np.linspace(-2, 2, 60))
    z = np.sin(2 * x) * np.cos(y) + 0.2 * (x**2 + y**2)
    filled = ax.contourf(x, y, z, levels=12)
    ax.contour(x, y, z, levels=12, colors="k", linewidths=0.5)
    fig.colorbar(filled, ax=ax)
    paths = [spiral(1 + 0.3 * k, 1.8, k * 1.2) for k in range(5)]
    trails = [ax.plot([], [], lw=2, label=f"path {k}")[0] for k in range(5)]
    heads = [ax.plot([], [], "o", color=trail.get_color(), mec="k")[0] for trail in trails]
    counter = ax.text(0.03, 0.95, "", transform=ax.transAxes, va="top", color="w")
    # The spirals pass under the legend, which a full draw paints over them.
    ax.legend(loc="lower right", fontsize=6)
    return fig, functools.partial(race, paths=paths, trails=trails, heads=heads, counter=counter)


def surface_scene() -> Scene:
    """Three paths descending a 3D bowl, updated with set_data + set_3d_properties."""
    fig = Figure(figsize=(3.2, 2.4), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(projection="3d")
    x, y = np.meshgrid(np.linspace(-2, 2, 30), np.linspace(-2, 2, 30))
    ax.plot_surface(x, y, x**2 + y**2, cmap="viridis", alpha=0.8)
    paths = [spiral(1, 1.8, k * 2.0) for k in range(3)]
    # zorder above the surface's computed one, so a full draw also shows the paths on top.
    trails = [ax.plot([], [], [], lw=2, zorder=10)[0] for _ in paths]
    heads = [ax.plot([], [], [], "o", color=trail.get_color(), zorder=10)[0] for trail in trails]
    counter = ax.text2D(0.02, 0.95, "", transform=ax.transAxes)

    def descend(step: int) -> list[Artist]:
        for path, trail, head in zip(paths, trails, heads):
            heights = (path**2).sum(axis=1)
            trail.set_data(path[: step + 1, 0], path[: step + 1, 1])
            trail.set_3d_properties(heights[: step + 1])
            head.set_data(path[step : step + 1, 0], path[step : step + 1, 1])
            head.set_3d_properties(heights[step : step + 1])
        counter.set_text(f"step {step}")
        return [*trails, *heads, counter]

    return fig, descend


def two_panel_scene() -> Scene:
    """A path on a contour map beside its loss curve: moving artists in two Axes."""
    fig = Figure(figsize=(4, 2), dpi=80, layout="constrained")
    FigureCanvasAgg(fig)
    landscape, losses = fig.subplots(1, 2)
    x, y = np.meshgrid(np.linspace(-2, 2, 40), np.linspace(-2, 2, 40))
    landscape.contourf(x, y, x**2 + y**2, levels=8)
    path = spiral(1.5, 1.8, 0.0)
    loss = (path**2).sum(axis=1)
    losses.set(xlim=(0, STEPS - 1), ylim=(0, loss.max() * 1.1), title="loss")
    trail, = landscape.plot([], [], "w-")
    curve, = losses.plot([], [], "C1-")
    point, = losses.plot([], [], "C1o")

    def descend(step: int) -> list[Artist]:
        trail.set_data(path[: step + 1, 0], path[: step + 1, 1])
        curve.set_data(range(step + 1), loss[: step + 1])
        point.set_data([step], loss[step : step + 1])
        return [trail, curve, point]

    return fig, descend


def full_redraw(fig: Figure, update: Callable[[int], list[Artist]], step: int) -> np.ndarray:
    update(step)
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def assert_same_picture(frame: np.ndarray, reference: np.ndarray) -> None:
    """Equal but for rounding: >99% of pixels identical, none off by more than a few levels.

    A path painted over the legend instead of under it would be off by far more.
    """
    assert frame.shape == reference.shape
    difference = np.abs(frame.astype(int) - reference.astype(int))
    mean, identical, worst = difference.mean(), (difference.max(axis=-1) == 0).mean(), difference.max()
    assert mean < 1 and identical > 0.99 and worst <= 4, f"{mean=:.3f} {identical=:.4f} {worst=}"


def funcanimation_frames(animation: FuncAnimation, tmp_path: Path) -> list[np.ndarray]:
    grabber = FrameGrabber()
    animation.save(tmp_path / "unused", writer=grabber)
    return grabber.frames


def gif_image_descriptor_flags(data: bytes) -> tuple[int, list[int]]:
    """The GIF screen descriptor's flags and each image descriptor's, walking the blocks."""
    screen_flags = data[10]
    position = 13 + (3 * 2 ** ((screen_flags & 7) + 1) if screen_flags & 0x80 else 0)
    image_flags = []
    while data[position] != 0x3B:  # trailer
        if data[position] == 0x21:  # extension: label, then sub-blocks
            position += 2
        else:  # image descriptor, optional local colour table, LZW code size, sub-blocks
            flags = data[position + 9]
            image_flags.append(flags)
            position += 10 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0) + 1
        while data[position]:
            position += data[position] + 1
        position += 1
    return screen_flags, image_flags


@pytest.mark.parametrize(
    "scene", [contour_scene, two_panel_scene, surface_scene], ids=["contour", "two axes", "3d"]
)
def test_blitted_frames_match_full_redraws(scene):
    fig, update = scene()
    blitted = list(render_frames(fig, update, STEPS))
    assert len(blitted) == STEPS
    assert not np.array_equal(blitted[0], blitted[-1])
    for step in (0, 1, 5, STEPS - 1):
        assert_same_picture(blitted[step], full_redraw(fig, update, step))


def edge_scene() -> Scene:
    """Big markers hopping across the corners of the Axes, half outside its limits, and a label
    that is not clipped, moving beside the Axes."""
    fig = Figure(figsize=(3, 2), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set(xlim=(0, 1), ylim=(0, 1), title="corners")
    corners = np.array([[0, 0], [1, 1], [0, 1], [1, 0], [0.5, 1.02], [-0.02, 0.5]])
    head, = ax.plot([], [], "s", ms=18, mec="k", mew=2)
    trail, = ax.plot([], [], lw=6)
    label = ax.text(1.02, 0.5, "", transform=ax.transAxes, clip_on=False)
    places = [(1.02, 0.2), (1.02, 0.5), (0.3, 1.03), (0.45, 1.05), (1.02, 0.3), (0.5, 1.04), (-0.1, -0.1)]

    def hop(step: int) -> list[Artist]:
        point = corners[step % len(corners)]
        head.set_data([point[0]], [point[1]])
        trail.set_data(corners[: step % len(corners) + 1, 0], corners[: step % len(corners) + 1, 1])
        # Plain text is bounded by its glyphs, also where it moves over the title; math text and
        # a boxed one are drawn by Agg.
        label.set_text(f"corner {step}" if step != 9 else f"$c_{{{step}}}$")
        label.set_position(places[step % len(places)])
        label.set_bbox(dict(facecolor="w") if step == 10 else None)
        return [head, trail, label]

    return fig, hop


@pytest.mark.parametrize("unclipped", [False, True], ids=["clipped", "one unclipped"])
@pytest.mark.parametrize("scene", [contour_scene, two_panel_scene, edge_scene], ids=["contour", "two axes", "edges"])
def test_restoring_only_the_moving_artists_area_changes_no_pixel(scene, unclipped, monkeypatch):
    """After the first frame only the clip boxes of the moving artists and the glyphs of unclipped
    texts are restored and compared: every frame is the one a whole restore gives, bit for bit."""
    fig, update = scene()
    moving = update(0)
    for artist in moving:
        artist.set_clip_on(True)
    moving[-1].set_clip_on(not unclipped)
    narrowed = list(render_frames(fig, update, 12))
    whole = (slice(None), slice(None))
    with monkeypatch.context() as patched:
        patched.setattr(frames, "_drawing_area", lambda moving, shape: whole)
        everywhere = list(render_frames(fig, update, 12))
    # An unclipped text is bounded frame by frame by the glyphs it drew instead.
    assert (frames._drawing_area(moving, narrowed[0].shape[:2]) == whole) == (
        unclipped and not isinstance(moving[-1], Text))
    for frame, reference in zip(narrowed, everywhere, strict=True):
        assert np.array_equal(frame, reference)


@pytest.mark.parametrize("width", [16, 15], ids=["even width", "odd width"])
@pytest.mark.parametrize("box", [(slice(None), slice(None)), (slice(2, 9), slice(3, 12)), (slice(0, 5), slice(4, 15))],
                         ids=["whole", "odd edges", "even edges"])
def test_changed_pixels_are_found_exactly_in_the_box(width, box):
    random = np.random.default_rng(3)
    previous = random.integers(0, 2**32, size=(10, width), dtype=np.uint32)
    now = previous.copy()
    for row, column in random.integers(0, (10, width), size=(25, 2)):
        now[row, column] ^= np.uint32(1 << int(random.integers(0, 32)))
    now[1, 0], now[9, width - 1] = ~now[1, 0], ~now[9, width - 1]  # at the edges of a row pair
    inside = np.zeros((10, width), dtype=bool)
    inside[box] = True
    expected = np.flatnonzero((now != previous) & inside)
    found = frames._differing(now.reshape(-1), previous.reshape(-1), (10, width), box)
    assert found.tolist() == expected.tolist()


def test_blitted_frames_match_funcanimation_frames(tmp_path):
    fig, update = contour_scene()
    blitted = list(render_frames(fig, update, STEPS))
    drawn = funcanimation_frames(FuncAnimation(fig, update, frames=STEPS, blit=False), tmp_path)
    assert len(drawn) == STEPS
    for frame, reference in zip(blitted, drawn):
        assert_same_picture(frame, reference)


def test_live_animation_draws_the_same_frames(tmp_path):
    fig, update = contour_scene()
    blitted = list(render_frames(fig, update, STEPS))
    drawn = funcanimation_frames(live_animation(fig, update, STEPS), tmp_path)
    assert len(drawn) == STEPS
    for frame, reference in zip(blitted, drawn):
        assert_same_picture(frame, reference)


@pytest.mark.parametrize(
    "figsize, dpi, shape",
    [((6.4, 4.8), 100, (480, 640, 3)), ((2.5, 1.5), 60, (90, 150, 3)), ((1.65, 1.25), 100, (125, 165, 3))],
    ids=["640x480", "150x90 at dpi 60", "odd 165x125"],
)
def test_frame_size_is_figure_size_times_dpi(figsize, dpi, shape):
    fig, update = contour_scene(figsize, dpi)
    frame = next(render_frames(fig, update, 1))
    assert frame.shape == shape
    assert frame.dtype == np.uint8


def test_figure_is_left_as_it_was():
    fig = Figure(figsize=(2, 1.5), dpi=50)
    canvas = fig.canvas
    assert type(canvas) is FigureCanvasBase
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    line, = ax.plot([], [], "r-")
    marker, = ax.plot([], [], "o", animated=True)

    def update(step: int) -> list[Artist]:
        line.set_data([0, step], [1, 0])
        marker.set_data([step], [0.5])
        return [line, marker]

    assert len(list(render_frames(fig, update, 3))) == 3
    assert fig.canvas is canvas
    assert (line.get_animated(), marker.get_animated()) == (False, True)


def test_moving_artists_can_be_named_instead_of_returned():
    fig, update = contour_scene()
    moving = update(0)

    def update_quietly(step: int) -> None:
        update(step)

    quiet = list(render_frames(fig, update_quietly, 4, animated=moving))
    assert_same_picture(quiet[3], list(render_frames(fig, update, 4))[3])


def test_init_artists_are_moving_too():
    fig, update = contour_scene()
    counter = update(0)[-1]

    def init() -> list[Artist]:
        counter.set_text("")
        return [counter]

    def update_paths(step: int) -> list[Artist]:
        return update(step)[:-1]

    blitted = list(render_frames(fig, update_paths, 4, init=init))
    assert_same_picture(blitted[2], full_redraw(fig, update, 2))


def test_no_frames_is_refused(tmp_path):
    fig, update = contour_scene()
    with pytest.raises(ValueError, match="no frames to animate"):
        save_animation(fig, update, [], tmp_path / "race.gif")
    assert not any(tmp_path.iterdir())


def test_update_without_artists_is_refused():
    fig, update = contour_scene()
    with pytest.raises(ValueError, match="update returned no artists"):
        next(render_frames(fig, lambda step: None, 3))


def test_artist_outside_the_moving_set_is_refused():
    fig, update = contour_scene()
    title = fig.axes[0].title

    def update_then_title(step: int) -> list[Artist]:
        return [*update(step), title] if step else update(step)

    with pytest.raises(ValueError, match="part of the cached background"):
        list(render_frames(fig, update_then_title, 3))


def test_gif_has_every_frame_in_one_global_palette(tmp_path):
    fig, update = contour_scene()
    expected = np.array(list(render_frames(fig, update, STEPS)))
    path = save_animation(fig, update, STEPS, tmp_path / "race.gif", fps=5)
    assert path == tmp_path / "race.gif"

    decoded = iio.imread(path, index=None)[..., :3]
    assert decoded.shape == expected.shape
    error = np.abs(decoded.astype(int) - expected).max(axis=-1)
    assert error.mean() < 3
    assert np.percentile(error, 99) < 30

    screen_flags, image_flags = gif_image_descriptor_flags(path.read_bytes())
    assert screen_flags & 0x80  # a global colour table
    assert len(image_flags) == STEPS
    assert not any(flags & 0x80 for flags in image_flags)  # and no local ones
    with Image.open(path) as gif:
        assert (gif.n_frames, gif.info["duration"], gif.info["loop"]) == (STEPS, 200, 0)


def test_gif_keeps_repeated_frames(tmp_path):
    fig, update = contour_scene()
    steps = [0, 1, 1, 1, 2]
    path = save_animation(fig, update, steps, tmp_path / "pause.gif")
    decoded = iio.imread(path, index=None)
    assert len(decoded) == len(steps)
    assert np.array_equal(decoded[1], decoded[3])


def test_mp4_has_every_frame_at_an_even_size(tmp_path):
    fig, update = contour_scene(figsize=(1.65, 1.25), dpi=100)
    expected = np.array(list(render_frames(fig, update, STEPS)))[:, :124, :164]
    path = save_animation(fig, update, STEPS, tmp_path / "race.mp4", fps=5)

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    assert meta["size"] == (164, 124)
    assert meta["fps"] == 5
    decoded = iio.imread(path, plugin="FFMPEG", index=None)
    assert decoded.shape == expected.shape
    assert np.abs(decoded.astype(int) - expected).mean() < 8


@pytest.mark.parametrize("kind", ["gif", "mp4"])
def test_format_can_be_named_whatever_the_suffix(tmp_path, kind):
    fig, update = contour_scene()
    path = save_animation(fig, update, 3, tmp_path / "race.animation", format=kind.upper())
    assert iio.imread(path, index=None, extension=f".{kind}").shape[:3] == (3, 192, 256)
    assert [entry.name for entry in tmp_path.iterdir()] == ["race.animation"]


def test_progress_is_reported_after_each_frame(tmp_path):
    fig, update = contour_scene()
    reports = []
    save_animation(fig, update, 4, tmp_path / "race.gif", progress=lambda *report: reports.append(report))
    assert reports == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt], ids=["error", "ctrl-c"])
def test_failed_write_leaves_no_file_behind(tmp_path, suffix, failure):
    fig, update = contour_scene()
    path = tmp_path / f"race{suffix}"
    path.write_bytes(b"previous animation")

    def update_then_fail(step: int) -> list[Artist]:
        if step == 6:
            raise failure("stop")
        return update(step)

    with pytest.raises(failure):
        save_animation(fig, update_then_fail, STEPS, path)
    assert [entry.name for entry in tmp_path.iterdir()] == [path.name]
    assert path.read_bytes() == b"previous animation"


def test_unknown_format_is_refused(tmp_path):
    fig, update = contour_scene()
    with pytest.raises(ConfigError) as caught:
        save_animation(fig, update, 3, tmp_path / "race.avi")
    assert str(caught.value) == (
        f"cannot write {tmp_path / 'race.avi'}: unknown animation format 'avi'; valid formats: gif, mp4"
    )


def test_missing_directory_is_refused(tmp_path):
    fig, update = contour_scene()
    path = tmp_path / "missing" / "race.gif"
    with pytest.raises(RunError) as caught:
        save_animation(fig, update, 3, path)
    assert str(caught.value) == f"cannot write {path}: directory {path.parent} does not exist"


def test_docstring_example_runs():
    assert doctest.testmod(frames).failed == 0


@pytest.mark.parametrize("text", ["step 0 / 100", "step 97 / 100", "AVAWAY To. Wa", "loss = 1.25e-03", "jpq|ffj/W",
                                  "fhgjJ fy [f]", " step 1 ", "1", "$x^2$", "", "step 3\nloss 0.5"],
                         ids=["counter", "counter 97", "kerning", "number", "descenders", "touching ink", "spaces",
                              "one", "math", "empty", "two lines"])
@pytest.mark.parametrize("style", [
    dict(color="w", fontsize=11),
    dict(fontsize="medium", bbox=dict(boxstyle="round", facecolor="white", alpha=0.8)),
    dict(fontsize=9, rotation=30, family="serif"),
    dict(fontsize=14, style="italic", family="serif"),
], ids=["plain", "boxed", "rotated serif", "italic serif"])
def test_text_from_cached_glyphs_is_agg_text_pixel_for_pixel(text, style):
    fig = Figure(figsize=(3.2, 2.4), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    label = ax.text(0.13, 0.57, "", transform=ax.transAxes, va="top", **style)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    glyphs = GlyphRenderer(canvas.get_renderer())
    texts = TextReplay(GlyphRenderer(canvas.get_renderer()))
    # The second time from the cache; from the third, a replay of the first draw with new strings.
    for shown in [text, text, "step 1", text, text[::-1], "", text]:
        label.set_text(shown)
        canvas.restore_region(background)
        label.draw(canvas.get_renderer())
        drawn_by_agg = np.asarray(canvas.buffer_rgba()).copy()
        for draw in (lambda: label.draw(glyphs), lambda: texts.draw(label)):
            canvas.restore_region(background)
            draw()
            assert np.array_equal(np.asarray(canvas.buffer_rgba()), drawn_by_agg), shown
    assert (id(label) in texts._recorded) == ("bbox" not in style)  # a boxed text is drawn the ordinary way


def test_replayed_text_follows_changes_of_its_style():
    fig = Figure(figsize=(3.2, 2.4), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    label = ax.text(0.1, 0.5, "", transform=ax.transAxes, ha="left")
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    texts = TextReplay(GlyphRenderer(canvas.get_renderer()))
    changes = [lambda: None, lambda: label.set_color("C3"), lambda: label.set_position((0.3, 0.2)),
               lambda: label.set_ha("center"), lambda: label.set_fontsize(17), lambda: label.set_rotation(20),
               lambda: label.set_alpha(0.5), lambda: label.set_text("two\nlines 9"), lambda: label.set_clip_on(True)]
    for step, change in enumerate(changes):
        label.set_text(f"step {step}")
        change()
        canvas.restore_region(background)
        label.draw(canvas.get_renderer())
        drawn_by_agg = np.asarray(canvas.buffer_rgba()).copy()
        canvas.restore_region(background)
        texts.draw(label)
        assert np.array_equal(np.asarray(canvas.buffer_rgba()), drawn_by_agg), step


@pytest.mark.parametrize("alphabet", ["0123456789", "ab", "x"])
def test_all_pairs_string_has_each_pair_of_characters_side_by_side_once(alphabet):
    text = glyphs._all_pairs(alphabet)
    neighbours = [text[i : i + 2] for i in range(len(text) - 1)]
    assert sorted(neighbours) == sorted(a + b for a in alphabet for b in alphabet)


@pytest.mark.parametrize("style", ["normal", "italic"])
@pytest.mark.parametrize("family", ["sans-serif", "serif", "monospace"])
def test_text_measured_from_glyphs_and_pairs_is_agg_measure(family, style):
    canvas = FigureCanvasAgg(Figure(dpi=100))
    agg = canvas.get_renderer()
    glyphs = GlyphRenderer(agg)
    strings = [f"step {step} / {total}" for step in range(0, 1000, 37) for total in (100, 999)]
    strings += ["AVAWAY To. Wa", "loss = 1.25e-03", "jpq|", "ab", " a", "a ", "x  y", " ", "' ", "^", "_", "j",
                "fj", "T.", "\"Ta\" * (f')", "g", "Ωμ²±°"]
    printable = string.printable[:95]
    random = np.random.default_rng(7)
    strings += ["".join(random.choice(list(printable), size=random.integers(1, 12))) for _ in range(200)]
    for size in (7, 11, 14.5):
        prop = FontProperties(family=family, style=style, size=size)
        for text in strings:
            assert glyphs.get_text_width_height_descent(text, prop, False) == \
                agg.get_text_width_height_descent(text, prop, False), text


@pytest.mark.parametrize("steps", [list(range(STEPS)), [0, 5, 5, 2, 11, 0]], ids=["forward", "jumps back"])
def test_gif_frames_are_each_full_frame_in_the_global_palette(tmp_path, steps):
    """Each frame stores only its changed box; decoded, every frame is the whole picture exactly."""
    fig, update = contour_scene()
    expected = list(render_frames(fig, update, steps))
    path = save_animation(fig, update, steps, tmp_path / "race.gif")
    with Image.open(path) as gif:
        colours = gif.global_palette.palette
    palette = Image.new("P", (1, 1))
    # The table is padded to 256 entries with black, which the frames were not quantized to.
    palette.putpalette(colours.rstrip(b"\0").ljust(-(-len(colours.rstrip(b"\0")) // 3) * 3, b"\0"))
    decoded = iio.imread(path, index=None)[..., :3]
    assert len(decoded) == len(steps)
    for frame, picture in zip(decoded, expected):
        quantized = Image.fromarray(picture).quantize(palette=palette, dither=Image.Dither.NONE).convert("RGB")
        assert np.array_equal(frame, np.asarray(quantized))


def test_failed_ffmpeg_is_one_error_and_leaves_nothing_behind(tmp_path, monkeypatch):
    ffmpeg = tmp_path / "ffmpeg"
    ffmpeg.write_text("#!/bin/sh\necho 'Unknown encoder libx264' >&2\nexit 1\n")
    ffmpeg.chmod(0o755)
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(ffmpeg))
    fig, update = contour_scene()
    path = tmp_path / "race.mp4"
    threads = threading.active_count()
    with pytest.raises(RunError) as caught:
        save_animation(fig, update, STEPS, path)
    assert str(caught.value) == f"cannot write {path}: ffmpeg failed: [Errno 32] Broken pipe"
    assert [entry.name for entry in tmp_path.iterdir()] == ["ffmpeg"]
    assert threading.active_count() == threads


@pytest.mark.parametrize("failure", [RuntimeError, KeyboardInterrupt], ids=["error", "ctrl-c"])
def test_mp4_writer_thread_ends_when_drawing_stops(tmp_path, failure):
    fig, update = contour_scene()
    threads = threading.active_count()

    def update_then_fail(step: int) -> list[Artist]:
        if step == STEPS - 1:
            raise failure("stop")
        return update(step)

    with pytest.raises(failure):
        save_animation(fig, update_then_fail, STEPS, tmp_path / "race.mp4")
    assert threading.active_count() == threads
    assert not any(tmp_path.iterdir())


class _PlainLines:
    """Stands in for LineReplay: every line drawn by its own ``draw``."""

    def __init__(self, renderer) -> None:
        self.renderer = renderer

    def draw(self, line: Line2D) -> None:
        line.draw(self.renderer)


def styled_lines_scene() -> Scene:
    """Lines of many styles, some changing style, masked data or length between frames."""
    fig = Figure(figsize=(3.2, 2.4), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set(xlim=(-2, 2), ylim=(-2, 2))
    path = spiral(1.5, 1.8, 0.0)
    other = spiral(1.0, 1.2, 1.0)
    dashed, = ax.plot([], [], "--", lw=1.5, color="C1")
    gapped, = ax.plot([], [], ":", lw=2, color="C2", gapcolor="0.8")
    markers, = ax.plot([], [], "s-", ms=4, mfc="w", mec="C3", color="C3", alpha=0.7)
    heads, = ax.plot([], [], "o", ms=6, mec="k")
    masked, = ax.plot([], [], "C4-")
    changing, = ax.plot([], [], "C5-", lw=1)
    stepped, = ax.plot([], [], "C6-", drawstyle="steps-post")

    def update(step: int) -> list[Artist]:
        gap = np.full(1, np.nan)
        dashed.set_data(path[: step + 1, 0], path[: step + 1, 1])
        gapped.set_data(-other[: step + 1, 0], other[: step + 1, 1])
        markers.set_data(other[: step + 1, 0], -other[: step + 1, 1])
        heads.set_data([path[step, 0], other[step, 0]], [path[step, 1], other[step, 1]])
        # Two trails in one line, split by NaN, as optviz's own animation draws them.
        masked.set_data(np.ma.masked_greater(np.r_[path[:step + 1, 0], gap, other[:step + 1, 1]], 1.5),
                        np.r_[path[:step + 1, 1], gap, other[:step + 1, 0]])
        changing.set_data(path[: step + 1, 1], path[: step + 1, 0])
        changing.set_color(f"C{step % 3}")
        changing.set_linewidth(1 + step % 2)
        stepped.set_data(np.arange(step + 1) / STEPS, other[: step + 1, 0])
        return [dashed, gapped, markers, heads, masked, changing, stepped]

    return fig, update


@pytest.mark.parametrize("scene", [contour_scene, styled_lines_scene, two_panel_scene],
                         ids=["contour", "styled lines", "two axes"])
def test_replayed_lines_are_their_own_draws_pixel_for_pixel(scene, monkeypatch):
    fig, update = scene()
    replayed = [frame.copy() for frame in render_frames(fig, update, STEPS)]
    monkeypatch.setattr(frames, "LineReplay", _PlainLines)
    fig, update = scene()
    drawn = [frame.copy() for frame in render_frames(fig, update, STEPS)]
    for step, (frame, reference) in enumerate(zip(replayed, drawn)):
        assert np.array_equal(frame, reference), f"frame {step} differs"
