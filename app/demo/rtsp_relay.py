"""RTSP face of the demo fleet: gst-rtsp-server relaying the fleet's own MPEG-TS streams.

Runs as a child of :class:`app.demo.fleet.Fleet` under Debian's ``/usr/bin/python3``
(python3-gi, gir1.2-gst-rtsp-server-1.0); it imports nothing of the app, since that
interpreter has none of the venv's packages. One mount per camera, optic and profile,
``rtsp://127.0.0.1:PORT/{camera}/{optic}/{main|sub}``, whose media pipeline (one per
client) pulls the camera's HTTP stream (``souphttpsrc ! tsdemux ! h264parse !
rtph264pay``): the fleet encodes a stream only while the relay pulls it, and the relay
pulls it only while an RTSP client plays it. No queue and no jitter buffer are added, and
the sinks do not sync.

Protocol: the first line on stdin is the JSON configuration (credentials, cameras and
their states, see :func:`main`); later lines are ``state CAMERA up|down|wrong-password``.
A camera ``down`` loses its mounts (DESCRIBE gets 404) and its clients are closed;
``wrong-password`` accepts only the rotated password (others get 401). A frozen camera
needs nothing here: its HTTP stream sends no bytes, so the RTSP media has no frames.

Prints ``READY port=<n>`` once serving; exits on stdin EOF (the fleet is gone), SIGTERM
or SIGINT. Exit status 3: the GStreamer bindings are missing; 4: bad configuration;
5: the port could not be bound.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from typing import Any

EXIT_NO_BINDINGS = 3
EXIT_BAD_CONFIG = 4
EXIT_CANNOT_LISTEN = 5
HOST = "127.0.0.1"
# Unicast RTP/RTCP ports for UDP clients, bound on 127.0.0.1 only (the default is 0.0.0.0).
UDP_PORT_RANGE = (50000, 59999)
ROLE_ANON, ROLE_USER, ROLE_ROTATED = "anonymous", "operator", "rotated"
STATES = ("up", "down", "wrong-password")

GLib: Any = None
Gst: Any = None
GstRtsp: Any = None
GstRtspServer: Any = None


def import_bindings() -> str | None:
    """Import GStreamer's RTSP server bindings into the module globals; the error or None."""
    global GLib, Gst, GstRtsp, GstRtspServer
    try:
        gi = importlib.import_module("gi")
        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtsp", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        GLib, Gst, GstRtsp, GstRtspServer = (
            importlib.import_module(f"gi.repository.{name}")
            for name in ("GLib", "Gst", "GstRtsp", "GstRtspServer")
        )
    except (ImportError, ValueError, AttributeError) as exc:  # ValueError: no typelib
        return f"{type(exc).__name__}: {exc}"
    return None


def launch_line(http_port: int, optic: int, profile: str, user: str, password: str) -> str:
    """The media pipeline of one mount: the fleet's MPEG-TS in, RTP H.264 out."""
    # timeout=0: a frozen camera keeps the connection open and silent, as it does over
    # HTTP, rather than erroring after souphttpsrc's default 15 s.
    src = (
        f'souphttpsrc location="http://{HOST}:{http_port}/video/{optic}/{profile}.ts" '
        f'user-id="{user}" user-pw="{password}" is-live=true timeout=0 retries=0 keep-alive=false'
    )
    # tsdemux latency only feeds the latency query; the server's sinks do not sync, so
    # nothing waits for it, but 0 keeps the reported figure honest.
    # The fleet writes one PES with its length per frame, so tsdemux pushes whole access
    # units as soon as they are complete; saying so (alignment=au) stops h264parse from
    # holding each frame until the next one's start code arrives (one frame of latency).
    return (
        f"( {src} ! tsdemux latency=0 "
        '! capssetter caps="video/x-h264,alignment=(string)au" ! h264parse '
        "! rtph264pay name=pay0 pt=96 config-interval=-1 aggregate-mode=zero-latency )"
    )


