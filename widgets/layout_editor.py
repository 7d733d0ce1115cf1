"""Layout editor dialog (drag to span and resize, undo/redo) and the saved-layouts menu."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QShortcut,
)
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QMainWindow,
    QMenu,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.layouts import editor as ed
from app.layouts import ops
from app.layouts.library import LayoutLibrary, LibraryError, NumberEntry, SavedLayout
from app.layouts.model import Cell, LayoutSpec
from app.users import EDIT_LAYOUTS, User, can
from widgets.walls import recall_layout

logger = logging.getLogger(__name__)
HANDLE_PX = 14  # the bottom-right corner of a tile that starts a resize
GRIP_PX = 14  # the top-left grip of a tile that starts a move
LIBRARY_POLL_MS = 2000  # how often the shared file is checked for other workstations' edits


class GridCanvas(QWidget):
    """Draws a LayoutSpec; a drag over cells merges them into one tile, a drag from a tile's
    bottom-right corner resizes it, a drag from its top-left grip (or with Shift held, from
    anywhere on it) moves it to free cells, a right click splits a tile, Delete removes the
    selected. While dragging, the outline where the tile would land is drawn green, or red
    where it would overlap or leave the grid.

    Every edit is computed by ``app.layouts.editor`` and offered through ``edited``; an edit
    that would overlap is refused and said through ``refused``.
    """

    edited = Signal(object)  # LayoutSpec
    refused = Signal(str)

    def __init__(self, spec: LayoutSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self.selected: int | None = None
        self._mode: str | None = None  # "merge", "resize" or "move"
        self._start: tuple[int, int] = (0, 0)
        self._grab: tuple[int, int] = (0, 0)  # moving: the grabbed cell, relative to the tile
        self._preview: Cell | None = None
        self.setMinimumSize(360, 240)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)

    def set_spec(self, spec: LayoutSpec) -> None:
        self.spec = spec
        if self.selected is not None and self.selected >= spec.size:
            self.selected = None
        self.update()

    # -- geometry -----------------------------------------------------------------------------
    def _cell_size(self) -> tuple[float, float]:
        return self.width() / self.spec.cols, self.height() / self.spec.rows

    def cell_rect(self, cell: Cell) -> QRect:
        w, h = self._cell_size()
        x0, y0 = round(cell.col * w), round(cell.row * h)
        x1, y1 = round((cell.col + cell.cols) * w), round((cell.row + cell.rows) * h)
        return QRect(x0, y0, x1 - x0, y1 - y0)

    def cell_at(self, pos: QPoint) -> tuple[int, int]:
        w, h = self._cell_size()
        r = min(self.spec.rows - 1, max(0, int(pos.y() / h)))
        c = min(self.spec.cols - 1, max(0, int(pos.x() / w)))
        return r, c

    def _raw_cell(self, pos: QPoint) -> tuple[int, int]:
        # Like cell_at but not clamped to the grid (a move dragged past the edge).
        w, h = self._cell_size()
        return math.floor(pos.y() / h), math.floor(pos.x() / w)

    def _preview_rect(self, cell: Cell) -> QRect:
        # A preview partly outside the grid is drawn clipped to it.
        return self.cell_rect(cell).intersected(self.rect())

    @property
    def preview(self) -> Cell | None:
        """The outline shown during a drag (for tests and the status line)."""
        return self._preview

    def point_of(self, row: int, col: int, corner: bool = False, grip: bool = False) -> QPoint:
        """The centre of a cell, or just inside its bottom-right corner (resize handle) or its
        top-left corner (move grip): for tests."""
        rect = self.cell_rect(Cell(row, col))
        if grip:
            return rect.topLeft() + QPoint(GRIP_PX // 2 + 2, GRIP_PX // 2 + 2)
        return rect.bottomRight() - QPoint(3, 3) if corner else rect.center()

    def _on_grip(self, index: int, pos: QPoint) -> bool:
        top_left = self.cell_rect(self.spec.cells[index]).topLeft()
        dx, dy = pos.x() - top_left.x(), pos.y() - top_left.y()
        return 0 <= dx <= GRIP_PX + 4 and 0 <= dy <= GRIP_PX + 4

    def _move_target(self, r: int, c: int) -> Cell | None:
        if self.selected is None:
            return None
        t = self.spec.cells[self.selected]
        # Not clamped: a tile dragged past the edge shows red rather than jumping back inside.
        return Cell(r - self._grab[0], c - self._grab[1], t.rows, t.cols)

    # -- mouse --------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        r, c = self.cell_at(pos)
        index = ed.tile_at(self.spec, r, c)
        if event.button() == Qt.MouseButton.RightButton:
            if index is not None:
                self._commit(lambda s: ed.split(s, index))
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self.selected = index
        if index is not None:
            corner = self.cell_rect(self.spec.cells[index]).bottomRight()
            if abs(corner.x() - pos.x()) <= HANDLE_PX and abs(corner.y() - pos.y()) <= HANDLE_PX:
                self._mode = "resize"
                self._start = (r, c)
                self._preview = self.spec.cells[index]
                self.update()
                return
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            if shift or self._on_grip(index, pos):
                tile = self.spec.cells[index]
                self._mode = "move"
                self._grab = (r - tile.row, c - tile.col)
                self._preview = tile
                self.update()
                return
        self._mode = "merge"
        self._start = (r, c)
        self._preview = Cell(r, c)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._mode is None:
            return
        r, c = self.cell_at(event.position().toPoint())
        if self._mode == "resize" and self.selected is not None:
            t = self.spec.cells[self.selected]
            self._preview = Cell(t.row, t.col, max(1, r - t.row + 1), max(1, c - t.col + 1))
        elif self._mode == "move":
            self._preview = self._move_target(*self._raw_cell(event.position().toPoint()))
        else:
            self._preview = ed.cell_between(self._start, (r, c))
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        mode, area, index = self._mode, self._preview, self.selected
        self._mode, self._preview = None, None
        self.update()
        if mode is None or area is None:
            return
        if mode == "resize" and index is not None:
            self._commit(lambda s: ed.resize_tile(s, index, area.rows, area.cols))
        elif mode == "move" and index is not None:
            if (area.row, area.col) != (self.spec.cells[index].row, self.spec.cells[index].col):
                self._commit(lambda s: ed.move_tile(s, index, area.row, area.col))
                # Tiles are numbered in reading order: the moved one may have a new number.
                if area in self.spec.cells:
                    self.selected = self.spec.cells.index(area)
        elif mode == "merge" and (area.rows > 1 or area.cols > 1 or index is None):
            self._commit(lambda s: ed.merge(s, area))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.selected is not None:
            index = self.selected
            self.selected = None
            self._commit(lambda s: ed.remove_tile(s, index))
        else:
            super().keyPressEvent(event)

    def _commit(self, edit: Callable[[LayoutSpec], LayoutSpec]) -> None:
        try:
            new = edit(self.spec)
        except ed.EditError as e:
            self.refused.emit(str(e))
            return
        self.edited.emit(new)

    @property
    def preview_ok(self) -> bool:
        """Whether the drag shown now would be accepted (green) or refused (red)."""
        return self._preview_ok()

    def _preview_ok(self) -> bool:
        if self._preview is None:
            return True
        try:
            if self._mode == "resize" and self.selected is not None:
                ed.resize_tile(self.spec, self.selected, self._preview.rows, self._preview.cols)
            elif self._mode == "move" and self.selected is not None:
                ed.move_tile(self.spec, self.selected, self._preview.row, self._preview.col)
            else:
                ed.merge(self.spec, self._preview)
        except ed.EditError:
            return False
        return True

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#202020"))
        p.setPen(QPen(QColor("#3a3a3a"), 1, Qt.PenStyle.DashLine))
        for r in range(self.spec.rows):
            for c in range(self.spec.cols):
                p.drawRect(self.cell_rect(Cell(r, c)).adjusted(0, 0, -1, -1))
        font = QFont(p.font())
        font.setPointSize(12)
        p.setFont(font)
        for i, cell in enumerate(self.spec.cells):
            rect = self.cell_rect(cell).adjusted(2, 2, -2, -2)
            p.fillRect(rect, QColor("#2f4f6f" if i == self.selected else "#34495e"))
            p.setPen(QPen(QColor("#9fc5e8"), 2))
            p.drawRect(rect)
            p.setPen(QColor("#ffffff"))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(i + 1))
            corner = rect.bottomRight()
            p.fillRect(QRect(corner.x() - 8, corner.y() - 8, 8, 8), QColor("#9fc5e8"))
            grip = QRect(rect.x() + 2, rect.y() + 2, GRIP_PX, GRIP_PX)
            p.setPen(QPen(QColor("#9fc5e8"), 1))
            for k in (3, 7, 11):  # three bars: "grab here to move"
                p.drawLine(grip.x() + 2, grip.y() + k, grip.right() - 2, grip.y() + k)
        if self._preview is not None:
            ok = self._preview_ok()
            colour = QColor("#2ecc71") if ok else QColor("#e74c3c")
            if self._mode == "move":  # the drop preview: a tinted tile where it would land
                fill = QColor(colour)
                fill.setAlpha(70)
                p.fillRect(self._preview_rect(self._preview), fill)
            p.setPen(QPen(colour, 3))
            p.drawRect(self._preview_rect(self._preview).adjusted(1, 1, -2, -2))
        p.end()


class LayoutEditorDialog(QDialog):
    """The site's saved layouts: create, rename, duplicate, delete, and edit a grid."""

    def __init__(
        self,
        library: LayoutLibrary,
        camera_order: list[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Layouts")
        self.resize(900, 560)
        self.library = library
        self.camera_order = camera_order or []
        self.name: str | None = None
        self.history = ed.History(ed.new_spec("new", 2, 2))
        outer = QHBoxLayout(self)
        left = QVBoxLayout()
        self.list = QListWidget(self)
        left.addWidget(self.list)
        self.buttons: dict[str, QPushButton] = {}
        for key, text, slot in (
            ("new", "New…", self.new_layout),
            ("rename", "Rename…", self.rename_layout),
            ("duplicate", "Duplicate…", self.duplicate_layout),
            ("delete", "Delete", self.delete_layout),
        ):
            b = QPushButton(text, self)
            b.clicked.connect(slot)
            left.addWidget(b)
            self.buttons[key] = b
        outer.addLayout(left, 1)
        right = QVBoxLayout()
        bar = QHBoxLayout()
        self.rows = QSpinBox(self)
        self.cols = QSpinBox(self)
        for spin, label in ((self.rows, "Rows"), (self.cols, "Columns")):
            spin.setRange(1, ed.MAX_GRID)
            bar.addWidget(QLabel(label))
            bar.addWidget(spin)
            spin.valueChanged.connect(self._grid_size_changed)
        for key, text, fn in (
            ("undo", "Undo", self.undo),
            ("redo", "Redo", self.redo),
            ("fill", "Fill gaps", lambda: self._edit(ed.fill_empty(self.history.current))),
            ("save", "Save", self.save),
        ):
            b = QPushButton(text, self)
            b.clicked.connect(fn)
            bar.addWidget(b)
            self.buttons[key] = b
        right.addLayout(bar)
        self.canvas = GridCanvas(self.history.current, self)
        self.canvas.edited.connect(self._edit)
        self.canvas.refused.connect(self._say)
        right.addWidget(self.canvas, 1)
        self.message = QLabel(
            "Drag over cells to join them; drag a tile's corner to resize; drag its top-left "
            "grip (or Shift+drag) to move it; right click splits; Delete removes.",
            self,
        )
        self.message.setWordWrap(True)
        right.addWidget(self.message)
        outer.addLayout(right, 3)
        # Explicit keys: the platform's Redo may itself be Ctrl+Y, and two shortcuts on one
        # key are ambiguous, so neither would fire.
        QShortcut(QKeySequence("Ctrl+Z"), self, self.undo)
        QShortcut(QKeySequence("Ctrl+Y"), self, self.redo)
        QShortcut(QKeySequence("Ctrl+Shift+Z"), self, self.redo)
        self.list.currentTextChanged.connect(self._open)
        self._reload_list()
        self._sync()

    # -- list ---------------------------------------------------------------------------------
    def _reload_list(self, select: str | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for e in self.library.entries():
            self.list.addItem(f"{e.number}. {e.name}")
        self.list.blockSignals(False)
        target = select or self.name
        for i, e in enumerate(self.library.entries()):
            if e.name == target:
                self.list.setCurrentRow(i)
                return

    def _entry_for_row(self, text: str) -> SavedLayout | None:
        _, _, name = text.partition(". ")
        return self.library.get(name) if name else None

    def _open(self, text: str) -> None:
        entry = self._entry_for_row(text)
        if entry is None:
            return
        self.open_layout(entry.name)

    def open_layout(self, name: str) -> None:
        entry = self.library.get(name)
        if entry is None:
            return
        self.name = entry.name
        self.history = ed.History(entry.layout.spec)
        self._sync()

    # -- edits --------------------------------------------------------------------------------
    def _edit(self, spec: LayoutSpec) -> None:
        self.history = self.history.push(spec)
        self._sync()

    def undo(self) -> None:
        self.history = self.history.undo()
        self._sync()

    def redo(self) -> None:
        self.history = self.history.redo()
        self._sync()

    def _grid_size_changed(self) -> None:
        spec = self.history.current
        if (self.rows.value(), self.cols.value()) == (spec.rows, spec.cols):
            return
        try:
            self._edit(ed.resize_grid(spec, self.rows.value(), self.cols.value()))
        except ed.EditError as e:
            self._say(str(e))
            self._sync()

    def _sync(self) -> None:
        spec = self.history.current
        self.canvas.set_spec(spec)
        for spin, v in ((self.rows, spec.rows), (self.cols, spec.cols)):
            spin.blockSignals(True)
            spin.setValue(v)
            spin.blockSignals(False)
        self.buttons["undo"].setEnabled(self.history.can_undo)
        self.buttons["redo"].setEnabled(self.history.can_redo)
        for key in ("rename", "duplicate", "delete", "save"):
            self.buttons[key].setEnabled(self.name is not None)
        self.setWindowTitle(f"Layouts — {self.name or 'none selected'}")

    def _say(self, text: str) -> None:
        self.message.setText(text)

    def _ask(self, title: str, default: str = "") -> str | None:
        text, ok = QInputDialog.getText(self, title, "Name", text=default)
        return text if ok and text.strip() else None

    def _guard(self, fn: Callable[[], object]) -> bool:
        try:
            fn()
        except (LibraryError, ed.EditError) as e:
            self._say(str(e))
            return False
        return True

    def new_layout(self, name: str | None = None, rows: int = 2, cols: int = 2) -> None:
        name = name or self._ask("New layout")
        if not name:
            return
        spec = ed.new_spec(name.strip(), rows, cols)
        if self._guard(lambda: self.library.save(name, ops.new_layout(spec, self.camera_order))):
            self.name = name.strip()
            self.history = ed.History(spec)
            self._reload_list(self.name)
            self._sync()

    def rename_layout(self, new_name: str | None = None) -> None:
        if self.name is None:
            return
        old = self.name
        new_name = new_name or self._ask("Rename layout", old)
        if new_name and self._guard(lambda: self.library.rename(old, new_name)):
            self.name = new_name.strip()
            self._reload_list(self.name)
            self._sync()

    def duplicate_layout(self, new_name: str | None = None) -> None:
        if self.name is None:
            return
        old = self.name
        new_name = new_name or self._ask("Duplicate layout", f"{old} (2)")
        if new_name and self._guard(lambda: self.library.duplicate(old, new_name)):
            self._reload_list(new_name.strip())

    def delete_layout(self) -> None:
        if self.name is None:
            return
        name = self.name
        if self._guard(lambda: self.library.delete(name)):
            self.name = None
            self._reload_list()
            self._sync()

    def save(self) -> None:
        """Store the edited grid; the layout's cameras stay on the tiles that remain."""
        if self.name is None:
            return
        entry = self.library.get(self.name)
        spec = replace(self.history.current, name=self.name)
        old = entry.layout if entry is not None else ops.new_layout(spec)
        cameras = [t.camera_id for t in old.tiles]
        layout = replace(ops.new_layout(spec, cameras), tiles=old.tiles[: spec.size])
        if self._guard(lambda: self.library.save(self.name or "", layout)):
            self._say(f"Saved {self.name}.")


# -- the menu in the operator's window ---------------------------------------------------------
class SavedLayouts(QObject):
    """Saved layouts in the main window: a Layouts menu, Alt+1…9, number pad + Enter; the
    editor and "save current as" for supervisors. Re-reads the shared file every 2 s."""

    def __init__(
        self,
        window: QMainWindow,
        library: LayoutLibrary,
        user: User | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.wall = window.wall  # type: ignore[attr-defined]
        self.library = library
        self.user = user
        self.entry = NumberEntry(clock)
        self.menu: QMenu = window.menuBar().addMenu("&Layouts")
        self._actions: list[QAction] = []
        self.editor: LayoutEditorDialog | None = None
        library.changed.connect(self._rebuild)
        self._rebuild()
        self.wall.installEventFilter(self)
        self._poll = QTimer(self)
        self._poll.timeout.connect(library.refresh)
        self._poll.start(LIBRARY_POLL_MS)

    def _rebuild(self) -> None:
        self.menu.clear()
        for act in self._actions:
            self.window.removeAction(act)
        self._actions = []
        for e in self.library.entries():
            act = QAction(f"{e.number}. {e.name}", self.window)
            if 1 <= e.number <= 9:
                act.setShortcut(QKeySequence(f"Alt+{e.number}"))
            act.triggered.connect(lambda _=False, n=e.name: self.recall(n))
            self.menu.addAction(act)
            self.window.addAction(act)  # shortcuts work with the menu bar hidden (full screen)
            self._actions.append(act)
        self.menu.addSeparator()
        editing = can(self.user, EDIT_LAYOUTS)
        save_as = self.menu.addAction("Save current layout as…")
        save_as.triggered.connect(lambda: self.save_current())
        save_as.setEnabled(editing)
        edit = self.menu.addAction("Edit layouts…")
        edit.triggered.connect(lambda: self.open_editor())
        edit.setEnabled(editing)

    def recall(self, name: str) -> bool:
        return recall_layout(self.wall.model, name, self.library)

    def recall_number(self, number: int) -> bool:
        entry = self.library.by_number(number)
        if entry is None:
            self.window.statusBar().showMessage(f"No layout number {number}", 3000)
            return False
        return self.recall(entry.name)

    def save_current(self, name: str | None = None) -> SavedLayout | None:
        if not can(self.user, EDIT_LAYOUTS):
            return None
        model = self.wall.model
        if name is None:
            text, ok = QInputDialog.getText(self.window, "Save layout", "Name", text="")
            name = text if ok else None
        if not name:
            return None
        try:
            return self.library.save(name, model.layout)
        except LibraryError as e:
            self.window.statusBar().showMessage(str(e), 5000)
            return None

    def open_editor(self) -> LayoutEditorDialog | None:
        if not can(self.user, EDIT_LAYOUTS):
            return None
        if self.editor is None:
            cameras = [t.camera_id for t in self.wall.model.layout.tiles if t.camera_id]
            self.editor = LayoutEditorDialog(self.library, cameras, self.window)
        self.editor.show()
        return self.editor

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        # Number-pad digits then Enter recall a layout by number (as on a CCTV keyboard);
        # the main-row digits keep choosing an optic on the wall.
        if event.type() != QEvent.Type.KeyPress or not isinstance(event, QKeyEvent):
            return False
        keypad = bool(event.modifiers() & Qt.KeyboardModifier.KeypadModifier)
        key = event.key()
        if keypad and Qt.Key.Key_0 <= key <= Qt.Key.Key_9:
            typed = self.entry.digit(key - Qt.Key.Key_0)
            self.window.statusBar().showMessage(f"Layout {typed}…", 3000)
            return True
        if key in (Qt.Key.Key_Enter, Qt.Key.Key_Return) and self.entry.pending:
            number = self.entry.enter()
            if number is not None:
                self.recall_number(number)
            return True
        if key == Qt.Key.Key_Escape and self.entry.pending:
            self.entry.cancel()
            return True
        return False

    def close(self) -> None:
        self._poll.stop()
