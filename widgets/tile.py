"""QtTile: one wall tile (video surface, overlay, drag and drop) over a TileFeed."""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable
from datetime import datetime

import numpy as np
import numpy.typing as npt
import shiboken6
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import QWidget

from app.site.model import Camera, Site, StreamRole
from app.streams.feed import TileFeed
from app.streams.frames import FrameRequest
from app.streams.load_policy import LoadLevel, LoadReason
from app.streams.notice import notice_lines
from app.streams.stats import percentile
from app.streams.status import NOT_LIVE, CameraStatus, StreamState, StreamStatus, camera_status
from widgets.style import state_colour
from widgets.video_surface import RasterVideoSurface, choose_surface_class

CAMERA_MIME = "application/x-torrazzo-camera"
TILE_MIME = "application/x-torrazzo-tile"


class CachedOverlay(QWidget):
    """A transparent widget over the tile's video that is drawn once per change, not per frame.

    Subclasses draw in ``paint_overlay`` into a cached image, redrawn only after
    ``update()`` (every caller that changes what is shown calls it) or a resize. Over raster
    surfaces the widget itself is never painted: the surfaces draw the cached image at the
    end of their own paint (``QtTile.adopt_overlay``). As a widget, Qt would repaint it for
    every video frame (it is a transparent sibling above a changing picture), and each
    such repaint of a Python widget cost ~0.08 ms of GUI thread (measured, BENCHMARKS.md).
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._cache: QImage | None = None
        self._host: QtTile | None = None
        if isinstance(parent, QtTile) and parent.adopt_overlay(self):
            self._host = parent

    def update(self, *args: object) -> None:  # type: ignore[override]
        self._cache = None
        if self._host is not None:
            self._host.update_overlays()
        else:
            super().update(*args)  # type: ignore[arg-type]

    def setVisible(self, visible: bool) -> None:
        super().setVisible(visible)
        host = getattr(self, "_host", None)  # None while QWidget.__init__ runs
        if host is not None:
            host.update_overlays()

    def paint_overlay(self, p: QPainter) -> None:
        raise NotImplementedError

    def cached_image(self) -> QImage:
        """The overlay as an image of the widget's size (device pixels), drawn if needed."""
        dpr = self.devicePixelRatioF()
        size = QSize(round(self.width() * dpr), round(self.height() * dpr))
        cache = self._cache
        if cache is None or cache.size() != size or cache.devicePixelRatio() != dpr:
            cache = QImage(size, QImage.Format.Format_ARGB32_Premultiplied)
            cache.setDevicePixelRatio(dpr)
            cache.fill(0)
            painter = QPainter(cache)
            try:
                self.paint_overlay(painter)
            finally:
                painter.end()
            self._cache = cache
        return cache

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.drawImage(0, 0, self.cached_image())
        p.end()


