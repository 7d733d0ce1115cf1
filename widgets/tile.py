"""QtTile: one wall tile (video surface, overlay, drag and drop) over a TileFeed."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QMimeData, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QDragEnterEvent,
    QDropEvent,
    QFont,
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
from app.streams.stats import percentile
from app.streams.status import NOT_LIVE, CameraStatus, StreamState, StreamStatus, camera_status
from widgets.style import state_colour
from widgets.video_surface import choose_surface_class

CAMERA_MIME = "application/x-torrazzo-camera"
TILE_MIME = "application/x-torrazzo-tile"


class CachedOverlay(QWidget):
    """A transparent widget over a video surface that is drawn once per change, not per frame.

    Qt repaints a transparent sibling wherever the surface beneath it changed, i.e. for
    every video frame. Subclasses draw in ``paint_overlay`` into a cached image, which is
    redrawn only after ``update()`` (every caller that changes what is shown calls it) or
    a resize; a frame costs one blit of that image instead of the Python drawing code.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._cache: QImage | None = None

    def update(self, *args: object) -> None:  # type: ignore[override]
        self._cache = None
        super().update(*args)  # type: ignore[arg-type]

    def paint_overlay(self, p: QPainter) -> None:
        raise NotImplementedError

    def paintEvent(self, event: QPaintEvent) -> None:
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
        p = QPainter(self)
        p.drawImage(0, 0, cache)
        p.end()


class QtTileOverlay(CachedOverlay):
    """Name, neighbourhood, clock, status badge, statistics and the not-live notices."""

    def __init__(self, tile: QtTile) -> None:
        super().__init__(tile)
        self._tile = tile
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground, True)

    def paint_overlay(self, p: QPainter) -> None:
        tile = self._tile
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
        clock = datetime.now().strftime("%H:%M:%S")
        p.drawText(
            QRect(6, 0, r.width() - 12, line),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
            clock,
        )
        if not small and hood:
            p.fillRect(QRect(0, line, fm.horizontalAdvance(hood) + 12, line), QColor(0, 0, 0, 110))
            p.setPen(QColor(200, 200, 200))
            p.drawText(QRect(6, line, r.width() - 12, line), Qt.AlignmentFlag.AlignVCenter, hood)
        # one status badge for the device, bottom right
        summary = camera_status(tile.pane_states())
        label = str(summary).upper()
        role = tile.feed.role
        if summary == CameraStatus.LIVE and role is not None:
            label = f"LIVE · {role}" if not tile.is_mosaic else f"LIVE · {len(tile.panes)} optics"
        elif summary == CameraStatus.DEGRADED:
            up = sum(1 for s in tile.pane_states() if s == StreamState.LIVE)
            label = f"DEGRADED · {up}/{len(tile.panes)} optics"
        bw = fm.horizontalAdvance(label) + 14
        badge = QRect(r.width() - bw - 6, r.height() - line - 4, bw, line)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(state_colour(summary))
        p.drawRoundedRect(badge, 4, 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
        if tile.show_stats:
            self._draw_stats(p, r, tile, line)
        self._draw_focus(p, r)

    def _draw_notice(self, p: QPainter, r: QRect, status: StreamStatus, compact: bool) -> None:
        lines = []
        if status.state == StreamState.CONNECTING:
            lines.append("connecting…")
        else:
            since = (
                datetime.fromtimestamp(status.since).strftime("%H:%M:%S") if status.since else "?"
            )
            lines.append(f"{status.state} since {since}")
            if status.reason:
                lines.append(status.reason)
            if status.next_retry_at is not None and not compact:
                wait = max(0, round(status.next_retry_at - time.time()))
                lines.append(f"next retry in {wait} s" if wait else "retrying now")
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


class _Pane:
    """One video picture inside a tile: a TileFeed and its surface (one per optic in a mosaic)."""

    def __init__(self, tile: QtTile, feed: TileFeed, optic: int) -> None:
        self.tile = tile
        self.feed = feed
        self.optic = optic
        self.surface = choose_surface_class()(tile)
        self.surface.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.surface.frame_presented.connect(self._on_presented)
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

    def _on_presented(self, seq: int, _t: float) -> None:
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
        self.overlay.raise_()

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


TileFactory = Callable[[int], QtTile]
