"""PtzTileController on a real QtTile (offscreen) steering a demo dome over real ONVIF."""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QLineEdit, QVBoxLayout, QWidget

from app.demo.fleet import Fleet
from app.demo.model import Fault, Preset, PtzPosition
from app.health import StatusBoard
from app.layouts import ops
from app.layouts.store import WallModel, load_wall_state
from app.ptz.factory import PtzRegistry
from app.ptz.model import PtzVector
from app.ptz.pointing import FovModel
from app.ptz.session import PtzSession
from app.site.model import Stream, StreamRole
from app.streams.engine import StreamEngine
from app.streams.feed import TileFeed
from tests.ptz.helpers import SITE, FakeClock, ptz_state
from widgets.bridge import MainThreadBridge
from widgets.ptz_control import (
    DigitalZoom,
    PtzTileController,
    PtzWallAttachment,
    attach_ptz,
    joystick_vector,
)
from widgets.ptz_panel import PtzPanel
from widgets.tile import QtTile
from widgets.wall import QtWall

W, H = 640, 360
# A release must stop the dome: within one or two SOAP round trips (the Stop waits behind a
# move in flight), which a loaded 2-core machine stretches to a few hundred ms each.
STOP_WITHIN_MS = 3000


@pytest.fixture
def tile(qtbot) -> Iterator[QtTile]:
    engine = StreamEngine()
    t = QtTile(0, lambda: TileFeed(engine), SITE)
    qtbot.addWidget(t)
    t.resize(W, H)
    t.show()
    qtbot.waitExposed(t)
    yield t
    engine.shutdown(1.0)


@pytest.fixture
def ctl(tile: QtTile, fleet: Fleet, registry: PtzRegistry) -> Iterator[PtzTileController]:
    controller = registry.controller(fleet.site_for_client().camera("dome"))
    controller.capabilities().result(10)
    c = PtzTileController(
        tile,
        MainThreadBridge(),
        PtzSession(controller),
        FovModel(60.0, 20.0),
        keys_plain=lambda: True,
    )
    yield c
    c.detach()


def wheel(widget: QtTile, delta: int, pos: QPointF | None = None) -> None:
    pos = pos or QPointF(W / 2, H / 2)
    event = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, delta),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def test_joystick_vector_grows_with_distance() -> None:
    c = QPointF(100, 100)
    assert joystick_vector(c, QPointF(102, 100), 100) == PtzVector.ZERO  # dead zone
    slow = joystick_vector(c, QPointF(130, 100), 100)
    fast = joystick_vector(c, QPointF(190, 100), 100)
    assert 0 < slow.pan < fast.pan <= 1.0
    assert joystick_vector(c, QPointF(100, 500), 100) == PtzVector(0.0, -1.0)  # capped, down


