"""QtMapView: the site map — outlines, live camera markers, cones, backgrounds — and its dock."""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt, QThread, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QDrag,
    QFont,
    QFontMetricsF,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QResizeEvent,
    QShowEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDockWidget,
    QGraphicsItem,
    QGraphicsPixmapItem,
    QGraphicsPolygonItem,
    QGraphicsScene,
    QGraphicsSceneHoverEvent,
    QGraphicsSceneMouseEvent,
    QGraphicsView,
    QLabel,
    QMainWindow,
    QMenu,
    QPushButton,
    QStyleOptionGraphicsItem,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.health import StatusBoard
from app.maps.editing import EditError
from app.maps.geometry import MAX_REACH, cone_polygon
from app.maps.model import MapModel, MarkerState
from app.maps.projection import GeoProjection, PixelProjection
from app.maps.tiles import BackgroundError, ImageBackground, TileSource, open_background
from app.site.model import CameraKind, Site
from app.streams.status import CameraStatus
from widgets.bridge import MainThreadBridge
from widgets.style import state_colour
from widgets.tile import CAMERA_MIME

if TYPE_CHECKING:
    from widgets.main_window import MainWindow

logger = logging.getLogger(__name__)

ICON_R = 9.0  # marker radius, screen pixels (markers keep their size when zooming)
CONE_R = 30.0  # field-of-view cone length at wide angle, screen pixels
MAX_SCALE = 8.0  # closest zoom: screen pixels per metre (or per floor-plan pixel)
LABEL_MIN_SCALE = 0.35  # screen pixels per metre from which camera names are drawn
BLINK_MS = 450
TILE_CACHE = 384  # decoded tiles kept in memory
PARENT_LEVELS = 4  # a missing tile is drawn from a lower zoom, up to this many levels up
KIND_NAMES = {
    CameraKind.PTZ_DOME: "PTZ dome",
    CameraKind.FIXED_DOME: "Fixed dome",
    CameraKind.BI_OPTIC: "Bi-optic",
    CameraKind.QUAD_OPTIC: "Quad-optic",
}
STATUS_FILTERS: list[tuple[str, list[CameraStatus]]] = [
    ("Live", [CameraStatus.LIVE]),
    ("Connecting", [CameraStatus.CONNECTING]),
    ("Stalled", [CameraStatus.STALLED]),
    ("Offline", [CameraStatus.OFFLINE]),
    ("Unauthorized", [CameraStatus.UNAUTHORIZED]),
    ("Degraded", [CameraStatus.DEGRADED]),
    ("Error", [CameraStatus.ERROR]),
    ("Not watched", [CameraStatus.IDLE]),
    ("Not live", [s for s in CameraStatus if s is not CameraStatus.LIVE]),
]
HOOD_COLOURS = [
    QColor(66, 133, 244),
    QColor(15, 157, 88),
    QColor(171, 71, 188),
    QColor(0, 172, 193),
    QColor(244, 160, 0),
    QColor(121, 85, 72),
    QColor(233, 30, 99),
    QColor(63, 81, 181),
    QColor(124, 179, 66),
]
ATTENTION = QColor(255, 40, 40)
SELECTED = QColor(255, 215, 0)


def draw_kind_icon(
    p: QPainter, kind: CameraKind, centre: QPointF, r: float, fill: QColor, heading: float = 0.0
) -> None:
    """The marker body: a shape per kind, filled with the status colour, lenses in white.

    PTZ dome: circle with a dome ring; fixed dome: rounded square; bi-optic: a pill turned
    along its heading with two lenses; quad-optic: a diamond with four lenses.
    """
    p.save()
    p.translate(centre)
    outline = QPen(QColor(20, 20, 20), 1.6)
    p.setPen(outline)
    p.setBrush(fill)
    lens = QColor(255, 255, 255)
    if kind is CameraKind.PTZ_DOME:
        p.drawEllipse(QPointF(0, 0), r, r)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(lens, 1.4))
        p.drawEllipse(QPointF(0, 0), r * 0.58, r * 0.58)
        p.setBrush(lens)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QPointF(0, 0), r * 0.24, r * 0.24)
    elif kind is CameraKind.FIXED_DOME:
        p.drawRoundedRect(QRectF(-r * 0.9, -r * 0.9, r * 1.8, r * 1.8), r * 0.35, r * 0.35)
        p.setBrush(lens)
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QPointF(0, 0), r * 0.32, r * 0.32)
    elif kind is CameraKind.BI_OPTIC:
        p.rotate(heading + 90)  # the two lenses look sideways from the long axis
        p.drawRoundedRect(QRectF(-r * 1.05, -r * 0.68, r * 2.1, r * 1.36), r * 0.6, r * 0.6)
        p.setBrush(lens)
        p.setPen(Qt.PenStyle.NoPen)
        for dx in (-0.5, 0.5):
            p.drawEllipse(QPointF(dx * r, 0), r * 0.26, r * 0.26)
    else:
        d = r * 1.15
        p.drawPolygon(QPolygonF([QPointF(0, -d), QPointF(d, 0), QPointF(0, d), QPointF(-d, 0)]))
        p.setBrush(lens)
        p.setPen(Qt.PenStyle.NoPen)
        for dx, dy in ((0, -0.48), (0.48, 0), (0, 0.48), (-0.48, 0)):
            p.drawEllipse(QPointF(dx * r, dy * r), r * 0.18, r * 0.18)
    p.restore()


