"""The map view offscreen: live recolouring, click/drag/double-click into the wall, filters,
zoom and pan, attention, backgrounds (tiles, XYZ, floor plan, broken files), editing,
full-window mode, and a screenshot of the demo map for review."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QDropEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from app.health import StatusBoard
from app.layouts import ops
from app.layouts.store import WallModel, load_wall_state
from app.maps.model import MapModel
from app.maps.projection import GeoProjection
from app.maps.tiles import MBTilesSource, XYZSource
from app.site.loader import REFERENCE_SITE, load_site
from app.streams.engine import StreamEngine
from app.streams.status import CameraStatus, StreamState, StreamStatus
from app.streams.worker import StreamOptions
from tests.maps.helpers import png, tile_colour, tile_server, write_mbtiles, write_small_site
from widgets.bridge import MainThreadBridge
from widgets.main_window import MainWindow
from widgets.map_view import ICON_R, QtMapView
from widgets.style import state_colour
from widgets.tile import CAMERA_MIME

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def engine():
    eng = StreamEngine(StreamOptions(timeout=1.0, backoff_initial=5.0, backoff_max=5.0))
    yield eng
    assert eng.shutdown(2.0) == []


def _make_view(qtbot, model: MapModel, size=(900, 650), **kw) -> QtMapView:
    view = QtMapView(model, MainThreadBridge(), **kw)
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.fit()
    return view


def _pixel(view: QtMapView, pos: QPoint) -> QColor:
    return view.view.viewport().grab().toImage().pixelColor(pos)


def _close(a: QColor, b: QColor, tol: int = 12) -> bool:
    return max(abs(a.red() - b.red()), abs(a.green() - b.green()), abs(a.blue() - b.blue())) <= tol


def _mouse(widget, kind: QEvent.Type, pos: QPoint, buttons=Qt.MouseButton.LeftButton, mods=None):
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else buttons
    held = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else buttons
    event = QMouseEvent(
        kind,
        QPointF(pos),
        QPointF(widget.mapToGlobal(pos)),
        button,
        held,
        mods or Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def _drive(board: StatusBoard, camera_id: str, state: StreamState, reason: str = "") -> None:
    """A stream status event from a worker thread, as the engine sends it."""
    key = f"http://127.0.0.1:9/{camera_id}.ts"
    board.bind(key, camera_id)
    t = threading.Thread(
        target=board.on_stream_status, args=(key, StreamStatus.now(state, reason)), daemon=True
    )
    t.start()
    t.join(5)


def test_status_change_recolours_the_marker(qtbot, engine) -> None:
    site = load_site(REFERENCE_SITE)
    board = StatusBoard(engine)
    model = MapModel(site, board)
    view = _make_view(qtbot, model)
    cam = "cam23"  # a fixed dome in Po, away from other markers
    view.centre_on(cam)
    view.zoom_by(4)
    view.centre_on(cam)
    qtbot.wait(10)
    centre = view.marker_view_pos(cam)
    probe = centre + QPoint(round(ICON_R * 0.6), 0)  # inside the body, off the white lens
    assert _close(_pixel(view, probe), state_colour("idle"))
    for state, colour in [
        (StreamState.LIVE, "live"),
        (StreamState.STALLED, "stalled"),
        (StreamState.OFFLINE, "offline"),
        (StreamState.UNAUTHORIZED, "unauthorized"),
        (StreamState.CONNECTING, "connecting"),
    ]:
        _drive(board, cam, state, "connection refused")
        qtbot.waitUntil(lambda c=colour: view.markers[cam].state.status == c, timeout=10000)
        view.blink_on = True  # offline blinks; compare in its "on" phase
        view.markers[cam].update()
        assert _close(_pixel(view, probe), state_colour(colour)), colour
    assert view.marker_colour(cam) == state_colour("connecting")
    label = view.hood_labels["po"]
    assert label.text == "Po 0/7 live"
    _drive(board, cam, StreamState.LIVE)
    qtbot.waitUntil(lambda: label.text == "Po 1/7 live", timeout=10000)


def test_hover_shows_name_location_purpose_and_status(qtbot) -> None:
    model = MapModel(load_site(REFERENCE_SITE))
    view = _make_view(qtbot, model)
    model.set_status(
        "cam01", CameraStatus.OFFLINE, StreamStatus.now(StreamState.OFFLINE, "connection refused")
    )
    tip = view.markers["cam01"].toolTip()
    assert "Piazza della Sorgente" in tip
    assert "Cavatigozzi" in tip
    assert "crime prevention, investigations, road safety" in tip
    assert "offline: connection refused, since" in tip
    hovered: list[str] = []
    view.hovered.connect(hovered.append)
    pos = view.marker_view_pos("cam01")
    _mouse(view.view.viewport(), QEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton)
    qtbot.waitUntil(lambda: hovered == ["cam01"], timeout=10000)


@pytest.fixture
def window(qtbot, engine, tmp_path: Path):
    site = load_site(write_small_site(tmp_path / "site.yaml"))
    board = StatusBoard(engine)
    model = WallModel(load_wall_state(tmp_path / "wall.json"), [c.id for c in site.cameras])
    win = MainWindow(site, model, engine, board, MainThreadBridge())
    qtbot.addWidget(win)
    win.resize(1400, 850)
    win.show()
    qtbot.waitExposed(win)
    QApplication.processEvents()
    win.map.view.fit()
    yield win
    win.close()


def test_click_double_click_and_drag_reach_the_wall(window, qtbot, monkeypatch) -> None:
    win = window
    view = win.map.view
    wall = win.wall.model
    assert win.map.dock.isVisible()
    vp = view.view.viewport()
    # Click: shown in the focused tile.
    wall.apply(lambda lay: ops.focus(lay, 2))
    with qtbot.waitSignal(view.camera_activated) as sig:
        qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, pos=view.marker_view_pos("fix1"))
    assert sig.args == ["fix1"]
    assert wall.layout.tiles[2].camera_id == "fix1"
    assert view.selected == "fix1"
    # Drag: a QDrag with the camera id in CAMERA_MIME, which a wall tile accepts.
    drags = []
    monkeypatch.setattr(
        view, "exec_drag", lambda drag: drags.append(drag) or Qt.DropAction.CopyAction
    )
    start = view.marker_view_pos("quad1")
    _mouse(vp, QEvent.Type.MouseButtonPress, start)
    for dx in (3, 8, 20, 40):
        _mouse(vp, QEvent.Type.MouseMove, start + QPoint(dx, dx))
    _mouse(vp, QEvent.Type.MouseButtonRelease, start + QPoint(40, 40))
    assert len(drags) == 1
    mime = drags[0].mimeData()
    assert bytes(mime.data(CAMERA_MIME).data()).decode() == "quad1"
    tile = win.wall.tiles[1]
    tile.dropEvent(
        QDropEvent(
            QPointF(tile.width() / 2, tile.height() / 2),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    )
    assert wall.layout.tiles[1].camera_id == "quad1"
    assert wall.layout.tiles[2].camera_id == "fix1"  # the drag did not also click
    # Double-click: shown maximised.
    qtbot.wait(QApplication.doubleClickInterval() + 50)
    at = view.marker_view_pos("ptz1")
    with qtbot.waitSignal(view.camera_maximize_requested) as sig:
        # What a platform sends for a double-click (QTest's sends the last event only).
        _mouse(vp, QEvent.Type.MouseButtonPress, at)
        _mouse(vp, QEvent.Type.MouseButtonRelease, at)
        _mouse(vp, QEvent.Type.MouseButtonDblClick, at)
        _mouse(vp, QEvent.Type.MouseButtonRelease, at)
    assert sig.args == ["ptz1"]
    assert wall.layout.maximized is not None
    assert wall.layout.tiles[wall.layout.maximized].camera_id == "ptz1"


def test_attention_blinks_until_acknowledged(window, qtbot) -> None:
    """The wall's tiles really connect to a closed port: their cameras go offline and blink."""
    view = window.map.view
    model = window.map.model
    on_wall = {"ptz1", "fix1", "quad1", "bi1"}
    qtbot.waitUntil(lambda: set(model.attention()) == on_wall, timeout=10000)
    # Down is latched while the engine retries (the status may already read "connecting").
    fix1 = model.marker("fix1")
    assert fix1.down_since is not None
    assert fix1.status in (CameraStatus.OFFLINE, CameraStatus.CONNECTING)
    # The model changes in worker threads; the view follows on the GUI thread.
    qtbot.waitUntil(lambda: view.ack_button.text() == "Acknowledge all (4)", timeout=10000)
    assert view.ack_button.isEnabled()
    phases = set()
    qtbot.waitUntil(lambda: phases.add(view.blink_on) or len(phases) == 2, timeout=10000)
    # Clicking the camera acknowledges it; the button acknowledges the rest.
    qtbot.mouseClick(
        view.view.viewport(), Qt.MouseButton.LeftButton, pos=view.marker_view_pos("fix1")
    )
    assert set(model.attention()) == on_wall - {"fix1"}
    assert view.ack_button.text() == "Acknowledge all (3)"
    qtbot.mouseClick(view.ack_button, Qt.MouseButton.LeftButton)
    assert model.attention() == []
    assert not view.ack_button.isEnabled()
    assert not view._blink.isActive()


