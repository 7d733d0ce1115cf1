"""MapModel without Qt: projection, counts, attention, filters, cones, PTZ pose, real events."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from app.health import StatusBoard
from app.maps.geometry import Cone, cone_polygon, polygon_centroid, zoom_reach
from app.maps.model import MapModel
from app.maps.projection import GeoProjection, PixelProjection
from app.site.loader import REFERENCE_SITE, load_site
from app.site.model import CameraKind, Stream, StreamRole
from app.streams.engine import StreamEngine
from app.streams.status import CameraStatus, StreamState, StreamStatus
from app.streams.worker import StreamOptions
from tests.maps.helpers import write_small_site

LIVE = StreamStatus.now(StreamState.LIVE)
OFFLINE = StreamStatus.now(StreamState.OFFLINE, "connection refused", next_retry_in=1.0)


@pytest.fixture(scope="module")
def cremona():
    return load_site(REFERENCE_SITE)


def test_projection_round_trip_and_metres() -> None:
    p = GeoProjection(45.14, 10.01)
    assert p.to_scene(45.14, 10.01) == pytest.approx((0.0, 0.0), abs=1e-6)
    x, y = p.to_scene(45.15, 10.02)
    # North is up (negative y); one scene unit is about a metre here.
    assert y < 0
    assert x > 0
    assert -y == pytest.approx(1112, rel=0.01)  # 0.01 degree of latitude
    assert x == pytest.approx(787, rel=0.01)  # 0.01 degree of longitude at 45.1°
    lat, lon = p.to_geo(x, y)
    assert (lat, lon) == pytest.approx((45.15, 10.02), abs=1e-9)


def test_tile_rectangles_contain_their_points() -> None:
    p = GeoProjection(45.14, 10.01)
    lat, lon, z = 45.1448, 10.0231, 15
    n = 1 << z
    tx = int((lon + 180) / 360 * n)
    ty = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    x0, y0, x1, y1 = p.tile_rect(z, tx, ty)
    x, y = p.to_scene(lat, lon)
    assert x0 <= x < x1
    assert y0 <= y < y1
    assert (tx, ty) in p.tiles_covering(z, (x - 1, y - 1, x + 1, y + 1))
    # At the zoom chosen for a scale, a tile is about 256 screen pixels wide.
    scale = 0.1  # pixels per scene unit
    zoom = round(p.zoom_for(scale))
    r = p.tile_rect(zoom, tx >> (z - zoom), ty >> (z - zoom))
    assert 128 < (r[2] - r[0]) * scale < 512


def test_cremona_counts_and_labels(cremona) -> None:
    model = MapModel(cremona)
    assert model.counts()["giuseppina"] == (0, 8)
    assert sum(total for _live, total in model.counts().values()) == 30
    giuseppina = [c.id for c in cremona.cameras if c.neighbourhood == "giuseppina"]
    changed: list[str] = []
    model.counts_changed.connect(changed.append)
    for cid in giuseppina[:7]:
        model.set_status(cid, CameraStatus.LIVE, LIVE)
    model.set_status(giuseppina[7], CameraStatus.OFFLINE, OFFLINE)
    assert model.neighbourhood("giuseppina").label == "Giuseppina 7/8 live"
    assert changed == ["giuseppina"] * 7
    # Every placed camera lies inside the scene box of the site's outlines.
    hoods = model.neighbourhoods()
    xs = [x for h in hoods for x, _ in h.outline]
    ys = [y for h in hoods for _, y in h.outline]
    for m in model.markers():
        assert m.position is not None
        assert min(xs) <= m.position[0] <= max(xs)
        assert min(ys) <= m.position[1] <= max(ys)


def test_attention_until_acknowledged(cremona) -> None:
    model = MapModel(cremona)
    counts: list[int] = []
    model.attention_changed.connect(counts.append)
    model.set_status("cam05", CameraStatus.LIVE, LIVE)
    assert model.attention() == []
    model.set_status("cam05", CameraStatus.OFFLINE, OFFLINE)
    assert model.attention() == ["cam05"]
    assert model.marker("cam05").attention
    assert "Went down" in model.marker("cam05").tooltip()
    # Retries (offline → connecting → offline) are not new events, before or after an ack.
    model.set_status("cam05", CameraStatus.OFFLINE, StreamStatus.now(StreamState.OFFLINE, "x"))
    model.set_status("cam05", CameraStatus.CONNECTING, StreamStatus.now(StreamState.CONNECTING))
    model.set_status("cam05", CameraStatus.OFFLINE, OFFLINE)
    assert counts == [1]
    assert model.acknowledge("cam05")
    model.set_status("cam05", CameraStatus.CONNECTING, StreamStatus.now(StreamState.CONNECTING))
    model.set_status("cam05", CameraStatus.OFFLINE, OFFLINE)
    assert model.attention() == []
    model.set_status("cam05", CameraStatus.OFFLINE, OFFLINE)
    # Down again after being live: a new alarm.
    model.set_status("cam05", CameraStatus.LIVE, LIVE)
    model.set_status("cam05", CameraStatus.OFFLINE, OFFLINE)
    assert model.attention() == ["cam05"]
    assert counts == [1, 0, 1]
    # Recovering does not clear it: the operator must see that it happened.
    model.set_status("cam05", CameraStatus.LIVE, LIVE)
    assert model.marker("cam05").attention
    assert model.acknowledge("cam05") is True
    assert model.acknowledge("cam05") is False
    assert counts == [1, 0, 1, 0]
    model.set_status("cam05", CameraStatus.UNAUTHORIZED, StreamStatus.now(StreamState.UNAUTHORIZED))
    model.set_status("cam06", CameraStatus.OFFLINE, OFFLINE)
    model.set_status("cam07", CameraStatus.STALLED, StreamStatus.now(StreamState.STALLED))
    assert model.attention() == ["cam05", "cam06"]
    assert model.acknowledge_all() == ["cam05", "cam06"]
    assert model.attention() == []


def test_filters(cremona) -> None:
    model = MapModel(cremona)
    fired: list[bool] = []
    model.filter_changed.connect(lambda: fired.append(True))
    model.set_filter(neighbourhoods=["po"])
    assert sum(model.is_visible(m.camera_id) for m in model.markers()) == 7
    model.set_filter(kinds=[CameraKind.QUAD_OPTIC])
    assert {m.camera_id for m in model.markers() if model.is_visible(m.camera_id)} == {
        "cam10",
        "cam12",
        "cam16",
        "cam17",
    }
    model.set_filter(statuses=["offline"])
    assert not any(model.is_visible(m.camera_id) for m in model.markers())
    model.set_status("cam01", CameraStatus.OFFLINE, OFFLINE)
    assert [m.camera_id for m in model.markers() if model.is_visible(m.camera_id)] == ["cam01"]
    model.set_filter()
    assert all(model.is_visible(m.camera_id) for m in model.markers())
    assert len(fired) == 4


def test_cones_and_ptz_pose(tmp_path: Path) -> None:
    model = MapModel(load_site(write_small_site(tmp_path / "site.yaml")))
    (cone,) = model.marker("ptz1").cones()
    assert (cone.bearing, cone.fov, cone.reach) == (90.0, 60.0, 1.0)
    poly = cone_polygon(cone, 10.0)
    assert poly[0] == (0.0, 0.0)
    tip = poly[1 + (len(poly) - 1) // 2]  # middle of the arc: straight east, y down
    assert tip == pytest.approx((10.0, 0.0), abs=0.5)
    changed: list[str] = []
    model.marker_changed.connect(changed.append)
    model.set_ptz_pose("ptz1", 200.0, 6.0)
    (cone,) = model.marker("ptz1").cones()
    assert cone.bearing == 200.0
    assert cone.fov == 6.0
    assert cone.reach > 2  # zoomed in: drawn longer
    assert changed == ["ptz1"]
    model.set_ptz_pose("ptz1", 560.0, 6.0)  # same bearing, normalised: no event
    assert changed == ["ptz1"]
    with pytest.raises(ValueError, match="field of view"):
        model.set_ptz_pose("ptz1", 0, 0)
    quad = model.marker("quad1").cones()
    assert [c.bearing for c in quad] == [0.0, 90.0, 180.0, 270.0]
    fixed = model.marker("fix1").cones()
    assert fixed[0].fov == 90.0  # no fov in the file: the kind's default


def test_geometry_helpers() -> None:
    assert zoom_reach(60, 60) == 1.0
    assert 1.0 < zoom_reach(60, 30) < zoom_reach(60, 10) <= 2.5
    assert polygon_centroid([(0, 0), (4, 0), (4, 2), (0, 2)]) == pytest.approx((2, 1))
    full = cone_polygon(Cone(0, 360), radius=5)
    assert all(math.hypot(x, y) == pytest.approx(5) for x, y in full)


def test_floor_plan_site_uses_pixels(tmp_path: Path) -> None:
    site = load_site(
        write_small_site(
            tmp_path / "site.yaml", "map:\n  background: {kind: image, path: plan.png}"
        )
    )
    model = MapModel(site)
    assert isinstance(model.projection, PixelProjection)
    assert model.marker("bi1").position == (120.0, 80.0)
    assert model.marker("ptz1").position is None  # no map_xy: not on the floor plan
    assert not model.is_visible("ptz1")
    assert model.neighbourhood("north").outline == ()


def test_real_status_board_events_reach_the_model(cremona) -> None:
    """A real stream to a closed port: worker → engine → StatusBoard → MapModel."""
    engine = StreamEngine(StreamOptions(timeout=1.0, backoff_initial=5.0))
    try:
        board = StatusBoard(engine)
        model = MapModel(cremona, board)
        url = "http://127.0.0.1:9/dead.ts"  # discard port: nothing listens
        board.bind(url, "cam11")
        engine.open(Stream(role=StreamRole.SUB, url=url), "map-test")
        deadline = time.monotonic() + 10
        while model.marker("cam11").status is not CameraStatus.OFFLINE:
            assert time.monotonic() < deadline, model.marker("cam11")
            time.sleep(0.02)
        m = model.marker("cam11")
        assert m.attention
        assert "connection refused" in m.status_text()
        # The engine's own event, as a worker emits it, recolours in the same way.
        engine.status_changed.emit(url, StreamStatus.now(StreamState.LIVE))
        assert model.marker("cam11").status is CameraStatus.LIVE
        assert model.counts()["giuseppina"] == (1, 8)
    finally:
        assert engine.shutdown(2.0) == []