class QtTileOverlay(CachedOverlay):
    """Name, neighbourhood, clock, status badge, statistics and the not-live notices."""

    def __init__(self, tile: QtTile) -> None:
        super().__init__(tile)
        self._tile = tile
        self._clock_at: tuple[QRect, QFont] | None = None
        self._clock_cache: tuple[int, tuple[QRect, QFont], QPointF, QImage] | None = None
        self.notice: list[str] = []
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground, True)

    def paint_overlay(self, p: QPainter) -> None:
        tile = self._tile
        self._clock_at = None
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        r = self.rect()
        small = r.height() < 120
        font = QFont(self.font())
        font.setPointSizeF(7.5 if small else 9.0)
        p.setFont(font)
        fm = p.fontMetrics()
        line = fm.height() + 4
        camera = tile.camera
        if camera is None:
            p.setPen(QColor(120, 120, 120))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "drop a camera here")
            self._draw_focus(p, r)
            return
        # Never let a frozen last frame pass for live video: each pane that is not live is
        # dimmed under a notice saying since when, why, and when the next retry comes.
        for pane, rect in zip(tile.panes, tile.pane_rects(), strict=True):
            status = pane.feed.status
            if status.state in NOT_LIVE or (
                status.state == StreamState.CONNECTING and not pane.has_picture
            ):
                if status.state in NOT_LIVE:
                    p.fillRect(rect, QColor(0, 0, 0, 170))
                self._draw_notice(p, rect, status, compact=tile.is_mosaic or small)
            if tile.is_mosaic:
                label = f"{pane.optic + 1} {camera.optics[pane.optic].name}"
                p.fillRect(
                    QRect(rect.x(), rect.bottom() - line, fm.horizontalAdvance(label) + 10, line),
                    QColor(0, 0, 0, 130),
                )
                p.setPen(QColor(230, 230, 230))
                p.drawText(
                    QRect(rect.x() + 5, rect.bottom() - line, rect.width(), line),
                    Qt.AlignmentFlag.AlignVCenter,
                    label,
                )
        # top bar
        p.fillRect(QRect(0, 0, r.width(), line), QColor(0, 0, 0, 140))
        p.setPen(QColor(235, 235, 235))
        hood = tile.neighbourhood_name
        optic = ""
        if camera.is_multi_optic and tile.selected_optic is not None:
            optic = f" · optic {tile.selected_optic + 1} {camera.optics[tile.selected_optic].name}"
        p.drawText(
            QRect(6, 0, r.width() - 12, line),
            Qt.AlignmentFlag.AlignVCenter,
            f"{camera.name}{optic}",
        )
        self._clock_at = (QRect(6, 0, r.width() - 12, line), font)
        if self._host is None:  # a widget is redrawn every second; else see QtTile.second_tick
            self.paint_clock(p)
        if not small and hood:
            p.fillRect(QRect(0, line, fm.horizontalAdvance(hood) + 12, line), QColor(0, 0, 0, 110))
            p.setPen(QColor(200, 200, 200))
            p.drawText(QRect(6, line, r.width() - 12, line), Qt.AlignmentFlag.AlignVCenter, hood)
        # one status badge for the device, bottom right
        summary, label = self.badge()
        bw = fm.horizontalAdvance(label) + 14
        badge = QRect(r.width() - bw - 6, r.height() - line - 4, bw, line)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(state_colour(summary))
        p.drawRoundedRect(badge, 4, 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
        self._draw_load_badge(
            p, tile, fm.horizontalAdvance, line, 2 * line if hood and not small else line
        )
        if tile.show_stats:
            self._draw_stats(p, r, tile, line)
        self._draw_focus(p, r)

    def badge(self) -> tuple[CameraStatus, str]:
        """The device's one status badge: its summary state and text ("DEGRADED · 3/4 optics")."""
        tile = self._tile
        states = tile.pane_states()
        summary = camera_status(states)
        label = str(summary).upper()
        role = tile.feed.role
        if summary == CameraStatus.LIVE and role is not None:
            label = f"LIVE · {role}" if not tile.is_mosaic else f"LIVE · {len(tile.panes)} optics"
        elif summary == CameraStatus.DEGRADED:
            up = sum(1 for s in states if s == StreamState.LIVE)
            label = f"DEGRADED · {up}/{len(tile.panes)} optics"
        return summary, label

    def _draw_load_badge(
        self, p: QPainter, tile: QtTile, advance: Callable[[str], int], line: int, top: int
    ) -> None:
        """Amber badge, top left, when the load policy demoted this tile, and why."""
        feed = tile.feed
        if feed.load_level == LoadLevel.FULL:
            return
        what = "KEY FRAMES" if feed.load_level == LoadLevel.KEYFRAMES else "SUB"
        label = f"{what} · {feed.load_reason or 'load'}"
        if advance(label) + 20 > tile.width():  # a small tile: the short form
            why = "start" if feed.load_reason == LoadReason.STARTING else "CPU"
            label = f"{'KEY' if feed.load_level == LoadLevel.KEYFRAMES else 'SUB'} · {why}"
        box = QRect(4, top + 3, advance(label) + 12, line)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(215, 140, 0, 230))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor(0, 0, 0))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, label)

    def paint_clock(self, p: QPainter) -> None:
        """The wall clock in the top bar (where the last ``paint_overlay`` put it)."""
        at = self._clock_at
        if at is None:
            return
        rect, font = at
        p.setFont(font)
        p.setPen(QColor(235, 235, 235))
        p.drawText(
            rect,
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
            datetime.now().strftime("%H:%M:%S"),
        )

    def clock_entry(self) -> tuple[int, tuple[QRect, QFont], QPointF, QImage] | None:
        """The clock as a small image and where it goes (tile coordinates), as the cached
        (second, place, position, image): the same object all second, redrawn once a second
        and blitted with every frame instead of composing the whole overlay each second."""
        at = self._clock_at
        if at is None:
            return None
        second = int(time.time())
        cached = self._clock_cache
        if cached is not None and cached[0] == second and cached[1] is at:
            return cached
        rect, font = at
        text = datetime.fromtimestamp(second).strftime("%H:%M:%S")
        width = QFontMetrics(font).horizontalAdvance(text) + 2
        dpr = self.devicePixelRatioF()
        image = QImage(
            QSize(round(width * dpr), round(rect.height() * dpr)),
            QImage.Format.Format_ARGB32_Premultiplied,
        )
        image.setDevicePixelRatio(dpr)
        image.fill(0)
        p = QPainter(image)
        p.setFont(font)
        p.setPen(QColor(235, 235, 235))
        p.drawText(QRect(0, 0, width, rect.height()), Qt.AlignmentFlag.AlignVCenter, text)
        p.end()
        pos = QPointF(rect.right() + 1 - width, rect.top())
        self._clock_cache = (second, at, pos, image)
        return self._clock_cache

    def time_dependent(self) -> bool:
        """Whether the drawing changes with time (retry count-downs, statistics)."""
        tile = self._tile
        return tile.show_stats or any(p.feed.status.state in NOT_LIVE for p in tile.panes)

    def _draw_notice(self, p: QPainter, r: QRect, status: StreamStatus, compact: bool) -> None:
        lines = notice_lines(status, time.time(), compact)
        self.notice = lines  # the last notice drawn, as the operator reads it (tests)
        p.setPen(QColor(255, 255, 255))
        p.drawText(
            r.adjusted(8, 8, -8, -8),
            Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
            "\n".join(lines),
        )

    def _draw_stats(self, p: QPainter, r: QRect, tile: QtTile, line: int) -> None:
        st = tile.feed.stats()
        if st is None:
            return
        lat = tile.latency_ms()
        text = (
            f"{st.codec} {st.width}x{st.height}  {st.fps:.1f} fps  {st.bitrate_kbps:.0f} kb/s\n"
            f"decode {st.decode_ms:.1f} ms  lost {st.frames_lost}  replaced {st.frames_replaced}"
            f"  shown {tile.presented}\n"
            f"age {0 if st.last_frame_age is None else st.last_frame_age * 1000:.0f} ms"
            + (f"  latency {lat[0]:.0f}/{lat[1]:.0f} ms (p50/p95)" if lat else "")
        )
        box = QRect(4, r.height() - 3 * line - 10, r.width() - 8, 3 * line)
        p.fillRect(box, QColor(0, 0, 0, 150))
        p.setPen(QColor(220, 255, 220))
        p.drawText(
            box.adjusted(4, 0, -4, 0),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            text,
        )

    def _draw_focus(self, p: QPainter, r: QRect) -> None:
        if self._tile.focused:
            p.setPen(QPen(QColor(60, 160, 255), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r.adjusted(1, 1, -1, -1))


# (blits, clock entry, dirty rectangle) it was made for; the blits to draw; the clock's place
# and image, or None where the dirty rectangle misses it.
_OverlayPlan = tuple[
    list[tuple[QPointF, QRectF, QRectF]],
    tuple[int, object, QPointF, QImage] | None,
    QRect | None,
    list[tuple[QPointF, QRectF]],
    QPointF | None,
    QImage | None,
]


class _Pane:
    """One video picture inside a tile: a TileFeed and its surface (one per optic in a mosaic)."""

    def __init__(self, tile: QtTile, feed: TileFeed, optic: int) -> None:
        self.tile = tile
        self.feed = feed
        self.optic = optic
        self.surface = choose_surface_class()(tile)
        self.surface.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        # Where this pane blits the opaque parts of the tile's composed overlays (see QtTile).
        self.overlay_blits: list[tuple[QPointF, QRectF, QRectF]] | None = None
        self.overlay_plan: _OverlayPlan | None = None  # QtTile.paint_overlays' reused work
        if isinstance(self.surface, RasterVideoSurface):
            self.surface.overlay_painter = lambda p, dirty: tile.paint_overlays(p, self, dirty)
        self.surface.presented_callback = self._on_presented
        self.surface.request_changed.connect(self._on_request)
        self.surface.show()
        self.sent_at: dict[int, int] = {}
        self.has_picture = False
        # For benchmarks (tile_stats): this pane's presented frames and their sender stamps.
        self.presented = 0
        self.first_presented_ns: int | None = None
        self.first_stamp_ns: int | None = None
        self.last_stamp_ns: int | None = None

    def set_geometry(self, rect: QRect) -> None:
        self.surface.setGeometry(rect)
        self.feed.set_height(round(rect.height() * self.tile.devicePixelRatioF()))
        self.feed.set_request(self.surface.wanted_request())

    def refresh(self) -> None:
        frame = self.feed.take_frame()
        if frame is None:
            return
        if frame.sent_at_ns is not None:
            self.sent_at[frame.seq] = frame.sent_at_ns
            if len(self.sent_at) > 8:
                self.sent_at.pop(next(iter(self.sent_at)))
        self.has_picture = True
        self.surface.show_frame(frame)

    def _on_presented(self, seq: int) -> None:
        self.tile.presented += 1
        self.feed.presented += 1
        self.presented += 1
        sent = self.sent_at.pop(seq, None)
        now_ns = time.time_ns()
        if self.first_presented_ns is None:
            self.first_presented_ns, self.first_stamp_ns = now_ns, sent
        if sent is not None:
            self.last_stamp_ns = sent
            self.tile.record_latency((now_ns - sent) / 1e6)

    def _on_request(self, request: object) -> None:
        if isinstance(request, FrameRequest):
            self.feed.set_request(request)

    def close(self) -> None:
        self.feed.close()
        self.surface.hide()
        self.surface.deleteLater()


# The grain (device pixels) at which an overlay's drawn parts are found: each blit covers
# whole cells, trimmed to what is drawn in them.
_CELL = 16


def _opaque_bands(image: QImage) -> list[QRect]:
    """Rectangles (device pixels) covering the parts of ``image`` that are not fully
    transparent: where an overlay actually draws something, blitted over every video frame.

    The image is cut into ``_CELL``-square cells; runs of drawn cells along a row of cells
    become rectangles, stacked while the run below has the same columns, then trimmed to the
    drawn pixels. A focused tile's frame comes out as thin strips down both sides: found as
    one band of rows, it made every video frame blend the whole picture (a maximised 1080p
    tile: 12 % of the GUI thread's time, perf).
    """
    w, h = image.width(), image.height()
    if w == 0 or h == 0:
        return []
    pixels = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    alpha = pixels.reshape(h, image.bytesPerLine())[:, 3 : 4 * w : 4]  # ARGB32: A is byte 3
    rows, cols = -(-h // _CELL), -(-w // _CELL)
    drawn = np.zeros((rows * _CELL, cols * _CELL), dtype=bool)
    drawn[:h, :w] = alpha != 0
    cells = drawn.reshape(rows, _CELL, cols, _CELL).any(axis=(1, 3))
    done: list[tuple[int, int, int, int]] = []  # cell rectangles: top, bottom, left, right
    open_: dict[tuple[int, int], int] = {}  # (left, right) of the last row's runs → top
    for r in range(rows + 1):
        runs = set(_runs(cells[r])) if r < rows else set()
        for run in list(open_):
            if run not in runs:
                done.append((open_.pop(run), r, *run))
        for run in runs:
            open_.setdefault(run, r)
    rects = []
    for top, bottom, left, right in done:
        part = alpha[top * _CELL : bottom * _CELL, left * _CELL : right * _CELL]
        ys, xs = np.flatnonzero(part.any(axis=1)), np.flatnonzero(part.any(axis=0))
        y0, x0 = top * _CELL + int(ys[0]), left * _CELL + int(xs[0])
        rects.append(QRect(x0, y0, int(xs[-1]) - int(xs[0]) + 1, int(ys[-1]) - int(ys[0]) + 1))
    rects.sort(key=lambda q: (q.y(), q.x()))
    return rects


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """[start, end) of the runs of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True))


def mosaic_grid(optics: int) -> tuple[int, int]:
    """Rows and columns of the mosaic for a device with ``optics`` optics."""
    if optics <= 1:
        return 1, 1
    if optics == 2:
        return 1, 2
    cols = 2 if optics <= 4 else 3
    return (optics + cols - 1) // cols, cols


def composite_view(optics: int, optic: int) -> tuple[float, float, float, float]:
    """The normalised rectangle of ``optic`` inside a device's 1x2 or 2x2 mosaic stream."""
    rows, cols = mosaic_grid(optics)
    r, c = divmod(optic, cols)
    return (c / cols, r / rows, 1 / cols, 1 / rows)


class ComposeBudget:
    """Limits how long one turn of the event loop spends composing tile overlays.

    Composing a tile's overlays (text, badges, notices) costs 2-4 ms on the 2-core reference
    VM. When a whole wall needs it at once (its first paint, 64 streams going live within a
    few hundred ms), one paint pass of an 8x8 wall spent ~270 ms in it while first frames,
    already decoded, waited to be shown. Video first: a turn composes for at most
    ``seconds``; a tile over the budget keeps its previous overlay (or none yet) and is
    composed in a later turn, outside the paint, a budget at a time.

    Thread: GUI thread only.
    """

    def __init__(self, seconds: float = 0.008) -> None:
        self.seconds = seconds
        self.spent = 0.0
        self._pending: list[weakref.ref[QtTile]] = []
        self._turn_scheduled = False
        self.deferred = 0  # compositions put off to a later turn (diagnostics, tests)

    def allows(self) -> bool:
        return self.spent < self.seconds

    def spend(self, seconds: float) -> None:
        self.spent += seconds
        self._schedule()  # the next turn starts with a fresh budget

    def defer(self, tile: QtTile) -> None:
        if not any(ref() is tile for ref in self._pending):
            self._pending.append(weakref.ref(tile))
            self.deferred += 1
        self._schedule()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _schedule(self) -> None:
        if not self._turn_scheduled:
            self._turn_scheduled = True
            QTimer.singleShot(0, self._next_turn)

    def _next_turn(self) -> None:
        self._turn_scheduled = False
        self.spent = 0.0
        first = True  # at least one a turn, whatever the budget: every overlay comes
        while self._pending and (first or self.allows()):
            tile = self._pending.pop(0)()
            if tile is not None and shiboken6.isValid(tile):
                tile.compose_deferred()
                first = False
        if self._pending:
            self._schedule()


compose_budget = ComposeBudget()


class QtTile(QWidget):
    """A tile of the wall: one camera, or one optic of a multi-optic camera, or its mosaic.

    The model is the tile's entry in the Layout (camera and selected optic); each picture
    shown is a pane with its own TileFeed, so a mosaic decodes every optic (on sub streams,
    being small) and a selected optic decodes only that optic.

    Signals:
        clicked(int index), double_clicked(int index),
        camera_dropped(int index, str camera_id), tile_dropped(int source, int target),
        optic_clicked(int index, int optic): a click on one optic of a mosaic.
    """

    clicked = Signal(int)
    double_clicked = Signal(int)
    camera_dropped = Signal(int, str)
    tile_dropped = Signal(int, int)
    optic_clicked = Signal(int, int)

    def __init__(
        self,
        index: int,
        feed_factory: Callable[[], TileFeed],
        site: Site,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.index = index
        self._feed_factory = feed_factory
        self._site = site
        self.focused = False
        self.show_stats = False
        self.presented = 0
        self._latency: deque[float] = deque(maxlen=250)
        self._press: QPoint | None = None
        self.camera: Camera | None = None
        self.selected_optic: int | None = None
        self.panes: list[_Pane] = []
        self.setAcceptDrops(True)
        self.setMinimumSize(40, 30)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._overlays: list[CachedOverlay] = []
        self._composed: QImage | None = None
        # The composed overlays before the last change, shown while the new composition waits
        # for the compose budget (a frame is never held back for its overlay).
        self._stale: QImage | None = None
        self._overlay_bands: list[QRect] = []
        self.overlay = QtTileOverlay(self)
        self._set_panes([0])

    # -- what the tile shows ----------------------------------------------------------------
    @property
    def feed(self) -> TileFeed:
        """The first pane's feed (the only one unless a mosaic is shown)."""
        return self.panes[0].feed

    @property
    def is_mosaic(self) -> bool:
        return len(self.panes) > 1

    @property
    def has_picture(self) -> bool:
        return any(p.has_picture for p in self.panes)

    @property
    def neighbourhood_name(self) -> str:
        cam = self.camera
        if cam is None:
            return ""
        try:
            return self._site.neighbourhood(cam.neighbourhood).name
        except KeyError:
            return cam.neighbourhood

    def show_camera(self, camera: Camera | None, optic: int | None = None) -> None:
        """Show a camera; for a multi-optic camera ``optic`` None means the mosaic."""
        if camera is not None and camera.is_multi_optic and not camera.composite and optic is None:
            wanted = list(range(len(camera.optics)))
        else:
            wanted = [optic or 0]
        if camera != self.camera or wanted != [p.optic for p in self.panes]:
            self._latency.clear()
            self._set_panes(wanted)
        self.camera, self.selected_optic = camera, optic
        composite_optic = camera is not None and camera.composite and optic is not None
        for pane in self.panes:
            pane.feed.show(camera, pane.optic)
            if composite_optic and camera is not None:
                # One mosaic stream for the whole device: crop the optic out of it on the
                # GPU (or in the blit), from the main stream for resolution.
                pane.surface.set_view(composite_view(len(camera.optics), pane.optic))
                pane.feed.force_role(StreamRole.MAIN)
            else:
                pane.surface.set_view(None)
                pane.feed.force_role(None)
        self._layout_panes()
        self.overlay.update()

    def _set_panes(self, optics: list[int]) -> None:
        for pane in self.panes:
            pane.close()
        self.panes = [_Pane(self, self._feed_factory(), o) for o in optics]
        if not self.isVisible():
            # Open streams when the tile is shown (showEvent), not while the window is being
            # built: 64 decoders starting early slowed the rest of start-up tenfold (GIL).
            for pane in self.panes:
                pane.feed.set_visible(False)
        self.overlay.raise_()

    # -- overlays drawn by the surfaces ----------------------------------------------------
    def adopt_overlay(self, overlay: CachedOverlay) -> bool:
        """Let the raster surfaces draw ``overlay`` (see CachedOverlay); False: it paints itself."""
        if choose_surface_class() is not RasterVideoSurface:
            return False  # GL surfaces are composed by Qt; the overlay stays a widget
        overlay.setUpdatesEnabled(False)  # Qt never paints it; the surfaces do
        self._overlays.append(overlay)
        return True

    def update_overlays(self) -> None:
        """An overlay changed: compose them again and repaint the surfaces."""
        self._invalidate_composed()
        for pane in self.panes:
            pane.surface.update()

    def _invalidate_composed(self) -> None:
        if self._composed is not None:
            self._stale = self._composed
        self._composed = None

    def _compose_now(self) -> QImage:
        start = time.perf_counter()
        image = self._composed = self._compose()
        self._stale = None
        self._overlay_bands = _opaque_bands(image)
        for q in self.panes:
            q.overlay_blits = None
        compose_budget.spend(time.perf_counter() - start)
        return image

    def compose_deferred(self) -> None:
        """Called by the compose budget in a later turn: compose now and repaint."""
        if self._composed is None and self.isVisible():  # a hidden tile composes when shown
            self._compose_now()
            for pane in self.panes:
                pane.surface.update()

    @property
    def overlays_composed(self) -> bool:
        """Whether the overlays shown are up to date (not waiting for the compose budget)."""
        return self._composed is not None

    def second_tick(self) -> None:
        """Once a second (the wall's clock): the clock, count-downs and statistics move on."""
        if not self._overlays or self.overlay.time_dependent():
            self.overlay.update()
        else:
            for pane in self.panes:  # only the clock moved on: it is drawn with the frame
                pane.surface.update()

    def paint_overlays(self, p: QPainter, pane: _Pane, dirty: QRect | None = None) -> None:
        """At the end of a surface's paint: the overlays over its part of the tile.

        All overlays are composed into one image per change, and only the parts of it that
        are not transparent (bars and badges, found once per change) are blitted with each
        frame, plus the clock: over a maximised tile a whole-tile blend cost 2-3 ms a frame.
        """
        image = self._composed
        if image is None:
            if compose_budget.allows():
                image = self._compose_now()
            else:
                compose_budget.defer(self)
                image = self._stale
                if image is None or image.size() != self._compose_size():
                    return  # the picture now, its overlays in a moment
        blits = pane.overlay_blits
        if blits is None:
            geo, dpr = pane.surface.geometry(), image.devicePixelRatio()
            pane_rect = QRect(
                round(geo.x() * dpr),
                round(geo.y() * dpr),
                round(geo.width() * dpr),
                round(geo.height() * dpr),
            )
            blits = []
            for band in self._overlay_bands:
                part = band.intersected(pane_rect)
                if not part.isEmpty():
                    target = QPointF(
                        (part.x() - pane_rect.x()) / dpr, (part.y() - pane_rect.y()) / dpr
                    )
                    area = QRectF(target.x(), target.y(), part.width() / dpr, part.height() / dpr)
                    blits.append((target, QRectF(part), area))
            pane.overlay_blits = blits
        # ``dirty``: what the surface repaints (only the picture, on most frames); the parts
        # outside it are still in the backing store. Skipping them saves a call each. What to
        # draw for a given dirty rectangle is worked out once and reused for every frame
        # (the clock's image changes once a second).
        clock = self.overlay.clock_entry() if not self.overlay.isHidden() else None
        plan = pane.overlay_plan
        if plan is None or plan[0] is not blits or plan[1] is not clock or plan[2] != dirty:
            plan = pane.overlay_plan = self._overlay_plan(pane, blits, clock, dirty)
        for target, source in plan[3]:
            p.drawImage(target, image, source)
        if plan[4] is not None:
            p.drawImage(plan[4], plan[5])

    def _overlay_plan(
        self,
        pane: _Pane,
        blits: list[tuple[QPointF, QRectF, QRectF]],
        clock: tuple[int, object, QPointF, QImage] | None,
        dirty: QRect | None,
    ) -> _OverlayPlan:
        area_dirty = QRectF(dirty) if dirty is not None else None
        draws = [
            (target, source)
            for target, source, area in blits
            if area_dirty is None or area.intersects(area_dirty)
        ]
        clock_at: QPointF | None = None
        clock_image: QImage | None = None
        if clock is not None:
            pos, clock_image = clock[2], clock[3]
            geo = pane.surface.geometry()
            at = QPointF(pos.x() - geo.x(), pos.y() - geo.y())
            size = clock_image.deviceIndependentSize()
            if area_dirty is None or QRectF(at, size).intersects(area_dirty):
                clock_at = at
        kept = QRect(dirty) if dirty is not None else None
        return (blits, clock, kept, draws, clock_at, clock_image)

    def _compose_size(self) -> QSize:
        dpr = self.devicePixelRatioF()
        return QSize(round(self.width() * dpr), round(self.height() * dpr))

    def _compose(self) -> QImage:
        dpr = self.devicePixelRatioF()
        image = QImage(self._compose_size(), QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(dpr)
        image.fill(0)
        p = QPainter(image)
        try:
            alive = []
            for overlay in self._overlays:
                if not shiboken6.isValid(overlay):
                    continue  # deleted (e.g. the PTZ overlay of a camera no longer shown)
                alive.append(overlay)
                if not overlay.isHidden():
                    p.drawImage(QPointF(overlay.pos()), overlay.cached_image())
            self._overlays = alive
        finally:
            p.end()
        return image

    def pane_rects(self) -> list[QRect]:
        rows, cols = mosaic_grid(len(self.panes))
        w, h = self.width(), self.height()
        rects = []
        for i in range(len(self.panes)):
            r, c = divmod(i, cols)
            x0, x1 = c * w // cols, (c + 1) * w // cols
            y0, y1 = r * h // rows, (r + 1) * h // rows
            gap = 1 if len(self.panes) > 1 else 0
            rects.append(QRect(x0, y0, x1 - x0 - gap, y1 - y0 - gap))
        return rects

    def _layout_panes(self) -> None:
        for pane, rect in zip(self.panes, self.pane_rects(), strict=True):
            pane.set_geometry(rect)
        self.overlay.setGeometry(self.rect())
        self._invalidate_composed()  # perhaps another size

    def has_new_frame(self) -> bool:
        """Whether a pane's stream delivered a frame not shown yet (no call into Qt)."""
        return any(pane.feed.has_new_frame() for pane in self.panes)

    def refresh(self) -> None:
        """Called by the wall's display timer: show the newest frame of each pane."""
        for pane in self.panes:
            pane.refresh()

    def pane_states(self) -> list[StreamState]:
        return [p.feed.status.state for p in self.panes]

    def record_latency(self, ms: float) -> None:
        self._latency.append(ms)

    def latency_ms(self) -> tuple[float, float] | None:
        """Glass-to-glass latency at presentation (median, p95), where frames carry a stamp."""
        values = list(self._latency)
        if not values:
            return None
        return percentile(values, 50) or 0.0, percentile(values, 95) or 0.0

    def latency_samples(self) -> list[float]:
        return list(self._latency)

    def close_feeds(self) -> None:
        for pane in self.panes:
            pane.feed.close()

    # -- geometry and visibility ----------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._layout_panes()

    def showEvent(self, event: object) -> None:
        for pane in self.panes:
            pane.feed.set_visible(True)

    def hideEvent(self, event: object) -> None:
        # A hidden tile decodes nothing (maximised neighbour, minimised window).
        for pane in self.panes:
            pane.feed.set_visible(False)
            pane.surface.clear()
            pane.has_picture = False

    # -- mouse, drag and drop ---------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
            self.clicked.emit(self.index)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is None or self.camera is None:
            return
        if (event.position().toPoint() - self._press).manhattanLength() < 12:
            return
        self._press = None
        drag = QDrag(self)
        mime = QMimeData()
        mime.setData(TILE_MIME, str(self.index).encode())
        mime.setText(self.camera.id)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.MoveAction)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._press is not None and self.is_mosaic:
            for pane, rect in zip(self.panes, self.pane_rects(), strict=True):
                if rect.contains(self._press):
                    self.optic_clicked.emit(self.index, pane.optic)
                    break
        self._press = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        self.double_clicked.emit(self.index)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(CAMERA_MIME) or event.mimeData().hasFormat(TILE_MIME):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        mime = event.mimeData()
        if mime.hasFormat(TILE_MIME):
            source = int(bytes(mime.data(TILE_MIME).data()).decode())
            if source != self.index:
                self.tile_dropped.emit(source, self.index)
            event.acceptProposedAction()
        elif mime.hasFormat(CAMERA_MIME):
            self.camera_dropped.emit(self.index, bytes(mime.data(CAMERA_MIME).data()).decode())
            event.acceptProposedAction()
