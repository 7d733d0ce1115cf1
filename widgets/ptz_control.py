"""PtzTileController: steer a dome from its tile (drag, wheel, click, box, keys); digital zoom."""

from __future__ import annotations

import concurrent.futures
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QEvent, QObject, QPointF, QRect, QRectF, Qt, QTimer
from PySide6.QtGui import (
    QColor,
    QFont,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QWidget

from app.input.joystick import JoystickInput, SettingsStore
from app.layouts import ops
from app.onvif.errors import OnvifError
from app.onvif.model import PtzStatus
from app.ptz.controller import PtzController
from app.ptz.factory import PtzRegistry, fov_of, is_steerable
from app.ptz.model import PtzVector
from app.ptz.pointing import FovModel, aim
from app.ptz.session import PtzSession
from app.site.model import Camera, CameraKind
from widgets.bridge import MainThreadBridge
from widgets.tile import CachedOverlay, QtTile, composite_view

log = logging.getLogger(__name__)

DRAG_START_PX = 6  # a press that moves less than this is a click
DEAD_ZONE = 0.06  # of the joystick radius: a shaky hand at the press point does not move
AREA_MIN = 0.08  # a box narrower than this fraction of the picture is ignored (Nx: 8 %)
KEY_SPEED = 0.5
WHEEL_SPEED = 0.6
WHEEL_PULSE_MS = 220  # one wheel notch zooms this long
TICK_MS = 20
JOYSTICK_IDLE_MS = 500  # hot-plug polling while no joystick is connected
STATUS_MS = 500  # GetStatus at 2 Hz while the tile is controlled
CONTROLLED_FOR_S = 5.0  # after the last input the tile still counts as controlled
ERROR_SHOWN_S = 6.0
STOP_AT_EXIT_S = 2.0  # at most this long for the domes' Stops before closing the connections
DIGITAL_ZOOM_MAX = 4.0
DIGITAL_STEP = 1.25  # per wheel notch

# Joystick button actions that steer the focused dome (see PtzWallAttachment.on_action).
_MANUAL_ACTIONS = ("home", "stop")

_ZOOM_IN_KEYS = {Qt.Key.Key_Plus, Qt.Key.Key_Equal}
_ZOOM_OUT_KEYS = {Qt.Key.Key_Minus, Qt.Key.Key_Underscore}
# Held, these rack a motorised lens's focus (ONVIF Imaging on the tile's optic): far / near.
_FOCUS_KEYS = {Qt.Key.Key_PageUp: 1.0, Qt.Key.Key_PageDown: -1.0}
_ARROWS = {
    Qt.Key.Key_Left: (-1.0, 0.0),
    Qt.Key.Key_Right: (1.0, 0.0),
    Qt.Key.Key_Up: (0.0, 1.0),
    Qt.Key.Key_Down: (0.0, -1.0),
}


def joystick_vector(press: QPointF, here: QPointF, radius: float) -> PtzVector:
    """Speed from the drag: grows with the distance from the press point, capped at 1."""
    if radius <= 0:
        return PtzVector.ZERO
    dx, dy = (here.x() - press.x()) / radius, (press.y() - here.y()) / radius
    d = math.hypot(dx, dy)
    if d < DEAD_ZONE:
        return PtzVector.ZERO
    magnitude = (min(1.0, d) - DEAD_ZONE) / (1.0 - DEAD_ZONE)
    return PtzVector(dx / d * magnitude, dy / d * magnitude).clamped()


@dataclass
class DigitalZoom:
    """Crop of a fixed camera's picture: factor ≥ 1 around a centre in [0, 1]²."""

    factor: float = 1.0
    cx: float = 0.5
    cy: float = 0.5

    def clamp(self) -> None:
        self.factor = min(DIGITAL_ZOOM_MAX, max(1.0, self.factor))
        half = 0.5 / self.factor
        self.cx = min(1.0 - half, max(half, self.cx))
        self.cy = min(1.0 - half, max(half, self.cy))

    def to_source(self, fx: float, fy: float) -> tuple[float, float]:
        """A point of the tile (fractions) → the same point in the full picture."""
        return self.cx + (fx - 0.5) / self.factor, self.cy + (fy - 0.5) / self.factor

    def view(
        self, base: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)
    ) -> tuple[float, float, float, float]:
        """The crop as a surface view (x, y, w, h), inside ``base`` (a composite's optic)."""
        bx, by, bw, bh = base
        w, h = bw / self.factor, bh / self.factor
        return (bx + (self.cx * bw) - w / 2, by + (self.cy * bh) - h / 2, w, h)


