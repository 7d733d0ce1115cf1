"""The HTTP/1.1 server of one virtual camera: ONVIF SOAP, live MPEG-TS video and JPEG snapshots.

Routes (port ``base_port + N``, 127.0.0.1 only):

* ``POST /onvif/...``: delegated to the camera's :class:`~app.demo.onvif.OnvifService`
  (which checks WS-Security itself); keep-alive connections are honoured.
* ``GET /video/{optic}/{main|sub}.ts``: live H.264 in MPEG-TS, close-delimited body,
  HTTP Basic auth.
* ``GET /snapshot/{optic}.jpg``: JPEG of the current picture, HTTP Basic auth.

Faults are applied here: an unreachable camera (offline, flapping-down) closes its
listening socket and resets every open connection; a wrong-password camera expects a
rotated password; a frozen camera accepts video requests but sends nothing (and streams
already playing stop moving: the encoder pauses).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

from app.demo.model import Fault, VirtualCamera
from app.demo.streaming import StreamHub, snapshot_jpeg

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_HEADER_LINE = 8192
MAX_BODY = 1_000_000
VIDEO_SNDBUF = 64 * 1024
IDLE_TIMEOUT = 30.0  # keep-alive connections idle longer than this are closed
# What a camera with the wrong-password fault expects instead (the ONVIF service agrees).
ROTATED_SUFFIX = "-rotated"
_VIDEO = re.compile(r"^/video/(\d+)/(main|sub)\.ts$")
_SNAPSHOT = re.compile(r"^/snapshot/(\d+)\.jpg$")


class SoapHandler(Protocol):
    """What the server needs of the ONVIF service."""

    def handle(
        self, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, str, bytes]: ...


SoapFactory = Callable[[VirtualCamera, str], SoapHandler]  # (camera, base_url) -> handler


class Headers(dict[str, str]):
    """Request headers with case-insensitive lookup (keys stored lower-case)."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    version: str
    headers: Headers
    body: bytes

    @property
    def keep_alive(self) -> bool:
        conn = (self.headers.get("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return conn == "keep-alive"
        return conn != "close"


class BadRequest(Exception):
    pass


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """Read one request; None at a clean end of connection."""
    line = await reader.readline()
    if not line:
        return None
    try:
        method, target, version = line.decode("latin-1").split()
    except ValueError as exc:
        raise BadRequest(f"bad request line {line[:80]!r}") from exc
    headers = Headers()
    while True:
        raw = await reader.readline()
        if len(raw) > MAX_HEADER_LINE:
            raise BadRequest("header line too long")
        if raw in (b"\r\n", b"\n", b""):
            break
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep:
            raise BadRequest("malformed header")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if "chunked" in (headers.get("transfer-encoding") or "").lower():
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readline()
            if sum(map(len, parts)) > MAX_BODY:
                raise BadRequest("body too large")
        body = b"".join(parts)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if length > MAX_BODY:
            raise BadRequest("body too large")
        body = await reader.readexactly(length)
    return Request(method.upper(), target.split("?", 1)[0], version, headers, body)


def response_head(
    status: int, content_type: str | None, length: int | None, extra: Mapping[str, str] = {}
) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", "Server: torrazzo-sim"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines.extend(f"{k}: {v}" for k, v in extra.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class CameraServer:
    """Serves one virtual camera on ``127.0.0.1:port`` and applies its faults.

    Thread: asyncio loop thread only.
    """

    def __init__(
        self,
        camera: VirtualCamera,
        port: int,
        hub: StreamHub,
        *,
        username: str,
        password: str,
        soap_factory: SoapFactory | None = None,
        relay_credential: tuple[str, str] | None = None,
    ) -> None:
        self.camera = camera
        self.port = port
        self.base_url = f"http://{HOST}:{port}"
        self._hub = hub
        self._username = username
        self._password = password
        # The fleet's RTSP relay pulls video with a credential of its own, accepted whatever
        # the camera's fault: the relay applies the camera's own credentials to RTSP clients.
        self._relay_credential = relay_credential
        self._soap = soap_factory(camera, self.base_url) if soap_factory else None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconcile_lock = asyncio.Lock()
        self.requests = 0

    def stream_uri(self, optic_index: int, profile: str) -> str:
        return f"{self.base_url}/video/{optic_index + 1}/{profile}.ts"

    def snapshot_uri(self, optic_index: int) -> str:
        return f"{self.base_url}/snapshot/{optic_index + 1}.jpg"

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def reconcile(self) -> None:
        """Listen while the camera is up; refuse and reset everything while it is down."""
        async with self._reconcile_lock:
            up = self.camera.is_up()
            if up and self._server is None:
                self._server = await asyncio.start_server(
                    self._connection, HOST, self.port, reuse_address=True, limit=MAX_HEADER_LINE * 2
                )
                log.debug("%s listening on %s", self.camera.id, self.base_url)
            elif not up and self._server is not None:
                log.info("%s goes down (%s)", self.camera.id, self.camera.fault)
                await self._go_down()

    async def _go_down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # RST, like a camera that lost power or network
        self._hub.close_camera(self.camera.id)

    async def close(self) -> None:
        await self._go_down()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except (BadRequest, ValueError) as exc:  # ValueError: over-long line, bad numbers
            log.debug("%s: bad request: %s", self.camera.id, exc)
            with contextlib.suppress(ConnectionError):
                writer.write(response_head(400, "text/plain", 0, {"Connection": "close"}))
        except asyncio.CancelledError:
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await asyncio.wait_for(read_request(reader), IDLE_TIMEOUT)
            if request is None:
                return
            self.requests += 1
            if request.path.startswith("/onvif/"):
                await self._onvif(request, writer)
            elif m := _VIDEO.match(request.path):
                if await self._video(request, reader, writer, int(m.group(1)) - 1, m.group(2)):
                    return  # a stream body is close-delimited
            elif m := _SNAPSHOT.match(request.path):
                await self._snapshot(request, writer, int(m.group(1)) - 1)
            else:
                await self._simple(writer, 404, b"not found\n", request.keep_alive)
            if not request.keep_alive:
                return

    async def _simple(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        keep_alive: bool,
        extra: Mapping[str, str] = {},
    ) -> None:
        headers = dict(extra)
        if not keep_alive:
            headers["Connection"] = "close"
        writer.write(response_head(status, "text/plain", len(body), headers) + body)
        await writer.drain()

    async def _onvif(self, request: Request, writer: asyncio.StreamWriter) -> None:
        if self._soap is None:
            await self._simple(writer, 404, b"no ONVIF service\n", request.keep_alive)
            return
        if request.method != "POST":
            await self._simple(writer, 405, b"POST only\n", request.keep_alive, {"Allow": "POST"})
            return
        status, content_type, body = self._soap.handle(request.path, request.headers, request.body)
        extra = {} if request.keep_alive else {"Connection": "close"}
        writer.write(response_head(status, content_type, len(body), extra) + body)
        await writer.drain()

    def _authorised(self, request: Request) -> bool:
        auth = request.headers.get("authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = (
                base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return False
        if self._relay_credential is not None:
            relay_user, relay_password = self._relay_credential
            if hmac.compare_digest(user.encode(), relay_user.encode()) & hmac.compare_digest(
                password.encode(), relay_password.encode()
            ):
                return True
        expected = self._password
        if self.camera.fault == Fault.WRONG_PASSWORD:
            expected += ROTATED_SUFFIX
        return hmac.compare_digest(user.encode(), self._username.encode()) & hmac.compare_digest(
            password.encode(), expected.encode()
        )

    async def _check(
        self, request: Request, writer: asyncio.StreamWriter, optic_index: int
    ) -> bool:
        """Method, auth and optic checks shared by video and snapshots; answers the failures."""
        if request.method not in ("GET", "HEAD"):
            await self._simple(writer, 405, b"GET only\n", request.keep_alive, {"Allow": "GET"})
        elif not self._authorised(request):
            realm = f'Basic realm="{self.camera.id}", charset="UTF-8"'
            await self._simple(
                writer, 401, b"unauthorised\n", request.keep_alive, {"WWW-Authenticate": realm}
            )
        elif not 0 <= optic_index < len(self.camera.optics):
            await self._simple(writer, 404, b"no such optic\n", request.keep_alive)
        else:
            return True
        return False

    async def _snapshot(
        self, request: Request, writer: asyncio.StreamWriter, optic_index: int
    ) -> None:
        if not await self._check(request, writer, optic_index):
            return
        loop = asyncio.get_running_loop()
        jpeg = await loop.run_in_executor(None, snapshot_jpeg, self.camera, optic_index)
        extra = {"Cache-Control": "no-store"}
        if not request.keep_alive:
            extra["Connection"] = "close"
        writer.write(response_head(200, "image/jpeg", len(jpeg), extra))
        if request.method == "GET":
            writer.write(jpeg)
        await writer.drain()

    async def _video(
        self,
        request: Request,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        optic_index: int,
        profile: str,
    ) -> bool:
        """Stream until the client leaves; False when refused (the connection may go on)."""
        if not await self._check(request, writer, optic_index):
            return False
        # The client never sends anything after its request: a read returning means it left.
        gone: asyncio.Future[Any] = asyncio.ensure_future(reader.read(1))
        try:
            while self.camera.fault == Fault.FROZEN:
                # A frozen camera takes the request and then says nothing at all.
                done, _ = await asyncio.wait({gone}, timeout=0.25)
                if done:
                    return True
            head = response_head(
                200,
                "video/mp2t",
                None,
                {"Cache-Control": "no-cache, no-store", "Connection": "close"},
            )
            writer.write(head)
            if request.method == "HEAD":
                await writer.drain()
                return True
            sock = writer.get_extra_info("socket")
            if sock is not None:
                # A small kernel buffer (no autotuning up to 4 MB) keeps a slow client's
                # delay bounded and lets the hub notice it and skip to the next keyframe.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, VIDEO_SNDBUF)
            sub = self._hub.subscribe(self.camera, optic_index, profile)
            # The client leaving ends the stream like the camera ending it: None in the queue.
            gone.add_done_callback(lambda _: sub.close())
            try:
                while (chunk := await sub.next_chunk()) is not None:
                    writer.write(chunk)
                    await writer.drain()
                return True
            finally:
                self._hub.unsubscribe(sub)
        finally:
            gone.cancel()
