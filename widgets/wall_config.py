"""Supervisor screens: walls (create, rename, delete, each screen's layout and layout cycle)
and a tile's camera sequence. Edits go to WallBook / LayoutLibrary, which save and announce."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.layouts.library import LayoutLibrary, LibraryError
from app.layouts.model import BUILTIN_LAYOUTS
from app.layouts.store import WallModel
from app.sequences import MIN_DWELL_S, CameraCycle, LayoutCycle
from app.site.model import Site
from app.users import EDIT_LAYOUTS, EDIT_WALLS, User, can
from app.walls import WallBook, WallsError
from widgets.tile import QtTile

logger = logging.getLogger(__name__)


def _checklist(
    parent: QWidget, items: Sequence[tuple[str, str]], checked: Sequence[str]
) -> QListWidget:
    """A list of (key, label) with check boxes, in ``checked``'s order first (a cycle's order)."""
    box = QListWidget(parent)
    by_key = dict(items)
    order = [k for k in checked if k in by_key] + [k for k, _ in items if k not in checked]
    for key in order:
        item = QListWidgetItem(by_key[key], box)
        item.setData(Qt.ItemDataRole.UserRole, key)
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked if key in checked else Qt.CheckState.Unchecked)
    box.setDragDropMode(QListWidget.DragDropMode.InternalMove)  # drag to order the cycle
    return box


def _checked(box: QListWidget) -> list[str]:
    return [
        str(box.item(i).data(Qt.ItemDataRole.UserRole))
        for i in range(box.count())
        if box.item(i).checkState() == Qt.CheckState.Checked
    ]


def set_checked(box: QListWidget, keys: Sequence[str]) -> None:
    """Check exactly ``keys``, moved to the top in that order (the cycle's order)."""
    for i in range(box.count()):
        item = box.item(i)
        on = item.data(Qt.ItemDataRole.UserRole) in keys
        item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
    for pos, key in enumerate(keys):
        for i in range(box.count()):
            if box.item(i).data(Qt.ItemDataRole.UserRole) == key:
                box.insertItem(pos, box.takeItem(i))
                break


class WallsDialog(QDialog):
    """The room's walls: pick one, set each screen's layout and layout cycle.

    Nothing is kept here: every change goes to the WallBook at once (saved, audited, and
    applied to the running wall by whoever subscribes), and the dialog re-reads the book.
    """

    def __init__(
        self,
        book: WallBook,
        library: LayoutLibrary | None,
        screens: Sequence[str],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Walls")
        self.resize(860, 520)
        self.book = book
        self.library = library
        self.screens = list(screens)  # offered for a new wall
        self.name: str | None = None
        outer = QHBoxLayout(self)
        left = QVBoxLayout()
        self.list = QListWidget(self)
        left.addWidget(self.list)
        self.buttons: dict[str, QPushButton] = {}
        for key, text, slot in (
            ("new", "New…", self.new_wall),
            ("rename", "Rename…", self.rename_wall),
            ("delete", "Delete", self.delete_wall),
        ):
            b = QPushButton(text, self)
            b.clicked.connect(lambda _=False, fn=slot: fn())
            left.addWidget(b)
            self.buttons[key] = b
        outer.addLayout(left, 1)
        right = QVBoxLayout()
        self.table = QTableWidget(0, 3, self)
        self.table.setHorizontalHeaderLabels(["Screen", "Layout", "Layout cycle"])
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.currentCellChanged.connect(lambda row, *_: self._show_cycle(row))
        right.addWidget(self.table, 2)
        right.addWidget(QLabel("Layout cycle of the selected screen (tick, drag to order):"))
        self.cycle_list = _checklist(self, [], [])
        right.addWidget(self.cycle_list, 2)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Dwell (s)"))
        self.dwell = QDoubleSpinBox(self)
        self.dwell.setRange(MIN_DWELL_S, 3600.0)
        self.dwell.setValue(30.0)
        bar.addWidget(self.dwell)
        for key, text, fn in (
            ("set_cycle", "Set cycle", self._apply_cycle),
            ("no_cycle", "No cycle", self._clear_cycle),
        ):
            b = QPushButton(text, self)
            b.clicked.connect(lambda _=False, f=fn: f())
            bar.addWidget(b)
            self.buttons[key] = b
        right.addLayout(bar)
        self.message = QLabel("", self)
        self.message.setWordWrap(True)
        right.addWidget(self.message)
        outer.addLayout(right, 3)
        self.list.currentTextChanged.connect(self._open)
        book.changed.connect(self._reload)
        self._reload()

    # -- reading the book ---------------------------------------------------------------------
    def layout_names(self) -> list[str]:
        saved = [e.name for e in self.library.entries()] if self.library is not None else []
        return [*BUILTIN_LAYOUTS, *saved]

    def _reload(self) -> None:
        names = self.book.names()
        if self.name not in names:
            self.name = self.book.running if self.book.running in names else None
            self.name = self.name or (names[0] if names else None)
        self.list.blockSignals(True)
        self.list.clear()
        for n in names:
            self.list.addItem(n)
        if self.name is not None:
            self.list.setCurrentRow(names.index(self.name))
        self.list.blockSignals(False)
        self._fill_table()

    def _open(self, name: str) -> None:
        if name and name in self.book:
            self.name = name
            self._fill_table()

    def _fill_table(self) -> None:
        row_before = max(0, self.table.currentRow())
        self.table.setRowCount(0)
        wall = self.book.get(self.name) if self.name is not None else None
        for b in ("rename", "delete", "set_cycle", "no_cycle"):
            self.buttons[b].setEnabled(wall is not None)
        self.buttons["delete"].setEnabled(wall is not None and self.name != self.book.running)
        if wall is None:
            return
        names = self.layout_names()
        for slot, ws in enumerate(wall.screens):
            self.table.insertRow(slot)
            label = QTableWidgetItem(f"{slot + 1}. {ws.label}")
            label.setFlags(label.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(slot, 0, label)
            combo = QComboBox(self.table)
            combo.addItems(names if ws.layout in names else [*names, ws.layout])
            combo.setCurrentText(ws.layout)
            combo.currentTextChanged.connect(lambda text, s=slot: self.set_screen_layout(s, text))
            self.table.setCellWidget(slot, 1, combo)
            cycle = (
                f"{', '.join(ws.cycle.layouts)} every {ws.cycle.dwell_s:g} s" if ws.cycle else "—"
            )
            item = QTableWidgetItem(cycle)
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            self.table.setItem(slot, 2, item)
        self.table.setCurrentCell(min(row_before, len(wall.screens) - 1), 0)
        self._show_cycle(self.table.currentRow())
        self.setWindowTitle(
            f"Walls — {self.name}"
            + (" (this workstation)" if self.name == self.book.running else "")
        )

    def _show_cycle(self, row: int) -> None:
        if self.name is None or not 0 <= row < len(self.book.get(self.name).screens):
            return
        ws = self.book.get(self.name).screens[row]
        layouts = [(n, n) for n in self.layout_names()]
        current = list(ws.cycle.layouts) if ws.cycle else []
        self.cycle_list.clear()
        fresh = _checklist(self, layouts, current)
        while fresh.count():
            self.cycle_list.addItem(fresh.takeItem(0))
        fresh.deleteLater()
        if ws.cycle:
            self.dwell.setValue(ws.cycle.dwell_s)

    # -- edits (also called by tests) -----------------------------------------------------------
    def _guard(self, fn: Callable[[], object]) -> bool:
        try:
            fn()
        except (WallsError, ValueError, OSError, IndexError) as e:
            self.message.setText(str(e))
            return False
        self.message.setText("")
        return True

    def select_wall(self, name: str) -> None:
        self.name = name
        self._reload()

    def set_screen_layout(self, slot: int, layout: str) -> bool:
        name = self.name
        if name is None or not layout or self.book.get(name).screens[slot].layout == layout:
            return False
        return self._guard(lambda: self.book.set_layout(name, slot, layout))

    def set_screen_cycle(self, slot: int, layouts: Sequence[str], dwell_s: float) -> bool:
        name = self.name
        if name is None:
            return False
        return self._guard(
            lambda: self.book.set_cycle(name, slot, LayoutCycle(tuple(layouts), dwell_s))
        )

    def _apply_cycle(self) -> None:
        chosen = _checked(self.cycle_list)
        if not chosen:
            self.message.setText("Tick at least one layout for the cycle (or choose No cycle).")
            return
        self.set_screen_cycle(self.table.currentRow(), chosen, self.dwell.value())

    def _clear_cycle(self) -> None:
        name, slot = self.name, self.table.currentRow()
        if name is not None and slot >= 0:
            self._guard(lambda: self.book.set_cycle(name, slot, None))

    def _ask(self, title: str, default: str = "") -> str | None:
        text, ok = QInputDialog.getText(self, title, "Name", text=default)
        return text if ok and text.strip() else None

    def new_wall(self, name: str | None = None, screens: Sequence[str] | None = None) -> bool:
        name = name or self._ask("New wall")
        chosen = list(screens or self.screens)
        if not name:
            return False
        if self._guard(lambda: self.book.create(name, chosen)):
            self.select_wall(name.strip())
            return True
        return False

    def rename_wall(self, new_name: str | None = None) -> bool:
        old = self.name
        if old is None:
            return False
        new_name = new_name or self._ask("Rename wall", old)
        if new_name and self._guard(lambda: self.book.rename(old, new_name)):
            self.select_wall(new_name.strip())
            return True
        return False

    def delete_wall(self) -> bool:
        name = self.name
        if name is None:
            return False
        if self._guard(lambda: self.book.delete(name)):
            self.name = None
            self._reload()
            return True
        return False


class CameraSequenceDialog(QDialog):
    """A tile's camera sequence: which cameras, in which order, for how long each."""

    def __init__(
        self,
        cameras: Sequence[tuple[str, str]],  # (id, label)
        current: CameraCycle | None,
        title: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        box = QVBoxLayout(self)
        box.addWidget(QLabel("Cameras of the sequence (tick, drag to order):"))
        self.list = _checklist(self, cameras, list(current.cameras) if current else [])
        box.addWidget(self.list)
        row = QHBoxLayout()
        row.addWidget(QLabel("Dwell (s)"))
        self.dwell = QDoubleSpinBox(self)
        self.dwell.setRange(MIN_DWELL_S, 3600.0)
        self.dwell.setValue(current.dwell_s if current else 10.0)
        row.addWidget(self.dwell)
        box.addLayout(row)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.Reset,
            self,
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        reset = buttons.button(QDialogButtonBox.StandardButton.Reset)
        reset.setText("No sequence")
        reset.clicked.connect(lambda: (set_checked(self.list, []), self.accept()))
        box.addWidget(buttons)

    def cycle(self) -> CameraCycle | None:
        """What was chosen; None: no sequence (nothing ticked)."""
        cams = _checked(self.list)
        return CameraCycle(tuple(cams), self.dwell.value()) if cams else None


class TileSequenceMenu(QObject):
    """ "Camera sequence…" in a tile's context menu (widgets.export.TileActions.entries).

    Sequences belong to saved layouts (the library stores them per tile), so the entry asks
    for the layout to be saved first when the wall shows a built-in or unsaved one.
    """

    def __init__(
        self,
        model: WallModel,
        library: LayoutLibrary,
        site: Site,
        user: User | None,
        parent: QWidget,
        status: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.library = library
        self.site = site
        self.user = user
        self.parent_widget = parent
        self._status = status or (lambda text: logger.info("%s", text))
        self.dialog: CameraSequenceDialog | None = None

    def add_to(self, menu: QMenu, tile: QtTile, _pane: int = 0) -> None:
        entry = self.library.get(self.model.current)
        text = (
            "Camera sequence…" if entry is not None else "Camera sequence… (save the layout first)"
        )
        act = QAction(text, menu)
        act.setEnabled(can(self.user, EDIT_LAYOUTS) and entry is not None)
        act.triggered.connect(lambda _=False, i=tile.index: self.open(i))
        menu.addAction(act)

    def open(self, index: int) -> CameraSequenceDialog | None:
        """The sequence dialog for tile ``index`` (0-based), non-blocking; None if not allowed."""
        entry = self.library.get(self.model.current)
        if not can(self.user, EDIT_LAYOUTS) or entry is None:
            return None
        cams = [(c.id, f"{c.id} — {c.name}") for c in self.site.cameras]
        dlg = CameraSequenceDialog(
            cams, entry.cycles.get(index), f"Camera sequence — {entry.name}, tile {index + 1}",
            self.parent_widget,
        )  # fmt: skip
        dlg.accepted.connect(lambda: self._apply(entry.name, index, dlg.cycle()))
        dlg.open()
        self.dialog = dlg
        return dlg

    def _apply(self, name: str, index: int, cycle: CameraCycle | None) -> None:
        try:
            self.library.set_cycle(name, index, cycle)
        except (LibraryError, OSError) as e:
            self._status(f"Camera sequence not saved: {e}")
            return
        self._status(
            f"Tile {index + 1} of {name}: "
            + (
                f"{len(cycle.cameras)} cameras every {cycle.dwell_s:g} s"
                if cycle
                else "no sequence"
            )
        )


def may_configure_walls(user: User | None) -> bool:
    return can(user, EDIT_WALLS)
