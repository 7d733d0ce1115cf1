"""Video surfaces: raster blits offscreen; the GL shader's colours and letterbox under Xvfb."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import dataclasses
import subprocess
import sys
import time

import av
import numpy as np
import numpy.typing as npt
import pytest
from PySide6.QtGui import QColor, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

from app.streams.frames import FrameRequest, PixelFormat, VideoFrame
from widgets import video_surface as vs
from widgets.video_surface import (
    ColourMatrix,
    GlVideoSurface,
    RasterVideoSurface,
    VideoSurface,
    choose_surface_class,
    colour_coefficients,
    fit_size,
)

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
GREY = (128, 128, 128)
BLACK = (0, 0, 0)

_SWS_SPACE = {ColourMatrix.BT709: "ITU709", ColourMatrix.BT601: "ITU601"}


def bgra_frame(seq: int, colours: list[tuple[int, int, int]], w: int, h: int) -> VideoFrame:
    """Vertical bars of the given RGB colours, as the decoder's BGRA fallback frame."""
    data = np.zeros((h, w, 4), dtype=np.uint8)
    data[..., 3] = 255
    step = w // len(colours)
    for i, (r, g, b) in enumerate(colours):
        data[:, i * step : (i + 1) * step, :3] = (b, g, r)
    return VideoFrame(seq, w, h, PixelFormat.BGRA, data, w, h, time.monotonic())


def rgb_to_yuv(rgb: tuple[int, int, int], matrix: ColourMatrix) -> tuple[int, int, int]:
    """Limited-range Y'CbCr of an RGB colour (the inverse of what the shader computes)."""
    kr, kb = (0.2126, 0.0722) if matrix is ColourMatrix.BT709 else (0.299, 0.114)
    r, g, b = (c / 255.0 for c in rgb)
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - y) / (2 * (1 - kb))
    cr = (r - y) / (2 * (1 - kr))
    return round(16 + 219 * y), round(128 + 224 * cb), round(128 + 224 * cr)


