"""Bi- and quad-optic cameras on the wall, against the demo's virtual cameras."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.demo.fleet import ensure_demo_env
from app.layouts import ops
from app.layouts.store import WallModel, load_wall_state, save_wall_state
from app.site.loader import REFERENCE_SITE, load_site
from app.streams.engine import StreamEngine
from app.streams.status import CameraStatus, StreamState
from app.streams.urls import open_url
from app.streams.worker import StreamOptions
from tests.helpers import start_fleet_on_free_port
from tests.widgets.windows import show_main_window
from widgets.bridge import MainThreadBridge

QUAD, BI = "cam10", "cam03"


@pytest.fixture(scope="module")
def fleet():
    ensure_demo_env()
    f = start_fleet_on_free_port(load_site(REFERENCE_SITE), faults={})
    yield f
    f.stop()


def _window(qtbot, site, tmp_path: Path, tiles: list[str]):
    engine = StreamEngine(
        StreamOptions(timeout=2.0, backoff_initial=0.2, backoff_max=1.0), url_resolver=open_url
    )
    model = WallModel(load_wall_state(tmp_path / "wall.json"), [])
    model.apply(lambda lay: ops.new_layout("2x2", tiles))
    return show_main_window(qtbot, site, engine, model), engine, model


def _optic_keys(engine: StreamEngine, port: int) -> list[str]:
    return sorted(k.split(f":{port}")[1] for k in engine.open_keys() if f":{port}/" in k)


def test_mosaic_selection_and_saved_layout(qtbot, fleet, tmp_path: Path) -> None:
    site = fleet.site_for_client()
    win, engine, model = _window(qtbot, site, tmp_path, [QUAD, BI])
    try:
        quad, bi = win.wall.tiles[0], win.wall.tiles[1]
        assert len(quad.panes) == 4
        assert len(bi.panes) == 2
        port = fleet.port(QUAD)
        # The mosaic decodes all four optics, each on its sub stream (the panes are small).
        assert _optic_keys(engine, port) == [f"/video/{i}/sub.ts" for i in range(1, 5)]
        qtbot.waitUntil(lambda: all(p.has_picture for p in quad.panes), timeout=20000)
        # Press 3 on the focused tile: optic 3 alone fills the tile; the others stop decoding.
        win.wall.setFocus()
        qtbot.keyClick(win.wall, Qt.Key.Key_3)
        assert model.layout.tiles[0].optic == 2
        assert len(quad.panes) == 1
        qtbot.waitUntil(lambda: _optic_keys(engine, port) == ["/video/3/sub.ts"], timeout=5000)
        # Maximised, the selected optic is large enough for its main stream.
        qtbot.keyClick(win.wall, Qt.Key.Key_Return)
        qtbot.waitUntil(lambda: _optic_keys(engine, port) == ["/video/3/main.ts"], timeout=20000)
        qtbot.keyClick(win.wall, Qt.Key.Key_Return)  # un-maximise
        # The selection is part of the layout and survives a save and a restart.
        save_wall_state(tmp_path / "wall.json", model.state())
        restored = WallModel(load_wall_state(tmp_path / "wall.json"))
        assert restored.layout.tiles[0].optic == 2
        # Esc goes back to the mosaic.
        qtbot.keyClick(win.wall, Qt.Key.Key_Escape)
        assert model.layout.tiles[0].optic is None
        assert len(quad.panes) == 4
        # Clicking one optic of the bi-optic mosaic selects it.
        rect = bi.pane_rects()[1]
        qtbot.mouseClick(bi, Qt.MouseButton.LeftButton, pos=rect.center())
        assert model.layout.tiles[1].optic == 1
        # Ctrl+E expands the quad-optic into four tiles and back.
        win.wall.model.apply(lambda lay: ops.focus(lay, 0))
        qtbot.keyClick(win.wall, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
        assert [(t.camera_id, t.optic) for t in model.layout.tiles] == [
            (QUAD, 0),
            (QUAD, 1),
            (QUAD, 2),
            (QUAD, 3),
        ]
        qtbot.keyClick(win.wall, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
        assert [(t.camera_id, t.optic) for t in model.layout.tiles][:2] == [(QUAD, None), (BI, 1)]
    finally:
        win.close()
        engine.shutdown(2.0)


def test_a_dead_optic_shows_the_device_degraded(qtbot, fleet, tmp_path: Path) -> None:
    site = fleet.site_for_client()
    quad = site.camera(QUAD)
    dead_optic = quad.optics[1]
    dead_streams = tuple(
        dataclasses.replace(s, url="http://127.0.0.1:9/dead.ts") for s in dead_optic.streams
    )
    optics = (
        quad.optics[0],
        dataclasses.replace(dead_optic, streams=dead_streams),
        *quad.optics[2:],
    )
    broken = dataclasses.replace(quad, optics=optics)
    site = dataclasses.replace(
        site, cameras=tuple(broken if c.id == QUAD else c for c in site.cameras)
    )
    win, engine, _model = _window(qtbot, site, tmp_path, [QUAD])
    try:
        tile = win.wall.tiles[0]
        qtbot.waitUntil(lambda: tile.pane_states().count(StreamState.LIVE) == 3, timeout=20000)
        qtbot.waitUntil(lambda: tile.pane_states()[1] == StreamState.OFFLINE, timeout=10000)
        qtbot.waitUntil(lambda: win.tree.camera_state(QUAD) == "degraded", timeout=10000)
        # The tile's one status badge says how many of the device's optics are up.
        qtbot.waitUntil(
            lambda: tile.overlay.badge() == (CameraStatus.DEGRADED, "DEGRADED · 3/4 optics"),
            timeout=10000,
        )
    finally:
        win.close()
        engine.shutdown(2.0)


def _mosaic_clip(path: Path) -> Path:
    """A 2x2 mosaic clip: red, green / blue, white quadrants, as one composite device sends."""
    import av
    import numpy as np

    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
    img = np.zeros((360, 640, 3), np.uint8)
    for k, rgb in enumerate(colours):
        r, c = divmod(k, 2)
        img[r * 180 : (r + 1) * 180, c * 320 : (c + 1) * 320] = rgb
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 640, 360, "yuv420p"
        for i in range(50):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for p in s.encode(frame):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def test_composite_stream_crop_shows_the_right_quadrant(qtbot, tmp_path: Path) -> None:
    clip = _mosaic_clip(tmp_path / "mosaic.mp4")
    site_file = tmp_path / "site.yaml"
    site_file.write_text(
        f"""schema_version: 1
