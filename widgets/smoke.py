"""`torrazzo --smoke-test`: checks a build end to end (resources, FFmpeg, Qt, video, ONVIF, SDL)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from app import __version__

SAMPLE_CLIP = Path("sample") / "clip.mp4"
SITE_FILE = Path("sites") / "cremona.yaml"
MIN_FRAMES = 10  # frames painted in the tile before the video step passes
VIDEO_DEADLINE = 20.0  # seconds; a cold frozen start on a busy 2-core CI machine included
ONVIF_DEADLINE = 20.0


class SmokeFailure(Exception):
    """A step found the build broken; the message says what was expected and what was seen."""


@dataclass
class SmokeContext:
    """What the steps share, and what has to be torn down at the end, whatever happened."""

    resources: Path = Path()
    app: Any = None
    engine: Any = None
    tile: Any = None
    feeds: list[Any] = field(default_factory=list)
    fleet: Any = None
    first_frame_age: float | None = None
    qt_messages: list[str] = field(default_factory=list)
    cleanups: list[Callable[[], None]] = field(default_factory=list)


def process_age() -> float | None:
    """Seconds since this process was started by the OS (Linux), else None.

    Measured from the kernel's start time, so a frozen build's bootloader and unpacking,
    the interpreter start and every import are included: what a user waits for.
    """
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def wsdl_dir() -> str | None:
    """The ONVIF WSDL folder bundled with a frozen build; None from source (the package's own)."""
    frozen = getattr(sys, "_MEIPASS", None)
    return str(Path(frozen) / "onvif" / "wsdl") if frozen else None


# -- steps ---------------------------------------------------------------------------------
def step_platform(ctx: SmokeContext) -> str:
    # The smoke test must run on a CI machine with no display; a platform someone set
    # explicitly (xcb under Xvfb, windows) is respected.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Never read or write the user's real wall state from a test run.
    os.environ.setdefault("TORRAZZO_STATE_DIR", tempfile.mkdtemp(prefix="torrazzo-smoke-"))
    kind = "frozen" if getattr(sys, "frozen", False) else "source"
    return (
        f"torrazzo {__version__} ({kind}), Python {sys.version.split()[0]}, "
        f"QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}"
    )


def step_resources(ctx: SmokeContext) -> str:
    from app.site.loader import load_site
    from widgets.main import resources_dir

    ctx.resources = resources_dir()
    missing = [
        str(p) for p in (ctx.resources / SAMPLE_CLIP, ctx.resources / SITE_FILE) if not p.is_file()
    ]
    if missing:
        raise SmokeFailure(f"missing resource files: {', '.join(missing)}")
    site = load_site(ctx.resources / SITE_FILE)
    if not site.cameras:
        raise SmokeFailure(f"{SITE_FILE} has no cameras")
    return f"{ctx.resources}: sample clip, {SITE_FILE} ({len(site.cameras)} cameras)"


def step_ffmpeg(ctx: SmokeContext) -> str:
    import av

    # The player needs the H.264 decoder; the demo cameras need the x264 encoder.
    for name, mode in (("h264", "r"), ("hevc", "r"), ("libx264", "w"), ("mjpeg", "w")):
        try:
            av.codec.Codec(name, mode)
        except Exception as e:
            raise SmokeFailure(
                f"FFmpeg has no {name} {'decoder' if mode == 'r' else 'encoder'}: {e}"
            ) from e
    # A round trip through the x264 encoder and the H.264 decoder: a library that loads
    # but cannot work (a missing dependency of a codec) fails here, not in front of a user.
    import numpy as np

    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 64, 64, "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency"}
    decoder = av.CodecContext.create("h264", "r")
    decoded = 0
    for i in range(3):
        frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 60, np.uint8), format="rgb24")
        frame.pts = i
        for packet in encoder.encode(frame.reformat(format="yuv420p")):
            decoded += len(decoder.decode(packet))
    for packet in encoder.encode(None):
        decoded += len(decoder.decode(packet))
    decoded += len(decoder.decode(None))
    if decoded != 3:
        raise SmokeFailure(f"x264 -> h264 round trip gave {decoded} of 3 frames")
    libavcodec = av.library_versions.get("libavcodec", ())
    return (
        f"PyAV {av.__version__}, libavcodec {'.'.join(map(str, libavcodec))}, "
        "x264 -> h264 round trip"
    )


