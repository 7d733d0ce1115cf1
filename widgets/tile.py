"""QtTile: one wall tile (video surface, overlay, drag and drop) over a TileFeed."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QMimeData, QPoint, QRect, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QDragEnterEvent,
    QDropEvent,
    QFont,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QResizeEvent,
)
from PySide6.QtWidgets import QWidget

from app.site.model import Camera, Site
from app.streams.feed import TileFeed
from app.streams.frames import FrameRequest
from app.streams.stats import percentile
from app.streams.status import NOT_LIVE, StreamState
from widgets.style import state_colour
from widgets.video_surface import choose_surface_class

CAMERA_MIME = "application/x-torrazzo-camera"
TILE_MIME = "application/x-torrazzo-tile"


class QtTileOverlay(QWidget):
    """Name, neighbourhood, clock, status badge, statistics and the not-live notice."""

    def __init__(self, tile: QtTile) -> None:
        super().__init__(tile)
        self._tile = tile
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground, True)

    def paintEvent(self, event: QPaintEvent) -> None:
        tile = self._tile
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        r = self.rect()
        small = r.height() < 120
        font = QFont(self.font())
        font.setPointSizeF(7.5 if small else 9.0)
        p.setFont(font)
        fm = p.fontMetrics()
        line = fm.height() + 4
        camera = tile.camera
        status = tile.feed.status
        if camera is None:
            p.setPen(QColor(120, 120, 120))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "drop a camera here")
            self._draw_focus(p, r)
            return
        not_live = status.state in NOT_LIVE
        if not_live:
            # Never let a frozen last frame pass for live video: dim it under the notice.
            p.fillRect(r, QColor(0, 0, 0, 170))
        # top bar
        p.fillRect(QRect(0, 0, r.width(), line), QColor(0, 0, 0, 140))
        p.setPen(QColor(235, 235, 235))
        hood = tile.neighbourhood_name
        optic = f" · {camera.optics[tile.feed.optic].name}" if camera.is_multi_optic else ""
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
        # status badge, bottom right
        label = str(status.state).upper()
        if tile.feed.role is not None and status.state == StreamState.LIVE:
            label = f"LIVE · {tile.feed.role}"
        bw = fm.horizontalAdvance(label) + 14
        badge = QRect(r.width() - bw - 6, r.height() - line - 4, bw, line)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(state_colour(status.state))
        p.drawRoundedRect(badge, 4, 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(badge, Qt.AlignmentFlag.AlignCenter, label)
        if not_live or (status.state == StreamState.CONNECTING and not tile.has_picture):
            self._draw_notice(p, r, tile)
        if tile.show_stats:
            self._draw_stats(p, r, tile, line)
        self._draw_focus(p, r)

    def _draw_notice(self, p: QPainter, r: QRect, tile: QtTile) -> None:
        status = tile.feed.status
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
            if status.next_retry_at is not None:
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


class QtTile(QWidget):
    """A tile of the wall. The model is its TileFeed plus the tile's place in the Layout.

    Signals:
        clicked(int index), double_clicked(int index),
        camera_dropped(int index, str camera_id), tile_dropped(int source, int target).
    """

    clicked = Signal(int)
    double_clicked = Signal(int)
    camera_dropped = Signal(int, str)
    tile_dropped = Signal(int, int)

    def __init__(
        self, index: int, feed: TileFeed, site: Site, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.index = index
        self.feed = feed
        self._site = site
        self.focused = False
        self.show_stats = False
        self.presented = 0
        self.has_picture = False
        self._latency: deque[float] = deque(maxlen=250)
        self._sent_at: dict[int, int] = {}
        self._press: QPoint | None = None
        self.setAcceptDrops(True)
        self.setMinimumSize(40, 30)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        surface_class = choose_surface_class()
        self.surface = surface_class(self)
        self.surface.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.surface.frame_presented.connect(self._on_surface_presented)
        self.surface.request_changed.connect(self._on_surface_request)
        self.overlay = QtTileOverlay(self)
        self.overlay.raise_()
        self.feed.set_request(self.surface.wanted_request())

    @property
    def camera(self) -> Camera | None:
        return self.feed.camera

    @property
    def neighbourhood_name(self) -> str:
        cam = self.feed.camera
        if cam is None:
            return ""
        try:
            return self._site.neighbourhood(cam.neighbourhood).name
        except KeyError:
            return cam.neighbourhood

    def show_camera(self, camera: Camera | None, optic: int = 0) -> None:
        if camera != self.feed.camera or optic != self.feed.optic:
            self.surface.clear()
            self.has_picture = False
            self._latency.clear()
        self.feed.show(camera, optic)
        self.overlay.update()

    def refresh(self) -> None:
        """Called by the wall's display timer: show the newest frame if there is one."""
        frame = self.feed.take_frame()
        if frame is None:
            return
        if frame.sent_at_ns is not None:
            self._sent_at[frame.seq] = frame.sent_at_ns
            if len(self._sent_at) > 8:
                self._sent_at.pop(next(iter(self._sent_at)))
        self.has_picture = True
        self.surface.show_frame(frame)

    def latency_ms(self) -> tuple[float, float] | None:
        """Glass-to-glass latency at presentation (median, p95), where frames carry a stamp."""
        values = list(self._latency)
        if not values:
            return None
        return percentile(values, 50) or 0.0, percentile(values, 95) or 0.0

    def latency_samples(self) -> list[float]:
        return list(self._latency)

    def _on_surface_presented(self, seq: int, _t: float) -> None:
        self.presented += 1
        self.feed.presented += 1
        sent = self._sent_at.pop(seq, None)
        if sent is not None:
            self._latency.append((time.time_ns() - sent) / 1e6)

    def _on_surface_request(self, request: object) -> None:
        if isinstance(request, FrameRequest):
            self.feed.set_request(request)

    # -- geometry and visibility ----------------------------------------------------------
    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.surface.setGeometry(self.rect())
        self.overlay.setGeometry(self.rect())
        self.feed.set_height(round(self.height() * self.devicePixelRatioF()))

    def showEvent(self, event: object) -> None:
        self.feed.set_visible(True)

    def hideEvent(self, event: object) -> None:
        # A hidden tile decodes nothing (maximised neighbour, minimised window).
        self.feed.set_visible(False)
        self.surface.clear()
        self.has_picture = False

    # -- mouse, drag and drop ---------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
            self.clicked.emit(self.index)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is None or self.feed.camera is None:
            return
        if (event.position().toPoint() - self._press).manhattanLength() < 12:
            return
        self._press = None
        drag = QDrag(self)
        mime = QMimeData()
        mime.setData(TILE_MIME, str(self.index).encode())
        mime.setText(self.feed.camera.id)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.MoveAction)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
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
