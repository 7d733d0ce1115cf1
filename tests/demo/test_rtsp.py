"""The demo fleet over RTSP: the relay child, the stream engine, faults, ONVIF and fallback.

The relay is the real gst-rtsp-server run by Debian's python (CI installs it); these tests
force ``transport="rtsp"`` so a missing package fails them instead of quietly testing HTTP.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from onvif import ONVIFCamera

from app.demo.fleet import DEMO_PASSWORD, DEMO_USER, Fleet, ensure_demo_env
from app.demo.model import Fault
from app.demo.rtsp import RelayUnavailable
from app.site.loader import REFERENCE_SITE, load_site
from app.site.model import CredentialRef, Site, Stream, StreamRole
from app.streams.engine import StreamEngine
from app.streams.status import StreamState
from app.streams.urls import open_url
from app.streams.worker import StreamOptions
from tests.demo.sim import start_sim
from tests.demo.test_fleet import SITE
from tests.helpers import random_fleet_base, start_fleet_on_free_port, wait_for

pytestmark = [pytest.mark.rtsp, pytest.mark.timeout(120)]

# Generous: a loaded CI machine with two cores may take seconds for a first picture.
FAST = StreamOptions(timeout=3.0, stall_after=2.0, backoff_initial=0.2, backoff_max=1.0)
FIRST_FRAME = 20.0


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    ensure_demo_env()
    f = start_fleet_on_free_port(SITE, faults={}, transport="rtsp")
    try:
        yield f
    finally:
        f.stop()
        assert not f.running
        assert f.relay is None


@pytest.fixture
def demo(fleet: Fleet) -> Iterator[Fleet]:
    """The module's fleet, faults cleared and every encoder stopped afterwards."""
    yield fleet
    for cam in fleet.cameras:
        if cam.fault != Fault.NONE:
            fleet.set_fault(cam.id, Fault.NONE)
    wait_for(lambda: not fleet.active_encoders(), 20.0, "encoders to stop after the test")


@pytest.fixture
def engine() -> Iterator[StreamEngine]:
    eng = StreamEngine(FAST, url_resolver=open_url)
    yield eng
    eng.shutdown(2.0)


def site_stream(fleet: Fleet, camera_id: str, optic: int = 0, role: str = "sub") -> Stream:
    """The stream as the application's demo site gives it (URL and credential)."""
    site: Site = fleet.site_for_client()
    camera = next(c for c in site.cameras if c.id == camera_id)
    stream = camera.optics[optic].stream(StreamRole(role))
    assert stream is not None
    return stream


def test_engine_plays_a_demo_camera_over_rtsp_with_recent_stamps(
    demo: Fleet, engine: StreamEngine
) -> None:
    assert demo.transport_in_use == "rtsp"
    stream = site_stream(demo, "quad", optic=1)
    assert stream.url == f"rtsp://127.0.0.1:{demo.rtsp_port}/quad/2/sub"
    handle = engine.open(stream)
    wait_for(lambda: handle.slot.latest(), FIRST_FRAME, "a first frame over RTSP")
    wait_for(lambda: handle.stats().frames_decoded >= 20, FIRST_FRAME, "20 frames")
    stats = handle.stats()
    assert handle.status.state == StreamState.LIVE
    assert stats.codec == "h264"
    assert (stats.width, stats.height) == (640, 360)
    # The stamps are the fleet's render time: recent frames, not a replay (bound generous).
    assert stats.latency_ms_median is not None
    assert 0 < stats.latency_ms_median < 3000
    # The relay pulls the fleet's own stream: one encoder, for that optic and profile.
    [info] = demo.active_encoders()
    assert (info.camera_id, info.optic, info.profile, info.clients) == ("quad", 2, "sub", 1)


