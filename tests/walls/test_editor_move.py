"""Moving a tile in the layout editor by dragging it: drop preview, overlaps refused, undo."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from app.layouts import editor as ed
from app.layouts.library import LayoutLibrary
from app.layouts.model import Cell
from widgets.layout_editor import GridCanvas, LayoutEditorDialog

NO_MODS = Qt.KeyboardModifier.NoModifier


def _mouse(widget, kind: QEvent.Type, pos: QPoint, mods=NO_MODS) -> None:
    left = Qt.MouseButton.LeftButton
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else left
    event = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), left, buttons, mods)
    QApplication.sendEvent(widget, event)


def _press_move(canvas: GridCanvas, a: QPoint, b: QPoint, mods=NO_MODS) -> None:
    _mouse(canvas, QEvent.Type.MouseButtonPress, a, mods)
    _mouse(canvas, QEvent.Type.MouseMove, (a + b) / 2, mods)
    _mouse(canvas, QEvent.Type.MouseMove, b, mods)


def _release(canvas: GridCanvas, b: QPoint) -> None:
    _mouse(canvas, QEvent.Type.MouseButtonRelease, b)


def test_drag_a_tile_by_its_grip_or_with_shift_to_free_cells(qtbot, tmp_path: Path) -> None:
    lib = LayoutLibrary(tmp_path / "s.layouts.json")
    dlg = LayoutEditorDialog(lib, ["c1", "c2"])
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.new_layout("Duomo", 3, 4)
    canvas = dlg.canvas
    canvas.resize(400, 300)
    canvas.edited.emit(ed.merge(canvas.spec, Cell(0, 0, 2, 2)))  # a 2x2 tile top-left
    assert canvas.spec.cells[0] == Cell(0, 0, 2, 2)
    # Onto single tiles: the preview is red and the drop is refused, nothing changes.
    _press_move(canvas, canvas.point_of(0, 0, grip=True), canvas.point_of(0, 2, grip=True))
    assert canvas.preview == Cell(0, 2, 2, 2)
    assert not canvas.preview_ok
    canvas.grab()  # paints the drop preview (red) without error
    before = canvas.spec
    _release(canvas, canvas.point_of(0, 2, grip=True))
    assert canvas.spec == before
    assert "overlap" in dlg.message.text()
    assert canvas.preview is None
    # Free the four cells on the right, then the same drag moves the tile there.
    for r, c in ((0, 2), (0, 3), (1, 2), (1, 3)):
        _mouse(canvas, QEvent.Type.MouseButtonPress, canvas.point_of(r, c))
        _release(canvas, canvas.point_of(r, c))
        qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    assert canvas.spec.size == 9 - 4
    _press_move(canvas, canvas.point_of(0, 0, grip=True), canvas.point_of(0, 2, grip=True))
    assert canvas.preview == Cell(0, 2, 2, 2)
    assert canvas.preview_ok
    canvas.grab()
    _release(canvas, canvas.point_of(0, 2, grip=True))
    assert Cell(0, 2, 2, 2) in canvas.spec.cells
    assert Cell(0, 0, 2, 2) not in canvas.spec.cells
    assert canvas.selected == canvas.spec.cells.index(Cell(0, 2, 2, 2))
    # Past the grid's edge: red, refused.
    _press_move(canvas, canvas.point_of(0, 2, grip=True), canvas.point_of(2, 3))
    assert canvas.preview == Cell(2, 3, 2, 2)
    assert not canvas.preview_ok
    _release(canvas, canvas.point_of(2, 3))
    assert Cell(0, 2, 2, 2) in canvas.spec.cells
    # Shift+drag from the middle of the tile keeps the grabbed cell under the pointer.
    shift = Qt.KeyboardModifier.ShiftModifier
    _press_move(canvas, canvas.point_of(1, 3), canvas.point_of(1, 1), shift)
    assert canvas.preview == Cell(0, 0, 2, 2)
    _release(canvas, canvas.point_of(1, 1))
    assert Cell(0, 0, 2, 2) in canvas.spec.cells
    # Undo walks the moves back; the saved layout has the tile where it was left.
    dlg.undo()
    assert Cell(0, 2, 2, 2) in canvas.spec.cells
    dlg.redo()
    dlg.save()
    saved = lib.get("Duomo")
    assert saved is not None
    assert Cell(0, 0, 2, 2) in saved.layout.spec.cells


def test_a_plain_drag_inside_a_tile_still_joins_cells(qtbot, tmp_path: Path) -> None:
    dlg = LayoutEditorDialog(LayoutLibrary(tmp_path / "s.layouts.json"))
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.new_layout("Po", 2, 2)
    canvas = dlg.canvas
    canvas.resize(400, 300)
    _press_move(canvas, canvas.point_of(0, 0), canvas.point_of(0, 1))
    _release(canvas, canvas.point_of(0, 1))
    assert canvas.spec.cells[0] == Cell(0, 0, 1, 2)