class PtzOverlay(CachedOverlay):
    """Drawn over the tile: the PTZ badge, position, the drag arrow or box, and errors.

    Cached (see CachedOverlay): redrawn on ``update()``, blitted for each video frame.
    """

    def __init__(self, tile: QtTile, ctl: PtzTileController) -> None:
        super().__init__(tile)
        self._ctl = ctl
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents, True)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground, True)
        self.setGeometry(tile.rect())
        self.raise_()
        self.show()

    def paint_overlay(self, p: QPainter) -> None:
        c = self._ctl
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        font = QFont(self.font())
        font.setPointSizeF(8.0)
        p.setFont(font)
        fm = p.fontMetrics()
        line = fm.height() + 4
        r = self.rect()
        badge = c.badge_text()
        bw = fm.horizontalAdvance(badge) + 12
        box = QRect(6, r.height() - line - 4, bw, line)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(30, 110, 200, 200) if c.ptz else QColor(90, 90, 90, 200))
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, badge)
        readout = c.readout_text()
        if readout:
            p.drawText(
                QRect(box.right() + 8, box.top(), r.width() - box.right() - 16, line),
                Qt.AlignmentFlag.AlignVCenter,
                readout,
            )
        if c.drag_from is not None and c.drag_to is not None and c.drag_vector is not None:
            self._arrow(p, c.drag_from, c.drag_to, c.drag_vector)
        if c.box is not None:
            p.setPen(QPen(QColor(255, 220, 60), 1.5, Qt.PenStyle.DashLine))
            p.setBrush(QColor(255, 220, 60, 40))
            p.drawRect(c.box.normalized())
        if c.error_text:
            p.setPen(QColor(255, 255, 255))
            er = QRect(8, r.height() - 2 * line - 10, r.width() - 16, line)
            p.fillRect(er, QColor(170, 30, 30, 210))
            p.drawText(er.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter, c.error_text)

    def _arrow(self, p: QPainter, a: QPointF, b: QPointF, v: PtzVector) -> None:
        speed = min(1.0, math.hypot(v.pan, v.tilt))
        p.setPen(QPen(QColor(255, 255, 255, 220), 2 + 4 * speed))
        p.drawLine(a, b)
        p.setBrush(QColor(255, 255, 255, 220))
        p.drawEllipse(a, 4, 4)
        ang = math.atan2(b.y() - a.y(), b.x() - a.x())
        size = 10 + 8 * speed
        head = QPolygonF(
            [
                b,
                QPointF(b.x() - size * math.cos(ang - 0.45), b.y() - size * math.sin(ang - 0.45)),
                QPointF(b.x() - size * math.cos(ang + 0.45), b.y() - size * math.sin(ang + 0.45)),
            ]
        )
        p.drawPolygon(head)