class _ConeItem(QGraphicsItem):
    """The fields of view of one camera, at constant screen size, under every marker."""

    def __init__(self, state: MarkerState) -> None:
        super().__init__()
        self.state = state
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setZValue(10)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)

    def boundingRect(self) -> QRectF:
        r = CONE_R * MAX_REACH + 2
        return QRectF(-r, -r, 2 * r, 2 * r)

    def shape(self) -> QPainterPath:
        return QPainterPath()  # never hit: clicks go to markers or the map below

    def paint(self, p: QPainter, _opt: QStyleOptionGraphicsItem, _w: QWidget | None = None) -> None:
        colour = state_colour(self.state.status)
        fill = QColor(colour)
        fill.setAlpha(55)
        edge = QColor(colour).darker(130)
        edge.setAlpha(170)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(edge, 1.0))
        p.setBrush(fill)
        # Multi-optic housings see all round; shorter cones keep clusters readable.
        radius = CONE_R * (0.7 if len(self.state.optic_headings) > 1 else 1.0)
        for cone in self.state.cones():
            poly = QPolygonF([QPointF(x, y) for x, y in cone_polygon(cone, radius)])
            p.drawPolygon(poly)


class _MarkerItem(QGraphicsItem):
    """One camera: icon by kind, coloured by status; click, drag, double-click, edit."""

    def __init__(self, view: QtMapView, state: MarkerState) -> None:
        super().__init__()
        self.view = view
        self.state = state
        self.selected = False
        self.hovered = False
        self.show_label = False
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setAcceptHoverEvents(True)
        self.setZValue(20)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self._press: QPointF | None = None
        self._dragging = False
        self._turning = False

    @property
    def camera_id(self) -> str:
        return self.state.camera_id

    def label_text(self) -> str:
        return self.state.name if len(self.state.name) <= 28 else self.state.name[:26] + "…"

    def boundingRect(self) -> QRectF:
        r = ICON_R * 1.6 + 4
        rect = QRectF(-r, -r, 2 * r, 2 * r)
        if self.show_label:
            w = QFontMetricsF(self.view.label_font).horizontalAdvance(self.label_text()) + 10
            rect = rect.united(QRectF(ICON_R + 2, -9, w, 18))
        return rect

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addEllipse(QPointF(0, 0), ICON_R + 3, ICON_R + 3)
        return path

    def paint(self, p: QPainter, _opt: QStyleOptionGraphicsItem, _w: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        s = self.state
        r = ICON_R * (1.15 if self.hovered else 1.0)
        if s.attention:
            ring = QColor(ATTENTION)
            ring.setAlpha(255 if self.view.blink_on else 60)
            p.setPen(QPen(ring, 3.0))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(QPointF(0, 0), r * 1.55, r * 1.55)
        if self.selected:
            p.setPen(QPen(SELECTED, 2.5))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawEllipse(QPointF(0, 0), r * 1.3, r * 1.3)
        fill = state_colour(s.status)
        if s.attention and not self.view.blink_on:
            fill = fill.lighter(160)
        draw_kind_icon(p, s.kind, QPointF(0, 0), r, fill, s.heading or 0.0)
        if self.show_label:
            text = self.label_text()
            p.setFont(self.view.label_font)
            fm = QFontMetricsF(self.view.label_font)
            box = QRectF(ICON_R + 3, -8, fm.horizontalAdvance(text) + 8, 16)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 255, 255, 215))
            p.drawRoundedRect(box, 3, 3)
            p.setPen(QColor(25, 25, 25))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def set_state(self, state: MarkerState) -> None:
        self.prepareGeometryChange()
        self.state = state
        self.setToolTip(state.tooltip())
        self.update()

    # -- mouse -------------------------------------------------------------------------------
    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = True
        self.view.hovered.emit(self.camera_id)
        self.update()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = False
        self.update()

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if event.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            event.ignore()
            return
        self._press = event.screenPos().toPointF()
        self._dragging = False
        self._turning = self.view.edit_mode and (
            event.button() == Qt.MouseButton.RightButton
            or bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        )
        event.accept()

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._press is None:
            return
        moved = (event.screenPos().toPointF() - self._press).manhattanLength()
        if not self._dragging and moved < QApplication.startDragDistance():
            return
        first = not self._dragging
        self._dragging = True
        if self._turning:
            d = event.scenePos() - self.pos()
            heading = math.degrees(math.atan2(d.x(), -d.y()))
            self.view.model.turn_camera(self.camera_id, heading)
        elif self.view.edit_mode:
            self.view.model.move_camera(self.camera_id, event.scenePos().x(), event.scenePos().y())
        elif first:
            self._press = None
            self.view.start_drag(self.camera_id)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._press is not None and not self._dragging:
            self.view.click_camera(self.camera_id)
        self._press = None
        self._dragging = False

    def mouseDoubleClickEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if not self.view.edit_mode:
            self.view.camera_maximize_requested.emit(self.camera_id)
        event.accept()