def step_qt(ctx: SmokeContext) -> str:
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler, qVersion
    from PySide6.QtGui import QIcon, QImageReader
    from PySide6.QtWidgets import QApplication

    def on_message(kind: QtMsgType, _context: object, message: str) -> None:
        if kind != QtMsgType.QtDebugMsg:
            ctx.qt_messages.append(message)

    qInstallMessageHandler(on_message)
    ctx.app = QApplication.instance() or QApplication(sys.argv[:1])
    formats = {bytes(f.data()).decode() for f in QImageReader.supportedImageFormats()}
    # png is built in; svg and jpeg come from plugins, so this catches a plugin left out.
    missing = {"png", "jpeg", "svg"} - formats
    if missing:
        raise SmokeFailure(f"Qt image formats missing: {sorted(missing)} (have {sorted(formats)})")
    icon = QIcon(str(ctx.resources / "icons" / "torrazzo.svg"))
    if icon.isNull() or icon.pixmap(64, 64).isNull():
        raise SmokeFailure("the application icon (SVG) does not render")
    ctx.app.setWindowIcon(icon)
    return f"Qt {qVersion()}, platform {ctx.app.platformName()}"


def step_modules(ctx: SmokeContext) -> str:
    # Every module of the application must import: a Qt module or a dependency the
    # bundle left out shows up here, not when an operator opens that view.
    import importlib
    import pkgutil

    import app
    import widgets

    names = []
    for package in (app, widgets):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            names.append(info.name)
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as e:
            failed.append(f"{name} ({type(e).__name__}: {e})")
    if failed:
        raise SmokeFailure(f"{len(failed)} modules do not import: {'; '.join(failed)}")
    if len(names) < 20:
        raise SmokeFailure(f"only {len(names)} application modules found: {names}")
    return f"{len(names)} modules of app/ and widgets/ import"


def _wait(
    ctx: SmokeContext, done: Callable[[], bool], deadline: float, tick: Callable[[], None]
) -> bool:
    from PySide6.QtCore import QEventLoop

    end = time.monotonic() + deadline
    while time.monotonic() < end:
        tick()
        if done():
            return True
        ctx.app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 10)
        time.sleep(0.005)
    return done()


