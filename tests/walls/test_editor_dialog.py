"""The layout editor dialog, the saved-layouts menu (Alt+N, number pad + Enter) and login."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.health import StatusBoard
from app.layouts import ops
from app.layouts.library import LayoutLibrary
from app.layouts.model import Cell, WallState
from app.layouts.store import WallModel
from app.site.loader import load_site
from app.streams.engine import StreamEngine
from app.streams.worker import StreamOptions
from app.users import Role, User, UsersError
from tests.sites import write_rtsp_site
from widgets.bridge import MainThreadBridge
from widgets.layout_editor import GridCanvas, LayoutEditorDialog, SavedLayouts
from widgets.login import LoginDialog, choose_user
from widgets.main_window import MainWindow


def _mouse(widget, kind: QEvent.Type, pos: QPoint, button=Qt.MouseButton.LeftButton) -> None:
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    event = QMouseEvent(
        kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
        Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    QApplication.sendEvent(widget, event)


def _drag(canvas: GridCanvas, a: QPoint, b: QPoint) -> None:
    _mouse(canvas, QEvent.Type.MouseButtonPress, a)
    _mouse(canvas, QEvent.Type.MouseMove, (a + b) / 2)
    _mouse(canvas, QEvent.Type.MouseMove, b)
    _mouse(canvas, QEvent.Type.MouseButtonRelease, b)


def test_editor_drag_spans_resize_refuse_overlap_undo_redo_and_save(qtbot, tmp_path: Path) -> None:
    lib = LayoutLibrary(tmp_path / "s.layouts.json")
    edits: list[tuple[str, dict]] = []
    lib.edited.connect(lambda op, d: edits.append((op, d)))
    dlg = LayoutEditorDialog(lib, ["c1", "c2", "c3", "c4"])
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.new_layout("Piazza", 3, 4)
    canvas = dlg.canvas
    canvas.resize(400, 300)
    assert canvas.spec.size == 12
    _drag(canvas, canvas.point_of(0, 0), canvas.point_of(1, 1))  # join 2x2 top-left
    assert canvas.spec.cells[0] == Cell(0, 0, 2, 2)
    assert canvas.spec.size == 9
    # Resize the big tile by its corner to 2x3: it would cover two single tiles → refused.
    _drag(canvas, canvas.point_of(1, 1, corner=True), canvas.point_of(1, 2))
    assert canvas.spec.cells[0] == Cell(0, 0, 2, 2)
    assert "overlap" in dlg.message.text()
    # Remove the two tiles in its way, then the resize goes through.
    for row in (0, 1):
        _mouse(canvas, QEvent.Type.MouseButtonPress, canvas.point_of(row, 2))
        _mouse(canvas, QEvent.Type.MouseButtonRelease, canvas.point_of(row, 2))
        qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    _drag(canvas, canvas.point_of(1, 1, corner=True), canvas.point_of(1, 2))
    assert canvas.spec.cells[0] == Cell(0, 0, 2, 3)
    resized = canvas.spec
    dlg.activateWindow()
    qtbot.waitActive(dlg)
    # Through the window, so that the keys go through Qt's shortcut map as typed ones do.
    QTest.keyClick(dlg.windowHandle(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert canvas.spec.cells[0] == Cell(0, 0, 2, 2)
    QTest.keyClick(dlg.windowHandle(), Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert canvas.spec == resized
    dlg.undo()
    assert canvas.spec != resized
    dlg.redo()
    dlg.rows.setValue(4)  # a bigger grid: new cells get tiles
    assert (canvas.spec.rows, canvas.spec.size) == (4, resized.size + 4)
    dlg.save()
    saved = lib.get("Piazza")
    assert saved is not None
    assert saved.layout.spec.cells[0] == Cell(0, 0, 2, 3)
    assert [t.camera_id for t in saved.layout.tiles][:4] == ["c1", "c2", "c3", "c4"]
    dlg.duplicate_layout("Piazza 2")
    assert dlg.name == "Piazza 2"  # the copy is selected for editing
    assert dlg.canvas.spec.cells[0] == Cell(0, 0, 2, 3)
    dlg.rename_layout("Piazza sera")
    assert [e.name for e in lib.entries()] == ["Piazza", "Piazza sera"]
    dlg.delete_layout()
    assert [e.name for e in lib.entries()] == ["Piazza"]
    assert [op for op, _ in edits] == ["save", "save", "duplicate", "rename", "delete"]


@pytest.fixture
def main_window(qtbot, tmp_path: Path):
    site = load_site(write_rtsp_site(tmp_path / "site.yaml", "rtsp://127.0.0.1:9"))
    engine = StreamEngine(StreamOptions(timeout=1.0))
    model = WallModel(WallState(), [c.id for c in site.cameras])
    win = MainWindow(site, model, engine, StatusBoard(engine), MainThreadBridge())
    qtbot.addWidget(win)
    win.show()
    yield win, model
    win.close()
    engine.shutdown(2.0)


def _key(widget, key: Qt.Key, keypad: bool = False) -> None:
    mods = Qt.KeyboardModifier.KeypadModifier if keypad else Qt.KeyboardModifier.NoModifier
    for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
        QApplication.sendEvent(widget, QKeyEvent(kind, key, mods))


def test_saved_layouts_alt_number_and_number_pad_recall(main_window, qtbot, tmp_path: Path) -> None:
    win, model = main_window
    lib = LayoutLibrary(tmp_path / "s.layouts.json")
    lib.save("Centro", ops.new_layout("1+5", ["cam3", "cam1"]))
    lib.save("Po", ops.new_layout("1x1", ["cam2"]))
    for n in range(3, 13):
        lib.save(f"L{n}", ops.new_layout("2x2", ["cam1"]))
    operator = SavedLayouts(win, lib, User("bianchi", Role.OPERATOR))
    shortcuts = {a.shortcut().toString(): a for a in win.actions() if not a.shortcut().isEmpty()}
    assert shortcuts[QKeySequence("Alt+1").toString()].text() == "1. Centro"
    win.activateWindow()
    qtbot.waitActive(win)
    QTest.keyClick(win.windowHandle(), Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    assert model.current == "Po"
    assert model.layout.tiles[0].camera_id == "cam2"
    _key(win.wall, Qt.Key.Key_1, keypad=True)
    _key(win.wall, Qt.Key.Key_Enter, keypad=True)
    assert model.current == "Centro"
    assert len(win.wall.tiles) == 6
    _key(win.wall, Qt.Key.Key_1, keypad=True)
    _key(win.wall, Qt.Key.Key_2, keypad=True)
    _key(win.wall, Qt.Key.Key_Return)
    assert model.current == "L12"
    # Without digits typed, Enter still maximises the focused tile.
    _key(win.wall, Qt.Key.Key_Return)
    assert model.layout.maximized == model.layout.focused
    # An operator uses layouts but cannot edit them.
    assert operator.open_editor() is None
    assert operator.save_current("Mine") is None
    edit = next(a for a in operator.menu.actions() if a.text() == "Edit layouts…")
    assert not edit.isEnabled()
    operator.close()
    supervisor = SavedLayouts(win, lib, User("rossi", Role.SUPERVISOR))
    saved = supervisor.save_current("Mine")
    assert saved is not None
    assert saved.layout.spec.name == "2x2"
    assert supervisor.open_editor() is not None
    supervisor.editor.close()
    supervisor.close()


def test_login_by_name_the_only_user_or_the_dialog(qtbot) -> None:
    users = [User("rossi", Role.SUPERVISOR), User("bianchi", Role.OPERATOR)]
    assert choose_user(users, "bianchi") is users[1]
    assert choose_user(users[:1]) is users[0]
    with pytest.raises(UsersError, match="unknown user 'verdi'"):
        choose_user(users, "verdi")
    dlg = LoginDialog(users)
    qtbot.addWidget(dlg)
    dlg.combo.setCurrentIndex(1)
    assert dlg.user() is users[1]
