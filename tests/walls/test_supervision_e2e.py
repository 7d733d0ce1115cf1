"""End to end on the composed application (MainWindow + attach_ptz + attach_supervision, as
widgets.main wires them) against the demo fleet's real ONVIF and video: a push to a wall, a
PTZ take-over and an export each append exactly one audit entry; supervisors configure walls
and tile sequences, operators cannot."""

from __future__ import annotations

import argparse
import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction

from app.audit import AuditLog, read_audit
from app.demo.fleet import Fleet
from app.health import StatusBoard
from app.layouts import ops
from app.layouts.model import WallState
from app.layouts.store import WallModel
from app.onvif.loop import OnvifLoop
from app.ptz.factory import PtzRegistry
from app.sequences import CameraCycle, LayoutCycle
from app.streams.engine import StreamEngine
from app.streams.urls import open_url
from app.streams.worker import StreamOptions
from app.users import Role, User
from app.walls import WallBook
from tests.ptz.helpers import start_fleet
from widgets.bridge import MainThreadBridge
from widgets.login import Session
from widgets.main_window import MainWindow
from widgets.ptz_control import attach_ptz
from widgets.wall_config import set_checked
from widgets.walls import attach_supervision

WAIT_MS = 30000  # a busy two-core CI machine: first ONVIF call loads the WSDL, video encodes


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    f = start_fleet()
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="module")
def onvif_loop() -> Iterator[OnvifLoop]:
    loop = OnvifLoop()
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()


class Room:
    def __init__(self, qtbot, fleet: Fleet, loop: OnvifLoop, tmp: Path, role: Role) -> None:
        self.tmp = tmp
        site = fleet.site_for_client()
        self.engine = StreamEngine(  # credentials resolved as in widgets.main
            StreamOptions(timeout=2.0, backoff_initial=0.2), url_resolver=open_url
        )
        board = StatusBoard(self.engine)
        bridge = MainThreadBridge()
        self.model = WallModel(WallState(), [c.id for c in site.cameras])
        self.model.apply(lambda lay: ops.new_layout("2x2", ["dome", "fixed"]))
        self.window = MainWindow(site, self.model, self.engine, board, bridge)
        qtbot.addWidget(self.window)
        self.window.resize(900, 600)
        self.window.show()
        self.registry = PtzRegistry(loop)
        self.ptz = attach_ptz(
            self.window.wall, bridge, self.registry, [c.id for c in site.cameras], False
        )
        self.audit_path = tmp / "audit.jsonl"
        self.user = User("rossi" if role == Role.SUPERVISOR else "bianchi", role)
        self.session = Session(self.user, AuditLog(self.audit_path, self.user.name, "sala-1"))
        args = argparse.Namespace(
            wall="windows:1", layouts=tmp / "site.layouts.json", export_dir=tmp / "exports",
            demo=False, site=None,
        )  # fmt: skip
        self.sup = attach_supervision(
            args, self.session, self.window, self.model, site, self.engine, board, bridge,
            tmp / "state", "ptz-test-site", self.ptz,
        )  # fmt: skip
        assert self.sup.walls is not None
        self.walls = self.sup.walls

    def entries(self) -> list[dict]:
        return read_audit(self.audit_path).entries

    def action(self, text: str) -> QAction:
        for menu_action in self.window.menuBar().actions():
            menu = menu_action.menu()
            for act in menu.actions() if menu is not None else []:
                if act.text() == text:
                    return act
        raise AssertionError(f"no menu entry {text!r}")

    def close(self) -> None:
        self.window.close()
        self.ptz.close()
        self.sup.close()
        self.session.close()
        concurrent.futures.wait(self.registry.close(), timeout=5)
        assert self.engine.shutdown(3.0) == []


@pytest.fixture
def operator_room(qtbot, fleet, onvif_loop, tmp_path: Path) -> Iterator[Room]:
    room = Room(qtbot, fleet, onvif_loop, tmp_path, Role.OPERATOR)
    yield room
    room.close()


@pytest.fixture
def supervisor_room(qtbot, fleet, onvif_loop, tmp_path: Path) -> Iterator[Room]:
    room = Room(qtbot, fleet, onvif_loop, tmp_path, Role.SUPERVISOR)
    yield room
    room.close()


def _one_new(room: Room, before: int, action: str) -> dict:
    new = room.entries()[before:]
    assert [e["action"] for e in new] == [action]
    entry = new[0]
    assert entry["user"] == room.user.name
    assert entry["workstation"] == "sala-1"
    assert entry["time"][:2] == "20"
    return entry


