"""A minimal HTTP server on 127.0.0.1 that feeds POSTs to an OnvifService, for the ONVIF tests."""

from __future__ import annotations

import functools
import pathlib
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import onvif
from lxml import etree

from app.demo.model import VirtualCamera
from app.demo.onvif import OnvifService

_XS = "http://www.w3.org/2001/XMLSchema"
_ENV = "http://www.w3.org/2003/05/soap-envelope"
_WSDL_DIR = pathlib.Path(onvif.__file__).parent / "wsdl"


@functools.cache
def onvif_schema() -> etree.XMLSchema:
    """The XML Schema of the Device, Media, PTZ and Imaging messages, from the client's WSDLs."""
    imports = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("devicemgmt", "media", "ptz", "imaging"):
            for k, schema in enumerate(
                etree.parse(_WSDL_DIR / f"{name}.wsdl").iter(f"{{{_XS}}}schema")
            ):
                for imp in schema.iter(f"{{{_XS}}}import"):
                    if loc := imp.get("schemaLocation"):
                        imp.set("schemaLocation", (_WSDL_DIR / loc).resolve().as_uri())
                path = pathlib.Path(tmp) / f"{name}{k}.xsd"
                path.write_bytes(etree.tostring(schema))
                imports.append(
                    f'<xs:import namespace="{schema.get("targetNamespace")}" '
                    f'schemaLocation="{path.as_uri()}"/>'
                )
        # Compiled in memory, so the files may go once this returns.
        return etree.XMLSchema(
            etree.fromstring(f'<xs:schema xmlns:xs="{_XS}">{"".join(imports)}</xs:schema>')
        )


def schema_errors(reply: bytes) -> list[str]:
    """Why a response is not a valid SOAP 1.2 ONVIF message; [] when it is."""
    try:
        root = etree.fromstring(reply)
    except etree.XMLSyntaxError as e:
        return [f"not XML: {e}"]
    body = root.find(f"{{{_ENV}}}Body")
    if root.tag != f"{{{_ENV}}}Envelope" or body is None or len(body) != 1:
        return ["not a SOAP 1.2 envelope with one body element"]
    if body[0].tag == f"{{{_ENV}}}Fault":
        return []  # faults are checked by the tests through the client's view of them
    schema = onvif_schema()
    return [] if schema.validate(body[0]) else [str(e) for e in schema.error_log]


class OnvifTestServer:
    """Serves one camera's ONVIF service on an ephemeral 127.0.0.1 port, in a thread.

    Use as a context manager; ``port`` and ``base_url`` are valid inside it.
    """

    def __init__(
        self,
        camera: VirtualCamera,
        *,
        username: str = "operatore",
        password: str = "segreto",
        stream_uri: Callable[[int, str], str] | None = None,
        snapshot_uri: Callable[[int], str] | None = None,
    ) -> None:
        self.camera = camera
        self.requests: list[str] = []  # paths, in order, for assertions
        self.invalid: list[str] = []  # schema errors of any response sent
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the aiohttp client expects
            # Headers and body go out in two writes; with Nagle on, the second one waits
            # for the client's delayed ACK and every request takes 40 ms more.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size)
                server.requests.append(self.path)
                status, ctype, reply = server.service.handle(
                    self.path, dict(self.headers.items()), body
                )
                server.invalid += schema_errors(reply)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the test output is not the place for an access log

        class Server(ThreadingHTTPServer):
            # The default backlog of 5 makes concurrent connects wait for a SYN retry (1 s).
            request_queue_size = 64

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.service = OnvifService(
            camera,
            username=username,
            password=password,
            stream_uri=stream_uri
            or (lambda i, role: f"rtsp://127.0.0.1:8554/{camera.id}/{i}/{role}"),
            snapshot_uri=snapshot_uri or (lambda i: f"{self.base_url}/snapshot/{i}.jpg"),
            base_url=self.base_url,
        )
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> OnvifTestServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
