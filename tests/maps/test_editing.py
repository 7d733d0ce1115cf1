"""Placing and turning cameras writes the site file (round-trip, atomic) and keeps a backup."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest

from app.maps.editing import KEEP_BACKUPS, EditError, Placement, apply_placements, save_placements
from app.maps.geojson import site_geojson, site_geojson_text
from app.maps.model import MapModel
from app.site.loader import REFERENCE_SITE, load_site
from tests.maps.helpers import write_small_site

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def _changed_lines(old: str, new: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_reference_site_round_trips_byte_for_byte() -> None:
    text = REFERENCE_SITE.read_text(encoding="utf-8")
    assert apply_placements(text, {}) == text
    new = apply_placements(text, {"cam01": Placement(lat=45.13, lon=9.9571234, heading=95)})
    assert _changed_lines(text, new) == [
        "-    lat: 45.1290",
        "-    lon: 9.9560",
        "-    heading: 120",
        "+    lat: 45.13",
        "+    lon: 9.957123",
        "+    heading: 95",
    ]


def test_turning_a_multi_optic_camera_turns_every_optic(tmp_path: Path) -> None:
    path = write_small_site(tmp_path / "site.yaml")
    site, _backup = save_placements(path, {"quad1": Placement(heading=30)})
    quad = site.camera("quad1")
    assert quad.heading == 30
    assert [o.heading for o in quad.optics] == [30, 120, 210, 300]


def test_model_edits_save_to_the_file_with_a_backup(tmp_path: Path) -> None:
    path = write_small_site(tmp_path / "site.yaml")
    before = path.read_text()
    model = MapModel(load_site(path))
    assert model.editable
    counts: list[int] = []
    model.edits_changed.connect(counts.append)
    x, y = model.marker("fix1").position or (0, 0)
    model.move_camera("fix1", x + 100, y - 50)  # 100 m east, 50 m north
    model.turn_camera("fix1", 370)
    assert model.marker("fix1").heading == 10
    assert model.pending_edits()["fix1"].heading == 10
    assert path.read_text() == before  # nothing written until saved
    backup = model.save_edits()
    assert counts == [1, 1, 0]
    assert backup is not None
    assert backup.read_text() == before
    assert backup.name.startswith("site.yaml.")
    assert backup.name.endswith(".bak")
    after = path.read_text()
    assert "# A small site for map tests; this comment must survive an edit." in after
    assert 'name: "Piazza PTZ"  # quoted on purpose' in after
    cam = load_site(path).camera("fix1")
    assert cam.heading == 10
    assert cam.latitude == pytest.approx(45.192 + 50 / 111_200, abs=2e-6)
    assert cam.longitude == pytest.approx(10.015 + 100 / 78_600, abs=5e-6)
    assert len(_changed_lines(before, after)) == 6  # lat, lon, heading: old and new
    assert model.site.camera("fix1").heading == 10
    assert model.save_edits() is None  # nothing pending
    assert not list(tmp_path.glob("*.tmp"))


def test_revert_restores_positions(tmp_path: Path) -> None:
    model = MapModel(load_site(write_small_site(tmp_path / "site.yaml")))
    start = model.marker("ptz1")
    model.move_camera("ptz1", 0, 0)
    model.turn_camera("ptz1", 45)
    model.revert_edits()
    assert model.marker("ptz1").position == start.position
    assert model.marker("ptz1").heading == start.heading
    assert model.pending_edits() == {}


def test_floor_plan_edits_write_map_xy(tmp_path: Path) -> None:
    path = write_small_site(
        tmp_path / "site.yaml", "map:\n  background: {kind: image, path: p.png}"
    )
    model = MapModel(load_site(path))
    model.move_camera("ptz1", 300.25, 40)
    model.save_edits()
    assert "    map_xy: [300.2, 40]" in path.read_text() or "    map_xy: [300.3, 40]" in (
        path.read_text()
    )
    assert load_site(path).camera("ptz1").map_xy == pytest.approx((300.25, 40), abs=0.06)


def test_a_failed_save_leaves_the_file_alone(tmp_path: Path) -> None:
    path = write_small_site(tmp_path / "site.yaml")
    before = path.read_text()
    with pytest.raises(EditError, match="cameras not in the site file: nope"):
        save_placements(path, {"nope": Placement(heading=1)})
    with pytest.raises(EditError, match="would not load"):
        save_placements(path, {"ptz1": Placement(lat=123.0)})  # latitude out of range
    assert path.read_text() == before
    assert not list(tmp_path.glob("*.bak"))
    if os.geteuid() != 0:  # root ignores permissions
        tmp_path.chmod(0o500)
        try:
            with pytest.raises(EditError, match="cannot write"):
                save_placements(path, {"ptz1": Placement(heading=1)})
        finally:
            tmp_path.chmod(0o700)
        assert path.read_text() == before


def test_backups_are_kept_and_pruned(tmp_path: Path) -> None:
    path = write_small_site(tmp_path / "site.yaml")
    versions = [path.read_text()]
    for i in range(KEEP_BACKUPS + 2):
        save_placements(path, {"ptz1": Placement(heading=i)})
        versions.append(path.read_text())
    backups = sorted(tmp_path.glob("site.yaml.*.bak"), key=lambda p: p.stat().st_mtime_ns)
    assert len(backups) == KEEP_BACKUPS
    assert backups[-1].read_text() == versions[-2]  # the newest backup: the version before


def test_shipped_geojson_matches_the_site_file() -> None:
    site = load_site(REFERENCE_SITE)
    shipped = (RESOURCES / "maps" / "cremona.geojson").read_text(encoding="utf-8")
    assert shipped == site_geojson_text(site), "regenerate resources/maps/cremona.geojson"
    data = json.loads(shipped)
    polygons = [f for f in data["features"] if f["geometry"]["type"] == "Polygon"]
    assert len(polygons) == 9
    ring = polygons[0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    assert ring[0] == [9.954, 45.1345]  # [lon, lat]
    assert len([f for f in site_geojson(site)["features"] if f["id"].startswith("cam")]) == 30


def test_only_a_user_allowed_to_edit_the_map_may_edit(tmp_path: Path) -> None:
    from app.users import EDIT_MAP, Role, User, can

    model = MapModel(load_site(write_small_site(tmp_path / "site.yaml")))
    assert model.editable
    model.may_edit = can(User("ops", Role.OPERATOR), EDIT_MAP)
    assert not model.editable
    model.may_edit = can(User("boss", Role.SUPERVISOR), EDIT_MAP)
    assert model.editable