class _HoodLabel(QGraphicsItem):
    """'Giuseppina 7/8 live' on a light box, at constant screen size."""

    def __init__(self, view: QtMapView, hood_id: str, text: str) -> None:
        super().__init__()
        self.view = view
        self.hood_id = hood_id
        self.text = text
        self.live = 0
        self.total = 0
        self.anchor = QPointF()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations, True)
        self.setZValue(30)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def set_text(self, text: str, live: int, total: int) -> None:
        self.prepareGeometryChange()
        self.text, self.live, self.total = text, live, total
        self.update()

    def boundingRect(self) -> QRectF:
        fm = QFontMetricsF(self.view.hood_font)
        w = fm.horizontalAdvance(self.text) + 14
        h = fm.height() + 6
        return QRectF(-w / 2, -h / 2, w, h)

    def paint(self, p: QPainter, _opt: QStyleOptionGraphicsItem, _w: QWidget | None = None) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        rect = self.boundingRect()
        p.setPen(QPen(QColor(60, 60, 60, 160), 1))
        p.setBrush(QColor(255, 255, 255, 225))
        p.drawRoundedRect(rect, 5, 5)
        if self.total and self.live == self.total:
            colour = QColor(20, 120, 50)
        elif self.live:
            colour = QColor(170, 95, 0)
        else:
            colour = QColor(45, 45, 45)
        p.setPen(colour)
        p.setFont(self.view.hood_font)
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.text)


class _TileLayer(QGraphicsItem):
    """Raster tiles under everything, at the zoom level that matches the view's scale."""

    def __init__(self, view: QtMapView, source: TileSource, projection: GeoProjection) -> None:
        super().__init__()
        self.view = view
        self.source = source
        self.projection = projection
        self.cache: OrderedDict[tuple[int, int, int], QPixmap | None] = OrderedDict()
        self.bad_tiles = 0
        self.drawn = 0  # tiles painted in the last paint, for tests
        self.setZValue(-10)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)

    def boundingRect(self) -> QRectF:
        return self.view.scene_rect

    def _pixmap(self, z: int, x: int, y: int) -> QPixmap | None:
        key = (z, x, y)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        data = self.source.tile(z, x, y)
        if data is None:
            return None  # not there, or on its way (XYZ): asked again at the next paint
        pm = QPixmap()
        if not pm.loadFromData(data):
            self.bad_tiles += 1
            if self.bad_tiles == 1:
                self.view.show_error(f"tile {z}/{x}/{y} of the map background is not an image")
            self.cache[key] = None
        else:
            self.cache[key] = pm
        if len(self.cache) > TILE_CACHE:
            self.cache.popitem(last=False)
        return self.cache[key]

    def forget(self, z: int, x: int, y: int) -> None:
        self.cache.pop((z, x, y), None)
        x0, y0, x1, y1 = self.projection.tile_rect(z, x, y)
        self.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def paint(self, p: QPainter, opt: QStyleOptionGraphicsItem, _w: QWidget | None = None) -> None:
        scale = opt.levelOfDetailFromTransform(p.worldTransform())
        src = self.source
        z = max(src.min_zoom, min(src.max_zoom, round(self.projection.zoom_for(scale))))
        r = opt.exposedRect
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        drawn = 0
        for tx, ty in self.projection.tiles_covering(z, (r.left(), r.top(), r.right(), r.bottom())):
            x0, y0, x1, y1 = self.projection.tile_rect(z, tx, ty)
            target = QRectF(x0, y0, x1 - x0, y1 - y0)
            pm = self._pixmap(z, tx, ty)
            if pm is not None:
                p.drawPixmap(target, pm, QRectF(pm.rect()))
                drawn += 1
                continue
            for up in range(1, PARENT_LEVELS + 1):  # overzoom a coarser tile meanwhile
                if z - up < src.min_zoom:
                    break
                parent = self._pixmap(z - up, tx >> up, ty >> up)
                if parent is None:
                    continue
                n = 1 << up
                w, h = parent.width() / n, parent.height() / n
                part = QRectF((tx % n) * w, (ty % n) * h, w, h)
                p.drawPixmap(target, parent, part)
                drawn += 1
                break
        self.drawn = drawn


class _Legend(QWidget):
    """Status colours and kind icons, in a corner of the map."""

    STATUSES = (
        ("live", "live"),
        ("connecting", "connecting"),
        ("stalled", "stalled"),
        ("offline", "offline"),
        ("unauthorized", "unauthorized"),
        ("idle", "not watched"),
    )

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.font_ = QFont(self.font())
        self.font_.setPointSizeF(7.5)
        fm = QFontMetricsF(self.font_)
        self.row = max(15.0, fm.height() + 3)
        col = max(fm.horizontalAdvance(t) for _, t in self.STATUSES) + 26
        col2 = max(fm.horizontalAdvance(t) for t in KIND_NAMES.values()) + 30
        self.col = col
        self.resize(round(col + col2 + 12), round(self.row * len(self.STATUSES) + 8))

    def paintEvent(self, event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(80, 80, 80, 150), 1))
        p.setBrush(QColor(255, 255, 255, 215))
        p.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 5, 5)
        p.setFont(self.font_)
        for i, (state, text) in enumerate(self.STATUSES):
            y = 4 + self.row * i + self.row / 2
            p.setPen(QPen(QColor(20, 20, 20), 1))
            p.setBrush(state_colour(state))
            p.drawEllipse(QPointF(12, y), 5, 5)
            p.setPen(QColor(30, 30, 30))
            p.drawText(
                QRectF(22, y - self.row / 2, self.col, self.row),
                Qt.AlignmentFlag.AlignVCenter,
                text,
            )
        for i, (kind, text) in enumerate(KIND_NAMES.items()):
            y = 4 + self.row * (i + 0.5) * len(self.STATUSES) / len(KIND_NAMES)
            draw_kind_icon(p, kind, QPointF(self.col + 10, y), 6.0, QColor(200, 200, 200))
            p.setPen(QColor(30, 30, 30))
            p.drawText(
                QRectF(self.col + 22, y - self.row / 2, 200, self.row),
                Qt.AlignmentFlag.AlignVCenter,
                text,
            )
        p.end()


