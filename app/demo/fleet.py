"""The demo fleet: one virtual camera per site camera, each an HTTP server on 127.0.0.1.

Camera number N (1-based, order of the site file) listens on ``127.0.0.1:(base_port + N)``
and serves ONVIF, live MPEG-TS video and snapshots (see :mod:`app.demo.httpserver`).
Everything runs on one asyncio loop in one background thread named ``demo-fleet``, plus
one encoder thread per stream somebody is watching.

Video goes out over the transport chosen by ``transport``: ``"http"`` (MPEG-TS from each
camera's HTTP server, needs only PyAV), ``"rtsp"`` (gst-rtsp-server run as a child under the
system python, see :mod:`app.demo.rtsp_relay`, relaying those same streams on one port,
``rtsp://127.0.0.1:PORT/{camera}/{optic}/{main|sub}``) or ``"auto"`` (RTSP when the system
python can run it, else HTTP, logged). GetStreamUri and :meth:`Fleet.site_for_client` give
the URI of the transport in use.

Default faults (:data:`DEFAULT_FAULTS`), as on the real network, by camera number:
cam19 offline, cam24 flapping (8 s up, 8 s down), cam27 wrong password (the camera
expects a rotated password), cam29 frozen (connections hang, no bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping, MutableMapping
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

from app.demo.httpserver import HOST, ROTATED_SUFFIX, CameraServer, SoapHandler
from app.demo.model import Fault, PtzState, VirtualCamera, VirtualOptic
from app.demo.onvif import OnvifService
from app.demo.rtsp import RelayError, RelayProcess, RelayUnavailable, start_relay
from app.demo.streaming import DEFAULT_FPS, MAX_CLIENT_BACKLOG, EncoderInfo, StreamHub
from app.site.model import (
    Camera,
    CameraKind,
    CredentialRef,
    OnvifEndpoint,
    Optic,
    Site,
    Stream,
    StreamRole,
)

log = logging.getLogger(__name__)

DEMO_USER = "operator"
DEMO_PASSWORD = "demo-cremona"
ENV_USER = "TORRAZZO_DEMO_USER"
ENV_PASSWORD = "TORRAZZO_DEMO_PASSWORD"
DEMO_CREDENTIAL = CredentialRef("demo", f"env:{ENV_USER}", f"env:{ENV_PASSWORD}")
DEFAULT_BASE_PORT = 18100
THREAD_NAME = "demo-fleet"
FAULT_POLL = 0.25  # seconds between fault checks (flapping transitions)

Transport = Literal["auto", "rtsp", "http"]
TRANSPORTS: tuple[Transport, ...] = ("auto", "rtsp", "http")
RELAY_USER = "torrazzo-relay"
# A relay that dies is restarted on its port; after this many deaths within RESTART_WINDOW
# seconds the fleet gives up on RTSP and serves HTTP only.
MAX_RELAY_RESTARTS = 3
RESTART_WINDOW = 60.0

DEFAULT_FAULTS: Mapping[int, Fault] = {
    19: Fault.OFFLINE,
    24: Fault.FLAPPING,
    27: Fault.WRONG_PASSWORD,
    29: Fault.FROZEN,
}
"""Faults of the demo by camera number (1-based), applied when ``Fleet(faults=None)``."""


def ensure_demo_env(environ: MutableMapping[str, str] | None = None) -> None:
    """Set TORRAZZO_DEMO_USER / TORRAZZO_DEMO_PASSWORD to the demo credentials if unset."""
    env = os.environ if environ is None else environ
    env.setdefault(ENV_USER, DEMO_USER)
    env.setdefault(ENV_PASSWORD, DEMO_PASSWORD)


def parse_fault(spec: str) -> tuple[str, Fault]:
    """Parse ``CAM=KIND`` (``cam19=offline``, ``19=frozen``); raises ValueError."""
    key, sep, kind = spec.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected CAM=KIND, got {spec!r}")
    try:
        return key.strip(), Fault(kind.strip().lower())
    except ValueError:
        kinds = ", ".join(f.value for f in Fault)
        raise ValueError(f"unknown fault {kind!r} (one of: {kinds})") from None


def virtual_camera(camera: Camera, neighbourhood_name: str) -> VirtualCamera:
    """The virtual twin of a site camera.

    PTZ dome: one optic with a pan/tilt head. Fixed dome: one optic, no motors.
    Quad-optic: 4 optics with zoomable lenses (``PtzState(pan_tilt=False)``). Bi-optic:
    2 optics, zoomable only where the site says so (the seed describes fixed focals).
    """
    kind = CameraKind(camera.kind)
    n = kind.optic_count
    heading = camera.heading if camera.heading is not None else 0.0
    optics = []
    for i in range(n):
        site_optic = camera.optics[i] if i < len(camera.optics) else None
        name = site_optic.name if site_optic else (camera.name if n == 1 else f"Optic {i + 1}")
        if site_optic is not None and site_optic.heading is not None:
            optic_heading = site_optic.heading
        else:
            optic_heading = (heading + i * 360.0 / n) % 360.0
        ptz: PtzState | None = None
        if kind == CameraKind.PTZ_DOME:
            ptz = PtzState(pan_tilt=True)
        elif kind == CameraKind.QUAD_OPTIC or (
            kind == CameraKind.BI_OPTIC and site_optic is not None and site_optic.zoomable
        ):
            ptz = PtzState(pan_tilt=False)
        optics.append(VirtualOptic(index=i, name=name, heading=optic_heading, ptz=ptz))
    return VirtualCamera(
        id=camera.id,
        name=camera.name,
        neighbourhood=neighbourhood_name,
        kind=kind.value,
        optics=optics,
    )


class Fleet:
    """The running demo: virtual cameras, their HTTP servers and on-demand encoders.

    Thread: public methods may be called from any thread; the servers live on the
    ``demo-fleet`` thread. ``faults`` maps camera ids or numbers (1-based) to a fault;
    None applies :data:`DEFAULT_FAULTS`, ``{}`` none.
    """

    def __init__(
        self,
        site: Site,
        base_port: int = DEFAULT_BASE_PORT,
        faults: Mapping[str | int, Fault] | Mapping[int, Fault] | Mapping[str, Fault] | None = None,
        fps_main: int = DEFAULT_FPS["main"],
        fps_sub: int = DEFAULT_FPS["sub"],
        *,
        username: str = DEMO_USER,
        password: str = DEMO_PASSWORD,
        max_client_backlog: int = MAX_CLIENT_BACKLOG,
        transport: Transport = "http",
        rtsp_python: str | None = None,
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"unknown transport {transport!r} (one of: {', '.join(TRANSPORTS)})")
        self.site = site
        self.transport: Transport = transport
        self.rtsp_python = rtsp_python  # None: $TORRAZZO_RTSP_PYTHON or /usr/bin/python3
        # What is served now ("rtsp" or "http") and why, set by start() and on relay failure.
        self.transport_in_use: Literal["rtsp", "http"] = "http"
        self.transport_note = "HTTP (MPEG-TS) requested"
        self.rtsp_port = 0
        self._relay: RelayProcess | None = None
        self._relay_states: dict[str, str] = {}
        self._relay_lock = threading.RLock()
        self._relay_deaths: list[float] = []
        self._relay_credential = (RELAY_USER, secrets.token_urlsafe(18))
        self.max_client_backlog = max_client_backlog
        self.base_port = base_port
        self.fps = {"main": fps_main, "sub": fps_sub}
        self._username = username
        self._password = password
        names = {n.id: n.name for n in site.neighbourhoods}
        self.cameras = [
            virtual_camera(c, names.get(c.neighbourhood, c.neighbourhood)) for c in site.cameras
        ]
        self._by_id = {c.id: c for c in self.cameras}
        self._numbers = {c.id: i + 1 for i, c in enumerate(self.cameras)}
        for key, fault in (DEFAULT_FAULTS if faults is None else faults).items():
            cam = self._lookup(key) if faults is not None else self._lookup_optional(key)
            if cam is not None:
                cam.fault = Fault(fault)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._hub: StreamHub | None = None
        self._servers: dict[str, CameraServer] = {}
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # --- lookup ---

    def _lookup_optional(self, key: str | int) -> VirtualCamera | None:
        if isinstance(key, int) or key.isdigit():
            n = int(key)
            return self.cameras[n - 1] if 1 <= n <= len(self.cameras) else None
        return self._by_id.get(key)

    def _lookup(self, key: str | int) -> VirtualCamera:
        cam = self._lookup_optional(key)
        if cam is None:
            raise KeyError(f"no camera {key!r} in site {self.site.name!r}")
        return cam

    def camera(self, camera_id: str) -> VirtualCamera:
        """The virtual camera ``camera_id`` (a number works too)."""
        return self._lookup(camera_id)

    def port(self, camera_id: str) -> int:
        return self.base_port + self._numbers[self._lookup(camera_id).id]

    def url(self, camera_id: str) -> str:
        return f"http://{HOST}:{self.port(camera_id)}"

    # --- life cycle ---

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> None:
        """Bind every camera's port and serve; raises OSError if a port is taken."""
        if self._thread is not None:
            raise RuntimeError("fleet already started")
        self._ready.clear()
        self._error = None
        # The relay child starts (Debian's python importing GStreamer, ~0.3 s) while the
        # fleet binds its HTTP ports, so choosing RTSP costs no extra start-up time.
        relay = self._spawn_relay(self.base_port) if self.transport != "http" else None
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            if relay is not None:
                relay.stop()
            self.stop()
            raise TimeoutError("demo fleet did not start")
        if self._error is not None:
            if relay is not None:
                relay.stop()
            error = self._error
            self._thread.join(2.0)
            self._thread = None
            raise error
        if self.transport != "http":
            self._finish_relay_start(relay)
        log.info(
            "demo fleet: %d cameras on %s:%d..%d, video over %s",
            len(self.cameras),
            HOST,
            self.base_port + 1,
            self.base_port + len(self.cameras),
            self.transport_note,
        )

    # --- the RTSP relay ---

    def _relay_config(self) -> dict[str, Any]:
        with self._relay_lock:
            self._relay_states = {cam.id: self._relay_state(cam) for cam in self.cameras}
            states = dict(self._relay_states)
        return {
            "user": self._username,
            "password": self._password,
            "rotated_password": self._password + ROTATED_SUFFIX,
            "relay_user": self._relay_credential[0],
            "relay_password": self._relay_credential[1],
            "cameras": [
                {
                    "id": cam.id,
                    "http_port": self.base_port + self._numbers[cam.id],
                    "optics": len(cam.optics),
                    "state": states[cam.id],
                }
                for cam in self.cameras
            ],
        }

    @staticmethod
    def _relay_state(cam: VirtualCamera) -> str:
        if not cam.is_up():
            return "down"
        return "wrong-password" if cam.fault == Fault.WRONG_PASSWORD else "up"

    def _spawn_relay(self, port: int) -> RelayProcess | None:
        relay = RelayProcess(
            self._relay_config(), port, python=self.rtsp_python, on_exit=self._relay_died
        )
        try:
            relay.start()
        except (RelayUnavailable, OSError) as exc:
            self._relay_failed(exc)
            return None
        return relay

    def _finish_relay_start(self, relay: RelayProcess | None) -> None:
        """Wait for the spawned relay; on failure HTTP for "auto", an error for "rtsp"."""
        if relay is None:
            if self.transport == "rtsp":
                self.stop()
                raise RelayUnavailable(self.transport_note)
            return
        try:
            try:
                port = relay.wait_ready()
            except RelayError as exc:
                if exc.returncode != 5:  # EXIT_CANNOT_LISTEN: base_port taken, take any
                    raise
                relay = start_relay(
                    self._relay_config(), [0], python=self.rtsp_python, on_exit=self._relay_died
                )
                port = relay.port
        except (RelayUnavailable, RelayError, OSError) as exc:
            self._relay_failed(exc)
            if self.transport == "rtsp":
                self.stop()
                raise
            return
        with self._relay_lock:
            self._relay = relay
            self.rtsp_port = port
            self.transport_in_use = "rtsp"
            self.transport_note = f"RTSP on {HOST}:{port} (gst-rtsp-server, pid {relay.pid})"

    def _relay_failed(self, exc: BaseException) -> None:
        with self._relay_lock:
            self.transport_in_use = "http"
            self.transport_note = f"HTTP (MPEG-TS), because RTSP is unavailable: {exc}"
        log.warning("demo fleet: RTSP unavailable, serving HTTP (MPEG-TS) instead: %s", exc)

    def _relay_died(self, relay: RelayProcess) -> None:
        """The relay exited on its own (reader thread): restart it on its port, or give up."""
        log.error("demo RTSP relay (pid %s) died with status %s", relay.pid, relay.returncode)
        with self._relay_lock:
            if self._relay is not relay or not self.running:
                return
            now = time.monotonic()
            self._relay_deaths = [t for t in self._relay_deaths if now - t < RESTART_WINDOW]
            self._relay_deaths.append(now)
            if len(self._relay_deaths) > MAX_RELAY_RESTARTS:
                self._relay = None
                self._relay_failed(
                    RelayError(f"the relay died {len(self._relay_deaths)} times in a minute")
                )
                return
        threading.Thread(
            target=self._restart_relay, args=(relay.port,), name="demo-rtsp-restart", daemon=True
        ).start()

    def _restart_relay(self, port: int) -> None:
        # The same port, so clients holding rtsp:// URLs reconnect to the new relay.
        try:
            relay = start_relay(
                self._relay_config(), [port], python=self.rtsp_python, on_exit=self._relay_died
            )
        except (RelayUnavailable, RelayError, OSError) as exc:
            with self._relay_lock:
                self._relay = None
            self._relay_failed(exc)
            return
        with self._relay_lock:
            if not self.running:
                relay.stop()
                return
            self._relay = relay
            self.transport_note = f"RTSP on {HOST}:{port} (gst-rtsp-server, pid {relay.pid})"
        log.warning("demo RTSP relay restarted on port %d (pid %s)", port, relay.pid)
        self._sync_relay()

    def _sync_relay(self) -> None:
        """Tell the relay about cameras whose state (up, down, wrong password) changed."""
        with self._relay_lock:
            relay = self._relay
            if relay is None:
                return
            changed = {}
            for cam in self.cameras:
                state = self._relay_state(cam)
                if self._relay_states.get(cam.id) != state:
                    self._relay_states[cam.id] = state
                    changed[cam.id] = state
            if changed:
                relay.set_states(changed)

    @property
    def relay(self) -> RelayProcess | None:
        """The running RTSP relay child, if RTSP is in use."""
        return self._relay

    def stop(self, timeout: float = 2.0) -> None:
        """Close every server and encoder; joins the fleet thread within ``timeout``."""
        with self._relay_lock:
            relay, self._relay = self._relay, None
        if relay is not None:
            relay.stop()  # first: its pulls of the HTTP streams end with it
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("demo fleet thread did not stop within %.1f s", timeout)
        self._thread = None

    def __enter__(self) -> Fleet:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as exc:
            self._error = exc
            log.exception("demo fleet crashed")
        finally:
            self._ready.set()
            try:
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        hub = self._hub = StreamHub(loop, self.fps, self.max_client_backlog)
        for cam in self.cameras:
            port = self.base_port + self._numbers[cam.id]
            self._servers[cam.id] = CameraServer(
                cam,
                port,
                hub,
                username=self._username,
                password=self._password,
                soap_factory=self._soap_factory,
                relay_credential=self._relay_credential if self.transport != "http" else None,
            )
        try:
            try:
                for server in self._servers.values():
                    await server.reconcile()
            except OSError as exc:
                self._error = exc
                return
            self._ready.set()
            while not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), FAULT_POLL)
                for server in self._servers.values():
                    try:
                        await server.reconcile()
                    except OSError:
                        # Someone took the port while the camera was down; try again later.
                        log.warning(
                            "%s cannot listen on %d", server.camera.id, server.port, exc_info=True
                        )
                self._sync_relay()
        finally:
            for server in self._servers.values():
                await server.close()
            await hub.close()
            self._servers = {}

    def stream_uri(self, camera_id: str, optic_index: int, profile: str) -> str:
        """The video URI of an optic's profile over the transport in use now."""
        cam = self._lookup(camera_id)
        if self.transport_in_use == "rtsp" and self.rtsp_port:
            path = f"{quote(cam.id, safe='')}/{optic_index + 1}/{profile}"
            return f"rtsp://{HOST}:{self.rtsp_port}/{path}"
        return f"{self.url(cam.id)}/video/{optic_index + 1}/{profile}.ts"

    def _soap_factory(self, camera: VirtualCamera, base_url: str) -> SoapHandler:
        server_port = int(base_url.rsplit(":", 1)[1])

        def stream_uri(optic_index: int, profile: str) -> str:
            return self.stream_uri(camera.id, optic_index, profile)

        def snapshot_uri(optic_index: int) -> str:
            return f"http://{HOST}:{server_port}/snapshot/{optic_index + 1}.jpg"

        return OnvifService(
            camera,
            username=self._username,
            password=self._password,
            stream_uri=stream_uri,
            snapshot_uri=snapshot_uri,
            base_url=base_url,
        )

    # --- faults and introspection ---

    def set_fault(self, camera_id: str, fault: Fault) -> None:
        """Change a camera's fault now; when called off the fleet thread, returns once applied."""
        cam = self._lookup(camera_id)
        cam.fault = Fault(fault)
        cam.fault_since = time.monotonic()
        log.info("%s fault: %s", cam.id, cam.fault)
        loop = self._loop
        server = self._servers.get(cam.id)
        if loop is None or server is None or loop.is_closed() or not self.running:
            return
        future = asyncio.run_coroutine_threadsafe(server.reconcile(), loop)
        if threading.current_thread() is not self._thread:
            future.result(timeout=5.0)
        self._sync_relay()

    def active_encoders(self) -> list[EncoderInfo]:
        """Encoders running now (a stream stays listed until its thread has ended)."""
        return self._hub.active() if self._hub is not None else []

    def site_for_client(self) -> Site:
        """The site as this fleet serves it: ONVIF endpoints and stream URLs on its ports.

        Credentials already in the site are kept; missing ones become the demo credential.
        """
        cameras = []
        need_demo = False
        for number, camera in enumerate(self.site.cameras, start=1):
            port = self.base_port + number
            vcam = self.cameras[number - 1]
            optics = []
            for i in range(len(vcam.optics)):
                site_optic = camera.optics[i] if i < len(camera.optics) else None
                streams = []
                for role in (StreamRole.MAIN, StreamRole.SUB):
                    old = site_optic.stream(role) if site_optic else None
                    cred = old.credential if old and old.credential else DEMO_CREDENTIAL
                    need_demo |= cred is DEMO_CREDENTIAL
                    url = self.stream_uri(vcam.id, i, role.value)
                    streams.append(
                        dataclasses.replace(old, url=url, credential=cred)
                        if old
                        else Stream(role=role, url=url, credential=cred)
                    )
                if site_optic is None:
                    site_optic = Optic(
                        index=i, name=vcam.optics[i].name, heading=vcam.optics[i].heading
                    )
                optics.append(
                    dataclasses.replace(
                        site_optic, streams=tuple(streams), zoomable=vcam.optics[i].ptz is not None
                    )
                )
            onvif_cred = (
                camera.onvif.credential if camera.onvif and camera.onvif.credential else None
            )
            if onvif_cred is None:
                onvif_cred = DEMO_CREDENTIAL
                need_demo = True
            cameras.append(
                dataclasses.replace(
                    camera,
                    optics=tuple(optics),
                    onvif=OnvifEndpoint(host=HOST, port=port, credential=onvif_cred),
                )
            )
        credentials = self.site.credentials
        if need_demo and all(c.name != DEMO_CREDENTIAL.name for c in credentials):
            credentials = (*credentials, DEMO_CREDENTIAL)
        return dataclasses.replace(self.site, cameras=tuple(cameras), credentials=credentials)
