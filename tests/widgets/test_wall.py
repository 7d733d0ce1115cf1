"""The wall offscreen against a real RTSP server: frames, drag and drop, maximise, status."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication

from app.layouts.store import WallModel, load_wall_state
from app.site.loader import load_site
from app.streams.engine import StreamEngine
from app.streams.status import StreamState
from app.streams.worker import StreamOptions
from tests.sites import write_rtsp_site
from tests.widgets.windows import show_main_window
from widgets.camera_tree import CAMERA_ID_ROLE
from widgets.tile import CAMERA_MIME, TILE_MIME


@pytest.fixture
def window(qtbot, rtsp_server, tmp_path: Path):
    site = load_site(
        write_rtsp_site(tmp_path / "site.yaml", f"rtsp://127.0.0.1:{rtsp_server.port}")
    )
    engine = StreamEngine(StreamOptions(timeout=2.0, backoff_initial=0.2, backoff_max=1.0))
    model = WallModel(load_wall_state(tmp_path / "wall.json"), [c.id for c in site.cameras])
    win = show_main_window(qtbot, site, engine, model)
    yield win, engine, model
    win.close()
    assert engine.shutdown(2.0) == []


def _drop(widget, mime_type: str, payload: str) -> None:
    mime = QMimeData()
    mime.setData(mime_type, payload.encode())
    _drop_mime(widget, mime)


def _drop_mime(widget, mime: QMimeData) -> None:
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
    # What the tile says: the state with its start time, the reason, when the next retry comes.
    overlay = dead.overlay
    qtbot.waitUntil(lambda: len(overlay.notice) == 3, timeout=10000)
    assert re.fullmatch(r"offline since \d\d:\d\d:\d\d", overlay.notice[0]), overlay.notice
    assert overlay.notice[1] == "connection refused"
    assert re.fullmatch(r"next retry in \d+ s|retrying now", overlay.notice[2]), overlay.notice
    # The notice is drawn: white text over the dimmed centre of the overlay.
    image = overlay.cached_image()
    w, h = image.width(), image.height()
    band = [
        image.pixelColor(x, y) for x in range(w // 4, 3 * w // 4) for y in range(h // 3, 2 * h // 3)
    ]
    assert any(c.red() > 200 and c.green() > 200 and c.blue() > 200 for c in band)
    assert any(c.alpha() > 100 and c.value() < 40 for c in band)  # the dimming veil


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


def test_ctrl_i_toggles_the_statistics_overlay(window, qtbot) -> None:
    win, _engine, _model = window
    tile = win.wall.tiles[0]
    qtbot.waitUntil(lambda: tile.feed.stats() is not None and tile.presented > 5, timeout=15000)
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    before = tile.overlay.cached_image().copy()
    assert not tile.show_stats
    qtbot.keyClick(win, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert win.stats_action.isChecked()
    assert win.wall.show_stats
    assert tile.show_stats
    qtbot.waitUntil(lambda: tile.overlay.cached_image() != before, timeout=5000)
    qtbot.keyClick(win, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert not win.stats_action.isChecked()
    assert not tile.show_stats


def test_f11_toggles_full_screen(window, qtbot) -> None:
    win, _engine, _model = window
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)
    assert not win.isFullScreen()
    qtbot.keyClick(win, Qt.Key.Key_F11)
    qtbot.waitUntil(win.isFullScreen, timeout=5000)
    qtbot.keyClick(win, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: not win.isFullScreen(), timeout=5000)


def test_double_click_maximises_and_a_second_restores(window, qtbot) -> None:
    win, _engine, model = window
    tiles = win.wall.tiles
    qtbot.mouseDClick(tiles[2], Qt.MouseButton.LeftButton)
    assert model.layout.maximized == 2
    qtbot.waitUntil(lambda: not tiles[0].isVisible(), timeout=5000)
    qtbot.waitUntil(lambda: tiles[2].width() > win.wall.width() * 0.9, timeout=5000)
    qtbot.mouseDClick(tiles[2], Qt.MouseButton.LeftButton)
    assert model.layout.maximized is None
    qtbot.waitUntil(lambda: all(t.isVisible() for t in tiles), timeout=5000)
    qtbot.waitUntil(lambda: tiles[2].width() < win.wall.width() * 0.6, timeout=5000)


def test_drag_from_the_camera_tree_onto_a_tile(window, qtbot) -> None:
    """The tree model's own mimeData, as a real drag from the tree carries it."""
    win, _engine, model = window
    tree = win.tree
    found = tree.model.match(
        tree.model.index(0, 0), CAMERA_ID_ROLE, "cam3", 1, Qt.MatchFlag.MatchRecursive
    )
    assert found
    mime = tree.model.mimeData([found[0]])
    assert CAMERA_MIME in mime.formats()
    target = win.wall.tiles[0]
    assert target.camera is not None
    assert target.camera.id == "cam1"
    _drop_mime(target, mime)
    assert model.layout.tiles[0].camera_id == "cam3"
    qtbot.waitUntil(lambda: target.camera is not None and target.camera.id == "cam3", timeout=5000)
    qtbot.waitUntil(lambda: target.feed.status.state == StreamState.LIVE, timeout=15000)


def test_closing_the_window_joins_workers_blocked_on_frozen_cameras(
    qtbot, rtsp_server, freezing_proxy, tmp_path: Path
) -> None:
    """The real close path (window close releases the feeds, then shutdown) within 2 s.

    Every camera goes through a proxy that freezes mid-stream; with a 10 s socket timeout only
    the abort of stop() can end the workers' blocked reads in time.
    """
    proxy = freezing_proxy("127.0.0.1", rtsp_server.port)
    base = proxy.url("/").rstrip("/")
    site = load_site(write_rtsp_site(tmp_path / "site.yaml", base, extra_dead=False))
    engine = StreamEngine(StreamOptions(timeout=10.0, stall_after=1.0))
    try:
        model = WallModel(load_wall_state(tmp_path / "wall.json"), [c.id for c in site.cameras])
        win = show_main_window(qtbot, site, engine, model)
        tiles = [t for t in win.wall.tiles if t.camera is not None]
        assert len(tiles) >= 2
        qtbot.waitUntil(lambda: all(t.presented >= 5 for t in tiles), timeout=15000)
        workers = [engine.worker(key) for key in engine.open_keys()]
        assert len(workers) >= 2
        proxy.freeze()
        qtbot.waitUntil(
            lambda: all(t.feed.status.state == StreamState.STALLED for t in tiles), timeout=10000
        )
        started = time.monotonic()
        win.close()
        late = engine.shutdown(2.0)
        took = time.monotonic() - started
    finally:
        engine.shutdown(2.0)
    assert late == []
    assert took < 2.0
    assert not any(w is not None and w.alive for w in workers)