name: Composite
neighbourhoods: [{{id: h, name: H}}]
cameras:
  - id: mosaic
    name: Mosaic device
    neighbourhood: h
    kind: quad-optic
    composite: true
    streams: {{main: {clip}, sub: {clip}}}
"""
    )
    site = load_site(site_file)
    win, engine, _model = _window(qtbot, site, tmp_path, ["mosaic"])
    try:
        tile = win.wall.tiles[0]
        assert len(tile.panes) == 1  # a composite mosaic is one picture
        qtbot.waitUntil(lambda: tile.presented > 3, timeout=10000)
        win.wall.select_optic(0, 2)  # optic 3: bottom-left, blue
        qtbot.waitUntil(lambda: tile.presented > 10, timeout=10000)

        def centre_colour():
            image = tile.panes[0].surface.grab().toImage()
            return image.pixelColor(image.width() // 2, image.height() // 2)

        qtbot.waitUntil(
            lambda: centre_colour().blue() > 200 and centre_colour().red() < 60, timeout=5000
        )
        assert tile.feed.forced_role == "main"
        win.wall.select_optic(0, 1)  # optic 2: top-right, green
        qtbot.waitUntil(
            lambda: centre_colour().green() > 200 and centre_colour().blue() < 60, timeout=5000
        )
    finally:
        win.close()
        engine.shutdown(2.0)


def test_onvif_only_cameras_get_their_streams_and_optics(qtbot, fleet, tmp_path: Path) -> None:
    """A site entry with only the ONVIF address: media profiles give the streams, and a device
    with four video sources becomes one camera with four optics."""
    from app.onvif.client import discover_streams
    from app.site.discovery import StreamDiscovery, needs_discovery
    from app.site.model import Optic

    site = fleet.site_for_client()
    stripped = []
    for cam in site.cameras:
        if cam.id in (QUAD, "cam01"):
            # As written in a site file with only `onvif:`: one optic, no streams.
            cam = dataclasses.replace(cam, optics=(Optic(0, cam.name),))
        stripped.append(cam)
    site = dataclasses.replace(site, cameras=tuple(stripped))
    assert needs_discovery(site.camera(QUAD))
    win, engine, _model = _window(qtbot, site, tmp_path, [QUAD, "cam01"])
    discovery = StreamDiscovery(lambda cam: discover_streams(cam.onvif, cam.onvif.credential))
    bridge = MainThreadBridge()
    discovery.camera_discovered.connect(bridge.wrap(win.wall.update_camera, owner=win.wall))
    try:
        assert discovery.start(site.cameras) == 2
        quad = win.wall.tiles[0]
        qtbot.waitUntil(lambda: len(quad.panes) == 4, timeout=20000)
        assert quad.camera is not None
        assert len(quad.camera.optics) == 4
        qtbot.waitUntil(lambda: all(p.has_picture for p in quad.panes), timeout=20000)
        qtbot.waitUntil(lambda: win.wall.tiles[1].presented > 0, timeout=20000)
        assert win.wall.tiles[1].feed.stream is not None
        assert win.wall.tiles[1].feed.stream.url.endswith("/video/1/sub.ts")
    finally:
        discovery.stop()
        win.close()
        engine.shutdown(2.0)


def test_discovery_retries_until_the_camera_answers() -> None:
    import concurrent.futures

    from app.site.discovery import StreamDiscovery
    from app.site.model import Camera as SiteCamera
    from app.site.model import CameraKind, OnvifEndpoint, Optic

    calls = []

    def discover(cam):
        calls.append(cam.id)
        f: concurrent.futures.Future = concurrent.futures.Future()
        if len(calls) < 3:
            f.set_exception(ConnectionRefusedError("refused"))
        else:
            f.set_result(
                [
                    (0, "main", "rtsp://h/0/main"),
                    (0, "sub", "rtsp://h/0/sub"),
                    (1, "main", "rtsp://h/1/main"),
                ]
            )
        return f

    cam = SiteCamera(
        "c",
        "C",
        "n",
        CameraKind.FIXED_DOME,
        optics=(Optic(0, "C"),),
        onvif=OnvifEndpoint("127.0.0.1", 1),
    )
    found = []
    d = StreamDiscovery(discover, retry_initial=0.01)
    d.camera_discovered.connect(found.append)
    d.start([cam])
    import time

    deadline = time.monotonic() + 5
    while not found and time.monotonic() < deadline:
        time.sleep(0.01)
    d.stop()
    assert len(calls) == 3
    assert [len(o.streams) for o in found[0].optics] == [2, 1]
