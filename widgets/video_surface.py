"""Video surfaces for a tile: GL (YUV textures, shader colour, GPU scaling) and raster fallback."""

from __future__ import annotations

import enum
import functools
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Protocol, cast, runtime_checkable

import numpy as np
import numpy.typing as npt
import shiboken6
from PySide6.QtCore import QMetaMethod, QObject, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QImage,
    QOffscreenSurface,
    QOpenGLContext,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QVector3D,
    QVector4D,
)
from PySide6.QtOpenGL import (
    QOpenGLBuffer,
    QOpenGLShader,
    QOpenGLShaderProgram,
    QOpenGLTexture,
    QOpenGLVertexArrayObject,
)
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QWidget

from app.streams.frames import FrameRequest, PixelFormat, VideoFrame

log = logging.getLogger(__name__)


def guard_singleton_refcounts() -> None:
    """Work around PySide6 6.12 dropping references to None and True on Python < 3.12.

    Measured here (PySide6 6.12.0 abi3 wheel, CPython 3.11.7): every call of a C++ method
    returning void (``QWidget.update``, ``QPainter.fillRect``, every ``QOpenGLFunctions.gl*``)
    lowers ``sys.getrefcount(None)`` by one, and every ``Signal.emit()`` lowers
    ``sys.getrefcount(True)`` by one. Both start in the thousands, so a video wall aborts with
    "Fatal Python error: none_dealloc" (or bool_dealloc) within seconds. Python 3.12 made
    these singletons immortal (PEP 683); on 3.11 we emulate that by lifting their counts far
    out of reach. Idempotent; a no-op on 3.12+. Call it once at start-up, before any Qt use.
    """
    if sys.version_info >= (3, 12):
        return
    import ctypes  # only on the affected interpreters

    for singleton in (None, True, False):
        refcnt = ctypes.c_ssize_t.from_address(id(singleton))
        if refcnt.value < _REFCOUNT_FLOOR:
            # 2**60 lost references: millennia even at a million calls a second.
            refcnt.value += 2 * _REFCOUNT_FLOOR


_REFCOUNT_FLOOR = 1 << 59
guard_singleton_refcounts()

RENDERER_ENV = "TORRAZZO_RENDERER"

# GL enums: QOpenGLFunctions takes plain ints and PySide6 does not export the GL constants.
_GL_TEXTURE_2D = 0x0DE1
_GL_TEXTURE0 = 0x84C0
_GL_TEXTURE_MIN_FILTER = 0x2801
_GL_TEXTURE_MAG_FILTER = 0x2800
_GL_TEXTURE_WRAP_S = 0x2802
_GL_TEXTURE_WRAP_T = 0x2803
_GL_LINEAR = 0x2601
_GL_CLAMP_TO_EDGE = 0x812F
_GL_UNPACK_ALIGNMENT = 0x0CF5
_GL_UNSIGNED_BYTE = 0x1401
_GL_FLOAT = 0x1406
_GL_RED = 0x1903
_GL_R8 = 0x8229
_GL_LUMINANCE = 0x1909
_GL_RGBA = 0x1908
_GL_COLOR_BUFFER_BIT = 0x4000
_GL_TRIANGLE_STRIP = 0x0005
_GL_BLEND = 0x0BE2
_GL_DEPTH_TEST = 0x0B71
_GL_SCISSOR_TEST = 0x0C11
_GL_RENDERER = 0x1F01

# Substrings of GL_RENDERER for rasterisers that run on the CPU: GL there costs more than raster.
SOFTWARE_RENDERERS = (
    "llvmpipe",
    "softpipe",
    "swrast",
    "software rasterizer",
    "swiftshader",
    "lavapipe",
    "microsoft basic render",
    "gdi generic",
    "apple software renderer",
)

# Platform plugins without a GL-capable window system: probing them is pointless.
_NO_GL_PLATFORMS = frozenset({"offscreen", "minimal", "linuxfb", "vnc", "vkkhrdisplay"})

_DEFAULT_ASPECT = (16, 9)


class ColourMatrix(enum.Enum):
    """YCbCr → RGB matrix of a stream (cameras rarely signal it; HD is almost always BT.709)."""

    BT601 = "bt601"
    BT709 = "bt709"


