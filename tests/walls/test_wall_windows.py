"""Wall screens as plain offscreen windows: placement, a screen unplugged, push, sequences."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.health import StatusBoard
from app.layouts import editor as ed
from app.layouts import ops
from app.layouts.library import LayoutLibrary
from app.layouts.model import Cell, WallState
from app.layouts.store import WallModel
from app.sequences import CameraCycle, LayoutCycle
from app.site.loader import load_site
from app.streams.engine import StreamEngine
from app.streams.worker import StreamOptions
from app.walls import default_wall
from tests.sites import write_rtsp_site
from widgets.bridge import MainThreadBridge
from widgets.walls import VirtualScreens, WallController


class Clock:
    def __init__(self) -> None:
        self.t = 500.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def rig(qtbot, rtsp_server, tmp_path: Path):
    site = load_site(
        write_rtsp_site(tmp_path / "site.yaml", f"rtsp://127.0.0.1:{rtsp_server.port}")
    )
    engine = StreamEngine(StreamOptions(timeout=2.0, backoff_initial=0.2, backoff_max=1.0))
    board = StatusBoard(engine)
    library = LayoutLibrary(tmp_path / "site.layouts.json")
    spec = ed.merge(ed.new_spec("Piazza", 2, 3), Cell(0, 0, 2, 2))
    library.save(
        "Piazza",
        ops.new_layout(spec, ["cam1", "cam2", "cam3"]),
        {1: CameraCycle(("cam2", "cam3"), 5.0)},
    )
    screens = VirtualScreens(["op", "DP-1", "DP-2"])
    wall = default_wall(["DP-1", "DP-2"], ["1x1", "2x2"]).with_cycle(
        1, LayoutCycle(("2x2", "Piazza"), 20.0)
    )
    models = [
        WallModel(WallState(current=ws.layout), ["cam1", "cam2", "cam3"]) for ws in wall.screens
    ]
    clock = Clock()
    ctl = WallController(
        wall,
        models,
        screens,
        site,
        engine,
        board,
        MainThreadBridge(),
        library,
        fullscreen=False,
        avoid=["op"],
        clock=clock,
        resume_after_s=30.0,
        timers=False,
    )
    yield ctl, screens, models, clock, engine
    ctl.close()
    assert engine.shutdown(2.0) == []


def test_one_window_per_screen_and_an_unplugged_screen_moves_to_a_remaining_one(rig, qtbot) -> None:
    ctl, screens, models, _clock, _engine = rig
    win1, win2 = ctl.windows
    assert win1.isVisible()
    assert win2.isVisible()
    assert [(p.screen, p.home) for p in ctl.placements] == [("DP-1", True), ("DP-2", True)]
    assert win2.geometry().x() == 2 * 960  # on DP-2's area
    qtbot.waitUntil(lambda: win1.wall.tiles[0].presented > 0, timeout=15000)
    screens.unplug("DP-2")
    assert [(p.screen, p.home) for p in ctl.placements] == [("DP-1", True), ("DP-1", False)]
    assert win2.isVisible()
    assert 960 <= win2.geometry().x() < 2 * 960  # now a guest window on DP-1
    assert "DP-1" in win2.windowTitle()
    assert models[1].current == "2x2"  # the same layout, still decoding
    qtbot.waitUntil(lambda: win2.wall.tiles[0].presented > 0, timeout=15000)
    screens.unplug("DP-1")  # only the operator's screen is left: both go there
    assert {p.screen for p in ctl.placements} == {"op"}
    screens.plug("DP-1")
    screens.plug("DP-2")
    assert all(p.home for p in ctl.placements)
    assert win2.geometry().x() == 2 * 960


def test_push_camera_and_layout_and_the_wall_remembers_its_layouts(rig, qtbot) -> None:
    ctl, _screens, models, _clock, _engine = rig
    pushes: list[tuple[int, str, str]] = []
    walls = []
    ctl.pushed.connect(lambda *a: pushes.append(a))
    ctl.wall_changed.connect(walls.append)
    ctl.push_camera(0, "cam3")
    assert models[0].layout.tiles[0].camera_id == "cam3"
    tile = ctl.windows[0].wall.tiles[0]
    qtbot.waitUntil(lambda: tile.camera is not None and tile.camera.id == "cam3", timeout=10000)
    qtbot.waitUntil(lambda: tile.presented > 0, timeout=15000)
    operator = ops.new_layout("1+5", ["cam2", "cam1"])
    ctl.push_layout(0, "1+5", operator)
    assert models[0].current == "1+5"
    assert models[0].layout.tiles[:2] == operator.tiles[:2]
    assert len(ctl.windows[0].wall.tiles) == 6
    ctl.push_layout(1, "Piazza")  # a saved custom layout by name, cameras as saved
    assert models[1].layout.spec.cells[0] == Cell(0, 0, 2, 2)
    assert len(ctl.windows[1].wall.tiles) == 3
    assert pushes == [(0, "camera", "cam3"), (0, "layout", "1+5"), (1, "layout", "Piazza")]
    assert [ws.layout for ws in ctl.wall.screens] == ["1+5", "Piazza"]
    assert walls[-1] == ctl.wall


def test_sequences_cycle_and_pause_while_the_operator_works(rig, qtbot) -> None:
    ctl, _screens, models, clock, _engine = rig
    driver = ctl.drivers[1]
    clock.t += 20.0
    ctl.tick()  # screen 2's layout cycle: 2x2 → Piazza (saved, with a tile cycle)
    assert models[1].current == "Piazza"
    assert driver.sequencer.tiles.keys() == {1}
    assert models[1].layout.tiles[1].camera_id == "cam2"
    clock.t += 5.0
    ctl.tick()
    assert models[1].layout.tiles[1].camera_id == "cam3"
    win = ctl.windows[1]
    qtbot.mouseClick(win.wall.tiles[2], Qt.MouseButton.LeftButton)  # the operator steps in
    assert driver.sequencer.paused
    clock.t += 25.0
    ctl.tick()
    assert models[1].current == "Piazza"
    assert models[1].layout.tiles[1].camera_id == "cam3"
    clock.t += 5.0 + 5.0  # idle time over, then one whole dwell
    ctl.tick()
    assert models[1].layout.tiles[1].camera_id == "cam2"
    # A click on another screen's window does not pause this one.
    qtbot.mouseClick(ctl.windows[0].wall.tiles[0], Qt.MouseButton.LeftButton)
    assert not driver.sequencer.paused


def test_only_a_screen_with_cycles_watches_the_applications_input(rig, qtbot) -> None:
    """An application-wide event filter costs every event of the process; a screen without
    cycles has nothing to pause, so it installs none (and one appears with a cycle)."""
    ctl, _screens, models, _clock, _engine = rig
    still, cycling = ctl.drivers
    assert not still.sequencer.tiles
    assert still.sequencer.layouts is None
    assert not still.watches_input
    assert cycling.watches_input  # screen 2 has a layout cycle
    still.set_layout_cycle(LayoutCycle(("1x1", "2x2"), 30.0))
    assert still.watches_input
    qtbot.mouseClick(ctl.windows[0].wall.tiles[0], Qt.MouseButton.LeftButton)
    assert still.sequencer.paused  # the click reached it
    still.set_layout_cycle(None)
    assert not still.watches_input
    assert models[1].current == "2x2"  # no tile cycles in it
    cycling.set_layout_cycle(None)
    assert not cycling.watches_input
