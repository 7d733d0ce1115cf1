"""RTSP test server on gst-rtsp-server: stamped, moving H.264/H.265 mounts on 127.0.0.1.

Runs under Debian's ``/usr/bin/python3`` (python3-gi, gir1.2-gst-rtsp-server-1.0,
python3-numpy), never under the project venv. Each mount is an ``appsrc`` fed from
Python with I420 frames that carry the sender's wall-clock time (see
``app.streams.stamp``), encoded only while at least one client uses the mount.

Usage::

    /usr/bin/python3 tests/servers/rtsp_server.py --port 0
    ... --no-defaults --extra 16:640x360@15 --mount /bench/00/sub=h264:640x360@15

Stamps are readable (``read_stamp``) on pictures at least 544 px wide. UDP clients
get RTP ports 40000-49999 on 127.0.0.1.

Prints ``READY port=<n>`` on stdout once serving; exits 0 on SIGTERM or SIGINT (and on
stdin EOF with ``--watch-stdin``, so a dead parent never leaves a server behind).
Exit status 3 means the GStreamer Python bindings are missing, 4 a bad argument and
5 that the port could not be bound.
"""

from __future__ import annotations

import argparse
import dataclasses
import faulthandler
import importlib.util
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

MISSING_PACKAGES = (
    "python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-rtsp-server-1.0 gir1.2-gst-plugins-base-1.0 "
    "gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad python3-numpy"
)

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtsp", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    import numpy as np
    from gi.repository import Gio, GLib, Gst, GstRtsp, GstRtspServer
except (ImportError, ValueError) as exc:  # ValueError: typelib missing for require_version
    sys.stderr.write(
        f"rtsp_server: cannot import GStreamer RTSP bindings ({exc}) with {sys.executable}.\n"
        f"Install the Debian packages: apt-get install {MISSING_PACKAGES}\n"
    )
    sys.exit(3)