class _GraphicsView(QGraphicsView):
    """Wheel zoom at the cursor, hand-drag panning, keyboard zoom, pan and rotate."""

    def __init__(self, owner: QtMapView) -> None:
        super().__init__(owner.scene, owner)
        self.owner = owner
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setBackgroundBrush(QColor(236, 234, 228))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if steps:
            self.owner.zoom_by(1.25**steps, event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        o = self.owner
        step = 1.0 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 5.0
        pans = {
            Qt.Key.Key_Left: (-1, 0),
            Qt.Key.Key_Right: (1, 0),
            Qt.Key.Key_Up: (0, -1),
            Qt.Key.Key_Down: (0, 1),
        }
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            o.zoom_by(1.25)
        elif key == Qt.Key.Key_Minus:
            o.zoom_by(1 / 1.25)
        elif key in (Qt.Key.Key_0, Qt.Key.Key_Home):
            o.fit()
        elif key in pans:
            dx, dy = pans[key]
            o.pan_by(dx * self.viewport().width() * 0.15, dy * self.viewport().height() * 0.15)
        elif key in (Qt.Key.Key_BracketLeft, Qt.Key.Key_BracketRight) and o.edit_mode:
            o.turn_selected(-step if key == Qt.Key.Key_BracketLeft else step)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and o.selected:
            o.camera_activated.emit(o.selected)
        elif key == Qt.Key.Key_Escape:
            o.select(None)
        else:
            super().keyPressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if self.itemAt(event.position().toPoint()) is None:
            self.owner.zoom_by(2.0, event.position())  # double-click zooms, like every map
            return
        super().mouseDoubleClickEvent(event)

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        self.owner.schedule_label_layout()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.owner.place_overlays()
        self.owner.schedule_label_layout()


class QtMapView(QWidget):
    """The site map of a MapModel: neighbourhoods with live counts, cameras, backgrounds.

    Signals:
        camera_activated(str): a camera was clicked (show it in the focused tile).
        camera_maximize_requested(str): a camera was double-clicked (show it maximised).
        hovered(str): the pointer is over a camera.
    """

    camera_activated = Signal(str)
    camera_maximize_requested = Signal(str)
    hovered = Signal(str)

    def __init__(
        self,
        model: MapModel,
        bridge: MainThreadBridge,
        parent: QWidget | None = None,
        background: TileSource | ImageBackground | bool | None = True,
    ) -> None:
        """``background``: True opens the site's own; a source or None overrides it."""
        super().__init__(parent)
        self.model = model
        self.bridge = bridge
        self.edit_mode = False
        self.blink_on = True
        self.selected: str | None = None
        self.error_text = ""
        self.label_font = QFont(self.font())
        self.label_font.setPointSizeF(8.0)
        self.hood_font = QFont(self.font())
        self.hood_font.setPointSizeF(9.0)
        self.hood_font.setBold(True)
        self.scene = QGraphicsScene(self)
        self.scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.view = _GraphicsView(self)
        self.markers: dict[str, _MarkerItem] = {}
        self.cones: dict[str, _ConeItem] = {}
        self.hood_items: dict[str, QGraphicsPolygonItem] = {}
        self.hood_labels: dict[str, _HoodLabel] = {}
        self.tile_layer: _TileLayer | None = None
        self.image_item: QGraphicsPixmapItem | None = None
        self.source: TileSource | None = None
        self._build_controls()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.toolbar)
        layout.addWidget(self.actions_bar)
        layout.addWidget(self.banner)
        layout.addWidget(self.view, 1)
        self.attribution = QLabel(self.view.viewport())
        self.attribution.setStyleSheet(
            "background: rgba(255,255,255,200); color: #333; padding: 1px 4px; font-size: 8pt;"
        )
        self.attribution.setOpenExternalLinks(False)
        self.attribution.hide()
        self.legend = _Legend(self.view.viewport())
        self.scene_rect = QRectF()
        self._build_scene()
        self._load_background(background)
        self._blink = QTimer(self)
        self._blink.setInterval(BLINK_MS)
        self._blink.timeout.connect(self._on_blink)
        self._label_timer = QTimer(self)
        self._label_timer.setSingleShot(True)
        self._label_timer.setInterval(0)
        self._label_timer.timeout.connect(self.layout_labels)
        self._fitted = False
        model.marker_changed.connect(self._gui(self._on_marker_changed))
        model.counts_changed.connect(self._gui(self._on_counts_changed))
        model.attention_changed.connect(self._gui(self._on_attention_changed))
        model.filter_changed.connect(self._gui(self._on_filter_changed))
        model.edits_changed.connect(self._gui(self._on_edits_changed))
        self._on_attention_changed(len(model.attention()))

    def _gui(self, handler: Callable[..., object]) -> Callable[..., None]:
        """Run ``handler`` now on the GUI thread, through the bridge from any other thread."""

        def call(*args: object) -> None:
            if QThread.currentThread() is self.thread():
                handler(*args)
            else:
                self.bridge.post(lambda: handler(*args))

        return call

    # -- building ------------------------------------------------------------------------------
    def _build_controls(self) -> None:
        self.toolbar = QToolBar("Map", self)
        self.toolbar.setIconSize(self.toolbar.iconSize() * 0.8)
        site = self.model.site
        self.hood_filter = QComboBox(self)
        self.hood_filter.addItem("All neighbourhoods", None)
        for n in site.neighbourhoods:
            self.hood_filter.addItem(n.name, n.id)
        self.kind_filter = QComboBox(self)
        self.kind_filter.addItem("All kinds", None)
        for kind, name in KIND_NAMES.items():
            self.kind_filter.addItem(name, kind.value)
        self.status_filter = QComboBox(self)
        self.status_filter.addItem("All statuses", None)
        for name, statuses in STATUS_FILTERS:
            self.status_filter.addItem(name, [s.value for s in statuses])
        for combo in (self.hood_filter, self.kind_filter, self.status_filter):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
            combo.currentIndexChanged.connect(self._apply_filters)
            self.toolbar.addWidget(combo)
        # A second row: in a narrow dock, "Acknowledge all" must never hide in an overflow menu.
        self.actions_bar = QToolBar("Map actions", self)
        self.actions_bar.setIconSize(self.toolbar.iconSize())
        self.ack_button = QPushButton("Acknowledge all", self)
        self.ack_button.setToolTip("Stop the blinking of cameras that went down")
        self.ack_button.clicked.connect(self.model.acknowledge_all)
        self.actions_bar.addWidget(self.ack_button)
        fit = QAction("Fit", self)
        fit.setToolTip("Show the whole site (0)")
        fit.triggered.connect(self.fit)
        self.actions_bar.addAction(fit)
        self.legend_action = QAction("Legend", self, checkable=True, checked=True)
        self.legend_action.toggled.connect(lambda on: self.place_overlays())
        self.actions_bar.addAction(self.legend_action)
        self.edit_button = QToolButton(self)
        self.edit_button.setText("Edit positions")
        self.edit_button.setCheckable(True)
        self.edit_button.setEnabled(self.model.editable)
        self.edit_button.setToolTip(
            "Supervisors: drag a camera to move it; right-drag or Shift-drag, or [ and ],"
            " to turn it. Save writes the site file and keeps a backup."
        )
        self.edit_button.toggled.connect(self.set_edit_mode)
        self.actions_bar.addWidget(self.edit_button)
        self.save_action = QAction("Save", self)
        self.save_action.triggered.connect(self.save_edits)
        self.revert_action = QAction("Revert", self)
        self.revert_action.triggered.connect(self.model.revert_edits)
        for act in (self.save_action, self.revert_action):
            act.setEnabled(False)
            act.setVisible(False)
            self.actions_bar.addAction(act)
        self.banner = QLabel(self)
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fff3cd; color: #5c4400; padding: 4px 6px;")
        self.banner.hide()

    def _build_scene(self) -> None:
        model = self.model
        xs: list[float] = []
        ys: list[float] = []
        for i, hood in enumerate(model.neighbourhoods()):
            if not hood.outline:
                continue
            colour = HOOD_COLOURS[i % len(HOOD_COLOURS)]
            poly = QGraphicsPolygonItem(QPolygonF([QPointF(x, y) for x, y in hood.outline]))
            fill = QColor(colour)
            fill.setAlpha(38)
            pen = QPen(colour.darker(115), 1.8)
            pen.setCosmetic(True)
            poly.setPen(pen)
            poly.setBrush(fill)
            poly.setZValue(0)
            poly.setToolTip(hood.label)
            poly.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            self.scene.addItem(poly)
            self.hood_items[hood.id] = poly
            label = _HoodLabel(self, hood.id, hood.label)
            label.set_text(hood.label, hood.live, hood.total)
            cx, cy = hood.centroid or (0.0, 0.0)
            label.anchor = QPointF(cx, cy)
            label.setPos(label.anchor)
            self.scene.addItem(label)
            self.hood_labels[hood.id] = label
            xs.extend(x for x, _ in hood.outline)
            ys.extend(y for _, y in hood.outline)
        for state in model.markers():
            cone = _ConeItem(state)
            marker = _MarkerItem(self, state)
            marker.setToolTip(state.tooltip())
            self.scene.addItem(cone)
            self.scene.addItem(marker)
            self.cones[state.camera_id] = cone
            self.markers[state.camera_id] = marker
            if state.position is not None:
                xs.append(state.position[0])
                ys.append(state.position[1])
            self._place(state)
        if xs:
            self.site_rect = QRectF(
                QPointF(min(xs), min(ys)), QPointF(max(xs), max(ys))
            ).normalized()
        else:
            self.site_rect = QRectF(0, 0, 1000, 1000)
        self._set_scene_rect(self.site_rect)

    def _set_scene_rect(self, content: QRectF) -> None:
        # Generous margins: the operator can pan past the edges, and zoom out around them.
        m = max(content.width(), content.height(), 200.0)
        self.scene_rect = content.adjusted(-m, -m, m, m)
        self.scene.setSceneRect(self.scene_rect)

    def _load_background(self, background: TileSource | ImageBackground | bool | None) -> None:
        if background is True:
            try:
                background = open_background(self.model.site)
            except BackgroundError as e:
                self.show_error(str(e))
                return
        if background is None or background is False:
            return
        proj = self.model.projection
        if isinstance(background, TileSource):
            if not isinstance(proj, GeoProjection):
                self.show_error("tile backgrounds need a map in latitude and longitude")
                background.close()
                return
            self.source = background
            self.tile_layer = _TileLayer(self, background, proj)
            self.scene.addItem(self.tile_layer)
            background.tile_ready.connect(self._gui(self.tile_layer.forget))
            background.error.connect(self._gui(self.show_error))
            self._set_attribution(background.attribution)
            return
        pm = QPixmap(str(background.path))
        if pm.isNull():
            self.show_error(f"{background.path}: the image cannot be decoded (damaged?)")
            return
        item = QGraphicsPixmapItem(pm)
        item.setZValue(-10)
        item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        if background.bounds is not None and isinstance(proj, GeoProjection):
            (south, west), (north, east) = background.bounds
            x0, y0 = proj.to_scene(north, west)
            x1, y1 = proj.to_scene(south, east)
            item.setTransform(QTransform.fromScale((x1 - x0) / pm.width(), (y1 - y0) / pm.height()))
            item.setPos(x0, y0)
        elif isinstance(proj, PixelProjection):
            self.site_rect = self.site_rect.united(QRectF(0, 0, pm.width(), pm.height()))
            self._set_scene_rect(QRectF(0, 0, pm.width(), pm.height()))
        self.scene.addItem(item)
        self.image_item = item
        self._set_attribution(background.attribution)

    def _set_attribution(self, text: str) -> None:
        if text:
            self.attribution.setText(text)
            self.attribution.adjustSize()
            self.attribution.show()
            self.place_overlays()

    def show_error(self, message: str) -> None:
        """A background problem: said once at the top of the map; outlines and cameras stay."""
        self.error_text = message
        self.banner.setText(f"Map background unavailable — {message}. Showing outlines only.")
        self.banner.show()

    def place_overlays(self) -> None:
        vp = self.view.viewport()
        a = self.attribution
        a.move(vp.width() - a.width() - 2, vp.height() - a.height() - 2)
        lg = self.legend
        lg.move(6, vp.height() - lg.height() - 6)
        # Small docks keep the map for the map; the legend comes back when there is room.
        lg.setVisible(
            self.legend_action.isChecked()
            and vp.width() >= lg.width() * 2.4
            and vp.height() >= lg.height() * 3
        )

    def shutdown(self) -> None:
        """Stop the blinking and the background's threads and files (the window is closing)."""
        self._blink.stop()
        if self.source is not None:
            self.source.close()

    # -- view ----------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            QTimer.singleShot(0, self.fit)

    def scale(self) -> float:
        """Screen pixels per scene unit (about per metre on a city map)."""
        return float(self.view.transform().m11())

    def fit(self) -> None:
        rect = self.site_rect.adjusted(
            -self.site_rect.width() * 0.04,
            -self.site_rect.height() * 0.04,
            self.site_rect.width() * 0.04,
            self.site_rect.height() * 0.04,
        )
        self.view.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        self._after_zoom()

    def zoom_by(self, factor: float, at: QPointF | None = None) -> None:
        """Zoom by ``factor`` keeping the map point under viewport point ``at`` (default: the
        centre) where it is; clamped between a quarter of the whole site and MAX_SCALE."""
        vp = self.view.viewport()
        fit_scale = min(
            vp.width() / max(1.0, self.site_rect.width()),
            vp.height() / max(1.0, self.site_rect.height()),
        )
        s = self.scale()
        target = max(fit_scale / 4, min(MAX_SCALE, s * factor))
        if math.isclose(target, s):
            return
        anchor = at if at is not None else QPointF(vp.width() / 2, vp.height() / 2)
        fixed = self.view.mapToScene(anchor.toPoint())
        self.view.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.view.scale(target / s, target / s)
        moved = QPointF(self.view.mapFromScene(fixed)) - anchor
        self.pan_by(moved.x(), moved.y())
        self._after_zoom()

    def pan_by(self, dx: float, dy: float) -> None:
        h, v = self.view.horizontalScrollBar(), self.view.verticalScrollBar()
        h.setValue(h.value() + round(dx))
        v.setValue(v.value() + round(dy))

    def centre_on(self, camera_id: str) -> None:
        self.view.centerOn(self.markers[camera_id].pos())

    def _after_zoom(self) -> None:
        show = self.scale() >= LABEL_MIN_SCALE or isinstance(self.model.projection, PixelProjection)
        for marker in self.markers.values():
            if marker.show_label != show:
                marker.prepareGeometryChange()
                marker.show_label = show
                marker.update()
        self.schedule_label_layout()

    def schedule_label_layout(self) -> None:
        if hasattr(self, "_label_timer"):
            self._label_timer.start()

    def layout_labels(self) -> None:
        """Place neighbourhood labels where they hide neither cameras nor each other.

        Biggest neighbourhood first; each tries its centre, then above and below its
        outline, then steps off the centre; a label that fits nowhere on screen is hidden
        until the operator zooms in.
        """
        vp = QRectF(self.view.viewport().rect())
        markers = [
            QRectF(p.x() - ICON_R - 3, p.y() - ICON_R - 3, 2 * ICON_R + 6, 2 * ICON_R + 6)
            for m in self.markers.values()
            if m.isVisible()
            for p in [self.view.mapFromScene(m.pos())]
        ]
        placed: list[QRectF] = []

        def area(lab: _HoodLabel) -> float:
            r = self.hood_items[lab.hood_id].boundingRect()
            return r.width() * r.height()

        for lab in sorted(self.hood_labels.values(), key=area, reverse=True):
            size = lab.boundingRect()
            h = size.height()
            centre = QPointF(self.view.mapFromScene(lab.anchor))
            box = self.view.mapFromScene(self.hood_items[lab.hood_id].boundingRect())
            outline = QRectF(box.boundingRect())
            candidates = [
                centre,
                QPointF(outline.center().x(), outline.top() - h / 2 - 2),
                QPointF(outline.center().x(), outline.bottom() + h / 2 + 2),
                *(centre + QPointF(0, k * (h + 2)) for k in (1, -1, 2, -2, 3, -3)),
            ]
            rects = [size.translated(c) for c in candidates]
            on_screen = [r for r in rects if vp.contains(r)]
            free = [r for r in on_screen if not any(r.intersects(o) for o in placed)]
            clear = [r for r in free if not any(r.intersects(m) for m in markers)]
            chosen = (clear or free or [None])[0]
            if chosen is None:
                lab.hide()
                continue
            placed.append(chosen)
            lab.setPos(self.view.mapToScene(chosen.center().toPoint()))
            lab.show()

    # -- model → view --------------------------------------------------------------------------
    def _place(self, state: MarkerState) -> None:
        marker = self.markers[state.camera_id]
        cone = self.cones[state.camera_id]
        visible = self.model.is_visible(state.camera_id)
        if state.position is not None:
            marker.setPos(*state.position)
            cone.setPos(*state.position)
        marker.setVisible(visible)
        cone.setVisible(visible)

    def _on_marker_changed(self, camera_id: str) -> None:
        state = self.model.marker(camera_id)
        self.markers[camera_id].set_state(state)
        cone = self.cones[camera_id]
        cone.state = state
        cone.update()
        self._place(state)
        if self.selected == camera_id and not self.model.is_visible(camera_id):
            self.select(None)

    def _on_counts_changed(self, hood_id: str) -> None:
        label = self.hood_labels.get(hood_id)
        if label is not None:
            hood = self.model.neighbourhood(hood_id)
            label.set_text(hood.label, hood.live, hood.total)
            self.hood_items[hood_id].setToolTip(hood.label)
            self.schedule_label_layout()

    def _on_attention_changed(self, _count: int) -> None:
        # Read the count now rather than trusting the signal's argument: emissions from two
        # worker threads can arrive out of order, and a stale count would stick on the button.
        count = len(self.model.attention())
        self.ack_button.setText(f"Acknowledge all ({count})" if count else "Acknowledge all")
        self.ack_button.setEnabled(count > 0)
        if count and not self._blink.isActive():
            self._blink.start()
        elif not count:
            self._blink.stop()
            self.blink_on = True

    def _on_blink(self) -> None:
        self.blink_on = not self.blink_on
        for marker in self.markers.values():
            if marker.state.attention:
                marker.update()

    def _on_filter_changed(self) -> None:
        for cid in self.markers:
            self._place(self.model.marker(cid))
        if self.selected and not self.model.is_visible(self.selected):
            self.select(None)

    def _on_edits_changed(self, count: int) -> None:
        self.save_action.setEnabled(count > 0)
        self.revert_action.setEnabled(count > 0)
        self.save_action.setText(f"Save ({count})" if count else "Save")

    def _apply_filters(self) -> None:
        hood = self.hood_filter.currentData()
        kind = self.kind_filter.currentData()
        statuses = self.status_filter.currentData()
        self.model.set_filter(
            neighbourhoods=None if hood is None else [hood],
            kinds=None if kind is None else [kind],
            statuses=statuses,
        )

    # -- user actions --------------------------------------------------------------------------
    def select(self, camera_id: str | None) -> None:
        if self.selected in self.markers:
            old = self.markers[self.selected]
            old.selected = False
            old.update()
        self.selected = camera_id
        if camera_id is not None:
            marker = self.markers[camera_id]
            marker.selected = True
            marker.update()

    def click_camera(self, camera_id: str) -> None:
        """A click: select, acknowledge if it blinks, and show it in the focused tile."""
        self.select(camera_id)
        self.model.acknowledge(camera_id)
        if not self.edit_mode:
            self.camera_activated.emit(camera_id)

    def drag_mime(self, camera_id: str) -> QMimeData:
        mime = QMimeData()
        mime.setData(CAMERA_MIME, camera_id.encode())
        mime.setText(camera_id)
        return mime

    def start_drag(self, camera_id: str) -> None:
        """Drag a camera to a wall tile (the tile's drop handler reads CAMERA_MIME)."""
        drag = QDrag(self.view.viewport())
        drag.setMimeData(self.drag_mime(camera_id))
        pm = QPixmap(28, 28)
        pm.fill(QColor(0, 0, 0, 0))
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        state = self.markers[camera_id].state
        draw_kind_icon(p, state.kind, QPointF(14, 14), ICON_R, state_colour(state.status))
        p.end()
        drag.setPixmap(pm)
        drag.setHotSpot(QPoint(14, 14))
        self.exec_drag(drag)

    def exec_drag(self, drag: QDrag) -> Qt.DropAction:
        return drag.exec(Qt.DropAction.CopyAction | Qt.DropAction.MoveAction)

    def set_may_edit(self, allowed: bool) -> None:
        """Apply the user's right to edit the map (only supervisors have it): the Edit control
        follows it, and a user who loses it leaves edit mode at once."""
        self.model.may_edit = allowed
        self.edit_button.setEnabled(self.model.editable)
        if self.edit_mode and not self.model.editable:
            self.set_edit_mode(False)

    def set_edit_mode(self, on: bool) -> None:
        self.edit_mode = on and self.model.editable
        for act in (self.save_action, self.revert_action):
            act.setVisible(self.edit_mode)
        for marker in self.markers.values():
            marker.setCursor(
                Qt.CursorShape.SizeAllCursor
                if self.edit_mode
                else Qt.CursorShape.PointingHandCursor
            )
        if self.edit_button.isChecked() != self.edit_mode:
            self.edit_button.setChecked(self.edit_mode)

    def turn_selected(self, delta: float) -> None:
        if self.selected is None:
            return
        heading = self.model.marker(self.selected).heading or 0.0
        self.model.turn_camera(self.selected, heading + delta)

    def save_edits(self) -> bool:
        try:
            backup = self.model.save_edits()
        except EditError as e:
            self.banner.setText(f"Not saved — {e}")
            self.banner.show()
            return False
        if backup is not None:
            self.banner.setText(
                f"Saved to {self.model.site.path} (previous version: {backup.name})"
            )
            self.banner.show()
            QTimer.singleShot(6000, self._hide_saved_banner)
        return True

    def _hide_saved_banner(self) -> None:
        if self.banner.text().startswith("Saved to"):
            self.banner.hide()

    # -- for tests and the legend -----------------------------------------------------------------
    def marker_colour(self, camera_id: str) -> QColor:
        return state_colour(self.markers[camera_id].state.status)

    def marker_view_pos(self, camera_id: str) -> QPoint:
        """Where a marker's centre is, in the view's viewport coordinates."""
        return self.view.mapFromScene(self.markers[camera_id].pos())


