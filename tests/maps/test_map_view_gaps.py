"""Map view checks a review found missing: an icon per camera kind, a PMTiles base layer
drawn in the view, and the Edit control following the user's role."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from app.maps.model import MapModel
from app.maps.tiles import PMTilesSource
from app.site.loader import load_site
from app.site.model import CameraKind
from app.users import EDIT_MAP, Role, User, can
from tests.maps.helpers import pmtiles_file, png, tile_colour, write_small_site
from tests.maps.test_map_view import _close, _make_view, _mouse
from widgets.map_view import ICON_R, QtMapView

KIND_OF = {
    "ptz1": CameraKind.PTZ_DOME,
    "fix1": CameraKind.FIXED_DOME,
    "bi1": CameraKind.BI_OPTIC,
    "quad1": CameraKind.QUAD_OPTIC,
}


def _marker_mask(view: QtMapView, camera_id: str) -> tuple[QImage, set[tuple[int, int]]]:
    """Paint the view's own marker item alone on a transparent image; its covered pixels."""
    marker = view.markers[camera_id]
    size = 64
    img = QImage(size, size, QImage.Format.Format_ARGB32)
    img.fill(QColor(0, 0, 0, 0))
    p = QPainter(img)
    p.translate(size / 2, size / 2)
    marker.paint(p, QStyleOptionGraphicsItem(), None)
    p.end()
    covered = {
        (x, y) for x in range(size) for y in range(size) if img.pixelColor(x, y).alpha() > 128
    }
    return img, covered


def test_each_camera_kind_has_its_own_icon(qtbot, tmp_path: Path) -> None:
    site = load_site(write_small_site(tmp_path / "site.yaml"))
    view = _make_view(qtbot, MapModel(site))
    assert {cid: view.markers[cid].state.kind for cid in KIND_OF} == KIND_OF
    # Same status for all (nothing watched), so only the kind can make the icons differ.
    assert len({view.marker_colour(cid).name() for cid in KIND_OF}) == 1
    masks = {cid: _marker_mask(view, cid) for cid in KIND_OF}
    for cid, (_img, covered) in masks.items():
        assert len(covered) > ICON_R * ICON_R, cid  # something was drawn
    ids = list(KIND_OF)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            differ = masks[a][1] ^ masks[b][1]
            assert len(differ) > 20, f"{a} and {b} have the same outline"

    # And the shapes are the documented ones (centre at 32, 32): a circle, a rounded square,
    # a pill along the heading (north here, so taller than wide), a diamond.
    def extent(cid: str) -> tuple[int, int]:
        covered = masks[cid][1]
        xs = [x for x, _ in covered]
        ys = [y for _, y in covered]
        return max(xs) - min(xs) + 1, max(ys) - min(ys) + 1

    c = 32
    r = ICON_R
    corner = (round(c + r * 0.75), round(c + r * 0.75))  # inside a rounded square only
    assert corner in masks["fix1"][1]
    assert all(corner not in masks[cid][1] for cid in ("ptz1", "quad1"))
    w, h = extent("ptz1")
    assert abs(w - h) <= 1  # round
    w, h = extent("bi1")
    assert h >= w * 1.3  # a pill, turned to its heading
    assert extent("quad1")[1] >= extent("ptz1")[1] + 2  # the diamond's points reach further

    # Lenses: white where each kind has them, body colour between.
    def white(cid: str, x: float, y: float) -> bool:
        return _close(masks[cid][0].pixelColor(round(c + x), round(c + y)), QColor(255, 255, 255))

    quad_lenses = ((0, -0.48), (0.48, 0), (0, 0.48), (-0.48, 0))
    assert all(white("quad1", dx * r, dy * r) for dx, dy in quad_lenses)
    assert not white("quad1", 0, 0)
    assert white("bi1", 0, -0.5 * r)
    assert white("bi1", 0, 0.5 * r)
    assert not white("bi1", 0, 0)
    assert white("ptz1", 0, 0)
    assert white("fix1", 0, 0)


def _site_tiles(zooms: tuple[int, ...]) -> dict[tuple[int, int, int], bytes]:
    """Solid 256-px tiles around the test site (45.19 N, 10.01 E), a colour per tile."""
    tiles = {}
    for z in zooms:
        n = 1 << z
        lat = math.radians(45.185)
        cx = int((10.01 + 180) / 360 * n)
        cy = int((1 - math.asinh(math.tan(lat)) / math.pi) / 2 * n)
        for x in range(cx - 3, cx + 4):
            for y in range(cy - 3, cy + 4):
                tiles[(z, x, y)] = png(256, 256, tile_colour(z, x, y))
    return tiles