def test_filters_zoom_pan_and_keyboard(window, qtbot) -> None:
    view = window.map.view
    view.kind_filter.setCurrentIndex(view.kind_filter.findText("Quad-optic"))
    assert [c for c, m in view.markers.items() if m.isVisible()] == ["quad1"]
    view.kind_filter.setCurrentIndex(0)
    view.hood_filter.setCurrentIndex(view.hood_filter.findText("North"))
    assert sorted(c for c, m in view.markers.items() if m.isVisible()) == ["fix1", "ptz1"]
    view.hood_filter.setCurrentIndex(0)
    view.status_filter.setCurrentIndex(view.status_filter.findText("Live"))
    assert not any(m.isVisible() for m in view.markers.values())
    view.status_filter.setCurrentIndex(view.status_filter.findText("Not live"))
    # bi1 is on a floor-plan position only: never on a geographic map.
    assert sorted(c for c, m in view.markers.items() if m.isVisible()) == ["fix1", "ptz1", "quad1"]
    view.status_filter.setCurrentIndex(0)
    # Wheel zoom around the pointer keeps the point under it in place.
    vp = view.view.viewport()
    s0 = view.scale()
    at = view.marker_view_pos("fix1")
    _mouse(vp, QEvent.Type.MouseMove, at, Qt.MouseButton.NoButton)  # the pointer is there
    wheel = QWheelEvent(
        QPointF(at),
        QPointF(vp.mapToGlobal(at)),
        QPoint(),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(vp, wheel)
    assert view.scale() == pytest.approx(s0 * 1.25**2, rel=1e-3)
    assert (view.marker_view_pos("fix1") - at).manhattanLength() <= 2
    view.view.setFocus()
    qtbot.keyClick(view.view, Qt.Key.Key_Minus)
    assert view.scale() == pytest.approx(s0 * 1.25, rel=1e-3)
    before = view.marker_view_pos("fix1")
    qtbot.keyClick(view.view, Qt.Key.Key_Right)
    assert view.marker_view_pos("fix1").x() < before.x() - 20  # the map moved left
    # Hand-drag on empty map pans.
    empty = QPoint(5, vp.height() // 2)
    before = view.marker_view_pos("fix1")
    _mouse(vp, QEvent.Type.MouseButtonPress, empty)
    for dx in (10, 30, 60):
        _mouse(vp, QEvent.Type.MouseMove, empty + QPoint(dx, 0))
    _mouse(vp, QEvent.Type.MouseButtonRelease, empty + QPoint(60, 0))
    assert view.marker_view_pos("fix1").x() == pytest.approx(before.x() + 60, abs=2)
    qtbot.keyClick(view.view, Qt.Key.Key_0)
    assert view.scale() == pytest.approx(s0, rel=1e-3)


def test_full_window_mode_and_back(window, qtbot) -> None:
    md = window.map
    normal = md.dock.width()
    assert window.wall.width() > normal  # beside the wall, the wall gets most room
    md.full_action.trigger()
    qtbot.waitUntil(lambda: md.dock.width() > window.width() * 0.8, timeout=10000)
    assert not window.tree.isVisible()
    assert window.wall.isVisible()  # still running, so the statuses stay live
    md.full_action.trigger()
    qtbot.waitUntil(lambda: abs(md.dock.width() - normal) < 30, timeout=10000)
    assert window.tree.isVisible()


def test_editing_moves_turns_and_saves_with_backup(window, qtbot, tmp_path: Path) -> None:
    view = window.map.view
    model = window.map.model
    site_file = tmp_path / "site.yaml"
    before = site_file.read_text()
    view.edit_button.click()
    assert view.edit_mode
    assert view.save_action.isVisible() is False or not view.save_action.isEnabled()
    vp = view.view.viewport()
    start = view.marker_view_pos("fix1")
    lat0 = model.site.camera("fix1").latitude
    clicks: list[str] = []
    view.camera_activated.connect(clicks.append)
    _mouse(vp, QEvent.Type.MouseButtonPress, start)
    for d in (5, 15, 30):
        _mouse(vp, QEvent.Type.MouseMove, start + QPoint(0, -d))
    _mouse(vp, QEvent.Type.MouseButtonRelease, start + QPoint(0, -30))
    assert clicks == []  # editing does not change the wall
    assert (view.marker_view_pos("fix1") - (start + QPoint(0, -30))).manhattanLength() <= 2
    # Right-drag turns the camera towards the pointer: due east.
    here = view.marker_view_pos("fix1")
    _mouse(vp, QEvent.Type.MouseButtonPress, here + QPoint(4, 0), Qt.MouseButton.RightButton)
    for d in (10, 30, 60):
        _mouse(vp, QEvent.Type.MouseMove, here + QPoint(d, 0), Qt.MouseButton.RightButton)
    _mouse(vp, QEvent.Type.MouseButtonRelease, here + QPoint(60, 0), Qt.MouseButton.RightButton)
    assert model.marker("fix1").heading == pytest.approx(90, abs=2)
    view.select("fix1")
    view.view.setFocus()
    qtbot.keyClick(view.view, Qt.Key.Key_BracketRight)
    assert model.marker("fix1").heading == pytest.approx(95, abs=2)
    assert view.save_action.isEnabled()
    assert site_file.read_text() == before
    assert view.save_edits()
    backups = list(tmp_path.glob("site.yaml.*.bak"))
    assert len(backups) == 1
    assert backups[0].read_text() == before
    saved = load_site(site_file).camera("fix1")
    assert saved.latitude is not None
    assert lat0 is not None
    assert saved.latitude > lat0
    assert saved.heading == pytest.approx(95, abs=2)
    assert "Saved to" in view.banner.text()
    assert not view.save_action.isEnabled()


def test_broken_tile_file_is_a_clear_error_and_outlines_still_show(qtbot, tmp_path: Path) -> None:
    (tmp_path / "city.mbtiles").write_bytes(b"garbage" * 500)
    site = load_site(
        write_small_site(
            tmp_path / "site.yaml", "map:\n  background: {kind: mbtiles, path: city.mbtiles}"
        )
    )
    view = _make_view(qtbot, MapModel(site))
    assert view.banner.isVisible()
    assert "city.mbtiles: not a readable MBTiles file" in view.banner.text()
    assert "Showing outlines only" in view.banner.text()
    assert set(view.hood_items) == {"north", "south"}
    assert all(view.hood_items[h].isVisible() for h in view.hood_items)
    assert view.markers["ptz1"].isVisible()
    # The outline's edge is drawn where it should be.
    poly = view.hood_items["north"].polygon()
    corner = view.view.mapFromScene((poly[0] + poly[1]) / 2)
    img = view.view.viewport().grab().toImage()
    colours = {img.pixelColor(corner + QPoint(0, dy)).name() for dy in (-1, 0, 1)}
    assert colours != {view.view.backgroundBrush().color().name()}


def test_broken_floor_plan_image_is_a_clear_error(qtbot, tmp_path: Path) -> None:
    (tmp_path / "plan.png").write_bytes(png(8, 8, (1, 1, 1))[:30])  # truncated PNG
    site = load_site(
        write_small_site(
            tmp_path / "site.yaml", "map:\n  background: {kind: image, path: plan.png}"
        )
    )
    view = _make_view(qtbot, MapModel(site))
    assert "plan.png: the image cannot be decoded" in view.banner.text()
    assert view.markers["bi1"].isVisible()  # cameras with map_xy still show


def test_floor_plan_with_camera_pixels(qtbot, tmp_path: Path) -> None:
    (tmp_path / "plan.png").write_bytes(png(400, 300, (250, 250, 240)))
    site = load_site(
        write_small_site(
            tmp_path / "site.yaml", "map:\n  background: {kind: image, path: plan.png}"
        )
    )
    view = _make_view(qtbot, MapModel(site))
    assert not view.banner.isVisible()
    assert view.image_item is not None
    assert view.markers["bi1"].pos() == QPointF(120, 80)
    assert not view.markers["ptz1"].isVisible()
    inside = view.view.mapFromScene(QPointF(300, 250))
    assert _close(_pixel(view, inside), QColor(250, 250, 240), 3)


def test_mbtiles_background_is_drawn(qtbot, tmp_path: Path) -> None:
    tiles = {}
    for z in (12, 13, 14):
        # Tiles around the test site (45.19 N, 10.01 E).
        n = 1 << z
        lat = math.radians(45.185)
        cx = int((10.01 + 180) / 360 * n)
        cy = int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * n)
        for x in range(cx - 3, cx + 4):
            for y in range(cy - 3, cy + 4):
                tiles[(z, x, y)] = png(256, 256, tile_colour(z, x, y))
    write_mbtiles(tmp_path / "bg.mbtiles", tiles, attribution="© test tiles")
    site = load_site(write_small_site(tmp_path / "site.yaml"))
    source = MBTilesSource(tmp_path / "bg.mbtiles")
    view = _make_view(qtbot, MapModel(site), background=source)
    assert not view.banner.isVisible()
    assert view.attribution.isVisible()
    assert view.attribution.text() == "© test tiles"
    layer = view.tile_layer
    assert layer is not None
    qtbot.waitUntil(lambda: layer.drawn > 0, timeout=10000)
    # A point outside the outlines shows its tile's own colour.
    img = view.view.viewport().grab().toImage()
    colours = {img.pixelColor(5, y).name() for y in range(5, img.height() - 80, 25)}
    expected = {QColor(*tile_colour(*k)).name() for k in tiles}
    assert colours & expected
    view.shutdown()


def test_xyz_background_from_a_local_server(qtbot, tmp_path: Path) -> None:
    site = load_site(write_small_site(tmp_path / "site.yaml"))
    with tile_server() as server:
        source = XYZSource(server.url, tmp_path / "cache", "© local tiles", max_zoom=16)
        view = _make_view(qtbot, MapModel(site), background=source)
        layer = view.tile_layer
        assert layer is not None
        qtbot.waitUntil(lambda: len(server.requests) > 0 and source.pending() == 0, timeout=5000)
        qtbot.waitUntil(lambda: layer.drawn > 0, timeout=10000)
        assert list((tmp_path / "cache").rglob("*.tile"))
        img = view.view.viewport().grab().toImage()
        colour = img.pixelColor(3, img.height() // 2)
        assert colour.name() != view.view.backgroundBrush().color().name()
        server.fail = True
        view.zoom_by(4)
        QApplication.processEvents()
        view.view.viewport().grab()
        qtbot.waitUntil(lambda: view.banner.isVisible(), timeout=5000)
        assert "cannot fetch map tiles from 127.0.0.1" in view.banner.text()
        view.shutdown()


def test_screenshot_of_the_demo_map(qtbot, engine) -> None:
    """Saved for review: tests/artifacts/map-demo.png."""
    site = load_site(REFERENCE_SITE)
    board = StatusBoard(engine)
    model = MapModel(site, board)
    view = _make_view(qtbot, model, size=(1100, 760))
    special = {
        "cam03": StreamState.OFFLINE,
        "cam08": StreamState.CONNECTING,
        "cam16": StreamState.STALLED,
        "cam22": StreamState.UNAUTHORIZED,
    }
    for cam in site.cameras:
        if cam.id != "cam27":  # one camera nobody watches
            _drive(board, cam.id, special.get(cam.id, StreamState.LIVE), "connection refused")
    model.set_ptz_pose("cam07", 330.0, 8.0)  # the PTZ engineer's call: the cone follows
    (cone,) = view.cones["cam07"].state.cones()
    assert (cone.bearing, cone.fov) == (330.0, 8.0)
    assert cone.reach > 2
    qtbot.waitUntil(lambda: view.hood_labels["giuseppina"].text == "Giuseppina 7/8 live")
    view.fit()
    view.blink_on = True
    QApplication.processEvents()
    ARTIFACTS.mkdir(exist_ok=True)
    out = ARTIFACTS / "map-demo.png"
    assert view.grab().save(str(out))
    assert out.stat().st_size > 10_000
    labels = [lab for lab in view.hood_labels.values() if lab.isVisible()]
    assert len(labels) == 9
    rects = [view.view.mapFromScene(lab.pos()) for lab in labels]
    boxes = [
        lab.boundingRect().translated(QPointF(p)) for lab, p in zip(labels, rects, strict=True)
    ]
    for i, a in enumerate(boxes):  # readable: no label covers another
        assert not any(a.intersects(b) for b in boxes[i + 1 :])


def test_georeferenced_image_lies_under_its_bounds(qtbot, tmp_path: Path) -> None:
    (tmp_path / "ortho.png").write_bytes(png(200, 100, (200, 220, 200)))
    site = load_site(
        write_small_site(
            tmp_path / "site.yaml",
            "map:\n  background: {kind: image, path: ortho.png,"
            " bounds: [[45.17, 10.00], [45.20, 10.02]], attribution: Comune di Cremona}",
        )
    )
    model = MapModel(site)
    view = _make_view(qtbot, model)
    assert view.image_item is not None
    rect = view.image_item.sceneBoundingRect()
    proj = model.projection
    assert isinstance(proj, GeoProjection)
    x0, y0 = proj.to_scene(45.20, 10.00)
    x1, y1 = proj.to_scene(45.17, 10.02)
    assert (rect.left(), rect.top()) == pytest.approx((x0, y0), abs=0.5)
    assert (rect.right(), rect.bottom()) == pytest.approx((x1, y1), abs=0.5)
    assert view.markers["ptz1"].isVisible()  # lat/lon cameras stay on a georeferenced image
    assert view.attribution.text() == "Comune di Cremona"
