"""Multi-optic controls besides the keys, the camera tree, and a restored optic selection."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolBar

from app.health import StatusBoard
from app.layouts import ops
from app.layouts.store import WallModel, load_wall_state, save_wall_state
from app.site.loader import REFERENCE_SITE, load_site
from app.streams.engine import StreamEngine
from app.streams.urls import open_url
from app.streams.worker import StreamOptions
from tests.widgets.test_multi_optic import BI, QUAD, _optic_keys, _window, fleet  # noqa: F401
from tests.widgets.windows import show_main_window
from widgets.bridge import MainThreadBridge
from widgets.camera_tree import CAMERA_ID_ROLE, QtCameraTree
from widgets.export import TileActions
from widgets.optic_actions import ALL_OPTICS, add_optic_actions


def _menu_action(actions: TileActions, tile, pane: int, starts: str):
    menu = actions.build_menu(tile, pane)
    found = [a for a in menu.actions() if a.text().startswith(starts)]
    assert len(found) == 1, [a.text() for a in menu.actions()]
    return found[0]


def test_all_optics_button_and_menu_return_to_the_mosaic(qtbot, tmp_path: Path) -> None:
    # No video needed: the reference site's cameras point at ports nothing listens on.
    site = load_site(REFERENCE_SITE)
    win, engine, model = _window(qtbot, site, tmp_path, [QUAD, "cam01"])
    actions = TileActions(win.wall, engine, None, MainThreadBridge())
    act = add_optic_actions(win, win.wall, actions)
    try:
        bar = win.findChild(QToolBar, "layout")
        assert act in bar.actions()
        assert act.text() == ALL_OPTICS
        assert not act.isEnabled()  # the mosaic is already shown
        win.wall.select_optic(0, 2)
        assert model.layout.tiles[0].optic == 2
        assert act.isEnabled()
        act.trigger()
        assert model.layout.tiles[0].optic is None
        assert len(win.wall.tiles[0].panes) == 4
        assert not act.isEnabled()
        # The tile's menu: on a mosaic pane, show that optic; on one optic, back to all.
        quad = win.wall.tiles[0]
        _menu_action(actions, quad, 1, "Show optic 2").trigger()
        assert model.layout.tiles[0].optic == 1
        _menu_action(actions, win.wall.tiles[0], 0, ALL_OPTICS).trigger()
        assert model.layout.tiles[0].optic is None
        # A single-optic camera gets neither entry, and the button stays off on it.
        fixed_menu = actions.build_menu(win.wall.tiles[1], 0)
        assert not [a for a in fixed_menu.actions() if "optic" in a.text().lower()]
        model.apply(lambda lay: ops.focus(lay, 1))
        assert not act.isEnabled()
    finally:
        win.close()
        engine.shutdown(2.0)


def test_camera_tree_shows_a_multi_optic_device_once_with_its_optics(qtbot) -> None:
    site = load_site(REFERENCE_SITE)
    engine = StreamEngine()
    tree = QtCameraTree(site, StatusBoard(engine), MainThreadBridge())
    qtbot.addWidget(tree)
    model = tree.model
    devices: dict[str, list] = {}
    for g in range(model.rowCount()):
        group = model.item(g)
        for r in range(group.rowCount()):
            item = group.child(r)
            devices.setdefault(item.data(CAMERA_ID_ROLE), []).append(item)
    assert set(devices) == {c.id for c in site.cameras}
    assert all(len(items) == 1 for items in devices.values())  # each device once
    quad, bi = devices[QUAD][0], devices[BI][0]
    names = [o.name for o in site.camera(QUAD).optics]
    assert [quad.child(i).text() for i in range(quad.rowCount())] == [
        f"optic {i + 1}: {n}" for i, n in enumerate(names)
    ]
    assert all(quad.child(i).data(CAMERA_ID_ROLE) == QUAD for i in range(4))
    assert bi.rowCount() == 2
    assert devices["cam01"][0].rowCount() == 0  # a single-optic camera has nothing beneath
    # Searching for the device keeps it, with its optics, and hides the rest.
    tree.search.setText(site.camera(QUAD).name)
    proxy = tree.proxy
    shown = [
        proxy.index(r, 0, proxy.index(g, 0))
        for g in range(proxy.rowCount())
        for r in range(proxy.rowCount(proxy.index(g, 0)))
    ]
    assert [i.data(CAMERA_ID_ROLE) for i in shown] == [QUAD]
    assert proxy.rowCount(shown[0]) == 4
    engine.shutdown(1.0)


def test_restored_optic_selection_decodes_only_that_optic(
    qtbot,
    fleet,  # noqa: F811
    tmp_path: Path,
) -> None:
    site = fleet.site_for_client()
    path = tmp_path / "wall.json"
    saved = WallModel(load_wall_state(path), [])
    saved.apply(lambda lay: ops.select_optic(ops.new_layout("2x2", [QUAD]), 0, 2))
    save_wall_state(path, saved.state())
    # A new session: the wall comes back from the file, with optic 3 selected.
    engine = StreamEngine(
        StreamOptions(timeout=2.0, backoff_initial=0.2, backoff_max=1.0), url_resolver=open_url
    )
    model = WallModel(load_wall_state(path), [])
    win = show_main_window(qtbot, site, engine, model)
    try:
        tile = win.wall.tiles[0]
        assert model.layout.tiles[0].optic == 2
        assert len(tile.panes) == 1
        port = fleet.port(QUAD)
        assert _optic_keys(engine, port) == ["/video/3/sub.ts"]  # never the other optics
        qtbot.waitUntil(lambda: tile.presented > 0, timeout=20000)
        assert _optic_keys(engine, port) == ["/video/3/sub.ts"]
        # Esc on the restored wall brings every optic back.
        win.wall.setFocus()
        qtbot.keyClick(win.wall, Qt.Key.Key_Escape)
        qtbot.waitUntil(
            lambda: _optic_keys(engine, port) == [f"/video/{i}/sub.ts" for i in range(1, 5)],
            timeout=10000,
        )
    finally:
        win.close()
        engine.shutdown(2.0)
