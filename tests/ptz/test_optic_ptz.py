"""Zoom and focus of one selected optic of a quad-optic camera, from its tile on the wall,
against the demo's PTZ and Imaging services (real SOAP), asserting the virtual lenses."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import QPointF, Qt

from app.demo.fleet import Fleet
from app.health import StatusBoard
from app.layouts.store import WallModel, load_wall_state
from app.ptz.factory import PtzRegistry
from app.site.model import Stream, StreamRole
from app.streams.engine import StreamEngine
from tests.ptz.helpers import ptz_state
from tests.ptz.test_ptz_control import wheel
from widgets.bridge import MainThreadBridge
from widgets.ptz_control import attach_ptz
from widgets.wall import QtWall


def test_selected_optic_zooms_and_focuses_alone(
    qtbot, fleet: Fleet, registry: PtzRegistry, tmp_path
) -> None:
    site = fleet.site_for_client()
    # No video needed: streams on a closed port, so nothing is encoded or decoded.
    dead = (Stream(StreamRole.MAIN, "http://127.0.0.1:9/none.ts"),)
    quad = site.camera("quad")
    quad = dataclasses.replace(
        quad, optics=tuple(dataclasses.replace(o, streams=dead) for o in quad.optics)
    )
    site = dataclasses.replace(site, cameras=(quad,))
    engine = StreamEngine()
    model = WallModel(load_wall_state(tmp_path / "wall.json"), ["quad"])
    model.set_layout("1x1")
    model.fill(["quad"])
    bridge = MainThreadBridge()
    wall = QtWall(model, site, engine, StatusBoard(engine), bridge)
    qtbot.addWidget(wall)
    wall.resize(800, 450)
    wall.show()
    ptz = attach_ptz(wall, bridge, registry, camera_ids=["quad"], joystick=False)
    try:
        tile = wall.tiles[0]
        assert ptz.controller_of(tile) is None  # the mosaic: no one lens to steer
        # Click optic 3 of the mosaic: it fills the tile and gets that optic's controller.
        qtbot.mouseClick(tile, Qt.MouseButton.LeftButton, pos=tile.pane_rects()[2].center())
        assert model.layout.tiles[0].optic == 2
        ctl = ptz.controller_of(wall.tiles[0])
        assert ctl is not None
        assert ctl.session is not None
        assert ctl.ptz is not None
        ctl.ptz.capabilities().result(10)  # connected (the first WSDL load is slow)

        # The wheel, as on a dome: optic 3's lens zooms in; the other three stay at zoom 0.
        lenses = [ptz_state(fleet, "quad", i) for i in range(4)]
        tile = wall.tiles[0]
        commands = [lens.moves for lens in lenses]
        wheel(tile, 120, QPointF(tile.width() / 2, tile.height() / 2))
        # The notch is a zoom pulse (a ContinuousMove, then a Stop). How far it zooms depends on
        # when each reaches the lens, which a loaded machine can bunch up: wait for both
        # commands rather than for a set distance.
        qtbot.waitUntil(lambda: lenses[2].moves >= commands[2] + 2, timeout=10000)
        qtbot.waitUntil(lambda: not lenses[2].moving()[1], timeout=10000)
        assert lenses[2].position().zoom > 0.0
        assert [lenses[i].moves for i in (0, 1, 3)] == [commands[i] for i in (0, 1, 3)]
        assert [lenses[i].position().zoom for i in (0, 1, 3)] == [0.0, 0.0, 0.0]

        # PageUp held racks optic 3's focus far; release stops it. Other lenses untouched.
        optics = fleet.camera("quad").optics
        before = [o.focus for o in optics]
        ctl.ptz.focus_capabilities().result(10)  # type: ignore[attr-defined]
        wall.setFocus()
        qtbot.keyPress(wall, Qt.Key.Key_PageUp)
        status = ctl.ptz.focus_status  # type: ignore[attr-defined]
        qtbot.waitUntil(lambda: status().result(10).position > before[2] + 0.02, timeout=10000)
        qtbot.keyRelease(wall, Qt.Key.Key_PageUp)
        qtbot.waitUntil(lambda: not status().result(10).moving, timeout=10000)
        held = optics[2].focus
        assert status().result(10).position == pytest.approx(
            held, abs=1e-4
        )  # stopped: it stays where it was left
        assert [optics[i].focus for i in (0, 1, 3)] == [before[i] for i in (0, 1, 3)]
        # PageDown racks it back toward near.
        qtbot.keyPress(wall, Qt.Key.Key_PageDown)
        qtbot.waitUntil(lambda: status().result(10).position < held - 0.02, timeout=10000)
        qtbot.keyRelease(wall, Qt.Key.Key_PageDown)
        qtbot.waitUntil(lambda: not status().result(10).moving, timeout=10000)
    finally:
        ptz.close()
        wall.close_feeds()
        engine.shutdown(1.0)