def test_drag_steers_the_dome_and_release_stops_it(qtbot, tile, ctl, fleet) -> None:
    state = ptz_state(fleet, "dome")
    centre = QPoint(W // 2, H // 2)
    qtbot.mousePress(tile, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(tile, centre + QPoint(100, -40))
    assert ctl.drag_vector is not None
    assert ctl.drag_vector.pan > 0
    assert ctl.drag_vector.tilt > 0  # dragged up: tilt up
    qtbot.waitUntil(
        lambda: state.position().pan > 0.03 and state.position().tilt > 0.01, timeout=3000
    )
    assert ctl.badge_text() == "PTZ"
    # The arrow runs from the press point toward the cursor, thicker when faster: the
    # overlay is opaque white on the arrow's midpoint and clear on the opposite side.
    img = ctl.overlay.grab().toImage()
    mid, opposite = centre + QPoint(50, -20), centre - QPoint(50, -20)
    assert img.pixelColor(mid).alpha() > 150
    assert img.pixelColor(mid).lightness() > 200
    assert img.pixelColor(opposite).alpha() < 50
    qtbot.mouseMove(tile, centre + QPoint(30, -12))  # slower: a thinner arrow
    thin = ctl.overlay.grab().toImage()
    across = [centre + QPoint(15, -6) + QPoint(0, d) for d in range(-8, 9)]
    assert sum(thin.pixelColor(q).alpha() > 150 for q in across) < sum(
        img.pixelColor(q).alpha() > 150 for q in across
    )
    qtbot.mouseRelease(tile, Qt.MouseButton.LeftButton, pos=centre + QPoint(100, -40))
    qtbot.waitUntil(lambda: not state.moving()[0], timeout=STOP_WITHIN_MS)
    assert ctl.drag_vector is None


def test_click_centres_on_the_point(qtbot, tile, ctl, fleet) -> None:
    state = ptz_state(fleet, "dome")
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=QPoint(W * 3 // 4, H // 2))
    # A quarter of the picture right: 15 of the 60 degrees, pan 1 = 180 degrees.
    qtbot.waitUntil(lambda: abs(state.position().pan - 15 / 180) < 1e-3, timeout=10000)
    assert abs(state.position().tilt) < 1e-6


def test_shift_box_zooms_into_the_area(qtbot, tile, ctl, fleet) -> None:
    state = ptz_state(fleet, "dome")
    shift = Qt.KeyboardModifier.ShiftModifier
    qtbot.mousePress(tile, Qt.MouseButton.LeftButton, shift, QPoint(W // 2 - 80, H // 2 - 45))
    qtbot.mouseMove(tile, QPoint(W // 2 + 80, H // 2 + 45))
    assert ctl.box is not None
    qtbot.mouseRelease(tile, Qt.MouseButton.LeftButton, shift, QPoint(W // 2 + 80, H // 2 + 45))
    # A box a quarter of the picture wide: 4x, zoom += log 4 / log 20.
    qtbot.waitUntil(
        lambda: abs(state.position().zoom - math.log(4) / math.log(20)) < 1e-3, timeout=5000
    )
    assert abs(state.position().pan) < 1e-6


def test_wheel_zooms_in_and_stops(qtbot, tile, ctl, fleet) -> None:
    state = ptz_state(fleet, "dome")
    wheel(tile, 120)
    # Not "moving" first: the pulse (~220 ms) can begin and end between two polls.
    qtbot.waitUntil(
        lambda: state.position().zoom > 0.01 and not state.moving()[1], timeout=STOP_WITHIN_MS
    )


def test_keys_steer_and_status_is_shown(qtbot, tile, ctl, fleet) -> None:
    state = ptz_state(fleet, "dome")
    qtbot.keyPress(tile, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: state.position().pan < -0.02, timeout=10000)
    qtbot.keyRelease(tile, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: not state.moving()[0], timeout=STOP_WITHIN_MS)
    qtbot.keyPress(tile, Qt.Key.Key_Plus)
    qtbot.waitUntil(lambda: state.position().zoom > 0.01, timeout=10000)
    qtbot.keyRelease(tile, Qt.Key.Key_Plus)
    qtbot.waitUntil(lambda: not state.moving()[1], timeout=10000)
    zoomed = state.position().zoom
    qtbot.keyPress(tile, Qt.Key.Key_Minus)  # the minus key zooms out
    qtbot.waitUntil(lambda: state.position().zoom < zoomed - 0.005, timeout=10000)
    qtbot.keyRelease(tile, Qt.Key.Key_Minus)
    qtbot.waitUntil(lambda: not state.moving()[1], timeout=10000)
    # GetStatus at 2 Hz, off the GUI thread: the overlay shows where the dome is.
    pan_deg = state.position().pan * 180
    qtbot.waitUntil(lambda: f"P {pan_deg:+.1f}" in ctl.readout_text(), timeout=10000)


def test_errors_reach_the_tile(qtbot, tile, ctl, fleet) -> None:
    fleet.set_fault("dome", Fault.OFFLINE)
    qtbot.keyPress(tile, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: "connection refused" in ctl.error_text, timeout=10000)
    qtbot.keyRelease(tile, Qt.Key.Key_Right)


def test_fixed_camera_gets_digital_zoom(qtbot, tile) -> None:
    c = PtzTileController(tile, MainThreadBridge(), None)
    try:
        surface = tile.panes[0].surface
        wheel(tile, 240, QPointF(W / 4, H / 4))  # two notches toward the top-left
        assert c.digital.factor == pytest.approx(1.25**2)
        x, y, w, h = surface.view
        assert w == pytest.approx(1 / 1.5625)
        assert x < 0.5 - w / 2  # the crop moved toward the cursor
        assert y < 0.5 - h / 2
        assert c.badge_text().startswith("DIGITAL")
        # Drag pans the zoomed picture; Home resets.
        qtbot.mousePress(tile, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))
        qtbot.mouseMove(tile, QPoint(160, 100))
        qtbot.mouseRelease(tile, Qt.MouseButton.LeftButton, pos=QPoint(160, 100))
        assert surface.view[0] < x
        qtbot.keyPress(tile, Qt.Key.Key_Home)
        assert surface.view == (0.0, 0.0, 1.0, 1.0)
    finally:
        c.detach()


def test_digital_zoom_crop_stays_inside_the_picture() -> None:
    z = DigitalZoom(2.0, 0.95, 0.0)
    z.clamp()
    assert (z.cx, z.cy) == (0.75, 0.25)
    assert z.view() == (0.5, 0.0, 0.5, 0.5)
    # Inside one optic of a 2x2 mosaic stream.
    assert z.view((0.5, 0.5, 0.5, 0.5)) == (0.75, 0.5, 0.25, 0.25)


@contextlib.contextmanager
def ptz_wall(
    qtbot,
    fleet: Fleet,
    registry: PtzRegistry,
    tmp_path,
    cameras: list[str],
    joystick: bool = False,
    user: str | None = None,
) -> Iterator[tuple[QWidget, QtWall, PtzWallAttachment]]:
    """A 2x2 wall of ``cameras`` in a window beside a line edit (to take the focus away),
    with attach_ptz; no video (streams on a closed port, nothing is encoded or decoded)."""
    site = fleet.site_for_client()
    dead = (Stream(StreamRole.MAIN, "http://127.0.0.1:9/none.ts"),)
    site = dataclasses.replace(
        site,
        cameras=tuple(
            dataclasses.replace(
                c, optics=tuple(dataclasses.replace(o, streams=dead) for o in c.optics)
            )
            for c in site.cameras
        ),
    )
    engine = StreamEngine()
    model = WallModel(load_wall_state(tmp_path / "wall.json"), [c.id for c in site.cameras])
    model.set_layout("2x2")
    model.fill(cameras)
    bridge = MainThreadBridge()
    window = QWidget()
    wall = QtWall(model, site, engine, StatusBoard(engine), bridge)
    other = QLineEdit(window)
    other.setObjectName("elsewhere")
    row = QVBoxLayout(window)
    row.addWidget(wall)
    row.addWidget(other)
    qtbot.addWidget(window)
    window.resize(800, 480)
    window.show()
    qtbot.waitExposed(window)
    ptz = attach_ptz(
        wall,
        bridge,
        registry,
        camera_ids=[c.id for c in site.cameras],
        joystick=joystick,
        user=user,
    )
    try:
        yield window, wall, ptz
    finally:
        ptz.close()
        wall.close_feeds()
        engine.shutdown(1.0)


def steer_right(qtbot, wall: QtWall, session: PtzSession, state) -> int:
    """Ctrl+Right on the wall until the dome turns; the device's command count then."""
    session.controller.capabilities().result(10)  # connected (the first WSDL load is slow)
    # A Timeout far beyond the test's waits: a dome seen stopping was stopped by Stop.
    session.move_timeout_s = 30.0
    wall.activateWindow()
    wall.setFocus()
    qtbot.waitUntil(wall.hasFocus, timeout=10000)
    qtbot.keyPress(wall, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: state.moving()[0] and state.position().pan > 0.02, timeout=10000)
    return int(state.moves)


def test_attach_ptz_follows_the_wall(qtbot, fleet: Fleet, registry: PtzRegistry, tmp_path) -> None:
    with ptz_wall(qtbot, fleet, registry, tmp_path, ["dome", "fixed", "dome2", "quad"]) as (
        _window,
        wall,
        ptz,
    ):
        model = wall.model
        dome_ctl = ptz.controller_of(wall.tiles[0])
        fixed_ctl = ptz.controller_of(wall.tiles[1])
        assert dome_ctl is not None
        assert dome_ctl.session is not None
        assert fixed_ctl is not None
        assert fixed_ctl.session is None
        assert ptz.controller_of(wall.tiles[3]) is None  # a quad mosaic: no one lens
        # Steer the dome with the keyboard on the wall (Ctrl+arrow on a grid).
        state = ptz_state(fleet, "dome")
        steer_right(qtbot, wall, dome_ctl.session, state)
        # The tile changes camera while the dome moves: it is stopped at once.
        model.apply(lambda lay: ops.assign(lay, 0, "fixed"))
        qtbot.waitUntil(lambda: not state.moving()[0], timeout=10000)
        assert ptz.controller_of(wall.tiles[0]) is not dome_ctl
        # Joystick buttons act on the focused tile and the wall.
        model.apply(lambda lay: ops.focus(lay, 2))
        ptz.on_action("next_tile")
        assert model.layout.focused == 3
        ptz.on_action("next_camera")
        assert model.layout.tiles[3].camera_id == "fixed"  # after quad, in site order


def test_focus_loss_and_exit_send_stop(
    qtbot, fleet: Fleet, registry: PtzRegistry, tmp_path
) -> None:
    with ptz_wall(qtbot, fleet, registry, tmp_path, ["dome"]) as (window, wall, ptz):
        ctl = ptz.controller_of(wall.tiles[0])
        assert ctl is not None
        assert ctl.session is not None
        session, state = ctl.session, ptz_state(fleet, "dome")
        # Focus moves to another widget while the key is held: Stop goes out at once.
        before = steer_right(qtbot, wall, session, state)
        stops = session.stops_sent
        window.findChild(QLineEdit, "elsewhere").setFocus()
        qtbot.waitUntil(lambda: not state.moving()[0], timeout=10000)
        assert session.stops_sent == stops + 1
        assert state.moves > before  # the device received the Stop (its Timeout is 30 s)
        qtbot.keyRelease(wall, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
        # Exit while the dome turns: close() stops it.
        before = steer_right(qtbot, wall, session, state)
        stops = session.stops_sent
        ptz.close()
        assert session.stops_sent == stops + 1
        qtbot.waitUntil(lambda: not state.moving()[0], timeout=10000)
        assert state.moves > before


def test_joystick_preset_and_home_stop_a_running_tour(
    qtbot, fleet: Fleet, registry: PtzRegistry, tmp_path
) -> None:
    state = ptz_state(fleet, "dome")
    state.presets["1"] = Preset("1", "Duomo", PtzPosition(0.2, 0.0, 0.0))
    state.presets["2"] = Preset("2", "Torrazzo", PtzPosition(-0.2, 0.1, 0.0))
    with ptz_wall(qtbot, fleet, registry, tmp_path, ["dome"]) as (_window, wall, ptz):
        ctl = ptz.controller_of(wall.tiles[0])
        assert ctl is not None
        assert ctl.session is not None
        assert ctl.ptz is not None
        clock = FakeClock()
        panel = PtzPanel(ctl.ptz, MainThreadBridge(), session=ctl.session, clock=clock)
        qtbot.addWidget(panel)
        for action, where in (("preset:2", PtzPosition(-0.2, 0.1, 0.0)), ("home", PtzPosition())):
            qtbot.waitUntil(lambda: panel.list.count() == 2, timeout=10000)
            qtbot.mouseClick(panel.tour_button, Qt.MouseButton.LeftButton)
            assert panel.tour is not None
            assert panel.tour.running
            qtbot.waitUntil(lambda: state.position() == PtzPosition(0.2, 0.0, 0.0), timeout=10000)
            ptz.on_action(action)  # a joystick button
            assert not panel.tour.running
            qtbot.waitUntil(lambda w=where: state.position() == w, timeout=10000)
            clock.advance(60.0)  # the tour's next step would be due now: none comes
            qtbot.wait(300)
            assert state.position() == where
            assert "manual input" in panel.message.text()


def test_ptz_dock_follows_the_focused_dome(
    qtbot, fleet: Fleet, registry: PtzRegistry, tmp_path
) -> None:
    from PySide6.QtWidgets import QMainWindow

    from app.health import StatusBoard
    from app.layouts.store import WallModel, load_wall_state
    from widgets.ptz_control import attach_ptz
    from widgets.ptz_panel import PtzPanel, add_ptz_dock
    from widgets.wall import QtWall

    site = fleet.site_for_client()
    engine = StreamEngine()
    model = WallModel(load_wall_state(tmp_path / "wall.json"), [c.id for c in site.cameras])
    model.set_layout("2x2")
    model.fill(["fixed", "dome"])
    bridge = MainThreadBridge()
    window = QMainWindow()
    wall = QtWall(model, site, engine, StatusBoard(engine), bridge)
    window.setCentralWidget(wall)
    qtbot.addWidget(window)
    window.show()
    ptz = attach_ptz(
        wall, bridge, registry, camera_ids=[c.id for c in site.cameras], joystick=False
    )
    try:
        dock = add_ptz_dock(window, ptz, bridge, supervisor=True)
        model.apply(lambda lay: ops.focus(lay, 0))
        assert not isinstance(dock.widget(), PtzPanel)  # a fixed dome has no presets
        model.apply(lambda lay: ops.focus(lay, 1))
        assert isinstance(dock.widget(), PtzPanel)
    finally:
        ptz.close()
        wall.close_feeds()
        engine.shutdown(2.0)


def test_map_cone_follows_the_steered_dome(
    qtbot, fleet: Fleet, registry: PtzRegistry, tmp_path
) -> None:
    from app.health import StatusBoard
    from app.layouts.store import WallModel, load_wall_state
    from app.maps.model import MapModel
    from widgets.main import map_cone_follower
    from widgets.ptz_control import attach_ptz
    from widgets.wall import QtWall

    site = fleet.site_for_client()
    engine = StreamEngine()
    board = StatusBoard(engine)
    model = WallModel(load_wall_state(tmp_path / "wall.json"), [c.id for c in site.cameras])
    model.set_layout("1x1")
    model.fill(["dome"])
    bridge = MainThreadBridge()
    wall = QtWall(model, site, engine, board, bridge)
    qtbot.addWidget(wall)
    wall.resize(640, 360)
    wall.show()
    map_model = MapModel(site, board)
    ptz = attach_ptz(
        wall, bridge, registry, camera_ids=[c.id for c in site.cameras], joystick=False
    )
    ptz.pose_listeners.append(map_cone_follower(map_model))
    try:
        ctl = ptz.controller_of(wall.tiles[0])
        assert ctl is not None
        assert ctl.ptz.capabilities().result(10)
        heading = site.camera("dome").heading or 0.0
        state = ptz_state(fleet, "dome")
        wall.setFocus()
        # Operator input (keys on the maximised 1x1 dome): pan right and zoom in.
        qtbot.keyPress(wall, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyPress(wall, Qt.Key.Key_Plus)
        qtbot.waitUntil(
            lambda: state.position().pan > 0.1 and state.position().zoom > 0.1, timeout=5000
        )
        fov = site.camera("dome").fov or 60.0

        def cone_moved() -> bool:
            m = map_model.marker("dome")
            turned = m.ptz_pan is not None and (m.ptz_pan - heading) % 360 > 10
            return turned and m.ptz_fov is not None and m.ptz_fov < fov

        # The map's cone turns with the reported pan and narrows with the zoom.
        qtbot.waitUntil(cone_moved, timeout=10000)
        qtbot.keyRelease(wall, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
        qtbot.keyRelease(wall, Qt.Key.Key_Plus)
    finally:
        ptz.close()
        wall.close_feeds()
        engine.shutdown(2.0)


def test_wall_joystick_preset_and_next_camera(
    qtbot, fleet: Fleet, registry: PtzRegistry, tmp_path, monkeypatch
) -> None:
    from tests.ptz.virtual_stick import VirtualStick

    monkeypatch.setenv("TORRAZZO_CONFIG_DIR", str(tmp_path / "cfg"))  # default button map
    state = ptz_state(fleet, "dome")
    state.presets["1"] = Preset("1", "Duomo", PtzPosition(0.3, -0.1, 0.2))
    with ptz_wall(qtbot, fleet, registry, tmp_path, ["dome"], joystick=True, user="rossi") as (
        _window,
        wall,
        ptz,
    ):
        assert ptz.joystick is not None
        assert ptz.joystick.store.path == tmp_path / "cfg" / "joystick-rossi.json"
        wall.model.apply(lambda lay: ops.focus(lay, 0))
        stick = VirtualStick()
        try:
            # Hot-plug: the attachment's timer polls SDL and finds the stick.
            qtbot.waitUntil(lambda: len(ptz.joystick.devices) == 1, timeout=10000)
            stick.button(0, True)  # button 0: preset 1
            qtbot.waitUntil(lambda: state.position() == PtzPosition(0.3, -0.1, 0.2), timeout=10000)
            stick.button(5, True)  # button 5: next camera, in site order
            qtbot.waitUntil(lambda: wall.model.layout.tiles[0].camera_id == "quad", timeout=10000)
            assert wall.tiles[0].camera.id == "quad"
        finally:
            stick.detach()
