"""QtCameraTree: cameras by neighbourhood, with search, status icons and drag to the wall."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import (
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from app.health import StatusBoard
from app.site.model import Site
from app.streams.status import CameraStatus, StreamStatus
from widgets.bridge import MainThreadBridge
from widgets.style import state_colour
from widgets.tile import CAMERA_MIME

CAMERA_ID_ROLE = Qt.ItemDataRole.UserRole + 1
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2

_icons: dict[str, QIcon] = {}


def status_icon(state: str) -> QIcon:
    if state not in _icons:
        pm = QPixmap(12, 12)
        pm.fill(QColor(0, 0, 0, 0))
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(state_colour(state))
        p.setPen(QColor(30, 30, 30))
        p.drawEllipse(1, 1, 10, 10)
        p.end()
        _icons[state] = QIcon(pm)
    return _icons[state]


class _CameraModel(QStandardItemModel):
    def mimeTypes(self) -> list[str]:
        return [CAMERA_MIME]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        mime = QMimeData()
        for index in indexes:
            cid = index.data(CAMERA_ID_ROLE)
            if cid:
                mime.setData(CAMERA_MIME, str(cid).encode())
                mime.setText(str(cid))
                break
        return mime


class QtCameraTree(QWidget):
    """The site's cameras by neighbourhood. The model is the Site plus the StatusBoard.

    Signals:
        camera_activated(str camera_id): double-click or Enter on a camera.
    """

    camera_activated = Signal(str)

    def __init__(
        self,
        site: Site,
        board: StatusBoard,
        bridge: MainThreadBridge,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._site = site
        self.model = _CameraModel(self)
        self._items: dict[str, QStandardItem] = {}
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search cameras, places, neighbourhoods…")
        self.search.setClearButtonEnabled(True)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterRole(Qt.ItemDataRole.ToolTipRole)
        self.view = QTreeView(self)
        self.view.setModel(self.proxy)
        self.view.setHeaderHidden(True)
        self.view.setDragEnabled(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.search)
        layout.addWidget(self.view)
        self._populate()
        self.view.expandAll()
        self.search.textChanged.connect(self._on_search)
        self.view.activated.connect(self._on_activated)
        self.view.doubleClicked.connect(self._on_activated)
        board.camera_status_changed.connect(bridge.wrap(self._on_camera_status, owner=self))

    def _populate(self) -> None:
        root = self.model.invisibleRootItem()
        for hood in self._site.neighbourhoods:
            cams = [c for c in self._site.cameras if c.neighbourhood == hood.id]
            group = QStandardItem(f"{hood.name} ({len(cams)})")
            group.setToolTip(hood.name)
            group.setDragEnabled(False)
            for cam in cams:
                item = QStandardItem(status_icon("idle"), cam.name)
                item.setData(cam.id, CAMERA_ID_ROLE)
                item.setData("idle", STATUS_ROLE)
                # The tooltip doubles as the search text: name, place, kind, neighbourhood, id.
                item.setToolTip(f"{cam.name} — {cam.location}\n{cam.kind} · {hood.name} · {cam.id}")
                for optic in cam.optics if cam.is_multi_optic else ():
                    child = QStandardItem(f"optic {optic.index + 1}: {optic.name}")
                    child.setData(cam.id, CAMERA_ID_ROLE)
                    child.setToolTip(item.toolTip())
                    item.appendRow(child)
                group.appendRow(item)
                self._items[cam.id] = item
            root.appendRow(group)

    def _on_search(self, text: str) -> None:
        self.proxy.setFilterFixedString(text)
        self.view.expandAll()

    def _on_activated(self, index: QModelIndex | QPersistentModelIndex) -> None:
        cid = index.data(CAMERA_ID_ROLE)
        if cid:
            self.camera_activated.emit(str(cid))

    def _on_camera_status(
        self, camera_id: str, summary: CameraStatus, status: StreamStatus
    ) -> None:
        item = self._items.get(camera_id)
        if item is None:
            return
        state = str(summary)
        if item.data(STATUS_ROLE) == state:
            return  # only the reason or the retry time changed: nothing the tree shows
        item.setData(state, STATUS_ROLE)
        item.setIcon(status_icon(state))

    def camera_state(self, camera_id: str) -> str:
        return str(self._items[camera_id].data(STATUS_ROLE))
