"""Tile context menu and "Export snapshot" (Ctrl+Shift+S): full-resolution frame, off-thread PNG."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QPoint, QTimer
from PySide6.QtGui import QAction, QContextMenuEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QWidget

from app.export import ExportRefused, ExportResult, SnapshotExporter, SnapshotSource
from app.streams.engine import StreamEngine, StreamHandle
from app.streams.frames import FrameRequest, PixelFormat, VideoFrame
from widgets.bridge import MainThreadBridge
from widgets.tile import QtTile
from widgets.video_surface import FULL_VIEW

logger = logging.getLogger(__name__)
FULL_FRAME_WAIT_MS = 3000  # a stream at 1 fps still delivers one; a stalled one falls back
POLL_MS = 15
EXPORT_SHORTCUT = "Ctrl+Shift+S"

MenuEntry = Callable[[QMenu, QtTile, int], None]  # (menu, tile, pane index) adds actions


def _full(frame: VideoFrame) -> bool:
    return (frame.width, frame.height) == (frame.source_width, frame.source_height)


class FullFrameGrab(QObject):
    """The newest frame of a stream at its decoded size, without blocking the GUI thread.

    A raster tile receives frames scaled to its size, so the picture on screen is smaller
    than the stream. Then a second claim on the same decoder asks for unscaled frames (the
    engine merges requests: the decoder sends the largest wanted, so no new connection is
    made), the display clock keeps running, and a timer picks up the first full-size frame.
    After ``FULL_FRAME_WAIT_MS`` without one, the on-screen frame is used (and says so).
    """

    def __init__(
        self,
        engine: StreamEngine,
        handle: StreamHandle,
        done: Callable[[VideoFrame | None], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        self._done = done
        self._fallback = handle.slot.latest()
        self._extra: StreamHandle | None = None
        self._waited = 0
        if self._fallback is not None and _full(self._fallback):
            QTimer.singleShot(0, lambda: self._finish(self._fallback))
            return
        if engine.worker(handle.key) is None:  # the tile let go of it meanwhile
            QTimer.singleShot(0, lambda: self._finish(self._fallback))
            return
        self._extra = engine.open(handle.key)
        engine.set_request(self._extra, FrameRequest(PixelFormat.BGRA, 0, 0))
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._poll)
        self._timer.start(POLL_MS)

    def _poll(self) -> None:
        assert self._extra is not None
        frame = self._extra.slot.latest()
        self._waited += POLL_MS
        after = self._fallback.seq if self._fallback is not None else -1
        if frame is not None and frame.seq > after and _full(frame):
            self._finish(frame)
        elif self._waited >= FULL_FRAME_WAIT_MS:
            logger.warning(
                "no full-size frame within %d ms; exporting the on-screen one", self._waited
            )
            self._finish(frame or self._fallback)

    def _finish(self, frame: VideoFrame | None) -> None:
        if self._extra is not None:
            self._timer.stop()
            self._engine.release(self._extra)
            self._extra = None
        self._done(frame)
        self.deleteLater()


class TileActions(QObject):
    """The context menu of a wall's tiles (right click) and the snapshot export.

    Installed on a QtWall: a tile does not handle context-menu events, so they reach the
    wall, which finds the tile under the pointer. Other features add entries through
    ``entries`` (e.g. the camera sequence of a tile).
    """

    def __init__(
        self,
        wall: QWidget,  # widgets.wall.QtWall
        engine: StreamEngine,
        exporter: SnapshotExporter | None,
        bridge: MainThreadBridge,
        screen: str = "main",
        status: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(wall)
        self.wall = wall
        self.engine = engine
        self.exporter = exporter
        self.screen = screen
        self._status = status or (lambda text: logger.info("%s", text))
        self.entries: list[MenuEntry] = []
        self.menu: QMenu | None = None
        self.results: list[ExportResult] = []
        self.errors: list[str] = []
        self.pending = 0  # exports asked for and not yet written
        if exporter is not None:
            exporter.finished.connect(bridge.wrap(self._on_finished, owner=self))
            exporter.failed.connect(bridge.wrap(self._on_failed, owner=self))
        wall.installEventFilter(self)

    # -- context menu -------------------------------------------------------------------------
    def tile_at(self, pos: QPoint) -> tuple[QtTile, int] | None:
        """The tile (and pane, in a mosaic) under ``pos`` in the wall's coordinates."""
        child = self.wall.childAt(pos)
        while child is not None and not isinstance(child, QtTile):
            child = child.parentWidget()
        if not isinstance(child, QtTile):
            return None
        local = child.mapFrom(self.wall, pos)
        pane = next((i for i, r in enumerate(child.pane_rects()) if r.contains(local)), 0)
        return child, pane

    def build_menu(self, tile: QtTile, pane: int = 0) -> QMenu:
        menu = QMenu(self.wall)
        act = QAction("Export snapshot", menu)
        act.setShortcut(QKeySequence(EXPORT_SHORTCUT))
        act.setEnabled(self.can_export(tile))
        act.triggered.connect(lambda _=False: self.export_tile(tile, pane))
        menu.addAction(act)
        for add in self.entries:
            add(menu, tile, pane)
        return menu

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        # The type first: during teardown Qt may still call a filter whose Python side is gone.
        if event.type() != QEvent.Type.ContextMenu:
            return False
        if obj is getattr(self, "wall", None):
            assert isinstance(event, QContextMenuEvent)
            found = self.tile_at(event.pos())
            if found is None:
                return False
            if self.menu is not None:
                self.menu.deleteLater()
            self.menu = self.build_menu(*found)
            self.menu.popup(event.globalPos())  # not exec(): no nested event loop
            return True
        return False

    # -- export -------------------------------------------------------------------------------
    def can_export(self, tile: QtTile) -> bool:
        return self.exporter is not None and self.exporter.allowed and tile.camera is not None

    def export_focused(self) -> bool:
        model = self.wall.model  # type: ignore[attr-defined]
        tiles: list[QtTile] = self.wall.tiles  # type: ignore[attr-defined]
        index = model.layout.focused
        return index < len(tiles) and self.export_tile(tiles[index])

    def export_tile(self, tile: QtTile, pane: int = 0) -> bool:
        """Export what ``tile`` shows now; False (and a message) if there is nothing to export
        or the user may not."""
        if self.exporter is None or not self.exporter.allowed:
            self._status("Your role does not allow exports")
            return False
        camera = tile.camera
        if camera is None:
            self._status("No camera on this tile")
            return False
        p = tile.panes[min(pane, len(tile.panes) - 1)]
        handle = p.feed.handle
        if handle is None or handle.slot.latest() is None:
            self._status(f"No picture from {camera.name} to export")
            return False
        optic = p.feed.optic
        view = getattr(p.surface, "view", FULL_VIEW)
        source = SnapshotSource(
            camera_id=camera.id,
            camera_name=camera.name,
            optic=optic + 1,
            optic_name=camera.optics[optic].name if optic < len(camera.optics) else "",
            stream=str(p.feed.role or ""),
            screen=self.screen,
            tile=tile.index + 1,
            view=None if view == FULL_VIEW else tuple(view),  # type: ignore[arg-type]
        )
        exporter = self.exporter
        self.pending += 1

        def grabbed(frame: VideoFrame | None) -> None:
            if frame is None:
                self.pending -= 1
                self._on_failed(f"No picture from {camera.name} to export")
                return
            try:
                exporter.export(frame, source)  # encoding and writing: the export thread
            except ExportRefused as e:
                self.pending -= 1
                self._on_failed(str(e))

        FullFrameGrab(self.engine, handle, grabbed, self)
        self._status(f"Exporting a snapshot of {camera.name}…")
        return True

    def _on_finished(self, result: ExportResult) -> None:
        self.pending = max(0, self.pending - 1)
        self.results.append(result)
        size = f"{result.width}x{result.height}"
        self._status(f"Snapshot saved ({size}): {result.png}")

    def _on_failed(self, text: str) -> None:
        self.pending = max(0, self.pending - 1)
        self.errors.append(text)
        self._status(text)


def add_export_action(window: QMainWindow, actions: TileActions) -> QAction:
    """Ctrl+Shift+S in the operator's window: a snapshot of the focused tile."""
    act = QAction("Export snapshot of the focused tile", window)
    act.setShortcut(QKeySequence(EXPORT_SHORTCUT))
    act.setEnabled(actions.exporter is not None and actions.exporter.allowed)
    act.triggered.connect(lambda _=False: actions.export_focused())
    window.addAction(act)  # works with the menu bar hidden (full screen)
    return act
