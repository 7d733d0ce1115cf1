"""Multi-optic controls besides the keys: "All optics" on the toolbar and the tile's menu.

Esc on the wall already returns a selected optic to the mosaic; these give the mouse the same
way back (and a way in: the menu lists a mosaic's optics), always through
``QtWall.select_optic`` so the model stays the one place the selection lives.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from widgets.export import TileActions
from widgets.tile import QtTile
from widgets.wall import QtWall

ALL_OPTICS = "◱ All optics"


def _selected_optic(wall: QtWall, index: int) -> int | None:
    tiles = wall.model.layout.tiles
    return tiles[index].optic if 0 <= index < len(tiles) else None


def add_optic_actions(
    window: QMainWindow, wall: QtWall, actions: TileActions | None = None
) -> QAction:
    """The "All optics" action (toolbar, Esc shown as its key) and the tile-menu entries."""
    act = QAction(ALL_OPTICS, window)
    act.setToolTip("Back to the mosaic of the focused camera's optics (Esc)")
    act.setObjectName("all_optics")

    def back() -> None:
        focused = wall.model.layout.focused
        wall.select_optic(focused, None)

    def sync() -> None:
        camera = wall.tiles[wall.model.layout.focused].camera if wall.tiles else None
        multi = camera is not None and camera.is_multi_optic
        act.setEnabled(multi and _selected_optic(wall, wall.model.layout.focused) is not None)

    act.triggered.connect(lambda _=False: back())
    wall.model.changed.connect(lambda _layout: sync())
    sync()
    bar = window.findChild(QToolBar, "layout")
    if bar is not None:
        bar.addAction(act)
    window.addAction(act)

    def entry(menu: QMenu, tile: QtTile, pane: int) -> None:
        camera = tile.camera
        if camera is None or not camera.is_multi_optic:
            return
        menu.addSeparator()
        if _selected_optic(wall, tile.index) is not None:
            back_here = QAction(f"{ALL_OPTICS}\tEsc", menu)
            back_here.triggered.connect(lambda _=False: wall.select_optic(tile.index, None))
            menu.addAction(back_here)
            return
        optic = tile.panes[pane].optic if 0 <= pane < len(tile.panes) else 0
        show = QAction(f"Show optic {optic + 1} {camera.optics[optic].name}\t{optic + 1}", menu)
        show.triggered.connect(lambda _=False: wall.select_optic(tile.index, optic))
        menu.addAction(show)

    if actions is not None:
        actions.entries.append(entry)
    return act
