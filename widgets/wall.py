"""QtWall: the grid of tiles for the current Layout of a WallModel, and the display clock."""

from __future__ import annotations

import math
import time
from array import array
from collections import deque
from collections.abc import Callable, Hashable

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QGridLayout, QWidget

from app.health import StatusBoard
from app.layouts import ops
from app.layouts.model import Layout, LayoutSpec
from app.layouts.store import WallModel
from app.site.model import Camera, Site
from app.streams.engine import StreamEngine
from app.streams.feed import TileFeed
from app.streams.frames import FrameSlot, frame_wake
from app.streams.load_policy import LoadPolicy, LoadReason, TileLoad
from app.streams.stats import percentile
from app.streams.urls import redact
from widgets.bridge import MainThreadBridge
from widgets.tile import QtTile

# The display clock runs when a decoder wakes it (a frame landed) and, while frames come
# densely (a big wall), every DISPLAY_INTERVAL_MS instead, so that one pass shows several.
DISPLAY_INTERVAL_MS = 10
# More cameras than this on the wall: open them on key frames and admit them to full rate
# a few at a time (LoadPolicy's staged start). A 4x4 wall starts at full rate at once.
STAGED_START_ABOVE = 16
# For this long after the layout changes, the display clock's lateness is not the load
# policy's business: the GUI thread itself was busy building the new layout (a 4x4 switch:
# 60-100 ms on the 2-core VM), and with few passes in the second after it (the new streams
# wait for key frames) that one late pass was the p95: a switch demoted every tile.
LAYOUT_GRACE_S = 1.0
_WAKE_EVENT = QEvent.Type(QEvent.registerEventType())


class _Waker(QObject):
    """Receives the decoders' wake-up events (posted from their threads) in the GUI thread."""

    def __init__(self, on_wake: Callable[[], None], parent: QObject) -> None:
        super().__init__(parent)
        self._on_wake = on_wake

    def customEvent(self, event: QEvent) -> None:
        # Qt routes user-range events here; wake-ups are the only ones posted to this object.
        # (Overriding event() instead put every event of this object through Python, and
        # event.type() of a registered type costs a Python enum lookup: ~5 % of the GUI
        # thread on a maximised stream, py-spy.)
        self._on_wake()