def yuv_frame(
    seq: int, colours: list[tuple[int, int, int]], w: int, h: int, matrix: ColourMatrix
) -> VideoFrame:
    """Vertical bars in I420 (bar edges on even columns so chroma subsampling does not blur)."""
    step = w // len(colours)
    assert step % 2 == 0
    y = np.zeros((h, w), dtype=np.uint8)
    u = np.zeros((h // 2, w // 2), dtype=np.uint8)
    v = np.zeros((h // 2, w // 2), dtype=np.uint8)
    for i, rgb in enumerate(colours):
        yy, uu, vv = rgb_to_yuv(rgb, matrix)
        y[:, i * step : (i + 1) * step] = yy
        u[:, i * step // 2 : (i + 1) * step // 2] = uu
        v[:, i * step // 2 : (i + 1) * step // 2] = vv
    data = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)
    return VideoFrame(seq, w, h, PixelFormat.YUV420P, data, w, h, time.monotonic())


def sws_rgb(frame: VideoFrame, matrix: ColourMatrix) -> npt.NDArray[np.uint8]:
    """FFmpeg's own conversion of the same planes: the independent reference for the shader."""
    src = av.VideoFrame.from_ndarray(frame.data, format="yuv420p")
    out = src.reformat(format="rgb24", src_colorspace=_SWS_SPACE[matrix])
    return out.to_ndarray()  # type: ignore[no-any-return]


def pixel(image: QImage, x: int, y: int) -> tuple[int, int, int]:
    c = QColor(image.pixel(x, y))
    return c.red(), c.green(), c.blue()


def assert_close(got: tuple[int, ...], want: tuple[int, ...], tol: int, where: str) -> None:
    assert max(abs(a - b) for a, b in zip(got, want, strict=True)) <= tol, (
        f"{where}: got {got}, want {want}"
    )


# -- pure helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "box", "want"),
    [
        ((1920, 1080), (480, 270), (480, 270)),
        ((1920, 1080), (400, 400), (400, 225)),
        ((640, 480), (640, 360), (480, 360)),
        ((0, 0), (320, 320), (320, 180)),  # unknown source: assume 16:9
        ((1920, 1080), (0, 10), (1, 1)),
    ],
)
def test_fit_size(src: tuple[int, int], box: tuple[int, int], want: tuple[int, int]) -> None:
    assert fit_size(*src, *box) == want


@pytest.mark.parametrize("matrix", list(ColourMatrix))
def test_shader_coefficients_match_ffmpeg(matrix: ColourMatrix) -> None:
    # The shader's arithmetic, done in numpy, against sws on random pixels.
    rng = np.random.default_rng(7)
    w, h = 64, 32
    y = rng.integers(16, 236, size=(h, w), dtype=np.uint8)
    uv = rng.integers(16, 241, size=(2, h // 2, w // 2), dtype=np.uint8)
    data = np.concatenate([y.reshape(-1), uv.reshape(-1)]).reshape(h * 3 // 2, w)
    frame = VideoFrame(0, w, h, PixelFormat.YUV420P, data, w, h, 0.0)
    ref = sws_rgb(frame, matrix).astype(np.float64)

    offset, rows = colour_coefficients(matrix, full_range=False)
    # Compare at the top-left of each 2x2 block, where FFmpeg's chroma is not interpolated.
    planes = np.stack([y[::2, ::2] / 255.0, uv[0] / 255.0, uv[1] / 255.0], axis=-1)
    samples = planes - np.array(offset)
    mine = np.clip(samples @ np.array(rows).T, 0.0, 1.0) * 255.0
    assert np.abs(mine - ref[::2, ::2]).max() <= 3.0


# -- raster surface (offscreen) ---------------------------------------------------------------


@pytest.fixture
def raster(qtbot) -> RasterVideoSurface:  # type: ignore[no-untyped-def]
    widget = RasterVideoSurface()
    qtbot.addWidget(widget)
    widget.resize(480, 270)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_raster_is_a_video_surface(raster: RasterVideoSurface) -> None:
    assert isinstance(raster, VideoSurface)


def test_raster_blits_bgra_colours(qtbot, raster: RasterVideoSurface) -> None:  # type: ignore[no-untyped-def]
    request = raster.wanted_request()
    assert request == FrameRequest(PixelFormat.BGRA, 480, 270)
    frame = bgra_frame(41, [RED, BLUE], request.width, request.height)
    with qtbot.waitSignal(raster.frame_presented, timeout=10000) as blocker:
        raster.show_frame(frame)
    assert blocker.args[0] == 41
    assert abs(blocker.args[1] - time.monotonic()) < 2.0
    assert raster.presented == 1
    assert raster.last_presented_seq == 41

    image = raster.grab().toImage()
    assert (image.width(), image.height()) == (480, 270)
    for x, y in [(5, 5), (100, 135), (230, 260)]:
        assert pixel(image, x, y) == RED, (x, y)
    for x, y in [(250, 5), (400, 135), (474, 260)]:
        assert pixel(image, x, y) == BLUE, (x, y)


def test_raster_request_follows_resize_and_aspect(qtbot, raster: RasterVideoSurface) -> None:  # type: ignore[no-untyped-def]
    with qtbot.waitSignal(raster.request_changed, timeout=10000) as blocker:
        raster.resize(640, 640)
    assert blocker.args[0] == FrameRequest(PixelFormat.BGRA, 640, 360)
    assert raster.wanted_request() == FrameRequest(PixelFormat.BGRA, 640, 360)

    # A 4:3 camera: the request switches to a 4:3 fit as soon as its first frame is shown.
    data = np.full((240, 320, 4), 255, dtype=np.uint8)
    frame = VideoFrame(1, 320, 240, PixelFormat.BGRA, data, 640, 480, time.monotonic())
    with qtbot.waitSignal(raster.request_changed, timeout=10000) as blocker:
        raster.show_frame(frame)
    assert blocker.args[0] == FrameRequest(PixelFormat.BGRA, 640, 480)


def test_raster_scales_stale_size_and_letterboxes(qtbot, raster: RasterVideoSurface) -> None:  # type: ignore[no-untyped-def]
    raster.resize(480, 480)
    qtbot.waitUntil(lambda: raster.height() == 480, timeout=10000)
    # Frame produced for an older, smaller size: drawn scaled into the 480x270 target rect.
    frame = bgra_frame(3, [GREEN, RED], 240, 136)
    with qtbot.waitSignal(raster.frame_presented, timeout=10000):
        raster.show_frame(frame)
    image = raster.grab().toImage()
    top = (480 - 270) // 2
    assert pixel(image, 240, 10) == BLACK
    assert pixel(image, 240, 470) == BLACK
    assert pixel(image, 60, top + 135) == GREEN
    assert pixel(image, 420, top + 135) == RED


def test_raster_clear_and_seq_order(qtbot, raster: RasterVideoSurface) -> None:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    raster.frame_presented.connect(lambda seq, _t: seen.append(seq))
    for seq in (5, 6, 7):
        raster.show_frame(bgra_frame(seq, [GREY], 480, 270))
        qtbot.waitUntil(lambda seq=seq: raster.last_presented_seq == seq, timeout=10000)
    assert seen == [5, 6, 7]
    assert pixel(raster.grab().toImage(), 240, 135) == GREY
    raster.clear()
    assert pixel(raster.grab().toImage(), 240, 135) == BLACK
    # Repaints without a new frame are not presentations.
    raster.repaint()
    assert raster.presented == 3


def test_raster_converts_stray_yuv_frame(qtbot, raster: RasterVideoSurface) -> None:  # type: ignore[no-untyped-def]
    # The first frames after a switch may still be YUV: shown (converted), not dropped.
    frame = yuv_frame(9, [BLUE, GREEN], 64, 36, ColourMatrix.BT601)
    with qtbot.waitSignal(raster.frame_presented, timeout=10000):
        raster.show_frame(frame)
    image = raster.grab().toImage()
    assert_close(pixel(image, 60, 135), BLUE, 6, "left bar")
    assert_close(pixel(image, 420, 135), GREEN, 6, "right bar")


def test_malformed_frame_is_dropped(raster: RasterVideoSurface) -> None:
    bad = VideoFrame(1, 480, 270, PixelFormat.BGRA, np.zeros((10, 10, 4), np.uint8), 480, 270, 0.0)
    raster.show_frame(bad)
    raster.repaint()
    assert raster.presented == 0


# -- choice -----------------------------------------------------------------------------------


def test_choice_offscreen_is_raster(qapp, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    if QGuiApplication.platformName() != "offscreen":
        pytest.skip("only meaningful on the offscreen platform")
    monkeypatch.delenv(vs.RENDERER_ENV, raising=False)
    assert vs.probe_gl_renderer() is None
    assert choose_surface_class() is RasterVideoSurface


def test_choice_env_override(qapp, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(vs.RENDERER_ENV, "gl")
    assert choose_surface_class() is GlVideoSurface
    monkeypatch.setenv(vs.RENDERER_ENV, "RASTER")
    assert choose_surface_class() is RasterVideoSurface


@pytest.mark.parametrize(
    ("renderer", "software"),
    [
        ("llvmpipe (LLVM 15.0.6, 256 bits)", True),
        ("Google SwiftShader", True),
        ("Microsoft Basic Render Driver", True),
        ("NVIDIA GeForce RTX 3060/PCIe/SSE2", False),
        ("Mesa Intel(R) UHD Graphics 620 (KBL GT2)", False),
        ("AMD Radeon RX 6600 (radeonsi, navi23, LLVM 15.0.6, DRM 3.49)", False),
    ],
)
def test_software_renderer_names(renderer: str, software: bool) -> None:
    assert vs.is_software_renderer(renderer) is software


def test_choice_auto_uses_probe(qapp, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(vs.RENDERER_ENV, raising=False)
    monkeypatch.setattr(vs, "probe_gl_renderer", lambda: "NVIDIA GeForce RTX 3060/PCIe/SSE2")
    assert choose_surface_class() is GlVideoSurface
    monkeypatch.setattr(vs, "probe_gl_renderer", lambda: "llvmpipe (LLVM 15.0.6, 256 bits)")
    assert choose_surface_class() is RasterVideoSurface


# -- GL surface (Xvfb + Mesa llvmpipe) --------------------------------------------------------


@pytest.fixture
def gl(qtbot, qapp) -> GlVideoSurface:  # type: ignore[no-untyped-def]
    if vs.probe_gl_renderer() is None:
        pytest.skip(
            f"no OpenGL on platform {QGuiApplication.platformName()!r}: "
            "run with xvfb-run -a and QT_QPA_PLATFORM=xcb"
        )
    widget = GlVideoSurface()
    qtbot.addWidget(widget)
    widget.resize(320, 180)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


BARS = [RED, GREEN, BLUE, GREY]


def bar_centres(rect_x: int, rect_y: int, rect_w: int, rect_h: int) -> list[tuple[int, int]]:
    n = len(BARS)
    return [(rect_x + (2 * i + 1) * rect_w // (2 * n), rect_y + rect_h // 2) for i in range(n)]


@pytest.mark.xvfb
@pytest.mark.parametrize("matrix", list(ColourMatrix))
def test_gl_yuv_bars(qtbot, gl: GlVideoSurface, matrix: ColourMatrix) -> None:  # type: ignore[no-untyped-def]
    assert gl.wanted_request() == FrameRequest(PixelFormat.YUV420P, 0, 0)
    gl.set_colour(matrix)
    frame = yuv_frame(12, BARS, 64, 36, matrix)
    with qtbot.waitSignal(gl.frame_presented, timeout=10000) as blocker:
        gl.show_frame(frame)
        gl.update()
    assert blocker.args[0] == 12
    assert gl.last_presented_seq == 12
    assert not gl.gl_failed

    image = gl.grabFramebuffer()
    assert (image.width(), image.height()) == (320, 180)
    reference = sws_rgb(frame, matrix)
    for (x, y), want in zip(bar_centres(0, 0, 320, 180), BARS, strict=True):
        got = pixel(image, x, y)
        # The generated YUV is the rounded inverse of the colour: allow rounding and clipping.
        assert_close(got, want, 4, f"{matrix} bar at {x},{y}")
        sx, sy = x * 64 // 320, y * 36 // 180
        assert_close(got, tuple(int(c) for c in reference[sy, sx]), 3, f"vs sws at {x},{y}")


@pytest.mark.xvfb
def test_gl_wrong_matrix_is_visibly_different(qtbot, gl: GlVideoSurface) -> None:  # type: ignore[no-untyped-def]
    # Guards against a shader that ignores its uniforms: BT.601 planes shown as BT.709 shift red.
    frame = yuv_frame(1, BARS, 64, 36, ColourMatrix.BT601)
    gl.set_colour(ColourMatrix.BT709)
    gl.show_frame(frame)
    image = gl.grabFramebuffer()
    red = pixel(image, 40, 90)
    assert max(abs(a - b) for a, b in zip(red, RED, strict=True)) > 15, red


@pytest.mark.xvfb
def test_gl_letterbox_and_texture_reuse(qtbot, gl: GlVideoSurface) -> None:  # type: ignore[no-untyped-def]
    gl.set_colour(ColourMatrix.BT709)
    gl.resize(320, 320)
    qtbot.waitUntil(lambda: gl.height() == 320, timeout=10000)
    gl.show_frame(yuv_frame(1, BARS, 64, 36, ColourMatrix.BT709))
    image = gl.grabFramebuffer()
    assert (image.width(), image.height()) == (320, 320)
    top = (320 - 180) // 2
    for x in (5, 160, 315):
        assert pixel(image, x, 5) == BLACK
        assert pixel(image, x, top - 3) == BLACK
        assert pixel(image, x, top + 180 + 2) == BLACK
        assert pixel(image, x, 315) == BLACK
    for (x, y), want in zip(bar_centres(0, top, 320, 180), BARS, strict=True):
        assert_close(pixel(image, x, y), want, 4, f"bar at {x},{y}")

    # Same size again: the textures are updated in place (glTexSubImage2D), colours follow.
    reversed_bars = list(reversed(BARS))
    with qtbot.waitSignal(gl.frame_presented, timeout=10000) as blocker:
        gl.show_frame(yuv_frame(2, reversed_bars, 64, 36, ColourMatrix.BT709))
    assert blocker.args[0] == 2
    image = gl.grabFramebuffer()
    for (x, y), want in zip(bar_centres(0, top, 320, 180), reversed_bars, strict=True):
        assert_close(pixel(image, x, y), want, 4, f"second frame bar at {x},{y}")

    # Pillarbox for a 4:3 source in a wide widget.
    gl.resize(320, 120)
    qtbot.waitUntil(lambda: gl.height() == 120, timeout=10000)
    gl.show_frame(yuv_frame(3, BARS, 64, 48, ColourMatrix.BT709))
    image = gl.grabFramebuffer()
    assert pixel(image, 5, 60) == BLACK
    assert pixel(image, 314, 60) == BLACK
    assert_close(pixel(image, 100, 60), RED, 4, "first bar of 4:3 frame")
    assert gl.presented == 3


@pytest.mark.xvfb
def test_gl_shows_bgra_and_clears(qtbot, gl: GlVideoSurface) -> None:  # type: ignore[no-untyped-def]
    gl.show_frame(bgra_frame(4, [BLUE, RED], 320, 180))
    image = gl.grabFramebuffer()
    assert_close(pixel(image, 80, 90), BLUE, 1, "left")
    assert_close(pixel(image, 240, 90), RED, 1, "right")
    gl.clear()
    assert pixel(gl.grabFramebuffer(), 160, 90) == BLACK


@pytest.mark.xvfb
def test_gl_choice_on_llvmpipe(gl: GlVideoSurface, monkeypatch: pytest.MonkeyPatch) -> None:
    renderer = vs.probe_gl_renderer()
    assert renderer
    assert gl.gl_renderer == renderer
    monkeypatch.delenv(vs.RENDERER_ENV, raising=False)
    want = RasterVideoSurface if vs.is_software_renderer(renderer) else GlVideoSurface
    assert choose_surface_class() is want


@pytest.mark.xvfb
def test_gl_many_frames_and_teardown_frees_textures(qtbot, qtlog) -> None:  # type: ignore[no-untyped-def]
    if vs.probe_gl_renderer() is None:
        pytest.skip("no OpenGL: run with xvfb-run -a and QT_QPA_PLATFORM=xcb")
    window = QWidget()
    layout = QVBoxLayout(window)
    surface = GlVideoSurface()
    layout.addWidget(surface)
    window.resize(160, 90)
    window.show()
    qtbot.waitExposed(window)
    frames = [yuv_frame(i, [BARS[i % 4]], 64, 36, ColourMatrix.BT709) for i in range(4)]
    # Several thousand PySide calls: without the refcount guard Python 3.11 aborts here.
    for seq in range(400):
        surface.show_frame(dataclasses.replace(frames[seq % 4], seq=seq))
        deadline = time.monotonic() + 2.0
        while surface.last_presented_seq != seq and time.monotonic() < deadline:
            QApplication.processEvents()
        assert surface.last_presented_seq == seq
    assert surface.presented == 400
    assert surface.last_presented_seq == 399
    resources = surface._gl
    assert resources is not None
    assert len(resources.planes) == 4

    destroyed = []
    surface.destroyed.connect(lambda: destroyed.append(True))
    window.deleteLater()
    qtbot.waitUntil(lambda: bool(destroyed), timeout=10000)
    assert resources.planes == []
    assert not [r for r in qtlog.records if "not been destroyed" in r.message]


def test_refcount_guard_survives_many_pyside_calls() -> None:
    # In a child process: when the guard is missing the interpreter aborts (none_dealloc).
    code = (
        "import sys\n"
        "import widgets.video_surface\n"
        "from PySide6.QtCore import QObject, Signal, QPoint\n"
        "class O(QObject):\n"
        "    s = Signal(int)\n"
        "o = O(); p = QPoint()\n"
        "for i in range(30000):\n"
        "    p.setX(i)\n"
        "    o.s.emit(i)\n"
        "if sys.version_info < (3, 12):\n"
        "    assert min(sys.getrefcount(x) for x in (None, True, False)) > 2**58\n"
        "print('ok')\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_raster_view_rect_shows_only_that_part(qtbot, raster: RasterVideoSurface) -> None:  # type: ignore[no-untyped-def]
    raster.set_view((0.5, 0.0, 0.25, 1.0))  # the third of four bars: blue
    raster.show_frame(bgra_frame(1, BARS, 64, 36))
    image = raster.grab().toImage()
    assert_close(pixel(image, image.width() // 2, image.height() // 2), BLUE, 4, "centre")
    raster.set_view(None)
    image = raster.grab().toImage()
    assert_close(pixel(image, image.width() // 8, image.height() // 2), RED, 4, "full view again")


@pytest.mark.xvfb
def test_gl_view_rect_crops_on_the_gpu(qtbot, gl: GlVideoSurface) -> None:  # type: ignore[no-untyped-def]
    gl.set_view((0.25, 0.0, 0.25, 1.0))  # the second bar: green
    frame = yuv_frame(3, BARS, 64, 36, ColourMatrix.BT709)
    gl.set_colour(ColourMatrix.BT709)
    with qtbot.waitSignal(gl.frame_presented, timeout=10000):
        gl.show_frame(frame)
        gl.update()
    image = gl.grabFramebuffer()
    assert_close(pixel(image, 160, 90), GREEN, 4, "centre of the view")


def test_raster_emits_frame_presented_once_connected(qtbot, raster: RasterVideoSurface) -> None:  # type: ignore[no-untyped-def]
    """The per-frame signal is skipped while nothing listens (a flag set by connectNotify),
    and reaches a listener connected later."""
    raster.resize(64, 48)
    raster.show()
    qtbot.waitExposed(raster)
    calls: list[int] = []
    raster.presented_callback = calls.append
    raster.show_frame(bgra_frame(1, [(10, 20, 30)], 64, 48))
    qtbot.waitUntil(lambda: calls == [1])
    assert not raster._presented_listened
    seen: list[int] = []
    raster.frame_presented.connect(lambda seq, _t: seen.append(seq))
    assert raster._presented_listened
    raster.show_frame(bgra_frame(2, [(10, 20, 30)], 64, 48))
    qtbot.waitUntil(lambda: seen == [2])
    assert calls == [1, 2]