# Rows of the R'G'B' ← Y'CbCr matrix for Y' in [0, 1] and Cb, Cr in [-0.5, 0.5].
_MATRICES: dict[ColourMatrix, tuple[tuple[float, float, float], ...]] = {
    ColourMatrix.BT601: (
        (1.0, 0.0, 1.402),
        (1.0, -0.344136, -0.714136),
        (1.0, 1.772, 0.0),
    ),
    ColourMatrix.BT709: (
        (1.0, 0.0, 1.5748),
        (1.0, -0.187324, -0.468124),
        (1.0, 1.8556, 0.0),
    ),
}


def auto_matrix(source_width: int, source_height: int) -> ColourMatrix:
    """FFmpeg's and the browsers' guess for unsignalled streams: SD is BT.601, HD is BT.709."""
    return (
        ColourMatrix.BT709 if source_height >= 720 or source_width >= 1280 else ColourMatrix.BT601
    )


def colour_coefficients(
    matrix: ColourMatrix, full_range: bool
) -> tuple[tuple[float, float, float], tuple[tuple[float, float, float], ...]]:
    """Offset and matrix rows that map normalised texture samples (Y, U, V in 0..1) to RGB.

    ``rgb[i] = dot(rows[i], sample - offset)``; the range scaling is folded into the rows
    so the shader does one subtraction and three dot products per pixel.
    """
    if full_range:
        offset = (0.0, 128.0 / 255.0, 128.0 / 255.0)
        y_scale = 1.0
        c_scale = 1.0
    else:
        offset = (16.0 / 255.0, 128.0 / 255.0, 128.0 / 255.0)
        y_scale = 255.0 / 219.0
        c_scale = 255.0 / 224.0
    rows = tuple((r[0] * y_scale, r[1] * c_scale, r[2] * c_scale) for r in _MATRICES[matrix])
    return offset, rows


ViewRect = tuple[float, float, float, float]
FULL_VIEW: ViewRect = (0.0, 0.0, 1.0, 1.0)


def _clamp_view(view: ViewRect | None) -> ViewRect:
    if view is None:
        return FULL_VIEW
    x, y, w, h = view
    w = min(1.0, max(0.01, w))
    h = min(1.0, max(0.01, h))
    return (min(max(0.0, x), 1.0 - w), min(max(0.0, y), 1.0 - h), w, h)


def fit_size(src_w: int, src_h: int, box_w: int, box_h: int) -> tuple[int, int]:
    """Largest size with the source's aspect ratio that fits the box (at least 1x1)."""
    if src_w <= 0 or src_h <= 0:
        src_w, src_h = _DEFAULT_ASPECT
    if box_w <= 0 or box_h <= 0:
        return 1, 1
    if box_w * src_h <= box_h * src_w:
        w, h = box_w, round(box_w * src_h / src_w)
    else:
        w, h = round(box_h * src_w / src_h), box_h
    return max(1, w), max(1, h)