def test_pmtiles_background_from_the_site_file_is_drawn(qtbot, tmp_path: Path) -> None:
    zooms = (12, 13, 14)
    tiles = _site_tiles(zooms)
    # Small directories force leaf directories, the harder read path, through the widget too.
    pmtiles_file(tmp_path / "city.pmtiles", tiles, max_root_entries=20, leaf_size=16)
    site = load_site(
        write_small_site(
            tmp_path / "site.yaml", "map:\n  background: {kind: pmtiles, path: city.pmtiles}"
        )
    )
    view = _make_view(qtbot, MapModel(site))  # the site's own background, as the app opens it
    assert not view.banner.isVisible(), view.banner.text()
    assert isinstance(view.source, PMTilesSource)
    assert view.attribution.isVisible()
    assert view.attribution.text() == "test tiles"
    layer = view.tile_layer
    assert layer is not None
    qtbot.waitUntil(lambda: layer.drawn > 0, timeout=10000)
    proj = layer.projection
    # Points left of the outlines show the colour of the very tile under them.
    img = view.view.viewport().grab().toImage()
    matched = 0
    probes = range(10, img.height() - 80, 30)
    for y in probes:
        scene = view.view.mapToScene(QPoint(5, y))
        here = (scene.x(), scene.y(), scene.x(), scene.y())
        expected = [
            QColor(*tile_colour(z, tx, ty))
            for z in zooms
            for tx, ty in proj.tiles_covering(z, here)
        ]
        if any(_close(img.pixelColor(5, y), e, 3) for e in expected):
            matched += 1
    assert matched >= len(probes) // 2, f"{matched} of {len(probes)} probes show their tile"
    view.shutdown()


def _drag_marker(qtbot, view: QtMapView, camera_id: str, dy: int) -> QPoint:
    vp = view.view.viewport()
    start = view.marker_view_pos(camera_id)
    _mouse(vp, QEvent.Type.MouseButtonPress, start)
    for d in (5, dy // 2, dy):
        _mouse(vp, QEvent.Type.MouseMove, start + QPoint(0, d))
    _mouse(vp, QEvent.Type.MouseButtonRelease, start + QPoint(0, dy))
    return start


def test_edit_control_is_for_supervisors_only(qtbot, tmp_path: Path, monkeypatch) -> None:
    site = load_site(write_small_site(tmp_path / "site.yaml"))
    before = (tmp_path / "site.yaml").read_text()
    operator = MapModel(site)
    operator.may_edit = can(User("ops", Role.OPERATOR), EDIT_MAP)
    view = _make_view(qtbot, operator)
    drags: list[str] = []
    monkeypatch.setattr(view, "exec_drag", lambda drag: drags.append(drag.mimeData().text()))
    assert not view.edit_button.isEnabled()
    qtbot.mouseClick(view.edit_button, Qt.MouseButton.LeftButton)
    assert not view.edit_mode
    assert not view.edit_button.isChecked()
    view.set_edit_mode(True)  # refused even when asked directly (a shortcut, a script)
    assert not view.edit_mode
    assert not view.edit_button.isChecked()
    assert not view.save_action.isVisible()
    # A drag takes the camera to the wall instead of moving it; [ and ] do not turn it.
    heading = operator.marker("fix1").heading
    start = _drag_marker(qtbot, view, "fix1", -30)
    assert drags == ["fix1"]
    assert view.marker_view_pos("fix1") == start
    view.select("fix1")
    view.view.setFocus()
    qtbot.keyClick(view.view, Qt.Key.Key_BracketRight)
    assert operator.marker("fix1").heading == heading
    assert operator.pending_edits() == {}
    assert (tmp_path / "site.yaml").read_text() == before

    supervisor = MapModel(site)
    supervisor.may_edit = can(User("boss", Role.SUPERVISOR), EDIT_MAP)
    sview = _make_view(qtbot, supervisor)
    assert sview.edit_button.isEnabled()
    qtbot.mouseClick(sview.edit_button, Qt.MouseButton.LeftButton)
    assert sview.edit_mode
    assert sview.edit_button.isChecked()
    start = _drag_marker(qtbot, sview, "fix1", -30)
    assert (sview.marker_view_pos("fix1") - (start + QPoint(0, -30))).manhattanLength() <= 2
    assert set(supervisor.pending_edits()) == {"fix1"}
    # The role applied after the view is built (as at login) takes the control away at once.
    sview.set_may_edit(can(User("ops", Role.OPERATOR), EDIT_MAP))
    assert not sview.edit_button.isEnabled()
    assert not sview.edit_mode
    assert not sview.edit_button.isChecked()
    sview.set_may_edit(can(User("boss", Role.SUPERVISOR), EDIT_MAP))
    assert sview.edit_button.isEnabled()
