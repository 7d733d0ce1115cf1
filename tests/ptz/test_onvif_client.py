"""The ONVIF client against the demo fleet: real SOAP over HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from app.demo.fleet import Fleet
from app.demo.model import Fault
from app.onvif import OnvifClient, OnvifError, OnvifErrorKind, OnvifLoop, discover_streams
from app.ptz.factory import PtzRegistry
from app.ptz.model import PtzVector
from app.site.model import Camera, CredentialRef, OnvifEndpoint
from tests.helpers import wait_for
from tests.ptz.helpers import ptz_state


def cam(fleet: Fleet, camera_id: str) -> Camera:
    return fleet.site_for_client().camera(camera_id)


def test_calls_return_futures_at_once_and_run_on_the_onvif_loop(
    fleet: Fleet, onvif_loop: OnvifLoop
) -> None:
    threads: list[str] = []
    client = OnvifClient.for_endpoint(cam(fleet, "dome").onvif, None, onvif_loop)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    future = client.ptz_capabilities(0)
    assert time.perf_counter() - t0 < 0.05  # never blocks the caller
    future.add_done_callback(lambda _: threads.append(threading.current_thread().name))
    caps = future.result(10)
    wait_for(lambda: threads, 10, "the done callback")
    assert threads == ["onvif-loop"]
    assert caps.profile_token == "profile_0_main"
    assert caps.node_token == "ptz_node_0"
    assert (caps.pan_tilt, caps.zoom, caps.continuous, caps.relative, caps.absolute) == (
        True,
        True,
        True,
        True,
        True,
    )
    assert caps.home
    assert caps.max_presets == 64
    assert caps.timeout_range.lo == pytest.approx(0.1)
    assert caps.zoom_range.hi == 1.0
    client.close().result(5)


def test_zoom_only_lens_of_a_quad_optic(fleet: Fleet, registry: PtzRegistry) -> None:
    ctl = registry.controller(cam(fleet, "quad"), optic=2)
    caps = ctl.capabilities().result(10)
    assert caps.profile_token == "profile_2_main"
    assert caps.zoom
    assert not caps.pan_tilt
    ctl.continuous_move(PtzVector(pan=1.0, zoom=1.0), 0.3).result(5)
    state = ptz_state(fleet, "quad", 2)
    wait_for(lambda: state.position().zoom > 0.02, 10, "the lens to zoom")
    assert state.position().pan == 0.0


def test_discover_streams_of_a_camera_known_only_by_onvif(
    fleet: Fleet, onvif_loop: OnvifLoop
) -> None:
    quad = cam(fleet, "quad")
    assert quad.onvif is not None
    streams = discover_streams(quad.onvif, None, onvif_loop).result(10)
    port = fleet.port("quad")
    assert len(streams) == 8
    assert (0, "main", f"http://127.0.0.1:{port}/video/1/main.ts") in streams
    assert (3, "sub", f"http://127.0.0.1:{port}/video/4/sub.ts") in streams
    # The credential may come separately from the endpoint.
    bare = OnvifEndpoint(quad.onvif.host, quad.onvif.port)
    again = discover_streams(bare, quad.onvif.credential, onvif_loop).result(10)
    assert sorted(again) == sorted(streams)


def test_fixed_camera_has_no_ptz(fleet: Fleet, registry: PtzRegistry) -> None:
    with pytest.raises(OnvifError) as e:
        registry.controller(cam(fleet, "fixed")).capabilities().result(10)
    assert e.value.kind == OnvifErrorKind.NOT_SUPPORTED
    assert "no PTZ" in e.value.message


def test_unreachable_camera(fleet: Fleet, registry: PtzRegistry) -> None:
    fleet.set_fault("dome2", Fault.OFFLINE)
    with pytest.raises(OnvifError) as e:
        registry.controller(cam(fleet, "dome2")).stop().result(10)
    assert e.value.kind == OnvifErrorKind.UNREACHABLE
    assert "connection refused" in e.value.message
    # It comes back: the next command rediscovers and works.
    fleet.set_fault("dome2", Fault.NONE)
    assert registry.controller(cam(fleet, "dome2")).stop().result(10) is True


def test_wrong_password(fleet: Fleet, registry: PtzRegistry) -> None:
    fleet.set_fault("dome2", Fault.WRONG_PASSWORD)
    with pytest.raises(OnvifError) as e:
        registry.controller(cam(fleet, "dome2")).capabilities().result(10)
    assert e.value.kind == OnvifErrorKind.UNAUTHORIZED
    assert "password" in e.value.message


def test_missing_credential_variable_is_reported_without_secrets(
    fleet: Fleet, onvif_loop: OnvifLoop
) -> None:
    dome = cam(fleet, "dome")
    assert dome.onvif is not None
    ref = CredentialRef("nowhere", "env:TORRAZZO_NO_SUCH_USER", "env:TORRAZZO_NO_SUCH_PW")
    client = OnvifClient(dome.onvif.host, dome.onvif.port, ref, onvif_loop)
    with pytest.raises(OnvifError) as e:
        client.profiles().result(10)
    assert e.value.kind == OnvifErrorKind.CREDENTIAL
    assert "TORRAZZO_NO_SUCH_USER" in e.value.message
    client.close().result(5)


def test_device_fault_text_reaches_the_caller(fleet: Fleet, registry: PtzRegistry) -> None:
    with pytest.raises(OnvifError) as e:
        registry.controller(cam(fleet, "dome")).goto_preset("42").result(10)
    assert e.value.kind == OnvifErrorKind.DEVICE
    assert "no preset '42'" in e.value.message


def test_clock_offset_is_corrected(
    fleet: Fleet, onvif_loop: OnvifLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.demo.onvif.service as service

    real = service._now
    # The camera's clock is 20 minutes ahead: far beyond the 300 s WS-Security window.
    monkeypatch.setattr(service, "_now", lambda: real() + dt.timedelta(minutes=20))
    client = OnvifClient.for_endpoint(cam(fleet, "dome").onvif, None, onvif_loop)  # type: ignore[arg-type]
    try:
        caps = client.ptz_capabilities(0).result(10)
        assert client.status(caps.profile_token).result(5).pan == pytest.approx(0.0, abs=1e-3)
    finally:
        client.close().result(5)


def test_presets_save_rename_go_and_home(fleet: Fleet, registry: PtzRegistry) -> None:
    ctl = registry.controller(cam(fleet, "dome"))
    state = ptz_state(fleet, "dome")
    ctl.absolute_move(0.3, -0.2, 0.1).result(5)
    wait_for(lambda: not any(state.moving()), 10, "the dome to arrive")
    token = ctl.set_preset("Ingresso").result(5)
    assert ctl.set_preset("Ingresso ovest", token).result(5) == token
    (preset,) = ctl.presets().result(5)
    assert (preset.token, preset.name) == (token, "Ingresso ovest")
    assert preset.pan == pytest.approx(0.3, abs=1e-3)
    ctl.goto_home().result(5)
    wait_for(lambda: abs(state.position().pan) < 1e-6, 10, "home")
    ctl.goto_preset(token).result(5)
    wait_for(lambda: abs(state.position().pan - 0.3) < 1e-3, 10, "the preset")
    status = ctl.status().result(5)
    assert status.tilt == pytest.approx(-0.2, abs=1e-3)


def test_stop_is_never_overtaken_by_an_earlier_move(fleet: Fleet, registry: PtzRegistry) -> None:
    ctl = registry.controller(cam(fleet, "dome"))
    ctl.capabilities().result(10)
    state = ptz_state(fleet, "dome")
    before = state.moves
    for _ in range(20):
        futures = [ctl.continuous_move(PtzVector(pan=0.5), 5.0) for _ in range(5)]
        stop = ctl.stop()
        assert stop.result(5) is True
        for f in futures:
            f.result(5)
        assert state.moving() == (False, False)
    # Moves queued behind one in flight were replaced by newer ones: fewer than 120 went out.
    assert state.moves - before < 120


def test_close_while_connecting_keeps_no_connection(
    fleet: Fleet, onvif_loop: OnvifLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A layout switch closes the clients of tiles that just opened: a connect still on the
    # wire must not store its connection (and HTTP session) on a client already closed.
    import gc

    import aiohttp

    soap = fleet._servers["dome"]._soap
    assert soap is not None
    real = soap.handle
    asked, answer = threading.Event(), threading.Event()

    def slow(path: str, headers: object, body: bytes) -> object:
        if b"GetProfiles" in body:
            asked.set()
            answer.wait(10)
        return real(path, headers, body)  # type: ignore[arg-type]

    monkeypatch.setattr(soap, "handle", slow)

    def open_sessions() -> int:
        return sum(isinstance(o, aiohttp.ClientSession) and not o.closed for o in gc.get_objects())

    before = open_sessions()
    client = OnvifClient.for_endpoint(cam(fleet, "dome").onvif, None, onvif_loop)  # type: ignore[arg-type]
    profiles = client.profiles()
    assert asked.wait(10), "the connect reached GetProfiles"
    closed = client.close()
    answer.set()
    closed.result(5)
    with pytest.raises(OnvifError) as e:
        profiles.result(10)
    assert e.value.kind == OnvifErrorKind.CLOSED
    assert open_sessions() == before


def test_http_401_from_the_device_is_a_wrong_password(onvif_loop: OnvifLoop) -> None:
    # Some cameras check HTTP authentication before they read the SOAP body at all.
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Refuses(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Digest realm="camera", nonce="1"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = OnvifClient("127.0.0.1", server.server_address[1], ("admin", "old"), onvif_loop)
    try:
        with pytest.raises(OnvifError) as e:
            client.profiles().result(15)
    finally:
        client.close().result(5)
        server.shutdown()
        server.server_close()
    assert e.value.kind == OnvifErrorKind.UNAUTHORIZED, e.value
    assert "password" in e.value.message