class PtzTileController(QObject):
    """Installed as an event filter on a QtTile (and on the widget that gets the keys).

    With a PtzSession (a dome or zoomable lens):
      press and drag = virtual joystick (speed grows with the distance from the press point,
      an arrow shows direction and speed); release stops. Click = centre there; Shift+drag
      a box = zoom into it; wheel = zoom; arrows (see ``keys_plain``) and +/- = move/zoom;
      PageUp/PageDown held = focus far/near (a motorised lens's Imaging focus).
    Without one (a fixed camera): digital zoom: wheel and Shift+box zoom the picture, drag
      pans it, Home or 0 resets.
    Ctrl or Alt with a press leaves the tile its own drag (swap tiles).

    Thread: GUI only. Futures complete on onvif-loop; results come back through ``bridge``.
    """

    def __init__(
        self,
        tile: QtTile,
        bridge: MainThreadBridge,
        session: PtzSession | None = None,
        fov: FovModel | None = None,
        *,
        key_source: QWidget | None = None,
        keys_plain: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(tile)
        self.tile = tile
        self.bridge = bridge
        self.session = session
        self.ptz: PtzController | None = session.controller if session else None
        self.fov = fov or FovModel()
        # Told each reported position (GetStatus), e.g. so the map's cone follows the dome.
        self.pose_changed: Callable[[PtzStatus], None] | None = None
        self.key_source = key_source
        self._keys_plain = keys_plain or (lambda: True)
        self._clock = clock
        self.status: PtzStatus | None = None
        self.error_text = ""
        self._error_at = 0.0
        self._last_input = -1e18
        self._status_pending = False
        self._keys: set[int] = set()
        self._focus_held = False
        self._press: QPointF | None = None
        self._press_mods = Qt.KeyboardModifier.NoModifier
        self.drag_from: QPointF | None = None
        self.drag_to: QPointF | None = None
        self.drag_vector: PtzVector | None = None
        self.box: QRectF | None = None
        self._pan_anchor: tuple[QPointF, float, float] | None = None
        self.digital = DigitalZoom()
        self.aims: list[concurrent.futures.Future[bool]] = []
        self.overlay = PtzOverlay(tile, self)
        tile.installEventFilter(self)
        if key_source is not None and key_source is not tile:
            key_source.installEventFilter(self)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._on_tick)
        if session is not None:  # a fixed camera has nothing to tick 50 times a second
            self._tick.start()
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_MS)
        self._status_timer.timeout.connect(self._poll_status)
        self._wheel_timer = QTimer(self)
        self._wheel_timer.setSingleShot(True)
        self._wheel_timer.timeout.connect(self._release)
        self._click_timer = QTimer(self)
        self._click_timer.setSingleShot(True)
        self._click_timer.timeout.connect(self._do_click)
        self._click_at: QPointF | None = None
        if session is not None:
            session.errors.connect(bridge.wrap(self._on_error, owner=self))
            self._status_timer.start()
            self._poll_status()

    # --- life cycle ----------------------------------------------------------------------

    def detach(self) -> None:
        """Stop the dome, remove the filters and the overlay (tile changed or closing)."""
        if self.session is not None:
            self.session.close()
        self._stop_focus()
        for t in (self._tick, self._status_timer, self._wheel_timer, self._click_timer):
            t.stop()
        self.tile.removeEventFilter(self)
        if self.key_source is not None:
            self.key_source.removeEventFilter(self)
        self.digital = DigitalZoom()
        self._apply_digital()
        self.overlay.hide()
        self.overlay.deleteLater()
        self.deleteLater()

    # --- texts for the overlay -----------------------------------------------------------

    def badge_text(self) -> str:
        if self.ptz is None:
            return f"DIGITAL x{self.digital.factor:.1f}" if self.digital.factor > 1 else "ZOOM"
        return "PTZ"

    def readout_text(self) -> str:
        s = self.status
        if s is None:
            return ""
        zoom = self.fov.zoom_ratio**s.zoom
        return (
            f"P {s.pan * self.fov.pan_deg_per_unit:+.1f}°  "
            f"T {s.tilt * self.fov.tilt_deg_per_unit:+.1f}°  Z x{zoom:.1f}"
            + ("  ·" if s.moving else "")
        )

    # --- events --------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        et = event.type()
        if watched is self.tile:
            if et == QEvent.Type.Resize:
                self.overlay.setGeometry(self.tile.rect())
                return False
            if et == QEvent.Type.Hide:
                self._stop()
                return False
            if et == QEvent.Type.MouseButtonPress:
                return self._mouse_press(event)  # type: ignore[arg-type]
            if et == QEvent.Type.MouseMove:
                return self._mouse_move(event)  # type: ignore[arg-type]
            if et == QEvent.Type.MouseButtonRelease:
                return self._mouse_release(event)  # type: ignore[arg-type]
            if et == QEvent.Type.MouseButtonDblClick:
                self._click_timer.stop()  # a double click maximises; it does not aim
                return False
            if et == QEvent.Type.Wheel:
                return self._wheel(event)  # type: ignore[arg-type]
        if et in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and (
            watched is self.tile or self.tile.focused
        ):
            return self._key(event)  # type: ignore[arg-type]
        if et == QEvent.Type.FocusOut and watched is self.key_source:
            self._keys.clear()
            self._stop()
            self._stop_focus()
        return False

    def _mouse_press(self, e: QMouseEvent) -> bool:
        mods = e.modifiers()
        if e.button() != Qt.MouseButton.LeftButton or mods & (
            Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
        ):
            return False  # the tile's own handling (drag to swap)
        self.tile.clicked.emit(self.tile.index)
        self._press = e.position()
        self._press_mods = mods
        if mods & Qt.KeyboardModifier.ShiftModifier:
            self.box = QRectF(self._press, self._press)
        elif self.ptz is None:
            self._pan_anchor = (self._press, self.digital.cx, self.digital.cy)
        self._touch()
        return True

    def _mouse_move(self, e: QMouseEvent) -> bool:
        if self._press is None:
            return False
        here = e.position()
        if self.box is not None:
            self.box = QRectF(self._press, here)
            self.overlay.update()
            return True
        if (here - self._press).manhattanLength() < DRAG_START_PX and self.drag_from is None:
            return True
        if self.ptz is None:
            self._digital_pan(here)
            return True
        radius = 0.4 * min(self.tile.width(), self.tile.height())
        v = joystick_vector(self._press, here, radius)
        self.drag_from, self.drag_to, self.drag_vector = self._press, here, v
        assert self.session is not None
        self.session.request(v)
        self._touch()
        self.overlay.update()
        return True

    def _mouse_release(self, e: QMouseEvent) -> bool:
        if self._press is None:
            return False
        press, self._press = self._press, None
        if self.box is not None:
            box, self.box = self.box.normalized(), None
            self._area_zoom(box)
        elif self.drag_from is not None:
            self.drag_from = self.drag_to = self.drag_vector = None
            self._release()
        elif self.ptz is not None:
            # Wait out the double-click interval: a double click maximises instead.
            self._click_at = press
            self._click_timer.start(QApplication.doubleClickInterval())
        self._pan_anchor = None
        self.overlay.update()
        return True

    def _wheel(self, e: QWheelEvent) -> bool:
        notches = e.angleDelta().y() / 120.0
        if notches == 0:
            return False
        self._touch()
        if self.ptz is None:
            pos = e.position()
            fx, fy = pos.x() / max(1, self.tile.width()), pos.y() / max(1, self.tile.height())
            self._digital_zoom_at(fx, fy, DIGITAL_STEP**notches)
            return True
        assert self.session is not None
        self.session.request(PtzVector(zoom=math.copysign(WHEEL_SPEED, notches)))
        self._wheel_timer.start(round(WHEEL_PULSE_MS * min(3.0, abs(notches))))
        return True

    def _key(self, e: QKeyEvent) -> bool:
        key = Qt.Key(e.key())
        if self.ptz is None:
            if e.type() == QEvent.Type.KeyPress and key in (Qt.Key.Key_Home, Qt.Key.Key_0):
                self.digital = DigitalZoom()
                self._apply_digital()
                return True
            if e.type() == QEvent.Type.KeyPress and key in _ZOOM_IN_KEYS | _ZOOM_OUT_KEYS:
                self._digital_zoom_at(
                    0.5, 0.5, DIGITAL_STEP if key in _ZOOM_IN_KEYS else 1 / DIGITAL_STEP
                )
                return True
            return False
        if key in _FOCUS_KEYS:
            return self._focus_key(e, key)
        steer = key in _ZOOM_IN_KEYS or key in _ZOOM_OUT_KEYS
        if key in _ARROWS:
            plain = self._keys_plain()
            ctrl = bool(e.modifiers() & Qt.KeyboardModifier.ControlModifier)
            steer = plain or ctrl or int(key) in self._keys
        if not steer:
            return False
        if e.isAutoRepeat():
            return True
        if e.type() == QEvent.Type.KeyPress:
            self._keys.add(int(key))
        else:
            self._keys.discard(int(key))
        self._steer_from_keys()
        return True

    def _focus_key(self, e: QKeyEvent, key: Qt.Key) -> bool:
        """PageUp/PageDown held: focus far/near; released: stop (Imaging has no timeout)."""
        focus_move = getattr(self.ptz, "focus_move", None)
        if focus_move is None:  # a controller without Imaging (e.g. a test double)
            return False
        if not e.isAutoRepeat():
            self._touch()
            if e.type() == QEvent.Type.KeyPress:
                self._focus_held = True
                self.track(focus_move(_FOCUS_KEYS[key] * KEY_SPEED))
            else:
                self._stop_focus()
        return True

    def _stop_focus(self) -> None:
        stop = getattr(self.ptz, "focus_stop", None)
        if self._focus_held and stop is not None:
            self._focus_held = False
            self.track(stop())

    def _steer_from_keys(self) -> None:
        assert self.session is not None
        pan = sum(_ARROWS[Qt.Key(k)][0] for k in self._keys if Qt.Key(k) in _ARROWS)
        tilt = sum(_ARROWS[Qt.Key(k)][1] for k in self._keys if Qt.Key(k) in _ARROWS)
        zin = any(Qt.Key(k) in _ZOOM_IN_KEYS for k in self._keys)
        zout = any(Qt.Key(k) in _ZOOM_OUT_KEYS for k in self._keys)
        v = PtzVector(pan * KEY_SPEED, tilt * KEY_SPEED, (zin - zout) * KEY_SPEED)
        self._touch()
        if v.is_zero:
            self._release()
        else:
            self.session.request(v)

    # --- actions -------------------------------------------------------------------------

    def _release(self) -> None:
        """The operator let go (a manual input: a running tour ends)."""
        if self.session is not None:
            self.session.release()

    def _stop(self) -> None:
        # Focus lost or tile hidden: Stop at once, but this is no operator input, so a tour
        # started from the panel (clicking it takes the focus from the wall) keeps running.
        if self.session is not None:
            self.session.stop()

    def _touch(self) -> None:
        self._last_input = self._clock()
        if self.session is not None and not self._status_timer.isActive():
            self._status_timer.start()

    def _aspect(self) -> float:
        return self.tile.height() / max(1, self.tile.width())

    def _do_click(self) -> None:
        at, self._click_at = self._click_at, None
        if at is None or self.ptz is None:
            return
        dx = at.x() / max(1, self.tile.width()) - 0.5
        dy = at.y() / max(1, self.tile.height()) - 0.5
        self._aim(dx, dy, 1.0)

    def _area_zoom(self, box: QRectF) -> None:
        w, h = max(1, self.tile.width()), max(1, self.tile.height())
        if box.width() < AREA_MIN * w or box.height() < AREA_MIN * h:
            return
        c = box.center()
        if self.ptz is None:
            fx, fy = self.digital.to_source(c.x() / w, c.y() / h)
            factor = self.digital.factor * min(w / box.width(), h / box.height())
            self.digital = DigitalZoom(factor, fx, fy)
            self.digital.clamp()
            self._apply_digital()
            return
        magnification = min(w / box.width(), h / box.height())
        self._aim(c.x() / w - 0.5, c.y() / h - 0.5, magnification)

    def _aim(self, dx: float, dy: float, magnification: float) -> None:
        assert self.ptz is not None
        if self.session is not None:
            self.session.manual_input.emit()
        future = aim(self.ptz, self.fov, dx, dy, self._aspect(), magnification)
        self.aims.append(future)
        del self.aims[:-8]
        future.add_done_callback(self._on_future)
        self._touch()

    def track(self, future: concurrent.futures.Future[bool]) -> None:
        """Show the failure of a command started elsewhere (a joystick button, the panel)."""
        future.add_done_callback(self._on_future)

    def _on_future(self, f: concurrent.futures.Future[bool]) -> None:
        if f.cancelled():
            return
        exc = f.exception()
        if isinstance(exc, OnvifError):
            self.bridge.post(lambda: self._on_error(exc))
        elif exc is not None:
            msg = f"PTZ: {exc}"
            self.bridge.post(lambda: self._show_error(msg))

    def _digital_zoom_at(self, fx: float, fy: float, step: float) -> None:
        # Keep the picture point under the cursor where it is.
        sx, sy = self.digital.to_source(fx, fy)
        factor = min(DIGITAL_ZOOM_MAX, max(1.0, self.digital.factor * step))
        self.digital = DigitalZoom(factor, sx - (fx - 0.5) / factor, sy - (fy - 0.5) / factor)
        self.digital.clamp()
        self._apply_digital()

    def _digital_pan(self, here: QPointF) -> None:
        if self._pan_anchor is None or self.digital.factor <= 1.0:
            return
        start, cx, cy = self._pan_anchor
        w, h = max(1, self.tile.width()), max(1, self.tile.height())
        self.digital.cx = cx - (here.x() - start.x()) / w / self.digital.factor
        self.digital.cy = cy - (here.y() - start.y()) / h / self.digital.factor
        self.digital.clamp()
        self._apply_digital()

    def _apply_digital(self) -> None:
        """Show the digital zoom on the tile's surface (the crop view it already supports)."""
        if self.ptz is not None or len(self.tile.panes) != 1:
            return
        camera, optic = self.tile.camera, self.tile.selected_optic
        base = (0.0, 0.0, 1.0, 1.0)
        if camera is not None and camera.composite and optic is not None:
            base = composite_view(len(camera.optics), optic)
        surface = self.tile.panes[0].surface
        surface.set_view(None if self.digital.factor <= 1.0 else self.digital.view(base))
        self.overlay.update()

    def reapply(self) -> None:
        """After the tile re-showed its camera (which resets the surface's view)."""
        self._apply_digital()
        self.overlay.raise_()

    # --- timers and results --------------------------------------------------------------

    def _on_tick(self) -> None:
        if self.session is not None:
            self.session.tick()
        if self.error_text and self._clock() - self._error_at > ERROR_SHOWN_S:
            self.error_text = ""
            self.overlay.update()

    def controlled(self) -> bool:
        return (
            self.tile.focused
            or self._clock() - self._last_input < CONTROLLED_FOR_S
            or (self.session is not None and self.session.moving)
        )

    def _poll_status(self) -> None:
        if self.ptz is None or self._status_pending or not self.tile.isVisible():
            return
        if not self.controlled() and self.status is not None:
            return
        self._status_pending = True
        future = self.ptz.status()

        def done(f: concurrent.futures.Future[PtzStatus]) -> None:
            self.bridge.post(lambda: self._on_status(f))

        future.add_done_callback(done)

    def _on_status(self, f: concurrent.futures.Future[PtzStatus]) -> None:
        self._status_pending = False
        if f.cancelled() or not shiboken6.isValid(self.overlay):
            return  # the tile went away while GetStatus was on the wire
        exc = f.exception()
        if exc is not None:
            if isinstance(exc, OnvifError):
                self._on_error(exc)
            return
        self.status = f.result()
        self.overlay.update()
        if self.pose_changed is not None:
            self.pose_changed(self.status)

    def _on_error(self, err: OnvifError) -> None:
        self._show_error(err.message)

    def _show_error(self, text: str) -> None:
        self.error_text = text
        self._error_at = self._clock()
        if shiboken6.isValid(self.overlay):
            self.overlay.update()


