"""Encrypted streams: rtsps:// from gst-rtsp-server over TLS, https:// from a TLS HTTP server."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest

from app.site.model import CredentialRef, Stream, StreamRole
from app.streams.engine import StreamEngine
from app.streams.status import StreamState
from app.streams.urls import open_url
from app.streams.worker import StreamOptions
from tests.helpers import wait_for
from tests.servers import RtspServerProcess

pytestmark = [pytest.mark.rtsp, pytest.mark.timeout(90)]

FAST = StreamOptions(timeout=3.0, stall_after=2.0, backoff_initial=0.2, backoff_max=1.0)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1, as most cameras ship with."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture(scope="module")
def rtsps_server(certificate: tuple[str, str]) -> Iterator[RtspServerProcess]:
    cert, key = certificate
    server = RtspServerProcess(["--tls-cert", cert, "--tls-key", key])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def engine() -> Iterator[StreamEngine]:
    eng = StreamEngine(FAST, url_resolver=open_url)
    yield eng
    eng.shutdown(2.0)


def _rtsps(server: RtspServerProcess, mount: str) -> str:
    return server.url(mount).replace("rtsp://", "rtsps://", 1)


def test_rtsps_stream_goes_live(engine: StreamEngine, rtsps_server: RtspServerProcess) -> None:
    handle = engine.open(_rtsps(rtsps_server, "/cam1/sub"))
    frame = wait_for(lambda: handle.slot.latest(), 20, "a frame over rtsps")
    assert (frame.width, frame.height) == (640, 360)
    assert handle.status.state == StreamState.LIVE


def test_rtsps_with_credentials(
    engine: StreamEngine, rtsps_server: RtspServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_TLS_USER", "viewer")
    monkeypatch.setenv("T_TLS_PASS", "wrong")
    cred = CredentialRef("tls", "env:T_TLS_USER", "env:T_TLS_PASS")
    url = _rtsps(rtsps_server, "/secure/sub")
    handle = engine.open(Stream(StreamRole.SUB, url, credential=cred))
    wait_for(lambda: handle.status.state == StreamState.UNAUTHORIZED, 20, "unauthorized")
    engine.release(handle)
    monkeypatch.setenv("T_TLS_PASS", "s3cret")
    handle = engine.open(Stream(StreamRole.SUB, url, credential=cred))
    wait_for(lambda: handle.slot.latest(), 20, "a frame with the right password over rtsps")


def test_plain_rtsp_client_is_not_served_by_a_tls_camera(
    engine: StreamEngine, rtsps_server: RtspServerProcess
) -> None:
    # Record transitions: each failed attempt is "offline" only until the next retry (0.1-1 s
    # with these options), which polling can miss on a busy machine.
    seen: list[tuple[StreamState, str]] = []
    engine.status_changed.connect(lambda _key, st: seen.append((st.state, st.reason)))
    handle = engine.open(rtsps_server.url("/cam1/sub"))  # rtsp:// to a TLS-only port
    try:
        wait_for(
            lambda: any(state in (StreamState.OFFLINE, StreamState.ERROR) for state, _ in seen),
            30,
            "the plain-text attempt to fail",
        )
    except AssertionError as exc:  # say what the worker did instead
        raise AssertionError(f"{exc}; transitions {seen}; alive {handle.worker.alive}") from None
    failed = [(state, reason) for state, reason in seen if state != StreamState.CONNECTING]
    assert failed[0][0] in (StreamState.OFFLINE, StreamState.ERROR), seen
    assert failed[0][1]  # with a reason
    assert handle.slot.latest() is None
    assert StreamState.LIVE not in [state for state, _ in seen]


def _ts_clip(path: Path, seconds: int = 8) -> None:
    """An H.264 MPEG-TS clip with a 1 s GOP, like a camera's HTTP stream."""
    with av.open(str(path), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height = 320, 240
        stream.pix_fmt = "yuv420p"
        stream.options = {"g": "25", "preset": "ultrafast", "tune": "zerolatency"}
        for i in range(seconds * 25):
            img = np.full((240, 320, 3), (i * 7) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.fixture
def https_server(tmp_path: Path, certificate: tuple[str, str]) -> Iterator[str]:
    _ts_clip(tmp_path / "clip.ts")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[misc]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="https-server", daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/clip.ts"
    finally:
        server.shutdown()
        server.server_close()


def test_https_stream_decodes(engine: StreamEngine, https_server: str) -> None:
    handle = engine.open(https_server)
    frame = wait_for(lambda: handle.slot.latest(), 20, "a frame over https")
    assert (frame.width, frame.height) == (320, 240)