def test_push_ptz_takeover_and_export_each_write_one_audit_entry(operator_room, qtbot) -> None:
    room = operator_room
    # Push: the focused camera (the dome) to wall screen 1.
    before = len(room.entries())
    room.action("Send camera to screen 1 (wall-1)").trigger()
    assert room.walls.models[0].layout.tiles[0].camera_id == "dome"
    push = _one_new(room, before, "wall.push")
    assert push["details"] == {
        "screen": 1, "kind": "camera", "what": "dome", "to": "wall-1", "wall": "wall",
    }  # fmt: skip
    # PTZ take-over: steer the dome from the keyboard (Ctrl+arrow), then let go.
    before = len(room.entries())
    ctl = room.ptz.controller_of(room.window.wall.tiles[0])
    assert ctl is not None
    assert ctl.ptz is not None
    ctl.ptz.capabilities().result(WAIT_MS / 1000)  # connected (the first WSDL load is slow)
    room.window.wall.setFocus()
    qtbot.keyPress(room.window.wall, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(room.entries()) > before, timeout=WAIT_MS)
    qtbot.keyRelease(room.window.wall, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyPress(room.window.wall, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyRelease(room.window.wall, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier)
    take = _one_new(room, before, "ptz.takeover")  # the second nudge is the same take-over
    assert take["details"] == {"camera": "dome"}
    # Export: Ctrl+Shift+S's action on the focused tile, once a picture is on it.
    tile = room.window.wall.tiles[0]
    qtbot.waitUntil(lambda: tile.presented > 0, timeout=WAIT_MS)
    before = len(room.entries())
    actions = room.sup.tile_actions[0]
    export = next(a for a in room.window.actions() if a.text().startswith("Export snapshot"))
    assert export.isEnabled()
    export.trigger()
    qtbot.waitUntil(lambda: len(actions.results) == 1, timeout=WAIT_MS)
    entry = _one_new(room, before, "export")
    assert entry["details"]["camera"] == "dome"
    assert entry["details"]["sha256"] == actions.results[0].sha256
    assert Path(entry["details"]["file"]).parent == room.tmp / "exports"


def test_operators_cannot_open_the_configuration_screens(operator_room) -> None:
    room = operator_room
    assert room.sup.open_walls_dialog() is None
    assert not room.action("Configure walls…").isEnabled()
    room.sup.library.save("Centro", room.model.layout)
    room.window.layout_combo.setCurrentIndex(room.window.layout_combo.findData("Centro"))
    menu = room.sup.tile_actions[0].build_menu(room.window.wall.tiles[0])
    seq = next(a for a in menu.actions() if a.text().startswith("Camera sequence"))
    assert not seq.isEnabled()


def test_supervisor_configures_walls_and_the_running_wall_follows(supervisor_room) -> None:
    room = supervisor_room
    assert room.action("Configure walls…").isEnabled()
    dlg = room.sup.open_walls_dialog()
    assert dlg is not None
    assert dlg.name == "wall"  # the wall this workstation runs
    before = len(room.entries())
    assert dlg.set_screen_layout(0, "1x1")
    assert room.walls.models[0].current == "1x1"  # on the running screen at once
    entry = _one_new(room, before, "wall.edit")  # not a layout switch as well
    assert entry["details"]["op"] == "screen.layout"
    before = len(room.entries())
    assert dlg.set_screen_cycle(0, ["1x1", "2x2"], 5.0)
    assert room.walls.drivers[0].sequencer.layouts is not None
    assert room.walls.drivers[0].sequencer.layouts.items == ("1x1", "2x2")
    assert _one_new(room, before, "wall.edit")["details"]["cycle"] == {
        "layouts": ["1x1", "2x2"], "dwell_s": 5.0,
    }  # fmt: skip
    assert dlg.new_wall("Sala B", ["DP-9"])
    assert dlg.rename_wall("Sala B notte")
    assert dlg.delete_wall()
    dlg.select_wall("wall")
    assert not dlg.delete_wall()  # the running wall stays
    assert "cannot be deleted" in dlg.message.text()
    assert dlg.rename_wall("Sala A")
    assert room.walls.wall.name == "Sala A"
    # Saved: a fresh read of the file has it all.
    book = WallBook.load(room.tmp / "state" / "walls-ptz-test-site.json")
    assert book.names() == ["Sala A"]
    screen = book.get("Sala A").screens[0]
    assert (screen.layout, screen.cycle) == ("1x1", LayoutCycle(("1x1", "2x2"), 5.0))
    ops_done = [e["details"]["op"] for e in room.entries() if e["action"] == "wall.edit"]
    assert ops_done == ["screen.layout", "screen.cycle", "create", "rename", "delete", "rename"]


def test_supervisor_sets_a_tile_camera_sequence_from_its_menu(supervisor_room) -> None:
    room = supervisor_room
    actions = room.sup.tile_actions[0]
    tile = room.window.wall.tiles[1]
    menu = actions.build_menu(tile)
    seq = next(a for a in menu.actions() if a.text().startswith("Camera sequence"))
    assert not seq.isEnabled()  # a built-in layout: save it first
    room.sup.saved.save_current("Centro")
    room.window.layout_combo.setCurrentIndex(room.window.layout_combo.findData("Centro"))
    assert room.model.current == "Centro"
    menu = actions.build_menu(tile)
    seq = next(a for a in menu.actions() if a.text() == "Camera sequence…")
    assert seq.isEnabled()
    seq.trigger()
    seq_menu = next(e.__self__ for e in actions.entries)
    dlg = seq_menu.dialog
    assert dlg is not None
    assert dlg.isVisible()
    set_checked(dlg.list, ["dome2", "fixed"])
    dlg.dwell.setValue(4.0)
    before = len(room.entries())
    dlg.accept()
    entry = room.sup.library.get("Centro")
    assert entry is not None
    assert entry.cycles == {1: CameraCycle(("dome2", "fixed"), 4.0)}
    assert room.sup.main_driver.sequencer.tiles.keys() == {1}  # running at once
    edit = _one_new(room, before, "layout.edit")
    assert edit["details"] == {
        "op": "cycle", "name": "Centro", "tile": 2,
        "cycle": {"cameras": ["dome2", "fixed"], "dwell_s": 4.0},
    }  # fmt: skip