class PtzWallAttachment:
    """Keeps a PtzTileController on every tile of a wall: PTZ for domes, digital zoom else.

    Follows the wall model: a tile whose camera changes gets a new controller (the old one
    stops its dome first). Thread: GUI only.
    """

    def __init__(
        self,
        wall: QWidget,
        bridge: MainThreadBridge,
        registry: PtzRegistry | None = None,
        camera_ids: list[str] | None = None,
        joystick: bool = False,
        user: str | None = None,
    ) -> None:
        self.wall = wall
        self.user = user  # the Torrazzo login user: whose joystick settings apply
        self.bridge = bridge
        self.registry = registry or PtzRegistry()
        self.camera_ids = camera_ids or []
        self.joystick: JoystickInput | None = None
        self._joystick_timer: QTimer | None = None
        if joystick:
            self._open_joystick()
        self.controllers: dict[int, tuple[tuple[str, int] | None, QtTile, PtzTileController]] = {}
        # Called with (camera, status, fov model) for every position a dome reports.
        self.pose_listeners: list[Callable[[Camera, PtzStatus, FovModel], None]] = []
        model = wall.model  # type: ignore[attr-defined]
        model.changed.connect(lambda _layout: self.reconcile())
        self.reconcile()

    def _keys_plain(self, tile: QtTile) -> Callable[[], bool]:
        # Plain arrows steer only a maximised dome; on a grid they move between tiles.
        return lambda: self.wall.model.layout.maximized == tile.index  # type: ignore[attr-defined]

    def reconcile(self) -> None:
        tiles: list[QtTile] = list(self.wall.tiles)  # type: ignore[attr-defined]
        live = {id(t): t for t in tiles}
        for key in list(self.controllers):
            if live.get(key) is not self.controllers[key][1]:
                # The wall rebuilt its tiles (new layout): the old ones go with their filters.
                _, _, gone = self.controllers.pop(key)
                if gone.session is not None:
                    gone.session.close()
        for tile in tiles:
            camera: Camera | None = tile.camera
            optic = tile.selected_optic or 0
            # A mosaic of several optics has no one lens to steer or zoom.
            want = (camera.id, optic) if camera is not None and not tile.is_mosaic else None
            have = self.controllers.get(id(tile))
            if have is not None and have[0] == want:
                have[2].reapply()
                continue
            if have is not None:
                have[2].detach()
                del self.controllers[id(tile)]
            if camera is None or want is None:
                continue
            session = None
            if is_steerable(camera, optic):
                session = PtzSession(self.registry.controller(camera, optic))
            ctl = PtzTileController(
                tile,
                self.bridge,
                session,
                fov_of(camera),
                key_source=self.wall,
                keys_plain=self._keys_plain(tile),
            )
            if session is not None and camera.kind == CameraKind.PTZ_DOME:
                ctl.pose_changed = self._pose_forwarder(camera, ctl.fov)
            self.controllers[id(tile)] = (want, tile, ctl)

    def _pose_forwarder(self, camera: Camera, fov: FovModel) -> Callable[[PtzStatus], None]:
        def forward(status: PtzStatus) -> None:
            for listener in list(self.pose_listeners):
                listener(camera, status, fov)

        return forward

    def focused_controller(self) -> PtzTileController | None:
        model = self.wall.model  # type: ignore[attr-defined]
        tiles: list[QtTile] = self.wall.tiles  # type: ignore[attr-defined]
        i = model.layout.focused
        return self.controller_of(tiles[i]) if 0 <= i < len(tiles) else None

    def _focused_session(self) -> PtzSession | None:
        ctl = self.focused_controller()
        return ctl.session if ctl is not None and ctl.tile.isVisible() else None

    def _open_joystick(self) -> None:
        js = JoystickInput(self._focused_session, self.on_action, SettingsStore(user=self.user))
        if not js.open():
            return
        self.joystick = js
        self._joystick_timer = QTimer(self.wall)
        self._joystick_timer.setInterval(TICK_MS)
        self._joystick_timer.timeout.connect(self._poll_joystick)
        self._joystick_timer.start()

    def _poll_joystick(self) -> None:
        js, timer = self.joystick, self._joystick_timer
        if js is None or timer is None:
            return
        js.poll()
        # Sticks need 50 Hz; with none plugged in, polling for one to arrive at 50 Hz cost
        # 1.7 % of a core of the GUI thread (BENCHMARKS.md): 2 Hz notices it soon enough.
        interval = TICK_MS if js.devices else JOYSTICK_IDLE_MS
        if timer.interval() != interval:
            timer.setInterval(interval)

    def on_action(self, action: str) -> None:
        """A joystick button: presets and home act on the focused dome; navigation on the wall.

        A preset, home or stop button is manual input: the dome's running tour ends first,
        or its next step would take the dome away from where the operator sent it.
        """
        model = self.wall.model  # type: ignore[attr-defined]
        ctl = self.focused_controller()
        if (
            ctl is not None
            and ctl.session is not None
            and (action in _MANUAL_ACTIONS or action.startswith("preset:"))
        ):
            ctl.session.manual_input.emit()
        if action == "next_tile":
            size = len(model.layout.tiles)
            nxt = (model.layout.focused + 1) % max(1, size)
            model.apply(lambda lay: ops.focus(lay, nxt))
        elif action in ("next_camera", "previous_camera") and self.camera_ids:
            focused = model.layout.focused
            current = model.layout.tiles[focused].camera_id
            step = 1 if action == "next_camera" else -1
            i = self.camera_ids.index(current) + step if current in self.camera_ids else 0
            cam = self.camera_ids[i % len(self.camera_ids)]
            model.apply(lambda lay: ops.assign(lay, focused, cam))
        elif ctl is not None and ctl.ptz is not None:
            if action.startswith("preset:"):
                ctl.track(ctl.ptz.goto_preset(action.partition(":")[2]))
            elif action == "home":
                ctl.track(ctl.ptz.goto_home())
            elif action == "stop" and ctl.session is not None:
                ctl.session.stop()

    def controller_of(self, tile: QtTile) -> PtzTileController | None:
        entry = self.controllers.get(id(tile))
        return entry[2] if entry else None

    def close(self) -> None:
        """Stop every dome and close the ONVIF connections (at exit)."""
        if self._joystick_timer is not None:
            self._joystick_timer.stop()
        if self.joystick is not None:
            self.joystick.close()
        stops = []
        for _, _, ctl in self.controllers.values():
            if ctl.session is not None and (stop := ctl.session.close()) is not None:
                stops.append(stop)
        self.controllers.clear()
        # Closing a client drops its waiting commands: a Stop queued behind a ContinuousMove
        # still on the wire would be lost and the dome would turn until its Timeout. So the
        # Stops go out first (bounded: an unreachable dome must not hold up the exit).
        concurrent.futures.wait(stops, timeout=STOP_AT_EXIT_S)
        concurrent.futures.wait(self.registry.close(), timeout=1.0)


def attach_ptz(
    wall: QWidget,
    bridge: MainThreadBridge,
    registry: PtzRegistry | None = None,
    camera_ids: list[str] | None = None,
    joystick: bool | None = None,
    user: str | None = None,
) -> PtzWallAttachment:
    """Make the wall's PTZ tiles steerable (and fixed tiles digitally zoomable).

    ``joystick`` None: on unless the environment says TORRAZZO_JOYSTICK=0. ``user``: the
    login user, whose joystick settings file is used (see app.input.joystick.settings_path).
    """
    if joystick is None:
        joystick = os.environ.get("TORRAZZO_JOYSTICK", "1") != "0"
    return PtzWallAttachment(wall, bridge, registry, camera_ids, joystick, user)