class Relay:
    """The gst-rtsp-server instance, its per-camera mounts and their access rules."""

    def __init__(self, port: int, config: dict[str, Any]) -> None:
        self.loop = GLib.MainLoop()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(HOST)
        self.server.set_service(str(port))
        # One thread per client: a DESCRIBE waiting on a frozen camera must not hold up
        # every other client (the default pool has a single thread for all of them).
        self.server.get_thread_pool().set_max_threads(-1)
        self.pool = GstRtspServer.RTSPAddressPool()
        if not self.pool.add_range(HOST, HOST, UDP_PORT_RANGE[0], UDP_PORT_RANGE[1], 0):
            raise RuntimeError(f"cannot add UDP port range on {HOST}")

        user, password = str(config["user"]), str(config["password"])
        auth = GstRtspServer.RTSPAuth()
        for pw, role in ((password, ROLE_USER), (str(config["rotated_password"]), ROLE_ROTATED)):
            token = GstRtspServer.RTSPToken()
            token.set_string("media.factory.role", role)
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, pw), token)
        anon = GstRtspServer.RTSPToken()
        anon.set_string("media.factory.role", ROLE_ANON)
        auth.set_default_token(anon)
        self.server.set_auth(auth)

        self.relay_user = str(config["relay_user"])
        self.relay_password = str(config["relay_password"])
        self.mounts = self.server.get_mount_points()
        self.cameras: dict[str, dict[str, Any]] = {c["id"]: c for c in config["cameras"]}
        self.state: dict[str, str] = {}
        self.factories: dict[str, list[Any]] = {}
        self.clients: dict[Any, set[str]] = {}  # client -> camera ids it asked for
        self.server.connect("client-connected", self._on_client)
        for cam_id, cam in self.cameras.items():
            self.set_state(cam_id, str(cam.get("state", "up")))

    # --- mounts and access ---

    def _paths(self, cam_id: str) -> list[tuple[str, int, str]]:
        cam = self.cameras[cam_id]
        return [
            (f"/{cam_id}/{optic}/{profile}", optic, profile)
            for optic in range(1, int(cam["optics"]) + 1)
            for profile in ("main", "sub")
        ]

    @staticmethod
    def _permissions(state: str) -> Any:
        # Anonymous clients may *see* a mount (access) but not *use* it (construct): the
        # server then answers 401 with a challenge, and clients retry with credentials.
        user_ok = state == "up"
        perms = GstRtspServer.RTSPPermissions()
        for role, construct in (
            (ROLE_ANON, False),
            (ROLE_USER, user_ok),
            (ROLE_ROTATED, not user_ok),
        ):
            perms.add_role_from_structure(
                Gst.Structure.new_from_string(
                    f"{role}, media.factory.access=(boolean)true, "
                    f"media.factory.construct=(boolean){str(construct).lower()}"
                )
            )
        return perms

    def set_state(self, cam_id: str, state: str) -> None:
        if cam_id not in self.cameras or state not in STATES:
            sys.stderr.write(f"rtsp_relay: ignoring state {cam_id!r} {state!r}\n")
            return
        old = self.state.get(cam_id)
        self.state[cam_id] = state
        if state == "down":
            for path, _, _ in self._paths(cam_id):
                self.mounts.remove_factory(path)
            self.factories.pop(cam_id, None)
            self._close_clients(cam_id)
            return
        if old in (None, "down"):
            factories = []
            for path, optic, profile in self._paths(cam_id):
                factory = self._factory(int(self.cameras[cam_id]["http_port"]), optic, profile)
                self.mounts.add_factory(path, factory)
                factories.append(factory)
            self.factories[cam_id] = factories
        for factory in self.factories.get(cam_id, []):
            factory.set_permissions(self._permissions(state))

    def _factory(self, http_port: int, optic: int, profile: str) -> Any:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            launch_line(http_port, optic, profile, self.relay_user, self.relay_password)
        )
        # Not shared: each client gets its own pipeline, pulling the fleet's stream, whose
        # encoder the fleet shares between its HTTP clients (still one encoder per mount).
        # A shared pipeline broke every client that came after the first: FFmpeg's PLAY
        # carries "Range: npt=0.000-", for which gst-rtsp-server seeks the shared, already
        # playing pipeline, and that seek of a live HTTP source fails ("seek failed", a 5xx
        # reply, or a 20 s wait for a preroll that never comes).
        factory.set_shared(False)
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
        factory.set_address_pool(self.pool)
        return factory

    # --- clients ---

    def _on_client(self, _server: Any, client: Any) -> None:
        self.clients[client] = set()
        client.connect("describe-request", self._on_request)
        client.connect("setup-request", self._on_request)
        client.connect("closed", self._on_closed)

    def _on_request(self, client: Any, ctx: Any) -> None:
        try:
            path = ctx.uri.abspath or ""
        except AttributeError:
            return
        cam_id = path.strip("/").split("/", 1)[0]
        self.clients.setdefault(client, set()).add(cam_id)

    def _on_closed(self, client: Any) -> None:
        self.clients.pop(client, None)

    def _close_clients(self, cam_id: str) -> None:
        # Like a camera losing power: its RTSP connections end now, not at the next timeout.
        for client, cams in list(self.clients.items()):
            if cam_id in cams:
                client.close()

    def _cleanup_sessions(self) -> bool:
        # Expires sessions of clients that vanished (UDP), so their media stops pulling.
        self.server.get_session_pool().cleanup()
        return True

    # --- commands and life cycle ---

    def command(self, line: str) -> None:
        parts = line.split()
        if len(parts) == 3 and parts[0] == "state":
            self.set_state(parts[1], parts[2])
        elif parts:
            sys.stderr.write(f"rtsp_relay: unknown command {line!r}\n")

    def run(self, stdin_fd: int, pending: bytes) -> int:
        try:
            source_id = self.server.attach(None)
        except GLib.Error as exc:
            sys.stderr.write(f"rtsp_relay: cannot listen: {exc}\n")
            return EXIT_CANNOT_LISTEN
        if not source_id:
            sys.stderr.write("rtsp_relay: cannot listen (port in use?)\n")
            return EXIT_CANNOT_LISTEN
        GLib.timeout_add_seconds(2, self._cleanup_sessions)
        for signum in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self._quit)
        self._buf = pending
        GLib.io_add_watch(
            stdin_fd,
            GLib.PRIORITY_DEFAULT,
            GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
            self._on_stdin,
        )
        self._drain_lines()
        sys.stdout.write(f"READY port={self.server.get_bound_port()}\n")
        sys.stdout.flush()
        self.loop.run()
        return 0

    def _quit(self) -> bool:
        self.loop.quit()
        return False

    def _drain_lines(self) -> None:
        while b"\n" in self._buf:
            line, self._buf = self._buf.split(b"\n", 1)
            self.command(line.decode("utf-8", "replace"))

    def _on_stdin(self, fd: int, _condition: Any) -> bool:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:  # the fleet closed the pipe or died: never outlive it
            self.loop.quit()
            return False
        self._buf += data
        self._drain_lines()
        return True


