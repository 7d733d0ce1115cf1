"""Snapshot export: PNG at the decoded size, JSON sidecar with SHA-256, role check, audit."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QContextMenuEvent, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app import users
from app.audit import AuditLog, read_audit
from app.export import ExportRefused, SnapshotExporter, SnapshotSource, verify, write_snapshot
from app.health import StatusBoard
from app.layouts import ops
from app.layouts.model import WallState
from app.layouts.store import WallModel
from app.site.loader import load_site
from app.streams.engine import StreamEngine
from app.streams.frames import PixelFormat, VideoFrame
from app.streams.worker import StreamOptions
from app.users import Role, User
from tests.sites import write_rtsp_site
from widgets.bridge import MainThreadBridge
from widgets.export import TileActions, add_export_action
from widgets.main_window import MainWindow

SOURCE = SnapshotSource("cam07", "Piazza del Comune", 2, "Nord", "main", "main", 3)


def _bgra(w: int, h: int) -> VideoFrame:
    data = np.zeros((h, w, 4), dtype=np.uint8)
    data[:, : w // 2] = (0, 0, 255, 255)  # left half red (B, G, R, A)
    data[:, w // 2 :] = (255, 0, 0, 255)  # right half blue
    return VideoFrame(1, w, h, PixelFormat.BGRA, data, w, h, time.monotonic())


def _png(path: Path) -> QImage:
    image = QImage()
    assert image.loadFromData(path.read_bytes(), "PNG")
    return image


def test_png_and_sidecar_with_sha256(qapp, tmp_path: Path) -> None:
    result = write_snapshot(_bgra(64, 36), SOURCE, tmp_path, "rossi", "sala-1", time.time())
    image = _png(result.png)
    assert (image.width(), image.height()) == (64, 36)
    assert image.pixelColor(2, 2).getRgb()[:3] == (255, 0, 0)
    assert image.pixelColor(60, 30).getRgb()[:3] == (0, 0, 255)
    meta = json.loads(result.sidecar.read_text())
    assert meta["camera"] == {"id": "cam07", "name": "Piazza del Comune"}
    assert meta["optic"] == {"number": 2, "name": "Nord"}
    assert (meta["user"], meta["workstation"]) == ("rossi", "sala-1")
    assert meta["file"] == result.png.name
    assert meta["full_resolution"] is True
    assert meta["frame_time"][:4].isdigit()
    assert meta["exported_at"]
    assert len(meta["sha256"]) == 64
    assert verify(result.sidecar)
    with result.png.open("r+b") as fh:  # one byte changed: the sidecar no longer matches
        fh.seek(-20, 2)
        fh.write(b"\x00")
    assert not verify(result.sidecar)
    # A second export in the same instant never overwrites the first.
    again = write_snapshot(_bgra(64, 36), SOURCE, tmp_path, "rossi", "sala-1", time.time())
    assert again.png != result.png


def test_yuv_frames_are_converted_at_their_full_size(qapp, tmp_path: Path) -> None:
    w, h = 64, 32
    data = np.full((h * 3 // 2, w), 128, dtype=np.uint8)
    data[:h] = 235  # white luma, neutral chroma
    frame = VideoFrame(5, w, h, PixelFormat.YUV420P, data, w, h, time.monotonic())
    result = write_snapshot(frame, SOURCE, tmp_path, "rossi", "sala-1", time.time())
    image = _png(result.png)
    assert (image.width(), image.height()) == (w, h)
    assert min(image.pixelColor(10, 10).getRgb()[:3]) > 240


def test_exporter_checks_the_role_and_audits_each_export(qapp, tmp_path, monkeypatch) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", "bianchi", "sala-2")
    exporter = SnapshotExporter(tmp_path / "exports", User("bianchi", Role.OPERATOR), log)
    done = exporter.export(_bgra(32, 16), SOURCE).result(timeout=30)
    assert done.png.exists()
    monkeypatch.setitem(users.PERMISSIONS, Role.OPERATOR, frozenset({users.USE_LAYOUTS}))
    assert not exporter.allowed
    with pytest.raises(ExportRefused):
        exporter.export(_bgra(32, 16), SOURCE)
    exporter.close()
    log.close()
    entries = read_audit(tmp_path / "audit.jsonl").entries
    assert [e["action"] for e in entries] == ["export"]
    d = entries[0]["details"]
    assert (d["camera"], d["optic"], d["sha256"]) == ("cam07", 2, done.sha256)
    assert d["file"] == str(done.png)
    assert (entries[0]["user"], entries[0]["workstation"]) == ("bianchi", "sala-2")


@pytest.fixture
def live_window(qtbot, rtsp_server, tmp_path: Path):
    site = load_site(
        write_rtsp_site(tmp_path / "site.yaml", f"rtsp://127.0.0.1:{rtsp_server.port}")
    )
    engine = StreamEngine(StreamOptions(timeout=2.0, backoff_initial=0.2, backoff_max=1.0))
    model = WallModel(WallState(), [c.id for c in site.cameras])
    model.apply(lambda lay: ops.assign(lay, 0, "cam1"))
    bridge = MainThreadBridge()
    win = MainWindow(site, model, engine, StatusBoard(engine), bridge)
    qtbot.addWidget(win)
    win.resize(700, 450)  # small tiles: the picture on screen is scaled below the stream's
    win.show()
    log = AuditLog(tmp_path / "audit.jsonl", "bianchi", "sala-2")
    exporter = SnapshotExporter(tmp_path / "exports", User("bianchi", Role.OPERATOR), log)
    actions = TileActions(win.wall, engine, exporter, bridge)
    yield win, actions, tmp_path
    exporter.close()
    log.close()
    win.close()
    assert engine.shutdown(2.0) == []


def test_ctrl_shift_s_exports_the_focused_tile_at_the_stream_size(live_window, qtbot) -> None:
    win, actions, tmp_path = live_window
    add_export_action(win, actions)
    tile = win.wall.tiles[0]
    qtbot.waitUntil(lambda: tile.presented > 0, timeout=20000)
    shown = tile.panes[0].surface._frame
    assert shown is not None
    assert shown.width < shown.source_width
    win.activateWindow()
    qtbot.waitActive(win)
    QTest.keyClick(
        win.windowHandle(), Qt.Key.Key_S,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )  # fmt: skip
    qtbot.waitUntil(lambda: len(actions.results) == 1, timeout=20000)
    result = actions.results[0]
    assert result.full_resolution
    image = _png(result.png)
    assert (image.width(), image.height()) == (shown.source_width, shown.source_height)
    meta = json.loads(result.sidecar.read_text())
    assert (meta["camera"]["id"], meta["optic"]["number"], meta["tile"]) == ("cam1", 1, 1)
    assert meta["stream"] in ("main", "sub")
    assert verify(result.sidecar)
    # The tile goes back to scaled frames once the export has its picture.
    qtbot.waitUntil(
        lambda: tile.panes[0].surface._frame.width < tile.panes[0].surface._frame.source_width,
        timeout=20000,
    )
    entries = read_audit(tmp_path / "audit.jsonl").entries
    assert [e["action"] for e in entries] == ["export"]
    assert entries[0]["details"]["sha256"] == result.sha256


def test_the_tile_context_menu_offers_the_export(live_window, qtbot) -> None:
    win, actions, _tmp = live_window
    tile = win.wall.tiles[0]
    qtbot.waitUntil(lambda: tile.presented > 0, timeout=20000)
    pos = tile.rect().center()
    event = QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, pos, tile.mapToGlobal(pos), Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(tile, event)  # the tile ignores it; the wall's filter opens the menu
    assert actions.menu is not None
    qtbot.waitUntil(actions.menu.isVisible, timeout=5000)
    export = next(a for a in actions.menu.actions() if a.text() == "Export snapshot")
    assert export.isEnabled()
    actions.menu.hide()
    export.trigger()
    qtbot.waitUntil(lambda: len(actions.results) == 1, timeout=20000)
    assert actions.results[0].meta["camera"]["id"] == "cam1"
    # An empty tile has nothing to export; a dead camera's tile has no picture to export.
    win.wall.model.apply(lambda lay: ops.assign(lay, 2, None))
    empty = win.wall.tiles[2]
    assert empty.camera is None
    menu = actions.build_menu(empty)
    assert not next(a for a in menu.actions() if a.text() == "Export snapshot").isEnabled()
    assert not actions.export_tile(empty)
    dead = win.wall.tiles[3]
    assert dead.camera is not None
    assert dead.camera.id == "dead"
    assert not actions.export_tile(dead)
    assert len(actions.results) == 1
    assert actions.tile_at(QPoint(-5, -5)) is None