def fit_rect(src_w: int, src_h: int, box_w: int, box_h: int) -> QRect:
    """The fitted size centred in the box (letterbox or pillarbox)."""
    w, h = fit_size(src_w, src_h, box_w, box_h)
    return QRect((box_w - w) // 2, (box_h - h) // 2, w, h)


def _device_size(widget: QWidget) -> tuple[int, int]:
    dpr = widget.devicePixelRatioF()
    return round(widget.width() * dpr), round(widget.height() * dpr)


def _frame_ok(frame: VideoFrame) -> bool:
    """Reject frames whose array cannot hold what the header says (bad input must not crash GL)."""
    w, h = frame.width, frame.height
    if w <= 0 or h <= 0 or not frame.data.flags.c_contiguous or frame.data.dtype != np.uint8:
        return False
    if frame.format is PixelFormat.YUV420P:
        need = w * h + 2 * ((w + 1) // 2) * ((h + 1) // 2)
        return int(frame.data.size) >= need
    return frame.data.shape[:2] == (h, w) and int(frame.data.size) >= w * h * 4


@runtime_checkable
class VideoSurface(Protocol):
    """What a tile needs from its video surface (both concrete classes are QWidgets).

    Signals (Qt, declared on each class): ``frame_presented(int seq, float monotonic_time)``,
    emitted from the paint code when a frame is drawn for the first time, and
    ``request_changed(object FrameRequest)``, emitted when ``wanted_request()`` changes.
    Thread: everything here is GUI-thread only.
    """

    presented: int
    last_presented_seq: int

    def show_frame(self, frame: VideoFrame) -> None: ...

    def clear(self) -> None: ...

    def wanted_request(self) -> FrameRequest: ...


class RasterVideoSurface(QWidget):
    """CPU fallback: blits BGRA frames that the decode thread already scaled to this size."""

    frame_presented = Signal(int, float)
    request_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.presented = 0
        self.last_presented_seq = -1
        # The tile's pane is told of each presented frame by a plain call: a Qt signal per
        # frame (argument conversion both ways) cost more than the pane's bookkeeping. The
        # signal is still emitted, for other listeners, when one is connected.
        self.presented_callback: Callable[[int], None] | None = None
        self._frame: VideoFrame | None = None
        self._image: QImage | None = None
        # QImage wraps this array without copying; it must outlive the image.
        self._pixels: npt.NDArray[np.uint8] | None = None
        self._new = False
        self._source = (0, 0)
        self.view: ViewRect = FULL_VIEW
        self._last_request = self.wanted_request()
        # Drawn over the picture in the same paint (the tile's overlays, see QtTile): one
        # paint per frame instead of one per overlay widget.
        # Called with the painter and the repainted rectangle (logical pixels): a picture-only
        # repaint skips the overlay parts beside the picture, still in the backing store.
        self.overlay_painter: Callable[[QPainter, QRect], None] | None = None
        # Geometry of the last unscaled blit, reused while the sizes stay the same.
        self._blit_key: tuple[int, ...] = ()
        self._blit_pos = QPointF()
        self._blit_bars: list[QRectF] = []
        self._blit_rect = QRect()  # the picture's part of the widget (logical pixels)
        self._fast = False  # the current picture has the last paint's geometry (show_frame)
        # The widget's size as of its last resize event, and whether anything listens to
        # frame_presented: read for every frame without a call into Qt (each PySide call
        # gives up the GIL and must win it back from the decode threads).
        self._size = (self.width(), self.height())
        self._presented_method = _presented_signal(self)
        self._presented_listened = False
        self.setAutoFillBackground(False)
        # Every pixel is painted in paintEvent (black bars included): skip Qt's background erase.
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)

    def wanted_request(self) -> FrameRequest:
        # With a view rectangle the whole frame is requested so large that the viewed part
        # fills the widget (capped at the decoded size by fit_size).
        dw, dh = _device_size(self)
        _vx, _vy, vw, vh = self.view
        w, h = fit_size(*self._source, math.ceil(dw / vw), math.ceil(dh / vh))
        return FrameRequest(PixelFormat.BGRA, w, h)

    def set_view(self, view: ViewRect | None) -> None:
        """Show only ``view`` = (x, y, w, h) of the picture, normalised; None for all of it.

        Used for one optic of a composite (mosaic) stream and for digital zoom.
        """
        self.view = _clamp_view(view)
        self._fast = False
        self._maybe_announce_request()
        self.update()

    def show_frame(self, frame: VideoFrame) -> None:
        if not _frame_ok(frame):
            log.warning("dropping malformed frame seq=%d %s", frame.seq, frame.format)
            return
        if frame.format is PixelFormat.BGRA:
            pixels = frame.data
        else:
            # Only while the decoder has not yet seen our BGRA request: convert here once.
            pixels = _yuv_to_bgra(frame, *self._fit_for(frame))
        h, w = pixels.shape[:2]
        self._pixels = pixels
        self._image = QImage(pixels.data, w, h, int(pixels.strides[0]), QImage.Format.Format_RGB32)
        self._image.setDevicePixelRatio(self.devicePixelRatioF())
        self._frame = frame
        self._new = True
        if (frame.source_width, frame.source_height) != self._source:
            self._source = (frame.source_width, frame.source_height)
            self._maybe_announce_request()
        key = (w, h, *self._size, frame.source_width, frame.source_height)
        self._fast = key == self._blit_key and self.view == FULL_VIEW
        if self._fast:
            # Same geometry as the last paint: repaint only the picture. The black bars and
            # the overlay parts beside it are already in the backing store; repainting them
            # cost a memset of the bars and a blend of the overlay bands per frame (a
            # maximised 1080p tile: 1.6 MB of bars, ~25 % of the GUI thread's time).
            self.update(self._blit_rect)
        else:
            self.update()

    def _fit_for(self, frame: VideoFrame) -> tuple[int, int]:
        return fit_size(frame.source_width, frame.source_height, *_device_size(self))

    def clear(self) -> None:
        self._frame = None
        self._image = None
        self._pixels = None
        self._new = False
        self._blit_key = ()  # the next picture repaints the whole widget
        self._fast = False
        self.update()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        size = event.size()
        self._size = (size.width(), size.height())
        self._fast = False
        self._maybe_announce_request()

    def connectNotify(self, signal: QMetaMethod) -> None:
        # Qt may hold an internal lock here: no call back into this QObject (its docs), so
        # only a comparison with the method looked up in __init__.
        super().connectNotify(signal)
        method = getattr(self, "_presented_method", None)  # None: still in __init__
        if method is None or signal == method:
            self._presented_listened = True
        # A disconnect leaves the flag set: emitting to no one is harmless, and counting
        # connections through disconnectNotify is unreliable (a disconnect-all reports none).

    def _maybe_announce_request(self) -> None:
        request = self.wanted_request()
        if request != self._last_request:
            self._last_request = request
            self.request_changed.emit(request)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        dirty = event.rect()
        try:
            image, frame = self._image, self._frame
            if image is None or frame is None:
                painter.fillRect(self.rect(), _BLACK)
                return
            key: tuple[int, ...] = ()
            if not self._fast:  # else show_frame found the same sizes as the last paint
                key = (image.width(), image.height(), *self._size)
                key += (frame.source_width, frame.source_height)
            if self._fast or (key == self._blit_key and self.view == FULL_VIEW):
                # The common case, once per video frame: same sizes as the last paint. When
                # only the picture is repainted (show_frame's update), the bars are outside
                # the clip: filling them would be four calls that draw nothing.
                if not (self._fast and dirty == self._blit_rect):
                    for bar in self._blit_bars:
                        painter.fillRect(bar, _BLACK)
                painter.drawImage(self._blit_pos, image)
            else:
                self._paint_fitted(painter, image, frame, key)
        finally:
            if self.overlay_painter is not None:
                self.overlay_painter(painter, dirty)
            painter.end()
        if self._new and self._frame is not None:
            self._new = False
            self.presented += 1
            seq = self.last_presented_seq = self._frame.seq
            if self.presented_callback is not None:
                self.presented_callback(seq)
            if self._presented_listened:
                self.frame_presented.emit(seq, time.monotonic())

    def _paint_fitted(
        self, painter: QPainter, image: QImage, frame: VideoFrame, key: tuple[int, ...]
    ) -> None:
        dpr = self.devicePixelRatioF()
        dw, dh = _device_size(self)
        vx, vy, vw, vh = self.view
        if self.view != FULL_VIEW:
            target = fit_rect(
                round(frame.source_width * vw), round(frame.source_height * vh), dw, dh
            )
            iw, ih = image.width(), image.height()
            source = QRectF(vx * iw, vy * ih, vw * iw, vh * ih)
            _fill_bars(painter, self.width(), self.height(), target, dpr)
            painter.drawImage(
                _logical(target, dpr),
                image,
                source,
            )
        elif _same_size(image, target := fit_rect(frame.source_width, frame.source_height, dw, dh)):
            # The decode thread scaled it to this size: a plain, unscaled blit, centred.
            target = QRect(
                target.x() + (target.width() - image.width()) // 2,
                target.y() + (target.height() - image.height()) // 2,
                image.width(),
                image.height(),
            )
            self._blit_bars = _bars(self.width(), self.height(), target, dpr)
            self._blit_pos = QPointF(target.x() / dpr, target.y() / dpr)
            self._blit_rect = _logical(target, dpr).toAlignedRect()
            self._blit_key = key
            for bar in self._blit_bars:
                painter.fillRect(bar, _BLACK)
            painter.drawImage(self._blit_pos, image)
        else:
            # A frame produced for the previous size, until the decoder catches up.
            _fill_bars(painter, self.width(), self.height(), target, dpr)
            painter.drawImage(
                _logical(target, dpr),
                image,
            )


_BLACK = QColor(0, 0, 0)
_PRESENTED_SIGNALS: dict[type, QMetaMethod] = {}


def _presented_signal(surface: QObject) -> QMetaMethod:
    """The surface class's ``frame_presented`` as a QMetaMethod (looked up once per class)."""
    cls = type(surface)
    method = _PRESENTED_SIGNALS.get(cls)
    if method is None:
        meta = surface.metaObject()
        method = meta.method(meta.indexOfSignal("frame_presented(int,double)"))
        _PRESENTED_SIGNALS[cls] = method
    return method


def _logical(rect: QRect, dpr: float) -> QRectF:
    """A rectangle in device pixels, in the widget's logical coordinates."""
    return QRectF(rect.x() / dpr, rect.y() / dpr, rect.width() / dpr, rect.height() / dpr)


def _same_size(image: QImage, target: QRect) -> bool:
    """The decoder's picture is the target size, give or take its rounding: it makes widths
    a multiple of 16 (unpadded BGRA rows) and heights even. Drawing such a picture scaled to
    the exact target cost the GUI thread a QPainter rescale per frame (measured: 7 ms for a
    maximised 1080p tile); unscaled it is a copy, with a few pixels more of black border."""
    dw, dh = target.width() - image.width(), target.height() - image.height()
    return 0 <= dw < 16 and 0 <= dh < 2


def _bars(width: int, height: int, target: QRect, dpr: float) -> list[QRectF]:
    """Where the picture (``target``, device pixels) leaves the widget uncovered.

    Only these are painted black: filling the whole widget first cost a full-size memset
    per frame (6 MB for a maximised 1080p tile) for pixels the picture then overwrites.
    """
    x0, y0 = target.x() / dpr, target.y() / dpr
    x1, y1 = (target.x() + target.width()) / dpr, (target.y() + target.height()) / dpr
    bars = []
    if y0 > 0:
        bars.append(QRectF(0, 0, width, y0))
    if y1 < height:
        bars.append(QRectF(0, y1, width, height - y1))
    if x0 > 0:
        bars.append(QRectF(0, y0, x0, y1 - y0))
    if x1 < width:
        bars.append(QRectF(x1, y0, width - x1, y1 - y0))
    return bars


def _fill_bars(painter: QPainter, width: int, height: int, target: QRect, dpr: float) -> None:
    for bar in _bars(width, height, target, dpr):
        painter.fillRect(bar, _BLACK)


def _yuv_to_bgra(frame: VideoFrame, width: int, height: int) -> npt.NDArray[np.uint8]:
    import av  # only on this rare path; keeps widget import light

    src = av.VideoFrame.from_ndarray(frame.data, format="yuv420p")
    out = src.reformat(width=width, height=height, format="bgra", interpolation="FAST_BILINEAR")
    return np.ascontiguousarray(out.to_ndarray(), dtype=np.uint8)


_VERTEX_SHADER = """
attribute highp vec2 a_pos;
uniform highp vec4 u_view;
varying highp vec2 v_tex;
void main() {
    // Texture row 0 is the top picture row; clip-space y grows upwards. u_view = (x, y, w, h)
    // of the picture to show, normalised: the GPU crops and scales for free.
    v_tex = u_view.xy + u_view.zw * vec2((a_pos.x + 1.0) * 0.5, (1.0 - a_pos.y) * 0.5);
    gl_Position = vec4(a_pos, 0.0, 1.0);
}
"""

_FRAGMENT_SHADER = """
#ifdef GL_ES
precision mediump float;
#endif
varying highp vec2 v_tex;
uniform sampler2D u_y;
uniform sampler2D u_u;
uniform sampler2D u_v;
uniform sampler2D u_bgra;
uniform int u_mode;
uniform vec3 u_offset;
uniform vec3 u_r;
uniform vec3 u_g;
uniform vec3 u_b;
void main() {
    vec3 rgb;
    if (u_mode == 1) {
        // BGRA bytes uploaded as RGBA: swap back.
        rgb = texture2D(u_bgra, v_tex).bgr;
    } else {
        vec3 yuv = vec3(texture2D(u_y, v_tex).r, texture2D(u_u, v_tex).r,
                        texture2D(u_v, v_tex).r) - u_offset;
        rgb = vec3(dot(u_r, yuv), dot(u_g, yuv), dot(u_b, yuv));
    }
    gl_FragColor = vec4(clamp(rgb, 0.0, 1.0), 1.0);
}
"""

_QUAD = np.array([-1.0, -1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0], dtype=np.float32)


class _Plane:
    """One GL texture and the size it was last allocated with (to reuse it via glTexSubImage2D)."""

    def __init__(self) -> None:
        self.texture = QOpenGLTexture(QOpenGLTexture.Target.Target2D)
        self.size = (0, 0)


class _GlResources:
    """GL objects of one context; freed from the context's aboutToBeDestroyed signal.

    Kept apart from the widget because that signal arrives while the QOpenGLWidget is half
    destroyed and the context's own wrapper is already invalid, and the context is not
    current then. So we keep the context's C++ address and a surface of our own to make it
    current on, which is what Qt's C++ examples do from their destructor.
    """

    def __init__(self, ctx: QOpenGLContext, program: QOpenGLShaderProgram) -> None:
        self.ctx_address = int(shiboken6.getCppPointer(ctx)[0])
        self.surface = QOffscreenSurface(ctx.screen())
        self.surface.setFormat(ctx.format())
        self.surface.create()
        self.program: QOpenGLShaderProgram | None = program
        self.vbo = QOpenGLBuffer(QOpenGLBuffer.Type.VertexBuffer)
        self.vao: QOpenGLVertexArrayObject | None = QOpenGLVertexArrayObject()
        self.planes = [_Plane() for _ in range(4)]  # Y, U, V, BGRA

    def release(self) -> None:
        current = QOpenGLContext.currentContext()
        made_current = None
        if current is None or int(shiboken6.getCppPointer(current)[0]) != self.ctx_address:
            ctx = cast(QOpenGLContext, shiboken6.wrapInstance(self.ctx_address, QOpenGLContext))
            if not self.surface.isValid() or not ctx.makeCurrent(self.surface):
                log.warning("could not make the dying GL context current: video textures leak")
                return
            made_current = ctx
        for plane in self.planes:
            plane.texture.destroy()
        self.planes = []
        self.vbo.destroy()
        if self.vao is not None:
            self.vao.destroy()
            self.vao = None
        self.program = None  # its C++ destructor runs now, with the context current
        if made_current is not None:
            made_current.doneCurrent()
        self.surface.destroy()


class GlVideoSurface(QOpenGLWidget):
    """Uploads Y, U, V planes as textures; the shader converts colour, the sampler scales."""

    frame_presented = Signal(int, float)
    request_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.presented_callback: Callable[[int], None] | None = None  # as the raster one's
        self.presented = 0
        self.last_presented_seq = -1
        self._frame: VideoFrame | None = None
        self._new = False
        self._uploaded: VideoFrame | None = None
        self._matrix: ColourMatrix | None = None  # None = guess from the source size
        self._full_range = False
        self.view: ViewRect = FULL_VIEW
        self._gl: _GlResources | None = None
        self._one_channel = (_GL_R8, _GL_RED)
        self.gl_renderer = ""
        self.gl_failed = False

    def wanted_request(self) -> FrameRequest:
        return FrameRequest(PixelFormat.YUV420P, 0, 0)

    def set_view(self, view: ViewRect | None) -> None:
        """Show only ``view`` = (x, y, w, h) of the picture, normalised; None for all of it."""
        self.view = _clamp_view(view)
        self.update()

    def set_colour(self, matrix: ColourMatrix | None, full_range: bool = False) -> None:
        """Matrix (None: BT.709 for HD, BT.601 for SD) and range (full for yuvj / MJPEG sources)."""
        self._matrix = matrix
        self._full_range = full_range
        self.update()

    def show_frame(self, frame: VideoFrame) -> None:
        if not _frame_ok(frame):
            log.warning("dropping malformed frame seq=%d %s", frame.seq, frame.format)
            return
        self._frame = frame
        self._new = True
        self.update()

    def clear(self) -> None:
        self._frame = None
        self._new = False
        self.update()

    # -- GL -------------------------------------------------------------------------------

    def initializeGL(self) -> None:
        ctx = self.context()
        f = ctx.functions()
        self._gl = None
        self._uploaded = None
        self.gl_renderer = f.glGetString(_GL_RENDERER) or ""
        fmt = ctx.format()
        major = fmt.majorVersion()
        has_rg = major >= 3 or ctx.hasExtension(b"GL_ARB_texture_rg")
        if (ctx.isOpenGLES() and major < 3) or not has_rg:
            # GLES2 / GL2 without texture_rg: luminance is the only one-channel format.
            self._one_channel = (_GL_LUMINANCE, _GL_LUMINANCE)
        program = QOpenGLShaderProgram()
        ok = program.addShaderFromSourceCode(QOpenGLShader.ShaderTypeBit.Vertex, _VERTEX_SHADER)
        ok = ok and program.addShaderFromSourceCode(
            QOpenGLShader.ShaderTypeBit.Fragment, _FRAGMENT_SHADER
        )
        program.bindAttributeLocation("a_pos", 0)
        ok = ok and program.link()
        if not ok:
            log.error("video shader failed on %s: %s", self.gl_renderer, program.log())
            self.gl_failed = True
            return
        gl = _GlResources(ctx, program)
        program.bind()
        for unit, name in enumerate(("u_y", "u_u", "u_v", "u_bgra")):
            program.setUniformValue1i(program.uniformLocation(name), unit)
        program.release()

        # Core profiles need a VAO; GLES2 without the extension fails create() and needs none.
        if gl.vao is not None and not gl.vao.create():
            gl.vao = None
        if gl.vao is not None:
            gl.vao.bind()
        gl.vbo.create()
        gl.vbo.bind()
        gl.vbo.allocate(_QUAD.tobytes(), _QUAD.nbytes)
        program.enableAttributeArray(0)
        program.setAttributeBuffer(0, _GL_FLOAT, 0, 2, 0)
        gl.vbo.release()
        if gl.vao is not None:
            gl.vao.release()

        for plane in gl.planes:
            plane.texture.create()
            f.glBindTexture(_GL_TEXTURE_2D, plane.texture.textureId())
            f.glTexParameteri(_GL_TEXTURE_2D, _GL_TEXTURE_MIN_FILTER, _GL_LINEAR)
            f.glTexParameteri(_GL_TEXTURE_2D, _GL_TEXTURE_MAG_FILTER, _GL_LINEAR)
            f.glTexParameteri(_GL_TEXTURE_2D, _GL_TEXTURE_WRAP_S, _GL_CLAMP_TO_EDGE)
            f.glTexParameteri(_GL_TEXTURE_2D, _GL_TEXTURE_WRAP_T, _GL_CLAMP_TO_EDGE)
        f.glBindTexture(_GL_TEXTURE_2D, 0)
        self._gl = gl
        # A plain closure, not a bound method: PySide drops bound-method connections when the
        # wrapper dies, which is exactly when this must still run.
        ctx.aboutToBeDestroyed.connect(lambda: gl.release())
        log.debug("GL video surface on %s (GL %d.%d)", self.gl_renderer, major, fmt.minorVersion())

    def _upload(
        self, gl: _GlResources, unit: int, data: npt.NDArray[np.uint8], w: int, h: int, rgba: bool
    ) -> None:
        f = self.context().functions()
        plane = gl.planes[unit]
        f.glActiveTexture(_GL_TEXTURE0 + unit)
        f.glBindTexture(_GL_TEXTURE_2D, plane.texture.textureId())
        internal, fmt = (_GL_RGBA, _GL_RGBA) if rgba else self._one_channel
        # PySide6 passes the array through the buffer protocol as the void* (an int is refused).
        if plane.size != (w, h):
            f.glTexImage2D(_GL_TEXTURE_2D, 0, internal, w, h, 0, fmt, _GL_UNSIGNED_BYTE, data)  # type: ignore[arg-type]
            plane.size = (w, h)
        else:
            f.glTexSubImage2D(_GL_TEXTURE_2D, 0, 0, 0, w, h, fmt, _GL_UNSIGNED_BYTE, data)  # type: ignore[arg-type]

    def _upload_frame(self, gl: _GlResources, frame: VideoFrame) -> None:
        f = self.context().functions()
        # Chroma rows of odd-width planes are not 4-byte aligned.
        f.glPixelStorei(_GL_UNPACK_ALIGNMENT, 1)
        w, h = frame.width, frame.height
        flat = frame.data.reshape(-1)
        if frame.format is PixelFormat.YUV420P:
            cw, ch = (w + 1) // 2, (h + 1) // 2
            y_end = w * h
            u_end = y_end + cw * ch
            self._upload(gl, 0, flat[:y_end], w, h, rgba=False)
            self._upload(gl, 1, flat[y_end:u_end], cw, ch, rgba=False)
            self._upload(gl, 2, flat[u_end : u_end + cw * ch], cw, ch, rgba=False)
        else:
            self._upload(gl, 3, flat[: w * h * 4], w, h, rgba=True)
        f.glActiveTexture(_GL_TEXTURE0)
        self._uploaded = frame

    def paintGL(self) -> None:
        f = self.context().functions()
        dw, dh = _device_size(self)
        f.glViewport(0, 0, dw, dh)
        f.glDisable(_GL_SCISSOR_TEST)
        f.glClearColor(0.0, 0.0, 0.0, 1.0)
        f.glClear(_GL_COLOR_BUFFER_BIT)
        frame = self._frame
        gl = self._gl
        if frame is None or gl is None or gl.program is None or not gl.planes:
            return
        program = gl.program
        if self._uploaded is not frame:
            self._upload_frame(gl, frame)
        f.glDisable(_GL_BLEND)
        f.glDisable(_GL_DEPTH_TEST)
        _vx, _vy, vw, vh = self.view
        target = fit_rect(round(frame.source_width * vw), round(frame.source_height * vh), dw, dh)
        # GL's viewport origin is bottom-left; the rect is centred so only y needs flipping.
        f.glViewport(target.x(), dh - target.y() - target.height(), target.width(), target.height())

        program.bind()
        program.setUniformValue(program.uniformLocation("u_view"), QVector4D(*self.view))
        if frame.format is PixelFormat.YUV420P:
            matrix = self._matrix or auto_matrix(frame.source_width, frame.source_height)
            offset, rows = colour_coefficients(matrix, self._full_range)
            program.setUniformValue1i(program.uniformLocation("u_mode"), 0)
            program.setUniformValue(program.uniformLocation("u_offset"), QVector3D(*offset))
            for name, row in zip(("u_r", "u_g", "u_b"), rows, strict=True):
                program.setUniformValue(program.uniformLocation(name), QVector3D(*row))
            for unit in range(3):
                f.glActiveTexture(_GL_TEXTURE0 + unit)
                f.glBindTexture(_GL_TEXTURE_2D, gl.planes[unit].texture.textureId())
        else:
            program.setUniformValue1i(program.uniformLocation("u_mode"), 1)
            f.glActiveTexture(_GL_TEXTURE0 + 3)
            f.glBindTexture(_GL_TEXTURE_2D, gl.planes[3].texture.textureId())
        f.glActiveTexture(_GL_TEXTURE0)

        if gl.vao is not None:
            gl.vao.bind()
        else:
            gl.vbo.bind()
            program.enableAttributeArray(0)
            program.setAttributeBuffer(0, _GL_FLOAT, 0, 2, 0)
        f.glDrawArrays(_GL_TRIANGLE_STRIP, 0, 4)
        if gl.vao is not None:
            gl.vao.release()
        else:
            gl.vbo.release()
        program.release()

        if self._new:
            self._new = False
            self.presented += 1
            self.last_presented_seq = frame.seq
            if self.presented_callback is not None:
                self.presented_callback(frame.seq)
            self.frame_presented.emit(frame.seq, time.monotonic())


# -- choice ----------------------------------------------------------------------------------


def is_software_renderer(renderer: str) -> bool:
    low = renderer.lower()
    return any(name in low for name in SOFTWARE_RENDERERS)


@functools.cache
def _probe(platform: str) -> str | None:
    if platform in _NO_GL_PLATFORMS:
        return None
    ctx = QOpenGLContext()
    if not ctx.create():
        return None
    surface = QOffscreenSurface()
    surface.setFormat(ctx.format())
    surface.create()
    try:
        if not surface.isValid() or not ctx.makeCurrent(surface):
            return None
        try:
            if not QOpenGLShaderProgram.hasOpenGLShaderPrograms(ctx):
                return None
            return ctx.functions().glGetString(_GL_RENDERER) or None
        finally:
            ctx.doneCurrent()
    finally:
        surface.destroy()


def probe_gl_renderer() -> str | None:
    """GL_RENDERER of a context on this display, or None when no usable GL context can be made.

    Needs a QGuiApplication; cached per platform plugin (the answer does not change in a run).
    """
    app = QGuiApplication.instance()
    if not isinstance(app, QGuiApplication):
        return None
    return _probe(QGuiApplication.platformName())


def choose_surface_class() -> type[GlVideoSurface] | type[RasterVideoSurface]:
    """GL on a hardware GL renderer, raster otherwise; ``TORRAZZO_RENDERER=gl|raster`` overrides."""
    forced = os.environ.get(RENDERER_ENV, "").strip().lower()
    if forced == "gl":
        return GlVideoSurface
    if forced == "raster":
        return RasterVideoSurface
    if forced not in ("", "auto"):
        log.warning("%s=%r is not gl, raster or auto; choosing automatically", RENDERER_ENV, forced)
    renderer = probe_gl_renderer()
    if renderer is None:
        log.info("no OpenGL context: raster video surfaces")
        return RasterVideoSurface
    if is_software_renderer(renderer):
        log.info("OpenGL renderer %r runs on the CPU: raster video surfaces", renderer)
        return RasterVideoSurface
    log.info("OpenGL renderer %r: GL video surfaces", renderer)
    return GlVideoSurface