def read_config(fd: int) -> tuple[dict[str, Any], bytes]:
    """The first line of ``fd`` as JSON, and whatever was read after it."""
    buf = b""
    while b"\n" not in buf:
        chunk = os.read(fd, 65536)
        if not chunk:
            raise ValueError("stdin closed before the configuration line")
        buf += chunk
    line, rest = buf.split(b"\n", 1)
    config = json.loads(line)
    if not isinstance(config, dict):
        raise ValueError("the configuration is not a JSON object")
    for key in ("user", "password", "rotated_password", "relay_user", "relay_password"):
        if not isinstance(config.get(key), str):
            raise ValueError(f"configuration lacks {key!r}")
    for cam in config.get("cameras", []):
        if not {"id", "http_port", "optics"} <= set(cam):
            raise ValueError(f"bad camera entry {cam!r}")
    return config, rest


def main(argv: list[str] | None = None) -> int:
    """Serve until stdin closes. The configuration (first stdin line) is a JSON object:
    ``user``, ``password``, ``rotated_password`` (what a wrong-password camera expects),
    ``relay_user``/``relay_password`` (for the fleet's HTTP streams) and ``cameras``, a
    list of ``{"id", "http_port", "optics", "state"}``.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="RTSP port; 0 picks a free one")
    parser.add_argument("--check", action="store_true", help="only check the bindings")
    args = parser.parse_args(argv)
    error = import_bindings()
    if error is not None:
        sys.stderr.write(f"rtsp_relay: no GStreamer RTSP server bindings in {sys.executable}: ")
        sys.stderr.write(f"{error}\n")
        return EXIT_NO_BINDINGS
    if args.check:
        return 0
    fd = sys.stdin.fileno()
    try:
        config, pending = read_config(fd)
    except (ValueError, OSError) as exc:
        sys.stderr.write(f"rtsp_relay: bad configuration: {exc}\n")
        return EXIT_BAD_CONFIG
    Gst.init(None)
    try:
        relay = Relay(args.port, config)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        sys.stderr.write(f"rtsp_relay: bad configuration: {exc}\n")
        return EXIT_BAD_CONFIG
    return relay.run(fd, pending)


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: GStreamer threads may still be running.
    os._exit(status)
