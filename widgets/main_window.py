"""MainWindow: camera tree beside the wall, layout switching, full screen and statistics toggle."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QComboBox, QDockWidget, QLabel, QMainWindow, QToolBar

from app.health import StatusBoard
from app.layouts.library import LayoutLibrary
from app.layouts.model import BUILTIN_LAYOUTS
from app.layouts.store import WallModel
from app.site.model import Site
from app.streams.engine import StreamEngine
from widgets.bridge import MainThreadBridge
from widgets.camera_tree import QtCameraTree
from widgets.map_view import add_map_dock
from widgets.wall import QtWall
from widgets.walls import recall_layout


class MainWindow(QMainWindow):
    """The operator's window. Closing it stops every stream (see ``widgets.main``)."""

    def __init__(
        self,
        site: Site,
        wall_model: WallModel,
        engine: StreamEngine,
        board: StatusBoard,
        bridge: MainThreadBridge,
        title_suffix: str = "",
    ) -> None:
        super().__init__()
        self.setWindowTitle(f"Torrazzo — {site.name}{title_suffix}")
        self.resize(1600, 950)
        self.wall = QtWall(wall_model, site, engine, board, bridge, self)
        self.setCentralWidget(self.wall)
        self.tree = QtCameraTree(site, board, bridge, self)
        dock = QDockWidget("Cameras", self)
        dock.setObjectName("cameras")
        dock.setWidget(self.tree)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self._cameras = {c.id: c for c in site.cameras}
        self.library: LayoutLibrary | None = None  # set_library: saved layouts in the chooser
        self.tree.camera_activated.connect(self._on_camera_activated)
        self._build_toolbar(wall_model)
        self.map = add_map_dock(self, site, board, bridge)  # map dock + Ctrl+M (map_view.py)
        self.closing_hooks: list[object] = []
        self.status_label = QLabel(self)
        self.statusBar().addPermanentWidget(self.status_label)
        wall_model.changed.connect(lambda _layout: self._sync_layout_combo())

    def _build_toolbar(self, model: WallModel) -> None:
        bar = QToolBar("Layout", self)
        bar.setObjectName("layout")
        self.addToolBar(bar)
        self.layout_combo = QComboBox(self)
        self.layout_combo.setMinimumContentsLength(12)
        self._fill_layout_combo(model)
        self.layout_combo.currentIndexChanged.connect(self._on_layout_chosen)
        bar.addWidget(QLabel(" Layout "))
        bar.addWidget(self.layout_combo)
        group = QActionGroup(self)
        view_menu = self.menuBar().addMenu("&View")
        for i, name in enumerate(BUILTIN_LAYOUTS):
            act = QAction(f"Layout {name}", self, checkable=True)
            if i < 9:
                act.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            act.triggered.connect(lambda _=False, n=name: model.set_layout(n))
            group.addAction(act)
            view_menu.addAction(act)
        view_menu.addSeparator()
        self.fullscreen_action = QAction("Full screen", self, checkable=True)
        self.fullscreen_action.setShortcut(QKeySequence(Qt.Key.Key_F11))
        self.fullscreen_action.triggered.connect(self.toggle_fullscreen)
        view_menu.addAction(self.fullscreen_action)
        self.stats_action = QAction("Stream statistics", self, checkable=True)
        self.stats_action.setShortcut(QKeySequence("Ctrl+I"))
        self.stats_action.triggered.connect(self.wall.set_show_stats)
        view_menu.addAction(self.stats_action)
        bar.addAction(self.stats_action)
        bar.addAction(self.fullscreen_action)

    def set_library(self, library: LayoutLibrary) -> None:
        """List the site's saved layouts in the chooser too, and follow the library's changes
        (here or, through its file, on another workstation)."""
        self.library = library
        library.changed.connect(lambda: self._fill_layout_combo(self.wall.model))
        self._fill_layout_combo(self.wall.model)

    def _fill_layout_combo(self, model: WallModel) -> None:
        # Item data is the layout's name; built-in ones first, then the saved ones by number.
        combo = self.layout_combo
        combo.blockSignals(True)
        combo.clear()
        for name in BUILTIN_LAYOUTS:
            combo.addItem(name, name)
        entries = self.library.entries() if self.library is not None else []
        if entries:
            combo.insertSeparator(combo.count())
        for e in entries:
            combo.addItem(f"{e.number}. {e.name}", e.name)
        self._select_current(model.current)
        combo.blockSignals(False)

    def _select_current(self, name: str) -> None:
        combo = self.layout_combo
        index = combo.findData(name)
        if index < 0:  # shown but not listed (deleted from the library meanwhile): say so
            combo.addItem(name, name)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    def _on_layout_chosen(self, index: int) -> None:
        name = self.layout_combo.itemData(index)
        if isinstance(name, str) and name != self.wall.model.current:
            recall_layout(self.wall.model, name, self.library)

    def _sync_layout_combo(self) -> None:
        if self.layout_combo.currentData() != self.wall.model.current:
            self.layout_combo.blockSignals(True)
            self._select_current(self.wall.model.current)
            self.layout_combo.blockSignals(False)

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()

    def _on_camera_activated(self, camera_id: str) -> None:
        camera = self._cameras.get(camera_id)
        if camera is not None:
            self.wall.put_camera(camera)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.wall.close_feeds()
        super().closeEvent(event)