def _load_write_stamp() -> Any:
    # Load the module by path: it needs only numpy, while the app package's __init__
    # files may import things Debian's python lacks.
    path = Path(__file__).resolve().parents[2] / "app" / "streams" / "stamp.py"
    spec = importlib.util.spec_from_file_location("torrazzo_stamp", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_stamp


write_stamp = _load_write_stamp()

USER = "viewer"
PASSWORD = "s3cret"
SECURE_ROLE = "viewer"
OPEN_ROLE = "anonymous"
# Unicast RTP/RTCP ports for UDP clients; bound on 127.0.0.1 only (the default is 0.0.0.0).
UDP_PORT_RANGE = (40000, 49999)


@dataclasses.dataclass(frozen=True)
class MountSpec:
    """One mount: its path and what it streams."""

    path: str
    codec: str  # "h264" or "h265"
    width: int
    height: int
    fps: int
    seed: int
    secure: bool = False


_GEOMETRY = re.compile(r"^(\d+)x(\d+)@(\d+)$")


def parse_geometry(text: str) -> tuple[int, int, int]:
    """Parse ``WxH@FPS``; I420 without row padding needs width % 8 == 0 and an even height."""
    m = _GEOMETRY.match(text)
    if not m:
        raise argparse.ArgumentTypeError(f"expected WxH@FPS, got {text!r}")
    w, h, fps = (int(g) for g in m.groups())
    if w < 16 or h < 16 or w % 8 or h % 2 or not 1 <= fps <= 120:
        raise argparse.ArgumentTypeError(f"unsupported geometry {text!r}")
    return w, h, fps


def parse_mount(text: str, seed: int) -> MountSpec:
    """Parse ``/path=CODEC:WxH@FPS`` (CODEC optional, default h264)."""
    path, sep, rest = text.partition("=")
    if not sep or not path.startswith("/"):
        raise argparse.ArgumentTypeError(f"expected /path=[codec:]WxH@FPS, got {text!r}")
    codec, _, geometry = rest.rpartition(":")
    codec = codec or "h264"
    if codec not in ("h264", "h265"):
        raise argparse.ArgumentTypeError(f"unknown codec {codec!r} in {text!r}")
    w, h, fps = parse_geometry(geometry)
    return MountSpec(path, codec, w, h, fps, seed)


def parse_extra(text: str, seed: int) -> list[MountSpec]:
    """Parse ``N:WxH@FPS[:codec]`` into mounts ``/extra/00`` .. ``/extra/N-1``."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0].isdigit():
        raise argparse.ArgumentTypeError(f"expected N:WxH@FPS[:codec], got {text!r}")
    n = int(parts[0])
    w, h, fps = parse_geometry(parts[1])
    codec = parts[2] if len(parts) == 3 else "h264"
    if codec not in ("h264", "h265"):
        raise argparse.ArgumentTypeError(f"unknown codec {codec!r} in {text!r}")
    return [MountSpec(f"/extra/{i:02d}", codec, w, h, fps, seed + i) for i in range(n)]


def default_mounts() -> list[MountSpec]:
    """The mounts the test-suite relies on."""
    return [
        MountSpec("/cam1/main", "h264", 1280, 720, 25, 1),
        MountSpec("/cam1/sub", "h264", 640, 360, 25, 1),
        MountSpec("/cam2/main", "h264", 1280, 720, 25, 2),
        MountSpec("/cam2/sub", "h264", 640, 360, 25, 2),
        MountSpec("/h265/main", "h265", 1280, 720, 25, 3),
        MountSpec("/secure/sub", "h264", 640, 360, 25, 4, secure=True),
    ]


class Picture:
    """Moving I420 content for one mount: a scrolling pattern and a bouncing box.

    The pattern is precomputed once, periodic in x, so a frame costs one slice copy,
    a box fill and the stamp.
    """

    def __init__(self, spec: MountSpec) -> None:
        w, h = spec.width, spec.height
        rng = np.random.default_rng(spec.seed)
        self.width, self.height = w, h
        self.period = w  # scroll period in pixels
        x = np.arange(self.period, dtype=np.float32)
        y = np.arange(h, dtype=np.float32)[:, None]
        fx = 2.0 * np.pi * float(rng.integers(2, 7)) / self.period
        fy = 2.0 * np.pi * float(rng.integers(1, 5)) / h
        base = 120.0 + 50.0 * np.sin(fx * x)[None, :] + 40.0 * np.cos(fy * y + spec.seed)
        tile = np.clip(base, 20, 230).astype(np.uint8)
        self.texture = np.concatenate([tile, tile], axis=1)  # (h, 2w): any w-wide window wraps
        self.step = max(2, w // 160)
        self.box = max(16, h // 6)
        self.frame = np.empty(w * h * 3 // 2, dtype=np.uint8)
        self.luma = self.frame[: w * h].reshape(h, w)
        u_val, v_val = (int(c) for c in rng.integers(60, 196, size=2))
        # I420: the U then the V plane follow Y, each (h/2, w/2) without padding.
        self.frame[w * h : w * h + w * h // 4] = u_val
        self.frame[w * h + w * h // 4 :] = v_val
        self.n = 0

    def next_frame(self) -> bytes:
        """Render the next picture, stamp it with the current wall-clock time, return I420 bytes."""
        w, h = self.width, self.height
        y_plane = self.luma
        off = (self.n * self.step) % self.period
        y_plane[:] = self.texture[:, off : off + w]
        bx = (self.n * 7) % max(1, w - self.box)
        by = (self.n * 5) % max(1, h - self.box)
        y_plane[by : by + self.box, bx : bx + self.box] = 235 - (self.n % 50)
        self.n += 1
        write_stamp(y_plane, time.time_ns())
        return self.frame.tobytes()


class Feeder:
    """Feeds one media's appsrc from its ``need-data`` signal, paced to the frame rate.

    The handler runs in the appsrc streaming thread, so frames are made only while the
    pipeline runs (a client plays the media) and stop with it; sleeping there until the
    next frame is due is what paces a live source.
    """

    def __init__(self, spec: MountSpec, appsrc: Any) -> None:
        self.picture = Picture(spec)
        self.period = 1.0 / spec.fps
        self.due = 0.0
        appsrc.connect("need-data", self._on_need_data)

    def _on_need_data(self, appsrc: Any, _length: int) -> None:
        now = time.monotonic()
        if self.due - now > 0:
            time.sleep(self.due - now)
            self.due += self.period
        else:
            # First frame, or we fell behind (CPU starved): restart the cadence, no burst.
            self.due = now + self.period
        appsrc.emit("push-buffer", Gst.Buffer.new_wrapped(self.picture.next_frame()))


def launch_line(spec: MountSpec) -> str:
    """gst-launch description of one mount's media pipeline."""
    caps = (
        f"video/x-raw,format=I420,width={spec.width},height={spec.height},"
        f"framerate={spec.fps}/1,colorimetry=bt601,interlace-mode=progressive"
    )
    # Fed from need-data only (see Feeder): pushing from a thread of our own, racing the
    # media's preparation, left about 3 % of new media stuck without any data.
    src = f"appsrc name=src is-live=true do-timestamp=true format=time block=false caps={caps}"
    kbps = max(256, spec.width * spec.height * spec.fps // 11000)
    gop = f"key-int-max={spec.fps}"  # 1 s GOP
    if spec.codec == "h265":
        enc = (
            f"x265enc tune=zerolatency speed-preset=ultrafast {gop} bitrate={kbps} "
            'option-string="bframes=0:repeat-headers=1" ! video/x-h265,profile=main '
            "! rtph265pay name=pay0 pt=96 config-interval=-1"
        )
    else:
        # threads=1 gives one slice per picture: with sliced threads, rtph264pay's
        # config-interval=-1 puts SPS/PPS between the slices of an IDR picture and FFmpeg
        # then loses the first slice of every keyframe. One thread per stream also keeps
        # the CPU cost of many mounts predictable.
        enc = (
            f"x264enc tune=zerolatency speed-preset=ultrafast {gop} bframes=0 threads=1 "
            f"bitrate={kbps} ! video/x-h264,profile=constrained-baseline "
            "! rtph264pay name=pay0 pt=96 config-interval=-1 aggregate-mode=zero-latency"
        )
    return f"( {src} ! {enc} )"


class Server:
    """The gst-rtsp-server instance with its mounts."""

    def __init__(
        self, host: str, port: int, mounts: list[MountSpec], tls: tuple[str, str] | None = None
    ) -> None:
        self.loop = GLib.MainLoop()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(host)
        self.server.set_service(str(port))

        self.pool = GstRtspServer.RTSPAddressPool()
        if not self.pool.add_range(host, host, UDP_PORT_RANGE[0], UDP_PORT_RANGE[1], 0):
            raise RuntimeError(f"cannot add UDP port range on {host}")

        # With an auth object installed every factory needs permissions; open mounts grant
        # the default (anonymous) role, /secure/* only the role of the basic-auth user.
        auth = GstRtspServer.RTSPAuth()
        user_token = GstRtspServer.RTSPToken()
        user_token.set_string("media.factory.role", SECURE_ROLE)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(USER, PASSWORD), user_token)
        anon_token = GstRtspServer.RTSPToken()
        anon_token.set_string("media.factory.role", OPEN_ROLE)
        auth.set_default_token(anon_token)
        if tls is not None:
            # With a certificate every connection is RTSP over TLS (rtsps://), as on cameras
            # that offer only encrypted streams; GLib's TLS comes from glib-networking.
            auth.set_tls_certificate(Gio.TlsCertificate.new_from_files(*tls))
        self.server.set_auth(auth)

        mount_points = self.server.get_mount_points()
        have_x265 = Gst.ElementFactory.find("x265enc") is not None
        for spec in mounts:
            if spec.codec == "h265" and not have_x265:
                sys.stderr.write(
                    f"rtsp_server: ERROR: x265enc is not available, mount {spec.path} is NOT "
                    "served (install gstreamer1.0-plugins-bad with x265 support)\n"
                )
                continue
            mount_points.add_factory(spec.path, self._factory(spec))

    def _factory(self, spec: MountSpec) -> Any:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(spec))
        factory.set_shared(True)
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
        factory.set_address_pool(self.pool)
        # Anonymous clients may *see* a secure mount (access) but not *use* it (construct):
        # without access the server answers 404 and clients never retry with credentials;
        # without construct it answers 401 with a WWW-Authenticate challenge.
        roles = {SECURE_ROLE: True, OPEN_ROLE: not spec.secure}
        for role, construct in roles.items():
            factory.add_role_from_structure(
                Gst.Structure.new_from_string(
                    f"{role}, media.factory.access=(boolean)true, "
                    f"media.factory.construct=(boolean){str(construct).lower()}"
                )
            )
        factory.connect("media-configure", self._on_media_configure, spec)
        return factory

    def _on_media_configure(self, _factory: Any, media: Any, spec: MountSpec) -> None:
        # The signal connection keeps the Feeder alive exactly as long as the media.
        Feeder(spec, media.get_element().get_by_name_recurse_up("src"))

    def _cleanup_sessions(self) -> bool:
        # Expires sessions of clients that vanished (UDP), so their media stops encoding.
        self.server.get_session_pool().cleanup()
        return True

    def run(self, watch_stdin: bool) -> int:
        try:
            source_id = self.server.attach(None)
        except GLib.Error as exc:
            sys.stderr.write(f"rtsp_server: cannot listen: {exc}\n")
            return 5
        if not source_id:
            sys.stderr.write("rtsp_server: cannot listen (port in use?)\n")
            return 5
        GLib.timeout_add_seconds(2, self._cleanup_sessions)
        for signum in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, signum, self._quit)
        if watch_stdin:
            GLib.io_add_watch(
                sys.stdin.fileno(),
                GLib.PRIORITY_DEFAULT,
                GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
                self._on_stdin,
            )
        sys.stdout.write(f"READY port={self.server.get_bound_port()}\n")
        sys.stdout.flush()
        self.loop.run()
        return 0

    def _quit(self) -> bool:
        self.loop.quit()
        return GLib.SOURCE_REMOVE

    def _on_stdin(self, fd: int, _condition: Any) -> bool:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            self.loop.quit()
            return GLib.SOURCE_REMOVE
        return GLib.SOURCE_CONTINUE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8554, help="0 picks a free port")
    parser.add_argument(
        "--mount",
        "--mounts",
        action="append",
        default=[],
        metavar="/PATH=[CODEC:]WxH@FPS",
        help="add a mount, e.g. /bench/00/sub=h264:640x360@15 (repeatable)",
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="N:WxH@FPS[:CODEC]",
        help="add N mounts /extra/00../extra/N-1 (repeatable, numbering continues)",
    )
    parser.add_argument("--no-defaults", action="store_true", help="serve only --mount/--extra")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin reaches EOF")
    parser.add_argument("--tls-cert", help="PEM certificate: serve RTSP over TLS (rtsps://)")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")

    if args.host != "127.0.0.1":
        # Test infrastructure: never expose it beyond the loopback interface.
        parser.error("only --host 127.0.0.1 is allowed")
    try:
        mounts = [] if args.no_defaults else default_mounts()
        for i, text in enumerate(args.mount):
            mounts.append(parse_mount(text, seed=100 + i))
        n_extra = 0
        for text in args.extra:
            for spec in parse_extra(text, seed=1000 + n_extra):
                mounts.append(dataclasses.replace(spec, path=f"/extra/{n_extra:02d}"))
                n_extra += 1
    except argparse.ArgumentTypeError as exc:
        sys.stderr.write(f"rtsp_server: {exc}\n")
        return 4
    paths = [m.path for m in mounts]
    if len(set(paths)) != len(paths):
        sys.stderr.write("rtsp_server: duplicate mount paths\n")
        return 4

    # `kill -USR1 <pid>` dumps every Python thread's stack, for diagnosing a stuck server.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    Gst.init(None)
    tls = (args.tls_cert, args.tls_key) if args.tls_cert else None
    return Server(args.host, args.port, mounts, tls).run(args.watch_stdin)


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: GStreamer streaming threads may still be inside
    # Python callbacks (need-data), and tearing Python down under them can crash.
    os._exit(status)
