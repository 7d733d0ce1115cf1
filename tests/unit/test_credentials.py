"""Tests of credential references and of putting credentials into, and out of, stream URLs."""

from __future__ import annotations

import base64
import io
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import av
import numpy as np
import pytest

from app.site.credentials import (
    CredentialError,
    redact,
    resolve,
    resolve_reference,
    url_with_credentials,
)
from app.site.model import CredentialRef

DEMO = CredentialRef("demo", "env:TORRAZZO_T_USER", "env:TORRAZZO_T_PASSWORD")


def test_resolve_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORRAZZO_T_USER", "operatore")
    monkeypatch.setenv("TORRAZZO_T_PASSWORD", "p@ss:wörd")
    assert resolve(DEMO) == ("operatore", "p@ss:wörd")
    # An explicit mapping wins over os.environ (used by the demo fleet and tests).
    env = {"TORRAZZO_T_USER": "u2", "TORRAZZO_T_PASSWORD": ""}
    assert resolve(DEMO, env) == ("u2", "")


def test_missing_variable_names_the_reference_not_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORRAZZO_T_USER", "topsecretuser")
    monkeypatch.delenv("TORRAZZO_T_PASSWORD", raising=False)
    with pytest.raises(CredentialError) as info:
        resolve(DEMO)
    msg = str(info.value)
    assert msg == (
        "credential 'demo' (password): environment variable TORRAZZO_T_PASSWORD is not set"
    )
    assert "topsecretuser" not in msg
    assert (info.value.reference, info.value.credential) == ("env:TORRAZZO_T_PASSWORD", "demo")


def test_a_literal_value_is_not_echoed() -> None:
    with pytest.raises(CredentialError) as info:
        resolve_reference("hunter2")
    assert "hunter2" not in str(info.value)
    assert "env:VARIABLE or keyring:SERVICE/ENTRY" in str(info.value)


def test_keyring_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes ``import keyring`` raise ImportError, installed or not.
    monkeypatch.setitem(sys.modules, "keyring", None)
    ref = CredentialRef("vault", "env:TORRAZZO_T_USER", "keyring:torrazzo/cam-password")
    with pytest.raises(CredentialError) as info:
        resolve(ref, {"TORRAZZO_T_USER": "u"})
    assert str(info.value) == (
        "credential 'vault' (password): keyring:torrazzo/cam-password needs the 'keyring'"
        " Python package, which is not installed (pip install keyring), or use an env: reference"
    )


@pytest.fixture
def fake_keyring(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], str]:
    """A keyring module with the one function we call, backed by a dict."""
    store: dict[tuple[str, str], str] = {}
    module = types.ModuleType("keyring")
    module.get_password = lambda service, entry: store.get((service, entry))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", module)
    return store


def test_keyring_reference(fake_keyring: dict[tuple[str, str], str]) -> None:
    fake_keyring[("torrazzo/site", "cam-user")] = "admin"
    fake_keyring[("torrazzo/site", "cam-password")] = "s3cret"
    ref = CredentialRef(
        "vault", "keyring:torrazzo/site/cam-user", "keyring:torrazzo/site/cam-password"
    )
    assert resolve(ref) == ("admin", "s3cret")

    del fake_keyring[("torrazzo/site", "cam-password")]
    with pytest.raises(CredentialError) as info:
        resolve(ref)
    assert str(info.value) == (
        "credential 'vault' (password): keyring:torrazzo/site/cam-password: no entry"
        " 'cam-password' for service 'torrazzo/site' in the keyring"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://10.0.0.5:554/Streaming/101", "rtsp://op%20one:p%40ss%3Aw%2Frd%23%3F@10.0.0.5:554/Streaming/101"),
        ("http://127.0.0.1:18101/video/1/main.ts?x=1", "http://op%20one:p%40ss%3Aw%2Frd%23%3F@127.0.0.1:18101/video/1/main.ts?x=1"),
        ("rtsps://old:pw@cam.local/s", "rtsps://op%20one:p%40ss%3Aw%2Frd%23%3F@cam.local/s"),
        ("rtsp://[fe80::1]:554/s", "rtsp://op%20one:p%40ss%3Aw%2Frd%23%3F@[fe80::1]:554/s"),
        ("file:///var/clips/a.ts", "file:///var/clips/a.ts"),
        ("/var/clips/a.ts", "/var/clips/a.ts"),
    ],
)  # fmt: skip
def test_url_with_credentials(url: str, expected: str) -> None:
    with_creds = url_with_credentials(url, "op one", "p@ss:w/rd#?")
    assert with_creds == expected
    parts = urlsplit(with_creds)
    if parts.scheme in ("rtsp", "rtsps", "http"):
        assert (unquote(parts.username or ""), unquote(parts.password or "")) == (
            "op one",
            "p@ss:w/rd#?",
        )
        assert redact(with_creds) == url.replace("old:pw@", "")


def test_url_with_empty_credentials_is_unchanged() -> None:
    assert url_with_credentials("rtsp://h/s", "", "") == "rtsp://h/s"
    assert url_with_credentials("rtsp://h/s", "viewer", "") == "rtsp://viewer@h/s"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:s3cret@10.0.0.5:554/live", "rtsp://10.0.0.5:554/live"),
        ("rtsp://admin@10.0.0.5/live", "rtsp://10.0.0.5/live"),
        # An unencoded '/' or '#' in a password must not leak its tail.
        ("rtsp://admin:se/cr#et@10.0.0.5/live", "rtsp://10.0.0.5/live"),
        ("http://h/snap.jpg?user=a&password=s3cret&ch=1", "http://h/snap.jpg?user=a&password=***&ch=1"),
        ("http://127.0.0.1:18101/video/1/main.ts", "http://127.0.0.1:18101/video/1/main.ts"),
        ("/var/clips/a.ts", "/var/clips/a.ts"),
        ("not a url", "not a url"),
        ("", ""),
    ],
)  # fmt: skip
def test_redact(url: str, expected: str) -> None:
    assert redact(url) == expected
    assert "s3cret" not in redact(url)


def _tiny_ts() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as out:
        stream = out.add_stream("mpeg2video", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(25):
            img = np.full((48, 64, 3), i * 10, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def test_ffmpeg_decodes_percent_encoded_credentials_over_http() -> None:
    """The stream engine hands url_with_credentials' output to PyAV: the server must see the
    original user and password, special characters included, in HTTP basic auth."""
    user, password = "opérateur", "p@ss w/rd#?%&:"
    expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    payload = _tiny_ts()
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            if seen[-1] != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="torrazzo"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/video/1/main.ts"
        with av.open(url_with_credentials(url, user, password), timeout=5) as container:
            frames = sum(1 for _ in container.decode(video=0))
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert frames == 25
    assert expected in seen