def step_video(ctx: SmokeContext) -> str:
    from app.site.model import Camera, CameraKind, Optic, Site, Stream, StreamRole
    from app.streams.engine import StreamEngine
    from app.streams.feed import TileFeed
    from app.streams.worker import StreamOptions
    from widgets.tile import QtTile

    clip = str(ctx.resources / SAMPLE_CLIP)
    streams = (Stream(StreamRole.MAIN, clip), Stream(StreamRole.SUB, clip))
    camera = Camera(
        id="smoke",
        name="Smoke test clip",
        neighbourhood="",
        kind=CameraKind.FIXED_DOME,
        optics=(Optic(index=0, name="clip", streams=streams),),
    )
    ctx.engine = StreamEngine(StreamOptions(timeout=5.0))

    def new_feed() -> TileFeed:
        feed = TileFeed(ctx.engine)
        ctx.feeds.append(feed)
        return feed

    ctx.tile = tile = QtTile(0, new_feed, Site(name="smoke", cameras=(camera,)))
    tile.resize(640, 360)
    tile.show_camera(camera)
    tile.show()

    def tick() -> None:
        # What the wall's display clock does every 10 ms.
        tile.refresh()
        if ctx.first_frame_age is None and tile.presented:
            ctx.first_frame_age = process_age()

    if not _wait(ctx, lambda: tile.presented >= MIN_FRAMES, VIDEO_DEADLINE, tick):
        status = tile.feed.status
        raise SmokeFailure(
            f"{tile.presented} of {MIN_FRAMES} frames painted in {VIDEO_DEADLINE:.0f} s; "
            f"stream {status.state}: {status.reason or 'no reason given'}"
        )
    stats = tile.feed.stats()
    if stats is None or stats.codec != "h264" or (stats.width, stats.height) != (640, 360):
        raise SmokeFailure(f"unexpected stream: {stats}")
    image = tile.grab().toImage()
    colours = {
        image.pixel(x, y)
        for x in range(0, image.width(), max(1, image.width() // 16))
        for y in range(0, image.height(), max(1, image.height() // 9))
    }
    # The sample clip is colour bars: a black or flat tile means nothing was painted.
    if len(colours) < 8:
        raise SmokeFailure(f"the tile shows {len(colours)} distinct colours, expected the bars")
    panes = getattr(tile, "panes", None)
    surface = type(panes[0].surface if panes else tile.surface).__name__
    return (
        f"{tile.presented} frames painted ({stats.codec} {stats.width}x{stats.height}, "
        f"{surface}, {len(colours)} colours sampled)"
    )


def _free_base_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1]) - 1


def step_onvif(ctx: SmokeContext) -> str:
    from app.demo.fleet import DEMO_PASSWORD, DEMO_USER, Fleet
    from app.site.loader import load_site

    site = load_site(ctx.resources / SITE_FILE)
    one = replace(site, cameras=site.cameras[:1])
    last: OSError | None = None
    for _ in range(5):  # the free port may be taken between the probe and the bind
        fleet = Fleet(one, base_port=_free_base_port(), faults={})
        try:
            fleet.start()
        except OSError as e:
            last = e
            continue
        ctx.fleet = fleet
        break
    else:
        raise SmokeFailure(f"cannot start a virtual camera on 127.0.0.1: {last}")
    camera_id = one.cameras[0].id
    port = ctx.fleet.port(camera_id)
    info, profiles = asyncio.run(
        asyncio.wait_for(_onvif_queries(port, DEMO_USER, DEMO_PASSWORD), ONVIF_DEADLINE)
    )
    if not info.Manufacturer or not info.Model:
        raise SmokeFailure(f"GetDeviceInformation returned no manufacturer/model: {info}")
    if not profiles:
        raise SmokeFailure("GetProfiles returned no profiles")
    return (
        f"{camera_id} on 127.0.0.1:{port}: {info.Manufacturer} {info.Model}, "
        f"{len(profiles)} profiles"
    )


async def _onvif_queries(port: int, user: str, password: str) -> tuple[Any, list[Any]]:
    from onvif import ONVIFCamera

    kwargs: dict[str, Any] = {"no_cache": True}
    bundled = wsdl_dir()
    if bundled is not None:
        kwargs["wsdl_dir"] = bundled
    cam = ONVIFCamera("127.0.0.1", port, user, password, **kwargs)
    try:
        await cam.update_xaddrs()
        device = await cam.create_devicemgmt_service()
        info = await device.GetDeviceInformation()
        media = await cam.create_media_service()
        profiles = list(await media.GetProfiles())
    finally:
        await cam.close()
    return info, profiles


def step_sdl(ctx: SmokeContext) -> str:
    with warnings.catch_warnings():
        # pysdl2 warns that it uses pysdl2-dll's binaries: that is exactly what we ship.
        warnings.simplefilter("ignore")
        import sdl2

    version = sdl2.SDL_version()
    sdl2.SDL_GetVersion(version)
    if sdl2.SDL_Init(sdl2.SDL_INIT_EVENTS) != 0:
        raise SmokeFailure(f"SDL_Init failed: {sdl2.SDL_GetError().decode(errors='replace')}")
    sdl2.SDL_Quit()
    return f"SDL {version.major}.{version.minor}.{version.patch}"


STEPS: tuple[tuple[str, Callable[[SmokeContext], str]], ...] = (
    ("platform", step_platform),
    ("resources", step_resources),
    ("ffmpeg", step_ffmpeg),
    ("qt", step_qt),
    ("video", step_video),
    ("onvif", step_onvif),
    ("sdl", step_sdl),
    # Last, so that the first-frame time above measures the start-up path alone.
    ("modules", step_modules),
)


def _teardown(ctx: SmokeContext) -> list[str]:
    problems = []
    for feed in ctx.feeds:
        feed.close()
    if ctx.tile is not None:
        ctx.tile.close()
    if ctx.engine is not None:
        late = ctx.engine.shutdown(2.0)
        if late:
            problems.append(f"stream threads still busy at exit: {late}")
    if ctx.fleet is not None:
        ctx.fleet.stop()
    return problems


class _Null:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass


def run_smoke_test(out: Any = None) -> int:
    """Run every step in order; 0 if all pass, else 1 with the failed step named on stderr."""
    # A windowed Windows build has no stdout or stderr at all: the exit code still tells.
    out = out or sys.stdout or _Null()
    err = sys.stderr or _Null()
    started = time.monotonic()
    ctx = SmokeContext()
    failed: str | None = None
    for name, step in STEPS:
        t0 = time.monotonic()
        try:
            detail = step(ctx)
        except Exception as e:
            failed = name
            reason = str(e) if isinstance(e, SmokeFailure) else f"{type(e).__name__}: {e}"
            err.write(f"torrazzo smoke test: FAILED at step '{name}': {reason}\n")
            break
        out.write(f"smoke: ok {name:<9} {(time.monotonic() - t0) * 1000:7.0f} ms  {detail}\n")
        out.flush()
    with contextlib.suppress(Exception):
        for problem in _teardown(ctx):
            out.write(f"smoke: note: {problem}\n")
    for message in ctx.qt_messages:
        out.write(f"smoke: qt: {message}\n")
    if failed is not None:
        return 1
    age = process_age()
    first = f"{ctx.first_frame_age:.2f} s" if ctx.first_frame_age is not None else "n/a"
    total = f"{age:.2f} s" if age is not None else "n/a"
    out.write(
        f"smoke: PASSED {len(STEPS)} steps in {time.monotonic() - started:.2f} s; "
        f"process start to first frame {first}, to end {total}\n"
    )
    out.flush()
    return 0