class QtWall(QWidget):
    """Shows the WallModel's current layout; every user action goes through the model.

    The wall owns one display clock for all tiles (not one per tile, not one signal per
    frame): each pass takes the newest frame of every visible tile, if any. Decoders wake it
    through ``frame_wake`` (coalesced: one queued event until the pass); while frames come
    more often than every 2 intervals it runs on a 10 ms timer instead, so an idle wall
    costs nothing, a single 25 fps stream 25 passes a second and a busy wall 100.
    """

    def __init__(
        self,
        model: WallModel,
        site: Site,
        engine: StreamEngine,
        board: StatusBoard,
        bridge: MainThreadBridge,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self._site = site
        self._engine = engine
        self._board = board
        self._cameras = {c.id: c for c in site.cameras}
        self.tiles: list[QtTile] = []
        self._spec_name = ""
        self._spec: LayoutSpec | None = None
        self.show_stats = False
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setStyleSheet("background: #101010;")
        model.changed.connect(self._on_model_changed)
        self._status_handler = bridge.wrap(self._on_camera_status, owner=self)
        board.camera_status_changed.connect(self._status_handler)
        self._timer = QTimer(self)  # the display clock while frames come densely
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timer)
        waker = _Waker(self._on_wake, self)
        # postEvent is thread-safe and returns at once: the decoder never waits on the GUI.
        self._wake = frame_wake.subscribe(
            lambda: QCoreApplication.postEvent(waker, QEvent(_WAKE_EVENT))
        )
        waker.destroyed.connect(self._wake.close)  # no event for a deleted receiver
        self._due = 0.0  # when the timer-driven pass should run (its lateness is measured)
        # Called with each pass's lateness in ms (BenchProbe); a plain callable, not a signal.
        self.on_display_pass: Callable[[float], None] | None = None
        self._overlay_timer = QTimer(self)  # clocks and "next retry in" count-downs
        self._overlay_timer.timeout.connect(self._update_overlays)
        self._overlay_timer.start(1000)
        self.ticks = 0
        self._generation = -1
        # The display clock's lateness over the last second: the load policy's view of a
        # GUI thread that cannot keep up (the streams' lag is its view of the decoders).
        self._lateness: deque[tuple[float, float]] = deque(maxlen=200)  # (time, ms late)
        self._last_tick = -1.0  # no pass yet
        self.load_policy = LoadPolicy()
        self._start_keyframes = False  # whether _new_feed's feeds start on key frames
        self._layout_changed_at = -math.inf
        self._on_model_changed(model.layout)

    # -- model → view -----------------------------------------------------------------------
    def _on_model_changed(self, layout: Layout) -> None:
        self._layout_changed_at = time.monotonic()
        if layout.spec.name != self._spec_name or layout.spec != self._spec:
            self._rebuild(layout)  # custom grids can share a name with a different shape
        shown = sum(1 for c in layout.tiles if c.camera_id) if layout.maximized is None else 1
        for tile, content in zip(self.tiles, layout.tiles, strict=True):
            # A big wall starts its newly shown cameras on key frames (LoadPolicy's staged
            # start); the focused tile, and every tile of a small wall, at full rate.
            staged = shown > STAGED_START_ABOVE and tile.index != layout.focused
            self._start_keyframes = staged  # for the feeds show_camera makes (_new_feed)
            for pane in tile.panes:
                pane.feed.start_keyframes = staged
            camera = self._cameras.get(content.camera_id) if content.camera_id else None
            tile.show_camera(camera, content.optic)
            tile.focused = tile.index == layout.focused
            tile.overlay.update()
        self._place(layout)

    def _new_feed(self) -> TileFeed:
        feed = TileFeed(self._engine, self._board)
        feed.start_keyframes = self._start_keyframes
        return feed

    def _rebuild(self, layout: Layout) -> None:
        for tile in self.tiles:
            tile.close_feeds()
            self._grid.removeWidget(tile)
            tile.deleteLater()
        self.tiles = []
        self._spec_name = layout.spec.name
        self._spec = layout.spec
        for i in range(layout.spec.size):
            tile = QtTile(i, self._new_feed, self._site, self)
            tile.show_stats = self.show_stats
            tile.clicked.connect(self._on_tile_clicked)
            tile.double_clicked.connect(self.toggle_maximize)
            tile.camera_dropped.connect(self._on_camera_dropped)
            tile.tile_dropped.connect(self._on_tile_dropped)
            tile.optic_clicked.connect(self.select_optic)
            self.tiles.append(tile)
        for r in range(16):
            self._grid.setRowStretch(r, 1 if r < layout.spec.rows else 0)
            self._grid.setColumnStretch(r, 1 if r < layout.spec.cols else 0)

    def _place(self, layout: Layout) -> None:
        for tile in self.tiles:
            self._grid.removeWidget(tile)
        spec = layout.spec
        for tile, cell in zip(self.tiles, spec.cells, strict=True):
            if layout.maximized is None:
                self._grid.addWidget(tile, cell.row, cell.col, cell.rows, cell.cols)
                tile.show()
            elif tile.index == layout.maximized:
                self._grid.addWidget(tile, 0, 0, spec.rows, spec.cols)
                tile.show()
            else:
                tile.hide()

    def _on_camera_status(self, camera_id: str, *_: object) -> None:
        for tile in self.tiles:
            if tile.camera is not None and tile.camera.id == camera_id:
                tile.overlay.update()

    def _update_overlays(self) -> None:
        self._apply_load_policy()
        for tile in self.tiles:
            if tile.isVisible():
                tile.second_tick()

    def _apply_load_policy(self) -> None:
        """Once a second: demote or promote tiles as the machine falls behind or catches up."""
        loads: list[TileLoad] = []
        panes: dict[Hashable, tuple[QtTile, TileFeed]] = {}
        for tile in self.tiles:
            if tile.camera is None or not tile.isVisible():
                continue
            dpr = tile.devicePixelRatioF()
            for i, pane in enumerate(tile.panes):
                feed = pane.feed
                size = pane.surface.size()
                panes[(tile.index, i)] = (tile, feed)
                loads.append(
                    TileLoad(
                        key=(tile.index, i),
                        area=round(size.width() * size.height() * dpr * dpr),
                        focused=tile.focused,
                        level=feed.load_level,
                        role=feed.role,
                        has_sub=feed.has_sub,
                        lag_ms=feed.lag_ms,
                        starting=feed.load_reason == LoadReason.STARTING,
                    )
                )
        now = time.monotonic()
        late: float | None = None
        if now - self._layout_changed_at > LAYOUT_GRACE_S:
            recent = [late for t, late in self._lateness if now - t <= 1.0]
            late = max(percentile(recent, 95) or 0.0, self.display_stall_ms(now))
        for key, decision in self.load_policy.update(loads, late).items():
            tile, feed = panes[key]
            feed.set_load(decision.level, decision.reason)
            tile.overlay.update()

    def display_stall_ms(self, now: float) -> float:
        """How long a due display pass has been waiting (a starved GUI thread runs its
        display clock late or not at all); 0 while it sleeps with nothing to show."""
        if self._timer.isActive():  # polling while frames come densely (still unarmed)
            return max(0.0, (now - self._due) * 1000)
        if self._wake.pending:  # asleep, and a frame's wake-up is waiting to be handled
            return max(0.0, (now - self._wake.fired_at) * 1000)
        return 0.0

    def _on_wake(self) -> None:
        """A decoder's wake-up event: a frame landed (possibly several since)."""
        self._display_pass(time.monotonic(), self._wake.fired_at)

    def _on_timer(self) -> None:
        self._display_pass(time.monotonic(), self._due)

    def _display_pass(self, now: float, due: float) -> None:
        """Show the newest frame of every visible tile; then wait for a wake-up or the timer."""
        self.ticks += 1
        late = max(0.0, (now - due) * 1000)
        if now - self._layout_changed_at > LAYOUT_GRACE_S:
            self._lateness.append((now, late))
        if self.on_display_pass is not None:
            self.on_display_pass(late)
        previous, self._last_tick = self._last_tick, now
        generation = FrameSlot.generation
        if generation == self._generation:
            self._sleep(generation)
            return
        self._generation = generation
        for tile in self.tiles:
            # The cheap check first: most tiles of a busy wall have nothing new in a pass.
            if tile.has_new_frame() and tile.isVisible():
                tile.refresh()
        if previous >= 0 and now - previous < 2 * DISPLAY_INTERVAL_MS / 1000:
            # Frames come densely: poll on the timer (still unarmed, so no wake-up events);
            # one pass every 10 ms shows all that landed meanwhile.
            self._due = now + DISPLAY_INTERVAL_MS / 1000
            self._timer.start(DISPLAY_INTERVAL_MS)
        else:
            self._sleep(generation)

    def _sleep(self, generation: int) -> None:
        """Nothing more to show: the next frame to land wakes the display clock."""
        self._wake.rearm()
        if FrameSlot.generation != generation and not self._timer.isActive():
            # A frame landed between the check and the re-arm, without waking us.
            self._due = time.monotonic()
            self._timer.start(0)

    # -- user actions → model ---------------------------------------------------------------
    def _on_tile_clicked(self, index: int) -> None:
        self.model.apply(lambda lay: ops.focus(lay, index))
        self.setFocus()

    def toggle_maximize(self, index: int | None = None) -> None:
        i = self.model.layout.focused if index is None else index
        self.model.apply(lambda lay: ops.toggle_maximize(lay, i))

    def _on_camera_dropped(self, index: int, camera_id: str) -> None:
        if camera_id in self._cameras:
            self.model.apply(lambda lay: ops.assign(lay, index, camera_id))

    def _on_tile_dropped(self, source: int, target: int) -> None:
        self.model.apply(lambda lay: ops.swap(lay, source, target))

    def update_camera(self, camera: Camera) -> None:
        """A camera's streams or optics became known (ONVIF discovery): show them."""
        self._cameras[camera.id] = camera
        for tile, content in zip(self.tiles, self.model.layout.tiles, strict=True):
            if content.camera_id == camera.id:
                tile.show_camera(camera, content.optic)

    def put_camera(self, camera: Camera) -> None:
        """Show ``camera`` in the focused tile (double-click in the camera tree)."""
        focused = self.model.layout.focused
        self.model.apply(lambda lay: ops.assign(lay, focused, camera.id))

    def select_optic(self, index: int, optic: int | None) -> None:
        """Show one optic of a multi-optic camera on tile ``index`` (None: the mosaic)."""
        content = self.model.layout.tiles[index]
        camera = self._cameras.get(content.camera_id) if content.camera_id else None
        if camera is None or not camera.is_multi_optic:
            return
        if optic is not None and not 0 <= optic < len(camera.optics):
            return
        self.model.apply(lambda lay: ops.select_optic(ops.focus(lay, index), index, optic))

    def toggle_expand(self) -> None:
        """Expand the focused multi-optic camera into adjacent tiles, or collapse it back."""
        index = self.model.layout.focused
        content = self.model.layout.tiles[index]
        camera = self._cameras.get(content.camera_id) if content.camera_id else None
        if camera is None or not camera.is_multi_optic:
            return
        n = len(camera.optics)
        if content.optic is None:
            self.model.expand(index, n)
        else:
            self.model.collapse(index)

    def set_show_stats(self, on: bool) -> None:
        self.show_stats = on
        for tile in self.tiles:
            tile.show_stats = on
            tile.overlay.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        moves = {
            Qt.Key.Key_Left: (0, -1),
            Qt.Key.Key_Right: (0, 1),
            Qt.Key.Key_Up: (-1, 0),
            Qt.Key.Key_Down: (1, 0),
        }
        if key in moves and self.model.layout.maximized is None:
            dr, dc = moves[key]
            self.model.apply(lambda lay: ops.move_focus(lay, dr, dc))
        elif (
            Qt.Key.Key_1 <= key <= Qt.Key.Key_9
            and not event.modifiers() & Qt.KeyboardModifier.ControlModifier
        ):
            self.select_optic(self.model.layout.focused, key - Qt.Key.Key_1)
        elif (
            key == Qt.Key.Key_Escape
            and self.model.layout.tiles[self.model.layout.focused].optic is not None
        ):
            self.select_optic(self.model.layout.focused, None)
        elif key == Qt.Key.Key_E and event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.toggle_expand()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) or (
            key == Qt.Key.Key_Escape and self.model.layout.maximized is not None
        ):
            self.toggle_maximize()
        elif key == Qt.Key.Key_Delete:
            focused = self.model.layout.focused
            self.model.apply(lambda lay: ops.assign(lay, focused, None))
        else:
            super().keyPressEvent(event)

    def close_feeds(self) -> None:
        self._wake.close()
        self._timer.stop()
        self._overlay_timer.stop()
        self._board.camera_status_changed.disconnect(self._status_handler)
        for tile in self.tiles:
            tile.close_feeds()

    def tile_stats(self, seconds: float) -> list[dict[str, object]]:
        """Per-tile statistics for --stats-json (frames presented over ``seconds``)."""
        out: list[dict[str, object]] = []
        now = time.monotonic()
        for tile in self.tiles:
            feed = tile.feed
            st = feed.stats()
            lat = tile.latency_samples()
            out.append(
                {
                    "tile": tile.index,
                    "camera": feed.camera.id if feed.camera else None,
                    "optic": feed.optic + 1 if feed.camera else None,
                    "stream": str(feed.role) if feed.role else None,
                    "url": redact(feed.stream.url) if feed.stream else None,
                    "status": str(feed.status.state),
                    "reason": feed.status.reason,
                    "frames_presented": tile.presented,
                    "fps_presented": round(tile.presented / seconds, 2) if seconds > 0 else 0.0,
                    "frames_decoded": st.frames_decoded if st else 0,
                    "fps_decoded": st.fps if st else 0.0,
                    "dropped_replaced": st.frames_replaced if st else 0,
                    "lost_network": st.frames_lost if st else 0,
                    "width": st.width if st else 0,
                    "height": st.height if st else 0,
                    "codec": st.codec if st else "",
                    "time_to_first_frame_ms": st.time_to_first_frame_ms if st else None,
                    "latency_ms_median": percentile(lat, 50),
                    "latency_ms_p95": percentile(lat, 95),
                    "decode_latency_ms_median": st.latency_ms_median if st else None,
                    "visible": tile.isVisible(),
                    "measured_at": now,
                    **_bench_fields(tile),
                }
            )
        return out