class MapDock:
    """The map as a dock of the main window, with a full-window mode (Ctrl+M)."""

    def __init__(
        self, window: QMainWindow, model: MapModel, view: QtMapView, dock: QDockWidget
    ) -> None:
        self.window = window
        self.model = model
        self.view = view
        self.dock = dock
        self.full = False
        self._saved_state = b""
        self.full_action = QAction("Map full window", window, checkable=True)
        self.full_action.setShortcut(QKeySequence("Ctrl+M"))
        self.full_action.triggered.connect(self.set_full_window)

    def set_full_window(self, on: bool) -> None:
        """Give the map the whole window. The wall stays shown (narrow) so its streams, and
        with them the live statuses on the map, keep running."""
        w = self.window
        if on == self.full:
            return
        self.full = on
        if on:
            self._saved_state = bytes(w.saveState().data())
            self.dock.show()
            for other in w.findChildren(QDockWidget):
                if other is not self.dock and other.isVisible():
                    other.hide()
            w.resizeDocks([self.dock], [w.width()], Qt.Orientation.Horizontal)
        else:
            w.restoreState(self._saved_state)
        self.full_action.setChecked(on)
        self.view.view.setFocus()


def add_map_dock(
    window: MainWindow, site: Site, board: StatusBoard, bridge: MainThreadBridge
) -> MapDock:
    """Build the map for ``site`` and dock it right of the wall; a few lines in MainWindow."""
    model = MapModel(site, board)
    view = QtMapView(model, bridge, window)
    dock = QDockWidget("Map", window)
    dock.setObjectName("map")
    dock.setWidget(view)
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetClosable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
    )
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    window.resizeDocks([dock], [460], Qt.Orientation.Horizontal)
    md = MapDock(window, model, view, dock)

    def maximise(camera_id: str) -> None:
        window._on_camera_activated(camera_id)
        layout = window.wall.model.layout
        if layout.maximized is None:
            window.wall.toggle_maximize(layout.focused)
        md.set_full_window(False)

    view.camera_activated.connect(window._on_camera_activated)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(view.shutdown)
    view.camera_maximize_requested.connect(maximise)
    menu = next((m for m in window.menuBar().findChildren(QMenu) if m.title() == "&View"), None)
    if menu is not None:
        menu.addSeparator()
        menu.addAction(dock.toggleViewAction())
        menu.addAction(md.full_action)
    else:
        window.addAction(md.full_action)
    return md
