"""The wall offscreen against a real RTSP server: frames, drag and drop, maximise, status."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from app.health import StatusBoard
from app.layouts.store import WallModel, load_wall_state
from app.site.loader import load_site
from app.streams.engine import StreamEngine
from app.streams.status import StreamState
from app.streams.worker import StreamOptions
from tests.sites import write_rtsp_site
from widgets.bridge import MainThreadBridge
from widgets.main_window import MainWindow
from widgets.tile import CAMERA_MIME, TILE_MIME


@pytest.fixture
def window(qtbot, rtsp_server, tmp_path: Path):
    site = load_site(
        write_rtsp_site(tmp_path / "site.yaml", f"rtsp://127.0.0.1:{rtsp_server.port}")
    )
    engine = StreamEngine(StreamOptions(timeout=2.0, backoff_initial=0.2, backoff_max=1.0))
    board = StatusBoard(engine)
    model = WallModel(load_wall_state(tmp_path / "wall.json"), [c.id for c in site.cameras])
    win = MainWindow(site, model, engine, board, MainThreadBridge())
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    yield win, engine, model
    win.close()
    assert engine.shutdown(2.0) == []


def _drop(widget, mime_type: str, payload: str) -> None:
    mime = QMimeData()
    mime.setData(mime_type, payload.encode())
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    event = QDropEvent(
        centre,
        Qt.DropAction.MoveAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.dropEvent(event)


def test_frames_are_shown_in_tiles(window, qtbot) -> None:
    win, _engine, model = window
    assert model.current == "2x2"
    tiles = win.wall.tiles
    qtbot.waitUntil(lambda: tiles[0].presented >= 10 and tiles[1].presented >= 10, timeout=15000)
    image = tiles[0].grab().toImage()
    centre = image.pixelColor(image.width() // 2, image.height() // 2)
    assert centre.value() > 20  # a picture, not the black background
    assert tiles[0].feed.status.state == StreamState.LIVE
    lat = tiles[0].latency_ms()
    assert lat is not None
    assert 0 < lat[0] < 1000


def test_dead_camera_tile_says_offline_with_reason(window, qtbot) -> None:
    win, _engine, _model = window
    dead = win.wall.tiles[3]
    assert dead.camera is not None
    assert dead.camera.id == "dead"
    qtbot.waitUntil(lambda: dead.feed.status.state == StreamState.OFFLINE, timeout=10000)
    assert dead.feed.status.reason == "connection refused"
    assert dead.feed.status.next_retry_at is not None
    qtbot.waitUntil(lambda: win.tree.camera_state("dead") == "offline", timeout=5000)


def test_drag_camera_onto_tile_and_swap_tiles(window, qtbot) -> None:
    win, _engine, model = window
    tiles = win.wall.tiles
    _drop(tiles[3], CAMERA_MIME, "cam2")
    assert model.layout.tiles[3].camera_id == "cam2"
    assert tiles[3].camera is not None
    assert tiles[3].camera.id == "cam2"
    _drop(tiles[0], TILE_MIME, "3")
    assert [t.camera_id for t in model.layout.tiles][:4] == ["cam2", "cam2", "cam3", "cam1"]


def test_maximise_hides_other_tiles_and_stops_their_decoding(window, qtbot) -> None:
    win, engine, model = window
    tiles = win.wall.tiles
    qtbot.waitUntil(lambda: tiles[2].presented > 0, timeout=15000)
    open_before = set(engine.open_keys())
    qtbot.mouseDClick(tiles[0], Qt.MouseButton.LeftButton)
    assert model.layout.maximized == 0
    assert not tiles[1].isVisible()
    # The other tiles released their streams: nothing decodes for a hidden tile.
    qtbot.waitUntil(lambda: len(engine.open_keys()) == 1, timeout=5000)
    assert set(engine.open_keys()) < open_before
    # A maximised tile is large enough for the main stream.
    qtbot.waitUntil(
        lambda: tiles[0].feed.stream is not None and tiles[0].feed.stream.url.endswith("/main"),
        timeout=5000,
    )
    qtbot.waitUntil(lambda: tiles[0].feed.role == "main", timeout=15000)
    qtbot.keyClick(win.wall, Qt.Key.Key_Escape)
    assert model.layout.maximized is None
    qtbot.waitUntil(
        lambda: tiles[1].presented > 0 or tiles[1].feed.status.state == StreamState.LIVE,
        timeout=15000,
    )


def test_keyboard_moves_focus_and_layout_switches(window, qtbot) -> None:
    win, _engine, model = window
    win.wall.setFocus()
    qtbot.keyClick(win.wall, Qt.Key.Key_Right)
    assert model.layout.focused == 1
    qtbot.keyClick(win.wall, Qt.Key.Key_Down)
    assert model.layout.focused == 3
    win.layout_combo.setCurrentText("3x3")
    assert model.current == "3x3"
    assert len(win.wall.tiles) == 9
    QApplication.processEvents()
    assert win.wall.tiles[0].camera is not None


def test_tree_search_filters_cameras(window) -> None:
    win, _engine, _model = window
    tree = win.tree
    tree.search.setText("hevc")
    visible = []
    proxy = tree.proxy
    for r in range(proxy.rowCount()):
        group = proxy.index(r, 0)
        for c in range(proxy.rowCount(group)):
            visible.append(proxy.index(c, 0, group).data())
    assert visible == ["Camera three HEVC"]