def _bench_fields(tile: QtTile) -> dict[str, object]:
    """What the wall benchmark (``python -m bench``) needs beyond the statistics above."""
    pane = tile.panes[0]
    surface = pane.surface
    dpr = tile.devicePixelRatioF()
    st = pane.feed.stats()
    return {
        "surface_size": [round(surface.width() * dpr), round(surface.height() * dpr)],
        "pane_presented": pane.presented,
        "opened_at_ns": pane.feed.opened_at_ns,
        "first_presented_ns": pane.first_presented_ns,
        "first_stamp_ns": pane.first_stamp_ns,
        "last_stamp_ns": pane.last_stamp_ns,
        "keyframes_only": bool(st.keyframes_only) if st else False,
        "load_level": pane.feed.load_level.name,
        "load_reason": str(pane.feed.load_reason),
        "lag_ms": None if st is None or st.lag_ms is None else round(st.lag_ms, 1),
        "latency_samples": [round(x, 1) for x in tile.latency_samples()],
    }


# -- benchmark instrumentation (``python -m bench``; active with --stats-json) ------------------
class BenchProbe:
    """GUI responsiveness and layout-switch timing for ``--stats-json``.

    The display clock records how late each of its passes runs (after the decoder's wake-up
    was posted, or after the 10 ms timer was due: what an operator feels as a sluggish
    window); ``switch(name)`` changes the layout and records when every tile of the new
    layout presented its first frame.
    """

    INTERVAL_MS = DISPLAY_INTERVAL_MS

    def __init__(self, wall: QtWall) -> None:
        self._wall = wall
        self.lateness_ms = array("f")  # 4 bytes a pass: at most 2.4 kB a minute
        self.lateness_t = array("f")  # seconds since the probe started, per pass
        self._t0 = time.monotonic()
        self.switches: list[dict[str, object]] = []
        self._pending: dict[str, object] | None = None
        self._pending_at = 0
        # The display clock measures its own lateness: a timer of our own would cost what
        # it measures (and an idle display clock does not run at all).
        wall.on_display_pass = self._tick

    def _tick(self, late_ms: float) -> None:
        self.lateness_ms.append(late_ms)
        self.lateness_t.append(time.monotonic() - self._t0)
        if self._pending is not None:
            self._check_switch(self._pending)

    def switch(self, name: str) -> None:
        self._pending_at = time.time_ns()
        self._pending = {"layout": name, "at_ns": self._pending_at, "live_ns": None, "tiles": []}
        self.switches.append(self._pending)
        self._wall.model.set_layout(name)

    def _check_switch(self, rec: dict[str, object]) -> None:
        panes = [t.panes[0] for t in self._wall.tiles if t.camera is not None and t.isVisible()]
        firsts = [p.first_presented_ns for p in panes]
        if any(f is None for f in firsts):
            return
        at = self._pending_at
        rec["live_ns"] = max(f for f in firsts if f is not None)
        # Per tile: switch → first frame shown, and switch → capture of that (key) frame.
        rec["tiles"] = [
            [p.first_presented_ns - at if p.first_presented_ns else None,
             p.first_stamp_ns - at if p.first_stamp_ns else None]
            for p in panes
        ]  # fmt: skip
        self._pending = None

    def stats(self) -> dict[str, object]:
        return {
            "timer_interval_ms": self.INTERVAL_MS,
            "timer_lateness_ms": [round(x, 2) for x in self.lateness_ms],
            "timer_lateness_t_s": [round(x, 3) for x in self.lateness_t],
            "switches": self.switches,
            "load_demotions": self._wall.load_policy.demotions,
            "load_promotions": self._wall.load_policy.promotions,
        }