def test_one_encoder_for_many_rtsp_clients_stopped_after_the_last_leaves(demo: Fleet) -> None:
    stream = site_stream(demo, "dome", role="main")
    engines = [StreamEngine(FAST, url_resolver=open_url) for _ in range(2)]
    try:
        # The second client joins while the first one plays, as a second operator would
        # (a shared relay pipeline failed every such late joiner: it seeked a live source).
        handles = []
        for e in engines:
            handles.append(e.open(stream))
            h = handles[-1]
            wait_for(lambda h=h: h.slot.latest(), FIRST_FRAME, "a frame for each client")
        # One encoder in the fleet, pulled once per RTSP client by the relay.
        [info] = demo.active_encoders()
        assert (info.camera_id, info.profile, info.clients) == ("dome", "main", 2)
        engines[0].release(handles[0])
        # The other client still plays: its frame count keeps growing.
        n = handles[1].stats().frames_decoded
        wait_for(lambda: handles[1].stats().frames_decoded > n + 10, 15.0, "frames go on")
        assert len(demo.active_encoders()) == 1
        engines[1].release(handles[1])
        wait_for(lambda: not demo.active_encoders(), 20.0, "the encoder to stop")
    finally:
        for e in engines:
            e.shutdown(2.0)


def test_wrong_password_fault_gives_unauthorized_over_rtsp(
    demo: Fleet, engine: StreamEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo.set_fault("fixed", Fault.WRONG_PASSWORD)
    handle = engine.open(site_stream(demo, "fixed"))
    wait_for(lambda: handle.status.state == StreamState.UNAUTHORIZED, 20.0, "unauthorized")
    assert handle.slot.latest() is None
    engine.release(handle)
    # The camera works, with the password it now expects.
    monkeypatch.setenv("T_ROT_USER", DEMO_USER)
    monkeypatch.setenv("T_ROT_PASS", DEMO_PASSWORD + "-rotated")
    cred = CredentialRef("rotated", "env:T_ROT_USER", "env:T_ROT_PASS")
    stream = Stream(StreamRole.SUB, site_stream(demo, "fixed").url, credential=cred)
    rotated = engine.open(stream)
    wait_for(lambda: rotated.slot.latest(), FIRST_FRAME, "a frame with the rotated password")


def test_anonymous_rtsp_client_is_challenged(demo: Fleet, engine: StreamEngine) -> None:
    handle = engine.open(Stream(StreamRole.SUB, site_stream(demo, "dome").url))
    wait_for(lambda: handle.status.state == StreamState.UNAUTHORIZED, 20.0, "unauthorized")


def test_offline_camera_fails_and_cuts_its_rtsp_clients(demo: Fleet, engine: StreamEngine) -> None:
    handle = engine.open(site_stream(demo, "fixed"))
    wait_for(lambda: handle.slot.latest(), FIRST_FRAME, "a frame before the fault")
    demo.set_fault("fixed", Fault.OFFLINE)
    wait_for(lambda: handle.status.state == StreamState.OFFLINE, 20.0, "offline")
    # A new client cannot play it either.
    fresh = StreamEngine(FAST, url_resolver=open_url)
    try:
        other = fresh.open(site_stream(demo, "fixed", role="main"))
        wait_for(lambda: other.status.state == StreamState.OFFLINE, 20.0, "offline for new")
        assert other.slot.latest() is None
    finally:
        fresh.shutdown(2.0)
    wait_for(lambda: not demo.active_encoders(), 20.0, "no encoder for the offline camera")
    demo.set_fault("fixed", Fault.NONE)
    n = handle.stats().frames_decoded
    wait_for(
        lambda: handle.stats().frames_decoded > n and handle.status.state == StreamState.LIVE,
        30.0,
        "live again after the fault",
    )


def test_frozen_camera_sends_no_frames_over_rtsp(demo: Fleet, engine: StreamEngine) -> None:
    demo.set_fault("dome", Fault.FROZEN)
    handle = engine.open(site_stream(demo, "dome"))
    # The relay's pull hangs like any client's: DESCRIBE never completes, the client gives up.
    wait_for(lambda: handle.status.state == StreamState.OFFLINE, 30.0, "offline (timeout)")
    assert handle.slot.latest() is None
    assert handle.stats().frames_decoded == 0
    engine.release(handle)


def test_relay_that_dies_is_restarted_on_its_port(demo: Fleet, engine: StreamEngine) -> None:
    relay = demo.relay
    assert relay is not None
    assert relay.pid is not None
    port = demo.rtsp_port
    os.kill(relay.pid, signal.SIGKILL)  # the child this fleet started for the test
    wait_for(
        lambda: demo.relay is not None and demo.relay is not relay and demo.relay.running,
        30.0,
        "a new relay",
    )
    assert demo.rtsp_port == port
    assert demo.transport_in_use == "rtsp"
    handle = engine.open(site_stream(demo, "quad"))
    wait_for(lambda: handle.slot.latest(), FIRST_FRAME, "a frame from the new relay")


def test_auto_falls_back_to_http_without_gst_rtsp_server(engine: StreamEngine) -> None:
    # The venv's interpreter has no python3-gi: as on a machine without the Debian packages.
    fleet = start_fleet_on_free_port(SITE, faults={}, transport="auto", rtsp_python=sys.executable)
    try:
        assert fleet.transport_in_use == "http"
        assert fleet.relay is None
        assert "RTSP is unavailable" in fleet.transport_note
        stream = site_stream(fleet, "dome")
        assert stream.url == f"{fleet.url('dome')}/video/1/sub.ts"
        handle = engine.open(stream)
        wait_for(lambda: handle.slot.latest(), FIRST_FRAME, "a frame over HTTP")
    finally:
        fleet.stop()


def test_forced_rtsp_without_gst_rtsp_server_is_an_error() -> None:
    fleet = Fleet(SITE, base_port=random_fleet_base(), faults={},
                  transport="rtsp", rtsp_python=sys.executable)  # fmt: skip
    with pytest.raises(RelayUnavailable, match="cannot import"):
        fleet.start()
    assert not fleet.running


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("transport", ["rtsp", "http"])
async def test_get_stream_uri_over_soap_follows_the_transport(
    transport: str, anyio_backend: str
) -> None:
    import asyncio

    fleet = await asyncio.to_thread(start_fleet_on_free_port, SITE, faults={}, transport=transport)
    try:
        cam = ONVIFCamera("127.0.0.1", fleet.port("quad"), DEMO_USER, DEMO_PASSWORD, no_cache=True)
        try:
            await cam.update_xaddrs()
            media = await cam.create_media_service()
            uri = await media.GetStreamUri(
                {
                    "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                    "ProfileToken": "profile_2_main",
                }
            )
        finally:
            await cam.close()
        if transport == "rtsp":
            assert uri.Uri == f"rtsp://127.0.0.1:{fleet.rtsp_port}/quad/3/main"
        else:
            assert uri.Uri == f"{fleet.url('quad')}/video/3/main.ts"
        assert uri.Uri == site_stream(fleet, "quad", optic=2, role="main").url
    finally:
        await asyncio.to_thread(fleet.stop)


def test_torrazzo_sim_prints_rtsp_uris(tmp_path: Any) -> None:
    proc, base, out, err = start_sim(["--transport", "rtsp"], tmp_path)
    try:
        assert "video over RTSP" in out
        assert f"rtsp://127.0.0.1:{base}/cam01/1/main" in out
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, err.read_text()


def test_cremona_site_for_the_app_uses_rtsp(fleet: Fleet) -> None:
    cremona = load_site(REFERENCE_SITE)
    f = start_fleet_on_free_port(cremona, transport="rtsp")
    try:
        site = f.site_for_client()
        urls = [s.url for c in site.cameras for o in c.optics for s in o.streams]
        assert len(urls) > 60
        assert all(u.startswith(f"rtsp://127.0.0.1:{f.rtsp_port}/") for u in urls)
    finally:
        f.stop()
